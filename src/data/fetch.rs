//! HTTP for the downloads: one body from one URL, whole (its Content-Length honoured), within
//! a size limit and timeouts. What the bytes must be is the caller's concern.

#[cfg(feature = "download")]
use crate::error::{Error, Result};
#[cfg(feature = "download")]
use std::io::Read;
use std::time::Duration;

/// Timeouts and limits for downloads.
#[derive(Debug, Clone)]
pub struct DownloadConfig {
    pub connect_timeout: Duration,
    /// No byte for this long: the server stalled.
    pub read_timeout: Duration,
    /// Largest body accepted (the biggest official file is ~9.9 MB compressed).
    pub max_bytes: u64,
}

impl Default for DownloadConfig {
    fn default() -> Self {
        DownloadConfig {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            max_bytes: 64 << 20,
        }
    }
}

#[cfg(feature = "download")]
pub(super) fn agent(cfg: &DownloadConfig) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(cfg.connect_timeout)
        .timeout_read(cfg.read_timeout)
        .redirects(5)
        .build()
}

#[cfg(feature = "download")]
/// The body at `url`, whole (its Content-Length honoured) and at most `cfg.max_bytes`.
pub fn fetch_url(url: &str, cfg: &DownloadConfig) -> Result<Vec<u8>> {
    fetch(&agent(cfg), url, cfg.max_bytes)
}

#[cfg(feature = "download")]
pub(super) fn fetch(agent: &ureq::Agent, url: &str, max: u64) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Download {
        url: url.into(),
        reason,
    };
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => fail(format!("HTTP {code} {}", r.status_text())),
        ureq::Error::Transport(t) => fail(t.to_string()),
    })?;
    let expected_len: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let mut body = Vec::new();
    resp.into_reader()
        .take(max + 1)
        .read_to_end(&mut body)
        .map_err(|e| fail(format!("connection broke after {} bytes: {e}", body.len())))?;
    if body.len() as u64 > max {
        return Err(fail(format!("body larger than {max} bytes")));
    }
    if let Some(n) = expected_len {
        if n != body.len() as u64 {
            return Err(fail(format!(
                "connection closed after {} of {n} bytes",
                body.len()
            )));
        }
    }
    Ok(body)
}

#[cfg(feature = "download")]
/// The mirror loop of every download: `get` on `<mirror>/<name>` for each mirror in order, the
/// first success returned; when none succeeds, one error naming `name` and what each mirror
/// did wrong.
pub(super) fn first_mirror<T>(
    mirrors: &[String],
    name: &str,
    mut get: impl FnMut(&str) -> Result<T>,
) -> Result<T> {
    let mut errors = Vec::new();
    for mirror in mirrors {
        let url = format!("{}/{name}", mirror.trim_end_matches('/'));
        match get(&url) {
            Ok(value) => return Ok(value),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(Error::Download {
        url: name.into(),
        reason: if errors.is_empty() {
            "no mirrors configured".into()
        } else {
            errors.join("; ")
        },
    })
}
