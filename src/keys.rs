//! `bridge fidelity --keys`: per target, every service-level compose key as mapped, approximated
//! or dropped, with the reason. Nothing here is a hand-written verdict: each key has a realistic
//! sample service (`compose_keys.yaml`), which is imported and rendered for every target; the
//! verdict is read from the import's diagnostics and the ledger lines the key adds over the same
//! service without it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bridge_core::compose::keys::{self, SERVICE_KEYS};
use bridge_core::model::ProviderKind;
use bridge_core::node::{Limits, NodeKind, load};
use bridge_core::{LoadOptions, Severity, load_str};
use bridge_translators::{Fidelity, for_provider};
use serde::Serialize;

/// The samples, one compose document per key.
const SAMPLES: &str = include_str!("compose_keys.yaml");

/// The service under test in every sample.
const SVC: &str = "svc";

/// One key's verdict on one target.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRow {
    /// The compose key.
    pub key: &'static str,
    /// Its import code (`C001`...).
    pub code: &'static str,
    /// How faithfully it reaches the target.
    pub fidelity: Fidelity,
    /// Why (empty when mapped).
    pub reason: String,
    /// What the key changes in the target's artifacts over the same service without it: `+ ` a
    /// line it adds, `- ` one it removes, `path (new)` a whole artifact (JSON is read as one
    /// `pointer = value` line per leaf, multi-line strings line by line).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifact: Vec<String>,
}

/// The rows of one target and their counts.
#[derive(Debug, Clone, Serialize)]
pub struct KeyTable {
    /// The target.
    pub provider: &'static str,
    /// One row per compose key, in the Compose Specification's order.
    pub keys: Vec<KeyRow>,
    /// Rows mapped.
    pub mapped: usize,
    /// Rows approximated.
    pub approximated: usize,
    /// Rows dropped.
    pub dropped: usize,
}

fn samples() -> BTreeMap<String, String> {
    let Ok(doc) = load(SAMPLES, &Limits::default()) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (k, v) in doc.as_map().unwrap_or_default() {
        if let (NodeKind::Scalar(k), NodeKind::Scalar(v)) = (&k.kind, &v.kind) {
            out.insert(k.text.clone(), v.text.clone());
        }
    }
    out
}

/// A target's ledger (field to fidelity and reason) and its errors about the service.
type TargetView = (BTreeMap<String, (Fidelity, String)>, Vec<String>);

