//! The page on a desk: a sheet of paper or a sticky note lying on a darker surface, seen a
//! little from the side. Without this step the dark desk makes the whole picture look like a
//! dark page (so it would be inverted and the bright note taken for ink).
//!
//! How the page is found, at about 200 px:
//! 1. Otsu's threshold splits bright from dark; the largest bright region, with what it
//!    encloses (the writing), is the seed. The seed grows through the pixels where the light
//!    changes slowly (under 15% from one pixel to the next: light falling off across the
//!    page, a shadow's soft edge) up to the page's edges, where it changes by a third or
//!    more; so a page darkened by half on one side is found whole, not its lit part. When
//!    the grown region is no page (it leaked into the desk), the seed itself is tried; and
//!    when neither is, the same with a seed above a level halfway to the brightest (a shadow
//!    can make the page's dark side as dark as the desk's lit side).
//! 2. It must look like a page: between 3% and 90% of the picture (a page in a corner of a
//!    big photo, down to about 1/20 of it), its shorter side at least 12% of the picture's,
//!    mostly bright inside (its grown part counts as bright), clearly brighter than what lies
//!    around it, four-sided (its area at least 88% of the quadrilateral through its corners,
//!    which a digit's bright blob or a round plate is not), with sharp edges (a step in
//!    brightness, not light falling off slowly).
//! 3. Its corners are the region's extreme points along the diagonals of its smallest
//!    enclosing rectangle, so any rotation and a moderate perspective are followed.
//!
//! [`straighten`] then maps that quadrilateral to an upright rectangle of the page's own
//! proportions (a projective warp), slightly inset so the page's edge and shadow stay out.
//! The page must lie wholly inside the picture; a page cut by the picture's edge is not
//! looked for, and the picture is prepared as a whole.

use image::{GrayImage, Luma};
use imageproc::contrast::otsu_level;
use imageproc::geometric_transformations::{warp_into, Border, Interpolation, Projection};
use imageproc::point::Point;
use imageproc::region_labelling::{connected_components, Connectivity};

/// A point in picture pixels.
pub type Pt = (f32, f32);

/// A page's corners in picture pixels: top-left, top-right, bottom-right, bottom-left.
pub type Quad = [Pt; 4];

/// The size the page is looked for at (longer side).
const FIND_LONG: u32 = 200;
/// The page is inset by this fraction on every side once straightened.
const INSET: f32 = 0.03;
/// The smallest page, as a fraction of the picture's area (a page in a corner of a big
/// photo, seen a little from the side, down to about 1/20 of the frame).
const MIN_AREA: f32 = 0.03;
/// The page's shorter side, at least this fraction of the picture's shorter side.
const MIN_SIDE: f32 = 0.12;
/// Light "changes slowly" under this change of log-brightness per pixel at [`FIND_LONG`].
const SMOOTH: f32 = 0.15;

/// The page's corners in `gray`'s pixels, if the picture shows a page lying on a darker
/// surface; `None` when it does not (a page filling the picture, a board, a scan).
pub fn find_page(gray: &GrayImage) -> Option<Quad> {
    let (w, h) = gray.dimensions();
    let long = w.max(h);
    if long < 32 {
        return None;
    }
    let k = FIND_LONG as f32 / long as f32;
    let (sw, sh) = if k < 1.0 {
        (
            ((w as f32 * k).round() as u32).max(8),
            ((h as f32 * k).round() as u32).max(8),
        )
    } else {
        (w, h)
    };
    let thumb = image::imageops::thumbnail(gray, sw, sh);
    let small = imageproc::filter::gaussian_blur_f32(&thumb, 1.0);
    let level = otsu_level(&small);
    let mut smooth: Option<Vec<bool>> = None;
    let n = (sw * sh) as f32;
    // Seeds: what is brighter than Otsu's level, then than a level halfway to the brightest
    // (when a shadow makes the page's dark side as dark as the desk's lit side, only the
    // higher level keeps the page's lit part apart from the desk).
    let top = small.pixels().map(|p| p[0]).max().unwrap_or(255);
    for (i, seed_level) in [level, level + (top.saturating_sub(level)) / 2]
        .into_iter()
        .enumerate()
    {
        let bright = GrayImage::from_fn(sw, sh, |x, y| {
            Luma([u8::from(small.get_pixel(x, y)[0] > seed_level) * 255])
        });
        let Some(seed) = filled_largest(&bright) else {
            continue;
        };
        let seed_n = seed.iter().filter(|&&r| r).count();
        if i == 0 && seed_n as f32 > 0.9 * n {
            // Bright nearly everywhere: a page filling the picture (or a white table), not
            // a page on a darker desk.
            return None;
        }
        // The seed grown through the light falling off across the page, up to its edges;
        // then the seed as it is (a page evenly lit, or one whose growth leaked). A seed
        // under 1% of the picture is no page's lit part.
        let mut tries = vec![(seed.clone(), None)];
        if seed_n as f32 >= 0.01 * n {
            let smooth = smooth.get_or_insert_with(|| smooth_light(&thumb));
            let grown = grow(&seed, smooth, sw, sh);
            let grown_n = grown.iter().filter(|&&r| r).count();
            if grown_n as f32 > 1.05 * seed_n as f32 {
                tries.insert(0, (grown, Some(&seed)));
            }
        }
        for (region, lit) in tries {
            if let Some(q) = page_quad(&small, &region, lit, seed_level) {
                // Inset towards the centre, then to the picture's own pixels.
                let (cx, cy) = q
                    .iter()
                    .fold((0.0, 0.0), |(a, b), p| (a + p.0 / 4.0, b + p.1 / 4.0));
                let (fx, fy) = (w as f32 / sw as f32, h as f32 / sh as f32);
                return Some(q.map(|(x, y)| {
                    (
                        (x + (cx - x) * 2.0 * INSET) * fx,
                        (y + (cy - y) * 2.0 * INSET) * fy,
                    )
                }));
            }
        }
    }
    None
}

