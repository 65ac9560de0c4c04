//! Your own digit, from a photo or a scan: the document pipeline that turns a picture of a
//! handwritten digit into the 28x28 image MNIST's digits are (light strokes on black, the
//! longer side 20 px, the ink's centre of mass in the centre).
//!
//! Steps (each one kept in [`Preparation`] so a user can see where it went wrong):
//! 1. grayscale at a working size (longer side 256-512 px); a dark page (chalk on a board)
//!    is inverted so that ink is always darker than the page;
//! 2. the page's brightness is estimated locally (a max filter over ~1/8 of the picture, then
//!    blurred), so lighting gradients and grey or tinted paper cancel out; ink = how much
//!    darker than its own surroundings a pixel is, scaled so the strokes reach 1;
//! 3. Otsu's threshold on that ink map gives the ink mask;
//! 4. long straight lines that span the page (ruled lines, a margin, the paper's edge) are
//!    found with a Hough transform and removed; so is everything touching the picture's
//!    border (table, frame) and small specks;
//! 5. the largest connected group of strokes is the digit (parts near it, like the detached
//!    bar of a 5, belong to it); other groups of similar size are further digits, reported;
//! 6. the stroke width is measured; a thin pen is thickened to MNIST's (about 2 px of the
//!    20 px box) and a fat marker thinned towards it; the crop's grey levels are kept (MNIST
//!    is anti-aliased);
//! 7. the crop's longer side is scaled to 20 px and its centre of mass put at the centre of
//!    the 28x28 field.
//!
//! A picture without anything digit-like (a blank page, pure noise) is an error that says
//! so, not a confident guess.

use crate::error::{Error, Result};
use image::{DynamicImage, GenericImageView, GrayImage, ImageBuffer, Luma};
use imageproc::contrast::otsu_level;
use imageproc::hough::{detect_lines, LineDetectionOptions, PolarLine};
use imageproc::morphology::{grayscale_dilate, grayscale_erode, Mask};
use imageproc::region_labelling::{connected_components, Connectivity};
use std::path::Path;

/// A grayscale image of floats (0..1).
pub type GrayF = ImageBuffer<Luma<f32>, Vec<f32>>;

/// The side of an MNIST image and of the box its digit is scaled into.
const SIDE: u32 = 28;
const BOX: f32 = 20.0;
/// MNIST's stroke width relative to the 20 px box: about 2.2 px.
const STROKE: f32 = 0.11;
/// The working size: the longer side is brought into this range first.
const WORK_MIN: u32 = 256;
const WORK_MAX: u32 = 512;

/// Every intermediate picture of one preparation, for `--show-prepared` and the notebook.
#[derive(Debug, Clone)]
pub struct Preparation {
    /// The 28x28 MNIST-style result (0 = background, 255 = full stroke).
    pub pixels: Vec<u8>,
    /// The picture at working size, grayscale, ink dark.
    pub working: GrayImage,
    /// The ink map: how much darker than the local page each pixel is (255 = full stroke).
    pub ink: GrayImage,
    /// The pixels kept as the digit (255) after lines, borders and specks were removed.
    pub mask: GrayImage,
    /// The digit's crop from the ink map, after the stroke-width correction.
    pub crop: GrayImage,
    /// How many digit-sized groups of strokes were found (the largest one is used).
    pub digits_found: usize,
    /// Lines removed (ruled lines, paper edges).
    pub lines_removed: usize,
    /// The stroke width measured in the crop and the width it was brought to, in pixels.
    pub stroke_width: (f32, f32),
}

/// The stroke width the preparation brings a digit's strokes to, for a measured `width` in a
/// digit whose longer side is `long` (same units). MNIST's own strokes vary about twofold, so
/// only clear outliers change: a pen thinner than 0.6x MNIST's width (about 2.2 px of the
/// 20 px box) is thickened to it, a marker fatter than 1.8x is thinned to 1.4x.
pub fn stroke_goal(width: f32, long: f32) -> f32 {
    let target = STROKE * long;
    if width < 0.6 * target {
        target
    } else if width > 1.8 * target {
        1.4 * target
    } else {
        width
    }
}

/// Why a picture has no digit.
fn no_digit(why: &str) -> String {
    format!("no digit found: {why}")
}

