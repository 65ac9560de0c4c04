//! Pages on a desk, and whole numbers: a sheet of paper or a sticky note lying on wood, a
//! dark table or a grey desk, seen a little from the side (a projective view: the far edge
//! shorter), turned up to 25 degrees, casting a soft shadow, with the light falling off by
//! 15-30% across the frame; and pages with a number of 2-6 digits written on them, on a
//! desk or filling the picture.
//!
//! The strokes are kept in the page's own pixels (the page seen straight on), which is what
//! a perfect preparation recovers.

use super::scene::{scene, surface_at, Scene};
use super::{coverage, handwritten, Picture, Pt, Style};
use image::{Rgb, RgbImage};
use imageproc::geometric_transformations::Projection;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Renders `strokes` (in the page's own pixels, pen `pen` wide, colour `ink`) on the page
/// of `scene`.
fn render(
    scene: &Scene,
    strokes: &[Vec<Pt>],
    pen: f32,
    ink: [f32; 3],
    rng: &mut ChaCha8Rng,
) -> RgbImage {
    let (pw, ph) = (scene.page.0.ceil() as u32, scene.page.1.ceil() as u32);
    let cov = coverage(strokes, pen / 2.0, pw, ph);
    let (wf, hf) = (scene.w as f32, scene.h as f32);
    let (fall, fdir) = scene.falloff;
    let (fc, fs) = (fdir.cos(), fdir.sin());
    let soft = 0.012 * hf;
    // Distance inside the page (negative outside), in page pixels.
    let depth = |u: f32, v: f32| u.min(scene.page.0 - u).min(v).min(scene.page.1 - v);
    RgbImage::from_fn(scene.w, scene.h, |x, y| {
        let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
        let (u, v) = scene.to_page * (xf, yf);
        let d = depth(u, v);
        let mut c = if d >= 0.0 {
            let (ui, vi) = ((u as u32).min(pw - 1), (v as u32).min(ph - 1));
            let a = cov[(vi * pw + ui) as usize];
            let mut c = scene.paper;
            for k in 0..3 {
                c[k] = c[k] * (1.0 - a) + ink[k] * a;
            }
            // The page's edge, anti-aliased.
            let edge = d.min(1.0);
            let desk = surface_at(scene, xf, yf);
            for k in 0..3 {
                c[k] = c[k] * edge + desk[k] * (1.0 - edge);
            }
            c
        } else {
            let (su, sv) = scene.to_page * (xf - scene.shadow.0, yf - scene.shadow.1);
            let shade = ((depth(su, sv) + soft) / (2.0 * soft)).clamp(0.0, 1.0);
            surface_at(scene, xf, yf).map(|v| v * (1.0 - scene.shadow.2 * shade))
        };
        let t = (xf / wf - 0.5) * fc + (yf / hf - 0.5) * fs + 0.5;
        let mut light = 1.0 - fall * t.clamp(0.0, 1.0);
        if let Some(shade) = &scene.shade {
            light *= shade.light(xf, yf);
        }
        let n: f32 = rng.random_range(-1.0..1.0f32) * 0.025 * 1.7;
        for v in &mut c {
            *v = *v * light + n;
        }
        Rgb(c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))
    })
}

fn pen_ink(rng: &mut ChaCha8Rng) -> [f32; 3] {
    if rng.random_bool(0.4) {
        [0.1, 0.15, 0.45] // blue pen
    } else {
        let v = rng.random_range(0.05..0.2f32);
        [v, v, v]
    }
}

/// A digit on a sheet or sticky note lying on a desk ([`Style::Desk`]; in a shadow for
/// [`Style::ShadowedPage`], small in a big frame for [`Style::SmallPage`]).
pub(crate) fn picture(digit: u8, style: Style, rng: &mut ChaCha8Rng) -> Picture {
    let sizes: &[(u32, u32)] = match style {
        Style::ShadowedPage => &[(1200, 900), (1600, 1200), (2400, 1800)],
        Style::SmallPage => &[(2000, 1500), (2400, 1800), (3000, 2200)],
        _ => &[(1600, 1200), (3000, 2250), (4000, 3000)],
    };
    let (w, h) = sizes[rng.random_range(0..sizes.len())];
    let note = rng.random_bool(0.5);
    let mut scene = scene(rng, w, h, note);
    match style {
        Style::ShadowedPage => super::phone::shadow(&mut scene, rng),
        Style::SmallPage => super::phone::small(&mut scene, rng, None),
        _ => {}
    }
    let (pw, ph) = scene.page;
    let height = ph * rng.random_range(0.4..0.6f32);
    let pen = (height * rng.random_range(0.06..0.11f32)).max(1.2);
    let (cx, cy) = (
        pw / 2.0 + rng.random_range(-0.06..0.06f32) * pw,
        ph / 2.0 + rng.random_range(-0.05..0.05f32) * ph,
    );
    let strokes: Vec<Vec<Pt>> = handwritten(digit, rng)
        .into_iter()
        .map(|s| {
            s.into_iter()
                .map(|(x, y)| (cx + (x - 0.5) * height, cy + (y - 0.5) * height))
                .collect()
        })
        .collect();
    let ink = pen_ink(rng);
    let image = render(&scene, &strokes, pen, ink, rng);
    Picture {
        label: digit,
        style,
        image,
        jpeg_quality: Some(rng.random_range(60..=85u8)),
        strokes,
        pen_width: pen,
    }
}

