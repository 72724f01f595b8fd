//! Issue 3 acceptance for Swarm: every object the Swarm translator renders for every example is
//! accepted by the real Docker Engine on this machine (a single-node swarm on 127.0.0.1):
//! created, inspected (the engine's stored spec must equal what bridge sent, after the engine's
//! own normalisation), and removed. No registry is reachable, so images are replaced by a local
//! busybox image and replicated services run zero replicas: this checks the specs, not the apps.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use bridge_core::{LoadOptions, load_file};
use bridge_translators::swarm::{self, SwarmApp};
use support::engine::{TEST_IMAGE, call, ensure_swarm, ensure_test_image};

/// The two sweeps publish the same ports (80, 443...) on one engine: they take turns.
static ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|d| d.ok().map(|d| d.path()))
        .flat_map(|d| [d.join("bridge.yaml"), d.join("compose.yaml")])
        .filter(|p| p.exists())
        .collect();
    out.sort();
    out
}

fn cleanup(app: &str) {
    let filter = format!("{{\"label\":[\"bridge.app={app}\"]}}");
    let enc: String = filter.bytes().map(|b| format!("%{b:02X}")).collect();
    for (list, del) in [
        ("/services", "/services"),
        ("/secrets", "/secrets"),
        ("/configs", "/configs"),
        ("/networks", "/networks"),
    ] {
        let r = call("GET", &format!("{list}?filters={enc}"), None);
        for item in r.json().as_array().cloned().unwrap_or_default() {
            if let Some(id) = item["ID"].as_str().or_else(|| item["Id"].as_str()) {
                call("DELETE", &format!("{del}/{id}"), None);
            }
        }
    }
    let r = call("GET", &format!("/volumes?filters={enc}"), None);
    for v in r.json()["Volumes"].as_array().cloned().unwrap_or_default() {
        if let Some(n) = v["Name"].as_str() {
            call("DELETE", &format!("/volumes/{n}"), None);
        }
    }
}

fn to_value<T: serde::Serialize>(t: &T) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or(serde_json::Value::Null)
}

