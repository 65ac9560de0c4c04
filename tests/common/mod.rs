//! Shared helpers for the integration tests. Missing inputs are failures, never skips.
#![allow(dead_code)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use vggnet::data::{Data, DataConfig, Dataset};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$MNIST_DIR`, else `../shared/data/mnist`. Panics (fails the test) when neither has MNIST.
pub fn mnist_dir() -> PathBuf {
    dataset_dir(Dataset::Mnist)
}

/// `$FASHION_MNIST_DIR`, else `../shared/data/fashion-mnist`. Panics (fails the test) when
/// neither has Fashion-MNIST.
pub fn fashion_dir() -> PathBuf {
    dataset_dir(Dataset::FashionMnist)
}

fn dataset_dir(dataset: Dataset) -> PathBuf {
    let spec = dataset.spec();
    let dir = std::env::var_os(spec.dir_env)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data").join(spec.name));
    let missing = vggnet::data::missing_files(&dir, dataset.files())
        .unwrap_or_else(|e| panic!("cannot look into {}: {e}", dir.display()));
    assert!(
        missing.is_empty(),
        "{} is required by this test: {} lacks {:?}. Set {} to a folder with the four IDX files.",
        spec.title,
        dir.display(),
        missing,
        spec.dir_env
    );
    dir
}

/// Loads MNIST without downloading, optionally limited.
pub fn load_mnist(train_limit: Option<usize>, test_limit: Option<usize>) -> Data {
    Data::load(&DataConfig {
        dir: mnist_dir(),
        train_limit,
        test_limit,
        download: false,
        ..Default::default()
    })
    .expect("loading MNIST")
}

/// The project venv's python (with torch 2.13.0), or `$VGGNET_PYTHON`. Panics when missing.
pub fn python() -> PathBuf {
    let p = std::env::var_os("VGGNET_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "the project venv's python is required ({}): run `make setup`",
        p.display()
    );
    p
}

