//! `bridge export --from heat` and `--format compose` (issue 14):
//! - every corpus Heat template (../shared/corpus/heat) either exports to a bridge.yaml that
//!   validates, or fails with exit 1 and `X003` naming the file; the outcome and the codes per
//!   file are the golden `tests/golden/export-heat.txt`;
//! - the round trip: every example and every importable corpus compose file rendered to Heat
//!   (docker mode), exported, rendered again gives the same template resource for resource; a
//!   resource that differs must have been reported by the export (`X001`/`X002` naming it), and
//!   every re-rendered template passes the real Heat engine's offline validation
//!   (`tests/validators/heat_validate.py`);
//! - dropped fields are reported by path with file:line:column, bad input fails clearly;
//! - `--format compose` writes a compose file that `bridge validate` accepts and that imports
//!   back to the same services for the fields both hold, for every source (Heat, ECS, compose).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use bridge_core::codes::{EXPORT_APPROXIMATED, EXPORT_DROPPED};
use bridge_translators::Translator;
use bridge_translators::heat::{Heat, HeatOptions};
use serde_json::Value;

#[path = "support/peers.rs"]
mod peers;
use peers::{example_and_corpus_apps, load, python, root, shared, validators, yaml_files};

fn bridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bridge"))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run bridge: {e}"));
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-export-heat-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

/// The codes of the diagnostics bridge printed, counted (`X001 x3`).
fn codes(stderr: &str) -> String {
    let mut n: BTreeMap<String, usize> = BTreeMap::new();
    for l in stderr.lines() {
        for w in l.split(|c: char| !c.is_ascii_alphanumeric()) {
            if w.len() == 4
                && w.starts_with(['X', 'E', 'W', 'C'])
                && w[1..].chars().all(|c| c.is_ascii_digit())
            {
                *n.entry(w.to_string()).or_default() += 1;
                break;
            }
        }
    }
    n.iter()
        .map(|(c, k)| format!("{c} x{k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn heat_check(files: &[PathBuf]) {
    let py = python();
    let o = Command::new(&py)
        .arg(validators().join("heat_validate.py"))
        .arg("--fill-required")
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    assert!(
        o.status.success(),
        "the Heat engine refuses a re-rendered template:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn corpus_heat_templates_export_or_fail_clearly() {
    let dir = shared().join("corpus/heat");
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    files.sort();
    assert!(
        files.len() >= 9,
        "the Heat corpus holds {} files",
        files.len()
    );
    let out = tmp("corpus");
    let mut golden = String::new();
    let mut exported = 0;
    for f in &files {
        let rel = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let yaml = out.join(format!("{exported}-{name}"));
        let (code, stdout, err) = run(bridge()
            .args(["export", "--color", "never", "--from", "heat"])
            .arg(f)
            .arg("-o")
            .arg(&yaml));
        assert!(!err.contains("panicked"), "{rel}: {err}");
        match code {
            0 => {
                let (vc, _, verr) = run(bridge().args(["validate", "-f"]).arg(&yaml));
                assert_eq!(
                    vc, 0,
                    "{rel}: the exported bridge.yaml does not validate:\n{verr}"
                );
                // Every dropped field names its place in the template.
                for l in err
                    .lines()
                    .filter(|l| l.contains("X001") || l.contains("X002"))
                {
                    assert!(
                        l.contains("is not exported") || l.contains("is approximated"),
                        "{rel}: {l}"
                    );
                }
                let positions = err.matches(&format!("{name}:")).count();
                let reports = err.matches("X001").count() + err.matches("X002").count();
                assert!(
                    positions >= reports,
                    "{rel}: {reports} reports but {positions} positions:\n{err}"
                );
                let app = bridge_core::load_file(&yaml, &bridge_core::LoadOptions::default())
                    .valid
                    .unwrap_or_else(|| panic!("{rel}: does not load"))
                    .into_app();
                golden.push_str(&format!(
                    "{rel}: exported ({} services, {} vms, {} volumes) {}\n",
                    app.services.len(),
                    app.vms.len(),
                    app.volumes.len(),
                    codes(&err)
                ));
                exported += 1;
            }
            1 => {
                assert!(stdout.is_empty(), "{rel}: wrote output on failure");
                assert!(
                    err.contains("X003") && err.contains(&name),
                    "{rel}: no X003 naming the file:\n{err}"
                );
                let first = err
                    .lines()
                    .find(|l| l.contains("X003"))
                    .unwrap_or_default()
                    .to_string();
                golden.push_str(&format!("{rel}: error {}\n", first.trim()));
            }
            c => panic!("{rel}: exit {c}:\n{err}"),
        }
    }
    assert!(exported >= 7, "only {exported} corpus templates exported");
    let gpath = root().join("tests/golden/export-heat.txt");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&gpath, &golden).unwrap_or_else(|e| panic!("{e}"));
    }
    let want = std::fs::read_to_string(&gpath)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1)", gpath.display()));
    assert_eq!(
        golden, want,
        "the outcome per corpus template changed (BLESS=1 to accept)"
    );
}

