//! Two promises of the Swarm ledger (claims WaitsForHealthyDependency and PinsGroupToOneNode),
//! through the `bridge` binary on the machine's real Docker Engine (a single-node swarm, the
//! local busybox image), read back from the engine:
//! - `depends_on: [{service: db, condition: healthy}]`: db's service is created first and web's
//!   only once db's container reports healthy (which takes 3 s);
//! - a group's services carry the constraint `node.labels.bridge.group.<app>.<group> == true`,
//!   the node has that label while the app is deployed, both tasks run there, and destroy takes
//!   the label off.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::engine::{TEST_IMAGE, bridge_in, call, ensure_swarm, ensure_test_image};
use support::peers::text;

fn run(dir: &Path, args: &[&str]) -> Output {
    bridge_in(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

fn workdir(app: &str, yaml: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-{app}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    std::fs::write(d.join("bridge.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
    d
}

fn enc(filter: &str) -> String {
    filter.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// The app's services, by their service name in the app (`db`, `web`).
fn services(app: &str) -> Vec<(String, Value)> {
    let f = enc(&format!("{{\"label\":[\"bridge.app={app}\"]}}"));
    call("GET", &format!("/services?filters={f}"), None)
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| {
            let c = s["Spec"]["Labels"]["bridge.component"].as_str()?;
            let name = c.rsplit('/').next()?.to_string();
            Some((name, s))
        })
        .collect()
}

/// The running task of a service: (node id, container id), once it has a container.
fn task(service_id: &str) -> Option<(String, String)> {
    let f = enc(&format!(
        "{{\"service\":[\"{service_id}\"],\"desired-state\":[\"running\"]}}"
    ));
    let tasks = call("GET", &format!("/tasks?filters={f}"), None).json();
    tasks.as_array()?.iter().find_map(|t| {
        let c = t["Status"]["ContainerStatus"]["ContainerID"].as_str()?;
        Some((t["NodeID"].as_str()?.to_string(), c.to_string()))
    })
}

#[test]
fn a_healthy_dependency_is_created_first_and_waited_for() {
    ensure_swarm();
    ensure_test_image();
    let app = "it-claims-dep";
    let yaml = format!(
        "bridge: v1\nname: {app}\nservices:\n  db:\n    image: {TEST_IMAGE}\n    stop_signal: SIGKILL\n    command: [sh, -c, \"sleep 3; echo ok > /tmp/ready; exec sleep 600\"]\n    health: {{test: [CMD, sh, -c, \"[ -f /tmp/ready ]\"], interval: 1s, retries: 30}}\n  web:\n    image: {TEST_IMAGE}\n    stop_signal: SIGKILL\n    command: [sleep, '600']\n    depends_on: [{{service: db, condition: healthy}}]\n"
    );
    let dir = workdir(app, &yaml);
    let _ = run(&dir, &["destroy"]);
    let deploy = bridge_in(&dir)
        .args(["deploy", "--wait", "--timeout", "90s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    // Watch the engine: when db's service appears, and when web's does.
    let start = Instant::now();
    let mut db_seen = None;
    let web_seen = loop {
        let now = services(app);
        if db_seen.is_none() && now.iter().any(|(n, _)| n == "db") {
            db_seen = Some(start.elapsed());
        }
        if let Some((_, _)) = now.iter().find(|(n, _)| n == "web") {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "web's service never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // At the moment web's service exists, db's container is already healthy.
    let db_id = services(app)
        .into_iter()
        .find(|(n, _)| n == "db")
        .and_then(|(_, s)| s["ID"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no db service"));
    let health = match task(&db_id) {
        Some((_, container)) => call("GET", &format!("/containers/{container}/json"), None).json()
            ["State"]["Health"]["Status"]
            .clone(),
        None => Value::from("without a container yet"),
    };
    let out = deploy
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait: {e}"));
    assert!(out.status.success(), "deploy: {}", text(&out));
    let db_seen = db_seen.unwrap_or_else(|| panic!("web's service appeared before db's"));
    assert_eq!(health, "healthy", "web was created while db was {health}");
    assert!(
        web_seen - db_seen >= Duration::from_millis(2500),
        "web was created {:?} after db, before db could be healthy (3 s)",
        web_seen - db_seen
    );
    let o = run(&dir, &["destroy"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(services(app).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_group_is_pinned_to_one_node_by_the_label_bridge_sets() {
    ensure_swarm();
    ensure_test_image();
    let app = "it-claims-grp";
    let yaml = format!(
        "bridge: v1\nname: {app}\nservices:\n  a:\n    image: {TEST_IMAGE}\n    stop_signal: SIGKILL\n    command: [sleep, '600']\n    group: pod\n  b:\n    image: {TEST_IMAGE}\n    stop_signal: SIGKILL\n    command: [sleep, '600']\n    group: pod\ngroups: {{pod: {{}}}}\n"
    );
    let dir = workdir(app, &yaml);
    let _ = run(&dir, &["destroy"]);
    let o = run(&dir, &["deploy", "--wait", "--timeout", "60s"]);
    assert!(o.status.success(), "deploy: {}", text(&o));
    let label = format!("bridge.group.{app}.pod");
    let want = format!("node.labels.{label} == true");
    let svcs = services(app);
    assert_eq!(svcs.len(), 2, "{svcs:?}");
    let mut nodes = Vec::new();
    for (n, s) in &svcs {
        let c = &s["Spec"]["TaskTemplate"]["Placement"]["Constraints"];
        assert!(
            c.as_array()
                .is_some_and(|c| c.iter().any(|x| x == want.as_str())),
            "{n} lacks `{want}`: {c}"
        );
        let id = s["ID"].as_str().unwrap_or_default();
        let (node, _) = task(id).unwrap_or_else(|| panic!("{n} has no running task"));
        nodes.push(node);
    }
    assert_eq!(
        nodes[0], nodes[1],
        "the group's tasks run on different nodes"
    );
    let node = call("GET", &format!("/nodes/{}", nodes[0]), None).json();
    assert_eq!(
        node["Spec"]["Labels"][label.as_str()],
        "true",
        "the node lacks the label: {}",
        node["Spec"]["Labels"]
    );
    let o = run(&dir, &["destroy"]);
    assert!(o.status.success(), "{}", text(&o));
    let node = call("GET", &format!("/nodes/{}", nodes[0]), None).json();
    assert!(
        node["Spec"]["Labels"].get(label.as_str()).is_none(),
        "destroy left the label: {}",
        node["Spec"]["Labels"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
