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

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// Shape of the network. `Default` is the article's MNIST model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VggConfig {
    /// Channels of the input image (1 for MNIST, 3 for CIFAR).
    pub in_channels: i64,
    /// Number of output classes.
    pub num_classes: i64,
    /// Side of the square input image (28 for MNIST, 32 for CIFAR).
    pub image_size: i64,
    /// Output channels of each conv block.
    pub block_channels: Vec<i64>,
    /// Width of the two hidden fully connected layers.
    pub hidden: i64,
    /// Dropout probability in the classifier.
    pub dropout: f64,
}

impl Default for VggConfig {
    fn default() -> Self {
        VggConfig {
            in_channels: 1,
            num_classes: 10,
            image_size: 28,
            block_channels: vec![64, 128, 256, 512],
            hidden: 4096,
            dropout: 0.5,
        }
    }
}

impl VggConfig {
    /// Side of the feature map after all blocks: each 2x2 max-pool floors the size by half.
    pub fn feature_size(&self) -> i64 {
        self.block_channels
            .iter()
            .fold(self.image_size, |side, _| side / 2)
    }

    /// Input width of the first linear layer, derived from the input size (512 for 28x28).
    pub fn classifier_in(&self) -> i64 {
        let side = self.feature_size();
        self.block_channels
            .last()
            .copied()
            .unwrap_or(self.in_channels)
            * side
            * side
    }

    /// Checks the configuration can build a network.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels < 1 || self.num_classes < 1 || self.hidden < 1 {
            return Err(Error::Config(format!(
                "in_channels, num_classes and hidden must be positive: {self:?}"
            )));
        }
        if self.block_channels.is_empty() || self.block_channels.iter().any(|&c| c < 1) {
            return Err(Error::Config(
                "block_channels must be a non-empty list of positive numbers".into(),
            ));
        }
        if self.feature_size() < 1 {
            return Err(Error::Config(format!(
                "image_size {} is too small for {} pooling stages",
                self.image_size,
                self.block_channels.len()
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "dropout must be in [0, 1): {}",
                self.dropout
            )));
        }
        Ok(())
    }

    /// Parameter names and shapes in PyTorch `state_dict()` order.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<i64>)> {
        let mut out = Vec::new();
        let mut cin = self.in_channels;
        for (block, &cout) in self.block_channels.iter().enumerate() {
            // Each block occupies 5 slots of `features`: conv, relu, conv, relu, pool.
            for (slot, inc) in [(0, cin), (2, cout)] {
                let idx = block * 5 + slot;
                out.push((format!("features.{idx}.weight"), vec![cout, inc, 3, 3]));
                out.push((format!("features.{idx}.bias"), vec![cout]));
            }
            cin = cout;
        }
        let dims = [
            (0, self.classifier_in(), self.hidden),
            (3, self.hidden, self.hidden),
            (6, self.hidden, self.num_classes),
        ];
        for (idx, fin, fout) in dims {
            out.push((format!("classifier.{idx}.weight"), vec![fout, fin]));
            out.push((format!("classifier.{idx}.bias"), vec![fout]));
        }
        out
    }

    /// Floating-point operations of one forward pass for one image (multiply-adds count 2):
    /// ~0.33 GFLOP for the default; a training step (forward + backward) is about 3x that.
    pub fn forward_flops(&self) -> f64 {
        let mut flops = 0.0;
        let mut side = self.image_size as f64;
        let mut cin = self.in_channels as f64;
        for &cout in &self.block_channels {
            let cout = cout as f64;
            flops += 2.0 * side * side * cout * (cin + cout) * 9.0; // two 3x3 convs
            side = (side / 2.0).floor();
            cin = cout;
        }
        let (fin, h, k) = (
            self.classifier_in() as f64,
            self.hidden as f64,
            self.num_classes as f64,
        );
        flops + 2.0 * (fin * h + h * h + h * k)
    }

    /// Total number of trainable parameters (23,607,754 for the default).
    pub fn num_parameters(&self) -> i64 {
        self.parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<i64>())
            .sum()
    }
}

