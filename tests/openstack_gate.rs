//! Issue 12 (Heat part): a rolling update held batch by batch for health, on the real test
//! OpenStack (tests/openstack/up.sh). `web` has a health check and 2 replicas on identical
//! servers, so the Heat translator renders two separate servers, `host_web_0` and `host_web_1`,
//! each with its wait condition, `host_web_1` depending on `host_web_0_healthy`
//! (translators/src/heat/update.rs). The fake virt driver runs no cloud-init, so the test
//! signals each wait condition as the server's health-signal script would (the handle's
//! `endpoint` and `token`, read from Heat), once that wait condition is waiting.
//!
//! 1. Create: Nova lists no `web-1` server before `host_web_0`'s signal.
//! 2. Update (env changed: both servers replaced): the test holds the signal of `host_web_0`'s
//!    replacement for 30 s; Nova lists no replacement of `web-1` and Heat does not start
//!    `host_web_1` before that signal; then the update completes, both servers replaced.
//! 3. Update never signalled: the deploy fails on its `--timeout` naming the wait condition,
//!    Heat's verdict is UPDATE_FAILED, and `web-1` was never replaced.

#[path = "support/openstack.rs"]
mod os;
#[path = "support/peers.rs"]
mod peers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use bridge_providers::openstack::OpenstackDriver;
use peers::text;
use reqwest::Method;
use serde_json::Value;

/// `web`: 2 replicas with a health check, each filling an m1.small (two identical servers).
fn app(name: &str, level: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: busybox:1\n    command: [sleep, '3600']\n    replicas: 2\n    env: {{LOG_LEVEL: {level}}}\n    health: {{test: [CMD, 'true'], interval: 2s, retries: 2}}\n    resources: {{memory: 1500MiB}}\n    update: {{parallelism: 1}}\nproviders:\n  openstack: {{neutron: false, flavor: m1.small, images: {{container-host: bridge-test-image}}}}\n"
    )
}

/// How long the test holds the signal of `host_web_0`'s replacement.
const HOLD: Duration = Duration::from_secs(30);

async fn call(d: &OpenstackDriver, m: Method, svc: &str, path: &str) -> Value {
    let (status, v) = d
        .request(m.clone(), svc, path, None)
        .await
        .unwrap_or_else(|e| panic!("{m} {path}: {e}"));
    assert!((200..300).contains(&status), "{m} {path}: {status} {v}");
    v
}

/// `/stacks/<name>/<id>` of the stack named `name`, once it exists.
async fn stack_path(d: &OpenstackDriver, name: &str) -> Option<String> {
    let s = os::stacks(d, name).await;
    s.first().map(|(id, _)| format!("/stacks/{name}/{id}"))
}

/// The stack's resources: (name, type, status).
async fn resources(d: &OpenstackDriver, path: &str) -> Vec<(String, String, String)> {
    let b = call(
        d,
        Method::GET,
        "orchestration",
        &format!("{path}/resources"),
    )
    .await;
    b["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (f("resource_name"), f("resource_type"), f("resource_status"))
        })
        .collect()
}

/// The server resource a handle `host_web_0_health_<8 hex>` belongs to.
fn server_of(handle: &str) -> &str {
    handle.rsplit_once("_health_").map_or(handle, |(s, _)| s)
}

/// What one deploy looked like, polled from Nova and Heat while it ran.
#[derive(Default)]
struct Seen {
    /// Nova server id -> (name, when first listed).
    servers: BTreeMap<String, (String, Instant)>,
    /// Server resource -> when its wait condition was first seen waiting.
    waiting: BTreeMap<String, Instant>,
    /// Server resource -> when the test signalled its (new) handle.
    signalled: BTreeMap<String, Instant>,
    /// Handles signalled (or present before the deploy).
    handles: BTreeSet<String>,
    /// Heat resource `host_web_1` seen in progress before `host_web_0` was signalled.
    early: Vec<String>,
    polls: usize,
}

