//! Model files: safetensors (`model.safetensors`) with the model config embedded in the
//! header metadata and saved beside it (`model.json`). The article's PyTorch
//! `torch.save(model.state_dict(), "vggnet_mnist.pth")` files load too. (The resumable
//! training state is [`crate::train::state`]'s, written with these.)
//!
//! Every write is atomic (temp file + rename). Every load checks every tensor's name, dtype and
//! shape against the model before copying anything.

use crate::error::{first_line, Error, Result};
use crate::model::{Vgg, VggConfig};
use crate::store::fsio;
use crate::store::pth::{Elem, Storage};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Metadata key holding the model config (JSON) inside a safetensors file.
pub const CONFIG_KEY: &str = "vggnet.config";
/// A model's file name in a run or training-state folder.
pub const MODEL_FILE: &str = "model.safetensors";

/// Where the config of a model file is saved: `model.safetensors` -> `model.json`.
pub fn config_path(model_path: &Path) -> PathBuf {
    model_path.with_extension("json")
}

/// A tensor's safetensors dtype, shape and little-endian bytes: 64-bit integers (BatchNorm's
/// `num_batches_tracked`) stay I64, everything else is written as F32.
fn tensor_bytes(t: &Tensor) -> Result<(Dtype, Vec<usize>, Vec<u8>)> {
    let t = t.to_device(Device::Cpu).contiguous();
    let shape = t.size().iter().map(|&d| d as usize).collect();
    let flat = t.view([-1]);
    if t.kind() == Kind::Int64 {
        let values = Vec::<i64>::try_from(&flat)?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        return Ok((Dtype::I64, shape, bytes));
    }
    let values = Vec::<f32>::try_from(&flat.to_kind(Kind::Float))?;
    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok((Dtype::F32, shape, bytes))
}

/// Writes named tensors (float, or int64 buffers) to a safetensors file atomically.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let mut owned = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let (dtype, shape, bytes) = tensor_bytes(t)?;
        owned.push((name.clone(), dtype, shape, bytes));
    }
    let views = owned
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::checkpoint(path, format!("cannot serialize `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, &metadata)
        .map_err(|e| Error::checkpoint(path, format!("cannot serialize: {e}")))?;
    fsio::atomic_write(path, &bytes)
}

/// Tensors and header metadata read from a checkpoint file.
pub struct NamedTensors {
    pub tensors: HashMap<String, Tensor>,
    pub metadata: HashMap<String, String>,
}

/// Parses safetensors bytes (from `path`) into float tensors. Bad headers, unknown dtypes and
/// out-of-range offsets become `Error::Checkpoint`, never a panic.
pub fn parse_safetensors(path: &Path, bytes: &[u8]) -> Result<NamedTensors> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        Error::checkpoint(
            path,
            format!(
                "not a valid safetensors checkpoint: {}",
                first_line(&e.to_string())
            ),
        )
    })?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| {
        Error::checkpoint(
            path,
            format!(
                "unreadable safetensors header: {}",
                first_line(&e.to_string())
            ),
        )
    })?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let data = view.data();
        let elem = match view.dtype() {
            Dtype::F32 => Elem::F32,
            Dtype::F64 => Elem::F64,
            Dtype::I64 => Elem::I64,
            other => {
                return Err(Error::checkpoint(
                    path,
                    format!("tensor `{name}` has dtype {other:?}; only F32/F64/I64 are supported"),
                ))
            }
        };
        // safetensors checks that the bytes are exactly the shape's (checked) element count.
        let t = Storage::decode(elem, data)
            .tensor()
            .and_then(|t| t.f_view(shape.as_slice()))
            .map_err(|e| Error::torch_in(path, &format!("tensor `{name}` {shape:?}"), e))?;
        tensors.insert(name, t);
    }
    Ok(NamedTensors { tensors, metadata })
}

/// Reads a safetensors file.
pub fn read_safetensors(path: &Path) -> Result<NamedTensors> {
    let bytes = fsio::read(path)?;
    parse_safetensors(path, &bytes)
}

/// Reads the article's `torch.save(model.state_dict(), path)` file (PyTorch zip/pickle format).
pub fn read_pth(path: &Path) -> Result<NamedTensors> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::checkpoint(path, "is not a file"));
    }
    Ok(NamedTensors {
        tensors: crate::store::pth::read_state_dict(path)?,
        metadata: HashMap::new(),
    })
}

fn is_pth(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pth" | "pt" | "bin")
    )
}

/// Copies `tensors` into `model` after checking that the names and shapes match exactly.
pub fn load_weights(model: &mut Vgg, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    check_tensors(model.config(), tensors, path)?;
    let expected = model.config().state_dict_shapes();
    let mut vars = model.var_store().variables();
    tch::no_grad(|| -> Result<()> {
        for (key, _) in &expected {
            if let (Some(var), Some(src)) = (vars.get_mut(key), tensors.get(key)) {
                var.f_copy_(src)
                    .map_err(|e| Error::torch_in(path, &format!("loading `{key}`"), e))?;
            }
        }
        Ok(())
    })
}

