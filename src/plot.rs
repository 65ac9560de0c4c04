//! Plots, drawn with plotters into PNG images.
//!
//! Text is rasterized from a font compiled into the crate (DejaVu Sans, `assets/fonts`) through
//! plotters' `ab_glyph` backend, so figures render identically with or without system fonts
//! (headless CI machines, minimal containers). A [`Figure`] can be saved to a file or shown
//! inline in a Jupyter notebook run by evcxr.

use crate::data::{denormalize_to_pixels, Dataset, Split};
use crate::error::{Error, Result};
use crate::eval::{Evaluation, Sample};
use crate::fsio;
use crate::train::EpochRecord;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "vggnet-sans";
static REGISTER: Once = Once::new();

fn font(size: f64) -> TextStyle<'static> {
    REGISTER.call_once(|| {
        // The font is compiled in and known to parse; a failure would only leave text blank.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
    (FAMILY, size).into_font().color(&BLACK)
}

/// Draws `text` horizontally centred in `area` with its top at `y`.
///
/// plotters' `ab_glyph` text drawing puts each glyph's bitmap at the pen position and drops
/// the glyph's own offset (its left side bearing), which jams letters together ("True" renders
/// with the "r" inside the "T"). Here the line is laid out with the font's advances and kerning,
/// and each character is drawn on its own at the pen position plus that offset.
fn draw_centered(area: &Area<'_>, text: &str, size: f64, y: i32) -> Result<()> {
    use ab_glyph::{Font, ScaleFont};
    let face = ab_glyph::FontRef::try_from_slice(FONT).map_err(plot_err)?;
    let scaled = face.as_scaled(size as f32);
    let mut pen = 0f32;
    let mut prev = None;
    let mut placed = Vec::new();
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        if let Some(outline) = scaled.outline_glyph(scaled.scaled_glyph(c)) {
            placed.push((c, pen + outline.px_bounds().min.x));
        }
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    let left = (area.dim_in_pixel().0 as f32 - pen) / 2.0;
    let style = font(size);
    let mut buf = [0u8; 4];
    for (c, x) in placed {
        let pos = ((left + x).round() as i32, y);
        area.draw_text(c.encode_utf8(&mut buf), &style, pos)
            .map_err(plot_err)?;
    }
    Ok(())
}

/// A rendered figure (PNG bytes).
#[derive(Clone)]
pub struct Figure {
    pub width: u32,
    pub height: u32,
    /// RGB pixels, row-major.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Figure({}x{})", self.width, self.height)
    }
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

impl Figure {
    fn render(
        width: u32,
        height: u32,
        draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
    ) -> Result<Figure> {
        let mut rgb = vec![255u8; (width * height * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            draw(&root)?;
            root.present().map_err(plot_err)?;
        }
        Ok(Figure { width, height, rgb })
    }

    /// The figure encoded as PNG.
    pub fn png_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let enc = image::codecs::png::PngEncoder::new(&mut out);
        image::ImageEncoder::write_image(
            enc,
            &self.rgb,
            self.width,
            self.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(plot_err)?;
        Ok(out)
    }

    /// Writes the figure as PNG, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        fsio::atomic_write(path, &self.png_bytes()?)
    }

    /// Shows the figure inline in a Jupyter notebook (evcxr's rich output protocol).
    pub fn evcxr_display(&self) {
        use base64::Engine;
        match self.png_bytes() {
            Ok(png) => println!(
                "EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT",
                base64::engine::general_purpose::STANDARD.encode(png)
            ),
            Err(e) => eprintln!("{e}"),
        }
    }
}

/// Draws one picture (0 = black) into `area`, scaled to fit, with a title: 28x28 grey (784
/// pixels) or 3x32x32 colour (3,072 bytes, channel after channel).
fn draw_digit(area: &Area<'_>, pixels: &[u8], title: &str) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let title_h = 28;
    draw_centered(area, title, 16.0, 4)?;
    let colour = pixels.len() == 3 * 32 * 32;
    let n = if colour { 32 } else { 28 };
    let plane = (n * n) as usize;
    let side = (w.min(h.saturating_sub(title_h)) as i32 / n).max(1);
    let x0 = (w as i32 - side * n) / 2;
    let y0 = title_h as i32;
    for (i, &p) in pixels.iter().take(plane).enumerate() {
        let (r, c) = ((i as i32 / n), (i as i32 % n));
        let color = if colour {
            RGBColor(p, pixels[plane + i], pixels[2 * plane + i])
        } else {
            RGBColor(p, p, p)
        };
        let (x, y) = (x0 + c * side, y0 + r * side);
        area.draw(&Rectangle::new(
            [(x, y), (x + side, y + side)],
            color.filled(),
        ))
        .map_err(plot_err)?;
    }
    Ok(())
}

/// A grid of digits with titles, `cols` per row.
pub fn digit_grid(digits: &[(Vec<u8>, String)], cols: usize) -> Result<Figure> {
    let cols = cols.max(1);
    let rows = digits.len().div_ceil(cols).max(1);
    let cell = 170u32;
    Figure::render(cell * cols as u32, (cell + 20) * rows as u32, |root| {
        let areas = root.split_evenly((rows, cols));
        for ((pixels, title), area) in digits.iter().zip(areas.iter()) {
            draw_digit(area, pixels, title)?;
        }
        Ok(())
    })
}

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
            (
                split.pixels(i),
                format!(
                    "#{i} True: {}, Pred: {}",
                    dataset.class_name(labels[i]),
                    dataset.class_name(ev.predictions[i])
                ),
            )
        })
        .collect();
    digit_grid(&digits, 6)
}

