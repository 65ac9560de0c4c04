//! The article's PyTorch code as a reference, from Rust: runs `python/article.py export` (the
//! article's network, `torch.save(model.state_dict(), "vggnet_mnist.pth")`) with the project's
//! Python and reads back what PyTorch computed, so a notebook or a test can load the article's
//! own file and compare logits with PyTorch's on the same digits.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Where the reference runs: the Python with torch and the article's script.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleScript {
    /// `$VGGNET_PYTHON`, else the project venv's `.venv/bin/python`.
    pub python: PathBuf,
    /// `python/article.py` in the project.
    pub script: PathBuf,
}

impl Default for ArticleScript {
    fn default() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        ArticleScript {
            python: std::env::var_os("VGGNET_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(".venv/bin/python")),
            script: root.join("python/article.py"),
        }
    }
}

/// What `article.py export` wrote: the `.pth` and PyTorch's view of the first test digits.
#[derive(Debug)]
pub struct ArticleExport {
    /// `vggnet_mnist.pth`, written by `torch.save(model.state_dict(), ...)`.
    pub pth: PathBuf,
    pub torch_version: String,
    /// The PyTorch seed the model was built with.
    pub seed: u64,
    /// The `state_dict()` keys in PyTorch's order.
    pub keys: Vec<String>,
    /// Parameters counted by PyTorch.
    pub num_parameters: i64,
    /// Labels of the digits.
    pub labels: Vec<i64>,
    /// The digits as PyTorch normalized them: (N, 1, 28, 28).
    pub inputs: Tensor,
    /// PyTorch's eval-mode logits for them: (N, 10).
    pub logits: Tensor,
}

#[derive(serde::Deserialize)]
struct ReferenceJson {
    torch_version: String,
    seed: u64,
    keys: Vec<String>,
    num_parameters: i64,
    labels: Vec<i64>,
    inputs: Vec<Vec<f64>>,
    logits: Vec<Vec<f64>>,
}

fn matrix(rows: &[Vec<f64>], shape: &[i64]) -> Result<Tensor> {
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_slice(&flat)
        .f_to_kind(Kind::Float)?
        .f_view(shape)?)
}

/// Runs the article's model code in PyTorch: builds the network with `seed`, saves its
/// state_dict to `out_dir/vggnet_mnist.pth` as the article does, and computes the logits of
/// the first `n` test digits of `mnist_dir`. Fails with PyTorch's own message when Python or
/// torch is missing.
pub fn export_article_pth(
    script: &ArticleScript,
    mnist_dir: &Path,
    out_dir: &Path,
    seed: u64,
    n: usize,
) -> Result<ArticleExport> {
    let out = std::process::Command::new(&script.python)
        .arg(&script.script)
        .arg("export")
        .arg("--out")
        .arg(out_dir)
        .arg("--mnist")
        .arg(mnist_dir)
        .args(["--seed", &seed.to_string(), "--n", &n.to_string()])
        .output()
        .map_err(|e| Error::io(&script.python, e))?;
    if !out.status.success() {
        return Err(Error::Config(format!(
            "{} {} export failed: {}",
            script.python.display(),
            script.script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    read_export(out_dir)
}

/// Reads what [`export_article_pth`] wrote into `out_dir`.
pub fn read_export(out_dir: &Path) -> Result<ArticleExport> {
    let path = out_dir.join("reference.json");
    let r: ReferenceJson = serde_json::from_slice(&crate::store::fsio::read(&path)?)
        .map_err(|e| Error::checkpoint(&path, format!("invalid reference: {e}")))?;
    let n = r.labels.len() as i64;
    Ok(ArticleExport {
        pth: out_dir.join("vggnet_mnist.pth"),
        torch_version: r.torch_version,
        seed: r.seed,
        keys: r.keys,
        num_parameters: r.num_parameters,
        labels: r.labels,
        inputs: matrix(&r.inputs, &[n, 1, 28, 28])?,
        logits: matrix(&r.logits, &[n, -1])?,
    })
}
