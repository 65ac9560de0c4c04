//! Image files: the user's own digit pictures are decoded here (any PNG or JPEG: any size,
//! colour or grayscale, 8- or 16-bit, with or without alpha) and prepared by
//! [`crate::digits::prepare`] ([`prepare_file`], [`load_digit`]).
//!
//! The preparation works at about 1,000 pixels, so big pictures are reduced while they are
//! decoded, never held at full size: a JPEG in its DCT (1/2, 1/4 or 1/8 of each side, the
//! smallest that keeps the longer side at least [`DECODE_LONG`]; a progressive JPEG still
//! keeps its coefficients, up to [`MAX_ALLOC`]), a PNG row by row (each block of rows
//! averaged as it arrives). Only an interlaced PNG must be decoded whole, and one beyond
//! [`MAX_SIDE`] x [`MAX_SIDE`] is refused with a message that says so; so is any picture over
//! [`MAX_PIXELS`].

use super::{prepare, Preparation};
use crate::error::{Error, Result};
use image::{DynamicImage, GrayImage};
use std::io::BufReader;
use std::path::Path;

/// Largest width or height of a picture that has to be decoded whole (an interlaced PNG).
pub const MAX_SIDE: u32 = 8192;
/// Largest decoder allocation.
pub const MAX_ALLOC: u64 = 512 << 20;
/// Bigger pictures are reduced while decoding, to a longer side of at least this.
pub const DECODE_LONG: u32 = 1024;
/// Largest picture read at all, in pixels (a gigapixel: five times a 200-megapixel phone
/// photo); beyond it even a reduced decode would take minutes.
pub const MAX_PIXELS: u64 = 1 << 30;

/// The error for a picture over [`MAX_PIXELS`].
fn too_many_pixels(w: u32, h: u32) -> String {
    format!(
        "image too large to load ({w}x{h} pixels, {} megapixels); the limit is {} megapixels",
        (w as u64 * h as u64) / 1_000_000,
        MAX_PIXELS / 1_000_000
    )
}

/// Decodes an image file (reduced while decoding when it is big, see the module's text);
/// errors name the file and the problem.
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
    let decoded = match image::guess_format(&head[..n]) {
        Ok(image::ImageFormat::Jpeg) => decode_jpeg(path),
        Ok(image::ImageFormat::Png) => decode_png(path),
        Ok(other) => Err(format!(
            "unsupported image format {other:?} (expected PNG or JPEG)"
        )),
        Err(_) => Err("not an image (expected PNG or JPEG)".into()),
    };
    decoded.map_err(bad)
}

/// A decoder's panic on a malformed file, as an error.
fn no_panic<T>(
    f: impl FnOnce() -> std::result::Result<T, String>,
) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("cannot decode image: the decoder rejected the file".into()))
}

/// The scale factor (1 = none) that brings a longer side `long` towards [`DECODE_LONG`]
/// without going under it.
fn reduction(long: u32) -> u32 {
    (long / DECODE_LONG).max(1)
}

fn decode_jpeg(path: &Path) -> std::result::Result<DynamicImage, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut dec = jpeg_decoder::Decoder::new(BufReader::new(file));
    dec.set_max_decoding_buffer_size(MAX_ALLOC as usize);
    let jpeg = |e: jpeg_decoder::Error| format!("cannot decode image: {e}");
    no_panic(move || {
        dec.read_info().map_err(jpeg)?;
        let info = dec.info().ok_or("cannot decode image: no JPEG frame")?;
        let (w, h) = (info.width as u32, info.height as u32);
        if w == 0 || h == 0 {
            return Err("cannot decode image: the JPEG has no pixels".into());
        }
        if w as u64 * h as u64 > MAX_PIXELS {
            return Err(too_many_pixels(w, h));
        }
        if w.max(h) > DECODE_LONG {
            let f = DECODE_LONG as f64 / w.max(h) as f64;
            let want =
                |side: u32| ((side as f64 * f).ceil() as u32).clamp(1, u16::MAX as u32) as u16;
            dec.scale(want(w), want(h)).map_err(jpeg)?;
        }
        let pixels = dec.decode().map_err(jpeg)?;
        let info = dec.info().ok_or("cannot decode image: no JPEG frame")?;
        let (w, h) = (info.width as u32, info.height as u32);
        let n = (w * h) as usize;
        let gray: Vec<u8> = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => pixels,
            jpeg_decoder::PixelFormat::L16 => pixels.chunks_exact(2).map(|p| p[0]).collect(),
            jpeg_decoder::PixelFormat::RGB24 => pixels
                .chunks_exact(3)
                .map(|p| luma(p[0], p[1], p[2]))
                .collect(),
            // Adobe's CMYK JPEGs store the inks inverted: 255 = no ink.
            jpeg_decoder::PixelFormat::CMYK32 => pixels
                .chunks_exact(4)
                .map(|p| {
                    let k = p[3] as u32;
                    let c = |v: u8| (v as u32 * k / 255) as u8;
                    luma(c(p[0]), c(p[1]), c(p[2]))
                })
                .collect(),
        };
        if gray.len() != n {
            return Err("cannot decode image: the JPEG's pixel data is incomplete".into());
        }
        GrayImage::from_raw(w, h, gray)
            .map(DynamicImage::ImageLuma8)
            .ok_or_else(|| "cannot decode image: the JPEG's pixel data is incomplete".into())
    })
}

