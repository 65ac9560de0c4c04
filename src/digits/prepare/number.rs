//! From groups of strokes to digits, in reading order: what turns a page with "2024" on it
//! into four digits.
//!
//! What is handled:
//! - **A digit in several pieces** (the detached bar of a 5, a 4 drawn in two strokes, a stroke
//!   broken by a removed ruled line): pieces that share most of their columns and lie close
//!   one above the other are one digit, and small pieces near a digit belong to it.
//! - **Two or more digits that touch** ("00" written in one go): a single piece of ink more
//!   than 1.05 times as wide as tall and 1.4 times as wide as the page's other digits is cut
//!   into as many digits as its width holds, each cut along the path from top to bottom that
//!   crosses the least ink near where it should be (so slanted digits that lean on each other
//!   part along the gap between them), never through a loop (the inside of a 0, 6, 8 or 9
//!   costs as much as ink), and only where the digits meet at a point (a cut that crosses more
//!   than two strokes' width of ink goes through a digit's body, and is not made). With no
//!   other digit to compare with, a piece more than 1.6 times as wide as tall is cut, into the
//!   most digits whose cuts cross about as little ink as the cleanest count's and leave no
//!   piece wider than tall.
//! - **Several lines**: a digit whose vertical centre lies within a line's extent belongs to
//!   that line; lines are read top to bottom, digits left to right.
//!
//! What is not: touching digits that together are not that wide ("11", "17", or a touching
//! pair alone on the page), digits whose strokes run along each other rather than meet at a
//! point, digits that overlap each other's columns (a slanted hand whose digits lean into each
//! other), and digits that differ in height more than twofold (the small one is taken for a
//! speck). The other way round, a single digit that wide among narrower ones (a 4 written 1.25
//! times as wide as tall beside digits 0.8 times as wide: about 2% of MNIST's test digits are
//! wider than 1.25 times their height) can be cut in two. `make photos` measures how often a
//! touching pair and a number written in one piece are counted right on the synthetic pages.

use super::ink::{stroke_width, Blob};
use image::{ImageBuffer, Luma};

/// One digit: the groups of strokes it is made of, limited to a range of columns when it was
/// cut from digits that touch.
#[derive(Debug, Clone)]
pub struct Part {
    /// The connected groups of ink (labels) that make up the digit.
    pub labels: Vec<u32>,
    /// When it was cut from digits that touch: the first row of its box and, per row from
    /// there, the columns it keeps (from, to: the first column of the next digit).
    pub cut: Option<(u32, Vec<(u32, u32)>)>,
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
    /// Ink pixels.
    pub area: u32,
    /// Ink pixels of its largest connected group.
    biggest: u32,
    /// Its line, 0 = top.
    pub line: usize,
}

impl Part {
    fn of(b: &Blob) -> Part {
        Part {
            labels: vec![b.label],
            cut: None,
            x0: b.x0,
            y0: b.y0,
            x1: b.x1,
            y1: b.y1,
            area: b.area,
            biggest: b.area,
            line: 0,
        }
    }

    /// Whether the ink pixel of group `label` at (x, y) belongs to this digit.
    pub fn holds(&self, label: u32, x: u32, y: u32) -> bool {
        let inside = match &self.cut {
            None => true,
            Some((top, rows)) => y
                .checked_sub(*top)
                .and_then(|r| rows.get(r as usize))
                .is_some_and(|&(from, to)| x >= from && x < to),
        };
        inside && self.labels.contains(&label)
    }

    fn width(&self) -> u32 {
        self.x1 - self.x0 + 1
    }

    fn height(&self) -> u32 {
        self.y1 - self.y0 + 1
    }

    fn size(&self) -> u32 {
        self.width().max(self.height())
    }

    fn absorb(&mut self, o: &Part) {
        self.labels.extend(&o.labels);
        self.x0 = self.x0.min(o.x0);
        self.y0 = self.y0.min(o.y0);
        self.x1 = self.x1.max(o.x1);
        self.y1 = self.y1.max(o.y1);
        self.area += o.area;
        self.biggest = self.biggest.max(o.biggest);
    }

