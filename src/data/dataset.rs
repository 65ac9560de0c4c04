//! The data sets, each one value: its files with their checksums and counts, where it is looked
//! for, the mirrors it is downloaded from, its normalization and its class names. Loading
//! ([`crate::data`]), downloading ([`crate::download`]), the run record ([`crate::run`]) and the
//! plots take a [`Dataset`]; nothing else names a data set.
//!
//! Adding one in the same IDX format is one more variant here and its [`Spec`].

pub use super::specs::{CifarFiles, Files, Spec};
use crate::data::idx::IdxFile;
use crate::error::{Error, Result};
use crate::model::VggConfig;
use std::path::Path;

/// A data set the crate can load. Its name on the command line and in run records is the
/// kebab-case one (`mnist`, `fashion-mnist`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// Handwritten digits 0-9 (the article's data set).
    #[default]
    Mnist,
    /// Zalando's photos of clothing, the drop-in replacement for MNIST.
    FashionMnist,
    /// Colour photos, 3x32x32, of 10 kinds of object (Krizhevsky's binary version).
    Cifar10,
}

impl Dataset {
    /// Every data set, in the order `--help` lists them.
    pub const ALL: [Dataset; 3] = [Dataset::Mnist, Dataset::FashionMnist, Dataset::Cifar10];

    /// What this data set is.
    pub fn spec(self) -> &'static Spec {
        match self {
            Dataset::Mnist => &super::specs::MNIST,
            Dataset::FashionMnist => &super::specs::FASHION_MNIST,
            Dataset::Cifar10 => &super::specs::CIFAR10,
        }
    }

    /// The network's input for this data set: (channels, side).
    pub fn input(self) -> (i64, i64) {
        (self.spec().channels, self.spec().side)
    }

    /// Its name in text ("Fashion-MNIST").
    pub fn title(self) -> &'static str {
        self.spec().title
    }

    /// Its command-line name ("fashion-mnist").
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Its IDX files: train images, train labels, test images, test labels (none for
    /// CIFAR-10).
    pub fn files(self) -> &'static [IdxFile] {
        match &self.spec().files {
            Files::Idx(files) => files,
            Files::Cifar(_) => &[],
        }
    }

    /// The test pair (images, labels) of IDX files.
    pub fn test_files(self) -> &'static [IdxFile] {
        self.files().get(2..).unwrap_or(&[])
    }

    /// Normalizes raw pixels (N pictures, each channel after channel, row by row) into
    /// (N, C, S, S) float32: `ToTensor()` then `Normalize(mean, std)` per channel. Trailing
    /// bytes short of a whole picture are ignored.
    pub fn normalize(self, pixels: &[u8]) -> crate::error::Result<tch::Tensor> {
        let (c, side) = self.input();
        let n = pixels.len() / (c * side * side) as usize;
        let pictures = tch::Tensor::from_slice(&pixels[..n * (c * side * side) as usize])
            .f_view([n as i64, c, side, side])?; // (N, C, S, S) uint8
        self.normalize_tensor(&pictures)
    }

    /// Normalizes pictures held as bytes, (.., C, S, S) uint8, into float32 on their device:
    /// `(x / 255 - mean) / std` per channel, as `ToTensor()` + `Normalize(mean, std)`.
    pub fn normalize_tensor(self, pictures: &tch::Tensor) -> crate::error::Result<tch::Tensor> {
        let (mean, std) = self.norm_tensors(); // (C, 1, 1)
        let device = pictures.device();
        Ok(pictures
            .f_to_kind(tch::Kind::Float)?
            .f_div_scalar(255.0)? // ToTensor
            .f_sub(&mean.f_to_device(device)?)?
            .f_div(&std.f_to_device(device)?)?)
    }

    /// Undoes [`Dataset::normalize`]: (.., C, S, S) -> pixels 0..=255 in the same order.
    pub fn denormalize(self, images: &tch::Tensor) -> Vec<u8> {
        let (mean, std) = self.norm_tensors();
        let x = ((images.to_device(tch::Device::Cpu) * std + mean) * 255.0)
            .round()
            .clamp(0.0, 255.0)
            .to_kind(tch::Kind::Uint8)
            .flatten(0, -1);
        Vec::<u8>::try_from(&x).unwrap_or_default()
    }

    /// Mean and std as (C, 1, 1) tensors, broadcasting over (.., C, S, S).
    fn norm_tensors(self) -> (tch::Tensor, tch::Tensor) {
        let spec = self.spec();
        let column = |v: &[f64]| {
            let t = tch::Tensor::from_slice(v).to_kind(tch::Kind::Float);
            t.view([spec.channels, 1, 1])
        };
        (column(spec.mean), column(spec.std))
    }

    /// Class names, by label.
    pub fn classes(self) -> &'static [&'static str; 10] {
        &self.spec().classes
    }

    /// The name of class `label` (the label itself when out of range).
    pub fn class_name(self, label: i64) -> String {
        usize::try_from(label)
            .ok()
            .and_then(|i| self.classes().get(i))
            .map(|s| s.to_string())
            .unwrap_or_else(|| label.to_string())
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The one model/data contract, checked wherever a model meets a data set (evaluation,
/// prediction by index, inspection, a run started or resumed, the notebooks' evaluation): the
/// model's classes, the channels and the size of the pictures it takes must be the data set's.
/// A mismatch is one [`Error::ModelDoesNotFit`] naming every difference, and `model_file` when
/// given: "the model in runs/a/model.safetensors has 5 classes but MNIST has 10".
pub fn check_fits(model: &VggConfig, dataset: Dataset, model_file: Option<&Path>) -> Result<()> {
    let (channels, side) = dataset.input();
    let classes = dataset.classes().len() as i64;
    let title = dataset.title();
    let mut differences = Vec::new();
    if model.num_classes != classes {
        differences.push(format!(
            "has {} classes but {title} has {classes}",
            model.num_classes
        ));
    }
    let (c, s) = (model.in_channels, model.image_size);
    if (c, s) != (channels, side) {
        differences.push(format!(
            "takes {c}x{s}x{s} pictures but {title} has {channels}x{side}x{side}"
        ));
    }
    if differences.is_empty() {
        return Ok(());
    }
    let which = match model_file {
        Some(path) => format!("the model in {}", path.display()),
        None => "the model".to_string(),
    };
    Err(Error::ModelDoesNotFit(format!(
        "{which} {}",
        differences.join(", and ")
    )))
}
