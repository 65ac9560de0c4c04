//! Every data set through every command, from the command line and through the library: download
//! (from a server on 127.0.0.1), train, stop, resume with a changed setting (refused, the run
//! folder byte-identical), resume with equal settings, resume with nothing, evaluate, predict by
//! index and predict a picture file. MNIST and Fashion-MNIST are their real files served
//! locally (their downloads check the published MD5s); CIFAR-10 is small generated batches in
//! the real format (its archive's published MD5 refuses them on the command line, so the
//! library downloads it with the stand-in's own). Every cell ends in a result or a one-line
//! error, never a panic.

mod common;

use assert_cmd::Command;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vggnet::data::{Data, DataConfig, Dataset};
use vggnet::download::DownloadConfig;
use vggnet::run::{ResumeRequest, Run, RunConfig, RunEnd, StopAt};
use vggnet::settings::{from_recipe, ModelOverrides, Overrides};
use vggnet::train::Silent;
use vggnet::Error;

const TRAIN: usize = 64;
const TEST: usize = 32;

/// A data set's files served on 127.0.0.1, and the mirror to give for them.
struct Site {
    _dir: Option<tempfile::TempDir>,
    mirror: String,
    /// The MD5 the served CIFAR archive has (the stand-in's, not the published one).
    archive_md5: Option<String>,
}

