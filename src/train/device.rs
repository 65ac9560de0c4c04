//! The device to train on: parsed once from `cpu`, `cuda`, `cuda:N` or `auto`.

use crate::error::{Error, Result};
use tch::Device;

/// The device to train on: CUDA when available, else the CPU.
pub fn default_device() -> Device {
    crate::model::perf::load_cuda_backend();
    Device::cuda_if_available()
}

/// Parses `cpu`, `cuda`, `cuda:N` or `auto`.
pub fn parse_device(s: &str) -> Result<Device> {
    crate::model::perf::load_cuda_backend();
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

/// Serde for a [`Device`] as its name (`cpu`, `cuda:0`): how a run's record stores it.
pub mod device_serde {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};
    use tch::Device;

    pub fn serialize<S: Serializer>(device: &Device, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::device_name(*device))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Device, D::Error> {
        let name = String::deserialize(d)?;
        if name == "auto" {
            return Err(D::Error::custom(
                "a recorded device is `cpu` or `cuda:N`, not `auto`",
            ));
        }
        super::parse_device(&name).map_err(D::Error::custom)
    }
}
