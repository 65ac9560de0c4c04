//! `photos`: the synthetic photo test set (vggnet::digits::synth) end to end. Writes every picture
//! as the file a user would have (PNG or JPEG), prepares it from that file, compares the
//! result with the same strokes rendered in MNIST style, and, with `--model`, classifies it.
//! Prints per style the accuracy, the pictures whose preparation was unsure of itself, the
//! mean preparation time per picture, and the preparation time of the largest picture; then
//! the multi-digit pages (numbers of 2-6 digits, half of them on a desk; then in a shadow, and
//! on a small page in a big photo): how many were read exactly, and the preparation time per
//! digit; and numbers of 3-5 digits where two digits touch, or all do: how often the digits
//! are counted right. Writes `report.json` and strips of prepared examples (`strip.png`,
//! `numbers.png`, `numbers-shadowed.png`, `numbers-small-page.png`) into `--out`.

use anyhow::{Context, Result};
use clap::Parser;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use vggnet::digits::prepare::{prepare_file, similarity};
use vggnet::digits::synth::desk::{
    number_page, number_set, number_set_in, NumberPage, Setting, Spacing, Touching, APART,
};
use vggnet::digits::synth::{mnist_reference, test_set};

#[derive(Parser)]
#[command(about = "Prepare (and classify) the synthetic photo test set")]
struct Args {
    /// Model to classify with (.safetensors or .pth); without it only the preparation is checked
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output folder: the pictures, report.json, strip.png
    #[arg(long, default_value = "out/photos")]
    out: PathBuf,
    /// Pictures per style and digit
    #[arg(long, default_value_t = 2)]
    per: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Multi-digit pages
    #[arg(long, default_value_t = 50)]
    pages: usize,
    /// Multi-digit pages in a shadow, and on a small page in a big photo (each)
    #[arg(long, default_value_t = 20)]
    phone_pages: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let model = match &args.model {
        Some(p) => Some(vggnet::store::checkpoint::load_model(p, tch::Device::Cpu)?),
        None => None,
    };
    let mut per_style: BTreeMap<&str, (usize, usize, f64)> = BTreeMap::new();
    // Per style: pictures the preparation was unsure of, and preparation seconds.
    let mut unsure_secs: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut slowest = (0.0f64, String::new());
    let mut strips = Vec::new();
    for (i, pic) in test_set(args.per, args.seed).enumerate() {
        let (bytes, ext) = pic.encode()?;
        let name = format!("{:03}-{}-{}.{ext}", i, pic.style.name(), pic.label);
        let path = args.out.join(&name);
        std::fs::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let start = Instant::now();
        let prepared = prepare_file(&path);
        let secs = start.elapsed().as_secs_f64();
        if secs > slowest.0 {
            slowest = (
                secs,
                format!("{name} ({}x{})", pic.image.width(), pic.image.height()),
            );
        }
        let extra = unsure_secs.entry(pic.style.name()).or_default();
        extra.1 += secs;
        let doubt = prepared.as_ref().ok().and_then(|p| p.doubt.clone());
        extra.0 += usize::from(doubt.is_some());
        let entry = per_style.entry(pic.style.name()).or_default();
        entry.0 += 1;
        let (similar, predicted) = match &prepared {
            Ok(p) => {
                let reference = mnist_reference(&pic.strokes, pic.pen_width);
                let sim = similarity(p.pixels(), &reference);
                entry.2 += sim;
                // One example per style, each a different digit, for strip.png.
                let (style_pos, within) = (i / (10 * args.per), i % (10 * args.per));
                if within % args.per == 0 && within / args.per == (style_pos * 3 + 1) % 10 {
                    strips.push((name.clone(), p.clone()));
                }
                let predicted = match &model {
                    Some(m) => {
                        let reading = vggnet::digits::read::read(m, p, 1)?;
                        Some(reading.largest().class)
                    }
                    None => None,
                };
                (Some(sim), predicted)
            }
            Err(e) => {
                eprintln!("{name}: {e}");
                (None, None)
            }
        };
        if predicted == Some(pic.label as i64) {
            entry.1 += 1;
        }
        rows.push(serde_json::json!({
            "file": name, "style": pic.style, "label": pic.label,
            "width": pic.image.width(), "height": pic.image.height(),
            "jpeg_quality": pic.jpeg_quality, "similarity": similar,
            "predicted": predicted, "prepare_seconds": secs, "doubt": doubt,
        }));
    }
    let mut total = (0, 0);
    println!(
        "style          pictures  correct  accuracy  unsure  s/picture  mean similarity to the \
         MNIST-style rendering"
    );
    for (style, (n, ok, sim)) in &per_style {
        total.0 += n;
        total.1 += ok;
        let (unsure, secs) = unsure_secs.get(style).copied().unwrap_or_default();
        println!(
            "{style:<14} {n:>8} {ok:>8} {:>8.1}%  {unsure:>6}  {:>9.3}  {:.3}",
            100.0 * *ok as f64 / *n as f64,
            secs / *n as f64,
            sim / *n as f64
        );
    }
    println!(
        "all            {:>8} {:>8} {:>8.1}%",
        total.0,
        total.1,
        100.0 * total.1 as f64 / total.0 as f64
    );
    println!("slowest preparation: {:.3}s for {}", slowest.0, slowest.1);
    if !strips.is_empty() {
        let rows: Vec<(String, &vggnet::digits::prepare::Preparation)> =
            strips.iter().map(|(n, p)| (n.clone(), p)).collect();
        vggnet::plot::preparation_strips(&rows)?.save(&args.out.join("strip.png"))?;
    }
    let main_numbers = numbers(
        &args,
        model.as_ref(),
        "numbers",
        "2-6 digits",
        number_set(args.pages, args.seed),
    )?;
    let shadowed = numbers(
        &args,
        model.as_ref(),
        "shadowed",
        "2-6 digits on a desk, in a shadow",
        number_set_in(args.phone_pages, args.seed, Setting::Shadowed),
    )?;
    let small = numbers(
        &args,
        model.as_ref(),
        "small-page",
        "2-6 digits on a slip, 1/20-1/8 of a big photo",
        number_set_in(args.phone_pages, args.seed, Setting::Small),
    )?;
    let touching = touching(&args, model.as_ref())?;
    vggnet::store::fsio::write_json(
        &args.out.join("report.json"),
        &serde_json::json!({
            "model": args.model, "per": args.per, "seed": args.seed,
            "per_style": per_style.iter().map(|(s, (n, ok, sim))| (s.to_string(), serde_json::json!({
                "pictures": n, "correct": ok, "accuracy": 100.0 * *ok as f64 / *n as f64,
                "mean_similarity": sim / *n as f64,
                "unsure": unsure_secs.get(s).map(|u| u.0),
                "mean_prepare_seconds": unsure_secs.get(s).map(|u| u.1 / *n as f64)}))).collect::<BTreeMap<_, _>>(),
            "slowest_prepare_seconds": slowest.0, "pictures": rows,
            "numbers": main_numbers, "numbers_shadowed": shadowed, "numbers_small_page": small,
            "touching": touching,
        }),
    )?;
    Ok(())
}