/// What import and translation say about one sample.
struct Sample {
    /// Import diagnostics about the service under test.
    import: Vec<(Severity, &'static str, String, String)>,
    /// The service under test as the neutral model has it (JSON), to find the fields the key set.
    neutral: serde_json::Value,
    /// Per target: ledger (field -> (fidelity, reason)) and errors about the service.
    targets: BTreeMap<ProviderKind, TargetView>,
    /// Per target: the artifacts rendered, path to content.
    artifacts: BTreeMap<ProviderKind, BTreeMap<String, String>>,
}

fn run(text: &str, dir: &Path, kinds: &[ProviderKind]) -> Option<Sample> {
    let opts = LoadOptions {
        env: Some(std::collections::HashMap::new()),
        profiles: vec!["web".into()],
        ..LoadOptions::default()
    };
    // One project name for every sample, so that artifacts and reasons do not name the
    // temporary directory.
    let text = format!("name: keys\n{text}");
    let loaded = load_str(&Arc::from("compose.yaml"), &text, dir, &opts);
    let about =
        |p: &str| p == format!("services.{SVC}") || p.starts_with(&format!("services.{SVC}."));
    let import = loaded
        .diagnostics
        .iter()
        .filter(|d| about(&d.path))
        .map(|d| (d.severity, d.code, d.path.clone(), d.message.clone()))
        .collect();
    let neutral = loaded
        .app()
        .and_then(|a| a.services.get(SVC))
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_default();
    let mut targets = BTreeMap::new();
    let mut artifacts = BTreeMap::new();
    let Some(valid) = loaded.valid else {
        return Some(Sample {
            import,
            neutral,
            targets,
            artifacts,
        });
    };
    for k in kinds {
        let Some(t) = for_provider(*k) else { continue };
        let mut t = t.translate(&valid);
        bridge_translators::ledger::settle(&mut t);
        let ledger = t
            .ledger
            .iter()
            .map(|e| (e.field.clone(), (e.fidelity, e.reason.clone())))
            .collect();
        let errors = t
            .diagnostics
            .iter()
            .filter(|d| d.is_error() && about(&d.path))
            .map(|d| d.message.clone())
            .collect();
        targets.insert(*k, (ledger, errors));
        artifacts.insert(
            *k,
            t.artifacts
                .into_iter()
                .map(|a| (a.path, a.content))
                .collect(),
        );
    }
    Some(Sample {
        import,
        neutral,
        targets,
        artifacts,
    })
}

/// The table for each target in `kinds`.
pub fn tables(kinds: &[ProviderKind]) -> Vec<KeyTable> {
    let dir = std::env::temp_dir().join(format!("bridge-keys-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    // Files the samples name (label_file, env_file, credential_spec).
    let _ = std::fs::write(dir.join("app.labels"), "com.example.tier=web\n");
    let _ = std::fs::write(dir.join("app.env"), "LOG_LEVEL=info\n");
    let samples = samples();
    let base = run(
        &format!("services:\n  {SVC}:\n    image: ghcr.io/acme/app:1.4\n"),
        &dir,
        kinds,
    );
    let mut rows: BTreeMap<ProviderKind, Vec<KeyRow>> = BTreeMap::new();
    for info in SERVICE_KEYS {
        let sample = samples
            .get(info.key)
            .and_then(|text| run(text, &dir, kinds));
        for k in kinds {
            let mut row = verdict(info, sample.as_ref(), base.as_ref(), *k);
            row.artifact = fragment(sample.as_ref(), base.as_ref(), *k);
            rows.entry(*k).or_default().push(row);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    rows.into_iter()
        .map(|(k, keys)| {
            let count = |f: Fidelity| keys.iter().filter(|r| r.fidelity == f).count();
            KeyTable {
                provider: k.as_str(),
                mapped: count(Fidelity::Mapped),
                approximated: count(Fidelity::Approximated),
                dropped: count(Fidelity::Dropped),
                keys,
            }
        })
        .collect()
}

fn verdict(
    info: &'static keys::KeyInfo,
    sample: Option<&Sample>,
    base: Option<&Sample>,
    k: ProviderKind,
) -> KeyRow {
    let row = |fidelity, reason: String| KeyRow {
        key: info.key,
        code: info.code,
        fidelity,
        reason,
        artifact: Vec::new(),
    };
    let Some(sample) = sample else {
        return row(
            Fidelity::Dropped,
            "the sample does not import: the key cannot be used as written".into(),
        );
    };
    // Import: the key's own code (or an approximation warning on its path).
    let own = sample.import.iter().find(|d| d.1 == info.code);
    if let Some((_, _, _, msg)) = own
        && matches!(
            info.treatment,
            keys::Treatment::Dropped | keys::Treatment::Ignored | keys::Treatment::Rejected
        )
    {
        return row(Fidelity::Dropped, format!("dropped at import: {msg}"));
    }
    if let Some((_, code, path, msg)) = sample.import.iter().find(|d| d.0 == Severity::Error) {
        return row(
            Fidelity::Dropped,
            format!("import fails: error[{code}] {path}: {msg}"),
        );
    }
    let approx_at_import = own.map(|d| d.3.clone()).or_else(|| {
        sample
            .import
            .iter()
            .find(|d| d.1 == "W102" && d.0 == Severity::Warning)
            .map(|d| d.3.clone())
    });
    let Some((ledger, errors)) = sample.targets.get(&k) else {
        return row(Fidelity::Dropped, "no translator for this target".into());
    };
    if let Some(e) = errors.first() {
        return row(Fidelity::Dropped, format!("render fails: {e}"));
    }
    let empty = BTreeMap::new();
    let base_ledger = base
        .and_then(|b| b.targets.get(&k))
        .map_or(&empty, |(l, _)| l);
    let others: BTreeSet<&str> = ledger
        .keys()
        .filter_map(|f| f.strip_prefix("services."))
        .filter_map(|f| f.split(['.', '[']).next())
        .filter(|s| *s != SVC)
        .collect();
    // The neutral fields the key set: where the service differs from the one without it.
    let base_neutral = base.map(|b| &b.neutral);
    let changed: Vec<String> = sample
        .neutral
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, v)| base_neutral.and_then(|b| b.get(k.as_str())) != Some(*v))
                .map(|(k, _)| format!("services.{SVC}.{k}"))
                .collect()
        })
        .unwrap_or_default();
    let set_by_key = |f: &str| {
        changed.iter().any(|c| {
            f.strip_prefix(c.as_str())
                .is_some_and(|r| r.is_empty() || r.starts_with('.') || r.starts_with('['))
        })
    };
    let new: Vec<&(Fidelity, String)> = ledger
        .iter()
        .filter(|(f, v)| base_ledger.get(*f) != Some(*v) || set_by_key(f))
        .filter(|(f, _)| {
            !others
                .iter()
                .any(|o| f.starts_with(&format!("services.{o}.")) || **f == format!("services.{o}"))
        })
        .map(|(_, v)| v)
        .collect();
    // A key every sample sets (image) adds no line over the base: read its own line.
    let own_line = ledger.get(&format!("services.{SVC}.{}", info.key));
    let new = if new.is_empty() {
        own_line.into_iter().collect()
    } else {
        new
    };
    if new.is_empty() {
        return match approx_at_import {
            Some(m) => row(Fidelity::Approximated, format!("at import: {m}")),
            // Keys that act during import (profiles choose services): no field of their own.
            None if info.treatment == keys::Treatment::Mapped && changed.is_empty() => row(
                Fidelity::Mapped,
                format!("applied at import: {}", info.reason),
            ),
            None => row(
                Fidelity::Dropped,
                "no ledger line: the key reaches no field this target renders".into(),
            ),
        };
    }
    let reason = |f: Fidelity| {
        new.iter()
            .find(|(x, r)| *x == f && !r.is_empty())
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    let any = |f: Fidelity| new.iter().any(|(x, _)| *x == f);
    if any(Fidelity::Dropped) && !any(Fidelity::Mapped) && !any(Fidelity::Approximated) {
        return row(Fidelity::Dropped, reason(Fidelity::Dropped));
    }
    if any(Fidelity::Approximated) || any(Fidelity::Dropped) {
        let r = reason(Fidelity::Approximated);
        let r = if r.is_empty() {
            format!("partly: {}", reason(Fidelity::Dropped))
        } else {
            r
        };
        return row(Fidelity::Approximated, r);
    }
    match approx_at_import {
        Some(m) => row(Fidelity::Approximated, format!("at import: {m}")),
        None => row(Fidelity::Mapped, String::new()),
    }
}

/// The artifact lines of target `k` the sample adds (`+ `) or removes (`- `) over the base
/// service, per artifact path; an artifact the base has not is named whole.
fn fragment(sample: Option<&Sample>, base: Option<&Sample>, k: ProviderKind) -> Vec<String> {
    let empty = BTreeMap::new();
    let Some(arts) = sample.and_then(|s| s.artifacts.get(&k)) else {
        return Vec::new();
    };
    let base = base.and_then(|b| b.artifacts.get(&k)).unwrap_or(&empty);
    let mut out = Vec::new();
    for (path, content) in arts {
        let Some(before) = base.get(path) else {
            out.push(format!("{path} (new)"));
            continue;
        };
        // The spec hash labels change with any line: they would only repeat the other lines.
        let lines = |c: &str| -> Vec<String> {
            leaf_lines(c)
                .into_iter()
                .filter(|l| !l.contains("spec-hash"))
                .collect()
        };
        let (now, was) = (lines(content), lines(before));
        let (now_set, was_set): (BTreeSet<&String>, BTreeSet<&String>) =
            (now.iter().collect(), was.iter().collect());
        out.extend(
            now.iter()
                .filter(|l| !was_set.contains(l))
                .map(|l| format!("+ {path}: {l}")),
        );
        out.extend(
            was.iter()
                .filter(|l| !now_set.contains(l))
                .map(|l| format!("- {path}: {l}")),
        );
    }
    out.extend(
        base.keys()
            .filter(|p| !arts.contains_key(*p))
            .map(|p| format!("{p} (gone)")),
    );
    out
}

/// An artifact as lines to compare: JSON as `pointer = value` per leaf (a multi-line string
/// one line each, `pointer | line`), anything else line by line.
fn leaf_lines(content: &str) -> Vec<String> {
    fn walk(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    walk(x, &format!("{at}/{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{at}/{i}"), out);
                }
            }
            serde_json::Value::String(s) if s.contains('\n') => {
                out.extend(s.lines().map(|l| format!("{at} | {l}")));
            }
            other => out.push(format!("{at} = {other}")),
        }
    }
    match serde_json::from_str::<serde_json::Value>(content) {
        Ok(v) => {
            let mut out = Vec::new();
            walk(&v, "", &mut out);
            out
        }
        Err(_) => content.lines().map(str::to_string).collect(),
    }
}