/// The first `n` digits of a split with their labels.
pub fn sample_grid(split: &Split, n: usize, cols: usize) -> Result<Figure> {
    let labels = Vec::<i64>::try_from(&split.labels)?;
    let digits: Vec<_> = (0..n.min(split.len()))
        .map(|i| {
            (
                split.pixels(i),
                format!("Label: {}", split.dataset.class_name(labels[i])),
            )
        })
        .collect();
    digit_grid(&digits, cols)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type LineChart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A captioned chart with labelled axes over `x` and `y`, ready for line series.
fn line_chart<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    x_desc: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<LineChart<'a, 'b>> {
    draw_centered(area, caption, 20.0, 10)?;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .margin_top(40)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(x, y)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .label_style(font(12.0))
        .axis_desc_style(font(14.0))
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// Draws the labelled series' legend in a framed box at `position`.
fn legend<'a, 'b: 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .label_font(font(14.0))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(plot_err)
}

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

/// Each preparation of a user's picture as a row of captioned panels: the picture (grey, at
/// working size), the ink map, the digit's strokes as kept, the crop after the stroke-width
/// correction, and the 28x28 image the model sees. `rows`: (title, preparation).
pub fn preparation_strips(rows: &[(String, &crate::prepare::Preparation)]) -> Result<Figure> {
    const PANEL_H: u32 = 140;
    const GAP: u32 = 10;
    const CAPTION: u32 = 24;
    const TITLE: u32 = 24;
    // Per picture: the picture (or its page, straightened), the ink, the digits' strokes, then
    // every digit's crop and 28x28 input in reading order.
    let mut captions: Vec<Vec<String>> = Vec::new();
    let panels: Vec<Vec<image::GrayImage>> = rows
        .iter()
        .map(|(_, p)| {
            let many = p.digits.len() > 1;
            let mut caps: Vec<String> = Vec::new();
            let mut imgs: Vec<image::GrayImage> = Vec::new();
            if let Some(page) = &p.page {
                caps.push("photo, page found".into());
                imgs.push(page.photo.clone());
            }
            caps.extend([
                if p.page.is_some() {
                    "page, straightened"
                } else {
                    "picture"
                }
                .into(),
                "ink".into(),
                if many { "digits" } else { "digit" }.into(),
            ]);
            imgs.extend([p.working.clone(), p.ink.clone(), p.mask.clone()]);
            for (i, d) in p.digits.iter().enumerate() {
                let n = if many {
                    format!(" {}", i + 1)
                } else {
                    String::new()
                };
                caps.push(format!("crop{n}"));
                caps.push(format!("28x28{n}"));
                imgs.push(d.crop.clone());
                imgs.push(image::GrayImage::from_raw(28, 28, d.pixels.clone()).unwrap_or_default());
            }
            captions.push(caps);
            imgs.iter()
                .map(|img| {
                    let (w, h) = img.dimensions();
                    let nw = ((w as f32 * PANEL_H as f32 / h.max(1) as f32).round() as u32)
                        .clamp(1, 2 * PANEL_H);
                    let filter = if w <= 28 {
                        image::imageops::FilterType::Nearest
                    } else {
                        image::imageops::FilterType::Triangle
                    };
                    image::imageops::resize(img, nw, PANEL_H, filter)
                })
                .collect()
        })
        .collect();
    let width = panels
        .iter()
        .map(|row| row.iter().map(|p| p.width() + GAP).sum::<u32>() + GAP)
        .max()
        .unwrap_or(GAP)
        .max(200);
    let row_h = TITLE + CAPTION + PANEL_H + GAP;
    Figure::render(width, row_h * rows.len().max(1) as u32, |root| {
        for (r, (((title, _), row), caps)) in rows.iter().zip(&panels).zip(&captions).enumerate() {
            let top = r as u32 * row_h;
            let band = root.clone().shrink((0, top), (width, TITLE));
            draw_centered(&band, title, 15.0, 3)?;
            let mut x = GAP;
            for (i, (panel, caption)) in row.iter().zip(caps).enumerate() {
                let cap = root
                    .clone()
                    .shrink((x, top + TITLE), (panel.width(), CAPTION));
                draw_centered(&cap, caption, 14.0, 2)?;
                let y0 = (top + TITLE + CAPTION) as i32;
                for (px, py, v) in panel.enumerate_pixels() {
                    let c = RGBColor(v[0], v[0], v[0]);
                    root.draw_pixel((x as i32 + px as i32, y0 + py as i32), &c)
                        .map_err(plot_err)?;
                }
                if i == 0 {
                    if let Some(page) = &rows[r].1.page {
                        // The page's outline, in red, on the photo.
                        let k = panel.height() as f32 / page.photo.height().max(1) as f32;
                        let mut pts: Vec<(i32, i32)> = page
                            .outline
                            .iter()
                            .map(|&(px, py)| (x as i32 + (px * k) as i32, y0 + (py * k) as i32))
                            .collect();
                        pts.push(pts[0]);
                        root.draw(&PathElement::new(pts, RED.stroke_width(2)))
                            .map_err(plot_err)?;
                    }
                }
                x += panel.width() + GAP;
            }
        }
        Ok(())
    })
}

/// "hot" colour map: 0 black, then red, yellow, 1 white (saliency, activations).
fn hot(v: f64) -> RGBColor {
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let ch = |x: f64| (255.0 * x.clamp(0.0, 1.0)).round() as u8;
    RGBColor(ch(3.0 * v), ch(3.0 * v - 1.0), ch(3.0 * v - 2.0))
}

/// Diverging colour map for signed weights: -1 blue, 0 white, +1 red.
fn diverging(v: f64) -> RGBColor {
    let v = if v.is_finite() {
        v.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let fade = (255.0 * (1.0 - v.abs())).round() as u8;
    if v >= 0.0 {
        RGBColor(255, fade, fade)
    } else {
        RGBColor(fade, fade, 255)
    }
}

/// Draws a `rows` x `cols` matrix of colours as square cells filling `area` below a title.
fn draw_cells(
    area: &Area<'_>,
    title: &str,
    rows: usize,
    cols: usize,
    color: &dyn Fn(usize, usize) -> RGBColor,
) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let title_h = if title.is_empty() { 0 } else { 24 };
    if !title.is_empty() {
        draw_centered(area, title, 14.0, 3)?;
    }
    let side = ((w as usize / cols.max(1))
        .min(h.saturating_sub(title_h + 4) as usize / rows.max(1)))
    .max(1) as i32;
    let x0 = (w as i32 - side * cols as i32) / 2;
    let y0 = title_h as i32 + 2;
    for r in 0..rows {
        for c in 0..cols {
            let (x, y) = (x0 + c as i32 * side, y0 + r as i32 * side);
            area.draw(&Rectangle::new(
                [(x, y), (x + side, y + side)],
                color(r, c).filled(),
            ))
            .map_err(plot_err)?;
        }
    }
    Ok(())
}

/// Values of a tensor as f64 on the host.
fn values(t: &tch::Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(
        &t.f_to_device(tch::Device::Cpu)?
            .f_to_kind(tch::Kind::Double)?
            .f_flatten(0, -1)?,
    )?)
}

