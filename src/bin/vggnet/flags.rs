//! What clap cannot say by itself: `--augment`'s syntax, and `vggnet train --help`'s defaults
//! taken from the library.

use vggnet::recipe::Augment;
use vggnet::recipe::Recipe;
use vggnet::settings::Network;
use vggnet::train::AmpMode;

#[derive(Clone, Copy)]
pub(super) struct AugmentArg(pub(super) Option<Augment>);

pub(super) fn parse_augment(s: &str) -> std::result::Result<AugmentArg, String> {
    if s == "none" {
        return Ok(AugmentArg(None));
    }
    let bad = || {
        format!(
            "expected `none` or SHIFT,DEGREES[,FROM_EPOCH][,flip][,erase] (e.g. 2,10 or 2,10,1 \
             or 2,0,2,flip,erase), got `{s}`"
        )
    };
    let mut parts: Vec<&str> = s.split(',').map(str::trim).collect();
    // The words come after the numbers, in this order, each at most once.
    let erase = parts.len() > 2 && parts.last() == Some(&"erase");
    if erase {
        parts.pop();
    }
    let flip = parts.len() > 2 && parts.last() == Some(&"flip");
    if flip {
        parts.pop();
    }
    // The syntax only: whether the values can train is TrainConfig::validate's to say.
    let num = |v: &str| v.parse::<f64>().map_err(|_| bad());
    let from_epoch = match parts.get(2) {
        Some(v) => v.parse::<usize>().map_err(|_| bad())?,
        None => Augment::default().from_epoch,
    };
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    Ok(AugmentArg(Some(Augment {
        max_shift: num(parts[0])?,
        max_rotation: num(parts[1])?,
        from_epoch,
        flip,
        erase,
    })))
}

/// `--dataset`'s default in the help of a command whose `--dataset` is optional (the library's
/// `Dataset::default()`).
pub(super) fn with_dataset_default(cmd: clap::Command) -> clap::Command {
    let default = format!("[default: {}]", vggnet::data::Dataset::default());
    with_default(cmd, "dataset", &default)
}

/// `cmd` with `[default: ...]` text appended to argument `id`'s help.
fn with_default(cmd: clap::Command, id: &str, default: &str) -> clap::Command {
    cmd.mut_arg(id, |arg| {
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        arg.help(format!("{help} {default}"))
    })
}

/// `vggnet train --help`'s defaults, from the library's values (never restated here): each
/// training setting's under the article's recipe and the fast one, the network's preset's.
pub(super) fn with_library_defaults(train: clap::Command) -> clap::Command {
    use vggnet::recipe::{LrSchedule, Plan};
    use vggnet::settings::augment_text;
    let (a, f) = (Recipe::Article.config(), Recipe::Fast.config());
    let (ap, fp) = (Recipe::Article.plan(), Recipe::Fast.plan());
    let net = vggnet::model::VggConfig::default();
    let value_name = |v: AmpMode| {
        clap::ValueEnum::to_possible_value(&v).map_or(String::new(), |p| p.get_name().to_string())
    };
    let by_recipe = |article: String, fast: String| {
        if article == fast {
            format!("[default: {article}]")
        } else {
            format!("[article: {article}; fast: {fast}]")
        }
    };
    let warmup = |p: &Plan| match p.schedule {
        LrSchedule::Constant => "none, a constant rate".to_string(),
        LrSchedule::WarmupCosine { warmup, .. } => warmup.to_string(),
    };
    let defaults = [
        ("recipe", format!("[default: {}]", Recipe::default())),
        (
            "epochs",
            by_recipe(a.epochs.to_string(), f.epochs.to_string()),
        ),
        (
            "batch_size",
            by_recipe(a.batch_size.to_string(), f.batch_size.to_string()),
        ),
        ("warmup", by_recipe(warmup(&ap), warmup(&fp))),
        (
            "label_smoothing",
            by_recipe(a.label_smoothing.to_string(), f.label_smoothing.to_string()),
        ),
        (
            "augment",
            by_recipe(augment_text(ap.augment), augment_text(fp.augment)),
        ),
        ("network", format!("[default: {}]", Network::default())),
        ("dropout", format!("[default: {}]", net.dropout)),
        (
            "lr",
            by_recipe(a.optimizer.lr.to_string(), f.optimizer.lr.to_string()),
        ),
        (
            "weight_decay",
            by_recipe(
                a.optimizer.weight_decay.to_string(),
                f.optimizer.weight_decay.to_string(),
            ),
        ),
        ("seed", by_recipe(a.seed.to_string(), f.seed.to_string())),
        ("amp", by_recipe(value_name(a.amp), value_name(f.amp))),
        (
            "eval_every",
            by_recipe(
                a.eval_every_steps.to_string(),
                f.eval_every_steps.to_string(),
            ),
        ),
    ];
    defaults
        .into_iter()
        .fold(train, |cmd, (id, default)| with_default(cmd, id, &default))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The syntax is checked here, the values by the library: `-1,10` or `2,10,0` parse, and
    /// `vggnet train` refuses them before any data (tests/cli.rs).
    #[test]
    fn augment_flags_parse_or_say_what_is_expected() {
        let a = parse_augment("-1,10,0").unwrap().0.unwrap();
        assert_eq!((a.max_shift, a.from_epoch), (-1.0, 0));
        assert!(parse_augment("none").unwrap().0.is_none());
        let a = parse_augment("2, 10").unwrap().0.unwrap();
        assert_eq!((a.max_shift, a.max_rotation), (2.0, 10.0));
        assert_eq!(a.from_epoch, Augment::default().from_epoch);
        let a = parse_augment("1.5,5,1").unwrap().0.unwrap();
        assert_eq!((a.max_shift, a.max_rotation, a.from_epoch), (1.5, 5.0, 1));
        assert!(!a.flip);
        let a = parse_augment("2,0,3,flip").unwrap().0.unwrap();
        assert_eq!((a.max_shift, a.max_rotation, a.from_epoch), (2.0, 0.0, 3));
        assert!(a.flip);
        let a = parse_augment("2, 0, flip").unwrap().0.unwrap();
        assert_eq!(a.from_epoch, Augment::default().from_epoch);
        assert!(a.flip && !a.erase);
        let a = parse_augment("0,0,2,flip,erase").unwrap().0.unwrap();
        assert_eq!((a.from_epoch, a.flip, a.erase), (2, true, true));
        let a = parse_augment("2,10,erase").unwrap().0.unwrap();
        assert!(!a.flip && a.erase);
        for bad in [
            "",
            "2",
            "2,10,1,4",
            "x,y",
            "2,10,one",
            "2,flip",
            "flip",
            "2,10,flip,1",
            "2,10,1,flip,flip",
            "2,10,erase,flip",
            "2,10,1,erase,erase",
            "erase",
        ] {
            let err = parse_augment(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} parsed"));
            assert!(
                err.contains("SHIFT,DEGREES[,FROM_EPOCH][,flip][,erase]") && err.contains(bad),
                "{err}"
            );
        }
    }
}
