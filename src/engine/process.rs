//! Process-wide speed settings: glibc's allocator thresholds, denormals flushed to zero on
//! libtorch's threads, the thread count; and the counters the benchmark reads (page faults,
//! mmapped bytes). Each changes the whole process, so only the command line, the benchmark
//! and [`crate::engine::speed_up`] call them, never the core.
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
/// Called by [`crate::engine::speed_up`] and the benchmark; set `VGGNET_NO_MALLOC_TUNING=1` to
/// keep glibc's defaults.
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

/// The one setter of libtorch's intra-op threads (`--threads`): at least 1. Training,
/// evaluation and the precision measurement ([`crate::engine::calibrate`], whose answers are kept
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
