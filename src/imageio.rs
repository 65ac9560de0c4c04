//! Image files: the user's own digit pictures are decoded here (any PNG or JPEG: any size,
//! colour or grayscale, 8- or 16-bit, with or without alpha), under memory limits (huge
//! images are refused, not allocated), and prepared by [`crate::prepare`].

use crate::error::{Error, Result};
use image::DynamicImage;
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

/// Loads an image file and prepares it like an MNIST digit (see [`crate::prepare`]): 28x28
/// pixels, light digit on dark. A picture without a digit is an error saying so.
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    Ok(crate::prepare::prepare_file(path)?.pixels)
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
