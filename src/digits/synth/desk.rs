//! Pages on a desk, and whole numbers: a sheet of paper or a sticky note lying on wood, a
//! dark table or a grey desk, seen a little from the side (a projective view: the far edge
//! shorter), turned up to 25 degrees, casting a soft shadow, with the light falling off by
//! 15-30% across the frame; and pages with a number of 2-6 digits written on them, on a
//! desk or filling the picture.
//!
//! The strokes are kept in the page's own pixels (the page seen straight on), which is what
//! a perfect preparation recovers.

pub use super::phone::{number_set_in, Setting};
use super::{coverage, handwritten, Picture, Pt, Style};
use image::{Rgb, RgbImage};
use imageproc::geometric_transformations::Projection;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What lies under the page.
#[derive(Debug, Clone, Copy)]
enum Surface {
    /// Wood: a brown with grain.
    Wood([f32; 3]),
    /// A dark, nearly plain table.
    Dark(f32),
    /// A grey or blue-grey desk, mottled.
    Grey([f32; 3]),
}

/// A page lying in a picture: its size in its own pixels and where its corners fall.
pub(super) struct Scene {
    pub(super) w: u32,
    pub(super) h: u32,
    /// The page's own size (seen straight on), in pixels.
    pub(super) page: (f32, f32),
    paper: [f32; 3],
    /// Frame pixel -> page pixel.
    pub(super) to_page: Projection,
    surface: Surface,
    /// A shadow across the page and the desk around it (`synth/phone.rs`), if any.
    pub(super) shade: Option<super::phone::Shade>,
    /// The shadow's offset in frame pixels and its strength.
    shadow: (f32, f32, f32),
    /// Light falloff: strength and direction.
    falloff: (f32, f32),
    grain: (f32, f32, f32),
}

/// A scene with a random desk, page (a sheet, or a sticky note when `note`), angle, view,
/// shadow and light, in a `w` x `h` frame.
pub(super) fn scene(rng: &mut ChaCha8Rng, w: u32, h: u32, note: bool) -> Scene {
    let (wf, hf) = (w as f32, h as f32);
    let (page_h, aspect) = if note {
        (hf * rng.random_range(0.5..0.65f32), 1.0)
    } else {
        (
            hf * rng.random_range(0.62..0.78f32),
            rng.random_range(0.72..0.78f32),
        )
    };
    let page = (page_h * aspect, page_h);
    let paper = if note {
        if rng.random_bool(0.7) {
            [0.98, 0.9, 0.45] // yellow
        } else {
            [0.78, 0.95, 0.62] // green
        }
    } else {
        let v = rng.random_range(0.88..0.97f32);
        [v, v * 0.99, v * 0.96]
    };
    let surface = match rng.random_range(0..3) {
        0 => {
            let woods = [[0.45, 0.3, 0.18], [0.55, 0.39, 0.24], [0.34, 0.22, 0.13]];
            Surface::Wood(woods[rng.random_range(0..woods.len())])
        }
        1 => Surface::Dark(rng.random_range(0.1..0.22)),
        _ => {
            let v = rng.random_range(0.32..0.45f32);
            Surface::Grey([v, v * 1.03, v * 1.1])
        }
    };
    // The page's corners: turned, seen from one side (that edge shorter), kept inside.
    let angle = rng.random_range(-25.0..25.0f32).to_radians();
    let near = rng.random_range(0.78..0.95f32);
    let side = rng.random_range(0..4);
    let mut size = 1.0f32;
    let centre = (
        wf / 2.0 + rng.random_range(-0.06..0.06f32) * wf,
        hf / 2.0 + rng.random_range(-0.05..0.05f32) * hf,
    );
    let quad = loop {
        let (hw, hh) = (page.0 / 2.0 * size, page.1 / 2.0 * size);
        // Unit corners TL, TR, BR, BL; the shortened side's two corners pulled in.
        let mut c = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)];
        let (a, b, along_x) = match side {
            0 => (0, 1, true),
            1 => (1, 2, false),
            2 => (2, 3, true),
            _ => (3, 0, false),
        };
        for i in [a, b] {
            if along_x {
                c[i].0 *= near;
            } else {
                c[i].1 *= near;
            }
        }
        let (s, co) = angle.sin_cos();
        let q = c.map(|(x, y)| (centre.0 + x * co - y * s, centre.1 + x * s + y * co));
        let inside = q
            .iter()
            .all(|&(x, y)| x > 0.04 * wf && x < 0.96 * wf && y > 0.04 * hf && y < 0.96 * hf);
        if inside || size < 0.3 {
            break q;
        }
        size *= 0.92;
    };
    let corners = [(0.0, 0.0), (page.0, 0.0), (page.0, page.1), (0.0, page.1)];
    let to_page = Projection::from_control_points(quad, corners)
        .unwrap_or_else(|| Projection::scale(page.0 / wf, page.1 / hf));
    let dir = rng.random_range(0.0..std::f32::consts::TAU);
    let reach = hf * rng.random_range(0.01..0.025f32);
    Scene {
        w,
        h,
        page,
        paper,
        to_page,
        surface,
        shade: None,
        shadow: (
            reach * dir.cos(),
            reach * dir.sin(),
            rng.random_range(0.35..0.55),
        ),
        falloff: (
            rng.random_range(0.15..0.3),
            rng.random_range(0.0..std::f32::consts::TAU),
        ),
        grain: (
            rng.random_range(0.0..std::f32::consts::PI),
            hf * rng.random_range(0.01..0.03f32),
            rng.random_range(0.0..100.0f32),
        ),
    }
}

/// The desk's colour at a frame pixel (before shadow and light).
fn surface_at(scene: &Scene, x: f32, y: f32) -> [f32; 3] {
    let (angle, period, phase) = scene.grain;
    match scene.surface {
        Surface::Wood(c) => {
            let (s, co) = angle.sin_cos();
            let (u, v) = (x * co + y * s, -x * s + y * co);
            let ring = (std::f32::consts::TAU
                * (v / period + 0.35 * (u / (7.0 * period) + phase).sin()))
            .sin();
            let k = 1.0 + 0.12 * ring;
            c.map(|v| v * k)
        }
        Surface::Dark(v) => [v, v, v * 1.05],
        Surface::Grey(c) => {
            let k = 1.0 + 0.05 * ((x / (9.0 * period) + phase).sin() * (y / (6.0 * period)).cos());
            c.map(|v| v * k)
        }
    }
}

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
