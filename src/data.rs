//! MNIST: find the four IDX files, validate them, parse them with the `mnist` crate, and serve
//! normalized batches.
//!
//! Normalization is the article's `ToTensor()` + `Normalize((0.5,), (0.5,))`:
//! `x = (pixel / 255 - 0.5) / 0.5`, so pixels land in [-1, 1].

use crate::download;
use crate::error::{Error, IdxProblem, Result};
use flate2::read::GzDecoder;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::io::Read;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Image side in pixels.
pub const SIDE: usize = 28;
/// Mean and standard deviation of the article's `Normalize((0.5,), (0.5,))`.
pub const NORM_MEAN: f64 = 0.5;
pub const NORM_STD: f64 = 0.5;
const IMAGE_MAGIC: u32 = 0x0000_0803;
const LABEL_MAGIC: u32 = 0x0000_0801;

/// One of the four MNIST files: its name and the MD5 of its decompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MnistFile {
    pub name: &'static str,
    pub md5: &'static str,
    pub count: u32,
    pub is_images: bool,
}

/// The official files, in the order train images, train labels, test images, test labels.
pub const FILES: [MnistFile; 4] = [
    MnistFile {
        name: "train-images-idx3-ubyte",
        md5: "6bbc9ace898e44ae57da46a324031adb",
        count: 60_000,
        is_images: true,
    },
    MnistFile {
        name: "train-labels-idx1-ubyte",
        md5: "a25bea736e30d166cdddb491f175f624",
        count: 60_000,
        is_images: false,
    },
    MnistFile {
        name: "t10k-images-idx3-ubyte",
        md5: "2646ac647ad5339dbf082846283269ea",
        count: 10_000,
        is_images: true,
    },
    MnistFile {
        name: "t10k-labels-idx1-ubyte",
        md5: "27ae3e4e09519cfbb04c329615203637",
        count: 10_000,
        is_images: false,
    },
];

/// Where MNIST is looked for: `$MNIST_DIR`, else `data/mnist`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data/mnist"))
}

/// Finds `name` or `name.gz` in `dir`. `Ok(None)` when neither exists.
pub fn find_file(dir: &Path, name: &str) -> Result<Option<PathBuf>> {
    for candidate in [dir.join(name), dir.join(format!("{name}.gz"))] {
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() => return Ok(Some(candidate)),
            Ok(_) => {
                return Err(Error::Idx {
                    path: candidate,
                    problem: IdxProblem::NotAFile,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(candidate, e)),
        }
    }
    Ok(None)
}

/// Names of the official files missing from `dir`.
pub fn missing_files(dir: &Path) -> Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    for f in FILES {
        if find_file(dir, f.name)?.is_none() {
            missing.push(f.name);
        }
    }
    Ok(missing)
}

/// Reads an IDX file, decompressing it when its name ends in `.gz`. At most `limit` bytes
/// are decompressed (a gzip bomb or a wrong file cannot exhaust memory).
pub fn read_idx_bytes(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::Idx {
            path: path.into(),
            problem: IdxProblem::NotAFile,
        });
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    decode_idx(path, file, gz, limit)
}

