//! PyTorch parity: the reference is PyTorch 2.13.0 itself, run from the project venv.
//! Both directions: the article's `torch.save(state_dict)` `.pth` loads into Rust and gives
//! PyTorch's logits; weights saved by Rust (safetensors) load into the PyTorch model and give
//! Rust's logits. Bar: max |diff| <= 1e-4 on 8 real MNIST test digits.

mod common;

use common::*;
use tch::{Device, Kind, Tensor};
use vggnet::model::{Vgg, VggConfig};
use vggnet::store::checkpoint::{load_model, save_model};
use vggnet::train::{AmpMode, Precision, TrainConfig, Trainer};

const N: i64 = 8;
const TOL: f64 = 1e-4;
// bfloat16 bars, see bf16_amp_follows_pytorch_cpu_autocast for what was measured.
const BF16_LOGIT_TOL: f64 = 1e-6;
const BF16_LOSS_TOL: f64 = 4e-3;

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

/// PyTorch's logits for the first N test digits from weights saved by Rust (safetensors),
/// loaded strictly into the article's model (`python/article.py logits`), flattened; `bf16`:
/// computed under `torch.autocast("cpu", dtype=torch.bfloat16)`.
fn pytorch_logits(weights: &std::path::Path, batch_norm: bool, bf16: bool) -> Vec<f64> {
    let mnist = mnist_dir();
    let mut args = vec![
        "logits",
        "--weights",
        weights.to_str().unwrap(),
        "--mnist",
        mnist.to_str().unwrap(),
    ];
    if batch_norm {
        args.push("--batch-norm");
    }
    if bf16 {
        args.extend(["--autocast", "bf16"]);
    }
    let out: serde_json::Value = serde_json::from_str(&run_article(&args)).unwrap();
    json_matrix(&out["logits"])
}

#[test]
fn pth_from_pytorch_reproduces_its_logits() {
    let mnist = mnist_dir();
    let tmp = tempfile::tempdir().unwrap();
    // The notebooks' way (03_save_load): vggnet::teach::reference runs the article's model code.
    let script = vggnet::teach::reference::ArticleScript {
        python: python(),
        ..Default::default()
    };
    let reference =
        vggnet::teach::reference::export_article_pth(&script, &mnist, tmp.path(), 7, N as usize)
            .unwrap();
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
    let input_diff = max_abs_diff(
        &flat(&data.test.images().unwrap()),
        &flat(&reference.inputs),
    );
    assert!(input_diff <= 1e-6, "inputs differ by {input_diff}");
    let theirs = flat(&reference.logits);

    let model = load_model(&reference.pth, Device::Cpu).unwrap();
    let logits = tch::no_grad(|| model.forward_t(&data.test.images().unwrap(), false)).unwrap();
    let diff = max_abs_diff(&flat(&logits), &theirs);
    println!("parity pth->rust: max |logit diff| = {diff:.3e} over {N} digits");
    assert!(diff <= TOL, "logits differ by {diff}");
    // The fast CPU inference path (oneDNN-packed weights) gives the same logits.
    let packed = vggnet::engine::packed::PackedVgg::new(&model).expect("CPU model packs");
    let fast = packed.forward(&data.test.images().unwrap()).unwrap();
    let diff = max_abs_diff(&flat(&fast), &theirs);
    println!("parity pth->rust (packed inference): max |logit diff| = {diff:.3e}");
    assert!(diff <= TOL, "packed logits differ by {diff}");
    // And with the engine's channels-last storage instead of PyTorch's NCHW.
    let mut model = model;
    vggnet::engine::layout::set_channels_last(&mut model, true);
    assert!(vggnet::engine::layout::is_channels_last(&model));
    let cl = tch::no_grad(|| model.forward_t(&data.test.images().unwrap(), false)).unwrap();
    let diff = max_abs_diff(&flat(&cl), &theirs);
    assert!(diff <= TOL, "channels-last logits differ by {diff}");
}

/// A fresh article model (torch seed 11), saved by Rust as safetensors in a temporary folder
/// (returned too: the file lives as long as it does).
fn fresh_model_saved() -> (Vgg, tempfile::TempDir, std::path::PathBuf) {
    tch::manual_seed(11);
    let model = Vgg::new(VggConfig::default(), Device::Cpu).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("model.safetensors");
    save_model(&model, &path).unwrap();
    (model, tmp, path)
}

