//! A device's name: `cpu`, `cuda` or `cuda:N`, parsed once (flags, a run's record). Choosing
//! the device (`auto`: CUDA where libtorch's CUDA backend sees a GPU) loads that backend:
//! [`crate::engine::device`] and [`crate::engine::parse_device`].

use crate::error::{Error, Result};
use tch::Device;

/// Parses `cpu`, `cuda` or `cuda:N` (`auto` is `vggnet::engine::parse_device`'s).
pub fn parse_device_name(s: &str) -> Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown device `{s}` (cpu, cuda, cuda:N; auto where a device is chosen)"
                ))
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
        super::parse_device_name(&name).map_err(D::Error::custom)
    }
}
