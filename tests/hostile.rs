//! Hostile files (issue #54, part 3): every reader of a user's file refuses each one with one
//! line naming the file and the problem: exit code 1, never a panic, never libtorch's C++
//! backtrace. Each file is built here in code; each refusal line is printed (`--nocapture`).

mod common;

use assert_cmd::Command;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use vggnet::model::Vgg;
use vggnet::store::checkpoint::{load_model_from_bytes, save_model};

// ---- .pth files, built by hand: a zip holding a protocol-2 pickle and raw storages ----

/// One tensor of a hand-built state_dict pickle.
struct Entry {
    name: String,
    storage: &'static str,
    key: String,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

fn long(out: &mut Vec<u8>, v: i64) {
    out.extend([0x8a, 8]);
    out.extend(v.to_le_bytes());
}

fn text(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
}

fn ints(out: &mut Vec<u8>, v: &[i64]) {
    out.push(b'(');
    for &x in v {
        long(out, x);
    }
    out.push(b't');
}

/// What `torch.save(state_dict)` writes for these entries.
fn pickle(entries: &[Entry]) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    p.extend(b"ccollections\nOrderedDict\n)R(");
    for e in entries {
        text(&mut p, &e.name);
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        text(&mut p, "storage");
        p.extend(format!("ctorch\n{}\n", e.storage).as_bytes());
        text(&mut p, &e.key);
        text(&mut p, "cpu");
        long(&mut p, e.size.iter().product::<i64>().max(1));
        p.extend(b"tQ");
        long(&mut p, e.offset);
        ints(&mut p, &e.size);
        ints(&mut p, &e.stride);
        p.push(0x89);
        p.extend(b"ccollections\nOrderedDict\n)RtR");
    }
    p.extend(b"u.");
    p
}

fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The pickle of a state_dict holding one one-element tensor `w` of `storage` at `key`.
fn one_element_pickle(storage: &'static str, key: &str) -> Vec<u8> {
    pickle(&[Entry {
        name: "w".into(),
        storage,
        key: key.into(),
        offset: 0,
        size: vec![1],
        stride: vec![1],
    }])
}

/// A `.pth` of one float tensor over a storage of `elems` floats.
fn one_tensor_pth(size: &[i64], stride: &[i64], offset: i64, elems: usize) -> Vec<u8> {
    let entry = Entry {
        name: "features.0.weight".into(),
        storage: "FloatStorage",
        key: "0".into(),
        offset,
        size: size.to_vec(),
        stride: stride.to_vec(),
    };
    zip_of(&[
        ("archive/data.pkl".into(), pickle(&[entry])),
        ("archive/data/0".into(), vec![0u8; elems * 4]),
    ])
}

