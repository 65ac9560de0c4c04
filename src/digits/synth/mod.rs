//! Synthetic photos of handwritten digits, with their true labels: the project's own test set
//! for [`crate::digits::prepare`]. Digits are pen strokes (splines through hand-placed points, with a
//! random slant, rotation, width and wobble per picture), not typed fonts, drawn on what users
//! photograph: white and grey paper with uneven light, ruled notebook paper in blue pen, a
//! tilted sheet on a white table, chalk on a dark board, fat marker and thin ballpoint on big
//! photos, a sheet or sticky note lying on a darker desk seen from the side ([`desk`]);
//! saved as PNG or as JPEG at quality 60-85, from 64x64 to 4000x3000 pixels. [`desk`] also
//! writes whole numbers: pages with 2-6 digits, on a desk or filling the picture.
//!
//! [`mnist_reference`] renders the same strokes directly the way MNIST's digits look (clean,
//! the longer side 20 px, MNIST's stroke width, centred by mass in 28x28): what a perfect
//! preparation of the picture would give.

pub mod desk;
mod pen;
mod phone;
mod picture;
mod scene;

pub(crate) use pen::{coverage, handwritten};
pub(crate) use picture::Pt;
pub use picture::{Picture, Style};

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One synthetic picture of `digit` in `style`, reproducible from `seed`.
pub fn picture(digit: u8, style: Style, seed: u64) -> Picture {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((digit as u64) << 32) ^ ((style as u64) << 40));
    if style.on_desk() {
        return desk::picture(digit, style, &mut rng);
    }
    let sizes: &[(u32, u32)] = match style {
        Style::Scan => &[(64, 64), (200, 200), (640, 480), (800, 600)],
        Style::GreyPaper | Style::Notebook => &[(640, 480), (1024, 768), (1600, 1200)],
        Style::Chalkboard => &[(480, 360), (1280, 960)],
        Style::Marker | Style::Ballpoint | Style::Desk | Style::ShadowedPage | Style::SmallPage => {
            &[(2000, 1500), (3000, 2250), (4000, 3000)]
        }
    };
    let (w, h) = sizes[rng.random_range(0..sizes.len())];
    let (wf, hf) = (w as f32, h as f32);
    // Digit size and place; the pen's width relative to the digit's height.
    let height = hf * rng.random_range(0.35..0.6f32);
    let rel_width = match style {
        Style::Marker => rng.random_range(0.15..0.2f32),
        Style::Ballpoint => rng.random_range(0.02..0.03f32),
        _ => rng.random_range(0.06..0.11f32),
    };
    let pen = (height * rel_width).max(1.2);
    let (cx, cy) = (
        wf / 2.0 + rng.random_range(-0.08..0.08f32) * wf,
        hf / 2.0 + rng.random_range(-0.06..0.06f32) * hf,
    );
    let tilt: f32 = match style {
        Style::GreyPaper | Style::Notebook | Style::Ballpoint => rng.random_range(-5.0..5.0f32),
        _ => rng.random_range(-2.0..2.0f32),
    }
    .to_radians();
    let (st, ct) = tilt.sin_cos();
    let rotate = |(x, y): Pt| -> Pt {
        let (dx, dy) = (x - wf / 2.0, y - hf / 2.0);
        (wf / 2.0 + dx * ct - dy * st, hf / 2.0 + dx * st + dy * ct)
    };
    let strokes: Vec<Vec<Pt>> = handwritten(digit, &mut rng)
        .into_iter()
        .map(|s| {
            s.into_iter()
                .map(|(x, y)| rotate((cx + (x - 0.5) * height, cy + (y - 0.5) * height)))
                .collect()
        })
        .collect();

    // Page, light and ink.
    let dark_board = style == Style::Chalkboard;
    let paper = match style {
        Style::Scan | Style::Marker => rng.random_range(0.92..0.99f32),
        Style::Chalkboard => rng.random_range(0.15..0.3),
        _ => rng.random_range(0.75..0.9),
    };
    let tint = if style == Style::GreyPaper {
        [1.0, 0.98, 0.93]
    } else {
        [1.0, 1.0, 1.0]
    };
    let gradient = match style {
        Style::Scan => 0.0,
        _ => rng.random_range(0.06..0.18f32),
    };
    let gdir = rng.random_range(0.0..std::f32::consts::TAU);
    let ink: [f32; 3] = match style {
        Style::Notebook => [0.12, 0.2, 0.55],
        Style::Chalkboard => [0.88, 0.88, 0.86],
        _ => {
            let v = rng.random_range(0.05..0.22);
            [v, v, v]
        }
    };
    let opacity = if dark_board { 0.85 } else { 1.0 };
    let noise = match style {
        Style::Scan => 0.01,
        Style::Chalkboard => 0.05,
        _ => 0.025,
    };
    // The sheet: inset and tilted on a white table (board and scans fill the picture).
    let sheet = matches!(style, Style::GreyPaper | Style::Notebook | Style::Ballpoint);
    let inset = 0.05;
    let spacing = height / rng.random_range(1.3..1.8f32);
    let line_phase = rng.random_range(0.0..spacing);
    let margin_x = wf * rng.random_range(0.1..0.18f32);
    let cov = coverage(&strokes, pen / 2.0, w, h);
    let mut img = RgbImage::new(w, h);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
        // Coordinates on the sheet (undo the tilt).
        let (dx, dy) = (xf - wf / 2.0, yf - hf / 2.0);
        let (sx, sy) = (wf / 2.0 + dx * ct + dy * st, hf / 2.0 - dx * st + dy * ct);
        let on_sheet = !sheet
            || (sx > inset * wf
                && sx < (1.0 - inset) * wf
                && sy > inset * hf
                && sy < (1.0 - inset) * hf);
        let light = 1.0 + gradient * ((xf / wf - 0.5) * gdir.cos() + (yf / hf - 0.5) * gdir.sin());
        let mut c = if on_sheet {
            let mut c = [paper * tint[0], paper * tint[1], paper * tint[2]];
            if style == Style::Notebook {
                let d = ((sy - line_phase) / spacing).rem_euclid(1.0);
                let dist = d.min(1.0 - d) * spacing;
                let a = (1.6 - dist).clamp(0.0, 1.0) * 0.6;
                let blue = [0.55, 0.7, 0.95];
                for k in 0..3 {
                    c[k] = c[k] * (1.0 - a) + blue[k] * paper * a;
                }
                let a = (1.4 - (sx - margin_x).abs()).clamp(0.0, 1.0) * 0.6;
                let red = [0.9, 0.35, 0.35];
                for k in 0..3 {
                    c[k] = c[k] * (1.0 - a) + red[k] * paper * a;
                }
            }
            c
        } else {
            [0.97, 0.97, 0.96] // the table
        };
        let a = cov[(y * w + x) as usize] * opacity;
        let n: f32 = rng.random_range(-1.0..1.0f32) * noise * 1.7;
        for k in 0..3 {
            c[k] = (c[k] * (1.0 - a) + ink[k] * a) * light + n;
        }
        *px = Rgb(c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8));
    }
    let jpeg_quality = match style {
        Style::Scan => None,
        _ => Some(rng.random_range(60..=80u8)),
    };
    Picture {
        label: digit,
        style,
        image: img,
        jpeg_quality,
        strokes,
        pen_width: pen,
    }
}

