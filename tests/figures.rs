//! Every kind of figure the notebooks draw, drawn from the inputs that broke them before (long
//! Fashion-MNIST titles in a 6-column gallery, a run of one epoch, a range test that blew up,
//! saliency under its digits), held to the reading rules of the notebook check
//! (`scripts/notebook_reading.py --figures`: width, titles against their panels, pictures at one
//! scale, curves of 5 points or more). The rules have one owner, that script; its self-test shows
//! each rule flags the defect it is for.

mod common;

use std::process::Command;
use tch::{Kind, Tensor};
use vggnet::data::Dataset;
use vggnet::plot::{self, Figure};
use vggnet::teach::experiment::{LrPoint, LrRange};
use vggnet::train::{CurvePoint, EpochRecord};

fn record(epoch: usize, loss: f64, train: f64, test: f64) -> EpochRecord {
    EpochRecord {
        epoch,
        train_loss: loss,
        train_accuracy: train,
        val_accuracy: Some(test),
        seconds: 1.0,
        images_per_sec: 1.0,
        skipped_steps: 0,
        loss_scale: 1.0,
    }
}

fn curve(epochs: usize, steps: u64) -> Vec<CurvePoint> {
    (1..=epochs)
        .flat_map(|e| {
            (1..=steps / 10).map(move |k| CurvePoint {
                step: (e as u64 - 1) * steps + 10 * k,
                epoch: e,
                running_loss: 2.3 / (1.0 + k as f64 / 10.0),
                running_accuracy: 100.0 - 90.0 / (1.0 + k as f64 / 10.0),
            })
        })
        .collect()
}

fn figures() -> Vec<(&'static str, Figure)> {
    let pixels =
        |i: usize| -> Vec<u8> { (0..784).map(|p| ((p * 7 + i * 13) % 256) as u8).collect() };
    // The longest Fashion-MNIST titles, as the misclassified gallery writes them.
    let fashion: Vec<(Vec<u8>, String)> = (0..12)
        .map(|i| {
            let (t, p) = [(0, 6), (9, 7), (4, 2), (6, 0)][i % 4];
            let title = format!(
                "#{} True: {}, Pred: {}",
                1000 + i,
                Dataset::FashionMnist.class_name(t),
                Dataset::FashionMnist.class_name(p)
            );
            (pixels(i), title)
        })
        .collect();
    let one_epoch = [record(1, 0.78, 87.8, 98.9)];
    let five: Vec<EpochRecord> = (1..=5)
        .map(|e| record(e, 0.7 / e as f64, 90.0 + e as f64, 98.0 + 0.2 * e as f64))
        .collect();
    // A range test from a partly trained start that blew up: the last batches' losses are huge.
    let points: Vec<LrPoint> = (0..74)
        .map(|k| {
            let lr = 1e-5 * 1.15f64.powi(k);
            let smoothed = if k < 60 {
                0.6 - 0.002 * k as f64
            } else {
                0.48 * 1.3f64.powi(k - 59)
            };
            LrPoint {
                step: k as usize,
                lr,
                loss: smoothed * if k > 70 { 20.0 } else { 1.1 },
                smoothed,
            }
        })
        .collect();
    let range = LrRange {
        lr_at_min: points[59].lr,
        lr_at_blowup: points[63].lr,
        suggested: points[63].lr / 10.0,
        diverged: true,
        points,
    };
    let images = Tensor::rand([5, 1, 28, 28], (Kind::Float, tch::Device::Cpu)) * 2 - 1;
    let saliency = Tensor::rand([5, 28, 28], (Kind::Float, tch::Device::Cpu));
    let titles: Vec<String> = (0..5).map(|i| format!("{i} (p = 0.91)")).collect();
    let filters = Tensor::randn([64, 1, 3, 3], (Kind::Float, tch::Device::Cpu));
    let confusion: Vec<Vec<u64>> = (0..10)
        .map(|r| {
            (0..10)
                .map(|c| if r == c { 980 } else { (r * c % 7) as u64 })
                .collect()
        })
        .collect();
    // A page of six digits, as notebook 04's number strip draws it: 16 panels.
    let page = vggnet::digits::synth::desk::number_page(
        &[vec![1, 9, 8, 5, 5, 0]],
        vggnet::digits::synth::desk::APART,
        true,
        4,
    );
    let prep =
        vggnet::digits::prepare::prepare(&image::DynamicImage::ImageRgb8(page.image)).unwrap();
    // Two trials of the side-by-side experiment: 200 steps, evaluated every 40.
    let trial = |name: &str, lr: f64| vggnet::teach::experiment::Trial {
        name: name.to_string(),
        config: vggnet::train::TrainConfig::default(),
        losses: (1..=200).map(|s| (s, 2.3 - lr * s as f64)).collect(),
        evals: (1..=5)
            .map(|k| vggnet::train::EvalPoint {
                step: 40 * k,
                epoch: 1,
                train_seconds: k as f64,
                val_accuracy: 10.0 + 15.0 * k as f64,
            })
            .collect(),
        seconds: 5.0,
        model: vggnet::model::Vgg::new(common::tiny(), tch::Device::Cpu).unwrap(),
    };
    let trials = [trial("lr 1e-3 (article)", 1e-3), trial("lr 3e-4", 3e-4)];
    let blocks: Vec<vggnet::teach::inspect::BlockMaps> = [(64, 14), (128, 7), (256, 3), (512, 1)]
        .iter()
        .enumerate()
        .map(|(i, &(c, s))| vggnet::teach::inspect::BlockMaps {
            name: format!("block {}", i + 1),
            maps: Tensor::rand([c, s, s], (Kind::Float, tch::Device::Cpu)),
        })
        .collect();
    let steps: Vec<(u64, f64)> = (1..=75).map(|k| (10 * k, 2.3 / k as f64)).collect();
    // The recorded 5-epoch runs as notebook 06 draws them: two recipes of three seeds per data set.
    let seeds = |name: &str, start: f64, gain: f64| -> Vec<(String, Vec<f64>)> {
        (0..3)
            .map(|s| {
                let acc = (1..=5).map(|e| start + gain * (e as f64).ln() + 0.1 * s as f64);
                (name.to_string(), acc.collect())
            })
            .collect()
    };
    let recorded = [
        (
            "MNIST".to_string(),
            [seeds("article's", 98.2, 0.4), seeds("fast", 98.7, 0.6)].concat(),
        ),
        (
            "Fashion-MNIST".to_string(),
            [seeds("article's", 86.0, 2.5), seeds("fast", 86.0, 3.8)].concat(),
        ),
    ];
    vec![
        ("epoch_curves", plot::epoch_curves(&recorded).unwrap()),
        ("feature_maps", plot::feature_maps(&blocks, 8).unwrap()),
        (
            "step_curve",
            plot::step_curve(&steps, "Running training loss").unwrap(),
        ),
        ("side_by_side", plot::compare_trials(&trials).unwrap()),
        (
            "number_strip",
            plot::preparation_strips(&[("198550".to_string(), &prep)]).unwrap(),
        ),
        ("gallery_fashion", plot::digit_grid(&fashion, 6).unwrap()),
        ("grid_fashion", plot::digit_grid(&fashion[..6], 3).unwrap()),
        (
            "curves_one_epoch",
            plot::training_curves(&one_epoch, &curve(1, 750)).unwrap(),
        ),
        (
            "curves_five_epochs",
            plot::training_curves(&five, &curve(5, 938)).unwrap(),
        ),
        (
            "curves_no_steps",
            plot::training_curves(&five, &[]).unwrap(),
        ),
        ("lr_range", plot::lr_range(&range).unwrap()),
        (
            "saliency",
            plot::saliency_maps(&images, &saliency, &titles, Dataset::Mnist).unwrap(),
        ),
        ("filters", plot::filter_grid(&filters).unwrap()),
        (
            "filter_change",
            plot::filter_change(&filters, &(&filters * 1.5)).unwrap(),
        ),
        (
            "confusion_fashion",
            plot::confusion_matrix(&confusion, Dataset::FashionMnist).unwrap(),
        ),
    ]
}