/// A valid `.pth` of `model`'s state_dict (contiguous tensors, one storage each).
pub fn model_pth(model: &Vgg) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for (i, (name, t)) in model.state_dict().into_iter().enumerate() {
        let t = t.contiguous();
        let size = t.size();
        let mut stride = vec![1i64; size.len()];
        for d in (0..size.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * size[d + 1];
        }
        let flat = t.view([-1]);
        let (storage, bytes): (_, Vec<u8>) = if t.kind() == Kind::Int64 {
            let v = Vec::<i64>::try_from(&flat).unwrap();
            (
                "LongStorage",
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        } else {
            let v = Vec::<f32>::try_from(&flat.to_kind(Kind::Float)).unwrap();
            (
                "FloatStorage",
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        };
        entries.push(Entry {
            name,
            storage,
            key: i.to_string(),
            offset: 0,
            size,
            stride,
        });
        files.push((format!("archive/data/{i}"), bytes));
    }
    files.insert(0, ("archive/data.pkl".into(), pickle(&entries)));
    zip_of(&files)
}

// ---- safetensors, built by hand ----

fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

// ---- running the binary ----

fn vggnet() -> Command {
    let mut c = Command::cargo_bin("vggnet").unwrap();
    c.env("MNIST_DIR", mnist_dir())
        .env_remove("VGGNET_MNIST_MIRRORS")
        .env("RUST_BACKTRACE", "1");
    c
}

/// Runs `vggnet args`, expects a refusal: exit code 1, an `error:` line that is the last and
/// only error line, naming `file` and containing `word`; no panic, no C++ frames, no libtorch
/// text beyond one line. Returns the error line.
fn refuses(args: &[&str], file: &Path, word: &str) -> String {
    let out = vggnet().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    for banned in [
        "panicked",
        "frame #",
        "Exception raised from",
        "RUST_BACKTRACE",
    ] {
        assert!(
            !stderr.contains(banned),
            "{name}: `{banned}` in stderr:\n{stderr}"
        );
    }
    assert_eq!(
        out.status.code(),
        Some(1),
        "{name}: exit code; stderr:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{name}: not one error line:\n{stderr}");
    let line = lines.last().copied().unwrap_or_default();
    assert!(
        line.starts_with("error: "),
        "{name}: last line is not the error:\n{stderr}"
    );
    assert!(
        line.contains(&name),
        "{name}: the line does not name the file: {line}"
    );
    assert!(
        line.to_lowercase().contains(&word.to_lowercase()),
        "{name}: the line does not say `{word}`: {line}"
    );
    eprintln!("HOSTILE {name}: {line}");
    line.to_string()
}

fn eval_refuses(file: &Path, word: &str) -> String {
    eval_model_refuses(file, file, word)
}

/// `vggnet eval --model model` refuses, naming `named` (the model's file or one beside it).
fn eval_model_refuses(model: &Path, named: &Path, word: &str) -> String {
    refuses(
        &[
            "eval",
            "--device",
            "cpu",
            "--model",
            model.to_str().unwrap(),
        ],
        named,
        word,
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

const G31: i64 = 1 << 31;
const G32: i64 = 1 << 32;

#[test]
fn hostile_pth_files_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "stride0.pth",
            one_tensor_pth(&[G31, G31], &[0, 0], 0, 4),
            "more than its storage",
        ),
        (
            "wrap.pth",
            one_tensor_pth(&[G32, G32], &[1, 1], 0, 4),
            "overflows",
        ),
        (
            "negative-stride.pth",
            one_tensor_pth(&[2, 2], &[-1, 1], 0, 4),
            "negative stride",
        ),
        (
            "negative-size.pth",
            one_tensor_pth(&[-2, 2], &[2, 1], 0, 4),
            "negative size",
        ),
        (
            "offset-past-end.pth",
            one_tensor_pth(&[2, 2], &[2, 1], 1000, 4),
            "past its end",
        ),
        (
            "stride-past-end.pth",
            one_tensor_pth(&[2, 2], &[1 << 40, 1], 0, 4),
            "past its end",
        ),
        (
            "stride-overflow.pth",
            one_tensor_pth(&[2, 2], &[i64::MAX, 1], 0, 4),
            "overflows",
        ),
        (
            "rank-mismatch.pth",
            one_tensor_pth(&[2, 2], &[1], 0, 4),
            "strides",
        ),
        (
            "odd-bytes.pth",
            zip_of(&[
                (
                    "archive/data.pkl".into(),
                    one_element_pickle("FloatStorage", "0"),
                ),
                ("archive/data/0".into(), vec![0u8; 7]),
            ]),
            "not whole",
        ),
        (
            "bad-dtype.pth",
            zip_of(&[(
                "archive/data.pkl".into(),
                one_element_pickle("ComplexFloatStorage", "0"),
            )]),
            "unsupported storage",
        ),
        (
            "no-storage.pth",
            zip_of(&[(
                "archive/data.pkl".into(),
                one_element_pickle("FloatStorage", "7"),
            )]),
            "storage archive/data/7",
        ),
        (
            "deep.pth",
            zip_of(&[("archive/data.pkl".into(), {
                let mut p = vec![0x80, 2];
                p.extend(std::iter::repeat_n(b']', 100_000));
                p.extend(std::iter::repeat_n(b'a', 99_999));
                p.push(b'.');
                p
            })]),
            "pickle",
        ),
        (
            "deep-tuple1.pth",
            zip_of(&[("archive/data.pkl".into(), {
                let mut p = vec![0x80, 2, b'N'];
                p.extend(std::iter::repeat_n(0x85u8, 1_000_000));
                p.push(b'.');
                p
            })]),
            "nests",
        ),
        (
            "not-a-zip.pth",
            b"PK\x03\x04 this is not a zip".to_vec(),
            "zip",
        ),
        ("empty.pth", Vec::new(), "zip"),
    ];
    for (name, bytes, word) in &cases {
        eval_refuses(&write(d, name, bytes), word);
    }
    // A valid .pth of the tiny model, cut short.
    let model = Vgg::new(tiny(), Device::Cpu).unwrap();
    let good = model_pth(&model);
    for (name, len) in [
        ("truncated.pth", good.len() / 2),
        ("truncated-end.pth", good.len() - 10),
    ] {
        eval_refuses(&write(d, name, &good[..len]), "zip");
    }
}

