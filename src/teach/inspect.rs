//! What the network learned: the first layer's filters, the feature maps of one digit after
//! each block, saliency maps (the gradient of a class score with respect to the input pixels)
//! and the test digits the model gets wrong most confidently. The notebooks plot these with
//! [`crate::plot`]; everything here is plain tensors and numbers.

use crate::data::Split;
use crate::error::{Error, Result};
use crate::eval::Evaluation;
use crate::model::Vgg;
use tch::{Kind, Tensor};

/// The first convolution's weights, `features.0.weight`: (64, in_channels, 3, 3), on the CPU.
/// Each 3x3 kernel is one pattern the first layer looks for (edges, strokes, blobs).
pub fn first_layer_filters(model: &Vgg) -> Result<Tensor> {
    let (_, w) = model
        .named_parameters()
        .into_iter()
        .find(|(name, _)| name == "features.0.weight")
        .ok_or_else(|| Error::Config("the model has no features.0.weight".into()))?;
    Ok(w.f_detach()?.f_to_device(tch::Device::Cpu)?)
}

/// The activations of one block for one image.
#[derive(Debug)]
pub struct BlockMaps {
    /// "block 1" .. "block 4".
    pub name: String,
    /// (channels, side, side), after the block's ReLUs and max-pool, on the CPU.
    pub maps: Tensor,
}

/// Runs one normalized image, (1, 28, 28) or (1, 1, 28, 28), through the network in eval mode
/// and returns what each conv block passes on: (64, 14, 14), (128, 7, 7), (256, 3, 3),
/// (512, 1, 1) for MNIST. This is the model's own layer walk ([`Vgg::walk`]).
pub fn feature_maps(model: &Vgg, image: &Tensor) -> Result<Vec<BlockMaps>> {
    let x = as_batch(image)?; // (1, C, S, S)
    let (_, blocks) = tch::no_grad(|| forward_with_blocks(model, &x))?;
    blocks
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            Ok(BlockMaps {
                name: format!("block {}", i + 1),
                maps: b.f_get(0)?.f_to_device(tch::Device::Cpu)?, // (c, s, s)
            })
        })
        .collect()
}

/// An image as a batch of one: (C, S, S) -> (1, C, S, S); a batch passes unchanged.
fn as_batch(image: &Tensor) -> Result<Tensor> {
    Ok(match image.dim() {
        3 => image.f_unsqueeze(0)?,
        _ => image.shallow_clone(),
    })
}

/// Saliency maps: for each image of `images` (B, 1, 28, 28), the absolute gradient of the
/// logit of class `targets[i]` with respect to the input pixels, in eval mode (dropout off),
/// maximized over input channels: (B, 28, 28) on the CPU. Bright pixels are those whose change
/// would move that class's score most.
pub fn saliency(model: &Vgg, images: &Tensor, targets: &[i64]) -> Result<Tensor> {
    let b = images.size().first().copied().unwrap_or(0);
    if targets.len() as i64 != b {
        return Err(Error::Config(format!(
            "saliency: {} targets for {b} images",
            targets.len()
        )));
    }
    let x = images
        .f_to_device(model.device())?
        .f_detach()?
        .f_set_requires_grad(true)?; // (B, 1, 28, 28)
    let logits = model.forward_t(&x, false)?; // (B, classes)
    let idx = Tensor::from_slice(targets)
        .f_to_device(model.device())?
        .f_view([-1, 1])?; // (B, 1)
    let score = logits.f_gather(1, &idx, false)?.f_sum(Kind::Float)?; // ()
    let grads = Tensor::f_run_backward(&[&score], &[&x], false, false)?;
    let g = grads
        .first()
        .ok_or_else(|| Error::Config("saliency: no input gradient".into()))?;
    Ok(g.f_abs()?
        .f_amax(&[1i64][..], false)? // (B, 28, 28)
        .f_to_device(tch::Device::Cpu)?)
}

/// A test digit the model gets wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Mistake {
    /// Index in the split.
    pub index: usize,
    pub label: i64,
    pub predicted: i64,
    /// Probability of the predicted class.
    pub confidence: f64,
    /// Probability the model gave the true class.
    pub label_probability: f64,
    /// 28x28 grayscale pixels (0..=255).
    pub pixels: Vec<u8>,
}

