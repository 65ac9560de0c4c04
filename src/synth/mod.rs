//! Synthetic photos of handwritten digits, with their true labels: the project's own test set
//! for [`crate::prepare`]. Digits are pen strokes (splines through hand-placed points, with a
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

use image::{DynamicImage, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A point in picture pixels (or in the glyph's unit box).
pub(crate) type Pt = (f32, f32);

/// What the picture looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    /// Dark ink on white paper, scanned (PNG).
    Scan,
    /// Off-white paper with a lighting gradient, tilted a few degrees on a white table.
    GreyPaper,
    /// Blue pen on ruled notebook paper with a red margin (JPEG).
    Notebook,
    /// Light chalk on a dark board (JPEG).
    Chalkboard,
    /// A fat marker on a big photo (JPEG).
    Marker,
    /// A thin ballpoint on a big photo with uneven light (JPEG).
    Ballpoint,
    /// A sheet of paper or a sticky note lying on a darker desk (wood, a dark or grey table),
    /// photographed a little from the side, with its shadow and light falling off across
    /// the frame (JPEG).
    Desk,
}

impl Style {
    pub const ALL: [Style; 7] = [
        Style::Scan,
        Style::GreyPaper,
        Style::Notebook,
        Style::Chalkboard,
        Style::Marker,
        Style::Ballpoint,
        Style::Desk,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Style::Scan => "scan",
            Style::GreyPaper => "grey-paper",
            Style::Notebook => "notebook",
            Style::Chalkboard => "chalkboard",
            Style::Marker => "marker",
            Style::Ballpoint => "ballpoint",
            Style::Desk => "desk",
        }
    }
}

/// One synthetic picture.
#[derive(Debug, Clone)]
pub struct Picture {
    pub label: u8,
    pub style: Style,
    pub image: RgbImage,
    /// JPEG quality it is saved with (`None`: PNG).
    pub jpeg_quality: Option<u8>,
    /// The strokes as drawn, in picture pixels (on the page, for [`Style::Desk`]: the page
    /// seen straight on).
    pub strokes: Vec<Vec<Pt>>,
    /// The pen's width in the same pixels.
    pub pen_width: f32,
}

impl Picture {
    /// The file bytes (PNG or JPEG) and the file extension.
    pub fn encode(&self) -> crate::Result<(Vec<u8>, &'static str)> {
        let mut bytes = Vec::new();
        let err = |e: image::ImageError| crate::Error::Image {
            path: "synthetic picture".into(),
            problem: e.to_string(),
        };
        match self.jpeg_quality {
            Some(q) => {
                let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, q);
                self.image.write_with_encoder(enc).map_err(err)?;
                Ok((bytes, "jpg"))
            }
            None => {
                DynamicImage::ImageRgb8(self.image.clone())
                    .write_to(
                        &mut std::io::Cursor::new(&mut bytes),
                        image::ImageFormat::Png,
                    )
                    .map_err(err)?;
                Ok((bytes, "png"))
            }
        }
    }
}

/// (points, smooth): a stroke through `points`, as a spline when `smooth`, else straight.
type Stroke = (Vec<Pt>, bool);