/// The first layer's filters, (N, C, k, k), as a grid of k x k cells: red positive, blue
/// negative, each filter scaled to its own largest magnitude (the first input channel when
/// there are several).
pub fn filter_grid(filters: &tch::Tensor) -> Result<Figure> {
    let size = filters.size();
    if size.len() != 4 {
        return Err(Error::Plot(format!(
            "filter_grid takes (N, C, k, k) weights, got {size:?}"
        )));
    }
    let (n, k) = (size[0] as usize, size[2] as usize);
    let first = filters.f_select(1, 0)?; // (N, k, k)
    let v = values(&first)?;
    let cols = 8usize;
    let rows = n.div_ceil(cols).max(1);
    let cell = 90u32;
    Figure::render(cell * cols as u32, cell * rows as u32 + 40, |root| {
        draw_centered(
            root,
            &format!("The {n} first-layer filters ({k}x{k}; red +, blue -)"),
            18.0,
            8,
        )?;
        let body = root
            .clone()
            .shrink((0, 40), (cell * cols as u32, cell * rows as u32));
        let areas = body.split_evenly((rows, cols));
        for (i, area) in areas.iter().enumerate().take(n) {
            let w = &v[i * k * k..(i + 1) * k * k];
            let max = w.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-12);
            let inner = area.margin(4, 4, 4, 4);
            draw_cells(&inner, "", k, k, &|r, c| diverging(w[r * k + c] / max))?;
        }
        Ok(())
    })
}

