//! PyTorch parity: the reference is PyTorch 2.13.0 itself, run from the project venv.
//! Both directions: the article's `torch.save(state_dict)` `.pth` loads into Rust and gives
//! PyTorch's logits; weights saved by Rust (safetensors) load into the PyTorch model and give
//! Rust's logits. Bar: max |diff| <= 1e-4 on 8 real MNIST test digits.

mod common;

use common::*;
use tch::{Device, Kind, Tensor};
use vggnet::checkpoint::{load_model, save_model};
use vggnet::model::{Vgg, VggConfig};

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
    let out = tmp.path().to_str().unwrap();
    run_article(&[
        "export",
        "--out",
        out,
        "--mnist",
        mnist.to_str().unwrap(),
        "--seed",
        "7",
    ]);
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("reference.json")).unwrap()).unwrap();

    // Same parameter names and count as PyTorch's state_dict().
    let keys: Vec<String> = reference["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let ours: Vec<String> = VggConfig::default()
        .parameter_shapes()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(ours, keys);
    assert_eq!(reference["num_parameters"].as_i64().unwrap(), 23_607_754);

    // Our data pipeline gives the same normalized inputs as ToTensor() + Normalize(0.5, 0.5).
    let data = load_mnist(Some(0), Some(N as usize));
    let input_diff = max_abs_diff(&flat(&data.test.images), &json_matrix(&reference["inputs"]));
    assert!(input_diff <= 1e-6, "inputs differ by {input_diff}");

    let model = load_model(&tmp.path().join("vggnet_mnist.pth"), Device::Cpu).unwrap();
    let logits = tch::no_grad(|| model.forward_t(&data.test.images, false));
    let diff = max_abs_diff(&flat(&logits), &json_matrix(&reference["logits"]));
    println!("parity pth->rust: max |logit diff| = {diff:.3e} over {N} digits");
    assert!(diff <= TOL, "logits differ by {diff}");
    // The fast CPU inference path (oneDNN-packed weights) gives the same logits.
    let packed = model.packed_for_inference().expect("CPU model packs");
    let fast = packed.forward(&data.test.images).unwrap();
    let diff = max_abs_diff(&flat(&fast), &json_matrix(&reference["logits"]));
    println!("parity pth->rust (packed inference): max |logit diff| = {diff:.3e}");
    assert!(diff <= TOL, "packed logits differ by {diff}");
    // And with NCHW instead of channels-last storage.
    let mut model = model;
    model.set_channels_last(false);
    let nchw = tch::no_grad(|| model.forward_t(&data.test.images, false));
    let diff = max_abs_diff(&flat(&nchw), &json_matrix(&reference["logits"]));
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
    let logits = tch::no_grad(|| model.forward_t(&data.test.images, false));
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
