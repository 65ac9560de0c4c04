//! Which arithmetic a run trains in: the mixed-precision mode asked for ([`AmpMode`]) and what
//! it means on a device ([`Precision`]).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

/// When to use automatic mixed precision (`--amp`). Stored in the run's [`super::TrainConfig`]
/// as given, except [`AmpMode::Fastest`], which the trainer resolves once, on its device.
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
    /// than float32 depends on the CPU's cores, not only its flags: [`crate::train::calibrate`]
    /// measures it.
    Bf16,
    /// float16 AMP on CUDA; on a CPU the faster of bfloat16 AMP and float32 as measured on
    /// this CPU (`vggnet calibrate`; measured on first use, then kept in the cache).
    Fastest,
}

impl AmpMode {
    /// This mode with [`AmpMode::Fastest`] replaced by what it means on `device`.
    pub fn resolve(self, device: Device) -> AmpMode {
        match self {
            AmpMode::Fastest => AmpMode::fastest_on(device),
            other => other,
        }
    }

    /// The fastest precision for training on `device`: the article's float16 AMP on CUDA; on a
    /// CPU the faster of bfloat16 AMP and float32 as measured on this CPU model
    /// ([`crate::train::calibrate::cached_or_measure`]: a few training steps of each, once, then read
    /// from the cache); float32 if that measurement fails. What notebook 02 trains with.
    pub fn fastest_on(device: Device) -> AmpMode {
        if device.is_cuda() {
            return AmpMode::On;
        }
        crate::train::calibrate::cached_or_measure()
            .map(|c| c.choice())
            .unwrap_or(AmpMode::Off)
    }
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
    /// float32 elsewhere; `Fastest` is resolved first ([`AmpMode::resolve`]). The one place
    /// that refuses `On` off CUDA: tch's autocast is CUDA-only, so there AMP would silently do
    /// nothing.
    pub fn of(mode: AmpMode, device: Device) -> Result<Precision> {
        Ok(match mode.resolve(device) {
            AmpMode::Bf16 => Precision::Bfloat16,
            AmpMode::Auto | AmpMode::On if device.is_cuda() => Precision::Float16,
            AmpMode::On => {
                return Err(Error::Config(format!(
                    "mixed precision (AMP on) needs a CUDA device, not {}: tch's autocast does \
                     nothing there (use AMP off, auto, bf16 or fastest)",
                    super::device_name(device)
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

impl super::Trainer {
    pub(super) fn announce_amp(
        &mut self,
        obs: &mut dyn super::Observer,
        flushed_threads: Option<usize>,
    ) {
        if self.amp_announced {
            return;
        }
        self.amp_announced = true;
        let msg = match (self.config.amp, self.precision()) {
            (_, Precision::Float16) => "AMP on: autocast (float16) + GradScaler".to_string(),
            (_, Precision::Bfloat16) => format!(
                "AMP bfloat16: convolutions and linear layers in bfloat16, float32 weights, \
                 optimizer and loss, no GradScaler{}",
                self.measured_note(Precision::Bfloat16)
            ),
            (AmpMode::Off, _) => format!(
                "AMP off (requested): training in float32{}",
                self.measured_note(Precision::Float32)
            ),
            _ => format!(
                "AMP off: tch's autocast is CUDA-only, training in float32 on {:?}{}",
                self.model.device(),
                self.measured_note(Precision::Float32)
            ),
        };
        let msg = match flushed_threads {
            Some(n) if self.config.flush_denormals && n > 0 => {
                format!("{msg}; denormals flushed to zero on {n} thread(s)")
            }
            Some(_) if !self.config.flush_denormals => format!("{msg}; denormals kept"),
            _ => msg,
        };
        obs.on_message(&msg);
    }

    /// On the CPU, what was measured here about the precision `used` ([`crate::train::calibrate`], read
    /// from the cache, never measured for this): "; measured on this CPU (...): ... is the
    /// faster", with a hint when the other precision is; or that it was not measured yet.
    fn measured_note(&self, used: Precision) -> String {
        if self.model.device() != Device::Cpu {
            return String::new();
        }
        match crate::train::calibrate::cached() {
            None => "; which precision is faster on this CPU was not measured yet (`vggnet \
                     calibrate` or `--amp fastest` measures it, a few seconds)"
                .to_string(),
            Some(c) => {
                let hint = match (used, c.faster()) {
                    (Precision::Float32, Precision::Bfloat16) => " (`--amp bf16` trains faster)",
                    (Precision::Bfloat16, Precision::Float32) => " (`--amp off` trains faster)",
                    _ => "",
                };
                format!("; {c}{hint}")
            }
        }
    }
}
