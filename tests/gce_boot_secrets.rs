//! Issue 12: GCE's boot-time Secret Manager fetch, run. An app with a file secret, an env secret,
//! an external secret and an external config is deployed with `bridge` to the GCE test server
//! (the driver stores the two values in its Secret Manager; the test stored the external two
//! there through the REST API, as an operator would). The boot script is taken from the
//! instance's user data as the server stored it and run on the machine's Docker Engine standing
//! in for the VM: its metadata server is the test server's stand-in for that instance
//! (`GCE_METADATA_HOST`: the token, `Metadata-Flavor: Google` required), its Secret Manager the
//! test server's (`BRIDGE_GCE_SECRETS_ENDPOINT`); nothing else of the script is changed but the
//! two host directories, moved under a scratch directory (two "VMs" share this machine). The
//! container started by its rendered script reads every value by content. A missing external
//! secret fails the boot script visibly, and no value is in the script, the instance, bridge's
//! state or its output.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use support::engine::TEST_IMAGE;
use support::gce::{PROJECT, Server, ZONE};
use support::peers;
use support::standin::{StandinVm, docker};

const APP: &str = "bootsec";
/// The values: a file secret with lines and shell characters, an env secret with quotes, an
/// external secret and an external config (bytes the test stores itself).
const FILE_VALUE: &str = "first line\nsecond 'line' $HOME `x`\n";
const ENV_VALUE: &str = "p@ss w0rd \"$x\" 'y'";
const EXT_SECRET: &str = "bootsec-shared-key-0f3a";
const EXT_CONFIG: &str = "bootsec-shared-config-7c1d";
const EXT_SECRET_VALUE: &str = "external-secret-9d2e\u{e9}\u{4e2d}";
const EXT_CONFIG_VALUE: &str = "listen = 8080\nmode = \"boot\"\n";

fn app_yaml() -> String {
    format!(
        "bridge: v1\nname: {APP}\nservices:\n  app:\n    image: {TEST_IMAGE}\n    command: [sleep, '600']\n    \
         secrets: [filesec, {{name: envsec, env: BOOT_TOKEN}}, {{name: extsec, file: /run/secrets/ext}}]\n    \
         configs: [{{name: extcfg, file: /etc/app.conf}}]\n\
         secrets:\n  filesec: {{file: ./filesec.txt}}\n  envsec: {{env: BOOTSEC_ENV_VALUE}}\n  extsec: {{external: true, name: {EXT_SECRET}}}\n\
         configs:\n  extcfg: {{external: true, name: {EXT_CONFIG}}}\n\
         providers:\n  gce: {{project: {PROJECT}, zone: {ZONE}, machine_type: e2-standard-2}}\n"
    )
}

fn b64(s: &str) -> String {
    bridge_translators::swarm::base64(s.as_bytes())
}

/// The stand-in VM (support/standin.rs): a scratch directory for its `/run/bridge/secrets` (a
/// tmpfs, as the script mounts it) and `/etc/bridge/configs`, its docker network, its container.
/// Removed on drop.
struct Vm(StandinVm);

impl Vm {
    fn new(tag: &str) -> Vm {
        let pid = std::process::id();
        let mut vm = StandinVm::new(
            &format!("boot-{tag}-{pid}"),
            &format!("bootsec-{tag}-{pid}"),
            &format!("{APP}-app"),
        );
        vm.unmount_on_drop(vm.dir.join("run-bridge-secrets"));
        Vm(vm)
    }

    fn container(&self) -> &str {
        &self.0.container
    }

    fn secrets(&self) -> PathBuf {
        self.0.dir.join("run-bridge-secrets")
    }

    /// The script with the VM's two host directories under the scratch directory and its
    /// docker network this VM's (the only changes).
    fn local(&self, script: &str) -> String {
        let t = script
            .replace("/run/bridge/secrets", &self.secrets().display().to_string())
            .replace(
                "/etc/bridge/configs",
                &self.0.dir.join("etc-bridge-configs").display().to_string(),
            )
            .replace(
                &format!("--network {APP}-net"),
                &format!("--network {}", self.0.net),
            );
        assert_ne!(t, script);
        t
    }

    /// Run the boot script as systemd runs `bridge-setup.service` (stdin /dev/null), with the
    /// test server as the VM's metadata server and Secret Manager; (exit code, output).
    fn setup(&self, server: &Server, instance: &str, script: &str) -> (Option<i32>, String) {
        let f = self.0.dir.join("setup.sh");
        std::fs::write(&f, self.local(script)).unwrap_or_else(|e| panic!("{e}"));
        let o = Command::new("sh")
            .arg(&f)
            .env(
                "GCE_METADATA_HOST",
                format!("127.0.0.1:{}/_vm/{ZONE}/{instance}", server.port),
            )
            .env("BRIDGE_GCE_SECRETS_ENDPOINT", server.endpoints().secrets)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run the setup script: {e}"));
        (o.status.code(), peers::text(&o))
    }