/// PyTorch's default init for Conv2d and Linear: kaiming_uniform(a = sqrt 5) for weights and
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases; both reduce to that same uniform bound.
fn torch_default_init(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// The VGG network. Owns its `VarStore` (weights live there).
pub struct Vgg {
    vs: nn::VarStore,
    config: VggConfig,
    convs: Vec<nn::Conv2D>,
    fc: [nn::Linear; 3],
    channels_last: bool,
}

/// The same (N, C, H, W) tensor stored channels-last (N, H, W, C in memory), PyTorch's
/// `x.contiguous(memory_format=torch.channels_last)`; oneDNN's CPU convolutions run faster on it.
pub fn to_channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
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

impl Vgg {
    /// Builds a freshly initialized network on `device` (PyTorch default init, from torch's
    /// global RNG: call `tch::manual_seed` first for reproducible weights).
    pub fn new(config: VggConfig, device: Device) -> Result<Self> {
        config.validate()?;
        crate::perf::tune_allocator();
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let features = &root / "features";
        let mut convs = Vec::new();
        let mut cin = config.in_channels;
        for (block, &cout) in config.block_channels.iter().enumerate() {
            for (slot, inc) in [(0, cin), (2, cout)] {
                let init = torch_default_init(inc * 9);
                let cfg = nn::ConvConfig {
                    padding: 1,
                    ws_init: init,
                    bs_init: init,
                    ..Default::default()
                };
                convs.push(nn::conv2d(
                    &features / (block * 5 + slot),
                    inc,
                    cout,
                    3,
                    cfg,
                ));
            }
            cin = cout;
        }
        let classifier = &root / "classifier";
        let linear = |idx: usize, fin: i64, fout: i64| {
            let init = torch_default_init(fin);
            let cfg = nn::LinearConfig {
                ws_init: init,
                bs_init: Some(init),
                bias: true,
            };
            nn::linear(&classifier / idx, fin, fout, cfg)
        };
        let fc = [
            linear(0, config.classifier_in(), config.hidden),
            linear(3, config.hidden, config.hidden),
            linear(6, config.hidden, config.num_classes),
        ];
        let mut model = Vgg {
            vs,
            config,
            convs,
            fc,
            channels_last: false,
        };
        model.set_channels_last(true);
        Ok(model)
    }

    /// Stores conv weights and activations channels-last (the default) or contiguous (NCHW).
    /// Values and results are the same either way; only the speed differs. Call before
    /// creating an optimizer (its buffers copy the parameters' layout).
    pub fn set_channels_last(&mut self, on: bool) {
        if on == self.channels_last {
            return;
        }
        tch::no_grad(|| {
            for conv in self.convs.iter_mut() {
                let data = if on {
                    to_channels_last(&conv.ws)
                } else {
                    conv.ws.contiguous()
                };
                conv.ws.set_data(&data);
            }
        });
        self.channels_last = on;
    }

    /// A snapshot of this network for fast CPU inference: conv weights pre-packed into
    /// oneDNN's blocked layout, activations kept in oneDNN tensors between the conv blocks (no
    /// per-call weight reorders). `None` off the CPU. Take a new snapshot after the weights
    /// change (e.g. once per evaluation).
    pub fn packed_for_inference(&self) -> Option<PackedVgg<'_>> {
        if self.device() != Device::Cpu {
            return None;
        }
        let pack = || -> std::result::Result<Vec<(Tensor, Tensor)>, tch::TchError> {
            tch::no_grad(|| {
                self.convs
                    .iter()
                    .map(|c| {
                        let w =
                            c.ws.contiguous()
                                .f_to_mkldnn(Kind::Float)?
                                .f_mkldnn_reorder_conv2d_weight(
                                    [1, 1],
                                    [1, 1],
                                    [1, 1],
                                    1,
                                    None::<&[i64]>,
                                )?;
                        let b = match &c.bs {
                            Some(b) => b.f_to_mkldnn(Kind::Float)?,
                            None => Tensor::zeros([c.ws.size()[0]], (Kind::Float, Device::Cpu))
                                .f_to_mkldnn(Kind::Float)?,
                        };
                        Ok((w, b))
                    })
                    .collect()
            })
        };
        pack().ok().map(|convs| PackedVgg { net: self, convs })
    }

    /// True when conv weights and activations are stored channels-last.
    pub fn channels_last(&self) -> bool {
        self.channels_last
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

    /// Named parameters in PyTorch `state_dict()` order.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let vars = self.vs.variables();
        self.config
            .parameter_shapes()
            .into_iter()
            .filter_map(|(name, _)| vars.get(&name).map(|t| (name, t.shallow_clone())))
            .collect()
    }

    /// Forward pass. `xs`: (B, C, H, W) float; returns logits (B, num_classes).
    /// `train` switches dropout on, as `model.train()` does in PyTorch.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = if self.channels_last {
            to_channels_last(xs) // (B, C, S, S), stored (B, S, S, C)
        } else {
            xs.shallow_clone() // (B, C, S, S)
        };
        for pair in self.convs.chunks(2) {
            x = pair[0].forward(&x).relu_(); // (B, c, S, S)
            x = pair[1].forward(&x).relu_(); // (B, c, S, S)
            x = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false); // (B, c, S/2, S/2)
        }
        let x = x.flatten(1, -1); // (B, 512 * s * s)
        let x = self.fc[0]
            .forward(&x)
            .relu_()
            .dropout(self.config.dropout, train); // (B, 4096)
        let x = self.fc[1]
            .forward(&x)
            .relu_()
            .dropout(self.config.dropout, train); // (B, 4096)
        self.fc[2].forward(&x) // (B, num_classes)
    }
}

