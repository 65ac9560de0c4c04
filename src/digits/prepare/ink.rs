//! The picture's grey levels and its ink: float grey images, connected groups of ink pixels
//! and the pen's stroke width, which the page, number and digit steps share.

use image::{GrayImage, ImageBuffer, Luma};

/// A grayscale image of floats (0..1).
pub type GrayF = ImageBuffer<Luma<f32>, Vec<f32>>;

pub(crate) fn to_gray_f(img: &GrayImage) -> GrayF {
    GrayF::from_fn(img.width(), img.height(), |x, y| {
        Luma([img.get_pixel(x, y)[0] as f32 / 255.0])
    })
}

pub(crate) fn to_gray_u8(img: &GrayF) -> GrayImage {
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        Luma([(img.get_pixel(x, y)[0].clamp(0.0, 1.0) * 255.0).round() as u8])
    })
}

/// One connected group of ink pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Blob {
    pub(crate) label: u32,
    pub(crate) area: u32,
    pub(crate) x0: u32,
    pub(crate) y0: u32,
    pub(crate) x1: u32,
    pub(crate) y1: u32,
    pub(crate) touches_border: bool,
}

impl Blob {
    pub(crate) fn size(&self) -> u32 {
        (self.x1 - self.x0 + 1).max(self.y1 - self.y0 + 1)
    }
}

/// The stroke width of the ink in a `w` x `h` mask (non-zero = ink): its area over half its
/// outline (ink pixels with a 4-neighbour outside the ink or the mask).
pub(crate) fn stroke_width(mask: &[u8], w: usize, h: usize) -> f32 {
    let ink = |i: usize| mask[i] != 0;
    let (mut inside, mut edge) = (0u32, 0u32);
    for i in (0..w * h).filter(|&i| ink(i)) {
        inside += 1;
        let (x, y) = (i % w, i / w);
        if x == 0
            || y == 0
            || x + 1 == w
            || y + 1 == h
            || !ink(i - 1)
            || !ink(i + 1)
            || !ink(i - w)
            || !ink(i + w)
        {
            edge += 1;
        }
    }
    2.0 * inside as f32 / edge.max(1) as f32
}
