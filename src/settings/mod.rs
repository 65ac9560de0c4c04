//! The settings as a user gives them: a named recipe plus the training settings given
//! explicitly ([`Overrides`]), and the network's ([`ModelOverrides`]).
//! [`from_recipe`] and [`VggConfig::for_dataset`] are the one merge of each (the CLI's
//! `vggnet train` and notebook 02 use them); [`resume_conflicts`] is the one resume rule (a
//! setting equal to the saved one is accepted, any other is named); [`TrainConfig::validate`],
//! [`Plan::validate`] and [`VggConfig::validate`] the one check of every value.
//!
//! Who owns what:
//! - learning rate: `TrainConfig::optimizer.lr` is the peak (the schedule's base); the rate of
//!   the next step is the trainer's ([`crate::train::Trainer::set_lr`]);
//! - precision: `TrainConfig::amp`, resolved on the device and turned into a
//!   [`crate::train::Precision`] once, in `Trainer::new`;
//! - batch size: `TrainConfig::batch_size`, at least 1 (checked here);
//! - the network's input: the data set's pictures ([`VggConfig::for_dataset`]);
//! - device: the model's; a run records it typed in its `run.json` ([`crate::run::RunSpec`]).

mod conflicts;
mod network;

pub use conflicts::*;
pub use network::Network;

use crate::data::Dataset;
use crate::model::VggConfig;
use crate::recipe::{Augment, LrSchedule, Plan, Recipe, FAST_FINAL_FRACTION};
use crate::train::{AmpMode, TrainConfig};

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
    /// `base` with the given training settings in their place.
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
            label_smoothing: self.label_smoothing.unwrap_or(base.label_smoothing),
            flush_denormals: self.flush_denormals.unwrap_or(base.flush_denormals),
            ..base.clone()
        }
    }

    /// `base` with the given schedule and augmentation in their place. A warm-up gives a
    /// warm-up + cosine schedule ending where `base`'s cosine ends (the fast recipe's end for a
    /// constant rate).
    pub fn plan_on(&self, base: &Plan) -> Plan {
        Plan {
            schedule: match self.warmup {
                Some(warmup) => LrSchedule::WarmupCosine {
                    warmup,
                    final_fraction: match base.schedule {
                        LrSchedule::WarmupCosine { final_fraction, .. } => final_fraction,
                        LrSchedule::Constant => FAST_FINAL_FRACTION,
                    },
                },
                None => base.schedule,
            },
            augment: self.augment.unwrap_or(base.augment),
        }
    }
}

/// The settings of `recipe` with the `given` ones in their place: the training settings and
/// the plan of each step (checked when used: [`TrainConfig::validate`], [`Plan::validate`]).
pub fn from_recipe(recipe: Recipe, given: &Overrides) -> (TrainConfig, Plan) {
    (
        given.apply_to(&recipe.config()),
        given.plan_on(&recipe.plan()),
    )
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
            assert_eq!(from_recipe(r, &none), (r.config(), r.plan()));
        }
        let given = Overrides {
            lr: Some(2e-3),
            batch_size: Some(32),
            warmup: Some(0.2),
            augment: Some(None),
            ..Default::default()
        };
        let (c, plan) = from_recipe(Recipe::Fast, &given);
        let fast = Recipe::Fast.config();
        assert_eq!(
            (c.optimizer.lr, c.batch_size, plan.augment),
            (2e-3, 32, None)
        );
        assert_eq!(c.optimizer.weight_decay, fast.optimizer.weight_decay);
        assert_eq!(c.label_smoothing, fast.label_smoothing);
        assert_eq!(
            plan.schedule,
            LrSchedule::WarmupCosine {
                warmup: 0.2,
                final_fraction: FAST_FINAL_FRACTION
            }
        );
        let (_, article) = from_recipe(
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
                final_fraction: FAST_FINAL_FRACTION
            }
        );
    }

    /// Every value that cannot train is refused by the check, naming the setting.
    #[test]
    fn settings_that_cannot_run_are_refused_by_name() {
        let refused = |o: Overrides, word: &str| {
            let (config, plan) = from_recipe(Recipe::Article, &o);
            let e = config
                .validate()
                .and_then(|()| plan.validate())
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