/// ITU-R BT.709 luma, as `image`'s grayscale conversion computes it.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 2126 + g as u32 * 7152 + b as u32 * 722 + 5000) / 10000) as u8
}

fn decode_png(path: &Path) -> std::result::Result<DynamicImage, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut dec = png::Decoder::new(BufReader::new(file));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let png_err = |e: png::DecodingError| format!("cannot decode image: {e}");
    no_panic(move || {
        let (w, h) = {
            let header = dec.read_header_info().map_err(png_err)?;
            (header.width, header.height)
        };
        if w as u64 * h as u64 > MAX_PIXELS {
            return Err(too_many_pixels(w, h));
        }
        let mut reader = dec.read_info().map_err(png_err)?;
        let (w, h, interlaced) = {
            let info = reader.info();
            (info.width, info.height, info.interlaced)
        };
        let f = reduction(w.max(h));
        if interlaced || f == 1 {
            drop(reader);
            return decode_whole(path);
        }
        let (color, _) = reader.output_color_type();
        let channels = color.samples();
        // Rows are averaged in blocks of f x f as they arrive; transparent pixels count as
        // white paper.
        let (ow, oh) = (w.div_ceil(f), h.div_ceil(f));
        let mut sums = vec![0u32; ow as usize];
        let mut counts = vec![0u32; ow as usize];
        let mut out = Vec::with_capacity((ow * oh) as usize);
        let mut y = 0u32;
        while let Some(row) = reader.next_row().map_err(png_err)? {
            let data = row.data();
            for (x, px) in data.chunks_exact(channels).take(w as usize).enumerate() {
                let (v, a) = match px.len() {
                    1 => (px[0] as u32, 255),
                    2 => (px[0] as u32, px[1] as u32),
                    3 => (luma(px[0], px[1], px[2]) as u32, 255),
                    _ => (luma(px[0], px[1], px[2]) as u32, px[3] as u32),
                };
                let i = x / f as usize;
                sums[i] += (v * a + 255 * (255 - a)) / 255;
                counts[i] += 1;
            }
            y += 1;
            if y.is_multiple_of(f) || y == h {
                out.extend(
                    sums.iter()
                        .zip(&counts)
                        .map(|(s, c)| (s / (*c).max(1)) as u8),
                );
                sums.iter_mut().for_each(|s| *s = 0);
                counts.iter_mut().for_each(|c| *c = 0);
            }
        }
        if y != h {
            return Err(format!(
                "cannot decode image: the PNG ends after {y} of {h} rows"
            ));
        }
        GrayImage::from_raw(ow, oh, out)
            .map(DynamicImage::ImageLuma8)
            .ok_or_else(|| "cannot decode image: the PNG's pixel data is incomplete".into())
    })
}

/// The whole picture through `image`, under [`MAX_SIDE`] and [`MAX_ALLOC`].
fn decode_whole(path: &Path) -> std::result::Result<DynamicImage, String> {
    let mut reader = image::ImageReader::open(path).map_err(|e| format!("cannot open: {e}"))?;
    reader.set_format(image::ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(l) => format!(
            "image too large to load ({l}); an interlaced PNG is decoded whole, and the limit \
             for that is {MAX_SIDE}x{MAX_SIDE} pixels (save it without interlacing, or as JPEG)"
        ),
        image::ImageError::Unsupported(u) => format!("unsupported image: {u}"),
        other => format!("cannot decode image: {other}"),
    })
}

/// Loads a picture and prepares it; a picture without a digit is an [`Error::Image`] naming
/// the file.
pub fn prepare_file(path: &Path) -> Result<Preparation> {
    let img = open_image(path)?;
    prepare(&img).map_err(|problem| Error::Image {
        path: path.into(),
        problem,
    })
}

/// Loads an image file and prepares it like an MNIST digit (see [`crate::digits::prepare`]): 28x28
/// pixels, light digit on dark. A picture without a digit is an error saying so.
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    Ok(prepare_file(path)?.pixels().to_vec())
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
    crate::store::fsio::atomic_write(path, &bytes)
}
