//! A training run in a folder: what `vggnet train` writes there, the best-model rule, and how
//! `--resume` continues it. The CLI and the notebooks share this policy; the CLI only parses
//! arguments and reports.
//!
//! ```text
//! OUT/model.safetensors, model.json   the latest weights (after each epoch)
//! OUT/best.safetensors, best.json     the epoch with the best validation accuracy so far
//! OUT/metrics.json                    settings, per-epoch records, periodic evals, step curve
//! OUT/curves.png, loss_steps.png      training curves          (unless plots are off)
//! OUT/predictions.png, confusion.png, misclassified.png, eval.json   the final evaluation
//! OUT/state/                          resumable: weights, AdamW moments, trainer.json, run.json
//! ```
//!
//! `state/run.json` records every setting that defines the run beyond the trainer's own
//! [`TrainConfig`] (kept in `trainer.json`): the recipe's plan (schedule, augmentation), the data folder and the MD5s of the files read,
//! the data limits and the validation split, the device, and whether plots are written. [`Run::resume`] restores all
//! of them and refuses a request that would change them.

use crate::data::{Data, DataConfig};
use crate::error::{Error, Result};
use crate::eval::Evaluation;
use crate::model::{Vgg, VggConfig};
use crate::recipe::Plan;
use crate::store::checkpoint::save_model;
use crate::store::fsio;
use crate::train::state::save_training_state_with;
use crate::train::{EpochRecord, Observer, TrainConfig, Trainer};
mod limit;
mod report;
mod resume;
mod spec;

pub use limit::StepLimit;
pub use report::{evaluation_json, write_eval_plots};
pub use resume::ResumeRequest;
pub use spec::{initial_model, open_trained, RunSpec};

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use tch::Device;

pub use spec::{BEST_FILE, EVAL_FILE, METRICS_FILE, MODEL_FILE, RUN_FILE, STATE_DIR};

/// Everything needed to start a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub train: TrainConfig,
    /// What the recipe changes step by step (the article's: nothing).
    pub plan: Plan,
    pub model: VggConfig,
    pub data: DataConfig,
    pub device: Device,
    pub plots: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            train: TrainConfig::default(),
            plan: Plan::default(),
            model: VggConfig::default(),
            data: DataConfig::default(),
            device: crate::engine::device(),
            plots: true,
        }
    }
}

impl RunConfig {
    /// Every setting of the run checked, without reading any data: the training settings, the
    /// network, the data limits, the precision on the device, and that the network fits the
    /// data set ([`crate::data::check_fits`]: classes, channels, picture size).
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        self.plan.validate()?;
        self.model.validate()?;
        self.data.validate()?;
        crate::engine::cuda::check_device(self.device)?;
        if self.train.amp != crate::train::AmpMode::Fastest {
            // (`fastest` is measured, never refused: it resolves when the trainer is made.)
            crate::train::Precision::of(self.train.amp, self.device)?;
        }
        crate::data::check_fits(&self.model, self.data.dataset, None)
    }
}

/// Limits on one call to [`Run::train`]; the run stays resumable when one is reached.
#[derive(Debug, Clone, Copy, Default)]
pub struct StopAt {
    /// Stop after this many epochs of this call.
    pub epochs: Option<usize>,
    /// Stop after this many optimizer steps of this call (mid-epoch is fine).
    pub steps: Option<u64>,
}

/// How a call to [`Run::train`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Every epoch is done.
    Finished,
    /// A [`StopAt`] limit was reached; the state is saved.
    Paused,
    /// The stop flag was raised (Ctrl-C); the state is saved.
    Interrupted,
}

/// A run: its folder, settings, trainer and data.
pub struct Run {
    pub dir: PathBuf,
    pub spec: RunSpec,
    pub trainer: Trainer,
    pub data: Data,
    /// Things the user should know (an inexact continuation, files cleaned up).
    pub notes: Vec<String>,
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Run {
    /// Starts a new run in `dir` (created when missing): checks every setting, then loads the
    /// data, seeds torch with the training seed and builds a fresh model. A setting that cannot
    /// run is refused before any data is read or downloaded and before the folder is made.
    pub fn start(dir: &Path, mut config: RunConfig) -> Result<Run> {
        config.validate()?;
        // `fastest` is a measurement (a few seconds, once per CPU): the run resolves it here,
        // visibly, never the trainer.
        config.train.amp = config.train.amp.resolve(config.device);
        let data = Data::load(&config.data)?;
        tch::manual_seed(config.train.seed as i64);
        let model = Vgg::new(config.model, config.device)?;
        let trainer = Trainer::new(model, config.train)?;
        let spec = RunSpec {
            plan: config.plan,
            dataset: config.data.dataset,
            data_dir: absolute(&config.data.dir),
            train_limit: config.data.train_limit,
            validation: config.data.validation,
            test_limit: config.data.test_limit,
            data_files: data.sources.clone(),
            device: config.device,
            plots: config.plots,
        };
        Run::open(dir, spec, trainer, data, Vec::new())
    }

    fn open(
        dir: &Path,
        spec: RunSpec,
        trainer: Trainer,
        data: Data,
        mut notes: Vec<String>,
    ) -> Result<Run> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let leftovers = fsio::remove_leftovers(dir, fsio::TEMP_PREFIX)?;
        if leftovers > 0 {
            notes.push(format!(
                "removed {leftovers} temporary file(s) left in {} by an interrupted save",
                dir.display()
            ));
        }
        // On a GPU the whole dataset lives on the device (47 MB of bytes for MNIST's training
        // set): batches are gathered and normalized there, with no host-to-device copy per step.
        let data = data.to_device(trainer.model().device());
        Ok(Run {
            dir: dir.to_path_buf(),
            spec,
            trainer,
            data,
            notes,
        })
    }

