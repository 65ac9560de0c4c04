//! The whole checkpoint load path: a safetensors or `.pth` file parsed from the fuzz bytes, its
//! tensors built, checked against a small VGG and copied into it. Never a panic, never an abort.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vggnet::store::checkpoint::load_fuzz_input(data);
});
