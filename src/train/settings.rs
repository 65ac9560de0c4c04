//! The settings as a user gives them: a named recipe plus the training settings given
//! explicitly ([`Overrides`]), and the network's ([`ModelOverrides`]).
//! [`TrainConfig::from_recipe`] and [`VggConfig::for_dataset`] are the one merge of each (the
//! CLI's `vggnet train` and notebook 02 use them); [`super::resume_conflicts`] is the one resume
//! rule (a setting equal to the saved one is accepted, any other is named); [`TrainConfig::validate`]
//! and [`VggConfig::validate`] the one check of every value.
//!
//! Who owns what:
//! - learning rate: `TrainConfig::optimizer.lr` is the peak (the schedule's base); the rate of
//!   the next step is the trainer's ([`super::Trainer::set_lr`]);
//! - precision: `TrainConfig::amp`, resolved on the device and turned into a
//!   [`super::Precision`] once, in `Trainer::new`;
//! - batch size: `TrainConfig::batch_size`, at least 1 (checked here);
//! - the network's input: the data set's pictures ([`VggConfig::for_dataset`]);
//! - device: the model's; a run records it typed in its `run.json` ([`crate::run::RunSpec`]).

use super::recipe::{Augment, LrSchedule};
use super::{AmpMode, Recipe, TrainConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{Network, VggConfig};

/// Training settings given explicitly on top of a recipe: each `Some` replaces the recipe's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    /// AdamW's (peak) learning rate.
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    pub seed: Option<u64>,
    pub amp: Option<AmpMode>,
    pub eval_every: Option<usize>,
    /// A warm-up + cosine schedule with this warm-up fraction (ending where the fast recipe's
    /// does); the recipe's schedule when `None`.
    pub warmup: Option<f64>,
    pub label_smoothing: Option<f64>,
    /// `Some(None)`: no augmentation.
    pub augment: Option<Option<Augment>>,
    pub flush_denormals: Option<bool>,
}

/// The network's settings given explicitly (`--network`, `--batch-norm`, `--dropout`): each
/// `Some` replaces the preset's value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelOverrides {
    /// The widths: the article's (default) or the narrow preset.
    pub network: Option<Network>,
    pub batch_norm: Option<bool>,
    /// The classifier's dropout probability (the preset's: 0.5).
    pub dropout: Option<f64>,
}

impl VggConfig {
    /// The network that trains on `dataset`: the preset `given.network` (the article's when
    /// `None`) with the given batch norm and dropout, its input set to the data set's pictures
    /// (1x28x28, 3x32x32). Checked when a model is built ([`VggConfig::validate`]).
    pub fn for_dataset(dataset: Dataset, given: &ModelOverrides) -> VggConfig {
        let preset = given.network.unwrap_or_default().config();
        let (in_channels, image_size) = dataset.input();
        VggConfig {
            batch_norm: given.batch_norm.unwrap_or(preset.batch_norm),
            dropout: given.dropout.unwrap_or(preset.dropout),
            in_channels,
            image_size,
            ..preset
        }
    }

    /// The preset whose widths these are, if any.
    pub fn network(&self) -> Option<Network> {
        [Network::Article, Network::Narrow].into_iter().find(|n| {
            let p = n.config();
            (p.block_channels.as_slice(), p.hidden) == (self.block_channels.as_slice(), self.hidden)
        })
    }
}

impl Overrides {
    /// `base` with the given settings in their place.
    pub fn apply_to(&self, base: &TrainConfig) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs.unwrap_or(base.epochs),
            batch_size: self.batch_size.unwrap_or(base.batch_size),
            optimizer: crate::train::optim::AdamWConfig {
                lr: self.lr.unwrap_or(base.optimizer.lr),
                weight_decay: self.weight_decay.unwrap_or(base.optimizer.weight_decay),
                ..base.optimizer
            },
            seed: self.seed.unwrap_or(base.seed),
            amp: self.amp.unwrap_or(base.amp),
            eval_every_steps: self.eval_every.unwrap_or(base.eval_every_steps),
            schedule: self.schedule_on(&base.schedule),
            label_smoothing: self.label_smoothing.unwrap_or(base.label_smoothing),
            augment: self.augment.unwrap_or(base.augment),
            flush_denormals: self.flush_denormals.unwrap_or(base.flush_denormals),
            ..base.clone()
        }
    }

    /// The schedule `base` becomes with the given warm-up: a warm-up + cosine schedule ending
    /// where `base`'s cosine ends (the fast recipe's end for a constant rate).
    pub(super) fn schedule_on(&self, base: &LrSchedule) -> LrSchedule {
        match self.warmup {
            Some(warmup) => LrSchedule::WarmupCosine {
                warmup,
                final_fraction: match *base {
                    LrSchedule::WarmupCosine { final_fraction, .. } => final_fraction,
                    LrSchedule::Constant => TrainConfig::fast_final_fraction(),
                },
            },
            None => *base,
        }
    }
}

