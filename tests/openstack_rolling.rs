//! Issue 12 (Heat part): rolling updates on the real test OpenStack (tests/openstack/up.sh). A
//! 3-replica service on identical servers is one `OS::Heat::ResourceGroup` whose
//! `rolling_update` (translators/src/heat/update.rs) replaces one member at a time; the test
//! changes the service's env, deploys, and polls Nova's own server list while Heat updates the
//! stack: never fewer than 3 of the service's servers ACTIVE (Heat creates each replacement
//! before deleting the old one), never more than 4 (one replaced at a time), and every server
//! replaced.

#[path = "support/openstack.rs"]
mod os;
#[path = "support/peers.rs"]
mod peers;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use peers::text;

/// `bridge CMD` on the test app (deploy with `--timeout 300s`).
fn bridge(dir: &Path, cmd: &str, env: &[(String, String)]) -> std::process::Command {
    let extra: &[&str] = if cmd == "deploy" {
        &["--timeout", "300s"]
    } else {
        &[]
    };
    os::cli(dir, &os::app_args(cmd, extra), env)
}

/// The ids of the ACTIVE servers whose name starts with `prefix`.
fn active(
    rt: &tokio::runtime::Runtime,
    d: &bridge_providers::openstack::OpenstackDriver,
    prefix: &str,
) -> BTreeSet<String> {
    rt.block_on(os::servers(d, prefix))
        .into_iter()
        .filter(|s| s.2 == "ACTIVE")
        .map(|s| s.0)
        .collect()
}

/// `web`: 3 replicas, each filling an m1.small, so three identical servers (one resource group).
fn app(name: &str, level: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: busybox:1\n    command: [sleep, '3600']\n    replicas: 3\n    env: {{LOG_LEVEL: {level}}}\n    resources: {{memory: 1500MiB}}\n    update: {{parallelism: 1}}\nproviders:\n  openstack: {{neutron: false, flavor: m1.small, images: {{container-host: bridge-test-image}}}}\n"
    )
}

#[test]
fn a_changed_service_is_replaced_one_server_at_a_time() {
    let env = os::cli_env("bridge-demo");
    let d = os::driver("bridge-demo", Path::new("."));
    let rt = os::rt();
    let name = format!("roll{}", std::process::id());
    let prefix = format!("{name}-web-");
    let dir = os::app_dir("rolling", &app(&name, "one"));
    let o = bridge(&dir, "deploy", &env)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = active(&rt, &d, &prefix);
    assert_eq!(before.len(), 3, "{before:?}");

    // The update: every server's user_data changes, so Heat replaces each of them.
    std::fs::write(dir.join("app.yaml"), app(&name, "two")).unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let mut child = bridge(&dir, "deploy", &env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut min_active, mut max_listed, mut polls) = (usize::MAX, 0, 0);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while child.try_wait().unwrap_or_else(|e| panic!("{e}")).is_none() {
        let s = rt.block_on(os::servers(&d, &prefix));
        let active = s.iter().filter(|s| s.2 == "ACTIVE").count();
        min_active = min_active.min(active);
        max_listed = max_listed.max(s.len());
        seen.extend(s.into_iter().map(|s| s.0));
        polls += 1;
        assert!(
            t0.elapsed() < Duration::from_secs(400),
            "the update never finished"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = active(&rt, &d, &prefix);
    eprintln!(
        "update: {:?}, {polls} polls of nova, fewest ACTIVE {min_active}, most listed {max_listed}, {} server ids seen",
        t0.elapsed(),
        seen.len()
    );
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        after.is_disjoint(&before),
        "not every server was replaced: {before:?} -> {after:?}"
    );
    assert!(polls > 3, "too few polls to see the update ({polls})");
    // Heat creates each replacement before deleting the old server: never fewer than 3 ACTIVE
    // (stop-first's bound of 2 holds a fortiori), and one batch of 1 at a time: never more than
    // 4 listed (without the rolling update Heat replaces all three together: 6).
    assert!(
        min_active >= 3,
        "only {min_active} of web's 3 servers were ACTIVE during the update"
    );
    assert!(
        max_listed <= 4,
        "{max_listed} servers of web at once: more than one replaced at a time"
    );
    let o = bridge(&dir, "destroy", &env)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(rt.block_on(os::servers(&d, &prefix)).is_empty());
}
