//! The crate's layout holds its design: no top-level module of `src/` reaches a module that
//! reaches it back (an import circle), counting every `crate::NAME` path in code (comments
//! excluded), directly or through other modules. Runs without data or libtorch work.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            rust_files(&e.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The top-level modules named in `crate::NAME` paths of `code` (comments dropped; a group
/// may span lines).
fn uses(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let code: Vec<&str> = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect();
    {
        let line = code.join(" ");
        for part in line.split("crate::").skip(1) {
            // `crate::name::...`, or a group `crate::{a::x, b}`.
            let heads: Vec<&str> = match part.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                None => vec![part],
            };
            for head in heads {
                let name: String = head
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// Each top-level module (a file or folder of `src/`, binaries excluded) with the modules it
/// uses. A name `lib.rs` re-exports from inside another module counts as that module.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for line in lib.lines() {
        // `pub use inner::{a, b};` or `pub use inner::name;`
        if let Some(rest) = line.trim().strip_prefix("pub use ") {
            let rest = rest.trim_end_matches(';');
            if let Some((inner, names)) = rest.split_once("::") {
                for n in names.trim_matches(|c| c == '{' || c == '}').split(',') {
                    let n = n.split("::").last().unwrap_or("").trim();
                    owner.insert(n.to_string(), inner.to_string());
                }
            }
        }
    }
    let mut g = BTreeMap::new();
    for e in std::fs::read_dir(src).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || name == "bin" || name == "main" {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&path, &mut files);
        let mut used = BTreeSet::new();
        for f in files {
            for u in uses(&std::fs::read_to_string(&f).unwrap()) {
                let u = owner.get(&u).cloned().unwrap_or(u);
                if u != name {
                    used.insert(u);
                }
            }
        }
        g.insert(name, used);
    }
    g
}

/// Pairs of modules that each reach the other.
fn circles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for n in g.get(&m).into_iter().flatten() {
                if seen.insert(n.clone()) {
                    todo.push(n.clone());
                }
            }
        }
        seen
    };
    let mut out = Vec::new();
    for a in g.keys() {
        for b in reach(a) {
            if a < &b && reach(&b).contains(a) {
                out.push((a.clone(), b));
            }
        }
    }
    out
}

#[test]
fn no_module_reaches_a_module_that_reaches_it_back() {
    let g = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for (m, used) in &g {
        println!(
            "{m} -> {}",
            used.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let found = circles(&g);
    assert!(found.is_empty(), "import circles: {found:?}");
    // The check itself: paths and groups are read, and a circle written into a copy is found.
    let read =
        uses("use crate::{data::Split, error::Result}; let x = crate::model::Vgg; // crate::run");
    assert_eq!(read, ["data", "error", "model"].map(String::from).into());
    let mut bent = g.clone();
    bent.get_mut("model").unwrap().insert("run".into());
    assert!(circles(&bent).contains(&("model".into(), "run".into())));
}

/// A crate a teacher reads in one sitting: at most 10 top-level modules, no file over 500
/// lines (tests included).
#[test]
fn ten_top_level_modules_and_no_file_over_500_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or(l.trim().strip_prefix("mod "))
        })
        .collect();
    println!("{} top-level modules: {}", modules.len(), modules.join(" "));
    assert!(modules.len() <= 10, "{modules:?}");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<(PathBuf, usize)> = files
        .into_iter()
        .map(|f| {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            (f, n)
        })
        .filter(|(_, n)| *n > 500)
        .collect();
    assert!(long.is_empty(), "files over 500 lines: {long:?}");
}
