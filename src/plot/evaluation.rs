//! Evaluation charts: the article's 2x3 grid, the confusion matrix, galleries of pictures.

use super::*;
use crate::data::{Dataset, Split};
use crate::error::Result;
use crate::eval::{Evaluation, Sample};
use plotters::prelude::*;

/// The article's figure: the first six test pictures in a 2x3 grid titled "True: x, Pred: y",
/// with `dataset`'s class names ("True: Ankle boot, Pred: Sneaker").
pub fn prediction_grid(samples: &[Sample], dataset: Dataset) -> Result<Figure> {
    let digits: Vec<_> = samples
        .iter()
        .take(6)
        .map(|s| {
            (
                s.pixels.clone(),
                format!(
                    "True: {}, Pred: {}",
                    dataset.class_name(s.label),
                    dataset.class_name(s.prediction)
                ),
            )
        })
        .collect();
    digit_grid(&digits, 3)
}

/// Up to `max` misclassified pictures of `split`, titled with the truth and the prediction.
pub fn misclassified_gallery(
    ev: &Evaluation,
    split: &Split,
    max: usize,
    dataset: Dataset,
) -> Result<Figure> {
    let labels = Vec::<i64>::try_from(&split.labels)?;
    let digits: Vec<_> = ev
        .misclassified
        .iter()
        .take(max)
        .map(|&i| {
            Ok((
                split.pixels(i)?,
                format!(
                    "#{i} True: {}, Pred: {}",
                    dataset.class_name(labels[i]),
                    dataset.class_name(ev.predictions[i])
                ),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    digit_grid(&digits, 6)
}

/// The first `n` digits of a split with their labels.
pub fn sample_grid(split: &Split, n: usize, cols: usize) -> Result<Figure> {
    let labels = Vec::<i64>::try_from(&split.labels)?;
    let digits = (0..n.min(split.len()))
        .map(|i| {
            Ok((
                split.pixels(i)?,
                format!("Label: {}", split.dataset.class_name(labels[i])),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    digit_grid(&digits, cols)
}

/// A heatmap of `confusion[label][prediction]` with the counts written in the cells and the
/// axes labelled with `dataset`'s class names.
pub fn confusion_matrix(confusion: &[Vec<u64>], dataset: Dataset) -> Result<Figure> {
    let k = confusion.len().max(1);
    let named = dataset.classes().iter().any(|c| c.len() > 2);
    // Room for names ("Ankle boot") beside the rows.
    let (width, name_area) = if named { (760, 95) } else { (640, 40) };
    let kf = k as f64;
    let max = confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    // Integer ticks fall on cell centres: cell (p, y) spans [p - 0.5, p + 0.5].
    let label = move |v: &f64, flip: bool| {
        let r = v.round();
        if (v - r).abs() > 1e-6 || r < 0.0 || r > kf - 1.0 {
            return String::new();
        }
        dataset.class_name((if flip { kf - 1.0 - r } else { r }) as i64)
    };
    Figure::render(width, 640, |root| {
        draw_centered(root, "Confusion matrix", 22.0, 10)?;
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .margin_top(42)
            .x_label_area_size(40)
            .y_label_area_size(name_area)
            .build_cartesian_2d(-0.5..kf - 0.5, -0.5..kf - 0.5)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_labels(k)
            .y_labels(k)
            .label_style(font(if named { 10.0 } else { 12.0 }))
            .axis_desc_style(font(14.0))
            .x_label_formatter(&|v| label(v, false))
            .y_label_formatter(&|v| label(v, true))
            .draw()
            .map_err(plot_err)?;
        for (t, row) in confusion.iter().enumerate() {
            for (p, &count) in row.iter().enumerate() {
                // Log scale so small off-diagonal counts stay visible.
                let level = ((count as f64 + 1.0).ln() / (max + 1.0).ln()).clamp(0.0, 1.0);
                let shade = (255.0 * (1.0 - level)) as u8;
                let (x, y) = (p as f64, (k - 1 - t) as f64);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        RGBColor(shade, shade, 255).filled(),
                    )))
                    .map_err(plot_err)?;
                let color = if level > 0.6 { WHITE } else { BLACK };
                let text = format!("{count}");
                let dx = 0.09 * text.len() as f64;
                chart
                    .draw_series(std::iter::once(Text::new(
                        text,
                        (x - dx, y + 0.12),
                        font(12.0).color(&color),
                    )))
                    .map_err(plot_err)?;
            }
        }
        Ok(())
    })
}
