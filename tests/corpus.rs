//! Corpus golden: every real-world compose file under `../shared/corpus/compose` is loaded; none
//! may panic, each is either imported without errors or rejected with an error that names the
//! file, the line and the field. One line per file is compared with `tests/golden/corpus.txt`;
//! regenerate with `BLESS=1 cargo test --test corpus`.
//!
//! The corpus is found at `../shared/corpus/compose` beside the repository, or where
//! `BRIDGE_CORPUS` points. A missing corpus fails the test.

#[path = "support/peers.rs"]
mod peers;
use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use bridge_core::{LoadOptions, Severity, load_file};

fn corpus_dir() -> PathBuf {
    peers::corpus()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let rd = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

/// Codes about the document as a whole, whose field is the file itself.
const WHOLE_FILE: &[&str] = &["E001", "E002", "E003", "E004"];

/// A fixed environment, so results do not depend on the machine.
fn env() -> HashMap<String, String> {
    HashMap::from([("HOME".to_string(), "/home/user".to_string())])
}

#[test]
fn corpus_golden() {
    let dir = corpus_dir();
    assert!(
        dir.is_dir(),
        "the compose corpus is missing at {} (set BRIDGE_CORPUS to its location)",
        dir.display()
    );
    let mut all = Vec::new();
    files(&dir, &mut all);
    all.sort();
    assert!(
        all.len() >= 100,
        "only {} corpus files found in {}",
        all.len(),
        dir.display()
    );
    let opts = LoadOptions {
        env: Some(env()),
        ..LoadOptions::default()
    };
    let mut lines = String::new();
    let mut problems = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        let loaded = match catch_unwind(AssertUnwindSafe(|| load_file(f, &opts))) {
            Ok(l) => l,
            Err(_) => {
                problems.push(format!("{rel}: panicked"));
                continue;
            }
        };
        let codes: BTreeSet<&str> = loaded.diagnostics.iter().map(|d| d.code).collect();
        let codes: Vec<&str> = codes.into_iter().collect();
        let errors: Vec<_> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        let verdict = if errors.is_empty() {
            if loaded.valid.is_none() {
                problems.push(format!("{rel}: no error, yet no valid app"));
            }
            "imported"
        } else {
            if !errors.iter().any(|d| {
                d.file.is_some()
                    && d.span.is_some()
                    && (!d.path.is_empty() || WHOLE_FILE.contains(&d.code))
            }) {
                problems.push(format!(
                    "{rel}: rejected without an error naming file, line and field: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            "rejected"
        };
        lines.push_str(&format!("{rel}: {verdict} {}\n", codes.join(" ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/corpus.txt");
    if std::env::var_os("BLESS").is_some() {
        if let Some(parent) = golden.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            panic!("{e}");
        }
        if let Err(e) = std::fs::write(&golden, &lines) {
            panic!("cannot write {}: {e}", golden.display());
        }
        return;
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    if want != lines {
        let diff: Vec<String> = want
            .lines()
            .zip(lines.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .collect();
        panic!(
            "corpus results differ from {} (BLESS=1 to accept):\n{}\n({} vs {} lines)",
            golden.display(),
            diff.join("\n"),
            want.lines().count(),
            lines.lines().count()
        );
    }
}

/// Every service key of the Compose Specification is in the catalogue.
#[test]
fn catalogue_covers_the_spec() {
    let schema = corpus_dir().join("../../schemas/compose-spec.json");
    let text = match std::fs::read_to_string(&schema) {
        Ok(t) => t,
        Err(e) => panic!("cannot read {}: {e}", schema.display()),
    };
    let v: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    let props = match v["definitions"]["service"]["properties"].as_object() {
        Some(p) => p,
        None => panic!("no service properties in the schema"),
    };
    for key in props.keys() {
        assert!(
            bridge_core::compose::keys::service_key(key).is_some(),
            "{key} is not catalogued"
        );
    }
    assert_eq!(props.len(), bridge_core::compose::keys::SERVICE_KEYS.len());
}
