//! The trainer's accessors and its checked setters: every setting a running trainer may change
//! goes through one of these, checked as [`Trainer::new`] checks it (the fields stay private).

use super::{AmpMode, Precision, TrainConfig, Trainer};
use crate::error::{Error, Result};
use crate::model::Vgg;
use crate::train::amp::GradScaler;
use crate::train::optim::AdamW;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

impl Trainer {
    /// The model being trained.
    pub fn model(&self) -> &Vgg {
        &self.model
    }

    /// The trained model, the trainer consumed.
    pub fn into_model(self) -> Vgg {
        self.model
    }

    /// The optimizer (its moments, step count and the rate of the next step).
    pub fn optimizer(&self) -> &AdamW {
        &self.optimizer
    }

    /// The optimizer, for a loop that takes its steps itself (notebook 02's `train_epoch`).
    pub fn optimizer_mut(&mut self) -> &mut AdamW {
        &mut self.optimizer
    }

    /// The model and its optimizer together, for a change of how the weights are stored that
    /// both must follow (the engine's channels-last: `vggnet::engine::layout`).
    pub(crate) fn model_and_optimizer_mut(&mut self) -> (&mut Vgg, &mut AdamW) {
        (&mut self.model, &mut self.optimizer)
    }

    /// The article's three, to write its loop with: the model, the optimizer and the scaler
    /// (`model(data)`, `optimizer.zero_grad()`, `scaler.scale(loss).backward()`,
    /// `scaler.step(optimizer)`, `scaler.update()`: notebook 02's `train_epoch`).
    pub fn parts_mut(&mut self) -> (&Vgg, &mut AdamW, &mut GradScaler) {
        (&self.model, &mut self.optimizer, &mut self.scaler)
    }

    /// The grad scaler (inactive unless the precision is float16).
    pub fn scaler(&self) -> &GradScaler {
        &self.scaler
    }

    /// The grad scaler, for a loop that unscales and updates it itself (notebook 02's
    /// `train_epoch`).
    pub fn scaler_mut(&mut self) -> &mut GradScaler {
        &mut self.scaler
    }

    /// The settings, as checked by [`Trainer::new`] (`amp` resolved) and the setters since.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The settings with `edit` applied, checked as [`Trainer::new`] checks them; nothing
    /// changes when they are refused.
    fn edit_config(&mut self, edit: impl FnOnce(&mut TrainConfig)) -> Result<()> {
        let mut config = self.config.clone();
        edit(&mut config);
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Sets the batch size of the next epochs. Refused when 0, and mid-epoch (the position
    /// counts batches of the old size): change it between epochs.
    pub fn set_batch_size(&mut self, batch_size: usize) -> Result<()> {
        if self.position.batch > 0 && batch_size != self.config.batch_size {
            return Err(Error::Config(format!(
                "the batch size can change only between epochs: epoch {} is at batch {} of \
                 size {}",
                self.position.epoch + 1,
                self.position.batch,
                self.config.batch_size
            )));
        }
        self.edit_config(|c| c.batch_size = batch_size)
    }

    /// Sets the peak learning rate (`config.optimizer.lr`, what a recipe's schedule scales) and the
    /// rate of the next step. Refused unless a positive number.
    pub fn set_peak_lr(&mut self, lr: f64) -> Result<()> {
        self.edit_config(|c| c.optimizer.lr = lr)?;
        self.optimizer.set_lr(lr);
        Ok(())
    }

    /// Sets the number of epochs of the run (more to train on, or fewer). Refused when 0.
    pub fn set_epochs(&mut self, epochs: usize) -> Result<()> {
        self.edit_config(|c| c.epochs = epochs)
    }

    /// Switches mixed precision for the next steps, as [`Trainer::new`] decides it: refused
    /// where it cannot run (`AmpMode::On` off CUDA, and `Fastest` unresolved:
    /// [`Precision::of`]). A change of precision starts a fresh grad scaler (on for float16 only).
    pub fn set_amp(&mut self, amp: AmpMode) -> Result<()> {
        let device = self.model.device();
        let precision = Precision::of(amp, device)?;
        if precision != self.precision {
            self.scaler = GradScaler::new(self.config.scaler, precision == Precision::Float16);
            self.precision = precision;
            self.amp_announced = false;
        }
        self.config.amp = amp;
        Ok(())
    }

    /// True when the grad scaler is active: float16 AMP ([`Precision::Float16`]) switches it
    /// on in [`Trainer::new`] (bfloat16 AMP has none).
    pub fn uses_grad_scaler(&self) -> bool {
        self.scaler.enabled
    }

    /// The arithmetic of this trainer's steps (decided in [`Trainer::new`] and [`Trainer::set_amp`]).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The learning rate of the next step. The configured `config.optimizer.lr` is the
    /// peak of a recipe's schedule; [`Trainer::train_epoch`] sets this from its plan before
    /// every step.
    pub fn lr(&self) -> f64 {
        self.optimizer.lr()
    }

    /// Sets the learning rate of the next steps: the one setter, used by the loop's plan and by
    /// experiments that drive the rate themselves ([`crate::teach::experiment::lr_range_test`]).
    pub fn set_lr(&mut self, lr: f64) {
        self.optimizer.set_lr(lr);
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
}
