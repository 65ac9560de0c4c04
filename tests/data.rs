//! The data pipeline (MNIST, Fashion-MNIST): every malformed IDX file gives a typed error naming the file and the
//! problem (never a panic); normalization matches the article; batches are seeded and complete.

mod common;

use common::*;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::Kind;
use vggnet::data::{Data, DataConfig, Dataset};
use vggnet::idx::{read_idx_bytes, validate_idx};
use vggnet::{Error, IdxProblem};

fn images_idx(count: u32, rows: u32, cols: u32, body: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x803u32, count, rows, cols] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend(std::iter::repeat_n(7u8, body));
    b
}

fn labels_idx(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x801u32.to_be_bytes());
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn idx_problem(path: &Path, bytes: &[u8], images: bool) -> (IdxProblem, String) {
    match validate_idx(path, bytes, images, 28) {
        Err(e @ Error::Idx { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "message must name the file: {msg}"
            );
            match e {
                Error::Idx { problem, .. } => (problem, msg),
                _ => unreachable!(),
            }
        }
        other => panic!("expected an IDX error, got {other:?}"),
    }
}

#[test]
fn crafted_bad_idx_files_are_rejected_with_named_problems() {
    let p = Path::new("/x/train-images-idx3-ubyte");
    let (e, _) = idx_problem(p, &[], true);
    assert_eq!(e, IdxProblem::Empty);
    let (e, msg) = idx_problem(p, &images_idx(1, 28, 28, 784)[..10], true);
    assert!(
        matches!(
            e,
            IdxProblem::TruncatedHeader {
                needed: 16,
                found: 10
            }
        ),
        "{e:?}"
    );
    assert!(msg.contains("truncated header"));
    let (e, msg) = idx_problem(p, &images_idx(3, 28, 28, 784 * 2), true);
    assert!(matches!(e, IdxProblem::TruncatedBody { .. }), "{e:?}");
    assert!(msg.contains("truncated data"));
    let mut wrong = images_idx(1, 28, 28, 784);
    wrong[3] = 0x01;
    let (e, msg) = idx_problem(p, &wrong, true);
    assert_eq!(
        e,
        IdxProblem::BadMagic {
            expected: 0x803,
            found: 0x801
        }
    );
    assert!(msg.contains("magic number"));
    let (e, msg) = idx_problem(p, &images_idx(1, 32, 32, 1024), true);
    assert_eq!(
        e,
        IdxProblem::BadDimensions {
            rows: 32,
            cols: 32,
            side: 28
        }
    );
    assert!(msg.contains("32x32"));
    let (e, _) = idx_problem(p, &images_idx(1, 28, 28, 800), true);
    assert!(matches!(e, IdxProblem::TrailingBytes { .. }));
    let lp = Path::new("/x/train-labels-idx1-ubyte");
    let (e, msg) = idx_problem(lp, &labels_idx(&[1, 2, 10]), false);
    assert_eq!(
        e,
        IdxProblem::BadLabel {
            index: 2,
            value: 10
        }
    );
    assert!(msg.contains("outside 0-9"));
    // A good small file passes.
    assert_eq!(
        validate_idx(lp, &labels_idx(&[0, 9]), false, 28).unwrap(),
        2
    );
}