/// A page with a number on it.
#[derive(Debug, Clone)]
pub struct NumberPage {
    /// The digits, line by line.
    pub lines: Vec<Vec<u8>>,
    /// Whether the page lies on a desk (else it fills the picture).
    pub on_desk: bool,
    pub image: RgbImage,
    pub jpeg_quality: u8,
    /// Each digit's strokes in reading order, in the page's own pixels.
    pub strokes: Vec<Vec<Vec<Pt>>>,
    pub pen_width: f32,
}

impl NumberPage {
    /// The number as text, lines apart with a space ("2024", "12 34").
    pub fn text(&self) -> String {
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|l| l.iter().map(|d| char::from(b'0' + d)).collect())
            .collect();
        lines.join(" ")
    }

    /// The JPEG file's bytes.
    pub fn encode(&self) -> crate::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, self.jpeg_quality);
        self.image
            .write_with_encoder(enc)
            .map_err(|e| crate::Error::Image {
                path: "synthetic number page".into(),
                problem: e.to_string(),
            })?;
        Ok(bytes)
    }
}

/// How the digits of a number are spaced: the gap between one digit's ink and the next's, as
/// a fraction of the digit height, measured between the strokes' centre lines (0 or less:
/// their ink overlaps, they touch).
#[derive(Debug, Clone, Copy)]
pub struct Spacing {
    /// The range each gap is drawn from.
    pub gap: (f32, f32),
    /// Which neighbours touch (the nearest strokes at the same height 0.85 of a pen's width
    /// apart, so their ink overlaps a little), whatever `gap` says.
    pub touching: Touching,
}

/// Which digits of a line touch their left neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touching {
    None,
    /// Only the digit after this one (index within the line) touches it.
    After(usize),
    /// Every digit touches the one before: the number in one piece.
    All,
}

/// Normal handwriting: a gap of 12-40% of the digit height.
pub const APART: Spacing = Spacing {
    gap: (0.12, 0.4),
    touching: Touching::None,
};

/// A page with `lines` of digits written on it, spaced by `spacing`, on a desk or filling a
/// 1600x1200 to 3000x2250 photo; reproducible from `seed`.
pub fn number_page(lines: &[Vec<u8>], spacing: Spacing, on_desk: bool, seed: u64) -> NumberPage {
    let setting = if on_desk {
        Setting::Desk
    } else {
        Setting::Filling
    };
    number_page_in(lines, spacing, setting, seed)
}

