//! Small experiments for the notebooks: a learning-rate range test and a side-by-side of a few
//! training settings, each a fixed number of steps of the same [`Trainer::step`] that training
//! runs, so they finish in minutes on a CPU.

use crate::data::Split;
use crate::error::{Error, Result};
use crate::model::{Vgg, VggConfig};
use crate::recipe::Plan;
use crate::run::StepLimit;
use crate::train::{BatchProgress, EvalPoint, Observer, TrainConfig, Trainer};
use tch::Device;

/// A fresh model seeded with `train.seed` and its trainer.
fn fresh_trainer(model: &VggConfig, train: TrainConfig, device: Device) -> Result<Trainer> {
    tch::manual_seed(train.seed as i64);
    trainer_for(Vgg::new(model.clone(), device)?, train)
}

/// The trainer of `model` with `train`, `fastest` resolved on the model's device first (measured
/// once per CPU, then cached): the experiments take a notebook's settings as they are, and run
/// at the engine's speed ([`crate::engine::speed_up`]).
fn trainer_for(model: Vgg, train: TrainConfig) -> Result<Trainer> {
    let amp = train.amp.resolve(model.device());
    let mut trainer = Trainer::new(model, TrainConfig { amp, ..train })?;
    crate::engine::speed_up(&mut trainer);
    Ok(trainer)
}

/// Exponential moving average with bias correction (as in Adam), one value at a time.
#[derive(Debug, Clone, Copy)]
struct Ema {
    beta: f64,
    avg: f64,
    n: i32,
}

impl Ema {
    fn new(beta: f64) -> Self {
        Ema {
            beta,
            avg: 0.0,
            n: 0,
        }
    }

    /// Adds `v` and returns the smoothed value so far.
    fn push(&mut self, v: f64) -> f64 {
        self.avg = self.beta * self.avg + (1.0 - self.beta) * v;
        self.n += 1;
        self.avg / (1.0 - self.beta.powi(self.n))
    }
}

/// Exponential moving average with bias correction (as in Adam): the smoothed value after
/// each point of `values`.
pub fn smooth(values: &[f64], beta: f64) -> Vec<f64> {
    let mut ema = Ema::new(beta);
    values.iter().map(|&v| ema.push(v)).collect()
}

/// Settings of [`lr_range_test`]. `Default`: 1e-6 to 1, 100 steps of 64 images.
#[derive(Debug, Clone, PartialEq)]
pub struct LrRangeConfig {
    pub start_lr: f64,
    pub end_lr: f64,
    /// Steps from `start_lr` to `end_lr` (the learning rate grows geometrically).
    pub steps: usize,
    /// Training settings other than the learning rate (batch size, weight decay, seed).
    pub train: TrainConfig,
    /// Smoothing of the loss curve (moving-average factor).
    pub beta: f64,
    /// Stop once the smoothed loss exceeds this many times its minimum (it has diverged).
    pub stop_factor: f64,
}

impl Default for LrRangeConfig {
    fn default() -> Self {
        LrRangeConfig {
            start_lr: 1e-6,
            end_lr: 1.0,
            steps: 100,
            train: TrainConfig::default(),
            beta: 0.9,
            stop_factor: 4.0,
        }
    }
}

/// One step of the range test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrPoint {
    pub step: usize,
    pub lr: f64,
    /// The batch's loss.
    pub loss: f64,
    /// The smoothed loss.
    pub smoothed: f64,
}

/// The result of [`lr_range_test`].
#[derive(Debug, Clone, PartialEq)]
pub struct LrRange {
    pub points: Vec<LrPoint>,
    /// The learning rate where the smoothed loss was lowest.
    pub lr_at_min: f64,
    /// The first learning rate past the minimum where the smoothed loss reached twice its
    /// minimum: training blows up from here (the last rate tried when it never did).
    pub lr_at_blowup: f64,
    /// A learning rate to train with: a tenth of `lr_at_blowup`, a safe step back from where
    /// training comes apart.
    pub suggested: f64,
    /// True when the test stopped early because the loss diverged.
    pub diverged: bool,
}