fn to_gray_f(img: &GrayImage) -> GrayF {
    GrayF::from_fn(img.width(), img.height(), |x, y| {
        Luma([img.get_pixel(x, y)[0] as f32 / 255.0])
    })
}

fn to_gray_u8(img: &GrayF) -> GrayImage {
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        Luma([(img.get_pixel(x, y)[0].clamp(0.0, 1.0) * 255.0).round() as u8])
    })
}

/// Grayscale at working size. Transparent pixels count as white paper.
fn working_gray(img: &DynamicImage) -> GrayImage {
    let (w, h) = img.dimensions();
    let long = w.max(h).max(1);
    let scale = if long > WORK_MAX {
        WORK_MAX as f32 / long as f32
    } else if long < WORK_MIN {
        WORK_MIN as f32 / long as f32
    } else {
        1.0
    };
    let nw = ((w as f32 * scale).round() as u32).max(1);
    let nh = ((h as f32 * scale).round() as u32).max(1);
    let gray = if img.color().has_alpha() {
        let la = img.to_luma_alpha8();
        GrayImage::from_fn(w, h, |x, y| {
            let p = la.get_pixel(x, y);
            let a = p[1] as u32;
            Luma([((p[0] as u32 * a + 255 * (255 - a)) / 255) as u8])
        })
    } else {
        img.to_luma8()
    };
    if scale < 1.0 {
        // Area-averaging reduction: fast on big photos, and thin strokes fade instead of
        // vanishing.
        image::imageops::thumbnail(&gray, nw, nh)
    } else if scale > 1.0 {
        image::imageops::resize(&gray, nw, nh, image::imageops::FilterType::Triangle)
    } else {
        gray
    }
}

/// The page's own brightness around each pixel: strokes are darker than their surroundings,
/// so a max filter over a window wider than any stroke (1/8 of the picture, at 1/8 scale)
/// sees the page through them; a blur then smooths the windows' blocks. Whatever is much
/// brighter than the page as a whole (`page`, the picture's median: a white table around the
/// sheet, a glare) is first clipped to the page's level, or the max filter would carry it
/// into the paper beside it and make the paper look like ink.
fn page_brightness(gray: &GrayImage, page: u8) -> GrayF {
    let (w, h) = gray.dimensions();
    let factor = 8;
    let (sw, sh) = ((w / factor).max(1), (h / factor).max(1));
    let small = image::imageops::resize(gray, sw, sh, image::imageops::FilterType::Triangle);
    let ceiling = page.saturating_add(20);
    let clipped = GrayImage::from_fn(sw, sh, |x, y| Luma([small.get_pixel(x, y)[0].min(ceiling)]));
    let radius = (sw.max(sh) / 16).clamp(2, 20) as u8;
    let bright = grayscale_dilate(&clipped, &Mask::square(radius));
    let smooth = imageproc::filter::gaussian_blur_f32(&bright, radius as f32 / 2.0);
    let full = image::imageops::resize(&smooth, w, h, image::imageops::FilterType::Triangle);
    to_gray_f(&full)
}

/// Distance of pixel (x, y) from a Hough line (r = x cos m + y sin m).
fn line_distance(line: &PolarLine, x: f32, y: f32) -> f32 {
    let (s, c) = (line.angle_in_degrees as f32).to_radians().sin_cos();
    (x * c + y * s - line.r).abs()
}

/// Long straight lines in `mask` whose ink spans most of the picture (ruled lines, margins,
/// paper edges). A digit's own straight strokes are shorter than that.
fn page_lines(mask: &GrayImage) -> Vec<PolarLine> {
    let (w, h) = mask.dimensions();
    let min_extent = 0.75;
    let options = LineDetectionOptions {
        vote_threshold: (0.5 * w.min(h) as f32) as u32,
        suppression_radius: 6,
    };
    detect_lines(mask, options)
        .into_iter()
        .filter(|line| {
            // The ink along the line must reach across the picture in the line's direction.
            let (s, c) = (line.angle_in_degrees as f32).to_radians().sin_cos();
            let horizontal = s.abs() > c.abs();
            let (mut lo, mut hi) = (f32::MAX, f32::MIN);
            for (x, y, p) in mask.enumerate_pixels() {
                if p[0] > 0 && line_distance(line, x as f32, y as f32) <= 1.5 {
                    let along = if horizontal { x as f32 } else { y as f32 };
                    lo = lo.min(along);
                    hi = hi.max(along);
                }
            }
            let span = if horizontal { w } else { h } as f32;
            hi - lo >= min_extent * span
        })
        .collect()
}

