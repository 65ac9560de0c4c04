//! What the network learned: first-layer filters, feature maps, saliency, confident mistakes.

use super::*;
use crate::error::{Error, Result};
use plotters::prelude::*;

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
    record(|l| {
        l.pictures.push(PictureBox {
            source: (cols as u32, rows as u32),
            drawn: (side as u32 * cols as u32, side as u32 * rows as u32),
        })
    });
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

/// The first layer's filters before and after training, and their change, side by side on one
/// colour scale (red positive, blue negative, white 0; the bar underneath gives the weights'
/// values), so that how far training moved each filter can be read off the figure:
/// `before` and `after` are (N, C, k, k), the first input channel drawn.
pub fn filter_change(before: &tch::Tensor, after: &tch::Tensor) -> Result<Figure> {
    let (size, other) = (before.size(), after.size());
    if size.len() != 4 || size != other {
        return Err(Error::Plot(format!(
            "filter_change takes two (N, C, k, k) weights of one shape, got {size:?} and {other:?}"
        )));
    }
    let (n, k) = (size[0] as usize, size[2] as usize);
    let first = |t: &tch::Tensor| -> Result<Vec<f64>> { values(&t.f_select(1, 0)?) };
    let (b, a) = (first(before)?, first(after)?);
    let change: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    let scale = b
        .iter()
        .chain(&a)
        .fold(0.0f64, |m, x| m.max(x.abs()))
        .max(1e-12);
    let cols = 8usize;
    let rows = n.div_ceil(cols).max(1);
    let (cell, gap, title_h, bar_h) = (36u32, 24u32, 64u32, 56u32);
    let grid_w = cell * cols as u32;
    let width = 3 * grid_w + 4 * gap;
    Figure::render(width, title_h + cell * rows as u32 + bar_h, |root| {
        draw_centered(
            root,
            &format!("The {n} first-layer filters ({k}x{k}), one colour scale"),
            18.0,
            8,
        )?;
        let panels = [
            ("at initialization", &b),
            ("after training", &a),
            ("change (after - before)", &change),
        ];
        for (p, (title, v)) in panels.iter().enumerate() {
            let x = (gap + p as u32 * (grid_w + gap)) as i32;
            let panel = root
                .clone()
                .shrink((x, 34), (grid_w, title_h - 34 + cell * rows as u32));
            draw_centered(&panel, title, 15.0, 0)?;
            let body = panel.shrink((0, title_h - 34), (grid_w, cell * rows as u32));
            for (i, area) in body.split_evenly((rows, cols)).iter().enumerate().take(n) {
                let w = &v[i * k * k..(i + 1) * k * k];
                draw_cells(&area.margin(2, 2, 2, 2), "", k, k, &|r, c| {
                    diverging(w[r * k + c] / scale)
                })?;
            }
        }
        // The colour bar: -scale .. +scale, labelled at both ends and at 0.
        let bar_w = grid_w as i32;
        let (x0, y0) = (
            (width as i32 - bar_w) / 2,
            (title_h + cell * rows as u32) as i32 + 8,
        );
        for i in 0..bar_w {
            let v = 2.0 * i as f64 / (bar_w - 1) as f64 - 1.0;
            root.draw(&Rectangle::new(
                [(x0 + i, y0), (x0 + i + 1, y0 + 14)],
                diverging(v).filled(),
            ))
            .map_err(plot_err)?;
        }
        for (at, label) in [
            (0, format!("{:.2}", -scale)),
            (bar_w / 2, "0".to_string()),
            (bar_w, format!("+{scale:.2}")),
        ] {
            let spot = root.clone().shrink((x0 + at - 40, y0 + 16), (80u32, 24u32));
            draw_centered(&spot, &label, 13.0, 2)?;
        }
        Ok(())
    })
}

/// One titled panel of values: (title, rows, cols, row-major values).
type Panel = (String, usize, usize, Vec<f64>);

/// The feature maps of one digit after each block (see [`crate::teach::inspect::feature_maps`]): a
/// row per block with its `per_block` most active channels (largest mean activation), each
/// scaled to its own maximum; a block of 1x1 maps is drawn as one panel of all its channels.
pub fn feature_maps(
    blocks: &[crate::teach::inspect::BlockMaps],
    per_block: usize,
) -> Result<Figure> {
    let per_block = per_block.max(1);
    let label_w = 150u32;
    // Panels as large as fit a notebook's width, at most 110 px.
    let cell = ((MAX_WIDTH - label_w) / per_block as u32).clamp(40, 110);
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

/// Digits above their saliency maps (see [`crate::teach::inspect::saliency`]), drawn at one
/// scale: `images` (B, 1, 28, 28) normalized as `dataset` normalizes, `saliency` (B, 28, 28),
/// one title per digit (name the class whose score the map is of there).
pub fn saliency_maps(
    images: &tch::Tensor,
    saliency: &tch::Tensor,
    titles: &[String],
    dataset: crate::data::Dataset,
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
    // Each digit's panel: a title line (28 px) over the picture; its heatmap below, in a panel
    // of the picture's own size, so that the two are drawn at one scale.
    let title_h = 28u32;
    let picture = cell - 10;
    let sal = values(saliency)?;
    let top_h = title_h + picture;
    let width = cell * n.max(1) as u32;
    let (heading, size) = fit_title("Saliency: |d score / d pixel|", width, 18.0)?;
    let head = 14 + 22 * heading.len() as u32;
    Figure::render(width, head + top_h + 10 + picture + 14, |root| {
        for (k, line) in heading.iter().enumerate() {
            draw_centered(root, line, size, 8 + 22 * k as i32)?;
        }
        for i in 0..n {
            let pixels = dataset.denormalize(&images.get(i as i64)); // `dataset`'s normalization undone
            let top = root.clone().shrink((i as u32 * cell, head), (cell, top_h));
            draw_digit(&top, &pixels, &titles[i], 1)?;
            let m = &sal[i * side * side..(i + 1) * side * side];
            let max = m.iter().fold(0.0f64, |a, b| a.max(*b)).max(1e-12);
            let bottom = root
                .clone()
                .shrink((i as u32 * cell, head + top_h + 8), (cell, picture + 4));
            draw_cells(&bottom, "", side, side, &|y, x| hot(m[y * side + x] / max))?;
        }
        Ok(())
    })
}

/// Misclassified pictures titled with truth, prediction (`dataset`'s class names) and the
/// predicted class's probability.
pub fn mistakes(
    mistakes: &[crate::teach::inspect::Mistake],
    cols: usize,
    dataset: crate::data::Dataset,
) -> Result<Figure> {
    let digits: Vec<_> = mistakes
        .iter()
        .map(|m| {
            (
                m.pixels.clone(),
                format!(
                    "{}: pred {} ({:.0}%)",
                    dataset.class_name(m.label),
                    dataset.class_name(m.predicted),
                    100.0 * m.confidence
                ),
            )
        })
        .collect();
    digit_grid(&digits, cols)
}