/// Where light changes slowly, at `thumb`'s pixels: the change in log-brightness to each of
/// the 4 neighbours under [`SMOOTH`]. Light falling off across a page, even a soft shadow's
/// edge, changes it by a few percent per pixel at this size; a page's edge on a darker desk
/// by a third or more, on both pixels beside the step (an 8-connected line that a 4-connected
/// growth cannot cross).
fn smooth_light(thumb: &GrayImage) -> Vec<bool> {
    let (w, h) = thumb.dimensions();
    let lg: Vec<f32> = thumb.pixels().map(|p| (p[0] as f32 + 4.0).ln()).collect();
    let mut out = vec![true; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) as usize;
            let mut step = |j: usize| {
                if (lg[i] - lg[j]).abs() >= SMOOTH {
                    out[i] = false;
                    out[j] = false;
                }
            };
            if x + 1 < w {
                step(i + 1);
            }
            if y + 1 < h {
                step(i + w as usize);
            }
        }
    }
    out
}

/// `seed` grown (4-connected) through the pixels where the light changes slowly, then with
/// the holes it encloses (the writing) filled. The growth starts 2 px inside the seed: the
/// seed (from a blurred picture) reaches a pixel past the page's edge.
fn grow(seed: &[bool], smooth: &[bool], w: u32, h: u32) -> Vec<bool> {
    let as_mask = |r: &[bool]| {
        GrayImage::from_fn(w, h, |x, y| Luma([u8::from(r[(y * w + x) as usize]) * 255]))
    };
    let core =
        imageproc::morphology::erode(&as_mask(seed), imageproc::distance_transform::Norm::LInf, 2);
    let mut region = seed.to_vec();
    let mut reached = vec![false; (w * h) as usize];
    let mut stack: Vec<(u32, u32)> = core
        .enumerate_pixels()
        .filter(|(_, _, p)| p[0] > 0)
        .map(|(x, y, _)| (x, y))
        .collect();
    for &(x, y) in &stack {
        reached[(y * w + x) as usize] = true;
    }
    while let Some((x, y)) = stack.pop() {
        region[(y * w + x) as usize] = true;
        let mut visit = |nx: u32, ny: u32| {
            let i = (ny * w + nx) as usize;
            if !reached[i] && smooth[i] {
                reached[i] = true;
                stack.push((nx, ny));
            }
        };
        if x > 0 {
            visit(x - 1, y);
        }
        if y > 0 {
            visit(x, y - 1);
        }
        if x + 1 < w {
            visit(x + 1, y);
        }
        if y + 1 < h {
            visit(x, y + 1);
        }
    }
    filled_largest(&as_mask(&region)).unwrap_or(region)
}

