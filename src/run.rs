//! A training run in a folder: what `vggnet train` writes there, the best-model rule, and how
//! `--resume` continues it. The CLI and the notebooks share this policy; the CLI only parses
//! arguments and reports.
//!
//! ```text
//! OUT/model.safetensors, model.json   the latest weights (after each epoch)
//! OUT/best.safetensors, best.json     the epoch with the best test accuracy so far
//! OUT/metrics.json                    settings, per-epoch records, periodic evals, step curve
//! OUT/curves.png, loss_steps.png      training curves          (unless plots are off)
//! OUT/predictions.png, confusion.png, misclassified.png, eval.json   the final evaluation
//! OUT/state/                          resumable: weights, AdamW moments, trainer.json, run.json
//! ```
//!
//! `state/run.json` records every setting that defines the run beyond the trainer's own
//! [`TrainConfig`] (kept in `trainer.json`): the data folder and the MD5s of the files read,
//! the data limits, the device and whether mixed precision was on, and whether plots are
//! written. [`Run::resume`] restores all of them and refuses a request that would change them.

use crate::checkpoint::{
    load_training_state_with_amp, save_model, save_training_state_with, state_folder, TrainerState,
    TRAINER_FILE,
};
use crate::data::{Data, DataConfig, Dataset, SourceFile, Split};
use crate::error::{Error, Result};
use crate::eval::{evaluate, Evaluation};
use crate::fsio;
use crate::model::{Vgg, VggConfig};
use crate::train::{
    default_device, parse_device, AmpMode, EpochRecord, Observer, Precision, Recipe, StepLimit,
    TrainConfig, Trainer,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use tch::Device;

/// File names inside a run folder.
pub const MODEL_FILE: &str = "model.safetensors";
pub const BEST_FILE: &str = "best.safetensors";
pub const METRICS_FILE: &str = "metrics.json";
pub const EVAL_FILE: &str = "eval.json";
pub const STATE_DIR: &str = "state";
/// The run's settings, inside `state/`.
pub const RUN_FILE: &str = "run.json";

/// The settings of a run beyond its [`TrainConfig`], saved in `state/run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The data set it trains on (runs saved before data sets had names trained on MNIST).
    #[serde(default)]
    pub dataset: Dataset,
    /// The data folder the run read (absolute when it could be resolved).
    pub data_dir: PathBuf,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    /// The four files read, with the MD5s of their decompressed bytes.
    pub data_files: Vec<SourceFile>,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Whether float16 mixed precision (autocast + GradScaler) was on; bfloat16 AMP is
    /// `TrainConfig::amp` ([`AmpMode::Bf16`]).
    pub amp: bool,
    /// Whether PNG plots are written.
    pub plots: bool,
}

/// Everything needed to start a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub train: TrainConfig,
    pub model: VggConfig,
    pub data: DataConfig,
    pub device: Device,
    pub plots: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            train: TrainConfig::default(),
            model: VggConfig::default(),
            data: DataConfig::default(),
            device: default_device(),
            plots: true,
        }
    }
}

/// What a `--resume` asks for: each `Some` is a setting given explicitly. A setting equal to
/// the saved one is accepted; one that would change the run is refused
/// ([`Error::ResumeConflict`]), naming the saved value and the given one.
#[derive(Debug, Clone, Default)]
pub struct ResumeRequest {
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    pub seed: Option<u64>,
    pub amp: Option<AmpMode>,
    pub eval_every: Option<usize>,
    pub recipe: Option<Recipe>,
    pub dataset: Option<Dataset>,
    pub data_dir: Option<PathBuf>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub device: Option<Device>,
    /// Allow a different device or precision than the run used (the continuation is then
    /// no longer exact).
    pub allow_inexact: bool,
    /// Plots on or off (output only: may differ from the saved setting).
    pub plots: Option<bool>,
    /// Download missing data files.
    pub download: bool,
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

/// `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
        Device::Cpu => "cpu".into(),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn limit_text(flag: &str, limit: Option<usize>, all: u32) -> String {
    match limit {
        Some(n) => format!("{flag} {n}"),
        None => format!("no {flag} (all {all} images)"),
    }
}

impl Run {
    /// Starts a new run in `dir` (created when missing): seeds torch with the training seed,
    /// builds a fresh model and loads the data.
    pub fn start(dir: &Path, config: RunConfig) -> Result<Run> {
        let (channels, side) = config.data.dataset.input();
        if (config.model.in_channels, config.model.image_size) != (channels, side) {
            return Err(Error::Config(format!(
                "the network takes {}x{s}x{s} pictures but {} has {channels}x{side}x{side}: set \
                 VggConfig's in_channels and image_size from Dataset::input()",
                config.model.in_channels,
                config.data.dataset.title(),
                s = config.model.image_size,
            )));
        }
        let data = Data::load(&config.data)?;
        tch::manual_seed(config.train.seed as i64);
        let model = Vgg::new(config.model, config.device)?;
        let trainer = Trainer::new(model, config.train)?;
        let spec = RunSpec {
            dataset: config.data.dataset,
            data_dir: absolute(&config.data.dir),
            train_limit: config.data.train_limit,
            test_limit: config.data.test_limit,
            data_files: data.sources.clone(),
            device: device_name(config.device),
            amp: trainer.amp_enabled(),
            plots: config.plots,
        };
        Run::open(dir, spec, trainer, data, Vec::new())
    }

