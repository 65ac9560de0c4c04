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

/// The width in pixels `text` takes at `size`, laid out with the font's advances and kerning,
/// and where each character's bitmap starts along that line.
fn layout_line(text: &str, size: f64) -> Result<(f32, Vec<(char, f32)>)> {
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
    Ok((pen, placed))
}

/// Draws `text` horizontally centred in `area` with its top at `y`, and records its width
/// against the panel's in the figure's [`Layout`].
///
/// plotters' `ab_glyph` text drawing puts each glyph's bitmap at the pen position and drops
/// the glyph's own offset (its left side bearing), which jams letters together ("True" renders
/// with the "r" inside the "T"). Here the line is laid out with the font's advances and kerning,
/// and each character is drawn on its own at the pen position plus that offset.
fn draw_centered(area: &Area<'_>, text: &str, size: f64, y: i32) -> Result<()> {
    let (width, placed) = layout_line(text, size)?;
    let panel = area.dim_in_pixel().0;
    record(|l| {
        l.titles.push(TitleBox {
            text: text.to_string(),
            width: width.ceil() as u32,
            panel,
        })
    });
    let left = (panel as f32 - width) / 2.0;
    let style = font(size);
    let mut buf = [0u8; 4];
    for (c, x) in placed {
        let pos = ((left + x).round() as i32, y);
        area.draw_text(c.encode_utf8(&mut buf), &style, pos)
            .map_err(plot_err)?;
    }
    Ok(())
}

/// `title` as it fits a panel `width` px wide: one line at `size` when it fits, else split
/// after a comma or colon into two lines, else a smaller size (down to 10 px).
fn fit_title(title: &str, width: u32, size: f64) -> Result<(Vec<String>, f64)> {
    let fits = |lines: &[String], s: f64| -> Result<bool> {
        for l in lines {
            if layout_line(l, s)?.0 > width as f32 - 6.0 {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let one = vec![title.to_string()];
    if fits(&one, size)? {
        return Ok((one, size));
    }
    // The split nearest the middle, after ", " or ": ".
    let mid = title.len() / 2;
    let split = title
        .match_indices(", ")
        .chain(title.match_indices(": "))
        .map(|(i, _)| i + 1)
        .min_by_key(|&i| i.abs_diff(mid));
    let lines = match split {
        Some(i) => vec![title[..i].trim().to_string(), title[i..].trim().to_string()],
        None => one,
    };
    let mut s = size;
    while s > 10.0 && !fits(&lines, s)? {
        s -= 1.0;
    }
    Ok((lines, s))
}

/// The largest size up to `size` (down to 9 px) at which `text` fits a panel `width` px wide on
/// one line (the photo strips' captions).
#[cfg(feature = "digits")]
fn fit_line(text: &str, width: u32, size: f64) -> Result<f64> {
    let mut s = size;
    while s > 9.0 && layout_line(text, s)?.0 > width as f32 - 2.0 {
        s -= 0.5;
    }
    Ok(s)
}

/// What a figure's drawing recorded of itself: its titles (with their rendered width and the
/// width of the panel they are centred in), its pictures (digits, heatmaps: their source size
/// and their drawn size) and its line series (with their number of points). [`Figure::png_bytes`]
/// embeds it in the PNG (a `vggnet-layout` text chunk), where the notebook check reads it
/// (`scripts/notebook_reading.py`: no title wider than its panel, one drawn size for pictures of
/// one source size, no curve of fewer than 5 points).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Layout {
    pub titles: Vec<TitleBox>,
    pub pictures: Vec<PictureBox>,
    pub series: Vec<SeriesInfo>,
}

/// A title as drawn: its rendered width and its panel's width, in pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TitleBox {
    pub text: String,
    pub width: u32,
    pub panel: u32,
}

/// A picture as drawn: its source size (columns, rows) and its drawn size in pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PictureBox {
    pub source: (u32, u32),
    pub drawn: (u32, u32),
}

/// A line series: its name, its number of points, and whether it is a curve (a marker line,
/// e.g. a rate drawn as a vertical line, is not).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeriesInfo {
    pub name: String,
    pub points: usize,
    pub curve: bool,
}

thread_local! {
    static LAYOUT: std::cell::RefCell<Option<Layout>> = const { std::cell::RefCell::new(None) };
}

