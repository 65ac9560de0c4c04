//! The engine: what makes the textbook's code run fast on this machine, kept beside it. The core
//! (`model`, `data`, `train`, `eval`) computes the article's numbers and changes nothing outside
//! its own values; everything here is called explicitly, by the command line, the benchmark and
//! the notebooks, and each call says what it does:
//! - [`speed_up`]: a trainer's speed settings in one call (allocator, denormals, the fused AdamW
//!   kernel, packed evaluation), returning the line that says so;
//! - [`process`]: process-wide settings (glibc's allocator, denormals flushed to zero on
//!   libtorch's threads, the thread count) and the benchmark's counters;
//! - [`fused_adamw`]: the CPU's single-pass AdamW update (the only `unsafe` on the training path);
//! - [`flat_adamw`]: the GPU's AdamW step over all parameters at once;
//! - [`packed`]: eval-mode inference on oneDNN's pre-packed weights, batch norm folded;
//! - [`layout`]: the convolution weights (and so the activations) stored channels-last;
//! - [`calibrate`]: which precision trains faster on this CPU, measured once and cached;
//! - [`cpu`] and [`cuda`]: what the machine is, and libtorch's CUDA backend loaded where a GPU is
//!   ([`cuda::device`]: the device to train on).

pub mod calibrate;
pub mod cpu;
pub mod cuda;
mod device;
pub mod flat_adamw;
mod fused_adamw;
pub mod layout;
pub mod packed;
pub mod process;

pub use cuda::{device, parse_device};
pub use device::{device_name, device_serde, parse_device_name};
pub use fused_adamw::{fused_adamw, FusedAdamW};

use crate::train::Trainer;
use tch::Device;

/// Makes `trainer` train and evaluate at this machine's speed: the same formulas, the results equal
/// up to float rounding (the fused kernel and oneDNN round in another order than libtorch's ops):
/// - on every device, glibc's allocator keeps freed buffers for the next step
///   ([`process::tune_allocator`], once per process), and the convolution weights, with the
///   optimizer's buffers, are stored channels-last ([`layout::set_trainer_channels_last`]);
/// - on a CPU, denormals are flushed to zero on libtorch's threads ([`process::flush_denormals`];
///   unless the trainer's config keeps them: `--keep-denormals`), AdamW takes the fused kernel
///   ([`fused_adamw`]) and evaluations run packed ([`packed::evaluate`]);
/// - on a GPU, AdamW steps all parameters at once ([`flat_adamw`]).
///
/// Returns a line saying what it did. Call it before training, on the thread that trains (the
/// denormal setting is per thread): `Run::train` and the benchmark do, notebook 02 does in its
/// training cell. Calling it again is cheap and changes nothing more.
pub fn speed_up(trainer: &mut Trainer) -> String {
    process::tune_allocator();
    let mut done = vec!["allocator keeps freed buffers"];
    if !layout::is_channels_last(trainer.model()) {
        layout::set_trainer_channels_last(trainer, true);
    }
    done.push("channels-last convolutions");
    let flushed;
    if trainer.model().device() == Device::Cpu {
        let flush = trainer.config().flush_denormals;
        let threads = process::flush_denormals(flush);
        flushed = match (flush, threads) {
            (true, n) if n > 0 => format!("denormals flushed to zero on {n} thread(s)"),
            (true, _) => "denormals kept (not an x86-64 CPU)".to_string(),
            (false, _) => "denormals kept (requested)".to_string(),
        };
        done.push(&flushed);
        if trainer.optimizer().kernel().is_none() {
            trainer
                .optimizer_mut()
                .set_kernel(Some(Box::new(FusedAdamW)));
        }
        done.push("fused AdamW kernel");
        trainer.set_evaluator(packed::evaluate);
        done.push("packed inference for evaluations");
    } else {
        if trainer.optimizer().kernel().is_none() {
            flat_adamw::install(trainer.optimizer_mut());
        }
        done.push("flat AdamW step");
    }
    format!("speed (vggnet::engine::speed_up): {}", done.join(", "))
}
