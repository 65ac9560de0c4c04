//! Your own digits, from a photo or a scan: the document pipeline that turns a picture of
//! handwritten digits into the 28x28 images MNIST's digits are (light strokes on black, the
//! longer side 20 px, the ink's centre of mass in the centre), one per digit, in reading
//! order.
//!
//! Steps (each one kept in [`Preparation`] so a user can see where it went wrong):
//! 1. grayscale at a working size (longer side 256-512 px). A page lying on a darker desk is
//!    found first and seen straight on ([`page`]): found from its edges, so a shadow across
//!    it or light falling off does not cut it in two, and down to about 1/20 of the frame;
//!    a page that is small in a big photo is cut from the decoded picture rather than from
//!    its reduction. Otherwise a dark picture (chalk on a board) is inverted so that ink is
//!    always darker than the page;
//! 2. the page's brightness is estimated locally (a max filter over ~1/8 of the picture, then
//!    blurred), so lighting gradients and grey or tinted paper cancel out; ink = how much
//!    darker than its own surroundings a pixel is, scaled so the strokes reach 1;
//! 3. Otsu's threshold on that ink map gives the ink mask;
//! 4. long straight lines that span the page (ruled lines, a margin, the paper's edge) are
//!    found with a Hough transform and removed; so is everything touching the picture's
//!    border (table, frame) and small specks;
//! 5. the groups of strokes become digits ([`number`]): parts of one digit are joined (the
//!    detached bar of a 5), two digits that touch are cut apart, and the digits are read by
//!    line, top to bottom, and left to right within a line;
//! 6. per digit (`prepare/digit.rs`), the stroke width is measured; a thin pen is thickened
//!    to MNIST's (about 2 px of the 20 px box) and a fat marker thinned towards it; the
//!    crop's grey levels are kept (MNIST is anti-aliased);
//! 7. the crop's longer side is scaled to 20 px and its centre of mass put at the centre of
//!    the 28x28 field.
//!
//! A picture without anything digit-like (a blank page, pure noise) is an error that says
//! so, not a confident guess; digits that are solid patches rather than pen strokes (a page
//! too small to be found, whose paper became the "ink") are kept, with a [`doubt`] that the
//! reading reports.

mod digit;
pub mod imageio;
mod ink;
pub mod number;
pub mod page;

pub use digit::{centre_by_mass, similarity, stroke_goal, Digit};
pub use imageio::prepare_file;
pub use ink::GrayF;
use ink::{to_gray_f, to_gray_u8, Blob};

use image::{DynamicImage, GenericImageView, GrayImage, ImageBuffer, Luma};
use imageproc::contrast::otsu_level;
use imageproc::hough::{detect_lines, LineDetectionOptions, PolarLine};
use imageproc::morphology::{grayscale_dilate, Mask};
use imageproc::region_labelling::{connected_components, Connectivity};

/// The working size: the longer side is brought into this range first.
const WORK_MIN: u32 = 256;
const WORK_MAX: u32 = 512;

/// Every intermediate picture of one preparation, for `--show-prepared` and the notebook.
#[derive(Debug, Clone)]
pub struct Preparation {
    /// The digits found, in reading order (by line, top to bottom; left to right).
    pub digits: Vec<Digit>,
    /// Which of `digits` is the largest (the one a single-digit reading uses).
    pub largest: usize,
    /// The picture at working size, grayscale, ink dark (the page seen straight on, when one
    /// was found on a darker desk).
    pub working: GrayImage,
    /// The ink map: how much darker than the local page each pixel is (255 = full stroke).
    pub ink: GrayImage,
    /// The pixels kept as digits (255) after lines, borders and specks were removed.
    pub mask: GrayImage,
    /// Lines removed (ruled lines, paper edges).
    pub lines_removed: usize,
    /// The page found on a darker desk, if any.
    pub page: Option<Page>,
    /// Why the preparation itself is unsure of what it found, if it is (a reading from it
    /// should say so): see [`doubt`].
    pub doubt: Option<String>,
}

