//! The article's VGG network, layer for layer, with PyTorch's parameter names and initialization.
//!
//! ```text
//! features:   4 x [conv3x3(pad 1) -> ReLU -> conv3x3(pad 1) -> ReLU -> maxpool 2x2]
//!             channels 1 -> 64 -> 128 -> 256 -> 512; 28x28 -> 14 -> 7 -> 3 -> 1
//! classifier: Linear(512*s*s, 4096) -> ReLU -> Dropout(0.5)
//!             -> Linear(4096, 4096) -> ReLU -> Dropout(0.5) -> Linear(4096, num_classes)
//! ```
//!
//! Parameter names equal the PyTorch `state_dict()` keys (`features.0.weight`, ...,
//! `classifier.6.bias`), so weights move between the two.
//!
//! Optional, not the article's: `VggConfig { batch_norm: true, .. }` puts a BatchNorm2d after
//! every convolution, as torchvision's `vgg*_bn` do (conv -> BN -> ReLU; each block then
//! occupies 7 slots of `features`, so the names are `features.0` conv, `features.1` BN, ...,
//! with BN's `weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`).

mod batch_norm;
mod config;

pub(crate) use batch_norm::BatchNorm;
pub use batch_norm::{BN_EPS, BN_MOMENTUM};
pub use config::*;

use crate::error::{Error, Result};
use tch::nn;
use tch::{Device, Kind, Tensor};

/// PyTorch's default init for Conv2d and Linear: kaiming_uniform(a = sqrt 5) for weights and
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases; both reduce to that same uniform bound.
fn torch_default_init(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// Refuses a CUDA device that libtorch does not see (before a model or data is put there). A
/// GPU is seen once libtorch's CUDA backend is loaded: `vggnet::engine::device()` does that.
pub fn check_device(device: Device) -> Result<()> {
    if let Device::Cuda(i) = device {
        let here = tch::Cuda::device_count();
        if i as i64 >= here {
            return Err(Error::Config(format!(
                "device cuda:{i} is not on this machine ({here} CUDA device(s) seen): use \
                 --device cpu or auto"
            )));
        }
    }
    Ok(())
}

/// The VGG network. Owns its `VarStore` (weights live there).
pub struct Vgg {
    vs: nn::VarStore,
    config: VggConfig,
    layers: Vec<Layer>,
    // The weights, read by the engine's packed inference (`crate::engine::packed`) too.
    pub(crate) convs: Vec<nn::Conv2D>,
    pub(crate) bns: Vec<BatchNorm>,
    pub(crate) fc: Vec<nn::Linear>,
}

impl std::fmt::Debug for Vgg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vgg")
            .field("config", &self.config)
            .field("device", &self.vs.device())
            .field("parameters", &self.config.num_parameters())
            .finish()
    }
}

/// tch's vocabulary: `xs.apply_t(&model, train)`, as in tch's own examples, runs
/// [`Vgg::forward_t`]. `model.forward_t(..)` still calls the inherent method (inherent methods
/// win), which returns a `Result`.
///
/// # Panics
///
/// `ModuleT` cannot return an error, so input of the wrong shape or type (anything but
/// (B, C, H, W) float of the configured size) panics with the error's message. Use
/// [`Vgg::forward_t`] where the input is not known to fit.
impl nn::ModuleT for Vgg {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        Vgg::forward_t(self, xs, train).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Vgg {
    /// Builds a freshly initialized network on `device` (PyTorch default init, from torch's
    /// global RNG: call `tch::manual_seed` first for reproducible weights).
    pub fn new(config: VggConfig, device: Device) -> Result<Self> {
        config.validate()?;
        check_device(device)?;
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let mut convs = Vec::new();
        let mut bns = Vec::new();
        let mut fc = Vec::new();
        for layer in config.layers() {
            let path = layer
                .name
                .split('.')
                .fold(root.clone(), |p, part| &p / part);
            let fan_in: i64 = layer.shape.iter().skip(1).product();
            let init = torch_default_init(fan_in);
            match layer.kind {
                LayerKind::Conv(_) => {
                    let cfg = nn::ConvConfig {
                        padding: 1,
                        ws_init: init,
                        bs_init: init,
                        ..Default::default()
                    };
                    let (cout, cin) = (layer.shape[0], layer.shape[1]);
                    convs.push(nn::conv2d(path, cin, cout, 3, cfg));
                }
                LayerKind::BatchNorm(_) => bns.push(BatchNorm::new(path, layer.shape[0])),
                LayerKind::Linear(_) => {
                    let cfg = nn::LinearConfig {
                        ws_init: init,
                        bs_init: Some(init),
                        bias: true,
                    };
                    fc.push(nn::linear(path, layer.shape[1], layer.shape[0], cfg));
                }
                _ => {}
            }
        }
        let layers = config.layers();
        Ok(Vgg {
            vs,
            config,
            layers,
            convs,
            bns,
            fc,
        })
    }

    /// The configuration this network was built from.
    pub fn config(&self) -> &VggConfig {
        &self.config
    }

