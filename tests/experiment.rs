//! The notebooks' experiments (`vggnet::teach::experiment`): the learning-rate range test and the
//! side-by-side of settings, on a narrow network and a few hundred digits.

mod common;

use common::{load_mnist, rng_lock, tiny};
use tch::Device;
use vggnet::model::Vgg;
use vggnet::teach::experiment::{compare, lr_range_test, LrRangeConfig, Setting};
use vggnet::train::optim::AdamWConfig;
use vggnet::train::{Silent, TrainConfig};

#[test]
fn lr_range_test_raises_the_rate_geometrically_and_stops_when_the_loss_explodes() {
    let _g = rng_lock();
    let data = load_mnist(Some(640), Some(0));
    let cfg = LrRangeConfig {
        start_lr: 1e-5,
        end_lr: 1e-1,
        steps: 25,
        train: TrainConfig {
            batch_size: 32,
            ..Default::default()
        },
        ..Default::default()
    };
    tch::manual_seed(1);
    let r = lr_range_test(Vgg::new(tiny(), Device::Cpu).unwrap(), &data.train, &cfg).unwrap();
    assert!(!r.points.is_empty() && r.points.len() <= 25);
    assert!((r.points[0].lr - 1e-5).abs() < 1e-12);
    let ratio = (1e-1f64 / 1e-5).powf(1.0 / 24.0);
    for w in r.points.windows(2) {
        assert!((w[1].lr / w[0].lr - ratio).abs() < 1e-9, "geometric steps");
        assert_eq!(w[1].step, w[0].step + 1);
    }
    if !r.diverged {
        assert!((r.points.last().unwrap().lr - 1e-1).abs() < 1e-9);
    }
    let min = r
        .points
        .iter()
        .map(|p| p.smoothed)
        .fold(f64::INFINITY, f64::min);
    let at_min = r.points.iter().find(|p| p.smoothed == min).unwrap();
    assert_eq!(r.lr_at_min, at_min.lr);
    let blowup = r
        .points
        .iter()
        .find(|p| p.step > at_min.step && p.smoothed >= 2.0 * min)
        .unwrap_or(r.points.last().unwrap());
    assert_eq!(r.lr_at_blowup, blowup.lr);
    assert!((r.suggested - r.lr_at_blowup / 10.0).abs() < 1e-15);
    // Far too large rates blow the loss up: the test notices and stops early.
    let wild = LrRangeConfig {
        start_lr: 1e-3,
        end_lr: 1e4,
        steps: 40,
        ..cfg.clone()
    };
    tch::manual_seed(1);
    let r = lr_range_test(Vgg::new(tiny(), Device::Cpu).unwrap(), &data.train, &wild).unwrap();
    assert!(r.diverged, "rates up to 1e4 must diverge");
    assert!(r.points.len() < 40);
    // Nonsense settings are errors, not panics.
    let bad = LrRangeConfig {
        start_lr: 1.0,
        end_lr: 0.1,
        ..cfg
    };
    assert!(lr_range_test(Vgg::new(tiny(), Device::Cpu).unwrap(), &data.train, &bad).is_err());
}

#[test]
fn compare_trains_each_setting_for_its_step_budget_from_the_same_start() {
    let _g = rng_lock();
    let data = load_mnist(Some(320), Some(64));
    let base = TrainConfig {
        batch_size: 32,
        eval_every_steps: 4,
        seed: 7,
        ..Default::default()
    };
    let faster = TrainConfig {
        optimizer: AdamWConfig {
            lr: 3e-3,
            ..Default::default()
        },
        ..base.clone()
    };
    let settings = vec![
        Setting::new("lr 1e-3", base.clone()),
        Setting::new("lr 1e-3 again", base.clone()),
        Setting::new("lr 3e-3", faster),
        // The fast recipe's warm-up and cosine, over the setting's epochs.
        Setting::with_plan(
            "lr 1e-3, fast plan",
            base.clone(),
            vggnet::recipe::Recipe::Fast.plan(),
        ),
    ];
    // 14 steps: more than one epoch of 10 batches, so the budget crosses an epoch end.
    let trials = compare(
        &tiny(),
        &data.train,
        &data.test,
        &settings,
        14,
        Device::Cpu,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(trials.len(), 4);
    for t in &trials {
        let steps: Vec<u64> = t.losses.iter().map(|p| p.0).collect();
        assert_eq!(
            steps,
            (1..=14).collect::<Vec<_>>(),
            "{}: one loss per step",
            t.name
        );
        let eval_steps: Vec<u64> = t.evals.iter().map(|e| e.step).collect();
        assert_eq!(
            eval_steps,
            [4, 8, 12, 14],
            "{}: every 4 steps and at the end",
            t.name
        );
        assert!(t.final_accuracy().is_some());
        assert!(t.seconds > 0.0);
    }
    assert_eq!(
        trials[0].losses, trials[1].losses,
        "same setting, same seed: same run"
    );
    assert_ne!(
        trials[0].losses, trials[2].losses,
        "another learning rate changes the run"
    );
    assert_eq!(
        trials[0].losses[0], trials[2].losses[0],
        "both start from the same model and batch"
    );
    assert_ne!(
        trials[0].losses, trials[3].losses,
        "the fast plan's rate changes the run"
    );
    // Each trial hands back its model as trained; a copy of it is identical and independent.
    let copy = trials[2].model.try_clone().unwrap();
    common::assert_same_weights(&trials[2].model, &copy, "the copy differs");
    tch::no_grad(|| {
        let _ = copy.named_parameters()[0]
            .1
            .shallow_clone()
            .g_add_scalar_(1.0);
    });
    assert!(
        !trials[2].model.named_parameters()[0]
            .1
            .equal(&copy.named_parameters()[0].1),
        "the copy shares weights with the trial's model"
    );
}