/// Runs `python/article.py` with `args`; returns stdout. Panics with stderr on failure.
pub fn run_article(args: &[&str]) -> String {
    let out = std::process::Command::new(python())
        .arg(root().join("python/article.py"))
        .args(args)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "python/article.py {:?} failed:\n{}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Names of the entries in `dir` that start with `prefix` (leftover temporary files).
pub fn names_starting_with(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("listing the folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// A narrow network of the article's shape (4 conv blocks, 3 linear layers, dropout) for the
/// tests where the width does not matter: it builds, trains and saves in milliseconds.
pub fn tiny() -> vggnet::model::VggConfig {
    vggnet::model::VggConfig {
        block_channels: vec![4, 8, 8, 8],
        hidden: 32,
        ..Default::default()
    }
}

/// A trainer for a freshly seeded model of `model` config on the CPU.
pub fn trainer_for(
    model: vggnet::model::VggConfig,
    seed: i64,
    config: vggnet::train::TrainConfig,
) -> vggnet::train::Trainer {
    tch::manual_seed(seed);
    let model = vggnet::model::Vgg::new(model, tch::Device::Cpu).expect("building the model");
    vggnet::train::Trainer::new(model, config).expect("building the trainer")
}

/// Copies of the trainer's parameters, to compare after a step.
pub fn snapshot(t: &vggnet::train::Trainer) -> Vec<tch::Tensor> {
    t.model()
        .named_parameters()
        .iter()
        .map(|(_, p)| p.copy())
        .collect()
}

/// Asserts that two models hold exactly the same weights, naming the first that differs.
pub fn assert_same_weights(a: &vggnet::model::Vgg, b: &vggnet::model::Vgg, what: &str) {
    let (pa, pb) = (a.named_parameters(), b.named_parameters());
    assert_eq!(pa.len(), pb.len(), "{what}: different parameter lists");
    for ((name, x), (_, y)) in pa.iter().zip(pb.iter()) {
        assert!(x.equal(y), "{name}: {what}");
    }
}

/// A run of the narrow network on the first 160 training, 32 validation and 32 test digits, on the CPU, no
/// plots, in `dir`, with `plan`'s schedule and augmentation.
pub fn tiny_run(
    dir: &std::path::Path,
    train: vggnet::train::TrainConfig,
    plan: vggnet::recipe::Plan,
) -> vggnet::run::Run {
    let config = vggnet::run::RunConfig {
        train,
        plan,
        model: tiny(),
        data: DataConfig {
            dir: mnist_dir(),
            train_limit: Some(160),
            validation: 32,
            test_limit: Some(32),
            download: false,
            ..Default::default()
        },
        device: tch::Device::Cpu,
        plots: false,
    };
    vggnet::run::Run::start(dir, config).expect("starting the run")
}

/// Torch's RNG (init, dropout, augmentation) is process-global and the test harness runs tests
/// on threads: a test that seeds and then draws holds this lock, so no other test of its binary
/// draws from the generator meanwhile.
pub fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// An HTTP server on 127.0.0.1 for download tests: serves `<mode>/<name>.gz` from MNIST_DIR for at most `max_conns` connections.
pub fn serve(max_conns: usize) -> String {
    serve_from(mnist_dir(), max_conns)
}

/// Serves `<mode>/<file>` from `dir` for at most `max_conns` connections.
pub fn serve_from(dir: std::path::PathBuf, max_conns: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_conns) {
            let Ok(mut stream) = stream else { continue };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut parts = path.trim_start_matches('/').splitn(2, '/');
                let (mode, file) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let body = std::fs::read(dir.join(file)).unwrap_or_default();
                let header = |code: &str, len: usize| {
                    format!("HTTP/1.1 {code}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                };
                let _ = match mode {
                    "ok" if !body.is_empty() => stream
                        .write_all(header("200 OK", body.len()).as_bytes())
                        .and_then(|_| stream.write_all(&body)),
                    "cut" => stream
                        .write_all(header("200 OK", body.len()).as_bytes())
                        .and_then(|_| stream.write_all(&body[..body.len() / 2])),
                    "wrong" => {
                        // Valid gzip, wrong content: the real raw bytes with one byte changed.
                        let mut raw = vggnet::idx::read_idx_bytes(&dir.join(file), 1 << 26).unwrap();
                        let last = raw.len() - 1;
                        raw[last] ^= 1;
                        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                        enc.write_all(&raw).unwrap();
                        let gz = enc.finish().unwrap();
                        stream
                            .write_all(header("200 OK", gz.len()).as_bytes())
                            .and_then(|_| stream.write_all(&gz))
                    }
                    "stall" => {
                        let _ = stream.write_all(header("200 OK", body.len()).as_bytes());
                        std::thread::sleep(std::time::Duration::from_secs(4));
                        Ok(())
                    }
                    "redirect" => stream.write_all(
                        format!("HTTP/1.1 302 Found\r\nLocation: /ok/{file}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .as_bytes(),
                    ),
                    _ => stream.write_all(header("404 Not Found", 0).as_bytes()),
                };
            });
        }
    });
    format!("http://{addr}")
}

/// CIFAR-10's batch files: five for training, then the test batch.
pub const CIFAR_BATCHES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// A batch of `n` records: label `(seed + i) % 10`, then red, green and blue planes whose
/// pixels are drawn from `seed`.
pub fn cifar_batch(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(n * vggnet::data::cifar::RECORD);
    for i in 0..n {
        out.push(((seed as usize + i) % 10) as u8);
        for _ in 0..vggnet::data::cifar::RECORD - 1 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            out.push((state >> 56) as u8);
        }
    }
    out
}

/// A gzipped tar archive of the entries (name, bytes).
pub fn tar_gz(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, &bytes[..]).unwrap();
    }
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

/// The six batches of `per_batch` records as the archive holds them.
pub fn cifar_archive_entries(per_batch: usize) -> Vec<(String, Vec<u8>)> {
    CIFAR_BATCHES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                format!("cifar-10-batches-bin/{n}"),
                cifar_batch(per_batch, i as u64),
            )
        })
        .collect()
}
