//! BatchNorm2d, the network's one optional layer (not the article's: `VggConfig { batch_norm:
//! true, .. }`, torchvision's `vgg*_bn` layout), with PyTorch's defaults.

use crate::error::Result;
use tch::{nn, Kind, Tensor};

/// BatchNorm2d's defaults in PyTorch: running-stat momentum and the variance epsilon.
pub const BN_MOMENTUM: f64 = 0.1;
pub const BN_EPS: f64 = 1e-5;

/// One BatchNorm2d: affine weight and bias (trained) and the running statistics (buffers,
/// updated by every train-mode forward pass as PyTorch does).
pub(crate) struct BatchNorm {
    pub(crate) weight: Tensor,
    pub(crate) bias: Tensor,
    pub(crate) running_mean: Tensor,
    pub(crate) running_var: Tensor,
    num_batches_tracked: Tensor,
}

impl BatchNorm {
    pub(crate) fn new(path: nn::Path, channels: i64) -> Self {
        let device = path.device();
        BatchNorm {
            weight: path.var("weight", &[channels], nn::Init::Const(1.0)),
            bias: path.var("bias", &[channels], nn::Init::Const(0.0)),
            running_mean: path.zeros_no_train("running_mean", &[channels]),
            running_var: path.ones_no_train("running_var", &[channels]),
            num_batches_tracked: path.add(
                "num_batches_tracked",
                Tensor::zeros([], (Kind::Int64, device)),
                false,
            ),
        }
    }

    /// (B, C, H, W) -> (B, C, H, W): batch statistics (and a running-stat update) in train
    /// mode, the running statistics in eval mode.
    pub(crate) fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if train {
            let mut count = self.num_batches_tracked.shallow_clone();
            tch::no_grad(|| count.f_add_scalar_(1).map(drop))?;
        }
        Ok(x.f_batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            BN_MOMENTUM,
            BN_EPS,
            true,
        )?)
    }
}
