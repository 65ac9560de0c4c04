//! The fast recipe's pieces (`vggnet::recipe`): the learning-rate schedule, label smoothing and
//! batch augmentation; the article's recipe is unchanged, and a fast run resumes exactly.

mod common;

use common::*;
use tch::{Kind, Tensor};
use vggnet::recipe::{Augment, LrSchedule, Plan, Recipe};
use vggnet::run::{ResumeRequest, Run, RunEnd, StopAt};
use vggnet::train::{Silent, TrainConfig};

#[test]
fn the_article_recipe_is_the_default_and_keeps_its_rate() {
    let (article, plan) = (TrainConfig::default(), Plan::default());
    assert_eq!(Recipe::which(&article, &plan), Some(Recipe::Article));
    assert_eq!(
        (Recipe::Article.config(), Recipe::Article.plan()),
        (article.clone(), plan)
    );
    assert_eq!(plan.schedule, LrSchedule::Constant);
    assert_eq!((article.label_smoothing, plan.augment), (0.0, None));
    for step in [0, 1, 500, 4689] {
        assert_eq!(plan.schedule.lr_at(1e-3, step, 4690), 1e-3);
    }
    let (fast, fast_plan) = (Recipe::Fast.config(), Recipe::Fast.plan());
    assert_eq!(Recipe::which(&fast, &fast_plan), Some(Recipe::Fast));
    let custom = TrainConfig {
        label_smoothing: 0.2,
        ..fast
    };
    assert_eq!(Recipe::which(&custom, &fast_plan), None);
}

#[test]
fn warmup_cosine_rises_to_the_peak_then_decays_to_its_floor() {
    let s = LrSchedule::WarmupCosine {
        warmup: 0.1,
        final_fraction: 0.01,
    };
    let total = 1000;
    let lrs: Vec<f64> = (0..total).map(|t| s.lr_at(1e-3, t, total)).collect();
    // 100 warm-up steps: linear from 1e-5 to 1e-3.
    assert!((lrs[0] - 1e-5).abs() < 1e-15);
    assert!((lrs[49] - 5e-4).abs() < 1e-15);
    assert!((lrs[99] - 1e-3).abs() < 1e-15);
    for w in lrs[..100].windows(2) {
        assert!(w[1] > w[0]);
    }
    // Then the cosine: starts at the peak, falls monotonically, ends at 1% of it.
    assert!((lrs[100] - 1e-3).abs() < 1e-15);
    for w in lrs[100..].windows(2) {
        assert!(w[1] <= w[0]);
    }
    assert!((lrs[999] - 1e-5).abs() < 1e-12, "{}", lrs[999]);
    // Half-way through the decay (steps 100..=1000 of 1001): the mean of peak and floor.
    let mid = s.lr_at(1e-3, 550, 1001);
    assert!((mid - (1e-3 + 1e-5) / 2.0).abs() < 1e-12, "{mid}");
}

#[test]
fn augmentation_moves_digits_and_keeps_the_background() {
    let _g = rng_lock();
    let data = load_mnist(Some(16), Some(0));
    let xs = data.train.images().unwrap().shallow_clone(); // (16, 1, 28, 28), background -1

    // No shift, no rotation: the images come back (bilinear sampling at pixel centres).
    let still = Augment {
        max_shift: 0.0,
        max_rotation: 0.0,
        from_epoch: 1,
        flip: false,
        erase: false,
    }
    .apply(&xs)
    .unwrap();
    let diff = f64::try_from((&still - &xs).abs().max()).unwrap();
    assert!(
        diff < 1e-5,
        "identity augmentation changed the images by {diff}"
    );
    // Seeded: the same seed gives the same batch; the images move but keep their size,
    // range and background.
    let aug = Augment::default();
    tch::manual_seed(5);
    let a = aug.apply(&xs).unwrap();
    tch::manual_seed(5);
    let b = aug.apply(&xs).unwrap();
    assert!(a.equal(&b));
    assert_eq!(a.size(), xs.size());
    let moved = f64::try_from((&a - &xs).abs().mean(Kind::Float)).unwrap();
    assert!(moved > 0.01, "the images did not move");
    assert!(f64::try_from(a.min()).unwrap() >= -1.0 - 1e-6);
    assert!(f64::try_from(a.max()).unwrap() <= 1.0 + 1e-6);
    let corner = f64::try_from(a.narrow(2, 0, 1).narrow(3, 0, 1).max()).unwrap();
    assert!(
        (corner + 1.0).abs() < 1e-5,
        "the corners stay background, got {corner}"
    );
    // The ink stays about the same (a shift or small rotation neither adds nor removes much).
    let ink = |t: &Tensor| f64::try_from((t + 1.0).sum(Kind::Float)).unwrap();
    let ratio = ink(&a) / ink(&xs);
    assert!((0.9..1.1).contains(&ratio), "ink ratio {ratio}");
    assert!(aug.apply(&xs.view([16, 784])).is_err());
}