/// The template's resources with the spec hashes taken out (they hash what is compared anyway).
fn resources(v: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (k, r) in v["resources"].as_object().into_iter().flatten() {
        let mut r = r.clone();
        strip_hash(&mut r);
        out.insert(k.clone(), r);
    }
    out
}

fn strip_hash(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("bridge.spec-hash");
            if let Some(Value::String(d)) = m.get_mut("description")
                && let Some(i) = d.find(" bridge.spec-hash=")
            {
                d.truncate(i);
            }
            for x in m.values_mut() {
                strip_hash(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_hash),
        _ => {}
    }
}

/// Where two values first differ: its path and both sides (lines of a text).
fn first_diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                first_diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_diff(p, q, &format!("{path}[{i}]"))),
        (Value::String(x), Value::String(y)) if x != y => {
            let line = x.lines().zip(y.lines()).find(|(p, q)| p != q);
            Some(match line {
                Some((p, q)) => format!("{path}: line\n  - {p}\n  + {q}"),
                None => format!(
                    "{path}: {} lines vs {}",
                    x.lines().count(),
                    y.lines().count()
                ),
            })
        }
        _ if a != b => Some(format!("{path}:\n  - {a}\n  + {b}")),
        _ => None,
    }
}

/// The resource names a resource refers to (`get_resource`, `get_attr`, `depends_on`).
fn names_in(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("get_resource", Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("get_attr", Value::Array(a)) => {
                        if let Some(Value::String(s)) = a.first() {
                            out.insert(s.clone());
                        }
                    }
                    ("depends_on", Value::Array(a)) => {
                        out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
                    }
                    _ => names_in(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| names_in(x, out)),
        _ => {}
    }
}

fn template_of(t: &bridge_translators::Translation) -> Option<String> {
    t.artifacts
        .iter()
        .find(|a| a.path.starts_with("openstack/") && !a.path.ends_with("parameters.example.yaml"))
        .map(|a| a.content.clone())
}

