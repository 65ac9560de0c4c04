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

/// The scalars of one AdamW step at step `t`: the rate and hyper-parameters, and the bias
/// corrections of the formula above.
#[derive(Debug, Clone, Copy)]
pub struct StepScalars {
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// `sqrt(1 - beta2^t)`.
    pub bias2_sqrt: f64,
    /// `lr / (1 - beta1^t)`.
    pub step_size: f64,
}

/// PyTorch's single-tensor AdamW update of one parameter `p` with gradient `g` and moments
/// `m`, `v`, in libtorch's tensor operations (any device, any layout): the formula at the top
/// of this file, line by line.
pub fn tensor_step(p: &mut Tensor, g: &Tensor, m: &mut Tensor, v: &mut Tensor, k: &StepScalars) {
    let _ = p.g_mul_scalar_(1.0 - k.lr * k.weight_decay); // decoupled weight decay
    let _ = m.lerp_(g, 1.0 - k.beta1); // m <- beta1 m + (1 - beta1) g
    let _ = v.g_mul_scalar_(k.beta2);
    let _ = v.addcmul_(g, &g.g_mul_scalar(1.0 - k.beta2)); // v <- beta2 v + (1 - beta2) g^2
    let mut denom = v.sqrt();
    let _ = denom.g_div_scalar_(k.bias2_sqrt);
    let _ = denom.g_add_scalar_(k.eps);
    let _ = p.addcdiv_(&m.g_mul_scalar(-k.step_size), &denom);
}

/// A faster implementation of the same step (`vggnet::engine` has the CPU's fused kernel and
/// the GPU's flat step), set with [`AdamW::set_kernel`]. Each method returns false, changing
/// nothing, for what it does not take; that gets [`tensor_step`].
pub trait StepKernel: Send {
    /// Every parameter's update at once (`grads` in parameter order).
    fn update_all(&mut self, _params: &[&Tensor], _grads: &[Tensor], _k: &StepScalars) -> bool {
        false
    }
    /// True when the kernel keeps the moments as views of its own buffers: their layout then
    /// stays as it is ([`AdamW::match_parameter_layouts`]).
    fn owns_moments(&self) -> bool {
        false
    }
    /// One parameter's update.
    fn update(
        &mut self,
        _p: &Tensor,
        _g: &Tensor,
        _m: &Tensor,
        _v: &Tensor,
        _k: &StepScalars,
    ) -> bool {
        false
    }
}

/// The optimizer: named parameters plus their moment buffers.
pub struct AdamW {
    /// The betas, eps and weight decay (`config.lr` is unused: the rate is `lr`, below).
    config: AdamWConfig,
    /// The rate of the next steps ([`AdamW::set_lr`]; a schedule moves it every step).
    lr: f64,
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    step: u64,
    /// A faster implementation of the step, when one is set ([`AdamW::set_kernel`]).
    kernel: Option<Box<dyn StepKernel>>,
}

impl AdamW {
    /// An optimizer over `params` (name, tensor) with zeroed moments, each in its parameter's
    /// shape and layout.
    pub fn new(params: Vec<(String, Tensor)>, config: AdamWConfig) -> Self {
        let exp_avg = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let exp_avg_sq = params.iter().map(|(_, p)| p.zeros_like()).collect();
        AdamW {
            lr: config.lr,
            config,
            params,
            exp_avg,
            exp_avg_sq,
            step: 0,
            kernel: None,
        }
    }

    /// Takes each step through `kernel` (what it takes), or through [`tensor_step`] alone
    /// with `None`.
    pub fn set_kernel(&mut self, kernel: Option<Box<dyn StepKernel>>) {
        self.kernel = kernel;
    }

    /// Whether a kernel is set.
    pub fn has_kernel(&self) -> bool {
        self.kernel.is_some()
    }

    /// The moment buffers, one `exp_avg` and one `exp_avg_sq` per parameter in order, to be
    /// stored differently (values unchanged; the engine's flat step keeps them as views of one
    /// buffer each). A replacement must keep its parameter's shape and values.
    pub fn moments_mut(&mut self) -> (&mut [Tensor], &mut [Tensor]) {
        (&mut self.exp_avg, &mut self.exp_avg_sq)
    }

    /// Stores each moment buffer in its parameter's memory layout again, the values unchanged
    /// (after the parameters' layout changed, e.g. to channels-last: a kernel takes tensors of
    /// one layout).
    pub fn match_parameter_layouts(&mut self) {
        if self.kernel.as_ref().is_some_and(|k| k.owns_moments()) {
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
    /// formula at the top of this file ([`tensor_step`]), or the kernel set with
    /// [`AdamW::set_kernel`] where it takes the tensors.
    pub fn step_grads(&mut self, grads: &[Tensor]) {
        self.step += 1;
        let (c, t) = (self.config, self.step as i32);
        let k = StepScalars {
            lr: self.lr,
            weight_decay: c.weight_decay,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            bias2_sqrt: (1.0 - c.beta2.powi(t)).sqrt(),
            step_size: self.lr / (1.0 - c.beta1.powi(t)),
        };
        tch::no_grad(|| {
            if let Some(kernel) = self.kernel.as_mut() {
                let params: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
                if kernel.update_all(&params, grads, &k) {
                    return;
                }
            }
            for (i, ((_, p), g)) in self.params.iter_mut().zip(grads).enumerate() {
                let (m, v) = (&mut self.exp_avg[i], &mut self.exp_avg_sq[i]);
                let taken = g.defined()
                    && self
                        .kernel
                        .as_mut()
                        .is_some_and(|kn| kn.update(p, g, m, v, &k));
                if g.defined() && !taken {
                    tensor_step(p, g, m, v, &k);
                }
            }
        });
    }

    /// `optimizer.zero_grad()`: zeroes the gradient `backward()` left in each parameter.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// The gradients `backward()` left in the parameters' `.grad()`, in parameter order
    /// (undefined where none was computed).
    pub fn grads(&self) -> Vec<Tensor> {
        self.params.iter().map(|(_, p)| p.grad()).collect()
    }

    /// `optimizer.step()`: one update from the gradients in the parameters' `.grad()`
    /// ([`AdamW::step_grads`] of [`AdamW::grads`]).
    pub fn step(&mut self) {
        let grads = self.grads();
        self.step_grads(&grads);
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
