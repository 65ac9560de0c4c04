//! Embeds an rpath to libtorch's `lib/` in every binary, test and example of this crate,
//! so nothing needs `LD_LIBRARY_PATH` at run time. torch-sys reports the directory it linked
//! against through its `links = "tch"` metadata (`DEP_TCH_LIBTORCH_LIB`).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-env=VGGNET_LIBTORCH_LIB={lib}");
    }
}
