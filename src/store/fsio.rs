//! Atomic, durable file writes: a temporary file in the target's folder, fsync of the file,
//! rename over the target, then fsync of the folder. A crash or kill at any point leaves
//! either the old file or the new one, never a mix; once a write returns, a power cut keeps
//! the new file (its data and its directory entry are on disk).

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One durability step, as recorded by [`trace_syncs`] (cargo feature `trace-syncs`, which only
/// the tests turn on: Cargo.toml's dev-dependency on the crate itself).
#[cfg(feature = "trace-syncs")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// A file's data was flushed to disk (`fsync`).
    File(PathBuf),
    /// A temporary file or folder was renamed to its final name.
    Rename(PathBuf),
    /// A folder was flushed, making the names in it durable (`fsync` on the directory).
    Dir(PathBuf),
}

#[cfg(feature = "trace-syncs")]
thread_local! {
    static TRACE: std::cell::RefCell<Option<Vec<SyncEvent>>> = const { std::cell::RefCell::new(None) };
}

/// Records a durability step for [`trace_syncs`]; nothing without the `trace-syncs` feature.
macro_rules! record {
    ($kind:ident, $path:expr) => {
        #[cfg(feature = "trace-syncs")]
        TRACE.with(|t| {
            if let Some(events) = t.borrow_mut().as_mut() {
                events.push(SyncEvent::$kind($path.to_path_buf()));
            }
        });
    };
}

/// Runs `f` and returns, with its result, the fsyncs and renames this thread made meanwhile,
/// in order: how tests/checkpoint.rs checks that every save is durable, not just atomic.
#[cfg(feature = "trace-syncs")]
pub fn trace_syncs<T>(f: impl FnOnce() -> T) -> (T, Vec<SyncEvent>) {
    let outer = TRACE.with(|t| t.borrow_mut().replace(Vec::new()));
    let value = f();
    let events = TRACE.with(|t| std::mem::replace(&mut *t.borrow_mut(), outer));
    (value, events.unwrap_or_default())
}

/// Flushes a folder's entries to disk (after a rename or a new file in it).
pub fn sync_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    record!(Dir, dir);
    Ok(())
}

/// Renames `from` to `to` (same folder) and records it for [`trace_syncs`].
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    record!(Rename, to);
    Ok(())
}

/// Writes `bytes` to `path` atomically and durably (temp file, fsync, rename, fsync of the folder).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, |f| f.write_all(bytes))
}

/// Runs `fill` on a temporary file beside `path`, then renames it over `path` (durably).
pub fn atomic_write_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (tmp, mut file) = Temp::file_in(dir, TEMP_PREFIX)?;
    // Replacing a file keeps its permissions, as writing into it in place would.
    if let Ok(existing) = std::fs::metadata(path) {
        file.set_permissions(existing.permissions())
            .map_err(|e| Error::io(path, e))?;
    }
    fill(&mut file).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    record!(File, path);
    drop(file);
    rename(tmp.path(), path)?;
    tmp.keep();
    sync_dir(dir)
}

/// The name prefix of [`atomic_write`]'s temporary files.
pub const TEMP_PREFIX: &str = ".vggnet-tmp-";

/// Removes what killed writers left in `dir`: entries (files or folders) whose name starts
/// with `prefix`, e.g. [`TEMP_PREFIX`]. Only for folders no other process is writing into.
/// Returns how many were removed.
pub fn remove_leftovers(dir: &Path, prefix: &str) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir();
        let gone = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        gone.map_err(|e| Error::io(&path, e))?;
        removed += 1;
    }
    Ok(removed)
}

/// Writes `value` as pretty-printed JSON to `path`, atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::io(path, e.into()))?;
    atomic_write(path, &bytes)
}

/// A file or folder with a fresh name in a given folder, removed again when dropped unless
/// [`Temp::keep`] was called: the staging place of an atomic write. It gets the permissions
/// that `File::create` / `create_dir` would give (0o666 / 0o777 less the umask), so a saved
/// model is as readable as any other file.
#[derive(Debug)]
pub struct Temp {
    path: PathBuf,
    folder: bool,
    kept: bool,
}

impl Temp {
    /// A new, empty file `dir/PREFIX<unique>`, open for writing.
    pub fn file_in(dir: &Path, prefix: &str) -> Result<(Temp, std::fs::File)> {
        Self::create(dir, prefix, false, |path| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
            options.open(path)
        })
    }

    /// A new, empty folder `dir/PREFIX<unique>`.
    pub fn folder_in(dir: &Path, prefix: &str) -> Result<Temp> {
        let (temp, ()) = Self::create(dir, prefix, true, |path| {
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o777);
            builder.create(path)
        })?;
        Ok(temp)
    }

    /// Tries fresh names (process id, a counter and the clock) until `make` creates one that
    /// did not exist.
    fn create<T>(
        dir: &Path,
        prefix: &str,
        folder: bool,
        make: impl Fn(&Path) -> std::io::Result<T>,
    ) -> Result<(Temp, T)> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut last = None;
        for _ in 0..100 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{prefix}{}-{n}-{nanos:08x}", std::process::id()));
            match make(&path) {
                Ok(made) => {
                    let temp = Temp {
                        path,
                        folder,
                        kept: false,
                    };
                    return Ok((temp, made));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(Error::io(dir, e)),
            }
        }
        let e = last.unwrap_or_else(|| std::io::Error::other("no free temporary name"));
        Err(Error::io(dir, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the file or folder (renamed or to be renamed by the caller) and returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.kept = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let _ = if self.folder {
            std::fs::remove_dir_all(&self.path)
        } else {
            std::fs::remove_file(&self.path)
        };
    }
}

/// Reads a whole file, mapping errors to `Error::Io` with the path.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary file or folder gets a name of its own, is gone when dropped (a folder with
    /// what is in it), and stays when kept.
    #[test]
    fn a_temporary_is_removed_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = Temp::file_in(dir.path(), TEMP_PREFIX).unwrap();
        let (b, _) = Temp::file_in(dir.path(), TEMP_PREFIX).unwrap();
        assert_ne!(a.path(), b.path());
        let a_path = a.path().to_path_buf();
        drop(a);
        assert!(!a_path.exists(), "dropped");
        assert!(b.keep().is_file(), "kept");
        let folder = Temp::folder_in(dir.path(), ".staging-").unwrap();
        std::fs::write(folder.path().join("x"), b"x").unwrap();
        let folder_path = folder.path().to_path_buf();
        drop(folder);
        assert!(
            !folder_path.exists(),
            "a dropped folder goes with its files"
        );
        assert_eq!(
            remove_leftovers(dir.path(), TEMP_PREFIX).unwrap(),
            1,
            "only the kept file is left"
        );
    }
}
