//! `bridge export -p swarm --stack NAME` on the real Docker Engine: a stack made by the docker
//! CLI's `docker stack deploy -c` (the local busybox test image, a network, a volume, a secret and
//! a config) is read back; the bridge.yaml validates and its services, ports, env, replicas,
//! networks, volumes and secret/config references match; secret values are never read.

#[allow(dead_code)]
mod support;

use std::process::Command;

use support::engine::{TEST_IMAGE, ensure_swarm, ensure_test_image};

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the docker CLI is needed: {e}"))
}

struct Stack(String);
impl Drop for Stack {
    fn drop(&mut self) {
        let _ = docker(&["stack", "rm", &self.0]);
        // The tasks made the volume; it outlives the stack until its containers are gone.
        let vol = format!("{}_data", self.0);
        let label = format!("label=com.docker.stack.namespace={}", self.0);
        for _ in 0..60 {
            let ps = docker(&["ps", "-aq", "--filter", &label]);
            let running = !String::from_utf8_lossy(&ps.stdout).trim().is_empty();
            let o = docker(&["volume", "rm", &vol]);
            let err = String::from_utf8_lossy(&o.stderr).to_string();
            if !running && (o.status.success() || err.contains("no such volume")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

#[test]
fn a_docker_stack_deploy_stack_exports() {
    ensure_swarm();
    ensure_test_image();
    let name = format!("bexp{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("bridge-export-swarm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("token.txt"), "s3cret-value-never-exported")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("site.conf"), "listen 8080").unwrap_or_else(|e| panic!("{e}"));
    let compose = format!(
        "services:\n  web:\n    image: {TEST_IMAGE}\n    command: [\"httpd\", \"-f\", \"-p\", \"8080\"]\n    healthcheck: {{test: [\"CMD\", \"true\"], interval: 5s, retries: 4}}\n    environment:\n      GREETING: hello\n    ports:\n      - {{target: 8080, published: 18091, mode: host}}\n    networks: [back]\n    volumes: [\"data:/data\"]\n    secrets: [token]\n    configs: [site]\n    deploy:\n      replicas: 2\n      restart_policy: {{condition: on-failure}}\n      placement:\n        constraints: [\"node.role == manager\"]\n  worker:\n    image: {TEST_IMAGE}\n    command: [\"sleep\", \"3600\"]\n    networks: [back]\nnetworks:\n  back: {{}}\nvolumes:\n  data: {{}}\nsecrets:\n  token:\n    file: ./token.txt\nconfigs:\n  site:\n    file: ./site.conf\n"
    );
    let file = dir.join("stack.yaml");
    std::fs::write(&file, compose).unwrap_or_else(|e| panic!("{e}"));
    let _stack = Stack(name.clone());
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
    // The service API does not give the health check back to the Engine's client model: the
    // export reads it from a running container, so wait until each service has one (web's
    // second replica stays pending: its host-mode port is taken on this one node).
    let running = |svc: &str| {
        let f = format!("label=com.docker.swarm.service.name={name}_{svc}");
        let ps = docker(&["ps", "-q", "--filter", &f]);
        !String::from_utf8_lossy(&ps.stdout).trim().is_empty()
    };
    for _ in 0..120 {
        if running("web") && running("worker") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let out = dir.join("bridge.yaml");
    let e = Command::new(env!("CARGO_BIN_EXE_bridge"))
        .args([
            "export", "--color", "never", "-p", "swarm", "--stack", &name, "-o",
        ])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(e.status.success(), "{err}");
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        !text.contains("s3cret") && !err.contains("s3cret"),
        "a secret value was read:\n{text}"
    );
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
    let app = bridge_core::load_file(&out, &bridge_core::LoadOptions::default())
        .valid
        .unwrap_or_else(|| panic!("the exported file does not load:\n{text}"))
        .into_app();
    assert_eq!(app.name, name);
    assert_eq!(app.services.len(), 2, "{text}");
    let web = &app.services["web"];
    assert_eq!(web.image, TEST_IMAGE);
    assert_eq!(web.replicas, 2);
    assert_eq!(web.env.0.get("GREETING").map(String::as_str), Some("hello"));
    assert_eq!(
        web.command.as_ref().map(|c| c.0.clone()),
        Some(vec![
            "httpd".into(),
            "-f".into(),
            "-p".into(),
            "8080".into()
        ])
    );
    assert_eq!(web.ports.len(), 1);
    assert_eq!(
        (web.ports[0].container, web.ports[0].published),
        (8080, Some(18091))
    );
    assert_eq!(web.ports[0].mode, bridge_core::model::PortMode::Host);
    assert_eq!(web.networks, vec!["back".to_string()]);
    assert_eq!(
        web.secrets
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["token"]
    );
    assert_eq!(
        web.configs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["site"]
    );
    assert!(app.secrets["token"].external, "{text}");
    assert_eq!(web.restart, bridge_core::model::RestartPolicy::OnFailure);
    assert_eq!(
        web.placement.constraints,
        vec!["node.role == manager".to_string()]
    );
    assert!(app.networks.contains_key("back"), "{text}");
    assert_eq!(app.services["worker"].replicas, 1);
    // The health check comes back (read from a running container), the worker has none, and
    // no health check is reported as unread.
    let h = web
        .health
        .as_ref()
        .unwrap_or_else(|| panic!("web's health check was not exported:\n{text}\n{err}"));
    assert_eq!(h.test.0, vec!["CMD".to_string(), "true".to_string()]);
    assert_eq!(h.interval.map(|d| d.0), Some(5_000_000_000));
    assert_eq!(h.retries, Some(4));
    assert!(app.services["worker"].health.is_none(), "{text}");
    assert!(!err.contains("health check of service"), "{err}");
}
