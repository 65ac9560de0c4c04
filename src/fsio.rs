//! Atomic file writes: a temporary file in the target's folder, fsync, then rename.
//! A crash or kill at any point leaves either the old file or the new one, never a mix.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically (temp file + fsync + rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, |f| f.write_all(bytes))
}

/// Runs `fill` on a temporary file beside `path`, then renames it over `path`.
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
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
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
