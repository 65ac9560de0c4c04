//! AdamW's step for a GPU, where a step is bound by the number of kernel launches, not by
//! arithmetic: both moments of every parameter live in one flat buffer each (the optimizer's
//! per-parameter moments become views into them), and a step gathers the parameters and
//! gradients into flat tensors, runs the formula once over all of them and writes the parameters
//! back: about 35 launches per step instead of about 10 per parameter. The same element-wise
//! operations as per parameter ([`tensor_step`]), so the same numbers (tests/optim.rs).
//! [`crate::engine::speed_up`] installs it on a CUDA trainer's optimizer.

use crate::train::optim::{tensor_step, tensor_steps, AdamW, StepKernel, StepScalars};
use tch::Tensor;

/// The flat moment buffers (P,), P the number of parameter elements.
pub struct FlatAdamW {
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// Moves `optimizer`'s moments into one flat buffer each (their values kept, so a resumed or
/// half-trained run continues) and sets the flat step as its kernel.
pub fn install(optimizer: &mut AdamW) {
    let params: Vec<Tensor> = optimizer
        .params()
        .into_iter()
        .map(Tensor::shallow_clone)
        .collect();
    let total: i64 = params.iter().map(|p| p.numel() as i64).sum();
    let opts = params
        .first()
        .map(|p| (p.kind(), p.device()))
        .unwrap_or((tch::Kind::Float, tch::Device::Cpu));
    let flat = FlatAdamW {
        exp_avg: Tensor::zeros([total], opts),    // (P,)
        exp_avg_sq: Tensor::zeros([total], opts), // (P,)
    };
    let (exp_avg, exp_avg_sq) = optimizer.moments_mut();
    tch::no_grad(|| {
        for (buffers, all) in [(exp_avg, &flat.exp_avg), (exp_avg_sq, &flat.exp_avg_sq)] {
            let mut offset = 0;
            for (buf, p) in buffers.iter_mut().zip(&params) {
                let n = p.numel() as i64;
                let view = all.narrow(0, offset, n).view(p.size().as_slice()); // p's shape
                view.shallow_clone().copy_(buf);
                *buf = view;
                offset += n;
            }
        }
    });
    optimizer.set_kernel(Some(Box::new(flat)));
}

impl StepKernel for FlatAdamW {
    fn owns_moments(&self) -> bool {
        true
    }

    fn step(
        &mut self,
        params: &[&Tensor],
        grads: &[Tensor],
        ms: &mut [Tensor],
        vs: &mut [Tensor],
        k: &StepScalars,
    ) {
        if grads.len() != params.len() || !grads.iter().all(Tensor::defined) {
            return tensor_steps(params, grads, ms, vs, k); // parameter by parameter, through the views
        }
        let flat = |ts: &[&Tensor]| {
            Tensor::cat(&ts.iter().map(|t| t.reshape([-1])).collect::<Vec<_>>(), 0)
        }; // (P,)
        let mut p_all = flat(params);
        let g_all = flat(&grads.iter().collect::<Vec<_>>());
        tensor_step(
            &mut p_all,
            &g_all,
            &mut self.exp_avg,
            &mut self.exp_avg_sq,
            k,
        );
        let mut offset = 0;
        for p in params {
            let n = p.numel() as i64;
            p.shallow_clone()
                .copy_(&p_all.narrow(0, offset, n).view(p.size().as_slice()));
            offset += n;
        }
    }
}
