//! The ECS translator over every example, the kitchen sink and every corpus compose file that
//! imports: the artifacts are written to a temporary directory and checked by the ECS validator
//! (botocore's ECS model plus ECS's own rules) in one call per request shape, and the RunInstances
//! bodies against botocore's EC2 model through the same checker. The kitchen sink must get a
//! ledger line for every field it sets.
//!
//! Python comes from `BRIDGE_PYTHON` (default `$HOME/.cache/bridge-venv/bin/python`, made by
//! `tests/run-peers-setup.sh`), the validators from `BRIDGE_VALIDATORS` (default
//! `tests/validators`), the corpus from `BRIDGE_CORPUS` (default `../shared/corpus/compose`).
//! A missing python, validator or corpus fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use bridge_translators::ecs::Ecs;
use bridge_translators::{Translation, Translator};

#[path = "support/peers.rs"]
mod peers;
use peers::{corpus, load, python, root, validators, yaml_files};

fn inputs() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let ex = root().join("examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&ex)
        .unwrap_or_else(|e| panic!("{}: {e}", ex.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        for n in ["bridge.yaml", "compose.yaml"] {
            let f = d.join(n);
            if f.exists() {
                out.push((
                    format!(
                        "examples/{}",
                        d.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    f,
                ));
            }
        }
    }
    out.push((
        "kitchen-sink".into(),
        root().join("tests/fixtures/kitchen-sink/ecs.yaml"),
    ));
    let c = corpus();
    assert!(
        c.is_dir(),
        "the compose corpus is missing at {} (set BRIDGE_CORPUS)",
        c.display()
    );
    let mut files = Vec::new();
    yaml_files(&c, &mut files);
    files.sort();
    for f in files {
        let rel = f.strip_prefix(&c).unwrap_or(&f).display().to_string();
        out.push((format!("corpus/{rel}"), f));
    }
    out
}

/// The artifact with the late-bound secret ARNs (`${secrets.NAME.arn}`, listed in inputs.json)
/// filled in as the driver fills them once it has created the secret: with an ARN of the shape
/// Secrets Manager gives.
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

fn write(dir: &Path, label: &str, t: &Translation) -> Vec<(String, PathBuf)> {
    let base = dir.join(label.replace(['/', '.'], "_"));
    let mut out = Vec::new();
    for a in &t.artifacts {
        let p = base.join(&a.path);
        std::fs::create_dir_all(p.parent().unwrap_or(&base)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&p, fill_secret_arns(&a.content)).unwrap_or_else(|e| panic!("{e}"));
        out.push((a.path.clone(), p));
    }
    out
}

fn run_validator(args: &[String]) -> String {
    let py = python();
    assert!(
        py.exists(),
        "python is missing at {} (run tests/run-peers-setup.sh or set BRIDGE_PYTHON)",
        py.display()
    );
    let out = Command::new(&py)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "validator failed ({}):\n{text}",
        out.status
    );
    text
}

/// Checks RunInstances bodies against botocore's EC2 model with the ECS validator's generic
/// shape checker (its own CLI knows only ECS shapes).
const EC2_CHECK: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import ecs_validate
from botocore.loaders import Loader
shapes = Loader().load_service_model("ec2", "service-2")["shapes"]
bad = False
for f in sys.argv[2:]:
    out = []
    ecs_validate._check_shape(shapes, "RunInstancesRequest", json.load(open(f)), "", out)
    for line in out:
        print("%s: %s" % (f, line)); bad = True
sys.exit(1 if bad else 0)
"#;

#[test]
fn ecs_artifacts_validate() {
    let v = validators();
    let script = v.join("ecs_validate.py");
    assert!(
        script.exists(),
        "the ECS validator is missing at {}",
        script.display()
    );
    let tmp = std::env::temp_dir().join(format!("bridge-ecs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (mut tds, mut svcs, mut vms) = (Vec::new(), Vec::new(), Vec::new());
    let mut translated = 0;
    for (label, f) in inputs() {
        let Some(app) = load(&f) else {
            assert!(
                !label.starts_with("examples") && label != "kitchen-sink",
                "{label} did not load"
            );
            continue;
        };
        translated += 1;
        let t = Ecs::default().translate(&app);
        // Byte-stable.
        let again = Ecs::default().translate(&app);
        assert_eq!(
            t.artifacts, again.artifacts,
            "{label}: output differs between runs"
        );
        for s in app.app().services.keys() {
            let field = format!("services.{s}.image");
            let on_aws = app.app().services[s]
                .provider
                .is_none_or(|p| p == bridge_core::model::ProviderKind::Aws);
            assert!(
                !on_aws || t.ledger.iter().any(|e| e.field == field),
                "{label}: no ledger line for {field}"
            );
        }
        for (path, p) in write(&tmp, &label, &t) {
            if path.starts_with("aws/task-definitions/") {
                tds.push(p.display().to_string());
            } else if path.starts_with("aws/services/") {
                svcs.push(p.display().to_string());
            } else if path.starts_with("aws/instances/") {
                vms.push(p.display().to_string());
            }
        }
    }
    // The kitchen sink again on Fargate (awsvpc, task sizes, what Fargate cannot do left out).
    let f = root().join("tests/fixtures/kitchen-sink/ecs.yaml");
    let mut sink = load(&f)
        .unwrap_or_else(|| panic!("{} does not validate", f.display()))
        .into_app();
    if let Some(aws) = sink.providers.aws.as_mut() {
        aws.launch_type = bridge_core::model::LaunchType::Fargate;
    }
    let sink = bridge_core::validate::validate(sink, &bridge_core::validate::NoLocation)
        .unwrap_or_else(|d| panic!("fargate kitchen sink: {d:?}"))
        .0;
    let t = Ecs::default().translate(&sink);
    for (path, p) in write(&tmp, "kitchen-sink-fargate", &t) {
        if path.starts_with("aws/task-definitions/") {
            tds.push(p.display().to_string());
        } else if path.starts_with("aws/services/") {
            svcs.push(p.display().to_string());
        }
    }
    assert!(translated >= 20, "only {translated} inputs translated");
    assert!(!tds.is_empty() && !svcs.is_empty() && !vms.is_empty());
    let s = script.display().to_string();
    for (shape, files) in [
        ("RegisterTaskDefinitionRequest", &tds),
        ("CreateServiceRequest", &svcs),
    ] {
        let mut args = vec![s.clone(), "--shape".into(), shape.into()];
        args.extend(files.iter().cloned());
        run_validator(&args);
    }
    let mut args = vec!["-c".into(), EC2_CHECK.into(), v.display().to_string()];
    args.extend(vms.iter().cloned());
    let report = run_validator(&args);
    assert!(report.trim().is_empty(), "{report}");
    eprintln!(
        "validated {} task definitions, {} services, {} instances from {translated} inputs",
        tds.len(),
        svcs.len(),
        vms.len()
    );
    // BRIDGE_KEEP=1 keeps the rendered files for inspection.
    if std::env::var_os("BRIDGE_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        eprintln!("artifacts kept in {}", tmp.display());
    }
}

/// Paths of every field the kitchen sink sets, from its serialised form (defaults are skipped
/// when serialising, so what remains is what the file sets).
fn set_fields(v: &serde_json::Value, path: &str, depth: usize, out: &mut Vec<String>) {
    if let serde_json::Value::Object(m) = v {
        for (k, x) in m {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if depth == 0 {
                set_fields(x, &p, depth + 1, out);
            } else {
                out.push(p);
            }
        }
    }
}

#[test]
fn kitchen_sink_ledger_covers_every_field() {
    let f = root().join("tests/fixtures/kitchen-sink/ecs.yaml");
    let app = load(&f).unwrap_or_else(|| panic!("{} does not validate", f.display()));
    let t = Ecs::default().translate(&app);
    let errors: Vec<String> = t
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "kitchen sink errors on ECS:\n{}",
        errors.join("\n")
    );
    let v = serde_json::to_value(app.app()).unwrap_or_default();
    let mut missing = Vec::new();
    let covered = |p: &str| {
        t.ledger.iter().any(|e| {
            e.field == p
                || e.field.starts_with(&format!("{p}."))
                || e.field.starts_with(&format!("{p}["))
        })
    };
    // services.X.field, vms.X.field, volumes.X.field, secrets.X.field, configs.X.field,
    // networks.X.field, groups.X(.field), providers.aws.field.
    for top in [
        "services", "vms", "volumes", "secrets", "configs", "networks", "groups",
    ] {
        let Some(serde_json::Value::Object(items)) = v.get(top) else {
            panic!("the kitchen sink sets no {top}");
        };
        for (name, item) in items {
            let base = format!("{top}.{name}");
            let mut fields = Vec::new();
            set_fields(item, &base, 1, &mut fields);
            if fields.is_empty() && !covered(&base) {
                missing.push(base.clone());
            }
            for p in fields {
                if !covered(&p) {
                    missing.push(p);
                }
            }
        }
    }
    if let Some(aws) = v.get("providers").and_then(|p| p.get("aws")) {
        let mut fields = Vec::new();
        set_fields(aws, "providers.aws", 1, &mut fields);
        for p in fields {
            if !covered(&p) {
                missing.push(p);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no ledger line for:\n{}",
        missing.join("\n")
    );
    // Every service field of the model is set by the kitchen sink somewhere.
    let schema_fields = [
        "image",
        "command",
        "entrypoint",
        "env",
        "secrets",
        "configs",
        "ports",
        "expose",
        "volumes",
        "depends_on",
        "links",
        "replicas",
        "mode",
        "resources",
        "health",
        "restart",
        "restart_max_attempts",
        "restart_delay",
        "restart_window",
        "update",
        "rollback",
        "group",
        "placement",
        "provider",
        "labels",
        "networks",
        "aliases",
        "user",
        "working_dir",
        "hostname",
        "domainname",
        "stop_signal",
        "stop_grace_period",
        "init",
        "read_only",
        "privileged",
        "tty",
        "stdin_open",
        "cap_add",
        "cap_drop",
        "group_add",
        "dns",
        "dns_search",
        "dns_opt",
        "extra_hosts",
        "sysctls",
        "ulimits",
        "shm_size",
        "devices",
        "logging",
        "platform",
        "pull_policy",
    ];
    let services = v
        .get("services")
        .and_then(|s| s.as_object())
        .cloned()
        .unwrap_or_default();
    for f in schema_fields {
        assert!(
            services.values().any(|s| s.get(f).is_some()),
            "the kitchen sink sets no service `{f}`"
        );
    }
}

#[test]
fn secrets_never_rendered() {
    // The kitchen sink's secrets come from env and files; neither the variable names' values nor
    // file contents can appear, and every secret is an ARN reference.
    let f = root().join("tests/fixtures/kitchen-sink/ecs.yaml");
    let app = load(&f).unwrap_or_else(|| panic!("{} does not validate", f.display()));
    let t = Ecs::default().translate(&app);
    for a in &t.artifacts {
        let v: serde_json::Value = serde_json::from_str(&a.content).unwrap_or_default();
        for c in v
            .get("containerDefinitions")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            for s in c
                .get("secrets")
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
            {
                let vf = s
                    .get("valueFrom")
                    .and_then(|x| x.as_str())
                    .unwrap_or_default();
                assert!(vf.starts_with("arn:aws:"), "{}: {vf}", a.path);
            }
        }
        assert!(!a.content.contains("SINK_DB_PASSWORD"), "{}", a.path);
    }
}
