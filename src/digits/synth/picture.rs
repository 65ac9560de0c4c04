//! One synthetic picture: its style, its pixels and the strokes drawn on it.

use image::{DynamicImage, RgbImage};

/// A point in picture pixels (or in the glyph's unit box).
pub(crate) type Pt = (f32, f32);

/// What the picture looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    /// Dark ink on white paper, scanned (PNG).
    Scan,
    /// Off-white paper with a lighting gradient, tilted a few degrees on a white table.
    GreyPaper,
    /// Blue pen on ruled notebook paper with a red margin (JPEG).
    Notebook,
    /// Light chalk on a dark board (JPEG).
    Chalkboard,
    /// A fat marker on a big photo (JPEG).
    Marker,
    /// A thin ballpoint on a big photo with uneven light (JPEG).
    Ballpoint,
    /// A sheet of paper or a sticky note lying on a darker desk (wood, a dark or grey table),
    /// photographed a little from the side, with its shadow and light falling off across
    /// the frame (JPEG).
    Desk,
    /// A page on a desk in a shadow that darkens one side of it to 40-60% of the other: a
    /// soft cast shadow or light falling off across the whole page, from any direction
    /// (JPEG).
    ShadowedPage,
    /// A page filling 1/20 to 1/8 of a 2000x1500 to 3000x2200 photo of a desk, anywhere in it
    /// (JPEG).
    SmallPage,
}

impl Style {
    pub const ALL: [Style; 9] = [
        Style::Scan,
        Style::GreyPaper,
        Style::Notebook,
        Style::Chalkboard,
        Style::Marker,
        Style::Ballpoint,
        Style::Desk,
        Style::ShadowedPage,
        Style::SmallPage,
    ];

    /// Whether the picture shows a page lying on a desk (which the preparation must find).
    pub fn on_desk(self) -> bool {
        matches!(self, Style::Desk | Style::ShadowedPage | Style::SmallPage)
    }

    pub fn name(self) -> &'static str {
        match self {
            Style::Scan => "scan",
            Style::GreyPaper => "grey-paper",
            Style::Notebook => "notebook",
            Style::Chalkboard => "chalkboard",
            Style::Marker => "marker",
            Style::Ballpoint => "ballpoint",
            Style::Desk => "desk",
            Style::ShadowedPage => "shadowed-page",
            Style::SmallPage => "small-page",
        }
    }
}

/// One synthetic picture.
#[derive(Debug, Clone)]
pub struct Picture {
    pub label: u8,
    pub style: Style,
    pub image: RgbImage,
    /// JPEG quality it is saved with (`None`: PNG).
    pub jpeg_quality: Option<u8>,
    /// The strokes as drawn, in picture pixels (on the page, for the styles on a desk: the
    /// page seen straight on).
    pub strokes: Vec<Vec<Pt>>,
    /// The pen's width in the same pixels.
    pub pen_width: f32,
}

impl Picture {
    /// The file bytes (PNG or JPEG) and the file extension.
    pub fn encode(&self) -> crate::Result<(Vec<u8>, &'static str)> {
        let mut bytes = Vec::new();
        let err = |e: image::ImageError| crate::Error::Image {
            path: "synthetic picture".into(),
            problem: e.to_string(),
        };
        match self.jpeg_quality {
            Some(q) => {
                let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, q);
                self.image.write_with_encoder(enc).map_err(err)?;
                Ok((bytes, "jpg"))
            }
            None => {
                DynamicImage::ImageRgb8(self.image.clone())
                    .write_to(
                        &mut std::io::Cursor::new(&mut bytes),
                        image::ImageFormat::Png,
                    )
                    .map_err(err)?;
                Ok((bytes, "png"))
            }
        }
    }
}
