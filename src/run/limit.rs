//! A step budget: an observer that stops a trainer at a given optimizer step (the run's
//! `StopAt`, the experiments' fixed-length trials).

use crate::train::{BatchProgress, EpochRecord, EvalPoint, Observer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Passes everything on to another observer and raises a trainer's stop flag once the run
/// reaches optimizer step `until_step`, so that training stops cleanly at the next batch
/// boundary (a step budget: [`crate::run::StopAt`], the experiments' fixed-length trials).
pub struct StepLimit<'a> {
    inner: &'a mut dyn Observer,
    flag: Arc<AtomicBool>,
    until_step: Option<u64>,
    /// True once the limit was reached (and the flag raised by this observer).
    pub reached: bool,
}

impl<'a> StepLimit<'a> {
    /// Stops at global step `until_step` (never when `None`).
    pub fn new(
        inner: &'a mut dyn Observer,
        flag: Arc<AtomicBool>,
        until_step: Option<u64>,
    ) -> Self {
        StepLimit {
            inner,
            flag,
            until_step,
            reached: false,
        }
    }
}

impl Observer for StepLimit<'_> {
    fn on_message(&mut self, m: &str) {
        self.inner.on_message(m);
    }
    fn on_epoch_start(&mut self, epoch: usize, num_batches: usize) {
        self.inner.on_epoch_start(epoch, num_batches);
    }
    fn on_batch(&mut self, p: &BatchProgress) {
        self.inner.on_batch(p);
        if let Some(until) = self.until_step {
            if p.global_step >= until && !self.reached {
                self.reached = true;
                self.flag.store(true, Ordering::SeqCst);
            }
        }
    }
    fn on_eval(&mut self, e: &EvalPoint) {
        self.inner.on_eval(e);
    }
    fn on_epoch_end(&mut self, r: &EpochRecord) {
        self.inner.on_epoch_end(r);
    }
}
