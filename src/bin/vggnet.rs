//! `vggnet`: train, evaluate and use the article's VGG on MNIST from the terminal.

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use vggnet::checkpoint::load_model;
use vggnet::data::{Data, DataConfig, Dataset};
use vggnet::eval::{evaluate, predict_proba, top_k};
use vggnet::model::VggConfig;
use vggnet::optim::AdamWConfig;
use vggnet::recipe::{Augment, LrSchedule};
use vggnet::run::{
    evaluation_json, write_eval_plots, ResumeRequest, Run, RunConfig, RunEnd, StopAt,
};
use vggnet::train::{
    parse_device, AmpMode, BatchProgress, EpochRecord, EvalPoint, Observer, PrintLines, Recipe,
    TrainConfig,
};

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
        #[arg(long, value_enum, default_value_t = Dataset::Mnist)]
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
        #[arg(long, default_value_t = 256)]
        batch_size: usize,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        /// Also write plots (2x3 grid, confusion matrix, misclassified digits) into this folder
        #[arg(long)]
        plots: Option<PathBuf>,
        /// cpu, cuda, cuda:N or auto
        #[arg(long, default_value = "auto")]
        device: String,
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
    #[arg(long, default_value = "auto")]
    device: String,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Which data set [default: mnist]
    #[arg(long, value_enum)]
    dataset: Option<Dataset>,
    /// Data folder [default: $MNIST_DIR or data/mnist; for Fashion-MNIST $FASHION_MNIST_DIR,
    /// Debian's /usr/share/datasets/fashion-mnist, or data/fashion-mnist]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use only the first N training images
    #[arg(long)]
    train_limit: Option<usize>,
    /// Use only the first N test images
    #[arg(long)]
    test_limit: Option<usize>,
    /// Never download missing files
    #[arg(long)]
    offline: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum RecipeArg {
    /// The article's: constant learning rate, plain cross-entropy, no augmentation
    Article,
    /// Warm-up + cosine learning rate, label smoothing 0.1, shifted and rotated images from
    /// epoch 2 on
    Fast,
}

#[derive(Clone, Copy, ValueEnum)]
enum AmpArg {
    Auto,
    On,
    Off,
    Bf16,
    /// float16 AMP on CUDA; on a CPU the faster of bfloat16 AMP and float32 as measured on
    /// this CPU (`vggnet calibrate`; measured on first use, then kept in the cache)
    Fastest,
}

#[derive(Args)]
struct TrainArgs {
    /// Training recipe (the network is the article's either way); --lr, when given, sets
    /// the fast recipe's peak learning rate (its own: 3e-4)
    #[arg(long, value_enum, default_value = "article")]
    recipe: RecipeArg,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Warm-up + cosine schedule with this warm-up fraction of the run's steps [fast: 0.1;
    /// the article's recipe: constant learning rate]
    #[arg(long, conflicts_with = "resume")]
    warmup: Option<f64>,
    /// Label smoothing of the cross-entropy [fast: 0.1, article: 0]
    #[arg(long, conflicts_with = "resume")]
    label_smoothing: Option<f64>,
    /// Augmentation: `none`, or the largest shift in pixels and rotation in degrees, and
    /// optionally the first augmented epoch, as `SHIFT,DEGREES[,FROM_EPOCH]` [fast: 2,10,2;
    /// FROM_EPOCH defaults to 2; article: none]
    #[arg(long, value_parser = parse_augment, conflicts_with = "resume")]
    augment: Option<AugmentArg>,
    /// Batch normalization after every convolution (torchvision's vgg*_bn layout): not the
    /// article's network; its weights load in PyTorch into the same layout
    #[arg(long, conflicts_with = "resume")]
    batch_norm: bool,
    /// Keep denormal floats (PyTorch's default arithmetic) instead of flushing them to zero;
    /// slower: whole epochs lose up to half their speed as denormals accumulate
    #[arg(long, conflicts_with = "resume")]
    keep_denormals: bool,
    /// AdamW learning rate [default: 1e-3 for the article's recipe, 3e-4 (peak) for fast]
    #[arg(long, default_value_t = 1e-3, hide_default_value = true)]
    lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "auto")]
    device: String,
    /// Mixed precision: auto (the article's: float16 on CUDA, float32 on the CPU), on (CUDA
    /// only), off, bf16 (bfloat16 autocast, no scaler), or fastest (what `vggnet calibrate`
    /// measured to be faster on this CPU)
    #[arg(long, value_enum, default_value = "auto")]
    amp: AmpArg,
    #[command(flatten)]
    data: DataArgs,
    /// Output folder (model, checkpoints, metrics.json, plots)
    #[arg(long, default_value = "runs/vggnet")]
    out: PathBuf,
    /// Continue the run saved in this folder with every setting it was started with (data
    /// limits, data folder, device, ...); a flag that would change the run is refused
    #[arg(long, conflicts_with_all = ["out", "dry_run"])]
    resume: Option<PathBuf>,
    /// With --resume: allow another device or precision than the run used (the
    /// continuation is then not exact)
    #[arg(long, requires = "resume")]
    allow_inexact_resume: bool,
    /// Evaluate on the test set every N steps (for time-to-accuracy); 0 = epoch ends only
    #[arg(long, default_value_t = 0)]
    eval_every: usize,
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

