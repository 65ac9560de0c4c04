//! Atomic, durable file writes: a temporary file in the target's folder, fsync of the file,
//! rename over the target, then fsync of the folder. A crash or kill at any point leaves
//! either the old file or the new one, never a mix; once a write returns, a power cut keeps
//! the new file (its data and its directory entry are on disk).

use crate::error::{Error, Result};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One durability step, as recorded by [`trace_syncs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// A file's data was flushed to disk (`fsync`).
    File(PathBuf),
    /// A temporary file or folder was renamed to its final name.
    Rename(PathBuf),
    /// A folder was flushed, making the names in it durable (`fsync` on the directory).
    Dir(PathBuf),
}

thread_local! {
    static TRACE: RefCell<Option<Vec<SyncEvent>>> = const { RefCell::new(None) };
}

fn record(event: impl FnOnce() -> SyncEvent) {
    TRACE.with(|t| {
        if let Some(events) = t.borrow_mut().as_mut() {
            events.push(event());
        }
    });
}

/// Runs `f` and returns, with its result, the fsyncs and renames this thread made meanwhile,
/// in order: a way to check (in tests) that every save is durable, not just atomic.
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
    record(|| SyncEvent::Dir(dir.to_path_buf()));
    Ok(())
}

/// Renames `from` to `to` (same folder) and records it for [`trace_syncs`].
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    record(|| SyncEvent::Rename(to.to_path_buf()));
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
    let mut tmp = temp_builder(TEMP_PREFIX, false)
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    // Replacing a file keeps its permissions, as writing into it in place would.
    if let Ok(existing) = std::fs::metadata(path) {
        tmp.as_file()
            .set_permissions(existing.permissions())
            .map_err(|e| Error::io(path, e))?;
    }
    fill(tmp.as_file_mut()).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    record(|| SyncEvent::File(path.to_path_buf()));
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    record(|| SyncEvent::Rename(path.to_path_buf()));
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

/// A temporary-file builder whose files and folders get the permissions that
/// `File::create` / `create_dir` would give (0o666 / 0o777 less the umask) instead of
/// tempfile's owner-only ones, so a saved model is as readable as any other file.
pub fn temp_builder(prefix: &str, folder: bool) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if folder { 0o777 } else { 0o666 };
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = folder;
    builder
}

/// Reads a whole file, mapping errors to `Error::Io` with the path.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}
