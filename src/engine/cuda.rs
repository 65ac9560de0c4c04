//! libtorch's CUDA backend, loaded where a GPU is (a process-wide `dlopen`), and the device a
//! program trains on: [`device`] and [`parse_device`] are what the command line and the
//! notebooks call.

use crate::error::Result;
use std::sync::Once;
use tch::Device;

static CUDA_BACKEND: Once = Once::new();

/// Environment variable that makes [`load_cuda_backend`] load the CUDA backend even where
/// [`nvidia_driver_present`] sees no driver.
pub const FORCE_CUDA_ENV: &str = "VGGNET_LOAD_CUDA";

/// Makes sure libtorch's CUDA backend (`libtorch_cuda.so`) is loaded before anything asks
/// libtorch about CUDA, where it can be used. Nothing in a program calls into that library
/// directly, so no program links it (build.rs; a notebook kernel's neither): without this,
/// libtorch reports no GPU even on a GPU machine. This loads it, once, from the folder of the
/// `libtorch_cpu.so` this process runs with, when that libtorch has one and an NVIDIA driver
/// is present ([`nvidia_driver_present`], or `VGGNET_LOAD_CUDA=1`). Elsewhere it is left
/// alone: it and the CUDA libraries it maps (cuBLAS, NVRTC, ...) would add about 265 MB to
/// every process for nothing. [`device`] and [`parse_device`] call it, and so does every binary first thing;
/// [`cuda_backend_loaded`] says whether the backend is loaded.
pub fn load_cuda_backend() {
    CUDA_BACKEND.call_once(|| {
        if cuda_backend_loaded()
            || !(nvidia_driver_present() || std::env::var_os(FORCE_CUDA_ENV).is_some())
        {
            return;
        }
        let Some(path) = mapped_library("libtorch_cpu.so")
            .and_then(|cpu| cpu.parent().map(|dir| dir.join("libtorch_cuda.so")))
            .filter(|p| p.exists())
        else {
            return;
        };
        let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
            return;
        };
        // SAFETY: dlopen with a NUL-terminated path; the handle is kept for the process's life
        // (never dlclose'd), so libtorch's registrations made by the library stay valid.
        unsafe {
            libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
        }
    });
}

/// Whether this machine shows an NVIDIA driver: its `/proc/driver/nvidia` folder or its
/// device nodes (`/dev/nvidiactl`, `/dev/nvidia0`, what a container with a GPU is given).
pub fn nvidia_driver_present() -> bool {
    ["/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
}

/// The path of a shared library mapped into this process, by file name (Linux).
fn mapped_library(name: &str) -> Option<std::path::PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.find('/').map(|i| &l[i..]))
        .find(|path| path.rsplit('/').next() == Some(name))
        .map(std::path::PathBuf::from)
}

/// Whether `libtorch_cuda.so` is mapped into this process (Linux; false elsewhere).
pub fn cuda_backend_loaded() -> bool {
    mapped_library("libtorch_cuda.so").is_some()
}

/// [`crate::model::check_device`] after loading the CUDA backend: refuses a CUDA device this
/// machine does not have.
pub fn check_device(device: Device) -> Result<()> {
    if device.is_cuda() {
        load_cuda_backend();
    }
    crate::model::check_device(device)
}

/// The device to train on: libtorch's CUDA backend loaded where there is a GPU
/// ([`load_cuda_backend`]), then CUDA when available, else the CPU.
pub fn device() -> Device {
    load_cuda_backend();
    Device::cuda_if_available()
}

/// Parses `cpu`, `cuda`, `cuda:N` or `auto` ([`device`]), loading the CUDA backend first.
pub fn parse_device(s: &str) -> Result<Device> {
    load_cuda_backend();
    match s {
        "auto" => Ok(device()),
        _ => super::parse_device_name(s),
    }
}
