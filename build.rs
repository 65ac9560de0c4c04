//! Link settings for every binary, test and example of this crate. It reads no file a learner
//! edits (notebook 02's loop cells reach their test through tests/notebook/loop02.rs, a copy
//! that tests/train.rs holds equal to the notebook).
//!
//! torch-sys reports the
//! libtorch directory it linked against through its `links = "tch"` metadata
//! (`DEP_TCH_LIBTORCH_LIB`).
//!
//! - An rpath to that directory, so nothing needs `LD_LIBRARY_PATH` at run time.
//! - No NEEDED entry for `libtorch_cuda.so`: libtorch's CUDA backend is loaded at run time by
//!   `vggnet::model::perf::load_cuda_backend`, and only where an NVIDIA driver is present. Linked as
//!   NEEDED, it and the CUDA libraries it pulls in (cuBLAS, NVRTC, ...) were mapped into every
//!   process, GPU or not: about 265 MB of the CPU training's peak memory (tests/linking.rs
//!   checks the NEEDED entries).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-env=VGGNET_LIBTORCH_LIB={lib}");
    }
}