/// A page found lying on a darker desk.
#[derive(Debug, Clone)]
pub struct Page {
    /// Its corners in the decoded picture's pixels (top-left, top-right, bottom-right,
    /// bottom-left), slightly inside its edges.
    pub corners: page::Quad,
    /// The whole picture, grayscale, its longer side at most 512 px (what `--show-prepared`
    /// shows with the page's outline).
    pub photo: GrayImage,
    /// The corners in `photo`'s pixels.
    pub outline: page::Quad,
}

impl Preparation {
    /// The largest digit's 28x28 pixels: what a single-digit reading classifies.
    pub fn pixels(&self) -> &[u8] {
        &self.digits[self.largest].pixels
    }

    /// How many digits were found.
    pub fn digits_found(&self) -> usize {
        self.digits.len()
    }

    /// How many lines the digits stand on.
    pub fn lines(&self) -> usize {
        self.digits.last().map_or(0, |d| d.line + 1)
    }
}

/// Why a picture has no digit.
fn no_digit(why: &str) -> String {
    format!("no digit found: {why}")
}

/// The largest size the picture is kept at for finding and straightening a page.
const MID_MAX: u32 = 1024;

/// Grayscale, its longer side at most [`MID_MAX`]. Transparent pixels count as white paper.
fn mid_gray(img: &DynamicImage) -> GrayImage {
    let (w, h) = img.dimensions();
    let gray = full_gray(img);
    let long = w.max(h).max(1);
    if long > MID_MAX {
        let s = MID_MAX as f32 / long as f32;
        let nw = ((w as f32 * s).round() as u32).max(1);
        let nh = ((h as f32 * s).round() as u32).max(1);
        // Area-averaging reduction: fast on big photos, and thin strokes fade instead of
        // vanishing.
        image::imageops::thumbnail(&gray, nw, nh)
    } else {
        gray
    }
}

/// Grayscale at the decoded size. Transparent pixels count as white paper.
fn full_gray(img: &DynamicImage) -> GrayImage {
    let (w, h) = img.dimensions();
    if img.color().has_alpha() {
        let la = img.to_luma_alpha8();
        GrayImage::from_fn(w, h, |x, y| {
            let p = la.get_pixel(x, y);
            let a = p[1] as u32;
            Luma([((p[0] as u32 * a + 255 * (255 - a)) / 255) as u8])
        })
    } else if let DynamicImage::ImageLuma8(g) = img {
        g.clone()
    } else {
        img.to_luma8()
    }
}

