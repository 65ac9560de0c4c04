//! A finished run's evaluation as files: the plots (2x3 grid, confusion matrix, misclassified
//! gallery) and eval.json; `vggnet eval` writes the same.

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::eval::Evaluation;
use std::path::{Path, PathBuf};

/// Writes the evaluation plots into `dir`, labelled with `dataset`'s class names: the 2x3
/// grid, the confusion matrix and a gallery of misclassified pictures (when there are any).
/// Returns the files written.
pub fn write_eval_plots(
    dir: &Path,
    ev: &Evaluation,
    test: &Split,
    dataset: Dataset,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    let grid = dir.join("predictions.png");
    crate::plot::prediction_grid(&ev.first, dataset)?.save(&grid)?;
    written.push(grid);
    let conf = dir.join("confusion.png");
    crate::plot::confusion_matrix(&ev.confusion, dataset)?.save(&conf)?;
    written.push(conf);
    if !ev.misclassified.is_empty() {
        let path = dir.join("misclassified.png");
        crate::plot::misclassified_gallery(ev, test, 24, dataset)?.save(&path)?;
        written.push(path);
    }
    Ok(written)
}

/// The evaluation as JSON (eval.json, `vggnet eval --json`).
pub fn evaluation_json(ev: &Evaluation) -> serde_json::Value {
    serde_json::json!({
        "accuracy": ev.accuracy,
        "correct": ev.correct,
        "total": ev.total,
        "per_class_accuracy": ev.per_class_accuracy(),
        "confusion": ev.confusion,
        "misclassified": ev.misclassified,
        "first": ev.first.iter().map(|s| serde_json::json!({
            "index": s.index, "label": s.label, "prediction": s.prediction
        })).collect::<Vec<_>>(),
    })
}