/// One connected group of ink pixels.
#[derive(Debug, Clone, Copy)]
struct Blob {
    label: u32,
    area: u32,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
    touches_border: bool,
}

impl Blob {
    fn size(&self) -> u32 {
        (self.x1 - self.x0 + 1).max(self.y1 - self.y0 + 1)
    }
    /// Gap between two boxes (0 when they overlap).
    fn gap(&self, o: &Blob) -> u32 {
        let dx =
            o.x0.saturating_sub(self.x1)
                .max(self.x0.saturating_sub(o.x1));
        let dy =
            o.y0.saturating_sub(self.y1)
                .max(self.y0.saturating_sub(o.y1));
        dx.max(dy)
    }
}

fn blobs(mask: &GrayImage) -> (ImageBuffer<Luma<u32>, Vec<u32>>, Vec<Blob>) {
    let labels = connected_components(mask, Connectivity::Eight, Luma([0u8]));
    let (w, h) = mask.dimensions();
    let mut out: Vec<Blob> = Vec::new();
    for (x, y, l) in labels.enumerate_pixels() {
        let l = l[0];
        if l == 0 {
            continue;
        }
        let i = l as usize - 1;
        if i >= out.len() {
            out.resize(
                i + 1,
                Blob {
                    label: 0,
                    area: 0,
                    x0: u32::MAX,
                    y0: u32::MAX,
                    x1: 0,
                    y1: 0,
                    touches_border: false,
                },
            );
        }
        let b = &mut out[i];
        b.label = l;
        b.area += 1;
        b.x0 = b.x0.min(x);
        b.y0 = b.y0.min(y);
        b.x1 = b.x1.max(x);
        b.y1 = b.y1.max(y);
        b.touches_border |= x == 0 || y == 0 || x + 1 == w || y + 1 == h;
    }
    out.retain(|b| b.area > 0);
    (labels, out)
}