fn create_all(s: &SwarmApp) -> Vec<String> {
    let mut errors = Vec::new();
    // Secret and config references need the engine's ids, known only once created (the driver
    // fills them in the same way at apply time).
    let mut ids: HashMap<String, String> = HashMap::new();
    for n in &s.networks {
        let r = call("POST", "/networks/create", Some(&to_value(n)));
        if r.status != 201 {
            errors.push(format!("network {}: {} {}", n.name, r.status, r.text()));
        }
    }
    for v in &s.volumes {
        let r = call("POST", "/volumes/create", Some(&to_value(v)));
        if r.status != 201 {
            errors.push(format!("volume {:?}: {} {}", v.name, r.status, r.text()));
        }
    }
    for sec in &s.secrets {
        let mut spec = to_value(&sec.spec);
        // The value is read at apply time; the test supplies a dummy one.
        spec["Data"] = serde_json::Value::String(swarm::base64(b"test-secret-value"));
        let r = call("POST", "/secrets/create", Some(&spec));
        if r.status != 201 {
            errors.push(format!(
                "secret {:?}: {} {}",
                sec.spec.name,
                r.status,
                r.text()
            ));
        }
        ids.insert(
            format!("secret/{}", sec.spec.name.clone().unwrap_or_default()),
            r.json()["ID"].as_str().unwrap_or_default().into(),
        );
    }
    for c in &s.configs {
        let mut spec = to_value(&c.spec);
        if spec.get("Data").is_none_or(|d| d.is_null()) {
            spec["Data"] = serde_json::Value::String(swarm::base64(b"test-config"));
        }
        let r = call("POST", "/configs/create", Some(&spec));
        if r.status != 201 {
            errors.push(format!(
                "config {:?}: {} {}",
                c.spec.name,
                r.status,
                r.text()
            ));
        }
        ids.insert(
            format!("config/{}", c.spec.name.clone().unwrap_or_default()),
            r.json()["ID"].as_str().unwrap_or_default().into(),
        );
    }
    for svc in &s.services {
        let mut spec = to_value(&svc.spec);
        spec["TaskTemplate"]["ContainerSpec"]["Image"] =
            serde_json::Value::String(TEST_IMAGE.into());
        for (list, id_key, name_key, kind) in [
            ("Secrets", "SecretID", "SecretName", "secret"),
            ("Configs", "ConfigID", "ConfigName", "config"),
        ] {
            if let Some(refs) = spec["TaskTemplate"]["ContainerSpec"][list].as_array_mut() {
                for r in refs {
                    let name = r[name_key].as_str().unwrap_or_default().to_string();
                    r[id_key] = serde_json::Value::String(
                        ids.get(&format!("{kind}/{name}"))
                            .cloned()
                            .unwrap_or_default(),
                    );
                }
            }
        }
        if spec["Mode"].get("Replicated").is_some() {
            spec["Mode"]["Replicated"]["Replicas"] = serde_json::json!(0);
        }
        let r = call("POST", "/services/create", Some(&spec));
        if r.status != 201 {
            errors.push(format!(
                "service {}: {} {}",
                svc.component,
                r.status,
                r.text()
            ));
            continue;
        }
        let id = r.json()["ID"].as_str().unwrap_or_default().to_string();
        let got = call("GET", &format!("/services/{id}"), None).json();
        let stored = &got["Spec"];
        // What bridge sent must be what the engine stored (the engine adds defaults only).
        for key in [
            "Name",
            "Labels",
            "EndpointSpec",
            "UpdateConfig",
            "RollbackConfig",
        ] {
            if spec.get(key).is_some_and(|v| !v.is_null())
                && !contains(
                    stored.get(key).unwrap_or(&serde_json::Value::Null),
                    &spec[key],
                )
            {
                errors.push(format!(
                    "service {}: engine stored {key} = {} for {}",
                    svc.component, stored[key], spec[key]
                ));
            }
        }
        let stored_cs = |k: &str| {
            stored["TaskTemplate"]["ContainerSpec"]
                .as_object()
                .and_then(|m| {
                    m.iter()
                        .find(|(sk, _)| sk.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v.clone())
                })
                .unwrap_or(serde_json::Value::Null)
        };
        for key in [
            "Env",
            "Args",
            "Command",
            "Mounts",
            "HealthCheck",
            "Secrets",
            "Configs",
            "Hosts",
            "DNSConfig",
            "Labels",
            "User",
            "Dir",
            "Hostname",
            "StopSignal",
            "StopGracePeriod",
            "ReadOnly",
            "Init",
            "Sysctls",
            "CapabilityAdd",
            "CapabilityDrop",
            "Ulimits",
            "Groups",
        ] {
            let sent = &spec["TaskTemplate"]["ContainerSpec"][key];
            if !sent.is_null() && !contains(&stored_cs(key), sent) {
                errors.push(format!(
                    "service {}: engine stored ContainerSpec.{key} = {} for {sent}",
                    svc.component,
                    stored_cs(key)
                ));
            }
        }
        for key in ["Resources", "RestartPolicy", "Placement"] {
            let sent = &spec["TaskTemplate"][key];
            if !sent.is_null() && !contains(&stored["TaskTemplate"][key], sent) {
                errors.push(format!(
                    "service {}: engine stored TaskTemplate.{key} = {} for {sent}",
                    svc.component, stored["TaskTemplate"][key]
                ));
            }
        }
    }
    errors
}

/// True when every field of `sent` is in `stored` with the same value (the engine may add more).
fn contains(stored: &serde_json::Value, sent: &serde_json::Value) -> bool {
    match (stored, sent) {
        // The engine decodes JSON keys case-insensitively (Go) and writes its own spelling back
        // (`HealthCheck` is stored as `Healthcheck`), so keys compare without case.
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => b.iter().all(|(k, v)| {
            v.is_null()
                || a.iter()
                    .find(|(ak, _)| ak.eq_ignore_ascii_case(k))
                    .is_some_and(|(_, av)| contains(av, v))
        }),
        (serde_json::Value::Array(a), serde_json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| contains(x, y))
        }
        (a, b) => a == b,
    }
}

/// The comparison itself can fail: a changed value is caught.
fn checked_fields() -> bool {
    let stored = serde_json::json!({"Env": ["A=1"], "Extra": 1});
    contains(&stored, &serde_json::json!({"Env": ["A=1"]}))
        && !contains(&stored, &serde_json::json!({"Env": ["A=2"]}))
}

