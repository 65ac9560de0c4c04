//! `vggnet eval` and `vggnet predict`: a trained model on a test set, on the user's pictures,
//! or on test pictures by index.

use super::*;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use vggnet::data::{check_fits, Data, Dataset};
use vggnet::engine::packed::{evaluate, evaluate_mirrored, predict_proba};
use vggnet::eval::top_k;
use vggnet::run::{evaluation_json, write_eval_plots};
use vggnet::store::checkpoint::load_model;
use vggnet::tch::Device;

/// Refuses a model that does not fit the data set ([`check_fits`]: classes, channels, picture
/// size), naming the file, with what to do.
fn fits(model: &vggnet::model::Vgg, path: &Path, dataset: Dataset) -> Result<()> {
    check_fits(model.config(), dataset, Some(path))
        .map_err(|e| anyhow::anyhow!("{e}: give --dataset for the data set it was trained on"))
}

/// `vggnet eval`'s output and evaluation choices.
pub(super) struct EvalOptions {
    pub batch_size: usize,
    pub json: bool,
    pub plots: Option<PathBuf>,
    pub mirror_mean: bool,
}

pub(super) fn eval_cmd(
    model_path: &Path,
    data: &DataArgs,
    options: EvalOptions,
    device: Device,
) -> Result<()> {
    vggnet::data::check_batch_size(options.batch_size)?;
    let cfg = data_config(data);
    cfg.validate()?;
    let model = load_model(model_path, device)?;
    let names = cfg.dataset;
    fits(&model, model_path, names)?;
    let (test, _) = Data::load_test(&cfg)?;
    let ev = if options.mirror_mean {
        evaluate_mirrored(&model, &test, options.batch_size)?
    } else {
        evaluate(&model, &test, options.batch_size)?
    };
    if let Some(dir) = options.plots {
        write_eval_plots(&dir, &ev, &test, names)?;
    }
    if options.json {
        let mut json = evaluation_json(&ev);
        json["mirror_mean"] = options.mirror_mean.into();
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let how = if options.mirror_mean {
        ", each picture's probabilities averaged with its mirror image's"
    } else {
        ""
    };
    println!(
        "test accuracy: {:.2}% ({}/{}{how})",
        ev.accuracy, ev.correct, ev.total
    );
    println!("per-class accuracy:");
    let width = names.classes().iter().map(|c| c.len()).max().unwrap_or(1);
    for (c, a) in ev.per_class_accuracy().iter().enumerate() {
        println!("  {:>width$}: {a:6.2}%", names.class_name(c as i64));
    }
    // The classes by number when their names are not their numbers (not digits).
    if names
        .classes()
        .iter()
        .enumerate()
        .any(|(i, c)| *c != i.to_string())
    {
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
pub(super) fn predict_cmd(args: &PredictArgs) -> Result<()> {
    if args.images.is_empty() && args.indices.is_empty() {
        bail!("give at least one image file or --index N");
    }
    let device = args.device;
    let model = load_model(&args.model, device)?;
    if !args.images.is_empty() {
        check_fits(model.config(), Dataset::Mnist, Some(&args.model)).map_err(|e| {
            anyhow::anyhow!(
                "{e}: pictures from files are read as handwritten digits, so give a digit \
                 model, or --index N for test pictures"
            )
        })?;
    }
    if args.top == 0 {
        bail!("--top 0 shows no class: give at least 1");
    }
    let k = args.top;
    let mut results = Vec::new();
    let mut prepared = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for path in &args.images {
        let name = path.display().to_string();
        let outcome = vggnet::digits::prepare::prepare_file(path).map_err(|e| match e {
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
                let reading = vggnet::digits::read::read(&model, &p, k)?;
                if !args.json {
                    match &p.doubt {
                        Some(doubt) => println!("{name}: {} [{doubt}]", describe(&reading)),
                        None => println!("{name}: {}", describe(&reading)),
                    }
                }
                results.push(serde_json::json!({
                    "input": name,
                    "digits_found": reading.digits.len(),
                    "number": reading.number(),
                    "lines": reading.lines(),
                    "doubt": p.doubt,
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
        let rows: Vec<(String, &vggnet::digits::prepare::Preparation)> =
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
            let probs = predict_proba(&model, &test.images_range(i, 1)?)?; // (1, classes)
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
fn describe(reading: &vggnet::digits::read::Reading) -> String {
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
