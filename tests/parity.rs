//! PyTorch parity: the reference is PyTorch 2.13.0 itself, run from the project venv.
//! Both directions: the article's `torch.save(state_dict)` `.pth` loads into Rust and gives
//! PyTorch's logits; weights saved by Rust (safetensors) load into the PyTorch model and give
//! Rust's logits. Bar: max |diff| <= 1e-4 on 8 real MNIST test digits.

mod common;

use common::*;
use tch::{Device, Kind, Tensor};
use vggnet::checkpoint::{load_model, save_model};
use vggnet::model::{Vgg, VggConfig};
use vggnet::train::{TrainConfig, Trainer};

const N: i64 = 8;
const TOL: f64 = 1e-4;

fn flat(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.to_kind(Kind::Double).view([-1])).unwrap()
}

fn json_matrix(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect()
}

#[test]
fn pth_from_pytorch_reproduces_its_logits() {
    let mnist = mnist_dir();
    let tmp = tempfile::tempdir().unwrap();
    // The notebooks' way (03_save_load): vggnet::reference runs the article's model code.
    let script = vggnet::reference::ArticleScript {
        python: python(),
        ..Default::default()
    };
    let reference =
        vggnet::reference::export_article_pth(&script, &mnist, tmp.path(), 7, N as usize).unwrap();
    assert_eq!(reference.seed, 7);
    assert!(
        reference.torch_version.starts_with("2.13.0"),
        "{}",
        reference.torch_version
    );

    // Same parameter names and count as PyTorch's state_dict().
    let ours: Vec<String> = VggConfig::default()
        .parameter_shapes()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(ours, reference.keys);
    assert_eq!(reference.num_parameters, 23_607_754);
    assert_eq!(
        VggConfig::default().num_parameters(),
        reference.num_parameters
    );

    // Our data pipeline gives the same normalized inputs as ToTensor() + Normalize(0.5, 0.5).
    let data = load_mnist(Some(0), Some(N as usize));
    let labels = Vec::<i64>::try_from(&data.test.labels).unwrap();
    assert_eq!(labels, reference.labels);
    let input_diff = max_abs_diff(&flat(&data.test.images), &flat(&reference.inputs));
    assert!(input_diff <= 1e-6, "inputs differ by {input_diff}");
    let theirs = flat(&reference.logits);

    let model = load_model(&reference.pth, Device::Cpu).unwrap();
    let logits = tch::no_grad(|| model.forward_t(&data.test.images, false)).unwrap();
    let diff = max_abs_diff(&flat(&logits), &theirs);
    println!("parity pth->rust: max |logit diff| = {diff:.3e} over {N} digits");
    assert!(diff <= TOL, "logits differ by {diff}");
    // The fast CPU inference path (oneDNN-packed weights) gives the same logits.
    let packed = model.packed_for_inference().expect("CPU model packs");
    let fast = packed.forward(&data.test.images).unwrap();
    let diff = max_abs_diff(&flat(&fast), &theirs);
    println!("parity pth->rust (packed inference): max |logit diff| = {diff:.3e}");
    assert!(diff <= TOL, "packed logits differ by {diff}");
    // And with NCHW instead of channels-last storage.
    let mut model = model;
    model.set_channels_last(false);
    let nchw = tch::no_grad(|| model.forward_t(&data.test.images, false)).unwrap();
    let diff = max_abs_diff(&flat(&nchw), &theirs);
    assert!(diff <= TOL, "NCHW logits differ by {diff}");
}

#[test]
fn safetensors_from_rust_reproduces_logits_in_pytorch() {
    let mnist = mnist_dir();
    tch::manual_seed(11);
    let model = Vgg::new(VggConfig::default(), Device::Cpu).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("model.safetensors");
    save_model(&model, &path).unwrap();

    let data = load_mnist(Some(0), Some(N as usize));
    let logits = tch::no_grad(|| model.forward_t(&data.test.images, false)).unwrap();
    let out = run_article(&[
        "logits",
        "--weights",
        path.to_str().unwrap(),
        "--mnist",
        mnist.to_str().unwrap(),
    ]);
    let theirs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let diff = max_abs_diff(&flat(&logits), &json_matrix(&theirs["logits"]));
    println!("parity rust->pytorch: max |logit diff| = {diff:.3e} over {N} digits");
    assert!(diff <= TOL, "logits differ by {diff}");
}

