//! Preparing the user's own pictures (vggnet::prepare), on the project's synthetic photo test
//! set (vggnet::synth) and on MNIST's own digits. Similarity is the correlation of the two
//! 28x28 images after a 1-px Gaussian blur (`prepare::similarity`): 1 = identical.

mod common;

use common::*;
use vggnet::prepare::{prepare, prepare_file, similarity};
use vggnet::synth::{mnist_reference, test_set, two_digits, without_digit, Style};

/// Every picture's preparation (written as its PNG/JPEG file and read back, as a user's photo
/// would be) matches the same strokes rendered directly in MNIST style: similarity at least
/// 0.80 for each picture (a thin ring shifted by a pixel scores about 0.84), at least 0.93 on
/// average per style.
#[test]
fn synthetic_photos_prepare_like_the_clean_rendering() {
    let dir = tempfile::tempdir().unwrap();
    let mut per_style = std::collections::BTreeMap::<&str, Vec<f64>>::new();
    for (i, pic) in test_set(1, 7).enumerate() {
        let (bytes, ext) = pic.encode().unwrap();
        let path = dir.path().join(format!("{i}.{ext}"));
        std::fs::write(&path, bytes).unwrap();
        let name = format!(
            "{} digit {} ({}x{})",
            pic.style.name(),
            pic.label,
            pic.image.width(),
            pic.image.height()
        );
        let prepared = prepare_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let sim = similarity(
            &prepared.pixels,
            &mnist_reference(&pic.strokes, pic.pen_width),
        );
        assert!(sim >= 0.80, "{name}: similarity {sim:.3}");
        assert_eq!(prepared.digits_found, 1, "{name}");
        per_style.entry(pic.style.name()).or_default().push(sim);
    }
    assert_eq!(per_style.len(), Style::ALL.len());
    for (style, sims) in &per_style {
        let mean = sims.iter().sum::<f64>() / sims.len() as f64;
        let min = sims.iter().cloned().fold(f64::MAX, f64::min);
        println!(
            "{style}: {} pictures, similarity mean {mean:.3}, min {min:.3}",
            sims.len()
        );
        assert!(mean >= 0.93, "{style}: mean similarity {mean:.3}");
    }
}

/// MNIST's own test digits, saved the way a user's scan would be (dark on light, PNG), come
/// back nearly as they were: similarity at least 0.85 each, 0.93 on average.
#[test]
fn mnist_digits_saved_dark_on_light_come_back() {
    let data = load_mnist(Some(0), Some(200));
    let dir = tempfile::tempdir().unwrap();
    let mut sims = Vec::new();
    for i in 0..data.test.len() {
        let px = vggnet::data::denormalize_to_pixels(&data.test.images.get(i as i64));
        let dark_on_light: Vec<u8> = px.iter().map(|p| 255 - p).collect();
        let path = dir.path().join(format!("{i}.png"));
        vggnet::imageio::save_digit_png(&path, &dark_on_light).unwrap();
        let back = prepare_file(&path).unwrap_or_else(|e| panic!("digit {i}: {e}"));
        let sim = similarity(&back.pixels, &px);
        assert!(sim >= 0.85, "test digit {i}: similarity {sim:.3}");
        sims.push(sim);
    }
    let mean = sims.iter().sum::<f64>() / sims.len() as f64;
    let min = sims.iter().cloned().fold(f64::MAX, f64::min);
    println!(
        "MNIST round trip: {} digits, similarity mean {mean:.3}, min {min:.3}",
        sims.len()
    );
    assert!(mean >= 0.93, "mean similarity {mean:.3}");
}

/// A blank page and pure noise say there is no digit instead of being classified.
#[test]
fn pictures_without_a_digit_say_so() {
    for (what, img) in without_digit(3) {
        let err = prepare(&image::DynamicImage::ImageRgb8(img))
            .err()
            .unwrap_or_else(|| panic!("{what}: prepared as a digit"));
        assert!(err.starts_with("no digit found"), "{what}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blank.jpg");
    without_digit(3)[0].1.save(&path).unwrap();
    let err = vggnet::imageio::load_digit(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("blank.jpg") && msg.contains("no digit found"),
        "{msg}"
    );
}

/// Two digits on one page: both are found, and the larger one (the 8, on the right) is the
/// one prepared.
#[test]
fn several_digits_are_counted_and_the_largest_is_used() {
    let img = image::DynamicImage::ImageRgb8(two_digits(5));
    let p = prepare(&img).unwrap();
    assert_eq!(p.digits_found, 2);
    let (w, _) = p.mask.dimensions();
    let (mut left, mut right) = (0u32, 0u32);
    for (x, _, v) in p.mask.enumerate_pixels() {
        if v[0] > 0 {
            if x < w / 2 {
                left += 1;
            } else {
                right += 1;
            }
        }
    }
    assert!(
        right > 0 && left == 0,
        "kept {left} px left, {right} px right"
    );
}
