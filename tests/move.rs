//! `bridge move` (issue 14) through the binary, from the real Docker Engine's swarm to AWS ECS
//! on a moto server (whose agent, tests/support/moto_agent.py, runs ECS tasks' health checks on
//! the engine and reports them as ECS would), with a named volume and a secret:
//! - a move whose volume's data cannot follow is refused, naming the volume, with nothing
//!   created on AWS; with `--no-data` it deploys B, waits for B's real health and stops with A
//!   serving and B's endpoints shown; `--remove-source` removes A. B's task was HEALTHY (the
//!   agent's record) before the engine removed A's service (the engine's own event); the
//!   secret on B holds the value of its env source at move time, not A's.
//! - `kill -9` during deployed-B, B-healthy and A-removed: each rerun goes on, and the end holds
//!   one ECS service, one secret, nothing of the app on the engine (read back from both).
//! - a B whose health check fails: the move stops within --timeout, A's service untouched and
//!   running; `--rollback` removes B and leaves A serving.
//!
//! Every ECS/EC2 request body is checked against botocore's models.

#[path = "support/engine.rs"]
mod engine;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use moto::{Moto, ok, workdir};
use peers::text;
use serde_json::Value;

fn bridge(m: &Moto, dir: &Path, token: &str) -> Command {
    let mut c = moto::bridge(Some(m), dir);
    c.env_remove("DOCKER_HOST").env("MV_TOKEN", token);
    c
}

fn run(m: &Moto, dir: &Path, token: &str, args: &[&str]) -> Output {
    bridge(m, dir, token)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

/// One service with a named volume and a secret, on swarm by default; `check` is its health
/// check. Fargate on AWS.
fn app(name: &str, check: &str) -> String {
    let img = engine::TEST_IMAGE;
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: {img}\n    command: [sh, -c, 'sleep 2; touch /tmp/ok; exec sleep 3600']\n    stop_signal: SIGKILL\n    health: {{test: [CMD-SHELL, {check:?}], interval: 5s, timeout: 2s, retries: 1}}\n    volumes: ['data:/data']\n    secrets: [token]\n    resources: {{cpus: 0.25, memory: 128MiB}}\nvolumes:\n  data: {{}}\nsecrets:\n  token: {{env: MV_TOKEN}}\nproviders:\n  default: swarm\n  aws: {{launch_type: fargate, execution_role_arn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole'}}\n"
    )
}

/// The app's ACTIVE ECS services as moto describes them: (name, createdAt of the first
/// deployment).
fn ecs_services(m: &Moto, app: &str) -> Vec<(String, f64)> {
    let script = "import boto3, sys\nc = boto3.client('ecs', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id='testing', aws_secret_access_key='testing')\ntry:\n    arns = c.list_services(cluster=sys.argv[3])['serviceArns']\nexcept Exception:\n    arns = []\nfor s in (c.describe_services(cluster=sys.argv[3], services=arns)['services'] if arns else []):\n    if s['status'] == 'ACTIVE':\n        print(s['serviceName'], s['deployments'][0]['createdAt'].timestamp())\n";
    let o = Command::new(peers::python())
        .args(["-c", script, &m.direct, &m.region, app])
        .output()
        .unwrap_or_else(|e| panic!("boto3: {e}"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let (n, t) = l.split_once(' ')?;
            Some((n.to_string(), t.parse().ok()?))
        })
        .collect()
}

/// The app's objects on the engine: services, secrets, volumes, networks (names).
fn on_engine(app: &str) -> Vec<String> {
    let mut out = Vec::new();
    for kind in ["services", "secrets", "volumes", "networks"] {
        for o in engine::labelled(kind, app) {
            let n = o["Spec"]["Name"]
                .as_str()
                .or(o["Name"].as_str())
                .unwrap_or("?");
            out.push(format!("{kind}/{n}"));
        }
    }
    out.sort();
    out
}

/// The swarm service's running tasks and its version index.
fn swarm_web(app: &str) -> Option<(usize, u64)> {
    let s = engine::labelled("services", app)
        .into_iter()
        .find(|s| s["Spec"]["Name"] == format!("{app}_web"))?;
    let id = s["ID"].as_str().unwrap_or_default().to_string();
    let f = format!("%7B%22service%22%3A%5B%22{id}%22%5D%7D");
    let tasks = engine::call("GET", &format!("/tasks?filters={f}"), None).json();
    let running = tasks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["Status"]["State"] == "running")
        .count();
    Some((running, s["Version"]["Index"].as_u64().unwrap_or(0)))
}

/// True when `<app>_web` runs one task.
fn swarm_web_running(app: &str) -> bool {
    swarm_web(app).is_some_and(|(r, _)| r == 1)
}

/// When the engine removed the service `name` (its own `remove` event), epoch seconds.
fn removed_at(name: &str, since: i64) -> Option<f64> {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() + 1)
        .unwrap_or(0);
    let f = "%7B%22type%22%3A%5B%22service%22%5D%2C%22event%22%3A%5B%22remove%22%5D%7D";
    let r = engine::call(
        "GET",
        &format!("/events?since={since}&until={until}&filters={f}"),
        None,
    );
    r.text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["Actor"]["Attributes"]["name"] == name)
        .and_then(|e| e["timeNano"].as_i64())
        .map(|t| t as f64 / 1e9)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The phases of the app's move rows in history, oldest first, with their result.
