//! Regression tests, each named after what broke. Fuzz crashes land here too, input inline.

use std::path::Path;
use std::sync::Arc;

use bridge_core::units::Cpus;
use bridge_core::{LoadOptions, load_str};

fn load(text: &str) -> bridge_core::Loaded {
    let name: Arc<str> = "regression.yaml".into();
    let opts = LoadOptions {
        env: Some(Default::default()),
        ..LoadOptions::default()
    };
    load_str(&name, text, Path::new("."), &opts)
}

/// Found by the compose round-trip property: `2.047 * 1000.0` is 2047.0000000000002 in floating
/// point, which was rounded up to 2.048 cpus.
#[test]
fn compose_cpus_are_read_as_exact_decimals() {
    let l = load(
        "services:\n  a:\n    image: a\n    deploy: {resources: {limits: {cpus: '2.047'}}}\n    cpus: 0.1\n",
    );
    let app = l
        .valid
        .unwrap_or_else(|| panic!("{:?}", l.diagnostics))
        .into_app();
    assert_eq!(app.services["a"].resources.cpus, Some(Cpus(2047)));
    let l = load("services:\n  a:\n    image: a\n    cpus: 0.0001\n");
    let app = l.app.unwrap_or_else(|| panic!("{:?}", l.diagnostics));
    assert_eq!(
        app.services["a"].resources.cpus,
        Some(Cpus(1)),
        "more than three decimals round up"
    );
    assert!(
        l.diagnostics.iter().any(|d| d.code == "W102"),
        "rounding is reported"
    );
}