    /// Columns both share.
    fn overlap_x(&self, o: &Part) -> u32 {
        (self.x1.min(o.x1) + 1).saturating_sub(self.x0.max(o.x0))
    }

    fn gap_y(&self, o: &Part) -> u32 {
        o.y0.saturating_sub(self.y1)
            .max(self.y0.saturating_sub(o.y1))
    }

    /// Gap between two boxes (0 when they overlap).
    fn gap(&self, o: &Part) -> u32 {
        let dx =
            o.x0.saturating_sub(self.x1)
                .max(self.x0.saturating_sub(o.x1));
        dx.max(self.gap_y(o))
    }
}

/// The digits among the groups of ink `found` (labelled in `labels`), in reading order.
pub(crate) fn digits(found: &[Blob], labels: &ImageBuffer<Luma<u32>, Vec<u32>>) -> Vec<Part> {
    // Specks (under 2% of the largest group's ink) are never part of a digit.
    let largest = found.iter().map(|b| b.area).max().unwrap_or(0);
    let mut groups: Vec<Part> = found
        .iter()
        .filter(|b| b.area as f32 >= 0.02 * largest as f32)
        .map(Part::of)
        .collect();
    // Pieces of one digit: most of the narrower one's columns shared, close vertically.
    loop {
        let mut merged = false;
        'outer: for i in 0..groups.len() {
            for j in i + 1..groups.len() {
                let (a, b) = (&groups[i], &groups[j]);
                let shared = a.overlap_x(b) as f32 >= 0.5 * a.width().min(b.width()) as f32;
                let close = a.gap_y(b) as f32 <= 0.25 * a.height().max(b.height()) as f32;
                if shared && close {
                    let b = groups.remove(j);
                    groups[i].absorb(&b);
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            break;
        }
    }
    let Some(main) = groups.iter().max_by_key(|g| g.area).cloned() else {
        return Vec::new();
    };
    // Digit-sized groups (at least half as tall as the largest); smaller pieces (a 5's
    // detached bar is flat) join the digit they are near, or are specks.
    let is_digit = |g: &Part| {
        g.height() as f32 >= 0.5 * main.height() as f32 && g.area as f32 >= 0.08 * main.area as f32
    };
    let (mut digits, pieces): (Vec<Part>, Vec<Part>) = groups.into_iter().partition(is_digit);
    for piece in pieces {
        let nearest = digits
            .iter_mut()
            .filter(|d| {
                piece.gap(d) as f32 <= 0.25 * d.size() as f32
                    && piece.area as f32 >= 0.02 * d.area as f32
            })
            .min_by_key(|d| piece.gap(d));
        if let Some(d) = nearest {
            d.absorb(&piece);
        }
    }
    // A digit is mostly one stroke, or a few: a group gathered from many small pieces is
    // texture (paper grain, noise), not writing.
    digits.retain(|d| d.biggest as f32 >= 0.35 * d.area as f32);
    let digits = split_touching(digits, labels);
    reading_order(digits)
}

/// Digits that touch, cut apart (see the module's text).
fn split_touching(digits: Vec<Part>, labels: &ImageBuffer<Luma<u32>, Vec<u32>>) -> Vec<Part> {
    let mut widths: Vec<u32> = digits
        .iter()
        .filter(|d| d.width() as f32 >= 0.4 * d.height() as f32 && d.width() <= d.height())
        .map(|d| d.width())
        .collect();
    widths.sort_unstable();
    let mut out = Vec::with_capacity(digits.len());
    for d in digits {
        let (w, h) = (d.width() as f32, d.height() as f32);
        // Without other digits to compare with, only a group far wider than any digit is
        // cut (some hands write a 4 or a 0 wider than tall), into as many digits as give the
        // cleanest cuts for digits 0.5-0.85 times as wide as tall.
        let (counts, wide) = match widths.get(widths.len() / 2) {
            Some(&m) => {
                let n = ((w / m as f32).round() as u32).clamp(2, 8);
                (2..=n, w > 1.05 * h && w > 1.4 * m as f32)
            }
            None => {
                let lo = ((w / (0.85 * h)).round() as u32).clamp(2, 8);
                let hi = ((w / (0.5 * h)).round() as u32).clamp(lo, 8);
                (lo..=hi, w > 1.6 * h)
            }
        };
        // Digits that touch are one piece of ink; a group gathered from pieces (a 5 and its
        // bar) is one digit however wide.
        if !wide || (d.biggest as f32) < 0.85 * d.area as f32 {
            out.push(d);
            continue;
        }
        // Ink of this digit, row by row.
        let (bw, bh) = (d.width() as usize, d.height() as usize);
        let mut ink = vec![0u8; bw * bh];
        for y in d.y0..=d.y1 {
            for x in d.x0..=d.x1 {
                if d.holds(labels.get_pixel(x, y)[0], x, y) {
                    ink[(y - d.y0) as usize * bw + (x - d.x0) as usize] = 1;
                }
            }
        }
        let pen = stroke_width(&ink, bw, bh);
        // Background enclosed by ink (the loop of a 0, 6, 8 or 9) costs as much as ink: a cut
        // runs between digits, not through a loop and across its ring.
        let mut outside = vec![false; bw * bh];
        let mut stack: Vec<usize> = (0..bw).flat_map(|x| [x, (bh - 1) * bw + x]).collect();
        stack.extend((0..bh).flat_map(|y| [y * bw, y * bw + bw - 1]));
        while let Some(i) = stack.pop() {
            if outside[i] || ink[i] == 1 {
                continue;
            }
            outside[i] = true;
            let (x, y) = (i % bw, i / bw);
            if x > 0 {
                stack.push(i - 1);
            }
            if x + 1 < bw {
                stack.push(i + 1);
            }
            if y > 0 {
                stack.push(i - bw);
            }
            if y + 1 < bh {
                stack.push(i + bw);
            }
        }
        let ink: Vec<u8> = ink
            .iter()
            .zip(&outside)
            .map(|(&v, &o)| u8::from(v == 1 || !o))
            .collect();
        // For n digits, n - 1 seams, each crossing as little ink as it can near k/n of the
        // width, and no piece left wider than tall.
        let tried: Vec<(f32, Vec<Vec<u32>>)> = counts
            .map(|n| {
                let seams: Vec<Vec<u32>> = (1..n)
                    .map(|k| seam(&ink, bw, bh, k as f32 * w / n as f32, 0.45 * w / n as f32))
                    .collect();
                let crossed: u32 = seams
                    .iter()
                    .map(|s| {
                        s.iter()
                            .enumerate()
                            .map(|(r, &c)| ink[r * bw + c as usize] as u32)
                            .sum::<u32>()
                    })
                    .sum();
                // A piece wider than tall still holds two digits: that count is out.
                let mut edges = vec![0.0f32];
                edges.extend(
                    seams
                        .iter()
                        .map(|s| s.iter().sum::<u32>() as f32 / bh as f32),
                );
                edges.push(w);
                let too_wide = edges.windows(2).any(|e| e[1] - e[0] > h);
                let score = crossed as f32 / (n - 1) as f32 + if too_wide { 1e6 } else { 0.0 };
                (score, seams)
            })
            .collect();
        // The most digits whose cuts are about as clean as the cleanest count's: one more
        // cut through a contact costs no more ink, one through a digit's body does.
        let best = tried.iter().map(|t| t.0).fold(f32::MAX, f32::min);
        // Beside other digits, a group is cut only where digits meet at a point: a cut that
        // crosses more than two strokes' width of ink goes through a wide digit's body.
        if !widths.is_empty() && best > 2.0 * pen {
            out.push(d);
            continue;
        }
        let seams = tried
            .into_iter()
            .rev()
            .find(|t| t.0 <= 1.05 * best)
            .map(|t| t.1)
            .unwrap_or_default();
        // Piece k keeps, per row, the columns from seam k - 1 to seam k.
        for k in 0..=seams.len() {
            let rows: Vec<(u32, u32)> = (0..bh)
                .map(|r| {
                    let from = if k == 0 { 0 } else { seams[k - 1][r] };
                    let to = seams.get(k).map_or(bw as u32, |s| s[r]);
                    (d.x0 + from, d.x0 + to)
                })
                .collect();
            let mut piece = Part {
                cut: Some((d.y0, rows)),
                x0: u32::MAX,
                y0: u32::MAX,
                x1: 0,
                y1: 0,
                area: 0,
                ..d.clone()
            };
            for y in d.y0..=d.y1 {
                for x in d.x0..=d.x1 {
                    if piece.holds(labels.get_pixel(x, y)[0], x, y) {
                        piece.x0 = piece.x0.min(x);
                        piece.y0 = piece.y0.min(y);
                        piece.x1 = piece.x1.max(x);
                        piece.y1 = piece.y1.max(y);
                        piece.area += 1;
                    }
                }
            }
            if piece.area > 0 {
                out.push(piece);
            }
        }
    }
    out
}

/// A cut from top to bottom through `ink` (`w` x `h`, 1 = ink) that crosses as little ink as
/// it can: a path of one column per row, moving at most one column between rows, kept
/// within `reach` of column `centre` (dynamic programming, as in seam carving). Returns the
/// column per row.
fn seam(ink: &[u8], w: usize, h: usize, centre: f32, reach: f32) -> Vec<u32> {
    let lo = ((centre - reach).max(1.0) as usize).min(w - 1);
    let hi = ((centre + reach) as usize).clamp(lo, w - 1);
    let span = hi - lo + 1;
    // Cost of the best path from the top to each cell; straight paths win ties (a small
    // price per sideways step).
    let mut cost = vec![0f32; span * h];
    let mut from = vec![0usize; span * h];
    for c in 0..span {
        cost[c] = ink[lo + c] as f32;
    }
    for r in 1..h {
        for c in 0..span {
            let (mut best, mut arg) = (f32::MAX, c);
            for p in c.saturating_sub(1)..=(c + 1).min(span - 1) {
                let v = cost[(r - 1) * span + p] + if p == c { 0.0 } else { 0.01 };
                if v < best {
                    (best, arg) = (v, p);
                }
            }
            cost[r * span + c] = best + ink[r * w + lo + c] as f32;
            from[r * span + c] = arg;
        }
    }
    // The cheapest end, nearest the centre on a tie; then back up.
    let mid = (centre as usize).clamp(lo, hi) - lo;
    let mut c = (0..span)
        .min_by(|&a, &b| {
            let (ca, cb) = (cost[(h - 1) * span + a], cost[(h - 1) * span + b]);
            ca.total_cmp(&cb)
                .then(a.abs_diff(mid).cmp(&b.abs_diff(mid)))
        })
        .unwrap_or(mid);
    let mut path = vec![0u32; h];
    for r in (0..h).rev() {
        path[r] = (lo + c) as u32;
        c = from[r * span + c];
    }
    path
}

/// Lines top to bottom, digits left to right within a line.
fn reading_order(mut digits: Vec<Part>) -> Vec<Part> {
    let centre = |d: &Part| (d.y0 + d.y1) as f32 / 2.0;
    digits.sort_by(|a, b| centre(a).total_cmp(&centre(b)));
    // Each line's vertical extent so far.
    let mut lines: Vec<(u32, u32)> = Vec::new();
    for d in &mut digits {
        let c = centre(d);
        match lines
            .iter()
            .position(|&(y0, y1)| c >= y0 as f32 && c <= y1 as f32)
        {
            Some(i) => {
                d.line = i;
                lines[i] = (lines[i].0.min(d.y0), lines[i].1.max(d.y1));
            }
            None => {
                d.line = lines.len();
                lines.push((d.y0, d.y1));
            }
        }
    }
    digits.sort_by_key(|d| (d.line, d.x0));
    digits
}
