//! The packed CPU inference path: the same layers with weights pre-packed (and batch norm
//! folded into the convolutions) for fast evaluation.

use super::*;
use crate::error::Result;
use tch::{Device, Kind, Tensor};

impl Vgg {
    /// A snapshot of this network for fast CPU inference: conv weights pre-packed into
    /// oneDNN's blocked layout, activations kept in oneDNN tensors between the conv blocks (no
    /// per-call weight reorders). `None` off the CPU. Take a new snapshot after the weights
    /// change (e.g. once per evaluation). With batch norm, each BN is folded into the
    /// convolution before it (eval mode's running statistics).
    pub fn packed_for_inference(&self) -> Option<PackedVgg<'_>> {
        if self.device() != Device::Cpu {
            return None;
        }
        let pack = || -> Result<Vec<(Tensor, Tensor)>> {
            tch::no_grad(|| {
                self.convs
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let bias = match &c.bs {
                            Some(b) => b.shallow_clone(),
                            None => Tensor::zeros([c.ws.size()[0]], (Kind::Float, Device::Cpu)),
                        };
                        let (w, b) = match self.bns.get(i) {
                            Some(bn) => bn.fold(&c.ws, &bias)?,
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
        pack().ok().map(|convs| PackedVgg { net: self, convs })
    }
}

/// See [`Vgg::packed_for_inference`]: eval-mode forward passes on the CPU through oneDNN.
pub struct PackedVgg<'a> {
    net: &'a Vgg,
    convs: Vec<(Tensor, Tensor)>,
}

impl PackedVgg<'_> {
    /// Eval-mode logits (B, num_classes) for (B, C, H, W) CPU input; the same values as
    /// `forward_t(xs, false)` up to float rounding.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        tch::no_grad(|| {
            self.net
                .walk_with(xs, false, Some(&self.convs), None, &mut |_, _| {})
        })
    }
}
