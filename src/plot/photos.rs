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
