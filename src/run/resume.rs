//! `--resume`: what a request may change, what it may not, and how a saved run is reopened
//! with every setting it was started with.

use super::*;
use crate::data::{Data, DataConfig, Dataset};
use crate::engine::device_name;
use crate::error::{Error, Result};
use crate::recipe::Recipe;
use crate::settings::{resume_conflicts, Asked, ModelOverrides, Overrides};
use crate::train::state::{read_trainer_state, trainer_from_state};
use crate::train::{AmpMode, Precision, TrainConfig};
use std::path::{Path, PathBuf};
use tch::Device;

/// What a `--resume` asks for: each `Some` is a setting given explicitly. A setting equal to
/// the saved one is accepted; one that would change the run is refused
/// ([`Error::ResumeConflict`]), naming the saved value and the given one.
#[derive(Debug, Clone, Default)]
pub struct ResumeRequest {
    /// The recipe named on the command line, if any.
    pub recipe: Option<Recipe>,
    /// The training settings given explicitly (compared with the saved ones by
    /// [`resume_conflicts`]; a different `amp` is a change of precision, below).
    pub settings: Overrides,
    /// The network's settings given explicitly (compared with the saved model's).
    pub model: ModelOverrides,
    pub dataset: Option<Dataset>,
    pub data_dir: Option<PathBuf>,
    pub train_limit: Option<usize>,
    pub validation: Option<usize>,
    pub test_limit: Option<usize>,
    pub device: Option<Device>,
    /// Allow a different device or precision than the run used (the continuation is then
    /// no longer exact).
    pub allow_inexact: bool,
    /// Plots on or off (output only: may differ from the saved setting).
    pub plots: Option<bool>,
    /// Download missing data files.
    pub download: bool,
}

impl Run {
    /// Opens the run saved in `dir` to continue it with every setting it was started with.
    /// `request` holds what the user gave explicitly: everything that would change the run is
    /// refused in one error naming each saved and given value, before any data is read and
    /// with nothing written; a different device or precision needs `allow_inexact`.
    pub fn resume(dir: &Path, request: &ResumeRequest) -> Result<Run> {
        let (state_dir, saved) = read_trainer_state(&dir.join(STATE_DIR))?;
        let mut notes = Vec::new();
        let mut spec = RunSpec::read(&state_dir)?;
        let model = saved_model_config(&state_dir.join(MODEL_FILE))?;
        let asked = Asked {
            recipe: request.recipe,
            train: &request.settings,
            model: &request.model,
        };
        let mut conflicts = resume_conflicts(asked, &saved.config, &spec.plan, &model);
        conflicts.extend(data_conflicts(&spec, request));
        let (device, amp_mode) =
            resume_device(&spec, &saved.config, request, &mut conflicts, &mut notes)?;
        if !conflicts.is_empty() {
            return Err(Error::ResumeConflict {
                dir: dir.to_path_buf(),
                conflicts,
            });
        }
        // Before any data is read: the saved model must fit the run's data set.
        crate::data::check_fits(&model, spec.dataset, Some(&state_dir.join(MODEL_FILE)))?;
        let data_dir = request.data_dir.clone().unwrap_or(spec.data_dir.clone());
        let data = Data::load(&DataConfig {
            dir: data_dir.clone(),
            train_limit: spec.train_limit,
            validation: spec.validation,
            test_limit: spec.test_limit,
            download: request.download,
            ..DataConfig::of(spec.dataset)
        })?;
        let mut changed = Vec::new();
        if data.sources.len() != spec.data_files.len() {
            changed.push(format!(
                "{} files read but the run trained on {}",
                data.sources.len(),
                spec.data_files.len()
            ));
        } else {
            for (now, then) in data.sources.iter().zip(&spec.data_files) {
                if now.crc32 != then.crc32 {
                    changed.push(format!(
                        "{} has CRC-32 {} but the run trained on {} with CRC-32 {}",
                        now.path.display(),
                        now.crc32,
                        then.path.display(),
                        then.crc32,
                    ));
                }
            }
        }
        if !changed.is_empty() {
            return Err(Error::ResumeConflict {
                dir: dir.to_path_buf(),
                conflicts: vec![format!(
                    "the data differs from the run's: {}",
                    changed.join(", ")
                )],
            });
        }
        let trainer = trainer_from_state(&state_dir, saved, device, Some(amp_mode))?;
        spec.data_dir = absolute(&data_dir);
        spec.data_files = data.sources.clone();
        spec.device = device;
        if let Some(plots) = request.plots {
            spec.plots = plots;
        }
        Run::open(dir, spec, trainer, data, notes)
    }
}

/// The network a saved model was made with: its `model.json` when there is one (read without
/// the weights), else the model itself.
fn saved_model_config(path: &Path) -> Result<crate::model::VggConfig> {
    use crate::store::checkpoint::{config_beside, load_model};
    match config_beside(path)? {
        Some(config) => Ok(config),
        None => Ok(load_model(path, Device::Cpu)?.config().clone()),
    }
}

