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

/// The scalars of one AdamW step, in float32 as PyTorch computes them for float tensors: what a
/// [`StepKernel`] needs beside the tensors.
#[derive(Debug, Clone, Copy)]
pub struct StepScalars {
    /// `1 - lr * weight_decay`.
    pub decay: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    /// `sqrt(1 - beta2^t)`.
    pub bias2_sqrt: f32,
    pub eps: f32,
    /// `-lr / (1 - beta1^t)`.
    pub neg_step_size: f32,
}

/// A faster implementation of one parameter's update (`p`, `g`, `m`, `v`, the scalars): the
/// same formula, in the same order of float32 operations. It returns false, changing nothing,
/// for tensors it does not take; the step then uses the tensor operations below. The engine's
/// `vggnet::engine::fused_adamw` is one ([`AdamW::set_kernel`]).
pub type StepKernel = fn(&Tensor, &Tensor, &Tensor, &Tensor, &StepScalars) -> bool;

/// The optimizer: named parameters plus their moment buffers.
pub struct AdamW {
    /// The betas, eps and weight decay (`config.lr` is unused: the rate is `lr`, below).
    config: AdamWConfig,
    /// The rate of the next steps ([`AdamW::set_lr`]; a schedule moves it every step).
    lr: f64,
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    /// The flat layout (see [`AdamW::new_flat`]): both moments of every parameter in one
    /// buffer each, `exp_avg[i]` and `exp_avg_sq[i]` being views into them.
    flat: Option<(Tensor, Tensor)>,
    step: u64,
    /// A faster per-parameter update, when one is set ([`AdamW::set_kernel`]).
    kernel: Option<StepKernel>,
}

impl AdamW {
    /// An optimizer over `params` (name, tensor) with zeroed moments: the flat layout
    /// ([`AdamW::new_flat`]) when the parameters are on a GPU, one buffer per parameter in the
    /// parameter's own layout (for the CPU's fused kernel) otherwise.
    pub fn new(params: Vec<(String, Tensor)>, config: AdamWConfig) -> Self {
        if params.first().is_some_and(|(_, p)| p.device().is_cuda()) {
            return Self::new_flat(params, config);
        }
        let exp_avg = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let exp_avg_sq = params.iter().map(|(_, p)| p.zeros_like()).collect();
        AdamW {
            lr: config.lr,
            config,
            params,
            exp_avg,
            exp_avg_sq,
            flat: None,
            step: 0,
            kernel: None,
        }
    }

    /// The layout used on a GPU, where a step is bound by the number of kernel launches, not
    /// by arithmetic: each moment is one flat buffer over all parameters, and a step gathers
    /// the parameters and gradients into flat tensors, runs the update once over all of them
    /// (the same element-wise operations as per parameter, so the same numbers) and writes the
    /// parameters back: about 35 launches per step instead of about 10 per parameter.
    pub fn new_flat(params: Vec<(String, Tensor)>, config: AdamWConfig) -> Self {
        let total: i64 = params.iter().map(|(_, p)| p.numel() as i64).sum();
        let opts = params
            .first()
            .map(|(_, p)| (p.kind(), p.device()))
            .unwrap_or((tch::Kind::Float, tch::Device::Cpu));
        let (m, v) = (Tensor::zeros([total], opts), Tensor::zeros([total], opts)); // (P,)
        let (mut exp_avg, mut exp_avg_sq, mut offset) = (Vec::new(), Vec::new(), 0);
        for (_, p) in &params {
            let n = p.numel() as i64;
            exp_avg.push(m.narrow(0, offset, n).view(p.size().as_slice()));
            exp_avg_sq.push(v.narrow(0, offset, n).view(p.size().as_slice()));
            offset += n;
        }
        AdamW {
            lr: config.lr,
            config,
            params,
            exp_avg,
            exp_avg_sq,
            flat: Some((m, v)),
            step: 0,
            kernel: None,
        }
    }

    /// Runs each parameter's update through `kernel` (where it takes the tensors), or through
    /// the tensor operations of [`AdamW::step_grads`] with `None`.
    pub fn set_kernel(&mut self, kernel: Option<StepKernel>) {
        self.kernel = kernel;
    }

