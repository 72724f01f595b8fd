//! Compose secrets on ECS, through the `bridge` binary against a moto server (see
//! tests/support/moto.rs): a compose app whose secret comes from a file, with no ARN anywhere,
//! deploys on ECS as it is. The driver creates the Secrets Manager secret `<app>/<secret>`
//! (tagged for the app), the task definition reads it by the ARN moto gave (the late-bound input
//! `secrets.<name>.arn`, `${secrets.<name>.arn}` in the rendered artifact and in inputs.json), a
//! changed value is written and moves the task definition to a new revision, destroy deletes
//! the secret, and the value appears in no output, log, state.db or rendered file. Every
//! Secrets Manager request is checked against botocore's secretsmanager model, the ECS and EC2
//! ones against theirs.

#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::path::Path;
use std::process::{Command, Output};

use moto::{Moto, ok, workdir};
use peers::text;
use serde_json::Value;

fn bridge(m: &Moto, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut c = moto::bridge(Some(m), dir);
    c.env("BRIDGE_AWS_REGISTER_SECONDS", "120");
    for (k, v) in extra {
        c.env(k, v);
    }
    c.args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

/// The latest active task definition of a family, as ECS describes it.
fn task_definition(m: &Moto, family: &str) -> Value {
    m.boto(
        "ecs",
        "describe_task_definition",
        &format!(r#"{{"taskDefinition": "{family}"}}"#),
    )["taskDefinition"]
        .clone()
}

/// Every file under `dir`, as text.
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&all_text(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.push_str(&String::from_utf8_lossy(&b));
        }
    }
    out
}

const COMPOSE: &str = "name: smapp\nservices:\n  api:\n    image: nginx:1\n    secrets: [db_password]\n    deploy:\n      resources:\n        limits: {cpus: '0.25', memory: 128M}\nsecrets:\n  db_password:\n    file: ./db_password.txt\n";

