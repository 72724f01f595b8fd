//! `bridge move` with a declared DNS cut-over (`move.cutover.dns`, a Route 53 record on a moto
//! server) between two real Docker Engines (the machine's, and a second `dockerd` this test
//! starts: tests/support/engine2.rs), through the binary:
//! - the record holds A's address (engine 1's swarm node address) before the move; a move
//!   killed with `kill -9` right after its Route 53 change was sent leaves it B's (engine 2's);
//!   `--rollback` puts A's back and removes B from engine 2, A untouched;
//! - a second move killed the same way, then a rerun (resumed from history, B's endpoint
//!   included): one record set with one value, B's; A removed from engine 1 after B was
//!   healthy; B's volume on engine 2 holds A's random content;
//! - every Route 53 request (and every other AWS one) checked against botocore's models.
//! - bad declarations fail at their file:line:column (TTL, component, record outside the zone,
//!   compose `x-bridge`), a component that does not move (exit 1), a zone Route 53 does not
//!   have (exit 2, with a hint, nothing deployed).

#[path = "support/engine.rs"]
mod engine;
#[path = "support/engine2.rs"]
mod engine2;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use moto::{Moto, ok, workdir};
use peers::text;
use serde_json::Value;

const ZONE: &str = "example.internal.";
const RECORD: &str = "shop.example.internal.";

/// One service writing a random id into its empty volume, healthy once written, with a secret;
/// the DNS cut-over declared for it (`extra` appended to the file).
fn app(name: &str, dns: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: {}\n    command: [sh, -c, 'test -f /data/f || {{ cat /proc/sys/kernel/random/uuid > /data/f; busybox mkdir -p /data/sub; cat /data/f /data/f > /data/sub/g; }}; exec sleep 3600']\n    stop_signal: SIGKILL\n    health: {{test: [CMD-SHELL, 'test -f /data/sub/g'], interval: 2s, timeout: 2s, retries: 3}}\n    volumes: ['data:/data']\n    secrets: [token]\nvolumes:\n  data: {{}}\nsecrets:\n  token: {{env: MV_TOKEN}}\nmove:\n  cutover:\n    dns: {dns}\n",
        engine::TEST_IMAGE
    )
}

fn dns(zone: &str, ttl: i64, component: &str) -> String {
    format!("{{provider: aws, zone: {zone}, record: {RECORD}, ttl: {ttl}, component: {component}}}")
}

fn bridge(m: &Moto, dir: &Path, args: &[&str]) -> Output {
    let mut c = moto::bridge(Some(m), dir);
    c.env_remove("DOCKER_HOST").env("MV_TOKEN", "t");
    c.args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

/// The record's sets as Route 53 (moto) lists them: (type, TTL, values).
fn record(m: &Moto, zone_id: &str) -> Vec<(String, i64, Vec<String>)> {
    let v = m.boto(
        "route53",
        "list_resource_record_sets",
        &serde_json::json!({"HostedZoneId": zone_id, "StartRecordName": RECORD}).to_string(),
    );
    v["ResourceRecordSets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Name"] == RECORD)
        .map(|s| {
            (
                s["Type"].as_str().unwrap_or_default().to_string(),
                s["TTL"].as_i64().unwrap_or(-1),
                s["ResourceRecords"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["Value"].as_str().map(str::to_string))
                    .collect(),
            )
        })
        .collect()
}

fn a_record(addr: &str) -> Vec<(String, i64, Vec<String>)> {
    vec![("A".into(), 60, vec![addr.to_string()])]
}

