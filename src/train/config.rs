//! The training settings ([`TrainConfig`]) and their one check.

use super::AmpMode;
use crate::error::{Error, Result};
use crate::train::amp::GradScalerConfig;
use crate::train::optim::AdamWConfig;
use serde::{Deserialize, Serialize};

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
    /// Batch size for the evaluations (validation and test).
    pub eval_batch_size: usize,
    /// Evaluate on the validation split every this many optimizer steps (0: only at epoch ends).
    pub eval_every_steps: usize,
    /// Record the running loss and accuracy every this many steps (for step curves; 0: never).
    pub curve_every_steps: usize,
    /// Label smoothing of the cross-entropy, PyTorch's `CrossEntropyLoss(label_smoothing=..)`
    /// (the article's: 0).
    pub label_smoothing: f64,
    /// Flush denormal floats to zero on every libtorch thread while training (x86-64; see
    /// [`crate::engine::process::flush_denormals`]): whole epochs stay as fast as their first steps.
    /// Off reproduces PyTorch's default arithmetic below 1.2e-38.
    pub flush_denormals: bool,
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
            label_smoothing: 0.0,
            flush_denormals: true,
        }
    }
}

impl TrainConfig {
    /// Checks every setting, naming the one that cannot run ([`super::Trainer::new`] calls
    /// it: every run, notebook cell and experiment builds its trainer there).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(what));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        crate::data::check_batch_size(self.batch_size)?;
        crate::data::check_batch_size(self.eval_batch_size)?;
        let lr = self.optimizer.lr;
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("learning rate must be a positive number, got {lr}"));
        }
        let wd = self.optimizer.weight_decay;
        if !(wd.is_finite() && wd >= 0.0) {
            return bad(format!("weight decay must be 0 or more, got {wd}"));
        }
        let ls = self.label_smoothing;
        if !(0.0..1.0).contains(&ls) {
            return bad(format!("label smoothing must be in [0, 1), got {ls}"));
        }
        Ok(())
    }
}
