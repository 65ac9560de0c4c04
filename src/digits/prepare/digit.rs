//! One digit brought to MNIST's look (steps 6 and 7 of [`super`]): its crop with the ink's
//! grey levels, the stroke width brought towards MNIST's, the longer side scaled to 20 px and
//! the centre of mass put at the centre of 28x28; and how alike two such digits are.

use super::ink::{stroke_width, to_gray_f, GrayF};
use super::number;
use image::{GrayImage, ImageBuffer, Luma};
use imageproc::morphology::{grayscale_dilate, grayscale_erode, Mask};

/// The side of an MNIST image and of the box its digit is scaled into.
const SIDE: u32 = 28;
const BOX: f32 = 20.0;
/// MNIST's stroke width relative to the 20 px box: about 2.2 px.
const STROKE: f32 = 0.11;

/// One digit of a picture.
#[derive(Debug, Clone)]
pub struct Digit {
    /// The 28x28 MNIST-style result (0 = background, 255 = full stroke).
    pub pixels: Vec<u8>,
    /// The digit's crop from the ink map, after the stroke-width correction.
    pub crop: GrayImage,
    /// Its box in the working picture: (x0, y0, x1, y1), inclusive.
    pub bbox: (u32, u32, u32, u32),
    /// Its line (0 = the top line).
    pub line: usize,
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

/// Steps 6 and 7 for one digit: its crop (the ink's grey levels around its strokes), the
/// stroke width brought to MNIST's, the 28x28 picture; and the digit's own mask within its
/// box.
pub(super) fn prepare_digit(
    part: &number::Part,
    labels: &ImageBuffer<Luma<u32>, Vec<u32>>,
    ink8: &GrayImage,
) -> (Digit, GrayImage) {
    let (w, h) = ink8.dimensions();
    let (x0, y0, x1, y1) = (part.x0, part.y0, part.x1, part.y1);
    // The digit's own strokes, in a box with room for the halo.
    let pad = 3;
    let (cx0, cy0) = (x0.saturating_sub(pad), y0.saturating_sub(pad));
    let (cx1, cy1) = ((x1 + pad).min(w - 1), (y1 + pad).min(h - 1));
    let own = GrayImage::from_fn(cx1 - cx0 + 1, cy1 - cy0 + 1, |x, y| {
        let (sx, sy) = (x + cx0, y + cy0);
        Luma([u8::from(part.holds(labels.get_pixel(sx, sy)[0], sx, sy)) * 255])
    });
    // The ink's grey levels around the kept strokes (their anti-aliased edges included).
    let halo = grayscale_dilate(&own, &Mask::square(2));
    let mut crop = GrayImage::from_fn(own.width(), own.height(), |x, y| {
        let on = halo.get_pixel(x, y)[0] > 0;
        Luma([if on {
            ink8.get_pixel(x + cx0, y + cy0)[0]
        } else {
            0
        }])
    });

    // 6. Stroke width: area / half the perimeter of the digit's mask, brought to MNIST's.
    let width = stroke_width(own.as_raw(), own.width() as usize, own.height() as usize);
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
    let digit = Digit {
        pixels: centre_by_mass(&small),
        crop,
        bbox: (x0, y0, x1, y1),
        line: part.line,
        stroke_width: (width, goal),
    };
    // The mask in the digit's box coordinates (x0, y0 at the origin) for the whole picture's.
    let mask = GrayImage::from_fn(x1 - x0 + 1, y1 - y0 + 1, |x, y| {
        *own.get_pixel(x + x0 - cx0, y + y0 - cy0)
    });
    (digit, mask)
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