/// Every tensor `config`'s model has, present in `tensors` with its shape, and nothing else.
fn check_tensors(config: &VggConfig, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let expected = config.state_dict_shapes();
    for (key, shape) in &expected {
        let t = tensors.get(key).ok_or_else(|| {
            Error::checkpoint(
                path,
                format!(
                    "tensor `{key}` (shape {shape:?}) is missing: not a checkpoint of this model"
                ),
            )
        })?;
        if &t.size() != shape {
            return Err(Error::ShapeMismatch {
                path: path.into(),
                key: key.clone(),
                expected: shape.clone(),
                found: t.size(),
            });
        }
    }
    if let Some(extra) = tensors
        .keys()
        .filter(|k| !expected.iter().any(|(e, _)| e == *k))
        .min()
    {
        return Err(Error::checkpoint(
            path,
            format!("unexpected tensor `{extra}`: not part of this architecture"),
        ));
    }
    Ok(())
}

/// Infers the config of a PyTorch state_dict from its shapes (input channels, classes, size).
fn infer_config(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<VggConfig> {
    let shape = |k: &str| {
        tensors.get(k).map(|t| t.size()).ok_or_else(|| {
            Error::checkpoint(
                path,
                format!("tensor `{k}` is missing: not a VGG state_dict"),
            )
        })
    };
    let mut cfg = VggConfig::default();
    let first = shape("features.0.weight")?;
    let last = shape("classifier.6.weight")?;
    let fc0 = shape("classifier.0.weight")?;
    if first.len() != 4 || last.len() != 2 || fc0.len() != 2 {
        return Err(Error::checkpoint(
            path,
            "unexpected tensor ranks: not a VGG state_dict",
        ));
    }
    // torchvision's vgg*_bn layout: a BatchNorm2d right after the first convolution.
    cfg.batch_norm = tensors.contains_key("features.1.running_mean");
    cfg.in_channels = first[1];
    cfg.num_classes = last[0];
    // The widths are the article's; the picture side is what the first linear layer's
    // inputs (channels x side x side after the last pooling) say it is.
    let c = *cfg.block_channels.last().unwrap_or(&512);
    if fc0[1] != cfg.classifier_in() {
        let side = ((fc0[1] / c.max(1)) as f64).sqrt().round() as i64;
        if side < 1 || c * side * side != fc0[1] {
            return Err(Error::checkpoint(
                path,
                format!(
                    "`classifier.0.weight` takes {} inputs, which the article's last block of {c} \
                     channels cannot give: a network of other widths needs its model.json beside it",
                    fc0[1]
                ),
            ));
        }
        cfg.image_size = side << cfg.block_channels.len();
    }
    Ok(cfg)
}

/// The config saved with a safetensors model: the `model.json` beside it and/or the header's
/// metadata; when both exist they must agree.
fn saved_config(path: &Path, metadata: &HashMap<String, String>) -> Result<Option<VggConfig>> {
    let embedded = match metadata.get(CONFIG_KEY) {
        Some(s) => Some(serde_json::from_str::<VggConfig>(s).map_err(|e| {
            Error::checkpoint(path, format!("embedded model config is not valid: {e}"))
        })?),
        None => None,
    };
    let side = config_path(path);
    match (embedded, config_beside(path)?) {
        (Some(a), Some(b)) if a != b => Err(Error::checkpoint(
            &side,
            format!(
                "config disagrees with the weights in {}: file says {b:?}, weights were saved with {a:?}",
                path.display()
            ),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// The config saved beside the model file `path` (`model.json`), read without the weights, or
/// `None` when there is none.
pub fn config_beside(path: &Path) -> Result<Option<VggConfig>> {
    let side = config_path(path);
    match std::fs::read(&side) {
        Ok(bytes) => Ok(Some(serde_json::from_slice::<VggConfig>(&bytes).map_err(
            |e| {
                Error::checkpoint(
                    &side,
                    format!("model config is not valid JSON for VggConfig: {e}"),
                )
            },
        )?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&side, e)),
    }
}

/// Loads a model from a safetensors checkpoint (with its config) or a PyTorch `.pth`.
pub fn load_model(path: &Path, device: Device) -> Result<Vgg> {
    let named = if is_pth(path) {
        read_pth(path)?
    } else {
        read_safetensors(path)?
    };
    let side = config_path(path);
    let (config, source) = match saved_config(path, &named.metadata)? {
        // A config only in `model.json` is that file's problem when it is unusable.
        Some(c) if !named.metadata.contains_key(CONFIG_KEY) => (c, side.as_path()),
        Some(c) => (c, path),
        None => (infer_config(&named.tensors, path)?, path),
    };
    check_config(source, &config)?;
    model_from_tensors(path, config, &named.tensors, device)
}

/// The whole load path from bytes in memory (`path` only names them in errors): a `.pth` when
/// its extension says so, else safetensors with its embedded config (no `model.json` is read;
/// `fallback` is used when the file embeds none and, for a `.pth`, instead of inferring one).
/// What the fuzz targets and `vggnet-fuzz-load` drive: parse, build the tensors, check the
/// config, build the model and copy the tensors into it.
pub fn load_model_from_bytes(
    path: &Path,
    bytes: &[u8],
    fallback: Option<VggConfig>,
    device: Device,
) -> Result<Vgg> {
    let named = if is_pth(path) {
        NamedTensors {
            tensors: crate::store::pth::read_state_dict_from(
                path,
                std::io::Cursor::new(bytes),
                bytes.len() as u64,
            )?,
            metadata: HashMap::new(),
        }
    } else {
        parse_safetensors(path, bytes)?
    };
    let embedded = match named.metadata.get(CONFIG_KEY) {
        Some(s) => Some(serde_json::from_str::<VggConfig>(s).map_err(|e| {
            Error::checkpoint(path, format!("embedded model config is not valid: {e}"))
        })?),
        None => None,
    };
    let config = match embedded.or(fallback) {
        Some(c) => c,
        None => infer_config(&named.tensors, path)?,
    };
    model_from_tensors(path, config, &named.tensors, device)
}

/// Largest values a loaded config may hold: far above any VGG this crate trains, far below what
/// would overflow the layer arithmetic or ask libtorch for an absurd allocation.
const MAX_CHANNELS: i64 = 1 << 14;
const MAX_CLASSES: i64 = 1 << 20;
const MAX_IMAGE_SIZE: i64 = 1 << 14;
const MAX_BLOCKS: usize = 12;

/// A saved config's values within [`MAX_CHANNELS`] and the other bounds (after
/// [`VggConfig::validate`]'s checks for zero and negative values).
fn check_config(path: &Path, config: &VggConfig) -> Result<()> {
    let unusable =
        |why: String| Error::checkpoint(path, format!("saved config is unusable: {why}"));
    config.validate().map_err(|e| unusable(e.to_string()))?;
    let wide = [config.in_channels, config.hidden]
        .into_iter()
        .chain(config.block_channels.iter().copied())
        .any(|c| c > MAX_CHANNELS);
    if wide {
        return Err(unusable(format!(
            "a channel or hidden width above {MAX_CHANNELS}"
        )));
    }
    if config.num_classes > MAX_CLASSES {
        return Err(unusable(format!(
            "num_classes {} is above {MAX_CLASSES}",
            config.num_classes
        )));
    }
    if config.image_size > MAX_IMAGE_SIZE || config.block_channels.len() > MAX_BLOCKS {
        return Err(unusable(format!(
            "image_size {} or {} blocks is above {MAX_IMAGE_SIZE} or {MAX_BLOCKS}",
            config.image_size,
            config.block_channels.len()
        )));
    }
    Ok(())
}

/// Checks `config`, then every tensor's name and shape against it (before the model is
/// allocated: the tensors' sizes are bounded by the file, the config's are not), then builds the
/// model and copies the tensors in.
fn model_from_tensors(
    path: &Path,
    config: VggConfig,
    tensors: &HashMap<String, Tensor>,
    device: Device,
) -> Result<Vgg> {
    check_config(path, &config)?;
    check_tensors(&config, tensors, path)?;
    let mut model = Vgg::new(config, device)
        .map_err(|e| Error::checkpoint(path, format!("cannot build the model: {e}")))?;
    load_weights(&mut model, tensors, path)?;
    Ok(model)
}

/// Saves the model's weights (safetensors, config embedded) and its config beside it
/// (`model.json`), both atomically.
pub fn save_model(model: &Vgg, path: &Path) -> Result<()> {
    let config_json = serde_json::to_string_pretty(model.config())
        .map_err(|e| Error::checkpoint(path, e.to_string()))?;
    let meta = HashMap::from([
        (CONFIG_KEY.to_string(), config_json.clone()),
        ("format".to_string(), "pt".to_string()),
    ]);
    write_safetensors(path, &model.state_dict(), Some(meta))?;
    fsio::atomic_write(&config_path(path), config_json.as_bytes())
}

/// Removes a model saved by [`save_model`] (its weights and the config beside them), if there.
pub fn remove_model(path: &Path) -> Result<()> {
    for file in [path.to_path_buf(), config_path(path)] {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&file, e)),
            _ => {}
        }
    }
    Ok(())
}

/// The small network the fuzz targets load into (8x8 inputs, two blocks of 2 channels): fast
/// to build, the same code path as any other.
pub fn fuzz_config() -> VggConfig {
    VggConfig {
        in_channels: 1,
        num_classes: 10,
        image_size: 8,
        block_channels: vec![2, 2],
        hidden: 4,
        dropout: 0.5,
        batch_norm: false,
    }
}

/// One fuzz input through the whole load path on the CPU: the first byte picks the format
/// (even: safetensors, odd: `.pth`), the rest is the file; [`fuzz_config`] is the network
/// unless a safetensors header embeds another. Any outcome but a panic or an abort is a pass.
pub fn load_fuzz_input(data: &[u8]) -> Result<Vgg> {
    let Some((&kind, rest)) = data.split_first() else {
        return Err(Error::checkpoint("fuzz", "empty input"));
    };
    let path = Path::new(if kind & 1 == 0 {
        "fuzz.safetensors"
    } else {
        "fuzz.pth"
    });
    load_model_from_bytes(path, rest, Some(fuzz_config()), Device::Cpu)
}