#[test]
fn a_valid_hand_built_pth_loads() {
    // The builder above is what `torch.save` writes: the hostile files differ only where they say.
    let model = Vgg::new(tiny(), Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bytes = model_pth(&model);
    write(dir.path(), "good.pth", &bytes);
    // (The tiny widths cannot be inferred from a bare state_dict: the config is given.)
    let loaded =
        load_model_from_bytes(Path::new("good.pth"), &bytes, Some(tiny()), Device::Cpu).unwrap();
    assert_same_weights(&model, &loaded, "hand-built .pth");
}

#[test]
fn pth_that_does_not_fit_the_network_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = Vgg::new(tiny(), Device::Cpu).unwrap();
    let good = model_pth(&model);
    // One tensor's shape changed: the classifier's last layer for 3 classes.
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for (i, (name, t)) in model.state_dict().into_iter().enumerate() {
        let mut size = t.size();
        if name == "classifier.3.weight" {
            size[0] = 3;
        }
        let numel: i64 = size.iter().product();
        let mut stride = vec![1i64; size.len()];
        for d in (0..size.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * size[d + 1];
        }
        let long = t.kind() == Kind::Int64;
        entries.push(Entry {
            name,
            storage: if long { "LongStorage" } else { "FloatStorage" },
            key: i.to_string(),
            offset: 0,
            size,
            stride,
        });
        files.push((
            format!("archive/data/{i}"),
            vec![0u8; numel as usize * if long { 8 } else { 4 }],
        ));
    }
    files.insert(0, ("archive/data.pkl".into(), pickle(&entries)));
    let bytes = zip_of(&files);
    // Against the tiny network itself (the library, with the config given): the shape check.
    let err = load_model_from_bytes(
        Path::new("wrong-shape.pth"),
        &bytes,
        Some(tiny()),
        Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("classifier.3.weight") && err.contains("model expects"),
        "{err}"
    );
    eprintln!("HOSTILE wrong-shape.pth (library, tiny config): {err}");
    // Through the binary the config is inferred from the shapes (the article's widths), and
    // these tiny widths do not infer: refused before any copy.
    let p = write(dir.path(), "wrong-shape.pth", &bytes);
    eval_refuses(&p, "other widths");
    // Missing tensors: only the first one.
    let p = write(
        dir.path(),
        "missing-keys.pth",
        &zip_of(&[
            ("archive/data.pkl".into(), pickle(&entries[..1])),
            files[1].clone(),
        ]),
    );
    eval_refuses(&p, "missing");
    let one = zip_of(&[
        ("archive/data.pkl".into(), pickle(&entries[..1])),
        files[1].clone(),
    ]);
    let err = load_model_from_bytes(
        Path::new("missing-keys.pth"),
        &one,
        Some(tiny()),
        Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("is missing"), "{err}");
    eprintln!("HOSTILE missing-keys.pth (library, tiny config): {err}");
    assert!(good.len() > 1000);
}

