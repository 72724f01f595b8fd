//! Issue 13, more keys carried: the kernel and runtime settings compose has (`cpu_shares`,
//! `security_opt`, `pid`, `ipc`, `mem_swappiness`, `memswap_limit`, `oom_score_adj`, ...) reach
//! `docker run` on the VM targets, the ECS fields that exist (`dockerSecurityOptions`, `pidMode`,
//! `ipcMode`, `linuxParameters.swappiness`/`maxSwap`, container `cpu`), and are reported on
//! Swarm, whose service API (1.41) has none of them. The GCE script is run against the real
//! Docker Engine and the container's HostConfig read back.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_core::model::ProviderKind;
use bridge_core::node::{Limits, NodeKind, load};
use bridge_core::{LoadOptions, ValidApp, load_str};
use bridge_translators::{Fidelity, Translation, for_provider};
use support::engine::{TEST_IMAGE, ensure_test_image};

const KEYS: &str = "    cpu_shares: 512\n    cpuset: '0'\n    security_opt: ['no-new-privileges:true']\n    pid: host\n    ipc: shareable\n    mem_swappiness: 10\n    mem_limit: 256m\n    memswap_limit: 512m\n    oom_score_adj: 500\n    oom_kill_disable: true\n    device_cgroup_rules: ['c 1:3 mr']\n    mac_address: '02:42:ac:11:00:02'\n    userns_mode: host\n    uts: host\n    storage_opt: {size: 20G}\n    runtime: runc\n    cgroup_parent: /bridge\n    annotations: {com.example.owner: team-a}\n";

const FIELDS: [&str; 17] = [
    "cpu_shares",
    "cpuset",
    "security_opt",
    "pid",
    "ipc",
    "mem_swappiness",
    "memswap_limit",
    "oom_score_adj",
    "oom_kill_disable",
    "device_cgroup_rules",
    "mac_address",
    "userns_mode",
    "uts",
    "storage_opt",
    "runtime",
    "cgroup_parent",
    "annotations",
];

fn app(name: &str, body: &str) -> ValidApp {
    let yaml = format!("name: {name}\nservices:\n  web:\n    image: {TEST_IMAGE}\n{body}");
    let l = load_str(
        &Arc::from("compose.yaml"),
        &yaml,
        Path::new("."),
        &LoadOptions::default(),
    );
    // None of the keys is reported at import any more.
    let at_import: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| FIELDS.iter().any(|f| d.path == format!("services.web.{f}")))
        .collect();
    assert!(at_import.is_empty(), "{at_import:?}");
    l.valid
        .unwrap_or_else(|| panic!("{:?}\n{yaml}", l.diagnostics))
}

fn translate(kind: ProviderKind, a: &ValidApp) -> Translation {
    match for_provider(kind) {
        Some(t) => t.translate(a),
        None => panic!("no translator"),
    }
}

fn fid(t: &Translation, f: &str) -> Fidelity {
    t.ledger
        .iter()
        .find(|e| e.field == format!("services.web.{f}"))
        .map(|e| e.fidelity)
        .unwrap_or_else(|| panic!("no line for {f}: {:?}", t.ledger))
}

/// The JSON of the first artifact whose path starts with `prefix`.
fn artifact_json(t: &Translation, prefix: &str) -> serde_json::Value {
    let art = t
        .artifacts
        .iter()
        .find(|a| a.path.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}: {:?}", t.diagnostics));
    serde_json::from_str(&art.content).unwrap_or_else(|e| panic!("{e}"))
}

