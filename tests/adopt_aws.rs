//! `bridge deploy --adopt` on AWS ECS, against a moto server (tests/support/moto.rs): a
//! cluster, a Fargate task definition and a service made by hand with boto3 (not by bridge),
//! under their own names (`web`, not bridge's `<app>-<group>`), with the Cloud Map namespace
//! and service bridge's names across tasks need (also by hand), are exported with `bridge
//! export -p aws --cluster --service` (which writes their names into `providers.aws.services`);
//! the bridge.yaml validates; a deploy without `--adopt` refuses (exit 2, naming each object)
//! and tags nothing; `plan --adopt` adopts the cluster, the namespace, the Cloud Map service,
//! the task definition and the service (`<=`), and the same app with another replica count
//! makes the service's step an update naming the field; `deploy --adopt` tags them in place;
//! the plan after it is empty; the service keeps its ARN, its task definition revision and its
//! deployments, the family gets no revision, and bridge's tags are on the service, the task
//! definition and the Cloud Map service (ListTagsForResource). Every body bridge sent passes
//! botocore's models, the ECS TagResource bodies too.

#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::path::Path;
use std::process::Output;

use moto::{Moto, ok, workdir};
use peers::text;
use serde_json::{Value, json};

fn bridge(m: &Moto, dir: &Path, args: &[&str]) -> Output {
    moto::bridge(Some(m), dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The hand-made service as ECS describes it.
fn service(m: &Moto) -> Value {
    m.boto(
        "ecs",
        "describe_services",
        r#"{"cluster": "handmade", "services": ["web"], "include": ["TAGS"]}"#,
    )["services"][0]
        .clone()
}

/// The (resource, action, reason) of each step of a `plan --output json` that changes something.
fn changes(o: &Output) -> Vec<(String, String, String)> {
    let plan: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", text(o)));
    plan["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["action"] != "noop")
        .map(|s| {
            (
                string(&s["resource"]),
                string(&s["action"]),
                string(&s["reason"]),
            )
        })
        .collect()
}

/// How many ECS TagResource requests bridge sent (each checked by `check_bodies` against
/// botocore's ECS model, TagResourceRequest).
fn ecs_tag_requests(m: &Moto) -> usize {
    m.recorded()
        .iter()
        .filter(|r| r.op == "TagResource" && r.service.starts_with("AmazonEC2ContainerService"))
        .count()
}

#[test]
fn a_hand_made_ecs_service_is_adopted_in_place() {
    let m = Moto::start("adopt-aws", "us-east-1");
    let dir = workdir("adopt-aws");

    // By hand, as another tool would: a VPC, a cluster, a task definition family `web` and a
    // Fargate service `web`, as bridge would run them but for the names and the tags.
    let (vpc, subnet, sg) = m.network(7, "web");
    // The names across tasks, as bridge would make them: a private DNS namespace
    // `handmade.local` on the VPC, a Cloud Map service `web` in it.
    m.boto(
        "servicediscovery",
        "create_private_dns_namespace",
        &json!({"Name": "handmade.local", "Vpc": vpc}).to_string(),
    );
    let ns = m.boto("servicediscovery", "list_namespaces", "{}")["Namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["Name"] == "handmade.local")
        .map(|n| string(&n["Id"]))
        .unwrap_or_default();
    assert!(!ns.is_empty(), "the namespace was not made");
    let registry = string(
        &m.boto(
            "servicediscovery",
            "create_service",
            &json!({
                "Name": "web", "NamespaceId": ns,
                "DnsConfig": {"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 10}]},
                "HealthCheckCustomConfig": {"FailureThreshold": 1},
            })
            .to_string(),
        )["Service"]["Arn"],
    );
    m.boto("ecs", "create_cluster", r#"{"clusterName": "handmade"}"#);
    let td = m.boto(
        "ecs",
        "register_task_definition",
        &json!({
            "family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "cpu": "256", "memory": "512",
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "containerDefinitions": [{
                "name": "web", "image": "nginx:1.27", "cpu": 256, "memory": 512, "essential": true,
                "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "name": "web-8080-tcp"}],
                "environment": [{"name": "MODE", "value": "live"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/bridge/handmade", "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "handmade"}},
            }],
        })
        .to_string(),
    );
    let td_arn = string(&td["taskDefinition"]["taskDefinitionArn"]);
    m.boto(
        "ecs",
        "create_service",
        &json!({
            "cluster": "handmade", "serviceName": "web", "taskDefinition": td_arn,
            "desiredCount": 2, "launchType": "FARGATE", "propagateTags": "TASK_DEFINITION",
            "enableExecuteCommand": false,
            "serviceRegistries": [{"registryArn": registry}],
            "serviceConnectConfiguration": {"enabled": true, "namespace": "handmade.local", "services": [
                {"portName": "web-8080-tcp", "discoveryName": "web-8080", "clientAliases": [{"dnsName": "web", "port": 8080}]}]},
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg], "assignPublicIp": "DISABLED"}},
        })
        .to_string(),
    );
    let before = service(&m);
    assert_eq!(before["tags"], json!([]), "{before:#}");

    // Export: the app names the service and its family, and validates.
    let out = dir.join("bridge.yaml");
    let file = out.to_string_lossy().to_string();
    let e = bridge(
        &m,
        &dir,
        &[
            "export",
            "-p",
            "aws",
            "--cluster",
            "handmade",
            "--service",
            "web",
            "-o",
            &file,
            "--output",
            "json",
        ],
    );
    ok(&e, &m, "export -p aws --cluster handmade --service web");
    let yaml = std::fs::read_to_string(&out).unwrap_or_default();
    let exported: Value = serde_json::from_slice(&e.stdout)
        .unwrap_or_else(|err| panic!("not one JSON document ({err}): {}", text(&e)));
    assert_eq!(
        exported["app"]["providers"]["aws"]["services"],
        json!({"web": {"service_name": "web", "family": "web"}}),
        "{yaml}"
    );
    let v = bridge(&m, &dir, &["validate", "-f", &file]);
    assert_eq!(v.status.code(), Some(0), "{}\n{yaml}", text(&v));

    // Without --adopt: refused, naming each object, nothing tagged.
    let d = bridge(&m, &dir, &["deploy", "-f", &file, "-p", "aws"]);
    let err = text(&d);
    assert_eq!(d.status.code(), Some(2), "{err}");
    for name in [
        "cluster/handmade: handmade",
        "namespace/handmade: handmade.local",
        "discovery/web: web.handmade.local",
        "task-definition/web: web:1",
        "service/web: web",
        "--adopt",
    ] {
        assert!(err.contains(name), "no `{name}` in: {err}");
    }
    assert_eq!(service(&m)["tags"], json!([]), "tagged without --adopt");
    let td_tags = |m: &Moto| {
        m.boto(
            "ecs",
            "list_tags_for_resource",
            &json!({"resourceArn": td_arn}).to_string(),
        )["tags"]
            .clone()
    };
    assert_eq!(td_tags(&m), json!([]), "tagged without --adopt");

    // plan --adopt: the ECS and Cloud Map objects adopted in place; the app's own security
    // group (Fargate tasks get one; this app names its own for the service) is new.
    let plan_adopt = |f: &str| {
        let p = bridge(
            &m,
            &dir,
            &["plan", "-f", f, "-p", "aws", "--adopt", "--output", "json"],
        );
        ok(&p, &m, "plan --adopt");
        changes(&p)
    };
    let steps = plan_adopt(&file);
    let actions: Vec<(&str, &str)> = steps
        .iter()
        .map(|(r, a, _)| (r.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("cluster/handmade", "adopt"),
            ("namespace/handmade", "adopt"),
            ("security-group/handmade", "create"),
            ("discovery/web", "adopt"),
            ("task-definition/web", "adopt"),
            ("service/web", "adopt"),
        ],
        "{steps:#?}\n{yaml}"
    );
    // A field the app sets otherwise makes the adoption an update, said in the reason.
    let changed = dir.join("changed.yaml");
    assert!(yaml.contains("replicas: 2"), "{yaml}");
    std::fs::write(&changed, yaml.replace("replicas: 2", "replicas: 3"))
        .unwrap_or_else(|e| panic!("{e}"));
    let steps = plan_adopt(&changed.to_string_lossy());
    let svc = steps
        .iter()
        .find(|(r, _, _)| r == "service/web")
        .unwrap_or_else(|| panic!("{steps:#?}"));
    assert_eq!(svc.1, "update", "{steps:#?}");
    assert!(
        svc.2.contains("adopted with an update") && svc.2.contains("desiredCount 2 -> 3"),
        "{steps:#?}"
    );

    // deploy --adopt, then the plan is empty.
    let a = bridge(&m, &dir, &["deploy", "-f", &file, "-p", "aws", "--adopt"]);
    ok(&a, &m, "deploy --adopt");
    let q = bridge(
        &m,
        &dir,
        &["plan", "-f", &file, "-p", "aws", "--detailed-exitcode"],
    );
    assert_eq!(q.status.code(), Some(0), "{}", text(&q));
    assert!(text(&q).contains("no changes"), "{}", text(&q));

    // In place: the same service, revision and deployments; no new revision of the family.
    let after = service(&m);
    for k in ["serviceArn", "taskDefinition", "createdAt", "desiredCount"] {
        assert_eq!(after[k], before[k], "{k} changed: {after:#}");
    }
    let ids = |s: &Value| -> Vec<String> {
        s["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| string(&d["id"]))
            .collect()
    };
    assert_eq!(ids(&after), ids(&before), "a new deployment: {after:#}");
    assert_eq!(ids(&after).len(), 1, "{after:#}");
    let revisions =
        m.boto("ecs", "list_task_definitions", r#"{"familyPrefix": "web"}"#)["taskDefinitionArns"]
            .clone();
    assert_eq!(revisions, json!([td_arn]), "a new revision of family web");

    // bridge's tags, read back from ECS and Cloud Map.
    let tag = |tags: &Value, key: &str, k: &str, v: &str| -> String {
        tags.as_array()
            .into_iter()
            .flatten()
            .find(|t| t[k] == key)
            .map(|t| string(&t[v]))
            .unwrap_or_default()
    };
    let svc_tags = m.boto(
        "ecs",
        "list_tags_for_resource",
        &json!({"resourceArn": before["serviceArn"]}).to_string(),
    )["tags"]
        .clone();
    assert_eq!(
        tag(&svc_tags, "bridge.app", "key", "value"),
        "handmade",
        "{svc_tags}"
    );
    assert_eq!(
        tag(&svc_tags, "bridge.component", "key", "value"),
        "service/web",
        "{svc_tags}"
    );
    assert!(
        !tag(&svc_tags, "bridge.spec-hash", "key", "value").is_empty(),
        "{svc_tags}"
    );
    let tdt = td_tags(&m);
    assert_eq!(
        tag(&tdt, "bridge.component", "key", "value"),
        "task-definition/web",
        "{tdt}"
    );
    let cm = m.boto(
        "servicediscovery",
        "list_tags_for_resource",
        &json!({"ResourceARN": registry}).to_string(),
    )["Tags"]
        .clone();
    assert_eq!(tag(&cm, "bridge.app", "Key", "Value"), "handmade", "{cm}");

    // Every body bridge sent passes botocore's models (the ECS TagResource bodies too).
    assert!(ecs_tag_requests(&m) >= 3);
    assert!(m.check_bodies("adopt-aws") > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
