//! MNIST: find the four IDX files, validate them, parse them with the `mnist` crate, and serve
//! normalized batches.
//!
//! Normalization is the article's `ToTensor()` + `Normalize((0.5,), (0.5,))`:
//! `x = (pixel / 255 - 0.5) / 0.5`, so pixels land in [-1, 1].

use crate::download;
use crate::error::{Error, IdxProblem, Result};
use crate::idx::read_validated;
pub use crate::idx::{find_file, missing_files, MnistFile, FILES, SIDE};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Mean and standard deviation of the article's `Normalize((0.5,), (0.5,))`.
pub const NORM_MEAN: f64 = 0.5;
pub const NORM_STD: f64 = 0.5;

/// Where MNIST is looked for: `$MNIST_DIR`, else `data/mnist`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data/mnist"))
}

/// One split of the data set, normalized, on the CPU.
#[derive(Debug)]
pub struct Split {
    /// (N, 1, 28, 28) float32 in [-1, 1].
    pub images: Tensor,
    /// (N,) int64 class indices.
    pub labels: Tensor,
}

/// MNIST train and test splits.
#[derive(Debug)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
    /// The four files read, in [`FILES`] order, with their MD5s.
    pub sources: Vec<SourceFile>,
}

impl Mnist {
    /// Both splits on `device` (the CPU copies are dropped when they move).
    pub fn to_device(self, device: Device) -> Mnist {
        Mnist {
            train: self.train.to_device(device),
            test: self.test.to_device(device),
            sources: self.sources,
        }
    }
}

/// How to load MNIST. `Default`: `$MNIST_DIR` or `data/mnist`, full splits, download if missing.
#[derive(Debug, Clone)]
pub struct DataConfig {
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

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dir: default_dir(),
            train_limit: None,
            test_limit: None,
            download: true,
            mirrors: download::default_mirrors(),
        }
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

fn make_split(pixels: &[u8], labels: &[u8], limit: Option<usize>) -> Split {
    let n = limit.unwrap_or(labels.len()).min(labels.len());
    Split {
        images: normalize_pixels(&pixels[..n * SIDE * SIDE]),
        labels: Tensor::from_slice(&labels[..n]).to_kind(Kind::Int64),
    }
}

/// One file a split was read from, with the MD5 of its decompressed bytes (recorded with a
/// training run, so a resumed run can tell it is reading the same data).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    pub name: String,
    pub path: PathBuf,
    pub md5: String,
}

/// Validated raw files: (path, decompressed bytes, item count).
type RawFile = (PathBuf, Vec<u8>, u32);

/// Downloads missing files when allowed; fails naming what is still missing among `wanted`.
fn ensure_files(cfg: &DataConfig, wanted: &[MnistFile]) -> Result<()> {
    let missing_of = |dir: &Path| -> Result<Vec<&'static str>> {
        let all = missing_files(dir)?;
        Ok(all
            .into_iter()
            .filter(|m| wanted.iter().any(|w| w.name == *m))
            .collect())
    };
    if missing_of(&cfg.dir)?.is_empty() {
        return Ok(());
    }
    let download_error = if cfg.download {
        download::download_mnist(&cfg.dir, &cfg.mirrors)
            .err()
            .map(|e| e.to_string())
    } else {
        Some("download disabled".into())
    };
    let still = missing_of(&cfg.dir)?;
    if still.is_empty() {
        return Ok(());
    }
    Err(Error::MissingData {
        dir: cfg.dir.clone(),
        missing: still.iter().map(|s| s.to_string()).collect(),
        download_error,
    })
}

/// Reads and validates an (images, labels) pair of official files: the counts agree with
/// each other and with the official set.
fn read_pair(dir: &Path, files: &[MnistFile]) -> Result<Vec<RawFile>> {
    let raw = files
        .iter()
        .map(|f| read_validated(dir, f))
        .collect::<Result<Vec<_>>>()?;
    let ((ipath, _, icount), (lpath, _, lcount)) = (&raw[0], &raw[1]);
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
    for ((path, _, count), f) in raw.iter().zip(files) {
        if *count != f.count {
            return Err(Error::Idx {
                path: path.clone(),
                problem: IdxProblem::BadCount {
                    expected: f.count,
                    found: *count,
                },
            });
        }
    }
    Ok(raw)
}

