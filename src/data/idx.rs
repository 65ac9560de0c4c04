//! The IDX format (MNIST's and Fashion-MNIST's): where a file is, how it is read (plain or
//! gzipped, with a size cap) and every check made before its bytes are used. Both
//! [`crate::data`] (loading) and [`crate::download`] (verifying what arrives) use this module.

use crate::error::{Error, IdxProblem, Result};
use flate2::bufread::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// MD5 of `bytes` as lowercase hex (the official checksums are of the decompressed files).
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const IMAGE_MAGIC: u32 = 0x0000_0803;
const LABEL_MAGIC: u32 = 0x0000_0801;

/// One IDX file of a data set: its name and the MD5 of its decompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdxFile {
    pub name: &'static str,
    /// The published checksum (downloads are verified against it).
    pub md5: &'static str,
    /// CRC-32 of the same bytes: what loading checks, in milliseconds.
    pub crc32: u32,
    pub count: u32,
    pub is_images: bool,
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

/// Reads an IDX file, decompressing it when its name ends in `.gz`. At most `limit` bytes
/// are decompressed (a gzip bomb or a wrong file cannot exhaust memory).
pub fn read_idx_bytes(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let (file, gz) = open_idx(path)?;
    decode_idx(path, file, gz, limit)
}

/// Opens an IDX file (which must be a regular file) and says whether it is gzipped.
fn open_idx(path: &Path) -> Result<(std::fs::File, bool)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::Idx {
            path: path.into(),
            problem: IdxProblem::NotAFile,
        });
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Ok((file, path.extension().is_some_and(|e| e == "gz")))
}

/// A read error of an IDX file: a damaged gzip stream, or the file system's error.
fn read_error(path: &Path, gz: bool, e: std::io::Error) -> Error {
    if gz && e.kind() != std::io::ErrorKind::PermissionDenied {
        Error::Idx {
            path: path.into(),
            problem: IdxProblem::CorruptGzip(e.to_string()),
        }
    } else {
        Error::io(path, e)
    }
}

/// Reads IDX bytes from `source` (gzip-compressed when `gz`), at most `limit` bytes (plus one,
/// so an oversized file shows as such). `path` only names the source in errors. The buffer is
/// sized for `limit` up front: the official files are read without a reallocation.
pub fn decode_idx(path: &Path, source: impl Read, gz: bool, limit: usize) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(limit.saturating_add(1).min(MAX_PREALLOCATION));
    let res = if gz {
        // A 256 KiB input buffer: fewer, larger reads than the default 32 KiB.
        GzDecoder::new(std::io::BufReader::with_capacity(1 << 18, source))
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
    } else {
        source.take(limit as u64 + 1).read_to_end(&mut bytes)
    };
    res.map(|_| bytes).map_err(|e| read_error(path, gz, e))
}

/// The most the readers reserve before reading (MNIST's largest file is 47 MB).
const MAX_PREALLOCATION: usize = 256 << 20;

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks an IDX image or label file held in `bytes` (read from `path`) and returns its
/// item count. Checks: non-empty, full header, magic number, 28x28, body length, labels 0-9.
pub fn validate_idx(path: &Path, bytes: &[u8], is_images: bool, side: usize) -> Result<u32> {
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
        if rows as usize != side || cols as usize != side {
            return Err(bad(IdxProblem::BadDimensions { rows, cols, side }));
        }
        side * side
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
pub fn size_limit(f: &IdxFile, side: usize) -> usize {
    let item = if f.is_images { side * side } else { 1 };
    16 + f.count as usize * item
}

type ReadFile = (PathBuf, Vec<u8>, u32, u32);
/// Reads and validates one official file from `dir`. Returns its path, decompressed bytes,
/// item count and CRC-32.
pub fn read_validated(dir: &Path, f: &IdxFile, side: usize) -> Result<ReadFile> {
    let path = find_file(dir, f.name)?.ok_or_else(|| {
        Error::io(
            dir.join(f.name),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (nor with .gz)"),
        )
    })?;
    let bytes = read_idx_bytes(&path, size_limit(f, side))?;
    let count = validate_idx(&path, &bytes, f.is_images, side)?;
    let crc32 = crc32fast::hash(&bytes);
    Ok((path, bytes, count, crc32))
}
