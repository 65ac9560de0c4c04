//! AdamW against torch.optim.AdamW (PyTorch 2.13.0 from the venv), both of our paths: the
//! fused single-pass CPU kernel and the tensor-op formula. Bar: max |diff| <= 1e-6 after 3 steps.

mod common;

use common::*;
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};
use vggnet::checkpoint::{read_safetensors, write_safetensors};
use vggnet::optim::{AdamW, AdamWConfig};

const STEPS: usize = 3;

fn run_ours(
    init: &[Tensor],
    grads: &[Vec<Tensor>],
    fused: bool,
    channels_last: bool,
) -> Vec<Vec<Tensor>> {
    let params: Vec<(String, Tensor)> = init
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut p = if channels_last && t.dim() == 4 {
                t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
            } else {
                t.copy()
            };
            p = p.set_requires_grad(true);
            (format!("p{i}"), p)
        })
        .collect();
    let mut opt = AdamW::new(
        params
            .iter()
            .map(|(n, p)| (n.clone(), p.shallow_clone()))
            .collect(),
        AdamWConfig::default(),
    );
    let mut out = Vec::new();
    for g in grads.iter().take(STEPS) {
        // Gradients through autograd (as `Trainer::scaled_grads` takes them), so they get the
        // parameters' layout as in training.
        let loss = params
            .iter()
            .zip(g)
            .map(|((_, p), g)| (p * g).sum(Kind::Float))
            .fold(Tensor::from(0f32), |a, b| a + b);
        let grads = Tensor::run_backward(&[&loss], &opt.params(), false, false);
        opt.step_grads(&grads, fused);
        out.push(params.iter().map(|(_, p)| p.detach().copy()).collect());
    }
    out
}

#[test]
fn adamw_matches_pytorch_fused_and_unfused() {
    tch::manual_seed(4);
    let shapes: Vec<Vec<i64>> = vec![vec![64, 32, 3, 3], vec![64], vec![300, 700], vec![10, 4096]];
    let init: Vec<Tensor> = shapes
        .iter()
        .map(|s| Tensor::randn(s.as_slice(), (Kind::Float, Device::Cpu)))
        .collect();
    let grads: Vec<Vec<Tensor>> = (0..STEPS)
        .map(|_| {
            shapes
                .iter()
                .map(|s| Tensor::randn(s.as_slice(), (Kind::Float, Device::Cpu)) * 0.1)
                .collect()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.safetensors");
    let output = dir.path().join("out.safetensors");
    let mut named = Vec::new();
    for (i, p) in init.iter().enumerate() {
        named.push((format!("p.{i}"), p.shallow_clone()));
    }
    for (s, g) in grads.iter().enumerate() {
        for (i, t) in g.iter().enumerate() {
            named.push((format!("g{s}.{i}"), t.shallow_clone()));
        }
    }
    write_safetensors(&input, &named, None).unwrap();
    run_article(&[
        "adamw",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    let theirs: HashMap<String, Tensor> = read_safetensors(&output).unwrap().tensors;

    let mut worsts = Vec::new();
    for (fused, channels_last) in [(true, false), (false, false), (true, true)] {
        let ours = run_ours(&init, &grads, fused, channels_last);
        let mut worst = 0f64;
        for (s, params) in ours.iter().enumerate() {
            for (i, p) in params.iter().enumerate() {
                let t = &theirs[&format!("p{s}.{i}")];
                let d = f64::try_from((p - t).abs().max()).unwrap();
                worst = worst.max(d);
            }
        }
        println!("AdamW fused={fused} channels_last={channels_last}: max |diff| vs PyTorch over {STEPS} steps = {worst:.2e}");
        worsts.push(worst);
    }
    for w in &worsts {
        assert!(*w <= 1e-6, "differs from PyTorch by {w} ({worsts:?})");
    }
}
