//! `bridge export --from gce` and `bridge export -p gce` (issue 14):
//! - the round trip: every example and every importable corpus compose file rendered to GCE,
//!   exported from the instance, disk and firewall bodies, rendered again gives the same
//!   containers on the instances (image, command, env, ports, volumes, per service); a service
//!   whose containers differ must have been reported by the export (`X001`/`X002` naming it);
//! - live, against the GCE test server (tests/gce_server): an app deployed by the binary,
//!   exported with `-p gce --app`, validates and holds the same services; its secret's value
//!   appears nowhere in the output; an instance inserted by hand (HTTP, with a
//!   `gce-container-declaration`) exported with `--instance`;
//! - bad input exits 1 naming the file and the field.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use bridge_core::codes::{EXPORT_APPROXIMATED, EXPORT_DROPPED};
use bridge_core::shell;
use bridge_translators::Translator;
use bridge_translators::gce::Gce;
use serde_json::{Value, json};
use support::gce::{PROJECT, Server, ZONE, replicated_app};
use support::peers::{self, example_and_corpus_apps, load, text};

/// Flags of bridge's `docker run` that take no value.
const BOOL_FLAGS: &[&str] = &[
    "--rm",
    "--no-healthcheck",
    "--init",
    "--read-only",
    "--privileged",
    "--tty",
    "--oom-kill-disable",
    "--interactive",
];

/// The container fields compared: image, command, env, ports, volumes.
const COMPARED: &[&str] = &["--env", "--publish", "--volume", "--mount", "--entrypoint"];

/// Per service: the distinct container field sets its instances run.
fn containers(instances: &[Value], app: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for inst in instances {
        if let Some(ud) = support::gce::metadata_value(inst, "user-data") {
            let files = peers::cloud_config_files(&ud);
            for (path, content) in files {
                let Some(svc) = path
                    .strip_prefix("/etc/bridge/")
                    .and_then(|p| p.strip_suffix(".sh"))
                    .filter(|s| !s.contains(['/', '.']))
                else {
                    continue;
                };
                let Some(line) = content
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("exec docker "))
                else {
                    continue;
                };
                let words = shell::split(line).unwrap_or_else(|e| panic!("{path}: {e}"));
                let mut args = words.iter().skip(3).map(String::as_str);
                let mut fields: Vec<String> = Vec::new();
                while let Some(a) = args.next() {
                    if a == "$@" {
                        continue;
                    }
                    if !a.starts_with("--") {
                        fields.push(format!("image {a}"));
                        fields.push(format!(
                            "command {}",
                            args.by_ref().collect::<Vec<_>>().join(" ")
                        ));
                        break;
                    }
                    if BOOL_FLAGS.contains(&a) {
                        continue;
                    }
                    let v = args.next().unwrap_or_default();
                    if COMPARED.contains(&a) {
                        fields.push(format!("{a} {v}"));
                    }
                }
                out.entry(svc.to_string())
                    .or_default()
                    .insert(fields.join("\n"));
            }
        }
        if let Some(decl) = support::gce::metadata_value(inst, "gce-container-declaration") {
            let doc = bridge_core::node::load(&decl, &bridge_core::node::Limits::default())
                .unwrap_or_else(|e| panic!("declaration: {}", e.message));
            let c = doc
                .get("spec")
                .and_then(|s| s.get("containers"))
                .and_then(|c| c.as_seq())
                .and_then(|c| c.first())
                .unwrap_or_else(|| panic!("a declaration without a container"));
            let name = c.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            let svc = name.strip_prefix(&format!("{app}-")).unwrap_or(name);
            // The whole declaration but the volumes' positional names (`vol-0`).
            let fields: Vec<&str> = decl.lines().filter(|l| !l.contains("name: vol-")).collect();
            out.entry(svc.to_string())
                .or_default()
                .insert(fields.join("\n"));
        }
    }
    out
}

