//! Reading a prepared picture with a model: every digit classified, in reading order, and
//! put together into the number the picture shows ("2024", or "12 34" on two lines).

use crate::digits::prepare::Preparation;
use crate::eval::{predict_proba, top_k};
use crate::model::Vgg;
use crate::Result;

/// One digit as the model reads it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadDigit {
    /// The most likely class and its probability.
    pub class: i64,
    pub probability: f64,
    /// The line the digit stands on (0 = top).
    pub line: usize,
    /// The `k` most likely classes with their probabilities.
    pub top: Vec<(i64, f64)>,
}

/// A picture's digits as the model reads them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reading {
    /// In reading order.
    pub digits: Vec<ReadDigit>,
    /// Which one is the largest digit (the one a single-digit answer is about).
    pub largest: usize,
}

impl Reading {
    /// The digits by line: `["12", "34"]` for a page with 12 above 34.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        for d in &self.digits {
            if lines.len() <= d.line {
                lines.resize(d.line + 1, String::new());
            }
            lines[d.line].push_str(&d.class.to_string());
        }
        lines
    }

    /// The number the picture shows, its lines separated by a space.
    pub fn number(&self) -> String {
        self.lines().join(" ")
    }

    /// The largest digit's reading.
    pub fn largest(&self) -> &ReadDigit {
        &self.digits[self.largest]
    }
}

/// Classifies every digit of `prep` (one forward pass), keeping the `k` best classes of each.
pub fn read(model: &Vgg, prep: &Preparation, k: usize) -> Result<Reading> {
    let pixels: Vec<u8> = prep
        .digits
        .iter()
        .flat_map(|d| d.pixels.iter().copied())
        .collect();
    let probs = predict_proba(model, &crate::data::Dataset::Mnist.normalize(&pixels)?)?;
    let mut digits = Vec::with_capacity(prep.digits.len());
    for (i, d) in prep.digits.iter().enumerate() {
        let top = top_k(&probs.get(i as i64), k.max(1))?;
        digits.push(ReadDigit {
            class: top[0].0,
            probability: top[0].1,
            line: d.line,
            top,
        });
    }
    Ok(Reading {
        digits,
        largest: prep.largest,
    })
}