fn phases(m: &Moto, dir: &Path) -> Vec<(String, String)> {
    let o = run(
        m,
        dir,
        "",
        &[
            "history", "-f", "app.yaml", "--output", "json", "--limit", "200",
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let mut out: Vec<(String, String)> = v["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["command"] == "move")
        .map(|d| {
            (
                d["plan"]["move"]["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.reverse();
    out
}

/// `bridge move -f app.yaml --to aws` with `extra` arguments.
fn move_to_aws(m: &Moto, dir: &Path, token: &str, extra: &[&str]) -> Output {
    run(
        m,
        dir,
        token,
        &[&["move", "-f", "app.yaml", "--to", "aws"][..], extra].concat(),
    )
}

/// The move is complete on both peers: nothing of the app left on the engine, exactly one
/// ECS service (`<app>-web`) and one secret on AWS. B's service.
fn assert_only_on_aws(m: &Moto, name: &str) -> (String, f64) {
    assert!(
        on_engine(name).is_empty(),
        "left on the engine: {:?}",
        on_engine(name)
    );
    let svcs = ecs_services(m, name);
    assert_eq!(
        svcs.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        [format!("{name}-web")]
    );
    assert_eq!(m.app_secrets(name).len(), 1);
    svcs[0].clone()
}

/// Deploy app.yaml to swarm and wait for it.
const DEPLOY: [&str; 7] = [
    "deploy",
    "-f",
    "app.yaml",
    "--yes",
    "--wait",
    "--timeout",
    "60s",
];

fn deploy_on_swarm(m: &Moto, dir: &Path, token: &str) {
    ok(&run(m, dir, token, &DEPLOY), m, "deploy to swarm");
}

/// The engine and a moto for `name`, a fresh directory holding the app with `check`, deployed
/// to swarm with the secret's value `token`.
fn setup(name: &str, check: &str, token: &str) -> (Moto, std::path::PathBuf) {
    engine::ensure_swarm();
    engine::ensure_test_image();
    let m = Moto::start(name, "us-east-1");
    let dir = workdir(name);
    std::fs::write(dir.join("app.yaml"), app(name, check)).unwrap_or_else(|e| panic!("{e}"));
    let _ = run(&m, &dir, "", &["destroy", "-f", "app.yaml"]);
    deploy_on_swarm(&m, &dir, token);
    (m, dir)
}

/// Destroy the moved app on AWS (nothing left there), check every body against botocore.
fn teardown_aws(m: &Moto, dir: &Path, name: &str) {
    ok(
        &run(m, dir, "", &["destroy", "-f", "app.yaml", "-p", "aws"]),
        m,
        "destroy",
    );
    assert!(ecs_services(m, name).is_empty());
    assert!(m.check_bodies(name) >= 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn move_swarm_to_aws_refuses_without_no_data_then_removes_a_only_after_b_is_healthy() {
    let name = "mv-sa";
    let (m, dir) = setup(name, "test -f /tmp/ok", "first-value");
    assert!(swarm_web_running(name));

    // The volume's data cannot follow to ECS: refused, naming it, nothing created.
    let o = move_to_aws(&m, &dir, "second-value", &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("volume `data`") && t.contains("--no-data"),
        "{t}"
    );
    assert!(ecs_services(&m, name).is_empty(), "{t}");
    assert!(m.app_secrets(name).is_empty(), "{t}");

    // --no-data: B deployed and healthy, A still serving, B's endpoints shown.
    let o = move_to_aws(
        &m,
        &dir,
        "second-value",
        &["--no-data", "--timeout", "120s", "--output", "json"],
    );
    ok(&o, &m, "move --no-data");
    let events: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let sides: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "plan")
        .filter_map(|e| e["side"].as_str())
        .collect();
    assert_eq!(sides, ["target", "source"], "{}", text(&o));
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "endpoints" && e["provider"] == "aws")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "volume" && e["volume"] == "data")
    );
    let last = events.last().cloned().unwrap_or_default();
    assert_eq!(last["phase"], "B-healthy", "{}", text(&o));
    assert_eq!(last["source_removed"], false);
    assert_eq!(ecs_services(&m, name).len(), 1);
    assert!(swarm_web_running(name), "A stopped serving");

    // The secret moved by reference: B's value is the env source's now, not A's.
    let s = m.app_secrets(name);
    assert_eq!(s.len(), 1, "{s:?}");
    let v = m.boto(
        "secretsmanager",
        "get_secret_value",
        &serde_json::json!({"SecretId": s[0].1}).to_string(),
    );
    assert_eq!(v["SecretString"], "second-value");
    // ... and its value is in no output of the move nor in the state store.
    assert!(!text(&o).contains("second-value"), "{}", text(&o));
    let mut db = std::fs::read(dir.join(".bridge/state.db")).unwrap_or_default();
    db.extend(std::fs::read(dir.join(".bridge/state.db-wal")).unwrap_or_default());
    assert!(!db.is_empty());
    assert!(
        !db.windows(12).any(|w| w == b"second-value"),
        "the secret is in state.db"
    );

    // Second run: remove A. B is checked healthy again first.
    let since = now() - 1;
    let o = move_to_aws(&m, &dir, "second-value", &["--remove-source", "--no-data"]);
    ok(&o, &m, "move --remove-source");
    assert!(text(&o).contains("moved from swarm to aws"), "{}", text(&o));
    let b = assert_only_on_aws(&m, name);
    let healthy = m.health_times("web", "HEALTHY");
    let removed = removed_at(&format!("{name}_web"), since)
        .unwrap_or_else(|| panic!("no remove event of {name}_web"));
    assert!(
        !healthy.is_empty() && healthy[0] < removed && b.1 < removed,
        "B healthy at {healthy:?} (service created {:.3}), A removed at {removed:.3}",
        b.1
    );
    let p = phases(&m, &dir);
    let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "planned",
            "deployed-B",
            "B-healthy",
            "planned",
            "deployed-B",
            "B-healthy",
            "cut-over",
            "A-removed",
            "done"
        ],
        "{p:?}"
    );
    assert!(p.iter().all(|(_, r)| r == "ok"), "{p:?}");
    // A deploy that still reads the old placement is refused; with -p aws it is the app on B.
    let o = run(&m, &dir, "second-value", &["deploy", "-f", "app.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("-p aws"), "{}", text(&o));
    assert_eq!(ecs_services(&m, name).len(), 1);
    let o = run(
        &m,
        &dir,
        "second-value",
        &["plan", "-f", "app.yaml", "-p", "aws", "--detailed-exitcode"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    teardown_aws(&m, &dir, name);
}

/// Start the full move, read its JSON events and `kill -9` it once `when` says so.
fn kill_when(m: &Moto, dir: &Path, when: impl Fn(&Value, &mut bool) -> bool) -> Vec<Value> {
    let mut child = bridge(m, dir, "v")
        .args([
            "move",
            "-f",
            "app.yaml",
            "--to",
            "aws",
            "--no-data",
            "--remove-source",
            "--timeout",
            "120s",
            "--output",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut seen = Vec::new();
    let mut armed = false;
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let stop = when(&v, &mut armed);
        seen.push(v);
        if stop {
            let _ = child.kill(); // SIGKILL
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[test]
fn kill_9_in_each_phase_then_a_rerun_completes_with_no_duplicate_and_no_orphan() {
    let name = "mv-kill";
    let (m, dir) = setup(name, "test -f /tmp/ok", "v");
    for phase in ["deployed-B", "B-healthy", "A-removed"] {
        // Killed at the first resource event of the phase (the health wait: as it starts).
        let seen = kill_when(&m, &dir, |v, armed| {
            if v["event"] == "phase" && v["phase"] == phase && v["state"] == "started" {
                *armed = true;
                return phase == "B-healthy";
            }
            *armed && v.get("resource").is_some()
        });
        assert!(
            seen.iter().any(|v| v["phase"] == phase),
            "{phase} never started: {seen:?}"
        );
        // The killed phase's row stays `running` until the next run takes the lock.
        let p = phases(&m, &dir);
        assert_eq!(p.last().map(|(n, _)| n.as_str()), Some(phase), "{p:?}");
        // Never more than one of anything on AWS, A serving until A-removed began.
        assert!(ecs_services(&m, name).len() <= 1);
        assert!(m.app_secrets(name).len() <= 1);
        if phase != "A-removed" {
            assert!(swarm_web(name).is_some(), "A was removed during {phase}");
        }
    }
    let o = move_to_aws(
        &m,
        &dir,
        "v",
        &["--no-data", "--remove-source", "--timeout", "120s"],
    );
    ok(&o, &m, "the rerun");
    assert!(text(&o).contains("resuming the move"), "{}", text(&o));
    assert_only_on_aws(&m, name);
    let p = phases(&m, &dir);
    let interrupted: Vec<&str> = p
        .iter()
        .filter(|(_, r)| r == "interrupted")
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        interrupted,
        ["deployed-B", "B-healthy", "A-removed"],
        "{p:?}"
    );
    assert_eq!(
        p.last().map(|(n, r)| (n.as_str(), r.as_str())),
        Some(("done", "ok"))
    );
    teardown_aws(&m, &dir, name);
}

#[test]
fn a_failed_health_gate_leaves_a_untouched_and_rollback_removes_b() {
    let name = "mv-rb";
    // Healthy on swarm (the secret is a file there), never on ECS (an environment variable).
    let (m, dir) = setup(name, "test -f /run/secrets/token", "v");
    let before = swarm_web(name).unwrap_or_else(|| panic!("no A"));
    assert_eq!(before.0, 1);

    let t0 = Instant::now();
    let o = move_to_aws(
        &m,
        &dir,
        "v",
        &["--no-data", "--remove-source", "--timeout", "25s"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("not healthy") && t.contains("--rollback"), "{t}");
    assert!(
        t0.elapsed() < Duration::from_secs(120),
        "{:?}",
        t0.elapsed()
    );
    // A untouched: same service version, still running.
    assert_eq!(swarm_web(name), Some(before), "A changed: {t}");
    assert_eq!(ecs_services(&m, name).len(), 1);
    let p = phases(&m, &dir);
    assert_eq!(
        p.last().map(|(n, r)| (n.as_str(), r.as_str())),
        Some(("B-healthy", "failed")),
        "{p:?}"
    );

    let o = run(
        &m,
        &dir,
        "v",
        &["move", "-f", "app.yaml", "--rollback", "--timeout", "60s"],
    );
    ok(&o, &m, "rollback");
    assert!(ecs_services(&m, name).is_empty(), "B left: {}", text(&o));
    assert!(m.app_secrets(name).is_empty(), "B's secret left");
    let after = swarm_web(name).unwrap_or_else(|| panic!("A is gone"));
    assert_eq!(after, before, "A changed by the rollback");
    let p = phases(&m, &dir);
    let tail: Vec<&str> = p
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(tail, ["A-restored", "B-removed", "rolled-back"], "{p:?}");

    ok(
        &run(&m, &dir, "", &["destroy", "-f", "app.yaml"]),
        &m,
        "destroy",
    );
    assert!(on_engine(name).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The files `f` and `sub/g` of an engine volume, read by a container of the test image.
fn volume_files(volume: &str) -> String {
    let o = Command::new("docker")
        .args(["run", "--rm", "-v"])
        .arg(format!("{volume}:/d:ro"))
        .args([engine::TEST_IMAGE, "cat", "/d/f", "/d/sub/g"])
        .output()
        .unwrap_or_else(|e| panic!("docker run: {e}"));
    assert!(
        o.status.success(),
        "reading {volume}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn swarm_to_swarm_under_a_second_name_copies_the_volume_by_content() {
    engine::ensure_swarm();
    engine::ensure_test_image();
    let (a, b) = ("mv-ss", "mv-ss-b");
    let dir = workdir("move-ss");
    // Each deployment writes a random id into an empty volume: B holds A's only if it was copied.
    let yaml = |name: &str| {
        format!(
            "bridge: v1\nname: {name}\nservices:\n  web:\n    image: {}\n    command: [sh, -c, 'test -f /data/f || {{ cat /proc/sys/kernel/random/uuid > /data/f; busybox mkdir -p /data/sub; cat /data/f /data/f > /data/sub/g; }}; exec sleep 3600']\n    stop_signal: SIGKILL\n    health: {{test: [CMD-SHELL, 'test -f /data/sub/g'], interval: 2s, timeout: 2s, retries: 3}}\n    volumes: ['data:/data']\n    secrets: [token]\nvolumes:\n  data: {{}}\nsecrets:\n  token: {{env: MV_TOKEN}}\n",
            engine::TEST_IMAGE
        )
    };
    std::fs::write(dir.join("app.yaml"), yaml(a)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("b.yaml"), yaml(b)).unwrap_or_else(|e| panic!("{e}"));
    let bridge = |args: &[&str]| {
        let mut c = moto::bridge(None, &dir);
        c.env_remove("DOCKER_HOST").env("MV_TOKEN", "t");
        c.args(args)
            .output()
            .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
    };
    let ok = |o: &Output, what: &str| assert!(o.status.success(), "{what}:\n{}", text(o));
    let _ = bridge(&["destroy", "-f", "app.yaml"]);
    let _ = bridge(&["destroy", "-f", "b.yaml"]);
    ok(&bridge(&DEPLOY), "deploy A");
    let before = volume_files(&format!("{a}_data"));
    assert_eq!(before.lines().count(), 3, "{before}");

    let o = bridge(&[
        "move",
        "-f",
        "app.yaml",
        "--to",
        "swarm",
        "--as",
        b,
        "--remove-source",
        "--timeout",
        "60s",
    ]);
    ok(&o, "move --as");
    assert!(text(&o).contains("volume `data`"), "{}", text(&o));
    assert_eq!(volume_files(&format!("{b}_data")), before, "{}", text(&o));
    assert!(on_engine(a).is_empty(), "A left: {:?}", on_engine(a));
    assert!(swarm_web_running(b), "B's service does not run");
    let o = bridge(&["history", "-f", "app.yaml"]);
    assert!(text(&o).contains("move data-copied"), "{}", text(&o));

    ok(&bridge(&["destroy", "-f", "b.yaml"]), "destroy B");
    assert!(on_engine(b).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_invocations_fail_with_a_hint_before_touching_any_peer() {
    let dir = workdir("move-bad");
    std::fs::write(dir.join("app.yaml"), app("mv-bad", "true")).unwrap_or_else(|e| panic!("{e}"));
    let run = |args: &[&str]| {
        let o = moto::bridge(None, &dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"));
        (o.status.code(), text(&o))
    };
    let (code, t) = run(&["move", "-f", "app.yaml"]);
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("no destination") && t.contains("--to"), "{t}");
    let (code, t) = run(&["move", "-f", "app.yaml", "--to", "swarm"]);
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("nothing to move") && t.contains("--as"), "{t}");
    let (code, t) = run(&[
        "move", "-f", "app.yaml", "--to", "swarm", "--as", "Bad_Name",
    ]);
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("--as `Bad_Name`") && t.contains("hint:"), "{t}");
    let (code, t) = run(&[
        "move",
        "-f",
        "app.yaml",
        "--to",
        "aws",
        "--rollback",
        "--keep",
    ]);
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("cannot be used with"), "{t}");
    // A bad file: exit 1 with file, line and the field.
    std::fs::write(
        dir.join("app.yaml"),
        app("mv-bad", "true").replace("    stop_signal", "    stop_signall"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, t) = run(&["move", "-f", "app.yaml", "--to", "aws"]);
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("app.yaml:") && t.contains("stop_signall"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}
