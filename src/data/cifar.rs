//! CIFAR-10's binary version: five training batches and one test batch, each a run of
//! 3,073-byte records (a label byte 0-9, then 1,024 red, 1,024 green and 1,024 blue bytes,
//! row by row), shipped in one archive, `cifar-10-binary.tar.gz`, whose MD5 is published.
//!
//! The batches are looked for in the data folder or in its `cifar-10-batches-bin/` (where the
//! archive unpacks). A batch must hold whole records (10,000 in the official files; a smaller
//! batch in the same format is read too) with labels 0-9.

use super::config::{DataConfig, SourceFile};
use super::dataset::{Dataset, Files};
pub use super::specs::CifarFiles;
use super::split::{Data, Split};
use crate::error::{Error, Result};
use crate::store::fsio;
#[cfg(feature = "download")]
use std::io::Read;
use std::path::{Path, PathBuf};

/// Channels and side of a picture, from the data set's description (3 and 32).
const CHANNELS: i64 = super::specs::CIFAR10.channels;
const SIDE: i64 = super::specs::CIFAR10.side;
/// Bytes of one picture (3 x 32 x 32: a red, a green and a blue plane).
pub const PICTURE: usize = (CHANNELS * SIDE * SIDE) as usize;
/// Bytes of one record: the label, then the picture.
pub const RECORD: usize = 1 + PICTURE;
/// Records in an official batch.
pub const PER_BATCH: usize = 10_000;

fn files(dataset: Dataset) -> Result<&'static CifarFiles> {
    match &dataset.spec().files {
        Files::Cifar(f) => Ok(f),
        _ => Err(Error::Config(format!(
            "{} is not a CIFAR data set",
            dataset.title()
        ))),
    }
}

/// Where the batch `name` is: `dir/name` or `dir/<folder>/name`.
fn find(dir: &Path, folder: &str, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(folder).join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Names of the batches missing from `dir` among the training ones (when `train`) and the
/// test one.
pub fn missing(dataset: Dataset, dir: &Path, train: bool) -> Result<Vec<&'static str>> {
    let f = files(dataset)?;
    let wanted = f
        .train
        .iter()
        .filter(|_| train)
        .chain(std::iter::once(&f.test));
    Ok(wanted
        .filter(|name| find(dir, f.folder, name).is_none())
        .copied()
        .collect())
}

/// Each batch present in `dir`, with whether it parses ([`parse_batch`]).
pub fn check_batches(dataset: Dataset, dir: &Path) -> Result<Vec<(PathBuf, bool)>> {
    let f = files(dataset)?;
    let mut out = Vec::new();
    for name in f.train.iter().chain([&f.test]) {
        if let Some(path) = find(dir, f.folder, name) {
            let ok = parse_batch(&path, &fsio::read(&path)?).is_ok();
            out.push((path, ok));
        }
    }
    Ok(out)
}

/// One batch, checked: whole records, labels 0-9. Returns (labels, pixels).
pub fn parse_batch(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let bad = |problem: String| Error::Cifar {
        path: path.to_path_buf(),
        problem,
    };
    if bytes.is_empty() {
        return Err(bad("file is empty".into()));
    }
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(bad(format!(
            "{} bytes is not a whole number of {RECORD}-byte records (1 label byte + \
             {CHANNELS}x{SIDE}x{SIDE} pixels): record {} is cut after {} bytes (an official \
             batch holds {} records, {} bytes)",
            bytes.len(),
            bytes.len() / RECORD + 1,
            bytes.len() % RECORD,
            PER_BATCH,
            PER_BATCH * RECORD
        )));
    }
    let n = bytes.len() / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * PICTURE);
    for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
        if record[0] > 9 {
            return Err(bad(format!(
                "label {} of record {i} is outside 0-9 (not a CIFAR-10 batch)",
                record[0]
            )));
        }
        labels.push(record[0]);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok((labels, pixels))
}

/// Reads the batches `names` into one split (the first `limit` pictures).
fn read_split(
    dataset: Dataset,
    dir: &Path,
    names: &[&str],
    limit: Option<usize>,
    sources: &mut Vec<SourceFile>,
) -> Result<Split> {
    let f = files(dataset)?;
    let (mut labels, mut pixels) = (Vec::new(), Vec::new());
    for name in names {
        let path = find(dir, f.folder, name)
            .ok_or_else(|| dataset.missing_error(dir, vec![name.to_string()], None))?;
        let bytes = fsio::read(&path)?;
        let (l, p) = parse_batch(&path, &bytes)?;
        sources.push(SourceFile {
            name: name.to_string(),
            path,
            crc32: format!("{:08x}", crc32fast::hash(&bytes)),
        });
        labels.extend(l);
        pixels.extend(p);
    }
    let n = limit.unwrap_or(labels.len()).min(labels.len());
    Ok(Split {
        pictures: tch::Tensor::from_slice(&pixels[..n * PICTURE])
            .f_view([n as i64, CHANNELS, SIDE, SIDE])?, // (N, 3, 32, 32) uint8
        labels: tch::Tensor::from_slice(&labels[..n]).to_kind(tch::Kind::Int64), // (N,)
        dataset,
    })
}