fn render(app: &bridge_core::ValidApp) -> (Vec<(String, String)>, Vec<Value>, bool) {
    let t = Gce.translate(app);
    let files: Vec<(String, String)> = t
        .artifacts
        .iter()
        .filter(|a| a.path.starts_with("gce/") && a.path.ends_with(".json"))
        .map(|a| (a.path.clone(), a.content.clone()))
        .collect();
    let instances = files
        .iter()
        .filter(|(p, _)| p.starts_with("gce/instances/"))
        .map(|(p, c)| serde_json::from_str(c).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    (files, instances, t.diagnostics.has_errors())
}

#[test]
fn render_export_render_gives_the_same_containers() {
    let mut same = 0;
    let mut reported = Vec::new();
    let mut skipped = Vec::new();
    let mut declared = 0;
    for (label, app) in example_and_corpus_apps().into_iter().flat_map(|(l, a)| {
        // Each app twice: with cloud-init, and with `container_declaration` (the hosts whose
        // one service the declaration can carry are declared).
        let mut d = a.app().clone();
        d.providers
            .gce
            .get_or_insert_with(Default::default)
            .container_declaration = true;
        let v = peers::reload("declared", &d).1.valid;
        std::iter::once((l.clone(), a)).chain(v.map(|v| (format!("{l} (declared)"), v)))
    }) {
        let (files, first, errors) = render(&app);
        if first
            .iter()
            .any(|i| support::gce::metadata_value(i, "gce-container-declaration").is_some())
        {
            declared += 1;
        }
        if errors {
            skipped.push(format!("{label}: not renderable to gce"));
            continue;
        }
        if first.is_empty() {
            skipped.push(format!("{label}: no instance on gce"));
            continue;
        }
        let exported = match bridge_translators::export::gce::instances(&files, None) {
            Ok(e) => e,
            Err(d) => panic!("{label}: bridge's own instances do not export: {d:?}"),
        };
        let (yaml, again) = peers::reload("exported", &exported.app);
        let Some(valid) = again.valid else {
            let msgs: Vec<String> = again.diagnostics.iter().map(|d| d.to_string()).collect();
            // Only a reference to a component on another provider may keep it from
            // validating, and the export must have said so.
            if exported
                .diagnostics
                .iter()
                .any(|d| d.code == EXPORT_DROPPED && d.message.contains("deployed elsewhere"))
            {
                skipped.push(format!("{label}: names a component on another provider"));
                continue;
            }
            panic!(
                "{label}: the exported app does not validate:\n{}\n{yaml}",
                msgs.join("\n")
            );
        };
        let (files2, second, errors) = render(&valid);
        assert!(
            !errors,
            "{label}: the exported app does not render to gce\n{yaml}"
        );
        let name = &app.app().name;
        let (a, b) = (containers(&first, name), containers(&second, name));
        assert!(
            !a.is_empty(),
            "{label}: no containers read from the instances"
        );
        let said: Vec<&bridge_core::Diagnostic> = exported
            .diagnostics
            .iter()
            .filter(|d| d.code == EXPORT_DROPPED || d.code == EXPORT_APPROXIMATED)
            .collect();
        let mut differ = Vec::new();
        for svc in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
            if a.get(svc) != b.get(svc) {
                // No silent difference: the export named the service's script or the service.
                let named = said.iter().any(|d| {
                    d.path.contains(&format!("/etc/bridge/{svc}.sh"))
                        || d.message.contains(&format!("`{svc}`"))
                });
                assert!(
                    named,
                    "{label}: the containers of `{svc}` changed on the way back and the export did not say so\nbefore: {:?}\nafter:  {:?}\n{yaml}",
                    a.get(svc),
                    b.get(svc)
                );
                differ.push(svc.clone());
            }
        }
        // The firewall rules (the ports of declared containers and vms) come back too.
        let rules = |f: &[(String, String)]| -> BTreeSet<String> {
            f.iter()
                .filter(|(p, _)| p.starts_with("gce/firewalls/"))
                .map(|(p, c)| {
                    let mut v: Value =
                        serde_json::from_str(c).unwrap_or_else(|e| panic!("{p}: {e}"));
                    v["description"] = Value::Null;
                    v.to_string()
                })
                .collect()
        };
        let rules2 = rules(&files2);
        if rules(&files) != rules2 {
            assert!(
                said.iter().any(|d| d.message.contains("packs them again")),
                "{label}: the firewall rules changed on the way back and the export did not say so\nbefore: {:?}\nafter:  {:?}\n{yaml}",
                rules(&files),
                rules2
            );
            differ.push("firewalls".into());
        }
        // The hosts' update policies (`bridge-update`) come back too, per service.
        let updates = |v: &[Value]| -> BTreeSet<String> {
            let mut out = BTreeSet::new();
            for i in v {
                let Some(u) = support::gce::metadata_value(i, "bridge-update") else {
                    continue;
                };
                let mut u: Value = serde_json::from_str(&u).unwrap_or_else(|e| panic!("{e}"));
                let par = u["parallelism"].take();
                for (svc, n) in par.as_object().into_iter().flatten() {
                    u["health"] = Value::Null;
                    out.insert(format!("{svc} {n} {u}"));
                }
            }
            out
        };
        if updates(&first) != updates(&second) {
            assert!(
                said.iter().any(|d| d.message.contains("update")),
                "{label}: the update policies changed on the way back and the export did not say so\nbefore: {:?}\nafter:  {:?}\n{yaml}",
                updates(&first),
                updates(&second)
            );
            differ.push("bridge-update".into());
        }
        if differ.is_empty() {
            same += 1;
        } else {
            reported.push(format!("{label}: {}", differ.join(", ")));
        }
    }
    eprintln!(
        "{same} apps run the same containers after render, export, render ({declared} with declared containers); {} differ where the export said so:\n{}\nskipped:\n{}",
        reported.len(),
        reported.join("\n"),
        skipped.join("\n")
    );
    assert!(
        same >= 60,
        "only {same} apps came back with the same containers"
    );
}

