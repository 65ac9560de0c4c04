//! Process-level speed settings (`vggnet::engine::process`): flushing denormals reaches every libtorch
//! thread, not only the caller's (which is all `torch.set_flush_denormal` does); with the
//! allocator tuned, the training step's 64 MB gradient comes from the heap (reused step after
//! step) instead of a fresh `mmap`.

mod common;

use tch::{Device, Kind, Tensor};
use vggnet::engine::process::{flush_denormals, flushing_denormals};

/// How many of 2^20 denormals (1e-39) survive a halving done by libtorch on 2 threads.
fn surviving_denormals() -> anyhow::Result<i64> {
    let x = Tensor::f_full([1 << 20], 1e-39, (Kind::Float, Device::Cpu))?; // (N,)
    let half = x.f_mul_scalar(0.5)?; // 5e-40 each, or 0 where flushed
    Ok(i64::try_from(half.f_count_nonzero(None::<i64>)?)?)
}

#[test]
#[cfg(target_arch = "x86_64")]
fn flushing_reaches_every_libtorch_thread() -> anyhow::Result<()> {
    tch::set_num_threads(2);
    assert_eq!(
        flush_denormals(false),
        2,
        "both threads of the team are set"
    );
    assert!(!flushing_denormals());
    assert_eq!(
        surviving_denormals()?,
        1 << 20,
        "kept: PyTorch's arithmetic"
    );

    assert_eq!(flush_denormals(true), 2);
    assert!(flushing_denormals());
    // Were only the calling thread flushed, the other thread's half would survive.
    assert_eq!(surviving_denormals()?, 0, "flushed on both threads");

    assert_eq!(flush_denormals(false), 2, "and it can be undone");
    assert_eq!(surviving_denormals()?, 1 << 20);
    Ok(())
}

/// Bytes `mmap`ed for one 64 MB block (the size of the 4096x4096 layer's weight gradient) by
/// the benchmark's `allocator` worker: a fresh process that allocates it on its main thread,
/// as `vggnet train` allocates its gradients, with the allocator tuned or left at glibc's
/// defaults.
fn mmapped_for_64mb(tuning: bool) -> anyhow::Result<f64> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bench"));
    cmd.args(["--worker", "allocator"]);
    if !tuning {
        cmd.env(vggnet::engine::process::OPT_OUT_ENV, "1");
    } else {
        cmd.env_remove(vggnet::engine::process::OPT_OUT_ENV);
    }
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "bench worker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    v["mmapped_bytes_added"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("no mmapped_bytes_added in {v}"))
}

/// `engine::process::tune_allocator` makes glibc serve the training step's largest buffer from the heap,
/// where the next step reuses it, instead of a fresh `mmap` whose 16,384 pages fault in again
/// every step. The page faults themselves are a machine property (0 to 1,045 per step on the
/// CPUs seen, 15,600-36,289 with the defaults): `make bench` measures them side by side. What
/// is asserted here is the mechanism, which does not vary by machine: where the block comes from.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn the_tuned_allocator_serves_the_gradient_from_the_heap() -> anyhow::Result<()> {
    let block = (64u64 << 20) as f64;
    let default = mmapped_for_64mb(false)?;
    let tuned = mmapped_for_64mb(true)?;
    println!("mmapped for a 64 MB block: {default} bytes with glibc's defaults, {tuned} tuned");
    assert!(
        default >= block,
        "glibc's defaults should mmap a 64 MB block, added {default} bytes"
    );
    assert_eq!(tuned, 0.0, "tuned, the 64 MB block must come from the heap");
    Ok(())
}

/// The core trains and evaluates without touching a process-wide setting: denormals stay as
/// they were through `Trainer::fit` (with its evaluations), and only the explicit
/// `vggnet::engine::speed_up` flushes them, on every thread, and says so.
#[test]
#[cfg(target_arch = "x86_64")]
fn the_core_changes_no_process_setting_until_speed_up() -> anyhow::Result<()> {
    use vggnet::train::{Silent, TrainConfig};
    tch::set_num_threads(2);
    flush_denormals(false);
    let data = common::load_mnist(Some(64), Some(64));
    let config = TrainConfig {
        epochs: 1,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let mut t = common::trainer_for(common::tiny(), 0, config);
    t.fit(&data.train, Some(&data.test), &mut Silent, &mut |_| Ok(()))?;
    assert!(
        !flushing_denormals(),
        "training flushed denormals by itself"
    );
    assert_eq!(surviving_denormals()?, 1 << 20, "and on no libtorch thread");
    use vggnet::engine::layout::is_channels_last;
    assert!(
        !is_channels_last(t.model()),
        "the core stores PyTorch's NCHW"
    );
    let (moments, _) = t.optimizer().state();
    let line = vggnet::engine::speed_up(&mut t);
    println!("{line}");
    assert!(flushing_denormals() && surviving_denormals()? == 0);
    // Channels-last after speed_up, the optimizer's moments moved with the weights: the same
    // values (a run sped up half-way continues from where it was), in each weight's layout.
    assert!(
        is_channels_last(t.model()) && line.contains("channels-last"),
        "{line}"
    );
    let params = t.model().named_parameters();
    let (after, _) = t.optimizer().state();
    for ((name, before), (_, now)) in moments.iter().zip(&after) {
        assert_eq!(before.size(), now.size(), "{name}");
        let diff = (before - now).abs().max().double_value(&[]);
        assert_eq!(diff, 0.0, "{name}: the moments changed by {diff}");
    }
    for (i, (name, p)) in params.iter().enumerate() {
        for m in [&after[2 * i].1, &after[2 * i + 1].1] {
            assert_eq!(
                m.stride(),
                p.stride(),
                "{name}'s moment is not in its layout"
            );
        }
    }
    assert!(params
        .iter()
        .any(|(_, p)| p.dim() == 4 && !p.is_contiguous()));
    assert!(
        line.contains("denormals flushed to zero on 2 thread(s)"),
        "{line}"
    );
    assert!(
        line.contains("fused AdamW") && line.contains("packed inference"),
        "{line}"
    );
    flush_denormals(false);
    Ok(())
}