    /// Start the container with its rendered script (in the foreground, as its unit does) and
    /// wait until it runs.
    fn start(&mut self, script: &str) {
        let _ = docker(&["rm", "-f", self.container()]);
        let local = self.local(script);
        self.0.spawn("app", &local, &[]);
        self.0.wait_running("app", &local);
    }

    fn read(&self, path: &str) -> String {
        let (ok, out) = docker(&["exec", self.container(), "cat", path]);
        assert!(ok, "cat {path} in the container: {out}");
        out
    }
}

/// Store an external secret (or config) in the test server's Secret Manager as an operator
/// would: create it, add its first version.
fn store_external(server: &Server, token: &str, id: &str, value: &str) {
    let base = format!("/secretmanager/v1/projects/{PROJECT}/secrets");
    let (st, v) = server.request(
        "POST",
        &format!("{base}?secretId={id}"),
        Some(token),
        Some(&serde_json::json!({"replication": {"automatic": {}}})),
    );
    assert_eq!(st, 200, "create {id}: {v}");
    let (st, v) = server.request(
        "POST",
        &format!("{base}/{id}:addVersion"),
        Some(token),
        Some(&serde_json::json!({"payload": {"data": b64(value)}})),
    );
    assert_eq!(st, 200, "addVersion {id}: {v}");
}

/// No value, nor its base64, in `text`.
fn no_value(what: &str, text: &str) {
    for v in [FILE_VALUE, ENV_VALUE, EXT_SECRET_VALUE, EXT_CONFIG_VALUE] {
        for form in [v.to_string(), b64(v), v.trim_end().to_string()] {
            assert!(!text.contains(&form), "a secret value is in {what}");
        }
    }
}

