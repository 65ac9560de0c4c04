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

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::io::Read;
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

    pub(crate) fn tensor(&self) -> Tensor {
        match self {
            Storage::Float(v) => Tensor::from_slice(v),
            Storage::Long(v) => Tensor::from_slice(v),
        }
    }
}

/// Reads every tensor of a PyTorch state_dict `.pth` file: floats as float32, 64-bit integer
/// buffers (BatchNorm's `num_batches_tracked`) as int64.
pub fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    let bad = |problem: String| Error::checkpoint(path, problem);
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        bad(format!(
            "not a PyTorch checkpoint (zip format expected): {e}"
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
        .map_err(|e| bad(e.to_string()))?
        .take(MAX_PICKLE)
        .read_to_end(&mut pickle)
        .map_err(|e| bad(format!("cannot read {pkl_name}: {e}")))?;
    let refs =
        parse_state_dict(&pickle).map_err(|e| bad(format!("unreadable state_dict pickle: {e}")))?;
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
            let mut f = zip
                .by_name(&entry)
                .map_err(|e| bad(format!("storage {entry} for `{name}`: {e}")))?;
            let mut bytes = Vec::with_capacity(f.size().min(1 << 30) as usize);
            f.read_to_end(&mut bytes)
                .map_err(|e| bad(format!("cannot read {entry}: {e}")))?;
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
        if r.size.len() != r.stride.len()
            || r.size.iter().chain(&r.stride).any(|&d| d < 0)
            || r.offset < 0
        {
            return Err(bad(format!("tensor `{name}` has an invalid size/stride")));
        }
        let numel: i64 = r.size.iter().product();
        let last = r.offset
            + r.size
                .iter()
                .zip(&r.stride)
                .map(|(&s, &st)| (s - 1).max(0) * st)
                .sum::<i64>();
        if numel > 0 && last as usize >= storage.len() {
            return Err(bad(format!(
                "tensor `{name}` reaches element {last} of a storage of {}",
                storage.len()
            )));
        }
        let base = storage.tensor();
        let t = base
            .f_as_strided(r.size.as_slice(), r.stride.as_slice(), Some(r.offset))?
            .contiguous();
        out.insert(name, t);
    }
    Ok(out)
}
