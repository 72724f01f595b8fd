//! Benchmark (not a test): a 20-service app on the real engine, `bridge deploy --wait` until all
//! tasks run, against `docker stack deploy` of the same compose file plus waiting for
//! convergence; alternating runs on the same engine. Reports the ratio, the no-op redeploy time
//! and its API call count (through the counting proxy of the tests).
//!
//! Run: `cargo bench --bench swarm` (needs the Docker Engine and the test image; the tests make
//! it). `BRIDGE_BENCH_ROUNDS` sets the rounds (default 3).

#[path = "../tests/support/engine.rs"]
mod engine;
#[path = "../tests/support/proxy.rs"]
mod proxy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SERVICES: usize = 20;

fn compose(name: &str) -> String {
    let mut y = format!("version: \"3.8\"\nname: {name}\nservices:\n");
    for i in 0..SERVICES {
        y.push_str(&format!(
            "  s{i:02}:\n    image: {}\n    command: [sleep, \"3600\"]\n    stop_signal: SIGKILL\n",
            engine::TEST_IMAGE
        ));
    }
    y
}

fn bridge() -> PathBuf {
    // The bench binary lives in target/<profile>/deps; the bridge binary one level up.
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    dir.join("bridge")
}

fn sh(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

/// Wait until every service of the stack has all its tasks running.
fn wait_stack(ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        let out = Command::new("docker")
            .args([
                "service",
                "ls",
                "--filter",
                &format!("label=com.docker.stack.namespace={ns}"),
                "--format",
                "{{.Replicas}}",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let lines: Vec<&str> = out.lines().collect();
        if lines.len() == SERVICES
            && lines.iter().all(|l| {
                let mut p = l.split('/');
                matches!((p.next(), p.next()), (Some(a), Some(b)) if a == b.split_whitespace().next().unwrap_or(""))
            })
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("stack {ns} did not converge");
}

fn wait_gone(label: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let out = Command::new("docker")
            .args(["ps", "-q", "--filter", &format!("label={label}")])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        let nets = Command::new("docker")
            .args(["network", "ls", "-q", "--filter", &format!("label={label}")])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        if out.is_empty() && nets.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    engine::ensure_swarm();
    engine::ensure_test_image();
    let rounds: usize = std::env::var("BRIDGE_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let dir = std::env::temp_dir().join(format!("bridge-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("bridge.yaml"), compose("bench-bridge")).unwrap_or_default();
    std::fs::write(
        dir.join("stack.yaml"),
        compose("bench-stack").replace("name: bench-stack\n", ""),
    )
    .unwrap_or_default();
    let bin = bridge();
    let (mut tb, mut ts) = (Vec::new(), Vec::new());
    for round in 0..rounds * 2 {
        // Alternate which goes first.
        let bridge_turn = (round % 2 == 0) == (round / 2 % 2 == 0);
        if bridge_turn {
            let t = Instant::now();
            let out = Command::new(&bin)
                .current_dir(&dir)
                .args(["deploy", "-f", "bridge.yaml", "--wait", "--timeout", "180s"])
                .output();
            let e = t.elapsed();
            let ok = out.as_ref().map(|o| o.status.success()).unwrap_or(false);
            eprintln!("bridge deploy --wait: {e:?} (ok {ok})");
            if ok {
                tb.push(e);
            } else {
                // A failed run is reported, not averaged.
                let err = out
                    .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
                    .unwrap_or_default();
                eprintln!("bridge deploy failed: {err}");
            }
            sh(Command::new(&bin)
                .current_dir(&dir)
                .args(["destroy", "-f", "bridge.yaml"]));
            wait_gone("bridge.app=bench-bridge");
        } else {
            let t = Instant::now();
            let ok = sh(Command::new("docker").current_dir(&dir).args([
                "stack",
                "deploy",
                "--resolve-image",
                "never",
                "-c",
                "stack.yaml",
                "bench-stack",
            ]));
            wait_stack("bench-stack");
            let e = t.elapsed();
            ts.push(e);
            eprintln!("docker stack deploy + convergence: {e:?} (ok {ok})");
            sh(Command::new("docker").args(["stack", "rm", "bench-stack"]));
            wait_gone("com.docker.stack.namespace=bench-stack");
        }
    }
    let mean = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64() / v.len().max(1) as f64;
    let (b, s) = (mean(&tb), mean(&ts));
    println!("20 services, {rounds} rounds each, alternating");
    println!("bridge deploy --wait       mean {b:.2}s  {tb:?}");
    println!("docker stack deploy + wait mean {s:.2}s  {ts:?}");
    println!("ratio bridge/stack: {:.2}", b / s.max(1e-9));

    // No-op redeploy through the counting proxy.
    sh(Command::new(&bin)
        .current_dir(&dir)
        .args(["deploy", "-f", "bridge.yaml", "--wait"]));
    let p = proxy::Proxy::start("bench");
    let t = Instant::now();
    sh(Command::new(&bin)
        .current_dir(&dir)
        .env("DOCKER_HOST", p.docker_host())
        .args(["deploy", "-f", "bridge.yaml"]));
    let e = t.elapsed();
    println!(
        "no-op redeploy: {:.0} ms, {} API calls, {} writes",
        e.as_secs_f64() * 1000.0,
        p.calls().len(),
        p.writes().len()
    );
    sh(Command::new(&bin)
        .current_dir(&dir)
        .args(["destroy", "-f", "bridge.yaml"]));
    let _ = std::fs::remove_dir_all(&dir);
}
