//! The network as a value: [`VggConfig`] (channels, widths, batch norm) and the layer list it
//! describes, with the shapes, parameter counts and FLOPs that follow from it.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

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
    /// Batch normalization after each convolution (torchvision's `vgg*_bn` layout). Off in
    /// the article's network; configs saved before this switch existed read as off.
    pub batch_norm: bool,
}

/// BatchNorm2d's defaults in PyTorch: running-stat momentum and the variance epsilon.
pub const BN_MOMENTUM: f64 = 0.1;
pub const BN_EPS: f64 = 1e-5;

impl Default for VggConfig {
    fn default() -> Self {
        VggConfig {
            in_channels: 1,
            num_classes: 10,
            image_size: 28,
            block_channels: vec![64, 128, 256, 512],
            hidden: 4096,
            dropout: 0.5,
            batch_norm: false,
        }
    }
}

/// The named shapes of the network (`--network`): the article's, or the same architecture at an
/// eighth of its widths for quick experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The article's VGG: blocks of 64-128-256-512 channels, two hidden layers of 4096.
    #[default]
    Article,
    /// The same layers at an eighth of the widths (8-16-32-64 channels, 512 hidden): about
    /// 1/64 of the convolutions' arithmetic, for trying ideas in seconds rather than minutes.
    /// Measured on a 2-core AVX2 EPYC, one epoch of the article's recipe on all 60,000 digits:
    /// 25 s (2,400 images/s, against 82 for the article's network), 97.15% on the test set.
    /// Not the article's network.
    Narrow,
}

impl Network {
    /// The preset's configuration for MNIST-sized input (1x28x28, 10 classes).
    pub fn config(self) -> VggConfig {
        match self {
            Network::Article => VggConfig::default(),
            Network::Narrow => VggConfig {
                block_channels: vec![8, 16, 32, 64],
                hidden: 512,
                ..VggConfig::default()
            },
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Network::Article => "article",
            Network::Narrow => "narrow",
        })
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

    /// The network's layers in PyTorch order (`features.0` ... `classifier.6`): the one
    /// description of the sequence that building, the forward pass, the parameter names and
    /// the teaching aids all walk.
    pub fn layers(&self) -> Vec<Layer> {
        let mut out = Vec::new();
        let mut cin = self.in_channels;
        let mut conv = 0;
        let slot = |out: &Vec<Layer>| format!("features.{}", out.len());
        for &cout in &self.block_channels {
            // Each block occupies 5 slots of `features`: conv, relu, conv, relu, pool
            // (7 with batch norm: conv, bn, relu, conv, bn, relu, pool).
            for inc in [cin, cout] {
                out.push(Layer {
                    name: slot(&out),
                    kind: LayerKind::Conv(conv),
                    shape: vec![cout, inc, 3, 3],
                });
                if self.batch_norm {
                    out.push(Layer {
                        name: slot(&out),
                        kind: LayerKind::BatchNorm(conv),
                        shape: vec![cout],
                    });
                }
                out.push(Layer::plain(slot(&out), LayerKind::Relu));
                conv += 1;
            }
            let name = format!("features.{}", out.len());
            out.push(Layer::plain(name, LayerKind::MaxPool));
            cin = cout;
        }
        out.push(Layer::plain("flatten".into(), LayerKind::Flatten));
        let dims = [
            (self.classifier_in(), self.hidden),
            (self.hidden, self.hidden),
            (self.hidden, self.num_classes),
        ];
        for (i, (fin, fout)) in dims.into_iter().enumerate() {
            out.push(Layer {
                name: format!("classifier.{}", 3 * i),
                kind: LayerKind::Linear(i),
                shape: vec![fout, fin],
            });
            if i < 2 {
                out.push(Layer::plain(
                    format!("classifier.{}", 3 * i + 1),
                    LayerKind::Relu,
                ));
                out.push(Layer::plain(
                    format!("classifier.{}", 3 * i + 2),
                    LayerKind::Dropout,
                ));
            }
        }
        out
    }

