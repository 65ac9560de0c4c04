//! # vggnet
//!
//! The classic PyTorch walkthrough "VGG on MNIST" in Rust, on libtorch through `tch`:
//! the article's network ([`model`]), the MNIST pipeline ([`data`], [`download`]), AdamW +
//! cross-entropy training with automatic mixed precision ([`train`], [`optim`], [`amp`]),
//! evaluation ([`eval`]), checkpoints that interoperate with PyTorch ([`checkpoint`]), plots
//! ([`plot`]), and the run folder that `vggnet train` and the notebooks write ([`run`]).
//!
//! ```no_run
//! use vggnet::{data::Mnist, model::{Vgg, VggConfig}, train::{PrintLines, TrainConfig, Trainer}};
//! # fn main() -> vggnet::Result<()> {
//! let data = Mnist::load_default()?;
//! tch::manual_seed(42);
//! let model = Vgg::new(VggConfig::default(), vggnet::train::default_device())?;
//! let mut trainer = Trainer::new(model, TrainConfig { epochs: 1, ..Default::default() })?;
//! trainer.fit(&data.train, Some(&data.test), &mut PrintLines { every: 100 }, &mut |_| Ok(()))?;
//! # Ok(()) }
//! ```

pub mod amp;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod fsio;
pub mod inspect;
pub mod model;
pub mod optim;
pub mod perf;
pub mod plot;
pub mod prepare;
pub mod pth;
pub mod read;
pub mod reference;
pub mod run;
pub mod synth;
pub mod train;

pub use data::{dataset, download, idx};
pub use error::{Error, IdxProblem, Result};
pub use prepare::imageio;
pub use train::calibrate;
pub use train::recipe;

/// The README's Rust examples, compiled as doctests so they cannot drift.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The `tch` crate this crate is built on, re-exported so notebooks and users need one dependency.
pub use tch;
