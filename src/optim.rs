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

/// Scalars of one fused AdamW step, in float32 as PyTorch computes them for float tensors.
#[derive(Clone, Copy)]
struct FusedConsts {
    decay: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bias2_sqrt: f32,
    eps: f32,
    neg_step_size: f32,
}

/// True when `t` is a float32 CPU tensor whose elements fill its memory span exactly (any
/// stride order, e.g. contiguous or channels-last), so it can be walked as a flat slice.
fn is_dense_f32_cpu(t: &Tensor) -> bool {
    if t.device() != tch::Device::Cpu || t.kind() != tch::Kind::Float {
        return false;
    }
    let mut dims: Vec<(i64, i64)> = t
        .size()
        .into_iter()
        .zip(t.stride())
        .filter(|&(s, _)| s != 1)
        .collect();
    dims.sort_by_key(|&(_, st)| st);
    let mut expected = 1;
    for (size, stride) in dims {
        if stride != expected {
            return false;
        }
        expected *= size;
    }
    true
}

/// The AdamW update of one parameter in a single pass over memory (PyTorch's single-tensor
/// formula, element by element, in the same order of float32 operations), split over threads.
/// Returns false (doing nothing) when the tensors are not all dense float32 CPU tensors with
/// the same layout; the caller then uses tensor ops.
fn fused_step_cpu(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, k: &FusedConsts) -> bool {
    let (size, stride) = (p.size(), p.stride());
    let same = |t: &Tensor| t.size() == size && t.stride() == stride && is_dense_f32_cpu(t);
    if !(is_dense_f32_cpu(p) && same(g) && same(m) && same(v)) {
        return false;
    }
    let n = p.numel();
    if n == 0 {
        return true;
    }
    // SAFETY: the four tensors are distinct, dense float32 CPU buffers of `n` elements each
    // (checked above); this optimizer owns `p`, `m` and `v`, runs under no_grad, and nothing
    // else touches them during the step. `g` is only read.
    let (ps, gs, ms, vs) = unsafe {
        (
            std::slice::from_raw_parts_mut(p.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts(g.data_ptr() as *const f32, n),
            std::slice::from_raw_parts_mut(m.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts_mut(v.data_ptr() as *mut f32, n),
        )
    };
    let k = *k;
    let kernel = move |p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
        for i in 0..p.len() {
            let gi = g[i];
            p[i] *= k.decay;
            let mi = m[i] + k.one_minus_beta1 * (gi - m[i]); // lerp, weight < 0.5
            let vi = v[i] * k.beta2 + k.one_minus_beta2 * gi * gi;
            let denom = vi.sqrt() / k.bias2_sqrt + k.eps;
            p[i] += k.neg_step_size * (mi / denom);
            m[i] = mi;
            v[i] = vi;
        }
    };
    let threads = (tch::get_num_threads().max(1) as usize)
        .min(n / (1 << 16))
        .max(1);
    if threads == 1 {
        kernel(ps, gs, ms, vs);
        return true;
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        for (((p, g), m), v) in ps
            .chunks_mut(chunk)
            .zip(gs.chunks(chunk))
            .zip(ms.chunks_mut(chunk))
            .zip(vs.chunks_mut(chunk))
        {
            s.spawn(move || kernel(p, g, m, v));
        }
    });
    true
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

    /// The parameters, in order (for computing gradients with `Tensor::run_backward`).
    pub fn params(&self) -> Vec<&Tensor> {
        self.params.iter().map(|(_, p)| p).collect()
    }

    /// One AdamW update from `grads` (one per parameter, in order; undefined ones are skipped),
    /// e.g. from `Tensor::run_backward`, which saves zeroing and accumulating `.grad()`.
    pub fn step_grads(&mut self, grads: &[Tensor], fused: bool) {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        let step_size = c.lr / bias1;
        let k = FusedConsts {
            decay: (1.0 - c.lr * c.weight_decay) as f32,
            one_minus_beta1: (1.0 - c.beta1) as f32,
            beta2: c.beta2 as f32,
            one_minus_beta2: (1.0 - c.beta2) as f32,
            bias2_sqrt: bias2_sqrt as f32,
            eps: c.eps as f32,
            neg_step_size: (-step_size) as f32,
        };
        tch::no_grad(|| {
            for (i, ((_, p), g)) in self.params.iter_mut().zip(grads).enumerate() {
                if !g.defined() {
                    continue;
                }
                let g = if g.stride() == p.stride() {
                    g.shallow_clone()
                } else {
                    // Match the parameter's layout (e.g. channels-last) so the fused kernel runs.
                    let mut same_layout = p.empty_like();
                    same_layout.copy_(g);
                    same_layout
                };
                if fused && fused_step_cpu(p, &g, &self.exp_avg[i], &self.exp_avg_sq[i], &k) {
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