/// How many images of `xs` `aug` leaves as the default augmentation (shifts and rotations
/// only) draws them from the same seed.
fn agreeing_with_the_default_draw(xs: &Tensor, aug: Augment) -> i64 {
    tch::manual_seed(3);
    let p = Augment::default().apply(xs).unwrap();
    tch::manual_seed(3);
    let q = aug.apply(xs).unwrap();
    let agree = (&p - &q).abs().amax([1, 2, 3], false).lt(1e-5); // (B,)
    i64::try_from(agree.sum(Kind::Int64)).unwrap()
}

/// With `flip` and no shift or rotation, every image comes back either as it was or mirrored
/// left to right (never upside down, never half of each), about half of them mirrored, the
/// same ones for the same seed; without `flip`, a seeded batch is the one drawn before flips
/// existed (the flip draws its random numbers after the shifts and rotations).
#[test]
fn flips_mirror_about_half_of_the_images_left_to_right() {
    let _g = rng_lock();
    let data = load_mnist(Some(64), Some(0));
    let xs = data.train.images().unwrap().shallow_clone(); // (64, 1, 28, 28)
    let mirror = Augment {
        max_shift: 0.0,
        max_rotation: 0.0,
        from_epoch: 1,
        flip: true,
        erase: false,
    };
    tch::manual_seed(11);
    let a = mirror.apply(&xs).unwrap();
    let mirrored = xs.flip([3]); // (64, 1, 28, 28), columns reversed
    let per_image = |t: &Tensor| -> Vec<f64> {
        Vec::<f64>::try_from((t - &a).abs().amax([1, 2, 3], false).to_kind(Kind::Double)).unwrap()
    };
    let (same, flipped) = (per_image(&xs), per_image(&mirrored));
    let mut n_flipped = 0;
    for (i, (s, f)) in same.iter().zip(&flipped).enumerate() {
        assert!(
            *s < 1e-5 || *f < 1e-5,
            "image {i} is neither itself ({s}) nor its mirror image ({f})"
        );
        n_flipped += usize::from(*f < 1e-5 && *s >= 1e-5);
    }
    println!("flipped {n_flipped} of 64");
    // Binomial(64, 1/2): 32 +- 4; outside 16..=48 has odds below 1e-4.
    assert!((16..=48).contains(&n_flipped), "{n_flipped} of 64 mirrored");
    tch::manual_seed(11);
    assert!(mirror.apply(&xs).unwrap().equal(&a));
    // Flips off: the same draw as with them on, up to the flips.
    let n_agree = agreeing_with_the_default_draw(
        &xs,
        Augment {
            flip: true,
            ..Augment::default()
        },
    );
    assert!(
        (16..=48).contains(&n_agree),
        "with flips the unflipped images must be the flip-free draw: {n_agree} of 64 agree"
    );
}

