//! The `vggnet` binary, run for real on small MNIST subsets.

mod common;

use assert_cmd::Command;
use common::*;
use predicates::prelude::*;
use std::path::Path;

fn vggnet() -> Command {
    let mut c = Command::cargo_bin("vggnet").unwrap();
    c.env("MNIST_DIR", mnist_dir())
        .env_remove("VGGNET_MNIST_MIRRORS");
    c
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn epochs(metrics: &serde_json::Value) -> Vec<(f64, f64, f64)> {
    metrics["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["train_loss"].as_f64().unwrap(),
                e["train_accuracy"].as_f64().unwrap(),
                e["val_accuracy"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn help_for_every_subcommand() {
    vggnet()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("train"));
    for sub in ["download", "train", "eval", "predict", "calibrate"] {
        vggnet()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"));
    }
}

/// The defaults `--help` shows are the library's values: each setting's under both recipes
/// (one value where they agree), the network's preset's, evaluation's batch size.
#[test]
fn help_shows_the_librarys_defaults() {
    use vggnet::recipe::Recipe;
    use vggnet::settings::augment_text;
    let help = |sub: &str| {
        let out = vggnet().args([sub, "--help"]).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (train, eval) = (help("train"), help("eval"));
    let (a, f) = (Recipe::Article.config(), Recipe::Fast.config());
    let net = vggnet::model::VggConfig::default();
    for shown in [
        format!("[default: {}]", a.epochs),
        format!("[default: {}]", a.batch_size),
        format!("[article: {}; fast: {}]", a.optimizer.lr, f.optimizer.lr),
        format!("[default: {}]", a.optimizer.weight_decay),
        format!("[default: {}]", a.seed),
        format!(
            "[article: {}; fast: {}]",
            a.label_smoothing, f.label_smoothing
        ),
        format!(
            "[article: {}; fast: {}]",
            augment_text(Recipe::Article.plan().augment),
            augment_text(Recipe::Fast.plan().augment)
        ),
        format!("[default: {}]", net.dropout),
    ] {
        assert!(
            train.contains(&shown),
            "train --help lacks {shown}:\n{train}"
        );
    }
    let batch = format!("[default: {}]", a.eval_batch_size);
    assert!(eval.contains(&batch), "eval --help lacks {batch}:\n{eval}");
    let dataset = format!(
        "Which data set [default: {}]",
        vggnet::data::Dataset::default()
    );
    for (sub, help) in [
        ("train", &train),
        ("eval", &eval),
        ("predict", &help("predict")),
    ] {
        assert!(
            help.contains(&dataset),
            "{sub} --help lacks {dataset}:\n{help}"
        );
    }
}

#[test]
fn clear_failures() {
    vggnet()
        .args(["train", "--no-such-flag"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--no-such-flag"));
    vggnet()
        .args(["eval", "--model", "/nonexistent/model.safetensors"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("/nonexistent/model.safetensors"))
        .stderr(predicate::str::contains("panicked").not());
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-an-image.png");
    std::fs::write(&bad, b"this is text, not a PNG").unwrap();
    let model = dir.path().join("m.safetensors");
    let m = vggnet::model::Vgg::new(tiny(), tch::Device::Cpu).unwrap();
    vggnet::store::checkpoint::save_model(&m, &model).unwrap();
    vggnet()
        .args([
            "predict",
            "--model",
            model.to_str().unwrap(),
            bad.to_str().unwrap(),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not-an-image.png"))
        .stderr(predicate::str::contains("panicked").not());
    // Mixed precision where autocast cannot apply is refused, not silently ignored.
    vggnet()
        .args([
            "train",
            "--dry-run",
            "--amp",
            "on",
            "--device",
            "cpu",
            "--offline",
        ])
        .args(["--out", dir.path().join("amp").to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("needs a CUDA device"));
    // A dropout probability outside [0, 1): refused before the run folder is made.
    let out = dir.path().join("dropout");
    vggnet()
        .args(["train", "--dry-run", "--offline", "--dropout", "1"])
        .args(["--out", out.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("dropout must be in [0, 1): 1"))
        .stderr(predicate::str::contains("panicked").not());
    assert!(!out.exists(), "nothing written for refused settings");
}

/// A folder holding only the two test files (what `eval` and `predict --index` need).
fn test_files_only() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in vggnet::data::Dataset::Mnist.test_files() {
        let src = vggnet::data::find_file(&mnist_dir(), f.name)
            .unwrap()
            .unwrap();
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
    }
    dir
}

/// The whole CLI on a smoke-sized run (`--dry-run`: 256 images, 1 epoch): every file of the
/// run folder, `eval --json` on a folder holding only the test files, and `predict` on the
/// user's own pictures (one without a digit, reported as such) with `--show-prepared`.
/// (Whether training learns is tests/train.rs's `short_real_run_clearly_learns`.)
#[test]
fn train_eval_predict_smoke() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    vggnet()
        .args(["train", "--dry-run", "--offline"])
        .args(["--out", out.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains("epoch 1: train loss"))
        .stderr(predicate::str::contains("final test accuracy"));
    for f in [
        "model.safetensors",
        "model.json",
        "best.safetensors",
        "metrics.json",
        "curves.png",
        "predictions.png",
        "confusion.png",
        "eval.json",
        "state/trainer.json",
        "state/run.json",
        "state/optimizer.safetensors",
        "state/model.safetensors",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let metrics = json(&out.join("metrics.json"));
    assert_eq!(epochs(&metrics).len(), 1);
    assert_eq!(metrics["run"]["train_limit"], 256);
    let model = out.join("model.safetensors");

    let test_only = test_files_only();
    let ev = vggnet()
        .args(["eval", "--model", model.to_str().unwrap(), "--json"])
        .args(["--test-limit", "100", "--offline", "--data-dir"])
        .arg(test_only.path())
        .assert()
        .success();
    let ev: serde_json::Value = serde_json::from_slice(&ev.get_output().stdout).unwrap();
    assert_eq!(ev["total"].as_u64().unwrap(), 100);
    assert_eq!(ev["confusion"].as_array().unwrap().len(), 10);
    assert_eq!(ev["per_class_accuracy"].as_array().unwrap().len(), 10);
    assert_eq!(ev["mirror_mean"], false);
    // --mirror-mean: the library's mirrored evaluation of the same model and digits.
    let mirrored = vggnet()
        .args([
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--json",
            "--mirror-mean",
        ])
        .args(["--test-limit", "100", "--offline", "--data-dir"])
        .arg(test_only.path())
        .assert()
        .success();
    let mirrored: serde_json::Value =
        serde_json::from_slice(&mirrored.get_output().stdout).unwrap();
    let loaded = vggnet::store::checkpoint::load_model(&model, tch::Device::Cpu).unwrap();
    let expected =
        vggnet::recipe::evaluate_mirrored(&loaded, &load_mnist(Some(0), Some(100)).test, 256)
            .unwrap();
    assert_eq!(mirrored["total"].as_u64().unwrap(), 100);
    assert_eq!(mirrored["correct"].as_u64().unwrap(), expected.correct);
    assert_eq!(
        mirrored["mirror_mean"], true,
        "the JSON says how it was evaluated"
    );

    // The user's own pictures, in one batch: MNIST test digit 0 written as a PNG, a blank
    // page, a file that is not an image, and a page with two digits (a 3, then an 8).
    let data = load_mnist(Some(0), Some(1));
    let px = data.test.pixels(0).unwrap();
    let plain = dir.path().join("seven.png");
    vggnet::digits::imageio::save_digit_png(&plain, &px).unwrap();
    let blank = dir.path().join("blank.jpg");
    vggnet::digits::synth::without_digit(1)[0]
        .1
        .save(&blank)
        .unwrap();
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"this is not a picture").unwrap();
    let two = dir.path().join("two.png");
    vggnet::digits::synth::two_digits(5).save(&two).unwrap();
    let seen = dir.path().join("seen.png");
    let pred = vggnet()
        .args(["predict", "--model", model.to_str().unwrap(), "--json"])
        .args(["--index", "0", "--top", "10", "--data-dir"])
        .arg(test_only.path())
        .args([&plain, &blank, &broken, &two])
        .arg("--show-prepared")
        .arg(&seen)
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "2 of 4 pictures could not be read: {}, {}",
            blank.display(),
            broken.display()
        )));
    let pred: serde_json::Value = serde_json::from_slice(&pred.get_output().stdout).unwrap();
    let results = pred.as_array().unwrap();
    // Every picture has its entry, in the order given, then the MNIST index.
    let inputs: Vec<&str> = results
        .iter()
        .map(|r| r["input"].as_str().unwrap())
        .collect();
    let order = [
        "seven.png",
        "blank.jpg",
        "broken.png",
        "two.png",
        "mnist-test[0]",
    ];
    assert_eq!(inputs.len(), order.len(), "{pred}");
    for (input, want) in inputs.iter().zip(order) {
        assert!(
            input.ends_with(want),
            "{input} where {want} belongs: {pred}"
        );
    }
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("no digit found"),
        "{pred}"
    );
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .contains("not an image"),
        "{pred}"
    );
    let file = &results[0];
    assert_eq!(file["top"].as_array().unwrap().len(), 10);
    assert_eq!(file["digits_found"], 1);
    let number = &results[3];
    assert_eq!(number["digits_found"], 2);
    let digits = number["digits"].as_array().unwrap();
    let read: String = digits.iter().map(|d| d["class"].to_string()).collect();
    assert_eq!(number["number"].as_str().unwrap(), read);
    assert_eq!(results[4]["label"].as_i64(), Some(7));
    let strip = image::open(&seen).unwrap();
    let (w, h) = (strip.width(), strip.height());
    // Two rows (the picture with one digit, the page with two), the second with 7 panels, which
    // wrap onto a second line to stay within a notebook's width.
    assert!(w <= 1000 && h >= 3 * 140, "strip {w}x{h}");
    // Text output: one line per picture in order, the top-3 with probabilities, the number
    // with each digit's confidence, and the errors said so.
    let text = vggnet()
        .args(["predict", "--model", model.to_str().unwrap()])
        .args([&plain, &broken, &two])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "1 of 3 pictures could not be read",
        ));
    let stdout = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let one_digit = regex_match(r"seven\.png: \d \(\d+\.\d%\), \d \(\d+\.\d%\), \d \(");
    assert!(one_digit.eval(lines[0]), "{stdout}");
    assert!(
        lines[1].ends_with("broken.png: error: not an image (expected PNG or JPEG)"),
        "{stdout}"
    );
    let two_digits = regex_match(r"two\.png: \d\d \(2 digits: \d \d+\.\d%, \d \d+\.\d%\)$");
    assert!(two_digits.eval(lines[2]), "{stdout}");
    // Pictures that all read: success.
    vggnet()
        .args(["predict", "--model", model.to_str().unwrap()])
        .args([&plain, &two])
        .assert()
        .success();
}

/// `--dataset fashion-mnist` through train, eval and predict: the run records the data set,
/// and evaluation and predictions speak in its class names.
#[test]
fn fashion_mnist_through_train_eval_predict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fashion run");
    let fashion = |c: &mut Command| {
        c.env("FASHION_MNIST_DIR", fashion_dir())
            .args(["--dataset", "fashion-mnist", "--offline"]);
    };
    let mut train = vggnet();
    fashion(train.args([
        "train",
        "--train-limit",
        "256",
        "--validation",
        "100",
        "--test-limit",
        "100",
    ]));
    train
        .args(["--epochs", "1", "--network", "narrow", "--dropout", "0.25"])
        .args(["--out", out.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains("final test accuracy"));
    let metrics = json(&out.join("metrics.json"));
    assert_eq!(metrics["run"]["dataset"], "fashion-mnist");
    // --dropout is the network's: kept with its weights, not the narrow preset's 0.5.
    assert_eq!(json(&out.join("model.json"))["dropout"], 0.25);
    assert!(out.join("confusion.png").exists());
    let model = out.join("model.safetensors");
    let mut eval = vggnet();
    fashion(eval.args([
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--test-limit",
        "100",
    ]));
    eval.assert()
        .success()
        .stdout(predicate::str::contains("  Ankle boot: "))
        .stdout(predicate::str::contains("T-shirt/top: "))
        .stdout(predicate::str::contains(
            "classes: 0 T-shirt/top, 1 Trouser",
        ));
    let mut predict = vggnet();
    fashion(predict.args([
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--index",
        "0",
    ]));
    predict.assert().success().stdout(regex_match(
        r"^fashion-mnist-test\[0\]: [A-Za-z/ -]+ \(\d+\.\d%\).* \[true: Ankle boot\]\n$",
    ));
    // MNIST's folder given as Fashion-MNIST's: the first file is named, and what it is.
    vggnet()
        .env("FASHION_MNIST_DIR", mnist_dir())
        .args(["eval", "--model", model.to_str().unwrap(), "--offline"])
        .args(["--dataset", "fashion-mnist"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "t10k-images-idx3-ubyte.gz: this is MNIST's t10k-images-idx3-ubyte, expected \
             Fashion-MNIST's t10k-images-idx3-ubyte",
        ));
}

fn regex_match(pattern: &str) -> predicates::str::RegexPredicate {
    predicate::str::is_match(pattern).unwrap()
}

/// Everything metrics.json records except wall times.
fn results(metrics: &serde_json::Value) -> serde_json::Value {
    let mut m = metrics.clone();
    for e in m["epochs"].as_array_mut().unwrap() {
        for k in ["seconds", "images_per_sec"] {
            e.as_object_mut().unwrap().remove(k);
        }
    }
    for e in m["evals"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("train_seconds");
    }
    m
}

fn weights(path: &Path) -> Vec<(String, tch::Tensor)> {
    vggnet::store::checkpoint::load_model(path, tch::Device::Cpu)
        .unwrap()
        .named_parameters()
}

/// Issue #16's scenario: a run on a data subset is interrupted by Ctrl-C (SIGINT) in the
/// middle of epoch 2; the exact command the message prints (`vggnet train --resume DIR`,
/// no other flag) finishes it with the same metrics and weights as the uninterrupted run.
/// The interrupt is sent once the child reports a batch of epoch 2 (no fixed sleep).
#[test]
fn ctrl_c_then_the_printed_command_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "train",
        "--train-limit",
        "1280",
        "--validation",
        "200",
        "--test-limit",
        "200",
        "--epochs",
        "2",
        "--seed",
        "3",
        "--eval-every",
        "7",
        "--no-plots",
        "--offline",
        // The narrow network: the same layers and code paths, about 1/64 of the arithmetic.
        "--network",
        "narrow",
    ];
    let full = dir.path().join("full");
    vggnet()
        .args(flags)
        .args(["--out", full.to_str().unwrap()])
        .assert()
        .success();

    let cut = dir.path().join("cut");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vggnet"))
        .env("MNIST_DIR", mnist_dir())
        .args(flags)
        .args(["--out", cut.to_str().unwrap(), "--log-every", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let signal_after = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.starts_with("epoch 2 batch 2/"))
        .expect("the child reports batch 2 of epoch 2");
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    for _ in lines {} // drain
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(130),
        "after `{signal_after}`: {stderr}"
    );
    let state = json(&cut.join("state/trainer.json"));
    let (epoch, batch) = (
        state["position"]["epoch"].as_u64().unwrap(),
        state["position"]["batch"].as_u64().unwrap(),
    );
    assert!(
        epoch == 1 && (2..20).contains(&batch),
        "stopped at epoch index {epoch} batch {batch}"
    );
    let printed = stderr
        .lines()
        .find_map(|l| l.split("resume with: ").nth(1))
        .unwrap_or_else(|| panic!("no resume command in: {stderr}"));
    assert_eq!(printed, format!("vggnet train --resume {}", cut.display()));

    // Exactly the printed command, through a shell, with the binary on PATH.
    let bin_dir = assert_cmd::cargo::cargo_bin("vggnet")
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let resumed = std::process::Command::new("sh")
        .args(["-c", printed])
        .env("PATH", path)
        .env("MNIST_DIR", "/nonexistent: the run knows its data folder")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "training on 1280 images, validating on 200 held out of the training file, testing on 200"
        ),
        "{stderr}"
    );
    assert_eq!(
        results(&json(&cut.join("metrics.json"))),
        results(&json(&full.join("metrics.json")))
    );
    for ((name, a), (_, b)) in weights(&cut.join("model.safetensors"))
        .iter()
        .zip(&weights(&full.join("model.safetensors")))
    {
        assert!(a.equal(b), "{name} differs from the uninterrupted run");
    }
    assert!(
        !cut.join("curves.png").exists(),
        "--no-plots was restored too"
    );
}

