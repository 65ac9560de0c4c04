//! One measure, on the Rust side, in its own process: loading, training steps and epochs,
//! evaluation, per-layer profiles; its figures and peak memory as JSON.

use super::*;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Instant;
use tch::{Kind, Tensor};
use vggnet::data::{Data, DataConfig};
use vggnet::engine::packed::evaluate;
use vggnet::model::{Vgg, VggConfig};
use vggnet::train::{AmpMode, BatchProgress, Observer, TrainConfig, Trainer};

pub(super) fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

pub(super) fn mnist_dir() -> PathBuf {
    vggnet::data::Dataset::Mnist.default_dir()
}

/// Records when the warm-up ends and when the last step ends.
struct Clock {
    warmup: usize,
    start: Option<Instant>,
    end: Option<Instant>,
    /// Minor page faults of the process when the measured steps start, and after each step.
    faults: (Option<u64>, Option<u64>),
}

impl Observer for Clock {
    fn on_batch(&mut self, p: &BatchProgress) {
        if p.batch + 1 == self.warmup {
            self.start = Some(Instant::now());
            self.faults.0 = vggnet::engine::process::minor_faults();
        }
        self.end = Some(Instant::now());
        self.faults.1 = vggnet::engine::process::minor_faults();
    }
}

/// The time at which each step ends (after a first entry for the start), on a clock that stops
/// while a steady-state probe runs: every `every` steps the epoch waits for `probe` (the
/// benchmark's `train` measure in a fresh process), so that the epoch and the steady state are
/// measured side by side, minute by minute, on a machine whose speed drifts.
struct EpochClock<'a> {
    times: Vec<Instant>,
    paused: std::time::Duration,
    every: usize,
    probe: &'a dyn Fn() -> Result<f64>,
    probes: Vec<f64>,
    error: Option<anyhow::Error>,
}

impl Observer for EpochClock<'_> {
    fn on_batch(&mut self, p: &BatchProgress) {
        self.times.push(Instant::now() - self.paused);
        let last = p.batch + 1 == p.num_batches;
        if self.every > 0
            && (p.batch + 1).is_multiple_of(self.every)
            && !last
            && self.error.is_none()
        {
            let t = Instant::now();
            match (self.probe)() {
                Ok(rate) => self.probes.push(rate),
                Err(e) => self.error = Some(e),
            }
            self.paused += t.elapsed();
        }
    }
}

/// Images in batch `i` of the training split.
fn batch_len(data: &Data, batch: usize, i: usize) -> usize {
    batch.min(data.train.len().saturating_sub(i * batch))
}

/// The article's settings for one epoch at the benchmark's batch size.
fn one_epoch(args: &Args) -> TrainConfig {
    TrainConfig {
        epochs: 1,
        batch_size: args.train_batch,
        ..Default::default()
    }
}

/// A fresh full-width model (seed 0) on the CPU, in the layout asked for, with a trainer for
/// `config`.
fn one_epoch_trainer(args: &Args, config: TrainConfig) -> Result<Trainer> {
    tch::manual_seed(0);
    let model = Vgg::new(VggConfig::default(), tch::Device::Cpu)?;
    let mut trainer = Trainer::new(model, config)?;
    vggnet::engine::speed_up(&mut trainer);
    if args.nchw {
        vggnet::engine::layout::set_trainer_channels_last(&mut trainer, false);
    }
    Ok(trainer)
}

