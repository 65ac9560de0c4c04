//! Which precision trains faster on this CPU, measured rather than read from a flag.
//!
//! What bfloat16 is worth depends on the core, not only on its flags: measured with `make bench`
//! at batch 64 on 2 cores, bfloat16 AMP trained the article's network at 1.65x float32 on an
//! Intel Xeon with AMX, 1.60x on an AMD EPYC (Zen 4) with `avx512_bf16` and no AMX, 0.8x on an
//! Intel Xeon with `avx512_bf16` and no AMX, and many times slower where oneDNN emulates it
//! (AVX2 only). So [`AmpMode::fastest_on`] (defined here) asks this module:
//! a few training steps of each precision on the real network (random digits: the speed
//! depends on the shapes, not the pixels), once per CPU model and thread count, kept in the
//! cache folder (`precision.json`) so that later runs and notebooks only read the answer.
//! `vggnet calibrate` measures again.

use crate::engine::cpu::Bf16Hardware;
use crate::error::{Error, Result};
use crate::model::{Vgg, VggConfig};
use crate::train::{AmpMode, Precision, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Resolving [`AmpMode::Fastest`] lives here, beside the measurement it runs: the trainer and
/// [`Precision::of`] never measure.
impl AmpMode {
    /// This mode with [`AmpMode::Fastest`] replaced by what it means on `device`.
    pub fn resolve(self, device: Device) -> AmpMode {
        match self {
            AmpMode::Fastest => AmpMode::fastest_on(device),
            other => other,
        }
    }

    /// The fastest precision for training on `device`: the article's float16 AMP on CUDA; on a
    /// CPU the faster of bfloat16 AMP and float32 as measured on this CPU model
    /// ([`cached_or_measure`]: a few training steps of each, once, then read from the cache);
    /// float32 if that measurement fails. What notebook 02 trains with.
    pub fn fastest_on(device: Device) -> AmpMode {
        if device.is_cuda() {
            return AmpMode::On;
        }
        cached_or_measure()
            .map(|c| c.choice())
            .unwrap_or(AmpMode::Off)
    }
}

/// What was measured on this CPU about the precision `used` (read from the cache, never
/// measured for this): "measured on this CPU (...): ... is the faster", with a hint when the
/// other precision is; or that it was not measured yet. A CPU run prints it when it starts.
pub fn measured_note(used: Precision) -> String {
    match cached() {
        None => "which precision is faster on this CPU was not measured yet (`vggnet \
                 calibrate` or `--amp fastest` measures it, a few seconds)"
            .to_string(),
        Some(c) => {
            let hint = match (used, c.faster()) {
                (Precision::Float32, Precision::Bfloat16) => " (`--amp bf16` trains faster)",
                (Precision::Bfloat16, Precision::Float32) => " (`--amp off` trains faster)",
                _ => "",
            };
            format!("{c}{hint}")
        }
    }
}

/// How much faster bfloat16 must measure before it is chosen: a 2-core virtual machine drifts by
/// 10-20% from minute to minute, and the gains worth taking are 1.6x.
pub const MIN_SPEEDUP: f64 = 1.1;

/// Batch size of the measuring steps (the article's).
pub const BATCH: i64 = 64;

/// Steps timed per precision, after a quarter-batch probe and one untimed warm-up step.
pub const STEPS: usize = 3;

/// One CPU's measurement: training images per second in each precision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: String,
    /// What the CPU's flags say about bfloat16 (`amx`, `avx512`, `emulated`): reported, not
    /// used to decide.
    pub bf16_hardware: String,
    /// libtorch's intra-op threads during the measurement.
    pub threads: i64,
    pub batch: i64,
    pub float32_images_per_sec: f64,
    pub bfloat16_images_per_sec: f64,
    /// True when bfloat16 was stopped after its first quarter-batch step, which took over
    /// [`PROBE_CUTOFF`] times float32's: its rate is then that step's.
    pub bfloat16_cut_short: bool,
    /// Seconds since the Unix epoch when it was measured.
    pub measured_at: u64,
}

impl Calibration {
    /// bfloat16's speed as a multiple of float32's.
    pub fn speedup(&self) -> f64 {
        self.bfloat16_images_per_sec / self.float32_images_per_sec
    }

    /// The faster precision on the CPU: float32 or bfloat16 AMP.
    pub fn faster(&self) -> Precision {
        match self.choice() {
            AmpMode::Bf16 => Precision::Bfloat16,
            _ => Precision::Float32,
        }
    }

    /// The faster precision: [`decide`] on the two rates.
    pub fn choice(&self) -> AmpMode {
        decide(self.float32_images_per_sec, self.bfloat16_images_per_sec)
    }

    /// Whether this measurement is for `key`'s CPU model and thread count.
    fn is_for(&self, key: &CpuKey) -> bool {
        self.cpu == key.cpu && self.threads == key.threads
    }
}