/// A flag given with --resume that would change the run is refused, naming the saved and the
/// given value; the same value, or a flag that cannot change results, is accepted. Another
/// device needs --allow-inexact-resume; other data (by MD5) is refused.
#[test]
fn resume_refuses_what_would_change_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    vggnet()
        .args([
            "train",
            "--train-limit",
            "128",
            "--validation",
            "64",
            "--test-limit",
            "64",
            "--epochs",
            "3",
            "--network",
            "narrow",
        ])
        .args(["--no-plots", "--offline", "--stop-after", "1", "--out", r])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "resume with: vggnet train --resume {r}"
        )));
    let refused = |extra: &[&str], says: &[&str]| {
        let mut assert = vggnet()
            .args(["train", "--offline", "--resume", r])
            .args(extra)
            .assert()
            .failure()
            .stderr(predicate::str::contains("panicked").not());
        for s in says {
            assert = assert.stderr(predicate::str::contains(*s));
        }
    };
    refused(
        &["--train-limit", "256"],
        &["--train-limit 256 would change the run (it was started with --train-limit 128)"],
    );
    refused(
        &["--validation", "5000"],
        &["--validation 5000 would change the run (it was started with --validation 64)"],
    );
    refused(
        &["--test-limit", "10000"],
        &["--test-limit 10000 would change the run (it was started with --test-limit 64)"],
    );
    refused(
        &[
            "--seed",
            "9",
            "--lr",
            "0.003",
            "--batch-size",
            "32",
            "--epochs",
            "5",
            "--eval-every",
            "4",
        ],
        &[
            "--seed 9 would change the run (it was started with --seed 42)",
            "--lr 0.003 would change the run (it was started with --lr 0.001)",
            "--batch-size 32 would change the run (it was started with --batch-size 64)",
            "--epochs 5 would change the run (it was started with --epochs 3)",
            "--eval-every 4 would change the run (it was started with --eval-every 0)",
        ],
    );
    refused(
        &["--dataset", "fashion-mnist"],
        &["--dataset fashion-mnist would change the run (it was started with --dataset mnist)"],
    );
    refused(&["--amp", "on"], &["needs a CUDA device"]);
    refused(
        &["--amp", "bf16"],
        &["mixed precision (bfloat16) instead of float32 would change the run"],
    );
    // The network's settings under the same rule: another value is named, the saved one passes.
    refused(
        &["--batch-norm", "--network", "article", "--dropout", "0.2"],
        &[
            "--batch-norm would change the run (it was started with no --batch-norm)",
            "--network article would change the run (it was started with --network narrow)",
            "--dropout 0.2 would change the run (it was started with --dropout 0.5)",
        ],
    );
    refused(
        &["--warmup", "0.1", "--keep-denormals", "--augment", "2,10"],
        &[
            "--warmup 0.1 would change the run (it was started with a constant rate (no --warmup))",
            "--keep-denormals would change the run (it was started with denormals flushed to zero)",
            "--augment 2,10,2 would change the run (it was started with --augment none)",
        ],
    );
    // Other data: the same files with one pixel changed.
    let other = dir.path().join("other data");
    std::fs::create_dir(&other).unwrap();
    for f in vggnet::data::Dataset::Mnist.files() {
        let src = vggnet::data::find_file(&mnist_dir(), f.name)
            .unwrap()
            .unwrap();
        let mut bytes = vggnet::idx::read_idx_bytes(&src, 1 << 26).unwrap();
        if f.name == "t10k-images-idx3-ubyte" {
            bytes[16 + 300] ^= 0x40;
        }
        std::fs::write(other.join(f.name), bytes).unwrap();
    }
    refused(
        &["--data-dir", other.to_str().unwrap()],
        &[
            "the data differs from the run's",
            "t10k-images-idx3-ubyte has CRC-32",
        ],
    );

    // A run saved on a GPU (the article's AMP setting there means float16): not continued on
    // the CPU without asking.
    let spec_path = run.join("state/run.json");
    let mut spec = json(&spec_path);
    spec["device"] = "cuda:0".into();
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    if !tch::Cuda::is_available() {
        refused(
            &[],
            &["the run trained on cuda:0, which this machine does not have"],
        );
    }
    refused(
        &["--device", "cpu"],
        &[
            "device cpu instead of cuda:0 and float32 instead of mixed precision (float16) would \
           change the run; add --allow-inexact-resume",
        ],
    );
    // Asked for: continues, says it is not exact; the same limit, network settings equal to
    // the run's and output-only flags pass.
    // (What a save killed half-way left behind is cleared when the run goes on.)
    let leftover = run.join(".vggnet-tmp-killed");
    std::fs::write(&leftover, b"partial").unwrap();
    vggnet()
        .args([
            "train",
            "--offline",
            "--resume",
            r,
            "--device",
            "cpu",
            "--allow-inexact-resume",
        ])
        .args([
            "--train-limit",
            "128",
            "--log-every",
            "1",
            "--stop-after",
            "1",
        ])
        .args([
            "--network",
            "narrow",
            "--dropout",
            "0.5",
            "--label-smoothing",
            "0",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "the continuation is no longer exact",
        ))
        .stderr(predicate::str::contains("removed 1 temporary file(s)"))
        .stderr(predicate::str::contains("resuming"));
    assert!(
        !leftover.exists(),
        "the leftover temporary file was not removed"
    );
    assert_eq!(epochs(&json(&run.join("metrics.json"))).len(), 2);
    assert_eq!(json(&spec_path)["device"], "cpu");
}

