//! CIFAR-10 (binary version) on small batches in the real format, written by the tests (no copy
//! of CIFAR-10 is reachable here): the reader, per-channel normalization, the network for
//! 3x32x32, one training step, the download of the archive from a server on 127.0.0.1, and the
//! errors for a batch cut mid-record, a bad label and a broken archive.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use tch::{Device, Kind};
use vggnet::data::cifar::{parse_batch, RECORD};
use vggnet::data::{Data, DataConfig, Dataset};
use vggnet::Error;

/// A folder with the six batches (`per_batch` records each), in `cifar-10-batches-bin/`.
fn cifar_dir(per_batch: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&sub).unwrap();
    for (i, name) in CIFAR_BATCHES.iter().enumerate() {
        std::fs::write(sub.join(name), cifar_batch(per_batch, i as u64)).unwrap();
    }
    dir
}

fn config(dir: &Path) -> DataConfig {
    DataConfig {
        dir: dir.into(),
        validation: 0,
        download: false,
        ..DataConfig::of(Dataset::Cifar10)
    }
}

#[test]
fn batches_read_into_normalized_3x32x32_splits() {
    let dir = cifar_dir(20);
    let data = Data::load(&config(dir.path())).unwrap();
    assert_eq!(data.dataset, Dataset::Cifar10);
    assert_eq!(data.train.images().unwrap().size(), vec![100, 3, 32, 32]);
    assert_eq!(data.test.images().unwrap().size(), vec![20, 3, 32, 32]);
    assert_eq!(data.sources.len(), 6);
    // Labels in file order, batch after batch.
    let labels: Vec<i64> = Vec::try_from(&data.train.labels).unwrap();
    assert_eq!(labels[..3], [0, 1, 2]);
    assert_eq!(labels[20..23], [1, 2, 3]);
    // Pixel (channel c, row r, column x) of record i is byte 1 + c*1024 + r*32 + x; normalized
    // with that channel's mean and std.
    let raw = cifar_batch(20, 0);
    let spec = Dataset::Cifar10.spec();
    for (i, c, r, x) in [(0, 0, 0, 0), (3, 1, 5, 7), (19, 2, 31, 31)] {
        let byte = raw[i * RECORD + 1 + c * 1024 + r * 32 + x] as f64;
        let want = (byte / 255.0 - spec.mean[c]) / spec.std[c];
        let got = data
            .train
            .images()
            .unwrap()
            .double_value(&[i as i64, c as i64, r as i64, x as i64]);
        assert!(
            (got - want).abs() < 1e-5,
            "({i},{c},{r},{x}): {got} vs {want}"
        );
    }
    // And back to the same bytes, for the plots.
    assert_eq!(
        data.train.pixels(3).unwrap(),
        raw[3 * RECORD + 1..4 * RECORD].to_vec()
    );
    // Limits and the test split alone.
    let limited = Data::load(&DataConfig {
        train_limit: Some(30),
        validation: 10,
        test_limit: Some(5),
        ..config(dir.path())
    })
    .unwrap();
    assert_eq!((limited.train.len(), limited.test.len()), (30, 5));
    // The validation split: the training file's last 10 pictures.
    assert_eq!(limited.validation.len(), 10);
    let last_batch = cifar_batch(20, 4); // records 80..100 of the training file
    assert_eq!(
        limited.validation.pixels(0).unwrap(),
        last_batch[10 * RECORD + 1..11 * RECORD].to_vec()
    );
    for name in &CIFAR_BATCHES[..5] {
        std::fs::remove_file(dir.path().join("cifar-10-batches-bin").join(name)).unwrap();
    }
    let (test, _) = Data::load_test(&config(dir.path())).unwrap();
    assert!(test.images().unwrap().equal(&data.test.images().unwrap()));
    let err = Data::load(&config(dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("CIFAR-10 files missing")
            && msg.contains("data_batch_1.bin")
            && msg.contains("--dataset cifar10")
            && msg.contains("CIFAR10_DIR"),
        "{msg}"
    );
}

#[test]
fn a_batch_cut_mid_record_or_with_a_bad_label_is_a_named_error() {
    let dir = cifar_dir(4);
    let test = dir.path().join("cifar-10-batches-bin/test_batch.bin");
    let mut bytes = cifar_batch(4, 5);
    bytes.truncate(3 * RECORD + 100);
    std::fs::write(&test, &bytes).unwrap();
    let err = Data::load(&config(dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Cifar { .. }), "{err:?}");
    assert!(
        msg.contains(&test.display().to_string())
            && msg.contains("record 4 is cut after 100 bytes")
            && msg.contains("3073-byte records"),
        "{msg}"
    );
    let mut bytes = cifar_batch(4, 5);
    bytes[2 * RECORD] = 10;
    let err = parse_batch(Path::new("x.bin"), &bytes).unwrap_err();
    assert!(
        err.to_string()
            .contains("x.bin: label 10 of record 2 is outside 0-9"),
        "{err}"
    );
    let err = parse_batch(Path::new("x.bin"), &[]).unwrap_err();
    assert_eq!(err.to_string(), "x.bin: file is empty");
}

/// The network for CIFAR-10: three input channels, 32 pixels, so the classifier takes
/// 512x2x2 (32 -> 16 -> 8 -> 4 -> 2); one training step runs and moves the loss; a run whose
/// network does not fit the data set is refused before anything is read.
#[test]
fn the_network_takes_3x32x32_and_trains_a_step() {
    let (in_channels, image_size) = Dataset::Cifar10.input();
    let cfg = vggnet::model::VggConfig {
        in_channels,
        image_size,
        ..Default::default()
    };
    assert_eq!(cfg.classifier_in(), 512 * 2 * 2);
    let dir = cifar_dir(16);
    let data = Data::load(&config(dir.path())).unwrap();
    tch::manual_seed(0);
    let model = vggnet::model::Vgg::new(cfg.clone(), Device::Cpu).unwrap();
    let mut trainer = vggnet::train::Trainer::new(
        model,
        vggnet::train::TrainConfig {
            batch_size: 16,
            ..Default::default()
        },
    )
    .unwrap();
    let (xs, ys) = data.train.gather(&(0..16).collect::<Vec<i64>>()).unwrap();
    let logits = tch::no_grad(|| trainer.model().forward_t(&xs, false)).unwrap();
    assert_eq!(logits.size(), vec![16, 10]);
    assert_eq!(logits.kind(), Kind::Float);
    let first = trainer.step(&xs, &ys).unwrap();
    let later = (0..4).map(|_| trainer.step(&xs, &ys).unwrap()).last();
    let (first, later) = (first.loss, later.unwrap().loss);
    assert!(first.is_finite() && later.is_finite());
    assert!(
        later < first,
        "the loss on one batch did not fall: {first} -> {later}"
    );

    let run = tempfile::tempdir().unwrap();
    let err = vggnet::run::Run::start(
        run.path(),
        vggnet::run::RunConfig {
            data: config(dir.path()),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("the model takes 1x28x28 pictures but CIFAR-10 has 3x32x32"),
        "{err}"
    );
}

fn served(dir: &Path, name: &str, entries: &[(String, Vec<u8>)]) -> (String, PathBuf) {
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, tar_gz(&refs)).unwrap();
    (serve_from(dir.to_path_buf(), 8), path)
}

/// The archive is fetched, checked against the MD5 it must have (the published one for the
/// real archive: a stand-in fails it, naming it) and unpacked; a broken archive leaves nothing.
#[test]
fn the_archive_downloads_checked_and_unpacks() {
    let site = tempfile::tempdir().unwrap();
    let (base, archive) = served(
        site.path(),
        "cifar-10-binary.tar.gz",
        &cifar_archive_entries(8),
    );
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("cifar10");
    let quick = vggnet::download::DownloadConfig::default();
    // Through the data set's own path: the published checksum refuses the stand-in.
    let err = vggnet::download::download_with(
        Dataset::Cifar10,
        &target,
        &[format!("{base}/ok/")],
        &quick,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("MD5 mismatch: expected c32a1d4ab5d03f1284b67883e8d87530"),
        "{err}"
    );
    assert!(!target.join("cifar-10-batches-bin").exists());
    // With the stand-in's own checksum: unpacked, and it loads.
    let md5 = vggnet::idx::md5_hex(&std::fs::read(&archive).unwrap());
    let written = vggnet::data::cifar::download_stand_in(
        Dataset::Cifar10,
        &target,
        &[format!("{base}/404/"), format!("{base}/ok/")],
        &md5,
        &quick,
    )
    .unwrap();
    assert_eq!(written.len(), 6);
    let data = Data::load(&config(&target)).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (40, 8));

    // An archive lacking the test batch, and one with a batch cut mid-record.
    let mut lacking = cifar_archive_entries(8);
    lacking.pop();
    let mut cut = cifar_archive_entries(8);
    cut[2].1.truncate(5 * RECORD + 7);
    for (entries, says) in [
        (lacking, "the archive lacks test_batch.bin"),
        (cut, "data_batch_3.bin: 15372 bytes is not a whole number"),
    ] {
        let site = tempfile::tempdir().unwrap();
        let (base, archive) = served(site.path(), "cifar-10-binary.tar.gz", &entries);
        let md5 = vggnet::idx::md5_hex(&std::fs::read(&archive).unwrap());
        let fresh = tempfile::tempdir().unwrap();
        let err = vggnet::data::cifar::download_stand_in(
            Dataset::Cifar10,
            fresh.path(),
            &[format!("{base}/ok/")],
            &md5,
            &quick,
        )
        .unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        assert!(
            !fresh.path().join("cifar-10-batches-bin").exists(),
            "nothing is written from a bad archive"
        );
    }
}