#[test]
fn the_engine_accepts_every_rendered_swarm_object() {
    let _turn = ENGINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ensure_swarm();
    ensure_test_image();
    let opts = LoadOptions {
        env: Some(HashMap::new()),
        ..LoadOptions::default()
    };
    let mut failures = Vec::new();
    let mut services = 0;
    for f in examples() {
        let loaded = load_file(&f, &opts);
        let valid = loaded
            .valid
            .unwrap_or_else(|| panic!("{} does not validate", f.display()));
        let (s, _ledger, _diags) = swarm::build(valid.app());
        cleanup(&s.app);
        let errs = create_all(&s);
        services += s.services.len();
        cleanup(&s.app);
        failures.extend(errs.into_iter().map(|e| format!("{}: {e}", f.display())));
    }
    assert!(
        checked_fields(),
        "the comparison must look at fields the engine returns"
    );
    assert!(
        services >= 10,
        "expected the examples to hold at least 10 services, found {services}"
    );
    assert!(
        failures.is_empty(),
        "the engine refused or changed:\n{}",
        failures.join("\n")
    );
}

/// The importable compose files of the acceptance corpus, each under a unique app name.
fn corpus_apps() -> Vec<(PathBuf, bridge_core::App)> {
    let root = support::peers::corpus();
    assert!(root.is_dir(), "the corpus is missing at {}", root.display());
    let mut files: Vec<PathBuf> = Vec::new();
    for d in std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flatten()
    {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            files.push(f.path());
        }
    }
    files.sort();
    let opts = LoadOptions {
        env: Some(HashMap::new()),
        ..LoadOptions::default()
    };
    files
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let mut app = load_file(&f, &opts).valid?.into_app();
            app.name = format!("corpus{i}");
            Some((f, app))
        })
        .collect()
}

#[test]
fn the_engine_accepts_the_swarm_objects_of_every_importable_corpus_file() {
    let _turn = ENGINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ensure_swarm();
    ensure_test_image();
    let apps = corpus_apps();
    let root = support::peers::corpus();
    let mut failures = Vec::new();
    let mut services = 0;
    // One line per importable file: what the engine was sent, or why nothing was.
    let mut lines = String::new();
    for (f, app) in apps {
        let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        let (s, _ledger, diags) = swarm::build(&app);
        if diags.has_errors() {
            // Reported by the translator, nothing to create: the codes say why.
            let mut codes: Vec<&str> = diags
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.code)
                .collect();
            codes.sort_unstable();
            codes.dedup();
            lines.push_str(&format!("{rel}: not deployed {}\n", codes.join(" ")));
            continue;
        }
        cleanup(&s.app);
        // External networks exist before the app, as they would for a user: make them here.
        let external: Vec<String> = app
            .networks
            .iter()
            .filter(|(_, n)| n.external)
            .map(|(k, n)| n.name.clone().unwrap_or_else(|| k.clone()))
            .collect();
        for n in &external {
            call(
                "POST",
                "/networks/create",
                Some(
                    &serde_json::json!({"Name": n, "Driver": "overlay", "Attachable": true, "Labels": {"bridge.app": s.app}}),
                ),
            );
        }
        let errs = create_all(&s);
        services += s.services.len();
        lines.push_str(&format!(
            "{rel}: deployed {} services {} networks {} volumes {} secrets {} configs\n",
            s.services.len(),
            s.networks.len(),
            s.volumes.len(),
            s.secrets.len(),
            s.configs.len()
        ));
        cleanup(&s.app);
        failures.extend(errs.into_iter().map(|e| format!("{}: {e}", f.display())));
    }
    assert!(
        failures.is_empty(),
        "the engine refused or changed:\n{}",
        failures.join("\n")
    );
    // The exact set, by file: every importable corpus file is either deployed (its objects
    // created, read back and removed) or names the errors that keep it off the engine. Files
    // that bind project files (`./data`) are E072: the corpus holds the compose files only.
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/swarm_corpus.txt");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&golden, &lines)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", golden.display()));
        return;
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    let (w, g): (BTreeSet<&str>, BTreeSet<&str>) =
        (want.lines().collect(), lines.lines().collect());
    assert!(
        want == lines,
        "what the corpus deploys differs from {} (BLESS=1 to accept):\n{}\n{}\n({services} services sent)",
        golden.display(),
        w.difference(&g)
            .map(|l| format!("- {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        g.difference(&w)
            .map(|l| format!("+ {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
}
