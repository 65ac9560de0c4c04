//! AdamW against torch.optim.AdamW (PyTorch 2.13.0 from the venv), all of our paths: the
//! fused single-pass CPU kernel, the tensor-op formula per parameter, and the flat layout used
//! on GPUs (the same tensor ops once over all parameters). Bar: max |diff| <= 1e-6 after 3
//! steps; the flat layout must give exactly the per-parameter tensor ops' numbers.

mod common;

use common::*;
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};
use vggnet::store::checkpoint::{read_safetensors, write_safetensors};
use vggnet::train::optim::{AdamW, AdamWConfig};

const STEPS: usize = 3;

fn run_ours(
    init: &[Tensor],
    grads: &[Vec<Tensor>],
    fused: bool,
    channels_last: bool,
    flat: bool,
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
    let named = params
        .iter()
        .map(|(n, p)| (n.clone(), p.shallow_clone()))
        .collect();
    let mut opt = AdamW::new(named, AdamWConfig::default());
    if flat {
        vggnet::engine::flat_adamw::install(&mut opt);
    }
    if fused {
        opt.set_kernel(Some(Box::new(vggnet::engine::FusedAdamW)));
    }
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
        opt.step_grads(&grads);
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
    let mut runs = Vec::new();
    for (fused, channels_last, flat) in [
        (true, false, false),
        (false, false, false),
        (true, true, false),
        (false, false, true),
        (false, true, true),
    ] {
        let ours = run_ours(&init, &grads, fused, channels_last, flat);
        let mut worst = 0f64;
        for (s, params) in ours.iter().enumerate() {
            for (i, p) in params.iter().enumerate() {
                let t = &theirs[&format!("p{s}.{i}")];
                let d = f64::try_from((p - t).abs().max()).unwrap();
                worst = worst.max(d);
            }
        }
        println!("AdamW fused={fused} channels_last={channels_last} flat={flat}: max |diff| vs PyTorch over {STEPS} steps = {worst:.2e}");
        worsts.push(worst);
        runs.push(ours);
    }
    // The flat layout runs the per-parameter tensor ops once over all parameters: the same
    // numbers, bit for bit (runs[1]: per parameter; runs[3] and runs[4]: flat).
    for flat in [&runs[3], &runs[4]] {
        for (a, b) in flat.iter().flatten().zip(runs[1].iter().flatten()) {
            assert!(
                a.equal(b),
                "the flat layout differs from the per-parameter tensor ops"
            );
        }
    }
    for w in &worsts {
        assert!(*w <= 1e-6, "differs from PyTorch by {w} ({worsts:?})");
    }
}

/// The flat layout's moments are views into two buffers: saving them and loading them into a
/// fresh flat optimizer continues exactly (what resuming a GPU run does).
#[test]
fn flat_layout_state_saves_and_restores_exactly() {
    tch::manual_seed(5);
    let shapes: [&[i64]; 3] = [&[8, 4, 3, 3], &[8], &[10, 32]];
    let fresh = || -> Vec<(String, Tensor)> {
        tch::manual_seed(6);
        shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    format!("p{i}"),
                    Tensor::randn(*s, (Kind::Float, Device::Cpu)),
                )
            })
            .collect()
    };
    let grads = |step: i64| -> Vec<Tensor> {
        tch::manual_seed(100 + step);
        shapes
            .iter()
            .map(|s| Tensor::randn(*s, (Kind::Float, Device::Cpu)))
            .collect()
    };
    let (a_params, b_params) = (fresh(), fresh());
    let shallow = |ps: &[(String, Tensor)]| -> Vec<(String, Tensor)> {
        ps.iter()
            .map(|(n, p)| (n.clone(), p.shallow_clone()))
            .collect()
    };
    let mut a = AdamW::new(shallow(&a_params), AdamWConfig::default());
    vggnet::engine::flat_adamw::install(&mut a);
    for step in 0..2 {
        a.step_grads(&grads(step));
    }
    let (state, steps) = a.state();
    let saved: HashMap<String, Tensor> = state.into_iter().map(|(n, t)| (n, t.copy())).collect();
    let mut b = AdamW::new(shallow(&b_params), AdamWConfig::default());
    vggnet::engine::flat_adamw::install(&mut b);
    tch::no_grad(|| {
        for ((_, pb), (_, pa)) in b_params.iter().zip(&a_params) {
            pb.shallow_clone().copy_(pa);
        }
    });
    b.load_state(&saved, steps, std::path::Path::new("saved"))
        .unwrap();
    // One draw for both: torch's generator is global, and another test of this binary may
    // draw between a seed and its randn.
    let last = grads(2);
    a.step_grads(&last);
    b.step_grads(&last);
    for ((_, pa), (_, pb)) in a_params.iter().zip(&b_params) {
        assert!(
            pa.equal(pb),
            "the restored flat optimizer took another step"
        );
    }
}

/// A gradient that is the parameter itself (a caller's mistake from safe code) must not reach
/// the fused kernel, whose mutable slice over the parameter would alias the gradient's: it
/// takes libtorch's tensor ops, and gives exactly their numbers (the kernel, reading each
/// gradient element before decaying the parameter, would give others).
#[test]
fn a_gradient_sharing_the_parameters_memory_takes_the_tensor_ops() {
    let step = |fused: bool| {
        // Fixed values (no generator: the tests beside this one draw from it).
        let values: Vec<f32> = (0..2100)
            .map(|i| ((i * 7919) % 2003) as f32 / 1001.0 - 1.0)
            .collect();
        let p = Tensor::from_slice(&values).view([300, 7]);
        let mut opt = AdamW::new(
            vec![("p".into(), p.shallow_clone())],
            AdamWConfig::default(),
        );
        if fused {
            opt.set_kernel(Some(Box::new(vggnet::engine::FusedAdamW)));
        }
        for _ in 0..2 {
            let own = vec![p.shallow_clone()]; // the parameter as its own gradient
            opt.step_grads(&own);
        }
        p
    };
    let (fused, ops) = (step(true), step(false));
    let diff = f64::try_from((&fused - &ops).abs().max()).unwrap();
    println!("aliased gradient, fused request vs tensor ops: max |diff| {diff:e}");
    assert_eq!(diff, 0.0);
}
