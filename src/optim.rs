//! AdamW with PyTorch's semantics (`torch.optim.AdamW`, single-tensor path, no amsgrad),
//! written out so its state (step, first and second moments) can be saved and restored for
//! exact resumption — tch's built-in optimizers do not expose theirs.
//!
//! For each parameter `p` with gradient `g`, at step `t`:
//! ```text
//! p   <- p * (1 - lr * weight_decay)            decoupled weight decay
//! m   <- beta1 * m + (1 - beta1) * g
//! v   <- beta2 * v + (1 - beta2) * g * g
//! p   <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//! ```

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// AdamW hyper-parameters. `Default` is the article's: lr 1e-3, weight decay 1e-4
/// (note: tch's own AdamW defaults to 0.01).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-4,
        }
    }
}

/// The optimizer: named parameters plus their moment buffers.
pub struct AdamW {
    pub config: AdamWConfig,
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    step: u64,
}

impl AdamW {
    /// An optimizer over `params` (name, tensor) with zeroed moments.
    pub fn new(params: Vec<(String, Tensor)>, config: AdamWConfig) -> Self {
        let exp_avg = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let exp_avg_sq = params.iter().map(|(_, p)| p.zeros_like()).collect();
        AdamW {
            config,
            params,
            exp_avg,
            exp_avg_sq,
            step: 0,
        }
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The gradients of all parameters (undefined tensors where none was computed).
    pub fn grads(&self) -> Vec<Tensor> {
        self.params.iter().map(|(_, p)| p.grad()).collect()
    }

    /// Sets all gradients to zero (PyTorch's `zero_grad(set_to_none=False)` equivalent).
    pub fn zero_grad(&mut self) {
        for (_, p) in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// One AdamW update from the current gradients.
    pub fn step(&mut self) {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        let step_size = c.lr / bias1;
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter_mut().enumerate() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let _ = p.g_mul_scalar_(1.0 - c.lr * c.weight_decay);
                let m = &mut self.exp_avg[i];
                let _ = m.lerp_(&g, 1.0 - c.beta1);
                let v = &mut self.exp_avg_sq[i];
                let _ = v.g_mul_scalar_(c.beta2);
                let _ = v.addcmul_(&g, &g.g_mul_scalar(1.0 - c.beta2));
                let mut denom = v.sqrt();
                let _ = denom.g_div_scalar_(bias2_sqrt);
                let _ = denom.g_add_scalar_(c.eps);
                let _ = p.addcdiv_(&m.g_mul_scalar(-step_size), &denom);
            }
        });
    }

    /// The state as named tensors (`exp_avg.<param>`, `exp_avg_sq.<param>`) plus the step.
    pub fn state(&self) -> (Vec<(String, Tensor)>, u64) {
        let mut out = Vec::with_capacity(self.params.len() * 2);
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("exp_avg.{name}"), self.exp_avg[i].shallow_clone()));
            out.push((
                format!("exp_avg_sq.{name}"),
                self.exp_avg_sq[i].shallow_clone(),
            ));
        }
        (out, self.step)
    }

    /// Restores a state produced by [`AdamW::state`]; every buffer must be present with the
    /// parameter's shape.
    pub fn load_state(
        &mut self,
        tensors: &std::collections::HashMap<String, Tensor>,
        step: u64,
        source: &std::path::Path,
    ) -> Result<()> {
        tch::no_grad(|| {
            for (i, (name, p)) in self.params.iter().enumerate() {
                for (prefix, buf) in [
                    ("exp_avg", &mut self.exp_avg[i]),
                    ("exp_avg_sq", &mut self.exp_avg_sq[i]),
                ] {
                    let key = format!("{prefix}.{name}");
                    let t = tensors.get(&key).ok_or_else(|| {
                        Error::checkpoint(source, format!("optimizer state lacks `{key}`"))
                    })?;
                    if t.size() != p.size() {
                        return Err(Error::ShapeMismatch {
                            path: source.into(),
                            key,
                            expected: p.size(),
                            found: t.size(),
                        });
                    }
                    buf.copy_(t);
                }
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }
}