/// The digit's strokes in a unit box (x right, y down), before any variation.
fn glyph(digit: u8) -> Vec<Stroke> {
    let s = |p: &[Pt]| (p.to_vec(), true);
    let l = |p: &[Pt]| (p.to_vec(), false);
    match digit {
        0 => {
            let pts = (0..=26)
                .map(|i| {
                    let a = (-100.0 + i as f32 * 14.5).to_radians();
                    (0.5 + 0.28 * a.cos(), 0.5 + 0.45 * a.sin())
                })
                .collect::<Vec<_>>();
            vec![(pts, true)]
        }
        1 => vec![s(&[(0.56, 0.04), (0.53, 0.5), (0.49, 0.96)])],
        2 => vec![s(&[
            (0.22, 0.28),
            (0.32, 0.09),
            (0.52, 0.04),
            (0.72, 0.14),
            (0.72, 0.34),
            (0.55, 0.56),
            (0.36, 0.76),
            (0.2, 0.95),
            (0.5, 0.93),
            (0.84, 0.94),
        ])],
        3 => vec![
            s(&[
                (0.22, 0.14),
                (0.45, 0.03),
                (0.7, 0.1),
                (0.72, 0.28),
                (0.52, 0.45),
                (0.4, 0.48),
            ]),
            s(&[
                (0.52, 0.46),
                (0.74, 0.56),
                (0.78, 0.76),
                (0.6, 0.94),
                (0.36, 0.95),
                (0.18, 0.85),
            ]),
        ],
        4 => vec![
            l(&[(0.6, 0.04), (0.16, 0.64), (0.86, 0.64)]),
            l(&[(0.62, 0.3), (0.6, 0.97)]),
        ],
        5 => vec![
            l(&[(0.78, 0.05), (0.3, 0.05), (0.26, 0.44)]),
            s(&[
                (0.26, 0.44),
                (0.52, 0.37),
                (0.75, 0.5),
                (0.77, 0.74),
                (0.57, 0.93),
                (0.32, 0.94),
                (0.17, 0.84),
            ]),
        ],
        6 => vec![s(&[
            (0.7, 0.04),
            (0.46, 0.2),
            (0.29, 0.45),
            (0.25, 0.7),
            (0.37, 0.92),
            (0.58, 0.95),
            (0.74, 0.78),
            (0.68, 0.58),
            (0.47, 0.54),
            (0.28, 0.66),
        ])],
        7 => vec![l(&[(0.16, 0.06), (0.84, 0.06), (0.42, 0.97)])],
        8 => vec![s(&[
            (0.5, 0.5),
            (0.7, 0.33),
            (0.67, 0.09),
            (0.5, 0.03),
            (0.32, 0.09),
            (0.3, 0.31),
            (0.5, 0.5),
            (0.74, 0.68),
            (0.72, 0.9),
            (0.5, 0.97),
            (0.28, 0.9),
            (0.26, 0.68),
            (0.5, 0.5),
        ])],
        _ => vec![
            s(&[
                (0.72, 0.22),
                (0.58, 0.05),
                (0.36, 0.07),
                (0.27, 0.28),
                (0.4, 0.45),
                (0.62, 0.42),
                (0.72, 0.22),
            ]),
            l(&[(0.72, 0.22), (0.68, 0.6), (0.62, 0.97)]),
        ],
    }
}

/// Catmull-Rom spline through `p`, `per` samples per segment.
fn spline(p: &[Pt], per: usize) -> Vec<Pt> {
    if p.len() < 3 {
        return p.to_vec();
    }
    let mut out = Vec::new();
    for i in 0..p.len() - 1 {
        let p0 = p[i.saturating_sub(1)];
        let (p1, p2) = (p[i], p[i + 1]);
        let p3 = p[(i + 2).min(p.len() - 1)];
        for k in 0..per {
            let t = k as f32 / per as f32;
            let (t2, t3) = (t * t, t * t * t);
            let f = |a: f32, b: f32, c: f32, d: f32| {
                0.5 * (2.0 * b
                    + (-a + c) * t
                    + (2.0 * a - 5.0 * b + 4.0 * c - d) * t2
                    + (-a + 3.0 * b - 3.0 * c + d) * t3)
            };
            out.push((f(p0.0, p1.0, p2.0, p3.0), f(p0.1, p1.1, p2.1, p3.1)));
        }
    }
    out.push(p[p.len() - 1]);
    out
}

