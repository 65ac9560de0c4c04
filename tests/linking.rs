//! How the binaries are linked against libtorch (build.rs): an rpath to libtorch's `lib/`, and
//! `libtorch_cuda.so` among the NEEDED entries whenever the linked libtorch has CUDA, so that
//! libtorch's CUDA backend is loaded and `tch::Cuda::is_available()` can be true on a GPU
//! machine. Reads the ELF dynamic section with `readelf -d` (binutils, which the linker itself
//! comes with).

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
fn binary_needs_libtorch_cuda_exactly_when_libtorch_has_it() -> Result<()> {
    let lib = Path::new(env!("VGGNET_LIBTORCH_LIB"));
    let has_cuda = lib.join("libtorch_cuda.so").exists();
    for binary in [env!("CARGO_BIN_EXE_vggnet"), env!("CARGO_BIN_EXE_bench")] {
        let (needed, paths) = dynamic_section(Path::new(binary))?;
        ensure!(
            needed.iter().any(|n| n == "libtorch_cpu.so"),
            "{binary} does not need libtorch_cpu.so: {needed:?}"
        );
        ensure!(
            needed.iter().any(|n| n == "libtorch_cuda.so") == has_cuda,
            "{binary}: libtorch at {} {} libtorch_cuda.so, but the NEEDED entries are {needed:?}",
            lib.display(),
            if has_cuda { "has" } else { "has no" },
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

/// The link flags reach the test binaries too: this process has libtorch's CUDA backend mapped
/// exactly when the linked libtorch has one, and asking for CUDA devices works either way (no
/// GPU here: zero devices, the CPU path).
#[test]
fn cuda_backend_is_loaded_exactly_when_libtorch_has_it() -> Result<()> {
    let lib = Path::new(env!("VGGNET_LIBTORCH_LIB"));
    let has_cuda = lib.join("libtorch_cuda.so").exists();
    let loaded = vggnet::perf::cuda_backend_loaded();
    ensure!(
        loaded == has_cuda,
        "libtorch_cuda.so is {}mapped in this process, but libtorch at {} {} it",
        if loaded { "" } else { "not " },
        lib.display(),
        if has_cuda { "has" } else { "has no" },
    );
    let devices = tch::Cuda::device_count();
    ensure!(devices >= 0, "device count {devices}");
    ensure!(
        tch::Cuda::is_available() == (devices > 0),
        "is_available() disagrees with device_count() = {devices}"
    );
    Ok(())
}