/// [`number_page`] in any [`Setting`]; `Filling` and `Desk` give exactly `number_page`'s
/// pictures.
pub fn number_page_in(
    lines: &[Vec<u8>],
    spacing: Spacing,
    setting: Setting,
    seed: u64,
) -> NumberPage {
    let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed ^ 0x6e75_6d62);
    let sizes: &[(u32, u32)] = match setting {
        Setting::Shadowed => &[(1200, 900), (1600, 1200), (2000, 1500)],
        Setting::Small => &[(2000, 1500), (2400, 1800), (3000, 2200)],
        _ => &[(1600, 1200), (2400, 1800), (3000, 2250)],
    };
    let (w, h) = sizes[rng.random_range(0..sizes.len())];
    let mut scene = scene(&mut rng, w, h, false);
    let on_desk = setting != Setting::Filling;
    match setting {
        Setting::Filling => {
            // The page fills the picture (landscape), as a scan or a close photo would.
            scene.page = (w as f32, h as f32);
            scene.to_page = Projection::scale(1.0, 1.0);
        }
        Setting::Desk => {}
        Setting::Shadowed => super::phone::shadow(&mut scene, &mut rng),
        Setting::Small => {
            // A slip about as wide as the number needs, written on in large digits.
            let longest = lines.iter().map(Vec::len).max().unwrap_or(1) as f32;
            let aspect = (0.55 * longest).max(1.6) * rng.random_range(0.9..1.1f32);
            super::phone::small(&mut scene, &mut rng, Some(aspect));
        }
    }
    let (pw, ph) = scene.page;
    let longest = lines.iter().map(Vec::len).max().unwrap_or(1).max(1) as f32;
    // Digit height: the longest line must fit in 85% of the page's width (the widest digits
    // take 0.75 of their height, plus the widest gap).
    let per_digit = 0.75 + spacing.gap.1.max(0.0);
    let tall = match setting {
        Setting::Small => rng.random_range(0.35..0.55f32),
        _ => rng.random_range(0.14..0.24f32),
    };
    let height = (ph * tall)
        .min(0.85 * pw / (longest * per_digit))
        .min(0.8 * ph / (lines.len() as f32 * 1.5));
    let pen = (height * rng.random_range(0.06..0.1f32)).max(1.2);
    let line_gap = height * rng.random_range(1.35..1.6f32);
    let top = ph / 2.0 - line_gap * (lines.len() as f32 - 1.0) / 2.0;
    let mut strokes = Vec::new();
    for (li, line) in lines.iter().enumerate() {
        // Each digit drawn in its unit box, then placed by its ink's extent.
        let drawn: Vec<(Vec<Vec<Pt>>, f32)> = line
            .iter()
            .map(|&d| {
                let size = height * rng.random_range(0.92..1.08f32);
                let s = handwritten(d, &mut rng);
                let (x0, x1) = s
                    .iter()
                    .flatten()
                    .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
                let placed: Vec<Vec<Pt>> = s
                    .into_iter()
                    .map(|st| {
                        st.into_iter()
                            .map(|(x, y)| ((x - x0) * size, (y - 0.5) * size))
                            .collect()
                    })
                    .collect();
                (placed, (x1 - x0) * size)
            })
            .collect();
        let (lo, hi) = spacing.gap;
        let gaps: Vec<f32> = (0..line.len())
            .map(|_| height * rng.random_range(lo..hi.max(lo + 1e-3)))
            .collect();
        let total: f32 = drawn.iter().map(|d| d.1).sum::<f32>() + gaps.iter().skip(1).sum::<f32>();
        // Wholly on the page: shifted a little, never past 6% from its edges.
        let room = (0.88 * pw - total).max(0.0) / 2.0;
        let shift = rng.random_range(-1.0..1.0f32) * room.min(0.04 * pw);
        let mut x = (pw / 2.0 - total / 2.0 + shift).max(0.06 * pw);
        let y = top + li as f32 * line_gap;
        let mut previous: Vec<Pt> = Vec::new();
        for (k, (digit, width)) in drawn.into_iter().enumerate() {
            let dy = rng.random_range(-0.04..0.04f32) * height;
            let touching = k > 0
                && match spacing.touching {
                    Touching::None => false,
                    Touching::After(t) => k == t + 1,
                    Touching::All => true,
                };
            if touching {
                // Placed so that the nearest strokes at the same height are 0.85 of a pen's
                // width apart: the ink overlaps there, a little.
                let mut need = f32::MIN;
                for &(px, py) in &previous {
                    for &(qx, qy) in digit.iter().flatten() {
                        if (py - (y + dy + qy)).abs() < pen / 2.0 {
                            need = need.max(px - qx + 0.85 * pen);
                        }
                    }
                }
                x = if need > f32::MIN { need } else { x + gaps[k] };
            } else if k > 0 {
                x += gaps[k];
            }
            let placed: Vec<Vec<Pt>> = digit
                .into_iter()
                .map(|st| {
                    st.into_iter()
                        .map(|(sx, sy)| (x + sx, y + dy + sy))
                        .collect()
                })
                .collect();
            previous = placed.iter().flatten().copied().collect();
            strokes.push(placed);
            x += width;
        }
    }
    let flat: Vec<Vec<Pt>> = strokes.iter().flatten().cloned().collect();
    let ink = pen_ink(&mut rng);
    let image = render(&scene, &flat, pen, ink, &mut rng);
    NumberPage {
        lines: lines.to_vec(),
        on_desk,
        image,
        jpeg_quality: rng.random_range(65..=85u8),
        strokes,
        pen_width: pen,
    }
}

/// The fixed multi-digit test set: `count` pages with numbers of 2-6 digits on one line,
/// every other one on a desk (seeded).
pub fn number_set(count: usize, seed: u64) -> impl Iterator<Item = NumberPage> {
    (0..count).map(move |i| {
        let mut rng =
            <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed.wrapping_mul(7919) + i as u64);
        let len = 2 + i % 5;
        let digits: Vec<u8> = (0..len).map(|_| rng.random_range(0..10u8)).collect();
        number_page(
            &[digits],
            APART,
            i % 2 == 1,
            seed.wrapping_add(i as u64 * 104_729),
        )
    })
}

/// Where a number page lies and how it is lit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The page fills the picture.
    Filling,
    /// A sheet on a desk, evenly lit but for light falling off across the frame.
    Desk,
    /// A sheet on a desk with a shadow that darkens one side of the page to 40-60% of the
    /// other (a soft cast shadow or light falling off across the page).
    Shadowed,
    /// A landscape slip of paper filling 1/20 to 1/8 of a big photo of a desk, anywhere in
    /// it.
    Small,
}

/// Like [`number_set`], every page in `setting` (meant for `Shadowed` and
/// `Small`): numbers of 2-6 digits on one line, other pages than `number_set`'s (seeded
/// apart).
pub fn number_set_in(
    count: usize,
    seed: u64,
    setting: Setting,
) -> impl Iterator<Item = NumberPage> {
    let salt = 0x5e77_1000 + setting as u64;
    (0..count).map(move |i| {
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
            (seed ^ salt).wrapping_mul(7919) + i as u64,
        );
        let len = 2 + i % 5;
        let digits: Vec<u8> = (0..len).map(|_| rng.random_range(0..10u8)).collect();
        number_page_in(
            &[digits],
            APART,
            setting,
            (seed ^ salt).wrapping_add(i as u64 * 104_729),
        )
    })
}