/// With `erase` and no shift, rotation or flip, every image comes back either as it was or
/// with one axis-aligned rectangle set to 0 (the mean), of 2-33% of its area (clipped to the
/// image), in about half of the images; the shifts and rotations drawn before the erasing are
/// the ones drawn without it, so earlier seeded runs replay.
#[test]
fn erasing_blanks_one_rectangle_in_about_half_of_the_images() {
    let _g = rng_lock();
    let data = load_mnist(Some(64), Some(0));
    let xs = data.train.images().unwrap().shallow_clone(); // (64, 1, 28, 28), background -1
    let eraser = Augment {
        max_shift: 0.0,
        max_rotation: 0.0,
        from_epoch: 1,
        flip: false,
        erase: true,
    };
    tch::manual_seed(7);
    let a = eraser.apply(&xs).unwrap();
    let changed = (&a - &xs).abs().gt(1e-5); // (64, 1, 28, 28)
    let mut n_erased = 0;
    for i in 0..64 {
        let c = changed.get(i).get(0); // (28, 28)
        let n = i64::try_from(c.sum(Kind::Int64)).unwrap();
        if n == 0 {
            continue;
        }
        n_erased += 1;
        // The changed pixels lie in a rectangle whose every pixel is 0 in the output.
        let rows = Vec::<bool>::try_from(c.any_dim(1, false)).unwrap();
        let cols = Vec::<bool>::try_from(c.any_dim(0, false)).unwrap();
        let span = |v: &[bool]| {
            let first = v.iter().position(|&b| b).unwrap();
            let last = v.iter().rposition(|&b| b).unwrap();
            (first as i64, last as i64 - first as i64 + 1)
        };
        let ((r0, rh), (c0, cw)) = (span(&rows), span(&cols));
        let patch = a.get(i).get(0).narrow(0, r0, rh).narrow(1, c0, cw);
        let patch_max = f64::try_from(patch.abs().max()).unwrap();
        assert!(
            patch_max < 1e-6,
            "image {i}: the erased rectangle rows {r0}+{rh}, columns {c0}+{cw} is not all 0 \
             (largest {patch_max})"
        );
        // 0 replaced pixels that were not 0 already; the rectangle can be larger than what
        // changed only where the image was 0 there, so its area bounds the draw from above.
        let area = (rh * cw) as f64 / 784.0;
        assert!(area <= 0.34, "image {i}: {area} of the image erased");
    }
    println!("erased {n_erased} of 64");
    // Binomial(64, 1/2): outside 16..=48 has odds below 1e-4.
    assert!((16..=48).contains(&n_erased), "{n_erased} of 64 erased");
    tch::manual_seed(7);
    assert!(eraser.apply(&xs).unwrap().equal(&a));
    // Erasing adds its draws after the shifts and rotations: the images it leaves alone are
    // the erase-free draw of the same seed.
    let n_agree = agreeing_with_the_default_draw(
        &xs,
        Augment {
            erase: true,
            ..Augment::default()
        },
    );
    assert!(
        (16..=48).contains(&n_agree),
        "with erasing the untouched images must be the erase-free draw: {n_agree} of 64 agree"
    );
}

#[test]
fn label_smoothing_mixes_cross_entropy_with_the_uniform_target() {
    let _g = rng_lock();
    let data = load_mnist(Some(32), Some(0));
    let config = |eps: f64| TrainConfig {
        label_smoothing: eps,
        ..Default::default()
    };
    let t = trainer_for(tiny(), 3, config(0.1));
    tch::manual_seed(1);
    let (logits, loss) = t
        .forward_loss(&data.train.images().unwrap(), &data.train.labels)
        .unwrap();
    let logp = logits.log_softmax(-1, Kind::Double); // (32, 10)
    let nll = -logp
        .gather(1, &data.train.labels.view([-1, 1]), false)
        .mean(Kind::Double);
    let uniform = -logp.mean(Kind::Double);
    let expected = f64::try_from(0.9 * nll + 0.1 * uniform).unwrap();
    let got = f64::try_from(&loss).unwrap();
    assert!(
        (got - expected).abs() < 1e-5,
        "smoothed loss {got}, by hand {expected}"
    );
}

fn fast_run(dir: &std::path::Path) -> Run {
    let train = TrainConfig {
        epochs: 2,
        batch_size: 32,
        curve_every_steps: 1,
        eval_every_steps: 3,
        ..Recipe::Fast.config()
    };
    tiny_run(dir, train, Recipe::Fast.plan())
}

