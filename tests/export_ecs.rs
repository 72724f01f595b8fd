//! `bridge export --from ecs-task-def`: every corpus task definition (../shared/corpus/ecs)
//! either exports or fails clearly; the exported bridge.yaml validates and renders back to task
//! definitions that botocore's ECS model (tests/validators/ecs_validate.py) accepts, with the
//! mapped fields (image, ports, env, cpu/memory, command, health check) unchanged; fields bridge
//! cannot read back are reported by path; and every example's and importable corpus compose
//! file's ECS render exports and renders to the same task definition fields (the round trip,
//! issue 14; address references to vms the task definitions lack are reported and completed
//! from the original), checked by botocore's model again.

use std::path::PathBuf;
use std::process::Command;

use bridge_translators::Translator;
use bridge_translators::ecs::Ecs;
use serde_json::Value;

#[path = "support/peers.rs"]
mod peers;
use peers::{load, python, root, shared, validators};

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
    let d = std::env::temp_dir().join(format!("bridge-export-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

/// The fields export promises to carry, per container, as the task definition holds them.
fn mapped(c: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for k in [
        "name",
        "image",
        "command",
        "entryPoint",
        "environment",
        "cpu",
        "memory",
        "memoryReservation",
        "healthCheck",
        "links",
        "dependsOn",
        "mountPoints",
        "secrets",
        "essential",
        "user",
        "workingDirectory",
        "dockerLabels",
    ] {
        if let Some(v) = c.get(k) {
            // An empty environment is no environment.
            if v.as_array().is_some_and(|a| a.is_empty()) {
                continue;
            }
            out.insert(k.into(), v.clone());
        }
    }
    let ports: Vec<Value> = c
        .get("portMappings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| {
                    serde_json::json!({
                        "containerPort": p["containerPort"],
                        "protocol": p.get("protocol").cloned().unwrap_or("tcp".into()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if !ports.is_empty() {
        out.insert("portMappings".into(), Value::Array(ports));
    }
    Value::Object(out)
}

fn containers(td: &Value) -> Vec<Value> {
    let mut v: Vec<Value> = td["containerDefinitions"]
        .as_array()
        .map(|a| a.iter().map(mapped).collect())
        .unwrap_or_default();
    v.sort_by_key(|c| c["name"].as_str().unwrap_or_default().to_string());
    v
}

/// The late-bound secret ARNs (`${secrets.NAME.arn}`) filled in as the driver fills them once
/// it has created the secret (as `tests/translate_ecs.rs` does).
fn fill_secret_arns(content: &str) -> String {
    let mut out = String::new();
    let mut rest = content;
    while let Some(at) = rest.find("${secrets.") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + "${secrets.".len()..];
        let Some(end) = tail.find(".arn}") else {
            out.push_str(&rest[at..]);
            return out;
        };
        out.push_str(&format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/{}-AbCdEf",
            &tail[..end]
        ));
        rest = &tail[end + ".arn}".len()..];
    }
    out.push_str(rest);
    out
}

fn ecs_check(files: &[String]) {
    let py = python();
    let mut args = vec![
        validators().join("ecs_validate.py").display().to_string(),
        "--shape".to_string(),
        "RegisterTaskDefinitionRequest".to_string(),
    ];
    args.extend(files.iter().cloned());
    let o = Command::new(&py)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    assert!(
        o.status.success(),
        "botocore's ECS model refuses a re-rendered task definition:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn corpus_task_definitions_export_validate_and_render_back() {
    let dir = shared().join("corpus/ecs/aws-samples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the ECS corpus is missing at {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 14, "the corpus holds 14 task definitions");
    let out = tmp("corpus");
    let mut rendered = Vec::new();
    for f in &files {
        let stem = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let yaml = out.join(format!("{stem}.yaml"));
        let (code, _, err) = run(bridge()
            .args(["export", "--color", "never", "--from", "ecs-task-def"])
            .arg(f)
            .arg("-o")
            .arg(&yaml));
        assert_eq!(code, 0, "{}: export failed:\n{err}", f.display());
        let (code, _, err) = run(bridge().args(["validate", "-f"]).arg(&yaml));
        assert_eq!(
            code, 0,
            "{stem}: the exported bridge.yaml does not validate:\n{err}"
        );
        let rdir = out.join(format!("{stem}-render"));
        // A task definition names no region (render needs one for awslogs-region, T226): the
        // environment gives it, as a user's AWS_REGION would.
        let (code, _, err) = run(bridge()
            .env("AWS_REGION", "us-east-1")
            .args(["render", "-p", "aws", "-f"])
            .arg(&yaml)
            .arg("-o")
            .arg(&rdir));
        assert_eq!(code, 0, "{stem}: render -p aws failed:\n{err}");
        let tds: Vec<PathBuf> = std::fs::read_dir(rdir.join("aws/task-definitions"))
            .unwrap_or_else(|e| panic!("{stem}: no task definitions rendered: {e}"))
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(tds.len(), 1, "{stem}: one task definition in, one out");
        let original: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let back: Value =
            serde_json::from_str(&std::fs::read_to_string(&tds[0]).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{stem}: {e}"));
        // Container names become DNS labels; everything else mapped is the same.
        let mut want = containers(&original);
        for c in &mut want {
            if let Some(n) = c["name"].as_str() {
                c["name"] = bridge_translators::export::dns_label(n).into();
            }
            // A non-essential container is `restart: never`; ECS's default is essential.
            if c.get("essential").is_none() {
                c["essential"] = true.into();
            }
        }
        let got = containers(&back);
        for (w, g) in want.iter().zip(&got) {
            for (k, v) in w.as_object().into_iter().flatten() {
                // cpu/memory: the task size moves onto a lone container without its own.
                assert_eq!(Some(v), g.get(k), "{stem}: `{k}` changed on the way back");
            }
        }
        // The Fargate task size survives.
        if original["requiresCompatibilities"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "FARGATE"))
        {
            for k in ["cpu", "memory"] {
                let o = original[k]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or(original[k].to_string());
                assert_eq!(
                    back[k].as_str(),
                    Some(o.as_str()),
                    "{stem}: task {k} changed"
                );
            }
        }
        rendered.push(tds[0].display().to_string());
    }
    ecs_check(&rendered);
}

#[test]
fn unreadable_fields_are_reported_by_path_and_bad_input_fails_clearly() {
    let out = tmp("report");
    let f = out.join("td.json");
    std::fs::write(
        &f,
        r#"{
  "family": "web",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "nginx:1.27",
      "firelensConfiguration": {"type": "fluentbit"},
      "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:1:secret:x"},
      "portMappings": [{"containerPort": 80, "hostPort": 8080}]
    }
  ],
  "ipcMode": "host",
  "revision": 3
}
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, yaml, err) = run(bridge()
        .args(["export", "--color", "never", "--from", "ecs-task-def"])
        .arg(&f));
    assert_eq!(code, 0, "{err}");
    for path in [
        "containerDefinitions[0].firelensConfiguration",
        "containerDefinitions[0].repositoryCredentials",
        "ipcMode",
        "revision",
    ] {
        assert!(
            err.contains(&format!("`{path}` ")),
            "{path} not reported:\n{err}"
        );
    }
    assert!(err.contains("X001"), "{err}");
    assert!(
        err.contains("td.json:7:"),
        "no line:column for the dropped field:\n{err}"
    );
    assert!(
        yaml.contains("published: 8080") || yaml.contains("8080"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("firelens") && !yaml.contains("fluentbit"),
        "{yaml}"
    );

    // Not a task definition, a container without an image, broken JSON: exit 1, file and field.
    for (name, text, want) in [
        ("notd.json", r#"{"family": "x"}"#, "containerDefinitions"),
        (
            "noimage.json",
            r#"{"family": "x", "containerDefinitions": [{"name": "a"}]}"#,
            "has no `image`",
        ),
        ("broken.json", "{\"family\": ", "broken.json:"),
        (
            "badtype.json",
            r#"{"family": "x", "containerDefinitions": [{"name": "a", "image": "i", "cpu": "lots"}]}"#,
            "containerDefinitions[0].cpu",
        ),
    ] {
        let p = out.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        let (code, stdout, err) = run(bridge()
            .args(["export", "--color", "never", "--from", "ecs-task-def"])
            .arg(&p));
        assert_eq!(code, 1, "{name}: {err}");
        assert!(stdout.is_empty(), "{name}: wrote output: {stdout}");
        assert!(err.contains(want) && err.contains(name), "{name}:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn examples_round_trip_through_export() {
    let ex = root().join("examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&ex)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for d in dirs {
        let f = ["bridge.yaml", "compose.yaml"]
            .iter()
            .map(|n| d.join(n))
            .find(|p| p.exists());
        let Some(f) = f else { continue };
        let label = d
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        files.push((label, f));
    }
    let examples = files.len();
    // Issue 14: every importable corpus compose file too.
    let mut corpus = Vec::new();
    peers::yaml_files(&peers::corpus(), &mut corpus);
    corpus.sort();
    files.extend(corpus.into_iter().map(|f| (f.display().to_string(), f)));
    let out_dir = tmp("roundtrip");
    let mut rendered_again: Vec<String> = Vec::new();
    let mut checked = 0;
    let mut checked_examples = 0;
    let mut with_refs = 0;
    let mut skipped = Vec::new();
    for (n_input, (label, f)) in files.into_iter().enumerate() {
        let Some(app) = load(&f) else {
            assert!(n_input >= examples, "{label} does not load");
            continue;
        };
        let first = Ecs::default().translate(&app);
        if first.diagnostics.has_errors() {
            // Not renderable to ECS as written (e.g. a secret without an ARN): nothing to export.
            skipped.push(label);
            continue;
        }
        let refs = bridge_core::partition::references(app.app());
        let tds: Vec<(String, String)> = first
            .artifacts
            .iter()
            .filter(|a| a.path.starts_with("aws/task-definitions/"))
            .map(|a| (a.path.clone(), a.content.clone()))
            .collect();
        if tds.is_empty() {
            skipped.push(label);
            continue;
        }
        let mut exported = bridge_translators::export::ecs::task_definitions(&tds, None)
            .unwrap_or_else(|d| panic!("{label}: export failed: {d:?}"));
        assert_eq!(exported.app.name, app.app().name, "{label}: app name");
        // Address references stay `${...}` in a rendered task definition until the driver fills
        // them in: the task definitions hold no vm (nor a service on another provider), so the
        // export says so for each, and the app is completed from the original for the render.
        if !refs.is_empty() {
            with_refs += 1;
            let orig = app.app();
            for (n, s) in &exported.app.services {
                for (k, v) in &s.env.0 {
                    for (rf, _) in bridge_core::refs::scan(v) {
                        if let bridge_core::refs::Ref::Address { kind, name } = rf {
                            let missing = match kind {
                                bridge_core::refs::RefKind::Vms => {
                                    !exported.app.vms.contains_key(name)
                                }
                                bridge_core::refs::RefKind::Services => {
                                    !exported.app.services.contains_key(name)
                                }
                            };
                            if missing {
                                let path = format!("services.{n}.env.{k}");
                                assert!(
                                    exported
                                        .diagnostics
                                        .iter()
                                        .any(|d| d.code == "X001" && d.path == path),
                                    "{label}: the reference in `{path}` to a component the task definitions lack was not reported"
                                );
                            }
                        }
                    }
                }
            }
            let app2 = &mut exported.app;
            for (n, v) in &orig.vms {
                app2.vms.entry(n.clone()).or_insert_with(|| v.clone());
            }
            for (n, s) in &orig.services {
                if s.provider
                    .is_some_and(|p| p != bridge_core::model::ProviderKind::Aws)
                {
                    app2.services.entry(n.clone()).or_insert_with(|| s.clone());
                }
            }
            for (k, v) in [
                ("gce", orig.providers.gce.is_some()),
                ("openstack", orig.providers.openstack.is_some()),
            ] {
                if v && k == "gce" {
                    app2.providers.gce = orig.providers.gce.clone();
                } else if v {
                    app2.providers.openstack = orig.providers.openstack.clone();
                }
            }
            if let (Some(a), Some(o)) = (app2.providers.aws.as_mut(), orig.providers.aws.as_ref()) {
                a.region = o.region.clone();
                for (k, v) in &o.images {
                    a.images.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let (yaml, again) = peers::reload("exported", &exported.app);
        let valid = again.valid.unwrap_or_else(|| {
            panic!(
                "{label}: exported app does not validate: {:?}\n{yaml}",
                again.diagnostics
            )
        });
        let second = Ecs::default().translate(&valid);
        for a in second
            .artifacts
            .iter()
            .filter(|a| a.path.starts_with("aws/task-definitions/"))
        {
            let p = out_dir.join(format!(
                "{}-{}",
                rendered_again.len(),
                a.path.replace('/', "_")
            ));
            std::fs::write(&p, fill_secret_arns(&a.content)).unwrap_or_else(|e| panic!("{e}"));
            rendered_again.push(p.display().to_string());
        }
        let by_family = |t: &bridge_translators::Translation| -> Vec<(String, Value)> {
            let mut v: Vec<(String, Value)> = t
                .artifacts
                .iter()
                .filter(|a| a.path.starts_with("aws/task-definitions/"))
                .map(|a| {
                    let j: Value = serde_json::from_str(&a.content).unwrap_or_default();
                    (j["family"].as_str().unwrap_or_default().to_string(), j)
                })
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let (a, b) = (by_family(&first), by_family(&second));
        assert_eq!(
            a.iter().map(|x| &x.0).collect::<Vec<_>>(),
            b.iter().map(|x| &x.0).collect::<Vec<_>>(),
            "{label}: task families differ"
        );
        for ((fam, x), (_, y)) in a.iter().zip(&b) {
            // Project files ship in the task definition (bridge's `bridge-files` init
            // container); export reports it as approximated and writes no files back, so that
            // family cannot render back the same.
            if containers(x).iter().any(|c| c["name"] == "bridge-files") {
                assert!(
                    !containers(y).iter().any(|c| c["name"] == "bridge-files"),
                    "{label}: {fam}: the init container was exported as a service"
                );
                continue;
            }
            // A lone container without its own size takes the task's (reported X002 on the
            // task's `cpu`/`memory`): rendered again, it carries it.
            let mut want = containers(x);
            let got = containers(y);
            if let ([w], [g]) = (want.as_mut_slice(), got.as_slice()) {
                for k in ["cpu", "memory"] {
                    if w.get(k).is_none()
                        && g.get(k).is_some()
                        && exported
                            .diagnostics
                            .iter()
                            .any(|d| d.code == "X002" && d.path == k)
                    {
                        w[k] = g[k].clone();
                    }
                }
            }
            assert_eq!(want, got, "{label}: {fam}: container fields differ\n{yaml}");
            for k in [
                "networkMode",
                "cpu",
                "memory",
                "requiresCompatibilities",
                "volumes",
                "runtimePlatform",
            ] {
                assert_eq!(
                    x.get(k),
                    y.get(k),
                    "{label}: {fam}: task `{k}` differs\n{yaml}"
                );
            }
        }
        checked += 1;
        if n_input < examples {
            checked_examples += 1;
        }
    }
    // The re-rendered task definitions are what botocore's model accepts.
    ecs_check(&rendered_again);
    eprintln!(
        "{checked} apps round-tripped ({checked_examples} examples, {with_refs} with address references completed); not renderable to ECS: {skipped:?}"
    );
    assert!(
        checked_examples >= 10 && checked >= 60 && with_refs >= 2,
        "only {checked} apps ({checked_examples} examples, {with_refs} with references) round-tripped (skipped: {skipped:?})"
    );
}
