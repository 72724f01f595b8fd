//! Issue 12: GCE's health gate, end to end with the VM's own reporter. An app with a health
//! checked service is deployed with `bridge deploy --wait` to the GCE test server (its
//! guest attributes are not faked: `guest-auto/off`). The container script and the health
//! reporter (`/etc/bridge/health.sh`, what `bridge-health.service` runs) are taken from the
//! instance's user data as the server stored it and run on the machine's Docker Engine standing
//! in for the VM, with the test server's stand-in for that VM's metadata server
//! (`GCE_METADATA_HOST`; the reporter PUTs its guest attributes there, `Metadata-Flavor: Google`
//! required). Only the docker network is this test's own. The check fails first: the reporter
//! writes `unhealthy` (or `starting`) with the check's last output, and the deploy keeps
//! waiting; once the test makes the check pass, docker reports healthy, the reporter writes it,
//! and the deploy, which reads it with `instances.getGuestAttributes`, returns 0.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::engine::TEST_IMAGE;
use support::gce::{PROJECT, Server, ZONE};
use support::peers;
use support::standin::{StandinVm, docker};

const APP: &str = "ghr";

fn app_yaml() -> String {
    format!(
        "bridge: v1\nname: {APP}\nservices:\n  web:\n    image: {TEST_IMAGE}\n    command: [sleep, '600']\n    \
         health: {{test: [CMD, cat, /tmp/ok], interval: 1s, timeout: 1s, retries: 2}}\n\
         providers:\n  gce: {{project: {PROJECT}, zone: {ZONE}, machine_type: e2-standard-2}}\n"
    )
}

/// The stand-in VM: a scratch directory, its docker network and the processes its units run.
fn vm() -> StandinVm {
    let pid = std::process::id();
    StandinVm::new(
        &format!("ghr-{pid}"),
        &format!("ghr-{pid}"),
        &format!("{APP}-web"),
    )
}

/// The guest attributes the stand-in VM wrote: (seconds since the epoch, key, value).
fn puts(server: &Server, instance: &str) -> Vec<(f64, String, String)> {
    server.control("guestlog")["puts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p[2] == instance)
        .map(|p| {
            (
                p[0].as_f64().unwrap_or_default(),
                p[3].as_str().unwrap_or_default().to_string(),
                p[4].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[test]
fn deploy_wait_follows_the_health_the_vm_reporter_writes() {
    let server = Server::start("health-report", 3600.0);
    server.control("guest-auto/off");
    let mut vm = vm();
    let f = server.write_app(APP, &app_yaml());
    let mut deploy = server
        .on_app(&["deploy", "--yes", "--wait", "--timeout", "150s"], &f)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run bridge: {e}"));

    // The instance, as the server stored it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (instance, inst) = loop {
        let dump = server.control("dump");
        let running = dump["resources"][format!("{ZONE}/instances")]
            .as_object()
            .and_then(|m| {
                m.iter()
                    .find(|(_, v)| v["status"] == "RUNNING")
                    .map(|(k, v)| (k.clone(), v.clone()))
            });
        if let Some(r) = running {
            break r;
        }
        assert!(Instant::now() < deadline, "no instance RUNNING: {dump}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let ud = support::gce::metadata_value(&inst, "user-data").unwrap_or_default();
    assert_eq!(
        support::gce::metadata_value(&inst, "enable-guest-attributes").as_deref(),
        Some("TRUE"),
        "the host of a checked service enables guest attributes"
    );
    let files = peers::cloud_config_files(&ud);
    let web = files
        .get("/etc/bridge/web.sh")
        .unwrap_or_else(|| panic!("no container script in {:?}", files.keys()))
        .replace(
            &format!("--network {APP}-net"),
            &format!("--network {}", vm.net),
        );
    let health = files
        .get("/etc/bridge/health.sh")
        .unwrap_or_else(|| panic!("no health reporter in {:?}", files.keys()))
        .clone();
    assert!(
        health.contains(&format!("'{}'", vm.container)) || health.contains(&vm.container),
        "the reporter does not watch {}:\n{health}",
        vm.container
    );
    // The reporter's unit is started with the container's (a drop-in wants it).
    assert!(
        files.iter().any(|(p, c)| p
            .starts_with(&format!("/etc/systemd/system/{APP}-web.service.d/"))
            && c.contains("bridge-health.service")),
        "no drop-in starting the reporter: {:?}",
        files.keys()
    );

    // Boot: the container, then its reporter, on the stand-in VM.
    vm.spawn("web", &web, &[]);
    vm.wait_running("web", &web);
    let md = format!("127.0.0.1:{}/_vm/{ZONE}/{instance}", server.port);
    vm.spawn("health", &health, &[("GCE_METADATA_HOST", md)]);

    // The check fails (no /tmp/ok): the reporter writes a state that is not healthy, with the
    // check's output, and the deploy keeps waiting.
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let p = puts(&server, &instance);
        if p.iter()
            .any(|(_, k, v)| k == "bridge/health" && v == "unhealthy")
        {
            let out = p
                .iter()
                .rev()
                .find(|(_, k, _)| k == "bridge/output")
                .map(|(_, _, v)| v.clone())
                .unwrap_or_default();
            assert!(
                out.contains(&vm.container) && out.contains("/tmp/ok"),
                "the reported output names neither the container nor the check's failure: {out:?}"
            );
            break;
        }
        assert!(
            Instant::now() < end,
            "the reporter wrote no unhealthy state: {p:?}\n{}",
            vm.log("health")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        !puts(&server, &instance)
            .iter()
            .any(|(_, k, v)| k == "bridge/health" && v == "healthy")
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        deploy.try_wait().unwrap_or(None).is_none(),
        "deploy --wait returned while the VM reported unhealthy"
    );

    // The check passes: docker reports healthy, the reporter writes it, the deploy returns.
    let fixed = now();
    let (ok, out) = docker(&["exec", &vm.container, "sh", "-c", "echo ok > /tmp/ok"]);
    assert!(ok, "{out}");
    let out = deploy.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let done = now();
    let text = peers::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", vm.log("health"));
    let healthy = puts(&server, &instance)
        .into_iter()
        .find(|(_, k, v)| k == "bridge/health" && v == "healthy")
        .unwrap_or_else(|| panic!("the deploy returned, but no healthy report: {text}"));
    assert!(
        healthy.0 >= fixed && healthy.0 <= done,
        "healthy written at {}, check fixed at {fixed}, deploy done at {done}",
        healthy.0
    );
    // The metadata server refuses a write without its header, as Google's does.
    let (code, _) = server.request(
        "PUT",
        &format!(
            "/_vm/{ZONE}/{instance}/computeMetadata/v1/instance/guest-attributes/bridge/health"
        ),
        None,
        Some(&serde_json::json!("healthy")),
    );
    assert_eq!(code, 403);
}
