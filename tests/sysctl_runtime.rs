//! The kernel parameters bridge's validation refuses are exactly the ones the container runtime
//! refuses: each case is validated by bridge and run on the machine's real Docker Engine (runc
//! creates the container), and the two verdicts must agree. This is the rule behind the
//! validation (core/src/validate.rs `sysctls`), which holds on every target, since all of them
//! run containers with runc (Swarm, ECS, and the container-VMs of GCE and OpenStack).

mod support;

use std::path::Path;

use support::engine::{TEST_IMAGE, call, ensure_test_image};

/// (parameter, value, ipc, uts)
const CASES: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    ("kernel.shmmax", "68719476736", None, None),
    ("kernel.shmmax", "68719476736", Some("host"), None),
    ("kernel.shmmax", "68719476736", Some("shareable"), None),
    ("kernel.sem", "250 32000 100 128", Some("host"), None),
    ("kernel.msgmax", "65536", None, None),
    ("fs.mqueue.msg_max", "64", None, None),
    ("fs.mqueue.msg_max", "64", Some("host"), None),
    ("net.core.somaxconn", "1024", None, None),
    ("net.ipv4.ip_forward", "1", Some("host"), None),
    ("kernel.domainname", "example.org", None, None),
    ("kernel.domainname", "example.org", None, Some("host")),
    ("kernel.hostname", "web", None, None),
    ("vm.swappiness", "10", None, None),
    ("vm.max_map_count", "262144", None, None),
    ("kernel.pid_max", "100000", None, None),
    ("kernel.keys.maxkeys", "300", None, None),
];

/// Does bridge's validation refuse the parameter?
fn bridge_refuses(key: &str, value: &str, ipc: Option<&str>, uts: Option<&str>) -> bool {
    let mut yaml = format!(
        "bridge: v1\nname: sysctl\nservices:\n  web:\n    image: {TEST_IMAGE}\n    sysctls:\n      {key}: \"{value}\"\n"
    );
    if let Some(i) = ipc {
        yaml.push_str(&format!("    ipc: {i}\n"));
    }
    if let Some(u) = uts {
        yaml.push_str(&format!("    uts: {u}\n"));
    }
    let r = bridge_core::load_str(
        &"bridge.yaml".into(),
        &yaml,
        Path::new("."),
        &bridge_core::LoadOptions::default(),
    );
    let path = format!("services.web.sysctls.{key}");
    let named = r
        .diagnostics
        .0
        .iter()
        .any(|d| d.severity == bridge_core::Severity::Error && d.path == path);
    assert_eq!(
        named,
        r.valid.is_none(),
        "{key} ipc={ipc:?} uts={uts:?}: an error that does not name the parameter: {:?}",
        r.diagnostics
    );
    named
}

/// Does the engine (runc) refuse it? Creates and starts a container, then removes it.
fn engine_refuses(key: &str, value: &str, ipc: Option<&str>, uts: Option<&str>) -> (bool, String) {
    let mut host = serde_json::json!({"Sysctls": {key: value}});
    if let Some(i) = ipc {
        host["IpcMode"] = i.into();
    }
    if let Some(u) = uts {
        host["UTSMode"] = u.into();
    }
    let r = call(
        "POST",
        "/containers/create",
        Some(&serde_json::json!({"Image": TEST_IMAGE, "Cmd": ["true"], "HostConfig": host})),
    );
    if r.status != 201 {
        return (true, r.text());
    }
    let id = r.json()["Id"].as_str().unwrap_or_default().to_string();
    let s = call("POST", &format!("/containers/{id}/start"), None);
    call("DELETE", &format!("/containers/{id}?force=1"), None);
    (s.status != 204, s.text())
}

#[test]
fn validation_refuses_exactly_the_parameters_the_runtime_refuses() {
    ensure_test_image();
    let mut wrong = Vec::new();
    let mut refused = 0;
    for &(key, value, ipc, uts) in CASES {
        let b = bridge_refuses(key, value, ipc, uts);
        let (e, why) = engine_refuses(key, value, ipc, uts);
        refused += usize::from(e);
        if b != e {
            wrong.push(format!(
                "{key} ipc={ipc:?} uts={uts:?}: bridge refuses {b}, the engine {e} ({why})"
            ));
        }
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
    // Both kinds occur, so the comparison can fail either way.
    assert!(refused > 3 && refused < CASES.len(), "{refused} refused");
}
