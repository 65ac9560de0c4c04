//! `make bench`: vggnet (Rust) against the PyTorch (Python) original, side by side, in one run.
//!
//! Each measure runs in a fresh process per side (so peak memory is per measure), in interleaved
//! A/B pairs whose order alternates; the table shows medians and the ratio Rust / Python.
//! The sgemm peak of this machine is measured in the same run, to put GFLOP/s in context.
//! Timings are never part of the pass/fail tests.

mod worker;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::process::Command;
use vggnet::model::VggConfig;
use worker::{mnist_dir, worker};

#[derive(Parser)]
#[command(about = "Benchmark vggnet against the PyTorch original (python/bench_reference.py)")]
struct Args {
    /// A/B pairs per measure (medians are reported)
    #[arg(long, default_value_t = 3)]
    pairs: usize,
    /// Measured training steps (batch 64) per run, after the warm-up
    #[arg(long, default_value_t = 20)]
    train_steps: usize,
    /// Measured evaluation batches (batch 256) per run
    #[arg(long, default_value_t = 8)]
    eval_steps: usize,
    /// Warm-up steps, not measured
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    #[arg(long, default_value_t = 64)]
    train_batch: usize,
    #[arg(long, default_value_t = 256)]
    eval_batch: usize,
    /// Threads for both sides (0: libtorch's default, one per core)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write all raw results here as JSON
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only this measure (train, train-bf16, eval, load, profile, profile-bf16; the first four
    /// also as a comma-separated list, e.g. `train,train-bf16`), or `epoch`:
    /// whole training epochs against the steady state measured beside them (not part of the
    /// default run: ~20 minutes on 2 cores, ~10 with `--bf16`)
    #[arg(long)]
    only: Option<String>,
    /// For `epoch`: train on the first N training images (default: all 60,000)
    #[arg(long)]
    epoch_images: Option<usize>,
    /// For `epoch`: steady state and whole epochs with bfloat16 AMP (`--amp bf16`)
    #[arg(long)]
    bf16: bool,
    /// Store convolution weights and activations NCHW instead of channels-last (the Rust side's
    /// `train`, `epoch` and `profile` measures; for comparing the two layouts on this CPU)
    #[arg(long)]
    nchw: bool,
    /// Internal: the worker keeps denormal floats (PyTorch's default arithmetic)
    #[arg(long, hide = true)]
    keep_denormals: bool,
    /// For `epoch`: measure the steady state (the `train` measure, in a fresh process) after
    /// every this many steps of each epoch, while the epoch waits (its clock stopped)
    #[arg(long, default_value_t = 100)]
    probe_every: usize,
    /// Internal: run one measure in this process and print it as JSON
    #[arg(long, hide = true)]
    worker: Option<String>,
}

fn run_json(cmd: &mut Command) -> Result<serde_json::Value> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().context("no output")?;
    Ok(serde_json::from_str(line)?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    vggnet::engine::cuda::load_cuda_backend();
    if let Some(m) = &args.worker {
        println!("{}", worker(&args, m)?);
        return Ok(());
    }
    let me = std::env::current_exe()?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("VGGNET_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    let script = root.join("python/bench_reference.py");
    // The Python side's arguments for `measure` (the Rust side's: `worker_command`).
    let python_args = |measure: &str| -> Vec<String> {
        let (steps, batch) = match measure {
            "train" | "train-bf16" => (args.train_steps, args.train_batch),
            _ => (args.eval_steps, args.eval_batch),
        };
        let (base, amp) = match measure.strip_suffix("-bf16") {
            Some(base) => (base, "bf16"),
            None => (measure, "article"),
        };
        vec![
            base.to_string(),
            "--amp".into(),
            amp.into(),
            "--mnist".into(),
            mnist_dir().display().to_string(),
            "--steps".into(),
            steps.to_string(),
            "--batch".into(),
            batch.to_string(),
            "--warmup".into(),
            args.warmup.to_string(),
            "--threads".into(),
            args.threads.to_string(),
        ]
    };
    let cpu = vggnet::engine::cpu::cpu_model();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "machine: {cpu}, {cores} cores; pairs: {}; threads: {}",
        args.pairs,
        if args.threads == 0 {
            "default".into()
        } else {
            args.threads.to_string()
        }
    );

    let sgemm = run_json(Command::new(&me).args([
        "--worker",
        "sgemm",
        "--threads",
        &args.threads.to_string(),
    ]))?;
    let peak = sgemm["gflops"].as_f64().unwrap_or(f64::NAN);
    println!("sgemm peak (2048x2048 matmul, libtorch, best of 5): {peak:.1} GFLOP/s");

    if args.only.as_deref() == Some("epoch") {
        return whole_epochs(&args, &me);
    }

    let flops = VggConfig::default().forward_flops();
    let mut raw = Vec::new();
    let mut rows = Vec::new();
    // Without bfloat16 hardware oneDNN emulates it: one `train-bf16` run took over 9 minutes
    // on an AVX2 EPYC (2 cores), against ~15 s in float32. Asked for by name, it still runs.
    let bf16_hw = vggnet::engine::cpu::cpu_bf16();
    let skip_bf16 = args.only.is_none() && bf16_hw == vggnet::engine::cpu::Bf16Hardware::Emulated;
    if skip_bf16 {
        println!(
            "train-bf16: not measured, this CPU has no bfloat16 hardware ({bf16_hw:?}: oneDNN \
             emulates it, minutes per run); `--only train-bf16` measures it anyway"
        );
    }
    let measures: Vec<&str> = ["train", "train-bf16", "eval", "load"]
        .into_iter()
        .filter(|m| {
            args.only
                .as_deref()
                .is_none_or(|o| o.split(',').any(|x| x == *m))
        })
        .filter(|m| !(skip_bf16 && *m == "train-bf16"))
        .collect();
    // The Rust side's float32 `train` results (their page faults are reported below).
    let mut train_rust = Vec::new();
    // The Rust side's time to normalize all 70,000 pictures after `load` (median).
    let mut normalize_all = f64::NAN;
    for measure in measures {
        let (mut rust, mut py) = (Vec::new(), Vec::new());
        for pair in 0..args.pairs {
            let run_rust = || run_json(&mut worker_command(&me, &args, measure));
            let run_py = || {
                run_json(
                    Command::new(&python)
                        .arg(&script)
                        .args(python_args(measure)),
                )
            };
            let (r, p) = if pair % 2 == 0 {
                let r = run_rust()?;
                (r, run_py()?)
            } else {
                let p = run_py()?;
                (run_rust()?, p)
            };
            eprintln!(
                "  {measure} pair {}: rust {r}\n  {measure} pair {}: python {p}",
                pair + 1,
                pair + 1
            );
            rust.push(r.clone());
            py.push(p.clone());
            raw.push(r);
            raw.push(p);
        }
        if measure == "train" {
            train_rust = rust.clone();
        }
        if measure == "load" {
            normalize_all = median(
                rust.iter()
                    .filter_map(|v| v["normalize_all_seconds"].as_f64())
                    .collect(),
            );
        }
        let get = |v: &[serde_json::Value], k: &str| {
            median(v.iter().filter_map(|x| x[k].as_f64()).collect())
        };
        let (key, higher_better) = if measure == "load" {
            ("seconds", false)
        } else {
            ("images_per_sec", true)
        };
        let (r, p) = (get(&rust, key), get(&py, key));
        let ratio = if higher_better { r / p } else { p / r };
        let work = if measure.starts_with("train") {
            3.0 * flops
        } else {
            flops
        };
        rows.push((
            measure,
            r,
            p,
            ratio,
            work,
            get(&rust, "peak_rss_mb"),
            get(&py, "peak_rss_mb"),
        ));
    }
    // The allocator's effect on the training step, a machine property measured here and not
    // asserted by a test (tests/perf.rs checks the mechanism: where a 64 MB block comes from).
    let faults = if rows.iter().any(|r| r.0 == "train") {
        let tuned = median(
            train_rust
                .iter()
                .filter_map(|v| v["minor_faults_per_step"].as_f64())
                .collect(),
        );
        let untuned = run_json(
            worker_command(&me, &args, "train").env(vggnet::engine::process::OPT_OUT_ENV, "1"),
        )?;
        raw.push(
            serde_json::json!({"measure": "train, glibc's allocator defaults", "result": untuned}),
        );
        untuned["minor_faults_per_step"]
            .as_f64()
            .map(|u| (tuned, u))
    } else {
        None
    };
    println!();
    println!("| measure | vggnet (Rust) | PyTorch (Python) | speed-up | Rust GFLOP/s (of peak) | peak RSS Rust / Python |");
    println!("|---|---|---|---|---|---|");
    for (m, r, p, ratio, work, rr, pr) in &rows {
        match *m {
            "load" => println!("| load 70k images, ready to train | {r:.2} s | {p:.2} s | {ratio:.2}x | - | {rr:.0} / {pr:.0} MB |"),
            _ => {
                let label = match *m {
                    "train" => format!("train img/s (batch {})", args.train_batch),
                    "train-bf16" => format!("train img/s (batch {}), bfloat16 AMP both sides", args.train_batch),
                    _ => format!("eval img/s (batch {}, no-grad)", args.eval_batch),
                };
                let gf = r * work / 1e9;
                println!("| {label} | {r:.1} | {p:.1} | {ratio:.2}x | {gf:.1} ({:.0}%) | {rr:.0} / {pr:.0} MB |", 100.0 * gf / peak);
            }
        }
    }
    if let Some(load) = rows.iter().find(|r| r.0 == "load") {
        println!(
            "\nload: Rust keeps the pictures as bytes and normalizes a batch at a time (as \
             torchvision's data sets do, per item); PyTorch's reference normalizes all 70,000 up \
             front. Rust normalizing all of them too: {:.2} s more ({:.2} s in all; medians)",
            normalize_all,
            load.1 + normalize_all
        );
    }
    if let Some((tuned, untuned)) = faults {
        println!(
            "\nminor page faults per training step (Rust): {tuned:.0} with the allocator tuned \
             (median of the pairs), {untuned:.0} with glibc's defaults ({}=1, one run)",
            vggnet::engine::process::OPT_OUT_ENV
        );
    }
    let rate = |m: &str, rust: bool| {
        rows.iter()
            .find(|r| r.0 == m)
            .map(|r| if rust { r.1 } else { r.2 })
    };
    if let (Some(r), Some(p)) = (rate("train-bf16", true), rate("train", false)) {
        println!(
            "\ntraining, bfloat16 AMP in Rust against the article's float32 loop in PyTorch: \
             {r:.1} / {p:.1} img/s = {:.2}x (this CPU's bfloat16: {:?})",
            r / p,
            bf16_hw
        );
    }
    // The precision `--amp fastest` and notebook 02 pick (vggnet::engine::calibrate, a few steps of each
    // at batch 64, from the cache or measured now) beside what these pairs measured.
    if rows.iter().any(|r| r.0.starts_with("train")) {
        let c = vggnet::engine::calibrate::cached_or_measure()?;
        println!("\ncalibration: {c}");
        if let (Some(f32_rate), Some(bf16_rate)) = (rate("train", true), rate("train-bf16", true)) {
            let bench_choice = vggnet::engine::calibrate::decide(f32_rate, bf16_rate);
            println!(
                "this benchmark, Rust side: bfloat16 AMP {bf16_rate:.1} against float32 \
                 {f32_rate:.1} images/s ({:.2}x): {}",
                bf16_rate / f32_rate,
                if bench_choice == c.choice() {
                    "the calibration's choice agrees"
                } else {
                    "the calibration's choice DISAGREES (run `vggnet calibrate` again)"
                }
            );
        }
    }
    let profile = match args.only.as_deref() {
        None | Some("profile") => Some("profile"),
        Some("profile-bf16") => Some("profile-bf16"),
        _ => None,
    };
    if let Some(profile) = profile {
        let prof = run_json(&mut worker_command(&me, &args, profile))?;
        println!(
            "\nwhere a training step's time goes (Rust, batch {}, {profile}, ms per step):",
            args.train_batch
        );
        for section in ["phases_ms", "forward_layers_ms"] {
            if let Some(map) = prof[section].as_object() {
                for (k, v) in map {
                    println!("  {k:<40} {:8.1}", v.as_f64().unwrap_or(f64::NAN));
                }
            }
        }
        raw.push(prof);
    }
    if let Some(path) = &args.json {
        let doc =
            serde_json::json!({"machine": cpu, "cores": cores, "sgemm_gflops": peak, "runs": raw});
        vggnet::store::fsio::write_json(path, &doc)?;
    }
    Ok(())
}

/// The command that runs `measure` in a fresh worker process with this run's settings (every
/// Rust-side measure starts this way).
fn worker_command(me: &std::path::Path, args: &Args, measure: &str) -> Command {
    let mut cmd = Command::new(me);
    cmd.args(["--worker", measure, "--threads", &args.threads.to_string()])
        .args(["--train-steps", &args.train_steps.to_string()])
        .args(["--train-batch", &args.train_batch.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--eval-steps", &args.eval_steps.to_string()])
        .args(["--eval-batch", &args.eval_batch.to_string()])
        .args(["--probe-every", &args.probe_every.to_string()]);
    if let Some(n) = args.epoch_images {
        cmd.args(["--epoch-images", &n.to_string()]);
    }
    if args.nchw {
        cmd.arg("--nchw");
    }
    cmd
}

/// `--only epoch`: whole epochs trained the way `vggnet train` trains, with denormals kept
/// (PyTorch's default, the code before the fix) and flushed, each against the benchmark's
/// steady state measured beside it: after every `--probe-every` steps the epoch waits, its clock
/// stopped, while the `train` measure runs in a fresh process. This machine's speed drifts by
/// 10-20% from minute to minute (other tenants, clocks), so a steady state measured minutes
/// before or after an epoch says little about it; interleaved, both see the same machine.
fn whole_epochs(args: &Args, me: &std::path::Path) -> Result<()> {
    let measure = if args.bf16 { "epoch-bf16" } else { "epoch" };
    let run = |extra: &[&str]| -> Result<serde_json::Value> {
        let v = run_json(worker_command(me, args, measure).args(extra))?;
        eprintln!("  {measure} {extra:?}: {v}");
        Ok(v)
    };
    let kept = run(&["--keep-denormals"])?;
    let flushed = run(&[])?;
    let rate = |v: &serde_json::Value| v["images_per_sec"].as_f64().unwrap_or(f64::NAN);
    let floats = |v: &serde_json::Value, key: &str| -> Vec<f64> {
        v[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_f64())
            .collect()
    };
    let list = |xs: &[f64]| -> String {
        let s: Vec<String> = xs.iter().map(|x| format!("{x:.0}")).collect();
        s.join(" ")
    };
    println!(
        "\n| whole epoch, batch {}, {} | images/s | steady state beside it (median of probes) | of the steady state |",
        args.train_batch,
        if args.bf16 { "bfloat16 AMP" } else { "float32" }
    );
    println!("|---|---|---|---|");
    for (label, v) in [
        ("denormals kept (before)", &kept),
        ("denormals flushed (after)", &flushed),
    ] {
        let probes = floats(v, "steady_probes");
        let steady = median(probes.clone());
        println!(
            "| {label}, {} steps | {:.1} | {steady:.1} ({} probes of {} steps after {} warm-up) | {:.1}% |",
            v["steps"],
            rate(v),
            probes.len(),
            args.train_steps,
            args.warmup,
            100.0 * rate(v) / steady
        );
    }
    for (label, v) in [("kept", &kept), ("flushed", &flushed)] {
        println!(
            "denormals {label}: images/s per {} steps of the epoch: {}",
            v["window_steps"],
            list(&floats(v, "windows"))
        );
        println!(
            "denormals {label}: steady-state probes between them:   {}",
            list(&floats(v, "steady_probes"))
        );
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({"kept": kept, "flushed": flushed});
        vggnet::store::fsio::atomic_write(path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    }
    Ok(())
}
