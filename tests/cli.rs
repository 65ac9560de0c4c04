//! The `vggnet` binary, run for real on small MNIST subsets.

mod common;

use assert_cmd::Command;
use common::*;
use predicates::prelude::*;
use std::path::Path;
use std::time::Duration;

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
                e["test_accuracy"].as_f64().unwrap(),
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
    for sub in ["download", "train", "eval", "predict"] {
        vggnet()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"));
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
    let m = vggnet::model::Vgg::new(Default::default(), tch::Device::Cpu).unwrap();
    vggnet::checkpoint::save_model(&m, &model).unwrap();
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
}

/// Trains 2 epochs on 12,800 digits, then evaluates (JSON) and predicts the user's own PNGs
/// (an MNIST digit as written, and the same digit inverted, enlarged and in colour).
#[test]
fn train_eval_predict_on_a_subset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    vggnet()
        .args([
            "train",
            "--epochs",
            "2",
            "--train-limit",
            "12800",
            "--test-limit",
            "1000",
            "--offline",
        ])
        .args(["--out", out.to_str().unwrap()])
        .timeout(Duration::from_secs(900))
        .assert()
        .success()
        .stderr(predicate::str::contains("epoch 2: train loss"))
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
        "state/optimizer.safetensors",
        "state/model.safetensors",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let metrics = json(&out.join("metrics.json"));
    assert_eq!(epochs(&metrics).len(), 2);
    let model = out.join("model.safetensors");

    let ev = vggnet()
        .args([
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--test-limit",
            "1000",
            "--json",
            "--offline",
        ])
        .assert()
        .success();
    let ev: serde_json::Value = serde_json::from_slice(&ev.get_output().stdout).unwrap();
    let acc = ev["accuracy"].as_f64().unwrap();
    assert!(acc >= 90.0, "accuracy {acc}");
    assert_eq!(ev["total"].as_u64().unwrap(), 1000);
    assert_eq!(ev["confusion"].as_array().unwrap().len(), 10);
    assert_eq!(ev["per_class_accuracy"].as_array().unwrap().len(), 10);

    // The user's own images: MNIST test digit 0 (a 7) as a PNG, and a dark-on-light, 3x larger
    // RGB version of it.
    let data = load_mnist(Some(0), Some(1));
    let px = vggnet::data::denormalize_to_pixels(&data.test.images.get(0));
    let plain = dir.path().join("seven.png");
    vggnet::imageio::save_digit_png(&plain, &px).unwrap();
    let big = image::RgbImage::from_fn(84, 84, |x, y| {
        let v = 255 - px[(y / 3 * 28 + x / 3) as usize];
        image::Rgb([v, v, v.saturating_sub(20)])
    });
    let inverted = dir.path().join("seven_dark_on_light.png");
    big.save(&inverted).unwrap();
    let pred = vggnet()
        .args([
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--json",
            "--index",
            "0",
        ])
        .args([plain.to_str().unwrap(), inverted.to_str().unwrap()])
        .assert()
        .success();
    let pred: serde_json::Value = serde_json::from_slice(&pred.get_output().stdout).unwrap();
    let results = pred.as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        let top = r["top"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        assert_eq!(top[0]["class"].as_i64().unwrap(), 7, "{r}");
    }
    // Text output shows the top-3 with probabilities.
    vggnet()
        .args([
            "predict",
            "--model",
            model.to_str().unwrap(),
            plain.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(r"seven\.png: 7 \(\d+\.\d%\), \d \(\d+\.\d%\), \d \(")
                .unwrap(),
        );
}

/// A run stopped after epoch 1 and resumed gives the same per-epoch figures as an
/// uninterrupted run (same seed, CPU).
#[test]
fn resume_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "train",
        "--epochs",
        "2",
        "--train-limit",
        "192",
        "--test-limit",
        "64",
        "--offline",
        "--seed",
        "5",
    ];
    let full = dir.path().join("full");
    vggnet()
        .args(args)
        .args(["--out", full.to_str().unwrap()])
        .assert()
        .success();
    let split = dir.path().join("split");
    vggnet()
        .args(args)
        .args(["--out", split.to_str().unwrap(), "--stop-after", "1"])
        .assert()
        .success();
    assert_eq!(epochs(&json(&split.join("metrics.json"))).len(), 1);
    // What a save killed half-way leaves behind is cleared when the run goes on.
    let leftover = split.join(".vggnet-tmp-killed");
    std::fs::write(&leftover, b"partial").unwrap();
    vggnet()
        .args([
            "train",
            "--offline",
            "--train-limit",
            "192",
            "--test-limit",
            "64",
            "--resume",
            split.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("resuming"))
        .stderr(predicate::str::contains("removed 1 temporary file(s)"));
    assert!(
        !leftover.exists(),
        "the leftover temporary file was not removed"
    );
    assert_eq!(
        epochs(&json(&split.join("metrics.json"))),
        epochs(&json(&full.join("metrics.json")))
    );
}

/// Ctrl-C (SIGINT) in the middle of an epoch: exit 130 after saving a resumable state, which
/// then resumes to completion.
#[test]
fn ctrl_c_saves_a_resumable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let bin = assert_cmd::cargo::cargo_bin("vggnet");
    let child = std::process::Command::new(bin)
        .env("MNIST_DIR", mnist_dir())
        .args([
            "train",
            "--epochs",
            "1",
            "--train-limit",
            "6400",
            "--test-limit",
            "64",
            "--offline",
        ])
        .args(["--out", out.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until training is under way, then interrupt.
    std::thread::sleep(Duration::from_secs(8));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("resume with"), "{stderr}");
    let state = json(&out.join("state/trainer.json"));
    let batch = state["position"]["batch"].as_u64().unwrap();
    assert!(
        batch > 0 && batch < 100,
        "stopped mid-epoch at batch {batch}"
    );
    vggnet()
        .args([
            "train",
            "--offline",
            "--train-limit",
            "6400",
            "--test-limit",
            "64",
        ])
        .args(["--resume", out.to_str().unwrap()])
        .timeout(Duration::from_secs(600))
        .assert()
        .success();
    assert_eq!(epochs(&json(&out.join("metrics.json"))).len(), 1);
}

/// Every `vggnet …` command shown in README.md parses (run with `--help` appended).
#[test]
fn readme_commands_parse() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut n = 0;
    for line in readme.lines() {
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
        vggnet().args(&args).arg("--help").assert().success();
        n += 1;
    }
    assert!(n >= 5, "expected the README's command examples, found {n}");
}
