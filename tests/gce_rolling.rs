//! Rolling updates and health gating on GCE (issue 12), through the `bridge` binary against the
//! Compute test server, which logs every instance insert, delete and start with the RUNNING
//! instances after it: a changed 3-replica service is replaced stop-first without ever having
//! fewer than 2 of its instances RUNNING, start-first never fewer than 3; a new instance that
//! never boots is rolled back to the old spec with exit 2, pauses the rollout after the first
//! host with `pause`, and does not stop it with `continue`; `--wait` blocks until the VM reports
//! its containers healthy in the guest attribute `bridge/health`, and times out otherwise;
//! `monitor` and `delay` hold each next host back until they have passed.

mod support;

use std::path::Path;
use std::process::Output;

use support::gce::{PROJECT, Server, ZONE};
use support::peers::text;

fn bridge(server: &Server, args: &[&str], file: &Path) -> Output {
    server
        .on_app(args, file)
        .env("BRIDGE_GCE_UPDATE_SECONDS", "4")
        .output()
        .unwrap_or_else(|e| panic!("cannot run bridge: {e}"))
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
}

/// A 3-replica service `web` (one per VM), its env `VERSION`, its update policy.
fn app(name: &str, version: &str, update: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: ghcr.io/acme/web:1.4\n    replicas: 3\n    env: {{VERSION: {version}}}\n    resources: {{cpus: 1, memory: 1GiB}}\n{update}providers:\n  gce: {{project: {PROJECT}, zone: {ZONE}, machine_type: e2-standard-2}}\n"
    )
}

/// The fewest RUNNING instances of the app at any moment after the first update event.
fn min_running(server: &Server, app: &str, after: f64) -> (usize, Vec<serde_json::Value>) {
    let log = server.control("oplog");
    let events: Vec<serde_json::Value> = log["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["t"].as_f64().unwrap_or(0.0) >= after)
        .collect();
    let prefix = format!("{app}-h");
    let min = events
        .iter()
        .map(|e| {
            e["running"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter(|n| n.as_str().is_some_and(|n| n.starts_with(&prefix)))
                        .count()
                })
                .unwrap_or(0)
        })
        .min()
        .unwrap_or(0);
    (min, events)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn count(events: &[serde_json::Value], what: &str) -> usize {
    events.iter().filter(|e| e["event"] == what).count()
}

#[test]
fn stop_first_keeps_two_of_three_running() {
    let server = Server::start("roll-stop", 3600.0);
    let f = server.write_app("roll", &app("roll", "v1", ""));
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let t = now();
    std::fs::write(&f, app("roll", "v2", "")).unwrap_or_else(|e| panic!("{e}"));
    ok(&bridge(&server, &["deploy", "--wait"], &f));
    let (min, events) = min_running(&server, "roll", t);
    assert_eq!(count(&events, "delete"), 3, "{events:#?}");
    assert_eq!(count(&events, "insert"), 3, "{events:#?}");
    assert!(
        min >= 2,
        "fewer than 2 of 3 RUNNING during the update: {events:#?}"
    );
    // The plan right after is empty: every host runs v2.
    let plan = bridge(&server, &["plan", "--detailed-exitcode"], &f);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

#[test]
fn start_first_keeps_three_running_and_alternates_names() {
    let server = Server::start("roll-start", 3600.0);
    let upd = "    update: {order: start-first, parallelism: 1}\n";
    let f = server.write_app("rs", &app("rs", "v1", upd));
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let t = now();
    std::fs::write(&f, app("rs", "v2", upd)).unwrap_or_else(|e| panic!("{e}"));
    ok(&bridge(&server, &["deploy", "--wait"], &f));
    let (min, events) = min_running(&server, "rs", t);
    assert!(
        min >= 3,
        "fewer than 3 RUNNING during a start-first update: {events:#?}"
    );
    let inserted: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "insert")
        .filter_map(|e| e["instance"].as_str())
        .collect();
    assert_eq!(inserted.len(), 3, "{events:#?}");
    assert!(inserted.iter().all(|n| n.ends_with("-b")), "{inserted:?}");
    let plan = bridge(&server, &["plan", "--detailed-exitcode"], &f);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    // And back to the first names on the next update.
    std::fs::write(&f, app("rs", "v3", upd)).unwrap_or_else(|e| panic!("{e}"));
    ok(&bridge(&server, &["deploy", "--wait"], &f));
    let names: Vec<String> = server.control("dump")["resources"][format!("{ZONE}/instances")]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["rs-h0", "rs-h1", "rs-h2"]);
}

