//! How a data set is loaded ([`DataConfig`]) and what a loaded split was read from
//! ([`SourceFile`]).

use super::dataset::Dataset;
use super::idx;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// How to load a data set. `Default`: MNIST from `$MNIST_DIR` or `data/mnist`, full splits,
/// downloaded if missing (with the `download` feature). [`DataConfig::of`] gives the same for
/// another data set.
#[derive(Debug, Clone)]
pub struct DataConfig {
    pub dataset: Dataset,
    pub dir: PathBuf,
    /// Keep only the first `n` training images.
    pub train_limit: Option<usize>,
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
pub struct SourceFile {
    pub name: String,
    pub path: PathBuf,
    /// CRC-32 of the decompressed bytes, 8 hex digits.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub crc32: String,
    /// MD5 of the decompressed bytes: what runs saved before loading checked CRC-32s
    /// recorded (a resume of such a run computes it again to compare).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub md5: String,
}

impl SourceFile {
    /// Whether `self` (read now) holds the same bytes as `saved` (recorded with a run): by
    /// CRC-32, or by MD5 for a record that has only that, read again from `self.path`.
    /// Returns the checksum kind and the two values when they differ.
    pub fn differs_from(
        &self,
        saved: &SourceFile,
    ) -> Result<Option<(&'static str, String, String)>> {
        if !saved.crc32.is_empty() || saved.md5.is_empty() {
            return Ok((self.crc32 != saved.crc32)
                .then(|| ("CRC-32", self.crc32.clone(), saved.crc32.clone())));
        }
        let now = idx::md5_hex(&idx::read_idx_bytes(&self.path, 1 << 30)?);
        Ok((now != saved.md5).then(|| ("MD5", now, saved.md5.clone())))
    }
}