impl Vgg {
    /// The shape after each stage for an input of `batch` images: a teaching aid that shows
    /// 28 -> 14 -> 7 -> 3 -> 1 (runs a real forward pass in eval mode).
    pub fn stage_shapes(&self, batch: i64) -> Vec<(String, Vec<i64>)> {
        let c = &self.config;
        let x = Tensor::zeros(
            [batch, c.in_channels, c.image_size, c.image_size],
            (Kind::Float, self.device()),
        );
        let mut out = vec![("input".to_string(), x.size())];
        tch::no_grad(|| {
            let mut x = x;
            for (i, pair) in self.convs.chunks(2).enumerate() {
                x = pair[0].forward(&x).relu();
                x = pair[1].forward(&x).relu();
                x = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
                out.push((format!("block {} (conv, conv, pool)", i + 1), x.size()));
            }
            let x = x.flatten(1, -1);
            out.push(("flatten".to_string(), x.size()));
            let x = self.fc[1].forward(&self.fc[0].forward(&x).relu()).relu();
            out.push(("classifier hidden".to_string(), x.size()));
            out.push(("logits".to_string(), self.fc[2].forward(&x).size()));
        });
        out
    }
}

impl Vgg {
    /// Wall time of each layer in one forward pass (train mode, as in training), in seconds,
    /// for profiling. CPU ops run synchronously, so each figure is that layer's own time.
    pub fn profile_forward(&self, xs: &Tensor) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        let mut time = |name: String, f: &mut dyn FnMut() -> Tensor| {
            let t = std::time::Instant::now();
            let y = f();
            out.push((name, t.elapsed().as_secs_f64()));
            y
        };
        let mut x = if self.channels_last {
            to_channels_last(xs)
        } else {
            xs.shallow_clone()
        };
        for (i, conv) in self.convs.iter().enumerate() {
            let idx = (i / 2) * 5 + (i % 2) * 2;
            x = time(format!("features.{idx} conv+relu"), &mut || {
                conv.forward(&x).relu_()
            });
            if i % 2 == 1 {
                x = time(format!("features.{} maxpool", idx + 2), &mut || {
                    x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
                });
            }
        }
        let mut x = x.flatten(1, -1);
        for (i, fc) in self.fc.iter().enumerate() {
            x = time(format!("classifier.{} linear", i * 3), &mut || {
                fc.forward(&x)
            });
            if i < 2 {
                x = x.relu_().dropout(self.config.dropout, true);
            }
        }
        out
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
            let mut x = xs.contiguous().f_to_mkldnn(Kind::Float)?; // (B, C, S, S), blocked
            for pair in self.convs.chunks(2) {
                for (w, b) in pair {
                    x = x
                        .f_mkldnn_convolution(w, Some(b), [1, 1], [1, 1], [1, 1], 1)?
                        .f_relu_()?;
                }
                x = x.f_mkldnn_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?;
                // (B, c, S/2, S/2)
            }
            let x = x.f_to_dense(None::<Kind>, false)?.flatten(1, -1); // (B, 512 * s * s)
            let x = self.net.fc[0].forward(&x).relu_(); // (B, 4096)
            let x = self.net.fc[1].forward(&x).relu_(); // (B, 4096)
            Ok(self.net.fc[2].forward(&x)) // (B, num_classes)
        })
    }
}
