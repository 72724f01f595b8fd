//! The driver conformance harness run for the GCE driver against the Compute-compatible test
//! server (tests/gce_server: every request body checked against the discovery document's schema,
//! real operations, fingerprints, request ids and OAuth2), for examples/07 (containers and a VM)
//! retargeted at GCE, and for an app with replicas and a persistent disk.

mod support;

use bridge_core::ValidApp;
use support::gce::{Server, example_07_on_gce, replicated_app, valid};

fn run(server: &Server, app: &ValidApp) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(async {
        let driver = server.driver(app).map_err(|e| e.to_string())?;
        support::conformance::lifecycle(&driver, app).await
    })
}

#[test]
fn gce_driver_passes_the_conformance_harness_for_example_07() {
    let server = Server::start("conf07", 3600.0);
    let app = valid(&example_07_on_gce());
    if let Err(e) = run(&server, &app) {
        panic!("{e}");
    }
    eprintln!("server stats: {}", server.control("stats"));
    // It really went through the API: firewall rules and two instances (host and VM) inserted.
    assert!(
        server.stat("insert_instances") >= 2,
        "{}",
        server.control("stats")
    );
    // The harness re-applies every create: the same derived requestIds, replayed by the API.
    assert!(server.stat("replayed") >= 4, "{}", server.control("stats"));
    assert!(
        server.stat("insert_firewalls") >= 2,
        "{}",
        server.control("stats")
    );
    assert_eq!(server.stat("status_500"), 0, "the server hit a bug");
}

#[test]
fn gce_driver_passes_the_conformance_harness_with_replicas_and_a_disk() {
    let server = Server::start("confrep", 3600.0);
    let app = valid(&replicated_app("it-rep"));
    if let Err(e) = run(&server, &app) {
        panic!("{e}");
    }
    let stats = server.control("stats");
    for (counter, n) in [
        ("insert_disks", 1),
        ("secret_create", 1),
        ("secret_add_version", 1),
    ] {
        assert_eq!(server.stat(counter), n, "{counter}: {stats}");
    }
    assert!(
        server.stat("insert_instances") >= 3,
        "{}",
        server.control("stats")
    );
    assert_eq!(server.stat("status_500"), 0, "the server hit a bug");
}