    /// The device holding the weights.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The underlying variable store (for optimizers and checkpoints).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Mutable access to the variable store (loading weights).
    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    /// The trainable parameters, named, in PyTorch `named_parameters()` order (what the
    /// optimizer updates).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.named(self.config.parameter_shapes())
    }

    /// Every `state_dict()` entry in PyTorch's order: the parameters plus batch norm's
    /// buffers when the network has them (what checkpoints hold).
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.named(self.config.state_dict_shapes())
    }

    fn named(&self, shapes: Vec<(String, Vec<i64>)>) -> Vec<(String, Tensor)> {
        let vars = self.vs.variables();
        shapes
            .into_iter()
            .filter_map(|(name, _)| vars.get(&name).map(|t| (name, t.shallow_clone())))
            .collect()
    }

    /// An independent copy with the same configuration, device and weights, stored in PyTorch's
    /// default (NCHW) layout (for experimenting on a trained model without changing it).
    /// Building the copy draws its throw-away initial weights from torch's generator.
    pub fn try_clone(&self) -> Result<Vgg> {
        let mut copy = Vgg::new(self.config.clone(), self.device())?;
        copy.vs.copy(&self.vs)?;
        Ok(copy)
    }

    /// The network's layers in order (see [`VggConfig::layers`]).
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Checks that `xs` is a batch of images this network takes: (B, C, S, S) floats.
    pub(crate) fn check_input(&self, xs: &Tensor) -> Result<()> {
        let c = &self.config;
        let size = xs.size();
        let ok = size.len() == 4
            && size[1..] == [c.in_channels, c.image_size, c.image_size]
            && matches!(
                xs.kind(),
                Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
            );
        if ok {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "the network takes (batch, {}, {}, {}) float images, got {:?} {:?}",
                c.in_channels,
                c.image_size,
                c.image_size,
                size,
                xs.kind()
            )))
        }
    }

    /// The layer walk: runs `xs` through every layer in order and hands each layer with its
    /// output to `visit` (shapes, timings, the activations of each block: `stage_shapes` below,
    /// `teach::inspect::feature_maps`, the bench's profile). Every forward pass of the model is
    /// this walk (the engine's packed inference has its own).
    /// `lower`: the autocast dtype (see [`Vgg::forward_autocast`]); convolutions and linear
    /// layers then take their input, weight and bias cast to it.
    pub fn walk(
        &self,
        xs: &Tensor,
        train: bool,
        lower: Option<Kind>,
        visit: &mut dyn FnMut(&Layer, &Tensor),
    ) -> Result<Tensor> {
        self.check_input(xs)?;
        // autocast's cast: a no-op (an alias) when the tensor already has that dtype.
        let low = |t: &Tensor| -> Result<Tensor> {
            Ok(match lower {
                Some(kind) => t.f_to_kind(kind)?,
                None => t.shallow_clone(),
            })
        };
        let low_opt = |t: Option<&Tensor>| t.map(&low).transpose();
        let mut x = xs.f_to_device(self.device())?; // (B, C, S, S)
        for layer in &self.layers {
            x = match layer.kind {
                LayerKind::Conv(i) => {
                    let c = &self.convs[i];
                    let b = low_opt(c.bs.as_ref())?;
                    low(&x)?.f_conv2d(&low(&c.ws)?, b.as_ref(), [1, 1], [1, 1], [1, 1], 1)?
                    // (B, c, S, S)
                }
                LayerKind::BatchNorm(i) => self.bns[i].forward(&x, train)?,
                LayerKind::Relu => x.f_relu_()?,
                LayerKind::MaxPool => {
                    x.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)? // (B, c, S/2, S/2)
                }
                LayerKind::Flatten => x.f_flatten(1, -1)?, // (B, 512 * s * s)
                LayerKind::Linear(i) => {
                    let l = &self.fc[i];
                    let b = low_opt(l.bs.as_ref())?;
                    low(&x)?.f_linear(&low(&l.ws)?, b.as_ref())? // (B, 4096) or (B, num_classes)
                }
                LayerKind::Dropout => x.f_dropout(self.config.dropout, train)?,
            };
            visit(layer, &x);
        }
        Ok(x) // (B, num_classes)
    }

    /// Forward pass. `xs`: (B, C, H, W) float; returns logits (B, num_classes).
    /// `train` switches dropout on, as `model.train()` does in PyTorch. Input of the wrong
    /// shape or type is an error, not a crash.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.walk(xs, train, None, &mut |_, _| {})
    }

    /// [`Vgg::forward_t`] under CPU-style autocast to `kind` (bfloat16 in practice), as
    /// `with torch.autocast("cpu", dtype=torch.bfloat16): model(xs)`: each convolution and
    /// linear layer casts its input, weight and bias to `kind` (autocast's lower-precision
    /// ops), ReLU, max-pool, dropout and batch norm run on what they get; the weights stay
    /// float32 and their gradients come back float32 through the casts. The logits are
    /// `kind`: cast them up for the loss, as autocast does for `cross_entropy`.
    pub fn forward_autocast(&self, xs: &Tensor, train: bool, kind: Kind) -> Result<Tensor> {
        self.walk(xs, train, Some(kind), &mut |_, _| {})
    }
}