/// The digit's strokes with this writer's variation, as dense polylines in the unit box.
pub(crate) fn handwritten(digit: u8, rng: &mut ChaCha8Rng) -> Vec<Vec<Pt>> {
    let slant = rng.random_range(-0.05..0.3f32);
    let widen = rng.random_range(0.85..1.15f32);
    let wobble = 0.018;
    glyph(digit)
        .into_iter()
        .map(|(pts, smooth)| {
            let pts: Vec<Pt> = pts
                .iter()
                .map(|&(x, y)| {
                    let (x, y) = (
                        x + rng.random_range(-wobble..wobble),
                        y + rng.random_range(-wobble..wobble),
                    );
                    (0.5 + (x - 0.5) * widen + slant * (0.5 - y), y)
                })
                .collect();
            if smooth {
                spline(&pts, 12)
            } else {
                // Straight segments, sampled densely.
                let mut out = Vec::new();
                for w in pts.windows(2) {
                    for k in 0..12 {
                        let t = k as f32 / 12.0;
                        out.push((
                            w[0].0 + (w[1].0 - w[0].0) * t,
                            w[0].1 + (w[1].1 - w[0].1) * t,
                        ));
                    }
                }
                out.extend(pts.last());
                out
            }
        })
        .collect()
}

/// Coverage (0..1) of a round pen of radius `r` along `strokes`, in a `w` x `h` grid.
pub(crate) fn coverage(strokes: &[Vec<Pt>], r: f32, w: u32, h: u32) -> Vec<f32> {
    let mut cov = vec![0f32; (w * h) as usize];
    for stroke in strokes {
        // Stamps closer than a third of the radius (at least 0.25 px) apart.
        let mut pts: Vec<Pt> = Vec::new();
        for win in stroke.windows(2) {
            let (a, b) = (win[0], win[1]);
            let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            let n = (len / (r / 3.0).max(0.25)).ceil().max(1.0) as usize;
            for k in 0..n {
                let t = k as f32 / n as f32;
                pts.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
            }
        }
        pts.extend(stroke.last());
        for (cx, cy) in pts {
            let (x0, x1) = (
                (cx - r - 1.0).floor().max(0.0) as u32,
                (cx + r + 1.0).ceil().min(w as f32 - 1.0) as u32,
            );
            let (y0, y1) = (
                (cy - r - 1.0).floor().max(0.0) as u32,
                (cy + r + 1.0).ceil().min(h as f32 - 1.0) as u32,
            );
            if cx + r + 1.0 < 0.0 || cy + r + 1.0 < 0.0 || x0 > x1 || y0 > y1 {
                continue;
            }
            for y in y0..=y1 {
                for x in x0..=x1 {
                    let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                    let c = (r + 0.5 - d).clamp(0.0, 1.0);
                    let i = (y * w + x) as usize;
                    if c > cov[i] {
                        cov[i] = c;
                    }
                }
            }
        }
    }
    cov
}

/// One synthetic picture of `digit` in `style`, reproducible from `seed`.
pub fn picture(digit: u8, style: Style, seed: u64) -> Picture {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((digit as u64) << 32) ^ ((style as u64) << 40));
    if style == Style::Desk {
        return desk::picture(digit, &mut rng);
    }
    let sizes: &[(u32, u32)] = match style {
        Style::Scan => &[(64, 64), (200, 200), (640, 480), (800, 600)],
        Style::GreyPaper | Style::Notebook => &[(640, 480), (1024, 768), (1600, 1200)],
        Style::Chalkboard => &[(480, 360), (1280, 960)],
        Style::Marker | Style::Ballpoint | Style::Desk => {
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
/// ([`crate::prepare::stroke_goal`]: MNIST's 2.2 px for a thin pen), anti-aliased (4x4
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
    let width = crate::prepare::stroke_goal(pen_width, long) * 20.0 / long;
    let big = coverage(&scaled, width / 2.0 * ss, side, side);
    let mut small = vec![0f32; 28 * 28];
    for y in 0..side {
        for x in 0..side {
            small[(y / 4 * 28 + x / 4) as usize] += big[(y * side + x) as usize] / 16.0;
        }
    }
    let small = crate::prepare::GrayF::from_raw(28, 28, small).unwrap_or_default();
    crate::prepare::centre_by_mass(&small)
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
