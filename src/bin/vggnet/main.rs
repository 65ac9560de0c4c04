//! `vggnet`: train, evaluate and use the article's VGG on MNIST from the terminal.

mod flags;
mod train;
mod use_model;

use anyhow::{bail, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use flags::{parse_augment, with_dataset_default, with_library_defaults, AugmentArg};
use std::path::PathBuf;
use train::train;
use use_model::{eval_cmd, predict_cmd, EvalOptions};
use vggnet::data::{DataConfig, Dataset};
use vggnet::engine::parse_device;
use vggnet::recipe::Recipe;
use vggnet::settings::Network;
use vggnet::tch::Device;
use vggnet::train::AmpMode;

#[derive(Parser)]
#[command(
    name = "vggnet",
    version,
    about = "The classic VGG-on-MNIST walkthrough in Rust: train, evaluate, predict",
    long_about = "The classic VGG-on-MNIST walkthrough in Rust (libtorch through tch): the article's \
network, AdamW + cross-entropy, mixed precision on CUDA, checkpoints that load in PyTorch.\n\n\
MNIST is read from --data-dir, else $MNIST_DIR, else data/mnist (downloaded when missing). \
--dataset fashion-mnist reads Fashion-MNIST the same way ($FASHION_MNIST_DIR, Debian's \
/usr/share/datasets/fashion-mnist, data/fashion-mnist)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// libtorch's threads for the arithmetic (training, evaluation, calibration: the
    /// precision measured faster is kept per CPU and thread count) [default: libtorch's, one
    /// per core]
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Download and verify a data set's four files (MD5-checked, atomic, re-runnable)
    #[command(
        after_help = "Examples:\n  vggnet download\n  vggnet download --dir /data/mnist\n  \
vggnet download --dataset fashion-mnist"
    )]
    Download {
        /// Which data set
        #[arg(long, value_enum, default_value_t = Dataset::default())]
        dataset: Dataset,
        /// Folder to put the files in [default: $MNIST_DIR or data/mnist; for Fashion-MNIST
        /// $FASHION_MNIST_DIR or data/fashion-mnist]
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Mirror base URL, tried in order (repeatable) [default: the data set's public mirrors]
        #[arg(long = "mirror")]
        mirrors: Vec<String>,
    },
    /// Train the article's model (5 epochs, batch 64, AdamW 1e-3/1e-4, AMP on CUDA)
    #[command(
        after_help = "Examples:\n  vggnet train                                  # the article's full run\n  \
vggnet train --train-limit 5000 --epochs 1    # a quick run on a subset\n  \
vggnet train --resume runs/vggnet             # continue an interrupted run\n  \
vggnet train --dry-run                        # smoke test: 256 images, 1 epoch"
    )]
    Train(TrainArgs),
    /// Evaluate a model on a test set (MNIST unless --dataset): accuracy, per class, confusion matrix
    #[command(
        after_help = "Examples:\n  vggnet eval --model runs/vggnet/model.safetensors\n  \
vggnet eval --model vggnet_mnist.pth --json"
    )]
    Eval {
        /// Model file: .safetensors (from vggnet) or the article's PyTorch .pth
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Pictures per forward pass
        #[arg(long, default_value_t = vggnet::train::TrainConfig::default().eval_batch_size)]
        batch_size: usize,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        /// Also write plots (2x3 grid, confusion matrix, misclassified digits) into this folder
        #[arg(long)]
        plots: Option<PathBuf>,
        /// Predict each picture from the mean of its and its mirror image's probabilities
        /// (test-time augmentation, twice the time): for models trained with `flip`, not digits
        #[arg(long)]
        mirror_mean: bool,
        /// cpu, cuda, cuda:N or auto
        #[arg(long, default_value = "auto", value_parser = parse_device)]
        device: Device,
    },
    /// Classify your own handwritten digits (photos or scans, PNG/JPEG) or MNIST test digits
    #[command(
        after_help = "Examples:\n  vggnet predict --model runs/vggnet/model.safetensors my_digit.png\n  \
vggnet predict --model runs/vggnet/best.safetensors photo.jpg --show-prepared seen.png\n  \
vggnet predict --model vggnet_mnist.pth --index 0 --index 1"
    )]
    Predict(PredictArgs),
    /// Measure which precision trains faster on this CPU (bfloat16 AMP or float32: a few
    /// training steps of each, seconds) and keep the answer for `--amp fastest` and notebook 02
    #[command(after_help = "Examples:\n  vggnet calibrate\n  vggnet calibrate --json")]
    Calibrate {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct PredictArgs {
    /// Model file: .safetensors (from vggnet) or the article's PyTorch .pth
    #[arg(long)]
    model: PathBuf,
    /// Pictures of handwritten digits: photos or scans, PNG or JPEG, any size
    images: Vec<PathBuf>,
    /// Test-set index, of MNIST unless --dataset (repeatable)
    #[arg(long = "index")]
    indices: Vec<usize>,
    /// How many classes to show
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Write what the model saw to this PNG: per picture the grey picture, the ink found,
    /// the digit's strokes, the crop and the 28x28 input
    #[arg(long, value_name = "OUT.png")]
    show_prepared: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
    /// cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: Device,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Which data set
    #[arg(long, value_enum)]
    dataset: Option<Dataset>,
    /// Data folder [default: $MNIST_DIR or data/mnist; for Fashion-MNIST $FASHION_MNIST_DIR,
    /// Debian's /usr/share/datasets/fashion-mnist, or data/fashion-mnist; for CIFAR-10
    /// $CIFAR10_DIR or data/cifar10]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use only the first N training images
    #[arg(long)]
    train_limit: Option<usize>,
    /// Use only the first N test images
    #[arg(long)]
    test_limit: Option<usize>,
    /// Hold out the last N training images as the validation split, which picks the best
    /// epoch (the test split is evaluated once, at the end) [default: 5000]
    #[arg(long)]
    validation: Option<usize>,
    /// Never download missing files
    #[arg(long)]
    offline: bool,
}

#[derive(Args)]
struct TrainArgs {
    /// Training recipe (the network is set by --network); the flags below, when
    /// given, replace its settings
    #[arg(long, value_enum)]
    recipe: Option<Recipe>,
    /// Passes over the training pictures
    #[arg(long)]
    epochs: Option<usize>,
    /// Pictures per training step
    #[arg(long)]
    batch_size: Option<usize>,
    /// Warm-up + cosine schedule with this warm-up fraction of the run's steps
    #[arg(long)]
    warmup: Option<f64>,
    /// Label smoothing of the cross-entropy
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// Augmentation: `none`, or the largest shift in pixels and rotation in degrees, optionally
    /// the first augmented epoch, and optionally `flip` (mirror half of the images left to
    /// right: for clothes and objects, not digits) and `erase` (blank a random rectangle in
    /// half of the images), as `SHIFT,DEGREES[,FROM_EPOCH][,flip][,erase]`
    #[arg(long, value_parser = parse_augment)]
    augment: Option<AugmentArg>,
    /// The network's widths: the article's, or `narrow` (the same layers at an eighth of the
    /// channels, for quick experiments; not the article's network)
    #[arg(long, value_enum)]
    network: Option<Network>,
    /// Batch normalization after every convolution (torchvision's vgg*_bn layout): not the
    /// article's network; its weights load in PyTorch into the same layout
    #[arg(long)]
    batch_norm: bool,
    /// Dropout probability in the classifier's two hidden layers, in [0, 1): a network
    /// setting, kept with the weights
    #[arg(long)]
    dropout: Option<f64>,
    /// Keep denormal floats (PyTorch's default arithmetic) instead of flushing them to zero;
    /// slower: whole epochs lose up to half their speed as denormals accumulate
    #[arg(long)]
    keep_denormals: bool,
    /// AdamW learning rate, the schedule's peak
    #[arg(long)]
    lr: Option<f64>,
    /// AdamW weight decay
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Seed of the weights, the data order, dropout and augmentation
    #[arg(long)]
    seed: Option<u64>,
    /// cpu, cuda, cuda:N or auto [default: auto; with --resume the run's]
    #[arg(long, value_parser = parse_device)]
    device: Option<Device>,
    /// Mixed precision
    #[arg(long, value_enum)]
    amp: Option<AmpMode>,
    #[command(flatten)]
    data: DataArgs,
    /// Output folder (model, checkpoints, metrics.json, plots)
    #[arg(long, default_value = "runs/vggnet")]
    out: PathBuf,
    /// Continue the run saved in this folder with every setting it was started with (data
    /// limits, data folder, device, ...); a flag equal to the run's is accepted, one that would
    /// change the run is refused
    #[arg(long, conflicts_with_all = ["out", "dry_run"])]
    resume: Option<PathBuf>,
    /// With --resume: allow another device or precision than the run used (the
    /// continuation is then not exact)
    #[arg(long, requires = "resume")]
    allow_inexact_resume: bool,
    /// Evaluate on the test set every N steps (for time-to-accuracy); 0 = epoch ends only
    #[arg(long)]
    eval_every: Option<usize>,
    /// Write no PNG plots (metrics.json and eval.json only)
    #[arg(long)]
    no_plots: bool,
    /// Progress line every N batches when the output is not a terminal
    #[arg(long, default_value_t = 100)]
    log_every: usize,
    /// Smoke test: 1 epoch on 256 training and 256 test images
    #[arg(long)]
    dry_run: bool,
    /// Stop after this many epochs of this invocation (the run stays resumable)
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

fn data_config(args: &DataArgs) -> DataConfig {
    let of = DataConfig::of(args.dataset.unwrap_or_default());
    DataConfig {
        dir: args.data_dir.clone().unwrap_or(of.dir.clone()),
        train_limit: args.train_limit,
        validation: args.validation.unwrap_or(of.validation),
        test_limit: args.test_limit,
        download: !args.offline,
        ..of
    }
}

/// Set: parse and validate the command line, then exit without doing anything.
const PARSE_ONLY_ENV: &str = "VGGNET_PARSE_ONLY";

fn main() -> std::process::ExitCode {
    let matches = Cli::command()
        .mut_subcommand("train", |c| with_library_defaults(with_dataset_default(c)))
        .mut_subcommand("eval", with_dataset_default)
        .mut_subcommand("predict", with_dataset_default)
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // The documentation's commands are checked this way (tests/cli.rs): every flag, value,
    // conflict and requirement validated, nothing run.
    if std::env::var_os(PARSE_ONLY_ENV).is_some() {
        println!("parsed");
        return std::process::ExitCode::SUCCESS;
    }
    // Before anything asks libtorch about CUDA (a no-op without an NVIDIA driver).
    vggnet::engine::cuda::load_cuda_backend();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain on one line, e.g. "cannot resume from X: X/state/...: ...".
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        vggnet::engine::process::set_threads(n)?;
    }
    match cli.command {
        Command::Download {
            dataset,
            dir,
            mirrors,
        } => {
            let dir = dir.unwrap_or_else(|| dataset.default_dir());
            let mirrors = if mirrors.is_empty() {
                dataset.mirrors()
            } else {
                mirrors
            };
            let written = vggnet::download::download_dataset(dataset, &dir, &mirrors)?;
            for p in &written {
                eprintln!("downloaded {}", p.display());
            }
            for (p, ok) in vggnet::download::verify(dataset, &dir)? {
                if !ok {
                    bail!(
                        "{}: not the official file (its checksum or format is wrong); delete it and run again",
                        p.display()
                    );
                }
                println!("ok  {}", p.display());
            }
            Ok(())
        }
        Command::Train(args) => train(args),
        Command::Eval {
            model,
            data,
            batch_size,
            json,
            plots,
            mirror_mean,
            device,
        } => eval_cmd(
            &model,
            &data,
            EvalOptions {
                batch_size,
                json,
                plots,
                mirror_mean,
            },
            device,
        ),
        Command::Predict(args) => predict_cmd(&args),
        Command::Calibrate { json } => {
            eprintln!("measuring bfloat16 AMP and float32 training steps on this CPU...");
            let c = vggnet::engine::calibrate::measure()?;
            match vggnet::engine::calibrate::cache_file() {
                Some(file) => {
                    vggnet::engine::calibrate::store_in(&file, &c)?;
                    eprintln!("kept in {}", file.display());
                }
                None => eprintln!("not kept: no cache folder (set VGGNET_CACHE or HOME)"),
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                println!("{c}");
            }
            Ok(())
        }
    }
}
