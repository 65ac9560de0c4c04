//! Checkpoint loading's header handling: safetensors headers (JSON length, offsets, dtypes,
//! shapes) and the state_dict pickle of PyTorch `.pth` files. Never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    if kind & 1 == 0 {
        let _ = vggnet::store::checkpoint::parse_safetensors(Path::new("fuzz.safetensors"), rest);
    } else {
        let _ = vggnet::store::pth::inspect_pickle(rest);
    }
});