/// One titled panel of values: (title, rows, cols, row-major values).
type Panel = (String, usize, usize, Vec<f64>);

/// The feature maps of one digit after each block (see [`crate::inspect::feature_maps`]): a
/// row per block with its `per_block` most active channels (largest mean activation), each
/// scaled to its own maximum; a block of 1x1 maps is drawn as one panel of all its channels.
pub fn feature_maps(blocks: &[crate::inspect::BlockMaps], per_block: usize) -> Result<Figure> {
    let per_block = per_block.max(1);
    let cell = 110u32;
    let label_w = 150u32;
    let rows = blocks.len().max(1);
    let mut panels: Vec<(String, Vec<Panel>)> = Vec::new();
    for b in blocks {
        let size = b.maps.size(); // (C, S, S)
        if size.len() != 3 {
            return Err(Error::Plot(format!(
                "feature maps are (C, S, S), got {size:?}"
            )));
        }
        let (c, s) = (size[0] as usize, size[1] as usize);
        let v = values(&b.maps)?;
        let label = format!("{} ({c}x{s}x{s})", b.name);
        let row = if s == 1 {
            let cols = (c as f64).sqrt().ceil() as usize;
            let rws = c.div_ceil(cols);
            let mut grid = v.clone();
            grid.resize(rws * cols, 0.0);
            vec![(format!("all {c} channels"), rws, cols, grid)]
        } else {
            let mut order: Vec<usize> = (0..c).collect();
            let mean = |ch: usize| v[ch * s * s..(ch + 1) * s * s].iter().sum::<f64>();
            order.sort_by(|&a, &b| mean(b).total_cmp(&mean(a)));
            order
                .into_iter()
                .take(per_block)
                .map(|ch| {
                    (
                        format!("ch {ch}"),
                        s,
                        s,
                        v[ch * s * s..(ch + 1) * s * s].to_vec(),
                    )
                })
                .collect()
        };
        panels.push((label, row));
    }
    let width = label_w + cell * per_block as u32;
    Figure::render(width, (cell + 10) * rows as u32 + 40, |root| {
        draw_centered(
            root,
            "Feature maps after each block (most active channels)",
            18.0,
            8,
        )?;
        for (r, (label, row)) in panels.iter().enumerate() {
            let top = 40 + r as u32 * (cell + 10);
            let lab = root.clone().shrink((0, top + cell / 2 - 12), (label_w, 30));
            draw_centered(&lab, label, 13.0, 2)?;
            for (i, (title, h, w, v)) in row.iter().enumerate() {
                let max = v.iter().fold(0.0f64, |m, x| m.max(*x)).max(1e-12);
                let area = root
                    .clone()
                    .shrink((label_w + i as u32 * cell, top), (cell, cell + 10));
                let (h, w) = (*h, *w);
                draw_cells(&area, title, h, w, &|y, x| hot(v[y * w + x] / max))?;
            }
        }
        Ok(())
    })
}

