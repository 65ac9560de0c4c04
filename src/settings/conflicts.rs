//! The one resume rule for training and network settings: what a resume asks for against what
//! the saved run was started with.

use super::{ModelOverrides, Overrides};
use crate::model::VggConfig;
use crate::recipe::{Augment, LrSchedule, Plan, Recipe};
use crate::train::TrainConfig;

/// What a resume asks for beyond the saved run: the recipe named, if any, and the settings
/// given explicitly.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub recipe: Option<Recipe>,
    pub train: &'a Overrides,
    pub model: &'a ModelOverrides,
}

/// The one resume rule for training and network settings: every given setting that differs
/// from the saved run's (`train`, `plan`, `model`) is named, one line each, with the given and the saved
/// value; a given setting equal to the saved one, and every setting not given, is accepted.
/// Values are compared as numbers, never as text. A named recipe conflicts when its choices
/// (those no flag replaced) differ from the run's. The precision (`amp`) is the device's
/// question: [`crate::run::Run::resume`] compares it with `allow_inexact`.
pub fn resume_conflicts(
    asked: Asked,
    train: &TrainConfig,
    plan: &Plan,
    model: &VggConfig,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |flag: &str, given: String, was: String| {
        out.push(format!(
            "{flag} {given} would change the run (it was started with {was})"
        ))
    };
    fn text<T: std::fmt::Display>(v: T) -> String {
        v.to_string()
    }
    let g = asked.train;
    macro_rules! plain {
        ($flag:literal, $given:expr, $saved:expr) => {
            if let Some(v) = $given {
                if v != $saved {
                    differs($flag, text(v), format!("{} {}", $flag, $saved));
                }
            }
        };
    }
    plain!("--epochs", g.epochs, train.epochs);
    plain!("--batch-size", g.batch_size, train.batch_size);
    plain!("--lr", g.lr, train.optimizer.lr);
    plain!(
        "--weight-decay",
        g.weight_decay,
        train.optimizer.weight_decay
    );
    plain!("--seed", g.seed, train.seed);
    plain!("--eval-every", g.eval_every, train.eval_every_steps);
    plain!(
        "--label-smoothing",
        g.label_smoothing,
        train.label_smoothing
    );
    if let Some(w) = g.warmup {
        if g.plan_on(plan).schedule != plan.schedule {
            differs("--warmup", text(w), schedule_text(&plan.schedule));
        }
    }
    if let Some(a) = g.augment {
        if a != plan.augment {
            differs(
                "--augment",
                augment_text(a),
                format!("--augment {}", augment_text(plan.augment)),
            );
        }
    }
    if let Some(flush) = g.flush_denormals.filter(|&f| f != train.flush_denormals) {
        let word = |f: bool| {
            if f {
                "denormals flushed to zero"
            } else {
                "--keep-denormals"
            }
        };
        out.push(format!(
            "{} would change the run (it was started with {})",
            if flush {
                "flushing denormals"
            } else {
                "--keep-denormals"
            },
            word(train.flush_denormals)
        ));
    }
    if let Some(r) = asked.recipe {
        // Only the recipe's own choices can differ here: the given ones are the same on both sides.
        let wanted = (g.apply_to(&r.config()), g.plan_on(&r.plan()));
        let kept = (g.apply_to(train), g.plan_on(plan));
        if run_defining(&wanted) != run_defining(&kept) {
            let was = Recipe::which(train, plan)
                .map_or("custom settings".into(), |r| format!("--recipe {r}"));
            out.push(format!(
                "--recipe {r} would change the run (it was started with {was})"
            ));
        }
    }
    let m = asked.model;
    if let Some(n) = m.network.filter(|n| Some(*n) != model.network()) {
        let was = model
            .network()
            .map_or("other widths".into(), |n| format!("--network {n}"));
        out.push(format!(
            "--network {n} would change the run (it was started with {was})"
        ));
    }
    if let Some(bn) = m.batch_norm.filter(|&b| b != model.batch_norm) {
        let word = |b: bool| if b { "--batch-norm" } else { "no --batch-norm" };
        out.push(format!(
            "{} would change the run (it was started with {})",
            word(bn),
            word(model.batch_norm)
        ));
    }
    if let Some(p) = m.dropout.filter(|&p| p != model.dropout) {
        out.push(format!(
            "--dropout {p} would change the run (it was started with --dropout {})",
            model.dropout
        ));
    }
    out
}

/// The training choices that make a recipe what it is ([`Recipe::which`]'s): the schedule,
/// label smoothing and augmentation. (Epochs, batch size, seed and the rest are the run's own,
/// whatever recipe it started from.)
fn run_defining((c, plan): &(TrainConfig, Plan)) -> impl PartialEq {
    (plan.schedule, c.label_smoothing, plan.augment)
}

