//! `bridge export -p aws` against a moto server (tests/support/moto.rs): (a) a cluster, task
//! definitions and services made by hand with boto3 (not by bridge): a service of 3 tasks with a
//! deployment configuration, placement, a load balancer and tags, and a DAEMON service. The
//! export gives replicas, update, `mode: global`, image, ports, env, cpu and memory as set, the
//! services' own names (`providers.aws.services`, as they are not `<app>-<group>`), and
//! reports each field it cannot carry by service and field (X001); the bridge.yaml validates, and
//! `render -p aws` of it gives task definitions and services botocore's ECS model accepts
//! (tests/validators/ecs_validate.py) with the same container fields and the same desired count,
//! scheduling and deployment configuration. (b) An app `bridge deploy -p aws` deployed (with a
//! secret) exported with `--app`: the same services come back, the secret as an external one by
//! ARN, and its value appears nowhere in the output. Bad selectors (no such cluster, service or
//! app) exit non-zero naming what is missing.

#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use moto::{Moto, ok, workdir};
use peers::{python, text, validators};
use serde_json::{Value, json};

fn bridge(m: &Moto, dir: &Path, args: &[&str]) -> Output {
    moto::bridge(Some(m), dir)
        .env("BRIDGE_AWS_REGISTER_SECONDS", "120")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

/// `bridge export -p aws SELECTOR... --output json` (and `-o OUT` where given), which must
/// succeed.
fn export(m: &Moto, dir: &Path, selector: &[&str], out: Option<&str>, what: &str) -> Output {
    let mut args = vec!["export", "-p", "aws"];
    args.extend_from_slice(selector);
    if let Some(out) = out {
        args.extend(["-o", out]);
    }
    args.extend(["--output", "json"]);
    let o = bridge(m, dir, &args);
    ok(&o, m, what);
    o
}

/// `bridge render -p aws -f FILE -o RDIR`, which must succeed.
fn render(m: &Moto, dir: &Path, file: &str, rdir: &Path) {
    let o = bridge(
        m,
        dir,
        &[
            "render",
            "-p",
            "aws",
            "-f",
            file,
            "-o",
            &rdir.to_string_lossy(),
        ],
    );
    ok(&o, m, "render -p aws of the export");
}

/// `bridge export -p aws ARGS...` fails: with exit code `code` (any non-zero one where `None`)
/// and a message that says `says`.
fn refused(m: &Moto, dir: &Path, args: &[&str], code: Option<i32>, says: &str) {
    let mut all = vec!["export", "-p", "aws"];
    all.extend_from_slice(args);
    let o = bridge(m, dir, &all);
    match code {
        Some(c) => assert_eq!(o.status.code(), Some(c), "{}", text(&o)),
        None => assert_ne!(o.status.code(), Some(0), "{}", text(&o)),
    }
    assert!(text(&o).contains(says), "{}", text(&o));
}

/// The names of an exported app's services, in order.
fn service_names(app: &Value) -> Vec<String> {
    app["services"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A string field of a boto3 answer (empty where it is missing).
fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The JSON document `--output json` printed.
fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", text(o)))
}

/// The diagnostics' paths with their code.
fn diag_paths(v: &Value) -> Vec<(String, String)> {
    v["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["path"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The export's diagnostics, one a line (shown with --nocapture).
fn show(what: &str, v: &Value) {
    eprintln!("{what}:");
    for d in v["diagnostics"].as_array().into_iter().flatten() {
        eprintln!(
            "  {}[{}] {}",
            d["severity"].as_str().unwrap_or_default(),
            d["code"].as_str().unwrap_or_default(),
            d["message"].as_str().unwrap_or_default()
        );
    }
}

/// botocore's ECS model (and the validator's ECS rules) accept these bodies.
fn ecs_check(shape: &str, files: &[PathBuf]) {
    let mut c = Command::new(python());
    c.arg(validators().join("ecs_validate.py"))
        .args(["--shape", shape])
        .args(files);
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("ecs_validate.py: {e}"));
    assert!(
        o.status.success(),
        "botocore's ECS model refuses a rendered {shape}:\n{}",
        text(&o)
    );
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The container fields the export carries, of a task definition's one container.
fn container_fields(td: &Value) -> Value {
    let c = &td["containerDefinitions"][0];
    let mut env: Vec<Value> = c["environment"].as_array().cloned().unwrap_or_default();
    env.sort_by_key(|e| e["name"].as_str().unwrap_or_default().to_string());
    let ports: Vec<Value> = c["portMappings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({"containerPort": p["containerPort"], "hostPort": p["hostPort"], "protocol": p["protocol"].as_str().unwrap_or("tcp")}))
        .collect();
    json!({
        "image": c["image"], "command": c["command"], "cpu": c["cpu"], "memory": c["memory"],
        "environment": env, "portMappings": ports,
    })
}

#[test]
fn export_aws_live_hand_made_cluster_and_bridge_deployed_app() {
    let m = Moto::start("export-live", "us-east-1");
    let dir = workdir("export-live");

    // (a) By hand, as another tool would: a cluster, two task definitions, two services.
    m.boto("ecs", "create_cluster", r#"{"clusterName": "handmade"}"#);
    let web_td = json!({
        "family": "web",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": [{
            "name": "web", "image": "nginx:1.27", "cpu": 256, "memory": 512, "essential": true,
            "command": ["nginx", "-g", "daemon off;"],
            "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "MODE", "value": "live"}, {"name": "LEVEL", "value": "3"}],
        }],
    });
    let agent_td = json!({
        "family": "agent",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": [{
            "name": "agent", "image": "busybox:1.36", "cpu": 128, "memory": 64, "essential": true,
            "command": ["sleep", "infinity"],
            "environment": [{"name": "ROLE", "value": "collector"}],
        }],
    });
    let register = |td: &Value| {
        let r = m.boto("ecs", "register_task_definition", &td.to_string());
        string(&r["taskDefinition"]["taskDefinitionArn"])
    };
    let web_arn = register(&web_td);
    let agent_arn = register(&agent_td);
    m.boto(
        "ecs",
        "create_service",
        &json!({
            "cluster": "handmade", "serviceName": "web", "taskDefinition": web_arn,
            "desiredCount": 3, "launchType": "EC2", "schedulingStrategy": "REPLICA",
            "deploymentConfiguration": {
                "minimumHealthyPercent": 66, "maximumPercent": 100,
                "deploymentCircuitBreaker": {"enable": true, "rollback": true},
            },
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:disk == ssd"}, {"type": "distinctInstance"}],
            "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
            "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef", "containerName": "web", "containerPort": 80}],
            "healthCheckGracePeriodSeconds": 30,
            "tags": [{"key": "team", "value": "payments"}],
        })
        .to_string(),
    );
    m.boto(
        "ecs",
        "create_service",
        &json!({
            "cluster": "handmade", "serviceName": "agent", "taskDefinition": agent_arn,
            "launchType": "EC2", "schedulingStrategy": "DAEMON",
        })
        .to_string(),
    );

    let out = dir.join("handmade.yaml");
    let outs = out.to_string_lossy().to_string();
    let v = json_out(&export(
        &m,
        &dir,
        &["--cluster", "handmade"],
        Some(&outs),
        "export -p aws --cluster handmade",
    ));
    show("export --cluster handmade", &v);
    let app = &v["app"];
    assert_eq!(app["name"], "handmade", "{app}");
    let web = &app["services"]["web"];
    assert_eq!(web["image"], "nginx:1.27", "{web}");
    assert_eq!(web["replicas"], 3, "{web}");
    assert_eq!(
        web["update"],
        json!({"parallelism": 1, "failure_action": "rollback", "order": "stop-first"}),
        "{web}"
    );
    assert_eq!(web["placement"]["spread"], "zone", "{web}");
    assert_eq!(
        web["placement"]["constraints"],
        json!(["node.labels.disk == ssd"]),
        "{web}"
    );
    assert_eq!(web["placement"]["max_per_host"], 1, "{web}");
    assert_eq!(web["env"]["MODE"], "live", "{web}");
    assert_eq!(web["ports"][0]["container"], 80, "{web}");
    assert_eq!(web["ports"][0]["published"], 8080, "{web}");
    assert_eq!(web["resources"]["memory"], "512MiB", "{web}");
    let agent = &app["services"]["agent"];
    assert_eq!(agent["mode"], "global", "{agent}");
    assert_eq!(agent["image"], "busybox:1.36", "{agent}");
    assert!(agent.get("update").is_none(), "{agent}");
    assert_eq!(app["providers"]["aws"]["cluster"], Value::Null, "{app}");
    assert_eq!(app["providers"]["aws"]["region"], "us-east-1", "{app}");
    // Services not named `<app>-<group>`: their own names, which render (and a deploy) use.
    assert_eq!(
        app["providers"]["aws"]["services"],
        json!({"agent": {"service_name": "agent", "family": "agent"},
               "web": {"service_name": "web", "family": "web"}}),
        "{app}"
    );
    // What a bridge app cannot hold is said, by service and field.
    let paths = diag_paths(&v);
    for want in [
        "service/web.loadBalancers[0]",
        "service/web.healthCheckGracePeriodSeconds",
        "service/web.tags[0]",
    ] {
        assert!(
            paths.iter().any(|(c, p)| c == "X001" && p == want),
            "no X001 for {want}: {paths:?}"
        );
    }
    // An empty list ECS prints (`volumesFrom: []`) is no dropped field.
    assert!(
        !paths.iter().any(|(_, p)| p.contains("volumesFrom")),
        "{paths:?}"
    );
    assert_eq!(v["summary"]["errors"], 0, "{v}");

    // The written file validates and renders to bodies botocore accepts, with the same fields.
    let o = bridge(&m, &dir, &["validate", "-f", &outs]);
    assert_eq!(o.status.code(), Some(0), "validate: {}", text(&o));
    let rdir = dir.join("rendered");
    render(&m, &dir, &outs, &rdir);
    let tds = rdir.join("aws/task-definitions");
    let svcs = rdir.join("aws/services");
    let (rweb, ragent) = (tds.join("web.json"), tds.join("agent.json"));
    ecs_check(
        "RegisterTaskDefinitionRequest",
        &[rweb.clone(), ragent.clone()],
    );
    assert_eq!(
        container_fields(&read_json(&rweb)),
        container_fields(&web_td),
        "web"
    );
    assert_eq!(
        container_fields(&read_json(&ragent)),
        container_fields(&agent_td),
        "agent"
    );
    let (sweb, sagent) = (svcs.join("web.json"), svcs.join("agent.json"));
    ecs_check("CreateServiceRequest", &[sweb.clone(), sagent.clone()]);
    let sw = read_json(&sweb);
    assert_eq!(sw["desiredCount"], 3, "{sw}");
    assert_eq!(sw["schedulingStrategy"], "REPLICA", "{sw}");
    assert_eq!(
        sw["deploymentConfiguration"],
        json!({"minimumHealthyPercent": 66, "maximumPercent": 100,
               "deploymentCircuitBreaker": {"enable": true, "rollback": true}}),
        "{sw}"
    );
    assert!(
        sw["placementConstraints"]
            .as_array()
            .is_some_and(|c| c.contains(&json!({"type": "distinctInstance"}))
                && c.contains(&json!({"type": "memberOf", "expression": "attribute:disk == ssd"}))),
        "{sw}"
    );
    assert_eq!(
        sw["placementStrategy"],
        json!([{"type": "spread", "field": "attribute:ecs.availability-zone"}]),
        "{sw}"
    );
    assert_eq!(read_json(&sagent)["schedulingStrategy"], "DAEMON");

    // One service of the cluster.
    let v = json_out(&export(
        &m,
        &dir,
        &["--cluster", "handmade", "--service", "agent"],
        None,
        "export --service agent",
    ));
    assert_eq!(service_names(&v["app"]), ["agent"], "{v}");

    // Bad selectors fail clearly.
    for (args, code, says) in [
        (&["--cluster", "nope"][..], Some(1), "no ECS cluster `nope`"),
        (
            &["--cluster", "handmade", "--service", "nosuch"],
            None,
            "no active service `nosuch` in ECS cluster `handmade`",
        ),
        (&[], Some(2), "--cluster NAME"),
        (&["--stack", "handmade"], None, "--stack is a Swarm stack"),
    ] {
        refused(&m, &dir, args, code, says);
    }

    // (b) An app bridge deployed, with a secret, read back by its tags.
    let value = "live-export-secret-5d1e9c";
    std::fs::write(dir.join("db_password.txt"), value).unwrap_or_else(|e| panic!("{e}"));
    let app_yaml = "bridge: v1\nname: liveapp\nservices:\n  api:\n    image: nginx:1.27\n    replicas: 2\n    env: {LOG_LEVEL: info}\n    ports: [{container: 80}]\n    secrets: [db_password]\n    update: {order: start-first, parallelism: 1}\n    resources: {cpus: 0.25, memory: 512MiB}\n  worker:\n    image: busybox:1.36\n    command: [sleep, infinity]\n    resources: {cpus: 0.25, memory: 512MiB}\nsecrets:\n  db_password: {file: ./db_password.txt}\nproviders:\n  aws: {launch_type: fargate, execution_role_arn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole'}\n";
    let f = dir.join("bridge.yaml");
    std::fs::write(&f, app_yaml).unwrap_or_else(|e| panic!("{e}"));
    let file = f.to_string_lossy().to_string();
    let o = bridge(
        &m,
        &dir,
        &[
            "deploy",
            "-f",
            &file,
            "-p",
            "aws",
            "--wait",
            "--timeout",
            "3m",
        ],
    );
    ok(&o, &m, "deploy");
    let back = dir.join("liveapp.yaml");
    let o = export(
        &m,
        &dir,
        &["--app", "liveapp"],
        Some(&back.to_string_lossy()),
        "export --app liveapp",
    );
    let all = format!(
        "{}{}",
        text(&o),
        std::fs::read_to_string(&back).unwrap_or_default()
    );
    assert!(!all.contains(value), "the secret's value is in the export");
    let v = json_out(&o);
    show("export --app liveapp", &v);
    let app = &v["app"];
    assert_eq!(app["name"], "liveapp", "{app}");
    assert_eq!(service_names(app), ["api", "worker"], "{app}");
    let api = &app["services"]["api"];
    assert_eq!(api["replicas"], 2, "{api}");
    assert_eq!(api["image"], "nginx:1.27", "{api}");
    assert_eq!(api["env"]["LOG_LEVEL"], "info", "{api}");
    assert_eq!(
        api["update"],
        json!({"parallelism": 1, "order": "start-first"}),
        "{api}"
    );
    assert_eq!(app["services"]["worker"]["replicas"], Value::Null, "{app}");
    assert_eq!(app["providers"]["aws"]["launch_type"], "fargate", "{app}");
    // The secret is named after the variable ECS sets (`DB_PASSWORD`), as a DNS label.
    assert_eq!(app["secrets"]["db-password"]["external"], true, "{app}");
    assert_eq!(
        api["secrets"],
        json!([{"env": "DB_PASSWORD", "name": "db-password"}]),
        "{api}"
    );
    // bridge's default log configuration (its region included) is no field of the app.
    assert_eq!(api["logging"], Value::Null, "{api}");
    let arn = app["providers"]["aws"]["secrets"]["db-password"]
        .as_str()
        .unwrap_or_default();
    assert!(arn.contains(":secretsmanager:"), "{app}");
    // The driver's own subnets and security group are not written into the app.
    assert_eq!(app["providers"]["aws"]["subnets"], Value::Null, "{app}");
    assert_eq!(
        app["providers"]["aws"]["security_groups"],
        Value::Null,
        "{app}"
    );
    let o = bridge(&m, &dir, &["validate", "-f", &back.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(0), "validate: {}", text(&o));

    for (args, code, says) in [
        (&["--app", "nosuch"][..], Some(1), "no ECS cluster `nosuch`"),
        (
            &["--app", "other", "--cluster", "liveapp"],
            None,
            "is tagged bridge.app=other",
        ),
    ] {
        refused(&m, &dir, args, code, says);
    }

    ok(
        &bridge(&m, &dir, &["destroy", "-f", &file, "-p", "aws"]),
        &m,
        "destroy",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fargate services made by hand: awsvpc networking into `providers.aws`, a start-first
/// deployment, a capacity provider strategy (X002), percentages bridge would write otherwise
/// (X002), and a second service on the same task definition family (X001, not exported).
#[test]
fn export_aws_live_fargate_network_and_approximations() {
    let m = Moto::start("export-live-fg", "us-east-1");
    let dir = workdir("export-live-fg");
    let (_, subnet, sg) = m.network(9, "api");
    m.boto("ecs", "create_cluster", r#"{"clusterName": "fg"}"#);
    // Different container ports: the ECS exporter reads an awsvpc port as published on the
    // same port, and two services publishing one port do not validate (README, Limits).
    let register = |family: &str, image: &str, port: u16| {
        string(
            &m.boto(
                "ecs",
                "register_task_definition",
                &json!({
                    "family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
                    "cpu": "256", "memory": "512",
                    "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
                    "containerDefinitions": [{"name": family, "image": image,
                        "portMappings": [{"containerPort": port, "protocol": "tcp"}]}],
                })
                .to_string(),
            )["taskDefinition"]["taskDefinitionArn"],
        )
    };
    let api = register("api", "nginx:1.27", 8080);
    let batch = register("batch", "busybox:1.36", 9090);
    let net = json!({"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg], "assignPublicIp": "ENABLED"}});
    for (name, td, extra) in [
        (
            "api",
            &api,
            json!({"launchType": "FARGATE", "desiredCount": 4,
                   "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 150}}),
        ),
        (
            "api-copy",
            &api,
            json!({"launchType": "FARGATE", "desiredCount": 1}),
        ),
        (
            "batch",
            &batch,
            json!({"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
                   "desiredCount": 2,
                   "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 200}}),
        ),
    ] {
        let mut body = json!({"cluster": "fg", "serviceName": name, "taskDefinition": td, "networkConfiguration": net});
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        m.boto("ecs", "create_service", &body.to_string());
    }
    let out = dir.join("fg.yaml");
    let outs = out.to_string_lossy().to_string();
    let v = json_out(&export(
        &m,
        &dir,
        &["--cluster", "fg"],
        Some(&outs),
        "export -p aws --cluster fg",
    ));
    show("export --cluster fg", &v);
    let app = &v["app"];
    let aws = &app["providers"]["aws"];
    assert_eq!(aws["launch_type"], "fargate", "{app}");
    assert_eq!(aws["subnets"], json!([subnet]), "{app}");
    assert_eq!(aws["security_groups"], json!([sg]), "{app}");
    assert_eq!(aws["assign_public_ip"], true, "{app}");
    assert_eq!(service_names(app), ["api", "batch"], "{app}");
    let a = &app["services"]["api"];
    assert_eq!(a["replicas"], 4, "{a}");
    assert_eq!(
        a["update"],
        json!({"parallelism": 2, "order": "start-first"}),
        "{a}"
    );
    let b = &app["services"]["batch"];
    assert_eq!(b["replicas"], 2, "{b}");
    let paths = diag_paths(&v);
    for (code, want) in [
        ("X001", "service/api-copy.taskDefinition"),
        ("X002", "service/batch.capacityProviderStrategy"),
        ("X002", "service/batch.deploymentConfiguration"),
    ] {
        assert!(
            paths.iter().any(|(c, p)| c == code && p == want),
            "no {code} for {want}: {paths:?}"
        );
    }
    // Rendered again: the network configuration and the start-first percentages come back.
    let rdir = dir.join("rendered");
    render(&m, &dir, &outs, &rdir);
    let sapi = rdir.join("aws/services/api.json");
    ecs_check("CreateServiceRequest", std::slice::from_ref(&sapi));
    let s = read_json(&sapi);
    assert_eq!(
        s["deploymentConfiguration"],
        json!({"minimumHealthyPercent": 100, "maximumPercent": 150}),
        "{s}"
    );
    assert_eq!(s["networkConfiguration"], net, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}
