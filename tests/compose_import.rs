//! Compose import, end to end: small compose files under `tests/fixtures/compose/` are loaded and
//! their neutral output and diagnostics compared with `<fixture>.expected` beside them
//! (regenerate with `BLESS=1 cargo test --test compose_import`); the diagnostic codes of each are
//! also asserted here, so a blessed golden cannot hide a lost diagnostic.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use bridge_core::{LoadOptions, Loaded, load_file};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose")
}

/// The process environment the fixtures see.
fn env() -> HashMap<String, String> {
    HashMap::from([
        ("PLAIN_VAR".to_string(), "from-process".to_string()),
        ("FROM_HOST".to_string(), "host-value".to_string()),
        ("EMPTY_VAR".to_string(), String::new()),
        ("HOME".to_string(), "/home/user".to_string()),
    ])
}

fn load(name: &str, profiles: &[&str]) -> Loaded {
    let opts = LoadOptions {
        env: Some(env()),
        profiles: profiles.iter().map(|s| s.to_string()).collect(),
        skip_validation: true,
        ..LoadOptions::default()
    };
    load_file(&dir().join(name), &opts)
}

fn render(l: &Loaded) -> String {
    let root = format!("{}/", dir().display());
    let mut out = String::from("# diagnostics\n");
    for d in l.diagnostics.iter() {
        let file = d
            .file
            .as_deref()
            .map(|f| f.replace(&root, ""))
            .unwrap_or_default();
        let at = d
            .span
            .map(|s| format!("{}:{}", s.line, s.col))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}[{}] {file}:{at} {}: {}",
            d.severity, d.code, d.path, d.message
        ));
        if let Some(h) = &d.hint {
            out.push_str(&format!(" (hint: {h})"));
        }
        out.push('\n');
    }
    out.push_str("# app\n");
    match l.app() {
        Some(app) => match bridge_core::emit::to_yaml(app) {
            Ok(y) => out.push_str(&y),
            Err(e) => panic!("{e}"),
        },
        None => out.push_str("(none)\n"),
    }
    out
}

fn codes(l: &Loaded) -> Vec<&'static str> {
    let set: BTreeSet<&'static str> = l.diagnostics.iter().map(|d| d.code).collect();
    set.into_iter().collect()
}

/// Compare with the golden and check the exact set of codes.
fn check(name: &str, profiles: &[&str], want_codes: &[&str]) -> Loaded {
    let l = load(name, profiles);
    let got = render(&l);
    let golden = dir().join(format!("{name}.expected"));
    if std::env::var_os("BLESS").is_some() {
        if let Err(e) = std::fs::write(&golden, &got) {
            panic!("{e}");
        }
    } else {
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        assert_eq!(
            got,
            want,
            "{name} differs from {} (BLESS=1 to accept)",
            golden.display()
        );
    }
    assert_eq!(codes(&l), want_codes, "codes of {name}");
    l
}

fn svc<'a>(l: &'a Loaded, name: &str) -> &'a bridge_core::model::Service {
    match l.app().and_then(|a| a.services.get(name)) {
        Some(s) => s,
        None => panic!("no service {name}"),
    }
}

#[test]
fn interpolation_and_dotenv() {
    let l = check("interp/compose.yaml", &[], &["W101"]);
    let web = svc(&l, "web");
    let env = &web.env.0;
    assert_eq!(web.image, "nginx:1.27");
    assert_eq!(env["FROM_DOTENV"], "from dotenv");
    // the process environment wins over .env
    assert_eq!(env["PLAIN"], "from-process");
    assert_eq!(env["EMPTY_DEFAULT"], "fallback");
    assert_eq!(env["UNSET_DASH"], "");
    assert_eq!(env["ALT"], "alternative");
    assert_eq!(env["LITERAL"], "$HOME and ${NOT_A_VAR}");
    assert_eq!(env["MISSING"], "");
    assert_eq!(env["NESTED"], "from-process-nested");
    assert_eq!(web.ports[0].published, Some(8080));
    assert_eq!(web.replicas, 3);
    // one warning per unset variable, at its first use
    let w: Vec<_> = l.diagnostics.iter().filter(|d| d.code == "W101").collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].path, "services.web.environment.MISSING");
    assert_eq!(l.app().map(|a| a.name.as_str()), Some("shop"));
}