pub(super) fn worker(args: &Args, measure: &str) -> Result<serde_json::Value> {
    if args.threads > 0 {
        vggnet::engine::process::set_threads(args.threads)?;
    }
    let device = tch::Device::Cpu;
    let data_cfg = |train: usize, test: usize| DataConfig {
        dir: mnist_dir(),
        train_limit: Some(train),
        test_limit: Some(test),
        download: false,
        ..Default::default()
    };
    // `-bf16`: the same measure with bfloat16 AMP (AmpMode::Bf16).
    let (measure, amp) = match measure.strip_suffix("-bf16") {
        Some(base) => (base, AmpMode::Bf16),
        None => (measure, AmpMode::Auto),
    };
    let value = match measure {
        "train" => {
            let n = (args.warmup.max(1) + args.train_steps) * args.train_batch;
            let data = Data::load(&data_cfg(n, 0))?;
            let mut t = one_epoch_trainer(
                args,
                TrainConfig {
                    curve_every_steps: 0,
                    amp,
                    ..one_epoch(args)
                },
            )?;
            let mut clock = Clock {
                warmup: args.warmup.max(1),
                start: None,
                end: None,
                faults: (None, None),
            };
            t.train_epoch(&vggnet::train::ArticlePlan, &data.train, None, &mut clock)?;
            let secs = clock
                .end
                .zip(clock.start)
                .map(|(e, s)| (e - s).as_secs_f64())
                .context("no steps ran")?;
            let faults = match clock.faults {
                (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / args.train_steps as f64),
                _ => None,
            };
            serde_json::json!({"images_per_sec": (args.train_steps * args.train_batch) as f64 / secs, "seconds": secs,
                               "minor_faults_per_step": faults})
        }
        "epoch" => {
            // A whole epoch the way `vggnet train` runs it (the full training set in the
            // run's shuffled order, the article's recipe, curves recorded), timed per step.
            let data = Data::load(&DataConfig {
                dir: mnist_dir(),
                train_limit: args.epoch_images,
                test_limit: Some(0),
                download: false,
                ..Default::default()
            })?;
            // The CLI's curve interval (the default) and the flush setting under test.
            let mut t = one_epoch_trainer(
                args,
                TrainConfig {
                    flush_denormals: !args.keep_denormals,
                    amp,
                    ..one_epoch(args)
                },
            )?;
            let me = std::env::current_exe()?;
            let probe_measure = if amp == AmpMode::Bf16 {
                "train-bf16"
            } else {
                "train"
            };
            let probe = || -> Result<f64> {
                let v = run_json(&mut worker_command(&me, args, probe_measure))?;
                v["images_per_sec"].as_f64().context("probe: no rate")
            };
            let mut clock = EpochClock {
                times: vec![Instant::now()],
                paused: std::time::Duration::ZERO,
                every: args.probe_every,
                probe: &probe,
                probes: Vec::new(),
                error: None,
            };
            t.train_epoch(&vggnet::train::ArticlePlan, &data.train, None, &mut clock)?;
            if let Some(e) = clock.error {
                return Err(e);
            }
            let times = clock.times;
            let rate = |from: usize, to: usize| {
                let images = (from..to)
                    .map(|i| batch_len(&data, args.train_batch, i))
                    .sum::<usize>();
                images as f64 / (times[to] - times[from]).as_secs_f64()
            };
            let last = times.len() - 1;
            let from = args.warmup.min(last.saturating_sub(1));
            let every = if args.probe_every > 0 {
                args.probe_every
            } else {
                100
            };
            let windows: Vec<f64> = (0..last)
                .step_by(every)
                .map(|a| rate(a, (a + every).min(last)))
                .collect();
            serde_json::json!({"images_per_sec": rate(from, last), "steps": last,
                               "seconds": (times[last] - times[0]).as_secs_f64(),
                               "windows": windows, "window_steps": every,
                               "steady_probes": clock.probes,
                               "flush_denormals": !args.keep_denormals})
        }
        "eval" => {
            let n = args.eval_steps * args.eval_batch;
            let data = Data::load(&data_cfg(0, n))?;
            tch::manual_seed(0);
            let model = Vgg::new(VggConfig::default(), device)?;
            let warm = data.test.take(args.eval_batch);
            for _ in 0..args.warmup {
                evaluate(&model, &warm, args.eval_batch)?;
            }
            let start = Instant::now();
            let ev = evaluate(&model, &data.test, args.eval_batch)?;
            let secs = start.elapsed().as_secs_f64();
            serde_json::json!({"images_per_sec": ev.total as f64 / secs, "seconds": secs})
        }
        "load" => {
            let start = Instant::now();
            let data = Data::load(&DataConfig {
                dir: mnist_dir(),
                download: false,
                ..Default::default()
            })?;
            let secs = start.elapsed().as_secs_f64();
            if data.train.len() != 60_000 {
                bail!("expected the full training set");
            }
            // The peak of loading itself, before the extra measure below.
            let peak = peak_rss_mb();
            // What PyTorch's reference also does up front: all 70,000 pictures as normalized
            // floats (training normalizes a batch at a time instead).
            let start = Instant::now();
            let all = (data.train.images()?, data.test.images()?);
            let normalize = start.elapsed().as_secs_f64();
            drop(all);
            serde_json::json!({"seconds": secs, "normalize_all_seconds": normalize, "peak_rss_mb": peak})
        }
        "allocator" => {
            // Where a 64 MB block (the 4096x4096 layer's weight gradient) comes from on the main
            // thread, as a training step allocates it: `mmap` (glibc's defaults) or the heap.
            vggnet::engine::process::tune_allocator();
            let size = 64usize << 20;
            let before = vggnet::engine::process::mmapped_bytes().context("not glibc")?;
            // SAFETY: a plain malloc/free pair of a block nothing else sees.
            // (black_box: the compiler may not drop a malloc/free pair whose block is unused.)
            let block = std::hint::black_box(unsafe { libc::malloc(size) });
            anyhow::ensure!(!block.is_null(), "malloc({size}) failed");
            let during = vggnet::engine::process::mmapped_bytes().context("not glibc")?;
            // SAFETY: `block` came from malloc above and is freed once.
            unsafe { libc::free(block) };
            serde_json::json!({"block_bytes": size, "mmapped_bytes_added": during.saturating_sub(before)})
        }
        "sgemm" => {
            let n = 2048i64;
            let a = tch::Tensor::randn([n, n], (tch::Kind::Float, device));
            let b = tch::Tensor::randn([n, n], (tch::Kind::Float, device));
            let _ = a.matmul(&b);
            let mut best = f64::MAX;
            for _ in 0..5 {
                let start = Instant::now();
                for _ in 0..3 {
                    let _ = a.matmul(&b);
                }
                best = best.min(start.elapsed().as_secs_f64() / 3.0);
            }
            serde_json::json!({"gflops": 2.0 * (n * n * n) as f64 / best / 1e9})
        }
        "profile" => {
            // Where a training step's time goes: data, forward (per layer), backward, optimizer.
            // At most 10 measured steps: each one also runs a forward pass timed layer by layer.
            let steps = args.train_steps.clamp(1, 10);
            let n = (args.warmup + steps) * args.train_batch;
            let data = Data::load(&data_cfg(n, 0))?;
            tch::manual_seed(0);
            let model = Vgg::new(VggConfig::default(), device)?;
            let mut t = Trainer::new(
                model,
                TrainConfig {
                    amp,
                    ..TrainConfig::default()
                },
            )?;
            vggnet::engine::speed_up(&mut t);
            if args.nchw {
                vggnet::engine::layout::set_trainer_channels_last(&mut t, false);
            }
            let lower = t.precision().autocast_kind();
            let order: Vec<i64> = (0..n as i64).collect();
            let mut phases = std::collections::BTreeMap::<String, f64>::new();
            let mut layers = std::collections::BTreeMap::<String, f64>::new();
            for (step, chunk) in order.chunks(args.train_batch).enumerate() {
                let measure = step >= args.warmup;
                let mut add = |k: &str, v: f64| {
                    if measure {
                        *phases.entry(k.to_string()).or_default() += v / steps as f64;
                    }
                };
                let s = Instant::now();
                let (xs, ys) = data.train.gather(chunk)?; // (B, 1, 28, 28), (B,)
                add("1 data (gather batch)", s.elapsed().as_secs_f64());
                // Trainer::step's pieces, in its order, each timed.
                let s = Instant::now();
                let (logits, loss) = t.forward_loss(&xs, &ys)?;
                add("2 forward + loss", s.elapsed().as_secs_f64());
                let s = Instant::now();
                let _stats = vggnet::train::read_back(&logits, &loss, &ys)?;
                add("3 loss/accuracy read-back", s.elapsed().as_secs_f64());
                let s = Instant::now();
                let grads = t.scaled_grads(&loss)?;
                add("4 backward", s.elapsed().as_secs_f64());
                let s = Instant::now();
                t.apply_grads(&grads);
                add(
                    "5 unscale + fused AdamW + scaler",
                    s.elapsed().as_secs_f64(),
                );
                if measure {
                    for (name, secs) in profile_forward(t.model(), &xs, lower)? {
                        *layers.entry(name).or_default() += secs / steps as f64;
                    }
                }
            }
            serde_json::json!({"phases_ms": phases.iter().map(|(k, v)| (k.clone(), v * 1e3)).collect::<std::collections::BTreeMap<_, _>>(),
                               "forward_layers_ms": layers.iter().map(|(k, v)| (k.clone(), v * 1e3)).collect::<std::collections::BTreeMap<_, _>>()})
        }
        other => bail!("unknown measure {other}"),
    };
    let mut value = value;
    value["side"] = "rust".into();
    value["measure"] = measure.into();
    value["amp"] = serde_json::to_value(amp)?;
    value["threads"] = tch::get_num_threads().into();
    if value.get("peak_rss_mb").is_none() {
        value["peak_rss_mb"] = peak_rss_mb().into();
    }
    Ok(value)
}

/// Wall time of each layer in one forward pass (train mode, as in training), in seconds: the
/// model's own layer walk, timed as each layer ends (CPU ops run synchronously). `lower`: under
/// autocast to that dtype ([`Vgg::forward_autocast`]).
fn profile_forward(model: &Vgg, xs: &Tensor, lower: Option<Kind>) -> Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    let mut last = Instant::now();
    let _logits = tch::no_grad(|| {
        model.walk(xs, true, lower, &mut |layer, _| {
            let now = Instant::now();
            out.push((
                format!("{} {:?}", layer.name, layer.kind),
                (now - last).as_secs_f64(),
            ));
            last = now;
        })
    })?;
    Ok(out)
}
