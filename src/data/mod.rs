//! The data: find a data set's four IDX files, validate them, and serve normalized batches.
//! Which data set is a value ([`Dataset`]: MNIST, Fashion-MNIST); everything here takes one.
//!
//! Normalization is the article's `ToTensor()` + `Normalize((0.5,), (0.5,))`:
//! `x = (pixel / 255 - 0.5) / 0.5`, so pixels land in [-1, 1].

pub mod cifar;
mod config;
pub mod dataset;
pub mod download;
mod fetch;
pub mod idx;
pub mod locate;
mod specs;
mod split;

use crate::error::{Error, IdxProblem, Result};
pub use config::{DataConfig, SourceFile, VALIDATION};
use dataset::Files;
pub use dataset::{check_fits, Dataset};
pub use idx::find_file;
use idx::{read_validated, IdxFile};
pub use locate::missing_files;
use locate::{ensure, ensure_files};
pub use split::{check_batch_size, Batches, Data, Split};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// A validated file: where it was, its decompressed bytes and their CRC-32.
struct RawFile {
    path: PathBuf,
    bytes: Vec<u8>,
    crc32: u32,
}

impl RawFile {
    /// The items after the IDX header.
    fn body(&self) -> &[u8] {
        &self.bytes[if self.bytes.get(3) == Some(&3) { 16 } else { 8 }..]
    }
}

/// Reads and validates (images, labels) pairs of files, each file decompressed on its own
/// thread: each pair's counts agree with each other and with the
/// official set, and no file is another data set's file or another of this set's files (by
/// its checksum).
fn read_pairs(dataset: Dataset, dir: &Path, files: &[IdxFile]) -> Result<Vec<RawFile>> {
    let side = dataset.spec().side as usize; // pictures side x side, from the description
    let read = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|f| scope.spawn(move || read_validated(dir, f, side)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect::<Result<Vec<_>>>()
    })?;
    for pair in read.chunks(2) {
        if let [(ipath, _, icount, _), (lpath, _, lcount, _)] = pair {
            if icount != lcount {
                return Err(Error::Idx {
                    path: lpath.clone(),
                    problem: IdxProblem::CountsDisagree {
                        images: *icount,
                        labels: *lcount,
                        other: ipath.clone(),
                    },
                });
            }
        }
    }
    let mut raw = Vec::new();
    for ((path, bytes, count, crc32), f) in read.into_iter().zip(files) {
        if count != f.count {
            return Err(Error::Idx {
                path,
                problem: IdxProblem::BadCount {
                    expected: f.count,
                    found: count,
                },
            });
        }
        if let Some((other, file)) = Dataset::identify_crc32(crc32) {
            if other != dataset || file.name != f.name {
                return Err(Error::WrongDataset {
                    path,
                    expected: format!("{}'s {}", dataset.title(), f.name),
                    found: format!("{}'s {}", other.title(), file.name),
                });
            }
        }
        raw.push(RawFile { path, bytes, crc32 });
    }
    Ok(raw)
}

/// Reads `files` (pairs of images and labels), checks them, and makes each pair a split.
fn read_splits(
    dataset: Dataset,
    dir: &Path,
    files: &[IdxFile],
    limits: &[Option<usize>],
) -> Result<(Vec<Split>, Vec<SourceFile>)> {
    let raw = read_pairs(dataset, dir, files)?;
    let splits = raw
        .chunks(2)
        .zip(limits)
        .map(|(pair, &limit)| make_split(dataset, &pair[0], &pair[1], limit))
        .collect::<Result<Vec<_>>>()?;
    Ok((splits, sources(&raw, files)))
}

fn make_split(
    dataset: Dataset,
    images: &RawFile,
    labels: &RawFile,
    limit: Option<usize>,
) -> Result<Split> {
    let labels = labels.body();
    let n = limit.unwrap_or(labels.len()).min(labels.len());
    let (c, side) = dataset.input();
    Ok(Split {
        pictures: Tensor::from_slice(&images.body()[..n * (c * side * side) as usize])
            .f_view([n as i64, c, side, side])?, // (N, C, S, S) uint8
        labels: Tensor::from_slice(&labels[..n]).to_kind(Kind::Int64),
        dataset,
    })
}

fn sources(raw: &[RawFile], files: &[IdxFile]) -> Vec<SourceFile> {
    raw.iter()
        .zip(files)
        .map(|(r, f)| SourceFile {
            name: f.name.to_string(),
            path: r.path.clone(),
            crc32: format!("{:08x}", r.crc32),
        })
        .collect()
}

impl Data {
    /// Loads MNIST from `$MNIST_DIR` or `data/mnist`, downloading it when missing in a build
    /// with the `download` feature (the command line's; not the notebooks').
    pub fn load_default() -> Result<Self> {
        Self::load(&DataConfig::default())
    }

    /// Loads the data set `cfg` names: every file validated (header, sizes, labels, and not
    /// another data set's file by its checksum), then normalized.
    pub fn load(cfg: &DataConfig) -> Result<Self> {
        let Files::Idx(files) = &cfg.dataset.spec().files else {
            ensure(cfg, || cifar::missing(cfg.dataset, &cfg.dir, true))?;
            return cifar::load(cfg); // CIFAR's binary batches: that format's own reader
        };
        ensure_files(cfg, files)?;
        let (mut splits, sources) =
            read_splits(cfg.dataset, &cfg.dir, files, &[None, cfg.test_limit])?;
        let (test, train_file) = (splits.pop(), splits.pop());
        let (Some(train_file), Some(test)) = (train_file, test) else {
            return Err(Error::Config(format!(
                "{} has no training and test pair",
                cfg.dataset.title()
            )));
        };
        let (train, validation) = train_file.hold_out(cfg.validation, cfg.train_limit)?;
        Ok(Data {
            dataset: cfg.dataset,
            train,
            validation,
            test,
            sources,
        })
    }

    /// Loads only the test split (what evaluation needs), validated like [`Data::load`]. The
    /// training files may be absent.
    pub fn load_test(cfg: &DataConfig) -> Result<(Split, Vec<SourceFile>)> {
        let Files::Idx(files) = &cfg.dataset.spec().files else {
            ensure(cfg, || cifar::missing(cfg.dataset, &cfg.dir, false))?;
            return cifar::load_test(cfg); // CIFAR's binary batches: that format's own reader
        };
        let files = &files[2..]; // the test pair
        ensure_files(cfg, files)?;
        let (mut splits, sources) = read_splits(cfg.dataset, &cfg.dir, files, &[cfg.test_limit])?;
        let split = splits
            .pop()
            .ok_or_else(|| Error::Config(format!("{} has no test pair", cfg.dataset.title())))?;
        Ok((split, sources))
    }
}