fn site(dataset: Dataset) -> Site {
    match dataset {
        Dataset::Mnist => Site {
            _dir: None,
            mirror: format!("{}/ok/", serve_from(mnist_dir(), 64)),
            archive_md5: None,
        },
        Dataset::FashionMnist => Site {
            _dir: None,
            mirror: format!("{}/ok/", serve_from(fashion_dir(), 64)),
            archive_md5: None,
        },
        Dataset::Cifar10 => {
            let dir = tempfile::tempdir().unwrap();
            let entries = cifar_archive_entries(TEST);
            let refs: Vec<(&str, Vec<u8>)> = entries
                .iter()
                .map(|(n, b)| (n.as_str(), b.clone()))
                .collect();
            let archive = tar_gz(&refs);
            std::fs::write(dir.path().join("cifar-10-binary.tar.gz"), &archive).unwrap();
            Site {
                mirror: format!("{}/ok/", serve_from(dir.path().to_path_buf(), 64)),
                archive_md5: Some(vggnet::idx::md5_hex(&archive)),
                _dir: Some(dir),
            }
        }
    }
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A picture file of test picture `i`, as a user would save it (grey PNG for the 28x28 sets).
fn picture_file(data: &Data, i: usize, dir: &Path) -> PathBuf {
    let pixels = Vec::<u8>::try_from(data.test.pictures.get(i as i64).flatten(0, -1)).unwrap();
    let path = dir.join("picture.png");
    vggnet::digits::imageio::save_digit_png(&path, &pixels[..784]).unwrap();
    path
}

fn vggnet() -> Command {
    let mut c = Command::cargo_bin("vggnet").unwrap();
    for d in Dataset::ALL {
        c.env_remove(d.spec().dir_env)
            .env_remove(d.spec().mirror_env);
    }
    c
}

/// Runs a command; returns (success, stdout, stderr), and holds every cell to its promise: a
/// result, or one line of error, and never a panic.
fn cell(what: &str, c: &mut Command) -> (bool, String, String) {
    let out = c.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(
        !stderr.contains("panicked") && !stdout.contains("panicked"),
        "{what}: panicked\n{stderr}"
    );
    if !out.status.success() {
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{what}: one error line\n{stderr}");
        assert_eq!(
            stderr.trim_end().lines().last(),
            errors.first().copied(),
            "{what}: the error ends the output on one line\n{stderr}"
        );
    }
    (out.status.success(), stdout, stderr)
}

fn through_the_command_line(dataset: Dataset) {
    let name = dataset.name();
    let site = site(dataset);
    let work = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let data_dir = work.path().join("my data");
    let run = work.path().join("a run");

    // download
    let (ok, stdout, stderr) = cell(
        "download",
        vggnet()
            .args([
                "download",
                "--dataset",
                name,
                "--mirror",
                &site.mirror,
                "--dir",
            ])
            .arg(&data_dir),
    );
    if dataset == Dataset::Cifar10 {
        assert!(
            !ok && stderr.contains("MD5 mismatch: expected c32a1d4ab5d03f1284b67883e8d87530"),
            "{stderr}"
        );
        let sub = data_dir.join("cifar-10-batches-bin");
        std::fs::create_dir_all(&sub).unwrap();
        for (n, bytes) in cifar_archive_entries(TEST) {
            std::fs::write(data_dir.join(n), bytes).unwrap();
        }
    } else {
        assert!(ok, "{stderr}");
        assert_eq!(stdout.matches("ok  ").count(), 4, "{stdout}");
    }
    let data_args = |c: &mut Command| {
        c.args(["--dataset", name, "--offline", "--data-dir"])
            .arg(&data_dir);
    };

    // train, stopped after the first of three epochs
    let mut c = vggnet();
    c.args([
        "train",
        "--network",
        "narrow",
        "--epochs",
        "3",
        "--batch-size",
        "16",
    ])
    .args([
        "--train-limit",
        &TRAIN.to_string(),
        "--validation",
        &TEST.to_string(),
        "--test-limit",
        &TEST.to_string(),
    ])
    .args(["--no-plots", "--stop-after", "1", "--out"])
    .arg(&run);
    data_args(&mut c);
    let (ok, _, stderr) = cell("train", &mut c);
    assert!(
        ok && stderr.contains("resume with: vggnet train --resume"),
        "{stderr}"
    );

    // resume with changed settings: one refusal naming each, nothing written
    let before = snapshot(&run);
    let (ok, _, stderr) = cell(
        "resume changed",
        vggnet()
            .args([
                "train",
                "--epochs",
                "4",
                "--train-limit",
                "50",
                "--dropout",
                "0.2",
            ])
            .args(["--augment", "1,5", "--resume"])
            .arg(&run),
    );
    assert!(!ok, "{stderr}");
    for says in [
        "--epochs 4 would change the run (it was started with --epochs 3)",
        "--augment 1,5,2 would change the run (it was started with --augment none)",
        "--dropout 0.2 would change the run (it was started with --dropout 0.5)",
        "--train-limit 50 would change the run (it was started with --train-limit 64)",
    ] {
        assert!(stderr.contains(says), "{name}: {says}\n{stderr}");
    }
    assert!(
        before == snapshot(&run),
        "{name}: a refused resume changed the run folder"
    );

    // resume with the settings it has, one more epoch
    let mut c = vggnet();
    c.args([
        "train",
        "--epochs",
        "3",
        "--network",
        "narrow",
        "--batch-size",
        "16",
    ])
    .args([
        "--train-limit",
        &TRAIN.to_string(),
        "--stop-after",
        "1",
        "--resume",
    ])
    .arg(&run);
    data_args(&mut c);
    let (ok, _, stderr) = cell("resume equal", &mut c);
    assert!(
        ok && stderr.contains("resuming") && stderr.contains("(1 epochs done)"),
        "{stderr}"
    );

    // resume with nothing: the last epoch and the final evaluation
    let (ok, _, stderr) = cell("resume", vggnet().args(["train", "--resume"]).arg(&run));
    assert!(ok && stderr.contains("final test accuracy"), "{stderr}");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 3, "{name}");
    assert_eq!(metrics["run"]["dataset"], name);

    // eval
    let model = run.join("model.safetensors");
    let mut c = vggnet();
    c.args([
        "eval",
        "--json",
        "--test-limit",
        &TEST.to_string(),
        "--model",
    ])
    .arg(&model);
    data_args(&mut c);
    let (ok, stdout, stderr) = cell("eval", &mut c);
    assert!(ok, "{stderr}");
    let ev: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ev["total"], TEST as u64, "{name}");

    // predict by index
    let mut c = vggnet();
    c.args(["predict", "--index", "0", "--index", "3", "--model"])
        .arg(&model);
    data_args(&mut c);
    let (ok, stdout, stderr) = cell("predict --index", &mut c);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("{name}-test[0]: "))
            && stdout.contains(&format!("{name}-test[3]: ")),
        "{stdout}"
    );

    // predict a picture file
    let data = Data::load(&DataConfig {
        dir: data_dir.clone(),
        validation: TEST,
        test_limit: Some(TEST),
        download: false,
        ..DataConfig::of(dataset)
    })
    .unwrap();
    let picture = picture_file(&data, 0, work.path());
    let (ok, stdout, stderr) = cell(
        "predict a file",
        vggnet()
            .args(["predict", "--model"])
            .arg(&model)
            .arg(&picture),
    );
    if dataset == Dataset::Cifar10 {
        assert!(!ok && stderr.contains("takes 3x32x32 pictures"), "{stderr}");
    } else {
        assert!(ok && stdout.contains("picture.png: "), "{stdout}{stderr}");
    }
}