/// Every `vggnet …` command shown in README.md and docs/ parses: flags, values, conflicts and
/// required arguments validated (`VGGNET_PARSE_ONLY`), nothing run. A command that would not
/// parse is refused too, so the check can fail.
#[test]
fn readme_commands_parse() {
    let mut texts = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        texts.push(entry.unwrap().path());
    }
    let mut n = 0;
    for text in texts
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        for line in std::fs::read_to_string(text).unwrap().lines() {
            // `vggnet …`, also after `VAR=value` settings and as `target/release/vggnet …`.
            let cmd = line.split('#').next().unwrap();
            let mut words = cmd.split_whitespace().skip_while(|w| w.contains('='));
            if !words
                .next()
                .is_some_and(|w| w == "vggnet" || w.ends_with("/vggnet"))
            {
                continue;
            }
            let args: Vec<&str> = words.collect();
            vggnet()
                .env("VGGNET_PARSE_ONLY", "1")
                .args(&args)
                .assert()
                .success()
                .stdout("parsed\n");
            n += 1;
        }
    }
    // The check itself: a conflict, a missing required argument, an unknown value.
    for bad in [
        &["train", "--resume", "runs/x", "--out", "runs/y"][..],
        &["eval"],
        &["train", "--dataset", "cifar100"],
    ] {
        vggnet()
            .env("VGGNET_PARSE_ONLY", "1")
            .args(bad)
            .assert()
            .failure();
    }
    assert!(n >= 5, "expected the README's command examples, found {n}");
}

