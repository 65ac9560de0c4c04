//! What training reports as it goes: per-step and per-epoch records, and the [`Observer`]s that
//! receive them (silent here; printed lines are [`super::PrintLines`], a step budget is
//! `crate::run::StepLimit`).

use serde::{Deserialize, Serialize};

/// What one training step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutput {
    /// Mean cross-entropy of the batch (unscaled).
    pub loss: f64,
    /// Examples of the batch classified correctly (dropout on, as trained).
    pub correct: u64,
    /// True when the scaler found inf/NaN gradients and skipped the optimizer step.
    pub skipped: bool,
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
    /// Optimizer steps over the whole run, this one included.
    pub global_step: u64,
}

/// A validation-set evaluation made during training (for time-to-accuracy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    pub step: u64,
    pub epoch: usize,
    /// Training wall time so far, evaluations excluded.
    pub train_seconds: f64,
    pub val_accuracy: f64,
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
    /// Percent correct on the validation split, when one was given.
    pub val_accuracy: Option<f64>,
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