/// Adds to the layout of the figure being rendered on this thread (none outside a render).
fn record(f: impl FnOnce(&mut Layout)) {
    LAYOUT.with(|l| {
        if let Some(layout) = l.borrow_mut().as_mut() {
            f(layout)
        }
    })
}

/// Records a line series of the figure being rendered and hands its points on.
fn curve<T>(name: &str, points: Vec<T>) -> Vec<T> {
    record(|l| {
        l.series.push(SeriesInfo {
            name: name.to_string(),
            points: points.len(),
            curve: true,
        })
    });
    points
}

/// A rendered figure (PNG bytes).
#[derive(Clone)]
pub struct Figure {
    pub width: u32,
    pub height: u32,
    /// RGB pixels, row-major.
    pub rgb: Vec<u8>,
    /// What the drawing recorded of itself (titles, pictures, series).
    pub layout: Layout,
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
        LAYOUT.with(|l| *l.borrow_mut() = Some(Layout::default()));
        let drawn = (|| {
            let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            draw(&root)?;
            root.present().map_err(plot_err)
        })();
        let layout = LAYOUT.with(|l| l.borrow_mut().take()).unwrap_or_default();
        drawn?;
        Ok(Figure {
            width,
            height,
            rgb,
            layout,
        })
    }

    /// The figure encoded as PNG.
    pub fn png_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width, self.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // tEXt is Latin-1: the JSON goes in as ASCII, other characters escaped.
        let json = serde_json::to_string(&self.layout).map_err(plot_err)?;
        let ascii: String = json
            .encode_utf16()
            .map(|u| match u {
                0x20..=0x7e => char::from(u as u8).to_string(),
                _ => format!("\\u{u:04x}"),
            })
            .collect();
        enc.add_text_chunk("vggnet-layout".into(), ascii)
            .map_err(plot_err)?;
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

/// Draws one picture (0 = black) into `area`, scaled to fit below a title of `title_lines`
/// lines: S x S grey or 3 x S x S colour (channel after channel), its shape told by its length.
fn draw_digit(area: &Area<'_>, pixels: &[u8], title: &str, title_lines: u32) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (lines, size) = fit_title(title, w, 16.0)?;
    let title_h = 8 + 20 * title_lines.max(lines.len() as u32);
    for (k, line) in lines.iter().enumerate() {
        draw_centered(area, line, size, 4 + 20 * k as i32)?;
    }
    let (n, colour) = picture_shape(pixels.len()).ok_or_else(|| {
        Error::Plot(format!(
            "a picture of {} bytes is neither S x S grey nor 3 x S x S colour",
            pixels.len()
        ))
    })?;
    let plane = (n * n) as usize;
    let side = (w.min(h.saturating_sub(title_h)) as i32 / n).max(1);
    record(|l| {
        l.pictures.push(PictureBox {
            source: (n as u32, n as u32),
            drawn: ((side * n) as u32, (side * n) as u32),
        })
    });
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
    // A thin grey frame, so that a picture with a white background does not melt into the page.
    let edge = side * n;
    area.draw(&Rectangle::new(
        [(x0 - 1, y0 - 1), (x0 + edge, y0 + edge)],
        RGBColor(170, 170, 170).stroke_width(1),
    ))
    .map_err(plot_err)?;
    Ok(())
}

/// A grid of digits with titles, `cols` per row (fewer when `cols` panels would be wider than
/// a notebook shows, about 1,000 px); a title too wide for its panel takes two lines.
pub fn digit_grid(digits: &[(Vec<u8>, String)], cols: usize) -> Result<Figure> {
    let cell = 160u32;
    let cols = cols.clamp(1, (MAX_WIDTH / cell) as usize);
    let rows = digits.len().div_ceil(cols).max(1);
    let mut lines = 1u32;
    for (_, title) in digits {
        lines = lines.max(fit_title(title, cell, 16.0)?.0.len() as u32);
    }
    let cell_h = cell + 20 * lines;
    Figure::render(cell * cols as u32, cell_h * rows as u32, |root| {
        let areas = root.split_evenly((rows, cols));
        for ((pixels, title), area) in digits.iter().zip(areas.iter()) {
            draw_digit(area, pixels, title, lines)?;
        }
        Ok(())
    })
}

/// The widest figure a notebook shows without scaling it down.
pub const MAX_WIDTH: u32 = 1000;

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
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(font(12.0))
        .axis_desc_style(font(14.0))
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// An axis tick: whole numbers without decimals ("200", not "200.0").
fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
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