#[test]
fn hostile_safetensors_and_model_json_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f32s = |n: usize| vec![0u8; n * 4];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "short.safetensors",
            vec![1, 2, 3],
            "not a valid safetensors",
        ),
        (
            "huge-header-len.safetensors",
            {
                let mut b = u64::MAX.to_le_bytes().to_vec();
                b.extend(b"{}");
                b
            },
            "header",
        ),
        (
            "header-past-end.safetensors",
            {
                let mut b = 1000u64.to_le_bytes().to_vec();
                b.extend(b"{}");
                b
            },
            "header",
        ),
        (
            "offsets-out-of-range.safetensors",
            safetensors(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4000]}}"#,
                &f32s(2),
            ),
            "not a valid safetensors",
        ),
        (
            "offsets-overlap.safetensors",
            safetensors(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                &f32s(3),
            ),
            "not a valid safetensors",
        ),
        (
            "wrong-dtype.safetensors",
            safetensors(
                r#"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
            "dtype",
        ),
        (
            "shape-bytes-mismatch.safetensors",
            safetensors(
                r#"{"w":{"dtype":"F32","shape":[3,3],"data_offsets":[0,8]}}"#,
                &f32s(2),
            ),
            "not a valid safetensors",
        ),
        (
            "shape-overflow.safetensors",
            safetensors(
                r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#,
                &f32s(2),
            ),
            "not a valid safetensors",
        ),
        ("not-json.safetensors", safetensors("{{{{", &[]), "header"),
    ];
    for (name, bytes, word) in &cases {
        eval_refuses(&write(d, name, bytes), word);
    }

    // model.json beside valid weights, with nonsense values.
    let model = Vgg::new(tiny(), Device::Cpu).unwrap();
    let json_cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "zero-classes",
            serde_json::json!({"num_classes": 0}),
            "positive",
        ),
        (
            "zero-channels",
            serde_json::json!({"in_channels": 0}),
            "positive",
        ),
        (
            "huge-channels",
            serde_json::json!({"block_channels": [1u64 << 40]}),
            "above",
        ),
        (
            "huge-classes",
            serde_json::json!({"num_classes": 1u64 << 40}),
            "above",
        ),
        (
            "huge-image",
            serde_json::json!({"image_size": 1u64 << 40}),
            "above",
        ),
        (
            "negative-dropout",
            serde_json::json!({"dropout": -1.0}),
            "dropout",
        ),
    ];
    for (name, patch, word) in json_cases {
        let sub = d.join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let weights = sub.join("model.safetensors");
        // Weights without the embedded config, so only model.json says what the network is.
        vggnet::store::checkpoint::write_safetensors(&weights, &model.state_dict(), None).unwrap();
        let mut cfg = serde_json::to_value(model.config()).unwrap();
        for (k, v) in patch.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        let json = sub.join("model.json");
        std::fs::write(&json, serde_json::to_vec(&cfg).unwrap()).unwrap();
        eval_model_refuses(&weights, &json, word);
    }
    let sub = d.join("garbage-json");
    std::fs::create_dir_all(&sub).unwrap();
    let weights = sub.join("model.safetensors");
    save_model(&model, &weights).unwrap();
    let json = write(&sub, "model.json", b"{\"num_classes\": \"ten\"");
    eval_model_refuses(&weights, &json, "not valid");
}

