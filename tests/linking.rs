//! How the binaries are linked against libtorch (build.rs): an rpath to libtorch's `lib/`, and
//! no NEEDED entry for `libtorch_cuda.so`, which `vggnet::engine::cuda::load_cuda_backend` loads at
//! run time where an NVIDIA driver is present (so `tch::Cuda::is_available()` can be true on a
//! GPU machine, and a CPU machine does not map the CUDA libraries). Reads the ELF dynamic
//! section with `readelf -d` (binutils, which the linker itself comes with).

use anyhow::{ensure, Context, Result};
use std::path::Path;
use std::process::Command;

/// The `(NEEDED)` libraries and the `(RUNPATH)`/`(RPATH)` entries of an ELF file.
fn dynamic_section(binary: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(binary)
        .output()
        .context("running readelf -d (binutils)")?;
    ensure!(
        out.status.success(),
        "readelf -d {} failed: {}",
        binary.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let bracketed = |line: &str| -> Option<String> {
        let start = line.find('[')? + 1;
        let end = line.rfind(']')?;
        Some(line[start..end].to_string())
    };
    let mut needed = Vec::new();
    let mut paths = Vec::new();
    for line in text.lines() {
        if line.contains("(NEEDED)") {
            needed.extend(bracketed(line));
        } else if line.contains("(RUNPATH)") || line.contains("(RPATH)") {
            paths.extend(bracketed(line));
        }
    }
    Ok((needed, paths))
}

#[test]
fn binaries_need_libtorch_cpu_and_find_it_but_not_the_cuda_backend() -> Result<()> {
    let lib = Path::new(env!("VGGNET_LIBTORCH_LIB"));
    for binary in [env!("CARGO_BIN_EXE_vggnet"), env!("CARGO_BIN_EXE_bench")] {
        let (needed, paths) = dynamic_section(Path::new(binary))?;
        ensure!(
            needed.iter().any(|n| n == "libtorch_cpu.so"),
            "{binary} does not need libtorch_cpu.so: {needed:?}"
        );
        ensure!(
            !needed.iter().any(|n| n == "libtorch_cuda.so"),
            "{binary} needs libtorch_cuda.so (it is loaded at run time where a driver is): \
             {needed:?}"
        );
        ensure!(
            paths
                .iter()
                .flat_map(|p| p.split(':'))
                .any(|p| Path::new(p) == lib),
            "{binary}: no rpath to {}: {paths:?}",
            lib.display()
        );
    }
    Ok(())
}

/// `load_cuda_backend` maps libtorch's CUDA backend exactly when the linked libtorch has one
/// and this machine has an NVIDIA driver (or `VGGNET_LOAD_CUDA` forces it), and asking for CUDA
/// devices works either way (no GPU: zero devices, the CPU path).
#[test]
fn cuda_backend_is_loaded_exactly_when_libtorch_has_it_and_a_driver_is_present() -> Result<()> {
    let lib = Path::new(env!("VGGNET_LIBTORCH_LIB"));
    let has_cuda = lib.join("libtorch_cuda.so").exists();
    let wanted = has_cuda
        && (vggnet::engine::cuda::nvidia_driver_present()
            || std::env::var_os(vggnet::engine::cuda::FORCE_CUDA_ENV).is_some());
    ensure!(
        !vggnet::engine::cuda::cuda_backend_loaded(),
        "libtorch_cuda.so is mapped before anything asked for it"
    );
    vggnet::engine::cuda::load_cuda_backend();
    let loaded = vggnet::engine::cuda::cuda_backend_loaded();
    ensure!(
        loaded == wanted,
        "libtorch_cuda.so is {}mapped after load_cuda_backend, but libtorch at {} {} it and \
         the NVIDIA driver is {}",
        if loaded { "" } else { "not " },
        lib.display(),
        if has_cuda { "has" } else { "has no" },
        if vggnet::engine::cuda::nvidia_driver_present() {
            "present"
        } else {
            "absent"
        },
    );
    let devices = tch::Cuda::device_count();
    ensure!(devices >= 0, "device count {devices}");
    ensure!(
        tch::Cuda::is_available() == (devices > 0),
        "is_available() disagrees with device_count() = {devices}"
    );
    Ok(())
}
