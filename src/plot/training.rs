//! Training charts: per-epoch curves, the step curve, the learning-rate range test and
//! side-by-side trials.

use super::*;
use crate::error::Result;
use crate::train::{CurvePoint, EpochRecord};
use plotters::prelude::*;

/// The epoch's mean training loss and its validation accuracy, as dots.
const LOSS_DOT: RGBColor = RGBColor(120, 0, 0);
const TEST_DOT: RGBColor = RGBColor(0, 140, 0);

/// A run's curves against the optimizer step: the running training loss on the left, the running
/// training accuracy on the right, both as [`crate::train::Trainer::curve`] recorded them (the
/// mean since the start of the epoch, so they restart at each epoch), with each epoch's mean
/// training loss and its validation accuracy as dots where the epoch ended. Without a step curve
/// (`curve_every_steps: 0`), the epochs' records alone, against the epoch.
pub fn training_curves(history: &[EpochRecord], curve: &[CurvePoint]) -> Result<Figure> {
    // Where each epoch ended, on the x axis: its last recorded step, or its number.
    let end_of = |epoch: usize| -> f64 {
        curve
            .iter()
            .filter(|p| p.epoch == epoch)
            .map(|p| p.step)
            .max()
            .map_or(epoch as f64, |s| s as f64)
    };
    let by_step = !curve.is_empty();
    let x_max = if by_step {
        curve.iter().map(|p| p.step).max().unwrap_or(1).max(1) as f64
    } else {
        history.len().max(1) as f64 + 0.5
    };
    let x_desc = if by_step { "step" } else { "epoch" };
    let x0 = if by_step { 0.0 } else { 0.5 };
    let max_loss = curve
        .iter()
        .map(|p| p.running_loss)
        .chain(history.iter().map(|r| r.train_loss))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.1;
    Figure::render(1000, 400, |root| {
        let (left, right) = root.split_horizontally(500);
        let mut chart = line_chart(&left, "Training loss", x_desc, x0..x_max, 0.0..max_loss)?;
        let running: Vec<(f64, f64)> = curve
            .iter()
            .map(|p| (p.step as f64, p.running_loss))
            .collect();
        if by_step {
            chart
                .draw_series(LineSeries::new(
                    super::curve("running loss", running),
                    RED.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label("running mean in the epoch")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        }
        chart
            .draw_series(
                history
                    .iter()
                    .map(|r| Circle::new((end_of(r.epoch), r.train_loss), 5, LOSS_DOT.filled())),
            )
            .map_err(plot_err)?
            .label("epoch's mean")
            .legend(|(x, y)| Circle::new((x + 10, y), 5, LOSS_DOT.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        let min_acc = curve
            .iter()
            .map(|p| p.running_accuracy)
            .chain(history.iter().flat_map(|r| r.val_accuracy))
            .filter(|v| v.is_finite())
            .fold(100.0f64, f64::min)
            .min(90.0);
        let y = (min_acc - 2.0).max(0.0)..100.0;
        let mut chart = line_chart(&right, "Accuracy (%)", x_desc, x0..x_max, y)?;
        if by_step {
            let running: Vec<(f64, f64)> = curve
                .iter()
                .map(|p| (p.step as f64, p.running_accuracy))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    super::curve("running train accuracy", running),
                    BLUE.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label("train (running mean)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
        }
        let tests: Vec<(f64, f64)> = history
            .iter()
            .filter_map(|r| r.val_accuracy.map(|a| (end_of(r.epoch), a)))
            .collect();
        if tests.len() >= 5 {
            chart
                .draw_series(LineSeries::new(
                    super::curve("validation accuracy", tests.clone()),
                    GREEN.stroke_width(2),
                ))
                .map_err(plot_err)?;
        }
        chart
            .draw_series(tests.iter().map(|&p| Circle::new(p, 5, TEST_DOT.filled())))
            .map_err(plot_err)?
            .label("validation, after each epoch")
            .legend(|(x, y)| Circle::new((x + 10, y), 5, TEST_DOT.filled()));
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
                curve(title, points.iter().map(|&(s, v)| (s as f64, v)).collect()),
                RED.stroke_width(2),
            ))
            .map_err(plot_err)?;
        Ok(())
    })
}

/// The learning-rate range test: loss (batch and smoothed) against the learning rate on a log
/// axis, with the lowest smoothed loss, the point where it doubled, the suggested rate and the
/// article's 1e-3 marked. The y axis shows the smoothed curve up to a little past its doubling,
/// so the part a rate is chosen from fills the plot; batches that blew up run off its top.
pub fn lr_range(range: &crate::teach::experiment::LrRange) -> Result<Figure> {
    use plotters::coord::combinators::IntoLogRange;
    let pts = &range.points;
    let lo = pts.first().map_or(1e-6, |p| p.lr);
    let hi = pts.last().map_or(1.0, |p| p.lr).max(lo * 10.0);
    let smoothed = || pts.iter().map(|p| p.smoothed).filter(|v| v.is_finite());
    let lowest = smoothed().fold(f64::INFINITY, f64::min);
    let lowest = if lowest.is_finite() { lowest } else { 1.0 };
    let first = pts.first().map(|p| p.smoothed).filter(|v| v.is_finite());
    let ymax = (2.0 * lowest).max(first.unwrap_or(0.0)) * 1.3;
    let ymin = lowest * 0.8;
    let article = crate::train::TrainConfig::default().optimizer.lr;
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
        // The curves up to the first point past the top of the plot: the rest runs off it.
        let shown = pts
            .iter()
            .position(|p| p.smoothed.is_nan() || p.smoothed > ymax)
            .map_or(pts.len(), |i| i + 1);
        let pts = &pts[..shown];
        let grey = RGBColor(180, 180, 220);
        chart
            .draw_series(LineSeries::new(
                curve("batch loss", pts.iter().map(|p| (p.lr, p.loss)).collect()),
                grey.stroke_width(1),
            ))
            .map_err(plot_err)?
            .label("batch loss")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], grey));
        chart
            .draw_series(LineSeries::new(
                curve("smoothed", pts.iter().map(|p| (p.lr, p.smoothed)).collect()),
                BLUE.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label("smoothed")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
        let marks = [
            (range.lr_at_min, TEST_DOT, "lowest"),
            (range.lr_at_blowup, RGBColor(230, 120, 0), "doubled"),
            (range.suggested, RED, "suggested"),
            (article, BLACK, "article's"),
        ];
        for (lr, colour, what) in marks {
            if !(lo..=hi).contains(&lr) {
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    [(lr, ymin), (lr, ymax)],
                    colour.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(format!("{what} {lr:.1e}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// One colour per setting or recipe, in order.
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// One run's name and its accuracy (%) after epoch 1, 2, ...
pub type EpochRun = (String, Vec<f64>);

/// Accuracy after each epoch, one line per run, in panels side by side: `panels` holds each
/// panel's title and its runs. Runs of one name (the seeds of a recipe) share a colour and one
/// legend entry.
pub fn epoch_curves(panels: &[(String, Vec<EpochRun>)]) -> Result<Figure> {
    let n = panels.len().max(1) as u32;
    let width = (n * 450).min(MAX_WIDTH);
    Figure::render(width, 400, |root| {
        let areas = root.split_evenly((1, n as usize));
        for ((title, runs), area) in panels.iter().zip(&areas) {
            let epochs = runs.iter().map(|r| r.1.len()).max().unwrap_or(1).max(1);
            let low = runs
                .iter()
                .flat_map(|r| r.1.iter().copied())
                .filter(|v| v.is_finite())
                .fold(100.0f64, f64::min);
            let y = (low - 1.0).floor().max(0.0)..100.0f64.min(low.max(90.0) + 11.0);
            let x = 0.8..epochs as f64 + 0.2;
            let mut chart = line_chart(area, title, "epoch", x, y)?;
            let mut names: Vec<&str> = Vec::new();
            for (name, accuracies) in runs {
                let first = !names.contains(&name.as_str());
                if first {
                    names.push(name);
                }
                let i = names.iter().position(|n| n == name).unwrap_or(0);
                let c = COLORS[i % COLORS.len()];
                let points: Vec<(f64, f64)> = accuracies
                    .iter()
                    .enumerate()
                    .map(|(e, &a)| ((e + 1) as f64, a))
                    .collect();
                let drawn = chart
                    .draw_series(LineSeries::new(curve(name, points), c.stroke_width(2)))
                    .map_err(plot_err)?;
                if first {
                    drawn.label(name.clone()).legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2))
                    });
                }
            }
            legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    })
}

/// Trials of [`crate::teach::experiment::compare`] side by side: smoothed training loss against step
/// on the left, validation accuracy against step on the right, one colour per setting.
pub fn compare_trials(trials: &[crate::teach::experiment::Trial]) -> Result<Figure> {
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
    Figure::render(1000, 430, |root| {
        let (left, right) = root.split_horizontally(500);
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
                    curve(&t.name, s.iter().map(|&(x, y)| (x as f64, y)).collect()),
                    c.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(t.name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        let mut chart = line_chart(
            &right,
            "Validation accuracy (%)",
            "step",
            0.0..max_step,
            0.0..100.0,
        )?;
        for (i, t) in trials.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    curve(
                        &t.name,
                        t.evals
                            .iter()
                            .map(|e| (e.step as f64, e.val_accuracy))
                            .collect(),
                    ),
                    c.stroke_width(2),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    t.evals
                        .iter()
                        .map(|e| Circle::new((e.step as f64, e.val_accuracy), 3, c.filled())),
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
    fn a_single_epoch_shows_its_step_curves_and_its_dots() {
        let one = EpochRecord {
            epoch: 1,
            train_loss: 0.6,
            train_accuracy: 89.0,
            val_accuracy: Some(99.0),
            seconds: 1.0,
            images_per_sec: 1.0,
            skipped_steps: 0,
            loss_scale: 1.0,
        };
        let curve: Vec<CurvePoint> = (1..=75)
            .map(|k| CurvePoint {
                step: 10 * k,
                epoch: 1,
                running_loss: 2.3 / (1.0 + k as f64 / 10.0),
                running_accuracy: 100.0 - 90.0 / (1.0 + k as f64 / 10.0),
            })
            .collect();
        let fig = training_curves(&[one], &curve).unwrap();
        // A filled dot of radius 5 is about 80 pixels; the legend's dot as many again.
        let (left, right) = (0..500, 500..fig.width);
        assert!(
            count(&fig, LOSS_DOT, left.start, left.end) >= 100,
            "loss dot"
        );
        assert!(
            count(&fig, TEST_DOT, right.start, right.end) >= 100,
            "test dot"
        );
        assert!(
            count(&fig, RED, left.start, left.end) >= 300,
            "running loss line"
        );
        assert!(
            count(&fig, BLUE, right.start, right.end) >= 300,
            "running accuracy line"
        );
        let curves: Vec<_> = fig
            .layout
            .series
            .iter()
            .map(|s| (s.name.as_str(), s.points))
            .collect();
        assert_eq!(
            curves,
            [("running loss", 75), ("running train accuracy", 75)]
        );
    }
}
