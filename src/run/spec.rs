//! What a run folder records beyond the trainer's own settings (`state/run.json`), and opening
//! a run folder's trained model with the data set it trained on.

use crate::data::{Dataset, SourceFile};
use crate::error::{Error, Result};
use crate::model::Vgg;
use crate::recipe::Plan;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Device;

/// File names inside a run folder.
pub use crate::store::checkpoint::MODEL_FILE;
pub const BEST_FILE: &str = "best.safetensors";
pub const METRICS_FILE: &str = "metrics.json";
pub const EVAL_FILE: &str = "eval.json";
pub const STATE_DIR: &str = "state";
/// The run's settings, inside `state/`.
pub const RUN_FILE: &str = "run.json";

/// The settings of a run beyond its [`crate::train::TrainConfig`], saved in `state/run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// What the run's recipe changes step by step (the schedule, the augmentation).
    pub plan: Plan,
    /// The data set it trains on.
    pub dataset: Dataset,
    /// The data folder the run read (absolute when it could be resolved).
    pub data_dir: PathBuf,
    pub train_limit: Option<usize>,
    /// Training pictures held out as the validation split ([`crate::data::DataConfig::validation`]).
    pub validation: usize,
    pub test_limit: Option<usize>,
    /// The four files read, with the MD5s of their decompressed bytes.
    pub data_files: Vec<SourceFile>,
    /// The device it trains on, stored as `cpu` or `cuda:N`. With the saved
    /// `TrainConfig::amp` it gives the arithmetic ([`crate::train::Precision::of`]).
    #[serde(with = "crate::engine::device_serde")]
    pub device: Device,
    /// Whether PNG plots are written.
    pub plots: bool,
}