#[test]
fn hostile_pictures_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = Vgg::new(vggnet::model::VggConfig::default(), Device::Cpu).unwrap();
    let weights = d.join("model.safetensors");
    save_model(&model, &weights).unwrap();
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, 28, 28);
        enc.set_color(png::ColorType::Grayscale);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[255u8; 28 * 28]).unwrap();
    }
    // The IHDR's width and height (bytes 16..24) claim 2^31-1 x 2^31-1 (CRC fixed up).
    let mut huge = png.clone();
    huge[16..20].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    huge[20..24].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let crc = crc32fast::hash(&huge[12..29]);
    huge[29..33].copy_from_slice(&crc.to_be_bytes());
    // A JPEG whose SOF0 claims 65535 x 65535.
    let jpeg_huge: Vec<u8> = [
        &[0xFF, 0xD8][..],
        &[0xFF, 0xC0, 0, 11, 8, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0x11, 0],
        &[0xFF, 0xD9],
    ]
    .concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("huge.png", huge, "pixels"),
        ("truncated.png", png[..png.len() - 20].to_vec(), "decode"),
        ("huge.jpg", jpeg_huge, "pixels"),
        (
            "truncated.jpg",
            vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J'],
            "decode",
        ),
        ("empty.png", Vec::new(), "empty"),
        ("text.png", b"hello".to_vec(), "not an image"),
    ];
    for (name, bytes, word) in &cases {
        // `predict` reads every picture it is given: the one that fails has its line among the
        // results on stdout, and the error line on stderr names it.
        let p = write(d, name, bytes);
        let args = [
            "predict",
            "--device",
            "cpu",
            "--model",
            weights.to_str().unwrap(),
            p.to_str().unwrap(),
        ];
        refuses(&args, &p, "could not be read");
        let out = vggnet().args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let lines: Vec<&str> = stdout.lines().filter(|l| l.contains(*name)).collect();
        assert_eq!(lines.len(), 1, "{name}: stdout:\n{stdout}");
        assert!(
            lines[0].contains(word),
            "{name}: `{word}` not in {}",
            lines[0]
        );
        assert!(!stdout.contains("panicked"), "{stdout}");
        eprintln!("HOSTILE {name} (stdout): {}", lines[0]);
    }
}

#[test]
fn hostile_idx_and_cifar_files_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = Vgg::new(vggnet::model::VggConfig::default(), Device::Cpu).unwrap();
    let weights = d.join("model.safetensors");
    save_model(&model, &weights).unwrap();
    let mut labels = vec![0, 0, 8, 1];
    labels.extend(10_000u32.to_be_bytes());
    labels.extend(vec![0u8; 10_000]);
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let images_header = |count: u32, rows: u32, cols: u32| {
        let mut b = vec![0, 0, 8, 3];
        b.extend(count.to_be_bytes());
        b.extend(rows.to_be_bytes());
        b.extend(cols.to_be_bytes());
        b
    };
    let mut truncated = images_header(10_000, 28, 28);
    truncated.extend(vec![0u8; 5000]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bad-magic",
            gz(&[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]),
            "magic",
        ),
        (
            "dims-overflow",
            gz(&images_header(u32::MAX, u32::MAX, u32::MAX)),
            "28x28",
        ),
        (
            "count-overflow",
            gz(&images_header(u32::MAX, 28, 28)),
            "truncated",
        ),
        ("truncated", gz(&truncated), "truncated"),
        (
            "gz-garbage",
            b"\x1f\x8b\x08\x00garbage garbage garbage".to_vec(),
            "gzip",
        ),
        ("cut-gz", gz(&truncated)[..40].to_vec(), "gzip"),
    ];
    for (name, bytes, word) in &cases {
        let sub = d.join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let images = write(&sub, "t10k-images-idx3-ubyte.gz", bytes);
        write(&sub, "t10k-labels-idx1-ubyte.gz", &gz(&labels));
        for f in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
            std::fs::copy(mnist_dir().join(f), sub.join(f)).unwrap();
        }
        let line = refuses(
            &[
                "eval",
                "--device",
                "cpu",
                "--model",
                weights.to_str().unwrap(),
                "--data-dir",
                sub.to_str().unwrap(),
            ],
            &images,
            word,
        );
        assert!(line.contains(name), "{line}");
    }

    // CIFAR-10 batches, through the library's reader (a CIFAR model is 3x32x32).
    let cifar: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.bin", Vec::new(), "empty"),
        (
            "cut.bin",
            cifar_batch(2, 1)[..5000].to_vec(),
            "whole number",
        ),
        (
            "bad-label.bin",
            {
                let mut b = cifar_batch(2, 1);
                b[0] = 200;
                b
            },
            "outside 0-9",
        ),
    ];
    for (name, bytes, word) in &cifar {
        let p = d.join(name);
        let err = vggnet::data::cifar::parse_batch(&p, bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains(word), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        eprintln!("HOSTILE {name} (library): {err}");
    }
}

