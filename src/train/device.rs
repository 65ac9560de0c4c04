//! The device to train on: parsed once from `cpu`, `cuda`, `cuda:N` or `auto`.

use crate::error::{Error, Result};
use tch::Device;

/// The device to train on: CUDA when available, else the CPU.
pub fn default_device() -> Device {
    crate::perf::load_cuda_backend();
    Device::cuda_if_available()
}

/// Parses `cpu`, `cuda`, `cuda:N` or `auto`.
pub fn parse_device(s: &str) -> Result<Device> {
    crate::perf::load_cuda_backend();
    match s {
        "auto" => Ok(default_device()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| {
                Error::Config(format!("unknown device `{s}` (cpu, cuda, cuda:N, auto)"))
            }),
    }
}

/// `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
        Device::Cpu => "cpu".into(),
    }
}
