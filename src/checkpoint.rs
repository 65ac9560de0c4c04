//! Checkpoints.
//!
//! - Model files: safetensors (`model.safetensors`) with the model config embedded in the
//!   header metadata and saved beside it (`model.json`). The article's PyTorch
//!   `torch.save(model.state_dict(), "vggnet_mnist.pth")` files load too.
//! - Training state (for `--resume`): a folder holding the model, the optimizer moments
//!   (`optimizer.safetensors`) and `trainer.json` (settings, position, scaler, history).
//!   It is written as a new folder and swapped in by renames, so a kill at any moment leaves
//!   the previous state loadable.
//!
//! Every write is atomic (temp file + rename). Every load checks every tensor's name, dtype and
//! shape against the model before copying anything.

use crate::amp::GradScaler;
use crate::error::{Error, Result};
use crate::fsio;
use crate::model::{Vgg, VggConfig};
use crate::pth::{Elem, Storage};
use crate::train::{AmpMode, CurvePoint, EpochRecord, EvalPoint, Position, TrainConfig, Trainer};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Metadata key holding the model config (JSON) inside a safetensors file.
pub const CONFIG_KEY: &str = "vggnet.config";
/// File names inside a training-state folder.
pub const MODEL_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const TRAINER_FILE: &str = "trainer.json";

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
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::checkpoint(path, format!("not a valid safetensors checkpoint: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::checkpoint(path, format!("unreadable safetensors header: {e}")))?;
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
        let t = Storage::decode(elem, data)
            .tensor()
            .f_view(shape.as_slice())?;
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
        tensors: crate::pth::read_state_dict(path)?,
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
    let expected = model.config().state_dict_shapes();
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
    let mut vars = model.var_store().variables();
    tch::no_grad(|| -> Result<()> {
        for (key, _) in &expected {
            if let (Some(var), Some(src)) = (vars.get_mut(key), tensors.get(key)) {
                var.f_copy_(src)?;
            }
        }
        Ok(())
    })
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
    let c = *cfg.block_channels.last().unwrap_or(&512);
    if fc0[1] != cfg.classifier_in() && c > 0 {
        let side = ((fc0[1] / c) as f64).sqrt().round() as i64;
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
    let beside = match std::fs::read(&side) {
        Ok(bytes) => Some(serde_json::from_slice::<VggConfig>(&bytes).map_err(|e| {
            Error::checkpoint(
                &side,
                format!("model config is not valid JSON for VggConfig: {e}"),
            )
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&side, e)),
    };
    match (embedded, beside) {
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

/// Loads a model from a safetensors checkpoint (with its config) or a PyTorch `.pth`.
pub fn load_model(path: &Path, device: Device) -> Result<Vgg> {
    crate::train::check_device(device)?;
    let named = if is_pth(path) {
        read_pth(path)?
    } else {
        read_safetensors(path)?
    };
    let config = match saved_config(path, &named.metadata)? {
        Some(c) => c,
        None => infer_config(&named.tensors, path)?,
    };
    config
        .validate()
        .map_err(|e| Error::checkpoint(path, format!("saved config is unusable: {e}")))?;
    let mut model = Vgg::new(config, device)?;
    load_weights(&mut model, &named.tensors, path)?;
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

/// What `trainer.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerState {
    pub config: TrainConfig,
    pub position: Position,
    pub scaler: GradScaler,
    pub optimizer_step: u64,
    pub history: Vec<EpochRecord>,
    #[serde(default)]
    pub evals: Vec<EvalPoint>,
    #[serde(default)]
    pub curve: Vec<CurvePoint>,
}

/// Writes a resumable training state into `dir` (model, optimizer, trainer.json). The files
/// go to a fresh sibling folder that then replaces `dir` by renames.
pub fn save_training_state(trainer: &Trainer, dir: &Path) -> Result<()> {
    save_training_state_with(trainer, dir, &[])
}

/// [`save_training_state`] plus `extra` files (name, bytes) written into the same folder and
/// swapped in with it, so they always belong to the same moment of training (`vggnet train`
/// keeps the run's settings there). Durable: every file is fsynced, and so is the parent
/// folder after the swap, before this returns.
pub fn save_training_state_with(
    trainer: &Trainer,
    dir: &Path,
    extra: &[(&str, &[u8])],
) -> Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Config(format!("{}: not a folder name", dir.display())))?;
    // A save killed half-way leaves its staging folder (hundreds of MB); clear those first.
    let staging_prefix = format!(".{name}.new-");
    fsio::remove_leftovers(parent, &staging_prefix)?;
    let staging = fsio::Temp::folder_in(parent, &staging_prefix)?;
    save_model(&trainer.model, &staging.path().join(MODEL_FILE))?;
    let (opt_tensors, step) = trainer.optimizer.state();
    write_safetensors(&staging.path().join(OPTIMIZER_FILE), &opt_tensors, None)?;
    let state = TrainerState {
        config: trainer.config.clone(),
        position: trainer.position.clone(),
        scaler: trainer.scaler.clone(),
        optimizer_step: step,
        history: trainer.history.clone(),
        evals: trainer.evals.clone(),
        curve: trainer.curve.clone(),
    };
    fsio::write_json(&staging.path().join(TRAINER_FILE), &state)?;
    for (file, bytes) in extra {
        fsio::atomic_write(&staging.path().join(file), bytes)?;
    }
    // Swap: dir -> dir.old, staging -> dir, remove dir.old. A kill between the two renames
    // leaves dir.old, which `load_training_state` falls back to.
    let old = parent.join(format!(".{name}.old"));
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        fsio::rename(dir, &old)?;
    }
    let staged = staging.keep();
    fsio::rename(&staged, dir)?;
    fsio::sync_dir(parent)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// The folder a saved training state is read from: `dir`, or the `.dir.old` that a save
/// killed between its two renames left behind.
pub fn state_folder(dir: &Path) -> Result<PathBuf> {
    if dir.join(TRAINER_FILE).exists() {
        return Ok(dir.to_path_buf());
    }
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let old = dir.with_file_name(format!(".{name}.old"));
    if old.join(TRAINER_FILE).exists() {
        return Ok(old);
    }
    Err(Error::checkpoint(
        dir.join(TRAINER_FILE),
        "no training state here (missing trainer.json): not a folder written by `vggnet train`",
    ))
}

/// Loads a training state written by [`save_training_state`] onto `device`.
pub fn load_training_state(dir: &Path, device: Device) -> Result<Trainer> {
    load_training_state_with_amp(dir, device, None)
}

/// [`load_training_state`] with the mixed-precision mode replaced by `amp` when given (to
/// continue on another device; the continuation is then not exact).
pub fn load_training_state_with_amp(
    dir: &Path,
    device: Device,
    amp: Option<AmpMode>,
) -> Result<Trainer> {
    let (dir, state) = read_trainer_state(dir)?;
    trainer_from_state(&dir, state, device, amp)
}

/// Reads `trainer.json` from the state folder `dir` (or the previous one a crash left
/// behind): the folder it came from and the state.
pub fn read_trainer_state(dir: &Path) -> Result<(PathBuf, TrainerState)> {
    let dir = state_folder(dir)?;
    let state_path = dir.join(TRAINER_FILE);
    let state: TrainerState = serde_json::from_slice(&fsio::read(&state_path)?)
        .map_err(|e| Error::checkpoint(&state_path, format!("invalid training state: {e}")))?;
    Ok((dir, state))
}

/// The trainer of a state already read by [`read_trainer_state`] from the folder `dir`: its
/// weights and optimizer moments loaded onto `device`, with the mixed-precision mode replaced
/// by `amp` when given.
pub fn trainer_from_state(
    dir: &Path,
    state: TrainerState,
    device: Device,
    amp: Option<AmpMode>,
) -> Result<Trainer> {
    let model = load_model(&dir.join(MODEL_FILE), device)?;
    let config = TrainConfig {
        amp: amp.unwrap_or(state.config.amp),
        ..state.config
    };
    let mut trainer = Trainer::new(model, config)?;
    let opt_path = dir.join(OPTIMIZER_FILE);
    let opt = read_safetensors(&opt_path)?;
    let moved: HashMap<String, Tensor> = opt
        .tensors
        .into_iter()
        .map(|(k, v)| (k, v.to_device(device)))
        .collect();
    trainer
        .optimizer
        .load_state(&moved, state.optimizer_step, &opt_path)?;
    let enabled = trainer.scaler.enabled;
    trainer.scaler = GradScaler {
        enabled,
        ..state.scaler
    };
    trainer.position = state.position;
    trainer.history = state.history;
    trainer.evals = state.evals;
    trainer.curve = state.curve;
    Ok(trainer)
}