/// The GCE instance's `write_files`: path to content.
fn gce_files(t: &Translation) -> std::collections::BTreeMap<String, String> {
    let body = artifact_json(t, "gce/instances/");
    let ud = body["metadata"]["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["key"] == "user-data"))
        .and_then(|i| i["value"].as_str())
        .unwrap_or_default()
        .to_string();
    let doc = load(&ud, &Limits::default()).unwrap_or_else(|e| panic!("{}", e.message));
    let Some(NodeKind::Seq(items)) = doc.get("write_files").map(|w| &w.kind) else {
        panic!("no write_files")
    };
    items
        .iter()
        .map(|i| {
            let text = |k: &str| match i.get(k).map(|n| &n.kind) {
                Some(NodeKind::Scalar(s)) => s.text.clone(),
                _ => String::new(),
            };
            (text("path"), text("content"))
        })
        .collect()
}

fn gce_script(t: &Translation) -> String {
    let body = artifact_json(t, "gce/instances/");
    let ud = body["metadata"]["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["key"] == "user-data"))
        .and_then(|i| i["value"].as_str())
        .unwrap_or_default()
        .to_string();
    let doc = load(&ud, &Limits::default()).unwrap_or_else(|e| panic!("{}", e.message));
    let Some(NodeKind::Seq(items)) = doc.get("write_files").map(|w| &w.kind) else {
        panic!("no write_files")
    };
    for i in items {
        let text = |k: &str| match i.get(k).map(|n| &n.kind) {
            Some(NodeKind::Scalar(s)) => s.text.clone(),
            _ => String::new(),
        };
        if text("path") == "/etc/bridge/web.sh" {
            return text("content");
        }
    }
    panic!("no script")
}

/// `docker ARGS`: success and stdout (with stderr after it).
fn docker(args: &[&str]) -> (bool, String) {
    let o = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).trim().to_string() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// Runs the generated VM script of app `name`'s `web` on the real Engine (its network made
/// first, as the VM's boot does) until the container runs, calls `read` with the container's
/// name, then removes the container, the network and the script.
fn on_engine<T>(name: &str, script: &str, read: impl FnOnce(&str) -> T) -> T {
    let c = format!("{name}-web");
    let net = format!("{name}-net");
    let _ = docker(&["rm", "-f", &c]);
    if !docker(&["network", "inspect", &net]).0 {
        assert!(docker(&["network", "create", &net]).0);
    }
    let dir = std::env::temp_dir().join(format!("bridge-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let f = dir.join("web.sh");
    std::fs::write(&f, script).unwrap_or_else(|e| panic!("{e}"));
    let log = dir.join("web.log");
    let mut child = Command::new("sh")
        .arg(&f)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}")))
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let end = Instant::now() + Duration::from_secs(20);
    while docker(&["inspect", "-f", "{{.State.Running}}", &c]).1 != "true" {
        if Instant::now() > end || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            let _ = docker(&["rm", "-f", &c]);
            panic!(
                "not running: {}\n{script}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = read(&c);
    let _ = docker(&["rm", "-f", &c]);
    let _ = child.kill();
    let _ = child.wait();
    let _ = docker(&["network", "rm", &net]);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn every_key_is_a_flag_on_the_vms_a_field_on_ecs_and_reported_on_swarm() {
    let a = app("rt-all", KEYS);
    let gce = translate(ProviderKind::Gce, &a);
    let script = gce_script(&gce);
    for flag in [
        "--cpu-shares 512",
        "--cpuset-cpus 0",
        "--security-opt no-new-privileges:true",
        "--pid host",
        "--ipc shareable",
        "--memory-swappiness 10",
        "--memory-swap 536870912",
        "--oom-score-adj 500",
        "--oom-kill-disable",
        "--device-cgroup-rule 'c 1:3 mr'",
        "--mac-address 02:42:ac:11:00:02",
        "--userns host",
        "--uts host",
        "--storage-opt size=20G",
        "--runtime runc",
        "--cgroup-parent /bridge",
    ] {
        assert!(script.contains(flag), "{flag} missing:\n{script}");
    }
    assert!(!script.contains("--annotation"), "{script}");
    for kind in [ProviderKind::Gce, ProviderKind::Openstack] {
        let t = translate(kind, &a);
        for f in FIELDS {
            let want = if f == "annotations" {
                Fidelity::Dropped
            } else {
                Fidelity::Mapped
            };
            assert_eq!(fid(&t, f), want, "{kind:?} {f}");
        }
    }
    let sw = translate(ProviderKind::Swarm, &a);
    for f in FIELDS {
        assert_eq!(fid(&sw, f), Fidelity::Dropped, "swarm {f}");
    }
    // ECS on EC2 (the default launch type).
    let ecs = translate(ProviderKind::Aws, &a);
    let v = artifact_json(&ecs, "aws/task-definitions/");
    let c = &v["containerDefinitions"][0];
    assert_eq!(v["pidMode"], "host", "{v}");
    assert_eq!(v["ipcMode"], "task", "{v}");
    assert_eq!(c["cpu"], 512, "{c}");
    assert_eq!(c["dockerSecurityOptions"][0], "no-new-privileges:true");
    assert_eq!(c["linuxParameters"]["swappiness"], 10);
    assert_eq!(c["linuxParameters"]["maxSwap"], 256, "swap alone, MiB: {c}");
    for f in [
        "pid",
        "cpu_shares",
        "security_opt",
        "mem_swappiness",
        "memswap_limit",
    ] {
        assert_eq!(fid(&ecs, f), Fidelity::Mapped, "ecs {f}");
    }
    assert_eq!(fid(&ecs, "ipc"), Fidelity::Approximated);
    for f in ["cpuset", "oom_score_adj", "uts", "annotations"] {
        assert_eq!(fid(&ecs, f), Fidelity::Dropped, "ecs {f}");
    }
}

#[test]
fn memswap_without_a_memory_limit_is_not_rendered() {
    let a = app("rt-swap", "    memswap_limit: 1g\n");
    let gce = translate(ProviderKind::Gce, &a);
    assert!(!gce_script(&gce).contains("--memory-swap"));
    assert_eq!(fid(&gce, "memswap_limit"), Fidelity::Dropped);
}

/// An error's path, line and column, and whether it has a hint.
type ErrorAt = (String, Option<(u32, u32)>, bool);

/// The import errors of `web` with `body`; the file must not validate.
fn import_errors(body: &str) -> Vec<ErrorAt> {
    let yaml = format!("services:\n  web:\n    image: {TEST_IMAGE}\n{body}");
    let l = load_str(
        &Arc::from("compose.yaml"),
        &yaml,
        Path::new("."),
        &LoadOptions::default(),
    );
    assert!(l.valid.is_none(), "{yaml}");
    l.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            (
                d.path.clone(),
                d.span.map(|s| (s.line, s.col)),
                d.hint.is_some(),
            )
        })
        .collect()
}

#[test]
fn out_of_range_values_are_errors_at_import() {
    let errors = import_errors("    oom_score_adj: 5000\n    mem_swappiness: 101\n");
    let paths: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        paths,
        ["services.web.oom_score_adj", "services.web.mem_swappiness"]
    );
}

/// The flags the sandbox's engine accepts run, and the container has them.
#[test]
fn the_engine_applies_them() {
    ensure_test_image();
    let a = app(
        "rt-engine",
        "    command: [sleep, '600']\n    cpu_shares: 512\n    security_opt: ['no-new-privileges:true']\n    ipc: shareable\n    oom_score_adj: 500\n    runtime: runc\n",
    );
    let script = gce_script(&translate(ProviderKind::Gce, &a));
    let got = on_engine("rt-engine", &script, |c| {
        let get = |fmt: &str| docker(&["inspect", "-f", fmt, c]).1;
        (
            get("{{.HostConfig.CpuShares}}"),
            get("{{json .HostConfig.SecurityOpt}}"),
            get("{{.HostConfig.IpcMode}}"),
            get("{{.HostConfig.OomScoreAdj}}"),
            get("{{.HostConfig.Runtime}}"),
        )
    });
    assert_eq!(got.0, "512");
    assert_eq!(got.1, "[\"no-new-privileges:true\"]");
    assert_eq!(got.2, "shareable");
    assert_eq!(got.3, "500");
    assert_eq!(got.4, "runc");
}

/// `post_start` / `pre_stop` on the VM targets: hook scripts the unit runs (ExecStartPost, and an
/// ExecStop before `docker stop`); run as systemd would, the post_start hook acts in the running
/// container and the pre_stop hook's output reaches the container's log.
#[test]
fn hooks_run_in_the_container() {
    ensure_test_image();
    let a = app(
        "rt-hooks",
        "    command: [sleep, '600']\n    post_start:\n      - command: [mkdir, /hooked]\n    pre_stop:\n      - command: [sh, -c, 'echo pre-stop-ran > /proc/1/fd/1']\n        user: '0'\n",
    );
    for kind in [ProviderKind::Gce, ProviderKind::Openstack] {
        let t = translate(kind, &a);
        assert_eq!(fid(&t, "post_start"), Fidelity::Mapped, "{kind:?}");
        assert_eq!(fid(&t, "pre_stop"), Fidelity::Mapped, "{kind:?}");
    }
    for kind in [ProviderKind::Swarm, ProviderKind::Aws] {
        let t = translate(kind, &a);
        assert_eq!(fid(&t, "post_start"), Fidelity::Dropped, "{kind:?}");
    }
    let gce = translate(ProviderKind::Gce, &a);
    let files = gce_files(&gce);
    let unit = &files["/etc/systemd/system/rt-hooks-web.service"];
    let stop_lines: Vec<&str> = unit.lines().filter(|l| l.starts_with("ExecStop")).collect();
    assert_eq!(
        stop_lines,
        [
            "ExecStop=-/bin/sh /etc/bridge/web.pre-stop.sh",
            "ExecStop=/usr/bin/docker stop rt-hooks-web"
        ],
        "{unit}"
    );
    assert!(unit.contains("ExecStartPost=/bin/sh /etc/bridge/web.post-start.sh"));
    let docker = |args: &[&str]| {
        let o = Command::new("docker")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
    };
    let c = "rt-hooks-web";
    let _ = docker(&["rm", "-f", c]);
    if !docker(&["network", "inspect", "rt-hooks-net"]).0 {
        assert!(docker(&["network", "create", "rt-hooks-net"]).0);
    }
    let dir = std::env::temp_dir().join(format!("bridge-hooks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let run = |file: &str, log: &str| {
        let f = dir.join(file.rsplit('/').next().unwrap_or(file));
        std::fs::write(&f, &files[file]).unwrap_or_else(|e| panic!("{e}"));
        Command::new("sh")
            .arg(&f)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join(log)).unwrap_or_else(|e| panic!("{e}")))
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let mut main = run("/etc/bridge/web.sh", "main.log");
    // ExecStartPost starts right after ExecStart: the hook script waits for the container.
    let post = run("/etc/bridge/web.post-start.sh", "post.log")
        .wait()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(post.success(), "post_start failed");
    let hooked = docker(&["exec", c, "ls", "-d", "/hooked"]);
    let pre = run("/etc/bridge/web.pre-stop.sh", "pre.log")
        .wait()
        .unwrap_or_else(|e| panic!("{e}"));
    let end = Instant::now() + Duration::from_secs(10);
    let mut log = String::new();
    while Instant::now() < end {
        log = std::fs::read_to_string(dir.join("main.log")).unwrap_or_default();
        if log.contains("pre-stop-ran") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = docker(&["rm", "-f", c]);
    let _ = main.kill();
    let _ = main.wait();
    let _ = docker(&["network", "rm", "rt-hooks-net"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(hooked.0, "post_start did not run in the container");
    assert!(pre.success(), "pre_stop failed");
    assert!(log.contains("pre-stop-ran"), "container log: {log:?}");
}

/// A block device of this machine, for `blkio_config`'s per-device limits.
fn a_block_device() -> String {
    let parts = std::fs::read_to_string("/proc/partitions").unwrap_or_default();
    parts
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(3))
        .find(|n| Path::new(&format!("/dev/{n}")).exists())
        .map(|n| format!("/dev/{n}"))
        .unwrap_or_else(|| panic!("no block device in /proc/partitions:\n{parts}"))
}

/// `cgroup`, `blkio_config` and `use_api_socket`: flags on the VMs, run on the real Engine and
/// read back (the namespace mode, the rates, the socket inside the container); reported where
/// the target has no such field.
#[test]
fn cgroupns_blkio_and_the_api_socket_reach_the_engine() {
    ensure_test_image();
    let dev = a_block_device();
    let a = app(
        "rt-blkio",
        &format!(
            "    command: [sleep, '600']\n    cgroup: private\n    use_api_socket: true\n    blkio_config:\n      weight: 300\n      device_read_bps: [{{path: {dev}, rate: 50mb}}]\n      device_write_iops: [{{path: {dev}, rate: 200}}]\n"
        ),
    );
    let gce = translate(ProviderKind::Gce, &a);
    let script = gce_script(&gce);
    for flag in [
        "--cgroupns private".to_string(),
        "--blkio-weight 300".into(),
        format!("--device-read-bps {dev}:52428800"),
        format!("--device-write-iops {dev}:200"),
        "--volume /var/run/docker.sock:/var/run/docker.sock".into(),
    ] {
        assert!(script.contains(&flag), "{flag} missing:\n{script}");
    }
    for kind in [ProviderKind::Gce, ProviderKind::Openstack] {
        let t = translate(kind, &a);
        assert_eq!(fid(&t, "cgroup"), Fidelity::Mapped, "{kind:?}");
        assert_eq!(fid(&t, "use_api_socket"), Fidelity::Mapped, "{kind:?}");
        assert_eq!(fid(&t, "blkio_config"), Fidelity::Approximated, "{kind:?}");
    }
    let sw = translate(ProviderKind::Swarm, &a);
    assert_eq!(fid(&sw, "cgroup"), Fidelity::Dropped);
    assert_eq!(fid(&sw, "blkio_config"), Fidelity::Dropped);
    assert_eq!(fid(&sw, "use_api_socket"), Fidelity::Mapped);
    let ecs = translate(ProviderKind::Aws, &a);
    assert_eq!(fid(&ecs, "cgroup"), Fidelity::Dropped);
    assert_eq!(fid(&ecs, "blkio_config"), Fidelity::Dropped);
    assert_eq!(fid(&ecs, "use_api_socket"), Fidelity::Mapped);
    let v = artifact_json(&ecs, "aws/task-definitions/");
    let mp = &v["containerDefinitions"][0]["mountPoints"][0];
    assert_eq!(mp["containerPath"], "/var/run/docker.sock", "{v}");
    let vol = v["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|x| x["name"] == mp["sourceVolume"]))
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(vol["host"]["sourcePath"], "/var/run/docker.sock", "{v}");

    // The script on the real Engine; inside, the socket is the Engine's.
    let got = on_engine("rt-blkio", &script, |c| {
        let get = |fmt: &str| docker(&["inspect", "-f", fmt, c]).1;
        (
            get("{{.HostConfig.CgroupnsMode}}"),
            get("{{json .HostConfig.BlkioDeviceReadBps}}"),
            get("{{json .HostConfig.BlkioDeviceWriteIOps}}"),
            docker(&[
                "exec",
                c,
                "sh",
                "-c",
                "test -S /var/run/docker.sock && echo socket",
            ])
            .1,
        )
    });
    assert_eq!(got.0, "private");
    assert_eq!(got.1, format!("[{{\"Path\":\"{dev}\",\"Rate\":52428800}}]"));
    assert_eq!(got.2, format!("[{{\"Path\":\"{dev}\",\"Rate\":200}}]"));
    assert_eq!(got.3, "socket");
}

/// Creates the rendered Swarm service `spec` on the real Engine's swarm, with the app's overlay
/// networks it attaches to (as the driver makes them), waits up to 60 s for a running task,
/// calls `read` with its container id (empty if none ran), and returns the stored service, the
/// container id and what `read` returned. The service and the networks are removed.
fn on_swarm<T>(
    spec: serde_json::Value,
    read: impl FnOnce(&str) -> T,
) -> (serde_json::Value, String, T) {
    ensure_test_image();
    support::engine::ensure_swarm();
    let nets: Vec<String> = spec["TaskTemplate"]["Networks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["Target"].as_str().map(str::to_string))
        .collect();
    for n in &nets {
        // One left by an earlier run may still be being removed (swarm removes networks
        // asynchronously, and a service created meanwhile does not find it): a fresh one.
        let end = Instant::now() + Duration::from_secs(30);
        while docker(&["network", "inspect", n]).0 && Instant::now() < end {
            let _ = docker(&["network", "rm", n]);
            std::thread::sleep(Duration::from_millis(500));
        }
        let made = docker(&["network", "create", "-d", "overlay", n]);
        assert!(made.0, "{}", made.1);
    }
    let out = on_swarm_service(spec, read);
    for n in &nets {
        // A task's endpoint may linger a moment after its service is removed.
        let end = Instant::now() + Duration::from_secs(20);
        while !docker(&["network", "rm", n]).0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    out
}

fn on_swarm_service<T>(
    spec: serde_json::Value,
    read: impl FnOnce(&str) -> T,
) -> (serde_json::Value, String, T) {
    let name = spec["Name"].as_str().unwrap_or_default().to_string();
    let _ = support::engine::call("DELETE", &format!("/services/{name}"), None);
    let r = support::engine::call("POST", "/services/create", Some(&spec));
    assert_eq!(r.status, 201, "{}", r.text());
    let container = running_task(&name);
    let inspect = support::engine::call("GET", &format!("/services/{name}"), None).json();
    let out = read(&container);
    let _ = support::engine::call("DELETE", &format!("/services/{name}"), None);
    (inspect, container, out)
}

/// `stored` has everything `sent` has (objects may have more fields).
fn holds(stored: &serde_json::Value, sent: &serde_json::Value) -> bool {
    match (stored, sent) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            b.iter().all(|(k, v)| a.get(k).is_some_and(|x| holds(x, v)))
        }
        (a, b) => a == b,
    }
}

/// The container of service `name`'s running task, waited for up to 60 s (empty if none ran).
fn running_task(name: &str) -> String {
    let end = Instant::now() + Duration::from_secs(60);
    let mut container = String::new();
    while container.is_empty() && Instant::now() < end {
        let filters = format!("{{\"service\":[\"{name}\"],\"desired-state\":[\"running\"]}}");
        let tasks = support::engine::call(
            "GET",
            &format!("/tasks?filters={}", urlencode(&filters)),
            None,
        )
        .json();
        container = tasks
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["Status"]["State"] == "running")
            .and_then(|t| t["Status"]["ContainerStatus"]["ContainerID"].as_str())
            .unwrap_or_default()
            .to_string();
        std::thread::sleep(Duration::from_millis(300));
    }
    container
}

/// The container settings the Engine's service API (1.41) has, rendered for Swarm and created on
/// the real swarm: the Engine stores each as sent, and the task's container runs with it. Of
/// `security_opt` only the SELinux labels reach the spec (`Privileges.SELinuxContext`); the rest
/// is reported (T108), not sent.
#[test]
fn swarm_stores_the_settings_its_service_api_has() {
    let a = app(
        "rt-swarm",
        "    command: [sleep, '600']\n    hostname: web-1\n    init: true\n    read_only: true\n    tty: true\n    stdin_open: true\n    stop_signal: SIGINT\n    group_add: ['29']\n    cap_add: [NET_ADMIN]\n    cap_drop: [MKNOD]\n    sysctls: {net.core.somaxconn: '1024'}\n    ulimits: {nofile: {soft: 1024, hard: 2048}}\n    pids_limit: 200\n    dns: [10.0.0.53]\n    dns_search: [corp.example]\n    dns_opt: ['ndots:2']\n    extra_hosts: ['db.corp.example:10.0.0.5']\n    security_opt: ['label:type:svirt_apache_t', 'label=level:s0:c100,c200', 'no-new-privileges:true']\n",
    );
    let sw = translate(ProviderKind::Swarm, &a);
    for f in [
        "hostname",
        "init",
        "read_only",
        "tty",
        "stdin_open",
        "stop_signal",
        "group_add",
        "cap_add",
        "cap_drop",
        "sysctls",
        "ulimits",
        "resources.pids",
        "dns",
        "dns_search",
        "dns_opt",
        "extra_hosts",
    ] {
        assert_eq!(fid(&sw, f), Fidelity::Mapped, "swarm {f}");
    }
    assert_eq!(fid(&sw, "security_opt"), Fidelity::Approximated);
    let why = sw
        .ledger
        .iter()
        .find(|e| e.field == "services.web.security_opt")
        .map(|e| e.reason.clone())
        .unwrap_or_default();
    assert!(why.contains("no-new-privileges:true"), "{why}");
    assert!(
        sw.diagnostics
            .iter()
            .any(|d| d.code == "T108" && d.path == "services.web.security_opt"),
        "{:?}",
        sw.diagnostics
    );
    let spec = artifact_json(&sw, "swarm/services/");
    let sent = spec["TaskTemplate"]["ContainerSpec"].clone();
    assert_eq!(
        sent["Privileges"],
        serde_json::json!({"SELinuxContext": {"Disable": false, "User": "", "Role": "", "Type": "svirt_apache_t", "Level": "s0:c100,c200"}}),
        "{sent}"
    );
    let (inspect, container, c) = on_swarm(spec, |c| {
        support::engine::call("GET", &format!("/containers/{c}/json"), None).json()
    });
    let stored = &inspect["Spec"]["TaskTemplate"]["ContainerSpec"];
    // Every field sent is stored as sent (the Engine adds fields of its own, such as
    // `Privileges.CredentialSpec: null`).
    for (k, v) in sent.as_object().into_iter().flatten() {
        assert!(
            holds(&stored[k], v),
            "ContainerSpec.{k}: sent {v}, stored {inspect}"
        );
    }
    assert_eq!(
        inspect["Spec"]["TaskTemplate"]["Resources"]["Limits"]["Pids"], 200,
        "{inspect}"
    );
    assert_eq!(stored["Hosts"][0], "10.0.0.5 db.corp.example");
    assert!(!container.is_empty(), "no running task: {inspect}");
    let hc = &c["HostConfig"];
    assert_eq!(c["Config"]["Hostname"], "web-1", "{c}");
    assert_eq!(c["Config"]["Tty"], true);
    assert_eq!(c["Config"]["OpenStdin"], true);
    assert_eq!(c["Config"]["StopSignal"], "SIGINT");
    assert_eq!(hc["Init"], true, "{hc}");
    assert_eq!(hc["ReadonlyRootfs"], true);
    assert_eq!(hc["GroupAdd"], serde_json::json!(["29"]));
    assert_eq!(hc["Sysctls"]["net.core.somaxconn"], "1024");
    assert_eq!(
        hc["Ulimits"],
        serde_json::json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
    );
    assert_eq!(hc["PidsLimit"], 200);
    assert_eq!(hc["Dns"], serde_json::json!(["10.0.0.53"]));
    assert_eq!(hc["DnsSearch"], serde_json::json!(["corp.example"]));
    assert_eq!(hc["DnsOptions"], serde_json::json!(["ndots:2"]));
    assert_eq!(
        hc["ExtraHosts"],
        serde_json::json!(["db.corp.example:10.0.0.5"])
    );
    let caps = |k: &str| hc[k].to_string();
    assert!(caps("CapAdd").contains("NET_ADMIN"), "{hc}");
    assert!(caps("CapDrop").contains("MKNOD"), "{hc}");
    let sec = hc["SecurityOpt"].to_string();
    assert!(sec.contains("type:svirt_apache_t"), "{sec}");
    assert!(sec.contains("level:s0:c100,c200"), "{sec}");
    assert!(!sec.contains("no-new-privileges"), "{sec}");
}

/// What the Swarm ledger drops for want of a field is really not in the Engine's service API
/// 1.41: bollard-stubs (API 1.53) has `OomScoreAdj` and `Privileges.NoNewPrivileges`, `Seccomp`,
/// `AppArmor`, and this Engine stores none of them (it discards unknown fields without an
/// error), so bridge sends none.
#[test]
fn the_engine_discards_the_fields_its_service_api_lacks() {
    support::engine::ensure_swarm();
    let name = "rt-discard_web";
    let spec = serde_json::json!({
        "Name": name,
        "TaskTemplate": {"ContainerSpec": {
            "Image": TEST_IMAGE,
            "Args": ["sleep", "600"],
            "OomScoreAdj": 500,
            "Privileges": {
                "SELinuxContext": {"Type": "svirt_apache_t"},
                "NoNewPrivileges": true,
                "Seccomp": {"Mode": "unconfined"},
                "AppArmor": {"Mode": "disabled"}
            }
        }},
        "Mode": {"Replicated": {"Replicas": 0}}
    });
    let _ = support::engine::call("DELETE", &format!("/services/{name}"), None);
    let r = support::engine::call("POST", "/services/create", Some(&spec));
    assert_eq!(r.status, 201, "{}", r.text());
    let inspect = support::engine::call("GET", &format!("/services/{name}"), None).json();
    let _ = support::engine::call("DELETE", &format!("/services/{name}"), None);
    let cs = &inspect["Spec"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(
        cs["Privileges"]["SELinuxContext"]["Type"], "svirt_apache_t",
        "{inspect}"
    );
    for k in ["NoNewPrivileges", "Seccomp", "AppArmor"] {
        assert!(cs["Privileges"].get(k).is_none(), "{k} stored: {inspect}");
    }
    assert!(cs.get("OomScoreAdj").is_none(), "{inspect}");
    // And the translator sends none of them.
    let a = app(
        "rt-discard",
        "    oom_score_adj: 500\n    security_opt: ['no-new-privileges:true', 'seccomp:unconfined', 'apparmor:unconfined']\n",
    );
    let sw = translate(ProviderKind::Swarm, &a);
    let sent = artifact_json(&sw, "swarm/services/");
    let cs = &sent["TaskTemplate"]["ContainerSpec"];
    assert!(cs.get("OomScoreAdj").is_none(), "{sent}");
    assert!(cs.get("Privileges").is_none(), "{sent}");
    assert_eq!(fid(&sw, "security_opt"), Fidelity::Dropped);
    assert_eq!(fid(&sw, "oom_score_adj"), Fidelity::Dropped);
}

/// `use_api_socket` on Swarm: the rendered service, created on the real Engine's swarm, runs a
/// task whose container has the node's Engine socket.
#[test]
fn swarm_task_has_the_api_socket() {
    let a = app(
        "rt-sock",
        "    command: [sleep, '600']\n    use_api_socket: true\n",
    );
    let sw = translate(ProviderKind::Swarm, &a);
    let spec = artifact_json(&sw, "swarm/services/");
    let (inspect, container, sock) = on_swarm(spec, |c| {
        Command::new("docker")
            .args([
                "exec",
                c,
                "sh",
                "-c",
                "test -S /var/run/docker.sock && echo socket",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    });
    let mounts = &inspect["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"];
    assert_eq!(mounts[0]["Type"], "bind", "{inspect}");
    assert_eq!(mounts[0]["Source"], "/var/run/docker.sock", "{inspect}");
    assert_eq!(mounts[0]["Target"], "/var/run/docker.sock", "{inspect}");
    assert!(!container.is_empty(), "no running task: {inspect}");
    assert_eq!(sock, "socket");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Bad values of the new keys are errors at their line and column, with a hint.
#[test]
fn bad_cgroup_and_blkio_values_are_errors_at_their_place() {
    let got = import_errors(
        "    cgroup: shared\n    blkio_config:\n      weight: 5\n      device_read_bps: [{path: sda, rate: 1m}]\n      device_write_iops: [{path: /dev/sda}]\n",
    );
    assert_eq!(
        got,
        [
            ("services.web.cgroup".to_string(), Some((4, 13)), true),
            (
                "services.web.blkio_config.weight".into(),
                Some((6, 15)),
                false
            ),
            (
                "services.web.blkio_config.device_read_bps[0].path".into(),
                Some((7, 32)),
                true
            ),
            (
                "services.web.blkio_config.device_write_iops[0]".into(),
                Some((8, 27)),
                true
            ),
        ]
    );
}
