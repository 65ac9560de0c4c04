//! The training loop: AdamW, cross-entropy, automatic mixed precision on CUDA, progress through
//! an [`Observer`], exact resumption.
//!
//! Reproducibility: the data order of epoch `e` and the dropout masks of batch `b` are drawn
//! from generators seeded by `(seed, e)` and `(seed, e, b)`. With the weights, the optimizer
//! moments, the scaler and the position (epoch, batch) saved, a resumed run replays exactly
//! what the uninterrupted run would have done.

mod access;
pub mod amp;
mod config;
mod observer;
pub mod optim;
mod precision;
mod print;
pub mod state;

pub use config::*;
pub use observer::*;
pub use precision::*;
pub use print::*;

use crate::data::Split;
use crate::error::{Error, Result};
use crate::eval::{evaluate, Evaluation};
use crate::model::Vgg;
use crate::train::amp::GradScaler;
use crate::train::optim::AdamW;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{Kind, Tensor};

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

/// The step's one read-back to the host: the loss, and how many of the batch's predictions
/// (`logits` (B, classes)) equal the labels `ys` (B,), the article's `loss.item()` and
/// `(predicted == target).sum().item()` in one copy.
pub fn read_back(logits: &Tensor, loss: &Tensor, ys: &Tensor) -> Result<(f64, f64)> {
    let correct = logits
        .f_argmax(1, false)?
        .f_eq_tensor(&ys.f_to_device(logits.device())?)?
        .f_sum(Kind::Float)?; // ()
    let stats = Vec::<f64>::try_from(&Tensor::f_stack(&[loss, &correct], 0)?)?;
    Ok((stats[0], stats[1]))
}

/// What a training recipe changes in the article's loop, step by step: the learning rate and
/// the pictures of each batch. The article's loop changes neither ([`ArticlePlan`]); the fast
/// recipe (`vggnet::recipe::Plan`) warms the rate up and decays it, and shifts and rotates the
/// pictures.
pub trait StepPlan {
    /// The rate of step `step` (0-based over the run) of a run of `total` steps, `peak` being
    /// the configured one (`config.optimizer.lr`).
    fn lr(&self, peak: f64, step: u64, total: u64) -> f64;
    /// The pictures of a batch of epoch `epoch` (1-based) as the step takes them, (B, C, S, S).
    fn pictures(&self, xs: Tensor, epoch: usize) -> Result<Tensor>;
}

/// The article's loop: the configured rate at every step, the pictures as they are.
pub struct ArticlePlan;

impl StepPlan for ArticlePlan {
    fn lr(&self, peak: f64, _step: u64, _total: u64) -> f64 {
        peak
    }
    fn pictures(&self, xs: Tensor, _epoch: usize) -> Result<Tensor> {
        Ok(xs)
    }
}

/// A model with its optimizer, scaler, settings, position and history.
///
/// The model, optimizer, scaler and settings are private: each is tied to the others (the
/// optimizer holds the model's parameters, the scaler and the precision follow `amp`), so they
/// are read through [`Trainer::model`], [`Trainer::config`], ... and changed only through setters
/// that check the new value and update what follows from it ([`Trainer::set_batch_size`],
/// [`Trainer::set_amp`], [`Trainer::set_peak_lr`], [`Trainer::set_epochs`]); for any other
/// setting, make a new trainer. The position and the records stay public: they are what the loop
/// (notebook 02's included) writes as it goes, and no value of theirs is a setting.
pub struct Trainer {
    model: Vgg,
    optimizer: AdamW,
    scaler: GradScaler,
    config: TrainConfig,
    pub position: Position,
    pub history: Vec<EpochRecord>,
    pub evals: Vec<EvalPoint>,
    pub curve: Vec<CurvePoint>,
    precision: Precision,
    stop: Arc<AtomicBool>,
    amp_announced: bool,
    /// How the loop evaluates: [`evaluate`], or a faster path of the same arithmetic
    /// ([`Trainer::set_evaluator`]).
    evaluator: Evaluator,
}