    /// The state folder (`DIR/state`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join(STATE_DIR)
    }

    /// Saves the resumable state (weights, optimizer, trainer.json, run.json), durably.
    pub fn save_state(&self) -> Result<()> {
        save_state(&self.dir, &self.spec, &self.trainer)
    }

    /// Saves what `vggnet train` writes after each epoch (state, model, best model,
    /// metrics.json, curves), for a loop that trains `trainer` itself (notebook 02's).
    pub fn save_epoch(&self) -> Result<()> {
        save_epoch(&self.dir, &self.spec, &self.trainer)
    }

    /// Trains until every epoch is done, a [`StopAt`] limit is reached, or the trainer's stop
    /// flag is raised (Ctrl-C). After each epoch it saves the state, the model, the best
    /// model, metrics.json and the curves; when stopped early it saves the state so that
    /// [`Run::resume`] continues exactly.
    pub fn train(&mut self, obs: &mut dyn Observer, stop: StopAt) -> Result<RunEnd> {
        let Run {
            dir,
            spec,
            trainer,
            data,
            ..
        } = self;
        if trainer.model().device() == Device::Cpu {
            obs.on_message(&crate::engine::calibrate::measured_note(
                trainer.precision(),
            ));
        }
        obs.on_message(&crate::engine::speed_up(trainer));
        let flag = trainer.stop_flag();
        let epochs_before = trainer.history.len();
        let mut limited = StepLimit::new(
            obs,
            flag.clone(),
            stop.steps.map(|n| trainer.position.global_step + n),
        );
        let mut epoch_limit_reached = false;
        let plan = spec.plan;
        let train = &data.train;
        let result = trainer.fit_with(&plan, train, data.measured(), &mut limited, &mut |t| {
            save_epoch(dir, spec, t)?;
            if stop
                .epochs
                .is_some_and(|n| t.history.len() - epochs_before >= n)
            {
                epoch_limit_reached = true;
                flag.store(true, Ordering::SeqCst);
            }
            Ok(())
        });
        let own_stop = limited.reached || epoch_limit_reached;
        if own_stop {
            // The stop was this call's limit, not a request from outside: lower the flag so
            // that the next call (a notebook cell run again) trains on.
            flag.store(false, Ordering::SeqCst);
        }
        match result {
            Ok(()) => Ok(RunEnd::Finished),
            Err(Error::Interrupted) => {
                save_state(dir, spec, trainer)?;
                Ok(if own_stop {
                    RunEnd::Paused
                } else {
                    RunEnd::Interrupted
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The final evaluation of a finished run on the whole test split, of the model the
    /// validation split chose (`best.safetensors`; the last one without a validation split): writes eval.json and,
    /// when plots are on, the step curve and the evaluation plots. Returns the evaluation and
    /// every file of the run folder.
    pub fn finish(&self) -> Result<(Evaluation, Vec<PathBuf>)> {
        let t = &self.trainer;
        // The model the validation split chose (the last one when there is no validation split).
        let best = match best_epoch(&t.history) {
            Some(_) => Some(crate::store::checkpoint::load_model(
                &self.dir.join(BEST_FILE),
                t.model().device(),
            )?),
            None => None,
        };
        let ev = crate::engine::packed::evaluate(
            best.as_ref().unwrap_or(t.model()),
            &self.data.test,
            t.config().eval_batch_size,
        )?;
        let mut files: Vec<PathBuf> = [MODEL_FILE, "model.json", BEST_FILE, METRICS_FILE]
            .iter()
            .map(|f| self.dir.join(f))
            .collect();
        if self.spec.plots {
            files.push(self.dir.join("curves.png"));
            if !t.curve.is_empty() {
                let points: Vec<(u64, f64)> =
                    t.curve.iter().map(|p| (p.step, p.running_loss)).collect();
                let path = self.dir.join("loss_steps.png");
                crate::plot::step_curve(&points, "Running training loss")?.save(&path)?;
                files.push(path);
            }
            files.extend(write_eval_plots(
                &self.dir,
                &ev,
                &self.data.test,
                self.data.dataset,
            )?);
        }
        let eval_path = self.dir.join(EVAL_FILE);
        fsio::write_json(&eval_path, &evaluation_json(&ev))?;
        files.push(eval_path);
        files.retain(|f| f.exists());
        Ok((ev, files))
    }
}

/// Saves the state folder with the run's settings inside it.
fn save_state(dir: &Path, spec: &RunSpec, trainer: &Trainer) -> Result<()> {
    let run_json = serde_json::to_vec_pretty(spec)
        .map_err(|e| Error::checkpoint(dir.join(RUN_FILE), e.to_string()))?;
    save_training_state_with(trainer, &dir.join(STATE_DIR), &[(RUN_FILE, &run_json)])
}

/// What is written after each epoch: state, model, best model, metrics, curves.
fn save_epoch(dir: &Path, spec: &RunSpec, t: &Trainer) -> Result<()> {
    save_state(dir, spec, t)?;
    save_model(t.model(), &dir.join(MODEL_FILE))?;
    if is_best(&t.history) {
        save_model(t.model(), &dir.join(BEST_FILE))?;
    } else if best_epoch(&t.history).is_none() {
        // No validation split: no best model. One left by an earlier run in this folder goes,
        // so that nothing reads it as this run's.
        crate::store::checkpoint::remove_model(&dir.join(BEST_FILE))?;
    }
    fsio::write_json(
        &dir.join(METRICS_FILE),
        &serde_json::json!({
            "config": t.config(),
            "precision": precision_record(t),
            "run": spec,
            "epochs": t.history,
            "evals": t.evals,
            "curve": t.curve,
        }),
    )?;
    if spec.plots {
        crate::plot::training_curves(&t.history, &t.curve)?.save(&dir.join("curves.png"))?;
    }
    Ok(())
}

/// The arithmetic the run trains in and, on the CPU, what was measured here about which
/// precision is faster ([`crate::engine::calibrate`], from the cache; null when never measured).
fn precision_record(t: &Trainer) -> serde_json::Value {
    let measured = (t.model().device() == Device::Cpu)
        .then(crate::engine::calibrate::cached)
        .flatten();
    serde_json::json!({
        "arithmetic": t.precision().describe(),
        "cpu_measurement": measured,
        "faster_here": measured.as_ref().map(|c| c.faster().describe()),
    })
}

/// The best-model rule: the epoch with the highest validation accuracy (of two equal ones, the
/// later); none when no epoch was measured on a validation split.
pub fn best_epoch(history: &[EpochRecord]) -> Option<&EpochRecord> {
    history
        .iter()
        .filter_map(|r| Some((r, r.val_accuracy?)))
        .max_by(|(_, a), (_, b)| a.total_cmp(b))
        .map(|(r, _)| r)
}

/// Whether the last epoch is the best one ([`best_epoch`]): then it is saved as `best.safetensors`.
pub fn is_best(history: &[EpochRecord]) -> bool {
    match (best_epoch(history), history.last()) {
        (Some(best), Some(last)) => std::ptr::eq(best, last),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(val_accuracy: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch: 1,
            train_loss: 0.1,
            train_accuracy: 90.0,
            val_accuracy,
            seconds: 1.0,
            images_per_sec: 1.0,
            skipped_steps: 0,
            loss_scale: 1.0,
        }
    }

    /// The last epoch is the best when no earlier one measured higher on validation (ties count
    /// as best, so the later weights are kept); no validation accuracy, no best.
    #[test]
    fn the_best_epoch_is_the_highest_validation_accuracy_so_far() {
        let h = |v: &[Option<f64>]| v.iter().map(|a| epoch(*a)).collect::<Vec<_>>();
        assert!(!is_best(&[]));
        assert!(is_best(&h(&[Some(97.0)])));
        assert!(is_best(&h(&[Some(97.0), Some(98.0)])));
        assert!(!is_best(&h(&[Some(98.0), Some(97.9)])));
        assert!(is_best(&h(&[Some(98.0), Some(98.0)])));
        assert!(!is_best(&h(&[Some(98.0), None])));
        assert!(is_best(&h(&[None, Some(10.0)])));
        let history = h(&[Some(97.0), Some(98.5), Some(98.5), Some(98.1), None]);
        let best = best_epoch(&history).unwrap();
        assert!(
            std::ptr::eq(best, &history[2]),
            "the later of two equal epochs"
        );
        assert!(best_epoch(&h(&[None, None])).is_none());
    }
}