#[derive(Clone, Copy)]
struct AugmentArg(Option<Augment>);

fn parse_augment(s: &str) -> std::result::Result<AugmentArg, String> {
    if s == "none" {
        return Ok(AugmentArg(None));
    }
    let bad = || {
        format!("expected `none` or SHIFT,DEGREES[,FROM_EPOCH] (e.g. 2,10 or 2,10,1), got `{s}`")
    };
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let num = |v: &str| match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(bad()),
    };
    let from_epoch = match parts.get(2) {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|&e| e >= 1)
            .ok_or_else(bad)?,
        None => Augment::default().from_epoch,
    };
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    Ok(AugmentArg(Some(Augment {
        max_shift: num(parts[0])?,
        max_rotation: num(parts[1])?,
        from_epoch,
    })))
}

fn recipe(r: RecipeArg) -> Recipe {
    match r {
        RecipeArg::Article => Recipe::Article,
        RecipeArg::Fast => Recipe::Fast,
    }
}

fn data_config(args: &DataArgs) -> DataConfig {
    let of = DataConfig::of(args.dataset.unwrap_or_default());
    DataConfig {
        dir: args.data_dir.clone().unwrap_or(of.dir.clone()),
        train_limit: args.train_limit,
        test_limit: args.test_limit,
        download: !args.offline,
        ..of
    }
}

/// Progress for the terminal: an indicatif bar per epoch when stderr is a terminal, plain lines
/// otherwise (logs, CI).
struct Terminal {
    bar: Option<ProgressBar>,
    lines: Option<PrintLines>,
}

impl Terminal {
    fn new(every: usize) -> Self {
        Terminal {
            bar: None,
            lines: (!std::io::stderr().is_terminal()).then_some(PrintLines { every }),
        }
    }
}

