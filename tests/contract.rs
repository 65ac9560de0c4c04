//! The model/data contract (issue #54, part 4): every command and library entry point that puts
//! a model on a data set checks classes, channels and picture size with one function,
//! `vggnet::data::check_fits`, and a mismatch is one clear error, never a panic or a silent
//! answer.

mod common;

use assert_cmd::Command;
use common::{load_mnist, mnist_dir, tiny};
use std::path::{Path, PathBuf};
use vggnet::data::{check_fits, Dataset};
use vggnet::model::{Vgg, VggConfig};
use vggnet::Error;

/// The message a 5-class model against MNIST gives, without the file.
const FIVE_CLASSES: &str = "has 5 classes but MNIST has 10";

fn five_classes() -> VggConfig {
    VggConfig {
        num_classes: 5,
        ..tiny()
    }
}

/// A 5-class model saved with the crate's own API as `dir/model.safetensors`.
fn saved_five_class_model(dir: &Path) -> (Vgg, PathBuf) {
    let model = Vgg::new(five_classes(), tch::Device::Cpu).unwrap();
    let path = dir.join("model.safetensors");
    vggnet::store::checkpoint::save_model(&model, &path).unwrap();
    (model, path)
}

fn vggnet() -> Command {
    let mut c = Command::cargo_bin("vggnet").unwrap();
    c.env("MNIST_DIR", mnist_dir());
    c
}

/// Runs `c`, expects exit status 1 and exactly one line on stderr naming `model` and the
/// mismatch; never a panic.
fn refused_in_one_line(c: &mut Command, model: &Path) -> String {
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    println!("refused: {}", stderr.trim_end()); // (seen with --nocapture)
    let expected = format!("the model in {} {FIVE_CLASSES}", model.display());
    assert!(stderr.contains(&expected), "{stderr}");
    stderr
}

#[test]
fn the_one_check_compares_classes_channels_and_picture_size() {
    let mnist = VggConfig::for_dataset(Dataset::Mnist, &Default::default());
    check_fits(&mnist, Dataset::Mnist, None).unwrap();
    check_fits(&mnist, Dataset::FashionMnist, None).unwrap();
    let cifar = VggConfig::for_dataset(Dataset::Cifar10, &Default::default());
    check_fits(&cifar, Dataset::Cifar10, None).unwrap();

    let message = |m: &VggConfig, d: Dataset, file: Option<&Path>| match check_fits(m, d, file) {
        Err(Error::ModelDoesNotFit(text)) => text,
        other => panic!("expected ModelDoesNotFit, got {other:?}"),
    };
    // Classes, naming the file when known.
    assert_eq!(
        message(
            &five_classes(),
            Dataset::Mnist,
            Some(Path::new("runs/a/model.safetensors"))
        ),
        "the model in runs/a/model.safetensors has 5 classes but MNIST has 10"
    );
    // 1 channel against 3 (and the size with it), both ways.
    assert_eq!(
        message(&mnist, Dataset::Cifar10, None),
        "the model takes 1x28x28 pictures but CIFAR-10 has 3x32x32"
    );
    assert_eq!(
        message(&cifar, Dataset::Mnist, None),
        "the model takes 3x32x32 pictures but MNIST has 1x28x28"
    );
    // Channels alone, size alone.
    let three_channels = VggConfig {
        in_channels: 3,
        ..mnist.clone()
    };
    assert_eq!(
        message(&three_channels, Dataset::Mnist, None),
        "the model takes 3x28x28 pictures but MNIST has 1x28x28"
    );
    let bigger = VggConfig {
        image_size: 32,
        ..mnist.clone()
    };
    assert_eq!(
        message(&bigger, Dataset::FashionMnist, None),
        "the model takes 1x32x32 pictures but Fashion-MNIST has 1x28x28"
    );
    // Every difference in the one error.
    let all = VggConfig {
        num_classes: 5,
        ..cifar
    };
    assert_eq!(
        message(&all, Dataset::Mnist, None),
        "the model has 5 classes but MNIST has 10, and takes 3x32x32 pictures but MNIST has 1x28x28"
    );
}

