//! Shared helpers for the integration tests. Missing inputs are failures, never skips.
#![allow(dead_code)]

use std::path::PathBuf;
use vggnet::data::{DataConfig, Mnist};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$MNIST_DIR`, else `../shared/data/mnist`. Panics (fails the test) when neither has MNIST.
pub fn mnist_dir() -> PathBuf {
    let dir = std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data/mnist"));
    let missing = vggnet::data::missing_files(&dir).expect("cannot look into MNIST_DIR");
    assert!(
        missing.is_empty(),
        "MNIST is required by this test: {} lacks {:?}. Set MNIST_DIR to a folder with the four IDX files.",
        dir.display(),
        missing
    );
    dir
}

/// Loads MNIST without downloading, optionally limited.
pub fn load_mnist(train_limit: Option<usize>, test_limit: Option<usize>) -> Mnist {
    Mnist::load(&DataConfig {
        dir: mnist_dir(),
        train_limit,
        test_limit,
        download: false,
        ..Default::default()
    })
    .expect("loading MNIST")
}

/// The project venv's python (with torch 2.13.0), or `$VGGNET_PYTHON`. Panics when missing.
pub fn python() -> PathBuf {
    let p = std::env::var_os("VGGNET_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "the project venv's python is required ({}): run `make setup`",
        p.display()
    );
    p
}

/// Runs `python/article.py` with `args`; returns stdout. Panics with stderr on failure.
pub fn run_article(args: &[&str]) -> String {
    let out = std::process::Command::new(python())
        .arg(root().join("python/article.py"))
        .args(args)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "python/article.py {:?} failed:\n{}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Names of the entries in `dir` that start with `prefix` (leftover temporary files).
pub fn names_starting_with(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("listing the folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// A narrow network of the article's shape (4 conv blocks, 3 linear layers, dropout) for the
/// tests where the width does not matter: it builds, trains and saves in milliseconds.
pub fn tiny() -> vggnet::model::VggConfig {
    vggnet::model::VggConfig {
        block_channels: vec![4, 8, 8, 8],
        hidden: 32,
        ..Default::default()
    }
}

/// A trainer for a freshly seeded model of `model` config on the CPU.
pub fn trainer_for(
    model: vggnet::model::VggConfig,
    seed: i64,
    config: vggnet::train::TrainConfig,
) -> vggnet::train::Trainer {
    tch::manual_seed(seed);
    let model = vggnet::model::Vgg::new(model, tch::Device::Cpu).expect("building the model");
    vggnet::train::Trainer::new(model, config).expect("building the trainer")
}

/// Copies of the trainer's parameters, to compare after a step.
pub fn snapshot(t: &vggnet::train::Trainer) -> Vec<tch::Tensor> {
    t.model
        .named_parameters()
        .iter()
        .map(|(_, p)| p.copy())
        .collect()
}

/// Asserts that two models hold exactly the same weights, naming the first that differs.
pub fn assert_same_weights(a: &vggnet::model::Vgg, b: &vggnet::model::Vgg, what: &str) {
    let (pa, pb) = (a.named_parameters(), b.named_parameters());
    assert_eq!(pa.len(), pb.len(), "{what}: different parameter lists");
    for ((name, x), (_, y)) in pa.iter().zip(pb.iter()) {
        assert!(x.equal(y), "{name}: {what}");
    }
}

/// A run of the narrow network on the first 160 training and 32 test digits, on the CPU, no
/// plots, in `dir`.
pub fn tiny_run(dir: &std::path::Path, train: vggnet::train::TrainConfig) -> vggnet::run::Run {
    let config = vggnet::run::RunConfig {
        train,
        model: tiny(),
        data: DataConfig {
            dir: mnist_dir(),
            train_limit: Some(160),
            test_limit: Some(32),
            download: false,
            ..Default::default()
        },
        device: tch::Device::Cpu,
        plots: false,
    };
    vggnet::run::Run::start(dir, config).expect("starting the run")
}

/// Torch's RNG (init, dropout, augmentation) is process-global and the test harness runs tests
/// on threads: a test that seeds and then draws holds this lock, so no other test of its binary
/// draws from the generator meanwhile.
pub fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}