#[test]
fn aws_compose_file_secret_is_created_read_by_arn_updated_and_destroyed() {
    let m = Moto::start("sm", "us-east-1");
    let dir = workdir("sm");
    let f = dir.join("compose.yaml");
    std::fs::write(&f, COMPOSE).unwrap_or_else(|e| panic!("{e}"));
    let (v1, v2) = ("compose-file-secret-v1-7f3a", "compose-file-secret-v2-91bc");
    let pw = dir.join("db_password.txt");
    std::fs::write(&pw, v1).unwrap_or_else(|e| panic!("{e}"));
    let file = f.to_string_lossy().to_string();
    let deploy = [
        "deploy",
        "-f",
        &file,
        "-p",
        "aws",
        "--wait",
        "--timeout",
        "2m",
    ];
    let debug = [("RUST_LOG", "debug")];
    let mut shown = String::new();

    // Render: the task definition reads the late-bound ARN, listed beside the artifacts.
    let out = dir.join("rendered");
    let o = bridge(
        &m,
        &dir,
        &[
            "render",
            "-f",
            &file,
            "-p",
            "aws",
            "-o",
            &out.to_string_lossy(),
        ],
        &[],
    );
    ok(&o, &m, "render");
    shown.push_str(&text(&o));
    let td = std::fs::read_to_string(out.join("aws/task-definitions/smapp-api.json"))
        .unwrap_or_else(|e| panic!("rendered task definition: {e}"));
    assert!(
        td.contains("\"valueFrom\": \"${secrets.db_password.arn}\""),
        "{td}"
    );
    let inputs = std::fs::read_to_string(out.join("inputs.json"))
        .unwrap_or_else(|e| panic!("inputs.json: {e}"));
    assert!(
        inputs.contains("\"input\": \"secrets.db_password.arn\"")
            && inputs.contains("services.api.secrets[0]"),
        "{inputs}"
    );

    // The plan before the first deploy says the task definition waits for the ARN.
    let o = bridge(&m, &dir, &["plan", "-f", &file, "-p", "aws"], &[]);
    ok(&o, &m, "plan");
    shown.push_str(&text(&o));
    let plan = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(plan.contains("+ secret/db_password"), "{plan}");
    assert!(
        plan.contains("task-definition/api") && plan.contains("waits for secrets.db_password.arn"),
        "{plan}"
    );

    let o = bridge(&m, &dir, &deploy, &debug);
    ok(&o, &m, "deploy");
    shown.push_str(&text(&o));

    // The secret exists, named and tagged for the app, with the file's value.
    let s = m.app_secrets("smapp");
    assert_eq!(s.len(), 1, "{s:?}");
    let (name, arn, tags) = &s[0];
    assert_eq!(name, "smapp/db_password");
    assert!(
        tags.as_array().is_some_and(|t| t
            .iter()
            .any(|t| t["Key"] == "bridge.component" && t["Value"] == "secret/db_password")),
        "{tags}"
    );
    let got = m.boto(
        "secretsmanager",
        "get_secret_value",
        &format!(r#"{{"SecretId": "{arn}"}}"#),
    );
    assert_eq!(got["SecretString"], v1, "{got}");
    // The task definition reads it by that ARN.
    let td = task_definition(&m, "smapp-api");
    let secrets = &td["containerDefinitions"][0]["secrets"];
    assert_eq!(secrets[0]["name"], "DB_PASSWORD", "{td}");
    assert_eq!(secrets[0]["valueFrom"], arn.as_str(), "{td}");
    let rev1 = td["revision"].as_u64().unwrap_or(0);

    // Nothing left to do.
    let plan = ["plan", "-f", &file, "-p", "aws", "--detailed-exitcode"];
    let o = bridge(&m, &dir, &plan, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    shown.push_str(&text(&o));

    // A changed value: the secret is updated and the task definition moves to a new revision.
    std::fs::write(&pw, v2).unwrap_or_else(|e| panic!("{e}"));
    let o = bridge(&m, &dir, &plan, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let p = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        p.contains("~ secret/db_password") && p.contains("~ task-definition/api"),
        "{p}"
    );
    shown.push_str(&text(&o));
    let o = bridge(&m, &dir, &deploy, &debug);
    ok(&o, &m, "deploy of the new value");
    shown.push_str(&text(&o));
    let got = m.boto(
        "secretsmanager",
        "get_secret_value",
        &format!(r#"{{"SecretId": "{arn}"}}"#),
    );
    assert_eq!(got["SecretString"], v2, "{got}");
    let td = task_definition(&m, "smapp-api");
    assert!(
        td["revision"].as_u64().unwrap_or(0) > rev1,
        "no new revision after the value changed: {td}"
    );
    assert_eq!(
        td["containerDefinitions"][0]["secrets"][0]["valueFrom"],
        arn.as_str()
    );
    let svc = m.boto(
        "ecs",
        "describe_services",
        r#"{"cluster": "smapp", "services": ["smapp-api"]}"#,
    );
    assert_eq!(
        svc["services"][0]["taskDefinition"], td["taskDefinitionArn"],
        "the service did not follow: {svc}"
    );
    let puts = m
        .recorded()
        .iter()
        .filter(|r| r.op == "PutSecretValue")
        .count();
    assert_eq!(puts, 1, "one PutSecretValue for the one change");
    let o = bridge(&m, &dir, &plan, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = bridge(&m, &dir, &["status", "-f", &file, "-p", "aws"], &[]);
    ok(&o, &m, "status");
    shown.push_str(&text(&o));
    let o = bridge(&m, &dir, &["history", "-f", &file, "-p", "aws"], &[]);
    ok(&o, &m, "history");
    shown.push_str(&text(&o));

    // Destroy deletes the secret with no recovery window.
    let o = bridge(&m, &dir, &["destroy", "-f", &file, "-p", "aws"], &debug);
    ok(&o, &m, "destroy");
    shown.push_str(&text(&o));
    assert!(m.app_secrets("smapp").is_empty());
    let del = m
        .recorded()
        .into_iter()
        .find(|r| r.op == "DeleteSecret")
        .map(|r| r.body)
        .unwrap_or_default();
    assert!(del.contains("\"ForceDeleteWithoutRecovery\":true"), "{del}");
    let after = m.boto(
        "secretsmanager",
        "list_secrets",
        r#"{"IncludePlannedDeletion": true}"#,
    );
    assert!(
        !after.to_string().contains("smapp/db_password"),
        "the secret is still there (scheduled): {after}"
    );

    // The values went to Secrets Manager only: no output, log, state.db, rendered file or
    // other request carries them.
    let state =
        std::fs::read(dir.join(".bridge/state.db")).unwrap_or_else(|e| panic!("state.db: {e}"));
    let state = String::from_utf8_lossy(&state).to_string();
    let rendered = all_text(&out);
    for v in [v1, v2] {
        assert!(!shown.contains(v), "{v} shown:\n{shown}");
        assert!(!state.contains(v), "{v} in state.db");
        assert!(!rendered.contains(v), "{v} in the rendered files");
        for r in m.recorded() {
            let carries = r.op == "CreateSecret" || r.op == "PutSecretValue";
            assert!(
                carries || !r.body.contains(v),
                "{v} sent in {} {}",
                r.service,
                r.op
            );
        }
    }
    let n = m.check_bodies("sm");
    let sm = m
        .recorded()
        .iter()
        .filter(|r| r.service == "secretsmanager")
        .count();
    assert!(sm >= 6, "only {sm} Secrets Manager requests");
    assert!(n >= sm + 3, "only {n} bodies checked");
    let _ = std::fs::remove_dir_all(&dir);
}

const NO_REGION: &str = "name: rr\nservices:\n  web:\n    image: nginx:1\n    ports: ['8080:80']\n    deploy:\n      resources:\n        limits: {cpus: '0.25', memory: 128M}\n";

/// `render -p aws` of an app with no region writes awslogs-region from the environment or the
/// AWS config (or fails naming providers.aws.region), the task definition passes botocore's
/// model and ECS's rules as written, and it is exactly the body deploy sends.
#[test]
fn aws_render_writes_awslogs_region_and_is_what_deploy_sends() {
    let m = Moto::start("render", "us-west-2");
    let dir = workdir("render");
    let f = dir.join("compose.yaml");
    std::fs::write(&f, NO_REGION).unwrap_or_else(|e| panic!("{e}"));
    let file = f.to_string_lossy().to_string();
    let td_of = |out: &Path| -> Value {
        let t = std::fs::read_to_string(out.join("aws/task-definitions/rr-web.json"))
            .unwrap_or_else(|e| panic!("rendered task definition: {e}"));
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"))
    };
    let region_of = |td: &Value| {
        td["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-region"].clone()
    };
    let render = |out: &Path, env: &[(&str, &str)], unset: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bridge"));
        c.current_dir(&dir).env("NO_COLOR", "1").env("HOME", &dir);
        for k in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"]
            .iter()
            .chain(unset)
        {
            c.env_remove(k);
        }
        c.env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-aws-config"));
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(["render", "-f", &file, "-p", "aws", "-o"])
            .arg(out)
            .output()
            .unwrap_or_else(|e| panic!("render: {e}"))
    };
    std::fs::write(dir.join("no-aws-config"), "").unwrap_or_else(|e| panic!("{e}"));

    // AWS_DEFAULT_REGION, then a profile's region in the AWS config file.
    let out = dir.join("r-default");
    let o = render(&out, &[("AWS_DEFAULT_REGION", "eu-west-2")], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(region_of(&td_of(&out)), "eu-west-2");
    std::fs::write(
        dir.join("aws-config"),
        "[default]\nregion = ap-southeast-2\n[profile other]\nregion = ca-central-1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.join("aws-config").to_string_lossy().to_string();
    let out = dir.join("r-profile");
    let o = render(
        &out,
        &[("AWS_CONFIG_FILE", &cfg), ("AWS_PROFILE", "other")],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(region_of(&td_of(&out)), "ca-central-1");
    // None anywhere: an error naming the field, with a hint, and no artifact.
    let out = dir.join("r-none");
    let o = render(&out, &[], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("T226") && e.contains("providers.aws.region") && e.contains("hint"),
        "{e}"
    );

    // With the region the driver will use (AWS_REGION): valid as written, and what is sent.
    let out = dir.join("r-deploy");
    let o = render(&out, &[("AWS_REGION", "us-west-2")], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let rendered = td_of(&out);
    assert_eq!(region_of(&rendered), "us-west-2");
    let v = peers::validators();
    let check = Command::new(peers::python())
        .arg(v.join("ecs_validate.py"))
        .args(["--shape", "RegisterTaskDefinitionRequest"])
        .arg(out.join("aws/task-definitions/rr-web.json"))
        .output()
        .unwrap_or_else(|e| panic!("validator: {e}"));
    assert!(check.status.success(), "{}", text(&check));
    let deploy = [
        "deploy",
        "-f",
        &file,
        "-p",
        "aws",
        "--wait",
        "--timeout",
        "2m",
    ];
    let o = bridge(&m, &dir, &deploy, &[]);
    ok(&o, &m, "deploy");
    let sent: Vec<Value> = m
        .recorded()
        .into_iter()
        .filter(|r| r.op == "RegisterTaskDefinition")
        .map(|r| serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body)))
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0], rendered,
        "deploy sent something else than render wrote"
    );
    let td = task_definition(&m, "rr-web");
    assert_eq!(
        td["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-region"], "us-west-2",
        "{td}"
    );
    assert!(m.check_bodies("render") >= 2);
    let o = bridge(&m, &dir, &["destroy", "-f", &file, "-p", "aws"], &[]);
    ok(&o, &m, "destroy");
    let _ = std::fs::remove_dir_all(&dir);
}