#[test]
fn library_entry_points_refuse_a_model_of_another_number_of_classes() {
    let dir = tempfile::tempdir().unwrap();
    let (model, path) = saved_five_class_model(dir.path());
    let data = load_mnist(Some(64), Some(32));
    let is_mismatch =
        |e: &Error| matches!(e, Error::ModelDoesNotFit(m) if m.contains(FIVE_CLASSES));

    let e = vggnet::eval::evaluate(&model, &data.test, 16).unwrap_err();
    assert!(is_mismatch(&e), "{e}");
    let e = vggnet::recipe::evaluate_mirrored(&model, &data.test, 16).unwrap_err();
    assert!(is_mismatch(&e), "{e}");
    let e = vggnet::teach::inspect::confident_mistakes(&model, &data.test, 3, 16).unwrap_err();
    assert!(is_mismatch(&e), "{e}");

    // A run folder holding it (notebooks 04 and 05 open notebook 02's run this way).
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(
        dir.path().join("state").join(vggnet::run::RUN_FILE),
        mnist_run_json(),
    )
    .unwrap();
    let e = vggnet::run::open_trained(dir.path(), tch::Device::Cpu).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("the model in {} {FIVE_CLASSES}", path.display())
    );

    // A run cannot be started with it.
    let e = vggnet::run::Run::start(
        &dir.path().join("new-run"),
        vggnet::run::RunConfig {
            model: five_classes(),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(is_mismatch(&e), "{e}");
    assert!(!dir.path().join("new-run").exists(), "nothing made");
}

/// A run folder whose saved training state holds a 5-class model (no `run.json`: MNIST is
/// the data set then).
fn five_class_run(dir: &Path) -> PathBuf {
    let model = Vgg::new(five_classes(), tch::Device::Cpu).unwrap();
    let trainer = vggnet::train::Trainer::new(model, Default::default()).unwrap();
    let run = dir.join("run");
    let run_json = mnist_run_json();
    let extra = [(vggnet::run::RUN_FILE, run_json.as_slice())];
    vggnet::train::state::save_training_state_with(&trainer, &run.join("state"), &extra).unwrap();
    run
}

#[test]
fn resuming_a_run_whose_model_does_not_fit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = five_class_run(dir.path());
    let request = vggnet::run::ResumeRequest {
        data_dir: Some(mnist_dir()),
        ..Default::default()
    };
    let e = vggnet::run::Run::resume(&run, &request).err().unwrap();
    let model = run.join("state/model.safetensors");
    assert_eq!(
        e.to_string(),
        format!("the model in {} {FIVE_CLASSES}", model.display())
    );

    let mut c = vggnet();
    c.args(["train", "--offline", "--no-plots", "--resume"])
        .arg(&run);
    refused_in_one_line(&mut c, &model);
}

#[test]
fn eval_and_predict_refuse_a_model_of_another_number_of_classes_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = saved_five_class_model(dir.path());
    let mnist = mnist_dir();

    let mut c = vggnet();
    c.args(["eval", "--offline", "--test-limit", "100", "--model"])
        .arg(&path)
        .arg("--data-dir")
        .arg(&mnist);
    let stderr = refused_in_one_line(&mut c, &path);
    assert!(stderr.contains("give --dataset"), "{stderr}");

    let mut c = vggnet();
    c.args(["predict", "--offline", "--index", "0", "--model"])
        .arg(&path)
        .arg("--data-dir")
        .arg(&mnist);
    let out = c.output().unwrap();
    assert!(
        out.stdout.is_empty(),
        "no answer: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    refused_in_one_line(&mut c, &path);

    // A picture from a file is read as a handwritten digit: MNIST's contract.
    let photo = dir.path().join("digit.png");
    vggnet::digits::imageio::save_digit_png(&photo, &[0u8; 784]).unwrap();
    let mut c = vggnet();
    c.args(["predict", "--model"]).arg(&path).arg(&photo);
    refused_in_one_line(&mut c, &path);
}

/// The `state/run.json` of an MNIST run (what notebook 02 and `vggnet train` write).
fn mnist_run_json() -> Vec<u8> {
    let spec = vggnet::run::RunSpec {
        plan: Default::default(),
        dataset: vggnet::data::Dataset::Mnist,
        data_dir: mnist_dir(),
        train_limit: None,
        validation: vggnet::data::VALIDATION,
        test_limit: None,
        data_files: Vec::new(),
        device: tch::Device::Cpu,
        plots: false,
    };
    serde_json::to_vec(&spec).unwrap()
}