#[test]
fn anchors_merge_keys_and_extensions() {
    let l = check("anchors.yaml", &[], &[]);
    for s in ["api", "worker"] {
        let s = svc(&l, s);
        assert_eq!(s.restart_max_attempts, Some(5));
        assert_eq!(
            s.logging.as_ref().and_then(|l| l.driver.as_deref()),
            Some("json-file")
        );
    }
    assert_eq!(svc(&l, "worker").env.0.len(), 2);
}

#[test]
fn short_and_long_forms() {
    let l = check("forms.yaml", &[], &["W101", "W102"]);
    let web = svc(&l, "web");
    assert_eq!(web.ports.len(), 8, "ranges are expanded");
    assert_eq!(web.expose, vec![3000, 4000, 4001, 5000]);
    assert_eq!(
        web.env.0.get("FROM_HOST").map(String::as_str),
        Some("host-value")
    );
    assert!(!web.env.0.contains_key("NOT_IN_HOST"));
    assert_eq!(web.resources.gpus, Some(2));
    assert_eq!(web.secrets[1].mode, Some(0o440));
    assert_eq!(web.secrets[1].file.as_deref(), Some("/run/secrets/api.key"));
    let db = svc(&l, "db");
    assert_eq!(
        db.resources.cpus.map(|c| c.to_string()).as_deref(),
        Some("1.5")
    );
    assert_eq!(svc(&l, "cache").replicas, 2);
}

#[test]
fn profiles_leave_services_out() {
    let l = check("profiles.yaml", &[], &["W103"]);
    let app = l.app().unwrap_or_else(|| panic!("no app"));
    assert_eq!(app.services.keys().collect::<Vec<_>>(), ["web"]);
    assert!(svc(&l, "web").depends_on.is_empty());
    let l = load("profiles.yaml", &["debug"]);
    let app = l.app().unwrap_or_else(|| panic!("no app"));
    assert_eq!(app.services.keys().collect::<Vec<_>>(), ["debugger", "web"]);
    assert_eq!(svc(&l, "web").depends_on.len(), 1);
}

#[test]
fn extends_same_file_and_other_file() {
    let l = check("extends/compose.yaml", &[], &[]);
    let web = svc(&l, "web");
    assert_eq!(web.image, "acme/base:1");
    assert_eq!(
        web.env
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        ["A=1", "B=20", "C=30"]
    );
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.command.as_ref().map(|c| c.0.len()), Some(2));
    let remote = svc(&l, "remote");
    assert_eq!(remote.image, "acme/worker:2");
    assert_eq!(
        remote.env.0.get("QUEUE").map(String::as_str),
        Some("default")
    );
    assert_eq!(remote.labels.len(), 2);
    assert_eq!(remote.volumes[0].source.as_deref(), Some("./common/data"));
}

#[test]
fn extends_cycles_and_missing_bases() {
    check("extends_cycle.yaml", &[], &["E105"]);
}

#[test]
fn network_mode_service_makes_a_group() {
    let l = check("network_mode.yaml", &[], &["C151"]);
    for s in ["vpn", "torrent", "sidecar"] {
        assert_eq!(svc(&l, s).group.as_deref(), Some("vpn"), "{s}");
    }
    let app = l.app().unwrap_or_else(|| panic!("no app"));
    assert_eq!(app.groups.keys().collect::<Vec<_>>(), ["vpn"]);
    check("network_none.yaml", &[], &["E106"]);
}

#[test]
fn build_without_image_is_an_error_with_a_hint() {
    let l = check("build_no_image.yaml", &[], &["C004", "E101", "E108"]);
    let e = l
        .diagnostics
        .iter()
        .find(|d| d.code == "E101")
        .unwrap_or_else(|| panic!("no E101"));
    assert_eq!(e.path, "services.app.build");
    assert_eq!(e.span.map(|s| (s.line, s.col)), Some((3, 12)));
    assert_eq!(
        e.hint.as_deref(),
        Some("add `image:` naming the image your CI builds and pushes")
    );
}

#[test]
fn required_variable_is_an_error_at_its_value() {
    let l = check("required_var.yaml", &[], &["E102", "E103"]);
    let e = l
        .diagnostics
        .iter()
        .find(|d| d.code == "E102")
        .unwrap_or_else(|| panic!("no E102"));
    assert_eq!(e.path, "services.db.environment.POSTGRES_PASSWORD");
    assert_eq!(e.span.map(|s| s.line), Some(5));
    assert!(e.message.contains("need it"), "{}", e.message);
}