#[test]
fn safetensors_from_rust_reproduces_logits_in_pytorch() {
    let (model, _tmp, path) = fresh_model_saved();
    let data = load_mnist(Some(0), Some(N as usize));
    let logits = tch::no_grad(|| model.forward_t(&data.test.images().unwrap(), false)).unwrap();
    let diff = max_abs_diff(&flat(&logits), &pytorch_logits(&path, false, false));
    println!("parity rust->pytorch: max |logit diff| = {diff:.3e} over {N} digits");
    assert!(diff <= TOL, "logits differ by {diff}");
}

/// PyTorch's side of K training steps: `python/article.py steps` builds the network with
/// dropout off (p = 0, since the two RNGs differ) from seed 5, saves its initial weights and
/// takes `steps` AdamW steps at `lr` on the first training digits in order; `bf16`: under
/// `torch.autocast("cpu", dtype=torch.bfloat16)`. Holds its steps.json, its losses, and the
/// folder with its initial weights (`init.pth`).
struct PytorchSteps {
    reference: serde_json::Value,
    losses: Vec<f64>,
    dir: tempfile::TempDir,
    steps: usize,
    batch: usize,
    lr: f64,
    batch_norm: bool,
}

fn pytorch_steps(
    steps: usize,
    batch: usize,
    lr: f64,
    batch_norm: bool,
    bf16: bool,
) -> PytorchSteps {
    let mnist = mnist_dir();
    let dir = tempfile::tempdir().unwrap();
    let (out, mnist_arg) = (dir.path().to_str().unwrap(), mnist.to_str().unwrap());
    let (steps_arg, batch_arg, lr_arg) = (steps.to_string(), batch.to_string(), lr.to_string());
    let mut args = vec![
        "steps",
        "--out",
        out,
        "--mnist",
        mnist_arg,
        "--seed",
        "5",
        "--steps",
        &steps_arg,
        "--batch-size",
        &batch_arg,
        "--lr",
        &lr_arg,
    ];
    if batch_norm {
        args.push("--batch-norm");
    }
    if bf16 {
        args.extend(["--autocast", "bf16"]);
    }
    run_article(&args);
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("steps.json")).unwrap()).unwrap();
    let losses: Vec<f64> = reference["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    PytorchSteps {
        reference,
        losses,
        dir,
        steps,
        batch,
        lr,
        batch_norm,
    }
}

/// Our side of the same steps: PyTorch's initial weights loaded into our model, stored
/// channels-last (the trainer's layout) or NCHW (PyTorch's), then the trainer's own `step`
/// (forward, loss, autograd, GradScaler, the fused AdamW kernel: what `fit` runs for every
/// batch) on the same batches with precision `amp`. Returns the losses and the trainer.
fn rust_steps(py: &PytorchSteps, amp: AmpMode, channels_last: bool) -> (Vec<f64>, Trainer) {
    let init = py.dir.path().join("init.pth");
    let named = vggnet::store::checkpoint::read_pth(&init).unwrap();
    let config = VggConfig {
        dropout: 0.0,
        batch_norm: py.batch_norm,
        ..Default::default()
    };
    let mut model = Vgg::new(config, Device::Cpu).unwrap();
    vggnet::engine::layout::set_channels_last(&mut model, channels_last);
    vggnet::store::checkpoint::load_weights(&mut model, &named.tensors, &init).unwrap();
    let train = TrainConfig {
        optimizer: vggnet::train::optim::AdamWConfig {
            lr: py.lr,
            ..Default::default()
        },
        amp,
        ..Default::default()
    };
    let mut trainer = Trainer::new(model, train).unwrap();
    let data = load_mnist(Some(py.steps * py.batch), Some(0));
    let mut ours = Vec::new();
    for k in 0..py.steps {
        let idx: Vec<i64> = ((k * py.batch) as i64..((k + 1) * py.batch) as i64).collect();
        let (xs, ys) = data.train.gather(&idx).unwrap(); // (B, 1, 28, 28), (B,)
        let out = trainer.step(&xs, &ys).unwrap();
        ours.push(out.loss);
        assert!(!out.skipped, "no step may be skipped");
    }
    (ours, trainer)
}