/// Loads both splits (the batches present: [`crate::data::Data::load`] downloads missing ones first).
pub fn load(cfg: &DataConfig) -> Result<Data> {
    let f = files(cfg.dataset)?;
    let mut sources = Vec::new();
    let train_file = read_split(cfg.dataset, &cfg.dir, f.train, None, &mut sources)?;
    let (train, validation) = train_file.hold_out(cfg.validation, cfg.train_limit)?;
    let test = read_split(
        cfg.dataset,
        &cfg.dir,
        &[f.test],
        cfg.test_limit,
        &mut sources,
    )?;
    Ok(Data {
        dataset: cfg.dataset,
        train,
        validation,
        test,
        sources,
    })
}

/// Loads the test split only (the training batches may be absent).
pub fn load_test(cfg: &DataConfig) -> Result<(Split, Vec<SourceFile>)> {
    let f = files(cfg.dataset)?;
    let mut sources = Vec::new();
    let test = read_split(
        cfg.dataset,
        &cfg.dir,
        &[f.test],
        cfg.test_limit,
        &mut sources,
    )?;
    Ok((test, sources))
}

#[cfg(feature = "download")]
/// Downloads the archive from the first mirror that serves it with its published MD5
/// ([`CifarFiles::archive_md5`]) and unpacks the six batches into `dir/<folder>/`, each checked
/// and written atomically.
pub fn download_archive(
    dataset: Dataset,
    dir: &Path,
    mirrors: &[String],
    cfg: &super::fetch::DownloadConfig,
) -> Result<Vec<PathBuf>> {
    let md5 = files(dataset)?.archive_md5;
    download_checked(dataset, dir, mirrors, md5, cfg)
}

#[cfg(all(feature = "download", feature = "stand-in-archives"))]
/// Test-only (cargo feature `stand-in-archives`): [`download_archive`] accepting the MD5 `md5`
/// in place of the published one, for a test's stand-in archive.
pub fn download_stand_in(
    dataset: Dataset,
    dir: &Path,
    mirrors: &[String],
    md5: &str,
    cfg: &super::fetch::DownloadConfig,
) -> Result<Vec<PathBuf>> {
    download_checked(dataset, dir, mirrors, md5, cfg)
}

#[cfg(feature = "download")]
fn download_checked(
    dataset: Dataset,
    dir: &Path,
    mirrors: &[String],
    md5: &str,
    cfg: &super::fetch::DownloadConfig,
) -> Result<Vec<PathBuf>> {
    let f = files(dataset)?;
    super::fetch::first_mirror(mirrors, f.archive, |url| {
        super::fetch::fetch_url(url, cfg).and_then(|bytes| {
            let actual = crate::data::idx::md5_hex(&bytes);
            if actual != md5 {
                return Err(Error::Checksum {
                    path: PathBuf::from(url),
                    expected: md5.into(),
                    actual,
                });
            }
            unpack(f, &bytes, url, &dir.join(f.folder))
        })
    })
}

#[cfg(feature = "download")]
/// Takes the batches out of the gzipped tar `archive`; every one is checked before any is
/// written, so a bad archive leaves nothing behind.
fn unpack(f: &CifarFiles, archive: &[u8], url: &str, out: &Path) -> Result<Vec<PathBuf>> {
    let broken = |reason: String| Error::Download {
        url: url.into(),
        reason,
    };
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let wanted: Vec<&str> = f.train.iter().copied().chain([f.test]).collect();
    let mut found: Vec<(&str, Vec<u8>)> = Vec::new();
    for entry in tar
        .entries()
        .map_err(|e| broken(format!("not a tar.gz archive: {e}")))?
    {
        let mut entry = entry.map_err(|e| broken(format!("broken archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| broken(format!("broken archive: {e}")))?
            .to_path_buf();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(w) = wanted.iter().find(|w| **w == name) {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| broken(format!("broken archive at {name}: {e}")))?;
            parse_batch(&PathBuf::from(format!("{url}:{name}")), &bytes)?;
            found.push((w, bytes));
        }
    }
    let absent: Vec<&str> = wanted
        .iter()
        .filter(|w| !found.iter().any(|(n, _)| n == *w))
        .copied()
        .collect();
    if !absent.is_empty() {
        return Err(broken(format!("the archive lacks {}", absent.join(", "))));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut written = Vec::new();
    for (name, bytes) in found {
        let path = out.join(name);
        fsio::atomic_write(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}
