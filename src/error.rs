//! The crate's typed error. Every variant that concerns a file names it.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What is wrong with an IDX file (MNIST's format); each message says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdxProblem {
    #[error("file is empty")]
    Empty,
    #[error("truncated header: needs {needed} bytes, file has {found}")]
    TruncatedHeader { needed: usize, found: usize },
    #[error("truncated data: header promises {expected} bytes in all, file has {found}")]
    TruncatedBody { expected: usize, found: usize },
    #[error("unexpected trailing bytes: header accounts for {expected} bytes, file has {found}")]
    TrailingBytes { expected: usize, found: usize },
    #[error(
        "wrong magic number: expected {expected:#010x}, found {found:#010x} (not an IDX file of \
         this kind)"
    )]
    BadMagic { expected: u32, found: u32 },
    #[error("images are {rows}x{cols}, expected {side}x{side}")]
    BadDimensions { rows: u32, cols: u32, side: usize },
    /// The item count is not the one the official set has.
    #[error("holds {found} items, expected {expected}")]
    BadCount { expected: u32, found: u32 },
    #[error("label {value} at index {index} is outside 0-9")]
    BadLabel { index: usize, value: u8 },
    #[error("corrupt gzip data: {0}")]
    CorruptGzip(String),
    /// The path is a directory (or another non-file).
    #[error("is a directory, not a file")]
    NotAFile,
    /// The image and label files hold different numbers of items.
    #[error("holds {labels} labels but {} holds {images} images", other.display())]
    CountsDisagree {
        images: u32,
        labels: u32,
        other: PathBuf,
    },
}

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file. (The cause is part of the message, not a separate
    /// `source()`, so a printed error chain does not repeat it.)
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// A malformed IDX file.
    #[error("{}: {problem}", path.display())]
    Idx { path: PathBuf, problem: IdxProblem },

    /// Some of a data set's files are missing and could not be obtained.
    #[error(
        "{title} files missing in {}: {}. Fix: {fix}{}",
        dir.display(), missing.join(", "),
        download_error.as_ref().map(|e| format!(" (automatic download failed: {e})")).unwrap_or_default()
    )]
    MissingData {
        /// The data set's name ("CIFAR-10").
        title: &'static str,
        dir: PathBuf,
        missing: Vec<String>,
        /// How to get them, from the data set's description.
        fix: String,
        download_error: Option<String>,
    },

    /// A malformed CIFAR batch.
    #[error("{}: {problem}", path.display())]
    Cifar { path: PathBuf, problem: String },

    /// A valid file of another data set (known by its checksum) where this one's was expected.
    #[error("{}: this is {found}, expected {expected}", path.display())]
    WrongDataset {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// A download failed (HTTP status, network error, timeout).
    #[error("download of {url} failed: {reason}")]
    Download { url: String, reason: String },

    /// Downloaded or found bytes whose checksum is wrong.
    #[error("{}: MD5 mismatch: expected {expected}, got {actual}", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// A checkpoint file that cannot be used.
    #[error("{}: {problem}", path.display())]
    Checkpoint { path: PathBuf, problem: String },

    /// A checkpoint tensor whose shape does not fit the model.
    #[error(
        "{}: tensor `{key}` has shape {found:?} in the file but the model expects {expected:?} (checkpoint for a different architecture?)",
        path.display()
    )]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },

    /// An image given for prediction that cannot be used.
    #[error("{}: {problem}", path.display())]
    Image { path: PathBuf, problem: String },

    /// A non-finite loss without a grad scaler to skip the step (float32 or bfloat16; with
    /// float16 AMP the scaler skips it instead).
    #[error(
        "training stopped: loss is {loss} at epoch {epoch}, batch {batch} (non-finite, in \
         {precision}); the last good checkpoint is kept. Fix: {advice}"
    )]
    NonFiniteLoss {
        loss: f64,
        epoch: usize,
        batch: usize,
        /// The arithmetic the step ran in ([`crate::train::Precision::describe`]).
        precision: &'static str,
        /// What to change, true for that precision.
        advice: &'static str,
    },

    /// Drawing a plot failed (in plotters or while encoding the image).
    #[error("plotting failed: {0}")]
    Plot(String),

    /// `--resume` with settings that would change the saved run.
    #[error(
        "cannot resume {}: {}. Run `vggnet train --resume {}` alone to continue the run as it \
         was started, or start a new run in another --out folder",
        dir.display(), conflicts.join("; "), dir.display()
    )]
    ResumeConflict {
        dir: PathBuf,
        conflicts: Vec<String>,
    },

    /// A model that does not fit a data set: its classes, its pictures' channels or size differ
    /// ([`crate::data::check_fits`], the one check). The message names the model's file when
    /// known: "the model in FILE has 5 classes but MNIST has 10".
    #[error("{0}")]
    ModelDoesNotFit(String),

    /// A configuration value that makes no sense.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// Training was stopped on request (Ctrl-C); state was saved by the caller.
    #[error("interrupted")]
    Interrupted,

    /// An error raised inside libtorch: only the first line of its message is shown (libtorch
    /// appends a C++ backtrace and "Exception raised from" lines).
    #[error("libtorch: {}", torch_message(.0))]
    Torch(#[from] tch::TchError),
}

/// The first non-empty line of `text`, trimmed (libtorch's messages carry a C++ backtrace after
/// it).
pub fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// A libtorch error as one line: its first line, without the backtrace that follows.
pub fn torch_message(e: &tch::TchError) -> String {
    first_line(&e.to_string()).to_string()
}

impl Error {
    /// Wraps an `io::Error` with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }
}