/// The corners of `region` in `small`'s pixels if it looks like a page (step 2 of the
/// module's text). `lit`: the part of the region above `level` when the region was grown
/// from it into the page's shadowed part (which then counts as bright).
fn page_quad(
    small: &GrayImage,
    region: &[bool],
    lit: Option<&Vec<bool>>,
    level: u8,
) -> Option<Quad> {
    let (sw, sh) = small.dimensions();
    let n = (sw * sh) as f32;
    let count = region.iter().filter(|&&r| r).count() as f32;
    if !(MIN_AREA..=0.9).contains(&(count / n)) {
        return None;
    }
    // Mostly bright inside, clearly brighter than around it.
    let (mut inside, mut inside_bright, mut outside, mut outside_n) = (0f32, 0f32, 0f32, 0f32);
    for (i, p) in small.pixels().enumerate() {
        let v = p[0] as f32;
        if region[i] {
            inside += v;
            let grown_in = lit.is_some_and(|l| !l[i]);
            inside_bright += f32::from(p[0] > level || grown_in);
        } else {
            outside += v;
            outside_n += 1.0;
        }
    }
    if inside_bright < 0.75 * count || inside / count - outside / outside_n.max(1.0) < 35.0 {
        return None;
    }
    // The region's outline, its smallest enclosing rectangle, the corners.
    let mut edge = Vec::new();
    for y in 0..sh {
        for x in 0..sw {
            let at = |x: i64, y: i64| {
                x >= 0
                    && y >= 0
                    && x < sw as i64
                    && y < sh as i64
                    && region[(y * sw as i64 + x) as usize]
            };
            let (xi, yi) = (x as i64, y as i64);
            if at(xi, yi) && !(at(xi - 1, yi) && at(xi + 1, yi) && at(xi, yi - 1) && at(xi, yi + 1))
            {
                // Pixel corners, so the outline encloses whole pixels.
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    edge.push(Point::new(x as i32 + dx, y as i32 + dy));
                }
            }
        }
    }
    let hull: Vec<Pt> = imageproc::geometry::convex_hull(edge)
        .into_iter()
        .map(|p| (p.x as f32, p.y as f32))
        .collect();
    let quad = corners(&hull)?;
    let ratio = count / area(&quad);
    // A page's shorter side is not a stroke's width: a thick chalk "1" is four-sided too.
    let short = dist(quad[0], quad[1])
        .min(dist(quad[1], quad[2]))
        .min(dist(quad[2], quad[3]))
        .min(dist(quad[3], quad[0]));
    if !(0.88..=1.15).contains(&ratio)
        || short < MIN_SIDE * sw.min(sh) as f32
        || !sharp_edges(small, &quad)
    {
        return None;
    }
    Some(quad)
}

/// Whether the quadrilateral's sides are a page's edges: a step in brightness across a few
/// pixels (at least 25 grey levels, median over the sides), not the slow slope of light
/// falling off across the picture, which Otsu's threshold can also cut in two.
fn sharp_edges(small: &GrayImage, quad: &Quad) -> bool {
    let (w, h) = small.dimensions();
    let (cx, cy) = quad
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.0 / 4.0, b + p.1 / 4.0));
    let at = |x: f32, y: f32| {
        (x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32)
            .then(|| small.get_pixel(x as u32, y as u32)[0] as f32)
    };
    let mut steps = Vec::new();
    for i in 0..4 {
        let (a, b) = (quad[i], quad[(i + 1) % 4]);
        for k in 1..20 {
            let t = k as f32 / 20.0;
            let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            let (dx, dy) = (cx - x, cy - y);
            let len = (dx * dx + dy * dy).sqrt().max(1e-3);
            let (ux, uy) = (3.0 * dx / len, 3.0 * dy / len);
            if let (Some(inside), Some(outside)) = (at(x + ux, y + uy), at(x - ux, y - uy)) {
                steps.push(inside - outside);
            }
        }
    }
    if steps.len() < 30 {
        return false;
    }
    let mid = steps.len() / 2;
    *steps.select_nth_unstable_by(mid, f32::total_cmp).1 >= 25.0
}

/// The largest 4-connected region of `mask` with the holes it encloses filled, as one flag
/// per pixel; `None` when the mask is empty.
fn filled_largest(mask: &GrayImage) -> Option<Vec<bool>> {
    let (w, h) = mask.dimensions();
    let labels = connected_components(mask, Connectivity::Four, Luma([0u8]));
    let mut sizes = std::collections::HashMap::<u32, u32>::new();
    for l in labels.pixels().filter(|l| l[0] > 0) {
        *sizes.entry(l[0]).or_default() += 1;
    }
    let (&best, _) = sizes
        .iter()
        .max_by_key(|(l, n)| (**n, std::cmp::Reverse(**l)))?;
    // Everything outside the region that the picture's border reaches is outside; the rest
    // (the region and its holes) is the page.
    let inside = |x: u32, y: u32| labels.get_pixel(x, y)[0] == best;
    let mut outside = vec![false; (w * h) as usize];
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for x in 0..w {
        stack.push((x, 0));
        stack.push((x, h - 1));
    }
    for y in 0..h {
        stack.push((0, y));
        stack.push((w - 1, y));
    }
    while let Some((x, y)) = stack.pop() {
        let i = (y * w + x) as usize;
        if outside[i] || inside(x, y) {
            continue;
        }
        outside[i] = true;
        if x > 0 {
            stack.push((x - 1, y));
        }
        if y > 0 {
            stack.push((x, y - 1));
        }
        if x + 1 < w {
            stack.push((x + 1, y));
        }
        if y + 1 < h {
            stack.push((x, y + 1));
        }
    }
    Some(outside.into_iter().map(|o| !o).collect())
}

