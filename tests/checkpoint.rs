//! Checkpoints: safetensors round trip with the config beside it, atomic writes, clear errors
//! for other architectures, training-state round trip.

mod common;

use common::{names_starting_with, tiny, trainer_for};
use tch::{Device, Kind, Tensor};
use vggnet::model::{Vgg, VggConfig};
use vggnet::store::checkpoint::{config_path, load_model, save_model};
use vggnet::train::state::{load_training_state, save_training_state};
use vggnet::train::{CurvePoint, EpochRecord, EvalPoint, TrainConfig};
use vggnet::Error;

fn logits(m: &Vgg, x: &Tensor) -> Tensor {
    tch::no_grad(|| m.forward_t(x, false)).unwrap()
}

#[test]
fn save_load_round_trip_gives_identical_logits_and_config() {
    tch::manual_seed(5);
    let cfg = VggConfig {
        num_classes: 7,
        ..tiny()
    };
    let model = Vgg::new(cfg.clone(), Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save_model(&model, &path).unwrap();
    assert!(
        config_path(&path).exists(),
        "config saved beside the weights"
    );
    let leftovers = names_starting_with(dir.path(), ".vggnet-tmp");
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let loaded = load_model(&path, Device::Cpu).unwrap();
    assert_eq!(loaded.config(), &cfg);
    let x = Tensor::randn([3, 1, 28, 28], (Kind::Float, Device::Cpu));
    assert!(logits(&model, &x).equal(&logits(&loaded, &x)));
    // The embedded config alone is enough.
    std::fs::remove_file(config_path(&path)).unwrap();
    assert_eq!(load_model(&path, Device::Cpu).unwrap().config(), &cfg);
}

#[test]
fn another_architecture_names_the_key_and_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cifar.safetensors");
    let cifar = Vgg::new(
        VggConfig {
            in_channels: 3,
            image_size: 32,
            ..Default::default()
        },
        Device::Cpu,
    )
    .unwrap();
    save_model(&cifar, &path).unwrap();
    std::fs::remove_file(config_path(&path)).unwrap();
    // Rewrite without the embedded config, so the loader must try the default MNIST model.
    let tensors: Vec<(String, Tensor)> = cifar.named_parameters();
    vggnet::store::checkpoint::write_safetensors(&path, &tensors, None).unwrap();
    let mut mnist = Vgg::new(VggConfig::default(), Device::Cpu).unwrap();
    let named = vggnet::store::checkpoint::read_safetensors(&path).unwrap();
    let err =
        vggnet::store::checkpoint::load_weights(&mut mnist, &named.tensors, &path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err:?}");
    assert!(msg.contains("features.0.weight"), "{msg}");
    assert!(
        msg.contains("[64, 3, 3, 3]") && msg.contains("[64, 1, 3, 3]"),
        "{msg}"
    );
    assert!(msg.contains("cifar.safetensors"), "{msg}");
}

#[test]
fn training_state_round_trip_restores_everything() {
    let mut trainer = trainer_for(
        tiny(),
        8,
        TrainConfig {
            seed: 3,
            eval_every_steps: 7,
            ..Default::default()
        },
    );
    // The scaler's logic forced on (autocast itself is CUDA-only), one skipped and one
    // clean step, so scale, growth tracker and step count all move.
    trainer.scaler_mut().enabled = true;
    let x = Tensor::randn([2, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[3i64, 4]);
    let inf = trainer
        .model()
        .forward_t(&x, true)
        .unwrap()
        .sum(Kind::Float)
        * f64::INFINITY;
    let grads = trainer.scaled_grads(&inf).unwrap();
    assert!(trainer.apply_grads(&grads), "inf step skipped");
    let out = trainer.step(&x, &y).unwrap();
    assert!(!out.skipped);
    trainer.position.epoch = 2;
    trainer.position.batch = 17;
    trainer.position.loss_sum = 12.5;
    trainer.history.push(EpochRecord {
        epoch: 1,
        train_loss: 0.5,
        train_accuracy: 90.0,
        val_accuracy: Some(91.5),
        seconds: 3.0,
        images_per_sec: 100.0,
        skipped_steps: 1,
        loss_scale: trainer.scaler().scale,
    });
    trainer.evals.push(EvalPoint {
        step: 7,
        epoch: 1,
        train_seconds: 1.5,
        val_accuracy: 88.0,
    });
    trainer.curve.push(CurvePoint {
        step: 2,
        epoch: 1,
        running_loss: 2.0,
        running_accuracy: 10.0,
    });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    save_training_state(&trainer, &state).unwrap();
    save_training_state(&trainer, &state).unwrap(); // overwriting works
    let restored = load_training_state(&state, Device::Cpu).unwrap();
    assert_eq!(restored.position, trainer.position);
    assert_eq!(restored.config(), trainer.config());
    assert_eq!(restored.history, trainer.history);
    assert_eq!(restored.evals, trainer.evals);
    assert_eq!(restored.curve, trainer.curve);
    assert_eq!(trainer.scaler().scale, 32768.0);
    assert_eq!(restored.scaler().scale, trainer.scaler().scale);
    assert_eq!(restored.scaler().growth_tracker, 1);
    assert_eq!(restored.scaler().config, trainer.scaler().config);
    assert_eq!(restored.optimizer().step_count(), 1);
    let (a, _) = trainer.optimizer().state();
    let (b, _) = restored.optimizer().state();
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{na} differs");
    }
    assert!(logits(trainer.model(), &x).equal(&logits(restored.model(), &x)));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["state".to_string()], "no staging folders left");
}

