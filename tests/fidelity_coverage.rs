//! Zero silent drops (issue 3): every neutral field of the schema is set by at least one kitchen
//! sink under tests/fixtures/kitchen-sink/, every target's ledger has a line for every field each
//! kitchen sink sets, and every compose key is either mapped to a neutral field of the schema or
//! reported with its own code.

#[path = "support/peers.rs"]
mod peers;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use bridge_core::model::ProviderKind;
use bridge_core::{LoadOptions, load_file};
use bridge_translators::for_provider;
use serde_json::Value;

fn kitchen_sinks() -> Vec<PathBuf> {
    let dir = peers::root().join("tests/fixtures/kitchen-sink");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

/// The section of the app a component lives in, with `*` for its name.
const SECTIONS: [&str; 7] = [
    "services", "vms", "volumes", "secrets", "configs", "networks", "groups",
];

/// Field patterns of the schema: `services.*.image`, `services.*.resources.cpus`, `vms.*.disk`,
/// `volumes.*.size`... (two levels inside a component, where the first is an object).
fn schema_patterns() -> BTreeSet<String> {
    let schema: Value =
        serde_json::from_str(&bridge_core::schema::json_schema()).unwrap_or(Value::Null);
    let defs = &schema["$defs"];
    let resolve = |v: &Value| -> Value {
        // An optional struct is `anyOf: [{$ref}, {type: null}]`.
        let v = match v["anyOf"].as_array() {
            Some(alts) if alts.len() == 2 && alts.iter().any(|a| a["type"] == "null") => alts
                .iter()
                .find(|a| a["type"] != "null")
                .cloned()
                .unwrap_or(Value::Null),
            _ => v.clone(),
        };
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => defs[r.trim_start_matches("#/$defs/")].clone(),
            None => v,
        }
    };
    let mut out = BTreeSet::new();
    for section in SECTIONS {
        let comp = resolve(&schema["properties"][section]["additionalProperties"]);
        let Some(props) = comp["properties"].as_object() else {
            continue;
        };
        for (field, fs) in props {
            let fs = resolve(fs);
            match fs["properties"].as_object() {
                // A nested object (resources, health, placement, update...): its own fields.
                Some(inner) if fs.get("anyOf").is_none() => {
                    for sub in inner.keys() {
                        out.insert(format!("{section}.*.{field}.{sub}"));
                    }
                }
                _ => {
                    out.insert(format!("{section}.*.{field}"));
                }
            }
        }
    }
    out
}

/// Concrete set fields of an app, as (path, pattern, provider the component is pinned to):
/// `services.web.resources.cpus`.
fn set_fields(app: &bridge_core::App) -> Vec<(String, String, Option<String>)> {
    let v = serde_json::to_value(app).unwrap_or(Value::Null);
    let mut out = Vec::new();
    for section in SECTIONS {
        let Some(comps) = v[section].as_object() else {
            continue;
        };
        for (name, comp) in comps {
            let Some(fields) = comp.as_object() else {
                continue;
            };
            // A group goes with its services: pinned when they all are, to the same provider.
            let pinned = if section == "groups" {
                let members: BTreeSet<Option<String>> = app
                    .services
                    .values()
                    .filter(|s| s.group.as_deref() == Some(name.as_str()))
                    .map(|s| s.provider.map(|p| p.as_str().to_string()))
                    .collect();
                match members.into_iter().collect::<Vec<_>>().as_slice() {
                    [Some(p)] => Some(p.clone()),
                    _ => None,
                }
            } else {
                comp["provider"].as_str().map(str::to_string)
            };
            for (field, fv) in fields {
                match fv.as_object() {
                    Some(inner)
                        if [
                            "resources",
                            "health",
                            "placement",
                            "update",
                            "rollback",
                            "logging",
                            "blkio_config",
                        ]
                        .contains(&field.as_str()) =>
                    {
                        for sub in inner.keys() {
                            out.push((
                                format!("{section}.{name}.{field}.{sub}"),
                                format!("{section}.*.{field}.{sub}"),
                                pinned.clone(),
                            ));
                        }
                    }
                    _ => out.push((
                        format!("{section}.{name}.{field}"),
                        format!("{section}.*.{field}"),
                        pinned.clone(),
                    )),
                }
            }
        }
    }
    out
}

/// A ledger line covers a field when it names the field, a part of it, or what holds it.
fn covers(entry: &str, field: &str) -> bool {
    let under = |a: &str, b: &str| {
        a.len() > b.len() && a.starts_with(b) && matches!(a.as_bytes()[b.len()], b'.' | b'[')
    };
    entry == field || under(field, entry) || under(entry, field)
}

