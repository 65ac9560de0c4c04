//! Channels-last: each convolution's weight stored (out, kh, kw, in) in memory, PyTorch's
//! `model.to(memory_format=torch.channels_last)`. oneDNN's CPU convolutions (and cuDNN's tensor
//! cores) run faster on it, and a convolution whose weight is channels-last returns its output
//! channels-last, so the activations follow without the model's code knowing. The values are the
//! same in either layout; only the order of the numbers in memory changes.

use crate::model::Vgg;
use crate::train::Trainer;
use tch::Tensor;

/// The same (N, C, H, W) tensor stored channels-last (N, H, W, C in memory), PyTorch's
/// `x.contiguous(memory_format=torch.channels_last)`.
pub fn to_channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Stores `model`'s convolution weights channels-last (`on`) or in PyTorch's default NCHW
/// layout. An optimizer built on the model keeps buffers in the old layout: change a trainer's
/// model with [`set_trainer_channels_last`] instead.
pub fn set_channels_last(model: &mut Vgg, on: bool) {
    tch::no_grad(|| {
        for conv in model.convs.iter_mut() {
            let data = if on {
                to_channels_last(&conv.ws)
            } else {
                conv.ws.contiguous()
            };
            conv.ws.set_data(&data);
        }
    });
}

/// True when the (N, C, H, W) tensor `t` is stored channels-last: strides (H W C, 1, W C, C),
/// a dimension of size 1 taking any stride (as PyTorch's `is_contiguous(channels_last)` reads
/// it: a one-channel weight is the same memory in both layouts).
fn stored_channels_last(t: &Tensor) -> bool {
    let size = t.size();
    let (c, w) = (size[1], size[3]);
    let want = [size[2] * w * c, 1, w * c, c];
    size.iter()
        .zip(t.stride())
        .zip(want)
        .all(|((&n, stride), want)| n == 1 || stride == want)
}

/// True when `model`'s convolution weights are stored channels-last (read from their strides:
/// nothing is copied).
pub fn is_channels_last(model: &Vgg) -> bool {
    model.convs.iter().all(|c| stored_channels_last(&c.ws))
}

/// [`set_channels_last`] on a trainer's model, with the optimizer's moment buffers moved to the
/// same layout (values unchanged: a resumed or half-trained run continues exactly).
pub fn set_trainer_channels_last(trainer: &mut Trainer, on: bool) {
    let (model, optimizer) = trainer.model_and_optimizer_mut();
    set_channels_last(model, on);
    if optimizer.kernel() == Some(true) {
        return; // the kernel's flat buffers: any parameter layout reads them
    }
    let params: Vec<Tensor> = optimizer
        .params()
        .into_iter()
        .map(Tensor::shallow_clone)
        .collect();
    let (exp_avg, exp_avg_sq) = optimizer.moments_mut();
    tch::no_grad(|| {
        for ((m, v), p) in exp_avg.iter_mut().zip(exp_avg_sq.iter_mut()).zip(&params) {
            for buf in [m, v] {
                if buf.stride() != p.stride() {
                    let mut same = p.empty_like();
                    same.copy_(buf);
                    *buf = same;
                }
            }
        }
    });
}
