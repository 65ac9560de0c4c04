//! `vggnet train`: the flags merged into a run (new or resumed), progress on the terminal,
//! Ctrl-C, and the final report.

use super::*;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::Ordering;
use vggnet::model::VggConfig;
use vggnet::run::{ResumeRequest, Run, RunConfig, RunEnd, StopAt};
use vggnet::settings::{from_recipe, ModelOverrides, Overrides};
use vggnet::train::{BatchProgress, EpochRecord, EvalPoint, Observer, PrintLines};

/// `--dry-run`'s training, validation and test pictures.
const DRY_RUN_IMAGES: usize = 256;

/// Progress for the terminal: an indicatif bar per epoch when stderr is a terminal, plain lines
/// otherwise (logs, CI).
struct Terminal {
    bar: Option<ProgressBar>,
    lines: Option<PrintLines>,
}

impl Terminal {
    fn new(every: usize) -> Self {
        Terminal {
            bar: None,
            lines: (!std::io::stderr().is_terminal()).then_some(PrintLines { every }),
        }
    }
}

impl Observer for Terminal {
    fn on_message(&mut self, m: &str) {
        eprintln!("{m}");
    }
    fn on_epoch_start(&mut self, epoch: usize, num_batches: usize) {
        if self.lines.is_some() {
            return;
        }
        let bar = ProgressBar::new(num_batches as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30.cyan/blue}] {pos}/{len} {elapsed_precise}<{eta_precise} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(epoch.to_string());
        self.bar = Some(bar);
    }
    fn on_batch(&mut self, p: &BatchProgress) {
        if let Some(lines) = &mut self.lines {
            return lines.on_batch(p);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(p.batch as u64 + 1);
            bar.set_message(format!(
                "loss {:.4} acc {:.2}% {:.1} img/s",
                p.running_loss, p.running_accuracy, p.images_per_sec
            ));
        }
    }
    fn on_eval(&mut self, e: &EvalPoint) {
        let line = format!(
            "step {}: validation accuracy {:.2}% after {:.0}s of training",
            e.step, e.val_accuracy, e.train_seconds
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
    fn on_epoch_end(&mut self, r: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            // The summary line below replaces the bar, so it always starts on its own line.
            bar.finish_and_clear();
        }
        eprintln!(
            "epoch {}: train loss {:.4}, train accuracy {:.2}%, validation accuracy {}, {:.1}s ({:.1} images/s){}",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            r.val_accuracy.map(|a| format!("{a:.2}%")).unwrap_or_else(|| "-".into()),
            r.seconds,
            r.images_per_sec,
            if r.skipped_steps > 0 { format!(", {} steps skipped (inf/NaN)", r.skipped_steps) } else { String::new() }
        );
    }
}

/// A path as the user can paste it into a shell.
fn shell_quoted(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub(super) fn train(args: TrainArgs) -> Result<()> {
    // Only what the user typed is `Some`: a recipe's or a saved run's settings are never
    // overridden by a default. The library checks them: a new run's before any data is read,
    // a resume's against the saved run (one rule for every flag).
    let mut settings = Overrides {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        weight_decay: args.weight_decay,
        seed: args.seed,
        amp: args.amp,
        eval_every: args.eval_every,
        warmup: args.warmup,
        label_smoothing: args.label_smoothing,
        augment: args.augment.map(|a| a.0),
        flush_denormals: args.keep_denormals.then_some(false),
    };
    let model = ModelOverrides {
        network: args.network,
        batch_norm: args.batch_norm.then_some(true),
        dropout: args.dropout,
    };
    let mut data = args.data.clone();
    if args.dry_run {
        data.train_limit = Some(
            data.train_limit
                .unwrap_or(DRY_RUN_IMAGES)
                .min(DRY_RUN_IMAGES),
        );
        data.test_limit = Some(
            data.test_limit
                .unwrap_or(DRY_RUN_IMAGES)
                .min(DRY_RUN_IMAGES),
        );
        data.validation = Some(
            data.validation
                .unwrap_or(DRY_RUN_IMAGES)
                .min(DRY_RUN_IMAGES),
        );
        settings.epochs = Some(1);
    }
    let mut run = match &args.resume {
        Some(dir) => {
            let request = ResumeRequest {
                recipe: args.recipe,
                settings,
                model,
                dataset: data.dataset,
                data_dir: data.data_dir.clone(),
                train_limit: data.train_limit,
                validation: data.validation,
                test_limit: data.test_limit,
                device: args.device,
                allow_inexact: args.allow_inexact_resume,
                plots: args.no_plots.then_some(false),
                download: !data.offline,
            };
            // Its errors name the folder or file and the problem.
            let run = Run::resume(dir, &request)?;
            let t = &run.trainer;
            eprintln!(
                "resuming {} at epoch {} batch {} ({} epochs done)",
                dir.display(),
                t.position.epoch + 1,
                t.position.batch,
                t.history.len()
            );
            run
        }
        None => {
            let data = data_config(&data);
            let (train, plan) = from_recipe(args.recipe.unwrap_or_default(), &settings);
            Run::start(
                &args.out,
                RunConfig {
                    train,
                    plan,
                    model: VggConfig::for_dataset(data.dataset, &model),
                    data,
                    device: args.device.unwrap_or_else(vggnet::engine::device),
                    plots: !args.no_plots,
                },
            )?
        }
    };
    for note in &run.notes {
        eprintln!("{note}");
    }
    let config = run.trainer.config();
    eprintln!(
        "training on {} images, validating on {} held out of the training file, testing on {} at the end ({}, \
         batch {}, {} epochs, output {})",
        run.data.train.len(),
        run.data.validation.len(),
        run.data.test.len(),
        vggnet::engine::device_name(run.spec.device),
        config.batch_size,
        config.epochs,
        run.dir.display()
    );
    let stop = run.trainer.stop_flag();
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting now (the last saved checkpoint is intact)");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: stopping after this batch and saving a resumable checkpoint...");
    })
    .context("cannot install the Ctrl-C handler")?;

    let mut obs = Terminal::new(args.log_every);
    let limits = StopAt {
        epochs: args.stop_after,
        ..Default::default()
    };
    let end = run.train(&mut obs, limits)?;
    if end != RunEnd::Finished {
        let p = &run.trainer.position;
        eprintln!(
            "stopped at epoch {} batch {}; resume with: vggnet train --resume {}",
            p.epoch + 1,
            p.batch,
            shell_quoted(&run.dir)
        );
        if end == RunEnd::Interrupted {
            std::process::exit(130);
        }
        return Ok(());
    }
    let (ev, files) = run.finish()?;
    let which = match vggnet::run::best_epoch(&run.trainer.history) {
        Some(best) => format!(
            "the model of epoch {} ({}, the best on the validation split)",
            best.epoch,
            vggnet::run::BEST_FILE
        ),
        None => "the last epoch's model (no validation split)".to_string(),
    };
    eprintln!(
        "final test accuracy {:.2}% ({}/{}), {which}, on the test split",
        ev.accuracy, ev.correct, ev.total
    );
    eprintln!("wrote:");
    for f in &files {
        eprintln!("  {}", f.display());
    }
    eprintln!(
        "  {}/ (resumable training state)",
        run.state_dir().display()
    );
    Ok(())
}
