//! What the photo preparation did, picture by picture.

use super::*;
use crate::error::Result;
use plotters::prelude::*;

/// Each preparation of a user's picture as a row of captioned panels: the picture (grey, at
/// working size), the ink map, the digit's strokes as kept, the crop after the stroke-width
/// correction, and the 28x28 image the model sees. `rows`: (title, preparation).
pub fn preparation_strips(
    rows: &[(String, &crate::digits::prepare::Preparation)],
) -> Result<Figure> {
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
    // Each picture's panels in lines no wider than a notebook shows (a number of many digits
    // wraps onto a second line), the first panel of each line at the left.
    // A digit's crop and its 28x28 image stay on one line.
    let lines: Vec<Vec<Vec<usize>>> = panels
        .iter()
        .zip(&captions)
        .map(|(row, caps)| {
            let mut lines: Vec<Vec<usize>> = vec![Vec::new()];
            let mut x = GAP;
            for (i, p) in row.iter().enumerate() {
                let last = lines.len() - 1;
                let pair = match row.get(i + 1) {
                    Some(next) if caps[i].starts_with("crop") => next.width() + GAP,
                    _ => 0,
                };
                if x + p.width() + GAP + pair > MAX_WIDTH && !lines[last].is_empty() {
                    lines.push(Vec::new());
                    x = GAP;
                }
                let last = lines.len() - 1;
                lines[last].push(i);
                x += p.width() + GAP;
            }
            lines
        })
        .collect();
    let line_w = |row: &[image::GrayImage], line: &[usize]| -> u32 {
        line.iter().map(|&i| row[i].width() + GAP).sum::<u32>() + GAP
    };
    let width = panels
        .iter()
        .zip(&lines)
        .flat_map(|(row, ls)| ls.iter().map(move |l| line_w(row, l)))
        .max()
        .unwrap_or(GAP)
        .max(200);
    let line_h = CAPTION + PANEL_H + GAP;
    let heights: Vec<u32> = lines
        .iter()
        .map(|ls| TITLE + line_h * ls.len() as u32)
        .collect();
    Figure::render(width, heights.iter().sum::<u32>().max(1), |root| {
        let mut top = 0;
        for (r, (((title, _), row), caps)) in rows.iter().zip(&panels).zip(&captions).enumerate() {
            let band = root.clone().shrink((0, top), (width, TITLE));
            draw_centered(&band, title, 15.0, 3)?;
            for (l, line) in lines[r].iter().enumerate() {
                let line_top = top + TITLE + l as u32 * line_h;
                let mut x = GAP;
                for &i in line {
                    let (panel, caption) = (&row[i], &caps[i]);
                    let cap = root.clone().shrink((x, line_top), (panel.width(), CAPTION));
                    draw_centered(&cap, caption, fit_line(caption, panel.width(), 14.0)?, 2)?;
                    let y0 = (line_top + CAPTION) as i32;
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
            top += heights[r];
        }
        Ok(())
    })
}