/// Settings that cannot run are refused before any data is read or downloaded and before the
/// run folder is made: with an empty data folder and a mirror where nothing listens, each
/// refusal is the setting's, never a missing or failed download's.
#[test]
fn bad_settings_are_refused_before_the_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no data");
    std::fs::create_dir(&empty).unwrap();
    let out = dir.path().join("run");
    for (flags, says) in [
        (&["--batch-size", "0"][..], "batch size must be at least 1"),
        (&["--lr=-1"], "learning rate must be a positive number"),
        (&["--dropout", "1"], "dropout must be in [0, 1)"),
        (
            &["--train-limit", "0"],
            "a train limit of 0 selects no pictures",
        ),
        (&["--device", "cpu", "--amp", "on"], "needs a CUDA device"),
        (
            &["--device", "cuda:99"],
            "device cuda:99 is not on this machine",
        ),
        (&["--warmup", "1"], "warm-up must be a fraction in [0, 1)"),
        (
            &["--dataset", "cifar10", "--epochs", "0"],
            "epochs must be at least 1",
        ),
    ] {
        vggnet()
            .args(["train", "--data-dir"])
            .arg(&empty)
            .arg("--out")
            .arg(&out)
            .env("VGGNET_MNIST_MIRRORS", "http://127.0.0.1:9/")
            .env("VGGNET_CIFAR10_MIRRORS", "http://127.0.0.1:9/")
            .args(flags)
            .assert()
            .failure()
            .stderr(predicate::str::contains(says))
            .stderr(predicate::str::contains("missing").not())
            .stderr(predicate::str::contains("panicked").not());
        assert!(!out.exists(), "{flags:?}: the run folder was made");
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "{flags:?}");
    }
    // Evaluation too: the batch size before the model or the data.
    vggnet()
        .args([
            "eval",
            "--batch-size",
            "0",
            "--model",
            "none.safetensors",
            "--data-dir",
        ])
        .arg(&empty)
        .assert()
        .failure()
        .stderr(predicate::str::contains("batch size must be at least 1"));
}