#[test]
fn library_calls_return_errors_not_panics() {
    let model = Vgg::new(tiny(), Device::Cpu).unwrap();
    let good = model_pth(&model);
    let p = Path::new("mem.pth");
    assert!(load_model_from_bytes(p, &good, Some(tiny()), Device::Cpu).is_ok());
    for bytes in [
        one_tensor_pth(&[G31, G31], &[0, 0], 0, 4),
        one_tensor_pth(&[G32, G32], &[1, 1], 0, 4),
        one_tensor_pth(&[2, 2], &[-1, 1], 0, 4),
        one_tensor_pth(&[2, 2], &[2, 1], 1 << 62, 4),
        good[..good.len() / 3].to_vec(),
    ] {
        let err = load_model_from_bytes(p, &bytes, None, Device::Cpu).unwrap_err();
        let msg = err.to_string();
        assert_eq!(msg.lines().count(), 1, "{msg}");
        assert!(msg.starts_with("mem.pth: "), "{msg}");
    }
    // libtorch's own errors arrive as one line.
    let e = Tensor::zeros([2], (Kind::Float, Device::Cpu))
        .f_view([3])
        .unwrap_err();
    let msg = vggnet::error::Error::from(e).to_string();
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(!msg.contains("Exception raised from"), "{msg}");
}

/// Writes the seeds of the `load` fuzz corpus (fuzz/corpus/load/seed-*: first byte 0 = safetensors,
/// 1 = `.pth`) when VGGNET_WRITE_FUZZ_SEEDS names a folder: valid files of the fuzz network and
/// the hostile ones above.
#[test]
fn fuzz_seeds() {
    let Some(dir) = std::env::var_os("VGGNET_WRITE_FUZZ_SEEDS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = vggnet::store::checkpoint::fuzz_config();
    let model = Vgg::new(cfg, Device::Cpu).unwrap();
    let tagged = |kind: u8, bytes: &[u8]| [&[kind][..], bytes].concat();
    let pth = model_pth(&model);
    assert!(vggnet::store::checkpoint::load_fuzz_input(&tagged(1, &pth)).is_ok());
    let st_path = dir.join("tmp.safetensors");
    save_model(&model, &st_path).unwrap();
    let st = std::fs::read(&st_path).unwrap();
    std::fs::remove_file(&st_path).unwrap();
    std::fs::remove_file(dir.join("tmp.json")).unwrap();
    assert!(vggnet::store::checkpoint::load_fuzz_input(&tagged(0, &st)).is_ok());
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("valid-pth", tagged(1, &pth)),
        ("valid-safetensors", tagged(0, &st)),
        (
            "pth-stride0",
            tagged(1, &one_tensor_pth(&[G31, G31], &[0, 0], 0, 4)),
        ),
        (
            "pth-wrap",
            tagged(1, &one_tensor_pth(&[G32, G32], &[1, 1], 0, 4)),
        ),
        (
            "pth-negative-stride",
            tagged(1, &one_tensor_pth(&[2, 2], &[-1, 1], 0, 4)),
        ),
        (
            "pth-offset",
            tagged(1, &one_tensor_pth(&[2, 2], &[2, 1], 1000, 4)),
        ),
        ("pth-truncated", tagged(1, &pth[..pth.len() / 2])),
        (
            "safetensors-shape-mismatch",
            tagged(
                0,
                &safetensors(
                    r#"{"w":{"dtype":"F32","shape":[3,3],"data_offsets":[0,8]}}"#,
                    &[0; 8],
                ),
            ),
        ),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}