    /// Stores each moment buffer in its parameter's memory layout again, the values unchanged
    /// (after the parameters' layout changed, e.g. to channels-last: a [`StepKernel`] takes
    /// tensors of one layout). The flat layout's buffers stay as they are.
    pub fn match_parameter_layouts(&mut self) {
        if self.flat.is_some() {
            return;
        }
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter().enumerate() {
                for buf in [&mut self.exp_avg[i], &mut self.exp_avg_sq[i]] {
                    if buf.stride() != p.stride() {
                        let mut same = p.empty_like();
                        same.copy_(buf);
                        *buf = same;
                    }
                }
            }
        });
    }

    /// The learning rate of the next steps.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate of the next steps (the weight decay is applied as
    /// `lr * weight_decay`, as PyTorch's AdamW does).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The parameters, in order (for computing gradients with `Tensor::run_backward`).
    pub fn params(&self) -> Vec<&Tensor> {
        self.params.iter().map(|(_, p)| p).collect()
    }

    /// One AdamW update from `grads` (one per parameter, in order; undefined ones are skipped),
    /// e.g. from `Tensor::run_backward`, which saves zeroing and accumulating `.grad()`: the
    /// formula at the top of this file in libtorch's tensor operations, or a parameter at a
    /// time through the kernel set with [`AdamW::set_kernel`] where it takes the tensors.
    pub fn step_grads(&mut self, grads: &[Tensor]) {
        self.step += 1;
        let c = AdamWConfig {
            lr: self.lr,
            ..self.config
        };
        let t = self.step as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        let step_size = c.lr / bias1;
        let k = StepScalars {
            decay: (1.0 - c.lr * c.weight_decay) as f32,
            one_minus_beta1: (1.0 - c.beta1) as f32,
            beta2: c.beta2 as f32,
            one_minus_beta2: (1.0 - c.beta2) as f32,
            bias2_sqrt: bias2_sqrt as f32,
            eps: c.eps as f32,
            neg_step_size: (-step_size) as f32,
        };
        let (lr, weight_decay, beta1, beta2, eps) = (c.lr, c.weight_decay, c.beta1, c.beta2, c.eps);
        // PyTorch's single-tensor AdamW with tensor ops, on any device and layout.
        let tensor_step = |p: &mut Tensor, g: &Tensor, m: &mut Tensor, v: &mut Tensor| {
            let _ = p.g_mul_scalar_(1.0 - lr * weight_decay);
            let _ = m.lerp_(g, 1.0 - beta1);
            let _ = v.g_mul_scalar_(beta2);
            let _ = v.addcmul_(g, &g.g_mul_scalar(1.0 - beta2));
            let mut denom = v.sqrt();
            let _ = denom.g_div_scalar_(bias2_sqrt);
            let _ = denom.g_add_scalar_(eps);
            let _ = p.addcdiv_(&m.g_mul_scalar(-step_size), &denom);
        };
        tch::no_grad(|| {
            if let Some((m, v)) = &mut self.flat {
                if grads.len() == self.params.len() && grads.iter().all(|g| g.defined()) {
                    let flat = |ts: Vec<&Tensor>| {
                        Tensor::cat(&ts.iter().map(|t| t.reshape([-1])).collect::<Vec<_>>(), 0)
                    }; // (P,)
                    let mut p_all = flat(self.params.iter().map(|(_, p)| p).collect());
                    let g_all = flat(grads.iter().collect());
                    tensor_step(&mut p_all, &g_all, m, v);
                    let mut offset = 0;
                    for (_, p) in self.params.iter_mut() {
                        let n = p.numel() as i64;
                        p.copy_(&p_all.narrow(0, offset, n).view(p.size().as_slice()));
                        offset += n;
                    }
                    return;
                }
            }
            for (i, ((_, p), g)) in self.params.iter_mut().zip(grads).enumerate() {
                if !g.defined() {
                    continue;
                }
                let g = if g.stride() == p.stride() {
                    g.shallow_clone()
                } else {
                    // Match the parameter's layout (e.g. channels-last), as a kernel expects.
                    let mut same_layout = p.empty_like();
                    same_layout.copy_(g);
                    same_layout
                };
                if let Some(kernel) = self.kernel {
                    if kernel(p, &g, &self.exp_avg[i], &self.exp_avg_sq[i], &k) {
                        continue;
                    }
                }
                tensor_step(p, &g, &mut self.exp_avg[i], &mut self.exp_avg_sq[i]);
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
