//! The health-signal script a Heat container host runs after its containers start
//! (`bridge_translators::heat::HEALTH_SIGNAL_SCRIPT`), run by `sh` against the real Docker
//! Engine: a healthy container makes it POST SUCCESS to the wait condition handle's URL with
//! the handle's token, an unhealthy one FAILURE with the container's last health check output.
//! A local HTTP listener stands in for Heat's signal endpoint and records the request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use bridge_translators::heat::HEALTH_SIGNAL_SCRIPT;
use serde_json::Value;

const IMAGE: &str = "bridge-test/busybox:1";

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"));
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Start `name` with health command `check`, run the script for it, and return the request the
/// listener got: (X-Auth-Token header, JSON body), and the script's exit code.
fn signal_for(name: &str, check: &str) -> (String, Value, Option<i32>) {
    let _ = Command::new("docker").args(["rm", "-f", name]).output();
    docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--health-cmd",
        check,
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        IMAGE,
        "sleep",
        "300",
    ]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let dir =
        std::env::temp_dir().join(format!("bridge-heat-signal-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let conf = dir.join("heat-signal");
    std::fs::write(
        &conf,
        format!("http://127.0.0.1:{port}/v1/signal/x\ntok-4711\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let script = dir.join("health-signal.sh");
    std::fs::write(&script, HEALTH_SIGNAL_SCRIPT).unwrap_or_else(|e| panic!("{e}"));
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut r = BufReader::new(s.try_clone().unwrap_or_else(|e| panic!("{e}")));
        let mut token = String::new();
        let mut len = 0usize;
        let mut first = String::new();
        r.read_line(&mut first).unwrap_or_else(|e| panic!("{e}"));
        assert!(first.starts_with("POST /v1/signal/x "), "{first}");
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap_or_else(|e| panic!("{e}"));
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            match k.to_ascii_lowercase().as_str() {
                "x-auth-token" => token = v.trim().to_string(),
                "content-length" => len = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).unwrap_or_else(|e| panic!("{e}"));
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .ok();
        let v: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
        (token, v)
    });
    let o = Command::new("timeout")
        .arg("90")
        .arg("sh")
        .arg(&script)
        .arg(&conf)
        .arg(name)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let (token, body) = server.join().unwrap_or_else(|_| panic!("listener failed"));
    let _ = Command::new("docker").args(["rm", "-f", name]).output();
    let _ = std::fs::remove_dir_all(&dir);
    (token, body, o.status.code())
}

#[test]
fn a_healthy_container_signals_success() {
    let name = "bridge-heat-wait-healthy";
    let (token, body, code) = signal_for(name, "echo all-good-4711");
    assert_eq!(token, "tok-4711");
    assert_eq!(body["status"], "SUCCESS", "{body}");
    assert_eq!(body["reason"], format!("healthy: {name}"), "{body}");
    assert_eq!(body["data"], "all-good-4711\n", "{body}");
    assert!(body["id"].as_str().is_some_and(|s| !s.is_empty()), "{body}");
    assert_eq!(code, Some(0));
}

#[test]
fn an_unhealthy_container_signals_failure_with_its_health_output() {
    let name = "bridge-heat-wait-unhealthy";
    // Quotes and a backslash in the output: the body must stay valid JSON.
    let (token, body, code) = signal_for(name, r#"echo 'db "down" \ boom-4711'; exit 1"#);
    assert_eq!(token, "tok-4711");
    assert_eq!(body["status"], "FAILURE", "{body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&format!("/{name} is unhealthy")), "{body}");
    assert!(reason.contains(r#"db "down" \ boom-4711"#), "{body}");
    assert_eq!(body["data"], "db \"down\" \\ boom-4711\n", "{body}");
    assert_eq!(code, Some(1));
}