#[test]
fn names_become_dns_labels_and_references_follow() {
    let l = check("names.yaml", &[], &["E028", "W102"]);
    let web = svc(&l, "web-1");
    assert_eq!(web.depends_on[0].service, "api-svc");
    assert_eq!(web.links[0].service, "api-svc");
    assert_eq!(web.volumes[0].source.as_deref(), Some("static-files"));
    // Secret names keep `_`; the rename (upper case) keeps the path the app reads.
    assert_eq!(web.secrets[0].name, "tls_key");
    assert_eq!(web.secrets[0].file.as_deref(), Some("/run/secrets/tls_KEY"));
    assert_eq!(web.networks, ["front-net"]);
    let app = l.app().unwrap_or_else(|| panic!("no app"));
    assert_eq!(app.name, "my-shop");
    assert_eq!(app.volumes["old-data"].name.as_deref(), Some("old_data"));
}

#[test]
fn unsupported_keys_are_reported_with_their_own_codes() {
    check(
        "reported.yaml",
        &[],
        &[
            "C011", "C024", "C070", "C101", "C102", "C111", "C115", "C130", "C201", "C221", "E010",
            "W102", "W104",
        ],
    );
}

#[test]
fn wrong_types_are_diagnostics_at_the_value() {
    let l = check("types.yaml", &[], &["E011", "E013", "E014", "E015", "E017"]);
    let e = l
        .diagnostics
        .iter()
        .find(|d| d.path == "services.web.ports")
        .unwrap_or_else(|| panic!("no ports error"));
    assert_eq!(e.code, "E011");
    assert_eq!(e.span.map(|s| (s.line, s.col)), Some((4, 12)));
}

#[test]
fn source_map_points_into_the_compose_file() {
    use bridge_core::compose::{ImportOptions, import};
    let text = "services:\n  web_1:\n    image: nginx\n    ports:\n      - \"80:80\"\n      - \"8000-8001:9000-9001\"\n";
    let root = match bridge_core::node::load(text, &Default::default()) {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    let mut sources = Default::default();
    let imp = import(
        &root,
        &"c.yaml".into(),
        Path::new("."),
        &ImportOptions {
            default_name: "x".into(),
            ..Default::default()
        },
        &mut sources,
    );
    let at = |p: &str| imp.source_map.locate(p).map(|s| (s.line, s.col));
    assert_eq!(at("services.web-1"), Some((2, 3)));
    assert_eq!(at("services.web-1.image"), Some((3, 12)));
    assert_eq!(at("services.web-1.ports[0]"), Some((5, 9)));
    assert_eq!(at("services.web-1.ports[2]"), Some((6, 9)));
}

/// `pull_refresh_after` becomes a pull at every start (approximated, at its line), except beside
/// a policy that never refreshes, where it is reported as not carried and the policy kept.
#[test]
fn pull_refresh_after_becomes_always_unless_the_policy_says_otherwise() {
    let one = |body: &str| {
        let text = format!("services:\n  web:\n    image: nginx:1.27\n{body}");
        let l = bridge_core::load_str(
            &std::sync::Arc::from("compose.yaml"),
            &text,
            Path::new("."),
            &LoadOptions::default(),
        );
        let policy = l
            .app()
            .and_then(|a| a.services.get("web"))
            .and_then(|s| s.pull_policy);
        let d = l
            .diagnostics
            .iter()
            .find(|d| d.path == "services.web.pull_refresh_after")
            .map(|d| (d.code, d.span.map(|s| (s.line, s.col)), d.message.clone()))
            .unwrap_or_else(|| panic!("{:?}", l.diagnostics));
        (policy, d)
    };
    use bridge_core::model::PullPolicy;
    let (p, (code, at, msg)) = one("    pull_refresh_after: 1h\n");
    assert_eq!(p, Some(PullPolicy::Always));
    assert_eq!((code, at), ("C070", Some((4, 5))));
    assert!(msg.contains("is approximated"), "{msg}");
    let (p, (code, at, msg)) = one("    pull_policy: never\n    pull_refresh_after: 1h\n");
    assert_eq!(p, Some(PullPolicy::Never));
    assert_eq!((code, at), ("C070", Some((5, 5))));
    assert!(msg.contains("is not carried"), "{msg}");
    // A malformed duration is an error at the value.
    let (_, (code, at, _)) = one("    pull_refresh_after: soon\n");
    assert_ne!(code, "C070");
    assert_eq!(at, Some((4, 25)));
}