fn sources(raw: &[RawFile], files: &[MnistFile]) -> Vec<SourceFile> {
    raw.iter()
        .zip(files)
        .map(|((path, bytes, _), f)| SourceFile {
            name: f.name.to_string(),
            path: path.clone(),
            md5: crate::idx::md5_hex(bytes),
        })
        .collect()
}

impl Mnist {
    /// Loads MNIST from `$MNIST_DIR` or `data/mnist` (downloading when missing).
    pub fn load_default() -> Result<Self> {
        Self::load(&DataConfig::default())
    }

    /// Loads MNIST as `cfg` says: validate every file, parse with the `mnist` crate, normalize.
    pub fn load(cfg: &DataConfig) -> Result<Self> {
        ensure_files(cfg, &FILES)?;
        let mut raw = read_pair(&cfg.dir, &FILES[..2])?;
        raw.extend(read_pair(&cfg.dir, &FILES[2..])?);
        let parsed = parse_with_mnist_crate(&cfg.dir, &raw)?;
        Ok(Mnist {
            train: make_split(&parsed.trn_img, &parsed.trn_lbl, cfg.train_limit),
            test: make_split(&parsed.tst_img, &parsed.tst_lbl, cfg.test_limit),
            sources: sources(&raw, &FILES),
        })
    }

    /// Loads only the test split (what evaluation needs): the two `t10k` files, validated
    /// like [`Mnist::load`]. The training files may be absent. (The `mnist` crate reads the
    /// four files together, so this takes the body that [`crate::idx::validate_idx`] has
    /// checked: magic, 28x28, length, labels 0-9.)
    pub fn load_test(cfg: &DataConfig) -> Result<(Split, Vec<SourceFile>)> {
        let files = &FILES[2..];
        ensure_files(cfg, files)?;
        let raw = read_pair(&cfg.dir, files)?;
        let split = make_split(&raw[0].1[16..], &raw[1].1[8..], cfg.test_limit);
        Ok((split, sources(&raw, files)))
    }
}

/// Hands the validated files to the `mnist` crate, which reads raw (uncompressed) files by
/// name: compressed ones are written decompressed into a temporary folder first.
fn parse_with_mnist_crate(dir: &Path, raw: &[RawFile]) -> Result<mnist::Mnist> {
    let all_raw = raw
        .iter()
        .all(|(p, _, _)| p.extension() != Some("gz".as_ref()));
    let tmp;
    let base: PathBuf = if all_raw {
        dir.to_path_buf()
    } else {
        tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        for ((_, bytes, _), f) in raw.iter().zip(FILES.iter()) {
            let p = tmp.path().join(f.name);
            std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))?;
        }
        tmp.path().to_path_buf()
    };
    let base_str = base
        .to_str()
        .ok_or_else(|| Error::Config(format!("{}: path is not UTF-8", base.display())))?
        .to_owned();
    // Every check the crate asserts on was done above; the guard only turns a surprise into
    // an error instead of a crash.
    std::panic::catch_unwind(|| {
        mnist::MnistBuilder::new()
            .base_path(&base_str)
            .label_format_digit()
            .training_set_length(FILES[0].count)
            .validation_set_length(0)
            .test_set_length(FILES[2].count)
            .finalize()
    })
    .map_err(|_| {
        Error::Config(format!(
            "{}: the mnist crate rejected the files",
            dir.display()
        ))
    })
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
            images: self.images.to_device(device), // (N, 1, 28, 28)
            labels: self.labels.to_device(device), // (N,)
        }
    }

    /// Gathers the examples at `indices`: images (B, 1, 28, 28) and labels (B,).
    pub fn gather(&self, indices: &[i64]) -> (Tensor, Tensor) {
        let idx = Tensor::from_slice(indices).to_device(self.images.device()); // (B,)
        (
            self.images.index_select(0, &idx), // (B, 1, 28, 28)
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
        }
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