/// Multi-digit pages (`kind`: "numbers" for the main set, whose strips go to numbers.png):
/// prepared from their files, the digits counted against the truth, and (with a model) read;
/// returns the report's section for them.
fn numbers(
    args: &Args,
    model: Option<&vggnet::model::Vgg>,
    kind: &str,
    what: &str,
    pages: impl Iterator<Item = NumberPage>,
) -> Result<serde_json::Value> {
    let (mut counted, mut exact, mut digits, mut seconds) = (0, 0, 0, 0.0f64);
    let (mut n, mut unsure) = (0usize, 0usize);
    let mut slowest_per_digit = 0.0f64;
    let mut rows = Vec::new();
    let mut strips = Vec::new();
    let prefix = if kind == "numbers" {
        "number".to_string()
    } else {
        format!("number-{kind}")
    };
    for (i, page) in pages.enumerate() {
        n += 1;
        let name = format!("{prefix}-{i:03}-{}.jpg", page.text().replace(' ', "_"));
        let path = args.out.join(&name);
        std::fs::write(&path, page.encode()?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let start = Instant::now();
        let prepared = prepare_file(&path);
        let secs = start.elapsed().as_secs_f64();
        let truth = page.strokes.len();
        digits += truth;
        seconds += secs;
        slowest_per_digit = slowest_per_digit.max(secs / truth as f64);
        let doubt = prepared.as_ref().ok().and_then(|p| p.doubt.clone());
        unsure += usize::from(doubt.is_some());
        let (found, read) = match &prepared {
            Ok(p) => {
                if p.digits_found() == truth {
                    counted += 1;
                }
                if i < 4 {
                    strips.push((name.clone(), p.clone()));
                }
                let read = match model {
                    Some(m) => Some(vggnet::digits::read::read(m, p, 1)?.number()),
                    None => None,
                };
                (p.digits_found(), read)
            }
            Err(e) => {
                eprintln!("{name}: {e}");
                (0, None)
            }
        };
        if read.as_deref() == Some(page.text().as_str()) {
            exact += 1;
        }
        rows.push(serde_json::json!({
            "file": name, "number": page.text(), "on_desk": page.on_desk,
            "width": page.image.width(), "height": page.image.height(),
            "digits_found": found, "read": read, "prepare_seconds": secs, "doubt": doubt,
        }));
    }
    let pages = n;
    let n = pages.max(1) as f64;
    println!(
        "{kind:<12} {pages:>8} pages of {what}: digits counted right on {counted}, read exactly {}, unsure {unsure}",
        if model.is_some() { format!("{exact} ({:.1}%)", 100.0 * exact as f64 / n) } else { "- (no --model)".into() }
    );
    println!(
        "preparation per digit: {:.3}s mean, {:.3}s at most",
        seconds / digits.max(1) as f64,
        slowest_per_digit
    );
    if !strips.is_empty() {
        let rows: Vec<(String, &vggnet::digits::prepare::Preparation)> =
            strips.iter().map(|(n, p)| (n.clone(), p)).collect();
        let file = if kind == "numbers" {
            "numbers.png".to_string()
        } else {
            format!("numbers-{kind}.png")
        };
        vggnet::plot::preparation_strips(&rows)?.save(&args.out.join(file))?;
    }
    Ok(serde_json::json!({
        "pages": pages, "digits_counted_right": counted, "unsure": unsure,
        "read_exactly": model.map(|_| exact), "exact_percent": model.map(|_| 100.0 * exact as f64 / n),
        "mean_seconds_per_digit": seconds / digits.max(1) as f64,
        "max_seconds_per_digit": slowest_per_digit, "pages_detail": rows,
    }))
}

/// Numbers of 3-5 digits (on pages filling the picture) where the second and third digits
/// touch, and where every digit touches the next: how often the count comes out right, and
/// (with a model) how often the number is read exactly.
fn touching(args: &Args, model: Option<&vggnet::model::Vgg>) -> Result<serde_json::Value> {
    use rand::{Rng, SeedableRng};
    let mut report = serde_json::Map::new();
    for (kind, touching) in [("pair", Touching::After(1)), ("all", Touching::All)] {
        let (mut counted, mut exact) = (0, 0);
        let n = args.pages;
        for i in 0..n {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed * 7_000 + i as u64);
            let len = rng.random_range(3..=5usize);
            let digits: Vec<u8> = (0..len).map(|_| rng.random_range(0..10u8)).collect();
            let spacing = Spacing { touching, ..APART };
            let page = number_page(&[digits], spacing, false, args.seed * 9_000 + i as u64);
            let img = image::DynamicImage::ImageRgb8(page.image.clone());
            if let Ok(p) = vggnet::digits::prepare::prepare(&img) {
                counted += usize::from(p.digits_found() == len);
                if let Some(m) = model {
                    exact +=
                        usize::from(vggnet::digits::read::read(m, &p, 1)?.number() == page.text());
                }
            }
        }
        println!(
            "touching {kind:<4} {n:>6} pages of 3-5 digits: counted right on {counted} ({:.0}%){}",
            100.0 * counted as f64 / n.max(1) as f64,
            if model.is_some() {
                format!(", read exactly {exact}")
            } else {
                String::new()
            }
        );
        report.insert(
            kind.into(),
            serde_json::json!({
                "pages": n, "counted_right": counted, "read_exactly": model.map(|_| exact),
            }),
        );
    }
    Ok(report.into())
}