/// `--dataset cifar10` through the binary: a run on the small batches, then evaluation in
/// CIFAR-10's class names.
#[test]
fn cifar10_through_train_and_eval() {
    let data = cifar_dir(32);
    let out = tempfile::tempdir().unwrap();
    let run = out.path().join("run");
    let mut c = assert_cmd::Command::cargo_bin("vggnet").unwrap();
    c.args([
        "train",
        "--dataset",
        "cifar10",
        "--offline",
        "--epochs",
        "1",
        "--validation",
        "32",
    ])
    .args(["--batch-size", "32", "--data-dir"])
    .arg(data.path())
    .arg("--out")
    .arg(&run)
    .assert()
    .success();
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["run"]["dataset"], "cifar10");
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("model.json")).unwrap()).unwrap();
    assert!(model.to_string().contains("\"in_channels\":3"), "{model}");
    let mut c = assert_cmd::Command::cargo_bin("vggnet").unwrap();
    let shown = c
        .args(["eval", "--dataset", "cifar10", "--offline", "--model"])
        .arg(run.join("model.safetensors"))
        .arg("--data-dir")
        .arg(data.path())
        .assert()
        .success();
    let text = String::from_utf8_lossy(&shown.get_output().stdout).to_string();
    // The model on MNIST, or on a photo of a digit: refused, naming the shapes.
    let mut c = assert_cmd::Command::cargo_bin("vggnet").unwrap();
    c.args(["eval", "--offline", "--model"])
        .arg(run.join("model.safetensors"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "takes 3x32x32 pictures but MNIST has 1x28x28: give --dataset",
        ));
    let photo = out.path().join("digit.png");
    vggnet::digits::imageio::save_digit_png(&photo, &[0u8; 784]).unwrap();
    let mut c = assert_cmd::Command::cargo_bin("vggnet").unwrap();
    c.args(["predict", "--model"])
        .arg(run.join("model.safetensors"))
        .arg(&photo)
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "takes 3x32x32 pictures but MNIST has 1x28x28: pictures from files are read as \
             handwritten digits",
        ));
    assert!(
        text.contains("test accuracy")
            && text.contains("  automobile: ")
            && text.contains("0 airplane"),
        "{text}"
    );
}
