//! Training: seeded runs are reproducible and resumed runs are exact (on a narrow network of
//! the article's shape), and notebook 02's loop is `Run::train`'s. Whether the article's network
//! learns is checked once in `make test`, on notebook 02's run (scripts/run_notebooks.py,
//! `LEARNING_BAR`: at least 97% on the 10,000 test digits after its run).

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tch::Device;
use vggnet::data::Data;
use vggnet::recipe::Recipe;
use vggnet::train::state::{load_training_state, save_training_state};
use vggnet::train::{BatchProgress, CurvePoint, Observer, Silent, TrainConfig, Trainer};

/// A trainer for the small network (seeding, resumption and the loop do not depend on the
/// width) with per-step curve points and periodic evaluations.
fn trainer(seed: u64, epochs: usize) -> Trainer {
    let config = TrainConfig {
        epochs,
        seed,
        curve_every_steps: 1,
        eval_every_steps: 2,
        ..Default::default()
    };
    trainer_for(tiny(), seed as i64, config)
}

fn fit(t: &mut Trainer, data: &Data, obs: &mut dyn Observer) -> vggnet::Result<()> {
    t.fit(&data.train, Some(&data.test), obs, &mut |_| Ok(()))
}

/// Per-batch losses, recorded through the observer.
#[derive(Default)]
struct Losses(Vec<f64>);
impl Observer for Losses {
    fn on_batch(&mut self, p: &BatchProgress) {
        self.0.push(p.loss);
    }
}

#[test]
fn same_seed_gives_identical_losses() {
    let _rng = rng_lock();
    let data = load_mnist(Some(192), Some(64));
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut t = trainer(7, 1);
        let mut losses = Losses::default();
        fit(&mut t, &data, &mut losses).unwrap();
        runs.push(losses.0);
    }
    assert_eq!(runs[0].len(), 3);
    assert_eq!(runs[0], runs[1], "same seed, different losses");
    let mut other = trainer(8, 1);
    let mut losses = Losses::default();
    fit(&mut other, &data, &mut losses).unwrap();
    assert_ne!(
        runs[0], losses.0,
        "a different seed should give different losses"
    );
}

