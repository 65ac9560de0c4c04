//! Downloads against an HTTP server started on 127.0.0.1 by the test, serving the real MNIST
//! files: success, fall-through between mirrors, 404, connection closed mid-body, wrong bytes,
//! a stalled server, a redirect. Afterwards no partial file is left under the final name, and a
//! later good run succeeds.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};
use vggnet::data::{DataConfig, Mnist, FILES};
use vggnet::download::{download_file, download_mnist_with, DownloadConfig};
use vggnet::Error;

/// Serves `<mode>/<name>.gz` from MNIST_DIR for at most `max_conns` connections.
fn serve(max_conns: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = mnist_dir();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_conns) {
            let Ok(mut stream) = stream else { continue };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut parts = path.trim_start_matches('/').splitn(2, '/');
                let (mode, file) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let body = std::fs::read(dir.join(file)).unwrap_or_default();
                let header = |code: &str, len: usize| {
                    format!("HTTP/1.1 {code}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                };
                let _ = match mode {
                    "ok" if !body.is_empty() => stream
                        .write_all(header("200 OK", body.len()).as_bytes())
                        .and_then(|_| stream.write_all(&body)),
                    "cut" => stream
                        .write_all(header("200 OK", body.len()).as_bytes())
                        .and_then(|_| stream.write_all(&body[..body.len() / 2])),
                    "wrong" => {
                        // Valid gzip, wrong content: the real raw bytes with one byte changed.
                        let mut raw = vggnet::idx::read_idx_bytes(&dir.join(file), 1 << 26).unwrap();
                        let last = raw.len() - 1;
                        raw[last] ^= 1;
                        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                        enc.write_all(&raw).unwrap();
                        let gz = enc.finish().unwrap();
                        stream
                            .write_all(header("200 OK", gz.len()).as_bytes())
                            .and_then(|_| stream.write_all(&gz))
                    }
                    "stall" => {
                        let _ = stream.write_all(header("200 OK", body.len()).as_bytes());
                        std::thread::sleep(Duration::from_secs(4));
                        Ok(())
                    }
                    "redirect" => stream.write_all(
                        format!("HTTP/1.1 302 Found\r\nLocation: /ok/{file}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .as_bytes(),
                    ),
                    _ => stream.write_all(header("404 Not Found", 0).as_bytes()),
                };
            });
        }
    });
    format!("http://{addr}")
}

fn quick() -> DownloadConfig {
    DownloadConfig {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

/// Files in `dir`: none may be a leftover temp file.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

const LABELS: usize = 3; // t10k-labels: the smallest file

#[test]
fn good_mirror_downloads_all_four_verified_and_rerun_is_a_no_op() {
    let base = serve(16);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mnist");
    let written = download_mnist_with(&target, &[format!("{base}/ok/")], &quick()).unwrap();
    assert_eq!(written.len(), 4);
    for (p, ok) in vggnet::download::verify_dir(&target).unwrap() {
        assert!(ok, "{} failed MD5", p.display());
    }
    assert_eq!(names(&target).len(), 4);
    let again = download_mnist_with(&target, &[format!("{base}/404/")], &quick()).unwrap();
    assert!(again.is_empty(), "nothing to fetch the second time");
}

#[test]
fn loading_downloads_missing_files_then_loads() {
    let base = serve(16);
    let dir = tempfile::tempdir().unwrap();
    let data = Mnist::load(&DataConfig {
        dir: dir.path().into(),
        train_limit: Some(10),
        test_limit: Some(10),
        download: true,
        mirrors: vec![format!("{base}/404"), format!("{base}/ok")],
    })
    .unwrap();
    assert_eq!(data.test.len(), 10);
}

fn fails_cleanly(mode: &str, expect: &str) {
    let base = serve(8);
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let err = download_file(
        dir.path(),
        &FILES[LABELS],
        &[format!("{base}/{mode}")],
        &quick(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Download { .. }), "{err:?}");
    assert!(msg.contains(expect), "{mode}: {msg}");
    assert!(msg.contains("t10k-labels-idx1-ubyte"), "{msg}");
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(
        names(dir.path()).is_empty(),
        "{mode}: left {:?}",
        names(dir.path())
    );
    // A later good run succeeds.
    download_file(
        dir.path(),
        &FILES[LABELS],
        &[format!("{base}/ok")],
        &quick(),
    )
    .unwrap();
    assert_eq!(
        names(dir.path()),
        vec!["t10k-labels-idx1-ubyte.gz".to_string()]
    );
}

#[test]
fn http_404_is_an_error_naming_the_status() {
    fails_cleanly("404", "HTTP 404");
}

#[test]
fn connection_closed_mid_body_leaves_no_partial_file() {
    fails_cleanly("cut", "closed");
}

#[test]
fn wrong_bytes_fail_the_checksum() {
    fails_cleanly("wrong", "MD5 mismatch");
}

#[test]
fn a_stalled_server_times_out() {
    fails_cleanly("stall", "timed out");
}

#[test]
fn redirects_are_followed() {
    let base = serve(8);
    let dir = tempfile::tempdir().unwrap();
    download_file(
        dir.path(),
        &FILES[LABELS],
        &[format!("{base}/redirect")],
        &quick(),
    )
    .unwrap();
    assert_eq!(
        names(dir.path()),
        vec!["t10k-labels-idx1-ubyte.gz".to_string()]
    );
}