#[test]
fn a_fast_run_resumes_exactly_and_refuses_another_recipe() {
    let _g = rng_lock();
    let dirs = tempfile::tempdir().unwrap();
    let mut whole = fast_run(&dirs.path().join("whole"));
    assert_eq!(
        whole.train(&mut Silent, StopAt::default()).unwrap(),
        RunEnd::Finished
    );
    // Stopped after 7 of the 10 steps (mid-epoch 2, mid-schedule), saved, resumed from disk.
    let dir = dirs.path().join("parts");
    let mut first = fast_run(&dir);
    let budget = StopAt {
        steps: Some(7),
        ..Default::default()
    };
    assert_eq!(first.train(&mut Silent, budget).unwrap(), RunEnd::Paused);
    drop(first);
    let refused = Run::resume(
        &dir,
        &ResumeRequest {
            recipe: Some(Recipe::Article),
            ..Default::default()
        },
    );
    let message = refused
        .err()
        .expect("another recipe is refused")
        .to_string();
    assert!(
        message
            .contains("--recipe article would change the run (it was started with --recipe fast)"),
        "{message}"
    );
    let same = ResumeRequest {
        recipe: Some(Recipe::Fast),
        ..Default::default()
    };
    let mut resumed = Run::resume(&dir, &same).unwrap();
    assert_eq!(resumed.trainer.config(), whole.trainer.config());
    assert_eq!(
        resumed.train(&mut Silent, StopAt::default()).unwrap(),
        RunEnd::Finished
    );
    let record = |r: &vggnet::train::EpochRecord| (r.train_loss, r.train_accuracy, r.val_accuracy);
    assert_eq!(
        resumed
            .trainer
            .history
            .iter()
            .map(record)
            .collect::<Vec<_>>(),
        whole.trainer.history.iter().map(record).collect::<Vec<_>>()
    );
    assert_eq!(
        resumed
            .trainer
            .evals
            .iter()
            .map(|e| (e.step, e.val_accuracy))
            .collect::<Vec<_>>(),
        whole
            .trainer
            .evals
            .iter()
            .map(|e| (e.step, e.val_accuracy))
            .collect::<Vec<_>>()
    );
    assert_same_weights(
        whole.trainer.model(),
        resumed.trainer.model(),
        "the resumed fast run differs",
    );
    // The schedule really ran: the last step's rate is the floor (1% of the peak).
    let floor = 0.01 * Recipe::Fast.config().optimizer.lr;
    let last = whole.trainer.lr();
    assert!(
        (last - floor).abs() < 1e-15,
        "last rate {last}, floor {floor}"
    );
}

/// `vggnet train` hands the flags given to the library's merge (`vggnet::settings::from_recipe`,
/// unit-tested in src/settings/mod.rs) and metrics.json records what ran: the recipe's own
/// settings where no flag was given, the flags' values where one was.
#[test]
fn the_cli_recipe_flag_takes_the_recipe_and_explicit_flags_win() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("given");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_vggnet"))
        .args([
            "train",
            "--recipe",
            "fast",
            "--dry-run",
            "--no-plots",
            "--offline",
            "--lr",
            "1e-3",
            "--augment",
            "1,5",
            "--label-smoothing",
            "0.05",
            "--out",
        ])
        .arg(&dir)
        .env("MNIST_DIR", mnist_dir())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap();
    let (config, plan) = (&metrics["config"], &metrics["run"]["plan"]);
    assert_eq!(config["optimizer"]["lr"].as_f64(), Some(1e-3));
    assert_eq!(config["optimizer"]["weight_decay"].as_f64(), Some(1e-4));
    assert_eq!(plan["schedule"]["kind"].as_str(), Some("warmup_cosine"));
    assert_eq!(plan["schedule"]["warmup"].as_f64(), Some(0.1));
    assert_eq!(config["label_smoothing"].as_f64(), Some(0.05));
    assert_eq!(plan["augment"]["max_shift"].as_f64(), Some(1.0));
    assert_eq!(plan["augment"]["max_rotation"].as_f64(), Some(5.0));
    assert_eq!(plan["augment"]["from_epoch"].as_u64(), Some(2));
    // Bad values are refused before anything is written.
    for (flag, value, says) in [
        ("--augment", "3", "expected `none` or SHIFT,DEGREES"),
        ("--augment", "2,10,x", "expected `none` or SHIFT,DEGREES"),
        ("--augment", "2,10,0", "a first epoch of at least 1, got"),
        (
            "--warmup",
            "1.5",
            "warm-up must be a fraction in [0, 1), got 1.5",
        ),
        (
            "--label-smoothing",
            "1.0",
            "label smoothing must be in [0, 1), got 1",
        ),
        ("--batch-size", "0", "batch size must be at least 1"),
    ] {
        let dir = tmp.path().join("refused");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vggnet"))
            .args([
                "train",
                "--recipe",
                "fast",
                "--dry-run",
                "--offline",
                "--out",
            ])
            .arg(&dir)
            .args([flag, value])
            .env("MNIST_DIR", mnist_dir())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{flag} {value}: {err}"
        );
        assert!(!dir.exists(), "{flag} {value}: nothing written");
    }
}

