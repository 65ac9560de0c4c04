//! Training recipes beside the article's loop: the named recipes ([`Recipe`]) and what a recipe
//! changes step by step ([`Plan`]): a learning-rate schedule over the whole run
//! ([`LrSchedule`]) and light, seeded augmentation of each batch ([`Augment`]). The article's
//! recipe (constant rate, plain cross-entropy, no augmentation) is the core's
//! [`crate::train::Trainer::fit`]; the fast recipe is an experiment run through
//! [`crate::train::Trainer::fit_with`].

mod augment;
mod schedule;

pub use augment::Augment;
pub use schedule::LrSchedule;

use crate::data::Split;
use crate::error::{Error, Result};
use crate::eval::{evaluate_by, Evaluation};
use crate::model::Vgg;
use crate::train::optim::AdamWConfig;
use crate::train::{StepPlan, TrainConfig};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The named recipes: the article's settings, or the fast one (`--recipe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Recipe {
    /// The article's: constant learning rate 1e-3, plain cross-entropy, no augmentation.
    #[default]
    Article,
    /// Warm-up + cosine learning rate (peak 3e-4), label smoothing 0.1, shifted and rotated
    /// images from epoch 2 on.
    Fast,
}

impl std::fmt::Display for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Recipe::Article => "article",
            Recipe::Fast => "fast",
        })
    }
}

/// Where the fast recipe's cosine ends, as a fraction of the peak learning rate.
pub const FAST_FINAL_FRACTION: f64 = 0.01;

impl Recipe {
    /// The recipe's training settings (5 epochs, batch 64, the article's network either way):
    /// the article's [`TrainConfig::default`], or the fast recipe's AdamW (weight decay 1e-4)
    /// at a peak rate of 3e-4 with label smoothing 0.1.
    ///
    /// Why 3e-4: at the article's 1e-3 this network stays on its initial plateau (loss 2.30)
    /// for ~200 steps, at 3e-4 it leaves it within ~100 (notebook 02's side-by-side
    /// experiment, run on the article's network); one epoch with augmentation, seed 42
    /// (results/recipes): peak 3e-4 96.06% after 300 steps and 98.93% at the end, peak 1e-3
    /// 88.39% and 98.83%. One epoch of this recipe (so without augmentation), seeds 1, 2, 42:
    /// 99.07 +- 0.19% on the test set.
    pub fn config(self) -> TrainConfig {
        match self {
            Recipe::Article => TrainConfig::default(),
            Recipe::Fast => TrainConfig {
                optimizer: AdamWConfig {
                    lr: 3e-4,
                    ..AdamWConfig::default()
                },
                label_smoothing: 0.1,
                ..TrainConfig::default()
            },
        }
    }

    /// What the recipe changes step by step: nothing for the article's; for the fast one, a
    /// linear warm-up over the first 10% of the run's steps and a cosine decay to 1% of the
    /// peak, so the weights settle instead of swinging at the end (the schedule spans the
    /// run's epochs: a one-epoch run decays within its epoch), and from the second epoch on
    /// each training image shifted by up to 2 pixels and rotated by up to 10 degrees (see
    /// [`Augment`] for why not in the first).
    pub fn plan(self) -> Plan {
        match self {
            Recipe::Article => Plan::default(),
            Recipe::Fast => Plan {
                schedule: LrSchedule::WarmupCosine {
                    warmup: 0.1,
                    final_fraction: FAST_FINAL_FRACTION,
                },
                augment: Some(Augment::default()),
            },
        }
    }

    /// Which named recipe `config` and `plan` follow, when their recipe choices (schedule,
    /// label smoothing, augmentation) are one recipe's.
    pub fn which(config: &TrainConfig, plan: &Plan) -> Option<Recipe> {
        [Recipe::Article, Recipe::Fast]
            .into_iter()
            .find(|&r| r.plan() == *plan && r.config().label_smoothing == config.label_smoothing)
    }
}

/// What a recipe changes in the article's loop, step by step: the learning rate of each step
/// and the pictures of each batch. The default is the article's (constant, none).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The learning rate over the run (the article's: constant).
    pub schedule: LrSchedule,
    /// Random shifts and rotations of the training images (the article's: none).
    pub augment: Option<Augment>,
}

impl Plan {
    /// Checks the schedule and the augmentation, naming the setting that cannot run.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(what));
        if let LrSchedule::WarmupCosine {
            warmup,
            final_fraction,
        } = self.schedule
        {
            if !(0.0..1.0).contains(&warmup) {
                return bad(format!(
                    "warm-up must be a fraction in [0, 1), got {warmup}"
                ));
            }
            if !(0.0..=1.0).contains(&final_fraction) {
                return bad(format!(
                    "the schedule's final fraction must be in [0, 1], got {final_fraction}"
                ));
            }
        }
        if let Some(a) = self.augment {
            let ok = |x: f64| x.is_finite() && x >= 0.0;
            if !ok(a.max_shift) || !ok(a.max_rotation) || a.from_epoch == 0 {
                return bad(format!(
                    "augmentation needs shifts and rotations of 0 or more and a first epoch \
                     of at least 1, got {a:?}"
                ));
            }
        }
        Ok(())
    }
}

impl StepPlan for Plan {
    fn lr(&self, peak: f64, step: u64, total: u64) -> f64 {
        self.schedule.lr_at(peak, step, total)
    }

    fn pictures(&self, xs: Tensor, epoch: usize) -> Result<Tensor> {
        match self.augment.filter(|a| a.active_in(epoch)) {
            Some(a) => a.apply(&xs), // (B, C, S, S), shifted and rotated
            None => Ok(xs),
        }
    }
}

/// [`crate::eval::evaluate`] with each picture's prediction made from the mean of the class
/// probabilities of the picture and of its left-right mirror image (test-time augmentation).
/// For models trained on mirrored pictures (`--augment ...,flip`: clothes, objects); mirrored
/// digits are no digits. Twice the arithmetic of `evaluate`.
pub fn evaluate_mirrored(model: &Vgg, split: &Split, batch_size: usize) -> Result<Evaluation> {
    let logits = |x: &Tensor| model.forward_t(x, false);
    evaluate_by(model, split, batch_size, &|x| mirrored_scores(x, &logits))
}

/// The class probabilities of the pictures `xs` (B, C, S, S) and of their mirror images,
/// summed, (B, classes), from the eval-mode `logits`: their argmax is the mean's.
pub fn mirrored_scores(xs: &Tensor, logits: &dyn Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let mirrored = logits(&xs.f_flip([3])?)?; // (B, classes), the pictures' columns reversed
    Ok(logits(xs)?
        .f_softmax(-1, Kind::Float)?
        .f_add(&mirrored.f_softmax(-1, Kind::Float)?)?)
}
