//! Link settings for every binary, test and example of this crate. torch-sys reports the
//! libtorch directory it linked against through its `links = "tch"` metadata
//! (`DEP_TCH_LIBTORCH_LIB`).
//!
//! - An rpath to that directory, so nothing needs `LD_LIBRARY_PATH` at run time.
//! - `libtorch_cuda.so` as a NEEDED entry whenever that libtorch has one. Nothing in this crate
//!   calls into it directly, so the linker's `--as-needed` would drop it; then libtorch's CUDA
//!   backend is never loaded and registered, and `tch::Cuda::is_available()` is false even on a
//!   GPU machine. `--no-as-needed` keeps it (tests/linking.rs checks the NEEDED entries).
//!   A CPU-only libtorch has no `libtorch_cuda.so` and links as before.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-env=VGGNET_LIBTORCH_LIB={lib}");
        let cuda = std::path::Path::new(&lib).join("libtorch_cuda.so");
        println!("cargo:rerun-if-changed={}", cuda.display());
        if cuda.exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
