//! `bridge export --from compose` over what the real `docker stack config` prints (the docker
//! CLI merges and normalises the file): the exported bridge.yaml validates and keeps the
//! services, image, command, ports, env and replicas.

use std::process::Command;

fn bridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bridge"))
}

#[test]
fn docker_stack_config_output_exports() {
    let dir = std::env::temp_dir().join(format!("bridge-export-compose-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let src = dir.join("compose.yaml");
    std::fs::write(
        &src,
        "services:\n  web:\n    image: busybox:latest\n    command: [\"httpd\", \"-f\", \"-p\", \"8080\"]\n    ports: [\"8080:8080\"]\n    environment:\n      GREETING: hello\n    deploy:\n      replicas: 2\n  worker:\n    image: busybox:latest\n    command: sleep 3600\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = Command::new("docker")
        .args(["stack", "config", "-c"])
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("the docker CLI is needed: {e}"));
    assert!(
        o.status.success(),
        "docker stack config failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed = dir.join("stack-config.yaml");
    std::fs::write(&printed, &o.stdout).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("bridge.yaml");
    let e = bridge()
        .args([
            "export", "--color", "never", "--from", "compose", "--name", "demo",
        ])
        .arg(&printed)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let v = bridge()
        .args(["validate", "-f"])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let app = bridge_core::load_file(&out, &bridge_core::LoadOptions::default())
        .valid
        .unwrap_or_else(|| panic!("the exported file does not load"))
        .into_app();
    assert_eq!(app.name, "demo");
    let web = &app.services["web"];
    assert_eq!(web.image, "busybox:latest");
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
        (8080, Some(8080))
    );
    assert_eq!(
        app.services["worker"].command.as_ref().map(|c| c.0.clone()),
        Some(vec!["sleep".into(), "3600".into()])
    );
}

#[test]
fn a_broken_compose_file_fails_with_its_position() {
    let dir = std::env::temp_dir().join(format!("bridge-export-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let f = dir.join("bad.yaml");
    std::fs::write(
        &f,
        "services:\n  web:\n    image: busybox\n    ports: [\"99999:80\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = bridge()
        .args(["export", "--color", "never", "--from", "compose"])
        .arg(&f)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&e.stderr);
    assert_eq!(e.status.code(), Some(1), "{err}");
    assert!(e.stdout.is_empty());
    assert!(err.contains("bad.yaml:4:"), "{err}");
}
