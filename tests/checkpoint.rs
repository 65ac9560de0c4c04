//! Checkpoints: safetensors round trip with the config beside it, atomic writes, clear errors
//! for other architectures, training-state round trip.

mod common;

use common::names_starting_with;
use tch::{Device, Kind, Tensor};
use vggnet::checkpoint::{
    config_path, load_model, load_training_state, save_model, save_training_state,
};
use vggnet::model::{Vgg, VggConfig};
use vggnet::train::{TrainConfig, Trainer};
use vggnet::Error;

fn logits(m: &Vgg, x: &Tensor) -> Tensor {
    tch::no_grad(|| m.forward_t(x, false))
}

#[test]
fn save_load_round_trip_gives_identical_logits_and_config() {
    tch::manual_seed(5);
    let cfg = VggConfig {
        num_classes: 7,
        ..Default::default()
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
    vggnet::checkpoint::write_safetensors(&path, &tensors, None).unwrap();
    let mut mnist = Vgg::new(VggConfig::default(), Device::Cpu).unwrap();
    let named = vggnet::checkpoint::read_safetensors(&path).unwrap();
    let err = vggnet::checkpoint::load_weights(&mut mnist, &named.tensors, &path).unwrap_err();
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
    tch::manual_seed(8);
    let model = Vgg::new(VggConfig::default(), Device::Cpu).unwrap();
    let mut trainer = Trainer::new(
        model,
        TrainConfig {
            seed: 3,
            ..Default::default()
        },
    );
    let x = Tensor::randn([2, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[3i64, 4]);
    trainer.optimizer.zero_grad();
    let loss = trainer
        .model
        .forward_t(&x, true)
        .cross_entropy_for_logits(&y);
    trainer.backward_and_step(&loss);
    trainer.position.epoch = 2;
    trainer.position.batch = 17;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    save_training_state(&trainer, &state).unwrap();
    save_training_state(&trainer, &state).unwrap(); // overwriting works
    let restored = load_training_state(&state, Device::Cpu).unwrap();
    assert_eq!(restored.position, trainer.position);
    assert_eq!(restored.config, trainer.config);
    assert_eq!(restored.optimizer.step_count(), 1);
    let (a, _) = trainer.optimizer.state();
    let (b, _) = restored.optimizer.state();
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{na} differs");
    }
    assert!(logits(&trainer.model, &x).equal(&logits(&restored.model, &x)));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["state".to_string()], "no staging folders left");
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

    tch::manual_seed(3);
    let model = Vgg::new(VggConfig::default(), Device::Cpu).unwrap();
    let path = dir.path().join("m.safetensors");
    save_model(&model, &path).unwrap();
    assert_eq!(mode(&path), mode(&probe), "new model file");
    assert_eq!(mode(&config_path(&path)), mode(&probe), "new config file");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    save_model(&model, &path).unwrap();
    assert_eq!(mode(&path), 0o640, "a replaced file keeps its permissions");

    let state = dir.path().join("state");
    save_training_state(&Trainer::new(model, TrainConfig::default()), &state).unwrap();
    assert_eq!(mode(&state), mode(&probe_dir), "state folder");
}