impl std::fmt::Display for Calibration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let choice = match self.choice() {
            AmpMode::Bf16 => "bfloat16 AMP",
            _ => "float32",
        };
        write!(
            f,
            "measured on this CPU ({}, {} threads, batch {}): bfloat16 AMP {:.1} images/s{}, \
             float32 {:.1} images/s ({:.2}x): {choice} is the faster",
            self.cpu,
            self.threads,
            self.batch,
            self.bfloat16_images_per_sec,
            if self.bfloat16_cut_short {
                " (stopped after one quarter-batch step)"
            } else {
                ""
            },
            self.float32_images_per_sec,
            self.speedup()
        )
    }
}

/// The decision: bfloat16 AMP when it trains at least [`MIN_SPEEDUP`] times as fast as
/// float32, else float32 ([`AmpMode::Off`]).
pub fn decide(float32_images_per_sec: f64, bfloat16_images_per_sec: f64) -> AmpMode {
    if bfloat16_images_per_sec >= MIN_SPEEDUP * float32_images_per_sec {
        AmpMode::Bf16
    } else {
        AmpMode::Off
    }
}

/// What a cached measurement is kept for: the CPU model and libtorch's thread count.
struct CpuKey {
    cpu: String,
    threads: i64,
}

impl CpuKey {
    fn current() -> CpuKey {
        CpuKey {
            cpu: crate::engine::cpu::cpu_model(),
            threads: i64::from(tch::get_num_threads()),
        }
    }
}

/// The project's cache folder: `$VGGNET_CACHE`, else `$XDG_CACHE_HOME/vggnet`, else
/// `$HOME/.cache/vggnet` (where `make setup-notebooks` keeps the kernel's build too).
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("VGGNET_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("vggnet")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/vggnet")))
}

/// The cache file of measurements, `precision.json` in [`cache_dir`].
pub fn cache_file() -> Option<PathBuf> {
    cache_dir().map(|d| d.join("precision.json"))
}

/// Every measurement kept in `file` (none when it does not exist).
pub fn read_cache(file: &Path) -> Result<Vec<Calibration>> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::Config(format!(
                "{}: not a list of precision measurements ({e}); delete it to measure again",
                file.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(file, e)),
    }
}

/// The measurement kept in `file` for this CPU model and thread count, if any.
pub fn cached_in(file: &Path) -> Result<Option<Calibration>> {
    let key = CpuKey::current();
    Ok(read_cache(file)?.into_iter().find(|c| c.is_for(&key)))
}

/// The measurement kept in the default cache for this CPU, if any; nothing is measured.
pub fn cached() -> Option<Calibration> {
    cached_in(&cache_file()?).ok().flatten()
}

/// Keeps `calibration` in `file`, replacing the one for the same CPU model and threads
/// (written atomically: the file is whole before and after).
pub fn store_in(file: &Path, calibration: &Calibration) -> Result<()> {
    let key = CpuKey {
        cpu: calibration.cpu.clone(),
        threads: calibration.threads,
    };
    let mut all = read_cache(file).unwrap_or_default();
    all.retain(|c| !c.is_for(&key));
    all.push(calibration.clone());
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::store::fsio::write_json(file, &all)
}

/// This CPU's measurement from `file`, measured (and kept there) when it has none.
pub fn cached_or_measure_in(file: &Path) -> Result<Calibration> {
    if let Some(c) = cached_in(file)? {
        return Ok(c);
    }
    let c = measure()?;
    store_in(file, &c)?;
    Ok(c)
}

/// [`cached_or_measure_in`] the default cache file; measured without keeping it where there
/// is no cache folder (no `HOME`).
pub fn cached_or_measure() -> Result<Calibration> {
    match cache_file() {
        Some(file) => cached_or_measure_in(&file),
        None => measure(),
    }
}

/// How many times longer than float32's first quarter-batch step bfloat16's may take before it
/// is stopped as the slower (a first step includes building kernels, longer for some
/// precisions than others, but not by this much; emulated bfloat16 took 20x here).
pub const PROBE_CUTOFF: f64 = 5.0;

/// Measures both precisions now, on a fresh article network each: a first step on a quarter
/// batch (the probe), one warm-up step, then [`STEPS`] timed steps of batch [`BATCH`], float32
/// first. bfloat16 stops after its probe when that took over [`PROBE_CUTOFF`] times float32's,
/// so a CPU that emulates bfloat16 pays one quarter-batch step, not minutes (about 12 s in
/// all on a 2-core AVX2 EPYC, most of it that step).
pub fn measure() -> Result<Calibration> {
    let key = CpuKey::current();
    let (float32, probe32, _) = images_per_sec(AmpMode::Off, f64::INFINITY)?;
    let (bfloat16, _, cut_short) = images_per_sec(AmpMode::Bf16, PROBE_CUTOFF * probe32)?;
    Ok(Calibration {
        cpu: key.cpu,
        bf16_hardware: match crate::engine::cpu::cpu_bf16() {
            Bf16Hardware::Amx => "amx",
            Bf16Hardware::Avx512 => "avx512",
            Bf16Hardware::Emulated => "emulated",
        }
        .to_string(),
        threads: key.threads,
        batch: BATCH,
        float32_images_per_sec: float32,
        bfloat16_images_per_sec: bfloat16,
        bfloat16_cut_short: cut_short,
        measured_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    })
}

