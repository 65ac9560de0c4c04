//! One split of a data set ([`Split`]): its pictures as bytes, its labels, and how the
//! training loop and evaluation draw them, normalized.

use super::config::SourceFile;
use super::dataset::Dataset;
use crate::error::Result;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::{Device, Tensor};

/// One split of a data set: the pictures as their bytes, normalized when they are used (as
/// torchvision's data sets do, per item, with `ToTensor()` + `Normalize`): a batch at a time
/// in training ([`Split::gather`]), or all of them with [`Split::images`].
#[derive(Debug)]
pub struct Split {
    /// (N, C, S, S) uint8: the pictures, 0..=255 (N, 1, 28, 28 for MNIST): a quarter of the
    /// memory of the normalized floats, and no pass over the data at load time.
    pub pictures: Tensor,
    /// (N,) int64 class indices.
    pub labels: Tensor,
    /// What the pictures are (their normalization, their class names).
    pub dataset: Dataset,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// True when the split holds no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of batches of `batch_size` (the last partial batch counts; 0 for size 0).
    pub fn num_batches(&self, batch_size: usize) -> usize {
        match batch_size {
            0 => 0,
            b => self.len().div_ceil(b),
        }
    }

    /// The example order for one epoch: shuffled by a seeded ChaCha RNG, or 0..N.
    pub fn order(&self, shuffle_seed: Option<u64>) -> Vec<i64> {
        let mut idx: Vec<i64> = (0..self.len() as i64).collect();
        if let Some(seed) = shuffle_seed {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            idx.shuffle(&mut rng);
        }
        idx
    }

    /// All pictures, normalized: (N, C, S, S) float32 ((N, 1, 28, 28) in [-1, 1] for MNIST),
    /// on the split's device.
    pub fn images(&self) -> Result<Tensor> {
        self.dataset.normalize_tensor(&self.pictures)
    }

    /// Pictures `start..start + len`, normalized: (len, C, S, S).
    pub fn images_range(&self, start: usize, len: usize) -> Result<Tensor> {
        let part = self.pictures.f_narrow(0, start as i64, len as i64)?; // (len, C, S, S)
        self.dataset.normalize_tensor(&part)
    }

    /// Picture `i`, normalized: (C, S, S).
    pub fn image(&self, i: usize) -> Result<Tensor> {
        Ok(self.images_range(i, 1)?.f_squeeze_dim(0)?) // (C, S, S)
    }

    /// The split on `device` (the same tensors, not copies, when it is already there).
    pub fn to_device(&self, device: Device) -> Split {
        Split {
            pictures: self.pictures.to_device(device), // (N, C, S, S)
            labels: self.labels.to_device(device),     // (N,)
            dataset: self.dataset,
        }
    }

    /// Gathers the examples at `indices`: normalized images (B, C, S, S) and labels (B,).
    pub fn gather(&self, indices: &[i64]) -> Result<(Tensor, Tensor)> {
        let idx = Tensor::from_slice(indices).f_to_device(self.pictures.device())?; // (B,)
        let pictures = self.pictures.f_index_select(0, &idx)?; // (B, C, S, S) uint8
        Ok((
            self.dataset.normalize_tensor(&pictures)?, // (B, C, S, S) float32
            self.labels.f_index_select(0, &idx)?,      // (B,)
        ))
    }

    /// Batches in order (or shuffled with `shuffle_seed`), last partial batch kept.
    pub fn batches(&self, batch_size: usize, shuffle_seed: Option<u64>) -> Batches<'_> {
        Batches {
            split: self,
            order: self.order(shuffle_seed),
            batch_size,
            pos: 0,
        }
    }

    /// The first `n` examples as a new split (cheap views).
    pub fn take(&self, n: usize) -> Split {
        self.range(0, n.min(self.len()))
    }

    /// Examples `start..start + len` as a new split (cheap views).
    fn range(&self, start: usize, len: usize) -> Split {
        Split {
            pictures: self.pictures.narrow(0, start as i64, len as i64),
            labels: self.labels.narrow(0, start as i64, len as i64),
            dataset: self.dataset,
        }
    }

    /// (training, validation): the first of the pictures before the last `held_out` (at most
    /// `limit`), and those last `held_out`. Refused when none would be left to train on.
    pub fn hold_out(&self, held_out: usize, limit: Option<usize>) -> Result<(Split, Split)> {
        let (n, rest) = (self.len(), self.len().saturating_sub(held_out));
        if rest == 0 {
            return Err(crate::error::Error::Config(format!(
                "a validation split of {held_out} pictures leaves none of the {n} training \
                 pictures to train on"
            )));
        }
        let train = self.range(0, limit.unwrap_or(rest).min(rest));
        Ok((train, self.range(rest, held_out)))
    }

    /// Picture `i` as pixels 0..=255 (channel after channel, row by row).
    pub fn pixels(&self, i: usize) -> Result<Vec<u8>> {
        let picture = self
            .pictures
            .f_get(i as i64)?
            .f_to_device(Device::Cpu)?
            .f_flatten(0, -1)?; // (C * S * S,)
        Ok(Vec::<u8>::try_from(&picture)?)
    }
}

/// The one check of a batch size (training's, evaluation's, a split's batches): at least 1.
pub fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(crate::error::Error::Config(
            "batch size must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Iterator over the `(images, labels)` batches of a split.
pub struct Batches<'a> {
    split: &'a Split,
    order: Vec<i64>,
    batch_size: usize,
    pos: usize,
}

impl Iterator for Batches<'_> {
    /// Normalized images (B, C, S, S) and labels (B,).
    type Item = Result<(Tensor, Tensor)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.order.len() {
            return None;
        }
        if let Err(e) = check_batch_size(self.batch_size) {
            self.pos = self.order.len(); // one error, then the end
            return Some(Err(e));
        }
        let end = (self.pos + self.batch_size).min(self.order.len());
        let batch = self.split.gather(&self.order[self.pos..end]);
        self.pos = end;
        Some(batch)
    }
}

/// A data set's train and test splits.
#[derive(Debug)]
pub struct Data {
    /// Which data set (its class names, its files).
    pub dataset: Dataset,
    pub train: Split,
    /// Held out of the training file ([`super::DataConfig::validation`]): what each epoch is
    /// measured on.
    pub validation: Split,
    pub test: Split,
    /// The four files read, in [`Dataset::files`] order, with their MD5s.
    pub sources: Vec<SourceFile>,
}

impl Data {
    /// The split each epoch is measured on: the validation split, unless there is none.
    pub fn measured(&self) -> Option<&Split> {
        (!self.validation.is_empty()).then_some(&self.validation)
    }

    /// Both splits on `device` (the CPU copies are dropped when they move).
    pub fn to_device(self, device: Device) -> Data {
        Data {
            dataset: self.dataset,
            train: self.train.to_device(device),
            validation: self.validation.to_device(device),
            test: self.test.to_device(device),
            sources: self.sources,
        }
    }
}
