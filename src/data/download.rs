//! Downloads a data set's files from its public mirrors, verifies their MD5 (of the decompressed
//! bytes for IDX files, of the archive for CIFAR-10), and writes each file atomically (temp file + rename): a failed or interrupted download never
//! leaves a partial file under the final name.

use crate::data::dataset::{Dataset, Files};
use crate::data::idx::find_file;
#[cfg(feature = "download")]
use crate::data::idx::{validate_idx, IdxFile};
use crate::error::Result;
#[cfg(feature = "download")]
use crate::{error::Error, store::fsio};
#[cfg(feature = "download")]
use flate2::read::GzDecoder;
#[cfg(feature = "download")]
use std::io::Read;
use std::path::{Path, PathBuf};

#[cfg(feature = "download")]
pub use super::fetch::fetch_url;
pub use super::fetch::DownloadConfig;
#[cfg(feature = "download")]
use super::fetch::{agent, fetch, first_mirror};
pub use crate::idx::md5_hex;

#[cfg(feature = "download")]
/// Downloads one file of pictures `side` x `side` (or its labels) from the first mirror that
/// serves correct bytes; writes `<dir>/<name>.gz`.
pub fn download_file(
    dir: &Path,
    file: &IdxFile,
    side: usize,
    mirrors: &[String],
    cfg: &DownloadConfig,
) -> Result<PathBuf> {
    let agent = agent(cfg);
    let target = dir.join(format!("{}.gz", file.name));
    first_mirror(mirrors, &format!("{}.gz", file.name), |url| {
        fetch(&agent, url, cfg.max_bytes).and_then(|gz| {
            let mut raw = Vec::new();
            GzDecoder::new(&gz[..])
                .take(cfg.max_bytes)
                .read_to_end(&mut raw)
                .map_err(|e| Error::Download {
                    url: url.into(),
                    reason: format!("not valid gzip data: {e}"),
                })?;
            let actual = md5_hex(&raw);
            if actual != file.md5 {
                return Err(Error::Checksum {
                    path: PathBuf::from(url),
                    expected: file.md5.into(),
                    actual,
                });
            }
            validate_idx(&target, &raw, file.is_images, side)?;
            fsio::atomic_write(&target, &gz)
        })
    })?;
    Ok(target)
}

#[cfg(feature = "download")]
/// Downloads every file of `dataset` missing from `dir` (existing ones are kept as they are).
pub fn download_dataset(dataset: Dataset, dir: &Path, mirrors: &[String]) -> Result<Vec<PathBuf>> {
    download_with(dataset, dir, mirrors, &DownloadConfig::default())
}

#[cfg(feature = "download")]
/// [`download_dataset`] with explicit timeouts.
pub fn download_with(
    dataset: Dataset,
    dir: &Path,
    mirrors: &[String],
    cfg: &DownloadConfig,
) -> Result<Vec<PathBuf>> {
    if let Files::Cifar(_) = &dataset.spec().files {
        if crate::data::cifar::missing(dataset, dir, true)?.is_empty() {
            return Ok(Vec::new());
        }
        return crate::data::cifar::download_archive(
            dataset,
            dir,
            mirrors,
            &DownloadConfig {
                max_bytes: cfg.max_bytes.max(256 << 20),
                ..cfg.clone()
            },
        );
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    for f in dataset.files() {
        if find_file(dir, f.name)?.is_none() {
            written.push(download_file(
                dir,
                f,
                dataset.spec().side as usize,
                mirrors,
                cfg,
            )?);
        }
    }
    Ok(written)
}

/// Checks every file of `dataset` present in `dir`: the MD5 of each IDX file (decompressed),
/// or that each CIFAR batch holds whole records with labels 0-9 (the archive's MD5 was checked
/// when it was downloaded). Returns (path, ok) pairs.
pub fn verify(dataset: Dataset, dir: &Path) -> Result<Vec<(PathBuf, bool)>> {
    if let Files::Cifar(_) = &dataset.spec().files {
        return crate::data::cifar::check_batches(dataset, dir);
    }
    let mut out = Vec::new();
    for f in dataset.files() {
        if let Some(p) = find_file(dir, f.name)? {
            let bytes = crate::data::idx::read_idx_bytes(&p, 64 << 20)?;
            out.push((p, md5_hex(&bytes) == f.md5));
        }
    }
    Ok(out)
}