/// A schedule as the flag that gives it.
fn schedule_text(s: &LrSchedule) -> String {
    match s {
        LrSchedule::Constant => "a constant rate (no --warmup)".into(),
        LrSchedule::WarmupCosine { warmup, .. } => format!("--warmup {warmup}"),
    }
}

/// Augmentation as `--augment` takes it: `none` or `SHIFT,DEGREES,FROM_EPOCH[,flip][,erase]`.
pub fn augment_text(a: Option<Augment>) -> String {
    match a {
        None => "none".into(),
        Some(a) => format!(
            "{},{},{}{}{}",
            a.max_shift,
            a.max_rotation,
            a.from_epoch,
            if a.flip { ",flip" } else { "" },
            if a.erase { ",erase" } else { "" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::settings::Network;

    /// A run started from a recipe with its own epochs, batch size and seed resumes under that
    /// recipe's name.
    #[test]
    fn a_recipe_named_again_accepts_the_runs_own_epochs_and_batch_size() {
        let started = Overrides {
            epochs: Some(2),
            batch_size: Some(32),
            seed: Some(9),
            ..Default::default()
        };
        let (saved, plan) = super::super::from_recipe(Recipe::Fast, &started);
        let net = VggConfig::default();
        let none = (Overrides::default(), ModelOverrides::default());
        let asked = |recipe| Asked {
            recipe: Some(recipe),
            train: &none.0,
            model: &none.1,
        };
        assert_eq!(
            resume_conflicts(asked(Recipe::Fast), &saved, &plan, &net),
            Vec::<String>::new()
        );
        assert_eq!(
            resume_conflicts(asked(Recipe::Article), &saved, &plan, &net),
            ["--recipe article would change the run (it was started with --recipe fast)"]
        );
    }

    /// A setting given with its saved value is accepted; another value is refused, naming
    /// both; what was not given is never compared; 1e-3 typed as 0.001 is the same rate.
    /// Every setting is under the rule, the network's included.
    #[test]
    fn only_given_settings_that_differ_are_conflicts() {
        let (saved, plan) = (Recipe::Fast.config(), Recipe::Fast.plan());
        let net = VggConfig::for_dataset(Dataset::Mnist, &ModelOverrides::default());
        let conflicts = |recipe, train: &Overrides, model: &ModelOverrides| {
            resume_conflicts(
                Asked {
                    recipe,
                    train,
                    model,
                },
                &saved,
                &plan,
                &net,
            )
        };
        let none = ModelOverrides::default();
        assert!(conflicts(None, &Overrides::default(), &none).is_empty());
        let same = Overrides {
            lr: Some("0.0003".parse().unwrap()),
            epochs: Some(saved.epochs),
            warmup: Some(0.1),
            augment: Some(plan.augment),
            label_smoothing: Some(0.1),
            flush_denormals: Some(true),
            ..Default::default()
        };
        let same_net = ModelOverrides {
            network: Some(Network::Article),
            batch_norm: Some(false),
            dropout: Some(0.5),
        };
        assert!(conflicts(Some(Recipe::Fast), &same, &same_net).is_empty());
        let other = Overrides {
            lr: Some(3e-3),
            batch_size: Some(32),
            warmup: Some(0.2),
            augment: Some(None),
            flush_denormals: Some(false),
            ..Default::default()
        };
        let other_net = ModelOverrides {
            network: Some(Network::Narrow),
            batch_norm: Some(true),
            dropout: Some(0.2),
        };
        assert_eq!(
            conflicts(Some(Recipe::Article), &other, &other_net),
            [
                "--batch-size 32 would change the run (it was started with --batch-size 64)",
                "--lr 0.003 would change the run (it was started with --lr 0.0003)",
                "--warmup 0.2 would change the run (it was started with --warmup 0.1)",
                "--augment none would change the run (it was started with --augment 2,10,2)",
                "--keep-denormals would change the run (it was started with denormals flushed to zero)",
                "--recipe article would change the run (it was started with --recipe fast)",
                "--network narrow would change the run (it was started with --network article)",
                "--batch-norm would change the run (it was started with no --batch-norm)",
                "--dropout 0.2 would change the run (it was started with --dropout 0.5)",
            ]
        );
        // The recipe named with its own choices replaced by flags equal to the run's: no change.
        let article_as_fast = Overrides {
            lr: Some(3e-4),
            warmup: Some(0.1),
            label_smoothing: Some(0.1),
            augment: Some(plan.augment),
            ..Default::default()
        };
        assert!(conflicts(Some(Recipe::Article), &article_as_fast, &none).is_empty());
    }
}
