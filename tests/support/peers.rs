//! Where the tests find their inputs and the validators' Python, in one place (included with
//! `#[path]` by the tests that need it). Missing pieces fail loudly; nothing is skipped.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

/// The compose corpus: `BRIDGE_CORPUS`, else `../shared/corpus/compose` beside the checkout (or
/// one level further up, from a git worktree).
pub fn corpus() -> PathBuf {
    if let Some(p) = std::env::var_os("BRIDGE_CORPUS") {
        return PathBuf::from(p);
    }
    for rel in ["../shared/corpus/compose", "../../shared/corpus/compose"] {
        let p = root().join(rel);
        if p.is_dir() {
            return p;
        }
    }
    panic!("the compose corpus is missing beside the checkout (../shared; or set BRIDGE_CORPUS)")
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
