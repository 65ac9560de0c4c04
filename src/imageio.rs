//! The user's own digit images, prepared the way MNIST's were.
//!
//! Any PNG or JPEG: any size, colour or grayscale, 8- or 16-bit, with or without alpha,
//! dark-on-light or light-on-dark. Steps:
//! 1. decode under memory limits (huge images are refused, not allocated);
//! 2. to grayscale in [0, 1]; transparent pixels are composited onto the background;
//! 3. polarity: MNIST digits are light on dark, so a light border means "invert";
//! 4. crop to the ink, scale the longer side to 20 px, and centre the ink's centre of mass
//!    in a 28x28 field (MNIST's own preparation).

use crate::error::{Error, Result};
use image::{DynamicImage, GenericImageView, ImageBuffer, Luma};
use std::path::Path;

/// Largest accepted width or height, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// Largest decoder allocation.
pub const MAX_ALLOC: u64 = 512 << 20;

/// Decodes an image file with memory limits; errors name the file and the problem.
pub fn open_image(path: &Path) -> Result<DynamicImage> {
    let bad = |problem: String| Error::Image {
        path: path.into(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(bad("is not a file".into()));
    }
    if meta.len() == 0 {
        return Err(bad("file is empty (0 bytes)".into()));
    }
    // Judge by content, not by the file name's extension.
    let mut head = [0u8; 64];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        f.read(&mut head).map_err(|e| Error::io(path, e))?
    };
    let format = match image::guess_format(&head[..n]) {
        Ok(f @ (image::ImageFormat::Png | image::ImageFormat::Jpeg)) => f,
        Ok(other) => {
            return Err(bad(format!(
                "unsupported image format {other:?} (expected PNG or JPEG)"
            )))
        }
        Err(_) => return Err(bad("not an image (expected PNG or JPEG)".into())),
    };
    let mut reader = image::ImageReader::open(path).map_err(|e| Error::io(path, e))?;
    reader.set_format(format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(l) => bad(format!(
            "image too large to load ({l}); the limit is {MAX_SIDE}x{MAX_SIDE} pixels"
        )),
        image::ImageError::Unsupported(u) => bad(format!("unsupported image: {u}")),
        other => bad(format!("cannot decode image: {other}")),
    })
}

/// Turns any decoded image into MNIST-style 28x28 pixels (0..=255, light digit on dark).
pub fn to_mnist_pixels(img: &DynamicImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let la = img.to_luma_alpha32f(); // values in [0, 1]
    let border_mean = {
        let mut sum = 0.0f64;
        let mut n = 0u64;
        for (x, y, p) in la.enumerate_pixels() {
            if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                sum += (p[0] * p[1] + (1.0 - p[1])) as f64; // transparent counts as white
                n += 1;
            }
        }
        if n == 0 {
            1.0
        } else {
            sum / n as f64
        }
    };
    let background = if border_mean > 0.5 { 1.0 } else { 0.0 };
    let invert = background > 0.5;
    // Ink intensity in [0, 1]: 1 = full stroke.
    let ink: ImageBuffer<Luma<f32>, Vec<f32>> = ImageBuffer::from_fn(w, h, |x, y| {
        let p = la.get_pixel(x, y);
        let v = p[0] * p[1] + background * (1.0 - p[1]);
        Luma([if invert { 1.0 - v } else { v }])
    });
    // Bounding box of the ink.
    let thresh = 0.2;
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (x, y, p) in ink.enumerate_pixels() {
        if p[0] > thresh {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 || y0 > y1 {
        return vec![0; 28 * 28]; // blank image
    }
    let crop = image::imageops::crop_imm(&ink, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let (cw, ch) = crop.dimensions();
    let scale = 20.0 / cw.max(ch) as f64;
    let nw = ((cw as f64 * scale).round() as u32).clamp(1, 20);
    let nh = ((ch as f64 * scale).round() as u32).clamp(1, 20);
    let small = image::imageops::resize(&crop, nw, nh, image::imageops::FilterType::Triangle);
    // Centre of mass -> centre of the 28x28 field.
    let (mut mx, mut my, mut mass) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in small.enumerate_pixels() {
        let v = p[0].max(0.0) as f64;
        mx += x as f64 * v;
        my += y as f64 * v;
        mass += v;
    }
    let (cx, cy) = if mass > 0.0 {
        (mx / mass, my / mass)
    } else {
        (nw as f64 / 2.0, nh as f64 / 2.0)
    };
    let ox = (14.0 - cx).round() as i64;
    let oy = (14.0 - cy).round() as i64;
    let mut out = vec![0u8; 28 * 28];
    for (x, y, p) in small.enumerate_pixels() {
        let (tx, ty) = (x as i64 + ox, y as i64 + oy);
        if (0..28).contains(&tx) && (0..28).contains(&ty) {
            out[(ty * 28 + tx) as usize] = (p[0].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    out
}

/// Loads an image file and prepares it like an MNIST digit.
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    Ok(to_mnist_pixels(&open_image(path)?))
}

/// Writes 28x28 grayscale pixels as a PNG (atomically).
pub fn save_digit_png(path: &Path, pixels: &[u8]) -> Result<()> {
    let img = image::GrayImage::from_raw(28, 28, pixels.to_vec()).ok_or_else(|| Error::Image {
        path: path.into(),
        problem: format!("expected 784 pixels, got {}", pixels.len()),
    })?;
    let mut bytes = Vec::new();
    DynamicImage::ImageLuma8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::Image {
            path: path.into(),
            problem: e.to_string(),
        })?;
    crate::fsio::atomic_write(path, &bytes)
}