/// Max |diff| between the trainer's model's logits on the first N test digits and PyTorch's
/// after its steps.
fn final_logit_diff(py: &PytorchSteps, trainer: &Trainer) -> f64 {
    let data = load_mnist(Some(0), Some(N as usize));
    let logits = tch::no_grad(|| {
        trainer
            .model()
            .forward_t(&data.test.images().unwrap(), false)
    })
    .unwrap();
    max_abs_diff(&flat(&logits), &json_matrix(&py.reference["logits"]))
}

/// PyTorch's steps ([`pytorch_steps`]) and ours from the same weights in the trainer's
/// layout ([`rust_steps`]). Returns PyTorch's steps.json, its losses, ours, and the trainer.
fn follow_pytorch_steps(
    steps: usize,
    batch: usize,
    lr: f64,
    batch_norm: bool,
    amp: AmpMode,
) -> (serde_json::Value, Vec<f64>, Vec<f64>, Trainer) {
    let py = pytorch_steps(steps, batch, lr, batch_norm, amp == AmpMode::Bf16);
    let (ours, trainer) = rust_steps(&py, amp, true);
    (py.reference, py.losses, ours, trainer)
}

/// The training step itself: from PyTorch's initial weights, K AdamW steps on the same batches
/// give the same loss at every step and the same final logits (see [`follow_pytorch_steps`]).
#[test]
fn training_steps_follow_pytorch() {
    const STEPS: usize = 20;
    const BATCH: usize = 32;
    let (reference, theirs, ours, trainer) =
        follow_pytorch_steps(STEPS, BATCH, 1e-3, false, AmpMode::Auto);
    let data = load_mnist(Some(0), Some(N as usize));
    let loss_diff = max_abs_diff(&ours, &theirs);
    let logits = tch::no_grad(|| {
        trainer
            .model()
            .forward_t(&data.test.images().unwrap(), false)
    })
    .unwrap();
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

/// The optional batch-norm network (torchvision's `vgg*_bn` layout) moves both ways too: a
/// PyTorch `.pth` with trained running statistics (and `num_batches_tracked`, an int64 buffer)
/// loads into Rust and gives PyTorch's eval-mode logits, on the plain path and on the packed
/// inference path (batch norm folded into the convolutions); weights saved by Rust load
/// strictly into PyTorch's model and give Rust's logits.
#[test]
fn batch_norm_weights_move_both_ways() {
    let mnist = mnist_dir();
    let tmp = tempfile::tempdir().unwrap();
    run_article(&[
        "export",
        "--out",
        tmp.path().to_str().unwrap(),
        "--mnist",
        mnist.to_str().unwrap(),
        "--seed",
        "3",
        "--batch-norm",
    ]);
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("reference.json")).unwrap()).unwrap();
    let bn = VggConfig {
        batch_norm: true,
        ..Default::default()
    };
    let keys: Vec<String> = bn.state_dict_shapes().into_iter().map(|(k, _)| k).collect();
    let theirs_keys: Vec<String> = reference["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, theirs_keys, "state_dict keys differ from PyTorch's");
    assert_eq!(
        bn.num_parameters(),
        reference["num_parameters"].as_i64().unwrap()
    );

    let pth = tmp.path().join("vggnet_mnist.pth");
    let model = load_model(&pth, Device::Cpu).unwrap();
    assert!(
        model.config().batch_norm,
        "batch norm inferred from the keys"
    );
    let tracked = model
        .state_dict()
        .into_iter()
        .find(|(k, _)| k == "features.1.num_batches_tracked")
        .unwrap()
        .1;
    assert_eq!(tracked.kind(), Kind::Int64);
    assert_eq!(tracked.int64_value(&[]), 3);
    let data = load_mnist(Some(0), Some(N as usize));
    let theirs = json_matrix(&reference["logits"]);
    let logits = tch::no_grad(|| model.forward_t(&data.test.images().unwrap(), false)).unwrap();
    let diff = max_abs_diff(&flat(&logits), &theirs);
    println!("parity batch norm pth->rust: max |logit diff| = {diff:.3e}");
    assert!(diff <= TOL, "logits differ by {diff}");
    let packed = vggnet::engine::packed::PackedVgg::new(&model).unwrap();
    let diff = max_abs_diff(
        &flat(&packed.forward(&data.test.images().unwrap()).unwrap()),
        &theirs,
    );
    println!("parity batch norm pth->rust (folded, packed): max |logit diff| = {diff:.3e}");
    assert!(diff <= TOL, "folded logits differ by {diff}");
    // The running statistics matter: with fresh ones the logits are far off.
    let fresh = Vgg::new(bn.clone(), Device::Cpu).unwrap();
    let mut copy = fresh.try_clone().unwrap();
    let mut named = vggnet::store::checkpoint::read_pth(&pth).unwrap().tensors;
    named.retain(|k, _| !k.contains("running") && !k.contains("num_batches"));
    named.extend(
        fresh
            .state_dict()
            .into_iter()
            .filter(|(k, _)| k.contains("running") || k.contains("num_batches")),
    );
    vggnet::store::checkpoint::load_weights(&mut copy, &named, &pth).unwrap();
    let stale = tch::no_grad(|| copy.forward_t(&data.test.images().unwrap(), false)).unwrap();
    let stale_diff = max_abs_diff(&flat(&stale), &theirs);
    println!("with fresh running statistics instead: max |logit diff| = {stale_diff:.3e}");
    assert!(stale_diff > 10.0 * TOL, "running statistics had no effect");

    // Rust -> PyTorch: a few train-mode passes move the buffers, then save and load there.
    let path = tmp.path().join("bn.safetensors");
    let train = load_mnist(Some(128), Some(0));
    let _ = tch::no_grad(|| model.forward_t(&train.train.images().unwrap(), true)).unwrap();
    save_model(&model, &path).unwrap();
    let ours = tch::no_grad(|| model.forward_t(&data.test.images().unwrap(), false)).unwrap();
    let diff = max_abs_diff(&flat(&ours), &pytorch_logits(&path, true, false));
    println!("parity batch norm rust->pytorch: max |logit diff| = {diff:.3e}");
    assert!(diff <= TOL, "logits differ by {diff}");
    let reloaded = load_model(&path, Device::Cpu).unwrap();
    for ((k, a), (_, b)) in model.state_dict().iter().zip(reloaded.state_dict()) {
        assert!(a.equal(&b), "{k} changed in the round trip");
        assert_eq!(a.kind(), b.kind(), "{k}");
    }
}