/// Digits above their saliency maps (see [`crate::inspect::saliency`]): `images`
/// (B, 1, 28, 28) normalized, `saliency` (B, 28, 28), one title per digit.
pub fn saliency_maps(
    images: &tch::Tensor,
    saliency: &tch::Tensor,
    titles: &[String],
) -> Result<Figure> {
    let n = titles.len();
    let s = saliency.size();
    if s.len() != 3 || s[0] as usize != n || images.size().first().copied() != Some(n as i64) {
        return Err(Error::Plot(format!(
            "saliency_maps: {n} titles, images {:?}, saliency {s:?}",
            images.size()
        )));
    }
    let side = s[1] as usize;
    let cell = 150u32;
    let sal = values(saliency)?;
    Figure::render(cell * n.max(1) as u32, 2 * cell + 80, |root| {
        draw_centered(
            root,
            "Saliency: |d score / d pixel| for the true class",
            18.0,
            8,
        )?;
        for i in 0..n {
            let pixels = denormalize_to_pixels(&images.get(i as i64));
            let top = root
                .clone()
                .shrink((i as u32 * cell, 36), (cell, cell + 24));
            draw_digit(&top, &pixels, &titles[i])?;
            let m = &sal[i * side * side..(i + 1) * side * side];
            let max = m.iter().fold(0.0f64, |a, b| a.max(*b)).max(1e-12);
            let bottom = root
                .clone()
                .shrink((i as u32 * cell, 36 + cell + 10), (cell, cell - 20));
            draw_cells(&bottom, "", side, side, &|y, x| hot(m[y * side + x] / max))?;
        }
        Ok(())
    })
}

/// Misclassified digits titled with truth, prediction and the predicted class's probability.
pub fn mistakes(mistakes: &[crate::inspect::Mistake], cols: usize) -> Result<Figure> {
    let digits: Vec<_> = mistakes
        .iter()
        .map(|m| {
            (
                m.pixels.clone(),
                format!(
                    "{}: pred {} ({:.0}%)",
                    m.label,
                    m.predicted,
                    100.0 * m.confidence
                ),
            )
        })
        .collect();
    digit_grid(&digits, cols)
}

/// The learning-rate range test: loss (batch and smoothed) against the learning rate on a log
/// axis, with the suggested rate marked.
pub fn lr_range(range: &crate::experiment::LrRange) -> Result<Figure> {
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

/// Trials of [`crate::experiment::compare`] side by side: smoothed training loss against step
/// on the left, test accuracy against step on the right, one colour per setting.
pub fn compare_trials(trials: &[crate::experiment::Trial]) -> Result<Figure> {
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