impl RunSpec {
    /// The settings saved in the state folder `state_dir` (`RUN/state/run.json`). Notebooks 04
    /// and 05 read from it the data set that notebook 02's run trained on. A folder without it is
    /// an error naming the file.
    pub fn read(state_dir: &Path) -> Result<RunSpec> {
        let path = state_dir.join(RUN_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::checkpoint(&path, format!("invalid run settings: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::checkpoint(
                &path,
                "missing: the run's settings are not here (not a folder written by `vggnet train` \
                 or notebook 02)",
            )),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

/// A run folder's chosen model and the data set it trained on (from `RUN/state/run.json`), on
/// `device`: the epoch the validation split chose (`RUN/best.safetensors`), or the latest model
/// (`RUN/model.safetensors`) for a run without a validation split.
/// Notebooks 04, 05 and 07 open notebook 02's run with it. A folder with no model yet, or a model
/// that does not fit that data set ([`crate::data::check_fits`]), is an error naming the file.
pub fn open_trained(run_dir: &Path, device: Device) -> Result<(Vgg, Dataset)> {
    let path = run_dir.join(MODEL_FILE);
    if !path.is_file() {
        return Err(Error::checkpoint(
            &path,
            "no trained model here yet: train the run first (notebook 02, or `vggnet train --out` this folder) \
             until its first epoch is saved",
        ));
    }
    let best = run_dir.join(BEST_FILE);
    let path = if best.is_file() { best } else { path };
    let model = crate::store::checkpoint::load_model(&path, device)?;
    let dataset = RunSpec::read(&run_dir.join(STATE_DIR))?.dataset;
    crate::data::check_fits(model.config(), dataset, Some(&path))?;
    Ok((model, dataset))
}

/// The network a run started from, rebuilt as [`crate::run::Run::start`] built it: torch
/// seeded with the run's seed (from `RUN/state/trainer.json`, which reseeds this process's
/// generator), then a fresh network of the run's configuration on the run's device. Notebook
/// 05 draws the first layer's filters before and after training with it.
pub fn initial_model(run_dir: &Path) -> Result<Vgg> {
    let state_dir = run_dir.join(STATE_DIR);
    let spec = RunSpec::read(&state_dir)?;
    let (dir, state) = crate::train::state::read_trainer_state(&state_dir)?;
    let weights = dir.join(MODEL_FILE);
    let config = crate::store::checkpoint::config_beside(&weights)?.ok_or_else(|| {
        Error::checkpoint(
            crate::store::checkpoint::config_path(&weights),
            "missing: the run's model configuration is not here",
        )
    })?;
    tch::manual_seed(state.config.seed as i64);
    Vgg::new(config, spec.device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::checkpoint::save_model;

    #[test]
    fn the_saved_run_settings_are_read_back_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = RunSpec::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("run.json") && err.contains("missing"), "{err}");
        let spec = RunSpec {
            plan: Plan::default(),
            dataset: Dataset::FashionMnist,
            data_dir: PathBuf::from("/data/fashion-mnist"),
            train_limit: Some(100),
            validation: crate::data::VALIDATION,
            test_limit: None,
            data_files: Vec::new(),
            device: Device::Cpu,
            plots: false,
        };
        let path = dir.path().join(RUN_FILE);
        std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
        assert_eq!(RunSpec::read(dir.path()).unwrap(), spec);
        std::fs::write(&path, b"{\"dataset\": 3").unwrap();
        let err = RunSpec::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("run.json") && err.contains("invalid run settings"),
            "{err}"
        );
    }

    /// Notebooks 04, 05 and 07 open a run folder: its chosen model with the data set from run.json; no
    /// model yet, or a model that does not take that data set's pictures, is named.
    #[test]
    fn a_run_folder_opens_as_its_model_and_data_set() {
        let dir = tempfile::tempdir().unwrap();
        let err = open_trained(dir.path(), Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(MODEL_FILE) && err.contains("no trained model"),
            "{err}"
        );

        let model = Vgg::new(crate::settings::Network::Narrow.config(), Device::Cpu).unwrap();
        save_model(&model, &dir.path().join(MODEL_FILE)).unwrap();
        let err = open_trained(dir.path(), Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(RUN_FILE) && err.contains("missing"),
            "no run.json: {err}"
        );

        let state = dir.path().join(STATE_DIR);
        std::fs::create_dir(&state).unwrap();
        let mut spec = RunSpec {
            plan: Plan::default(),
            dataset: Dataset::FashionMnist,
            data_dir: PathBuf::from("/data/fashion-mnist"),
            train_limit: None,
            validation: crate::data::VALIDATION,
            test_limit: None,
            data_files: Vec::new(),
            device: Device::Cpu,
            plots: false,
        };
        std::fs::write(state.join(RUN_FILE), serde_json::to_vec(&spec).unwrap()).unwrap();
        let (opened, dataset) = open_trained(dir.path(), Device::Cpu).unwrap();
        assert_eq!(dataset, Dataset::FashionMnist);
        assert_eq!(opened.max_weight_difference(&model).unwrap(), 0.0);
        // The validation split's choice, when the run has one, is the model opened.
        let best = Vgg::new(crate::settings::Network::Narrow.config(), Device::Cpu).unwrap();
        save_model(&best, &dir.path().join(BEST_FILE)).unwrap();
        let (opened, _) = open_trained(dir.path(), Device::Cpu).unwrap();
        assert_eq!(opened.max_weight_difference(&best).unwrap(), 0.0);
        assert!(opened.max_weight_difference(&model).unwrap() > 0.0);
        crate::store::checkpoint::remove_model(&dir.path().join(BEST_FILE)).unwrap();
        assert!(!dir.path().join(BEST_FILE).exists() && !dir.path().join("best.json").exists());

        spec.dataset = Dataset::Cifar10;
        std::fs::write(state.join(RUN_FILE), serde_json::to_vec(&spec).unwrap()).unwrap();
        let err = open_trained(dir.path(), Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(MODEL_FILE) && err.contains("1x28x28") && err.contains("3x32x32"),
            "{err}"
        );
    }
}