impl Observer for Terminal {
    fn on_message(&mut self, m: &str) {
        eprintln!("{m}");
    }
    fn on_epoch_start(&mut self, epoch: usize, num_batches: usize) {
        if self.lines.is_some() {
            return;
        }
        let bar = ProgressBar::new(num_batches as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30.cyan/blue}] {pos}/{len} {elapsed_precise}<{eta_precise} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(epoch.to_string());
        self.bar = Some(bar);
    }
    fn on_batch(&mut self, p: &BatchProgress) {
        if let Some(lines) = &mut self.lines {
            return lines.on_batch(p);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(p.batch as u64 + 1);
            bar.set_message(format!(
                "loss {:.4} acc {:.2}% {:.1} img/s",
                p.running_loss, p.running_accuracy, p.images_per_sec
            ));
        }
    }
    fn on_eval(&mut self, e: &EvalPoint) {
        let line = format!(
            "step {}: test accuracy {:.2}% after {:.0}s of training",
            e.step, e.test_accuracy, e.train_seconds
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
    fn on_epoch_end(&mut self, r: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            // The summary line below replaces the bar, so it always starts on its own line.
            bar.finish_and_clear();
        }
        eprintln!(
            "epoch {}: train loss {:.4}, train accuracy {:.2}%, test accuracy {}, {:.1}s ({:.1} images/s){}",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            r.test_accuracy.map(|a| format!("{a:.2}%")).unwrap_or_else(|| "-".into()),
            r.seconds,
            r.images_per_sec,
            if r.skipped_steps > 0 { format!(", {} steps skipped (inf/NaN)", r.skipped_steps) } else { String::new() }
        );
    }
}

/// A path as the user can paste it into a shell.
fn shell_quoted(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn amp_mode(arg: AmpArg, device: tch::Device) -> AmpMode {
    match arg {
        AmpArg::Auto => AmpMode::Auto,
        AmpArg::On => AmpMode::On,
        AmpArg::Off => AmpMode::Off,
        AmpArg::Bf16 => AmpMode::Bf16,
        AmpArg::Fastest => AmpMode::fastest_on(device),
    }
}

fn train(args: TrainArgs, matches: &ArgMatches) -> Result<()> {
    // Only what the user typed counts with --resume; defaults never override a saved run.
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    let device = parse_device(&args.device)?;
    let mut run = match &args.resume {
        Some(dir) => {
            let request = ResumeRequest {
                epochs: given("epochs").then_some(args.epochs),
                batch_size: given("batch_size").then_some(args.batch_size),
                lr: given("lr").then_some(args.lr),
                weight_decay: given("weight_decay").then_some(args.weight_decay),
                seed: given("seed").then_some(args.seed),
                amp: given("amp").then_some(amp_mode(args.amp, device)),
                eval_every: given("eval_every").then_some(args.eval_every),
                recipe: given("recipe").then_some(recipe(args.recipe)),
                dataset: args.data.dataset,
                data_dir: args.data.data_dir.clone(),
                train_limit: args.data.train_limit,
                test_limit: args.data.test_limit,
                device: given("device").then_some(device),
                allow_inexact: args.allow_inexact_resume,
                plots: given("no_plots").then_some(!args.no_plots),
                download: !args.data.offline,
            };
            // Its errors name the folder or file and the problem.
            let run = Run::resume(dir, &request)?;
            let t = &run.trainer;
            eprintln!(
                "resuming {} at epoch {} batch {} ({} epochs done)",
                dir.display(),
                t.position.epoch + 1,
                t.position.batch,
                t.history.len()
            );
            run
        }
        None => {
            let mut data = data_config(&args.data);
            let mut epochs = args.epochs;
            if args.dry_run {
                data.train_limit = Some(data.train_limit.unwrap_or(256).min(256));
                data.test_limit = Some(data.test_limit.unwrap_or(256).min(256));
                epochs = 1;
            }
            if args.batch_size == 0 || epochs == 0 {
                bail!("--batch-size and --epochs must be at least 1");
            }
            // The recipe's settings, then whatever the command line gave explicitly.
            let base = TrainConfig::recipe(recipe(args.recipe));
            let train = TrainConfig {
                epochs,
                batch_size: args.batch_size,
                optimizer: AdamWConfig {
                    lr: if given("lr") {
                        args.lr
                    } else {
                        base.optimizer.lr
                    },
                    weight_decay: if given("weight_decay") {
                        args.weight_decay
                    } else {
                        base.optimizer.weight_decay
                    },
                    ..base.optimizer
                },
                seed: args.seed,
                amp: amp_mode(args.amp, device),
                eval_every_steps: args.eval_every,
                schedule: match args.warmup {
                    Some(w) if (0.0..1.0).contains(&w) => LrSchedule::WarmupCosine {
                        warmup: w,
                        final_fraction: match base.schedule {
                            LrSchedule::WarmupCosine { final_fraction, .. } => final_fraction,
                            LrSchedule::Constant => TrainConfig::fast_final_fraction(),
                        },
                    },
                    Some(w) => bail!("--warmup must be a fraction in [0, 1), got {w}"),
                    None => base.schedule,
                },
                label_smoothing: match args.label_smoothing {
                    Some(x) if (0.0..1.0).contains(&x) => x,
                    Some(x) => bail!("--label-smoothing must be in [0, 1), got {x}"),
                    None => base.label_smoothing,
                },
                augment: args.augment.map_or(base.augment, |a| a.0),
                flush_denormals: !args.keep_denormals,
                ..base
            };
            let (in_channels, image_size) = data.dataset.input();
            Run::start(
                &args.out,
                RunConfig {
                    train,
                    data,
                    device,
                    plots: !args.no_plots,
                    // The network's input follows the data set's pictures (1x28x28, 3x32x32);
                    // the classifier's input follows the feature size.
                    model: VggConfig {
                        batch_norm: args.batch_norm,
                        in_channels,
                        image_size,
                        ..Default::default()
                    },
                },
            )?
        }
    };
    for note in &run.notes {
        eprintln!("{note}");
    }
    let config = &run.trainer.config;
    eprintln!(
        "training on {} images, testing on {} ({}, batch {}, {} epochs, output {})",
        run.data.train.len(),
        run.data.test.len(),
        run.spec.device,
        config.batch_size,
        config.epochs,
        run.dir.display()
    );
    let stop = run.trainer.stop_flag();
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting now (the last saved checkpoint is intact)");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: stopping after this batch and saving a resumable checkpoint...");
    })
    .context("cannot install the Ctrl-C handler")?;

    let mut obs = Terminal::new(args.log_every);
    let limits = StopAt {
        epochs: args.stop_after,
        ..Default::default()
    };
    let end = run.train(&mut obs, limits)?;
    if end != RunEnd::Finished {
        let p = &run.trainer.position;
        eprintln!(
            "stopped at epoch {} batch {}; resume with: vggnet train --resume {}",
            p.epoch + 1,
            p.batch,
            shell_quoted(&run.dir)
        );
        if end == RunEnd::Interrupted {
            std::process::exit(130);
        }
        return Ok(());
    }
    let (ev, files) = run.finish()?;
    eprintln!(
        "final test accuracy {:.2}% ({}/{})",
        ev.accuracy, ev.correct, ev.total
    );
    eprintln!("wrote:");
    for f in &files {
        eprintln!("  {}", f.display());
    }
    eprintln!(
        "  {}/ (resumable training state)",
        run.state_dir().display()
    );
    Ok(())
}

