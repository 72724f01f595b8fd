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

/// Nothing is filtered silently (issue 11): for every example and every default provider, each
/// component lands on exactly one provider, the translator of that provider carries it (its
/// `image` has a ledger line there) and no other translator does; where it cannot land (a VM
/// with Swarm as the default) the partition says so, naming it.
#[test]
fn every_component_of_every_example_lands_in_exactly_one_part() {
    use bridge_core::model::ProviderKind;
    use bridge_core::partition::{Component, Partition};
    let opts = LoadOptions {
        env: Some(Default::default()),
        ..LoadOptions::default()
    };
    let none = std::collections::BTreeMap::new();
    let mut checked = 0;
    for f in examples() {
        let Some(valid) = load_file(&f, &opts).valid else {
            panic!("{} did not validate", f.display());
        };
        let app = valid.app();
        let all: Vec<Component> = app
            .services
            .keys()
            .map(|n| Component::Service(n.clone()))
            .chain(app.vms.keys().map(|n| Component::Vm(n.clone())))
            .collect();
        for default in ProviderKind::ALL {
            let part = match Partition::new(&valid, Some(default)) {
                Ok(p) => p,
                Err(d) => {
                    assert!(
                        default == ProviderKind::Swarm
                            && d.0
                                .iter()
                                .all(|x| x.path.starts_with("vms.") && x.is_error()),
                        "{} on {default:?}: {d:?}",
                        f.display()
                    );
                    continue;
                }
            };
            assert_eq!(
                part.placement().len(),
                all.len(),
                "{}: not every component is placed",
                f.display()
            );
            for c in &all {
                let Some(on) = part.provider_of(c) else {
                    panic!("{}: {c} is not placed", f.display());
                };
                for q in part.providers() {
                    let t = bridge_translators::for_provider(q)
                        .unwrap_or_else(|| panic!("no translator for {q:?}"))
                        .translate(&part.part(q, &none));
                    let carried = t.ledger.iter().any(|l| l.field == format!("{c}.image"));
                    assert_eq!(
                        carried,
                        q == on,
                        "{}: {c} runs on {on:?}, but the {q:?} translator {} it",
                        f.display(),
                        if carried {
                            "also carries"
                        } else {
                            "does not carry"
                        }
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} partitions checked");
}