/// Prepares a decoded picture. Errors only for pictures without a digit.
pub fn prepare(img: &DynamicImage) -> std::result::Result<Preparation, String> {
    // 1. Working grayscale; ink darker than the page.
    let mut working = working_gray(img);
    let mut hist: Vec<u8> = working.as_raw().clone();
    let mid = hist.len() / 2;
    let mut median = *hist.select_nth_unstable(mid).1;
    if median < 128 {
        image::imageops::invert(&mut working);
        median = 255 - median;
    }
    let (w, h) = working.dimensions();

    // 2. Ink: darkness relative to the local page, scaled so strong strokes reach 1.
    let page = page_brightness(&working, median);
    let gray = to_gray_f(&working);
    let mut ink = GrayF::from_fn(w, h, |x, y| {
        let p = page.get_pixel(x, y)[0].max(0.05);
        Luma([((p - gray.get_pixel(x, y)[0]) / p).max(0.0)])
    });
    let mut values: Vec<f32> = ink.as_raw().clone();
    let k = ((values.len() as f32 * 0.998) as usize).min(values.len() - 1);
    let strong = *values.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1;
    if strong < 0.12 {
        return Err(no_digit(
            "nothing on the page is clearly darker than the page itself",
        ));
    }
    let scale = 1.0 / (0.8 * strong);
    ink.pixels_mut()
        .for_each(|p| p[0] = (p[0] * scale).min(1.0));
    let ink8 = to_gray_u8(&ink);

    // 3. Otsu's threshold (never below a quarter of full ink: faint paper texture is not ink).
    let level = otsu_level(&ink8).max(64);
    let mask = GrayImage::from_fn(w, h, |x, y| {
        Luma([if ink8.get_pixel(x, y)[0] > level {
            255
        } else {
            0
        }])
    });

    // 4. Page lines out; then groups of strokes, without borders and specks.
    let lines = page_lines(&mask);
    let unlined = {
        let mut m = mask.clone();
        for (x, y, p) in m.enumerate_pixels_mut() {
            if p[0] > 0
                && lines
                    .iter()
                    .any(|l| line_distance(l, x as f32, y as f32) <= 2.5)
            {
                p[0] = 0;
            }
        }
        m
    };
    let area = (w * h) as f32;
    // Page structures span the picture (a sheet's rim, a frame) or run off it (the table, the
    // photo's edge): such groups are not digits, unless nothing else is left (a digit the user
    // cropped tightly, or that touches the picture's edge).
    let candidates = |m: &GrayImage, strict: bool| {
        let (labels, mut found) = blobs(m);
        found.retain(|b| {
            let spans = (b.x1 - b.x0 + 1) as f32 > 0.85 * w as f32
                || (b.y1 - b.y0 + 1) as f32 > 0.85 * h as f32;
            (!strict || !(b.touches_border || spans)) && b.area as f32 >= (0.0004 * area).max(6.0)
        });
        found.sort_by_key(|b| std::cmp::Reverse(b.area));
        (labels, found)
    };
    let mut lines_removed = lines.len();
    let (mut labels, mut found) = candidates(&unlined, true);
    if found.is_empty() {
        (labels, found) = candidates(&unlined, false);
    }
    if found.is_empty() && !lines.is_empty() {
        // What looked like a page line was the digit itself (a "1" filling the picture).
        (labels, found) = candidates(&mask, false);
        lines_removed = 0;
    }
    let Some(main) = found.first().copied() else {
        return Err(no_digit(
            "no group of strokes away from the picture's edges",
        ));
    };
    let total_ink: u32 = found.iter().map(|b| b.area).sum();
    if main.size() < w.max(h) / 12 || (main.area as f32) < 0.15 * total_ink as f32 {
        return Err(no_digit(
            "only specks or texture, no stroke large enough to be a digit",
        ));
    }

    // 5. The digit: the main group and the parts near it; other large groups are digits too.
    let near = (main.size() as f32 * 0.25) as u32;
    let mut keep = vec![main.label];
    let mut others = 0;
    for b in found.iter().skip(1) {
        if b.gap(&main) <= near && b.area as f32 >= 0.02 * main.area as f32 {
            keep.push(b.label);
        } else if b.area as f32 >= 0.3 * main.area as f32
            && b.size() as f32 >= 0.5 * main.size() as f32
        {
            others += 1;
        }
    }
    let kept = GrayImage::from_fn(w, h, |x, y| {
        Luma([if keep.contains(&labels.get_pixel(x, y)[0]) {
            255
        } else {
            0
        }])
    });
    // The digit's box: the union of the kept groups' boxes.
    let kept_blobs = found.iter().filter(|b| keep.contains(&b.label));
    let (x0, y0, x1, y1) = kept_blobs.fold((w, h, 0, 0), |(x0, y0, x1, y1), b| {
        (x0.min(b.x0), y0.min(b.y0), x1.max(b.x1), y1.max(b.y1))
    });
    // The ink's grey levels around the kept strokes (their anti-aliased edges included).
    let halo = grayscale_dilate(&kept, &Mask::square(2));
    let pad = 3;
    let (cx0, cy0) = (x0.saturating_sub(pad), y0.saturating_sub(pad));
    let (cx1, cy1) = ((x1 + pad).min(w - 1), (y1 + pad).min(h - 1));
    let mut crop = GrayImage::from_fn(cx1 - cx0 + 1, cy1 - cy0 + 1, |x, y| {
        let (sx, sy) = (x + cx0, y + cy0);
        let on = halo.get_pixel(sx, sy)[0] > 0;
        Luma([if on { ink8.get_pixel(sx, sy)[0] } else { 0 }])
    });

    // 6. Stroke width: area / half the perimeter of the kept mask, brought to MNIST's.
    let (mut inside, mut edge) = (0u32, 0u32);
    for (x, y, p) in kept.enumerate_pixels() {
        if p[0] == 0 {
            continue;
        }
        inside += 1;
        let out = |dx: i64, dy: i64| {
            let (nx, ny) = (x as i64 + dx, y as i64 + dy);
            nx < 0
                || ny < 0
                || nx >= w as i64
                || ny >= h as i64
                || kept.get_pixel(nx as u32, ny as u32)[0] == 0
        };
        if out(1, 0) || out(-1, 0) || out(0, 1) || out(0, -1) {
            edge += 1;
        }
    }
    let width = 2.0 * inside as f32 / edge.max(1) as f32;
    let long = (x1 - x0 + 1).max(y1 - y0 + 1) as f32;
    let goal = stroke_goal(width, long);
    let radius = ((goal - width) / 2.0).round();
    if radius >= 1.0 {
        crop = grayscale_dilate(&crop, &Mask::disk(radius.min(40.0) as u8));
    } else if radius <= -1.0 {
        let thinned = grayscale_erode(&crop, &Mask::disk((-radius).min(40.0) as u8));
        if thinned.pixels().any(|p| p[0] > 64) {
            crop = thinned;
        }
    }

    // 7. Longer side to 20 px, centre of mass to the centre of 28x28.
    let (cw, ch) = crop.dimensions();
    let s = BOX / cw.max(ch) as f32;
    let nw = ((cw as f32 * s).round() as u32).clamp(1, BOX as u32);
    let nh = ((ch as f32 * s).round() as u32).clamp(1, BOX as u32);
    let mut small = image::imageops::resize(
        &to_gray_f(&crop),
        nw,
        nh,
        image::imageops::FilterType::Triangle,
    );
    // Full strokes reach 255 after the resize's averaging, as in MNIST.
    let top = small.pixels().map(|p| p[0]).fold(0.0f32, f32::max).max(0.5);
    small.pixels_mut().for_each(|p| p[0] /= top);
    let pixels = centre_by_mass(&small);
    Ok(Preparation {
        pixels,
        working,
        ink: ink8,
        mask: kept,
        crop,
        digits_found: 1 + others,
        lines_removed,
        stroke_width: (width, stroke_goal(width, long)),
    })
}