/// Checks the data set and limits of a resume request against the saved ones (counts from the
/// data set's [`crate::data::dataset::Spec`], whatever its files).
fn data_conflicts(spec: &RunSpec, r: &ResumeRequest) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = r.dataset.filter(|d| *d != spec.dataset) {
        out.push(format!(
            "--dataset {d} would change the run (it was started with --dataset {})",
            spec.dataset
        ));
    }
    if let Some(v) = r.validation.filter(|v| *v != spec.validation) {
        out.push(format!(
            "--validation {v} would change the run (it was started with --validation {})",
            spec.validation
        ));
    }
    let counts = spec.dataset.spec();
    for (flag, given, saved, all) in [
        (
            "--train-limit",
            r.train_limit,
            spec.train_limit,
            counts.train_count.saturating_sub(spec.validation),
        ),
        (
            "--test-limit",
            r.test_limit,
            spec.test_limit,
            counts.test_count,
        ),
    ] {
        let effective = |l: Option<usize>| l.unwrap_or(usize::MAX).min(all);
        if let Some(g) = given {
            if effective(Some(g)) != effective(saved) {
                out.push(format!(
                    "{flag} {g} would change the run (it was started with {})",
                    limit_text(flag, saved, all)
                ));
            }
        }
    }
    out
}

/// The device and mixed-precision mode to continue on: the saved ones unless the request
/// changes them, which needs `allow_inexact`.
fn resume_device(
    spec: &RunSpec,
    saved: &TrainConfig,
    r: &ResumeRequest,
    conflicts: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<(Device, AmpMode)> {
    let saved_device = spec.device;
    if let Some(d) = r.device {
        crate::engine::cuda::check_device(d)?;
    }
    let device = r.device.unwrap_or(saved_device);
    let amp_mode = r.settings.amp.unwrap_or(saved.amp).resolve(device);
    // `On` off CUDA is refused here, as when a run starts.
    let precision = Precision::of(amp_mode, device)?;
    // What the run did: its (resolved) mode on its device.
    let saved_precision = Precision::of(saved.amp, saved_device)?;
    let unavailable = device.is_cuda() && !tch::Cuda::is_available();
    let mut changes = Vec::new();
    if device != saved_device {
        changes.push(format!(
            "device {} instead of {}",
            device_name(device),
            device_name(saved_device)
        ));
    }
    if precision != saved_precision {
        changes.push(format!(
            "{} instead of {}",
            precision.describe(),
            saved_precision.describe()
        ));
    }
    if unavailable && r.device.is_none() {
        conflicts.push(format!(
            "the run trained on {}, which this machine does not have; to continue on the CPU \
             give --device cpu --allow-inexact-resume (the continuation is then not exact)",
            device_name(saved_device)
        ));
    } else if !changes.is_empty() {
        if r.allow_inexact {
            notes.push(format!(
                "continuing on {}: the continuation is no longer exact",
                changes.join(" and ")
            ));
        } else {
            conflicts.push(format!(
                "{} would change the run; add --allow-inexact-resume to continue anyway (the \
                 continuation is then not exact)",
                changes.join(" and ")
            ));
        }
    }
    Ok((device, amp_mode))
}

fn limit_text(flag: &str, limit: Option<usize>, all: usize) -> String {
    match limit {
        Some(n) => format!("{flag} {n}"),
        None => format!("no {flag} (all {all} images)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limits compare by what they select: `--test-limit 10000` on a run with no limit is the
    /// same run; another data set is not.
    #[test]
    fn limits_compare_by_effect_and_the_data_set_must_match() {
        let spec = RunSpec {
            plan: Default::default(),
            dataset: Dataset::Mnist,
            data_dir: "d".into(),
            train_limit: Some(128),
            validation: crate::data::VALIDATION,
            test_limit: None,
            data_files: Vec::new(),
            device: Device::Cpu,
            plots: true,
        };
        let r = |train, test, dataset| ResumeRequest {
            train_limit: train,
            test_limit: test,
            dataset,
            ..Default::default()
        };
        assert!(data_conflicts(&spec, &r(Some(128), Some(10_000), None)).is_empty());
        assert!(data_conflicts(&spec, &r(None, Some(20_000), Some(Dataset::Mnist))).is_empty());
        assert_eq!(
            data_conflicts(&spec, &r(Some(256), None, Some(Dataset::FashionMnist))),
            [
                "--dataset fashion-mnist would change the run (it was started with --dataset mnist)",
                "--train-limit 256 would change the run (it was started with --train-limit 128)",
            ]
        );
        // Every data set, whatever its files are (CIFAR-10 has no IDX files: this panicked).
        for dataset in Dataset::ALL {
            let spec = RunSpec {
                dataset,
                ..spec.clone()
            };
            let all = dataset.spec().test_count;
            assert!(data_conflicts(&spec, &r(Some(128), Some(all), None)).is_empty());
            assert_eq!(
                data_conflicts(&spec, &r(Some(100), Some(5), None)),
                [
                    "--train-limit 100 would change the run (it was started with --train-limit 128)".to_string(),
                    format!("--test-limit 5 would change the run (it was started with no --test-limit (all {all} images))"),
                ],
                "{dataset}"
            );
        }
    }
}
