//! The training loop: AdamW, cross-entropy, automatic mixed precision on CUDA, progress through
//! an [`Observer`], exact resumption.
//!
//! Reproducibility: the data order of epoch `e` and the dropout masks of batch `b` are drawn
//! from generators seeded by `(seed, e)` and `(seed, e, b)`. With the weights, the optimizer
//! moments, the scaler and the position (epoch, batch) saved, a resumed run replays exactly
//! what the uninterrupted run would have done.

use crate::amp::{GradScaler, GradScalerConfig};
use crate::data::Split;
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::model::Vgg;
use crate::optim::{AdamW, AdamWConfig};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// When to use automatic mixed precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AmpMode {
    /// On when training on CUDA, off on the CPU (the article's `autocast()` + `GradScaler`).
    #[default]
    Auto,
    On,
    Off,
}

/// Training settings. `Default` is the article's run: 5 epochs, batch 64, AdamW 1e-3 / 1e-4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: AdamWConfig,
    pub seed: u64,
    pub amp: AmpMode,
    pub scaler: GradScalerConfig,
    /// Batch size for the test-set evaluations.
    pub eval_batch_size: usize,
    /// Evaluate on the test split every this many optimizer steps (0: only at epoch ends).
    pub eval_every_steps: usize,
    /// Record the running loss and accuracy every this many steps (for step curves; 0: never).
    pub curve_every_steps: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 5,
            batch_size: 64,
            optimizer: AdamWConfig::default(),
            seed: 42,
            amp: AmpMode::Auto,
            scaler: GradScalerConfig::default(),
            eval_batch_size: 256,
            eval_every_steps: 0,
            curve_every_steps: 50,
        }
    }
}

/// Settings for a notebook run: the article's full run (5 epochs on all 60,000 images) when
/// `full_run` is true or a GPU is present, else a CPU-sized subset that finishes in a few
/// minutes on 2 cores (12,800 images x 2 epochs, ~95% test accuracy).
/// Returns the training settings and the (train, test) limits.
pub fn notebook_plan(
    device: Device,
    full_run: bool,
) -> (TrainConfig, Option<usize>, Option<usize>) {
    if full_run || device.is_cuda() {
        (TrainConfig::default(), None, None)
    } else {
        (
            TrainConfig {
                epochs: 2,
                curve_every_steps: 10,
                ..TrainConfig::default()
            },
            Some(12_800),
            Some(2_000),
        )
    }
}

/// The device to train on: CUDA when available, else the CPU.
pub fn default_device() -> Device {
    Device::cuda_if_available()
}

/// Parses `cpu`, `cuda`, `cuda:N` or `auto`.
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "auto" => Ok(default_device()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| {
                Error::Config(format!("unknown device `{s}` (cpu, cuda, cuda:N, auto)"))
            }),
    }
}

/// Progress within one batch, reported to the observer.
#[derive(Debug, Clone)]
pub struct BatchProgress {
    pub epoch: usize,
    /// 0-based batch index within the epoch.
    pub batch: usize,
    pub num_batches: usize,
    /// Mean loss of this batch.
    pub loss: f64,
    /// Mean loss per example over the epoch so far.
    pub running_loss: f64,
    /// Percent correct over the epoch so far.
    pub running_accuracy: f64,
    /// Examples seen this epoch so far.
    pub seen: usize,
    /// Throughput since the epoch (or the resumed part of it) started.
    pub images_per_sec: f64,
    /// True when the scaler skipped this step (inf/NaN gradients).
    pub skipped: bool,
}

/// A test-set evaluation made during training (for time-to-accuracy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    pub step: u64,
    pub epoch: usize,
    /// Training wall time so far, evaluations excluded.
    pub train_seconds: f64,
    pub test_accuracy: f64,
}

/// Running loss and accuracy at one optimizer step (for step curves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub step: u64,
    pub epoch: usize,
    pub running_loss: f64,
    pub running_accuracy: f64,
}