/// The learning-rate range test (Smith, 2017): trains `model` (a fresh one, or a trained one
/// to see how far its training can be pushed) for `cfg.steps` steps with the learning rate
/// rising geometrically from `start_lr` to `end_lr`, one batch per step, and records the loss.
/// The loss falls while the rate helps and explodes once it is too large; a good rate lies
/// before the minimum. The model is consumed: it ends the test ruined.
pub fn lr_range_test(model: Vgg, train: &Split, cfg: &LrRangeConfig) -> Result<LrRange> {
    if cfg.steps < 2 || cfg.start_lr <= 0.0 || cfg.end_lr <= cfg.start_lr {
        return Err(Error::Config(format!(
            "lr range test: need at least 2 steps and 0 < start_lr < end_lr, got {} steps from {} to {}",
            cfg.steps, cfg.start_lr, cfg.end_lr
        )));
    }
    if train.is_empty() {
        return Err(Error::Config("lr range test: no training images".into()));
    }
    tch::manual_seed(cfg.train.seed as i64);
    let mut trainer = trainer_for(model, cfg.train.clone())?;
    let bs = trainer.config().batch_size; // at least 1: validated in Trainer::new
    let order = train.order(Some(cfg.train.seed));
    let ratio = cfg.end_lr / cfg.start_lr;
    let mut points: Vec<LrPoint> = Vec::with_capacity(cfg.steps);
    let mut ema = Ema::new(cfg.beta);
    let mut best = f64::INFINITY;
    let mut diverged = false;
    for (step, chunk) in order.chunks(bs).cycle().take(cfg.steps).enumerate() {
        let lr = cfg.start_lr * ratio.powf(step as f64 / (cfg.steps - 1) as f64);
        trainer.set_lr(lr);
        let (xs, ys) = train.gather(chunk)?; // (B, C, S, S), (B,)
        let loss = match trainer.step(&xs, &ys) {
            Ok(out) => out.loss,
            Err(Error::NonFiniteLoss { .. }) => f64::INFINITY,
            Err(e) => return Err(e),
        };
        if !loss.is_finite() {
            diverged = true;
            break;
        }
        let smoothed = ema.push(loss);
        points.push(LrPoint {
            step,
            lr,
            loss,
            smoothed,
        });
        best = best.min(smoothed);
        if step > 10 && smoothed > cfg.stop_factor * best {
            diverged = true;
            break;
        }
    }
    let min = points
        .iter()
        .min_by(|a, b| a.smoothed.total_cmp(&b.smoothed))
        .copied();
    let lr_at_min = min.map_or(cfg.start_lr, |p| p.lr);
    let lr_at_blowup = min
        .and_then(|m| {
            points
                .iter()
                .find(|p| p.step > m.step && p.smoothed >= 2.0 * m.smoothed)
        })
        .or(points.last())
        .map_or(cfg.end_lr, |p| p.lr);
    Ok(LrRange {
        points,
        lr_at_min,
        lr_at_blowup,
        suggested: lr_at_blowup / 10.0,
        diverged,
    })
}

/// One setting of [`compare`]: its name, its training settings, and its recipe's plan (the
/// learning rate and pictures of each step; the article's changes neither).
#[derive(Debug, Clone)]
pub struct Setting {
    pub name: String,
    pub config: TrainConfig,
    pub plan: Plan,
}

impl Setting {
    /// `config` in the article's loop: its rate at every step, the pictures as they are.
    pub fn new(name: &str, config: TrainConfig) -> Self {
        Setting::with_plan(name, config, Plan::default())
    }

    /// `config` with a recipe's `plan` (`Recipe::Fast.plan()`: warm-up, cosine, augmentation).
    pub fn with_plan(name: &str, config: TrainConfig, plan: Plan) -> Self {
        Setting {
            name: name.to_string(),
            config,
            plan,
        }
    }
}

/// One setting's run in [`compare`].
#[derive(Debug)]
pub struct Trial {
    pub name: String,
    pub config: TrainConfig,
    /// (step, batch loss) for every step.
    pub losses: Vec<(u64, f64)>,
    /// Validation accuracy every `eval_every_steps` steps (from the trainer).
    pub evals: Vec<EvalPoint>,
    /// Training seconds, evaluations excluded.
    pub seconds: f64,
    /// The model as the trial left it.
    pub model: Vgg,
}