#[test]
fn render_export_render_gives_the_same_template() {
    let out = tmp("roundtrip");
    let mut rendered = Vec::new();
    let mut same = 0;
    let mut reported = Vec::new();
    let mut skipped = Vec::new();
    for (i, (label, app)) in example_and_corpus_apps().into_iter().enumerate() {
        let heat = Heat {
            options: HeatOptions::default(),
        };
        let first = heat.translate(&app);
        if first.diagnostics.has_errors() {
            skipped.push(format!("{label}: not renderable to openstack"));
            continue;
        }
        let (stack1, _, _) = bridge_translators::heat::build(&app, &HeatOptions::default());
        let t1 = bridge_translators::heat::render_template(&stack1.template);
        if template_of(&first).as_deref() != Some(t1.as_str()) {
            panic!("{label}: build and translate disagree");
        }
        if stack1.template["resources"]
            .as_object()
            .is_none_or(|m| m.is_empty())
        {
            skipped.push(format!("{label}: nothing on openstack"));
            continue;
        }
        let file = format!("{label}.heat.yaml");
        let exported = match bridge_translators::export::heat::templates(
            &[(file.clone(), t1.clone())],
            None,
        ) {
            Ok(e) => e,
            Err(d) => panic!("{label}: bridge's own template does not export: {d:?}"),
        };
        let (yaml, again) = peers::reload("exported", &exported.app);
        let Some(valid) = again.valid else {
            // Only a reference to a component on another provider may keep it from validating,
            // and the export must have said so.
            let msgs: Vec<String> = again.diagnostics.iter().map(|d| d.to_string()).collect();
            assert!(
                exported
                    .diagnostics
                    .iter()
                    .any(|d| d.code == EXPORT_DROPPED && d.message.contains("deployed elsewhere")),
                "{label}: the exported app does not validate:\n{}\n{yaml}",
                msgs.join("\n")
            );
            skipped.push(format!("{label}: names a component on another provider"));
            continue;
        };
        let (stack2, _, _) = bridge_translators::heat::build(&valid, &HeatOptions::default());
        let t2 = bridge_translators::heat::render_template(&stack2.template);
        let (a, b) = (resources(&stack1.template), resources(&stack2.template));
        let said: Vec<String> = exported
            .diagnostics
            .iter()
            .filter(|d| d.code == EXPORT_DROPPED || d.code == EXPORT_APPROXIMATED)
            .map(|d| d.path.clone())
            .collect();
        let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let mut differ = Vec::new();
        for n in names {
            if a.get(n) != b.get(n) {
                differ.push(n.clone());
            }
        }
        if differ.is_empty() {
            same += 1;
        } else {
            // No silent difference: a resource that changed was reported, or belongs to one that
            // was (a host's security group, its volume attachment, its wait condition).
            let reported_res: BTreeSet<String> = said
                .iter()
                .filter_map(|p| p.strip_prefix("resources."))
                .map(|r| r.split(['.', '#']).next().unwrap_or(r).to_string())
                .collect();
            // A resource also counts as reported when a resource it names (its server, its
            // security group, its wait condition) was.
            // A host whose flavor changes (reported) changes the packing: the container hosts,
            // their groups, attachments and wait conditions may all come out differently.
            let repacked = said.iter().any(|p| p.ends_with(".properties.flavor"));
            let owner_reported = |n: &str| {
                if repacked && !n.starts_with("vm_") && !n.starts_with("volume_") {
                    return true;
                }
                let mut named = BTreeSet::new();
                named.insert(n.to_string());
                for side in [a.get(n), b.get(n)].into_iter().flatten() {
                    names_in(side, &mut named);
                }
                named.iter().any(|x| reported_res.contains(x))
            };
            for n in &differ {
                assert!(
                    owner_reported(n),
                    "{label}: resource `{n}` changed on the way back and the export did not say so\n{}\nreported: {said:?}\n{yaml}",
                    first_diff(
                        a.get(n).unwrap_or(&Value::Null),
                        b.get(n).unwrap_or(&Value::Null),
                        n
                    )
                    .unwrap_or_default(),
                );
            }
            reported.push(format!("{label}: {}", differ.join(", ")));
        }
        let p = out.join(format!("{i:03}.yaml"));
        std::fs::write(&p, &t2).unwrap_or_else(|e| panic!("{e}"));
        rendered.push(p);
    }
    eprintln!(
        "{same} templates identical after render, export, render; {} differ where the export reported it:\n{}\nskipped:\n{}",
        reported.len(),
        reported.join("\n"),
        skipped.join("\n")
    );
    assert!(same >= 60, "only {same} templates came back identical");
    heat_check(&rendered);
}