/// What one epoch produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy per training example.
    pub train_loss: f64,
    /// Percent of training examples classified correctly (dropout on).
    pub train_accuracy: f64,
    /// Percent correct on the test split, when one was given.
    pub test_accuracy: Option<f64>,
    /// Training wall time of the epoch (evaluation excluded).
    pub seconds: f64,
    pub images_per_sec: f64,
    pub skipped_steps: u64,
    /// The scaler's scale at the end of the epoch (1 when AMP is off).
    pub loss_scale: f64,
}

/// Receives progress. Every method has a no-op default.
pub trait Observer {
    fn on_message(&mut self, _message: &str) {}
    fn on_epoch_start(&mut self, _epoch: usize, _num_batches: usize) {}
    fn on_batch(&mut self, _progress: &BatchProgress) {}
    fn on_eval(&mut self, _point: &EvalPoint) {}
    fn on_epoch_end(&mut self, _record: &EpochRecord) {}
}

/// Observes nothing.
pub struct Silent;
impl Observer for Silent {}

/// Prints plain lines (for notebooks, where progress bars draw nothing): one every `every`
/// batches and one per epoch.
pub struct PrintLines {
    pub every: usize,
}

impl Observer for PrintLines {
    fn on_message(&mut self, message: &str) {
        println!("{message}");
    }
    fn on_batch(&mut self, p: &BatchProgress) {
        if self.every > 0
            && ((p.batch + 1).is_multiple_of(self.every) || p.batch + 1 == p.num_batches)
        {
            println!(
                "epoch {} batch {}/{}: loss {:.4}, accuracy {:.2}%, {:.1} images/s",
                p.epoch,
                p.batch + 1,
                p.num_batches,
                p.running_loss,
                p.running_accuracy,
                p.images_per_sec
            );
        }
    }
    fn on_eval(&mut self, e: &EvalPoint) {
        println!(
            "step {}: test accuracy {:.2}% after {:.0}s of training",
            e.step, e.test_accuracy, e.train_seconds
        );
    }
    fn on_epoch_end(&mut self, r: &EpochRecord) {
        let test = r
            .test_accuracy
            .map(|a| format!(", test accuracy {a:.2}%"))
            .unwrap_or_default();
        println!(
            "epoch {} done: train loss {:.4}, train accuracy {:.2}%{test}, {:.1}s, {:.1} images/s",
            r.epoch, r.train_loss, r.train_accuracy, r.seconds, r.images_per_sec
        );
    }
}

/// Where training stands: the epoch in progress, the next batch, and that epoch's partial sums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// 0-based epoch in progress (== epochs completed when `batch == 0`).
    pub epoch: usize,
    /// Next batch to run within the epoch.
    pub batch: usize,
    /// Optimizer steps taken over the whole run (skipped ones included).
    pub global_step: u64,
    pub loss_sum: f64,
    pub correct: u64,
    pub seen: u64,
    pub skipped: u64,
    /// Training seconds spent in this epoch before an interruption.
    pub seconds: f64,
    /// Training seconds over the whole run, evaluations excluded.
    pub train_seconds: f64,
}

/// SplitMix64: mixes seeds so that (seed, epoch, batch) give unrelated streams.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A model with its optimizer, scaler, settings, position and history.
pub struct Trainer {
    pub model: Vgg,
    pub optimizer: AdamW,
    pub scaler: GradScaler,
    pub config: TrainConfig,
    pub position: Position,
    pub history: Vec<EpochRecord>,
    pub evals: Vec<EvalPoint>,
    pub curve: Vec<CurvePoint>,
    stop: Arc<AtomicBool>,
    amp_announced: bool,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("model", &self.model)
            .field("config", &self.config)
            .field("position", &self.position)
            .field("epochs_done", &self.history.len())
            .finish()
    }
}