/// The four corners of a convex outline: its extreme points along the diagonals of its
/// smallest enclosing rectangle, ordered top-left, top-right, bottom-right, bottom-left.
fn corners(hull: &[Pt]) -> Option<Quad> {
    if hull.len() < 4 {
        return None;
    }
    // The smallest enclosing rectangle has a side along one of the hull's edges.
    let mut best = (f32::MAX, 0.0f32);
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let theta = (b.1 - a.1).atan2(b.0 - a.0);
        let (s, c) = theta.sin_cos();
        let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in hull {
            let (u, v) = (p.0 * c + p.1 * s, -p.0 * s + p.1 * c);
            u0 = u0.min(u);
            u1 = u1.max(u);
            v0 = v0.min(v);
            v1 = v1.max(v);
        }
        let a = (u1 - u0) * (v1 - v0);
        if a < best.0 {
            best = (a, theta);
        }
    }
    // The rectangle's axes nearest the picture's (u right, v down).
    let quarter = std::f32::consts::FRAC_PI_2;
    let theta = best.1 - quarter * (best.1 / quarter).round();
    let (s, c) = theta.sin_cos();
    let frame = |p: &Pt| (p.0 * c + p.1 * s, -p.0 * s + p.1 * c);
    let extreme = |score: &dyn Fn(f32, f32) -> f32| {
        hull.iter().copied().max_by(|a, b| {
            let (fa, fb) = (frame(a), frame(b));
            score(fa.0, fa.1).total_cmp(&score(fb.0, fb.1))
        })
    };
    Some([
        extreme(&|u, v| -u - v)?,
        extreme(&|u, v| u - v)?,
        extreme(&|u, v| u + v)?,
        extreme(&|u, v| -u + v)?,
    ])
}

/// A polygon's area (shoelace formula).
fn area(poly: &[Pt]) -> f32 {
    let n = poly.len();
    (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f32>()
        .abs()
        / 2.0
}

/// The longer of a quadrilateral's mean widths and heights, in its own pixels.
pub fn long_side(quad: &Quad) -> f32 {
    let [tl, tr, br, bl] = *quad;
    ((dist(tl, tr) + dist(bl, br)) / 2.0).max((dist(tl, bl) + dist(tr, br)) / 2.0)
}

fn dist(a: Pt, b: Pt) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// The page seen straight on: `quad` in `gray` mapped to an upright rectangle of the page's
/// own proportions whose longer side is brought into `long_range`. The picture is first
/// reduced by area averaging so that the warp samples about one source pixel per output
/// pixel (thin strokes fade instead of breaking up).
pub fn straighten(gray: &GrayImage, quad: &Quad, long_range: (u32, u32)) -> Option<GrayImage> {
    let [tl, tr, br, bl] = *quad;
    let pw = (dist(tl, tr) + dist(bl, br)) / 2.0;
    let ph = (dist(tl, bl) + dist(tr, br)) / 2.0;
    let long = pw.max(ph).max(1.0);
    let target = long.clamp(long_range.0 as f32, long_range.1 as f32);
    let (ow, oh) = (
        ((pw * target / long).round() as u32).max(8),
        ((ph * target / long).round() as u32).max(8),
    );
    // Reduce the source first when the page is much bigger than the output.
    let shrink = (long / target).floor().max(1.0);
    let (source, quad) = if shrink > 1.0 {
        let (w, h) = gray.dimensions();
        let (nw, nh) = (
            ((w as f32 / shrink).round() as u32).max(1),
            ((h as f32 / shrink).round() as u32).max(1),
        );
        let (fx, fy) = (nw as f32 / w as f32, nh as f32 / h as f32);
        (
            image::imageops::thumbnail(gray, nw, nh),
            quad.map(|(x, y)| (x * fx, y * fy)),
        )
    } else {
        (gray.clone(), *quad)
    };
    let to = [
        (0.0, 0.0),
        (ow as f32, 0.0),
        (ow as f32, oh as f32),
        (0.0, oh as f32),
    ];
    let projection = Projection::from_control_points(quad, to)?;
    let mut out = GrayImage::new(ow, oh);
    warp_into(
        &source,
        projection,
        Interpolation::Bilinear,
        Border::Replicate,
        &mut out,
    );
    Some(out)
}