/// The same strokes rendered the way MNIST's digits look: the ink's bounding box scaled to 20
/// px on its longer side, the pen's width as the preparation normalizes it
/// ([`crate::digits::prepare::stroke_goal`]: MNIST's 2.2 px for a thin pen), anti-aliased (4x4
/// supersampling), the centre of mass in the centre of 28x28. Returns 784 pixels, 255 = full
/// stroke.
pub fn mnist_reference(strokes: &[Vec<Pt>], pen_width: f32) -> Vec<u8> {
    let all = strokes.iter().flatten();
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let half = pen_width / 2.0;
    let (x0, y0, x1, y1) = (x0 - half, y0 - half, x1 + half, y1 + half);
    let long = (x1 - x0).max(y1 - y0).max(1e-3);
    let ss = 4.0;
    let s = 20.0 * ss / long;
    let side = (28.0 * ss) as u32;
    // Centre the box first; the centre of mass is fixed below.
    let (ox, oy) = (
        (side as f32 - (x1 - x0) * s) / 2.0,
        (side as f32 - (y1 - y0) * s) / 2.0,
    );
    let scaled: Vec<Vec<Pt>> = strokes
        .iter()
        .map(|st| {
            st.iter()
                .map(|&(x, y)| (ox + (x - x0) * s, oy + (y - y0) * s))
                .collect()
        })
        .collect();
    let width = crate::digits::prepare::stroke_goal(pen_width, long) * 20.0 / long;
    let big = coverage(&scaled, width / 2.0 * ss, side, side);
    let mut small = vec![0f32; 28 * 28];
    for y in 0..side {
        for x in 0..side {
            small[(y / 4 * 28 + x / 4) as usize] += big[(y * side + x) as usize] / 16.0;
        }
    }
    let small = crate::digits::prepare::GrayF::from_raw(28, 28, small).unwrap_or_default();
    crate::digits::prepare::centre_by_mass(&small)
}

/// The fixed test set: every style, every digit, `per` pictures each (seeded).
pub fn test_set(per: usize, seed: u64) -> impl Iterator<Item = Picture> {
    Style::ALL.into_iter().flat_map(move |style| {
        (0..10u8).flat_map(move |d| (0..per).map(move |k| picture(d, style, seed + k as u64)))
    })
}

/// A blank page and a picture of pure noise: pictures without a digit.
pub fn without_digit(seed: u64) -> Vec<(&'static str, RgbImage)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let blank = RgbImage::from_fn(640, 480, |x, y| {
        let v = 0.85 + 0.08 * (x as f32 / 640.0) - 0.04 * (y as f32 / 480.0);
        let n: f32 = rng.random_range(-0.02..0.02);
        let v = ((v + n) * 255.0) as u8;
        Rgb([v, v, v.saturating_sub(6)])
    });
    let noise = RgbImage::from_fn(400, 400, |_, _| {
        let v: u8 = rng.random();
        Rgb([v, v, v])
    });
    vec![("blank page", blank), ("pure noise", noise)]
}

/// Two digits side by side on one page (a 3 on the left, a larger 8 on the right).
pub fn two_digits(seed: u64) -> RgbImage {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (w, h) = (900u32, 500u32);
    let mut strokes = Vec::new();
    for (digit, cx, size) in [(3u8, 260.0f32, 220.0f32), (8, 620.0, 300.0)] {
        for s in handwritten(digit, &mut rng) {
            strokes.push(
                s.into_iter()
                    .map(|(x, y)| (cx + (x - 0.5) * size, 250.0 + (y - 0.5) * size))
                    .collect(),
            );
        }
    }
    let cov = coverage(&strokes, 11.0, w, h);
    RgbImage::from_fn(w, h, |x, y| {
        let v = ((0.93 - 0.8 * cov[(y * w + x) as usize]) * 255.0) as u8;
        Rgb([v, v, v])
    })
}