impl Trainer {
    /// A trainer for `model` with fresh optimizer state.
    pub fn new(model: Vgg, config: TrainConfig) -> Self {
        let amp = match config.amp {
            AmpMode::Auto | AmpMode::On => model.device().is_cuda(),
            AmpMode::Off => false,
        };
        let optimizer = AdamW::new(model.named_parameters(), config.optimizer);
        Trainer {
            optimizer,
            scaler: GradScaler::new(config.scaler, amp),
            model,
            config,
            position: Position::default(),
            history: Vec::new(),
            evals: Vec::new(),
            curve: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            amp_announced: false,
        }
    }

    /// True when autocast + the grad scaler are active.
    pub fn amp_enabled(&self) -> bool {
        self.scaler.enabled
    }

    /// A flag that, once set (e.g. from a Ctrl-C handler), stops training at the next batch
    /// boundary with `Error::Interrupted`; the position is then exact for a resume.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// True when every configured epoch is done.
    pub fn finished(&self) -> bool {
        self.position.epoch >= self.config.epochs
    }

    fn announce_amp(&mut self, obs: &mut dyn Observer) {
        if self.amp_announced {
            return;
        }
        self.amp_announced = true;
        let msg = match (self.config.amp, self.amp_enabled()) {
            (_, true) => "AMP on: autocast (float16) + GradScaler".to_string(),
            (AmpMode::Off, false) => "AMP off (requested): training in float32".to_string(),
            (_, false) => format!(
                "AMP off: tch's autocast is CUDA-only, training in float32 on {:?}",
                self.model.device()
            ),
        };
        obs.on_message(&msg);
    }

    /// Backward pass and optimizer step through the grad scaler, as the article's
    /// `scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()`.
    /// Returns true when the step was skipped because a gradient was inf/NaN.
    /// Gradients come from `Tensor::run_backward` (autograd.grad), not `.grad()`: nothing to
    /// zero and nothing to accumulate, like PyTorch's `zero_grad(set_to_none=True)`.
    pub fn backward_and_step(&mut self, loss: &Tensor) -> bool {
        let scaled = self.scaler.scale_loss(loss);
        let grads = Tensor::run_backward(&[&scaled], &self.optimizer.params(), false, false);
        let found_inf = self.scaler.unscale_(&grads);
        if !found_inf {
            self.optimizer.step_grads(&grads, true);
        }
        self.scaler.update(found_inf);
        found_inf
    }

