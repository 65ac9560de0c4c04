//! The network described for a learner: what PyTorch's `print(model)` prints
//! (`println!("{model}")`), the shape after each stage, the arithmetic of one forward pass, and
//! how far two models' weights are apart. None of it is needed to train or evaluate.

use crate::error::{Error, Result};
use crate::model::{LayerKind, Vgg, VggConfig, BN_EPS, BN_MOMENTUM};
use tch::{Kind, Tensor};

/// `println!("{model}")` prints what PyTorch's `print(model)` prints for the same network.
impl std::fmt::Display for Vgg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.config().fmt(f)
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

impl VggConfig {
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
}

impl Vgg {
    /// The largest absolute difference between this model's `state_dict()` entries and
    /// `other`'s (0 when the weights are identical). Models of different configs are an error.
    pub fn max_weight_difference(&self, other: &Vgg) -> Result<f64> {
        if self.config() != other.config() {
            return Err(Error::Config(
                "the two models have different configs: their weights do not correspond".into(),
            ));
        }
        let mut largest = 0.0f64;
        for ((_, a), (_, b)) in self.state_dict().iter().zip(other.state_dict().iter()) {
            let b = b.f_to_device(a.device())?;
            let d = (a - &b).f_abs()?.f_max()?.f_double_value(&[])?;
            largest = largest.max(d);
        }
        Ok(largest)
    }

    /// The shape after each stage for an input of `batch` images: a teaching aid that shows
    /// 28 -> 14 -> 7 -> 3 -> 1 (runs a real forward pass in eval mode).
    pub fn stage_shapes(&self, batch: i64) -> Result<Vec<(String, Vec<i64>)>> {
        let c = self.config();
        let x = Tensor::zeros(
            [batch, c.in_channels, c.image_size, c.image_size],
            (Kind::Float, self.device()),
        );
        let mut out = vec![("input".to_string(), x.size())];
        let mut block = 0;
        let _logits = tch::no_grad(|| {
            self.walk(&x, false, None, &mut |layer, y| {
                let stage = match layer.kind {
                    LayerKind::MaxPool => {
                        block += 1;
                        format!("block {block} (conv, conv, pool)")
                    }
                    LayerKind::Flatten => "flatten".to_string(),
                    LayerKind::Dropout if layer.name == "classifier.5" => {
                        "classifier hidden".to_string()
                    }
                    LayerKind::Linear(2) => "logits".to_string(),
                    _ => return,
                };
                out.push((stage, y.size()));
            })
        })?;
        Ok(out)
    }
}