#[test]
fn bad_input_exits_1_naming_file_and_field() {
    let dir = std::env::temp_dir().join(format!("bridge-export-gce-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let cases = [
        ("notjson.json", "{\"name\": ", "notjson.json"),
        (
            "noname.json",
            "{\"machineType\": \"zones/us-central1-a/machineTypes/e2-small\"}",
            "name",
        ),
        ("items.json", "{\"items\": 5}", "items"),
        (
            "disk.json",
            "{\"name\": \"d\", \"sizeGb\": \"10\"}",
            "machineType",
        ),
        (
            "what.json",
            "{\"name\": \"x\", \"colour\": \"blue\"}",
            "machineType",
        ),
        (
            "type.json",
            "{\"name\": \"x\", \"machineType\": 3, \"labels\": []}",
            "labels",
        ),
    ];
    for (file, body, field) in cases {
        let p = dir.join(file);
        std::fs::write(&p, body).unwrap_or_else(|e| panic!("{e}"));
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_bridge"))
            .args(["export", "--from", "gce"])
            .arg(&p)
            .output()
            .unwrap_or_else(|e| panic!("cannot run bridge: {e}"));
        let err = text(&o);
        assert_eq!(o.status.code(), Some(1), "{file}: {err}");
        assert!(
            err.contains(file) && err.contains(field),
            "{file}: names neither the file nor `{field}`:\n{err}"
        );
        assert!(!err.contains("panicked"), "{file}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `bridge export -p gce SELECTOR... --zone ZONE EXTRA...` against the test server.
fn gce_export(server: &Server, selector: &[&str], extra: &[&str]) -> std::process::Output {
    server
        .bridge()
        .args(["export", "-p", "gce"])
        .args(selector)
        .args(["--zone", ZONE])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn live_export_of_a_deployed_app_and_a_hand_made_instance() {
    let server = Server::start("export", 3600.0);
    let yaml = replicated_app("it-export");
    let f = server.write_app("app", &yaml);
    let o = server
        .on_app(&["deploy", "--yes"], &f)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(0), "deploy: {}", text(&o));

    // --app: what bridge deployed.
    let out = server.dir.join("exported.yaml");
    let o = gce_export(
        &server,
        &["--app", "it-export"],
        &["-o", &out.to_string_lossy()],
    );
    let err = text(&o);
    assert_eq!(o.status.code(), Some(0), "export: {err}");
    let exported = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    // The secret's value (pw.txt) is in Secret Manager, never in what the export prints.
    assert!(
        !exported.contains("file-secret-value") && !err.contains("file-secret-value"),
        "a secret value leaked:\n{exported}\n{err}"
    );
    let v = server
        .bridge()
        .args(["validate", "-f"])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        v.status.code(),
        Some(0),
        "validate: {}\n{exported}",
        text(&v)
    );
    let app = load(&out).unwrap_or_else(|| panic!("does not load:\n{exported}"));
    let a = app.app();
    assert_eq!(a.name, "it-export");
    let names: Vec<&String> = a.services.keys().collect();
    assert_eq!(names, ["db", "web"], "{exported}");
    let web = &a.services["web"];
    assert_eq!(web.image, "ghcr.io/acme/web:1.4");
    assert_eq!(web.replicas, 3, "{exported}");
    assert_eq!(
        web.ports.first().map(|p| (p.published, p.container)),
        Some((Some(80), 8000))
    );
    let db = &a.services["db"];
    assert_eq!(db.env.0.get("POSTGRES_DB").map(String::as_str), Some("app"));
    assert_eq!(
        db.secrets.first().and_then(|s| s.env.as_deref()),
        Some("POSTGRES_PASSWORD")
    );
    assert_eq!(
        db.volumes.first().and_then(|m| m.source.as_deref()),
        Some("data")
    );
    assert_eq!(
        a.volumes.get("data").and_then(|v| v.size).map(|s| s.0),
        Some(10 * 1024 * 1024 * 1024),
        "{exported}"
    );
    let gce = a
        .providers
        .gce
        .as_ref()
        .unwrap_or_else(|| panic!("no gce options:\n{exported}"));
    assert_eq!(gce.project.as_deref(), Some(PROJECT));
    // The machine type is reported, not silently taken.
    assert!(err.contains("X002") && err.contains("machineType"), "{err}");

    // --instance: an instance inserted by hand with a container declaration.
    let decl = "spec:\n  containers:\n  - name: hello\n    image: nginx:1.27\n    args: [nginx, -g, daemon off;]\n    env:\n    - name: GREETING\n      value: hi\n    volumeMounts:\n    - name: cache\n      mountPath: /cache\n  volumes:\n  - name: cache\n    emptyDir:\n      medium: Memory\n  restartPolicy: Always\n";
    let body = json!({
        "name": "handmade",
        "machineType": format!("zones/{ZONE}/machineTypes/e2-small"),
        "disks": [{"boot": true, "autoDelete": true, "initializeParams": {"sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}}],
        "networkInterfaces": [{"network": "global/networks/default"}],
        "metadata": {"items": [
            {"key": "gce-container-declaration", "value": decl},
            {"key": "ssh-keys", "value": "me:ssh-ed25519 AAAA"},
        ]},
        "canIpForward": true,
        "tags": {"items": ["hello-web"]},
    });
    let token = server.token();
    let (status, op) = server.request(
        "POST",
        &format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances"),
        Some(&token),
        Some(&body),
    );
    assert_eq!(status, 200, "insert: {op}");
    // A rule aimed at its tag, also by hand: read, and reported (the tag is no service's).
    let rule = json!({
        "name": "hello-web-8080",
        "network": "global/networks/default",
        "targetTags": ["hello-web"],
        "sourceRanges": ["0.0.0.0/0"],
        "allowed": [{"IPProtocol": "tcp", "ports": ["8080"]}],
    });
    let (status, op) = server.request(
        "POST",
        &format!("/compute/v1/projects/{PROJECT}/global/firewalls"),
        Some(&token),
        Some(&rule),
    );
    assert_eq!(status, 200, "firewall insert: {op}");
    let o = gce_export(&server, &["--instance", "handmade"], &[]);
    let err = text(&o);
    assert_eq!(o.status.code(), Some(0), "export --instance: {err}");
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    let p = server.write_app("handmade", &printed);
    let app = load(&p).unwrap_or_else(|| panic!("does not load:\n{printed}"));
    let s = app
        .app()
        .services
        .get("hello")
        .unwrap_or_else(|| panic!("no service `hello`:\n{printed}"));
    assert_eq!(s.image, "nginx:1.27");
    assert_eq!(
        s.command.as_ref().map(|c| c.0.join(" ")).as_deref(),
        Some("nginx -g daemon off;")
    );
    assert_eq!(s.env.0.get("GREETING").map(String::as_str), Some("hi"));
    assert_eq!(s.volumes.first().map(|m| m.target.as_str()), Some("/cache"));
    // What it cannot read is named: the hand-set property and the ssh key item.
    assert!(
        err.contains("canIpForward") && err.contains("tags"),
        "{err}"
    );
    assert!(
        err.contains("global/firewalls/hello-web-8080") && err.contains("`hello-web`"),
        "{err}"
    );
    assert!(
        err.contains("metadata.items[1]") && err.contains("ssh-keys"),
        "{err}"
    );
    // An instance that does not exist: exit 2, naming it; an app with no instance: exit 2,
    // naming the label looked for.
    for (selector, names) in [
        (["--instance", "nosuch"], "nosuch"),
        (["--app", "nosuch-app"], "bridge-app=nosuch-app"),
    ] {
        let o = gce_export(&server, &selector, &[]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(names), "{}", text(&o));
    }
    // --format compose from the live app: a compose file that imports back.
    let o = gce_export(&server, &["--app", "it-export"], &["--format", "compose"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let compose = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        compose.contains("ghcr.io/acme/web:1.4") && !compose.contains("file-secret-value"),
        "{compose}"
    );
}
