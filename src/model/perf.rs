//! The machine the model runs on: process-level speed settings, the CPU's features and the
//! CUDA backend.
//!
//! Every training step frees and re-allocates the same activation and gradient buffers (tens
//! of MB each). With glibc's defaults, blocks above 128 KB to 32 MB come from fresh `mmap`s
//! and go back with `munmap`, so each step pays page faults and the kernel zeroing those pages
//! again. Raising the mmap threshold to its maximum (32 MB) and the trim threshold lets freed
//! buffers be reused instead: measured here +7% training and +13% evaluation throughput
//! (AMD EPYC, 2 cores), at the price of keeping the peak heap mapped.
//!
//! 32 MB is as high as glibc lets that threshold go, and one buffer per step is larger: the
//! 4096x4096 layer's weight gradient (64 MB), which autograd allocates afresh every step. It
//! still came from a fresh `mmap`: 16,384 page faults per step, about 30 ms of kernel time on
//! 2 cores (`perf stat`: 15.6k faults per step before, none after). `M_MMAP_MAX = 0` makes
//! glibc serve such blocks from the heap as well, where a freed block is reused by the next
//! step. On threads other than the main one glibc's heaps hold at most 64 MB, so a block this
//! large still comes from `mmap` there (no gain, no harm); `vggnet train`, the benchmark and
//! the notebook kernels train on their main thread.

use std::sync::Once;

static TUNE: Once = Once::new();

/// Environment variable that turns the allocator tuning off.
pub const OPT_OUT_ENV: &str = "VGGNET_NO_MALLOC_TUNING";

/// Applies the allocator settings once per process (glibc on Linux; elsewhere a no-op).
/// Called where training ([`crate::train::Trainer::train_epoch`]) and evaluation
/// ([`crate::eval::evaluate`]) start; set `VGGNET_NO_MALLOC_TUNING=1` to keep glibc's defaults.
pub fn tune_allocator() {
    TUNE.call_once(|| {
        if std::env::var_os(OPT_OUT_ENV).is_some() {
            return;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes glibc's allocation thresholds; it is thread-safe and
        // takes plain integers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            libc::mallopt(libc::M_MMAP_MAX, 0);
        }
    });
}

/// Bytes glibc's malloc holds in `mmap`ed blocks right now (`mallinfo2().hblkhd`; `None` off
/// glibc). With [`tune_allocator`]'s settings a large block adds nothing here (it comes from
/// the heap, where the next step reuses it); with glibc's defaults a 64 MB block adds 64 MB.
pub fn mmapped_bytes() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads glibc's allocator statistics.
        return Some(unsafe { libc::mallinfo2() }.hblkhd);
    }
    #[allow(unreachable_code)]
    None
}

/// Minor page faults of this process so far (all threads; `getrusage`). A step that
/// allocates fresh pages pays one per 4 KB page: the benchmark reports them per step.
pub fn minor_faults() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: getrusage fills the struct it is given and reads nothing else.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `usage` is a valid, writable rusage.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
            return u64::try_from(usage.ru_minflt).ok();
        }
    }
    None
}

/// Denormal ("subnormal") floats, below 1.2e-38 in float32, make x86 CPUs take a microcode
/// assist on every arithmetic operation that reads or writes one: tens to a hundred times
/// slower. Training produces millions of them: AdamW's first moment decays by 0.9 per step
/// wherever the gradient is exactly zero (dead ReLU units, whole rows of the 4096x4096 layer),
/// and reaches the denormal range after ~700 such steps. Measured on one epoch of the fast
/// recipe: 6.7 million denormal moments; one `_fused_adamw_` over the 4096x4096 layer took
/// 116 ms instead of 25 ms (2 threads, Intel Xeon). Whole epochs slowed down as they went on.
///
/// Flushing them to zero (the x86 FTZ and DAZ bits of MXCSR, PyTorch's
/// `torch.set_flush_denormal(True)`) changes only values below 1.2e-38: an AdamW moment that
/// small moves its weight by less than 1e-30 of the learning rate. The bits are per thread,
/// and `torch.set_flush_denormal` sets only the calling thread's, so libtorch's OpenMP
/// workers keep computing with denormals (measured: no gain at 2 threads); this function also
/// sets them on every thread of the calling thread's OpenMP team, which is the team libtorch's
/// parallel loops and oneDNN use from this thread.
///
/// Returns the number of threads that now have the setting (0 on CPUs other than x86-64,
/// where this is a no-op).
pub fn flush_denormals(on: bool) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        set_flush_here(on);
        let threads = tch::get_num_threads().max(1);
        match gomp_parallel() {
            Some(parallel) if threads > 1 => {
                let counter = std::sync::atomic::AtomicUsize::new(0);
                let job = (on, &counter);
                extern "C" fn body(data: *mut libc::c_void) {
                    // SAFETY: `data` points at `job` below, alive until GOMP_parallel returns.
                    let (on, counter) =
                        unsafe { *(data as *const (bool, &std::sync::atomic::AtomicUsize)) };
                    set_flush_here(on);
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                // SAFETY: GOMP_parallel runs `body` once on each thread of a team of `threads`
                // (the caller included) and returns when all have finished.
                unsafe {
                    parallel(
                        body,
                        &job as *const _ as *mut libc::c_void,
                        threads as u32,
                        0,
                    )
                };
                counter.load(std::sync::atomic::Ordering::SeqCst)
            }
            _ => 1,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = on;
        0
    }
}

