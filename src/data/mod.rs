//! The data: find a data set's four IDX files, validate them, and serve normalized batches.
//! Which data set is a value ([`Dataset`]: MNIST, Fashion-MNIST); everything here takes one.
//!
//! Normalization is the article's `ToTensor()` + `Normalize((0.5,), (0.5,))`:
//! `x = (pixel / 255 - 0.5) / 0.5`, so pixels land in [-1, 1].

pub mod cifar;
pub mod dataset;
pub mod download;
pub mod idx;

use crate::error::{Error, IdxProblem, Result};
pub use dataset::Dataset;
pub use idx::{find_file, missing_files, SIDE};
use idx::{read_validated, IdxFile};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// MNIST's four files (train images, train labels, test images, test labels).
pub const FILES: [IdxFile; 4] = dataset::MNIST_FILES;

/// Mean and standard deviation of the article's `Normalize((0.5,), (0.5,))`, which every data
/// set here uses ([`dataset::Spec::mean`]).
pub const NORM_MEAN: f64 = 0.5;
pub const NORM_STD: f64 = 0.5;

/// Where MNIST is looked for: `$MNIST_DIR`, else `data/mnist` ([`Dataset::default_dir`]).
pub fn default_dir() -> PathBuf {
    Dataset::Mnist.default_dir()
}

/// One split of a data set, normalized, on the CPU.
#[derive(Debug)]
pub struct Split {
    /// (N, C, S, S) float32, normalized: (N, 1, 28, 28) in [-1, 1] for MNIST.
    pub images: Tensor,
    /// (N,) int64 class indices.
    pub labels: Tensor,
    /// What the pictures are (their normalization, their class names).
    pub dataset: Dataset,
}

/// A data set's train and test splits.
#[derive(Debug)]
pub struct Data {
    /// Which data set (its class names, its files).
    pub dataset: Dataset,
    pub train: Split,
    pub test: Split,
    /// The four files read, in [`Dataset::files`] order, with their MD5s.
    pub sources: Vec<SourceFile>,
}

/// The name the walkthrough uses: MNIST is the default [`Data`].
pub type Mnist = Data;

impl Data {
    /// Both splits on `device` (the CPU copies are dropped when they move).
    pub fn to_device(self, device: Device) -> Data {
        Data {
            dataset: self.dataset,
            train: self.train.to_device(device),
            test: self.test.to_device(device),
            sources: self.sources,
        }
    }
}

/// How to load a data set. `Default`: MNIST from `$MNIST_DIR` or `data/mnist`, full splits,
/// downloaded if missing. [`DataConfig::of`] gives the same for another data set.
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

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig::of(Dataset::Mnist)
    }
}

/// Turns raw pixel bytes (N * 28 * 28) into the normalized (N, 1, 28, 28) tensor.
pub fn normalize_pixels(pixels: &[u8]) -> Tensor {
    let n = (pixels.len() / (SIDE * SIDE)) as i64;
    let x = Tensor::from_slice(pixels).to_kind(Kind::Float) / 255.0; // ToTensor
    ((x - NORM_MEAN) / NORM_STD).view([n, 1, SIDE as i64, SIDE as i64]) // (N, 1, 28, 28)
}

/// Undoes the normalization: (.., 28, 28) in [-1, 1] -> pixels 0..=255.
pub fn denormalize_to_pixels(images: &Tensor) -> Vec<u8> {
    let x = ((images.to_device(Device::Cpu) * NORM_STD + NORM_MEAN) * 255.0)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .flatten(0, -1);
    Vec::<u8>::try_from(&x).unwrap_or_default()
}

/// One file a split was read from, with the MD5 of its decompressed bytes (recorded with a
/// training run, so a resumed run can tell it is reading the same data).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    pub name: String,
    pub path: PathBuf,
    pub md5: String,
}

/// A validated file: where it was, its decompressed bytes and its MD5.
struct RawFile {
    path: PathBuf,
    bytes: Vec<u8>,
    md5: String,
}

impl RawFile {
    /// The items after the IDX header.
    fn body(&self) -> &[u8] {
        &self.bytes[if self.bytes.get(3) == Some(&3) { 16 } else { 8 }..]
    }
}

/// Downloads the data set when allowed and `missing` finds files absent; fails naming what is
/// still missing. Shared by the IDX and the CIFAR readers.
pub(crate) fn ensure(
    cfg: &DataConfig,
    missing: impl Fn() -> Result<Vec<&'static str>>,
) -> Result<()> {
    if missing()?.is_empty() {
        return Ok(());
    }
    let download_error = if cfg.download {
        download::download_dataset(cfg.dataset, &cfg.dir, &cfg.mirrors)
            .err()
            .map(|e| e.to_string())
    } else {
        Some("download disabled".into())
    };
    let still = missing()?;
    if still.is_empty() {
        return Ok(());
    }
    Err(Error::MissingData {
        dataset: cfg.dataset,
        dir: cfg.dir.clone(),
        missing: still.iter().map(|s| s.to_string()).collect(),
        download_error,
    })
}

/// [`ensure`] for IDX files: `wanted` among the data set's four.
fn ensure_files(cfg: &DataConfig, wanted: &[IdxFile]) -> Result<()> {
    ensure(cfg, || missing_files(&cfg.dir, wanted))
}

