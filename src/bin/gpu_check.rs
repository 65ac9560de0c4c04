//! The Rust side of the GPU check (scripts/gpu-check.sh; python/gpu_reference.py is PyTorch's).
//!
//! - `info`: what libtorch sees: CUDA available, devices, cuDNN, and whether libtorch's CUDA
//!   backend (`libtorch_cuda.so`) is loaded in this process.
//! - `scaler`: the article's AMP step (autocast + GradScaler) taken by hand on the first
//!   `--steps` batches of the training set in order, with dropout off and the loss multiplied
//!   by `--force` at the `--overflow` steps, so that the float16 backward pass overflows there.
//!   Writes the initial weights (for PyTorch to start from the same ones), every step's scale,
//!   loss and skip, the first step's unscaled gradients (both sides start from the same
//!   weights there; later steps drift apart by rounding, which AdamW's sign-like update of
//!   near-zero gradients amplifies) and the final weights.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use vggnet::data::{Data, DataConfig};
use vggnet::engine::parse_device;
use vggnet::model::{Vgg, VggConfig};
use vggnet::store::checkpoint::{save_model, write_safetensors};
use vggnet::train::{AmpMode, TrainConfig, Trainer};

#[derive(Parser)]
#[command(about = "The Rust side of the GPU check (scripts/gpu-check.sh)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// CUDA as libtorch sees it, as one JSON line.
    Info,
    /// GradScaler trajectory with forced float16 overflows (see the file's documentation).
    Scaler(ScalerArgs),
}

#[derive(clap::Args)]
struct ScalerArgs {
    #[arg(long, default_value = "cuda")]
    device: String,
    /// MNIST folder (the four gzipped IDX files).
    #[arg(long)]
    mnist: PathBuf,
    /// Output folder: init.safetensors, scaler_rust.json, grads_rust.safetensors,
    /// final_rust.safetensors.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 12)]
    steps: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Steps (0-based) whose loss is multiplied by --force.
    #[arg(long, value_delimiter = ',', default_value = "3,4,9")]
    overflow: Vec<usize>,
    /// 2^20: with the initial scale 2^16 the float16 gradients overflow; float32 ones do not.
    #[arg(long, default_value_t = 1048576.0)]
    force: f64,
    /// Small, so that the scale also grows within the run (PyTorch's default: 2000).
    #[arg(long, default_value_t = 3)]
    growth_interval: u64,
    #[arg(long, default_value_t = 0)]
    seed: i64,
}

fn scaler(a: ScalerArgs) -> Result<serde_json::Value> {
    let ScalerArgs {
        device,
        mnist,
        out,
        steps,
        batch,
        overflow,
        force,
        growth_interval,
        seed,
    } = a;
    let device = parse_device(&device)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let data = Data::load(&DataConfig {
        dir: mnist,
        train_limit: Some(steps * batch),
        test_limit: Some(batch),
        download: false,
        ..Default::default()
    })?;
    tch::manual_seed(seed);
    let model = Vgg::new(
        VggConfig {
            dropout: 0.0,
            ..Default::default()
        },
        device,
    )?;
    save_model(&model, &out.join("init.safetensors"))?;
    let mut config = TrainConfig {
        batch_size: batch,
        amp: if device.is_cuda() {
            AmpMode::On
        } else {
            AmpMode::Off
        },
        ..Default::default()
    };
    config.scaler.growth_interval = growth_interval;
    let mut t = Trainer::new(model, config)?;
    // The layout and GPU optimizer step `vggnet train` trains with (the engine's channels-last,
    // PyTorch's side following the recorded setting; the flat AdamW step), without the rest of
    // speed_up: the check compares arithmetic.
    vggnet::engine::layout::set_trainer_channels_last(&mut t, true);
    if device.is_cuda() {
        vggnet::engine::flat_adamw::install(t.optimizer_mut()); // AdamW as speed_up sets it there
    }
    // On the CPU (the dry run) autocast is off, but the scaler runs all the same.
    *t.scaler_mut() = vggnet::train::amp::GradScaler::new(t.config().scaler, true);
    let mut records = Vec::new();
    let mut first_grads = Vec::new();
    for k in 0..steps {
        let idx: Vec<i64> = ((k * batch) as i64..((k + 1) * batch) as i64).collect();
        let (xs, ys) = data.train.gather(&idx)?; // (B, 1, 28, 28), (B,)
        let (_logits, loss) = t.forward_loss(&xs, &ys)?;
        let loss_value = loss.double_value(&[]);
        let forced = overflow.contains(&k);
        let loss = if forced { loss * force } else { loss };
        let scale_before = t.scaler().scale;
        let grads = t.scaled_grads(&loss)?;
        let skipped = t.apply_grads(&grads);
        records.push(json!({
            "step": k,
            "loss": loss_value,
            "forced": forced,
            "scale_before": scale_before,
            "scale_after": t.scaler().scale,
            "skipped": skipped,
        }));
        if k == 0 {
            first_grads = grads;
        }
    }
    let names: Vec<String> = t
        .model()
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let grads: Vec<(String, tch::Tensor)> = names
        .into_iter()
        .zip(first_grads)
        .map(|(n, g)| (n, g.to_device(tch::Device::Cpu).contiguous()))
        .collect();
    write_safetensors(&out.join("grads_rust.safetensors"), &grads, None)?;
    save_model(t.model(), &out.join("final_rust.safetensors"))?;
    let result = json!({
        "side": "rust",
        "device": format!("{device:?}"),
        "amp": t.uses_grad_scaler(),
        "steps": records,
        "skipped_steps": t.scaler().skipped_steps,
        "settings": {"batch": batch, "overflow": overflow, "force": force,
                      "growth_interval": growth_interval, "init_scale": t.config().scaler.init_scale,
                      "seed": seed, "channels_last": vggnet::engine::layout::is_channels_last(t.model())},
    });
    vggnet::store::fsio::atomic_write(
        &out.join("scaler_rust.json"),
        serde_json::to_string_pretty(&result)?.as_bytes(),
    )?;
    Ok(result)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    vggnet::engine::cuda::load_cuda_backend();
    let value = match cli.cmd {
        Cmd::Info => json!({
            "cuda_available": tch::Cuda::is_available(),
            "cuda_device_count": tch::Cuda::device_count(),
            "cudnn_available": tch::Cuda::cudnn_is_available(),
            "libtorch_cuda_loaded": vggnet::engine::cuda::cuda_backend_loaded(),
            "default_device": format!("{:?}", vggnet::engine::device()),
        }),
        Cmd::Scaler(a) => scaler(a)?,
    };
    println!("{value}");
    Ok(())
}