#[test]
fn corrupt_gzip_and_directories_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let gz = write(
        dir.path(),
        "t10k-labels-idx1-ubyte.gz",
        b"\x1f\x8b\x08\x00garbage",
    );
    let err = read_idx_bytes(&gz, 1 << 20).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Idx {
                problem: IdxProblem::CorruptGzip(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("t10k-labels-idx1-ubyte.gz"));
    std::fs::create_dir(dir.path().join("train-images-idx3-ubyte")).unwrap();
    let err = vggnet::data::find_file(dir.path(), "train-images-idx3-ubyte").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Idx {
                problem: IdxProblem::NotAFile,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A folder with copies of the real files, where `name` is replaced by `bytes` (gzipped when
/// `gz`).
fn real_dir_with(name: &str, bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in Dataset::Mnist.files() {
        if f.name != name {
            let src = vggnet::data::find_file(&mnist_dir(), f.name)
                .unwrap()
                .unwrap();
            std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
        }
    }
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    write(dir.path(), &format!("{name}.gz"), &enc.finish().unwrap());
    dir
}

fn load_from(dir: &Path) -> Result<Data, Error> {
    Data::load(&DataConfig {
        dir: dir.into(),
        download: false,
        ..Default::default()
    })
}

#[test]
fn label_count_disagreeing_with_images_is_an_error() {
    let labels = vec![1u8; 9_999];
    let dir = real_dir_with("t10k-labels-idx1-ubyte", &labels_idx(&labels));
    let err = load_from(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::Idx {
                problem: IdxProblem::CountsDisagree {
                    images: 10_000,
                    labels: 9_999,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("t10k-labels-idx1-ubyte.gz") && msg.contains("t10k-images"),
        "{msg}"
    );
}

/// Images and labels that agree with each other (10 of each) but not with the official set
/// (10,000): `BadCount`, naming the file, for the full load and the test-only load alike.
#[test]
fn a_consistent_but_unofficial_count_is_an_error() {
    let dir = real_dir_with("t10k-labels-idx1-ubyte", &labels_idx(&[1u8; 10]));
    std::fs::remove_file(dir.path().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let images = write(
        dir.path(),
        "t10k-images-idx3-ubyte",
        &images_idx(10, 28, 28, 10 * 784),
    );
    let cfg = DataConfig {
        dir: dir.path().into(),
        download: false,
        ..Default::default()
    };
    let full = Data::load(&cfg).unwrap_err();
    let test_only = Data::load_test(&cfg).unwrap_err();
    for err in [full, test_only] {
        assert!(
            matches!(
                &err,
                Error::Idx {
                    problem: IdxProblem::BadCount {
                        expected: 10_000,
                        found: 10
                    },
                    path,
                } if *path == images
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("holds 10 items, expected 10000"),
            "{err}"
        );
    }
}

/// Evaluation needs only the test files: `load_test` reads the two `t10k` files, validated,
/// giving the same test split as the full load.
#[test]
fn the_test_split_loads_without_the_training_files() {
    let dir = tempfile::tempdir().unwrap();
    for f in &Dataset::Mnist.files()[2..] {
        let src = vggnet::data::find_file(&mnist_dir(), f.name)
            .unwrap()
            .unwrap();
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
    }
    let cfg = DataConfig {
        dir: dir.path().into(),
        test_limit: Some(500),
        download: false,
        ..Default::default()
    };
    let (test, sources) = Data::load_test(&cfg).unwrap();
    let full = load_mnist(Some(0), Some(500));
    assert!(test.images().unwrap().equal(&full.test.images().unwrap()));
    assert!(test.labels.equal(&full.test.labels));
    let crc: Vec<String> = sources.iter().map(|s| s.crc32.clone()).collect();
    let official: Vec<String> = Dataset::Mnist.files()[2..]
        .iter()
        .map(|f| format!("{:08x}", f.crc32))
        .collect();
    assert_eq!(crc, official);
    // The full load still needs all four, and says which are missing.
    let err = Data::load(&cfg).unwrap_err();
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
}

#[test]
fn missing_files_error_says_what_where_and_how_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_from(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::MissingData { .. }));
    for f in Dataset::Mnist.files() {
        assert!(msg.contains(f.name), "{msg}");
    }
    assert!(msg.contains(&dir.path().display().to_string()));
    assert!(
        msg.contains("vggnet download") && msg.contains("MNIST_DIR"),
        "{msg}"
    );
}

#[test]
fn real_mnist_loads_and_normalizes_like_the_article() {
    let data = load_mnist(None, None);
    // 5,000 of the 60,000 training pictures held out for validation (the default).
    assert_eq!(data.train.len(), 55_000);
    assert_eq!(data.validation.len(), 5_000);
    assert_eq!(data.test.len(), 10_000);
    assert_eq!(data.train.images().unwrap().size(), vec![55_000, 1, 28, 28]);
    assert_eq!(data.train.images().unwrap().kind(), Kind::Float);
    let min = f64::try_from(data.train.images().unwrap().min()).unwrap();
    let max = f64::try_from(data.train.images().unwrap().max()).unwrap();
    assert_eq!((min, max), (-1.0, 1.0)); // (x/255 - 0.5) / 0.5
                                         // First test labels of MNIST: 7 2 1 0 4 1 4 9.
    let first: Vec<i64> = Vec::try_from(&data.test.labels.narrow(0, 0, 8)).unwrap();
    assert_eq!(first, vec![7, 2, 1, 0, 4, 1, 4, 9]);
    // Class counts of the training set sum up and all classes occur.
    let file = tch::Tensor::cat(&[&data.train.labels, &data.validation.labels], 0);
    let counts: Vec<i64> = Vec::try_from(&file.bincount::<tch::Tensor>(None, 10)).unwrap();
    assert_eq!(counts.iter().sum::<i64>(), 60_000);
    assert_eq!(counts[1], 6742);
}

/// The crate's IDX reader held against an independent one, the `mnist` crate (0.6, the design
/// card's loader), on the real files: every pixel byte and every label of all 60,000 training
/// and 10,000 test pictures agree. `mnist` reads no gzip, so the files are decompressed here
/// (with flate2 directly, not the crate's reader) into a temporary folder first.
#[test]
fn real_mnist_reads_as_the_mnist_crate_reads_it() {
    let dir = mnist_dir();
    let plain = tempfile::tempdir().unwrap();
    for f in Dataset::Mnist.files() {
        let src = vggnet::data::find_file(&dir, f.name).unwrap().unwrap();
        let mut out = std::fs::File::create(plain.path().join(f.name)).unwrap();
        let mut file = std::fs::File::open(&src).unwrap();
        if src.extension().is_some_and(|e| e == "gz") {
            std::io::copy(&mut flate2::read::GzDecoder::new(file), &mut out).unwrap();
        } else {
            std::io::copy(&mut file, &mut out).unwrap();
        }
    }
    // Every name given: the builder's defaults are `data/` and `10k-images-idx3-ubyte`.
    let theirs = mnist::MnistBuilder::new()
        .base_path(plain.path().to_str().unwrap())
        .training_images_filename(Dataset::Mnist.files()[0].name)
        .training_labels_filename(Dataset::Mnist.files()[1].name)
        .test_images_filename(Dataset::Mnist.files()[2].name)
        .test_labels_filename(Dataset::Mnist.files()[3].name)
        .label_format_digit()
        .training_set_length(55_000)
        .validation_set_length(5_000)
        .test_set_length(10_000)
        .finalize();
    let ours = load_mnist(None, None);
    for (split, img, lbl) in [
        (&ours.train, &theirs.trn_img, &theirs.trn_lbl),
        (&ours.validation, &theirs.val_img, &theirs.val_lbl),
        (&ours.test, &theirs.tst_img, &theirs.tst_lbl),
    ] {
        assert_eq!(split.pictures.kind(), Kind::Uint8);
        let pixels = Vec::<u8>::try_from(&split.pictures.flatten(0, -1)).unwrap();
        assert_eq!(pixels.len(), img.len());
        assert!(pixels == *img, "pixel bytes differ from the mnist crate's");
        let labels = Vec::<i64>::try_from(&split.labels).unwrap();
        let want: Vec<i64> = lbl.iter().map(|&l| l as i64).collect();
        assert_eq!(labels.len(), want.len());
        assert!(labels == want, "labels differ from the mnist crate's");
    }
    assert_eq!(
        (
            theirs.trn_lbl.len(),
            theirs.val_lbl.len(),
            theirs.tst_lbl.len()
        ),
        (55_000, 5_000, 10_000)
    );
}

#[test]
fn batches_are_seeded_complete_and_keep_the_last_partial_batch() {
    let data = load_mnist(Some(200), Some(10));
    let split = &data.train;
    assert_eq!(split.num_batches(64), 4);
    let sizes: Vec<i64> = split
        .batches(64, Some(1))
        .map(|b| b.unwrap().0.size()[0])
        .collect();
    assert_eq!(sizes, vec![64, 64, 64, 8]);
    assert_eq!(split.order(Some(5)), split.order(Some(5)));
    assert_ne!(split.order(Some(5)), split.order(Some(6)));
    let mut seen = split.order(Some(5));
    seen.sort();
    assert_eq!(seen, (0..200).collect::<Vec<i64>>());
    assert_eq!(split.order(None), (0..200).collect::<Vec<i64>>());
    // Labels travel with their images.
    let order = split.order(Some(9));
    let (_, y) = split.batches(64, Some(9)).next().unwrap().unwrap();
    let all: Vec<i64> = Vec::try_from(&split.labels).unwrap();
    let got: Vec<i64> = Vec::try_from(&y).unwrap();
    let want: Vec<i64> = order[..64].iter().map(|&i| all[i as usize]).collect();
    assert_eq!(got, want);
}

/// Fashion-MNIST is the same pipeline with another data set value: its files, counts and
/// class names.
#[test]
fn real_fashion_mnist_loads_with_its_class_names() {
    let data = Data::load(&DataConfig {
        dir: fashion_dir(),
        download: false,
        ..DataConfig::of(Dataset::FashionMnist)
    })
    .unwrap();
    assert_eq!(data.dataset, Dataset::FashionMnist);
    let sizes = (data.train.len(), data.validation.len(), data.test.len());
    assert_eq!(sizes, (55_000, 5_000, 10_000));
    assert_eq!(data.test.images().unwrap().size(), vec![10_000, 1, 28, 28]);
    let first: Vec<i64> = Vec::try_from(&data.test.labels.narrow(0, 0, 8)).unwrap();
    assert_eq!(first, vec![9, 2, 1, 1, 6, 1, 4, 6]);
    let names: Vec<String> = first.iter().map(|&l| data.dataset.class_name(l)).collect();
    assert_eq!(names[..3], ["Ankle boot", "Pullover", "Trouser"]);
    // Every class has 6,000 pictures in the training file (MNIST's are uneven).
    let file = tch::Tensor::cat(&[&data.train.labels, &data.validation.labels], 0);
    let counts: Vec<i64> = Vec::try_from(&file.bincount::<tch::Tensor>(None, 10)).unwrap();
    assert_eq!(counts, vec![6000; 10]);
    let crc: Vec<String> = data.sources.iter().map(|s| s.crc32.clone()).collect();
    let expected: Vec<String> = Dataset::FashionMnist
        .files()
        .iter()
        .map(|f| format!("{:08x}", f.crc32))
        .collect();
    assert_eq!(crc, expected);
}

/// A valid file of the other data set (same name, same format, same counts) is refused by its
/// checksum, naming the file, what it is and what was expected; in both directions.
#[test]
fn a_file_of_the_other_data_set_is_a_named_error() {
    let fashion_labels = vggnet::idx::read_idx_bytes(
        &vggnet::data::find_file(&fashion_dir(), "t10k-labels-idx1-ubyte")
            .unwrap()
            .unwrap(),
        1 << 20,
    )
    .unwrap();
    let dir = real_dir_with("t10k-labels-idx1-ubyte", &fashion_labels);
    for err in [
        load_from(dir.path()).unwrap_err(),
        Data::load_test(&DataConfig {
            dir: dir.path().into(),
            download: false,
            ..Default::default()
        })
        .unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(matches!(err, Error::WrongDataset { .. }), "{err:?}");
        assert!(
            msg.contains("t10k-labels-idx1-ubyte.gz")
                && msg.contains("this is Fashion-MNIST's t10k-labels-idx1-ubyte")
                && msg.contains("expected MNIST's t10k-labels-idx1-ubyte"),
            "{msg}"
        );
    }
    // MNIST's folder given for Fashion-MNIST: its first file is named.
    let err = Data::load(&DataConfig {
        dir: mnist_dir(),
        download: false,
        ..DataConfig::of(Dataset::FashionMnist)
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("train-images-idx3-ubyte")
            && msg.contains("this is MNIST's train-images-idx3-ubyte, expected Fashion-MNIST's"),
        "{msg}"
    );
}

// Data set descriptions and run records (from the core's files, which keep only code).
use vggnet::data::SourceFile;

/// A run's record of its data reads back as written; a record without its CRC-32 (or with a
/// field this version does not know) is refused, never compared by a guess.
#[test]
fn a_recorded_file_reads_back_whole_or_not_at_all() {
    let file = SourceFile {
        name: "labels".into(),
        path: "/data/labels".into(),
        crc32: "0badf00d".into(),
    };
    let text = serde_json::to_string(&file).unwrap();
    assert_eq!(serde_json::from_str::<SourceFile>(&text).unwrap(), file);
    for bad in [
        r#"{"name": "labels", "path": "/data/labels"}"#,
        r#"{"name": "labels", "path": "/data/labels", "crc32": "0badf00d", "md5": "0"}"#,
    ] {
        assert!(serde_json::from_str::<SourceFile>(bad).is_err(), "{bad}");
    }
}

#[test]
fn names_round_trip_through_serde_and_clap() {
    for d in Dataset::ALL {
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{}\"", d.name()));
        assert_eq!(serde_json::from_str::<Dataset>(&json).unwrap(), d);
        #[cfg(feature = "cli")]
        assert_eq!(
            <Dataset as clap::ValueEnum>::from_str(d.name(), false).unwrap(),
            d
        );
    }
}

/// Normalizing bytes gives `(x / 255 - mean) / std` per channel, a partial picture at
/// the end is dropped, and denormalize gives the bytes back.
#[test]
fn normalization_is_per_channel_and_undone_by_denormalize() {
    for d in Dataset::ALL {
        let (c, side) = d.input();
        let len = (3 * c * side * side) as usize;
        let pixels: Vec<u8> = (0..len).map(|i| ((i * 37 + i / 5) % 256) as u8).collect();
        let mut with_tail = pixels.clone();
        with_tail.extend_from_slice(&[255; 10]);
        let x = d.normalize(&with_tail).unwrap();
        assert_eq!(x.size(), [3, c, side, side], "{d}");
        let spec = d.spec();
        let plane = (side * side) as usize;
        for i in [0, 1, plane, len / 2, len - 1] {
            let ch = (i / plane) % c as usize;
            let want = ((pixels[i] as f32 / 255.0) - spec.mean[ch] as f32) / spec.std[ch] as f32;
            let got = f32::try_from(x.flatten(0, -1).get(i as i64)).unwrap();
            assert!((got - want).abs() < 1e-6, "{d} {i}: {got} vs {want}");
        }
        assert_eq!(d.denormalize(&x), pixels, "{d}");
    }
}

#[test]
fn every_file_checksum_names_one_data_set() {
    for d in Dataset::ALL {
        for f in d.files() {
            let (found, file) = Dataset::identify(f.md5).unwrap();
            assert_eq!((found, file.name), (d, f.name));
            let (found, file) = Dataset::identify_crc32(f.crc32).unwrap();
            assert_eq!((found, file.name), (d, f.name));
        }
    }
    assert!(Dataset::identify("00000000000000000000000000000000").is_none());
}

/// The variable wins; else a system folder holding all four files (Debian's package);
/// else `data/<name>`.
#[test]
fn the_folder_is_the_variable_then_a_system_package_then_data() {
    let d = Dataset::FashionMnist;
    let debian = tempfile::tempdir().unwrap();
    let system = [debian.path()];
    assert_eq!(d.dir_among(None, &system), Path::new("data/fashion-mnist"));
    for (i, f) in d.files().iter().enumerate() {
        let name = if i % 2 == 0 {
            format!("{}.gz", f.name)
        } else {
            f.name.to_string()
        };
        std::fs::write(debian.path().join(name), b"").unwrap();
    }
    assert_eq!(d.dir_among(None, &system), debian.path());
    let given = Some(std::ffi::OsString::from("/elsewhere"));
    assert_eq!(d.dir_among(given, &system), Path::new("/elsewhere"));
}

#[test]
fn class_names_by_label() {
    assert_eq!(Dataset::FashionMnist.class_name(9), "Ankle boot");
    assert_eq!(Dataset::Mnist.class_name(7), "7");
    assert_eq!(Dataset::Mnist.class_name(12), "12");
    assert_eq!(Dataset::Mnist.class_name(-1), "-1");
}

// Evaluation summaries (from src/eval.rs, which keeps only code).
use vggnet::eval::Evaluation;

#[test]
fn largest_confusions_skip_the_diagonal_and_order_by_count() {
    let ev = Evaluation {
        accuracy: 0.0,
        correct: 0,
        total: 0,
        first: Vec::new(),
        confusion: vec![vec![50, 3, 0], vec![6, 40, 3], vec![0, 9, 99]],
        misclassified: Vec::new(),
        predictions: Vec::new(),
    };
    assert_eq!(
        ev.largest_confusions(3),
        vec![(2, 1, 9), (1, 0, 6), (0, 1, 3)]
    );
    assert_eq!(
        ev.largest_confusions(10).len(),
        4,
        "zero counts are left out"
    );
}

#[test]
fn per_class_accuracy_never_indexes_out_of_bounds() {
    let ev = Evaluation {
        accuracy: 0.0,
        correct: 0,
        total: 0,
        first: Vec::new(),
        confusion: vec![vec![3, 1], vec![2, 2], vec![4]], // the third row lacks its diagonal
        misclassified: Vec::new(),
        predictions: Vec::new(),
    };
    assert_eq!(ev.per_class_accuracy(), vec![75.0, 50.0, 0.0]);
}

/// The validation split is held out of the training file: its last pictures, never among the
/// training split's whatever the limit, and a split that would leave nothing to train on is
/// refused with the numbers.
#[test]
fn the_validation_split_is_the_training_files_last_pictures() {
    let all = load_mnist(None, None);
    let file = tch::Tensor::cat(&[&all.train.pictures, &all.validation.pictures], 0); // (60000, 1, 28, 28)
    for (limit, held_out) in [(Some(100), 7), (None, 1), (Some(59_999), 1), (Some(10), 0)] {
        let data = Data::load(&DataConfig {
            dir: mnist_dir(),
            train_limit: limit,
            validation: held_out,
            download: false,
            ..Default::default()
        })
        .unwrap();
        let rest = 60_000 - held_out;
        assert_eq!(data.train.len(), limit.unwrap_or(rest).min(rest));
        assert_eq!(data.validation.len(), held_out);
        assert!(data
            .validation
            .pictures
            .equal(&file.narrow(0, rest as i64, held_out as i64)));
        assert!(data
            .train
            .pictures
            .equal(&file.narrow(0, 0, data.train.len() as i64)));
        assert_eq!(data.measured().is_some(), held_out > 0);
    }
    let err = Data::load(&DataConfig {
        dir: mnist_dir(),
        validation: 60_000,
        download: false,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("60000 pictures leaves none of the 60000"),
        "{err}"
    );
}