/// Every instance of the server as `name STATUS spec-hash`, sorted.
fn hashes(server: &Server) -> Vec<String> {
    let d = server.control("dump");
    let mut v: Vec<String> = d["resources"][format!("{ZONE}/instances")]
        .as_object()
        .map(|m| {
            m.values()
                .map(|i| {
                    format!(
                        "{} {} {}",
                        i["name"].as_str().unwrap_or_default(),
                        i["status"].as_str().unwrap_or_default(),
                        i["labels"]["bridge-spec-hash"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The instances inserted after `after`, by name, from the operation log.
fn inserted_after(server: &Server, app: &str, after: f64) -> Vec<String> {
    min_running(server, app, after)
        .1
        .iter()
        .filter(|e| e["event"] == "insert")
        .filter_map(|e| e["instance"].as_str().map(str::to_string))
        .collect()
}

/// `failure_action: pause` (the default): a new instance that never boots stops the rollout
/// there: the deploy fails (exit 2) naming the pause, only the first host was replaced, the other
/// two still run their old spec.
#[test]
fn a_new_instance_that_never_boots_pauses_the_rollout() {
    let server = Server::start("roll-pause", 3600.0);
    let upd = "    update: {failure_action: pause}\n";
    let f = server.write_app("rp", &app("rp", "v1", upd));
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let before = hashes(&server);
    server.control("stall/v2-broken");
    let t = now();
    std::fs::write(&f, app("rp", "v2-broken", upd)).unwrap_or_else(|e| panic!("{e}"));
    let out = bridge(&server, &["deploy", "--wait"], &f);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains("was paused after"), "{msg}");
    assert_eq!(inserted_after(&server, "rp", t).len(), 1, "{msg}");
    let after = hashes(&server);
    let kept: Vec<&String> = after.iter().filter(|h| before.contains(h)).collect();
    assert_eq!(
        kept.len(),
        2,
        "two hosts keep their old spec: {before:?} -> {after:?}"
    );
    assert!(kept.iter().all(|h| h.contains(" RUNNING ")), "{after:?}");
    assert!(
        after
            .iter()
            .any(|h| !before.contains(h) && h.contains(" STAGING ")),
        "the paused host's new instance is left as it is: {after:?}"
    );
}

/// `failure_action: continue`: the rollout goes on past a new instance that never boots, so
/// every host is replaced (and the deploy still fails, exit 2, naming the failures).
#[test]
fn a_new_instance_that_never_boots_does_not_stop_continue() {
    let server = Server::start("roll-continue", 3600.0);
    let upd = "    update: {failure_action: continue}\n";
    let f = server.write_app("rc", &app("rc", "v1", upd));
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let before = hashes(&server);
    server.control("stall/v2-broken");
    let t = now();
    std::fs::write(&f, app("rc", "v2-broken", upd)).unwrap_or_else(|e| panic!("{e}"));
    let out = bridge(&server, &["deploy", "--wait"], &f);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!text(&out).contains("was paused"), "{}", text(&out));
    assert_eq!(inserted_after(&server, "rc", t).len(), 3, "{}", text(&out));
    let after = hashes(&server);
    assert!(
        after.iter().all(|h| !before.contains(h)),
        "{before:?} -> {after:?}"
    );
}

/// `max_failure_ratio: 0.4` of 3 hosts tolerates one failure (1/3) and acts on the second (2/3):
/// two hosts replaced, then paused; the third keeps its old spec.
#[test]
fn max_failure_ratio_tolerates_that_share_of_hosts() {
    let server = Server::start("roll-ratio", 3600.0);
    let upd = "    update: {failure_action: pause, max_failure_ratio: 0.4}\n";
    let f = server.write_app("rr", &app("rr", "v1", upd));
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let before = hashes(&server);
    server.control("stall/v2-broken");
    let t = now();
    std::fs::write(&f, app("rr", "v2-broken", upd)).unwrap_or_else(|e| panic!("{e}"));
    let out = bridge(&server, &["deploy", "--wait"], &f);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("was paused after"), "{}", text(&out));
    assert_eq!(inserted_after(&server, "rr", t).len(), 2, "{}", text(&out));
    let after = hashes(&server);
    assert_eq!(
        after.iter().filter(|h| before.contains(h)).count(),
        1,
        "{before:?} -> {after:?}"
    );
}

#[test]
fn a_new_instance_that_never_boots_is_rolled_back() {
    let server = Server::start("roll-back", 3600.0);
    let upd = "    update: {failure_action: rollback}\n";
    let f = server.write_app("rb", &app("rb", "v1", upd));
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let before = hashes(&server);
    server.control("stall/v2-broken");
    let t = now();
    std::fs::write(&f, app("rb", "v2-broken", upd)).unwrap_or_else(|e| panic!("{e}"));
    let out = bridge(&server, &["deploy", "--wait"], &f);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains("rolled back"), "{msg}");
    assert!(msg.contains("STAGING"), "the error names why: {msg}");
    let (min, events) = min_running(&server, "rb", t);
    assert!(min >= 2, "{events:#?}");
    // Only the first host was tried (parallelism 1), then restored.
    assert_eq!(hashes(&server), before, "{events:#?}");
    assert!(before.iter().all(|h| h.contains(" RUNNING ")), "{before:?}");
}

/// A service with a health check: its host enables guest attributes and `--wait` waits for the
/// VM's report.
fn healthy_app(name: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  api:\n    image: ghcr.io/acme/api:2\n    health: {{test: [CMD, curl, -f, http://localhost:8000/], interval: 5s}}\nproviders:\n  gce: {{project: {PROJECT}, zone: {ZONE}, machine_type: e2-standard-2}}\n"
    )
}

#[test]
fn wait_blocks_until_the_vm_reports_healthy() {
    let server = Server::start("health-ok", 3600.0);
    server.control("guest-auto/off");
    let f = server.write_app("hz", &healthy_app("hz"));
    let mut child = server
        .bridge()
        .args(["deploy", "--yes", "--wait", "--timeout", "60s", "-f"])
        .arg(&f)
        .args(["-p", "gce", "--state"])
        .arg(server.dir.join("state.db"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // The instance runs; the deploy still waits for its health.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let d = server.control("dump");
        if d["resources"][format!("{ZONE}/instances")]["hz-h0"]["status"] == "RUNNING" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never RUNNING: {d}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap_or(None).is_none(),
        "deploy --wait returned before the VM reported healthy"
    );
    server.control(&format!("guest/{ZONE}/hz-h0/bridge/health?value=healthy"));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    ok(&out);
}

#[test]
fn wait_times_out_with_the_last_health_output() {
    let server = Server::start("health-bad", 3600.0);
    server.control("guest-auto/off");
    let f = server.write_app("hb", &healthy_app("hb"));
    ok(&bridge(&server, &["deploy", "--yes"], &f));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.control("dump")["resources"][format!("{ZONE}/instances")]["hb-h0"]["status"]
        != "RUNNING"
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    server.control(&format!(
        "guest/{ZONE}/hb-h0/bridge/output?value=hb-api:%20unhealthy:%20connection%20refused"
    ));
    server.control(&format!("guest/{ZONE}/hb-h0/bridge/health?value=unhealthy"));
    let t = std::time::Instant::now();
    let out = bridge(&server, &["deploy", "--wait", "--timeout", "3s"], &f);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
    let msg = text(&out);
    assert!(msg.contains("connection refused"), "{msg}");
    let status = bridge(&server, &["status"], &f);
    assert!(text(&status).contains("unhealthy"), "{}", text(&status));
}

#[test]
fn service_healthy_dependency_on_another_host_is_waited_for() {
    let server = Server::start("health-dep", 3600.0);
    server.control("guest-auto/off");
    let yaml = format!(
        "bridge: v1\nname: hd\nservices:\n  db:\n    image: postgres:16\n    health: {{test: [CMD, pg_isready]}}\n    resources: {{cpus: 1, memory: 5GiB}}\n  api:\n    image: ghcr.io/acme/api:2\n    depends_on: [{{service: db, condition: healthy}}]\n    resources: {{cpus: 1, memory: 5GiB}}\nproviders:\n  gce: {{project: {PROJECT}, zone: {ZONE}, machine_type: e2-standard-2}}\n"
    );
    let f = server.write_app("hd", &yaml);
    let child = server
        .bridge()
        .args(["deploy", "--yes", "--timeout", "60s", "-f"])
        .arg(&f)
        .args(["-p", "gce", "--state"])
        .arg(server.dir.join("state.db"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let instances = |server: &Server| -> serde_json::Value {
        server.control("dump")["resources"][format!("{ZONE}/instances")].clone()
    };
    // Find the db host (the one tagged hd-db) once it runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let db_host = loop {
        let all = instances(&server);
        let found = all.as_object().and_then(|m| {
            m.values().find(|i| {
                i["status"] == "RUNNING"
                    && i["tags"]["items"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|x| x == "hd-db"))
            })
        });
        if let Some(i) = found {
            break i["name"].as_str().unwrap_or_default().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "db never RUNNING: {all}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    let all = instances(&server);
    assert_eq!(
        all.as_object().map(|m| m.len()),
        Some(1),
        "the api host was inserted before db reported healthy: {all}"
    );
    server.control(&format!(
        "guest/{ZONE}/{db_host}/bridge/health?value=healthy"
    ));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    ok(&out);
    assert_eq!(instances(&server).as_object().map(|m| m.len()), Some(2));
}

#[test]
fn delay_waits_between_hosts_and_monitor_watches_each() {
    let server = Server::start("roll-delay", 3600.0);
    let upd = "    update: {delay: 3s, monitor: 2s}\n";
    let f = server.write_app("rd", &app("rd", "v1", upd));
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let t = now();
    std::fs::write(&f, app("rd", "v2", upd)).unwrap_or_else(|e| panic!("{e}"));
    ok(&bridge(&server, &["deploy", "--wait"], &f));
    let (_, events) = min_running(&server, "rd", t);
    let at: Vec<(String, String, f64)> = events
        .iter()
        .filter_map(|e| {
            Some((
                e["event"].as_str()?.to_string(),
                e["instance"].as_str()?.to_string(),
                e["t"].as_f64()?,
            ))
        })
        .collect();
    // Host by host: the next host's old instance is deleted only `monitor` + `delay` (5 s)
    // after the previous host's new one is RUNNING (booting takes under a second here).
    let running: Vec<f64> = at
        .iter()
        .filter(|(e, _, _)| e == "running")
        .map(|x| x.2)
        .collect();
    let deletes: Vec<f64> = at
        .iter()
        .filter(|(e, _, _)| e == "delete")
        .map(|x| x.2)
        .collect();
    assert_eq!((running.len(), deletes.len()), (3, 3), "{at:#?}");
    for i in 1..3 {
        let gap = deletes[i] - running[i - 1];
        assert!(
            gap >= 4.9,
            "host {i} was taken down {gap:.2}s after the previous one ran, before monitor (2s) + delay (3s): {at:#?}"
        );
    }
}
