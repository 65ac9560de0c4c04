//! The training settings as a user gives them: a named recipe plus the settings given
//! explicitly ([`Overrides`]). [`TrainConfig::from_recipe`] is the one merge (the CLI's
//! `vggnet train` and notebook 02 use it; a resume compares the same [`Overrides`] with the
//! saved settings), and [`TrainConfig::validate`] the one check of every value, made where
//! settings enter training: [`super::Trainer::new`].
//!
//! Who owns what:
//! - learning rate: `TrainConfig::optimizer.lr` is the peak (the schedule's base); the rate of
//!   the next step is the trainer's ([`super::Trainer::set_lr`]);
//! - precision: `TrainConfig::amp`, resolved on the device and turned into a
//!   [`super::Precision`] once, in `Trainer::new`;
//! - batch size: `TrainConfig::batch_size`, at least 1 (checked here);
//! - device: the model's; a run records it typed in its `run.json` ([`crate::run::RunSpec`]).

use super::recipe::{Augment, LrSchedule};
use super::{AmpMode, Recipe, TrainConfig};
use crate::error::{Error, Result};

/// Settings given explicitly on top of a recipe: each `Some` replaces the recipe's value.
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
    /// SAM's neighbourhood radius ([`TrainConfig::sam_rho`]).
    pub sam_rho: Option<f64>,
}

impl TrainConfig {
    /// The settings of `recipe` with the `given` ones in their place (checked when a trainer
    /// takes them: [`TrainConfig::validate`]).
    pub fn from_recipe(recipe: Recipe, given: &Overrides) -> TrainConfig {
        let base = TrainConfig::recipe(recipe);
        TrainConfig {
            epochs: given.epochs.unwrap_or(base.epochs),
            batch_size: given.batch_size.unwrap_or(base.batch_size),
            optimizer: crate::optim::AdamWConfig {
                lr: given.lr.unwrap_or(base.optimizer.lr),
                weight_decay: given.weight_decay.unwrap_or(base.optimizer.weight_decay),
                ..base.optimizer
            },
            seed: given.seed.unwrap_or(base.seed),
            amp: given.amp.unwrap_or(base.amp),
            eval_every_steps: given.eval_every.unwrap_or(base.eval_every_steps),
            schedule: match given.warmup {
                Some(warmup) => LrSchedule::WarmupCosine {
                    warmup,
                    final_fraction: match base.schedule {
                        LrSchedule::WarmupCosine { final_fraction, .. } => final_fraction,
                        LrSchedule::Constant => TrainConfig::fast_final_fraction(),
                    },
                },
                None => base.schedule,
            },
            label_smoothing: given.label_smoothing.unwrap_or(base.label_smoothing),
            augment: given.augment.unwrap_or(base.augment),
            flush_denormals: given.flush_denormals.unwrap_or(base.flush_denormals),
            sam_rho: given.sam_rho.unwrap_or(base.sam_rho),
            ..base
        }
    }

    /// Checks every setting, naming the one that cannot run ([`super::Trainer::new`] calls
    /// it: every run, notebook cell and experiment builds its trainer there).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(what));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("batch size must be at least 1".into());
        }
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
        let rho = self.sam_rho;
        if !(rho.is_finite() && rho >= 0.0) {
            return bad(format!("SAM's radius must be 0 (off) or more, got {rho}"));
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

impl Overrides {
    /// What these settings, given to continue a run saved with `saved` (and started with
    /// recipe `recipe` when given), would change: one line per setting, naming the flag, the
    /// given value and the saved one. Values are compared as numbers, never as text.
    pub fn conflicts(&self, recipe: Option<Recipe>, saved: &TrainConfig) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |flag: &str, differs: bool, given: String, was: String| {
            if differs {
                out.push(format!(
                    "{flag} {given} would change the run (it was started with {flag} {was})"
                ));
            }
        };
        fn compare<T: PartialEq + std::fmt::Display>(
            given: Option<T>,
            saved: T,
        ) -> (bool, String, String) {
            match given {
                Some(g) => (g != saved, g.to_string(), saved.to_string()),
                None => (false, String::new(), String::new()),
            }
        }
        let flags = [
            ("--epochs", compare(self.epochs, saved.epochs)),
            ("--batch-size", compare(self.batch_size, saved.batch_size)),
            ("--lr", compare(self.lr, saved.optimizer.lr)),
            (
                "--weight-decay",
                compare(self.weight_decay, saved.optimizer.weight_decay),
            ),
            ("--seed", compare(self.seed, saved.seed)),
            (
                "--eval-every",
                compare(self.eval_every, saved.eval_every_steps),
            ),
            (
                "--label-smoothing",
                compare(self.label_smoothing, saved.label_smoothing),
            ),
            ("--sam", compare(self.sam_rho, saved.sam_rho)),
        ];
        for (flag, (differs, given, was)) in flags {
            check(flag, differs, given, was);
        }
        let name = |r: Option<Recipe>| match r {
            Some(r) => r.to_string(),
            None => "custom settings".to_string(),
        };
        if let Some(r) = recipe {
            let was = saved.recipe_name();
            check("--recipe", Some(r) != was, name(Some(r)), name(was));
        }
        out
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
            (
                Overrides {
                    sam_rho: Some(-0.05),
                    ..o()
                },
                "SAM's radius",
            ),
        ] {
            refused(given, word);
        }
    }

    /// A setting given with its saved value is accepted; another value is refused, naming
    /// both; what was not given is never compared; 1e-3 typed as 0.001 is the same rate.
    #[test]
    fn only_given_settings_that_differ_are_conflicts() {
        let saved = TrainConfig::default();
        assert!(Overrides::default().conflicts(None, &saved).is_empty());
        let same = Overrides {
            lr: Some("0.001".parse().unwrap()),
            epochs: Some(saved.epochs),
            ..Default::default()
        };
        assert!(same.conflicts(Some(Recipe::Article), &saved).is_empty());
        let other = Overrides {
            lr: Some(3e-3),
            batch_size: Some(32),
            ..Default::default()
        };
        assert_eq!(
            other.conflicts(Some(Recipe::Fast), &saved),
            [
                "--batch-size 32 would change the run (it was started with --batch-size 64)",
                "--lr 0.003 would change the run (it was started with --lr 0.001)",
                "--recipe fast would change the run (it was started with --recipe article)",
            ]
        );
    }
}
