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
    let app = l.app().unwrap_or_else(|| panic!("{:?}", l.diagnostics));
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

/// Found reviewing the voting-app import: renaming secret `db_password` to `db-password` moved
/// its file to /run/secrets/db-password while the app reads /run/secrets/db_password. Secret
/// names keep `_` now, and any rename keeps the path the app reads.
#[test]
fn renamed_secrets_keep_the_path_the_app_reads() {
    let l = load(
        "services:\n  db:\n    image: postgres\n    secrets: [db_password, My_Key, {source: Other, uid: '0'}]\nsecrets:\n  db_password: {environment: PW}\n  My_Key: {file: ./k}\n  Other: {file: ./o}\n",
    );
    let app = l
        .valid
        .unwrap_or_else(|| panic!("{:?}", l.diagnostics))
        .into_app();
    let refs = &app.services["db"].secrets;
    assert_eq!(refs[0].name, "db_password");
    assert_eq!(refs[0].file, None, "unchanged name, default path");
    assert_eq!(refs[1].name, "my_key");
    assert_eq!(refs[1].file.as_deref(), Some("/run/secrets/My_Key"));
    assert_eq!(refs[2].name, "other");
    assert_eq!(refs[2].file.as_deref(), Some("/run/secrets/Other"));
    assert!(app.secrets.contains_key("db_password") && app.secrets.contains_key("my_key"));
}

/// Found with the secret-path bug: a service renamed from `db_1` to `db-1` would no longer answer
/// to `db_1`, which the other containers of a compose app use. The compose name stays an alias.
#[test]
fn renamed_services_keep_their_compose_name_as_an_alias() {
    let l = load(
        "services:\n  db_1:\n    image: postgres\n  Web:\n    image: nginx\n    environment: {DB: db_1}\n",
    );
    let app = l
        .valid
        .unwrap_or_else(|| panic!("{:?}", l.diagnostics))
        .into_app();
    assert_eq!(app.services["db-1"].aliases, ["db_1"]);
    assert!(
        app.services["web"].aliases.is_empty(),
        "a change of case alone needs no alias (DNS ignores case)"
    );
}
