//! Reads PyTorch `torch.save(model.state_dict(), path)` files (the article's `vggnet_mnist.pth`).
//!
//! Such a file is a zip archive: `<name>/data.pkl` is a pickle (protocol 2) of an
//! `OrderedDict[str, Tensor]` whose tensors point, through persistent ids, at raw little-endian
//! storages `<name>/data/<key>`. libtorch's C++ loader rejects the `OrderedDict`, so this module
//! runs a small, bounds-checked pickle machine that understands just what `torch.save` writes for
//! a state_dict. Malformed input is an error, never a panic.

mod pickle;

pub use pickle::inspect_pickle;
use pickle::parse_state_dict;

use crate::error::{first_line, torch_message, Error, Result};
use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::Path;
use tch::Tensor;

/// Largest pickle accepted (a state_dict's pickle is a few KB).
const MAX_PICKLE: u64 = 16 << 20;

/// How raw little-endian elements are stored: what both checkpoint readers (this `.pth`
/// reader and the safetensors one) decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elem {
    F32,
    F64,
    I64,
}

impl Elem {
    /// PyTorch's storage class names in a `.pth` pickle.
    fn of_storage(dtype: &str) -> Option<Elem> {
        match dtype {
            "FloatStorage" => Some(Elem::F32),
            "DoubleStorage" => Some(Elem::F64),
            "LongStorage" => Some(Elem::I64),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::F64 | Elem::I64 => 8,
        }
    }
}

/// A storage's elements: floats (read as float32) or 64-bit integers (BatchNorm's
/// `num_batches_tracked`).
pub(crate) enum Storage {
    Float(Vec<f32>),
    Long(Vec<i64>),
}

impl Storage {
    /// Decodes little-endian elements (a trailing partial element is ignored: callers check).
    pub(crate) fn decode(elem: Elem, bytes: &[u8]) -> Storage {
        let eight = |c: &[u8]| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            a
        };
        match elem {
            Elem::F32 => Storage::Float(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            Elem::I64 => Storage::Long(
                bytes
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(eight(c)))
                    .collect(),
            ),
            Elem::F64 => Storage::Float(
                bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(eight(c)) as f32)
                    .collect(),
            ),
        }
    }

    fn len(&self) -> usize {
        match self {
            Storage::Float(v) => v.len(),
            Storage::Long(v) => v.len(),
        }
    }

    pub(crate) fn tensor(&self) -> std::result::Result<Tensor, tch::TchError> {
        match self {
            Storage::Float(v) => Tensor::f_from_slice(v),
            Storage::Long(v) => Tensor::f_from_slice(v),
        }
    }
}

/// Reads every tensor of a PyTorch state_dict `.pth` file: floats as float32, 64-bit integer
/// buffers (BatchNorm's `num_batches_tracked`) as int64.
pub fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    read_state_dict_from(path, file, len)
}

