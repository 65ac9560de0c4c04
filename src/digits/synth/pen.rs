//! The pen: each digit's strokes in a unit box, a writer's variation of them as splines, and
//! the ink a round pen leaves along them.

use super::Pt;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// (points, smooth): a stroke through `points`, as a spline when `smooth`, else straight.
type Stroke = (Vec<Pt>, bool);

/// The digit's strokes in a unit box (x right, y down), before any variation.
fn glyph(digit: u8) -> Vec<Stroke> {
    let s = |p: &[Pt]| (p.to_vec(), true);
    let l = |p: &[Pt]| (p.to_vec(), false);
    match digit {
        0 => {
            let pts = (0..=26)
                .map(|i| {
                    let a = (-100.0 + i as f32 * 14.5).to_radians();
                    (0.5 + 0.28 * a.cos(), 0.5 + 0.45 * a.sin())
                })
                .collect::<Vec<_>>();
            vec![(pts, true)]
        }
        1 => vec![s(&[(0.56, 0.04), (0.53, 0.5), (0.49, 0.96)])],
        2 => vec![s(&[
            (0.22, 0.28),
            (0.32, 0.09),
            (0.52, 0.04),
            (0.72, 0.14),
            (0.72, 0.34),
            (0.55, 0.56),
            (0.36, 0.76),
            (0.2, 0.95),
            (0.5, 0.93),
            (0.84, 0.94),
        ])],
        3 => vec![
            s(&[
                (0.22, 0.14),
                (0.45, 0.03),
                (0.7, 0.1),
                (0.72, 0.28),
                (0.52, 0.45),
                (0.4, 0.48),
            ]),
            s(&[
                (0.52, 0.46),
                (0.74, 0.56),
                (0.78, 0.76),
                (0.6, 0.94),
                (0.36, 0.95),
                (0.18, 0.85),
            ]),
        ],
        4 => vec![
            l(&[(0.6, 0.04), (0.16, 0.64), (0.86, 0.64)]),
            l(&[(0.62, 0.3), (0.6, 0.97)]),
        ],
        5 => vec![
            l(&[(0.78, 0.05), (0.3, 0.05), (0.26, 0.44)]),
            s(&[
                (0.26, 0.44),
                (0.52, 0.37),
                (0.75, 0.5),
                (0.77, 0.74),
                (0.57, 0.93),
                (0.32, 0.94),
                (0.17, 0.84),
            ]),
        ],
        6 => vec![s(&[
            (0.7, 0.04),
            (0.46, 0.2),
            (0.29, 0.45),
            (0.25, 0.7),
            (0.37, 0.92),
            (0.58, 0.95),
            (0.74, 0.78),
            (0.68, 0.58),
            (0.47, 0.54),
            (0.28, 0.66),
        ])],
        7 => vec![l(&[(0.16, 0.06), (0.84, 0.06), (0.42, 0.97)])],
        8 => vec![s(&[
            (0.5, 0.5),
            (0.7, 0.33),
            (0.67, 0.09),
            (0.5, 0.03),
            (0.32, 0.09),
            (0.3, 0.31),
            (0.5, 0.5),
            (0.74, 0.68),
            (0.72, 0.9),
            (0.5, 0.97),
            (0.28, 0.9),
            (0.26, 0.68),
            (0.5, 0.5),
        ])],
        _ => vec![
            s(&[
                (0.72, 0.22),
                (0.58, 0.05),
                (0.36, 0.07),
                (0.27, 0.28),
                (0.4, 0.45),
                (0.62, 0.42),
                (0.72, 0.22),
            ]),
            l(&[(0.72, 0.22), (0.68, 0.6), (0.62, 0.97)]),
        ],
    }
}

/// Catmull-Rom spline through `p`, `per` samples per segment.
fn spline(p: &[Pt], per: usize) -> Vec<Pt> {
    if p.len() < 3 {
        return p.to_vec();
    }
    let mut out = Vec::new();
    for i in 0..p.len() - 1 {
        let p0 = p[i.saturating_sub(1)];
        let (p1, p2) = (p[i], p[i + 1]);
        let p3 = p[(i + 2).min(p.len() - 1)];
        for k in 0..per {
            let t = k as f32 / per as f32;
            let (t2, t3) = (t * t, t * t * t);
            let f = |a: f32, b: f32, c: f32, d: f32| {
                0.5 * (2.0 * b
                    + (-a + c) * t
                    + (2.0 * a - 5.0 * b + 4.0 * c - d) * t2
                    + (-a + 3.0 * b - 3.0 * c + d) * t3)
            };
            out.push((f(p0.0, p1.0, p2.0, p3.0), f(p0.1, p1.1, p2.1, p3.1)));
        }
    }
    out.push(p[p.len() - 1]);
    out
}

/// The digit's strokes with this writer's variation, as dense polylines in the unit box.
pub(crate) fn handwritten(digit: u8, rng: &mut ChaCha8Rng) -> Vec<Vec<Pt>> {
    let slant = rng.random_range(-0.05..0.3f32);
    let widen = rng.random_range(0.85..1.15f32);
    let wobble = 0.018;
    glyph(digit)
        .into_iter()
        .map(|(pts, smooth)| {
            let pts: Vec<Pt> = pts
                .iter()
                .map(|&(x, y)| {
                    let (x, y) = (
                        x + rng.random_range(-wobble..wobble),
                        y + rng.random_range(-wobble..wobble),
                    );
                    (0.5 + (x - 0.5) * widen + slant * (0.5 - y), y)
                })
                .collect();
            if smooth {
                spline(&pts, 12)
            } else {
                // Straight segments, sampled densely.
                let mut out = Vec::new();
                for w in pts.windows(2) {
                    for k in 0..12 {
                        let t = k as f32 / 12.0;
                        out.push((
                            w[0].0 + (w[1].0 - w[0].0) * t,
                            w[0].1 + (w[1].1 - w[0].1) * t,
                        ));
                    }
                }
                out.extend(pts.last());
                out
            }
        })
        .collect()
}

/// Coverage (0..1) of a round pen of radius `r` along `strokes`, in a `w` x `h` grid.
pub(crate) fn coverage(strokes: &[Vec<Pt>], r: f32, w: u32, h: u32) -> Vec<f32> {
    let mut cov = vec![0f32; (w * h) as usize];
    for stroke in strokes {
        // Stamps closer than a third of the radius (at least 0.25 px) apart.
        let mut pts: Vec<Pt> = Vec::new();
        for win in stroke.windows(2) {
            let (a, b) = (win[0], win[1]);
            let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            let n = (len / (r / 3.0).max(0.25)).ceil().max(1.0) as usize;
            for k in 0..n {
                let t = k as f32 / n as f32;
                pts.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
            }
        }
        pts.extend(stroke.last());
        for (cx, cy) in pts {
            let (x0, x1) = (
                (cx - r - 1.0).floor().max(0.0) as u32,
                (cx + r + 1.0).ceil().min(w as f32 - 1.0) as u32,
            );
            let (y0, y1) = (
                (cy - r - 1.0).floor().max(0.0) as u32,
                (cy + r + 1.0).ceil().min(h as f32 - 1.0) as u32,
            );
            if cx + r + 1.0 < 0.0 || cy + r + 1.0 < 0.0 || x0 > x1 || y0 > y1 {
                continue;
            }
            for y in y0..=y1 {
                for x in x0..=x1 {
                    let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                    let c = (r + 0.5 - d).clamp(0.0, 1.0);
                    let i = (y * w + x) as usize;
                    if c > cov[i] {
                        cov[i] = c;
                    }
                }
            }
        }
    }
    cov
}
