//! Notebook cells that tests run reach them through copies in tests/notebook/ (the crate's build
//! reads no notebook: a learner's half-edited notebook must not break it): notebook 02's
//! `autocast_forward`, `train_epoch` and `evaluate_model` (tests/train.rs) and notebook 01's `vgg`, the article's
//! network in tch (tests/model.rs). This test holds each copy equal to its notebook; it is a test
//! binary of its own so that it can write the copies again (`VGGNET_WRITE_NOTEBOOK_LOOP=1`) when
//! an old copy no longer compiles against the crate.

/// The variable that rewrites the copies.
const WRITE_LOOP_ENV: &str = "VGGNET_WRITE_NOTEBOOK_LOOP";

/// A copy: the file, the notebook, and the functions whose cells it holds.
struct Copy {
    file: &'static str,
    notebook: &'static str,
    functions: &'static [&'static str],
}

const COPIES: [Copy; 2] = [
    Copy {
        file: "tests/notebook/loop02.rs",
        notebook: "notebooks/02_training.ipynb",
        functions: &["autocast_forward", "train_epoch", "evaluate_model"],
    },
    Copy {
        file: "tests/notebook/vgg01.rs",
        notebook: "notebooks/01_model.ipynb",
        functions: &["vgg"],
    },
];

/// The code cells of `copy.notebook` that define one of `copy.functions`, as `copy.file` holds
/// them: a header, then each cell with its functions made public (so the test's module around
/// them can call them).
fn notebook_cells(copy: &Copy) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(copy.notebook);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", copy.notebook));
    let nb: serde_json::Value = serde_json::from_str(&text).expect("a notebook is JSON");
    let names = copy.functions.join("`, `");
    let mut code = format!(
        "// {}'s `{names}` cells, copied for the tests.\n\
         // Edit the notebook, then: {WRITE_LOOP_ENV}=1 cargo test --release --test notebook_loop\n",
        copy.notebook
    );
    for cell in nb["cells"].as_array().into_iter().flatten() {
        let source: String = match &cell["source"] {
            serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
            serde_json::Value::String(s) => s.clone(),
            _ => continue,
        };
        let defines = |f: &&str| source.contains(&format!("fn {f}("));
        if cell["cell_type"] == "code" && copy.functions.iter().any(defines) {
            code.push_str(&source.replace("\nfn ", "\npub fn "));
            code.push('\n');
        }
    }
    code
}

/// The code the tests run is the notebooks', word for word: a change to a copied cell fails
/// here until the copy is written again (`VGGNET_WRITE_NOTEBOOK_LOOP=1`).
#[test]
fn the_copied_cells_are_the_notebooks() {
    for copy in &COPIES {
        let want = notebook_cells(copy);
        for f in copy.functions {
            assert!(
                want.contains(&format!("pub fn {f}(")),
                "{} has no cell defining `fn {f}`",
                copy.notebook
            );
        }
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(copy.file);
        if std::env::var_os(WRITE_LOOP_ENV).is_some() {
            std::fs::write(&file, &want).expect("tests/notebook/ is writable");
        }
        let have = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            have == want,
            "{} is not {}'s cells: run {WRITE_LOOP_ENV}=1 cargo test --release --test \
             notebook_loop, then this test again",
            copy.file,
            copy.notebook
        );
    }
}