/// Whether the calling thread flushes denormals (FTZ and DAZ both set).
pub fn flushing_denormals() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        read_csr() & (FTZ | DAZ) == FTZ | DAZ
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
const FTZ: u32 = 1 << 15;
#[cfg(target_arch = "x86_64")]
const DAZ: u32 = 1 << 6;

#[cfg(target_arch = "x86_64")]
fn read_csr() -> u32 {
    let mut csr: u32 = 0;
    // SAFETY: stmxcsr stores the 32-bit MXCSR register at the given address.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
    csr
}

#[cfg(target_arch = "x86_64")]
fn set_flush_here(on: bool) {
    let csr = read_csr();
    let csr = if on {
        csr | FTZ | DAZ
    } else {
        csr & !(FTZ | DAZ)
    };
    // SAFETY: ldmxcsr loads MXCSR from the given address; only the FTZ and DAZ bits change.
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack)) };
}

type GompParallel =
    unsafe extern "C" fn(extern "C" fn(*mut libc::c_void), *mut libc::c_void, u32, u32);

/// libgomp's `GOMP_parallel`, the entry point of `#pragma omp parallel`, from the libgomp
/// that libtorch loaded (looked up at run time: nothing links to it when libtorch uses no
/// OpenMP).
#[cfg(target_arch = "x86_64")]
fn gomp_parallel() -> Option<GompParallel> {
    static FOUND: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let addr = *FOUND.get_or_init(|| {
        // SAFETY: dlsym/dlopen with NUL-terminated names; RTLD_NOLOAD never loads a library.
        unsafe {
            let name = c"GOMP_parallel".as_ptr();
            let mut sym = libc::dlsym(libc::RTLD_DEFAULT, name);
            if sym.is_null() {
                // Loaded privately (e.g. by a notebook kernel's dlopen): ask for it by soname.
                let lib = libc::dlopen(
                    c"libgomp.so.1".as_ptr(),
                    libc::RTLD_LAZY | libc::RTLD_NOLOAD,
                );
                if !lib.is_null() {
                    sym = libc::dlsym(lib, name);
                }
            }
            (!sym.is_null()).then_some(sym as usize)
        }
    });
    // SAFETY: the symbol is libgomp's GOMP_parallel, whose C signature GompParallel states.
    addr.map(|a| unsafe { std::mem::transmute::<usize, GompParallel>(a) })
}

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
/// benchmark, [`crate::train::calibrate::Calibration`]), not used to choose a precision: what the
/// same flag is worth differs between cores (with `avx512_bf16` and no AMX, bfloat16 AMP
/// trained at 0.8x float32 on an Intel Xeon and at 1.6x on an AMD EPYC Zen 4), so
/// [`crate::train::calibrate`] measures it.
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
/// every process for nothing. [`crate::train::default_device`] and
/// [`crate::train::parse_device`] call it, and so does every binary first thing;
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

/// Refuses a CUDA device this machine does not have (before a model or data is put there).
pub fn check_device(device: tch::Device) -> crate::error::Result<()> {
    if let tch::Device::Cuda(i) = device {
        load_cuda_backend();
        let here = tch::Cuda::device_count();
        if i as i64 >= here {
            return Err(crate::error::Error::Config(format!(
                "device cuda:{i} is not on this machine ({here} CUDA device(s) seen): use \
                 --device cpu or auto"
            )));
        }
    }
    Ok(())
}

/// The one setter of libtorch's intra-op threads (`--threads`): at least 1. Training,
/// evaluation and the precision measurement ([`crate::train::calibrate`], whose answers are kept
/// per CPU and thread count) all run on these.
pub fn set_threads(n: usize) -> crate::error::Result<()> {
    if n == 0 {
        return Err(crate::error::Error::Config(
            "--threads must be at least 1".into(),
        ));
    }
    tch::set_num_threads(n as i32);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which CPUs compute bfloat16 in hardware, from `/proc/cpuinfo` flags (whole words only):
    /// reported beside the measurement that decides the precision (`crate::train::calibrate`).
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
