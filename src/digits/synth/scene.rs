//! A page lying on a desk in a picture: the desk under it, where its corners fall, its shadow
//! and light ([`super::desk`] draws on it, [`super::phone`] alters it).

use imageproc::geometric_transformations::Projection;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What lies under the page.
#[derive(Debug, Clone, Copy)]
pub(super) enum Surface {
    /// Wood: a brown with grain.
    Wood([f32; 3]),
    /// A dark, nearly plain table.
    Dark(f32),
    /// A grey or blue-grey desk, mottled.
    Grey([f32; 3]),
}

/// A page lying in a picture: its size in its own pixels and where its corners fall.
pub(super) struct Scene {
    pub(super) w: u32,
    pub(super) h: u32,
    /// The page's own size (seen straight on), in pixels.
    pub(super) page: (f32, f32),
    pub(super) paper: [f32; 3],
    /// Frame pixel -> page pixel.
    pub(super) to_page: Projection,
    pub(super) surface: Surface,
    /// A shadow across the page and the desk around it (`synth/phone.rs`), if any.
    pub(super) shade: Option<Shade>,
    /// The shadow's offset in frame pixels and its strength.
    pub(super) shadow: (f32, f32, f32),
    /// Light falloff: strength and direction.
    pub(super) falloff: (f32, f32),
    pub(super) grain: (f32, f32, f32),
}

/// A scene with a random desk, page (a sheet, or a sticky note when `note`), angle, view,
/// shadow and light, in a `w` x `h` frame.
pub(super) fn scene(rng: &mut ChaCha8Rng, w: u32, h: u32, note: bool) -> Scene {
    let (wf, hf) = (w as f32, h as f32);
    let (page_h, aspect) = if note {
        (hf * rng.random_range(0.5..0.65f32), 1.0)
    } else {
        (
            hf * rng.random_range(0.62..0.78f32),
            rng.random_range(0.72..0.78f32),
        )
    };
    let page = (page_h * aspect, page_h);
    let paper = if note {
        if rng.random_bool(0.7) {
            [0.98, 0.9, 0.45] // yellow
        } else {
            [0.78, 0.95, 0.62] // green
        }
    } else {
        let v = rng.random_range(0.88..0.97f32);
        [v, v * 0.99, v * 0.96]
    };
    let surface = match rng.random_range(0..3) {
        0 => {
            let woods = [[0.45, 0.3, 0.18], [0.55, 0.39, 0.24], [0.34, 0.22, 0.13]];
            Surface::Wood(woods[rng.random_range(0..woods.len())])
        }
        1 => Surface::Dark(rng.random_range(0.1..0.22)),
        _ => {
            let v = rng.random_range(0.32..0.45f32);
            Surface::Grey([v, v * 1.03, v * 1.1])
        }
    };
    // The page's corners: turned, seen from one side (that edge shorter), kept inside.
    let angle = rng.random_range(-25.0..25.0f32).to_radians();
    let near = rng.random_range(0.78..0.95f32);
    let side = rng.random_range(0..4);
    let mut size = 1.0f32;
    let centre = (
        wf / 2.0 + rng.random_range(-0.06..0.06f32) * wf,
        hf / 2.0 + rng.random_range(-0.05..0.05f32) * hf,
    );
    let quad = loop {
        let (hw, hh) = (page.0 / 2.0 * size, page.1 / 2.0 * size);
        // Unit corners TL, TR, BR, BL; the shortened side's two corners pulled in.
        let mut c = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)];
        let (a, b, along_x) = match side {
            0 => (0, 1, true),
            1 => (1, 2, false),
            2 => (2, 3, true),
            _ => (3, 0, false),
        };
        for i in [a, b] {
            if along_x {
                c[i].0 *= near;
            } else {
                c[i].1 *= near;
            }
        }
        let (s, co) = angle.sin_cos();
        let q = c.map(|(x, y)| (centre.0 + x * co - y * s, centre.1 + x * s + y * co));
        let inside = q
            .iter()
            .all(|&(x, y)| x > 0.04 * wf && x < 0.96 * wf && y > 0.04 * hf && y < 0.96 * hf);
        if inside || size < 0.3 {
            break q;
        }
        size *= 0.92;
    };
    let corners = [(0.0, 0.0), (page.0, 0.0), (page.0, page.1), (0.0, page.1)];
    let to_page = Projection::from_control_points(quad, corners)
        .unwrap_or_else(|| Projection::scale(page.0 / wf, page.1 / hf));
    let dir = rng.random_range(0.0..std::f32::consts::TAU);
    let reach = hf * rng.random_range(0.01..0.025f32);
    Scene {
        w,
        h,
        page,
        paper,
        to_page,
        surface,
        shade: None,
        shadow: (
            reach * dir.cos(),
            reach * dir.sin(),
            rng.random_range(0.35..0.55),
        ),
        falloff: (
            rng.random_range(0.15..0.3),
            rng.random_range(0.0..std::f32::consts::TAU),
        ),
        grain: (
            rng.random_range(0.0..std::f32::consts::PI),
            hf * rng.random_range(0.01..0.03f32),
            rng.random_range(0.0..100.0f32),
        ),
    }
}

/// The desk's colour at a frame pixel (before shadow and light).
pub(super) fn surface_at(scene: &Scene, x: f32, y: f32) -> [f32; 3] {
    let (angle, period, phase) = scene.grain;
    match scene.surface {
        Surface::Wood(c) => {
            let (s, co) = angle.sin_cos();
            let (u, v) = (x * co + y * s, -x * s + y * co);
            let ring = (std::f32::consts::TAU
                * (v / period + 0.35 * (u / (7.0 * period) + phase).sin()))
            .sin();
            let k = 1.0 + 0.12 * ring;
            c.map(|v| v * k)
        }
        Surface::Dark(v) => [v, v, v * 1.05],
        Surface::Grey(c) => {
            let k = 1.0 + 0.05 * ((x / (9.0 * period) + phase).sin() * (y / (6.0 * period)).cos());
            c.map(|v| v * k)
        }
    }
}

/// A shadow across the frame: the light goes down by `depth` along `dir` (a smooth step from
/// `from` to `to`, in frame pixels along that direction).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shade {
    pub(super) dir: (f32, f32),
    pub(super) from: f32,
    pub(super) to: f32,
    pub(super) depth: f32,
}

impl Shade {
    /// The light (1 = unshaded) at a frame pixel.
    pub(super) fn light(&self, x: f32, y: f32) -> f32 {
        let p = x * self.dir.0 + y * self.dir.1;
        let t = ((p - self.from) / (self.to - self.from).max(1e-3)).clamp(0.0, 1.0);
        1.0 - self.depth * t * t * (3.0 - 2.0 * t)
    }
}
