//! Health gating on ECS (issue 12), through the `bridge` binary against a moto server whose
//! agent (tests/support/moto_agent.py) runs each task's container health check on the machine's
//! Docker Engine, as the ECS agent does, and reports the result into moto's tasks
//! (`healthStatus`, read back by the driver with DescribeTasks):
//! - api depends on db with `condition: healthy`: db's service is created, the deploy waits until
//!   db's task reports HEALTHY, and only then creates api's service (the agent's log of db's
//!   HEALTHY is older than api's `createdAt` as moto reports it); status shows db healthy.
//! - a db whose check never passes: `deploy --wait --timeout 20s` fails within the timeout, the
//!   error names db and shows what ECS shows (the stopped task's reason, the container's
//!   UNHEALTHY), and api is never created.
//!
//! Every request body is checked against botocore's models.

#[path = "support/engine.rs"]
mod engine;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use moto::{Moto, bridge, ok, workdir};
use peers::text;
use serde_json::Value;

fn run(m: &Moto, dir: &Path, args: &[&str]) -> Output {
    bridge(Some(m), dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

/// An app of two Fargate services, api waiting for db to be healthy; db's check is `check`.
fn app(name: &str, db_command: &str, check: &str) -> String {
    let img = engine::TEST_IMAGE;
    format!(
        "bridge: v1\nname: {name}\nservices:\n  db:\n    image: {img}\n    command: [sh, -c, {db_command:?}]\n    health: {{test: [CMD-SHELL, {check:?}], interval: 5s, timeout: 2s, retries: 1}}\n    resources: {{cpus: 0.25, memory: 128MiB}}\n  api:\n    image: {img}\n    command: [sleep, '3600']\n    depends_on: [{{service: db, condition: healthy}}]\n    resources: {{cpus: 0.25, memory: 128MiB}}\nproviders:\n  aws: {{launch_type: fargate, execution_role_arn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole'}}\n"
    )
}

/// The engine containers the agent runs health checks in.
fn engine_containers(m: &Moto) -> Vec<String> {
    let o = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}}", "--filter"])
        .arg(format!("label=bridge.moto-agent={}", m.agent_id))
        .output()
        .unwrap_or_else(|e| panic!("docker ps: {e}"));
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The epoch seconds at which a service was created, as moto reports it (its first deployment's
/// `createdAt`: moto does not return the service's own), or None when it does not exist.
fn created_at(m: &Moto, cluster: &str, service: &str) -> Option<f64> {
    let script = "import boto3, sys\nc = boto3.client('ecs', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id='testing', aws_secret_access_key='testing')\ns = [x for x in c.describe_services(cluster=sys.argv[3], services=[sys.argv[4]])['services'] if x['status'] == 'ACTIVE']\nprint(s[0]['deployments'][0]['createdAt'].timestamp() if s else 'none')\n";
    let o = Command::new(peers::python())
        .args(["-c", script, &m.direct, &m.region, cluster, service])
        .output()
        .unwrap_or_else(|e| panic!("boto3: {e}"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().parse().ok()
}

#[test]
fn aws_api_waits_until_db_tasks_report_healthy() {
    engine::ensure_test_image();
    let m = Moto::start("health", "us-east-1");
    let dir = workdir("health");
    // db becomes healthy once /tmp/ready exists, 3 s after it starts (its first check runs
    // after the 5 s interval).
    let y = app(
        "hh",
        "sleep 3; touch /tmp/ready; exec sleep 3600",
        "test -f /tmp/ready",
    );
    std::fs::write(dir.join("bridge.yaml"), y).unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let o = run(
        &m,
        &dir,
        &[
            "deploy",
            "-f",
            "bridge.yaml",
            "-p",
            "aws",
            "--wait",
            "--timeout",
            "90s",
        ],
    );
    ok(&o, &m, "deploy");
    let took = t0.elapsed();

    // The agent saw db's check pass on the engine, and api's service is younger than that.
    let healthy = m.health_times("db", "HEALTHY");
    assert!(
        !healthy.is_empty(),
        "no HEALTHY of db in the agent's log:\n{}",
        m.log()
    );
    let db_created = created_at(&m, "hh", "hh-db").unwrap_or_else(|| panic!("no hh-db"));
    let api_created = created_at(&m, "hh", "hh-api").unwrap_or_else(|| panic!("no hh-api"));
    assert!(
        healthy[0] - db_created >= 4.0,
        "db was healthy {:.1}s after its service was created: the check ran too soon",
        healthy[0] - db_created
    );
    assert!(
        api_created > healthy[0],
        "api's service was created at {api_created:.3}, before db's task was HEALTHY at {:.3}",
        healthy[0]
    );
    // The bridge output says it waited.
    assert!(text(&o).contains("service/db"), "{}", text(&o));
    // The check really ran in a container on the engine.
    assert!(
        engine_containers(&m).iter().any(|n| n.ends_with("-db")),
        "no db container on the engine: {:?}",
        engine_containers(&m)
    );

    // Status shows health as ECS reports it: db healthy, api without a check.
    let o = run(
        &m,
        &dir,
        &[
            "status",
            "-f",
            "bridge.yaml",
            "-p",
            "aws",
            "--output",
            "json",
        ],
    );
    ok(&o, &m, "status");
    let st: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let health = |n: &str| {
        st["components"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["resource"]["name"] == n)
            .map(|c| c["health"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(health("db"), "healthy", "{st}");
    assert_eq!(health("api"), "-", "{st}");

    let checked = m.check_bodies("health");
    assert!(checked >= 4, "only {checked} bodies checked");

    ok(
        &run(&m, &dir, &["destroy", "-f", "bridge.yaml", "-p", "aws"]),
        &m,
        "destroy",
    );
    // The agent removes the engine containers of stopped tasks.
    let start = Instant::now();
    while !engine_containers(&m).is_empty() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(engine_containers(&m), Vec::<String>::new());
    eprintln!("deploy with health gating took {:.1}s", took.as_secs_f64());
}

#[test]
fn aws_a_check_that_never_passes_fails_the_deploy_within_the_timeout() {
    engine::ensure_test_image();
    let m = Moto::start("unhealthy", "us-east-1");
    let dir = workdir("unhealthy");
    let y = app("hu", "exec sleep 3600", "echo db is not ready; exit 1");
    std::fs::write(dir.join("bridge.yaml"), y).unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let o = run(
        &m,
        &dir,
        &[
            "deploy",
            "-f",
            "bridge.yaml",
            "-p",
            "aws",
            "--wait",
            "--timeout",
            "20s",
        ],
    );
    let took = t0.elapsed();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    // 20 s of waiting plus what comes before it: the cluster, the Cloud Map namespace (an
    // operation polled until done) and services, the task definitions, and a second round once
    // the Cloud Map ARNs are known. Measured 26 s alone, 40-67 s with other suites beside it;
    // the bound is far below the default --timeout of 5 minutes, so it proves --timeout holds.
    assert!(
        took < Duration::from_secs(120),
        "took {:.1}s: {out}",
        took.as_secs_f64()
    );
    assert!(
        out.contains("service/db") && out.contains("not healthy after 20s"),
        "{out}"
    );
    assert!(
        out.contains("Task failed container health checks")
            && out.contains("container db: UNHEALTHY"),
        "the error does not show ECS's health reason:\n{out}"
    );
    // The agent did report it; api was never created.
    assert!(!m.health_times("db", "UNHEALTHY").is_empty(), "{}", m.log());
    assert_eq!(created_at(&m, "hu", "hu-api"), None, "api was created");
    assert!(created_at(&m, "hu", "hu-db").is_some());

    // Status names the stopped tasks' reason.
    let o = run(
        &m,
        &dir,
        &[
            "status",
            "-f",
            "bridge.yaml",
            "-p",
            "aws",
            "--output",
            "json",
        ],
    );
    assert!(
        text(&o).contains("Task failed container health checks"),
        "{}",
        text(&o)
    );
    m.check_bodies("unhealthy");
    let _ = run(&m, &dir, &["destroy", "-f", "bridge.yaml", "-p", "aws"]);
    eprintln!("failing deploy took {:.1}s", took.as_secs_f64());
}