impl Trial {
    /// The batch losses smoothed with factor `beta`, as (step, loss).
    pub fn smoothed_losses(&self, beta: f64) -> Vec<(u64, f64)> {
        let values: Vec<f64> = self.losses.iter().map(|p| p.1).collect();
        self.losses
            .iter()
            .zip(smooth(&values, beta))
            .map(|(p, s)| (p.0, s))
            .collect()
    }

    /// The last validation accuracy measured.
    pub fn final_accuracy(&self) -> Option<f64> {
        self.evals.last().map(|e| e.val_accuracy)
    }
}

/// Records every batch loss and passes progress on.
struct Record<'a> {
    inner: &'a mut dyn Observer,
    losses: Vec<(u64, f64)>,
}

impl Observer for Record<'_> {
    /// The trainer's own notes (its precision, with the command line's hints) are left out:
    /// [`compare`] says the precision once, for all its settings.
    fn on_message(&mut self, _: &str) {}
    fn on_batch(&mut self, p: &BatchProgress) {
        self.losses.push((p.global_step, p.loss));
        self.inner.on_batch(p);
    }
    fn on_eval(&mut self, e: &EvalPoint) {
        self.inner.on_eval(e);
    }
}

/// Trains a fresh model (each seeded alike) for `steps` optimizer steps with each of
/// `settings` on `train`, evaluating on `validation` (held out of the training pictures: the
/// settings are compared there, not on the test set) every `eval_every_steps` of each setting (and
/// at the end), through [`Trainer::fit`]: the same loop as a real run, cut at the step budget.
pub fn compare(
    model: &VggConfig,
    train: &Split,
    validation: &Split,
    settings: &[Setting],
    steps: u64,
    device: Device,
    obs: &mut dyn Observer,
) -> Result<Vec<Trial>> {
    let mut trials = Vec::with_capacity(settings.len());
    let precisions: Vec<&str> = settings
        .iter()
        .map(|s| Ok(crate::train::Precision::of(s.config.amp, device)?.describe()))
        .collect::<Result<_>>()?;
    if let Some(first) = precisions.first() {
        if precisions.iter().all(|p| p == first) {
            obs.on_message(&format!("every setting trains in {first}"));
        }
    }
    for Setting { name, config, plan } in settings {
        obs.on_message(&format!("{name}: {steps} steps"));
        let mut trainer = fresh_trainer(model, config.clone(), device)?;
        let mut record = Record {
            inner: obs,
            losses: Vec::with_capacity(steps as usize),
        };
        let flag = trainer.stop_flag();
        let mut limit = StepLimit::new(&mut record, flag, Some(steps));
        match trainer.fit_with(plan, train, Some(validation), &mut limit, &mut |_| Ok(())) {
            Ok(()) | Err(Error::Interrupted) => {}
            Err(e) => return Err(e),
        }
        let losses = record.losses;
        let seconds = trainer.position.train_seconds;
        let mut evals = trainer.evals.clone();
        let last_step = trainer.position.global_step;
        if evals.last().is_none_or(|e| e.step != last_step) {
            let acc = crate::engine::packed::evaluate(
                trainer.model(),
                validation,
                config.eval_batch_size,
            )?;
            evals.push(EvalPoint {
                step: last_step,
                epoch: trainer.position.epoch + 1,
                train_seconds: seconds,
                val_accuracy: acc.accuracy,
            });
        }
        obs.on_message(&format!(
            "{name}: validation accuracy {:.2}% after {last_step} steps ({seconds:.0}s of training)",
            evals.last().map_or(0.0, |e| e.val_accuracy)
        ));
        trials.push(Trial {
            name: name.clone(),
            config: config.clone(),
            losses,
            evals,
            seconds,
            model: trainer.into_model(),
        });
    }
    Ok(trials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_a_bias_corrected_moving_average() {
        let s = smooth(&[2.0, 2.0, 2.0], 0.9);
        assert!(s.iter().all(|v| (v - 2.0).abs() < 1e-12), "{s:?}");
        let s = smooth(&[1.0, 3.0], 0.5);
        assert!((s[0] - 1.0).abs() < 1e-12);
        // (0.5 * 0.5 + 0.5 * 3) / (1 - 0.5^2)
        assert!((s[1] - 7.0 / 3.0).abs() < 1e-12, "{s:?}");
    }
}