#[test]
fn dropped_fields_are_reported_and_bad_input_fails_clearly() {
    let out = tmp("report");
    let f = out.join("t.yaml");
    std::fs::write(
        &f,
        r#"heat_template_version: 2018-08-31
parameters:
  flavor: {type: string, default: m1.medium}
  image: {type: string}
resources:
  sg:
    type: OS::Neutron::SecurityGroup
    properties:
      rules:
      - {protocol: tcp, port_range_min: 443, port_range_max: 443}
      - {protocol: tcp, port_range_min: 1000, port_range_max: 2000}
  web:
    type: OS::Nova::Server
    properties:
      image: {get_param: image}
      flavor: {get_param: flavor}
      config_drive: true
      security_groups: [{get_resource: sg}]
  ip:
    type: OS::Neutron::FloatingIP
    properties: {floating_network: public}
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, yaml, err) = run(bridge()
        .args(["export", "--color", "never", "--from", "heat"])
        .arg(&f));
    assert_eq!(code, 0, "{err}");
    for (path, line) in [
        ("resources.web.properties.config_drive", "t.yaml:17:"),
        ("resources.ip", "t.yaml:20:"),
        ("resources.sg.properties.rules[1]", "t.yaml:11:"),
        ("resources.web.properties.image", "t.yaml:15:"),
    ] {
        assert!(
            err.contains(&format!("`{path}` ")),
            "{path} not reported:\n{err}"
        );
        assert!(err.contains(line), "{path}: no {line} position:\n{err}");
    }
    let app = bridge_core::load_str(
        &"x".into(),
        &yaml,
        Path::new("."),
        &bridge_core::LoadOptions::default(),
    )
    .valid
    .unwrap_or_else(|| panic!("not valid:\n{yaml}"))
    .into_app();
    let vm = &app.vms["web"];
    assert_eq!(
        (vm.cpus.0, vm.memory.0),
        (2000, 4096 << 20),
        "the m1.medium size"
    );
    assert_eq!(vm.ports.len(), 1, "{yaml}");
    assert_eq!(vm.ports[0].container, 443);

    for (name, text, want) in [
        ("notyaml.yaml", "resources: [\n", "notyaml.yaml:"),
        (
            "nores.yaml",
            "heat_template_version: 2018-08-31\n",
            "`resources` is missing",
        ),
        (
            "list.yaml",
            "heat_template_version: 2018-08-31\nresources: [a]\n",
            "`resources` must be a mapping",
        ),
        (
            "count.yaml",
            "heat_template_version: 2018-08-31\nresources:\n  g:\n    type: OS::Heat::ResourceGroup\n    properties:\n      count: lots\n      resource_def: {type: OS::Nova::Server, properties: {image: x, flavor: m1.small}}\n",
            "resources.g.properties.count",
        ),
    ] {
        let p = out.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        let (code, stdout, err) = run(bridge()
            .args(["export", "--color", "never", "--from", "heat"])
            .arg(&p));
        assert_eq!(code, 1, "{name}: {err}");
        assert!(stdout.is_empty(), "{name}: wrote output: {stdout}");
        assert!(err.contains("X003"), "{name}: no X003:\n{err}");
        assert!(err.contains(want) && err.contains(name), "{name}:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The fields compose holds, per service, as the neutral app has them.
fn compose_fields(app: &bridge_core::model::App) -> BTreeMap<String, Value> {
    app.services
        .iter()
        .map(|(n, s)| {
            // compose's depends_on is a mapping: its order is not kept.
            let mut s = s.clone();
            s.depends_on.sort_by(|a, b| a.service.cmp(&b.service));
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            if let Some(m) = v.as_object_mut() {
                for k in ["group", "provider"] {
                    m.remove(k);
                }
                // aliases ride on the `default` network in compose (reported X002)
                if m.get("networks") == Some(&serde_json::json!(["default"]))
                    && !s.aliases.is_empty()
                {
                    m.remove("networks");
                }
                m.remove("placement");
                // compose has no env secrets
                if let Some(Value::Array(list)) = m.get_mut("secrets") {
                    list.retain(|x| x.get("env").is_none_or(Value::is_null));
                    if list.is_empty() {
                        m.remove("secrets");
                    }
                }
            }
            (n.clone(), v)
        })
        .collect()
}

#[test]
fn compose_format_imports_back_for_every_source() {
    let out = tmp("compose");
    let heat = shared().join("corpus/heat/heat-templates");
    let ecs = shared().join("corpus/ecs/aws-samples");
    let mut sources: Vec<(String, Vec<String>, PathBuf)> = Vec::new();
    sources.push((
        "heat zun_webapp.yaml".into(),
        vec!["--from".into(), "heat".into()],
        heat.join("zun_webapp.yaml"),
    ));
    // A template of vms only: compose holds no vms, so there is no compose file to write.
    let (code, stdout, err) = run(bridge()
        .args([
            "export", "--color", "never", "--format", "compose", "--from", "heat",
        ])
        .arg(heat.join("hello_world.yaml")));
    assert_eq!(code, 1, "{err}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        err.contains("`vms.server` is not written to compose"),
        "{err}"
    );
    let mut tds: Vec<PathBuf> = std::fs::read_dir(&ecs)
        .unwrap_or_else(|e| panic!("{}: {e}", ecs.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    tds.sort();
    for f in tds {
        sources.push((
            format!("ecs {}", f.display()),
            vec!["--from".into(), "ecs-task-def".into()],
            f,
        ));
    }
    // bridge's own Heat render of examples (services, secrets, volumes, a vm).
    for ex in [
        "02-env-and-secrets",
        "03-volumes",
        "04-ports-and-health",
        "05-sidecar-group",
        "12-voting-app",
    ] {
        let app = load(&root().join("examples").join(ex).join("bridge.yaml"))
            .unwrap_or_else(|| panic!("{ex}"));
        let t = Heat::default().translate(&app);
        let p = out.join(format!("{ex}.heat.yaml"));
        std::fs::write(&p, template_of(&t).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        sources.push((
            format!("heat {ex}"),
            vec!["--from".into(), "heat".into()],
            p,
        ));
    }
    sources.push((
        "compose voting app".into(),
        vec!["--from".into(), "compose".into()],
        root().join("examples/08-compose-voting/compose.yaml"),
    ));
    for (i, (label, from, src)) in sources.iter().enumerate() {
        let b = out.join(format!("{i}.bridge.yaml"));
        let c = out.join(format!("{i}.compose.yaml"));
        let (code, _, err) = run(bridge()
            .args(["export", "--color", "never"])
            .args(from)
            .arg(src)
            .arg("-o")
            .arg(&b));
        assert_eq!(code, 0, "{label}: {err}");
        let (code, _, err) = run(bridge()
            .args(["export", "--color", "never", "--format", "compose"])
            .args(from)
            .arg(src)
            .arg("-o")
            .arg(&c));
        assert_eq!(code, 0, "{label}: --format compose failed:\n{err}");
        let text = std::fs::read_to_string(&c).unwrap_or_default();
        assert!(
            !text.contains("bridge: v1"),
            "{label}: not a compose file:\n{text}"
        );
        let (code, _, verr) = run(bridge().args(["validate", "-f"]).arg(&c));
        assert_eq!(
            code, 0,
            "{label}: the compose file does not validate:\n{verr}\n{text}"
        );
        let opts = bridge_core::LoadOptions::default();
        let want = bridge_core::load_file(&b, &opts)
            .valid
            .unwrap_or_else(|| panic!("{label}: bridge.yaml"))
            .into_app();
        let got = bridge_core::load_file(&c, &opts)
            .valid
            .unwrap_or_else(|| panic!("{label}: compose"))
            .into_app();
        assert_eq!(want.name, got.name, "{label}: name");
        assert_eq!(
            compose_fields(&want),
            compose_fields(&got),
            "{label}: services differ after compose\n{text}"
        );
        // What compose cannot hold was said.
        for (n, s) in &want.services {
            if s.group.is_some() {
                assert!(
                    err.contains(&format!("services.{n}.group")),
                    "{label}: group not reported:\n{err}"
                );
            }
        }
        for n in want.vms.keys() {
            assert!(
                err.contains(&format!("`vms.{n}`")),
                "{label}: vm {n} not reported:\n{err}"
            );
        }
        assert_eq!(
            want.volumes.keys().collect::<Vec<_>>(),
            got.volumes.keys().collect::<Vec<_>>(),
            "{label}: volumes"
        );
        assert_eq!(
            want.secrets.keys().collect::<Vec<_>>(),
            got.secrets.keys().collect::<Vec<_>>(),
            "{label}: secrets"
        );
    }
}

/// A health-checked group's replicas are separate servers (`host_pair_0`, `host_pair_1`): the
/// export reads them back as one group `pair` of 2 replicas, and rendering that again gives
/// the same template.
#[test]
fn separate_servers_of_a_health_checked_group_export_as_one_group() {
    let dir = tmp("family");
    let f = dir.join("bridge.yaml");
    std::fs::write(
        &f,
        "bridge: v1\nname: fam\ngroups:\n  pair: {}\nservices:\n  web:\n    image: busybox:1\n    group: pair\n    replicas: 2\n    health: {test: [CMD, 'true']}\n    resources: {memory: 700MiB}\n  side:\n    image: busybox:1\n    group: pair\n    replicas: 2\n    resources: {memory: 700MiB}\nproviders:\n  openstack: {flavor: m1.small}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let app = load(&f).unwrap_or_else(|| panic!("invalid test app"));
    let (stack, _, _) = bridge_translators::heat::build(&app, &HeatOptions::default());
    let hosts: Vec<&str> = stack.hosts.iter().map(|h| h.resource.as_str()).collect();
    assert_eq!(hosts, ["host_pair_0", "host_pair_1"]);
    let t1 = bridge_translators::heat::render_template(&stack.template);
    let exported = bridge_translators::export::heat::templates(&[("fam.yaml".into(), t1)], None)
        .unwrap_or_else(|d| panic!("{d:?}"));
    for n in ["web", "side"] {
        let s = &exported.app.services[n];
        assert_eq!(s.group.as_deref(), Some("pair"), "{n}");
        assert_eq!(s.replicas, 2, "{n}");
    }
    assert_eq!(exported.app.groups.keys().collect::<Vec<_>>(), ["pair"]);
    let (yaml, again) = peers::reload("exported", &exported.app);
    let valid = again
        .valid
        .unwrap_or_else(|| panic!("{:?}\n{yaml}", again.diagnostics));
    let (stack2, _, _) = bridge_translators::heat::build(&valid, &HeatOptions::default());
    let (a, b) = (resources(&stack.template), resources(&stack2.template));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{yaml}"
    );
}
