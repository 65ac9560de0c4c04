//! Progress as printed lines ([`PrintLines`], for notebooks and logs) and the line that says
//! which arithmetic a run trains in: reporting, not the textbook's loop.

use super::{AmpMode, BatchProgress, EpochRecord, EvalPoint, Observer, Precision};
use tch::Device;

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
            "step {}: validation accuracy {:.2}% after {:.0}s of training",
            e.step, e.val_accuracy, e.train_seconds
        );
    }
    fn on_epoch_end(&mut self, r: &EpochRecord) {
        let val = r
            .val_accuracy
            .map(|a| format!(", validation accuracy {a:.2}%"))
            .unwrap_or_default();
        println!(
            "epoch {} done: train loss {:.4}, train accuracy {:.2}%{val}, {:.1}s, {:.1} images/s",
            r.epoch, r.train_loss, r.train_accuracy, r.seconds, r.images_per_sec
        );
    }
}

/// The first epoch's line about the arithmetic: the precision `amp` gave on `device`, and why.
pub fn precision_line(amp: AmpMode, precision: Precision, device: Device) -> String {
    match (amp, precision) {
        (_, Precision::Float16) => "AMP on: autocast (float16) + GradScaler".to_string(),
        (_, Precision::Bfloat16) => "AMP bfloat16: convolutions and linear layers in bfloat16, \
                                     float32 weights, optimizer and loss, no GradScaler"
            .to_string(),
        (AmpMode::Off, _) => "AMP off (requested): training in float32".to_string(),
        _ => format!("AMP off: tch's autocast is CUDA-only, training in float32 on {device:?}"),
    }
}