/// Refuses a model whose input is not the data set's pictures, naming both.
fn fits(model: &vggnet::model::Vgg, path: &Path, dataset: Dataset) -> Result<()> {
    let c = model.config();
    let (channels, side) = dataset.input();
    if (c.in_channels, c.image_size) != (channels, side) {
        bail!(
            "{} takes {}x{s}x{s} pictures but {} has {channels}x{side}x{side}: give --dataset \
             for the data set it was trained on",
            path.display(),
            c.in_channels,
            dataset.title(),
            s = c.image_size
        );
    }
    Ok(())
}

fn eval_cmd(
    model_path: &Path,
    data: &DataArgs,
    batch: usize,
    json: bool,
    plots: Option<PathBuf>,
    device: &str,
) -> Result<()> {
    let device = parse_device(device)?;
    let model = load_model(model_path, device)?;
    let cfg = data_config(data);
    let names = cfg.dataset;
    fits(&model, model_path, names)?;
    let (test, _) = Data::load_test(&cfg)?;
    let ev = evaluate(&model, &test, batch)?;
    if let Some(dir) = plots {
        write_eval_plots(&dir, &ev, &test, names)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&evaluation_json(&ev))?);
        return Ok(());
    }
    println!(
        "test accuracy: {:.2}% ({}/{})",
        ev.accuracy, ev.correct, ev.total
    );
    println!("per-class accuracy:");
    let width = names.classes().iter().map(|c| c.len()).max().unwrap_or(1);
    for (c, a) in ev.per_class_accuracy().iter().enumerate() {
        println!("  {:>width$}: {a:6.2}%", names.class_name(c as i64));
    }
    if names != Dataset::Mnist {
        let classes: Vec<String> = names
            .classes()
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{i} {c}"))
            .collect();
        println!("classes: {}", classes.join(", "));
    }
    println!("confusion matrix (rows: true, columns: predicted):");
    print!("     ");
    for c in 0..ev.confusion.len() {
        print!("{c:>6}");
    }
    println!();
    for (t, row) in ev.confusion.iter().enumerate() {
        print!("  {t}: ");
        for v in row {
            print!("{v:>6}");
        }
        println!();
    }
    println!("misclassified: {}", ev.misclassified.len());
    Ok(())
}