/// Reads and validates an (images, labels) pair of `dataset`'s files: the counts agree with
/// each other and with the official set, and neither file is another data set's (by its
/// checksum).
fn read_pair(dataset: Dataset, dir: &Path, files: &[IdxFile]) -> Result<Vec<RawFile>> {
    let read = files
        .iter()
        .map(|f| read_validated(dir, f))
        .collect::<Result<Vec<_>>>()?;
    let ((ipath, _, icount), (lpath, _, lcount)) = (&read[0], &read[1]);
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
    let mut raw = Vec::new();
    for ((path, bytes, count), f) in read.into_iter().zip(files) {
        if count != f.count {
            return Err(Error::Idx {
                path,
                problem: IdxProblem::BadCount {
                    expected: f.count,
                    found: count,
                },
            });
        }
        let md5 = idx::md5_hex(&bytes);
        if let Some((other, file)) = Dataset::identify(&md5) {
            if other != dataset || file.name != f.name {
                return Err(Error::WrongDataset {
                    path,
                    expected: format!("{}'s {}", dataset.title(), f.name),
                    found: format!("{}'s {}", other.title(), file.name),
                });
            }
        }
        raw.push(RawFile { path, bytes, md5 });
    }
    Ok(raw)
}

fn make_split(dataset: Dataset, images: &RawFile, labels: &RawFile, limit: Option<usize>) -> Split {
    let labels = labels.body();
    let n = limit.unwrap_or(labels.len()).min(labels.len());
    Split {
        images: normalize_pixels(&images.body()[..n * SIDE * SIDE]),
        labels: Tensor::from_slice(&labels[..n]).to_kind(Kind::Int64),
        dataset,
    }
}

fn sources(raw: &[RawFile], files: &[IdxFile]) -> Vec<SourceFile> {
    raw.iter()
        .zip(files)
        .map(|(r, f)| SourceFile {
            name: f.name.to_string(),
            path: r.path.clone(),
            md5: r.md5.clone(),
        })
        .collect()
}

impl Data {
    /// Loads MNIST from `$MNIST_DIR` or `data/mnist` (downloading when missing).
    pub fn load_default() -> Result<Self> {
        Self::load(&DataConfig::default())
    }

    /// Loads the data set `cfg` names: every file validated (header, sizes, labels, and not
    /// another data set's file by its checksum), then normalized.
    pub fn load(cfg: &DataConfig) -> Result<Self> {
        if cfg.dataset == Dataset::Cifar10 {
            return cifar::load(cfg);
        }
        let files = cfg.dataset.files();
        ensure_files(cfg, files)?;
        let train = read_pair(cfg.dataset, &cfg.dir, cfg.dataset.train_files())?;
        let test = read_pair(cfg.dataset, &cfg.dir, cfg.dataset.test_files())?;
        let mut data = Data {
            dataset: cfg.dataset,
            train: make_split(cfg.dataset, &train[0], &train[1], cfg.train_limit),
            test: make_split(cfg.dataset, &test[0], &test[1], cfg.test_limit),
            sources: sources(&train, &files[..2]),
        };
        data.sources.extend(sources(&test, &files[2..]));
        Ok(data)
    }

    /// Loads only the test split (what evaluation needs), validated like [`Data::load`]. The
    /// training files may be absent.
    pub fn load_test(cfg: &DataConfig) -> Result<(Split, Vec<SourceFile>)> {
        if cfg.dataset == Dataset::Cifar10 {
            return cifar::load_test(cfg);
        }
        let files = cfg.dataset.test_files();
        ensure_files(cfg, files)?;
        let raw = read_pair(cfg.dataset, &cfg.dir, files)?;
        let split = make_split(cfg.dataset, &raw[0], &raw[1], cfg.test_limit);
        Ok((split, sources(&raw, files)))
    }
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

    /// Number of batches of `batch_size` (the last partial batch counts).
    pub fn num_batches(&self, batch_size: usize) -> usize {
        self.len().div_ceil(batch_size.max(1))
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

    /// The split on `device` (the same tensors, not copies, when it is already there).
    pub fn to_device(&self, device: Device) -> Split {
        Split {
            images: self.images.to_device(device), // (N, C, S, S)
            labels: self.labels.to_device(device), // (N,)
            dataset: self.dataset,
        }
    }

    /// Gathers the examples at `indices`: images (B, C, S, S) and labels (B,).
    pub fn gather(&self, indices: &[i64]) -> (Tensor, Tensor) {
        let idx = Tensor::from_slice(indices).to_device(self.images.device()); // (B,)
        (
            self.images.index_select(0, &idx), // (B, C, S, S)
            self.labels.index_select(0, &idx), // (B,)
        )
    }

    /// Batches in order (or shuffled with `shuffle_seed`), last partial batch kept.
    pub fn batches(&self, batch_size: usize, shuffle_seed: Option<u64>) -> Batches<'_> {
        Batches {
            split: self,
            order: self.order(shuffle_seed),
            batch_size: batch_size.max(1),
            pos: 0,
        }
    }

    /// The first `n` examples as a new split (cheap views).
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.len()) as i64;
        Split {
            images: self.images.narrow(0, 0, n),
            labels: self.labels.narrow(0, 0, n),
            dataset: self.dataset,
        }
    }

    /// Picture `i` as pixels 0..=255 (channel after channel, row by row).
    pub fn pixels(&self, i: usize) -> Vec<u8> {
        self.dataset.denormalize(&self.images.get(i as i64))
    }
}

/// Iterator over `(images, labels)` batches of a split.
pub struct Batches<'a> {
    split: &'a Split,
    order: Vec<i64>,
    batch_size: usize,
    pos: usize,
}

impl Iterator for Batches<'_> {
    type Item = (Tensor, Tensor);
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + self.batch_size).min(self.order.len());
        let batch = self.split.gather(&self.order[self.pos..end]);
        self.pos = end;
        Some(batch)
    }
}
