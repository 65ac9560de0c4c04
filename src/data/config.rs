//! How a data set is loaded ([`DataConfig`]) and what a loaded split was read from
//! ([`SourceFile`]).

use super::dataset::Dataset;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// The validation split's default size: 5,000 pictures, 1/12 of MNIST's training file.
pub const VALIDATION: usize = 5_000;

/// How to load a data set. `Default`: MNIST from `$MNIST_DIR` or `data/mnist`, full splits,
/// downloaded if missing (with the `download` feature). [`DataConfig::of`] gives the same for
/// another data set.
#[derive(Debug, Clone)]
pub struct DataConfig {
    pub dataset: Dataset,
    pub dir: PathBuf,
    /// Keep only the first `n` training images (of those not held out for validation).
    pub train_limit: Option<usize>,
    /// Training pictures held out as the validation split: the last `validation` of the
    /// training file, never trained on. A run picks its best epoch on them, and experiments
    /// compare settings on them, so the test split is read once, at the end. 0: none.
    pub validation: usize,
    /// Keep only the first `n` test images.
    pub test_limit: Option<usize>,
    /// Download missing files from the public mirrors.
    pub download: bool,
    /// Mirrors tried in order when downloading.
    pub mirrors: Vec<String>,
}

impl DataConfig {
    /// `dataset` from its default folder, full splits, downloaded if missing.
    pub fn of(dataset: Dataset) -> Self {
        DataConfig {
            dataset,
            dir: dataset.default_dir(),
            train_limit: None,
            validation: VALIDATION,
            test_limit: None,
            download: true,
            mirrors: dataset.mirrors(),
        }
    }
}

impl DataConfig {
    /// Checks the settings of a run or an evaluation without reading anything: a limit
    /// selects at least one picture. (Loading itself takes a limit of 0: a split that is not
    /// needed, e.g. the test split of a training step's check.)
    pub fn validate(&self) -> Result<()> {
        for (what, limit) in [("train", self.train_limit), ("test", self.test_limit)] {
            if limit == Some(0) {
                return Err(Error::Config(format!(
                    "a {what} limit of 0 selects no pictures: give at least 1, or no limit"
                )));
            }
        }
        Ok(())
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig::of(Dataset::Mnist)
    }
}

/// One file a split was read from, with the CRC-32 of its decompressed bytes (recorded with a
/// training run, so a resumed run can tell it is reading the same data).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub name: String,
    pub path: PathBuf,
    /// CRC-32 of the decompressed bytes, 8 hex digits.
    pub crc32: String,
}
