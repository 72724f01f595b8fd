//! `node.role` constraints (`node.role == manager`, common in swarm stacks): kept as they are on
//! Swarm, whose nodes have roles; a warning (never an error) on GCE, OpenStack and ECS, whose
//! hosts have none, with the constraint left out of the placement.

use std::path::Path;
use std::sync::Arc;

use bridge_core::load::{LoadOptions, load_str};
use bridge_core::model::ProviderKind;
use bridge_core::{Severity, ValidApp};
use bridge_translators::{Fidelity, Translation, for_provider};

const APP: &str = "bridge: v1\nname: roles\nservices:\n  web:\n    image: nginx:1.27\n    replicas: 2\n    placement: {constraints: ['node.role == manager', 'node.labels.tier == front']}\n  db:\n    image: postgres:16\n";

fn app() -> ValidApp {
    let loaded = load_str(
        &Arc::from("roles.yaml"),
        APP,
        Path::new("."),
        &LoadOptions::default(),
    );
    loaded
        .valid
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics))
}

fn translate(kind: ProviderKind) -> Translation {
    let Some(t) = for_provider(kind) else {
        panic!("no translator for {kind:?}")
    };
    t.translate(&app())
}

const AT: &str = "services.web.placement.constraints[0]";

/// The diagnostics about the node.role constraint, as (severity, code).
fn about_role(t: &Translation) -> Vec<(Severity, &'static str, String)> {
    t.diagnostics
        .iter()
        .filter(|d| d.path == AT || d.path == "services.web.placement.constraints")
        .map(|d| (d.severity, d.code, d.message.clone()))
        .collect()
}

#[test]
fn gce_warns_and_places_the_rest() {
    let t = translate(ProviderKind::Gce);
    assert!(
        !t.diagnostics.has_errors(),
        "node.role is no error on GCE: {:?}",
        t.diagnostics
    );
    let d = about_role(&t);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].0, d[0].1), (Severity::Warning, "W206"));
    assert!(
        d[0].2.contains("gce hosts have no swarm node roles"),
        "{}",
        d[0].2
    );
    // The label constraint still holds: web's hosts carry the label.
    let placement = t
        .artifacts
        .iter()
        .find(|a| a.path.ends_with("placement.txt"))
        .map(|a| a.content.clone())
        .unwrap_or_default();
    let web: Vec<&str> = placement
        .lines()
        .filter(|l| l.contains("service web"))
        .collect();
    assert_eq!(web.len(), 2, "{placement}");
    assert!(
        web.iter().all(|l| l.contains("labels tier=front")),
        "{placement}"
    );
    let l = t.ledger.iter().find(|e| e.field == AT);
    assert!(
        matches!(l.map(|e| &e.fidelity), Some(Fidelity::Dropped)),
        "{l:?}"
    );
}

#[test]
fn openstack_warns() {
    let t = translate(ProviderKind::Openstack);
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    let d = about_role(&t);
    assert!(!d.is_empty(), "a warning about the constraints");
    assert!(d.iter().all(|(s, _, _)| *s == Severity::Warning), "{d:?}");
}

#[test]
fn ecs_warns() {
    let t = translate(ProviderKind::Aws);
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    let d = about_role(&t);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, Severity::Warning);
}

#[test]
fn swarm_keeps_it() {
    let t = translate(ProviderKind::Swarm);
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    assert!(about_role(&t).is_empty(), "{:?}", t.diagnostics);
    assert!(
        t.artifacts
            .iter()
            .any(|a| a.content.contains("node.role == manager")),
        "the swarm spec keeps the constraint"
    );
}
