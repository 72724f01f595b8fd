//! Issue 11 acceptance with the real test OpenStack (tests/openstack/up.sh: Keystone, Heat,
//! Nova with the fake virt driver and a real Neutron, so servers get ports and fixed IPs):
//! - examples/07-vm-plus-containers as it stands (its api on AWS Fargate, against a moto server;
//!   its VM on the cloud named `dc1`) in one `bridge deploy`: the task definition ECS holds
//!   carries the address Nova reports for the VM;
//! - containers on the real Docker Engine's swarm and a VM on OpenStack: `docker service inspect`
//!   shows the address Nova reports, the plan after is empty, a VM replaced with a new address
//!   updates the consumer, status shows both providers, destroy leaves nothing on either.

#[path = "support/moto.rs"]
mod moto;
#[path = "support/openstack.rs"]
mod os;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bridge_providers::openstack::OpenstackDriver;
use reqwest::Method;
use serde_json::Value;
use support::engine::{TEST_IMAGE, call, ensure_swarm, ensure_test_image};
use support::peers::{self, text};

/// A clouds.yaml beside the app naming the test cloud's member user `dc1`.
fn dc1(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(os::clouds_yaml()).unwrap_or_else(|e| panic!("{e}"));
    assert!(src.contains("  bridge-demo:\n"), "{src}");
    let f = dir.join("clouds.yaml");
    std::fs::write(&f, src.replace("  bridge-demo:\n", "  dc1:\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    f
}

/// The AWS-isolated bridge command of the moto tests, with the test cloud's clouds.yaml as the
/// only OpenStack configuration, talking to this machine's engine.
fn bridge(dir: &Path, m: Option<&moto::Moto>, clouds: &Path) -> Command {
    let mut c = moto::bridge(m, dir);
    c.env_remove("DOCKER_HOST")
        .env_remove("OS_CLOUD")
        .env_remove("OS_AUTH_URL")
        .env("OS_CLIENT_CONFIG_FILE", clouds);
    c
}

fn run(dir: &Path, m: Option<&moto::Moto>, clouds: &Path, args: &[&str]) -> Output {
    bridge(dir, m, clouds)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

fn ok(o: &Output, what: &str) -> String {
    let t = text(o);
    assert!(o.status.success(), "{what} failed:\n{t}");
    t
}

/// Nova's own view of the server `name`: (fixed IPs, floating IPs), from `GET /servers/detail`.
async fn nova_addresses(d: &OpenstackDriver, name: &str) -> (Vec<String>, Vec<String>) {
    let (st, b) = d
        .request(
            Method::GET,
            "compute",
            &format!("/servers/detail?name=^{name}$"),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("nova: {e}"));
    assert_eq!(st, 200, "{b}");
    let servers = b["servers"].as_array().cloned().unwrap_or_default();
    let (mut fixed, mut floating) = (Vec::new(), Vec::new());
    for s in &servers {
        for (_, list) in s["addresses"].as_object().into_iter().flatten() {
            for a in list.as_array().into_iter().flatten() {
                let addr = a["addr"].as_str().unwrap_or_default().to_string();
                match a["OS-EXT-IPS:type"].as_str() {
                    Some("floating") => floating.push(addr),
                    _ => fixed.push(addr),
                }
            }
        }
    }
    (fixed, floating)
}

/// What a consumer on another provider reaches the server at: its floating IP, else its fixed IP.
fn reachable(a: &(Vec<String>, Vec<String>)) -> Option<String> {
    a.1.first().or(a.0.first()).cloned()
}

#[test]
fn example_07_deploys_as_it_stands_on_moto_and_the_test_cloud_as_dc1() {
    let dir = os::app_dir("ex07", "");
    let src =
        std::fs::read_to_string(peers::root().join("examples/07-vm-plus-containers/bridge.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("app.yaml"), &src).unwrap_or_else(|e| panic!("{e}"));
    let clouds = dc1(&dir);
    let d = os::driver("bridge-demo", &dir);
    let rt = os::rt();
    // The example names its image as a cloud would: give the test cloud one by that name.
    rt.block_on(os::delete_images(&d, "Ubuntu%2024.04"));
    rt.block_on(os::upload_image(&d, "Ubuntu 24.04"));
    let m = moto::Moto::start("ex07", "eu-west-1");
    let f = ["-f", "app.yaml", "--state", "state.db"];
    let _ = run(&dir, Some(&m), &clouds, &[&["destroy"][..], &f].concat());

    let t = ok(
        &run(
            &dir,
            Some(&m),
            &clouds,
            &[&["deploy", "--timeout", "5m"][..], &f].concat(),
        ),
        "deploy of examples/07",
    );
    assert!(t.contains("openstack:") && t.contains("aws:"), "{t}");
    let want = reachable(&rt.block_on(nova_addresses(&d, "ledger-db")))
        .unwrap_or_else(|| panic!("Nova reports no address for ledger-db\n{t}"));
    let arns = m.boto("ecs", "list_task_definitions", "{}");
    let arn = arns["taskDefinitionArns"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let td = m.boto(
        "ecs",
        "describe_task_definition",
        &serde_json::json!({"taskDefinition": arn}).to_string(),
    );
    let env = td["taskDefinition"]["containerDefinitions"][0]["environment"].clone();
    let got = env
        .as_array()
        .and_then(|e| e.iter().find(|x| x["name"] == "DB_HOST"))
        .and_then(|x| x["value"].as_str())
        .unwrap_or_default()
        .to_string();
    assert_eq!(got, want, "DB_HOST on ECS vs Nova; task definition {td}");
    let o = run(
        &dir,
        Some(&m),
        &clouds,
        &[&["plan", "--detailed-exitcode"][..], &f].concat(),
    );
    assert_eq!(o.status.code(), Some(0), "plan after deploy: {}", text(&o));
    assert!(m.check_bodies("ex07") >= 2);

    ok(
        &run(&dir, Some(&m), &clouds, &[&["destroy"][..], &f].concat()),
        "destroy",
    );
    assert!(rt.block_on(os::stacks(&d, "ledger")).is_empty());
    assert!(rt.block_on(os::servers(&d, "ledger-")).is_empty());
    rt.block_on(os::delete_images(&d, "Ubuntu%2024.04"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn swarm_os_app(name: &str, rev: u32) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: {TEST_IMAGE}\n    command: [sleep, '3600']\n    stop_signal: SIGKILL\n    env: {{DB_HOST: '${{vms.db.address}}'}}\n    provider: swarm\nvms:\n  db:\n    image: ubuntu-24.04\n    cpus: 1\n    memory: 2GiB\n    ports: [5432]\n    provider: openstack\n    user_data: \"#cloud-config\\nruncmd: [[echo, rev-{rev}]]\\n\"\nproviders:\n  openstack: {{cloud: dc1, images: {{ubuntu-24.04: bridge-test-image}}}}\n"
    )
}

fn web_env(app: &str) -> Vec<String> {
    let r = call("GET", &format!("/services/{app}_web"), None);
    if r.status != 200 {
        return Vec::new();
    }
    r.json()["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

#[test]
fn swarm_containers_read_the_address_nova_reports_and_follow_a_replaced_vm() {
    ensure_swarm();
    ensure_test_image();
    let name = "hyb-so";
    let dir = os::app_dir(name, &swarm_os_app(name, 1));
    let clouds = dc1(&dir);
    let d = os::driver("bridge-demo", &dir);
    let rt = os::rt();
    let f = ["-f", "app.yaml", "--state", "state.db"];
    let _ = run(&dir, None, &clouds, &[&["destroy"][..], &f].concat());

    let t = ok(
        &run(
            &dir,
            None,
            &clouds,
            &[&["deploy", "--wait", "--timeout", "5m"][..], &f].concat(),
        ),
        "deploy",
    );
    let server = format!("{name}-db");
    let ip = reachable(&rt.block_on(nova_addresses(&d, &server)))
        .unwrap_or_else(|| panic!("Nova reports no address for {server}\n{t}"));
    assert!(
        web_env(name).contains(&format!("DB_HOST={ip}")),
        "web's env {:?} does not hold Nova's {ip}\n{t}",
        web_env(name)
    );
    let o = run(
        &dir,
        None,
        &clouds,
        &[&["plan", "--detailed-exitcode"][..], &f].concat(),
    );
    assert_eq!(o.status.code(), Some(0), "plan after deploy: {}", text(&o));

    let o = run(
        &dir,
        None,
        &clouds,
        &[&["status", "--output", "json"][..], &f].concat(),
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let providers: std::collections::BTreeSet<&str> = v["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["provider"].as_str())
        .collect();
    assert_eq!(
        providers,
        ["openstack", "swarm"].into_iter().collect(),
        "{}",
        text(&o)
    );

    // New user data: Heat replaces the server, Neutron gives its new port a new address, and
    // the swarm service follows.
    std::fs::write(dir.join("app.yaml"), swarm_os_app(name, 2)).unwrap_or_else(|e| panic!("{e}"));
    let t = ok(
        &run(
            &dir,
            None,
            &clouds,
            &[&["deploy", "--timeout", "5m"][..], &f].concat(),
        ),
        "deploy of the change",
    );
    let ip2 = reachable(&rt.block_on(nova_addresses(&d, &server)))
        .unwrap_or_else(|| panic!("Nova reports no address for {server} after the change\n{t}"));
    assert_ne!(ip2, ip, "the replaced server kept its address\n{t}");
    assert!(
        web_env(name).contains(&format!("DB_HOST={ip2}")),
        "web's env {:?} did not follow the server to {ip2}\n{t}",
        web_env(name)
    );
    let o = run(
        &dir,
        None,
        &clouds,
        &[&["plan", "--detailed-exitcode"][..], &f].concat(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "plan after the change: {}",
        text(&o)
    );

    ok(
        &run(&dir, None, &clouds, &[&["destroy"][..], &f].concat()),
        "destroy",
    );
    assert!(rt.block_on(os::stacks(&d, name)).is_empty());
    assert!(rt.block_on(os::servers(&d, &format!("{name}-"))).is_empty());
    assert!(web_env(name).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