/// The phases of the app's move rows, oldest first, with their result.
fn phases(m: &Moto, dir: &Path) -> Vec<(String, String)> {
    let o = bridge(
        m,
        dir,
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

/// Run the move with JSON output; `kill -9` it at its first `dns-change` event. The events.
fn move_killed_at_the_dns_change(m: &Moto, dir: &Path, args: &[&str]) -> Vec<Value> {
    let mut c = moto::bridge(Some(m), dir);
    c.env_remove("DOCKER_HOST").env("MV_TOKEN", "t");
    let mut child = c
        .args(args)
        .args(["--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut seen = Vec::new();
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let stop = v["event"] == "dns-change";
        seen.push(v);
        if stop {
            let _ = child.kill(); // SIGKILL
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter().any(|v| v["event"] == "dns-change"),
        "no Route 53 change was sent: {seen:?}"
    );
    seen
}

/// The files `f` and `sub/g` of a volume, read by a container of the test image on the engine
/// `host` (None: the machine's).
fn volume_files(host: Option<&str>, volume: &str) -> String {
    let mut c = Command::new("docker");
    if let Some(h) = host {
        c.args(["-H", h]);
    }
    let o = c
        .args(["run", "--rm", "--network", "none", "-v"])
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

/// The app's service `web` on the machine's engine: (running tasks, version index).
fn a_web(app: &str) -> Option<(usize, u64)> {
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

/// Running tasks of `<app>_web` on the second engine.
fn b_running(e2: &engine2::Engine2, app: &str) -> usize {
    let o = e2.docker(&[
        "service",
        "ps",
        &format!("{app}_web"),
        "--filter",
        "desired-state=running",
        "--format",
        "{{.CurrentState}}",
    ]);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("Running"))
        .count()
}

#[test]
fn dns_cut_over_between_two_engines_survives_kill_9_and_rolls_back() {
    engine::ensure_swarm();
    engine::ensure_test_image();
    let name = "mv-dns";
    let e2 = engine2::Engine2::start(name, engine::TEST_IMAGE);
    let m = Moto::start(name, "us-east-1");
    let dir = workdir(name);
    std::fs::write(dir.join("app.yaml"), app(name, &dns(ZONE, 60, "web")))
        .unwrap_or_else(|e| panic!("{e}"));
    // The zone, and the record pointing at A (engine 1's node address), as the user has them.
    let a_addr = engine::call("GET", "/info", None).json()["Swarm"]["NodeAddr"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !a_addr.is_empty() && a_addr != e2.node_addr,
        "engine 1 at {a_addr:?}"
    );
    let z = m.boto(
        "route53",
        "create_hosted_zone",
        &serde_json::json!({"Name": ZONE, "CallerReference": format!("{name}-{}", std::process::id())})
            .to_string(),
    );
    let zone_id = z["HostedZone"]["Id"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("/hostedzone/")
        .to_string();
    m.boto(
        "route53",
        "change_resource_record_sets",
        &serde_json::json!({"HostedZoneId": zone_id, "ChangeBatch": {"Changes": [{"Action": "CREATE", "ResourceRecordSet": {"Name": RECORD, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": a_addr}]}}]}}).to_string(),
    );
    let _ = bridge(&m, &dir, &["destroy", "-f", "app.yaml"]);
    ok(
        &bridge(
            &m,
            &dir,
            &[
                "deploy",
                "-f",
                "app.yaml",
                "--yes",
                "--wait",
                "--timeout",
                "60s",
            ],
        ),
        &m,
        "deploy A",
    );
    let before = volume_files(None, &format!("{name}_data"));
    assert_eq!(before.lines().count(), 3, "{before}");
    let a0 = a_web(name).unwrap_or_else(|| panic!("no A"));
    assert_eq!(a0.0, 1);
    assert_eq!(record(&m, &zone_id), a_record(&a_addr));
    let to_b = [
        "move",
        "-f",
        "app.yaml",
        "--to",
        "swarm",
        "--endpoint",
        &e2.endpoint,
        "--timeout",
        "90s",
    ];

    // 1. Killed right after the change was sent: the record is B's, A still serves.
    let seen = move_killed_at_the_dns_change(&m, &dir, &to_b);
    assert!(
        seen.iter().any(|v| v["event"] == "volume-copied"),
        "no volume copied: {seen:?}"
    );
    assert_eq!(record(&m, &zone_id), a_record(&e2.node_addr));
    assert_eq!(a_web(name), Some(a0), "A changed before the cut-over ended");
    assert_eq!(b_running(&e2, name), 1, "B does not run on engine 2");
    assert_eq!(
        phases(&m, &dir).last(),
        Some(&("cut-over".to_string(), "running".to_string()))
    );

    // 2. --rollback: A's address back, B removed from engine 2, A untouched.
    let o = bridge(
        &m,
        &dir,
        &["move", "-f", "app.yaml", "--rollback", "--timeout", "60s"],
    );
    ok(&o, &m, "rollback");
    assert_eq!(record(&m, &zone_id), a_record(&a_addr), "{}", text(&o));
    for kind in ["service", "volume", "secret"] {
        assert!(
            e2.labelled(kind, name).is_empty(),
            "B's {kind}s left on engine 2: {}",
            text(&o)
        );
    }
    assert_eq!(a_web(name), Some(a0), "A changed by the rollback");
    let p = phases(&m, &dir);
    let tail: Vec<&str> = p
        .iter()
        .rev()
        .take(4)
        .rev()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        tail,
        ["A-restored", "cut-back", "B-removed", "rolled-back"],
        "{p:?}"
    );

    // 3. Again, killed at the change, then a rerun: one set, one value, B's; A removed.
    move_killed_at_the_dns_change(&m, &dir, &to_b);
    let o = bridge(&m, &dir, &["move", "-f", "app.yaml", "--timeout", "90s"]);
    ok(&o, &m, "the rerun");
    assert!(text(&o).contains("resuming the move"), "{}", text(&o));
    assert_eq!(
        record(&m, &zone_id),
        a_record(&e2.node_addr),
        "{}",
        text(&o)
    );
    assert!(a_web(name).is_none(), "A still runs on engine 1");
    for kind in ["services", "volumes", "secrets"] {
        assert!(
            engine::labelled(kind, name).is_empty(),
            "A's {kind} left on engine 1"
        );
    }
    assert_eq!(b_running(&e2, name), 1);
    assert_eq!(
        volume_files(Some(&e2.endpoint), &format!("{name}_data")),
        before,
        "B's volume does not hold A's data"
    );
    let p = phases(&m, &dir);
    let last: Vec<(&str, &str)> = p
        .iter()
        .rev()
        .take(10)
        .rev()
        .map(|(n, r)| (n.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        last,
        [
            ("data-copied", "ok"),
            ("deployed-B", "ok"),
            ("B-healthy", "ok"),
            ("cut-over", "interrupted"),
            ("planned", "ok"),
            ("deployed-B", "ok"),
            ("B-healthy", "ok"),
            ("cut-over", "ok"),
            ("A-removed", "ok"),
            ("done", "ok"),
        ],
        "{p:?}"
    );
    // A deploy that would go to engine 1 again is refused, naming B's endpoint.
    let o = bridge(&m, &dir, &["deploy", "-f", "app.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("providers.swarm.endpoint"),
        "{}",
        text(&o)
    );

    // Every Route 53 operation was used and every AWS request passes botocore's models.
    let ops: Vec<(String, String)> = m
        .recorded()
        .into_iter()
        .filter(|r| r.path.starts_with("/2013-04-01/"))
        .map(|r| {
            (
                r.method,
                r.path.split('?').next().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (method, part) in [
        ("GET", "/hostedzonesbyname"),
        ("GET", "/rrset"),
        ("POST", "/rrset/"),
        ("GET", "/change/"),
    ] {
        assert!(
            ops.iter().any(|(mm, p)| mm == method && p.contains(part)),
            "no {method} {part}: {ops:?}"
        );
    }
    assert!(m.check_bodies(name) >= ops.len());

    let mut c = moto::bridge(Some(&m), &dir);
    let o = c
        .env("DOCKER_HOST", &e2.endpoint)
        .env("MV_TOKEN", "t")
        .args(["destroy", "-f", "app.yaml"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    ok(&o, &m, "destroy B");
    assert!(e2.labelled("service", name).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_cut_over_declarations_fail_at_their_position() {
    let dir = workdir("mv-dns-bad");
    let run = |m: Option<&Moto>, args: &[&str]| {
        let o = moto::bridge(m, &dir)
            .env("MV_TOKEN", "t")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"));
        (o.status.code(), text(&o))
    };
    let write =
        |body: &str| std::fs::write(dir.join("app.yaml"), body).unwrap_or_else(|e| panic!("{e}"));
    let line_of = |body: &str, needle: &str| {
        body.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{needle} not in the file"))
    };
    for (dns, field, says) in [
        (dns(ZONE, -5, "web"), "ttl", "out of range"),
        (dns(ZONE, 60, "webb"), "component", "did you mean `web`"),
        (
            dns("other.internal.", 60, "web"),
            "record",
            "not inside the zone",
        ),
        (dns("bad..zone", 60, "web"), "zone", "empty label"),
    ] {
        let body = app(
            "mv-dns-bad",
            &dns.replace(", ", ",\n      ").replace('{', "{\n      "),
        );
        write(&body);
        let (code, t) = run(None, &["move", "-f", "app.yaml", "--to", "aws"]);
        assert_eq!(code, Some(1), "{field}: {t}");
        let at = format!("app.yaml:{}:", line_of(&body, &format!("{field}:")));
        assert!(
            t.contains(&at) && t.contains(&format!("move.cutover.dns.{field}")) && t.contains(says),
            "{field}: wanted {at} and {says:?}:\n{t}"
        );
    }
    // --endpoint is B's Docker engine: only with --to swarm, and an engine address.
    write(&app("mv-dns-bad", &dns(ZONE, 60, "web")));
    let (code, t) = run(
        None,
        &[
            "move",
            "-f",
            "app.yaml",
            "--to",
            "aws",
            "--endpoint",
            "unix:///x.sock",
        ],
    );
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("goes with --to swarm"), "{t}");
    let (code, t) = run(
        None,
        &[
            "move",
            "-f",
            "app.yaml",
            "--to",
            "swarm",
            "--endpoint",
            "ftp://x",
        ],
    );
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.contains("not a Docker engine endpoint") && t.contains("hint:"),
        "{t}"
    );
    let body = app("mv-dns-bad", &dns(ZONE, 60, "web"))
        + "providers:\n  swarm: {endpoint: /var/run/docker.sock}\n";
    write(&body);
    let (code, t) = run(None, &["move", "-f", "app.yaml", "--to", "aws"]);
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.contains(&format!("app.yaml:{}:", line_of(&body, "endpoint:")))
            && t.contains("providers.swarm.endpoint"),
        "{t}"
    );

    // The same option in a compose file, under x-bridge.
    let compose = format!(
        "services:\n  web:\n    image: {}\nx-bridge:\n  move:\n    cutover:\n      dns:\n        provider: aws\n        zone: {ZONE}\n        record: {RECORD}\n        ttl: 4294967296\n        component: web\n",
        engine::TEST_IMAGE
    );
    std::fs::write(dir.join("compose.yaml"), &compose).unwrap_or_else(|e| panic!("{e}"));
    let (code, t) = run(None, &["move", "-f", "compose.yaml", "--to", "aws"]);
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.contains("compose.yaml:11:") && t.contains("out of range"),
        "{t}"
    );

    // A component that does not move: on aws already, moved from swarm.
    let body = app("mv-dns-bad", &dns(ZONE, 60, "db")).replace(
        "volumes:\n  data",
        &format!(
            "  db:\n    image: {}\n    provider: aws\nvolumes:\n  data",
            engine::TEST_IMAGE
        ),
    );
    write(&body);
    let (code, t) = run(
        None,
        &[
            "move",
            "-f",
            "app.yaml",
            "--from",
            "swarm",
            "--to",
            "gce",
            "--no-data",
        ],
    );
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.contains(&format!("app.yaml:{}:", line_of(&body, "component: db")))
            && t.contains("runs on aws, not on swarm"),
        "{t}"
    );

    // A zone Route 53 does not have: exit 2 with a hint, before anything is deployed.
    let m = Moto::start("mv-dns-bad", "us-east-1");
    write(
        &app("mv-dns-bad", &dns("nothere.internal.", 60, "web"))
            .replace(RECORD, "shop.nothere.internal."),
    );
    let (code, t) = run(
        Some(&m),
        &["move", "-f", "app.yaml", "--to", "aws", "--no-data"],
    );
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.contains("nothere.internal.")
            && t.contains("not in Route 53")
            && t.contains("hint:")
            && t.contains("app.yaml:"),
        "{t}"
    );
    let v = m.boto("ecs", "list_clusters", "{}");
    assert_eq!(
        v["clusterArns"],
        serde_json::json!([]),
        "something was deployed: {t}"
    );
    assert!(m.check_bodies("mv-dns-bad") >= 1);
    let _ = std::fs::remove_dir_all(&dir);
}
