//! The resumable training state (for `--resume`): a folder holding the model, the optimizer
//! moments (`optimizer.safetensors`) and `trainer.json` (settings, position, scaler, history).
//! It is written as a new folder and swapped in by renames, so a kill at any moment leaves the
//! previous state loadable; every file in it is written atomically and durably
//! ([`crate::store::fsio`]).

use super::amp::GradScaler;
use super::optim::AdamW;
use super::{AmpMode, CurvePoint, EpochRecord, EvalPoint, Position, TrainConfig, Trainer};
use crate::error::{Error, Result};
use crate::store::checkpoint::{
    load_model, read_safetensors, save_model, write_safetensors, MODEL_FILE,
};
use crate::store::fsio;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// File names inside a training-state folder (beside [`MODEL_FILE`]).
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const TRAINER_FILE: &str = "trainer.json";

/// What `trainer.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerState {
    pub config: TrainConfig,
    pub position: Position,
    pub scaler: GradScaler,
    pub optimizer_step: u64,
    pub history: Vec<EpochRecord>,
    pub evals: Vec<EvalPoint>,
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
    trainer.scaler = state.scaler;
    trainer.scaler.enabled = enabled;
    trainer.position = state.position;
    trainer.history = state.history;
    trainer.evals = state.evals;
    trainer.curve = state.curve;
    Ok(trainer)
}

/// The optimizer's state as a checkpoint holds it.
impl AdamW {
    /// The state as named tensors (`exp_avg.<param>`, `exp_avg_sq.<param>`) plus the step.
    pub fn state(&self) -> (Vec<(String, Tensor)>, u64) {
        let mut out = Vec::with_capacity(self.params.len() * 2);
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("exp_avg.{name}"), self.exp_avg[i].shallow_clone()));
            out.push((
                format!("exp_avg_sq.{name}"),
                self.exp_avg_sq[i].shallow_clone(),
            ));
        }
        (out, self.step)
    }

    /// Restores a state produced by [`AdamW::state`]; every buffer must be present with the
    /// parameter's shape.
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        step: u64,
        source: &std::path::Path,
    ) -> Result<()> {
        tch::no_grad(|| {
            for (i, (name, p)) in self.params.iter().enumerate() {
                for (prefix, buf) in [
                    ("exp_avg", &mut self.exp_avg[i]),
                    ("exp_avg_sq", &mut self.exp_avg_sq[i]),
                ] {
                    let key = format!("{prefix}.{name}");
                    let t = tensors.get(&key).ok_or_else(|| {
                        Error::checkpoint(source, format!("optimizer state lacks `{key}`"))
                    })?;
                    if t.size() != p.size() {
                        return Err(Error::ShapeMismatch {
                            path: source.into(),
                            key,
                            expected: p.size(),
                            found: t.size(),
                        });
                    }
                    buf.copy_(t);
                }
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }
}
