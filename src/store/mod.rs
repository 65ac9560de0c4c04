//! What is kept on disk: model checkpoints and the resumable training state ([`checkpoint`]),
//! the article's PyTorch `.pth` files ([`pth`]), and the atomic, durable writes every save goes
//! through ([`fsio`]).

pub mod checkpoint;
pub mod fsio;
pub mod pth;

use crate::error::{torch_message, Error};
use std::path::PathBuf;

/// `text` with its control characters escaped (`\n` for a newline): one line.
pub fn one_line(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The errors of files kept on disk.
impl Error {
    /// A libtorch error met while using the file `path`, as a one-line checkpoint error.
    pub fn torch_in(path: impl Into<PathBuf>, what: &str, e: tch::TchError) -> Self {
        Error::checkpoint(path, format!("{what}: libtorch: {}", torch_message(&e)))
    }

    /// A checkpoint problem for `path`. Control characters (a newline in a tensor or entry name
    /// read from the file) are escaped, so the message stays one line.
    pub fn checkpoint(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            problem: one_line(problem.into()),
        }
    }
}
