//! Issue 4 acceptance, the one case that must own the engine: with no swarm active, `deploy`
//! says what to do and exits 2; `deploy --yes` initialises a local single-node swarm and
//! deploys. This is a test binary of its own so that it runs alone (cargo runs test binaries one
//! after another); it leaves the engine a swarm manager again whatever happens.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use support::engine::{TEST_IMAGE, call, ensure_swarm, ensure_test_image};

fn run(dir: &PathBuf, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bridge"))
        .current_dir(dir)
        .args(args)
        .env_remove("DOCKER_HOST")
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Puts the swarm back when the test ends, passing or not.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ensure_swarm();
    }
}

#[test]
fn no_swarm_is_a_clear_error_and_yes_initialises_one() {
    ensure_test_image();
    let _restore = Restore;
    let dir = std::env::temp_dir().join(format!("bridge-it-noswarm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.join("bridge.yaml"),
        format!("bridge: v1\nname: it-noswarm\nservices:\n  web:\n    image: {TEST_IMAGE}\n    command: [sleep, \"3600\"]\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let r = call("POST", "/swarm/leave?force=true", None);
    assert!(
        r.status == 200 || r.status == 503,
        "swarm leave: {} {}",
        r.status,
        r.text()
    );
    let info = call("GET", "/info", None).json();
    assert_eq!(
        info["Swarm"]["LocalNodeState"], "inactive",
        "the engine must have left the swarm"
    );

    // Not a terminal and no --yes: a clear error that says what to do, exit 2, nothing created.
    let o = run(&dir, &["deploy", "-f", "bridge.yaml"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("swarm"), "{t}");
    assert!(
        t.contains("--yes") && t.contains("docker swarm init"),
        "the message must say what to do: {t}"
    );
    let info = call("GET", "/info", None).json();
    assert_eq!(
        info["Swarm"]["LocalNodeState"], "inactive",
        "without --yes nothing is initialised"
    );

    // --yes: a single-node swarm on 127.0.0.1, then the deploy.
    let o = run(
        &dir,
        &[
            "deploy",
            "-f",
            "bridge.yaml",
            "--yes",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let info = call("GET", "/info", None).json();
    assert_eq!(
        info["Swarm"]["LocalNodeState"], "active",
        "--yes must initialise a swarm"
    );
    assert_eq!(
        info["Swarm"]["NodeAddr"], "127.0.0.1",
        "the swarm listens on loopback only"
    );

    let o = run(&dir, &["destroy", "-f", "bridge.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