/// The training step itself: from PyTorch's initial weights, K AdamW steps on the same batches
/// (dropout off on both sides, since the two RNGs differ) give the same loss at every step and
/// the same final logits. The Rust side is the trainer's own `step` (forward, loss, autograd,
/// GradScaler, the fused AdamW kernel), the one `fit` runs for every batch.
#[test]
fn training_steps_follow_pytorch() {
    const STEPS: usize = 20;
    const BATCH: usize = 32;
    let mnist = mnist_dir();
    let tmp = tempfile::tempdir().unwrap();
    run_article(&[
        "steps",
        "--out",
        tmp.path().to_str().unwrap(),
        "--mnist",
        mnist.to_str().unwrap(),
        "--seed",
        "5",
        "--steps",
        &STEPS.to_string(),
        "--batch-size",
        &BATCH.to_string(),
    ]);
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("steps.json")).unwrap()).unwrap();
    let theirs: Vec<f64> = reference["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();

    // PyTorch's initial weights in the article's network with dropout off (p = 0), so that
    // the trainer's own step (autocast/scaler, autograd, fused AdamW) runs unchanged.
    let init = tmp.path().join("init.pth");
    let named = vggnet::checkpoint::read_pth(&init).unwrap();
    let no_dropout = VggConfig {
        dropout: 0.0,
        ..Default::default()
    };
    let mut model = Vgg::new(no_dropout, Device::Cpu).unwrap();
    vggnet::checkpoint::load_weights(&mut model, &named.tensors, &init).unwrap();
    let mut trainer = Trainer::new(model, TrainConfig::default()).unwrap();
    let data = load_mnist(Some(STEPS * BATCH), Some(N as usize));
    let mut ours = Vec::new();
    for k in 0..STEPS {
        let idx: Vec<i64> = ((k * BATCH) as i64..((k + 1) * BATCH) as i64).collect();
        let (xs, ys) = data.train.gather(&idx); // (B, 1, 28, 28), (B,)
        let out = trainer.step(&xs, &ys).unwrap();
        ours.push(out.loss);
        assert!(!out.skipped, "no step may be skipped");
    }
    let loss_diff = max_abs_diff(&ours, &theirs);
    let logits = tch::no_grad(|| trainer.model.forward_t(&data.test.images, false)).unwrap();
    let logit_diff = max_abs_diff(&flat(&logits), &json_matrix(&reference["logits"]));
    println!(
        "parity training: {STEPS} steps of {BATCH}: losses {:.4} -> {:.4} (PyTorch {:.4} -> {:.4}), \
         max |loss diff| {loss_diff:.3e}, final max |logit diff| {logit_diff:.3e}",
        ours[0],
        ours[STEPS - 1],
        theirs[0],
        theirs[STEPS - 1]
    );
    // These first steps sit on the network's 2.30 plateau, but the loss moves from batch to
    // batch by ~0.1; it must move exactly as PyTorch's does. Measured on the 2-core CPU:
    // max |loss diff| 1.0e-3, final logits 5.0e-3 (float rounding that Adam's per-parameter
    // normalization amplifies: gradients near zero flip sign). A learning rate only 20% off
    // (1.2e-3) already gives a max |loss diff| of 3.5e-2, seven times this bar.
    let spread = ours.iter().cloned().fold(f64::MIN, f64::max)
        - ours.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 0.05, "the loss did not move: {ours:?}");
    assert!(
        loss_diff <= 5e-3,
        "losses differ by {loss_diff}: {ours:?} vs {theirs:?}"
    );
    assert!(logit_diff <= 5e-2, "final logits differ by {logit_diff}");
}

/// The PyTorch run of the article's loop that the README compares against
/// (`python/article.py train`) runs end to end and records what the comparison reads.
#[test]
fn pytorch_reference_run_records_its_metrics() {
    let mnist = mnist_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pytorch.json");
    run_article(&[
        "train",
        "--mnist",
        mnist.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--train-limit",
        "128",
        "--test-limit",
        "64",
        "--eval-every",
        "1",
        "--threads",
        "1",
    ]);
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(run["train_images"], 128);
    assert_eq!(run["test_images"], 64);
    let epochs = run["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 1);
    let loss = epochs[0]["train_loss"].as_f64().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "train loss {loss}");
    let evals = run["evals"].as_array().unwrap();
    assert_eq!(evals.len(), 2, "one evaluation per step: {evals:?}");
    for e in evals.iter().chain(epochs) {
        let acc = e["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&acc), "accuracy {acc}");
    }
}