    /// Runs the rest of the current epoch (from `position.batch`) over `train`.
    /// Returns the epoch's record (without test accuracy) and advances to the next epoch.
    pub fn train_epoch(
        &mut self,
        train: &Split,
        test: Option<&Split>,
        obs: &mut dyn Observer,
    ) -> Result<EpochRecord> {
        self.announce_amp(obs);
        let bs = self.config.batch_size.max(1);
        let epoch = self.position.epoch;
        let seed = self.config.seed;
        let num_batches = train.num_batches(bs);
        let device = self.model.device();
        let amp = self.amp_enabled();
        let order = train.order(Some(mix(seed, epoch as u64)));
        obs.on_epoch_start(epoch + 1, num_batches);
        let mut started = Instant::now();
        let mut seen_at_start = self.position.seen;
        let mut seconds_before = self.position.seconds;
        for (b, chunk) in order.chunks(bs).enumerate().skip(self.position.batch) {
            if self.stop.load(Ordering::SeqCst) {
                let elapsed = started.elapsed().as_secs_f64();
                self.position.seconds = seconds_before + elapsed;
                self.position.train_seconds += elapsed;
                return Err(Error::Interrupted);
            }
            tch::manual_seed(mix(mix(seed, epoch as u64), b as u64) as i64);
            let (xs, ys) = train.gather(chunk);
            let (xs, ys) = (xs.to_device(device), ys.to_device(device)); // (B,1,28,28), (B,)
            let logits = tch::autocast(amp, || self.model.forward_t(&xs, true)); // (B, 10)
            let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(&ys); // ()
            let correct = logits.argmax(1, false).eq_tensor(&ys).sum(Kind::Float); // ()
            let stats = Vec::<f64>::try_from(&Tensor::stack(&[&loss, &correct], 0))?;
            let (loss_v, correct_v) = (stats[0], stats[1]);
            if !amp && !loss_v.is_finite() {
                return Err(Error::NonFiniteLoss {
                    loss: loss_v,
                    epoch: epoch + 1,
                    batch: b,
                });
            }
            let found_inf = self.backward_and_step(&loss);
            let n = chunk.len() as u64;
            let pos = &mut self.position;
            pos.batch = b + 1;
            pos.global_step += 1;
            pos.seen += n;
            pos.correct += correct_v as u64;
            pos.skipped += found_inf as u64;
            if loss_v.is_finite() {
                pos.loss_sum += loss_v * n as f64;
            }
            let elapsed = started.elapsed().as_secs_f64();
            let progress = BatchProgress {
                epoch: epoch + 1,
                batch: b,
                num_batches,
                loss: loss_v,
                running_loss: pos.loss_sum / pos.seen as f64,
                running_accuracy: 100.0 * pos.correct as f64 / pos.seen as f64,
                seen: pos.seen as usize,
                images_per_sec: (pos.seen - seen_at_start) as f64 / elapsed.max(1e-9),
                skipped: found_inf,
            };
            obs.on_batch(&progress);
            let curve_every = self.config.curve_every_steps as u64;
            if curve_every > 0 && self.position.global_step.is_multiple_of(curve_every) {
                self.curve.push(CurvePoint {
                    step: self.position.global_step,
                    epoch: epoch + 1,
                    running_loss: progress.running_loss,
                    running_accuracy: progress.running_accuracy,
                });
            }
            let step = self.position.global_step;
            let every = self.config.eval_every_steps as u64;
            if let (Some(test), true) = (test, every > 0 && step.is_multiple_of(every)) {
                let train_seconds = self.position.train_seconds + elapsed;
                let acc = evaluate(&self.model, test, self.config.eval_batch_size)?.accuracy;
                let point = EvalPoint {
                    step: self.position.global_step,
                    epoch: epoch + 1,
                    train_seconds,
                    test_accuracy: acc,
                };
                obs.on_eval(&point);
                self.evals.push(point);
                // Evaluation time is not training time.
                self.position.seconds = seconds_before + elapsed;
                self.position.train_seconds = train_seconds;
                seconds_before = self.position.seconds;
                seen_at_start = self.position.seen;
                started = Instant::now();
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let pos = std::mem::take(&mut self.position);
        let seconds = seconds_before + elapsed;
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: pos.loss_sum / pos.seen.max(1) as f64,
            train_accuracy: 100.0 * pos.correct as f64 / pos.seen.max(1) as f64,
            test_accuracy: None,
            seconds,
            images_per_sec: pos.seen as f64 / seconds.max(1e-9),
            skipped_steps: pos.skipped,
            loss_scale: if amp { self.scaler.scale } else { 1.0 },
        };
        self.position = Position {
            epoch: epoch + 1,
            global_step: pos.global_step,
            train_seconds: pos.train_seconds + elapsed,
            ..Position::default()
        };
        Ok(record)
    }

    /// Trains until `config.epochs` are done, evaluating on `test` after each epoch.
    /// `after_epoch` runs after each epoch's record is in `history` (save checkpoints there).
    pub fn fit(
        &mut self,
        train: &Split,
        test: Option<&Split>,
        obs: &mut dyn Observer,
        after_epoch: &mut dyn FnMut(&Trainer) -> Result<()>,
    ) -> Result<()> {
        while !self.finished() {
            let mut record = self.train_epoch(train, test, obs)?;
            if let Some(test) = test {
                let acc = evaluate(&self.model, test, self.config.eval_batch_size)?.accuracy;
                record.test_accuracy = Some(acc);
            }
            obs.on_epoch_end(&record);
            self.history.push(record);
            after_epoch(self)?;
        }
        Ok(())
    }
}
