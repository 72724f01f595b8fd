//! Golden bad-input tests: every `tests/bad/NN-name.{yaml,yml,json}` must fail to load, and its
//! rendered diagnostics must equal `tests/bad/NN-name.out` exactly. Regenerate the goldens with
//! `BLESS=1 cargo test --test bad_input`, then read the diff.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bridge_core::render::{Color, render_all};
use bridge_core::{LoadOptions, load_file};

/// Compose cases that yield nothing while the compose importer is a stub. Once the importer
/// lands they produce diagnostics: then take them off this list and bless their goldens.
const PENDING_COMPOSE: &[&str] = &[];

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("tests/bad")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml" | "json")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// What a case renders to, with the path relative to the crate root so names are stable.
fn render(path: &Path) -> (String, bool) {
    let opts = LoadOptions {
        env: Some(HashMap::new()),
        ..Default::default()
    };
    let loaded = load_file(path, &opts);
    let text = render_all(&loaded.diagnostics.0, &loaded.sources, Color::Never);
    (text, loaded.diagnostics.has_errors())
}

#[test]
fn bad_inputs_match_their_goldens() {
    let bless = std::env::var_os("BLESS").is_some();
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let stem = case
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let golden = case.with_extension("out");
        let (text, errors) = render(case);
        let pending = PENDING_COMPOSE.contains(&stem.as_str());
        if pending {
            if text.is_empty() {
                continue;
            }
            failures.push(format!(
                "{}: now yields diagnostics; take it off PENDING_COMPOSE and bless it",
                case.display()
            ));
            continue;
        }
        if !errors {
            failures.push(format!("{}: yields no error", case.display()));
        }
        if bless {
            if let Err(e) = std::fs::write(&golden, &text) {
                failures.push(format!("{}: cannot write: {e}", golden.display()));
            }
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == text => {}
            Ok(want) => failures.push(format!(
                "{} differs from {}\n--- want\n{want}--- got\n{text}",
                case.display(),
                golden.display()
            )),
            Err(_) => failures.push(format!(
                "{}: golden {} is missing (run with BLESS=1)\n{text}",
                case.display(),
                golden.display()
            )),
        }
    }
    // A golden without its input is a leftover from a renamed case.
    if let Ok(rd) = std::fs::read_dir("tests/bad") {
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            if p.extension().and_then(|e| e.to_str()) == Some("out")
                && !cases.iter().any(|c| c.with_extension("out") == p)
            {
                failures.push(format!("{}: golden without an input", p.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