#[test]
fn every_schema_field_is_exercised_and_every_target_accounts_for_it() {
    let opts = LoadOptions {
        env: Some(HashMap::new()),
        ..LoadOptions::default()
    };
    let sinks = kitchen_sinks();
    assert!(!sinks.is_empty(), "no kitchen sinks found");
    let mut exercised = BTreeSet::new();
    let mut missing = Vec::new();
    for sink in &sinks {
        let loaded = load_file(sink, &opts);
        let valid = loaded.valid.unwrap_or_else(|| {
            panic!(
                "{} does not validate: {:?}",
                sink.display(),
                loaded.diagnostics
            )
        });
        let fields = set_fields(valid.app());
        exercised.extend(fields.iter().map(|(_, p, _)| p.clone()));
        for kind in ProviderKind::ALL {
            let t = for_provider(kind)
                .unwrap_or_else(|| panic!("no translator for {}", kind.as_str()))
                .translate(&valid);
            // A component pinned to another provider (a hybrid app) is that provider's to run.
            for (path, _, _) in fields
                .iter()
                .filter(|(_, _, p)| p.as_deref().is_none_or(|p| p == kind.as_str()))
            {
                if !t.ledger.iter().any(|e| covers(&e.field, path)) {
                    missing.push(format!(
                        "{}: {}: no ledger line for {path}",
                        sink.display(),
                        kind.as_str()
                    ));
                }
            }
        }
    }
    let schema = schema_patterns();
    let never: Vec<&String> = schema.difference(&exercised).collect();
    assert!(
        never.is_empty(),
        "schema fields no kitchen sink sets (so no test proves their fidelity): {never:?}"
    );
    assert!(
        missing.is_empty(),
        "fields dropped silently:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_compose_key_maps_to_a_schema_field_or_has_its_own_code() {
    let schema = schema_patterns();
    let service_fields: BTreeSet<String> = schema
        .iter()
        .filter_map(|p| p.strip_prefix("services.*."))
        .flat_map(|f| [f.to_string(), f.split('.').next().unwrap_or(f).to_string()])
        .collect();
    let mut problems = Vec::new();
    for (code, meaning) in bridge_core::codes::all_with_compose() {
        if !code.starts_with('C') {
            continue;
        }
        // "compose key `k`: treatment: reason"
        let mapped = meaning.contains(": mapped: ");
        if mapped && meaning.contains("mapped to ") {
            let after = meaning.rsplit("mapped to ").next().unwrap_or("");
            let targets: Vec<&str> = after
                .split(|c: char| c == ',' || c == '`' || c.is_whitespace())
                .filter(|w| !w.is_empty() && *w != "and")
                .collect();
            if targets.is_empty() || !targets.iter().any(|t| service_fields.contains(*t)) {
                problems.push(format!("{code}: {meaning}: names no neutral service field"));
            }
        } else if !mapped && meaning.split(": ").nth(2).is_none_or(str::is_empty) {
            problems.push(format!("{code}: {meaning}: reported without a reason"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // And the catalogue covers the 92 service keys of the Compose Specification.
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(peers::shared().join("schemas/compose-spec.json"))
            .unwrap_or_else(|e| panic!("shared/schemas/compose-spec.json: {e}")),
    )
    .unwrap_or(Value::Null);
    let keys = spec["definitions"]["service"]["properties"]
        .as_object()
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(keys, 92, "the spec's service keys");
    let catalogued = bridge_core::codes::all_with_compose()
        .iter()
        .filter(|(c, _)| c.len() == 4 && c.starts_with("C0"))
        .count();
    assert_eq!(
        catalogued, 92,
        "every service key of the spec has its own code"
    );
}

/// "A field a target cannot express is reported as a diagnostic": every ledger line that
/// drops a field has a warning (or error) of the same translation naming that field, a part
/// of it, or what holds it, so `render`, `plan` and `deploy` say so, not only `fidelity`.
#[test]
fn every_dropped_field_is_reported_by_render_as_a_diagnostic() {
    let opts = LoadOptions {
        env: Some(HashMap::new()),
        ..LoadOptions::default()
    };
    let mut silent = Vec::new();
    for sink in kitchen_sinks() {
        let loaded = load_file(&sink, &opts);
        let Some(valid) = loaded.valid else {
            panic!("{} does not validate", sink.display());
        };
        for kind in ProviderKind::ALL {
            let t = for_provider(kind)
                .unwrap_or_else(|| panic!("no translator for {}", kind.as_str()))
                .translate(&valid);
            for e in t
                .ledger
                .iter()
                .filter(|e| e.fidelity == bridge_translators::Fidelity::Dropped)
            {
                let reported = t
                    .diagnostics
                    .iter()
                    .any(|d| !d.path.is_empty() && covers(&d.path, &e.field));
                if !reported {
                    silent.push(format!(
                        "{}: {}: {} dropped ({}) without a diagnostic",
                        sink.display(),
                        kind.as_str(),
                        e.field,
                        e.reason
                    ));
                }
            }
        }
    }
    assert!(
        silent.is_empty(),
        "{} dropped fields only fidelity shows:\n{}",
        silent.len(),
        silent.join("\n")
    );
}