/// `gray` brought to the working size (longer side 256-512 px).
fn working_size(gray: GrayImage) -> GrayImage {
    let (w, h) = gray.dimensions();
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
    if scale < 1.0 {
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

/// Long straight lines in `mask` whose ink spans most of the picture, drawn along at least
/// 60% of that span (ruled lines, margins, paper edges). A digit's own straight strokes are
/// shorter than that, and a row of digits crosses such a line only at its strokes.
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
            let span = if horizontal { w } else { h };
            let mut on = vec![false; span as usize];
            for (x, y, p) in mask.enumerate_pixels() {
                if p[0] > 0 && line_distance(line, x as f32, y as f32) <= 1.5 {
                    on[if horizontal { x } else { y } as usize] = true;
                }
            }
            let lo = on.iter().position(|&o| o).unwrap_or(0);
            let hi = on.iter().rposition(|&o| o).unwrap_or(0);
            // And be drawn, not dotted: a row of digits crosses such a line only at their
            // strokes.
            let drawn = on[lo..=hi].iter().filter(|&&o| o).count();
            (hi - lo) as f32 >= min_extent * span as f32
                && drawn as f32 >= 0.6 * (hi - lo + 1) as f32
        })
        .collect()
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
    // 1. Working grayscale: the page seen straight on if it lies on a darker desk; ink darker
    //    than the page.
    let mid = mid_gray(img);
    let found_page = page::find_page(&mid);
    let straight = found_page.and_then(|q| {
        // A page small in a big photo is cut from the decoded picture, not from its
        // reduction, when the reduction holds fewer pixels than the working size.
        let long = page::long_side(&q);
        let (dw, dh) = img.dimensions();
        let k = dw as f32 / mid.width().max(1) as f32;
        if k > 1.2 && long < WORK_MAX as f32 {
            let full = full_gray(img);
            let fy = dh as f32 / mid.height().max(1) as f32;
            page::straighten(
                &full,
                &q.map(|(x, y)| (x * k, y * fy)),
                (WORK_MIN, WORK_MAX),
            )
        } else {
            page::straighten(&mid, &q, (WORK_MIN, WORK_MAX))
        }
    });
    let page = straight.as_ref().and(found_page).map(|q| {
        let (mw, mh) = (mid.width() as f32, mid.height() as f32);
        let photo = working_size(mid.clone());
        let (px, py) = (photo.width() as f32 / mw, photo.height() as f32 / mh);
        let (fx, fy) = (img.width() as f32 / mw, img.height() as f32 / mh);
        Page {
            corners: q.map(|(x, y)| (x * fx, y * fy)),
            outline: q.map(|(x, y)| (x * px, y * py)),
            photo,
        }
    });
    let mut working = match straight {
        Some(s) => s,
        None => working_size(mid),
    };
    let mut hist: Vec<u8> = working.as_raw().clone();
    let mid_index = hist.len() / 2;
    let mut median = *hist.select_nth_unstable(mid_index).1;
    if median < 128 && page.is_none() {
        image::imageops::invert(&mut working);
        median = 255 - median;
    }
    let (w, h) = working.dimensions();

    // 2. Ink: darkness relative to the local page, scaled so strong strokes reach 1.
    let page_light = page_brightness(&working, median);
    let gray = to_gray_f(&working);
    let mut ink = GrayF::from_fn(w, h, |x, y| {
        let p = page_light.get_pixel(x, y)[0].max(0.05);
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
    if main.size() < w.max(h) / 12 {
        return Err(no_digit(
            "only specks or texture, no stroke large enough to be a digit",
        ));
    }

    // 5. The digits: groups of strokes joined, split and ordered.
    let parts = number::digits(&found, &labels);
    let total_ink: u32 = found.iter().map(|b| b.area).sum();
    let digit_ink: u32 = parts.iter().map(|p| p.area).sum();
    if parts.is_empty() || (digit_ink as f32) < 0.3 * total_ink as f32 {
        return Err(no_digit(
            "only specks or texture, no stroke large enough to be a digit",
        ));
    }
    let mut kept = GrayImage::new(w, h);
    let mut digits = Vec::with_capacity(parts.len());
    for part in &parts {
        let digit = digit::prepare_digit(part, &labels, &ink8);
        for (x, y, p) in digit.1.enumerate_pixels() {
            if p[0] > 0 {
                kept.put_pixel(x + part.x0, y + part.y0, Luma([255]));
            }
        }
        digits.push(digit.0);
    }
    let doubt = doubt(&digits);
    let largest = (0..parts.len())
        .max_by_key(|&i| (parts[i].area, std::cmp::Reverse(i)))
        .unwrap_or(0);
    Ok(Preparation {
        digits,
        largest,
        working,
        ink: ink8,
        mask: kept,
        lines_removed,
        page,
        doubt,
    })
}

/// Strokes wider than this fraction of their digit's longer side are patches, not pen
/// strokes: the fattest marker of the test set measures 0.21 (`make photos`), a light page
/// taken for ink on a dark desk 0.28-0.36.
const PATCH: f32 = 0.26;

/// Why the digits found may not be digits, if they may not: what was taken for ink is solid
/// patches (a page on a desk that was not found as a page, so that the paper itself became
/// the ink; a shadow's dark part).
pub fn doubt(digits: &[Digit]) -> Option<String> {
    let widest = digits
        .iter()
        .map(|d| {
            let (x0, y0, x1, y1) = d.bbox;
            d.stroke_width.0 / (x1 - x0 + 1).max(y1 - y0 + 1) as f32
        })
        .fold(0.0f32, f32::max);
    (widest > PATCH).then(|| {
        format!(
            "unsure: the ink is solid patches ({:.0}% of a digit wide), not pen strokes; a page \
             too small in the photo to be found as one?",
            100.0 * widest
        )
    })
}
