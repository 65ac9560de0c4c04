//! IDX validation and parsing: any bytes, raw or as a gzip stream, as images or labels.
//! Must return Ok or a typed error, never panic, never allocate past the limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let is_images = flags & 1 == 1;
    let gz = flags & 2 == 2;
    let path = Path::new("fuzz-input");
    if let Ok(bytes) = vggnet::idx::decode_idx(path, rest, gz, 1 << 20) {
        let _ = vggnet::idx::validate_idx(path, &bytes, is_images);
    }
});
