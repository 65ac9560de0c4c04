//! A short, coverage-free mutation run of the checkpoint load path (`make fuzz-short`): the
//! seeds (files of the given folders: the fuzz corpora, with hostile and valid `.pth` and
//! safetensors files) mutated at random (bit flips, interesting integers, cuts, splices, copied
//! runs) for a given time, each input through [`vggnet::store::checkpoint::load_fuzz_input`],
//! the same function the `load` cargo-fuzz target drives. Built in the normal release target:
//! no sanitizer build of the tch stack (`make fuzz` is the coverage-guided run). A panic prints
//! the input's file and exits 1; an abort ends the process (non-zero exit either way).
//!
//! Usage: fuzz_load SECONDS DIR... [--seed N]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const INTERESTING: [i64; 12] = [
    0,
    -1,
    1,
    i64::MAX,
    i64::MIN,
    1 << 31,
    1 << 32,
    (1 << 31) - 1,
    u32::MAX as i64,
    1 << 62,
    255,
    65535,
];

fn mutate(rng: &mut ChaCha8Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    for _ in 0..rng.random_range(1..=4) {
        let len = input.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] = rng.random();
            }
            2 if len >= 8 => {
                // An interesting integer, little- or big-endian, 1, 2, 4 or 8 bytes wide.
                let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
                let w = [1usize, 2, 4, 8][rng.random_range(0..4)];
                let i = rng.random_range(0..=len - w);
                let bytes = if rng.random() {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let src = if bytes[0] == 0 && w < 8 {
                    &bytes[8 - w..]
                } else {
                    &bytes[..w]
                };
                input[i..i + w].copy_from_slice(src);
            }
            3 if len > 1 => input.truncate(rng.random_range(1..len)),
            4 if len > 0 => {
                // Copy a run of the input elsewhere in it.
                let a = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - a).min(64));
                let run = input[a..a + n].to_vec();
                let b = rng.random_range(0..len);
                input.splice(b..b, run);
            }
            5 if !seeds.is_empty() => {
                // Splice another seed's tail on.
                let other = &seeds[rng.random_range(0..seeds.len())];
                if other.len() > 1 && len > 1 {
                    let cut = rng.random_range(1..len);
                    let from = rng.random_range(1..other.len());
                    input.truncate(cut);
                    input.extend_from_slice(&other[from..]);
                }
            }
            _ if len > 1 => {
                let i = rng.random_range(1..len);
                input.remove(i);
            }
            _ => input.push(rng.random()),
        }
    }
    input.truncate(1 << 22);
}

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut seed = 0u64;
    if let Some(i) = args.iter().position(|a| a == "--seed") {
        seed = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(0);
        args.drain(i..(i + 2).min(args.len()));
    }
    let Some(seconds) = args.first().and_then(|s| s.parse::<f64>().ok()) else {
        eprintln!("usage: fuzz_load SECONDS DIR... [--seed N]");
        return std::process::ExitCode::from(2);
    };
    let mut seeds = Vec::new();
    for dir in &args[1..] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            eprintln!("fuzz_load: cannot read {dir}");
            return std::process::ExitCode::from(2);
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            if let Ok(bytes) = std::fs::read(&f) {
                seeds.push(bytes);
            }
        }
    }
    if seeds.is_empty() {
        eprintln!("fuzz_load: no seeds");
        return std::process::ExitCode::from(2);
    }
    tch::set_num_threads(1);
    // Panics are caught and reported below, without the default hook's noise per input.
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (start, limit) = (Instant::now(), Duration::from_secs_f64(seconds));
    let (mut runs, mut loaded) = (0u64, 0u64);
    let check = |input: &[u8], runs: &mut u64| -> Result<bool, String> {
        *runs += 1;
        match std::panic::catch_unwind(|| vggnet::store::checkpoint::load_fuzz_input(input)) {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) => {
                let msg = e.to_string();
                if msg.contains('\n') {
                    return Err(format!("a multi-line error: {msg}"));
                }
                Ok(false)
            }
            Err(p) => Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into())),
        }
    };
    let fail = |input: &[u8], why: String| {
        let out = std::env::temp_dir().join(format!("fuzz_load-crash-{seed}"));
        let _ = std::fs::write(&out, input);
        eprintln!("fuzz_load: {why}; the input is in {}", out.display());
        std::process::ExitCode::FAILURE
    };
    for s in &seeds {
        match check(s, &mut runs) {
            Ok(ok) => loaded += ok as u64,
            Err(why) => return fail(s, why),
        }
    }
    while start.elapsed() < limit {
        let mut input = seeds[rng.random_range(0..seeds.len())].clone();
        mutate(&mut rng, &mut input, &seeds);
        match check(&input, &mut runs) {
            Ok(ok) => loaded += ok as u64,
            Err(why) => return fail(&input, why),
        }
    }
    println!(
        "fuzz_load: {runs} inputs from {} seeds in {:.0} s, {loaded} loaded into the model, no panic, no abort",
        seeds.len(),
        start.elapsed().as_secs_f64()
    );
    std::process::ExitCode::SUCCESS
}
