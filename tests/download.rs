//! Downloads against an HTTP server started on 127.0.0.1 by the test, serving the real MNIST
//! files: success, fall-through between mirrors, 404, connection closed mid-body, wrong bytes,
//! a stalled server, a redirect. Afterwards no partial file is left under the final name, and a
//! later good run succeeds.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};
use vggnet::data::{Data, DataConfig, Dataset};
use vggnet::download::{download_file, download_with, DownloadConfig};
use vggnet::Error;

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
    let written =
        download_with(Dataset::Mnist, &target, &[format!("{base}/ok/")], &quick()).unwrap();
    assert_eq!(written.len(), 4);
    for (p, ok) in vggnet::download::verify(Dataset::Mnist, &target).unwrap() {
        assert!(ok, "{} failed MD5", p.display());
    }
    assert_eq!(names(&target).len(), 4);
    let again =
        download_with(Dataset::Mnist, &target, &[format!("{base}/404/")], &quick()).unwrap();
    assert!(again.is_empty(), "nothing to fetch the second time");
}

#[test]
fn loading_downloads_missing_files_then_loads() {
    let base = serve(16);
    let dir = tempfile::tempdir().unwrap();
    let data = Data::load(&DataConfig {
        dir: dir.path().into(),
        train_limit: Some(10),
        test_limit: Some(10),
        download: true,
        mirrors: vec![format!("{base}/404"), format!("{base}/ok")],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(data.test.len(), 10);
}

/// Fashion-MNIST comes down the same way, checked against its own checksums; a mirror that
/// serves MNIST's files under the same names is refused (wrong MD5) and leaves nothing behind.
#[test]
fn fashion_mnist_downloads_with_its_own_checksums() {
    let fashion = serve_from(fashion_dir(), 16);
    let mnist = serve(16);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("fashion-mnist");
    let err = vggnet::download::download_with(
        Dataset::FashionMnist,
        &target,
        &[format!("{mnist}/ok/")],
        &quick(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("MD5 mismatch") && msg.contains("f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "{msg}"
    );
    assert!(names(&target).is_empty(), "{:?}", names(&target));
    let written = vggnet::download::download_with(
        Dataset::FashionMnist,
        &target,
        &[format!("{mnist}/ok/"), format!("{fashion}/ok/")],
        &quick(),
    )
    .unwrap();
    assert_eq!(written.len(), 4);
    let checked = vggnet::download::verify(Dataset::FashionMnist, &target).unwrap();
    assert_eq!(checked.len(), 4);
    assert!(checked.iter().all(|(_, ok)| *ok), "{checked:?}");
    let data = Data::load(&DataConfig {
        dir: target,
        test_limit: Some(10),
        download: false,
        ..DataConfig::of(Dataset::FashionMnist)
    })
    .unwrap();
    assert_eq!(data.dataset, Dataset::FashionMnist);
}

fn fails_cleanly(mode: &str, expect: &str) {
    let base = serve(8);
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let err = download_file(
        dir.path(),
        &Dataset::Mnist.files()[LABELS],
        28,
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
        &Dataset::Mnist.files()[LABELS],
        28,
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
        &Dataset::Mnist.files()[LABELS],
        28,
        &[format!("{base}/redirect")],
        &quick(),
    )
    .unwrap();
    assert_eq!(
        names(dir.path()),
        vec!["t10k-labels-idx1-ubyte.gz".to_string()]
    );
}
