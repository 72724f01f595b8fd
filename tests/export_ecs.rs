//! `bridge export --from ecs-task-def`: every corpus task definition (../shared/corpus/ecs)
//! either exports or fails clearly; the exported bridge.yaml validates and renders back to task
//! definitions that botocore's ECS model (tests/validators/ecs_validate.py) accepts, with the
//! mapped fields (image, ports, env, cpu/memory, command, health check) unchanged; fields bridge
//! cannot read back are reported by path; and every example's ECS render exports and renders to
//! the same task definition fields (the round trip).

use std::path::{Path, PathBuf};
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
    let mut checked = 0;
    let mut skipped = Vec::new();
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
        let app = load(&f).unwrap_or_else(|| panic!("{label} does not load"));
        let first = Ecs::default().translate(&app);
        // Address references stay `${...}` in a rendered task definition until the driver fills
        // them in at deploy time: exported alone they name a VM the task definitions lack.
        if first.diagnostics.has_errors()
            || !bridge_core::partition::references(app.app()).is_empty()
        {
            // Not renderable to ECS as written (e.g. a secret without an ARN): nothing to export.
            skipped.push(label);
            continue;
        }
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
        let exported = bridge_translators::export::ecs::task_definitions(&tds, None)
            .unwrap_or_else(|d| panic!("{label}: export failed: {d:?}"));
        assert_eq!(exported.app.name, app.app().name, "{label}: app name");
        let yaml = bridge_core::emit::to_yaml(&exported.app).unwrap_or_else(|e| panic!("{e}"));
        let again = bridge_core::load_str(
            &"exported".into(),
            &yaml,
            Path::new("."),
            &bridge_core::LoadOptions::default(),
        );
        let valid = again.valid.unwrap_or_else(|| {
            panic!(
                "{label}: exported app does not validate: {:?}\n{yaml}",
                again.diagnostics
            )
        });
        let second = Ecs::default().translate(&valid);
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
            assert_eq!(
                containers(x),
                containers(y),
                "{label}: {fam}: container fields differ\n{yaml}"
            );
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
    }
    assert!(
        checked >= 8,
        "only {checked} examples round-tripped (skipped: {skipped:?})"
    );
}
