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
    /// the article's network (the default of the field).
    pub batch_norm: bool,
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
            batch_norm: false,
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

    /// Total number of trainable parameters (23,607,754 for the default).
    pub fn num_parameters(&self) -> i64 {
        self.parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<i64>())
            .sum()
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
