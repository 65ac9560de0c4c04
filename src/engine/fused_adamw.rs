//! The fused AdamW kernel for the CPU: one parameter's whole update in a single pass over its
//! memory, split over threads, where libtorch's tensor operations make about ten passes. The
//! same formula as `crate::train::optim`, element by element in float32, equal to libtorch's tensor
//! operations up to rounding (tests/optim.rs compares both, and with PyTorch). It reads and writes the tensors'
//! memory directly: the only `unsafe` code on the training path, kept out of the textbook.
//! [`crate::engine::speed_up`] sets it on a trainer's optimizer (`AdamW::set_kernel`).

use crate::train::optim::{tensor_step, StepKernel, StepScalars};
use tch::Tensor;

/// The fused kernel as an AdamW step implementation: `optimizer.set_kernel(Some(Box::new(FusedAdamW)))`.
pub struct FusedAdamW;

impl StepKernel for FusedAdamW {
    fn step(
        &mut self,
        ps: &[&Tensor],
        gs: &[Tensor],
        ms: &mut [Tensor],
        vs: &mut [Tensor],
        k: &StepScalars,
    ) {
        for (((p, g), m), v) in ps.iter().zip(gs).zip(ms).zip(vs) {
            if !g.defined() {
                continue;
            }
            // The gradient in the parameter's layout (e.g. channels-last), as the kernel walks both.
            let g = if g.stride() == p.stride() {
                g.shallow_clone()
            } else {
                let mut same_layout = p.empty_like();
                same_layout.copy_(g);
                same_layout
            };
            if !fused_adamw(p, &g, m, v, k) {
                tensor_step(&mut p.shallow_clone(), &g, m, v, k);
            }
        }
    }
}

/// The step's scalars in float32, as PyTorch computes them for float tensors.
#[derive(Clone, Copy)]
struct Scalars32 {
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

/// The memory span `[start, end)` of a dense tensor's elements.
fn span(t: &Tensor) -> (usize, usize) {
    let start = t.data_ptr() as usize;
    (start, start + t.numel() * t.kind().elt_size_in_bytes())
}

/// Whether no two of the spans overlap.
fn disjoint(spans: &[(usize, usize)]) -> bool {
    spans.iter().enumerate().all(|(i, a)| {
        spans[i + 1..]
            .iter()
            .all(|b| a.1 <= b.0 || b.1 <= a.0 || a.0 == a.1 || b.0 == b.1)
    })
}

/// The AdamW update of one parameter in a single pass over memory (PyTorch's single-tensor
/// formula, element by element, in the same order of float32 operations), split over threads.
/// Returns false (doing nothing) when the tensors are not all dense float32 CPU tensors with
/// the same layout, or when any two share memory (a gradient passed that is a view of a
/// parameter or of a moment); the caller then uses tensor ops, which libtorch makes safe for
/// overlapping tensors.
pub fn fused_adamw(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, k: &StepScalars) -> bool {
    let (size, stride) = (p.size(), p.stride());
    let same = |t: &Tensor| t.size() == size && t.stride() == stride && is_dense_f32_cpu(t);
    if !(is_dense_f32_cpu(p) && same(g) && same(m) && same(v)) {
        return false;
    }
    let n = p.numel();
    if n == 0 {
        return true;
    }
    if !disjoint(&[span(p), span(g), span(m), span(v)]) {
        return false;
    }
    // SAFETY: the four tensors are dense float32 CPU buffers of exactly `n` elements each
    // (`is_dense_f32_cpu` and `same`, above) whose memory spans do not overlap (`disjoint`,
    // above), so the one `&[f32]` and three `&mut [f32]` alias nothing. `p`, `m` and `v` are
    // this optimizer's, borrowed through `&mut self` for the whole step, which runs under
    // no_grad; `g` is only read. (As with every tch tensor, another thread writing a shallow
    // clone of one of them at the same time would race inside libtorch too.)
    let (ps, gs, ms, vs) = unsafe {
        (
            std::slice::from_raw_parts_mut(p.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts(g.data_ptr() as *const f32, n),
            std::slice::from_raw_parts_mut(m.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts_mut(v.data_ptr() as *mut f32, n),
        )
    };
    let k = Scalars32 {
        decay: (1.0 - k.lr * k.weight_decay) as f32,
        one_minus_beta1: (1.0 - k.beta1) as f32,
        beta2: k.beta2 as f32,
        one_minus_beta2: (1.0 - k.beta2) as f32,
        bias2_sqrt: k.bias2_sqrt as f32,
        eps: k.eps as f32,
        neg_step_size: (-k.step_size) as f32,
    };
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