/// The `k` misclassified examples of `split` with the highest probability on the wrong class,
/// most confident first (eval mode, `batch_size` images at a time). A model that does not fit the
/// split's data set is an error ([`crate::data::check_fits`]).
pub fn confident_mistakes(
    model: &Vgg,
    split: &Split,
    k: usize,
    batch_size: usize,
) -> Result<Vec<Mistake>> {
    crate::data::check_batch_size(batch_size)?;
    crate::data::check_fits(model.config(), split.dataset, None)?;
    let n = split.len() as i64;
    let bs = batch_size as i64;
    let mut probs = Vec::new();
    let mut start = 0;
    while start < n {
        let len = bs.min(n - start);
        let xs = split.images_range(start as usize, len as usize)?; // (B, C, S, S)
        probs.push(crate::eval::predict_proba(model, &xs)?); // (B, classes)
        start += len;
    }
    if probs.is_empty() {
        return Ok(Vec::new());
    }
    let probs = Tensor::f_cat(&probs, 0)?.f_to_kind(Kind::Double)?; // (N, classes)
    let (conf, pred) = probs.f_max_dim(1, false)?; // (N,), (N,)
    let labels = Vec::<i64>::try_from(&split.labels)?;
    let pred = Vec::<i64>::try_from(&pred)?;
    let conf = Vec::<f64>::try_from(&conf)?;
    let classes = probs.size()[1] as usize;
    let flat = Vec::<f64>::try_from(&probs.f_flatten(0, -1)?)?;
    let mut wrong: Vec<usize> = (0..labels.len())
        .filter(|&i| pred[i] != labels[i])
        .collect();
    wrong.sort_by(|&a, &b| conf[b].total_cmp(&conf[a]).then(a.cmp(&b)));
    wrong
        .into_iter()
        .take(k)
        .map(|i| {
            Ok(Mistake {
                index: i,
                label: labels[i],
                predicted: pred[i],
                confidence: conf[i],
                label_probability: flat
                    .get(i * classes + labels[i] as usize)
                    .copied()
                    .unwrap_or(0.0), // (in range: the model's classes are the data set's)
                pixels: split.pixels(i)?,
            })
        })
        .collect::<Result<Vec<_>>>()
}

/// The logits of `xs` (eval mode) and the output of each conv block (after its max-pool), e.g.
/// (B, 64, 14, 14), (B, 128, 7, 7), (B, 256, 3, 3), (B, 512, 1, 1) for MNIST.
pub fn forward_with_blocks(model: &Vgg, xs: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
    let mut blocks = Vec::new();
    let logits = model.walk(xs, false, None, &mut |layer, x| {
        if layer.ends_block() {
            blocks.push(x.shallow_clone());
        }
    })?;
    Ok((logits, blocks))
}

/// Reading an evaluation's confusion matrix: which classes the model gets right, and what it
/// takes for what.
impl Evaluation {
    /// Percent correct per true class (NaN for a class absent from the split; 0 for a row
    /// too short to hold its diagonal, which [`evaluate`] never makes).
    pub fn per_class_accuracy(&self) -> Vec<f64> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let n: u64 = row.iter().sum();
                100.0 * row.get(c).copied().unwrap_or(0) as f64 / n as f64
            })
            .collect()
    }

    /// The `k` largest confusions, off the diagonal: (true class, predicted class, count),
    /// most frequent first (ties: lower true class, then lower prediction, first); pairs never
    /// confused are left out.
    pub fn largest_confusions(&self, k: usize) -> Vec<(i64, i64, u64)> {
        let mut off: Vec<(i64, i64, u64)> = self
            .confusion
            .iter()
            .enumerate()
            .flat_map(|(t, row)| {
                row.iter()
                    .enumerate()
                    .filter(move |&(p, &n)| p != t && n > 0)
                    .map(move |(p, &n)| (t as i64, p as i64, n))
            })
            .collect();
        off.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        off.truncate(k);
        off
    }
}