/// One line per picture, in the order given: its reading, or why it has none. Every picture
/// is tried; the exit status is non-zero when any could not be read.
fn predict_cmd(args: &PredictArgs) -> Result<()> {
    if args.images.is_empty() && args.indices.is_empty() {
        bail!("give at least one image file or --index N");
    }
    let device = parse_device(&args.device)?;
    let model = load_model(&args.model, device)?;
    let input = (model.config().in_channels, model.config().image_size);
    if !args.images.is_empty() && input != Dataset::Mnist.input() {
        bail!(
            "{} takes {}x{s}x{s} pictures: pictures from files are read as handwritten digits \
             (1x28x28), so give a digit model, or --index N for test pictures",
            args.model.display(),
            input.0,
            s = input.1
        );
    }
    let k = args.top.max(1);
    let mut results = Vec::new();
    let mut prepared = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for path in &args.images {
        let name = path.display().to_string();
        let outcome = vggnet::prepare::prepare_file(path).map_err(|e| match e {
            vggnet::Error::Image { problem, .. } => problem,
            other => {
                let text = other.to_string();
                text.strip_prefix(&format!("{name}: "))
                    .map(str::to_string)
                    .unwrap_or(text)
            }
        });
        match outcome {
            Ok(p) => {
                let reading = vggnet::read::read(&model, &p, k)?;
                if !args.json {
                    println!("{name}: {}", describe(&reading));
                }
                results.push(serde_json::json!({
                    "input": name,
                    "digits_found": reading.digits.len(),
                    "number": reading.number(),
                    "lines": reading.lines(),
                    "top": top_json(&reading.largest().top),
                    "digits": reading.digits.iter().map(|d| serde_json::json!({
                        "class": d.class, "probability": d.probability, "line": d.line,
                        "top": top_json(&d.top),
                    })).collect::<Vec<_>>(),
                }));
                prepared.push((name, p));
            }
            Err(problem) => {
                if !args.json {
                    println!("{name}: error: {problem}");
                }
                failed.push(name.clone());
                results.push(serde_json::json!({"input": name, "error": problem}));
            }
        }
    }
    if let Some(out) = &args.show_prepared {
        let rows: Vec<(String, &vggnet::prepare::Preparation)> =
            prepared.iter().map(|(n, p)| (n.clone(), p)).collect();
        if rows.is_empty() {
            eprintln!("--show-prepared: no picture with a digit to show");
        } else {
            vggnet::plot::preparation_strips(&rows)?.save(out)?;
            eprintln!("wrote {} (what the model saw)", out.display());
        }
    }
    if !args.indices.is_empty() {
        let cfg = data_config(&args.data);
        let names = cfg.dataset;
        fits(&model, &args.model, names)?;
        let (test, _) = Data::load_test(&cfg)?;
        let labels = Vec::<i64>::try_from(&test.labels)?;
        for &i in &args.indices {
            if i >= test.len() {
                bail!(
                    "--index {i} is out of range: the test set has {} images",
                    test.len()
                );
            }
            // The stored picture as bytes and normalized again: what a file of it would give.
            let probs = predict_proba(&model, &names.normalize(&test.pixels(i)))?;
            let top = top_k(&probs.get(0), k)?;
            let name = format!("{}-test[{i}]", names.name());
            if !args.json {
                println!(
                    "{name}: {} [true: {}]",
                    ranked_named(&top, names),
                    names.class_name(labels[i])
                );
            }
            results.push(serde_json::json!({
                "input": name, "label": labels[i], "label_name": names.class_name(labels[i]),
                "digits_found": 1, "top": top_json(&top),
            }));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    if !failed.is_empty() {
        // The summary names the files, on stderr, after every picture's line on stdout.
        let shown: Vec<&str> = failed.iter().take(5).map(String::as_str).collect();
        let more = failed.len().saturating_sub(shown.len());
        bail!(
            "{} of {} pictures could not be read: {}{} (see their lines above)",
            failed.len(),
            args.images.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// "7 (99.1%), 1 (0.5%), 2 (0.1%)".
fn ranked(top: &[(i64, f64)]) -> String {
    let parts: Vec<String> = top
        .iter()
        .map(|(c, p)| format!("{c} ({:.1}%)", 100.0 * p))
        .collect();
    parts.join(", ")
}

/// [`ranked`] with class names: "Ankle boot (91.0%), Sneaker (6.2%)".
fn ranked_named(top: &[(i64, f64)], dataset: Dataset) -> String {
    let parts: Vec<String> = top
        .iter()
        .map(|(c, p)| format!("{} ({:.1}%)", dataset.class_name(*c), 100.0 * p))
        .collect();
    parts.join(", ")
}

fn top_json(top: &[(i64, f64)]) -> Vec<serde_json::Value> {
    top.iter()
        .map(|(c, p)| serde_json::json!({"class": c, "probability": p}))
        .collect()
}

/// A single digit as its ranked classes; a number as its digits (lines apart with " / ") and
/// each digit's confidence.
fn describe(reading: &vggnet::read::Reading) -> String {
    if reading.digits.len() == 1 {
        return ranked(&reading.largest().top);
    }
    let each: Vec<String> = reading
        .digits
        .iter()
        .map(|d| format!("{} {:.1}%", d.class, 100.0 * d.probability))
        .collect();
    format!(
        "{} ({} digits: {})",
        reading.lines().join(" / "),
        reading.digits.len(),
        each.join(", ")
    )
}

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let train_matches = matches.subcommand_matches("train").cloned();
    match run(cli, train_matches) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain on one line, e.g. "cannot resume from X: X/state/...: ...".
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, train_matches: Option<ArgMatches>) -> Result<()> {
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
                        "{}: MD5 mismatch with the official file; delete it and run again",
                        p.display()
                    );
                }
                println!("ok  {}", p.display());
            }
            Ok(())
        }
        Command::Train(args) => train(args, &train_matches.unwrap_or_default()),
        Command::Eval {
            model,
            data,
            batch_size,
            json,
            plots,
            device,
        } => eval_cmd(&model, &data, batch_size, json, plots, &device),
        Command::Predict(args) => predict_cmd(&args),
        Command::Calibrate { json } => {
            eprintln!("measuring bfloat16 AMP and float32 training steps on this CPU...");
            let c = vggnet::calibrate::measure()?;
            match vggnet::calibrate::cache_file() {
                Some(file) => {
                    vggnet::calibrate::store_in(&file, &c)?;
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