fn through_the_library(dataset: Dataset) {
    let site = site(dataset);
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let quick = DownloadConfig::default();
    let mirrors = [site.mirror.clone()];
    let written = match &site.archive_md5 {
        None => vggnet::download::download_with(dataset, &data_dir, &mirrors, &quick).unwrap(),
        Some(md5) => {
            vggnet::data::cifar::download_stand_in(dataset, &data_dir, &mirrors, md5, &quick)
                .unwrap()
        }
    };
    assert!(!written.is_empty());
    assert!(vggnet::download::verify(dataset, &data_dir)
        .unwrap()
        .iter()
        .all(|(_, ok)| *ok));

    let dir = work.path().join("run");
    let data = DataConfig {
        dir: data_dir.clone(),
        train_limit: Some(TRAIN),
        validation: TEST,
        test_limit: Some(TEST),
        download: false,
        ..DataConfig::of(dataset)
    };
    let narrow = ModelOverrides {
        network: Some(vggnet::settings::Network::Narrow),
        ..Default::default()
    };
    let given = Overrides {
        epochs: Some(3),
        batch_size: Some(16),
        ..Default::default()
    };
    let (train, plan) = from_recipe(Default::default(), &given);
    let config = RunConfig {
        train,
        plan,
        model: vggnet::model::VggConfig::for_dataset(dataset, &narrow),
        data,
        device: tch::Device::Cpu,
        plots: false,
    };
    let mut run = Run::start(&dir, config).unwrap();
    let start = run.trainer.model().try_clone().unwrap();
    let one = StopAt {
        epochs: Some(1),
        ..Default::default()
    };
    assert_eq!(run.train(&mut Silent, one).unwrap(), RunEnd::Paused);
    // The weights it started from, rebuilt from the folder (notebook 05's "before").
    let rebuilt = vggnet::run::initial_model(&dir).unwrap();
    assert_eq!(
        rebuilt.max_weight_difference(&start).unwrap(),
        0.0,
        "{dataset}: initial_model"
    );
    assert!(run.trainer.model().max_weight_difference(&start).unwrap() > 0.0);
    drop(run);

    let before = snapshot(&dir);
    let changed = ResumeRequest {
        settings: Overrides {
            augment: Some(Some(Default::default())),
            warmup: Some(0.1),
            ..Default::default()
        },
        model: ModelOverrides {
            batch_norm: Some(true),
            ..Default::default()
        },
        ..Default::default()
    };
    match Run::resume(&dir, &changed) {
        Err(Error::ResumeConflict { conflicts, .. }) => {
            assert_eq!(conflicts.len(), 3, "{conflicts:?}")
        }
        Err(e) => panic!("{dataset}: {e}"),
        Ok(_) => panic!("{dataset}: a resume with other settings was accepted"),
    }
    assert!(
        before == snapshot(&dir),
        "{dataset}: a refused resume changed the run folder"
    );

    let equal = ResumeRequest {
        settings: given.clone(),
        model: narrow,
        dataset: Some(dataset),
        train_limit: Some(TRAIN),
        ..Default::default()
    };
    let mut run = Run::resume(&dir, &equal).unwrap();
    assert_eq!(run.train(&mut Silent, one).unwrap(), RunEnd::Paused);
    drop(run);
    let mut run = Run::resume(&dir, &ResumeRequest::default()).unwrap();
    assert_eq!(
        run.train(&mut Silent, StopAt::default()).unwrap(),
        RunEnd::Finished
    );
    assert_eq!(run.trainer.history.len(), 3);
    // The test split is read once, for the model the validation split chose: the file
    // best.safetensors, here replaced by an untrained network so that evaluating the last
    // epoch's model instead cannot give the same count.
    assert!(vggnet::run::best_epoch(&run.trainer.history).is_some());
    let stand_in =
        vggnet::model::Vgg::new(run.trainer.model().config().clone(), tch::Device::Cpu).unwrap();
    vggnet::store::checkpoint::save_model(&stand_in, &dir.join(vggnet::run::BEST_FILE)).unwrap();
    let (ev, _) = run.finish().unwrap();
    assert_eq!(ev.total, TEST as u64);
    let of_stand_in = vggnet::engine::packed::evaluate(&stand_in, &run.data.test, 256).unwrap();
    let of_last =
        vggnet::engine::packed::evaluate(run.trainer.model(), &run.data.test, 256).unwrap();
    println!("{dataset}: test digits right: best.safetensors (the stand-in) {}, finish {}, the last epoch's model {}",
             of_stand_in.correct, ev.correct, of_last.correct);
    assert_eq!(
        ev.confusion, of_stand_in.confusion,
        "{dataset}: finish did not evaluate best.safetensors"
    );
    let (opened, _) = vggnet::run::open_trained(&dir, tch::Device::Cpu).unwrap();
    assert_eq!(
        opened.max_weight_difference(&stand_in).unwrap(),
        0.0,
        "{dataset}: open_trained's model"
    );

    // predict by index, and a picture file for the 28x28 sets (read as a handwritten digit)
    let model = run.trainer.model();
    let probs =
        vggnet::eval::predict_proba(model, &run.data.test.images_range(3, 1).unwrap()).unwrap();
    assert_eq!(probs.size(), [1, 10]);
    let picture = picture_file(&run.data, 0, work.path());
    if dataset.input() == Dataset::Mnist.input() {
        let prepared = vggnet::digits::prepare::prepare_file(&picture).unwrap();
        let reading = vggnet::digits::read::read(model, &prepared, 3).unwrap();
        assert!(!reading.digits.is_empty(), "{dataset}");
    }
}

#[test]
fn mnist_through_every_command() {
    through_the_command_line(Dataset::Mnist);
    through_the_library(Dataset::Mnist);
}

#[test]
fn fashion_mnist_through_every_command() {
    through_the_command_line(Dataset::FashionMnist);
    through_the_library(Dataset::FashionMnist);
}

#[test]
fn cifar10_through_every_command() {
    through_the_command_line(Dataset::Cifar10);
    through_the_library(Dataset::Cifar10);
}
