//! What every phone photo of a page has and a scan has not: light that falls off across the
//! page (a shadow darkening one side of it to 40-60% of the other: [`shadow`]), and a page
//! that fills a small part of a big frame (1/20 to 1/8 of its area, anywhere in it:
//! [`small`]). Both alter a desk scene ([`super::desk`]) after it was drawn, so the evenly
//! lit desk pictures keep their random streams.

use super::desk::{NumberPage, Scene};
use imageproc::geometric_transformations::Projection;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A shadow across the frame: the light goes down by `depth` along `dir` (a smooth step from
/// `from` to `to`, in frame pixels along that direction).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shade {
    dir: (f32, f32),
    from: f32,
    to: f32,
    depth: f32,
}

impl Shade {
    /// The light (1 = unshaded) at a frame pixel.
    pub(crate) fn light(&self, x: f32, y: f32) -> f32 {
        let p = x * self.dir.0 + y * self.dir.1;
        let t = ((p - self.from) / (self.to - self.from).max(1e-3)).clamp(0.0, 1.0);
        1.0 - self.depth * t * t * (3.0 - 2.0 * t)
    }
}

/// The page's corners in the frame.
fn page_corners(scene: &Scene) -> [(f32, f32); 4] {
    let (pw, ph) = scene.page;
    let to_frame = scene.to_page.invert();
    [(0.0, 0.0), (pw, 0.0), (pw, ph), (0.0, ph)].map(|p| to_frame * p)
}

/// A shadow over the scene (page and desk) that darkens one side of the page to 40-60% of the
/// other: from any direction, its soft edge 15% of the page wide (a cast shadow) up to the
/// whole page (light falling off across it).
pub(crate) fn shadow(scene: &mut Scene, rng: &mut ChaCha8Rng) {
    let angle = rng.random_range(0.0..std::f32::consts::TAU);
    let dir = (angle.cos(), angle.sin());
    let along = page_corners(scene).map(|(x, y)| x * dir.0 + y * dir.1);
    let lo = along.iter().copied().fold(f32::MAX, f32::min);
    let hi = along.iter().copied().fold(f32::MIN, f32::max);
    let width = rng.random_range(0.15..1.0f32);
    let start = rng.random_range(0.0..=(1.0 - width));
    scene.shade = Some(Shade {
        dir,
        from: lo + (hi - lo) * start,
        to: lo + (hi - lo) * (start + width),
        depth: rng.random_range(0.4..0.6),
    });
}

/// The page made small: 1/20 to 1/8 of the frame's area, anywhere in it (kept 3% from its
/// edges), turned up to 20 degrees and seen from one side; of the page's own proportions, or
/// landscape at `aspect` (width / height) for a slip with a number on it.
pub(crate) fn small(scene: &mut Scene, rng: &mut ChaCha8Rng, aspect: Option<f32>) {
    let (wf, hf) = (scene.w as f32, scene.h as f32);
    let aspect = aspect.unwrap_or(scene.page.0 / scene.page.1.max(1.0));
    let area = wf * hf * rng.random_range(1.0 / 20.0..1.0 / 8.0f32);
    let ph = (area / aspect).sqrt();
    let page = (ph * aspect, ph);
    let angle = rng.random_range(-20.0..20.0f32).to_radians();
    let near = rng.random_range(0.8..0.95f32);
    let side = rng.random_range(0..4usize);
    let (hw, hh) = (page.0 / 2.0, page.1 / 2.0);
    let mut c = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)];
    for i in [side, (side + 1) % 4] {
        if side % 2 == 0 {
            c[i].0 *= near;
        } else {
            c[i].1 *= near;
        }
    }
    let (s, co) = angle.sin_cos();
    let turned = c.map(|(x, y)| (x * co - y * s, x * s + y * co));
    let ex = turned.iter().map(|p| p.0.abs()).fold(0.0, f32::max);
    let ey = turned.iter().map(|p| p.1.abs()).fold(0.0, f32::max);
    let place = |lo: f32, hi: f32, r: f32| lo + (hi - lo).max(0.0) * r;
    let centre = (
        place(0.03 * wf + ex, 0.97 * wf - ex, rng.random_range(0.0..1.0)),
        place(0.03 * hf + ey, 0.97 * hf - ey, rng.random_range(0.0..1.0)),
    );
    let quad = turned.map(|(x, y)| (centre.0 + x, centre.1 + y));
    let corners = [(0.0, 0.0), (page.0, 0.0), (page.0, page.1), (0.0, page.1)];
    if let Some(p) = Projection::from_control_points(quad, corners) {
        scene.page = page;
        scene.to_page = p;
    }
}

/// Where a number page lies and how it is lit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The page fills the picture.
    Filling,
    /// A sheet on a desk, evenly lit but for light falling off across the frame.
    Desk,
    /// A sheet on a desk with a shadow that darkens one side of the page to 40-60% of the
    /// other (a soft cast shadow or light falling off across the page).
    Shadowed,
    /// A landscape slip of paper filling 1/20 to 1/8 of a big photo of a desk, anywhere in
    /// it.
    Small,
}

/// Like [`super::desk::number_set`], every page in `setting` (meant for `Shadowed` and
/// `Small`): numbers of 2-6 digits on one line, other pages than `number_set`'s (seeded
/// apart).
pub fn number_set_in(
    count: usize,
    seed: u64,
    setting: Setting,
) -> impl Iterator<Item = NumberPage> {
    let salt = 0x5e77_1000 + setting as u64;
    (0..count).map(move |i| {
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
            (seed ^ salt).wrapping_mul(7919) + i as u64,
        );
        let len = 2 + i % 5;
        let digits: Vec<u8> = (0..len).map(|_| rng.random_range(0..10u8)).collect();
        super::desk::number_page_in(
            &[digits],
            super::desk::APART,
            setting,
            (seed ^ salt).wrapping_add(i as u64 * 104_729),
        )
    })
}
