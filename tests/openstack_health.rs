//! Issue 12 (Heat part): health gating on the real test OpenStack (tests/openstack/up.sh). A
//! server whose containers have health checks gets an `OS::Heat::WaitCondition`; `deploy --wait`
//! blocks until the stack is complete, which now means the server signalled healthy. The fake
//! virt driver runs no cloud-init, so the test signals the wait condition as the server's
//! health-signal script would: it reads the handle's `endpoint` and `token` from Heat and POSTs
//! the same JSON body to it.

#[path = "support/openstack.rs"]
mod os;
#[path = "support/peers.rs"]
mod peers;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bridge_providers::openstack::OpenstackDriver;
use peers::text;
use reqwest::Method;
use serde_json::{Value, json};

fn bridge(dir: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    os::cli(dir, args, env)
}

/// `db` has a health check, `web` depends on it being healthy; each fills an m1.small, so they
/// run on two servers.
fn app(name: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  db:\n    image: busybox:1\n    command: [sleep, '3600']\n    health: {{test: [CMD, 'true'], interval: 2s, retries: 2}}\n    resources: {{memory: 1500MiB}}\n  web:\n    image: busybox:1\n    command: [sleep, '3600']\n    depends_on: [{{service: db, condition: healthy}}]\n    resources: {{memory: 1500MiB}}\nproviders:\n  openstack: {{neutron: false, flavor: m1.small, images: {{container-host: bridge-test-image}}}}\n"
    )
}

fn args<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    os::app_args(cmd, extra)
}

/// `/stacks/<name>/<id>` of the stack named `name`, once it exists.
async fn stack_path(d: &OpenstackDriver, name: &str) -> Option<String> {
    let s = os::stacks(d, name).await;
    s.first().map(|(id, _)| format!("/stacks/{name}/{id}"))
}

/// The stack's resources: name to (type, status, reason).
async fn resources(d: &OpenstackDriver, path: &str) -> Vec<(String, String, String, String)> {
    let (st, b) = d
        .request(
            Method::GET,
            "orchestration",
            &format!("{path}/resources"),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st, 200, "{b}");
    b["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (
                f("resource_name"),
                f("resource_type"),
                f("resource_status"),
                f("resource_status_reason"),
            )
        })
        .collect()
}

