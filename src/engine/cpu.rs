//! What this CPU is: its model name and how it computes bfloat16 (read, never changed).

/// `model name` of the first processor in `/proc/cpuinfo` (empty when unreadable).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// How this CPU computes bfloat16, from the flags in `/proc/cpuinfo`. Reported (the
/// benchmark, [`crate::engine::calibrate::Calibration`]), not used to choose a precision: what the
/// same flag is worth differs between cores (with `avx512_bf16` and no AMX, bfloat16 AMP
/// trained at 0.8x float32 on an Intel Xeon and at 1.6x on an AMD EPYC Zen 4), so
/// [`crate::engine::calibrate`] measures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Hardware {
    /// `amx_bf16`: matrix tiles, which oneDNN runs bfloat16 convolutions and matrix products on.
    Amx,
    /// `avx512_bf16` without AMX: bfloat16 dot products in vector registers.
    Avx512,
    /// Neither: oneDNN emulates bfloat16 with float32 instructions.
    Emulated,
}

/// [`Bf16Hardware`] of this CPU; `Emulated` when the flags cannot be read.
pub fn cpu_bf16() -> Bf16Hardware {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|info| cpuinfo_bf16(&info))
        .unwrap_or(Bf16Hardware::Emulated)
}

/// [`cpu_bf16`] on the text of a `/proc/cpuinfo`.
pub fn cpuinfo_bf16(info: &str) -> Bf16Hardware {
    let flags: Vec<&str> = info
        .lines()
        .filter(|l| l.starts_with("flags"))
        .flat_map(|l| l.split_whitespace())
        .collect();
    if flags.contains(&"amx_bf16") {
        Bf16Hardware::Amx
    } else if flags.contains(&"avx512_bf16") {
        Bf16Hardware::Avx512
    } else {
        Bf16Hardware::Emulated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which CPUs compute bfloat16 in hardware, from `/proc/cpuinfo` flags (whole words only):
    /// reported beside the measurement that decides the precision (`crate::engine::calibrate`).
    #[test]
    fn bf16_hardware_is_read_from_cpu_flags() {
        let amx = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n";
        let avx512 = "flags\t\t: fpu avx2 avx512f avx512_bf16\n";
        let avx2 = "flags\t\t: fpu avx2 fma\nbugs\t\t: avx512_bf16_fake amx_bf16_x\n";
        assert_eq!(cpuinfo_bf16(amx), Bf16Hardware::Amx);
        assert_eq!(cpuinfo_bf16(avx512), Bf16Hardware::Avx512);
        assert_eq!(cpuinfo_bf16(avx2), Bf16Hardware::Emulated);
        assert_eq!(cpuinfo_bf16(""), Bf16Hardware::Emulated);
    }
}
