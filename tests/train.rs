//! Training: seeded runs are reproducible and resumed runs are exact (on a narrow network of
//! the article's shape). Whether the article's network learns is checked once in `make test`,
//! on notebook 02's run (scripts/run_notebooks.py: at least 90% after 12,800 digits x 2 epochs).

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tch::Device;
use vggnet::checkpoint::{load_training_state, save_training_state};
use vggnet::data::Mnist;
use vggnet::train::{BatchProgress, CurvePoint, Observer, Silent, TrainConfig, Trainer};

/// Torch's RNG (init, dropout) is process-global and the test harness runs tests on threads:
/// each test holds this lock so no other test draws from the generator meanwhile.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

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

fn fit(t: &mut Trainer, data: &Mnist, obs: &mut dyn Observer) -> vggnet::Result<()> {
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
            .map(|r| (r.train_loss, r.train_accuracy, r.test_accuracy))
            .collect(),
        t.evals.iter().map(|e| (e.step, e.test_accuracy)).collect(),
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
    for ((name, a), (_, b)) in full
        .model
        .named_parameters()
        .iter()
        .zip(resumed.model.named_parameters().iter())
    {
        assert!(
            a.equal(b),
            "{name}: weights differ after the mid-epoch resume"
        );
    }

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
