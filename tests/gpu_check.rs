//! The GPU check's GradScaler comparison (scripts/gpu-check.sh, part (b)), run on the CPU: the
//! `gpu_check scaler` binary against `torch.amp.GradScaler` (python/gpu_reference.py) from the
//! same initial weights on the same batches. On the CPU there is no float16, so the overflow is
//! forced with a factor that overflows float32 too (1e38 times the scale): the skipped steps,
//! the backoff after them and the growth every `growth_interval` clean steps must be the same
//! step for step, and the first step's unscaled gradients within 2% of the largest value
//! (PyTorch's side takes the Rust side's memory layout from its settings, channels-last).
//! On the GPU the same code runs with a factor that overflows only float16.

mod common;

use anyhow::{ensure, Context, Result};
use common::{mnist_dir, python, root};
use std::process::Command;

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn grad_scaler_follows_pytorch_through_forced_overflows() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("scaler");
    run(Command::new(env!("CARGO_BIN_EXE_gpu_check"))
        .args([
            "scaler",
            "--device",
            "cpu",
            "--steps",
            "7",
            "--overflow",
            "2,3",
        ])
        .args(["--force", "1e38", "--growth-interval", "2", "--mnist"])
        .arg(mnist_dir())
        .arg("--out")
        .arg(&out))?;
    let reference = root().join("python/gpu_reference.py");
    run(Command::new(python())
        .arg(&reference)
        .args(["scaler", "--device", "cpu", "--mnist"])
        .arg(mnist_dir())
        .arg("--dir")
        .arg(&out))?;
    // compare-scaler exits 1 when the trajectories differ or a gradient is off.
    run(Command::new(python())
        .arg(&reference)
        .args(["compare-scaler", "--dir"])
        .arg(&out))?;
    let compare: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("scaler_compare.json"))?)?;
    ensure!(compare["ok"] == true, "comparison: {compare}");
    ensure!(
        compare["skipped_rust"] == 2 && compare["skipped_torch"] == 2,
        "both sides must skip the two forced steps: {compare}"
    );
    // 65536, grows after 2 clean steps, halves twice on the overflows, grows again after
    // every 2 clean steps.
    let expected = [
        65536.0, 131072.0, 65536.0, 32768.0, 32768.0, 65536.0, 65536.0,
    ];
    let scales: Vec<f64> = compare["scales_rust"]
        .as_array()
        .context("scales_rust")?
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    ensure!(scales == expected, "scale trajectory {scales:?}");
    Ok(())
}
