//! Notebook 02's `train_epoch` and `evaluate_model` cells reach tests/train.rs through a copy,
//! tests/notebook/loop02.rs (the crate's build reads no notebook: a learner's half-edited 02 must
//! not break it). This test holds the copy equal to the notebook; it is a test binary of its own so
//! that it can write the copy again (`VGGNET_WRITE_NOTEBOOK_LOOP=1`) when the old copy no longer
//! compiles against the crate.

/// Where the copy of notebook 02's loop cells lives, and the variable that rewrites it.
const LOOP_FILE: &str = "tests/notebook/loop02.rs";
const WRITE_LOOP_ENV: &str = "VGGNET_WRITE_NOTEBOOK_LOOP";

/// The code cells of notebooks/02_training.ipynb that define `fn train_epoch` or
/// `fn evaluate_model`, as [`LOOP_FILE`] holds them: a header, then each cell with its
/// functions made public (so the test's module around them can call them).
fn notebook_loop_cells() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks/02_training.ipynb");
    let text = std::fs::read_to_string(&path).expect("notebooks/02_training.ipynb is readable");
    let nb: serde_json::Value = serde_json::from_str(&text).expect("notebook 02 is JSON");
    let mut code = String::from(
        "// Notebook 02's `train_epoch` and `evaluate_model` cells, copied by tests/train.rs.\n\
         // Edit the notebook, then: VGGNET_WRITE_NOTEBOOK_LOOP=1 cargo test --release --test notebook_loop\n",
    );
    for cell in nb["cells"].as_array().into_iter().flatten() {
        let source: String = match &cell["source"] {
            serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
            serde_json::Value::String(s) => s.clone(),
            _ => continue,
        };
        if cell["cell_type"] == "code"
            && (source.contains("fn train_epoch(") || source.contains("fn evaluate_model("))
        {
            code.push_str(&source.replace("\nfn ", "\npub fn "));
            code.push('\n');
        }
    }
    code
}

/// The loop the tests run is notebook 02's, word for word: a change to either cell fails here
/// until the copy is written again (`VGGNET_WRITE_NOTEBOOK_LOOP=1`).
#[test]
fn the_loop_file_is_notebook_02s_cells() {
    let want = notebook_loop_cells();
    assert!(want.contains("pub fn train_epoch(") && want.contains("pub fn evaluate_model("));
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(LOOP_FILE);
    if std::env::var_os(WRITE_LOOP_ENV).is_some() {
        std::fs::write(&file, &want).expect("tests/notebook/ is writable");
    }
    let have = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        have == want,
        "{LOOP_FILE} is not notebook 02's train_epoch/evaluate_model cells: run \
         {WRITE_LOOP_ENV}=1 cargo test --release --test notebook_loop, then this test again"
    );
}
