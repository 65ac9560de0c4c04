//! # vggnet
//!
//! The classic PyTorch walkthrough "VGG on MNIST" in Rust, on libtorch through `tch`.
//!
//! The core: the article's network ([`model`]), the data sets ([`data`]), AdamW +
//! cross-entropy training with automatic mixed precision ([`train`]: its optimizer, grad
//! scaler and precision), evaluation ([`eval`]). It computes the article's numbers and changes
//! nothing outside its own values. Beside it, [`engine`]: what makes that code fast on this
//! machine (process tuning, channels-last convolutions, a fused AdamW kernel, packed inference,
//! the precision measurement, libtorch's CUDA backend), always called explicitly. Around both:
//! the recipes beyond the article's ([`recipe`]: a learning-rate schedule, augmentation), the
//! settings as a user gives them ([`settings`]), the run folder that
//! `vggnet train` and the notebooks write ([`run`]), checkpoints that interoperate with PyTorch
//! ([`store`]), plots ([`plot`]), teaching aids ([`teach`]: filters, saliency, experiments, the
//! PyTorch reference) and your own handwriting ([`digits`]).
//!
//! Reading the core, top to bottom (the files `tests/layout.rs` holds to its budget):
//! `model/mod.rs` and `model/config.rs` (the network); `data/mod.rs`, `data/dataset.rs`,
//! `data/specs.rs`, `data/idx.rs`, `data/split.rs` (the data sets, their files, batches);
//! `train/mod.rs` (the step and the loop), `train/config.rs`,
//! `train/precision.rs`, `train/amp.rs` (the GradScaler), `train/optim.rs` (AdamW),
//! `train/access.rs`, `train/observer.rs`; `eval.rs`; `error.rs`.
//!
//! ```no_run
//! use vggnet::{data::Data, model::{Vgg, VggConfig}, train::{PrintLines, TrainConfig, Trainer}};
//! # fn main() -> vggnet::Result<()> {
//! let data = Data::load_default()?;
//! tch::manual_seed(42);
//! let model = Vgg::new(VggConfig::default(), vggnet::engine::device())?;
//! let mut trainer = Trainer::new(model, TrainConfig { epochs: 1, ..Default::default() })?;
//! trainer.fit(&data.train, Some(&data.test), &mut PrintLines { every: 100 }, &mut |_| Ok(()))?;
//! # Ok(()) }
//! ```

// The core a learner reads: the network, the data, training (optimizer, grad scaler,
// precision), evaluation.
pub mod data;
pub mod eval;
pub mod model;
pub mod train;

// The speed machinery beside the core, behind explicit calls.
pub mod engine;

// The wings around it (`digits` behind the cargo feature of that name).
#[cfg(feature = "digits")]
pub mod digits;
pub mod plot;
pub mod recipe;
pub mod run;
pub mod settings;
pub mod store;
pub mod teach;

pub mod error;

pub use data::{dataset, download, idx};
pub use error::{Error, IdxProblem, Result};

/// The README's Rust examples, compiled as doctests so they cannot drift.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The `tch` crate this crate is built on, re-exported so notebooks and users need one dependency.
pub use tch;
