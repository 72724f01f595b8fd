//! Every example under `examples/` loads and validates with no errors: they are documentation,
//! so they must stay correct.

use std::path::{Path, PathBuf};

use bridge_core::{LoadOptions, load_file};

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let dir = dir.unwrap_or_else(|e| panic!("{e}")).path();
        for name in ["bridge.yaml", "compose.yaml"] {
            let f = dir.join(name);
            if f.exists() {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_example_is_valid() {
    let files = examples();
    assert!(
        files.len() >= 8,
        "expected at least 8 examples, found {}",
        files.len()
    );
    let opts = LoadOptions {
        env: Some(Default::default()),
        ..LoadOptions::default()
    };
    for f in files {
        let loaded = load_file(&f, &opts);
        let errors: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        assert!(errors.is_empty(), "{}:\n{}", f.display(), errors.join("\n"));
        assert!(loaded.valid.is_some(), "{} did not validate", f.display());
    }
}