    /// Trainable parameter names and shapes in PyTorch `named_parameters()` order.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<i64>)> {
        self.state_shapes(false)
    }

    /// Every `state_dict()` entry in PyTorch's order: the parameters plus, with batch norm,
    /// each BN layer's buffers (`running_mean`, `running_var`, and `num_batches_tracked`, a
    /// 0-dimensional int64). Without batch norm the same list as [`Self::parameter_shapes`].
    pub fn state_dict_shapes(&self) -> Vec<(String, Vec<i64>)> {
        self.state_shapes(true)
    }

    fn state_shapes(&self, buffers: bool) -> Vec<(String, Vec<i64>)> {
        let mut out = Vec::new();
        for layer in self.layers() {
            if layer.has_parameters() {
                out.push((format!("{}.weight", layer.name), layer.shape.clone()));
                out.push((format!("{}.bias", layer.name), vec![layer.shape[0]]));
            }
            if buffers && matches!(layer.kind, LayerKind::BatchNorm(_)) {
                for name in ["running_mean", "running_var"] {
                    out.push((format!("{}.{name}", layer.name), layer.shape.clone()));
                }
                out.push((format!("{}.num_batches_tracked", layer.name), vec![]));
            }
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

/// The network as PyTorch's `print(model)` prints the article's `VGG`: the `features` and
/// `classifier` sequences, one line per module with its arguments (the flatten between them is
/// a `view` in the article's `forward`, not a module, so it is not listed).
impl std::fmt::Display for VggConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "VGG(")?;
        let mut section = String::new();
        for layer in self.layers() {
            let Some((seq, index)) = layer.name.split_once('.') else {
                continue; // flatten
            };
            if seq != section {
                if !section.is_empty() {
                    writeln!(f, "  )")?;
                }
                writeln!(f, "  ({seq}): Sequential(")?;
                section = seq.to_string();
            }
            let module = match layer.kind {
                LayerKind::Conv(_) => format!(
                    "Conv2d({}, {}, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
                    layer.shape[1], layer.shape[0]
                ),
                LayerKind::BatchNorm(_) => format!(
                    "BatchNorm2d({}, eps={BN_EPS:.0e}, momentum={BN_MOMENTUM}, affine=True, \
                     bias=True, track_running_stats=True)",
                    layer.shape[0]
                )
                .replace("e-5", "e-05"),
                LayerKind::Relu => "ReLU(inplace=True)".into(),
                LayerKind::MaxPool => {
                    "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
                        .into()
                }
                LayerKind::Dropout => format!("Dropout(p={:?}, inplace=False)", self.dropout),
                LayerKind::Linear(_) => format!(
                    "Linear(in_features={}, out_features={}, bias=True)",
                    layer.shape[1], layer.shape[0]
                ),
                LayerKind::Flatten => continue,
            };
            writeln!(f, "    ({index}): {module}")?;
        }
        if !section.is_empty() {
            writeln!(f, "  )")?;
        }
        write!(f, ")")
    }
}

/// What a layer does. Conv and Linear carry their index among the network's convolutions
/// (0..8) and linear layers (0..3); BatchNorm the index of the convolution it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Conv(usize),
    BatchNorm(usize),
    Relu,
    MaxPool,
    Flatten,
    Linear(usize),
    Dropout,
}

/// One layer: its PyTorch name (`features.3`, `classifier.0`; `flatten` has none there) and,
/// for conv, batch-norm and linear layers, the weight's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
    pub shape: Vec<i64>,
}

impl Layer {
    fn plain(name: String, kind: LayerKind) -> Self {
        Layer {
            name,
            kind,
            shape: Vec::new(),
        }
    }

    /// True for the layers with a weight and a bias.
    pub fn has_parameters(&self) -> bool {
        matches!(
            self.kind,
            LayerKind::Conv(_) | LayerKind::BatchNorm(_) | LayerKind::Linear(_)
        )
    }

    /// True for the last layer of a conv block (its max-pool).
    pub fn ends_block(&self) -> bool {
        self.kind == LayerKind::MaxPool
    }
}
