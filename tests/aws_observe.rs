//! Issue 15's AWS observe goal, against moto behind the recording proxy (tests/support/moto.rs):
//! the ECS calls of observing an app grow with services / 10 (DescribeServices ten at a time,
//! task definitions listed and their tags read 100 a page), with no call per task definition
//! family, and Cloud Map's discovery services read 100 to a ListServices call from the
//! description bridge gives them. An app of 25 Fargate services (each with a discovery service)
//! is deployed through the binary; the `plan` after it is empty (the spec hashes read from the
//! Tagging API and the descriptions match) and its calls are counted by operation; a discovery
//! service without the description is still read, from its tags; one changed service is then
//! planned as exactly its own update.

#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use moto::{Moto, bridge, ok, workdir};
use peers::text;

const SERVICES: usize = 25;

fn run(m: &Moto, dir: &Path, args: &[&str]) -> Output {
    bridge(Some(m), dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

/// A Fargate app of [`SERVICES`] services; `changed` gets another env value.
fn app(changed: Option<usize>) -> String {
    let mut s = String::from("bridge: v1\nname: obs\nservices:\n");
    for i in 0..SERVICES {
        let level = if changed == Some(i) { "debug" } else { "info" };
        s.push_str(&format!(
            "  s{i}:\n    image: nginx:1.27\n    expose: [80]\n    env: {{LOG_LEVEL: {level}}}\n"
        ));
    }
    s.push_str("providers:\n  aws: {launch_type: fargate, execution_role_arn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole'}\n");
    s
}

/// The operations recorded from `from` on, with their counts.
fn calls(m: &Moto, from: usize) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in &m.recorded()[from..] {
        *out.entry(r.op.clone()).or_insert(0) += 1;
    }
    out
}

#[test]
fn aws_observe_batches_task_definitions_and_services() {
    let m = Moto::start("observe", "us-east-1");
    let dir = workdir("observe");
    let f = dir.join("bridge.yaml");
    std::fs::write(&f, app(None)).unwrap_or_else(|e| panic!("{e}"));
    let file = f.to_string_lossy().to_string();
    let deploy = [
        "deploy",
        "-f",
        &file,
        "-p",
        "aws",
        "--wait",
        "--timeout",
        "3m",
    ];
    ok(&run(&m, &dir, &deploy), &m, "deploy");

    let before = m.recorded().len();
    let plan = ["plan", "-f", &file, "-p", "aws", "--detailed-exitcode"];
    let o = run(&m, &dir, &plan);
    assert_eq!(o.status.code(), Some(0), "plan after deploy: {}", text(&o));
    let c = calls(&m, before);
    let total: usize = c.values().sum();
    eprintln!("observe of {SERVICES} services: {total} calls {c:?}");
    // No call per task definition family or revision.
    assert_eq!(c.get("DescribeTaskDefinition"), None, "{c:?}");
    // moto answers a list in one page; AWS pages 100 at a time.
    assert_eq!(c.get("ListTaskDefinitions"), Some(&1), "{c:?}");
    assert_eq!(c.get("GetResources"), Some(&1), "{c:?}");
    assert_eq!(
        c.get("DescribeServices"),
        Some(&SERVICES.div_ceil(10)),
        "{c:?}"
    );
    // Cloud Map: the app's 25 discovery services come from one ListServices page (their
    // descriptions carry app, component and spec hash), with no call per service; only the
    // namespace's tags are read. Every call is a fixed number per app, or one per 10 services.
    assert_eq!(c.get("GetService"), None, "{c:?}");
    assert!(
        c.get("ListTagsForResource").copied().unwrap_or(0) <= 2,
        "{c:?}"
    );
    assert!(
        total < SERVICES,
        "{total} calls for {SERVICES} services: {c:?}"
    );

    // A discovery service without bridge's description (made by a bridge that wrote none) is
    // still the app's, read from its tags: the plan stays empty, with one GetService for it.
    let script = "import boto3, sys\nc = boto3.client('servicediscovery', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id='testing', aws_secret_access_key='testing')\nn = 0\nfor s in c.list_services()['Services']:\n    if s['Name'] == 's3' and s.get('Description', '').startswith('bridge app=obs '):\n        c.update_service(Id=s['Id'], Service={'Description': '', 'DnsConfig': {'DnsRecords': s['DnsConfig']['DnsRecords']}})\n        n += 1\nprint(n)\n";
    let o = std::process::Command::new(peers::python())
        .args(["-c", script, &m.direct, &m.region])
        .output()
        .unwrap_or_else(|e| panic!("boto3: {e}"));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "1",
        "boto3: {}",
        text(&o)
    );
    let before = m.recorded().len();
    let o = run(&m, &dir, &plan);
    assert_eq!(
        o.status.code(),
        Some(0),
        "plan, one old-style discovery service: {}",
        text(&o)
    );
    let c = calls(&m, before);
    assert_eq!(c.get("GetService"), Some(&1), "{c:?}");

    // The tags read a page at a time are the ones compared: a changed service is exactly its
    // task definition's and its service's update.
    std::fs::write(&f, app(Some(7))).unwrap_or_else(|e| panic!("{e}"));
    let o = run(
        &m,
        &dir,
        &[
            "plan",
            "-f",
            &file,
            "-p",
            "aws",
            "--detailed-exitcode",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "plan after a change: {}",
        text(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "plan")
        .unwrap_or_else(|| panic!("no plan event: {}", text(&o)));
    let changes: Vec<String> = v["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["action"] != "noop")
        .map(|s| {
            format!(
                "{} {}",
                s["action"].as_str().unwrap_or("?"),
                s["resource"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            "update task-definition/s7".to_string(),
            "update service/s7".to_string()
        ],
        "{v}"
    );

    ok(
        &run(&m, &dir, &["destroy", "-f", &file, "-p", "aws"]),
        &m,
        "destroy",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