/// Stops training (like Ctrl-C) once batch `at` of epoch `epoch` is done.
struct StopAt {
    flag: Arc<AtomicBool>,
    epoch: usize,
    at: usize,
}
impl Observer for StopAt {
    fn on_batch(&mut self, p: &BatchProgress) {
        if p.epoch == self.epoch && p.batch == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

/// Everything a run records except wall times: per-epoch figures, evaluations, curve.
type Comparable = (
    Vec<(f64, f64, Option<f64>)>,
    Vec<(u64, f64)>,
    Vec<CurvePoint>,
);

fn comparable(t: &Trainer) -> Comparable {
    (
        t.history
            .iter()
            .map(|r| (r.train_loss, r.train_accuracy, r.val_accuracy))
            .collect(),
        t.evals.iter().map(|e| (e.step, e.val_accuracy)).collect(),
        t.curve.clone(),
    )
}

#[test]
fn resumed_runs_are_exact_at_epoch_ends_and_mid_epoch() {
    let _rng = rng_lock();
    let data = load_mnist(Some(160), Some(64));
    let mut full = trainer(21, 3);
    fit(&mut full, &data, &mut Silent).unwrap();
    let reference = comparable(&full);
    assert_eq!(reference.0.len(), 3);
    assert!(!reference.1.is_empty() && !reference.2.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Interrupted in the middle of epoch 2 (after its 2nd batch), saved, reloaded, resumed.
    let mut first = trainer(21, 3);
    let mut stop = StopAt {
        flag: first.stop_flag(),
        epoch: 2,
        at: 1,
    };
    let err = fit(&mut first, &data, &mut stop).unwrap_err();
    assert!(matches!(err, vggnet::Error::Interrupted));
    assert_eq!((first.position.epoch, first.position.batch), (1, 2));
    save_training_state(&first, &state).unwrap();
    drop(first);
    let mut resumed = load_training_state(&state, Device::Cpu).unwrap();
    fit(&mut resumed, &data, &mut Silent).unwrap();
    assert_eq!(comparable(&resumed), reference, "mid-epoch resume diverged");
    assert_same_weights(
        full.model(),
        resumed.model(),
        "weights differ after the mid-epoch resume",
    );

    // Interrupted exactly at an epoch boundary.
    let mut first = trainer(21, 3);
    let mut stop = StopAt {
        flag: first.stop_flag(),
        epoch: 1,
        at: 2,
    };
    assert!(fit(&mut first, &data, &mut stop).is_err());
    save_training_state(&first, &state).unwrap();
    let mut resumed = load_training_state(&state, Device::Cpu).unwrap();
    fit(&mut resumed, &data, &mut Silent).unwrap();
    assert_eq!(
        comparable(&resumed),
        reference,
        "epoch-boundary resume diverged"
    );
}

/// The notebook's hand-run step: the public pieces, called one after another, and notebook 02's
/// lines in tch's words (`zero_grad`, forward, cross-entropy, `scale(loss).backward()`,
/// `scaler.step`, `scaler.update`) are exactly `Trainer::step` (with the grad scaler switched
/// on, so unscaling is exercised too).
#[test]
fn the_pieces_run_by_hand_are_the_step() {
    let _rng = rng_lock();
    let data = load_mnist(Some(96), Some(0));
    let scaled = |seed: u64| {
        let mut t = trainer(seed, 1);
        *t.scaler_mut() = vggnet::train::amp::GradScaler::new(t.config().scaler, true);
        t
    };
    let mut by_step = scaled(5);
    let mut by_hand = scaled(5);
    let mut in_tch = scaled(5);
    for (b, batch) in data.train.batches(32, None).enumerate() {
        let (xs, ys) = batch.unwrap();
        tch::manual_seed(100 + b as i64);
        let out = by_step.step(&xs, &ys).unwrap();
        // Notebook 02's words: zero_grad, forward, cross-entropy, scale(loss).backward(),
        // scaler.step(optimizer), scaler.update().
        tch::manual_seed(100 + b as i64);
        let precision = in_tch.precision();
        let (model, optimizer, scaler) = in_tch.parts_mut();
        optimizer.zero_grad();
        let output = notebook::autocast_forward(model, precision, &xs).unwrap();
        let loss = output
            .to_kind(tch::Kind::Float)
            .cross_entropy_for_logits(&ys);
        scaler.scale(&loss).backward();
        let skipped = scaler.step(optimizer);
        scaler.update();
        assert_eq!(
            (f64::try_from(&loss).unwrap(), skipped),
            (out.loss, out.skipped)
        );
        tch::manual_seed(100 + b as i64);
        let (_logits, loss) = by_hand.forward_loss(&xs, &ys).unwrap();
        let grads = by_hand.scaled_grads(&loss).unwrap();
        let found_inf = by_hand.scaler().unscale_(&grads);
        if !found_inf {
            by_hand.optimizer_mut().step_grads(&grads);
        }
        by_hand.scaler_mut().update_with(found_inf);
        assert_eq!(f64::try_from(&loss).unwrap(), out.loss);
        assert_eq!(found_inf, out.skipped);
    }
    assert_eq!(by_hand.scaler().scale, by_step.scaler().scale);
    assert_eq!(in_tch.scaler().scale, by_step.scaler().scale);
    assert_same_weights(
        by_step.model(),
        by_hand.model(),
        "the hand-run loop differs from Trainer::step",
    );
    assert_same_weights(
        by_step.model(),
        in_tch.model(),
        "notebook 02's step in tch's words differs from Trainer::step",
    );
}

/// A notebook's training cell runs under a step budget and can be run again: each call
/// continues where the last stopped, and the run ends as one uninterrupted run would.
#[test]
fn a_run_trained_in_budgeted_calls_equals_one_call() {
    use vggnet::run::{RunEnd, StopAt};
    let _rng = rng_lock();
    let config = |dir: &std::path::Path| {
        let train = TrainConfig {
            epochs: 2,
            batch_size: 32,
            ..Default::default()
        };
        tiny_run(dir, train, Default::default())
    };
    let dirs = tempfile::tempdir().unwrap();
    let mut whole = config(&dirs.path().join("whole"));
    assert_eq!(
        whole.train(&mut Silent, StopAt::default()).unwrap(),
        RunEnd::Finished
    );
    let mut parts = config(&dirs.path().join("parts"));
    let budget = StopAt {
        steps: Some(3),
        ..Default::default()
    };
    let mut ends = Vec::new();
    for _ in 0..4 {
        ends.push(parts.train(&mut Silent, budget).unwrap());
        assert!(
            !parts.trainer.stop_flag().load(Ordering::SeqCst),
            "the budget's stop is lowered"
        );
    }
    // 10 steps in all: 3 + 3 + 3 + the last one.
    assert_eq!(
        ends,
        [
            RunEnd::Paused,
            RunEnd::Paused,
            RunEnd::Paused,
            RunEnd::Finished
        ]
    );
    assert_eq!(parts.trainer.position.global_step, 10);
    assert_eq!(comparable(&parts.trainer), comparable(&whole.trainer));
    assert_same_weights(
        whole.trainer.model(),
        parts.trainer.model(),
        "budgeted calls differ from one call",
    );
}

/// Notebook 02's `train_epoch` and `evaluate_model` cells: the article's loop written with the
/// trainer's pieces, at most `budget` steps per call, and its evaluation. The file is a copy of
/// the cells, held equal to notebooks/02_training.ipynb by tests/notebook_loop.rs
/// (the crate's build reads no notebook: a learner's half-edited 02 must not break it).
mod notebook {
    use tch::{Kind, Tensor};
    use vggnet::data::Split;
    use vggnet::model::Vgg;
    use vggnet::train::{EpochRecord, Precision, StepOutput, StepPlan, Trainer};
    include!("notebook/loop02.rs");
}

/// Notebook 02 trains the model the later notebooks load with its own `train_epoch` and
/// `evaluate_model` cells, a budget of steps per run of the cell, and `Run::save_epoch` after
/// each epoch. That must be `Run::train` (`Trainer::fit`, what `vggnet train` runs) exactly:
/// the same weights, the same per-epoch records, the same step curve, with the fast recipe's
/// schedule, label smoothing and second-epoch augmentation all in play, and the budget
/// stopping mid-epoch.
#[test]
fn the_notebooks_loop_is_trainer_fit() {
    use vggnet::run::StopAt;
    let _rng = rng_lock();
    let config = |dir: &std::path::Path| {
        let train = TrainConfig {
            epochs: 2,
            batch_size: 32,
            curve_every_steps: 2,
            ..Recipe::Fast.config()
        };
        tiny_run(dir, train, Recipe::Fast.plan())
    };
    let dirs = tempfile::tempdir().unwrap();
    let mut packaged = config(&dirs.path().join("packaged"));
    packaged.train(&mut Silent, StopAt::default()).unwrap();

    let mut by_hand = config(&dirs.path().join("by_hand"));
    let mut runs_of_the_cell = 0;
    while !by_hand.trainer.finished() {
        runs_of_the_cell += 1;
        let mut budget = 3;
        while !by_hand.trainer.finished() && budget > 0 {
            let Some(mut record) = notebook::train_epoch(
                &mut by_hand.trainer,
                &by_hand.spec.plan,
                &by_hand.data.train,
                &mut budget,
            )
            .unwrap() else {
                break;
            };
            record.val_accuracy = Some(
                notebook::evaluate_model(by_hand.trainer.model(), &by_hand.data.validation)
                    .unwrap(),
            );
            by_hand.trainer.history.push(record);
            by_hand.save_epoch().unwrap();
        }
    }
    // 10 steps (5 batches of 32 per epoch) at 3 per run of the cell.
    assert_eq!(runs_of_the_cell, 4);
    assert_same_weights(
        packaged.trainer.model(),
        by_hand.trainer.model(),
        "notebook 02's loop differs from Run::train",
    );
    let records = |r: &vggnet::run::Run| {
        r.trainer
            .history
            .iter()
            .map(|e| (e.train_loss, e.train_accuracy, e.val_accuracy))
            .collect::<Vec<_>>()
    };
    assert_eq!(records(&by_hand), records(&packaged));
    assert_eq!(by_hand.trainer.curve, packaged.trainer.curve);
    assert_eq!(by_hand.trainer.position, {
        let mut p = packaged.trainer.position.clone();
        p.train_seconds = by_hand.trainer.position.train_seconds;
        p
    });
    assert!(by_hand.dir.join(vggnet::run::MODEL_FILE).exists());
}

/// Issue #54, part 5: a trainer's settings are read through `config()` and changed only through
/// setters that check the value and update what follows from it (or refuse, leaving it as it
/// was): nothing set is ignored, and nothing set panics later.
#[test]
fn the_trainers_settings_change_only_through_checked_setters() {
    use vggnet::train::{AmpMode, Precision};
    let _rng = rng_lock();
    let data = load_mnist(Some(256), Some(64));
    let mut t = trainer(3, 1);
    let before = t.config().clone();

    // A batch size of 0 (which `chunks(0)` would panic on) is refused; nothing changes.
    let e = t.set_batch_size(0).unwrap_err();
    assert!(e.to_string().contains("batch size"), "{e}");
    assert_eq!(t.config(), &before);
    // Between epochs a new batch size takes effect at once.
    t.set_batch_size(100).unwrap();
    assert_eq!(t.config().batch_size, 100);
    let sizes: Vec<usize> = t.epoch_batches(&data.train).iter().map(Vec::len).collect();
    assert_eq!(sizes, [100, 100, 56]);
    // Mid-epoch it is refused: the position counts batches of the old size.
    let batches = t.epoch_batches(&data.train);
    let (xs, ys) = t.load_batch(&data.train, 0, &batches[0]).unwrap();
    let out = t.step(&xs, &ys).unwrap();
    t.count_step(0, batches[0].len(), &out);
    let e = t.set_batch_size(50).unwrap_err();
    assert!(e.to_string().contains("only between epochs"), "{e}");
    assert_eq!(t.config().batch_size, 100);

    // Mixed precision: a change takes effect on the next step, or is refused.
    assert_eq!(t.precision(), Precision::Float32);
    t.set_amp(AmpMode::Bf16).unwrap();
    assert_eq!(
        (t.config().amp, t.precision()),
        (AmpMode::Bf16, Precision::Bfloat16)
    );
    assert!(!t.uses_grad_scaler(), "bfloat16 has no grad scaler");
    let (xs, ys) = t.load_batch(&data.train, 1, &batches[1]).unwrap();
    let (logits, _) = t.forward_loss(&xs, &ys).unwrap();
    assert_eq!(
        logits.kind(),
        tch::Kind::BFloat16,
        "the next step runs in bfloat16"
    );
    if !tch::Cuda::is_available() {
        let e = t.set_amp(AmpMode::On).unwrap_err();
        assert!(e.to_string().contains("CUDA"), "{e}");
        assert_eq!(
            t.precision(),
            Precision::Bfloat16,
            "a refused change changes nothing"
        );
    }
    t.set_amp(AmpMode::Off).unwrap();
    assert_eq!(
        (t.config().amp, t.precision()),
        (AmpMode::Off, Precision::Float32)
    );
    let (logits, _) = t.forward_loss(&xs, &ys).unwrap();
    assert_eq!(logits.kind(), tch::Kind::Float);

    // The peak learning rate: the next step's rate, or refused.
    assert!(t.set_peak_lr(-1.0).is_err());
    assert!(t.set_peak_lr(f64::NAN).is_err());
    t.set_peak_lr(3e-4).unwrap();
    assert_eq!(t.config().optimizer.lr, 3e-4);
    assert_eq!(t.lr(), 3e-4);

    // Epochs: at least one.
    assert!(t.set_epochs(0).is_err());
    t.set_epochs(2).unwrap();
    assert_eq!(t.config().epochs, 2);
}