#[test]
fn gce_vm_fetches_file_env_and_external_secrets_at_boot_and_fails_without_one() {
    let server = Server::start("boot-secrets", 3600.0);
    // The server's Secret Manager is strict: a payload that is not base64 and a method it has
    // not are refused, as the real API refuses them.
    let token = server.token();
    store_external(&server, &token, EXT_SECRET, EXT_SECRET_VALUE);
    store_external(&server, &token, EXT_CONFIG, EXT_CONFIG_VALUE);
    let base = format!("/secretmanager/v1/projects/{PROJECT}/secrets");
    let (st, v) = server.request(
        "POST",
        &format!("{base}/{EXT_SECRET}:addVersion"),
        Some(&token),
        Some(&serde_json::json!({"payload": {"data": "not base64!"}})),
    );
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
    let (st, v) = server.request(
        "GET",
        &format!("{base}/{EXT_SECRET}/versions/latest:fetch"),
        Some(&token),
        None,
    );
    assert_eq!(st, 404, "{v}");
    let (st, _) = server.request(
        "GET",
        &format!("{base}/{EXT_SECRET}/versions/latest:access"),
        None,
        None,
    );
    assert_eq!(st, 401, "access without a token");

    std::fs::write(server.dir.join("filesec.txt"), FILE_VALUE).unwrap_or_else(|e| panic!("{e}"));
    let f = server.write_app(APP, &app_yaml());
    let started = Instant::now();
    let o = server
        .on_app(&["deploy", "--yes", "--wait"], &f)
        .env("BOOTSEC_ENV_VALUE", ENV_VALUE)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bridge: {e}"));
    let deploy_out = peers::text(&o);
    assert_eq!(o.status.code(), Some(0), "{deploy_out}");
    eprintln!("deployed in {:?}", started.elapsed());
    let dump = server.control("dump");
    let insts: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(dump["resources"][&format!("{ZONE}/instances")].clone())
            .unwrap_or_default();
    assert_eq!(insts.len(), 1, "{:?}", insts.keys());
    let (instance, inst) = insts
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap_or_default();
    let ud = support::gce::metadata_value(&inst, "user-data").unwrap_or_default();
    let files = peers::cloud_config_files(&ud);
    let setup = files
        .get("/etc/bridge/setup.sh")
        .unwrap_or_else(|| panic!("no setup script in {:?}", files.keys()))
        .clone();
    let app_sh = files
        .get("/etc/bridge/app.sh")
        .unwrap_or_else(|| panic!("no container script in {:?}", files.keys()))
        .clone();
    // The container's unit requires the setup: a failed fetch keeps the container from starting.
    assert!(
        files.iter().any(|(p, c)| p
            .starts_with(&format!("/etc/systemd/system/{APP}-app.service.d/"))
            && c.contains("Requires=bridge-setup.service")),
        "no drop-in requiring the setup: {:?}",
        files.keys()
    );
    for id in [
        format!("{APP}-filesec"),
        format!("{APP}-envsec"),
        EXT_SECRET.into(),
        EXT_CONFIG.into(),
    ] {
        assert!(
            setup.contains(&format!("fetch {id}\n")),
            "{id} not fetched:\n{setup}"
        );
    }
    // The driver stored the two values, base64, as Secret Manager keeps them.
    let secrets = &dump["resources"]["global/secrets"];
    for (id, v) in [
        (format!("{APP}-filesec"), FILE_VALUE),
        (format!("{APP}-envsec"), ENV_VALUE),
    ] {
        assert_eq!(
            secrets[&id]["_versions"][0]["_data"].as_str(),
            Some(b64(v).as_str()),
            "{id} in the server's Secret Manager"
        );
    }
    // No value in the script, the instance (every field the server stored), the state, the output.
    no_value("the user data", &ud);
    no_value("the instance", &inst.to_string());
    let state = std::fs::read(server.dir.join("state.db")).unwrap_or_else(|e| panic!("state: {e}"));
    no_value("bridge's state", &String::from_utf8_lossy(&state));
    no_value("bridge's deploy output", &deploy_out);

    // Boot: the setup, then the container, as systemd orders them.
    let accessed = server.stat("secret_access");
    let mut vm = Vm::new("ok");
    let (code, out) = vm.setup(&server, &instance, &setup);
    assert_eq!(code, Some(0), "the setup script failed: {out}");
    no_value("the setup script's output", &out);
    assert_eq!(
        server.stat("secret_access") - accessed,
        4,
        "four versions accessed"
    );
    assert!(
        server.stat("vm_tokens_issued") >= 1,
        "no token from the VM's metadata server"
    );
    vm.start(&app_sh);
    assert_eq!(vm.read("/run/secrets/filesec"), FILE_VALUE);
    assert_eq!(vm.read("/run/secrets/ext"), EXT_SECRET_VALUE);
    assert_eq!(vm.read("/etc/app.conf"), EXT_CONFIG_VALUE);
    let (ok, env) = docker(&[
        "exec",
        vm.container(),
        "sh",
        "-c",
        "printf %s \"$BOOT_TOKEN\"",
    ]);
    assert!(ok, "{env}");
    assert_eq!(env, ENV_VALUE);
    // In memory only, 0400 (configs 0444).
    for (path, mode) in [
        ("/run/secrets/filesec", "-r-------- "),
        ("/etc/app.conf", "-r--r--r-- "),
    ] {
        let (ok, ls) = docker(&["exec", vm.container(), "ls", "-ln", path]);
        assert!(ok && ls.starts_with(mode), "{path}: {ls}");
    }
    let fs = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(vm.secrets())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(String::from_utf8_lossy(&fs.stdout).trim(), "tmpfs");
    let plan = server
        .on_app(&["plan", "--detailed-exitcode"], &f)
        .env("BOOTSEC_ENV_VALUE", ENV_VALUE)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.status.code(), Some(0), "{}", peers::text(&plan));
    no_value("bridge's plan output", &peers::text(&plan));
    drop(vm);

    // A missing external secret: the boot script stops, saying which, and writes none of it.
    let (st, v) = server.request(
        "DELETE",
        &format!("{base}/{EXT_SECRET}"),
        Some(&token),
        None,
    );
    assert_eq!(st, 200, "{v}");
    let vm = Vm::new("missing");
    let (code, out) = vm.setup(&server, &instance, &setup);
    assert_ne!(
        code,
        Some(0),
        "the setup succeeded without {EXT_SECRET}: {out}"
    );
    assert!(
        out.contains(&format!("bridge: cannot read secret {EXT_SECRET}")),
        "the failure does not name the secret: {out}"
    );
    assert!(out.contains("404"), "{out}");
    assert!(!vm.secrets().join("extsec").exists());
    no_value("the failed setup's output", &out);
    eprintln!("the boot without {EXT_SECRET}: {out}");
    drop(vm);

    let o = server
        .on_app(&["destroy"], &f)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(0), "{}", peers::text(&o));
    let after = server.control("dump");
    let left = &after["resources"]["global/secrets"];
    assert!(left.get(format!("{APP}-filesec")).is_none(), "{left}");
    assert!(
        left.get(EXT_CONFIG).is_some(),
        "the external config was deleted: {left}"
    );
}