/// Wait (bounded) until resource `res` of the stack is in `status`.
async fn await_status(d: &OpenstackDriver, name: &str, res: &str, status: &str) -> String {
    let t = Instant::now();
    loop {
        if let Some(p) = stack_path(d, name).await
            && resources(d, &p)
                .await
                .iter()
                .any(|r| r.0 == res && r.2 == status)
        {
            return p;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{res} never reached {status}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// POST `body` to the wait condition handle's signal URL with its token, as the server would.
async fn signal(d: &OpenstackDriver, path: &str, handle: &str, body: &Value) -> u16 {
    let (st, r) = d
        .request(
            Method::GET,
            "orchestration",
            &format!("{path}/resources/{handle}"),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st, 200, "{r}");
    let attrs = &r["resource"]["attributes"];
    let endpoint = attrs["endpoint"]
        .as_str()
        .unwrap_or_else(|| panic!("no endpoint attribute: {r}"));
    let token = attrs["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token attribute: {r}"));
    let resp = reqwest::Client::new()
        .post(endpoint)
        .header("X-Auth-Token", token)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("signal {endpoint}: {e}"));
    resp.status().as_u16()
}

/// (resource, status) -> event time, from the stack's events.
async fn event_time(d: &OpenstackDriver, path: &str, res: &str, status: &str) -> String {
    let (st, b) = d
        .request(
            Method::GET,
            "orchestration",
            &format!("{path}/events?sort_dir=asc"),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st, 200, "{b}");
    b["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["resource_name"] == res && e["resource_status"] == status)
        .and_then(|e| e["event_time"].as_str())
        .unwrap_or_else(|| panic!("no {status} event of {res}: {b}"))
        .to_string()
}

/// deploy --wait blocks on db's wait condition, web's server is not created before it; the
/// signal (SUCCESS, as the script sends it) lets the deploy finish; then a deploy of an app whose
/// server never signals fails on a short --timeout with Heat's wait condition reason.
#[test]
fn deploy_waits_for_the_health_signal_and_fails_without_it() {
    // As a member of `demo`: Heat gives the handle a user in its stack user domain.
    let env = os::cli_env("bridge-demo");
    let d = os::driver("bridge-demo", Path::new("."));
    let rt = os::rt();

    // 1. Signalled: the deploy succeeds, web is created after db's wait condition.
    let name = format!("hwait{}", std::process::id());
    let dir = os::app_dir("health-ok", &app(&name));
    let t0 = Instant::now();
    let child = bridge(
        &dir,
        &args("deploy", &["--wait", "--timeout", "150s"]),
        &env,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap_or_else(|e| panic!("{e}"));
    let path = rt.block_on(await_status(
        &d,
        &name,
        "host_db_healthy",
        "CREATE_IN_PROGRESS",
    ));
    // Heat holds web's server until db is healthy.
    std::thread::sleep(Duration::from_secs(5));
    let before = rt.block_on(resources(&d, &path));
    let web = before
        .iter()
        .find(|r| r.0 == "host_web")
        .unwrap_or_else(|| panic!("no host_web: {before:?}"));
    assert_eq!(web.2, "INIT_COMPLETE", "web started before db was healthy");
    assert!(
        rt.block_on(os::servers(&d, &format!("{name}-web")))
            .is_empty(),
        "nova has web's server before db signalled"
    );
    let body = json!({"status": "SUCCESS", "reason": "healthy: hwait-db", "data": "", "id": format!("{name}-db")});
    // The handle is named after db's server spec (`host_db_health_<hash>`).
    let handle = before
        .iter()
        .find(|r| r.1 == "OS::Heat::WaitConditionHandle" && r.0.starts_with("host_db_health_"))
        .map(|r| r.0.clone())
        .unwrap_or_else(|| panic!("no handle of db: {before:?}"));
    let st = rt.block_on(signal(&d, &path, &handle, &body));
    assert!((200..300).contains(&st), "signal: {st}");
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    eprintln!("signalled deploy: {:?}", t0.elapsed());
    let ready = rt.block_on(event_time(&d, &path, "host_db_healthy", "CREATE_COMPLETE"));
    let web_started = rt.block_on(event_time(&d, &path, "host_web", "CREATE_IN_PROGRESS"));
    assert!(
        web_started >= ready,
        "web {web_started} before db healthy {ready}"
    );
    let stacks = rt.block_on(os::stacks(&d, &name));
    assert_eq!(stacks.len(), 1);
    assert_eq!(stacks[0].1, "CREATE_COMPLETE");
    let o = os::run(&dir, &args("destroy", &[]), &env);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // 2. Never signalled: the deploy fails within its timeout, saying why.
    let name = format!("hnosig{}", std::process::id());
    let dir = os::app_dir("health-none", &app(&name));
    let t0 = Instant::now();
    // 60 s: the timeout is also the wait condition's, and it must outlast creating db's server
    // first, which takes a minute on a loaded test cloud (two OpenStack lanes share it).
    let o = os::run(&dir, &args("deploy", &["--wait", "--timeout", "60s"]), &env);
    let took = t0.elapsed();
    let t = text(&o);
    eprintln!("unsignalled deploy failed after {took:?}:\n{t}");
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("host_db_healthy"), "{t}");
    assert!(t.contains("WaitCondition"), "{t}");
    assert!(took < Duration::from_secs(180), "{took:?}");
    let path = rt
        .block_on(stack_path(&d, &name))
        .unwrap_or_else(|| panic!("no stack {name}"));
    // Heat's own verdict: the wait condition's timeout runs from its own start, after db's
    // server was created, so under load it may end up to a minute after bridge's deadline.
    let t1 = Instant::now();
    let res = loop {
        let res = rt.block_on(resources(&d, &path));
        let failed = res
            .iter()
            .any(|r| r.0 == "host_db_healthy" && r.2 == "CREATE_FAILED");
        if failed || t1.elapsed() > Duration::from_secs(150) {
            break res;
        }
        std::thread::sleep(Duration::from_secs(3));
    };
    assert!(
        res.iter()
            .any(|r| r.0 == "host_db_healthy" && r.2 == "CREATE_FAILED"),
        "Heat did not fail the wait condition within 150 s of bridge's timeout: {res:?}"
    );
    assert!(
        res.iter()
            .any(|r| r.0 == "host_web" && r.2 != "CREATE_COMPLETE"),
        "web was created without db healthy: {res:?}"
    );
    let o = os::run(&dir, &args("destroy", &[]), &env);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
