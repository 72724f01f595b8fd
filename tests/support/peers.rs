//! Where the tests find their inputs and the validators' Python, in one place (included with
//! `#[path]` by the tests that need it). Missing pieces fail loudly; nothing is skipped.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use bridge_core::{LoadOptions, ValidApp, load_file};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The validators' python: `BRIDGE_PYTHON`, else `$BRIDGE_VENV/bin/python`, else
/// `$HOME/.cache/bridge-venv/bin/python` (what `tests/run-peers-setup.sh` builds).
pub fn python() -> PathBuf {
    let p = match std::env::var_os("BRIDGE_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("BRIDGE_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/bridge-venv")
            })
            .join("bin/python"),
    };
    assert!(
        p.exists(),
        "the validators' python is missing at {}: run tests/run-peers-setup.sh (or set BRIDGE_PYTHON)",
        p.display()
    );
    p
}

/// The validators: `BRIDGE_VALIDATORS`, else `tests/validators`.
pub fn validators() -> PathBuf {
    match std::env::var_os("BRIDGE_VALIDATORS") {
        Some(p) => PathBuf::from(p),
        None => root().join("tests/validators"),
    }
}

/// The read-only shared folder beside the checkout (`../shared`, found from a git worktree too):
/// `BRIDGE_SHARED`, else the nearest ancestor's `shared` that holds a `corpus`.
pub fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("BRIDGE_SHARED") {
        return PathBuf::from(p);
    }
    root()
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared"))
        .find(|s| s.join("corpus").is_dir())
        .unwrap_or_else(|| {
            panic!("../shared (the corpus and schemas) is missing beside the checkout (or set BRIDGE_SHARED)")
        })
}

/// The compose corpus: `BRIDGE_CORPUS`, else `corpus/compose` in [`shared`].
pub fn corpus() -> PathBuf {
    match std::env::var_os("BRIDGE_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => shared().join("corpus/compose"),
    }
}

/// Every `.yml`/`.yaml` file under `dir`, recursively.
pub fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let rd = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

/// Load and validate with a fixed, empty environment, so results do not depend on the machine.
pub fn load(f: &Path) -> Option<ValidApp> {
    let opts = LoadOptions {
        env: Some(HashMap::new()),
        ..LoadOptions::default()
    };
    load_file(f, &opts).valid
}

/// Every example (`bridge.yaml` and `compose.yaml` of each folder of `examples/`, sorted) and
/// then every corpus compose file (sorted) that loads, with its path.
pub fn example_and_corpus_apps() -> Vec<(String, ValidApp)> {
    let mut files = Vec::new();
    for d in std::fs::read_dir(root().join("examples")).unwrap_or_else(|e| panic!("{e}")) {
        let d = d.unwrap_or_else(|e| panic!("{e}")).path();
        for n in ["bridge.yaml", "compose.yaml"] {
            if d.join(n).exists() {
                files.push(d.join(n));
            }
        }
    }
    let mut corpus_files = Vec::new();
    yaml_files(&corpus(), &mut corpus_files);
    corpus_files.sort();
    files.sort();
    files.extend(corpus_files);
    files
        .into_iter()
        .filter_map(|f| load(&f).map(|a| (f.display().to_string(), a)))
        .collect()
}

/// An app written as YAML and loaded again (as a file called `name`, default options): the
/// YAML and what loading it gave.
pub fn reload(name: &str, app: &bridge_core::model::App) -> (String, bridge_core::Loaded) {
    let yaml = bridge_core::emit::to_yaml(app).unwrap_or_else(|e| panic!("{e}"));
    let again = bridge_core::load_str(&name.into(), &yaml, Path::new("."), &LoadOptions::default());
    (yaml, again)
}

/// A finished command's exit status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `write_files` of a cloud-config: path to content.
pub fn cloud_config_files(user_data: &str) -> std::collections::BTreeMap<String, String> {
    let doc = bridge_core::node::load(user_data, &bridge_core::node::Limits::default())
        .unwrap_or_else(|e| panic!("user-data is not YAML: {}", e.message));
    let Some(bridge_core::node::NodeKind::Seq(items)) = doc.get("write_files").map(|w| &w.kind)
    else {
        panic!("no write_files list")
    };
    let text = |n: &bridge_core::node::Node| match &n.kind {
        bridge_core::node::NodeKind::Scalar(s) => s.text.clone(),
        _ => panic!("not a scalar: {n:?}"),
    };
    items
        .iter()
        .filter_map(|i| Some((text(i.get("path")?), text(i.get("content")?))))
        .collect()
}
