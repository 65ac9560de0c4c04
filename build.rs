//! Link settings for every binary, test and example of this crate, and notebook 02's loop cells
//! for the test that holds them to `Run::train`.
//!
//! Notebook 02's `train_epoch` and `evaluate_model` cells are written to
//! `$OUT_DIR/notebook02_loop.rs`, which tests/train.rs `include!`s: the test compiles and runs
//! the notebook's own code, not a copy (empty where the notebook is not beside the crate, as in
//! the GPU bundle's copy, which builds no tests).
//!
//! The link settings: torch-sys reports the
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
    notebook_loop();
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-env=VGGNET_LIBTORCH_LIB={lib}");
    }
}

/// The code cells of notebooks/02_training.ipynb that define `fn train_epoch` and
/// `fn evaluate_model`, into `$OUT_DIR/notebook02_loop.rs`.
fn notebook_loop() {
    let notebook = std::path::Path::new("notebooks/02_training.ipynb");
    println!("cargo:rerun-if-changed={}", notebook.display());
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("notebook02_loop.rs");
    let mut code = String::new();
    if let Ok(text) = std::fs::read_to_string(notebook) {
        let nb: serde_json::Value = serde_json::from_str(&text).expect("notebook 02 is JSON");
        for cell in nb["cells"].as_array().into_iter().flatten() {
            let source: String = match &cell["source"] {
                serde_json::Value::Array(lines) => {
                    lines.iter().filter_map(|l| l.as_str()).collect()
                }
                serde_json::Value::String(s) => s.clone(),
                _ => continue,
            };
            if cell["cell_type"] == "code"
                && (source.contains("fn train_epoch(") || source.contains("fn evaluate_model("))
            {
                // Public, so the test's module around them can call them.
                code.push_str(&source.replace("\nfn ", "\npub fn "));
                code.push('\n');
            }
        }
    }
    std::fs::write(&out, code).expect("OUT_DIR is writable");
}