/// An evaluation function of [`evaluate`]'s shape (model, split, batch size).
pub type Evaluator = fn(&Vgg, &Split, usize) -> Result<Evaluation>;

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
    /// A trainer for `model` with fresh optimizer state. Fails on settings that cannot run
    /// ([`TrainConfig::validate`], and `AmpMode::On` off CUDA: [`Precision::of`]).
    /// [`AmpMode::Fastest`] is refused: the trainer measures nothing; resolve it first
    /// ([`AmpMode::resolve`], which times both precisions once per CPU).
    pub fn new(model: Vgg, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        let precision = Precision::of(config.amp, model.device())?;
        let optimizer = AdamW::new(model.named_parameters(), config.optimizer);
        Ok(Trainer {
            optimizer,
            scaler: GradScaler::new(config.scaler, precision == Precision::Float16),
            precision,
            model,
            config,
            position: Position::default(),
            history: Vec::new(),
            evals: Vec::new(),
            curve: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            amp_announced: false,
            evaluator: evaluate,
        })
    }

    /// Forward pass and loss, as the article's `with autocast(): outputs = model(images);
    /// loss = criterion(outputs, labels)`: logits (B, classes), float16 under autocast when
    /// AMP is on (bfloat16 with [`AmpMode::Bf16`]), and the mean cross-entropy in float32.
    /// Dropout is on (training mode).
    pub fn forward_loss(&self, xs: &Tensor, ys: &Tensor) -> Result<(Tensor, Tensor)> {
        let ys = ys.f_to_device(self.model.device())?; // (B,)
        let logits = match self.precision() {
            Precision::Bfloat16 => self.model.forward_autocast(xs, true, Kind::BFloat16)?,
            _ => tch::autocast(self.precision == Precision::Float16, || {
                self.model.forward_t(xs, true)
            })?,
        }; // (B, 10)
        let loss = logits
            .f_to_kind(Kind::Float)?
            .f_cross_entropy_loss::<Tensor>(
                &ys,
                None,
                tch::Reduction::Mean,
                -100,
                self.config.label_smoothing,
            )?; // ()
        Ok((logits, loss))
    }

    /// The scaled backward pass, `scaler.scale(loss).backward()`: the gradients of the scaled
    /// loss with respect to every parameter, in [`AdamW::params`] order. They come from
    /// autograd.grad, not `.grad()`: nothing to zero and nothing to accumulate, like
    /// PyTorch's `zero_grad(set_to_none=True)`.
    pub fn scaled_grads(&self, loss: &Tensor) -> Result<Vec<Tensor>> {
        let scaled = self.scaler.scale(loss);
        Ok(Tensor::f_run_backward(
            &[&scaled],
            &self.optimizer.params(),
            false,
            false,
        )?)
    }

    /// `scaler.step(optimizer); scaler.update()`: unscales `grads` in place, takes the AdamW
    /// step unless a gradient is inf/NaN, and updates the scale. Returns true when the step
    /// was skipped.
    pub fn apply_grads(&mut self, grads: &[Tensor]) -> bool {
        let found_inf = self.scaler.unscale_(grads);
        if !found_inf {
            self.optimizer.step_grads(grads);
        }
        self.scaler.update_with(found_inf);
        found_inf
    }

    /// One step of the article's loop on a batch (`xs` (B, 1, 28, 28), `ys` (B,)): forward
    /// and loss, scaled backward, unscale, AdamW step, scaler update. Every batch that
    /// [`Trainer::fit`] trains goes through here. Without AMP a non-finite loss is an error
    /// raised before any weight changes; with AMP the scaler skips the step instead.
    pub fn step(&mut self, xs: &Tensor, ys: &Tensor) -> Result<StepOutput> {
        let (logits, loss) = self.forward_loss(xs, ys)?;
        let (loss_v, correct_v) = read_back(&logits, &loss, ys)?;
        if !self.uses_grad_scaler() && !loss_v.is_finite() {
            let advice = match self.precision {
                Precision::Float32 if self.model.device().is_cuda() => {
                    "lower the learning rate, or train with AMP (`--amp on`), whose grad scaler \
                     skips such steps"
                }
                Precision::Bfloat16 => {
                    "lower the learning rate, or train in float32 (`--amp off`): bfloat16 AMP \
                     has no grad scaler to skip such steps"
                }
                _ => "lower the learning rate",
            };
            return Err(Error::NonFiniteLoss {
                loss: loss_v,
                epoch: self.position.epoch + 1,
                batch: self.position.batch,
                precision: self.precision.describe(),
                advice,
            });
        }
        let grads = self.scaled_grads(&loss)?;
        let skipped = self.apply_grads(&grads);
        Ok(StepOutput {
            loss: loss_v,
            correct: correct_v as u64,
            skipped,
        })
    }

    /// This epoch's batches, as the article's `DataLoader(train_set, batch_size=64,
    /// shuffle=True)` yields them: the indices of `train` in an order drawn from (seed, epoch),
    /// `batch_size` at a time (the last batch may be smaller).
    pub fn epoch_batches(&self, train: &Split) -> Vec<Vec<i64>> {
        let order = train.order(Some(mix(self.config.seed, self.position.epoch as u64)));
        order
            .chunks(self.config.batch_size) // at least 1: validated in Trainer::new
            .map(<[i64]>::to_vec)
            .collect()
    }

    /// Batch `b` of this epoch, ready for a step (the article's `data, target`): the pictures
    /// normalized, (B, C, S, S), and the labels, (B,). It first seeds torch's global generator
    /// from (seed, epoch, b), a write to process-wide state, so the batch's dropout masks (and a
    /// recipe's augmentation, [`StepPlan::pictures`]) are the same in a resumed run.
    pub fn load_batch(&self, train: &Split, b: usize, indices: &[i64]) -> Result<(Tensor, Tensor)> {
        let seed = mix(mix(self.config.seed, self.position.epoch as u64), b as u64);
        tch::manual_seed(seed as i64);
        train.gather(indices) // (B, C, S, S), (B,)
    }

    /// Counts the step just taken on batch `b` (of `images` examples) in the epoch's running
    /// sums, as the article's `running_loss += loss.item()`, `total += target.size(0)` and
    /// `correct += (predicted == target).sum().item()` do, and adds a point to the step curve
    /// every `config.curve_every_steps`. Returns the step's progress; its `num_batches` and
    /// `images_per_sec` are left at 0 for the loop, which knows them, to fill in.
    pub fn count_step(&mut self, b: usize, images: usize, out: &StepOutput) -> BatchProgress {
        let n = images as u64;
        let pos = &mut self.position;
        pos.batch = b + 1;
        pos.global_step += 1;
        pos.seen += n;
        pos.correct += out.correct;
        pos.skipped += out.skipped as u64;
        if out.loss.is_finite() {
            pos.loss_sum += out.loss * n as f64;
        }
        let progress = BatchProgress {
            epoch: pos.epoch + 1,
            batch: b,
            num_batches: 0,
            loss: out.loss,
            running_loss: pos.loss_sum / pos.seen as f64,
            running_accuracy: 100.0 * pos.correct as f64 / pos.seen as f64,
            seen: pos.seen as usize,
            images_per_sec: 0.0,
            skipped: out.skipped,
            global_step: pos.global_step,
        };
        let curve_every = self.config.curve_every_steps as u64;
        if curve_every > 0 && progress.global_step.is_multiple_of(curve_every) {
            self.curve.push(CurvePoint {
                step: progress.global_step,
                epoch: progress.epoch,
                running_loss: progress.running_loss,
                running_accuracy: progress.running_accuracy,
            });
        }
        progress
    }

    /// Adds `seconds` of training to the epoch in progress and to the run (an epoch trained in
    /// several parts: a budget reached, an interruption, an evaluation in between).
    pub fn add_train_time(&mut self, seconds: f64) {
        self.position.seconds += seconds;
        self.position.train_seconds += seconds;
    }

    /// Ends the epoch: its record from the running sums (the article's `running_loss /
    /// len(train_loader), 100 * correct / total`; no validation accuracy yet) and the position moved to
    /// the start of the next epoch. `seconds`: training time since the last
    /// [`Trainer::add_train_time`].
    pub fn end_epoch(&mut self, seconds: f64) -> EpochRecord {
        self.add_train_time(seconds);
        let pos = std::mem::take(&mut self.position);
        let record = EpochRecord {
            epoch: pos.epoch + 1,
            train_loss: pos.loss_sum / pos.seen.max(1) as f64,
            train_accuracy: 100.0 * pos.correct as f64 / pos.seen.max(1) as f64,
            val_accuracy: None,
            seconds: pos.seconds,
            images_per_sec: pos.seen as f64 / pos.seconds.max(1e-9),
            skipped_steps: pos.skipped,
            loss_scale: if self.uses_grad_scaler() {
                self.scaler.scale
            } else {
                1.0
            },
        };
        self.position = Position {
            epoch: pos.epoch + 1,
            global_step: pos.global_step,
            train_seconds: pos.train_seconds,
            ..Position::default()
        };
        record
    }

    /// Runs the rest of the current epoch (from `position.batch`) over `train`: the article's
    /// `train_epoch`, which notebook 02 writes out with the pieces above (the test
    /// `the_notebooks_loop_is_trainer_fit` checks that both give identical weights), with
    /// `plan`'s learning rate and pictures at each step ([`ArticlePlan`]: the article's).
    /// Returns the epoch's record (without validation accuracy) and advances to the next epoch.
    pub fn train_epoch(
        &mut self,
        plan: &dyn StepPlan,
        train: &Split,
        validation: Option<&Split>,
        obs: &mut dyn Observer,
    ) -> Result<EpochRecord> {
        self.announce_amp(obs);
        let batches = self.epoch_batches(train);
        let num_batches = batches.len();
        obs.on_epoch_start(self.position.epoch + 1, num_batches);
        let mut started = Instant::now();
        let mut seen_at_start = self.position.seen;
        let (peak, total_steps) = (
            self.config.optimizer.lr,
            (num_batches * self.config.epochs) as u64,
        );
        for (b, indices) in batches.iter().enumerate().skip(self.position.batch) {
            if self.stop.load(Ordering::SeqCst) {
                self.add_train_time(started.elapsed().as_secs_f64());
                return Err(Error::Interrupted);
            }
            let (xs, ys) = self.load_batch(train, b, indices)?;
            let xs = plan.pictures(xs, self.position.epoch + 1)?; // (B, C, S, S)
            self.set_lr(plan.lr(peak, self.position.global_step, total_steps));
            let out = self.step(&xs, &ys)?;
            let mut progress = self.count_step(b, indices.len(), &out);
            let elapsed = started.elapsed().as_secs_f64();
            progress.num_batches = num_batches;
            progress.images_per_sec =
                (self.position.seen - seen_at_start) as f64 / elapsed.max(1e-9);
            obs.on_batch(&progress);
            let step = self.position.global_step;
            let every = self.config.eval_every_steps as u64;
            if let (Some(val), true) = (validation, every > 0 && step.is_multiple_of(every)) {
                // Evaluation time is not training time.
                self.add_train_time(elapsed);
                let acc = (self.evaluator)(&self.model, val, self.config.eval_batch_size)?.accuracy;
                let point = EvalPoint {
                    step,
                    epoch: self.position.epoch + 1,
                    train_seconds: self.position.train_seconds,
                    val_accuracy: acc,
                };
                obs.on_eval(&point);
                self.evals.push(point);
                seen_at_start = self.position.seen;
                started = Instant::now();
            }
        }
        Ok(self.end_epoch(started.elapsed().as_secs_f64()))
    }

    /// The article's training: until `config.epochs` are done, at the configured learning
    /// rate, measuring the accuracy on `validation` after each epoch (the article measures
    /// its test set there; a split held out of the training pictures keeps the test set for the end). `after_epoch` runs after each epoch's record
    /// is in `history` (save checkpoints there).
    pub fn fit(
        &mut self,
        train: &Split,
        validation: Option<&Split>,
        obs: &mut dyn Observer,
        after_epoch: &mut dyn FnMut(&Trainer) -> Result<()>,
    ) -> Result<()> {
        self.fit_with(&ArticlePlan, train, validation, obs, after_epoch)
    }

    /// [`Trainer::fit`] with `plan`'s learning rate and pictures at each step (a recipe's
    /// schedule and augmentation: `vggnet::recipe::Plan`).
    pub fn fit_with(
        &mut self,
        plan: &dyn StepPlan,
        train: &Split,
        validation: Option<&Split>,
        obs: &mut dyn Observer,
        after_epoch: &mut dyn FnMut(&Trainer) -> Result<()>,
    ) -> Result<()> {
        while !self.finished() {
            let mut record = self.train_epoch(plan, train, validation, obs)?;
            if let Some(val) = validation {
                let acc = (self.evaluator)(&self.model, val, self.config.eval_batch_size)?.accuracy;
                record.val_accuracy = Some(acc);
            }
            obs.on_epoch_end(&record);
            self.history.push(record);
            after_epoch(self)?;
        }
        Ok(())
    }
}

impl Trainer {
    /// Evaluates through `evaluator` from now on (mid-run and after each epoch); it must give
    /// [`evaluate`]'s numbers (`vggnet::engine::speed_up` sets the packed CPU path).
    pub fn set_evaluator(&mut self, evaluator: Evaluator) {
        self.evaluator = evaluator;
    }

    /// The first epoch's line about the arithmetic ([`precision_line`]).
    fn announce_amp(&mut self, obs: &mut dyn Observer) {
        if !self.amp_announced {
            self.amp_announced = true;
            obs.on_message(&precision_line(
                self.config.amp,
                self.precision,
                self.model.device(),
            ));
        }
    }
}
