//! `bridge deploy --adopt` on the real Docker Engine: a corpus compose file
//! (awesome-compose's wordpress-mysql, its images swapped for the local busybox test image) is
//! deployed by the docker CLI's `docker stack deploy -c`, exported with `bridge export -p swarm
//! --stack`, and taken over: a deploy without `--adopt` refuses (exit 2, naming the services)
//! and changes nothing; `plan --adopt` shows an adoption per service; `deploy --adopt` labels
//! them in place; the plan after it is empty; no task or container was replaced and each
//! service's task template is byte-identical, all read from the Engine.

#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::engine::{TEST_IMAGE, ensure_swarm, ensure_test_image};

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the docker CLI is needed: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn bridge(args: &[&str], file: &Path, state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bridge"))
        .args(args)
        .args(["--color", "never", "-f"])
        .arg(file)
        .arg("--state")
        .arg(state)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

struct Stack(String, PathBuf);
impl Drop for Stack {
    fn drop(&mut self) {
        let _ = docker(&["stack", "rm", &self.0]);
        let vol = format!("{}_db_data", self.0);
        let label = format!("label=com.docker.stack.namespace={}", self.0);
        for _ in 0..60 {
            let running = !stdout(&docker(&["ps", "-aq", "--filter", &label])).is_empty();
            let o = docker(&["volume", "rm", &vol]);
            let err = String::from_utf8_lossy(&o.stderr).to_string();
            if !running && (o.status.success() || err.contains("no such volume")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// The corpus file, made to run here: each replacement must apply, so a changed corpus file
/// fails loudly instead of testing something else.
fn corpus_stack(port: u16) -> String {
    let path = support::peers::shared().join("corpus/compose/awesome-compose/wordpress-mysql.yaml");
    let mut text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (../shared beside the checkout)", path.display()));
    for (from, to) in [
        (
            "image: mariadb:10.6.4-focal".to_string(),
            format!("image: {TEST_IMAGE}"),
        ),
        (
            "command: '--default-authentication-plugin=mysql_native_password'".to_string(),
            "command: [\"sleep\", \"3600\"]".to_string(),
        ),
        (
            "image: wordpress:latest".to_string(),
            format!("image: {TEST_IMAGE}\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]"),
        ),
        (
            "- 80:80".to_string(),
            format!("- {{target: 80, published: {port}, mode: host}}"),
        ),
    ] {
        assert!(
            text.contains(&from),
            "the corpus file no longer has `{from}`"
        );
        text = text.replace(&from, &to);
    }
    text
}

fn service_json(name: &str) -> serde_json::Value {
    let o = docker(&["service", "inspect", name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap_or_default()[0].clone()
}

/// Every task of the stack (running or not) and every container of it, sorted.
fn tasks_and_containers(stack: &str) -> (Vec<String>, Vec<String>) {
    let mut tasks = Vec::new();
    for svc in ["db", "wordpress"] {
        let o = docker(&[
            "service",
            "ps",
            "-q",
            "--no-trunc",
            &format!("{stack}_{svc}"),
        ]);
        tasks.extend(stdout(&o).lines().map(str::to_string));
    }
    let label = format!("label=com.docker.stack.namespace={stack}");
    let mut containers: Vec<String> =
        stdout(&docker(&["ps", "-aq", "--no-trunc", "--filter", &label]))
            .lines()
            .map(str::to_string)
            .collect();
    tasks.sort();
    containers.sort();
    (tasks, containers)
}

#[test]
fn a_docker_stack_deploy_stack_is_adopted_in_place() {
    ensure_swarm();
    ensure_test_image();
    let name = format!("badopt{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("bridge-adopt-swarm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    // A port no one listens on now (host mode publishes on every address of the node).
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"));
    let file = dir.join("stack.yaml");
    std::fs::write(&file, corpus_stack(port)).unwrap_or_else(|e| panic!("{e}"));
    let _stack = Stack(name.clone(), dir.clone());
    let o = docker(&[
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "-c",
        &file.display().to_string(),
        &name,
    ]);
    assert!(
        o.status.success(),
        "docker stack deploy: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let running = |svc: &str| {
        let f = format!("label=com.docker.swarm.service.name={name}_{svc}");
        !stdout(&docker(&[
            "ps",
            "-q",
            "--filter",
            &f,
            "--filter",
            "status=running",
        ]))
        .is_empty()
    };
    let mut up = false;
    for _ in 0..120 {
        if running("db") && running("wordpress") {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(up, "the stack's containers did not start");

    // Export; the bridge.yaml validates.
    let out = dir.join("bridge.yaml");
    let state = dir.join("state.db");
    let e = Command::new(env!("CARGO_BIN_EXE_bridge"))
        .args([
            "export", "--color", "never", "-p", "swarm", "--stack", &name, "-o",
        ])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let v = Command::new(env!("CARGO_BIN_EXE_bridge"))
        .args(["validate", "-f"])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        v.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&v.stderr)
    );

    let before = tasks_and_containers(&name);
    assert_eq!(before.0.len(), 2, "one task per service: {before:?}");
    assert_eq!(before.1.len(), 2, "one container per service: {before:?}");
    let templates: Vec<serde_json::Value> = ["db", "wordpress"]
        .iter()
        .map(|s| service_json(&format!("{name}_{s}"))["Spec"]["TaskTemplate"].clone())
        .collect();

    // Without --adopt: refused, naming the services, nothing written.
    let d = bridge(&["deploy"], &out, &state);
    let err = String::from_utf8_lossy(&d.stderr);
    assert_eq!(d.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{name}_db")) && err.contains(&format!("{name}_wordpress")),
        "{err}"
    );
    assert!(err.contains("--adopt"), "{err}");
    for s in ["db", "wordpress"] {
        let spec = &service_json(&format!("{name}_{s}"))["Spec"];
        assert!(
            spec["Labels"]["bridge.app"].is_null(),
            "{s} was changed without --adopt: {spec}"
        );
    }
    assert_eq!(tasks_and_containers(&name), before);

    // plan --adopt: one adoption per service, nothing else.
    let p = bridge(&["plan", "--adopt", "--output", "json"], &out, &state);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap_or_default();
    let changes: Vec<(String, String)> = plan["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["action"] != "noop")
        .map(|s| {
            (
                s["resource"].as_str().unwrap_or_default().to_string(),
                s["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("service/db".to_string(), "adopt".to_string()),
            ("service/wordpress".to_string(), "adopt".to_string())
        ],
        "{plan:#}\n{text}"
    );

    // deploy --adopt, then the plan is empty.
    let a = bridge(&["deploy", "--adopt"], &out, &state);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let q = bridge(&["plan", "--detailed-exitcode"], &out, &state);
    assert_eq!(
        q.status.code(),
        Some(0),
        "{}{}",
        stdout(&q),
        String::from_utf8_lossy(&q.stderr)
    );
    assert!(stdout(&q).contains("no changes"), "{}", stdout(&q));

    // Nothing restarted: the same tasks and containers, the same task templates; the services
    // carry bridge's labels.
    assert_eq!(
        tasks_and_containers(&name),
        before,
        "a task or container was replaced"
    );
    for (s, t) in ["db", "wordpress"].iter().zip(&templates) {
        let svc = service_json(&format!("{name}_{s}"));
        assert_eq!(
            &svc["Spec"]["TaskTemplate"], t,
            "{s}'s task template changed"
        );
        let l = &svc["Spec"]["Labels"];
        assert_eq!(l["bridge.app"], name.as_str(), "{svc:#}");
        assert_eq!(
            l["bridge.component"],
            format!("service/{s}").as_str(),
            "{svc:#}"
        );
        assert!(
            l["bridge.spec-hash"]
                .as_str()
                .is_some_and(|h| !h.is_empty()),
            "{svc:#}"
        );
        assert_eq!(
            l["com.docker.stack.namespace"],
            name.as_str(),
            "the stack's label was lost"
        );
    }
    assert!(running("db") && running("wordpress"));
}