/// Follow the deploy `child` until it exits: record Nova's servers named `prefix*`, and signal
/// each new handle once its wait condition waits (`host_web_0`'s only `hold` after that, none
/// when `signal` is false).
fn follow(
    rt: &tokio::runtime::Runtime,
    d: &OpenstackDriver,
    name: &str,
    mut child: Child,
    seen: &mut Seen,
    hold: Duration,
    send: bool,
) -> Output {
    let prefix = format!("{name}-web-");
    let t0 = Instant::now();
    let mut path: Option<String> = None;
    while child.try_wait().unwrap_or_else(|e| panic!("{e}")).is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "the deploy never finished"
        );
        seen.polls += 1;
        for (id, n, _) in rt.block_on(os::servers(d, &prefix)) {
            seen.servers.entry(id).or_insert((n, Instant::now()));
        }
        if path.is_none() {
            path = rt.block_on(stack_path(d, name));
        }
        let Some(p) = &path else {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        };
        let res = rt.block_on(resources(d, p));
        let in_progress = |r: &str| {
            res.iter()
                .any(|x| x.0 == r && x.2.ends_with("_IN_PROGRESS"))
        };
        if !seen.signalled.contains_key("host_web_0") && in_progress("host_web_1") {
            seen.early.push(format!("{:?}", res));
        }
        for (h, _, st) in res
            .iter()
            .filter(|r| r.1 == "OS::Heat::WaitConditionHandle")
        {
            let server = server_of(h).to_string();
            if seen.handles.contains(h)
                || !st.ends_with("_COMPLETE")
                || !in_progress(&format!("{server}_healthy"))
            {
                continue;
            }
            let since = *seen
                .waiting
                .entry(server.clone())
                .or_insert_with(Instant::now);
            let wait = if server == "host_web_0" {
                hold
            } else {
                Duration::ZERO
            };
            if !send || since.elapsed() < wait {
                continue;
            }
            rt.block_on(os::signal_success(d, p, h, h));
            seen.handles.insert(h.clone());
            seen.signalled.insert(server, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

/// The servers first listed during one deploy, named `<app>-web-<i>`: (name suffix, id, when).
fn new_servers(seen: &Seen, before: &BTreeSet<String>) -> Vec<(String, String, Instant)> {
    let mut v: Vec<(String, String, Instant)> = seen
        .servers
        .iter()
        .filter(|(id, _)| !before.contains(*id))
        .map(|(id, (n, t))| {
            let i = n.rsplit('-').next().unwrap_or_default().to_string();
            (i, id.clone(), *t)
        })
        .collect();
    v.sort_by_key(|x| x.2);
    v
}

/// Destroys the app when the test ends, passed or not.
struct Cleanup {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let o = os::run(&self.dir, &os::app_args("destroy", &[]), &self.env);
        if o.status.code() != Some(0) {
            eprintln!("cleanup: {}", text(&o));
        }
    }
}

fn deploy(dir: &Path, env: &[(String, String)], timeout: &str) -> Child {
    os::cli(
        dir,
        &os::app_args("deploy", &["--wait", "--timeout", timeout]),
        env,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The Heat handles of the stack now.
fn handles(rt: &tokio::runtime::Runtime, d: &OpenstackDriver, name: &str) -> BTreeSet<String> {
    let p = rt
        .block_on(stack_path(d, name))
        .unwrap_or_else(|| panic!("no stack {name}"));
    rt.block_on(resources(d, &p))
        .into_iter()
        .filter(|r| r.1 == "OS::Heat::WaitConditionHandle")
        .map(|r| r.0)
        .collect()
}

#[test]
fn the_next_server_is_replaced_only_after_the_previous_replacement_signalled_healthy() {
    let env = os::cli_env("bridge-demo");
    let name = format!("osgate{}", std::process::id());
    let dir = os::app_dir("gate", &app(&name, "one"));
    let d = os::driver("bridge-demo", &dir);
    let rt = os::rt();
    let _cleanup = Cleanup {
        dir: dir.clone(),
        env: env.clone(),
    };
    let prefix = format!("{name}-web-");
    let t00 = Instant::now();

    // 1. Create: web-1 is created only after host_web_0 signalled healthy.
    let mut seen = Seen::default();
    let out = follow(
        &rt,
        &d,
        &name,
        deploy(&dir, &env, "300s"),
        &mut seen,
        Duration::ZERO,
        true,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let created = new_servers(&seen, &BTreeSet::new());
    eprintln!("create: {:?}, {} polls", t00.elapsed(), seen.polls);
    let at = |v: &[(String, String, Instant)], i: &str| {
        v.iter()
            .find(|x| x.0 == i)
            .map(|x| x.2)
            .unwrap_or_else(|| panic!("no web-{i} server listed"))
    };
    let signalled = |s: &Seen, r: &str| {
        *s.signalled
            .get(r)
            .unwrap_or_else(|| panic!("{r} was never signalled"))
    };
    assert!(
        at(&created, "1") > signalled(&seen, "host_web_0"),
        "web-1 was created before host_web_0 signalled healthy"
    );
    assert!(seen.early.is_empty(), "{:?}", seen.early);
    let before: BTreeSet<String> = rt
        .block_on(os::servers(&d, &prefix))
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(before.len(), 2, "{before:?}");

    // 2. The update replaces both servers; host_web_0's replacement signals 30 s late.
    std::fs::write(dir.join("app.yaml"), app(&name, "two")).unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Seen {
        handles: handles(&rt, &d, &name),
        ..Seen::default()
    };
    let t1 = Instant::now();
    let out = follow(
        &rt,
        &d,
        &name,
        deploy(&dir, &env, "600s"),
        &mut seen,
        HOLD,
        true,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let took = t1.elapsed();
    let replaced = new_servers(&seen, &before);
    let s0 = signalled(&seen, "host_web_0");
    let w0 = seen.waiting["host_web_0"];
    let r1 = at(&replaced, "1");
    eprintln!(
        "update: {took:?}, {} polls; host_web_0's replacement waited {:?} (held), web-1's replacement listed {:?} after that signal",
        seen.polls,
        s0 - w0,
        r1.saturating_duration_since(s0)
    );
    assert!(s0 - w0 >= HOLD, "the hold was not observed");
    assert!(at(&replaced, "0") < s0);
    assert!(
        r1 > s0,
        "web-1 was replaced before host_web_0's replacement signalled healthy"
    );
    assert!(
        seen.early.is_empty(),
        "heat started host_web_1 before host_web_0's signal: {:?}",
        seen.early
    );
    let after: BTreeSet<String> = rt
        .block_on(os::servers(&d, &prefix))
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.is_disjoint(&before), "{before:?} -> {after:?}");

    // 3. Never signalled: the update fails on its timeout, web-1 is not replaced.
    std::fs::write(dir.join("app.yaml"), app(&name, "three")).unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Seen {
        handles: handles(&rt, &d, &name),
        ..Seen::default()
    };
    let t2 = Instant::now();
    let out = follow(
        &rt,
        &d,
        &name,
        deploy(&dir, &env, "60s"),
        &mut seen,
        HOLD,
        false,
    );
    let t = text(&out);
    eprintln!("unsignalled update failed after {:?}:\n{t}", t2.elapsed());
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("host_web_0_healthy"), "{t}");
    // Heat's own verdict once the wait condition's timeout ran out.
    let path = rt
        .block_on(stack_path(&d, &name))
        .unwrap_or_else(|| panic!("no stack"));
    let t3 = Instant::now();
    let st = loop {
        let s = rt.block_on(call(&d, Method::GET, "orchestration", &path));
        let st = s["stack"]["stack_status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !st.ends_with("_IN_PROGRESS") {
            break s["stack"].clone();
        }
        assert!(
            t3.elapsed() < Duration::from_secs(300),
            "heat never gave its verdict"
        );
        for (id, n, _) in rt.block_on(os::servers(&d, &prefix)) {
            seen.servers.entry(id).or_insert((n, Instant::now()));
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    eprintln!("heat: {} {}", st["stack_status"], st["stack_status_reason"]);
    assert_eq!(st["stack_status"], "UPDATE_FAILED", "{st}");
    let third = new_servers(&seen, &after);
    assert!(
        third.iter().all(|x| x.0 == "0"),
        "web-1 was replaced though host_web_0's replacement never signalled: {:?}",
        third
    );
    assert!(!third.is_empty(), "host_web_0 was not replaced");
    assert!(seen.early.is_empty(), "{:?}", seen.early);
    let web1: Vec<String> = rt
        .block_on(os::servers(&d, &format!("{name}-web-1")))
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(web1.len(), 1, "{web1:?}");
    assert!(after.contains(&web1[0]), "web-1 is not the server that ran");
    eprintln!("whole test: {:?}", t00.elapsed());
}
