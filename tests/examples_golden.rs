//! Every numbered example has committed golden output for all four targets (the artifacts a user
//! would hand to the provider's tools), its fidelity ledger and the translators' diagnostics, so
//! each change of behaviour shows in review. Regenerate with `BLESS=1 cargo test --test
//! examples_golden` and read the diff. The artifacts are checked against the providers' own rules
//! by tests/translate_*.rs and tests/swarm_engine.rs.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use bridge_core::model::ProviderKind;
use bridge_core::{LoadOptions, load_file};
use bridge_translators::{Fidelity, for_provider};

fn examples() -> Vec<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut out = Vec::new();
    for d in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let dir = d.unwrap_or_else(|e| panic!("{e}")).path();
        for name in ["bridge.yaml", "compose.yaml"] {
            if dir.join(name).exists() {
                out.push((dir.clone(), dir.join(name)));
            }
        }
    }
    out.sort();
    out
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The golden files of one example: path under golden/ -> content.
fn render(file: &Path) -> BTreeMap<String, String> {
    let opts = LoadOptions {
        env: Some(HashMap::new()),
        ..LoadOptions::default()
    };
    let loaded = load_file(file, &opts);
    let valid = loaded.valid.unwrap_or_else(|| {
        panic!(
            "{} does not validate: {:?}",
            file.display(),
            loaded.diagnostics
        )
    });
    let mut out = BTreeMap::new();
    let mut fidelity = String::new();
    let mut diagnostics = String::new();
    for kind in ProviderKind::ALL {
        let t = for_provider(kind)
            .unwrap_or_else(|| panic!("no translator for {}", kind.as_str()))
            .translate(&valid);
        for a in &t.artifacts {
            assert!(
                out.insert(a.path.clone(), a.content.clone()).is_none(),
                "{}: artifact {} twice",
                file.display(),
                a.path
            );
        }
        let _ = writeln!(fidelity, "== {}", kind.as_str());
        for e in &t.ledger {
            let word = match e.fidelity {
                Fidelity::Mapped => "mapped",
                Fidelity::Approximated => "approximated",
                Fidelity::Dropped => "dropped",
            };
            if e.reason.is_empty() {
                let _ = writeln!(fidelity, "{word:<12} {}", e.field);
            } else {
                let _ = writeln!(fidelity, "{word:<12} {}: {}", e.field, e.reason);
            }
        }
        for d in t.diagnostics.iter() {
            let _ = writeln!(
                diagnostics,
                "{}: {}[{}] {}: {}",
                kind.as_str(),
                d.severity,
                d.code,
                d.path,
                d.message
            );
        }
    }
    out.insert("fidelity.txt".into(), fidelity);
    out.insert("diagnostics.txt".into(), diagnostics);
    out
}

#[test]
fn examples_match_their_golden_output() {
    let bless = std::env::var_os("BLESS").is_some();
    let list = examples();
    assert!(
        list.len() >= 12,
        "issue 3 asks for at least 12 examples, found {}",
        list.len()
    );
    let mut problems = Vec::new();
    for (dir, file) in list {
        let golden_dir = dir.join("golden");
        let want = render(&file);
        // Two renders of the same input are byte-identical.
        assert_eq!(
            want,
            render(&file),
            "{}: output is not deterministic",
            file.display()
        );
        if bless {
            let _ = std::fs::remove_dir_all(&golden_dir);
            for (rel, content) in &want {
                let p = golden_dir.join(rel);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
                }
                std::fs::write(&p, content).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            }
            continue;
        }
        let have = files_under(&golden_dir);
        let expected: Vec<String> = want.keys().cloned().collect();
        if have != expected {
            problems.push(format!(
                "{}: golden files differ: have {have:?}, expected {expected:?}",
                dir.display()
            ));
            continue;
        }
        for (rel, content) in &want {
            let p = golden_dir.join(rel);
            let got = std::fs::read_to_string(&p).unwrap_or_default();
            if &got != content {
                problems.push(format!("{}: differs from the rendered output", p.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n(run with BLESS=1 and review the diff)",
        problems.join("\n")
    );
}
