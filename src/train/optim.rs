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

/// Every parameter's update, [`tensor_step`] one by one (undefined gradients skipped): the step
/// without a kernel, and a kernel's fallback.
pub fn tensor_steps(
    ps: &[&Tensor],
    gs: &[Tensor],
    ms: &mut [Tensor],
    vs: &mut [Tensor],
    k: &StepScalars,
) {
    for (((p, g), m), v) in ps.iter().zip(gs).zip(ms).zip(vs) {
        if g.defined() {
            tensor_step(&mut p.shallow_clone(), g, m, v, k);
        }
    }
}

/// A faster implementation of the same step (`vggnet::engine`: the CPU's fused kernel, the
/// GPU's flat step), set with [`AdamW::set_kernel`]: [`tensor_steps`]'s update, its own way.
pub trait StepKernel: Send {
    fn step(
        &mut self,
        ps: &[&Tensor],
        gs: &[Tensor],
        ms: &mut [Tensor],
        vs: &mut [Tensor],
        k: &StepScalars,
    );
    /// True when the moments are views of the kernel's own buffers (their layout then stays).
    fn owns_moments(&self) -> bool {
        false
    }
}

/// The optimizer: named parameters plus their moment buffers.
pub struct AdamW {
    /// The betas, eps and weight decay (`config.lr` is unused: the rate is `lr`, below).
    config: AdamWConfig,
    /// The rate of the next steps ([`AdamW::set_lr`]; a schedule moves it every step).
    lr: f64,
    pub(super) params: Vec<(String, Tensor)>,
    pub(super) exp_avg: Vec<Tensor>,
    pub(super) exp_avg_sq: Vec<Tensor>,
    pub(super) step: u64,
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

    /// Whether a kernel is set, and whether it owns the moments ([`StepKernel::owns_moments`]).
    pub fn kernel(&self) -> Option<bool> {
        self.kernel.as_ref().map(|k| k.owns_moments())
    }

    /// The moment buffers, one `exp_avg` and one `exp_avg_sq` per parameter in order, to be
    /// stored differently (values unchanged; the engine's flat step keeps them as views of one
    /// buffer each). A replacement must keep its parameter's shape and values.
    pub fn moments_mut(&mut self) -> (&mut [Tensor], &mut [Tensor]) {
        (&mut self.exp_avg, &mut self.exp_avg_sq)
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
        let params: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
        let (ms, vs) = (&mut self.exp_avg, &mut self.exp_avg_sq);
        tch::no_grad(|| match self.kernel.as_mut() {
            Some(kernel) => kernel.step(&params, grads, ms, vs, &k),
            None => tensor_steps(&params, grads, ms, vs, &k),
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
}
