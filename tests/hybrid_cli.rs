//! Issue 11 acceptance through the `bridge` binary: one app with containers on the real Docker
//! Engine's swarm and a VM on AWS (a moto server, every body checked against botocore's
//! models), wired by `${vms.db.address}`. One `bridge deploy` creates both; the swarm service's
//! env holds the address EC2 reports for the VM (read back from both peers); the plan after is
//! empty; a VM replaced with a new address updates its consumer; `kill -9` at several moments
//! is resumed by the next run with one VM and one service each; destroy leaves nothing on
//! either. Also: a provider without credentials fails at plan naming it (exit 2), and a VM
//! that would run on swarm fails at validate (exit 1, file and line).

#[path = "support/moto.rs"]
mod moto;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use moto::Moto;
use support::engine::{TEST_IMAGE, call, ensure_swarm, ensure_test_image};
use support::peers::{self, text};

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-hyb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

/// The AWS-isolated bridge command of the moto tests, talking to this machine's engine.
fn bridge(m: Option<&Moto>, dir: &Path) -> Command {
    let mut c = moto::bridge(m, dir);
    c.env_remove("DOCKER_HOST");
    c
}

fn run(m: Option<&Moto>, dir: &Path, args: &[&str]) -> Output {
    bridge(m, dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

fn ok(o: &Output, m: &Moto, what: &str) -> String {
    let t = text(o);
    assert!(
        o.status.success(),
        "{what} failed:\n{t}\n--- moto log (tail) ---\n{}",
        m.log()
            .lines()
            .filter(|l| !l.contains("POST / HTTP"))
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .take(30)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    t
}

/// Containers on swarm (the default), a VM on AWS they read the address of.
fn app(name: &str, vm_rev: u32) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: {TEST_IMAGE}\n    command: [sleep, '3600']\n    stop_signal: SIGKILL\n    env: {{DB_HOST: '${{vms.db.address}}', CACHE: '${{services.cache.address}}'}}\n  cache:\n    image: {TEST_IMAGE}\n    command: [sleep, '3600']\n    stop_signal: SIGKILL\nvms:\n  db:\n    image: ubuntu-24.04\n    cpus: 1\n    memory: 1GiB\n    ports: [5432]\n    provider: aws\n    user_data: \"#cloud-config\\nruncmd: [[echo, rev-{vm_rev}]]\\n\"\nproviders:\n  default: swarm\n  aws: {{images: {{ubuntu-24.04: ami-03cf127a}}}}\n"
    )
}

/// The private addresses EC2 reports for the app's live `instance/db`.
fn vm_ips(m: &Moto, app: &str) -> Vec<String> {
    let v = m.boto(
        "ec2",
        "describe_instances",
        &serde_json::json!({"Filters": [
            {"Name": "tag:bridge.app", "Values": [app]},
            {"Name": "tag:bridge.component", "Values": ["instance/db"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}
        ]})
        .to_string(),
    );
    let mut out = Vec::new();
    for r in v["Reservations"].as_array().into_iter().flatten() {
        for i in r["Instances"].as_array().into_iter().flatten() {
            out.push(i["PrivateIpAddress"].as_str().unwrap_or("-").to_string());
        }
    }
    out
}

/// The swarm services labelled for the app, by name, with their env.
fn services(app: &str) -> Vec<(String, Vec<String>)> {
    let f = serde_json::json!({"label": [format!("bridge.app={app}")]}).to_string();
    let r = call("GET", &format!("/services?filters={}", urlencode(&f)), None);
    let mut out: Vec<(String, Vec<String>)> = r
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let env = s["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect();
            (
                s["Spec"]["Name"].as_str().unwrap_or_default().to_string(),
                env,
            )
        })
        .collect();
    out.sort();
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn one_deploy_across_swarm_and_aws_wires_the_vm_address_and_follows_its_replacement() {
    ensure_swarm();
    ensure_test_image();
    let name = "hyb-sa";
    let m = Moto::start(name, "us-east-1");
    let dir = workdir("deploy");
    std::fs::write(dir.join("app.yaml"), app(name, 1)).unwrap_or_else(|e| panic!("{e}"));
    let f = ["-f", "app.yaml"];
    let _ = run(Some(&m), &dir, &[&["destroy"][..], &f].concat());

    let t = ok(
        &run(Some(&m), &dir, &[&["plan"][..], &f].concat()),
        &m,
        "plan",
    );
    // One plan across both providers, grouped, the consumer waiting for the VM's address.
    assert!(t.contains("aws:\n") && t.contains("swarm:\n"), "{t}");
    assert!(
        t.contains("service/web")
            && t.contains("waits for")
            && t.contains("vms.db.address from aws"),
        "{t}"
    );
    let t = ok(
        &run(
            Some(&m),
            &dir,
            &[&["deploy", "--wait", "--timeout", "90s"][..], &f].concat(),
        ),
        &m,
        "deploy",
    );
    assert!(t.contains("aws: ") && t.contains("swarm: "), "{t}");

    // Read back: the env the engine holds carries the address EC2 reports.
    let ips = vm_ips(&m, name);
    assert_eq!(ips.len(), 1, "{ips:?}");
    let svcs = services(name);
    let web = svcs
        .iter()
        .find(|(n, _)| n == &format!("{name}_web"))
        .unwrap_or_else(|| panic!("no web service: {svcs:?}"));
    assert!(
        web.1.contains(&format!("DB_HOST={}", ips[0]))
            && web.1.contains(&"CACHE=cache".to_string()),
        "web's env {:?} does not hold {}",
        web.1,
        ips[0]
    );
    let o = run(
        Some(&m),
        &dir,
        &[&["plan", "--detailed-exitcode"][..], &f].concat(),
    );
    assert_eq!(o.status.code(), Some(0), "plan after deploy: {}", text(&o));

    // status covers both providers.
    let o = run(
        Some(&m),
        &dir,
        &[&["status", "--output", "json"][..], &f].concat(),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let providers: std::collections::BTreeSet<&str> = v["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["provider"].as_str())
        .collect();
    assert_eq!(
        providers,
        ["aws", "swarm"].into_iter().collect(),
        "{}",
        text(&o)
    );

    // A VM with new user data is replaced, gets a new address, and its consumer follows.
    std::fs::write(dir.join("app.yaml"), app(name, 2)).unwrap_or_else(|e| panic!("{e}"));
    let t = ok(
        &run(
            Some(&m),
            &dir,
            &[&["deploy", "--timeout", "90s"][..], &f].concat(),
        ),
        &m,
        "deploy of the change",
    );
    let ips2 = vm_ips(&m, name);
    assert_eq!(ips2.len(), 1, "{ips2:?}\n{t}");
    assert_ne!(ips2[0], ips[0], "the replaced VM kept its address\n{t}");
    let svcs = services(name);
    let web = svcs
        .iter()
        .find(|(n, _)| n == &format!("{name}_web"))
        .unwrap_or_else(|| panic!("no web service: {svcs:?}"));
    assert!(
        web.1.contains(&format!("DB_HOST={}", ips2[0])),
        "web's env {:?} did not follow the VM to {}\n{t}",
        web.1,
        ips2[0]
    );
    let o = run(
        Some(&m),
        &dir,
        &[&["plan", "--detailed-exitcode"][..], &f].concat(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "plan after the change: {}",
        text(&o)
    );

    // One lock covers the app; history records both providers.
    let o = run(Some(&m), &dir, &[&["history"][..], &f].concat());
    assert!(text(&o).contains("aws+swarm"), "{}", text(&o));

    ok(
        &run(Some(&m), &dir, &[&["destroy"][..], &f].concat()),
        &m,
        "destroy",
    );
    assert!(vm_ips(&m, name).is_empty());
    assert!(services(name).is_empty(), "{:?}", services(name));
    assert!(m.check_bodies(name) >= 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_during_a_hybrid_deploy_is_resumed_with_one_vm_and_one_service_each() {
    ensure_swarm();
    ensure_test_image();
    let name = "hyb-kill";
    let m = Moto::start(name, "us-east-1");
    let dir = workdir("kill");
    std::fs::write(dir.join("app.yaml"), app(name, 1)).unwrap_or_else(|e| panic!("{e}"));
    let deploy = ["deploy", "-f", "app.yaml", "--timeout", "90s"];
    let _ = run(Some(&m), &dir, &["destroy", "-f", "app.yaml"]);
    for (round, ms) in [100u64, 300, 700, 1500].into_iter().enumerate() {
        let mut child = bridge(Some(&m), &dir)
            .args(deploy)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        ok(
            &run(Some(&m), &dir, &deploy),
            &m,
            &format!("redeploy after kill -9 at {ms} ms"),
        );
        let ips = vm_ips(&m, name);
        assert_eq!(ips.len(), 1, "round {round}: VMs {ips:?}");
        let svcs = services(name);
        let names: Vec<&str> = svcs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec![format!("{name}_cache"), format!("{name}_web")],
            "round {round}"
        );
        assert!(
            svcs[1].1.contains(&format!("DB_HOST={}", ips[0])),
            "round {round}: {svcs:?}"
        );
        let o = run(
            Some(&m),
            &dir,
            &["plan", "-f", "app.yaml", "--detailed-exitcode"],
        );
        assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(&o));
        if round == 1 {
            // From nothing again, so the early kills hit the first creates.
            ok(
                &run(Some(&m), &dir, &["destroy", "-f", "app.yaml"]),
                &m,
                "destroy",
            );
        }
    }
    ok(
        &run(Some(&m), &dir, &["destroy", "-f", "app.yaml"]),
        &m,
        "destroy",
    );
    assert!(vm_ips(&m, name).is_empty());
    assert!(services(name).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_provider_without_credentials_fails_at_plan_naming_it() {
    ensure_swarm();
    let dir = workdir("nocreds");
    std::fs::write(dir.join("app.yaml"), app("hyb-nocreds", 1)).unwrap_or_else(|e| panic!("{e}"));
    // No moto, no AWS credentials anywhere: the swarm part is fine, the aws part is not.
    let o = run(None, &dir, &["plan", "-f", "app.yaml"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("aws"), "{t}");
    assert!(t.contains("hint:"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_vm_on_swarm_fails_at_validate_with_file_line_and_hint() {
    let dir = workdir("vmswarm");
    std::fs::write(
        dir.join("app.yaml"),
        "bridge: v1\nname: vs\nservices:\n  web: {image: x}\nvms:\n  db:\n    image: u\n    cpus: 1\n    memory: 1GiB\n    provider: swarm\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = run(None, &dir, &["validate", "-f", "app.yaml"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("app.yaml:10:"), "no file:line: {t}");
    assert!(t.contains("vm `db` cannot run on swarm"), "{t}");
    assert!(t.contains("set `provider: aws`"), "{t}");
    // Unpinned, with swarm as the default: plan names the VM (exit 1, nothing contacted).
    std::fs::write(
        dir.join("app.yaml"),
        "bridge: v1\nname: vs\nservices:\n  web: {image: x}\nvms:\n  db: {image: u, cpus: 1, memory: 1GiB}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = run(None, &dir, &["plan", "-f", "app.yaml", "-p", "swarm"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("vm `db` would run on swarm"), "{t}");
    let _ = peers::root();
    let _ = std::fs::remove_dir_all(&dir);
}