/// Reads IDX bytes from `source` (gzip-compressed when `gz`), at most `limit` bytes (plus one,
/// so an oversized file shows as such). `path` only names the source in errors.
pub fn decode_idx(path: &Path, source: impl Read, gz: bool, limit: usize) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let res = if gz {
        GzDecoder::new(source)
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
    } else {
        source.take(limit as u64 + 1).read_to_end(&mut bytes)
    };
    match res {
        Ok(_) => Ok(bytes),
        Err(e) if gz && e.kind() != std::io::ErrorKind::PermissionDenied => Err(Error::Idx {
            path: path.into(),
            problem: IdxProblem::CorruptGzip(e.to_string()),
        }),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks an IDX image or label file held in `bytes` (read from `path`) and returns its
/// item count. Checks: non-empty, full header, magic number, 28x28, body length, labels 0-9.
pub fn validate_idx(path: &Path, bytes: &[u8], is_images: bool) -> Result<u32> {
    let bad = |problem| Error::Idx {
        path: path.into(),
        problem,
    };
    let header = if is_images { 16 } else { 8 };
    if bytes.is_empty() {
        return Err(bad(IdxProblem::Empty));
    }
    if bytes.len() < 4 {
        return Err(bad(IdxProblem::TruncatedHeader {
            needed: header,
            found: bytes.len(),
        }));
    }
    let expected_magic = if is_images { IMAGE_MAGIC } else { LABEL_MAGIC };
    let magic = be_u32(bytes, 0);
    if magic != expected_magic {
        return Err(bad(IdxProblem::BadMagic {
            expected: expected_magic,
            found: magic,
        }));
    }
    if bytes.len() < header {
        return Err(bad(IdxProblem::TruncatedHeader {
            needed: header,
            found: bytes.len(),
        }));
    }
    let count = be_u32(bytes, 4);
    let item = if is_images {
        let (rows, cols) = (be_u32(bytes, 8), be_u32(bytes, 12));
        if rows as usize != SIDE || cols as usize != SIDE {
            return Err(bad(IdxProblem::BadDimensions { rows, cols }));
        }
        SIDE * SIDE
    } else {
        1
    };
    let expected_len = header + count as usize * item;
    if bytes.len() < expected_len {
        return Err(bad(IdxProblem::TruncatedBody {
            expected: expected_len,
            found: bytes.len(),
        }));
    }
    if bytes.len() > expected_len {
        return Err(bad(IdxProblem::TrailingBytes {
            expected: expected_len,
            found: bytes.len(),
        }));
    }
    if !is_images {
        if let Some((index, &value)) = bytes[header..].iter().enumerate().find(|(_, &v)| v > 9) {
            return Err(bad(IdxProblem::BadLabel { index, value }));
        }
    }
    Ok(count)
}

/// Largest plausible size of an official file (decompressed), plus slack for the header.
fn size_limit(f: &MnistFile) -> usize {
    let item = if f.is_images { SIDE * SIDE } else { 1 };
    16 + f.count as usize * item
}

/// Reads and validates one official file from `dir`. Returns its path and decompressed bytes.
fn read_validated(dir: &Path, f: &MnistFile) -> Result<(PathBuf, Vec<u8>, u32)> {
    let path = find_file(dir, f.name)?.ok_or_else(|| Error::MissingData {
        dir: dir.into(),
        missing: vec![f.name.into()],
        download_error: None,
    })?;
    let bytes = read_idx_bytes(&path, size_limit(f))?;
    let count = validate_idx(&path, &bytes, f.is_images)?;
    Ok((path, bytes, count))
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

impl Mnist {
    /// Loads MNIST from `$MNIST_DIR` or `data/mnist` (downloading when missing).
    pub fn load_default() -> Result<Self> {
        Self::load(&DataConfig::default())
    }

    /// Loads MNIST as `cfg` says: validate every file, parse with the `mnist` crate, normalize.
    pub fn load(cfg: &DataConfig) -> Result<Self> {
        let missing = missing_files(&cfg.dir)?;
        if !missing.is_empty() {
            let download_error = if cfg.download {
                download::download_mnist(&cfg.dir, &cfg.mirrors)
                    .err()
                    .map(|e| e.to_string())
            } else {
                Some("download disabled".into())
            };
            let still = missing_files(&cfg.dir)?;
            if !still.is_empty() {
                return Err(Error::MissingData {
                    dir: cfg.dir.clone(),
                    missing: still.iter().map(|s| s.to_string()).collect(),
                    download_error,
                });
            }
        }
        let mut raw = Vec::with_capacity(4);
        for f in &FILES {
            raw.push(read_validated(&cfg.dir, f)?);
        }
        for pair in raw.chunks(2) {
            let ((ipath, _, icount), (lpath, _, lcount)) = (&pair[0], &pair[1]);
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
        for ((path, _, count), f) in raw.iter().zip(FILES.iter()) {
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
        let parsed = parse_with_mnist_crate(&cfg.dir, &raw)?;
        Ok(Mnist {
            train: make_split(&parsed.trn_img, &parsed.trn_lbl, cfg.train_limit),
            test: make_split(&parsed.tst_img, &parsed.tst_lbl, cfg.test_limit),
        })
    }
}

/// Hands the validated files to the `mnist` crate, which reads raw (uncompressed) files by
/// name: compressed ones are written decompressed into a temporary folder first.
fn parse_with_mnist_crate(dir: &Path, raw: &[(PathBuf, Vec<u8>, u32)]) -> Result<mnist::Mnist> {
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

    /// Gathers the examples at `indices`: images (B, 1, 28, 28) and labels (B,).
    pub fn gather(&self, indices: &[i64]) -> (Tensor, Tensor) {
        let idx = Tensor::from_slice(indices);
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

impl Batches<'_> {
    /// Skips the first `n` batches without gathering them (resuming mid-epoch).
    pub fn skip_batches(mut self, n: usize) -> Self {
        self.pos = (n * self.batch_size).min(self.order.len());
        self
    }
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
