//! `bridge move --to openstack` (issue 14) through the binary: an app with a secret deployed on
//! the real Docker Engine's swarm moves to the real test OpenStack (tests/openstack/up.sh):
//! B's Heat stack ends CREATE_COMPLETE (read from Heat), history shows B-healthy reached before
//! A-removed began, nothing of the app is left on the engine, and the secret's value is in no
//! output. No kill -9 or rollback here (tests/move.rs covers those against moto).

#[path = "support/engine.rs"]
mod engine;
#[path = "support/openstack.rs"]
mod os;
#[path = "support/peers.rs"]
mod peers;

use std::process::Output;

use peers::text;

#[test]
fn move_swarm_to_openstack_removes_a_after_the_stack_is_complete() {
    engine::ensure_swarm();
    engine::ensure_test_image();
    let name = "mv-os";
    let yaml = format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: {}\n    command: [sleep, '3600']\n    stop_signal: SIGKILL\n    secrets: [{{name: api_key, env: API_KEY}}]\nsecrets: {{api_key: {{file: ./api_key.txt}}}}\nproviders:\n  default: swarm\n  openstack: {{neutron: false, images: {{container-host: bridge-test-image}}}}\n",
        engine::TEST_IMAGE
    );
    let dir = os::app_dir("move", &yaml);
    let run = |args: &[&str]| -> Output {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_bridge"));
        c.current_dir(&dir)
            .env("NO_COLOR", "1")
            .env_remove("DOCKER_HOST")
            .env_remove("OS_AUTH_URL");
        for (k, v) in os::cli_env("bridge-demo") {
            c.env(k, v);
        }
        c.args(args)
            .output()
            .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
    };
    let ok = |o: &Output, what: &str| {
        assert!(o.status.success(), "{what}:\n{}", text(o));
        assert!(
            !text(o).contains(os::SECRET),
            "the secret leaked:\n{}",
            text(o)
        );
    };
    let _ = run(&["destroy", "-f", "app.yaml"]);
    let _ = run(&["destroy", "-f", "app.yaml", "-p", "openstack"]);
    let deploy: Vec<&str> = "deploy -f app.yaml --yes --wait --timeout 60s"
        .split(' ')
        .collect();
    ok(&run(&deploy), "deploy to swarm");
    assert!(!engine::labelled("services", name).is_empty());

    let o = run(&[
        "move",
        "-f",
        "app.yaml",
        "--to",
        "openstack",
        "--remove-source",
        "--timeout",
        "300s",
    ]);
    ok(&o, "move --to openstack");
    let t = text(&o);
    assert!(
        t.contains("B (openstack)") && t.contains("A (swarm)"),
        "{t}"
    );
    assert!(t.contains("moved from swarm to openstack"), "{t}");
    // Read back: one complete stack on Heat, nothing of the app on the engine.
    let driver = os::driver("bridge-demo", &dir);
    let stacks = os::rt().block_on(os::stacks(&driver, name));
    assert_eq!(stacks.len(), 1, "{stacks:?}");
    assert_eq!(stacks[0].1, "CREATE_COMPLETE", "{stacks:?}");
    for kind in ["services", "secrets", "networks"] {
        assert!(
            engine::labelled(kind, name).is_empty(),
            "{kind} left on the engine"
        );
    }
    // The order, from history: B-healthy reached before A-removed began.
    let o = run(&["history", "-f", "app.yaml"]);
    let h = text(&o);
    let at = |p: &str| {
        h.find(&format!("move {p} "))
            .unwrap_or_else(|| panic!("{p}: {h}"))
    };
    // history is newest first
    assert!(
        at("A-removed") < at("B-healthy") && at("done") < at("A-removed"),
        "{h}"
    );

    ok(
        &run(&["destroy", "-f", "app.yaml", "-p", "openstack"]),
        "destroy",
    );
    assert!(os::rt().block_on(os::stacks(&driver, name)).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
