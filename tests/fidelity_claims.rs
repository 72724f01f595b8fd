//! Issue 13: no ledger line is contradicted by its artifact. Each claim the study found false is
//! checked here against what the artifact does: the generated per-container scripts are run
//! against the real Docker Engine (as systemd runs them: no terminal, stdin from /dev/null), the
//! OpenStack cloud-config is checked by Debian's `cloud-init schema`, and the CLI's `fidelity`
//! is compared with `render`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_core::model::ProviderKind;
use bridge_core::node::{Limits, Node, NodeKind, load};
use bridge_core::{LoadOptions, ValidApp, load_str};
use bridge_translators::{Fidelity, Translation, for_provider};
use support::engine::{TEST_IMAGE, ensure_test_image};
use support::peers;

fn compose(name: &str, yaml: &str) -> ValidApp {
    let yaml = format!("name: {name}\n{yaml}");
    let loaded = load_str(
        &Arc::from("compose.yaml"),
        &yaml,
        Path::new("."),
        &LoadOptions::default(),
    );
    loaded
        .valid
        .unwrap_or_else(|| panic!("does not validate: {:?}\n{yaml}", loaded.diagnostics))
}

fn translate(kind: ProviderKind, app: &ValidApp) -> Translation {
    match for_provider(kind) {
        Some(t) => t.translate(app),
        None => panic!("no translator for {kind:?}"),
    }
}

fn line<'a>(t: &'a Translation, field: &str) -> (Fidelity, &'a str) {
    match t.ledger.iter().find(|e| e.field == field) {
        Some(e) => (e.fidelity, e.reason.as_str()),
        None => panic!("no ledger line for {field}: {:?}", t.ledger),
    }
}

fn text(n: &Node) -> &str {
    match &n.kind {
        NodeKind::Scalar(s) => s.text.as_str(),
        _ => panic!("not a scalar: {n:?}"),
    }
}

