//! Plots, drawn with plotters into PNG images.
//!
//! Text is rasterized from a font compiled into the crate (DejaVu Sans, `assets/fonts`) through
//! plotters' `ab_glyph` backend, so figures render identically with or without system fonts
//! (headless CI machines, minimal containers). A [`Figure`] can be saved to a file or shown
//! inline in a Jupyter notebook run by evcxr.

//!
//! This file is the figure machinery (the font, [`Figure`], pictures in a grid, line charts);
//! the charts are grouped by what they show: [`evaluation`] (the 2x3 grid, the confusion
//! matrix, galleries), [`training`] (curves, the learning-rate range test, side-by-side
//! trials), [`inspect`] (filters, feature maps, saliency, mistakes) and [`photos`] (what the
//! photo preparation did).

mod evaluation;
mod inspect;
#[cfg(feature = "digits")]
mod photos;
mod training;

pub use evaluation::*;
pub use inspect::*;
#[cfg(feature = "digits")]
pub use photos::*;
pub use training::*;

use crate::error::{Error, Result};
use crate::store::fsio;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "vggnet-sans";
static REGISTER: Once = Once::new();

fn font(size: f64) -> TextStyle<'static> {
    REGISTER.call_once(|| {
        // The font is compiled in and known to parse; a failure would only leave text blank.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
    (FAMILY, size).into_font().color(&BLACK)
}

/// Draws `text` horizontally centred in `area` with its top at `y`.
///
/// plotters' `ab_glyph` text drawing puts each glyph's bitmap at the pen position and drops
/// the glyph's own offset (its left side bearing), which jams letters together ("True" renders
/// with the "r" inside the "T"). Here the line is laid out with the font's advances and kerning,
/// and each character is drawn on its own at the pen position plus that offset.
fn draw_centered(area: &Area<'_>, text: &str, size: f64, y: i32) -> Result<()> {
    use ab_glyph::{Font, ScaleFont};
    let face = ab_glyph::FontRef::try_from_slice(FONT).map_err(plot_err)?;
    let scaled = face.as_scaled(size as f32);
    let mut pen = 0f32;
    let mut prev = None;
    let mut placed = Vec::new();
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        if let Some(outline) = scaled.outline_glyph(scaled.scaled_glyph(c)) {
            placed.push((c, pen + outline.px_bounds().min.x));
        }
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    let left = (area.dim_in_pixel().0 as f32 - pen) / 2.0;
    let style = font(size);
    let mut buf = [0u8; 4];
    for (c, x) in placed {
        let pos = ((left + x).round() as i32, y);
        area.draw_text(c.encode_utf8(&mut buf), &style, pos)
            .map_err(plot_err)?;
    }
    Ok(())
}

/// A rendered figure (PNG bytes).
#[derive(Clone)]
pub struct Figure {
    pub width: u32,
    pub height: u32,
    /// RGB pixels, row-major.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Figure({}x{})", self.width, self.height)
    }
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

impl Figure {
    fn render(
        width: u32,
        height: u32,
        draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
    ) -> Result<Figure> {
        let mut rgb = vec![255u8; (width * height * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            draw(&root)?;
            root.present().map_err(plot_err)?;
        }
        Ok(Figure { width, height, rgb })
    }

    /// The figure encoded as PNG.
    pub fn png_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width, self.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(plot_err)?;
        writer.write_image_data(&self.rgb).map_err(plot_err)?;
        writer.finish().map_err(plot_err)?;
        Ok(out)
    }

    /// Writes the figure as PNG, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        fsio::atomic_write(path, &self.png_bytes()?)
    }

    /// Shows the figure inline in a Jupyter notebook (evcxr's rich output protocol).
    pub fn evcxr_display(&self) {
        use base64::Engine;
        match self.png_bytes() {
            Ok(png) => println!(
                "EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT",
                base64::engine::general_purpose::STANDARD.encode(png)
            ),
            Err(e) => eprintln!("{e}"),
        }
    }
}

/// The side of a square picture of `len` bytes, and whether it is colour: S x S grey, or
/// 3 x S x S colour (channel after channel); `None` for any other length.
fn picture_shape(len: usize) -> Option<(i32, bool)> {
    let square = |n: usize| {
        let s = (n as f64).sqrt().round() as usize;
        (s > 0 && s * s == n).then_some(s as i32)
    };
    square(len).map(|s| (s, false)).or_else(|| {
        len.is_multiple_of(3)
            .then(|| square(len / 3))
            .flatten()
            .map(|s| (s, true))
    })
}

/// Draws one picture (0 = black) into `area`, scaled to fit, with a title: S x S grey or
/// 3 x S x S colour (channel after channel), its shape told by its length.
fn draw_digit(area: &Area<'_>, pixels: &[u8], title: &str) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let title_h = 28;
    draw_centered(area, title, 16.0, 4)?;
    let (n, colour) = picture_shape(pixels.len()).ok_or_else(|| {
        Error::Plot(format!(
            "a picture of {} bytes is neither S x S grey nor 3 x S x S colour",
            pixels.len()
        ))
    })?;
    let plane = (n * n) as usize;
    let side = (w.min(h.saturating_sub(title_h)) as i32 / n).max(1);
    let x0 = (w as i32 - side * n) / 2;
    let y0 = title_h as i32;
    for (i, &p) in pixels.iter().take(plane).enumerate() {
        let (r, c) = ((i as i32 / n), (i as i32 % n));
        let color = if colour {
            RGBColor(p, pixels[plane + i], pixels[2 * plane + i])
        } else {
            RGBColor(p, p, p)
        };
        let (x, y) = (x0 + c * side, y0 + r * side);
        area.draw(&Rectangle::new(
            [(x, y), (x + side, y + side)],
            color.filled(),
        ))
        .map_err(plot_err)?;
    }
    Ok(())
}

/// A grid of digits with titles, `cols` per row.
pub fn digit_grid(digits: &[(Vec<u8>, String)], cols: usize) -> Result<Figure> {
    let cols = cols.max(1);
    let rows = digits.len().div_ceil(cols).max(1);
    let cell = 170u32;
    Figure::render(cell * cols as u32, (cell + 20) * rows as u32, |root| {
        let areas = root.split_evenly((rows, cols));
        for ((pixels, title), area) in digits.iter().zip(areas.iter()) {
            draw_digit(area, pixels, title)?;
        }
        Ok(())
    })
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type LineChart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A captioned chart with labelled axes over `x` and `y`, ready for line series.
fn line_chart<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    x_desc: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<LineChart<'a, 'b>> {
    draw_centered(area, caption, 20.0, 10)?;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .margin_top(40)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(x, y)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .label_style(font(12.0))
        .axis_desc_style(font(14.0))
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// Draws the labelled series' legend in a framed box at `position`.
fn legend<'a, 'b: 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .label_font(font(14.0))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(plot_err)
}
