//! Downloads a data set's files from its public mirrors, verifies their MD5 (of the decompressed
//! bytes for IDX files, of the archive for CIFAR-10), and writes each file atomically (temp file + rename): a failed or interrupted download never
//! leaves a partial file under the final name.

use crate::data::idx::find_file;
#[cfg(feature = "download")]
use crate::data::idx::{validate_idx, IdxFile};
use crate::data::Dataset;
use crate::error::Result;
#[cfg(feature = "download")]
use crate::{error::Error, store::fsio};
#[cfg(feature = "download")]
use flate2::read::GzDecoder;
#[cfg(feature = "download")]
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Timeouts and limits for downloads.
#[derive(Debug, Clone)]
pub struct DownloadConfig {
    pub connect_timeout: Duration,
    /// No byte for this long: the server stalled.
    pub read_timeout: Duration,
    /// Largest body accepted (the biggest official file is ~9.9 MB compressed).
    pub max_bytes: u64,
}

impl Default for DownloadConfig {
    fn default() -> Self {
        DownloadConfig {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            max_bytes: 64 << 20,
        }
    }
}

pub use crate::idx::md5_hex;

#[cfg(feature = "download")]
fn agent(cfg: &DownloadConfig) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(cfg.connect_timeout)
        .timeout_read(cfg.read_timeout)
        .redirects(5)
        .build()
}

#[cfg(feature = "download")]
/// The body at `url`, whole (its Content-Length honoured) and at most `cfg.max_bytes`.
pub fn fetch_url(url: &str, cfg: &DownloadConfig) -> Result<Vec<u8>> {
    fetch(&agent(cfg), url, cfg.max_bytes)
}

#[cfg(feature = "download")]
fn fetch(agent: &ureq::Agent, url: &str, max: u64) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Download {
        url: url.into(),
        reason,
    };
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => fail(format!("HTTP {code} {}", r.status_text())),
        ureq::Error::Transport(t) => fail(t.to_string()),
    })?;
    let expected_len: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let mut body = Vec::new();
    resp.into_reader()
        .take(max + 1)
        .read_to_end(&mut body)
        .map_err(|e| fail(format!("connection broke after {} bytes: {e}", body.len())))?;
    if body.len() as u64 > max {
        return Err(fail(format!("body larger than {max} bytes")));
    }
    if let Some(n) = expected_len {
        if n != body.len() as u64 {
            return Err(fail(format!(
                "connection closed after {} of {n} bytes",
                body.len()
            )));
        }
    }
    Ok(body)
}

#[cfg(feature = "download")]
/// Downloads one file from the first mirror that serves correct bytes; writes `<dir>/<name>.gz`.
pub fn download_file(
    dir: &Path,
    file: &IdxFile,
    mirrors: &[String],
    cfg: &DownloadConfig,
) -> Result<PathBuf> {
    let agent = agent(cfg);
    let target = dir.join(format!("{}.gz", file.name));
    let mut errors = Vec::new();
    for mirror in mirrors {
        let url = format!("{}/{}.gz", mirror.trim_end_matches('/'), file.name);
        let result = fetch(&agent, &url, cfg.max_bytes).and_then(|gz| {
            let mut raw = Vec::new();
            GzDecoder::new(&gz[..])
                .take(cfg.max_bytes)
                .read_to_end(&mut raw)
                .map_err(|e| Error::Download {
                    url: url.clone(),
                    reason: format!("not valid gzip data: {e}"),
                })?;
            let actual = md5_hex(&raw);
            if actual != file.md5 {
                return Err(Error::Checksum {
                    path: PathBuf::from(&url),
                    expected: file.md5.into(),
                    actual,
                });
            }
            validate_idx(&target, &raw, file.is_images)?;
            fsio::atomic_write(&target, &gz)
        });
        match result {
            Ok(()) => return Ok(target),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(Error::Download {
        url: file.name.into(),
        reason: if errors.is_empty() {
            "no mirrors configured".into()
        } else {
            errors.join("; ")
        },
    })
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
    if let crate::data::dataset::Files::Cifar(f) = &dataset.spec().files {
        if crate::data::cifar::missing(dataset, dir, true)?.is_empty() {
            return Ok(Vec::new());
        }
        return crate::data::cifar::download_archive(
            dataset,
            dir,
            mirrors,
            f.archive_md5,
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
            written.push(download_file(dir, f, mirrors, cfg)?);
        }
    }
    Ok(written)
}

/// Checks every file of `dataset` present in `dir`: the MD5 of each IDX file (decompressed),
/// or that each CIFAR batch holds whole records with labels 0-9 (the archive's MD5 was checked
/// when it was downloaded). Returns (path, ok) pairs.
pub fn verify(dataset: Dataset, dir: &Path) -> Result<Vec<(PathBuf, bool)>> {
    if let crate::data::dataset::Files::Cifar(_) = &dataset.spec().files {
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