/// Training images per second of the article's network in precision `amp` on the CPU, the
/// seconds of its probe (a first step on a quarter batch), and whether it stopped after the
/// probe because that took longer than `probe_limit_s` (the rate is then the probe's).
fn images_per_sec(amp: AmpMode, probe_limit_s: f64) -> Result<(f64, f64, bool)> {
    let model = Vgg::new(VggConfig::default(), Device::Cpu)?;
    let config = TrainConfig {
        amp,
        curve_every_steps: 0,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(model, config)?;
    let xs = Tensor::f_rand([BATCH, 1, 28, 28], (Kind::Float, Device::Cpu))?; // (B, 1, 28, 28)
    let ys = Tensor::f_randint(10, [BATCH], (Kind::Int64, Device::Cpu))?; // (B,)
    let quarter = BATCH / 4;
    let start = Instant::now();
    trainer.step(&xs.f_narrow(0, 0, quarter)?, &ys.f_narrow(0, 0, quarter)?)?;
    let probe = start.elapsed().as_secs_f64();
    if probe > probe_limit_s {
        return Ok((quarter as f64 / probe, probe, true));
    }
    trainer.step(&xs, &ys)?; // warm-up at the full batch
    let start = Instant::now();
    for _ in 0..STEPS {
        trainer.step(&xs, &ys)?;
    }
    let rate = (STEPS as f64 * BATCH as f64) / start.elapsed().as_secs_f64();
    Ok((rate, probe, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration(cpu: &str, threads: i64, float32: f64, bfloat16: f64) -> Calibration {
        Calibration {
            cpu: cpu.into(),
            bf16_hardware: "avx512".into(),
            threads,
            batch: BATCH,
            float32_images_per_sec: float32,
            bfloat16_images_per_sec: bfloat16,
            bfloat16_cut_short: false,
            measured_at: 0,
        }
    }

    /// Both outcomes, from the rates `make bench` measured: bfloat16 where it pays (AMX Xeon
    /// 1.65x, Zen 4 EPYC 1.60x), float32 where it does not (AVX512-BF16 Xeon 0.8x, emulation)
    /// or only by noise.
    #[test]
    fn the_faster_precision_is_chosen_with_a_margin() {
        assert_eq!(decide(181.5, 290.3), AmpMode::Bf16); // Zen 4 EPYC, avx512_bf16, no AMX
        assert_eq!(decide(135.5, 223.7), AmpMode::Bf16); // Xeon with AMX
        assert_eq!(decide(106.0, 84.0), AmpMode::Off); // Xeon with avx512_bf16, no AMX
        assert_eq!(decide(130.0, 4.0), AmpMode::Off); // emulated
        assert_eq!(decide(100.0, 105.0), AmpMode::Off, "5% is noise here");
        assert_eq!(decide(100.0, 111.0), AmpMode::Bf16);
        let zen4 = calibration("AMD EPYC", 2, 181.5, 290.3);
        assert_eq!(zen4.choice(), AmpMode::Bf16);
        assert!((zen4.speedup() - 1.6).abs() < 0.01);
        assert!(
            zen4.to_string().contains("bfloat16 AMP is the faster"),
            "{zen4}"
        );
        let xeon = calibration("Intel Xeon", 2, 106.0, 84.0);
        assert!(xeon.to_string().contains("float32 is the faster"), "{xeon}");
    }

    /// The cache keeps one measurement per CPU model and thread count, replaces it when
    /// measured again, and names the file when it cannot be read.
    #[test]
    fn measurements_are_kept_per_cpu_and_threads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/precision.json");
        assert!(read_cache(&file).unwrap().is_empty());
        store_in(&file, &calibration("A", 2, 100.0, 50.0)).unwrap();
        store_in(&file, &calibration("A", 4, 100.0, 150.0)).unwrap();
        store_in(&file, &calibration("B", 2, 100.0, 150.0)).unwrap();
        store_in(&file, &calibration("A", 2, 100.0, 160.0)).unwrap();
        let all = read_cache(&file).unwrap();
        assert_eq!(all.len(), 3);
        let a2: Vec<_> = all
            .iter()
            .filter(|c| c.cpu == "A" && c.threads == 2)
            .collect();
        assert_eq!(a2.len(), 1);
        assert_eq!(a2[0].choice(), AmpMode::Bf16, "the newer measurement");
        let key = CpuKey {
            cpu: "B".into(),
            threads: 2,
        };
        assert!(all.iter().any(|c| c.is_for(&key)));

        std::fs::write(&file, b"{not json").unwrap();
        let err = read_cache(&file).unwrap_err().to_string();
        assert!(
            err.contains("precision.json") && err.contains("delete it"),
            "{err}"
        );
    }
}
