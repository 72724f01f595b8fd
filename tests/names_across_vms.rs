//! Issue 12: on the container-VM targets (GCE, OpenStack) a service name, alias or link alias
//! resolves from every container of the app to the VMs running the service, wherever the
//! placement put it. The translator's output is checked by the real peers (Debian's `cloud-init
//! schema`, Heat's own validator, the GCE discovery document) and its per-container scripts run
//! on the machine's Docker Engine standing in for two VMs: one docker network per "host", plus a
//! shared network standing in for the VPC on which the other "VM"'s published port is reached.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_core::model::ProviderKind;
use bridge_core::{LoadOptions, ValidApp, load_str};
use bridge_translators::{Fidelity, Translation, for_provider};
use support::engine::{TEST_IMAGE, ensure_test_image};
use support::peers;

fn app(name: &str, provider: &str, port: u16) -> ValidApp {
    let yaml = app_yaml(name, provider, port);
    let loaded = load_str(
        &Arc::from("bridge.yaml"),
        &yaml,
        Path::new("."),
        &LoadOptions::default(),
    );
    loaded
        .valid
        .unwrap_or_else(|| panic!("does not validate: {:?}\n{yaml}", loaded.diagnostics))
}

/// `api` (alias `backend`, published on `port`) and `web` (linking it as `apiref`), each too
/// large to share a VM with the other.
fn app_yaml(name: &str, provider: &str, port: u16) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  api:\n    image: {TEST_IMAGE}\n    group: g\n    aliases: [backend]\n    command: [sh, -c, 'mkdir -p /w && echo from-api > /w/index.html && exec httpd -f -p {port} -h /w']\n    ports: ['{port}:{port}']\n    resources: {{cpus: 1.5, memory: 256MiB}}\n  web:\n    image: {TEST_IMAGE}\n    command: [sleep, '600']\n    links: ['api:apiref']\n    depends_on: [api]\n    resources: {{cpus: 1.5, memory: 256MiB}}\ngroups:\n  g: {{}}\nproviders:\n  {provider}\n"
    )
}