/// Durability: a save returns only after the file's data and its directory entry are on
/// disk: fsync of the temporary file, rename, fsync of the folder; for the training state,
/// the swapped-in folder's parent is synced after the last rename.
#[test]
fn saves_sync_the_file_and_its_folder() {
    use vggnet::store::fsio::{trace_syncs, SyncEvent};
    let dir = tempfile::tempdir().unwrap();
    let trainer = trainer_for(tiny(), 4, TrainConfig::default());
    let path = dir.path().join("m.safetensors");
    let (res, events) = trace_syncs(|| save_model(trainer.model(), &path));
    res.unwrap();
    for file in [path.clone(), config_path(&path)] {
        let at = |e: SyncEvent| {
            events
                .iter()
                .position(|x| *x == e)
                .unwrap_or_else(|| panic!("{e:?} missing in {events:?}"))
        };
        let synced = at(SyncEvent::File(file.clone()));
        let renamed = at(SyncEvent::Rename(file.clone()));
        assert!(
            synced < renamed,
            "data synced before the rename: {events:?}"
        );
        assert!(
            events[renamed + 1..].contains(&SyncEvent::Dir(dir.path().to_path_buf())),
            "folder synced after the rename of {}: {events:?}",
            file.display()
        );
    }
    let state = dir.path().join("state");
    let (res, events) = trace_syncs(|| save_training_state(&trainer, &state));
    res.unwrap();
    let files = events
        .iter()
        .filter(|e| matches!(e, SyncEvent::File(_)))
        .count();
    assert!(
        files >= 4,
        "model, config, optimizer, trainer.json synced: {events:?}"
    );
    let tail = &events[events.len() - 2..];
    assert_eq!(
        tail,
        [
            SyncEvent::Rename(state.clone()),
            SyncEvent::Dir(dir.path().to_path_buf())
        ],
        "the swap is made durable last"
    );
}

/// Saved files get the permissions any newly created file gets here (not the owner-only mode
/// of temporary files), a replaced file keeps its own, and the training-state folder is a
/// plain folder too.
#[cfg(unix)]
#[test]
fn saved_files_get_ordinary_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"x").unwrap();
    let probe_dir = dir.path().join("probe-dir");
    std::fs::create_dir(&probe_dir).unwrap();

    let trainer = trainer_for(tiny(), 3, TrainConfig::default());
    let model = trainer.model();
    let path = dir.path().join("m.safetensors");
    save_model(model, &path).unwrap();
    assert_eq!(mode(&path), mode(&probe), "new model file");
    assert_eq!(mode(&config_path(&path)), mode(&probe), "new config file");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    save_model(model, &path).unwrap();
    assert_eq!(mode(&path), 0o640, "a replaced file keeps its permissions");

    let state = dir.path().join("state");
    save_training_state(&trainer, &state).unwrap();
    assert_eq!(mode(&state), mode(&probe_dir), "state folder");
}
