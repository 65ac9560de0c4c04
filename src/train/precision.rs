//! Which arithmetic a run trains in: the mixed-precision mode asked for ([`AmpMode`]) and what
//! it means on a device ([`Precision`]).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

/// When to use automatic mixed precision (`--amp`). Stored in the run's [`super::TrainConfig`]
/// as given, except [`AmpMode::Fastest`], which is a measurement rather than a precision: the
/// caller resolves it ([`AmpMode::resolve`], in [`crate::engine::calibrate`]) before it makes
/// the trainer, which refuses it unresolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum AmpMode {
    /// The article's: float16 autocast + GradScaler on CUDA, float32 on the CPU.
    #[default]
    Auto,
    /// float16 autocast + GradScaler; CUDA only.
    On,
    /// float32 throughout.
    Off,
    /// bfloat16 autocast on any device, as `torch.autocast("cpu", dtype=torch.bfloat16)`:
    /// convolutions and linear layers compute in bfloat16, weights, gradients, AdamW and the
    /// loss stay float32, and no GradScaler (bfloat16 has float32's range). Whether it is faster
    /// than float32 depends on the CPU's cores, not only its flags: [`crate::engine::calibrate`]
    /// measures it.
    Bf16,
    /// float16 AMP on CUDA; on a CPU the faster of bfloat16 AMP and float32 as measured on
    /// this CPU (`vggnet calibrate`; measured on first use, then kept in the cache).
    Fastest,
}

/// The arithmetic a training step runs in, from the AMP setting and the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Float32,
    /// float16 autocast + GradScaler (CUDA).
    Float16,
    /// bfloat16 autocast, no scaler.
    Bfloat16,
}

impl Precision {
    /// What `mode` means on `device`: `Auto` and `On` are float16 AMP on CUDA, `Auto` is
    /// float32 elsewhere. The one place that refuses `On` off CUDA: tch's autocast is
    /// CUDA-only, so there AMP would silently do nothing. `Fastest` is refused: it is resolved
    /// by measuring first ([`AmpMode::resolve`]), which nothing here does.
    pub fn of(mode: AmpMode, device: Device) -> Result<Precision> {
        Ok(match mode {
            AmpMode::Fastest => {
                return Err(Error::Config(
                    "AMP `fastest` is chosen by measuring, not a precision: resolve it first                      (`AmpMode::resolve(device)`, which times both precisions once per CPU)"
                        .into(),
                ))
            }
            AmpMode::Bf16 => Precision::Bfloat16,
            AmpMode::Auto | AmpMode::On if device.is_cuda() => Precision::Float16,
            AmpMode::On => {
                return Err(Error::Config(format!(
                    "mixed precision (AMP on) needs a CUDA device, not {device:?}: tch's \
                     autocast does nothing there (use AMP off, auto, bf16 or fastest)"
                )))
            }
            _ => Precision::Float32,
        })
    }

    /// `float32`, `mixed precision (float16)` or `mixed precision (bfloat16)`.
    pub fn describe(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Float16 => "mixed precision (float16)",
            Precision::Bfloat16 => "mixed precision (bfloat16)",
        }
    }

    /// The dtype convolutions and linear layers compute in under autocast, if any.
    pub fn autocast_kind(self) -> Option<Kind> {
        match self {
            Precision::Float32 => None,
            Precision::Float16 => Some(Kind::Half),
            Precision::Bfloat16 => Some(Kind::BFloat16),
        }
    }
}