fn translate(kind: ProviderKind, app: &ValidApp) -> Translation {
    let t = for_provider(kind)
        .unwrap_or_else(|| panic!("no translator for {kind:?}"))
        .translate(app);
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    t
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-names-vm-{tag}-{}", std::process::id()));
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

/// Debian's cloud-init validates the user data as a real VM reads it.
fn cloud_init_schema(dir: &Path, name: &str, user_data: &str) {
    let f = dir.join(format!("{name}.cloud-config"));
    std::fs::write(&f, user_data).unwrap_or_else(|e| panic!("{e}"));
    let v = Command::new("cloud-init")
        .args(["schema", "-c"])
        .arg(&f)
        .output()
        .unwrap_or_else(|e| panic!("cannot run Debian's cloud-init: {e}"));
    assert!(
        v.status.success(),
        "cloud-init schema {name}: {}",
        peers::text(&v)
    );
}

/// Two stand-in VMs: per host a docker network (the VM's own `<app>-net`), and one shared
/// network standing in for the VPC, on which a container's address is its VM's address (the
/// port is published on its own number, so VM address:port reaches it). Everything made is
/// removed on drop.
struct Vms {
    dir: PathBuf,
    networks: Vec<String>,
    containers: Vec<String>,
    children: Vec<Child>,
    vpc: String,
}

impl Vms {
    fn new(tag: &str) -> Vms {
        ensure_test_image();
        let vpc = format!("names-vm-{tag}-vpc");
        let mut v = Vms {
            dir: scratch(tag),
            networks: Vec::new(),
            containers: Vec::new(),
            children: Vec::new(),
            vpc: vpc.clone(),
        };
        v.network(&vpc);
        v
    }

    fn network(&mut self, n: &str) {
        let _ = docker(&["network", "rm", n]);
        let (ok, out) = docker(&["network", "create", n]);
        assert!(ok, "network create {n}: {out}");
        self.networks.push(n.into());
    }

    /// Run one generated script as systemd would (stdin /dev/null), with `hosts` as the
    /// machine's resolver for the script (a mount namespace with its own /etc/hosts: the VM's
    /// DNS), then attach its container to the VPC and return the container's VPC address.
    fn run(&mut self, name: &str, container: &str, script: &str, hosts: &str) -> String {
        let _ = docker(&["rm", "-f", container]);
        self.containers.push(container.into());
        let f = self.dir.join(format!("{name}.sh"));
        std::fs::write(&f, script).unwrap_or_else(|e| panic!("{e}"));
        let h = self.dir.join(format!("{name}.hosts"));
        std::fs::write(&h, format!("127.0.0.1 localhost\n{hosts}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new("unshare");
        cmd.args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$1\" /etc/hosts && exec sh \"$2\"",
            "sh",
        ])
        .arg(&h)
        .arg(&f);
        self.spawn(name, cmd);
        let end = Instant::now() + Duration::from_secs(60);
        while docker(&["inspect", "-f", "{{.State.Running}}", container])
            .1
            .trim()
            != "true"
        {
            assert!(
                Instant::now() < end,
                "{container} does not run: {}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let (ok, out) = docker(&["network", "connect", &self.vpc, container]);
        assert!(ok, "network connect: {out}");
        let fmt = format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            self.vpc
        );
        let (ok, ip) = docker(&["inspect", "-f", &fmt, container]);
        assert!(ok && !ip.trim().is_empty(), "no vpc address: {ip}");
        ip.trim().to_string()
    }

    /// Run `cmd` as systemd would (stdin /dev/null), its output in `<name>.log`; killed on drop.
    fn spawn(&mut self, name: &str, mut cmd: Command) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        self.children.push(child);
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// An HTTP GET from `container` to `name:port` with busybox `nc` (the static busybox's `wget`
    /// crashes resolving from a fresh container), retried for a few seconds.
    fn fetch(container: &str, name: &str, port: u16) -> (bool, String) {
        let mut got = (false, String::new());
        for _ in 0..15 {
            got = docker(&["exec", container, "sh", "-c", &get(name, port)]);
            if got.0 && got.1.contains("from-api") {
                break;
            }
            std::thread::sleep(Duration::from_millis(400));
        }
        got
    }
}

impl Drop for Vms {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        for ch in &mut self.children {
            let _ = ch.kill();
            let _ = ch.wait();
        }
        for n in &self.networks {
            let _ = docker(&["network", "rm", n]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A shell command sending an HTTP GET to `name:port` with `nc`.
fn get(name: &str, port: u16) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {name} {port}")
}

/// Give a generated script its stand-in host's own network and peers file (on a real VM both
/// are `<app>-net` and /etc/bridge/peers: here two "VMs" share one engine and one disk).
/// The VM's address book (`/run/bridge/peer-addresses`) is `book` beside the peers file.
fn on_host(script: &str, app: &str, net: &str, peers_file: &Path) -> String {
    let s = script.replace(&format!("--network {app}-net"), &format!("--network {net}"));
    assert_ne!(s, script, "no --network {app}-net in {script}");
    s.replace("/etc/bridge/peers", &peers_file.display().to_string())
        .replace(
            "/run/bridge/peer-addresses",
            &peers_file.with_file_name("book").display().to_string(),
        )
}

/// How the web VM finds the api VM's address: its DNS name (GCE), or the key of the VM's
/// address book that names the api server (Heat: a key of the server's metadata).
enum Addr<'a> {
    Dns(&'a str),
    Book(&'a str),
}

/// Runs `api` on one stand-in VM and `web` on the other from the generated scripts and peers
/// file, then checks from `web` that `api`, its alias and its link alias reach `api` across
/// the VMs; a `web` started without the peers file does not resolve `api` (the control).
fn run_two_vms(
    tag: &str,
    app: &str,
    api_sh: &str,
    web_sh: &str,
    peers_text: &str,
    addr: Addr<'_>,
    port: u16,
) {
    let mut vms = Vms::new(tag);
    let (na, nb) = (format!("names-vm-{tag}-a"), format!("names-vm-{tag}-b"));
    vms.network(&na);
    vms.network(&nb);
    let empty = vms.dir.join("no-peers");
    std::fs::write(&empty, "").unwrap_or_else(|e| panic!("{e}"));
    let api_c = format!("{app}-api");
    let web_c = format!("{app}-web");
    let ip = vms.run("api", &api_c, &on_host(api_sh, app, &nb, &empty), "");
    // The api VM's address as the web VM sees it: its DNS name (GCE) or what Heat wrote into
    // the server's metadata, kept in the book by the VM's watcher.
    let hosts = match addr {
        Addr::Dns(dns) => format!("{ip} {dns}\n"),
        Addr::Book(key) => {
            std::fs::write(vms.dir.join("book"), format!("{key} {ip}\n"))
                .unwrap_or_else(|e| panic!("{e}"));
            String::new()
        }
    };
    let pf = vms.dir.join("peers");
    std::fs::write(&pf, peers_text).unwrap_or_else(|e| panic!("{e}"));
    vms.run("web", &web_c, &on_host(web_sh, app, &na, &pf), &hosts);
    let (_, etc) = docker(&["exec", &web_c, "cat", "/etc/hosts"]);
    for name in ["api", "backend", "apiref"] {
        assert!(
            etc.contains(&format!("{ip}\t{name}")),
            "{name} not in /etc/hosts:\n{etc}\n{}",
            vms.log("web")
        );
        let got = Vms::fetch(&web_c, name, port);
        assert!(
            got.0,
            "web does not reach {name} on the other VM: {}\n{}",
            got.1,
            vms.log("web")
        );
        assert!(got.1.trim_end().ends_with("from-api"), "{}", got.1);
    }
    // The control: the same script without the peers file; docker's DNS alone does not resolve
    // a name on the other VM's network.
    let ctl = format!("{app}-ctl");
    let ctl_sh = on_host(web_sh, app, &na, &empty)
        .replace(&format!("--name {web_c}"), &format!("--name {ctl}"));
    vms.run("ctl", &ctl, &ctl_sh, &hosts);
    let got = docker(&["exec", &ctl, "sh", "-c", &get("api", port)]);
    assert!(
        !got.1.contains("from-api"),
        "api resolved without the peers file: {}",
        got.1
    );
    assert!(got.1.contains("bad address") || !got.0, "{}", got.1);
}

/// GCE: the peers file names the instance running `api` by its internal DNS name, the ledger
/// line comes with it, the bodies pass the discovery document and the cloud-configs cloud-init.
#[test]
fn gce_names_resolve_across_vms() {
    let name = "nvmg";
    let a = app(
        name,
        "gce: {project: p1, zone: europe-west4-a, machine_type: e2-standard-2}",
        18481,
    );
    let t = translate(ProviderKind::Gce, &a);
    let dir = scratch("gce-check");
    let mut by_service: BTreeMap<String, (String, BTreeMap<String, String>)> = BTreeMap::new();
    let mut bodies = Vec::new();
    for art in t
        .artifacts
        .iter()
        .filter(|x| x.path.starts_with("gce/instances/"))
    {
        let body: serde_json::Value =
            serde_json::from_str(&art.content).unwrap_or_else(|e| panic!("{e}"));
        let inst = body["name"].as_str().unwrap_or_default().to_string();
        let ud = body["metadata"]["items"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["key"] == "user-data"))
            .and_then(|i| i["value"].as_str())
            .unwrap_or_else(|| panic!("no user-data"))
            .to_string();
        cloud_init_schema(&dir, &inst, &ud);
        let files = peers::cloud_config_files(&ud);
        for s in ["api", "web"] {
            if files.contains_key(&format!("/etc/bridge/{s}.sh")) {
                by_service.insert(s.into(), (inst.clone(), files.clone()));
            }
        }
        let f = dir.join(format!("{inst}.json"));
        std::fs::write(&f, &art.content).unwrap_or_else(|e| panic!("{e}"));
        bodies.push(f);
    }
    let v = Command::new(peers::python())
        .arg(peers::root().join("tests/validators/gce_validate.py"))
        .args(["--kind", "Instance"])
        .args(&bodies)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(v.status.success(), "gce_validate: {}", peers::text(&v));
    let (api_vm, api_files) = &by_service["api"];
    let (web_vm, web_files) = &by_service["web"];
    assert_ne!(api_vm, web_vm, "the placement put api and web on one VM");
    let dns = format!("{api_vm}.europe-west4-a.c.p1.internal");
    let peers_text = &web_files["/etc/bridge/peers"];
    for n in ["api", "backend", "apiref"] {
        assert!(
            peers_text.contains(&format!("\n{n} {dns}\n")),
            "{peers_text}"
        );
    }
    // api's VM needs no entry for web's names? It does: web runs elsewhere.
    assert!(
        api_files["/etc/bridge/peers"].contains("\nweb "),
        "{}",
        api_files["/etc/bridge/peers"]
    );
    let e = t
        .ledger
        .iter()
        .find(|e| e.field == "services.api.name")
        .unwrap_or_else(|| panic!("no ledger line"));
    assert_eq!(e.fidelity, Fidelity::Approximated);
    assert!(e.reason.contains("hosts entries"), "{}", e.reason);
    assert!(
        !t.diagnostics.iter().any(|d| d.code == "T308"),
        "{:?}",
        t.diagnostics
    );
    let _ = std::fs::remove_dir_all(&dir);
    run_two_vms(
        "gce",
        name,
        &api_files["/etc/bridge/api.sh"],
        &web_files["/etc/bridge/web.sh"],
        peers_text,
        Addr::Dns(&dns),
        18481,
    );
}

/// OpenStack: the peers file holds a `str_replace` token Heat fills with `get_attr: [server,
/// first_address]` of the server running `api`; Heat's validator accepts the template, and the
/// cloud-configs (the token replaced by an address, as Heat does) pass cloud-init.
#[test]
fn openstack_names_resolve_across_servers() {
    let name = "nvmo";
    let a = app(name, "openstack: {flavor: m1.medium}", 18482);
    let t = translate(ProviderKind::Openstack, &a);
    let dir = scratch("heat-check");
    let tpl = dir.join("template.yaml");
    std::fs::write(&tpl, &t.artifacts[0].content).unwrap_or_else(|e| panic!("{e}"));
    let v = Command::new(peers::python())
        .arg(peers::root().join("tests/validators/heat_validate.py"))
        .arg("--fill-required")
        .arg(&tpl)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(v.status.success(), "heat_validate: {}", peers::text(&v));
    // Heat's own YAML reader; each server's user data with its tokens replaced as Heat would,
    // the servers whose addresses it reads (by its metadata's `bridge-peer-*` keys, or by an
    // address token in its user data) and those keys.
    let script = r#"
import sys, json, yaml
from heat.common import template_format
t = yaml.load(open(sys.argv[1]).read(), Loader=template_format.yaml_loader)
out = {}
for name, r in t['resources'].items():
    if r['type'] == 'OS::Heat::ResourceGroup':
        r = r['properties']['resource_def']
    if r['type'] != 'OS::Nova::Server':
        continue
    ud = r['properties']['user_data']
    refs = []
    keys = []
    if isinstance(ud, dict):
        s = ud['str_replace_strict']
        ud = s['template']
        for k, v in s['params'].items():
            text = json.dumps(v)
            if 'first_address' in text:
                def walk(x):
                    if isinstance(x, dict):
                        if 'get_attr' in x:
                            refs.append(x['get_attr'][0])
                        for y in x.values():
                            walk(y)
                    elif isinstance(x, list):
                        for y in x:
                            walk(y)
                walk(v)
                ud = ud.replace(k, 'API_ADDRESS')
            else:
                ud = ud.replace(k, 'x')
    for k, v in r['properties'].get('metadata', {}).items():
        if k.startswith('bridge-peer-'):
            refs.append(v['get_attr'][0])
            keys.append(k)
    out[name] = {'user_data': ud, 'refs': refs, 'keys': keys}
print(json.dumps(out))
"#;
    let o = Command::new(peers::python())
        .arg("-c")
        .arg(script)
        .arg(&tpl)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "{}", peers::text(&o));
    let servers: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
    // Per service: its server resource, its files, the servers whose addresses it reads.
    type Placed = (String, BTreeMap<String, String>, Vec<String>);
    let mut by_service: BTreeMap<String, Placed> = BTreeMap::new();
    for (res, s) in &servers {
        let ud = s["user_data"].as_str().unwrap_or_default();
        cloud_init_schema(&dir, res, ud);
        let files = peers::cloud_config_files(ud);
        let refs: Vec<String> = serde_json::from_value(s["refs"].clone()).unwrap_or_default();
        for svc in ["api", "web"] {
            if files.contains_key(&format!("/etc/bridge/{svc}.sh")) {
                by_service.insert(svc.into(), (res.clone(), files.clone(), refs.clone()));
            }
        }
    }
    let (api_res, api_files, _) = &by_service["api"];
    let (web_res, web_files, web_refs) = &by_service["web"];
    assert_ne!(
        api_res, web_res,
        "the placement put api and web on one server"
    );
    assert_eq!(
        web_refs,
        &vec![api_res.clone()],
        "web's server reads the address of api's"
    );
    let key = format!("bridge-peer-{api_res}");
    assert_eq!(
        servers[web_res]["keys"],
        serde_json::json!([key]),
        "web's server metadata names api's address"
    );
    let peers_text = &web_files["/etc/bridge/peers"];
    for n in ["api", "backend", "apiref"] {
        assert!(
            peers_text.contains(&format!("\n{n} {key}\n")),
            "{peers_text}"
        );
    }
    assert!(
        web_files.contains_key("/etc/bridge/peers-watch.sh"),
        "{:?}",
        web_files.keys()
    );
    // The reverse direction would be a cycle: api's server has no entry for web.
    assert!(
        !api_files.contains_key("/etc/bridge/peers"),
        "{:?}",
        api_files.get("/etc/bridge/peers")
    );
    let e = t
        .ledger
        .iter()
        .find(|e| e.field == "services.api.name")
        .unwrap_or_else(|| panic!("no ledger line"));
    assert_eq!(e.fidelity, Fidelity::Approximated);
    assert!(
        !t.diagnostics.iter().any(|d| d.code == "T411"),
        "{:?}",
        t.diagnostics
    );
    // The watcher reads the addresses out of the server's meta_data.json (its shape as Nova's
    // metadata service serves it) into the book, with the VM's python3 (cloud-init's).
    let md = dir.join("meta_data.json");
    std::fs::write(
        &md,
        serde_json::json!({"uuid": "0b5e4a3c", "name": "nvmo-web", "meta": {"bridge.app": name, key.clone(): "10.0.0.7"}}).to_string(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let book = dir.join("book");
    let watch = web_files["/etc/bridge/peers-watch.sh"]
        .replace("/run/bridge/peer-addresses", &book.display().to_string())
        .replace("/etc/bridge/peers-refresh.sh", "/dev/null");
    let mut w = Command::new("sh")
        .arg("-c")
        .arg(&watch)
        .env("BRIDGE_META_DATA_URL", format!("file://{}", md.display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the watcher: {e}"));
    let end = Instant::now() + Duration::from_secs(20);
    let mut got = String::new();
    while Instant::now() < end {
        got = std::fs::read_to_string(&book).unwrap_or_default();
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = w.kill();
    let _ = w.wait();
    assert_eq!(got, format!("{key} 10.0.0.7\n"), "the watcher's book");
    let _ = std::fs::remove_dir_all(&dir);
    run_two_vms(
        "heat",
        name,
        &api_files["/etc/bridge/api.sh"],
        &web_files["/etc/bridge/web.sh"],
        peers_text,
        Addr::Book(&key),
        18482,
    );
}

/// Issue 12, following a replacement on GCE: `web`'s container runs on a stand-in VM from the
/// user data the driver sent (its script, peers file, refresh script and watcher, the watcher
/// polling the test server's metadata server for its instance). `api`'s host is replaced (a
/// changed env: a new instance, a new address); the driver sets the address book of `web`'s host
/// with `setMetadata` (not re-inserted, the plan after is empty), and the same running
/// container (same id, same start time, same hosts-file inode) now resolves `api`, `backend`
/// and `apiref` to the new address.
#[test]
fn gce_a_replaced_host_is_followed_without_a_restart() {
    let name = "nvmf";
    let provider = format!(
        "gce: {{project: {}, zone: {}, machine_type: e2-standard-2}}",
        support::gce::PROJECT,
        support::gce::ZONE
    );
    let yaml = app_yaml(name, &provider, 18483);
    let server = support::gce::Server::start("peers-follow", 3600.0);
    let f = server.write_app(name, &yaml);
    let run = |args: &[&str]| {
        server
            .on_app(args, &f)
            .env("BRIDGE_GCE_UPDATE_SECONDS", "20")
            .output()
            .unwrap_or_else(|e| panic!("cannot run bridge: {e}"))
    };
    let o = run(&["deploy", "--yes", "--wait"]);
    assert_eq!(o.status.code(), Some(0), "{}", peers::text(&o));
    let insts = server.instances();
    let holding = |s: &str| {
        insts
            .iter()
            .find(|(_, v)| {
                support::gce::metadata_value(v, "user-data")
                    .is_some_and(|ud| ud.contains(&format!("/etc/bridge/{s}.sh")))
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .unwrap_or_else(|| panic!("no instance runs {s}: {:?}", insts.keys()))
    };
    let (api_vm, api_inst) = holding("api");
    let (web_vm, web_inst) = holding("web");
    assert_ne!(api_vm, web_vm);
    let ip_of = |v: &serde_json::Value| {
        v["networkInterfaces"][0]["networkIP"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let ip1 = ip_of(&api_inst);
    let book = support::gce::metadata_value(&web_inst, "bridge-peer-addresses").unwrap_or_default();
    assert!(
        book.contains(&format!("\n{api_vm} {ip1}\n")),
        "the book of {web_vm} lacks {api_vm}: {book}"
    );

    // The stand-in for web's VM: the files of its user data under a scratch directory.
    let ud = support::gce::metadata_value(&web_inst, "user-data").unwrap_or_default();
    let files = peers::cloud_config_files(&ud);
    let mut vms = Vms::new("follow");
    let net = format!("names-vm-follow-{name}");
    vms.network(&net);
    let d = vms.dir.clone();
    let paths = [
        ("/etc/bridge/peers-refresh.sh", d.join("peers-refresh.sh")),
        ("/etc/bridge/peers", d.join("peers")),
        ("/run/bridge/peer-addresses", d.join("book")),
    ];
    let local = |text: &str| {
        let mut t = text.to_string();
        for (from, to) in &paths {
            t = t.replace(from, &to.display().to_string());
        }
        t
    };
    std::fs::write(&paths[0].1, local(&files["/etc/bridge/peers-refresh.sh"]))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&paths[1].1, &files["/etc/bridge/peers"]).unwrap_or_else(|e| panic!("{e}"));
    let watch = d.join("peers-watch.sh");
    std::fs::write(&watch, local(&files["/etc/bridge/peers-watch.sh"]))
        .unwrap_or_else(|e| panic!("{e}"));
    let unit = &files["/etc/systemd/system/bridge-peers.service"];
    assert!(
        unit.contains("ExecStart=/bin/sh /etc/bridge/peers-watch.sh"),
        "{unit}"
    );
    let mut watcher = Command::new("sh");
    watcher.arg(&watch).env(
        "GCE_METADATA_HOST",
        format!(
            "127.0.0.1:{}/_vm/{}/{web_vm}",
            server.port,
            support::gce::ZONE
        ),
    );
    vms.spawn("watch", watcher);
    let wait_for = |what: &str, secs: u64, cond: &dyn Fn() -> bool| {
        let end = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(
                Instant::now() < end,
                "{what} within {secs} s; watcher: {}",
                std::fs::read_to_string(d.join("watch.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("the watcher writes the book", 10, &|| {
        std::fs::read_to_string(&paths[2].1).is_ok_and(|b| b.contains(&ip1))
    });
    // web starts as its unit starts it; the VM's DNS knows nothing: the book answers.
    let web_c = format!("{name}-web");
    let script = on_host(&files["/etc/bridge/web.sh"], name, &net, &paths[1].1);
    let _ = vms.run("web", &web_c, &local(&script), "");
    let hosts = || docker(&["exec", &web_c, "cat", "/etc/hosts"]).1;
    for n in ["api", "backend", "apiref"] {
        assert!(
            hosts().contains(&format!("{ip1}\t{n}\n")),
            "{n} -> {ip1} not in:\n{}",
            hosts()
        );
    }
    let state = || {
        let (ok, out) = docker(&[
            "inspect",
            "-f",
            "{{.Id}} {{.State.StartedAt}} {{.RestartCount}} {{.HostsPath}}",
            &web_c,
        ]);
        assert!(ok, "{out}");
        let hp = out
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string();
        let ino = std::fs::metadata(&hp)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or_else(|e| panic!("{hp}: {e}"));
        format!("{} inode {ino}", out.trim())
    };
    let before = state();

    // Replace api's host: a changed env is a new spec hash, so a new instance and address.
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|x| x.as_secs_f64())
        .unwrap_or(0.0);
    let changed = yaml.replace(
        "    aliases: [backend]\n",
        "    aliases: [backend]\n    env: {RELEASE: '2'}\n",
    );
    assert_ne!(changed, yaml);
    std::fs::write(&f, &changed).unwrap_or_else(|e| panic!("{e}"));
    let o = run(&["deploy", "--wait"]);
    let deployed = Instant::now();
    assert_eq!(o.status.code(), Some(0), "{}", peers::text(&o));
    let insts = server.instances();
    let ip2 = ip_of(&insts[&api_vm]);
    assert_ne!(ip1, ip2, "the replaced host kept its address");
    let events: Vec<serde_json::Value> = server.control("oplog")["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["t"].as_f64().unwrap_or(0.0) >= t0)
        .collect();
    let of = |vm: &str, ev: &str| {
        events
            .iter()
            .filter(|e| e["instance"] == vm && e["event"] == ev)
            .count()
    };
    assert_eq!(of(&api_vm, "insert"), 1, "{events:#?}");
    assert_eq!(
        of(&web_vm, "insert"),
        0,
        "web's host re-inserted: {events:#?}"
    );
    assert_eq!(of(&web_vm, "delete"), 0, "web's host deleted: {events:#?}");
    assert!(of(&web_vm, "setMetadata") >= 1, "{events:#?}");
    assert_eq!(
        insts[&web_vm]["id"], web_inst["id"],
        "web's host is another instance"
    );
    let book =
        support::gce::metadata_value(&insts[&web_vm], "bridge-peer-addresses").unwrap_or_default();
    assert!(book.contains(&format!("\n{api_vm} {ip2}\n")), "{book}");
    // The rest of web's metadata is as it was.
    assert_eq!(
        support::gce::metadata_value(&insts[&web_vm], "user-data"),
        support::gce::metadata_value(&web_inst, "user-data")
    );
    // Followed in the running container, in place.
    wait_for(
        "web's container resolves api to the new address",
        30,
        &|| {
            let h = hosts();
            ["api", "backend", "apiref"]
                .iter()
                .all(|n| h.contains(&format!("{ip2}\t{n}\n")))
        },
    );
    let took = deployed.elapsed();
    let h = hosts();
    assert!(!h.contains(&ip1), "the old address is left:\n{h}");
    assert!(h.contains("localhost"), "docker's own lines are gone:\n{h}");
    assert_eq!(
        state(),
        before,
        "web's container was restarted or its hosts file replaced"
    );
    let (_, ping) = docker(&["exec", &web_c, "sh", "-c", "ping -c1 -W1 apiref 2>&1; true"]);
    assert!(ping.contains(&format!("({ip2})")), "{ping}");
    eprintln!("web's container followed the replaced host {took:?} after the deploy returned");
    // The plan right after shows nothing: the book is the driver's, not a change.
    let plan = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", peers::text(&plan));
    let o = run(&["destroy"]);
    assert_eq!(o.status.code(), Some(0), "{}", peers::text(&o));
}
