//! Automatic mixed precision: a gradient scaler with PyTorch's `torch.amp.GradScaler` semantics.
//!
//! fp16 gradients underflow; multiplying the loss by a large `scale` before `backward()` keeps
//! them representable. Before the optimizer step the gradients are divided by `scale` again
//! ("unscale"); if any is inf/NaN the step is skipped and the scale halves (`backoff`), and after
//! `growth_interval` clean steps in a row it doubles (`growth`).
//!
//! tch's `autocast` only works on CUDA: on the CPU, AMP is off and the scaler is disabled
//! (every method is then a pass-through), exactly as PyTorch's GradScaler on a device without AMP.

use super::optim::AdamW;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Scaler settings; `Default` is PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GradScalerConfig {
    pub init_scale: f64,
    pub growth_factor: f64,
    pub backoff_factor: f64,
    pub growth_interval: u64,
}

impl Default for GradScalerConfig {
    fn default() -> Self {
        GradScalerConfig {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    }
}

/// The scaler's state; serializable so resumed runs continue with the same scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradScaler {
    pub config: GradScalerConfig,
    pub enabled: bool,
    pub scale: f64,
    /// Clean steps since the last change of scale.
    pub growth_tracker: u64,
    /// Steps skipped because of inf/NaN gradients, over the scaler's life.
    pub skipped_steps: u64,
    /// Whether the last [`GradScaler::step`] found an inf/NaN gradient (what
    /// [`GradScaler::update`] reads).
    #[serde(skip)]
    found_inf: bool,
}

impl GradScaler {
    /// A scaler; `enabled == false` makes every method a pass-through.
    pub fn new(config: GradScalerConfig, enabled: bool) -> Self {
        GradScaler {
            config,
            enabled,
            scale: config.init_scale,
            growth_tracker: 0,
            skipped_steps: 0,
            found_inf: false,
        }
    }

    /// The factor the loss is multiplied by: the scale, or 1 when the scaler is off.
    pub fn effective_scale(&self) -> f64 {
        if self.enabled {
            self.scale
        } else {
            1.0
        }
    }

    /// `scaler.scale(loss)`: `loss * scale` (or `loss` when disabled).
    pub fn scale(&self, loss: &Tensor) -> Tensor {
        if self.enabled {
            loss * self.scale
        } else {
            loss.shallow_clone()
        }
    }

    /// Divides every gradient by the scale in place; returns true if any is inf or NaN.
    ///
    /// As PyTorch's `unscale_`: libtorch's `_amp_foreach_non_finite_check_and_unscale_` (through
    /// tch, one gradient per call), all recording into one `found_inf` flag on the gradients'
    /// device, which is read once at the end (on a GPU: one synchronization per step, not one
    /// per parameter).
    pub fn unscale_(&self, grads: &[Tensor]) -> bool {
        if !self.enabled {
            return false;
        }
        let defined: Vec<&Tensor> = grads.iter().filter(|g| g.defined()).collect();
        let Some(first) = defined.first() else {
            return false;
        };
        let opts = (tch::Kind::Float, first.device());
        // PyTorch: `inv_scale = self._scale.double().reciprocal().float()`.
        let inv = Tensor::full([1], 1.0 / self.scale, opts);
        let mut found = Tensor::zeros([1], opts);
        tch::no_grad(|| {
            for g in defined {
                let mut g = g.shallow_clone();
                if g.f_internal_amp_non_finite_check_and_unscale(&mut found, &inv)
                    .is_err()
                {
                    // libtorch has the kernel for float gradients on the CPU and CUDA; on
                    // another device or dtype, the same arithmetic with tensor ops.
                    let _ = g.g_mul_scalar_(1.0 / self.scale);
                    let bad = g.isfinite().all().logical_not().to_kind(tch::Kind::Float);
                    let _ = found.g_add_(&bad.reshape([1]));
                }
            }
        });
        found.double_value(&[0]) != 0.0
    }

    /// `scaler.step(optimizer)`: unscales the gradients `backward()` left in the optimizer's
    /// parameters, then takes the optimizer's step unless one of them is inf or NaN. Returns
    /// true when the step was skipped; [`GradScaler::update`] then lowers the scale.
    pub fn step(&mut self, optimizer: &mut AdamW) -> bool {
        let grads = optimizer.grads();
        self.found_inf = self.unscale_(&grads);
        if !self.found_inf {
            optimizer.step_grads(&grads);
        }
        self.found_inf
    }

    /// `scaler.update()`: the scale after the last [`GradScaler::step`]
    /// ([`GradScaler::update_with`] what it found).
    pub fn update(&mut self) {
        self.update_with(self.found_inf);
    }

    /// Updates the scale after a step: backoff on inf/NaN, growth after enough clean steps.
    pub fn update_with(&mut self, found_inf: bool) {
        if !self.enabled {
            return;
        }
        if found_inf {
            self.scale *= self.config.backoff_factor;
            self.growth_tracker = 0;
            self.skipped_steps += 1;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker == self.config.growth_interval {
                self.scale *= self.config.growth_factor;
                self.growth_tracker = 0;
            }
        }
    }
}