/// The GCE instance's cloud-config `write_files`: path to content.
fn gce_files(t: &Translation) -> BTreeMap<String, String> {
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    let inst = t
        .artifacts
        .iter()
        .find(|a| a.path.starts_with("gce/instances/"))
        .unwrap_or_else(|| panic!("no instance: {:?}", t.artifacts));
    let body: serde_json::Value =
        serde_json::from_str(&inst.content).unwrap_or_else(|e| panic!("{e}"));
    let user_data = body["metadata"]["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["key"] == "user-data"))
        .and_then(|i| i["value"].as_str())
        .unwrap_or_else(|| panic!("no user-data"));
    let doc = load(user_data, &Limits::default())
        .unwrap_or_else(|e| panic!("user-data is not YAML: {}", e.message));
    let Some(NodeKind::Seq(items)) = doc.get("write_files").map(|w| &w.kind) else {
        panic!("no write_files list")
    };
    items
        .iter()
        .map(|i| {
            let get = |k: &str| text(i.get(k).unwrap_or_else(|| panic!("no {k}"))).to_string();
            (get("path"), get("content"))
        })
        .collect()
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-claims-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs generated scripts as systemd would (stdin /dev/null, output to files, no terminal) and
/// removes their containers and network afterwards.
struct Host {
    dir: PathBuf,
    network: String,
    containers: Vec<String>,
    children: Vec<Child>,
}

impl Host {
    fn new(tag: &str, network: &str) -> Host {
        ensure_test_image();
        let (ok, out) = docker(&["network", "inspect", network]);
        if !ok {
            let (ok, out2) = docker(&["network", "create", network]);
            assert!(ok, "network create: {out} {out2}");
        }
        Host {
            dir: scratch(tag),
            network: network.into(),
            containers: Vec::new(),
            children: Vec::new(),
        }
    }

    fn run(&mut self, name: &str, container: &str, script: &str) -> usize {
        let _ = docker(&["rm", "-f", container]);
        self.containers.push(container.into());
        let f = self.dir.join(format!("{name}.sh"));
        std::fs::write(&f, script).unwrap_or_else(|e| panic!("{e}"));
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("sh")
            .arg(&f)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
        self.children.push(child);
        self.children.len() - 1
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Whether the script is still running after `d` (it `exec`s docker run in the foreground).
    fn alive_after(&mut self, i: usize, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.children[i].try_wait() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        true
    }

    fn running(container: &str) -> bool {
        docker(&["inspect", "-f", "{{.State.Running}}", container])
            .1
            .trim()
            == "true"
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        for ch in &mut self.children {
            let _ = ch.kill();
            let _ = ch.wait();
        }
        let _ = docker(&["network", "rm", &self.network]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// (a) `stdin_open` + `tty`: the VM script renders `--tty` without `--interactive`, and the
/// container started the way systemd starts it stays up. The same script with `--interactive`
/// added exits at once: the check can fail.
#[test]
fn stdin_open_and_tty_run_under_systemd() {
    let app = compose(
        "claims-tty",
        &format!(
            "services:\n  shell:\n    image: {TEST_IMAGE}\n    stdin_open: true\n    tty: true\n    command: [sh]\n"
        ),
    );
    let gce = translate(ProviderKind::Gce, &app);
    let files = gce_files(&gce);
    let script = files
        .get("/etc/bridge/shell.sh")
        .unwrap_or_else(|| panic!("no script: {:?}", files.keys()));
    assert!(script.contains(" --tty "), "{script}");
    assert!(!script.contains("--interactive"), "{script}");
    for kind in [ProviderKind::Gce, ProviderKind::Openstack] {
        let t = translate(kind, &app);
        assert_eq!(line(&t, "services.shell.tty").0, Fidelity::Mapped);
        let (f, why) = line(&t, "services.shell.stdin_open");
        assert_eq!(f, Fidelity::Approximated, "{kind:?}: {why}");
        assert!(why.contains("--interactive"), "{why}");
    }

    let mut host = Host::new("tty", "claims-tty-net");
    let c = "claims-tty-shell";
    let i = host.run("shell", c, script);
    assert!(
        host.alive_after(i, Duration::from_secs(4)),
        "the script ended: {}",
        host.log("shell")
    );
    assert!(Host::running(c), "not running: {}", host.log("shell"));
    let _ = docker(&["rm", "-f", c]);
    // The control: with --interactive, docker refuses to start without a terminal.
    let bad = script.replace(" --tty ", " --tty --interactive ");
    let j = host.run("bad", c, &bad);
    assert!(
        !host.alive_after(j, Duration::from_secs(15)),
        "docker run --tty --interactive kept running without a terminal"
    );
    assert!(host.log("bad").contains("not a TTY"), "{}", host.log("bad"));
}

/// (g) `network_mode: service:vpn` on the VM targets: `app` runs in `vpn`'s network namespace
/// (`--network container:`), so `localhost` in `app` reaches `vpn`'s server.
#[test]
fn network_mode_service_shares_the_namespace_on_vms() {
    let app = compose(
        "claims-ns",
        &format!(
            "services:\n  vpn:\n    image: {TEST_IMAGE}\n    command: [sh, -c, 'mkdir -p /www && echo through-vpn > /www/index.html && exec httpd -f -p 8080 -h /www']\n    ports: ['18080:8080']\n  app:\n    image: {TEST_IMAGE}\n    network_mode: service:vpn\n    command: [sleep, '600']\n"
        ),
    );
    assert_eq!(app.app().services["app"].network_of.as_deref(), Some("vpn"));
    for kind in [ProviderKind::Gce, ProviderKind::Openstack] {
        let t = translate(kind, &app);
        assert_eq!(line(&t, "services.app.network_of").0, Fidelity::Mapped);
    }
    let sw = translate(ProviderKind::Swarm, &app);
    assert_eq!(line(&sw, "services.app.network_of").0, Fidelity::Dropped);

    let files = gce_files(&translate(ProviderKind::Gce, &app));
    let vpn = &files["/etc/bridge/vpn.sh"];
    let app_sh = &files["/etc/bridge/app.sh"];
    assert!(
        app_sh.contains("--network container:claims-ns-vpn"),
        "{app_sh}"
    );
    assert!(!app_sh.contains("--network-alias"), "{app_sh}");
    // The sharer's name resolves to the namespace owner on the app network.
    assert!(vpn.contains("--network-alias app"), "{vpn}");
    let unit = &files["/etc/systemd/system/claims-ns-app.service"];
    assert!(unit.contains("PartOf=claims-ns-vpn.service"), "{unit}");

    let mut host = Host::new("ns", "claims-ns-net");
    // The sharer first: its script waits for the owner, as when systemd starts both at once.
    let a = host.run("app", "claims-ns-app", app_sh);
    let v = host.run("vpn", "claims-ns-vpn", vpn);
    let end = Instant::now() + Duration::from_secs(30);
    while !(Host::running("claims-ns-app") && Host::running("claims-ns-vpn")) {
        assert!(
            Instant::now() < end,
            "not both running:\n{}\n{}",
            host.log("app"),
            host.log("vpn")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(host.alive_after(a, Duration::from_millis(500)));
    assert!(host.alive_after(v, Duration::from_millis(10)));
    let (_, mode) = docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.NetworkMode}}",
        "claims-ns-app",
    ]);
    assert!(mode.trim().starts_with("container:"), "{mode}");
    let mut got = (false, String::new());
    for _ in 0..20 {
        got = docker(&[
            "exec",
            "claims-ns-app",
            "wget",
            "-qO-",
            "http://localhost:8080/",
        ]);
        if got.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(got.0, "localhost in app does not reach vpn: {}", got.1);
    assert_eq!(got.1.trim(), "through-vpn");
}

/// (c) `gpus` on GCE: the ledger says dropped and no `--gpus` is rendered; OpenStack renders it
/// and says mapped.
#[test]
fn gpus_flag_only_where_mapped() {
    let app = compose(
        "claims-gpu",
        "services:\n  train:\n    image: ghcr.io/acme/train:1\n    gpus: [{driver: nvidia, count: 1}]\n",
    );
    let gce = translate(ProviderKind::Gce, &app);
    assert_eq!(
        line(&gce, "services.train.resources.gpus").0,
        Fidelity::Dropped
    );
    let files = gce_files(&gce);
    assert!(!files["/etc/bridge/train.sh"].contains("--gpus"));
    let os = translate(ProviderKind::Openstack, &app);
    assert_eq!(
        line(&os, "services.train.resources.gpus").0,
        Fidelity::Mapped
    );
    let tpl = &os.artifacts[0].content;
    assert!(tpl.contains("--gpus 1"), "{tpl}");
}

/// (d) `platform: linux/arm64` on ECS: EC2 capacity is x86-64, so render fails there and the
/// ledger says dropped; Fargate runs arm64 (runtimePlatform ARM64, mapped).
#[test]
fn arm64_on_ecs_is_not_mapped_on_x86_capacity() {
    let yaml = "services:\n  api:\n    image: ghcr.io/acme/api:1\n    platform: linux/arm64\n";
    let ec2 = translate(ProviderKind::Aws, &compose("claims-arm", yaml));
    assert!(
        ec2.diagnostics
            .iter()
            .any(|d| d.is_error() && d.path == "services.api.platform"),
        "{:?}",
        ec2.diagnostics
    );
    assert_eq!(line(&ec2, "services.api.platform").0, Fidelity::Dropped);
    let mut app = compose("claims-arm", yaml).into_app();
    app.providers.aws = Some(bridge_core::model::AwsOptions {
        launch_type: bridge_core::model::LaunchType::Fargate,
        ..bridge_core::model::AwsOptions::default()
    });
    let app = bridge_core::validate::validate(app, &bridge_core::validate::NoLocation)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .0;
    let f = translate(ProviderKind::Aws, &app);
    assert_eq!(line(&f, "services.api.platform").0, Fidelity::Mapped);
    let task = f
        .artifacts
        .iter()
        .find(|a| a.path.starts_with("aws/task-definitions/"))
        .unwrap_or_else(|| panic!("no task: {:?} {:?}", f.artifacts, f.diagnostics));
    assert!(task.content.contains("\"ARM64\""), "{}", task.content);
}

/// (f) A relative bind on Swarm ships the project file as a config (tests/project_files.rs
/// deploys it); one whose file is missing is an error naming the mount at its line; an
/// absolute one is sent as it is.
#[test]
fn relative_bind_on_swarm_is_reported() {
    let app = compose(
        "claims-bind",
        "services:\n  db:\n    image: postgres:16\n    volumes: ['./db/init.sql:/docker-entrypoint-initdb.d/init.sql:ro', '/srv/data:/data']\n",
    );
    let t = translate(ProviderKind::Swarm, &app);
    let errs: Vec<_> = t.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].code, "E072");
    assert_eq!(errs[0].path, "services.db.volumes[0]");
    assert!(errs[0].message.contains("./db/init.sql"));
    assert_eq!(errs[0].span.map(|s| s.line), Some(5));
    assert_eq!(line(&t, "services.db.volumes[0]").0, Fidelity::Dropped);
    assert_eq!(line(&t, "services.db.volumes[1]").0, Fidelity::Approximated);
}

/// (b) Config `uid`/`gid`/`mode` on OpenStack: the file is written with the mode and chowned to
/// the numeric owner before the containers start; Debian's cloud-init accepts the cloud-config.
#[test]
fn config_owner_applied_on_openstack() {
    let app = compose(
        "claims-cfg",
        "services:\n  web:\n    image: nginx:1.27\n    configs:\n      - source: site\n        target: /etc/nginx/conf.d/site.conf\n        uid: '101'\n        gid: '102'\n        mode: 0440\nconfigs:\n  site:\n    content: 'server { listen 80; }'\n",
    );
    let t = translate(ProviderKind::Openstack, &app);
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    assert_eq!(line(&t, "services.web.configs[0]").0, Fidelity::Mapped);
    let dir = scratch("cfg");
    let tpl = dir.join("template.yaml");
    std::fs::write(&tpl, &t.artifacts[0].content).unwrap_or_else(|e| panic!("{e}"));
    let cc = dir.join("user-data.yaml");
    // Heat's own YAML reader gives the server's user_data as Nova receives it.
    let script = r#"
import sys, yaml
from heat.common import template_format
t = yaml.load(open(sys.argv[1]).read(), Loader=template_format.yaml_loader)
server = [r for r in t['resources'].values() if r['type'] == 'OS::Nova::Server'][0]
ud = server['properties']['user_data']
if isinstance(ud, dict):
    ud = ud['str_replace_strict']['template']
open(sys.argv[2], 'w').write(ud)
cc = yaml.safe_load(ud)
f = [w for w in cc['write_files'] if w['path'] == '/etc/bridge/configs/site'][0]
print(f['permissions'])
cmds = [c for c in cc['runcmd'] if isinstance(c, list)]
chown = cmds.index(['chown', '101:102', '/etc/bridge/configs/site'])
start = cmds.index(['systemctl', 'enable', '--now', 'claims-cfg-web.service'])
print(chown < start)
"#;
    let py = peers::python();
    let out = Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(&tpl)
        .arg(&cc)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0440\nTrue\n");
    let v = Command::new("cloud-init")
        .args(["schema", "-c"])
        .arg(&cc)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run Debian's cloud-init (apt-get install cloud-init): {e}")
        });
    assert!(
        v.status.success(),
        "cloud-init schema: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// (e) `bridge fidelity -p gce` marks what `render -p gce` rejects as dropped and exits 1 like
/// render; the import's own diagnostics are shown too.
#[test]
fn fidelity_agrees_with_render() {
    let dir = scratch("cli");
    let f = dir.join("compose.yaml");
    std::fs::write(
        &f,
        "services:\n  web:\n    image: nginx:1.27\n    cpu_rt_runtime: 950000\n    deploy:\n      replicas: 2\n      placement:\n        constraints: ['node.labels.disk == ssd', 'node.hostname == node1']\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bridge = env!("CARGO_BIN_EXE_bridge");
    let run = |args: &[&str]| {
        Command::new(bridge)
            .args(args)
            .arg("-f")
            .arg(&f)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let render = run(&["render", "-p", "gce"]);
    assert_eq!(render.status.code(), Some(1));
    let fid = run(&["fidelity", "-p", "gce"]);
    assert_eq!(fid.status.code(), Some(1), "{}", peers::text(&fid));
    let out = String::from_utf8_lossy(&fid.stdout);
    let err = String::from_utf8_lossy(&fid.stderr);
    assert!(
        out.contains("dropped      services.web.placement.constraints[1]: render fails here"),
        "{out}"
    );
    assert!(
        !out.contains("mapped       services.web.placement.constraints[1]"),
        "{out}"
    );
    // The import's warning for `cpu_rt_runtime` (dropped at import), with its line.
    assert!(err.contains("services.web.cpu_rt_runtime"), "{err}");
    let js = run(&["fidelity", "-p", "gce", "--output", "json"]);
    assert_eq!(js.status.code(), Some(1));
    let v: serde_json::Value =
        serde_json::from_slice(&js.stdout).unwrap_or_else(|e| panic!("{e}: {}", peers::text(&js)));
    assert_eq!(v["targets"][0]["renders"], false);
    assert!(
        v["diagnostics"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["path"] == "services.web.cpu_rt_runtime")),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