/// The fast recipe augments from its second epoch on: its first epoch is step for step the
/// same as without augmentation, its second is not.
#[test]
fn augmentation_starts_at_its_epoch() {
    let _g = rng_lock();
    let tmp = tempfile::tempdir().unwrap();
    let base = TrainConfig {
        epochs: 2,
        batch_size: 32,
        curve_every_steps: 1,
        ..Recipe::Fast.config()
    };
    let plan = Recipe::Fast.plan();
    assert_eq!(plan.augment.map(|a| a.from_epoch), Some(2));
    let losses = |name: &str, plan: Plan| {
        let mut run = tiny_run(&tmp.path().join(name), base.clone(), plan);
        assert_eq!(
            run.train(&mut Silent, StopAt::default()).unwrap(),
            RunEnd::Finished
        );
        let per_epoch = |e: usize| -> Vec<f64> {
            let c = run.trainer.curve.iter().filter(|p| p.epoch == e);
            c.map(|p| p.running_loss).collect()
        };
        (per_epoch(1), per_epoch(2))
    };
    let with = losses("with", plan);
    let without = losses(
        "without",
        Plan {
            augment: None,
            ..plan
        },
    );
    assert_eq!(with.0.len(), 5);
    assert_eq!(with.0, without.0, "epoch 1 is not augmented");
    assert_ne!(with.1, without.1, "epoch 2 is");
}

// The schedule and augmentation settings (src/recipe/).

#[test]
fn constant_is_the_peak_at_every_step() {
    for step in [0, 1, 500, 10_000] {
        assert_eq!(LrSchedule::Constant.lr_at(1e-3, step, 100), 1e-3);
    }
}

/// 1,000 steps, 10% warm-up to 3e-4, cosine to 1% of it: rising linearly over steps
/// 0-99 to the peak, the peak at the first step after, half-way down at the middle of
/// the decay, 1% at the last step, never below it after the run.
#[test]
fn warmup_cosine_rises_peaks_and_decays_to_its_floor() {
    let s = LrSchedule::WarmupCosine {
        warmup: 0.1,
        final_fraction: 0.01,
    };
    let lr = |step| s.lr_at(3e-4, step, 1000);
    assert!((lr(0) - 3e-6).abs() < 1e-12, "{}", lr(0));
    assert!((lr(49) - 1.5e-4).abs() < 1e-12, "{}", lr(49));
    assert!((lr(99) - 3e-4).abs() < 1e-12);
    assert!((lr(100) - 3e-4).abs() < 1e-12);
    let middle = 100 + (999 - 100) / 2;
    let half = 3e-6 + (3e-4 - 3e-6) * 0.5;
    assert!((lr(middle) - half).abs() < 1e-6, "{}", lr(middle));
    assert!((lr(999) - 3e-6).abs() < 1e-12, "{}", lr(999));
    assert!((lr(5000) - 3e-6).abs() < 1e-12);
    // Monotone: up during the warm-up, down after it.
    assert!((0..99).all(|i| lr(i) < lr(i + 1)));
    assert!((100..999).all(|i| lr(i) >= lr(i + 1)));
}

/// A saved augmentation reads back as it was written; one with a setting missing is refused,
/// naming it (no setting is guessed: a guess would replay another run).
#[test]
fn a_saved_augmentation_reads_back_whole_or_not_at_all() {
    let a = Augment {
        flip: true,
        ..Augment::default()
    };
    let text = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<Augment>(&text).unwrap(), a);
    let err = serde_json::from_str::<Augment>(r#"{"max_shift": 2.0, "max_rotation": 10.0}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("from_epoch"), "{err}");
}

/// Degenerate runs: one step, no warm-up asked (one step of warm-up is the least).
#[test]
fn short_runs_stay_finite_and_in_range() {
    let s = LrSchedule::WarmupCosine {
        warmup: 0.0,
        final_fraction: 0.01,
    };
    for total in [0, 1, 2, 3] {
        for step in 0..4 {
            let v = s.lr_at(1e-3, step, total);
            assert!(
                v.is_finite() && (1e-5 - 1e-12..=1e-3 + 1e-12).contains(&v),
                "{v}"
            );
        }
    }
}
