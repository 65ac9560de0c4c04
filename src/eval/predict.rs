//! Prediction on single pictures, as the photo readers and notebooks 04 and 05 use it: the class
//! probabilities of a batch, and the most likely classes of one picture.

use crate::error::Result;
use crate::model::Vgg;
use tch::{Kind, Tensor};

/// Class probabilities for normalized images (B, C, H, W): softmax of the logits, (B, classes).
/// Images of the wrong shape are an error.
pub fn predict_proba(model: &Vgg, images: &Tensor) -> Result<Tensor> {
    tch::no_grad(|| {
        let logits = model.forward_t(images, false)?; // (B, classes)
        Ok(logits
            .f_softmax(-1, Kind::Float)?
            .f_to_device(tch::Device::Cpu)?)
    })
}

/// The `k` most likely classes with their probabilities, for one image's probability row.
pub fn top_k(probs: &Tensor, k: usize) -> Result<Vec<(i64, f64)>> {
    let p = Vec::<f64>::try_from(&probs.to_kind(Kind::Double).view([-1]))?;
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    Ok(idx.into_iter().take(k).map(|i| (i as i64, p[i])).collect())
}