/// Training with batch norm follows PyTorch step for step: batch statistics in the forward
/// pass, their gradients, and the running statistics each train-mode pass updates.
#[test]
fn batch_norm_training_steps_follow_pytorch() {
    const STEPS: usize = 3;
    const BATCH: usize = 32;
    // At the article's 1e-3 the first step throws this network's loss to 9.7 and the next
    // steps amplify float rounding; at 1e-4 the steps are smooth. Even so Adam's per-weight
    // normalization amplifies rounding step by step (measured at 1e-4: after 3 steps losses
    // 5.4e-5, logits 2.8e-4, running statistics 8.0e-4 apart; after 10 steps 2.3e-3, 8.6e-3,
    // 2.8e-2), so the comparison is over 3 steps, where a wrong statistic shows: the biased
    // instead of the unbiased batch variance would move running_var by ~3% (~2e-2).
    const LR: f64 = 1e-4;
    let (reference, theirs, ours, trainer) =
        follow_pytorch_steps(STEPS, BATCH, LR, true, AmpMode::Auto);
    let data = load_mnist(Some(0), Some(N as usize));
    let loss_diff = max_abs_diff(&ours, &theirs);
    let logits = tch::no_grad(|| {
        trainer
            .model()
            .forward_t(&data.test.images().unwrap(), false)
    })
    .unwrap();
    let logit_diff = max_abs_diff(&flat(&logits), &json_matrix(&reference["logits"]));
    let mut buffer_diff: f64 = 0.0;
    for (k, t) in trainer.model().state_dict() {
        let Some(theirs) = reference["buffers"].get(&k) else {
            continue;
        };
        let theirs: Vec<f64> = match theirs.as_array() {
            Some(a) => a.iter().map(|v| v.as_f64().unwrap()).collect(),
            None => vec![theirs.as_f64().unwrap()],
        };
        buffer_diff = buffer_diff.max(max_abs_diff(&flat(&t), &theirs));
    }
    println!(
        "parity batch norm training: {STEPS} steps of {BATCH}: losses {:.4} -> {:.4} (PyTorch \
         {:.4} -> {:.4}), max |loss diff| {loss_diff:.3e}, final logits {logit_diff:.3e}, \
         buffers {buffer_diff:.3e}",
        ours[0],
        ours[STEPS - 1],
        theirs[0],
        theirs[STEPS - 1]
    );
    assert_eq!(
        reference["buffers"].as_object().unwrap().len(),
        8 * 3,
        "3 buffers for each of the 8 batch norms"
    );
    // With batch norm the loss leaves the 2.30 plateau at once (2.30 -> 2.12 in 3 steps).
    assert!(
        ours[STEPS - 1] < ours[0] - 0.1,
        "the loss did not fall: {ours:?}"
    );
    assert!(
        loss_diff <= 1e-3,
        "losses differ by {loss_diff}: {ours:?} vs {theirs:?}"
    );
    assert!(logit_diff <= 5e-3, "final logits differ by {logit_diff}");
    assert!(
        buffer_diff <= 5e-3,
        "running statistics differ by {buffer_diff}"
    );
}