/// Places a digit (values 0..1, at most 28x28) in a 28x28 field with its centre of mass at
/// the centre, as MNIST did; returns 784 pixels, 255 = full stroke.
pub fn centre_by_mass(digit: &GrayF) -> Vec<u8> {
    let (w, h) = digit.dimensions();
    let (mut mx, mut my, mut mass) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y, p) in digit.enumerate_pixels() {
        mx += x as f32 * p[0];
        my += y as f32 * p[0];
        mass += p[0];
    }
    let (comx, comy) = if mass > 0.0 {
        (mx / mass, my / mass)
    } else {
        (w as f32 / 2.0, h as f32 / 2.0)
    };
    let ox = (SIDE as f32 / 2.0 - comx).round() as i64;
    let oy = (SIDE as f32 / 2.0 - comy).round() as i64;
    let mut pixels = vec![0u8; (SIDE * SIDE) as usize];
    for (x, y, p) in digit.enumerate_pixels() {
        let (tx, ty) = (x as i64 + ox, y as i64 + oy);
        if (0..SIDE as i64).contains(&tx) && (0..SIDE as i64).contains(&ty) {
            pixels[(ty * SIDE as i64 + tx) as usize] = (p[0].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    pixels
}

/// Loads a picture and prepares it; a picture without a digit is an [`Error::Image`] naming
/// the file.
pub fn prepare_file(path: &Path) -> Result<Preparation> {
    let img = crate::imageio::open_image(path)?;
    prepare(&img).map_err(|problem| Error::Image {
        path: path.into(),
        problem,
    })
}

/// How alike two 28x28 digits are: the correlation of their pixels after a Gaussian blur of
/// 1 px (so that a one-pixel shift of a 2-px stroke is not a miss). 1 = the same picture,
/// about 0 = unrelated.
pub fn similarity(a: &[u8], b: &[u8]) -> f64 {
    let blur = |p: &[u8]| -> Vec<f64> {
        let img = GrayF::from_fn(SIDE, SIDE, |x, y| {
            Luma([p.get((y * SIDE + x) as usize).copied().unwrap_or(0) as f32 / 255.0])
        });
        imageproc::filter::gaussian_blur_f32(&img, 1.0)
            .pixels()
            .map(|p| p[0] as f64)
            .collect()
    };
    let (a, b) = (blur(a), blur(b));
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(&b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    if va == 0.0 || vb == 0.0 {
        return 0.0;
    }
    cov / (va * vb).sqrt()
}
