//! Evaluation on a split: accuracy, the first six predictions (the article's figure),
//! a confusion matrix and the misclassified examples. Prediction on single images (class
//! probabilities, the top classes) is [`predict`]'s.

use crate::data::Split;
use crate::error::Result;
use crate::model::Vgg;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

mod predict;
pub use predict::{predict_proba, top_k};

/// How many leading examples the article shows.
pub const FIRST_N: usize = 6;

/// One example with its label and the model's prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Index in the split.
    pub index: usize,
    pub label: i64,
    pub prediction: i64,
    /// The picture's pixels (0..=255): 28x28 grey, or 3x32x32 colour channel after channel.
    pub pixels: Vec<u8>,
}

/// Results of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Percent correct.
    pub accuracy: f64,
    pub correct: u64,
    pub total: u64,
    /// The first six examples, as the article's `evaluate_model` returns them.
    pub first: Vec<Sample>,
    /// `confusion[label][prediction]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// Indices of misclassified examples, ascending.
    pub misclassified: Vec<usize>,
    /// The prediction for every example, in split order.
    pub predictions: Vec<i64>,
}

/// Evaluates `model` on `split` in eval mode under no-grad, `batch_size` examples at a time.
/// A model that does not fit the split's data set is an error ([`crate::data::check_fits`]).
pub fn evaluate(model: &Vgg, split: &Split, batch_size: usize) -> Result<Evaluation> {
    evaluate_by(model, split, batch_size, &|x| model.forward_t(x, false))
}

/// The evaluation of `model` with each batch's class scores (B, classes), whose argmax is the
/// prediction, computed by `scores`: the model's own eval-mode logits ([`evaluate`]), a faster
/// path of the same numbers (`vggnet::engine::packed::evaluate`), or the probabilities of each
/// picture and its mirror image (`vggnet::recipe::evaluate_mirrored`).
pub fn evaluate_by(
    model: &Vgg,
    split: &Split,
    batch_size: usize,
    scores: &dyn Fn(&Tensor) -> Result<Tensor>,
) -> Result<Evaluation> {
    crate::data::check_batch_size(batch_size)?;
    crate::data::check_fits(model.config(), split.dataset, None)?;
    let classes = model.config().num_classes;
    let device = model.device();
    let mut preds = Vec::with_capacity(split.len());
    tch::no_grad(|| -> Result<()> {
        let n = split.len() as i64;
        let bs = batch_size as i64;
        let mut start = 0;
        while start < n {
            let len = bs.min(n - start);
            let xs = split
                .images_range(start as usize, len as usize)?
                .f_to_device(device)?; // (B, C, S, S)
            let p = scores(&xs)?.f_argmax(1, false)?; // (B, classes) -> (B,)
            preds.push(p.to_device(tch::Device::Cpu));
            start += len;
        }
        Ok(())
    })?;
    let labels = &split.labels;
    let preds = if preds.is_empty() {
        Tensor::zeros([0], (Kind::Int64, tch::Device::Cpu))
    } else {
        Tensor::cat(&preds, 0) // (N,)
    };
    let wrong = preds.ne_tensor(labels);
    let total = split.len() as u64;
    let correct = total - i64::try_from(wrong.sum(Kind::Int64))? as u64;
    let misclassified: Vec<usize> = Vec::<i64>::try_from(&wrong.nonzero().view([-1]))?
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let cells = (labels * classes + &preds).bincount::<Tensor>(None, classes * classes); // (C*C,)
    let flat = Vec::<i64>::try_from(&cells)?;
    let confusion = flat
        .chunks(classes as usize)
        .map(|row| row.iter().map(|&v| v as u64).collect())
        .collect();
    let label_v = Vec::<i64>::try_from(labels)?;
    let pred_v = Vec::<i64>::try_from(&preds)?;
    let first = (0..FIRST_N.min(split.len()))
        .map(|i| {
            Ok(Sample {
                index: i,
                label: label_v[i],
                prediction: pred_v[i],
                pixels: split.pixels(i)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Evaluation {
        accuracy: if total == 0 {
            0.0
        } else {
            100.0 * correct as f64 / total as f64
        },
        correct,
        total,
        first,
        confusion,
        misclassified,
        predictions: pred_v,
    })
}