/// bfloat16 AMP (`AmpMode::Bf16`) computes what PyTorch's CPU autocast computes: the same
/// logits from the same weights under `torch.autocast("cpu", dtype=torch.bfloat16)`, and the
/// same training steps from PyTorch's initial weights (float32 weights, AdamW and loss; see
/// [`follow_pytorch_steps`]).
#[test]
fn bf16_amp_follows_pytorch_cpu_autocast() {
    let (model, _tmp, path) = fresh_model_saved();
    let data = load_mnist(Some(0), Some(N as usize));
    let bf16 = |m: &Vgg| {
        tch::no_grad(|| m.forward_autocast(&data.test.images().unwrap(), false, Kind::BFloat16))
            .unwrap()
    };
    let theirs = pytorch_logits(&path, false, true);
    // In PyTorch's (the article model's) NCHW layout both sides run the same bfloat16
    // kernels: measured 0 difference, with oneDNN on AMX and capped to AVX2
    // (ONEDNN_MAX_CPU_ISA=AVX2) alike.
    let mut nchw = model.try_clone().unwrap();
    vggnet::engine::layout::set_channels_last(&mut nchw, false);
    let ours = bf16(&nchw);
    assert_eq!(ours.kind(), Kind::BFloat16);
    let diff = max_abs_diff(&flat(&ours), &theirs);
    // What bfloat16 itself changes: PyTorch's autocast logits against float32 ones (1.1e-4).
    let fp32 = tch::no_grad(|| model.forward_t(&data.test.images().unwrap(), false)).unwrap();
    let rounding = max_abs_diff(&flat(&fp32), &theirs);
    // Channels-last (how the trainer stores activations) may pick other kernels whose sums
    // round differently: measured 0 on AMX, 6.1e-5 capped to AVX2 and on one AVX2 EPYC, 1.2e-4
    // on another (where float32 itself moved the logits by only 1.0e-4, so "within float32's
    // distance" was no bar). Those are one bfloat16 step (ulp) of the largest logit; a
    // layout mix-up moves logits by their own size. The bar: 4 steps of the largest logit.
    let mut cl = model.try_clone().unwrap();
    vggnet::engine::layout::set_channels_last(&mut cl, true);
    let channels_last = bf16(&cl);
    assert_eq!(channels_last.kind(), Kind::BFloat16);
    let cl_diff = max_abs_diff(&flat(&channels_last), &theirs);
    let largest = theirs.iter().fold(0f64, |m, v| m.max(v.abs()));
    // bfloat16 keeps 8 significant bits: its step at x is 2^(floor(log2 |x|) - 7).
    let bf16_step = 2f64.powi(largest.log2().floor() as i32 - 7);
    println!(
        "parity bf16 autocast: max |logit diff| {diff:.3e} (channels-last {cl_diff:.3e} = \
         {:.1} bfloat16 steps of the largest logit {largest:.3e}; bfloat16 against float32: \
         {rounding:.3e})",
        cl_diff / bf16_step
    );
    assert!(diff <= BF16_LOGIT_TOL, "bf16 logits differ by {diff}");
    assert!(
        rounding >= 10.0 * BF16_LOGIT_TOL,
        "bfloat16 should move the logits ({rounding}) far more than the bar"
    );
    assert!(
        cl_diff <= 4.0 * bf16_step,
        "channels-last bf16 logits differ by {cl_diff}, over 4 bfloat16 steps ({bf16_step:.3e})"
    );

    // Training steps. What the CPU's kernels do to a comparison depends on the memory layout:
    // channels-last (the trainer's default) runs other bfloat16 kernels than PyTorch's NCHW, and
    // Adam amplifies their rounding step by step. Final logits after 10 steps, channels-last
    // against PyTorch: 7.9e-4 (AMX Xeon), 1.9e-3 (AVX2 EPYC, emulated), 4.7e-3 (Zen 4 EPYC with
    // AVX512-BF16), while the defect this guards against (float32 steps instead of bfloat16)
    // landed at 5.3e-3 on the AMX Xeon: no fixed logit bar separates the two on every CPU. So
    // the comparison runs in PyTorch's own layout (NCHW), and the defect is measured in this
    // same run on this same CPU, from the same weights on the same batches.
    // Measured on the AVX2 EPYC (emulated bfloat16) at batch 32: ours 2.2e-4 (losses) and
    // 1.1e-3 (final logits), float32 steps 1.9e-3 and 5.0e-3. Even in one layout the steps are not bit-equal
    // (Adam's normalization amplifies the last bit of a weight into a flipped bfloat16
    // rounding), so the logits after 10 steps measure that noise more than the arithmetic (in
    // channels-last the Zen 4 EPYC's noise, 4.7e-3, was 89% of the defect's 5.3e-3 on AMX): they
    // are printed, not asserted. The losses decide: under a third of the defect's distance, and
    // the fixed bar. At batch 32 the losses were 2.0e-4 apart on AMX, 2.2e-4 on AVX2 in NCHW
    // (3.1e-4 AVX2 and 2.6e-4 Zen 4 in channels-last), against 1.4e-3 to 1.9e-3 for float32
    // steps.
    //
    // Batches of 8, not 32: where bfloat16 is emulated (AVX2) both sides' steps take about ten
    // times float32's, and at 32 this test alone took 335 s of the suite. Measured on the AVX2
    // EPYC at 8 (2026-11-30): ours 6.5e-4 (losses), 1.5e-3 (final logits); float32 steps
    // 2.1e-2 and 1.9e-2, so ours at 0.03 of the defect. A batch of 8 averages fewer per-digit
    // roundings into each loss, so the loss noise is about 3x that at 32 (2.2e-4 there); the
    // fixed bar moves with it, to 4e-3: six times the noise measured, five times under the
    // defect.
    const STEPS: usize = 10;
    const BATCH: usize = 8;
    let py = pytorch_steps(STEPS, BATCH, 1e-3, false, true);
    let (ours, trainer) = rust_steps(&py, AmpMode::Bf16, false);
    let (wrong, trainer_wrong) = rust_steps(&py, AmpMode::Off, false);
    let theirs = &py.losses;
    let loss_diff = max_abs_diff(&ours, theirs);
    let logit_diff = final_logit_diff(&py, &trainer);
    let wrong_loss_diff = max_abs_diff(&wrong, theirs);
    let wrong_logit_diff = final_logit_diff(&py, &trainer_wrong);
    println!(
        "parity bf16 training ({:?} bfloat16 on this CPU), {STEPS} steps of {BATCH} in NCHW: \
         losses {:.4} -> {:.4} (PyTorch {:.4} -> {:.4})\n  ours: max |loss diff| \
         {loss_diff:.3e}, final max |logit diff| {logit_diff:.3e}\n  the defect, float32 \
         steps: {wrong_loss_diff:.3e}, {wrong_logit_diff:.3e} (ours at {:.2} and {:.2} of it)",
        vggnet::engine::cpu::cpu_bf16(),
        ours[0],
        ours[STEPS - 1],
        theirs[0],
        theirs[STEPS - 1],
        loss_diff / wrong_loss_diff,
        logit_diff / wrong_logit_diff
    );
    assert_eq!(trainer.precision(), Precision::Bfloat16);
    assert!(!trainer.uses_grad_scaler(), "no GradScaler with bfloat16");
    for (name, p) in trainer.model().named_parameters() {
        assert_eq!(p.kind(), Kind::Float, "{name} must stay float32");
    }
    assert!(
        loss_diff <= wrong_loss_diff / 3.0 && loss_diff <= BF16_LOSS_TOL,
        "losses differ by {loss_diff:.3e}: not well inside the distance of float32 steps \
         ({wrong_loss_diff:.3e}) and the bar {BF16_LOSS_TOL:e}; ours {ours:?} vs {theirs:?}"
    );
}
