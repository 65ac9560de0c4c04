//! Flushing denormals reaches every libtorch thread, not only the caller's (which is all
//! `torch.set_flush_denormal` does).

use tch::{Device, Kind, Tensor};
use vggnet::perf::{flush_denormals, flushing_denormals};

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
