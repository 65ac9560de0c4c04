//! The learning rate over a run: the article's constant rate, or a warm-up and a cosine decay.

use serde::{Deserialize, Serialize};

/// The learning rate over the run, as a function of the optimizer step. The position is the
/// run's global step, which the training state saves, so a resumed run continues the schedule
/// exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The article's: the optimizer's learning rate throughout.
    #[default]
    Constant,
    /// Linear warm-up from near 0 to the optimizer's learning rate over the first `warmup`
    /// fraction of the run's steps, then a cosine decay to `final_fraction` of it at the last
    /// step.
    WarmupCosine { warmup: f64, final_fraction: f64 },
}

impl LrSchedule {
    /// The learning rate for step `step` (0-based) of a run of `total` steps with peak `base`.
    pub fn lr_at(&self, base: f64, step: u64, total: u64) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::WarmupCosine {
                warmup,
                final_fraction,
            } => {
                let total = total.max(1) as f64;
                let warm = (warmup.clamp(0.0, 1.0) * total).round().max(1.0);
                let s = step as f64;
                if s < warm {
                    return base * (s + 1.0) / warm;
                }
                // 0 at the first step after the warm-up, 1 at the run's last step.
                let progress = ((s - warm) / (total - 1.0 - warm).max(1.0)).clamp(0.0, 1.0);
                let low = base * final_fraction;
                low + (base - low) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}
