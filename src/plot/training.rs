//! Training charts: per-epoch curves, the step curve, the learning-rate range test and
//! side-by-side trials.

use super::*;
use crate::error::Result;
use crate::train::EpochRecord;
use plotters::prelude::*;

/// Loss and accuracy per epoch: train loss on the left, train/test accuracy on the right.
pub fn training_curves(history: &[EpochRecord]) -> Result<Figure> {
    let n = history.len().max(1) as f64;
    Figure::render(1000, 400, |root| {
        let (left, right) = root.split_horizontally(500);
        let max_loss = history
            .iter()
            .map(|r| r.train_loss)
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.1;
        let mut chart = line_chart(&left, "Training loss", "epoch", 0.5..n + 0.5, 0.0..max_loss)?;
        chart
            .draw_series(LineSeries::new(
                history.iter().map(|r| (r.epoch as f64, r.train_loss)),
                RED.stroke_width(2),
            ))
            .map_err(plot_err)?;
        chart
            .draw_series(
                history
                    .iter()
                    .map(|r| Circle::new((r.epoch as f64, r.train_loss), 4, RED.filled())),
            )
            .map_err(plot_err)?;
        let min_acc = history
            .iter()
            .flat_map(|r| [Some(r.train_accuracy), r.test_accuracy])
            .flatten()
            .fold(100.0f64, f64::min)
            .min(99.0);
        let y = (min_acc - 1.0).max(0.0)..100.0;
        let mut chart = line_chart(&right, "Accuracy (%)", "epoch", 0.5..n + 0.5, y)?;
        chart
            .draw_series(LineSeries::new(
                history.iter().map(|r| (r.epoch as f64, r.train_accuracy)),
                BLUE.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label("train")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(
                history
                    .iter()
                    .filter_map(|r| r.test_accuracy.map(|a| (r.epoch as f64, a))),
                GREEN.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label("test")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREEN));
        // A dot on every epoch, so a run of one epoch (a single point, no line) still shows.
        chart
            .draw_series(
                history
                    .iter()
                    .map(|r| Circle::new((r.epoch as f64, r.train_accuracy), 4, BLUE.filled())),
            )
            .map_err(plot_err)?;
        chart
            .draw_series(history.iter().filter_map(|r| {
                r.test_accuracy
                    .map(|a| Circle::new((r.epoch as f64, a), 4, GREEN.filled()))
            }))
            .map_err(plot_err)?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

/// A value against optimizer step, e.g. the running loss of [`crate::train::Trainer::curve`].
pub fn step_curve(points: &[(u64, f64)], title: &str) -> Result<Figure> {
    let max_x = points.iter().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    let max_y = points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.1;
    Figure::render(700, 400, |root| {
        let mut chart = line_chart(root, title, "step", 0.0..max_x, 0.0..max_y)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(s, v)| (s as f64, v)),
                RED.stroke_width(2),
            ))
            .map_err(plot_err)?;
        Ok(())
    })
}

/// The learning-rate range test: loss (batch and smoothed) against the learning rate on a log
/// axis, with the suggested rate marked.
pub fn lr_range(range: &crate::teach::experiment::LrRange) -> Result<Figure> {
    use plotters::coord::combinators::IntoLogRange;
    let pts = &range.points;
    let lo = pts.first().map_or(1e-6, |p| p.lr);
    let hi = pts.last().map_or(1.0, |p| p.lr).max(lo * 10.0);
    // The smoothed curve sets the scale; single batches that blew up are cut off at the top.
    let ymax = pts
        .iter()
        .map(|p| p.smoothed)
        .chain(pts.first().map(|p| p.loss))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.25;
    let ymin = pts.iter().map(|p| p.smoothed).fold(ymax, f64::min) * 0.9;
    Figure::render(800, 450, |root| {
        draw_centered(root, "Learning-rate range test", 20.0, 10)?;
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .margin_top(40)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d((lo..hi).log_scale(), ymin..ymax)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("learning rate (log scale)")
            .y_desc("training loss")
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .label_style(font(12.0))
            .axis_desc_style(font(14.0))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.lr, p.loss)),
                RGBColor(180, 180, 220).stroke_width(1),
            ))
            .map_err(plot_err)?
            .label("batch loss")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RGBColor(180, 180, 220)));
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.lr, p.smoothed)),
                BLUE.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label("smoothed")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(
                [(range.suggested, ymin), (range.suggested, ymax)],
                RED.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(format!("suggested {:.0e}", range.suggested))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// Trials of [`crate::teach::experiment::compare`] side by side: smoothed training loss against step
/// on the left, test accuracy against step on the right, one colour per setting.
pub fn compare_trials(trials: &[crate::teach::experiment::Trial]) -> Result<Figure> {
    const COLORS: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
    ];
    let max_step = trials
        .iter()
        .flat_map(|t| t.losses.last().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let smoothed: Vec<Vec<(u64, f64)>> = trials.iter().map(|t| t.smoothed_losses(0.9)).collect();
    let max_loss = smoothed
        .iter()
        .flatten()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.1;
    Figure::render(1100, 430, |root| {
        let (left, right) = root.split_horizontally(550);
        let mut chart = line_chart(
            &left,
            "Training loss (smoothed)",
            "step",
            0.0..max_step,
            0.0..max_loss,
        )?;
        for (i, (t, s)) in trials.iter().zip(&smoothed).enumerate() {
            let c = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    s.iter().map(|&(x, y)| (x as f64, y)),
                    c.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(t.name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        let mut chart = line_chart(
            &right,
            "Test accuracy (%)",
            "step",
            0.0..max_step,
            0.0..100.0,
        )?;
        for (i, t) in trials.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    t.evals.iter().map(|e| (e.step as f64, e.test_accuracy)),
                    c.stroke_width(2),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    t.evals
                        .iter()
                        .map(|e| Circle::new((e.step as f64, e.test_accuracy), 3, c.filled())),
                )
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pixels of exactly `rgb` in columns `x0..x1` of the figure.
    fn count(fig: &Figure, rgb: RGBColor, x0: u32, x1: u32) -> usize {
        let w = fig.width as usize;
        fig.rgb
            .chunks_exact(3)
            .enumerate()
            .filter(|(i, p)| {
                let x = (i % w) as u32;
                (x0..x1).contains(&x) && p[0] == rgb.0 && p[1] == rgb.1 && p[2] == rgb.2
            })
            .count()
    }

    #[test]
    fn a_single_epoch_still_shows_its_loss_and_both_accuracies() {
        let one = EpochRecord {
            epoch: 1,
            train_loss: 0.6,
            train_accuracy: 89.0,
            test_accuracy: Some(99.0),
            seconds: 1.0,
            images_per_sec: 1.0,
            skipped_steps: 0,
            loss_scale: 1.0,
        };
        let fig = training_curves(&[one]).unwrap();
        // A filled dot of radius 4 is about 50 pixels; the legend's short lines are 20 each.
        let (left, right) = (0..500, 500..fig.width);
        assert!(count(&fig, RED, left.start, left.end) >= 30, "loss dot");
        assert!(count(&fig, BLUE, right.start, right.end) >= 60, "train dot");
        assert!(count(&fig, GREEN, right.start, right.end) >= 60, "test dot");
    }
}