#[test]
fn every_figure_kind_meets_the_reading_rules() {
    let dir = tempfile::tempdir().unwrap();
    // VGGNET_FIGURES=DIR keeps the figures there, to look at.
    let keep = std::env::var_os("VGGNET_FIGURES").map(std::path::PathBuf::from);
    let dir = keep.as_deref().unwrap_or(dir.path());
    std::fs::create_dir_all(dir).unwrap();
    for (name, fig) in figures() {
        fig.save(&dir.join(format!("{name}.png"))).unwrap();
    }
    let out = Command::new(common::python())
        .arg(common::root().join("scripts/notebook_reading.py"))
        .arg("--figures")
        .arg(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "figure problems:\n{text}");
}

#[test]
fn a_title_too_wide_for_its_panel_takes_two_lines_and_saliency_matches_its_digit() {
    let figs = figures();
    let gallery = &figs
        .iter()
        .find(|(n, _)| *n == "gallery_fashion")
        .unwrap()
        .1
        .layout;
    // Every title fits; the long ones were split at the comma.
    assert!(
        gallery.titles.iter().all(|t| t.width <= t.panel),
        "{:?}",
        gallery.titles
    );
    assert!(
        gallery.titles.iter().any(|t| t.text.starts_with("Pred: ")),
        "{:?}",
        gallery.titles
    );
    let saliency = &figs
        .iter()
        .find(|(n, _)| *n == "saliency")
        .unwrap()
        .1
        .layout;
    let sizes: std::collections::BTreeSet<_> = saliency.pictures.iter().map(|p| p.drawn).collect();
    assert_eq!(sizes.len(), 1, "digits and heatmaps at one size: {sizes:?}");
}