/// The same from any seekable reader of `len` bytes (`path` only names it in errors): what the
/// fuzz targets drive from memory. Sizes, strides and offsets are checked (no wrap, no negative
/// value, nothing past a storage's end, no more elements than the storage holds) before libtorch
/// sees them, and every allocation is bounded by the input's size.
pub fn read_state_dict_from<R: Read + Seek>(
    path: &Path,
    reader: R,
    len: u64,
) -> Result<HashMap<String, Tensor>> {
    let bad = |problem: String| Error::checkpoint(path, problem);
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| {
        bad(format!(
            "not a PyTorch checkpoint (zip format expected): {}",
            first_line(&e.to_string())
        ))
    })?;
    let pkl_name = zip
        .file_names()
        .find(|n| n.ends_with("data.pkl"))
        .map(str::to_owned)
        .ok_or_else(|| bad("no data.pkl inside: not a torch.save file".into()))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_owned();
    let mut pickle = Vec::new();
    zip.by_name(&pkl_name)
        .map_err(|e| bad(first_line(&e.to_string()).to_string()))?
        .take(MAX_PICKLE)
        .read_to_end(&mut pickle)
        .map_err(|e| {
            bad(format!(
                "cannot read {pkl_name}: {}",
                first_line(&e.to_string())
            ))
        })?;
    let refs =
        parse_state_dict(&pickle).map_err(|e| bad(format!("unreadable state_dict pickle: {e}")))?;
    // A storage may be deflated: at most this many bytes are inflated from it (a zip bomb is
    // refused rather than filling memory); torch.save stores them uncompressed.
    let max_storage = len.saturating_mul(64).min(MAX_STORAGE);
    let mut storages: HashMap<String, Storage> = HashMap::new();
    let mut out = HashMap::new();
    for (name, r) in refs {
        let elem = Elem::of_storage(&r.dtype).ok_or_else(|| {
            bad(format!(
                "tensor `{name}` has unsupported storage {}",
                r.dtype
            ))
        })?;
        if !storages.contains_key(&r.key) {
            let entry = format!("{prefix}data/{}", r.key);
            let f = zip.by_name(&entry).map_err(|e| {
                bad(format!(
                    "storage {entry} for `{name}`: {}",
                    first_line(&e.to_string())
                ))
            })?;
            let mut bytes = Vec::with_capacity(f.size().min(len) as usize);
            f.take(max_storage + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| {
                    bad(format!(
                        "cannot read {entry}: {}",
                        first_line(&e.to_string())
                    ))
                })?;
            if bytes.len() as u64 > max_storage {
                return Err(bad(format!(
                    "storage {entry} for `{name}` inflates to more than {max_storage} bytes"
                )));
            }
            if bytes.len() % elem.size() != 0 {
                return Err(bad(format!(
                    "storage {entry} for `{name}` holds {} bytes, not whole {} elements",
                    bytes.len(),
                    r.dtype
                )));
            }
            let values = Storage::decode(elem, &bytes);
            storages.insert(r.key.clone(), values);
        }
        let storage = &storages[&r.key];
        let t = strided_tensor(storage, &r.size, &r.stride, r.offset).map_err(|p| {
            bad(format!(
                "tensor `{name}` (size {:?}, stride {:?}, offset {}) {p}",
                r.size, r.stride, r.offset
            ))
        })?;
        out.insert(name, t);
    }
    Ok(out)
}

/// Largest storage inflated from a `.pth` (4 GiB; the article's VGG holds about 0.5 GiB).
const MAX_STORAGE: u64 = 4 << 30;

/// The tensor `size`/`stride`/`offset` views in `storage`, copied out contiguous, after checking
/// in exact arithmetic that every element it reaches lies inside the storage and that it has no
/// more elements than the storage (what torch.save writes; a stride-0 view of a small storage
/// would otherwise ask for an unbounded allocation). The error completes "tensor `x` ...".
fn strided_tensor(
    storage: &Storage,
    size: &[i64],
    stride: &[i64],
    offset: i64,
) -> std::result::Result<Tensor, String> {
    if size.len() != stride.len() {
        return Err(format!(
            "has {} sizes but {} strides",
            size.len(),
            stride.len()
        ));
    }
    if let Some(d) = size.iter().find(|&&d| d < 0) {
        return Err(format!("has a negative size {d}"));
    }
    if let Some(s) = stride.iter().find(|&&s| s < 0) {
        return Err(format!("has a negative stride {s}"));
    }
    if offset < 0 {
        return Err("has a negative storage offset".into());
    }
    let overflow = || "has sizes whose element count overflows 64 bits".to_string();
    let numel = size
        .iter()
        .try_fold(1i64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    let available = storage.len() as i64;
    if numel > available {
        return Err(format!(
            "has {numel} elements, more than its storage's {available}"
        ));
    }
    if numel > 0 {
        // The last element reached: offset + sum((size - 1) * stride), exactly.
        let last = size
            .iter()
            .zip(stride)
            .try_fold(offset, |acc, (&d, &st)| {
                (d - 1).checked_mul(st).and_then(|x| acc.checked_add(x))
            })
            .ok_or_else(|| "has strides whose extent overflows 64 bits".to_string())?;
        if last >= available {
            return Err(format!(
                "reaches element {last} of a storage of {available} (past its end)"
            ));
        }
    } else if offset > available {
        return Err(format!(
            "has storage offset {offset} past the end of a storage of {available}"
        ));
    }
    let torch = |e: tch::TchError| format!("cannot be built: libtorch: {}", torch_message(&e));
    storage
        .tensor()
        .map_err(torch)?
        .f_as_strided(size, stride, Some(offset))
        .and_then(|t| t.f_contiguous())
        .map_err(torch)
}