    /// Opens the run saved in `dir` to continue it with every setting it was started with.
    /// `request` holds what the user gave explicitly: anything that would change the run is
    /// refused, naming the saved and the given value; a different device or precision needs
    /// `allow_inexact`.
    pub fn resume(dir: &Path, request: &ResumeRequest) -> Result<Run> {
        let state_dir = state_folder(&dir.join(STATE_DIR))?;
        let trainer_path = state_dir.join(TRAINER_FILE);
        let saved: TrainerState =
            serde_json::from_slice(&fsio::read(&trainer_path)?).map_err(|e| {
                Error::checkpoint(&trainer_path, format!("invalid training state: {e}"))
            })?;
        let run_path = state_dir.join(RUN_FILE);
        let mut notes = Vec::new();
        let spec: Option<RunSpec> =
            match std::fs::read(&run_path) {
                Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                    Error::checkpoint(&run_path, format!("invalid run settings: {e}"))
                })?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io(&run_path, e)),
            };
        let mut conflicts = training_conflicts(&saved.config, request);
        let (mut spec, checked) = match spec {
            Some(spec) => {
                conflicts.extend(data_conflicts(&spec, request));
                (spec, true)
            }
            None => {
                notes.push(format!(
                    "{} has no {RUN_FILE} (saved by an older vggnet): the data limits, data \
                     folder and device come from this command line",
                    state_dir.display()
                ));
                let dataset = request.dataset.unwrap_or_default();
                let data_dir = request
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| dataset.default_dir());
                let device = request.device.unwrap_or_else(default_device);
                let spec = RunSpec {
                    dataset,
                    data_dir: absolute(&data_dir),
                    train_limit: request.train_limit,
                    test_limit: request.test_limit,
                    data_files: Vec::new(),
                    device: device_name(device),
                    amp: saved.config.amp != AmpMode::Off && device.is_cuda(),
                    plots: true,
                };
                (spec, false)
            }
        };
        let (device, amp_mode) =
            resume_device(&spec, &saved.config, request, &mut conflicts, &mut notes)?;
        if !conflicts.is_empty() {
            return Err(Error::ResumeConflict {
                dir: dir.to_path_buf(),
                conflicts,
            });
        }
        let data_dir = request.data_dir.clone().unwrap_or(spec.data_dir.clone());
        let data = Data::load(&DataConfig {
            dir: data_dir.clone(),
            train_limit: spec.train_limit,
            test_limit: spec.test_limit,
            download: request.download,
            ..DataConfig::of(spec.dataset)
        })?;
        if checked
            && data
                .sources
                .iter()
                .map(|f| &f.md5)
                .ne(spec.data_files.iter().map(|f| &f.md5))
        {
            let changed: Vec<String> = data
                .sources
                .iter()
                .zip(&spec.data_files)
                .filter(|(now, then)| now.md5 != then.md5)
                .map(|(now, then)| {
                    format!(
                        "{} has MD5 {} but the run trained on {} with MD5 {}",
                        now.path.display(),
                        now.md5,
                        then.path.display(),
                        then.md5
                    )
                })
                .collect();
            return Err(Error::ResumeConflict {
                dir: dir.to_path_buf(),
                conflicts: vec![format!(
                    "the data differs from the run's: {}",
                    changed.join(", ")
                )],
            });
        }
        let trainer = load_training_state_with_amp(&dir.join(STATE_DIR), device, Some(amp_mode))?;
        spec.data_dir = absolute(&data_dir);
        spec.data_files = data.sources.clone();
        spec.device = device_name(device);
        spec.amp = trainer.amp_enabled();
        if let Some(plots) = request.plots {
            spec.plots = plots;
        }
        Run::open(dir, spec, trainer, data, notes)
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
        // On a GPU the whole dataset lives on the device (188 MB for MNIST's training set):
        // batches are gathered there, with no host-to-device copy per step.
        let data = data.to_device(trainer.model.device());
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
        let flag = trainer.stop_flag();
        let epochs_before = trainer.history.len();
        let mut limited = StepLimit::new(
            obs,
            flag.clone(),
            stop.steps.map(|n| trainer.position.global_step + n),
        );
        let mut epoch_limit_reached = false;
        let result = trainer.fit(&data.train, Some(&data.test), &mut limited, &mut |t| {
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

    /// The final evaluation of a finished run on the whole test split: writes eval.json and,
    /// when plots are on, the step curve and the evaluation plots. Returns the evaluation and
    /// every file of the run folder.
    pub fn finish(&self) -> Result<(Evaluation, Vec<PathBuf>)> {
        let t = &self.trainer;
        let ev = evaluate(&t.model, &self.data.test, t.config.eval_batch_size)?;
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

/// Checks the training settings of a resume request against the saved ones.
fn training_conflicts(saved: &TrainConfig, r: &ResumeRequest) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |flag: &str, given: Option<String>, was: String| {
        if let Some(given) = given {
            if given != was {
                out.push(format!(
                    "{flag} {given} would change the run (it was started with {flag} {was})"
                ));
            }
        }
    };
    check(
        "--epochs",
        r.epochs.map(|v| v.to_string()),
        saved.epochs.to_string(),
    );
    check(
        "--batch-size",
        r.batch_size.map(|v| v.to_string()),
        saved.batch_size.to_string(),
    );
    check(
        "--lr",
        r.lr.map(|v| v.to_string()),
        saved.optimizer.lr.to_string(),
    );
    check(
        "--weight-decay",
        r.weight_decay.map(|v| v.to_string()),
        saved.optimizer.weight_decay.to_string(),
    );
    check(
        "--seed",
        r.seed.map(|v| v.to_string()),
        saved.seed.to_string(),
    );
    check(
        "--eval-every",
        r.eval_every.map(|v| v.to_string()),
        saved.eval_every_steps.to_string(),
    );
    let name = |r: Option<Recipe>| match r {
        Some(Recipe::Article) => "article".to_string(),
        Some(Recipe::Fast) => "fast".to_string(),
        None => "custom settings".to_string(),
    };
    check(
        "--recipe",
        r.recipe.map(|v| name(Some(v))),
        name(saved.recipe_name()),
    );
    out
}

/// Checks the data limits of a resume request against the saved ones.
fn data_conflicts(spec: &RunSpec, r: &ResumeRequest) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = r.dataset.filter(|d| *d != spec.dataset) {
        out.push(format!(
            "--dataset {d} would change the run (it was started with --dataset {})",
            spec.dataset
        ));
    }
    let files = spec.dataset.files();
    for (flag, given, saved, all) in [
        (
            "--train-limit",
            r.train_limit,
            spec.train_limit,
            files[0].count,
        ),
        (
            "--test-limit",
            r.test_limit,
            spec.test_limit,
            files[2].count,
        ),
    ] {
        let effective = |l: Option<usize>| l.unwrap_or(usize::MAX).min(all as usize);
        if let Some(g) = given {
            if effective(Some(g)) != effective(saved) {
                out.push(format!(
                    "{flag} {g} would change the run (it was started with {})",
                    limit_text(flag, saved, all)
                ));
            }
        }
    }
    out
}

/// The device and mixed-precision mode to continue on: the saved ones unless the request
/// changes them, which needs `allow_inexact`.
fn resume_device(
    spec: &RunSpec,
    saved: &TrainConfig,
    r: &ResumeRequest,
    conflicts: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<(Device, AmpMode)> {
    let saved_device = parse_device(&spec.device)?;
    let device = r.device.unwrap_or(saved_device);
    let amp_mode = r.amp.unwrap_or(saved.amp);
    if amp_mode == AmpMode::On && !device.is_cuda() {
        return Err(Error::Config(format!(
            "mixed precision (--amp on) needs a CUDA device, not {}",
            device_name(device)
        )));
    }
    let precision = Precision::of(amp_mode, device);
    // What the run did: float16 AMP as recorded in run.json, bfloat16 as configured.
    let saved_precision = match (saved.amp, spec.amp) {
        (AmpMode::Bf16, _) => Precision::Bfloat16,
        (_, true) => Precision::Float16,
        _ => Precision::Float32,
    };
    let unavailable = device.is_cuda() && !tch::Cuda::is_available();
    let mut changes = Vec::new();
    if device != saved_device {
        changes.push(format!(
            "device {} instead of {}",
            device_name(device),
            spec.device
        ));
    }
    if precision != saved_precision {
        changes.push(format!(
            "{} instead of {}",
            precision.describe(),
            saved_precision.describe()
        ));
    }
    if unavailable && r.device.is_none() {
        conflicts.push(format!(
            "the run trained on {}, which this machine does not have; to continue on the CPU \
             give --device cpu --allow-inexact-resume (the continuation is then not exact)",
            spec.device
        ));
    } else if !changes.is_empty() {
        if r.allow_inexact {
            notes.push(format!(
                "continuing on {}: the continuation is no longer exact",
                changes.join(" and ")
            ));
        } else {
            conflicts.push(format!(
                "{} would change the run; add --allow-inexact-resume to continue anyway (the \
                 continuation is then not exact)",
                changes.join(" and ")
            ));
        }
    }
    Ok((device, amp_mode))
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
    save_model(&t.model, &dir.join(MODEL_FILE))?;
    if is_best(&t.history) {
        save_model(&t.model, &dir.join(BEST_FILE))?;
    }
    fsio::write_json(
        &dir.join(METRICS_FILE),
        &serde_json::json!({
            "config": t.config,
            "precision": precision_record(t),
            "run": spec,
            "epochs": t.history,
            "evals": t.evals,
            "curve": t.curve,
        }),
    )?;
    if spec.plots {
        crate::plot::training_curves(&t.history)?.save(&dir.join("curves.png"))?;
    }
    Ok(())
}

/// The arithmetic the run trains in and, on the CPU, what was measured here about which
/// precision is faster ([`crate::calibrate`], from the cache; null when never measured).
fn precision_record(t: &Trainer) -> serde_json::Value {
    let measured = (t.model.device() == Device::Cpu)
        .then(crate::calibrate::cached)
        .flatten();
    serde_json::json!({
        "arithmetic": t.precision().describe(),
        "cpu_measurement": measured,
        "faster_here": measured.as_ref().map(|c| c.faster().describe()),
    })
}

/// The best-model rule: the last epoch's test accuracy is at least every earlier one's.
pub fn is_best(history: &[EpochRecord]) -> bool {
    let Some(last) = history.last().and_then(|r| r.test_accuracy) else {
        return false;
    };
    history
        .iter()
        .filter_map(|r| r.test_accuracy)
        .all(|a| a <= last)
}

/// Writes the evaluation plots into `dir`, labelled with `dataset`'s class names: the 2x3
/// grid, the confusion matrix and a gallery of misclassified pictures (when there are any).
/// Returns the files written.
pub fn write_eval_plots(
    dir: &Path,
    ev: &Evaluation,
    test: &Split,
    dataset: Dataset,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    let grid = dir.join("predictions.png");
    crate::plot::prediction_grid(&ev.first, dataset)?.save(&grid)?;
    written.push(grid);
    let conf = dir.join("confusion.png");
    crate::plot::confusion_matrix(&ev.confusion, dataset)?.save(&conf)?;
    written.push(conf);
    if !ev.misclassified.is_empty() {
        let path = dir.join("misclassified.png");
        crate::plot::misclassified_gallery(ev, test, 24, dataset)?.save(&path)?;
        written.push(path);
    }
    Ok(written)
}

/// The evaluation as JSON (eval.json, `vggnet eval --json`).
pub fn evaluation_json(ev: &Evaluation) -> serde_json::Value {
    serde_json::json!({
        "accuracy": ev.accuracy,
        "correct": ev.correct,
        "total": ev.total,
        "per_class_accuracy": ev.per_class_accuracy(),
        "confusion": ev.confusion,
        "misclassified": ev.misclassified,
        "first": ev.first.iter().map(|s| serde_json::json!({
            "index": s.index, "label": s.label, "prediction": s.prediction
        })).collect::<Vec<_>>(),
    })
}
