//! What every phone photo of a page has and a scan has not: light that falls off across the
//! page (a shadow darkening one side of it to 40-60% of the other: [`shadow`]), and a page
//! that fills a small part of a big frame (1/20 to 1/8 of its area, anywhere in it:
//! [`small`]). Both alter a desk scene ([`super::desk`]) after it was drawn, so the evenly
//! lit desk pictures keep their random streams.

use super::scene::{Scene, Shade};
use imageproc::geometric_transformations::Projection;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

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