impl TrainConfig {
    /// The settings of `recipe` with the `given` ones in their place (checked when a trainer
    /// takes them: [`TrainConfig::validate`]).
    pub fn from_recipe(recipe: Recipe, given: &Overrides) -> TrainConfig {
        given.apply_to(&TrainConfig::recipe(recipe))
    }

    /// Checks every setting, naming the one that cannot run ([`super::Trainer::new`] calls
    /// it: every run, notebook cell and experiment builds its trainer there).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(what));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        crate::data::check_batch_size(self.batch_size)?;
        crate::data::check_batch_size(self.eval_batch_size)?;
        let lr = self.optimizer.lr;
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("learning rate must be a positive number, got {lr}"));
        }
        let wd = self.optimizer.weight_decay;
        if !(wd.is_finite() && wd >= 0.0) {
            return bad(format!("weight decay must be 0 or more, got {wd}"));
        }
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
        let ls = self.label_smoothing;
        if !(0.0..1.0).contains(&ls) {
            return bad(format!("label smoothing must be in [0, 1), got {ls}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing given: the recipe itself. Given values replace the recipe's and nothing else;
    /// a warm-up on the article's recipe ends where the fast recipe's cosine ends.
    #[test]
    fn given_settings_replace_the_recipes_and_nothing_else() {
        let none = Overrides::default();
        for r in [Recipe::Article, Recipe::Fast] {
            assert_eq!(TrainConfig::from_recipe(r, &none), TrainConfig::recipe(r));
        }
        let given = Overrides {
            lr: Some(2e-3),
            batch_size: Some(32),
            warmup: Some(0.2),
            augment: Some(None),
            ..Default::default()
        };
        let c = TrainConfig::from_recipe(Recipe::Fast, &given);
        let fast = TrainConfig::fast();
        assert_eq!((c.optimizer.lr, c.batch_size, c.augment), (2e-3, 32, None));
        assert_eq!(c.optimizer.weight_decay, fast.optimizer.weight_decay);
        assert_eq!(c.label_smoothing, fast.label_smoothing);
        assert_eq!(
            c.schedule,
            LrSchedule::WarmupCosine {
                warmup: 0.2,
                final_fraction: TrainConfig::fast_final_fraction()
            }
        );
        let article = TrainConfig::from_recipe(
            Recipe::Article,
            &Overrides {
                warmup: Some(0.1),
                ..Default::default()
            },
        );
        assert_eq!(
            article.schedule,
            LrSchedule::WarmupCosine {
                warmup: 0.1,
                final_fraction: TrainConfig::fast_final_fraction()
            }
        );
    }

    /// Every value that cannot train is refused by the check, naming the setting.
    #[test]
    fn settings_that_cannot_run_are_refused_by_name() {
        let refused = |o: Overrides, word: &str| {
            let e = TrainConfig::from_recipe(Recipe::Article, &o)
                .validate()
                .unwrap_err()
                .to_string();
            assert!(e.contains(word), "{e}");
        };
        let o = Overrides::default;
        for (given, word) in [
            (
                Overrides {
                    batch_size: Some(0),
                    ..o()
                },
                "batch size",
            ),
            (
                Overrides {
                    epochs: Some(0),
                    ..o()
                },
                "epochs",
            ),
            (
                Overrides {
                    lr: Some(-1e-3),
                    ..o()
                },
                "learning rate",
            ),
            (
                Overrides {
                    lr: Some(f64::NAN),
                    ..o()
                },
                "learning rate",
            ),
            (
                Overrides {
                    warmup: Some(1.0),
                    ..o()
                },
                "warm-up",
            ),
            (
                Overrides {
                    label_smoothing: Some(1.5),
                    ..o()
                },
                "label smoothing",
            ),
            (
                Overrides {
                    weight_decay: Some(-0.1),
                    ..o()
                },
                "weight decay",
            ),
        ] {
            refused(given, word);
        }
    }

    /// The network follows the data set's pictures and the given settings, on the preset.
    #[test]
    fn the_network_takes_the_data_sets_input_and_the_given_settings() {
        let c = VggConfig::for_dataset(
            Dataset::Cifar10,
            &ModelOverrides {
                network: Some(Network::Narrow),
                dropout: Some(0.25),
                batch_norm: Some(true),
            },
        );
        let narrow = Network::Narrow.config();
        assert_eq!((c.in_channels, c.image_size), (3, 32));
        assert_eq!(
            (c.block_channels, c.hidden),
            (narrow.block_channels, narrow.hidden)
        );
        assert_eq!((c.dropout, c.batch_norm), (0.25, true));
        let plain = VggConfig::for_dataset(Dataset::FashionMnist, &ModelOverrides::default());
        assert_eq!(plain.network(), Some(Network::Article));
        assert_eq!((plain.dropout, plain.batch_norm), (0.5, false));
    }
}
