//! Packed CPU inference: the network's eval-mode forward pass on oneDNN tensors, with the
//! convolution weights pre-packed into oneDNN's blocked layout once per snapshot (no per-call
//! weight reorders) and each batch norm folded into the convolution before it. The same
//! numbers as `Vgg::forward_t(xs, false)` up to float rounding (tests/parity.rs), faster on a
//! CPU. Used by [`evaluate`] here, which `vggnet eval`, the benchmark and a trainer sped up by
//! [`crate::engine::speed_up`] call; the core's [`crate::eval::evaluate`] runs the model's own
//! forward pass.

use crate::data::Split;
use crate::error::Result;
use crate::eval::{evaluate_by, Evaluation};
use crate::model::{BatchNorm, LayerKind, Vgg, BN_EPS};
use crate::recipe::mirrored_scores;
use tch::{Device, Kind, Tensor};

/// A snapshot of a network for fast CPU inference (see the module's text). Take a new one after
/// the weights change (e.g. once per evaluation).
pub struct PackedVgg<'a> {
    net: &'a Vgg,
    /// Per convolution: the packed weight and the bias (batch norm folded in), oneDNN tensors.
    convs: Vec<(Tensor, Tensor)>,
}

/// Eval-mode batch norm folded into the preceding convolution's weight and bias:
/// w' = w * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps).
fn fold(bn: &BatchNorm, w: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    let scale = bn.weight.f_div(&(&bn.running_var + BN_EPS).f_sqrt()?)?; // (C,)
    let w = w.f_mul(&scale.f_view([-1, 1, 1, 1])?)?; // (C, Cin, 3, 3)
    let b = b.f_sub(&bn.running_mean)?.f_mul(&scale)?.f_add(&bn.bias)?; // (C,)
    Ok((w, b))
}

impl<'a> PackedVgg<'a> {
    /// The snapshot of `net`; `None` off the CPU or where oneDNN cannot pack the weights.
    pub fn new(net: &'a Vgg) -> Option<Self> {
        if net.device() != Device::Cpu {
            return None;
        }
        let pack = || -> Result<Vec<(Tensor, Tensor)>> {
            tch::no_grad(|| {
                net.convs
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let bias = match &c.bs {
                            Some(b) => b.shallow_clone(),
                            None => Tensor::zeros([c.ws.size()[0]], (Kind::Float, Device::Cpu)),
                        };
                        let (w, b) = match net.bns.get(i) {
                            Some(bn) => fold(bn, &c.ws, &bias)?,
                            None => (c.ws.shallow_clone(), bias),
                        };
                        let w = w
                            .f_contiguous()?
                            .f_to_mkldnn(Kind::Float)?
                            .f_mkldnn_reorder_conv2d_weight(
                                [1, 1],
                                [1, 1],
                                [1, 1],
                                1,
                                None::<&[i64]>,
                            )?;
                        Ok((w, b.f_contiguous()?.f_to_mkldnn(Kind::Float)?))
                    })
                    .collect()
            })
        };
        pack().ok().map(|convs| PackedVgg { net, convs })
    }

    /// Eval-mode logits (B, num_classes) for (B, C, H, W) CPU input.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.net.check_input(xs)?;
        tch::no_grad(|| {
            let mut x = xs.f_contiguous()?.f_to_mkldnn(Kind::Float)?; // (B, C, S, S), blocked
            for layer in self.net.layers() {
                x = match layer.kind {
                    LayerKind::Conv(i) => {
                        let (w, b) = &self.convs[i];
                        x.f_mkldnn_convolution(w, Some(b), [1, 1], [1, 1], [1, 1], 1)?
                    }
                    LayerKind::BatchNorm(_) => x, // folded into the conv before it
                    LayerKind::Relu => x.f_relu_()?,
                    LayerKind::MaxPool => {
                        x.f_mkldnn_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?
                    }
                    LayerKind::Flatten => x.f_to_dense(None::<Kind>, false)?.f_flatten(1, -1)?,
                    LayerKind::Linear(i) => {
                        let l = &self.net.fc[i];
                        x.f_linear(&l.ws, l.bs.as_ref())? // (B, 4096) or (B, num_classes)
                    }
                    LayerKind::Dropout => x, // eval mode: the identity
                };
            }
            Ok(x) // (B, num_classes)
        })
    }
}

/// [`crate::eval::evaluate`] through a packed snapshot of `model` on the CPU (the model's own
/// forward pass elsewhere), with the allocator tuned first
/// ([`crate::engine::process::tune_allocator`]: freed batch buffers are reused, not unmapped).
pub fn evaluate(model: &Vgg, split: &Split, batch_size: usize) -> Result<Evaluation> {
    evaluate_packed(model, split, batch_size, false)
}

/// [`crate::recipe::evaluate_mirrored`] through a packed snapshot, as [`evaluate`].
pub fn evaluate_mirrored(model: &Vgg, split: &Split, batch_size: usize) -> Result<Evaluation> {
    evaluate_packed(model, split, batch_size, true)
}

fn evaluate_packed(model: &Vgg, split: &Split, bs: usize, mirror: bool) -> Result<Evaluation> {
    crate::engine::process::tune_allocator();
    match PackedVgg::new(model) {
        Some(packed) => {
            let logits = |x: &Tensor| packed.forward(x);
            match mirror {
                true => evaluate_by(model, split, bs, &|x| mirrored_scores(x, &logits)),
                false => evaluate_by(model, split, bs, &logits),
            }
        }
        None if mirror => crate::recipe::evaluate_mirrored(model, split, bs),
        None => crate::eval::evaluate(model, split, bs),
    }
}

/// [`crate::eval::predict_proba`] through a packed snapshot on the CPU.
pub fn predict_proba(model: &Vgg, images: &Tensor) -> Result<Tensor> {
    let logits = match PackedVgg::new(model) {
        Some(packed) => packed.forward(images)?,
        None => tch::no_grad(|| model.forward_t(images, false))?,
    }; // (B, classes)
    Ok(logits
        .f_softmax(-1, Kind::Float)?
        .f_to_device(Device::Cpu)?)
}
