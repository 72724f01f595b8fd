//! The GCE translator over every example, the kitchen sink and every importable corpus compose
//! file: the request bodies are checked by `gce_validate.py` (JSON Schema from Compute's own
//! discovery document plus the documented name, label, URL and metadata rules), one call per
//! kind over all files; the ledger covers every field the kitchen sink sets; output is stable.
//!
//! Python comes from `BRIDGE_PYTHON` (default `$HOME/.cache/bridge-venv/bin/python`, made by
//! `tests/run-peers-setup.sh`), the validators from `BRIDGE_VALIDATORS` (default
//! `tests/validators`). A missing python or validator fails the test. `BRIDGE_KEEP=1` keeps the
//! rendered files and prints where.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use bridge_core::Severity;
use bridge_core::model::ProviderKind;
use bridge_translators::gce::Gce;
use bridge_translators::{Translation, Translator};

#[path = "support/peers.rs"]
mod peers;
use peers::{corpus, load, root, yaml_files};

/// The inputs, each with whether it comes from the corpus (whose errors are allowed: they are
/// real files that may ask for what GCE cannot do).
fn inputs() -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    let mut ex = Vec::new();
    for d in std::fs::read_dir(root().join("examples"))
        .unwrap_or_else(|e| panic!("examples: {e}"))
        .flatten()
    {
        for n in ["bridge.yaml", "compose.yaml"] {
            let f = d.path().join(n);
            if f.exists() {
                ex.push(f);
            }
        }
    }
    ex.sort();
    out.extend(ex.into_iter().map(|p| (p, false)));
    out.push((root().join("tests/fixtures/kitchen-sink/gce.yaml"), false));
    let mut files = Vec::new();
    yaml_files(&corpus(), &mut files);
    files.sort();
    assert!(files.len() >= 100, "only {} corpus files", files.len());
    out.extend(files.into_iter().map(|p| (p, true)));
    out
}

fn python() -> PathBuf {
    let p = match std::env::var_os("BRIDGE_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/bridge-venv/bin/python"),
    };
    assert!(
        p.exists(),
        "python for the validators is missing at {} (run tests/run-peers-setup.sh or set BRIDGE_PYTHON)",
        p.display()
    );
    p
}

fn validator() -> PathBuf {
    let dir = match std::env::var_os("BRIDGE_VALIDATORS") {
        Some(p) => PathBuf::from(p),
        None => root().join("tests/validators"),
    };
    let v = dir.join("gce_validate.py");
    assert!(
        v.exists(),
        "the GCE validator is missing at {} (set BRIDGE_VALIDATORS)",
        v.display()
    );
    v
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

/// Leaf field paths an app sets, descending through mappings (lists count as one field).
fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                leaves(&format!("{prefix}.{k}"), x, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

fn covered(ledger: &[bridge_translators::LedgerEntry], path: &str) -> bool {
    ledger.iter().any(|e| {
        e.field == path
            || path.starts_with(&format!("{}.", e.field))
            || e.field.starts_with(&format!("{path}."))
            || e.field.starts_with(&format!("{path}["))
    })
}

fn ours(v: &serde_json::Value) -> bool {
    v.get("provider")
        .and_then(|p| p.as_str())
        .is_none_or(|p| p == "gce")
}

#[test]
fn gce_artifacts_validate_and_ledger_is_complete() {
    let dir = scratch("gce-validate");
    let mut kinds: HashMap<&str, Vec<PathBuf>> = HashMap::new();
    let mut translated = 0;
    let mut problems = Vec::new();
    for (i, (f, is_corpus)) in inputs().iter().enumerate() {
        let Some(app) = load(f) else {
            continue;
        };
        let t: Translation = Gce.translate(&app);
        assert_eq!(Gce.target(), ProviderKind::Gce);
        translated += 1;
        let errors: Vec<String> = t
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| format!("{}: {d}", f.display()))
            .collect();
        if !*is_corpus {
            problems.extend(errors);
        }
        // Every translated service has its image in the ledger.
        for (n, s) in &app.app().services {
            if s.provider.is_none_or(|p| p == ProviderKind::Gce) {
                let path = format!("services.{n}.image");
                if !t.ledger.iter().any(|e| e.field == path) {
                    problems.push(format!("{}: no ledger line for {path}", f.display()));
                }
            }
        }
        let out = dir.join(format!("{i:03}"));
        for a in &t.artifacts {
            let p = out.join(&a.path);
            std::fs::create_dir_all(p.parent().unwrap_or(&out)).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&p, &a.content).unwrap_or_else(|e| panic!("{e}"));
            let kind = if a.path.starts_with("gce/instances/") {
                "Instance"
            } else if a.path.starts_with("gce/disks/") {
                "Disk"
            } else if a.path.starts_with("gce/firewalls/") {
                "Firewall"
            } else {
                continue;
            };
            kinds.entry(kind).or_default().push(p);
        }
    }
    assert!(translated >= 50, "only {translated} inputs translated");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let (py, val) = (python(), validator());
    let mut failures = String::new();
    for kind in ["Instance", "Disk", "Firewall"] {
        let files = kinds.get(kind).cloned().unwrap_or_default();
        assert!(!files.is_empty(), "no {kind} bodies rendered");
        let o = Command::new(&py)
            .arg(&val)
            .args(["--kind", kind])
            .args(&files)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
        if !o.status.success() {
            failures.push_str(&String::from_utf8_lossy(&o.stdout));
            failures.push_str(&String::from_utf8_lossy(&o.stderr));
        }
    }
    assert!(
        failures.is_empty(),
        "gce_validate.py found problems:\n{failures}"
    );
    if std::env::var_os("BRIDGE_KEEP").is_some() {
        eprintln!("artifacts kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn kitchen_sink_ledger_covers_every_field_and_output_is_stable() {
    let f = root().join("tests/fixtures/kitchen-sink/gce.yaml");
    let app = load(&f).unwrap_or_else(|| panic!("the kitchen sink does not validate"));
    let t = Gce.translate(&app);
    let again = Gce.translate(&app);
    assert_eq!(t.artifacts, again.artifacts, "output is not byte-stable");
    let v = serde_json::to_value(app.app()).unwrap_or_default();
    let mut paths = Vec::new();
    for section in [
        "services", "vms", "volumes", "secrets", "configs", "networks", "groups",
    ] {
        if let Some(m) = v.get(section).and_then(|x| x.as_object()) {
            for (n, x) in m {
                if (section == "services" || section == "vms") && !ours(x) {
                    continue;
                }
                leaves(&format!("{section}.{n}"), x, &mut paths);
            }
        }
    }
    if let Some(g) = v.pointer("/providers/gce") {
        leaves("providers.gce", g, &mut paths);
    }
    assert!(paths.len() > 100, "only {} paths", paths.len());
    let missing: Vec<&String> = paths.iter().filter(|p| !covered(&t.ledger, p)).collect();
    assert!(missing.is_empty(), "no ledger line for: {missing:?}");
    // Every dropped field is also a warning.
    for e in &t.ledger {
        if e.fidelity == bridge_translators::Fidelity::Dropped {
            assert!(
                t.diagnostics.iter().any(|d| d.path == e.field),
                "{} is dropped without a diagnostic",
                e.field
            );
        }
    }
    // Secret values are never rendered; only Secret Manager ids appear.
    let all: String = t.artifacts.iter().map(|a| a.content.as_str()).collect();
    assert!(all.contains("sink-db_password"));
    assert!(all.contains("sink-tls-cert"));
    assert!(!all.contains("./api_key.txt"));
}
