//! Where a data set's files are: the folder it is looked for in, the mirrors it is fetched
//! from, which files are missing (and the error that says how to get them), and which known
//! file a checksum belongs to. Loading ([`crate::data::Data::load`]) and downloading
//! ([`crate::download`]) both find files here.

use super::config::DataConfig;
use super::dataset::{Dataset, Files};
use super::idx::{find_file, IdxFile};
use crate::error::Result;
use std::path::{Path, PathBuf};

/// Names of `files` missing from `dir`.
pub fn missing_files(dir: &Path, files: &[IdxFile]) -> Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    for f in files {
        if find_file(dir, f.name)?.is_none() {
            missing.push(f.name);
        }
    }
    Ok(missing)
}

/// Downloads the data set when allowed and `missing` finds files absent; fails naming what is
/// still missing. Shared by the IDX and the CIFAR readers.
pub(super) fn ensure(
    cfg: &DataConfig,
    missing: impl Fn() -> Result<Vec<&'static str>>,
) -> Result<()> {
    if missing()?.is_empty() {
        return Ok(());
    }
    #[cfg(feature = "download")]
    let download_error = if cfg.download {
        super::download::download_dataset(cfg.dataset, &cfg.dir, &cfg.mirrors)
            .err()
            .map(|e| e.to_string())
    } else {
        Some("download disabled".into())
    };
    #[cfg(not(feature = "download"))]
    let download_error = Some(
        "this build of vggnet has no downloads (cargo feature `download`; the notebooks' set-up, \
         `make setup-notebooks`, downloads the data sets they use)"
            .to_string(),
    );
    let still = missing()?;
    if still.is_empty() {
        return Ok(());
    }
    Err(cfg.dataset.missing_error(
        &cfg.dir,
        still.iter().map(|s| s.to_string()).collect(),
        download_error,
    ))
}

/// [`ensure`] for IDX files: `wanted` among the data set's four.
pub(super) fn ensure_files(cfg: &DataConfig, wanted: &[IdxFile]) -> Result<()> {
    ensure(cfg, || missing_files(&cfg.dir, wanted))
}

impl Dataset {
    /// The error for files of this data set missing from `dir`, with how to get them.
    pub fn missing_error(
        self,
        dir: &Path,
        missing: Vec<String>,
        download_error: Option<String>,
    ) -> crate::error::Error {
        let spec = self.spec();
        let holding = match &spec.files {
            Files::Idx(_) => "its four IDX files (each with or without .gz)".to_string(),
            Files::Cifar(f) => format!(
                "{} and {} (or their {}/ folder, as the archive unpacks)",
                f.train.join(", "),
                f.test,
                f.folder
            ),
        };
        let flag = match self {
            Dataset::Mnist => String::new(),
            other => format!(" --dataset {other}"),
        };
        crate::error::Error::MissingData {
            title: spec.title,
            dir: dir.to_path_buf(),
            missing,
            fix: format!(
                "run `vggnet download{flag} --dir {}` (needs internet), or set {} to a folder \
                 holding {holding}",
                dir.display(),
                spec.dir_env
            ),
            download_error,
        }
    }

    /// Where it is looked for: `$<DIR_ENV>`, else a system package's folder that holds it,
    /// else `data/<name>` (relative to the working folder).
    pub fn default_dir(self) -> PathBuf {
        let spec = self.spec();
        let system: Vec<&Path> = spec.system_dirs.iter().map(Path::new).collect();
        self.dir_among(std::env::var_os(spec.dir_env), &system)
    }

    /// [`Dataset::default_dir`] given the variable's value and the system folders.
    pub fn dir_among(self, from_env: Option<std::ffi::OsString>, system: &[&Path]) -> PathBuf {
        if let Some(dir) = from_env {
            return PathBuf::from(dir);
        }
        system
            .iter()
            .find(|d| self.holds_all(d))
            .map(|d| d.to_path_buf())
            .unwrap_or_else(|| PathBuf::from(self.spec().default_dir))
    }

    fn holds_all(self, dir: &Path) -> bool {
        self.files()
            .iter()
            .all(|f| matches!(find_file(dir, f.name), Ok(Some(_))))
    }

    /// The mirrors to download from: `$<MIRROR_ENV>` (comma-separated) or the public ones.
    pub fn mirrors(self) -> Vec<String> {
        let spec = self.spec();
        match std::env::var(spec.mirror_env) {
            Ok(list) => list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            Err(_) => spec.mirrors.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The data set and file whose CRC-32 is `crc32`, when it is one of the known files (how
    /// loading tells a file of the other data set: a CRC-32 costs a few milliseconds where an
    /// MD5 of the training images costs a tenth of a second).
    pub fn identify_crc32(crc32: u32) -> Option<(Dataset, &'static IdxFile)> {
        Dataset::ALL
            .iter()
            .find_map(|d| d.files().iter().find(|f| f.crc32 == crc32).map(|f| (*d, f)))
    }

    /// The data set and file whose checksum is `md5`, when it is one of the known files.
    pub fn identify(md5: &str) -> Option<(Dataset, &'static IdxFile)> {
        Dataset::ALL
            .iter()
            .find_map(|d| d.files().iter().find(|f| f.md5 == md5).map(|f| (*d, f)))
    }
}
