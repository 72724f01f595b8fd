//! Issue 12 (Build 4, files): a relative bind mount of a project file (`./conf/app.conf:/etc/app.conf:ro`)
//! ships the file's content on every target, and what ships is read back from the real peer:
//! - Swarm: `bridge deploy` on the machine's Docker Engine (single-node swarm) makes a config per
//!   file; the config is read back from the engine and the file from inside the running task
//!   (`docker exec cat`); a changed file rolls the service onto a new config; destroy removes it.
//! - GCE and OpenStack: the rendered cloud-config passes Debian's `cloud-init schema`; its
//!   `write_files` are written as cloud-init would and the generated container script is run
//!   against the real Docker Engine, then the file is read inside the container.
//! - ECS: the task definition passes botocore's model (tests/validators/ecs_validate.py); the init
//!   container's own entrypoint and command are run on the real Docker Engine into a host
//!   directory and the file is read from it; a config with inline `content` ships the same way.
//! - Limits and missing files: the error per target names the file, the service and the limit.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bridge_core::model::ProviderKind;
use bridge_core::{LoadOptions, ValidApp, load_file};
use bridge_translators::{Fidelity, Translation, for_provider};
use support::engine::{TEST_IMAGE, call, ensure_swarm, ensure_test_image};
use support::peers;

const CONF: &str = "listen 8080\nname \"it's $HOME\"\n";

fn workdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-files-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("conf")).unwrap_or_else(|e| panic!("{e}"));
    d
}

fn write(p: &Path, bytes: &[u8]) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    }
    std::fs::write(p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

fn compose(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let f = dir.join("compose.yaml");
    write(
        &f,
        format!(
            "name: {name}\nservices:\n  app:\n    image: {TEST_IMAGE}\n    command: [sleep, '600']\n    volumes:\n      - ./conf/app.conf:/etc/app.conf:ro\n{extra}"
        )
        .as_bytes(),
    );
    f
}

fn load(f: &Path) -> ValidApp {
    let l = load_file(
        f,
        &LoadOptions {
            env: Some(Default::default()),
            ..LoadOptions::default()
        },
    );
    l.valid
        .unwrap_or_else(|| panic!("{}: {:?}", f.display(), l.diagnostics))
}

fn translate(kind: ProviderKind, app: &ValidApp) -> Translation {
    for_provider(kind)
        .unwrap_or_else(|| panic!("no translator for {kind:?}"))
        .translate(app)
}

fn ledger(t: &Translation, field: &str) -> Fidelity {
    t.ledger
        .iter()
        .find(|e| e.field == field)
        .unwrap_or_else(|| panic!("no ledger line for {field}"))
        .fidelity
}

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"));
    (out.status.success(), text(&out))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn bridge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bridge"))
        .env_remove("DOCKER_HOST")
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

fn enc(filter: &str) -> String {
    filter.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// The engine's configs labelled for `app`: name to decoded content.
fn engine_configs(app: &str) -> BTreeMap<String, String> {
    let f = enc(&format!("{{\"label\":[\"bridge.app={app}\"]}}"));
    let mut out = BTreeMap::new();
    for c in call("GET", &format!("/configs?filters={f}"), None)
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let name = c["Spec"]["Name"].as_str().unwrap_or_default().to_string();
        let data = c["Spec"]["Data"].as_str().unwrap_or_default();
        let out_b = Command::new("base64")
            .arg("-d")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut ch| {
                use std::io::Write;
                ch.stdin.take().map(|mut i| i.write_all(data.as_bytes()));
                ch.wait_with_output()
            })
            .unwrap_or_else(|e| panic!("base64: {e}"));
        out.insert(name, String::from_utf8_lossy(&out_b.stdout).into_owned());
    }
    out
}

/// `cat` of `path` in the running task container of service `svc`, once it holds `want`.
fn cat_in_task(svc: &str, path: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let (_, ids) = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={svc}"),
        ]);
        for id in ids.lines().filter(|l| !l.trim().is_empty()) {
            let (ok, out) = docker(&["exec", id.trim(), "cat", path]);
            if ok && out == want {
                return out;
            }
            last = out;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("no task of {svc} holds {path} = {want:?}; last read {last:?}")
}

#[test]
fn swarm_ships_the_file_as_a_config_rolls_on_change_and_destroy_removes_it() {
    ensure_swarm();
    ensure_test_image();
    let app = "it-files-sw";
    let dir = workdir("swarm");
    let f = compose(&dir, app, "");
    write(&dir.join("conf/app.conf"), CONF.as_bytes());
    let t = translate(ProviderKind::Swarm, &load(&f));
    assert_eq!(ledger(&t, "services.app.volumes[0]"), Fidelity::Mapped);

    let o = bridge(
        &dir,
        &["deploy", "-f", "compose.yaml", "--wait", "--timeout", "90s"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let cfgs = engine_configs(app);
    assert_eq!(cfgs.len(), 1, "{cfgs:?}");
    let (first, content) = cfgs
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap_or_default();
    assert!(first.starts_with(&format!("{app}_file_")), "{first}");
    assert_eq!(content, CONF);
    assert_eq!(
        cat_in_task(&format!("{app}_app"), "/etc/app.conf", CONF),
        CONF
    );

    // A changed file is a new config; the service rolls onto it and the old one goes.
    let changed = "listen 9090\n";
    write(&dir.join("conf/app.conf"), changed.as_bytes());
    let o = bridge(
        &dir,
        &["deploy", "-f", "compose.yaml", "--wait", "--timeout", "90s"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        cat_in_task(&format!("{app}_app"), "/etc/app.conf", changed),
        changed
    );
    let cfgs = engine_configs(app);
    assert!(
        !cfgs.contains_key(&first),
        "the old config is left: {cfgs:?}"
    );
    assert_eq!(cfgs.values().cloned().collect::<Vec<_>>(), [changed]);

    let o = bridge(&dir, &["destroy", "-f", "compose.yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !engine_configs(app).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(engine_configs(app).is_empty(), "destroy left configs");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The cloud-config's `write_files` as JSON, read by PyYAML (cloud-init's own reader).
fn write_files(cloud_config: &str, dir: &Path) -> Vec<serde_json::Value> {
    let cc = dir.join("user-data.yaml");
    write(&cc, cloud_config.as_bytes());
    let v = Command::new("cloud-init")
        .args(["schema", "-c"])
        .arg(&cc)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run Debian's cloud-init (apt-get install cloud-init): {e}")
        });
    assert!(v.status.success(), "cloud-init schema: {}", text(&v));
    let out = Command::new(peers::python())
        .arg("-c")
        .arg("import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))['write_files']))")
        .arg(&cc)
        .output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"))
}

/// Write the shipped files where cloud-init would (they are under /var/lib/bridge/files/<app>),
/// run the container script against the real engine and read the file inside the container.
fn run_on_engine(app: &str, items: &[serde_json::Value], want: &[(&str, &[u8])]) {
    let root = PathBuf::from(format!("/var/lib/bridge/files/{app}"));
    let _ = std::fs::remove_dir_all(&root);
    let mut script = None;
    for it in items {
        let path = it["path"].as_str().unwrap_or_default();
        let content = it["content"].as_str().unwrap_or_default();
        if path.starts_with(&format!("{}/", root.display())) {
            let bytes = if it["encoding"] == "b64" {
                let o = Command::new("sh")
                    .arg("-c")
                    .arg("printf %s \"$1\" | base64 -d")
                    .arg("sh")
                    .arg(content)
                    .output()
                    .unwrap_or_else(|e| panic!("{e}"));
                o.stdout
            } else {
                content.as_bytes().to_vec()
            };
            write(Path::new(path), &bytes);
        } else if path == "/etc/bridge/app.sh" {
            script = Some(content.to_string());
        }
    }
    let script = script.unwrap_or_else(|| panic!("no container script in {items:?}"));
    let net = format!("{app}-net");
    let container = format!("{app}-app");
    let _ = docker(&["rm", "-f", &container]);
    let _ = docker(&["network", "create", &net]);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("sh: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut results = Vec::new();
    while Instant::now() < deadline {
        results.clear();
        for (p, bytes) in want {
            let o = Command::new("docker")
                .args(["exec", &container, "cat", p])
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            results.push(o.status.success() && o.stdout == *bytes);
        }
        if results.iter().all(|r| *r) {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = docker(&["rm", "-f", &container]);
    let _ = child.kill();
    let _ = child.wait();
    let _ = docker(&["network", "rm", &net]);
    let _ = std::fs::remove_dir_all(&root);
    assert!(
        results.iter().all(|r| *r),
        "files inside the container: {results:?} for {want:?}"
    );
}

const BINARY: &[u8] = &[0, 159, 146, 150, 255, 1, 2];

fn vm_app(tag: &str, name: &str) -> ValidApp {
    app_with(tag, name, "")
}

/// [`vm_app`] with `extra` after the service's volumes (more service keys, then top-level ones).
fn app_with(tag: &str, name: &str, extra: &str) -> ValidApp {
    let dir = workdir(tag);
    write(&dir.join("conf/app.conf"), CONF.as_bytes());
    write(&dir.join("site/index.html"), b"<h1>hi</h1>\n");
    write(&dir.join("site/img/logo.bin"), BINARY);
    let f = compose(&dir, name, &format!("      - ./site:/srv/site\n{extra}"));
    load(&f)
}

/// The inline config the ECS test ships beside the project files.
const SITE_CONF: &str = "listen 8000\n";

#[test]
fn gce_writes_the_files_with_cloud_init_and_the_container_reads_them() {
    ensure_test_image();
    let app = vm_app("gce", "it-files-gce");
    let t = translate(ProviderKind::Gce, &app);
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    assert_eq!(
        ledger(&t, "services.app.volumes[0]"),
        Fidelity::Approximated
    );
    let inst = t
        .artifacts
        .iter()
        .find(|a| a.path.starts_with("gce/instances/"))
        .unwrap_or_else(|| panic!("no instance"));
    let body: serde_json::Value =
        serde_json::from_str(&inst.content).unwrap_or_else(|e| panic!("{e}"));
    let ud = body["metadata"]["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["key"] == "user-data"))
        .and_then(|i| i["value"].as_str())
        .unwrap_or_else(|| panic!("no user-data"));
    let dir = workdir("gce-cc");
    let items = write_files(ud, &dir);
    assert!(
        items.iter().any(|i| i["encoding"] == "b64"),
        "the binary file is not base64"
    );
    run_on_engine(
        "it-files-gce",
        &items,
        &[
            ("/etc/app.conf", CONF.as_bytes()),
            ("/srv/site/index.html", b"<h1>hi</h1>\n"),
            ("/srv/site/img/logo.bin", BINARY),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn openstack_writes_the_files_with_cloud_init_and_the_container_reads_them() {
    ensure_test_image();
    let app = vm_app("heat", "it-files-os");
    let t = translate(ProviderKind::Openstack, &app);
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    assert_eq!(
        ledger(&t, "services.app.volumes[1]"),
        Fidelity::Approximated
    );
    let dir = workdir("heat-cc");
    let tpl = dir.join("template.yaml");
    write(&tpl, t.artifacts[0].content.as_bytes());
    // Heat's own YAML reader gives the server's user_data as Nova receives it.
    let script = r#"
import sys, yaml
from heat.common import template_format
t = yaml.load(open(sys.argv[1]).read(), Loader=template_format.yaml_loader)
server = [r for r in t['resources'].values() if r['type'] == 'OS::Nova::Server'][0]
ud = server['properties']['user_data']
if isinstance(ud, dict):
    ud = ud['str_replace_strict']['template']
sys.stdout.write(ud)
"#;
    let out = Command::new(peers::python())
        .arg("-c")
        .arg(script)
        .arg(&tpl)
        .output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    assert!(out.status.success(), "{}", text(&out));
    let items = write_files(&String::from_utf8_lossy(&out.stdout), &dir);
    run_on_engine(
        "it-files-os",
        &items,
        &[
            ("/etc/app.conf", CONF.as_bytes()),
            ("/srv/site/img/logo.bin", BINARY),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ecs_init_container_writes_the_files_that_the_consumer_binds() {
    ensure_test_image();
    let app = app_with(
        "ecs",
        "it-files-ecs",
        &format!(
            "    configs: [{{source: site_conf, target: /etc/app/site.conf}}]\nconfigs:\n  site_conf:\n    content: {SITE_CONF:?}\n"
        ),
    );
    let t = translate(ProviderKind::Aws, &app);
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    assert_eq!(
        ledger(&t, "services.app.volumes[0]"),
        Fidelity::Approximated
    );
    assert_eq!(
        ledger(&t, "services.app.configs[0]"),
        Fidelity::Approximated
    );
    let td = t
        .artifacts
        .iter()
        .find(|a| a.path.starts_with("aws/task-definitions/"))
        .unwrap_or_else(|| panic!("no task definition: {:?}", t.artifacts));
    let dir = workdir("ecs-td");
    let f = dir.join("td.json");
    write(&f, td.content.as_bytes());
    let v = Command::new(peers::python())
        .arg(peers::root().join("tests/validators/ecs_validate.py"))
        .args(["--shape", "RegisterTaskDefinitionRequest"])
        .arg(&f)
        .output()
        .unwrap_or_else(|e| panic!("ecs_validate: {e}"));
    assert!(
        v.status.success(),
        "botocore's model refuses the task definition: {}",
        text(&v)
    );

    let body: serde_json::Value =
        serde_json::from_str(&td.content).unwrap_or_else(|e| panic!("{e}"));
    let defs = body["containerDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let init = defs
        .iter()
        .find(|c| c["name"] == "bridge-files")
        .unwrap_or_else(|| panic!("no init container: {defs:?}"));
    assert_eq!(init["essential"], false);
    let consumer = defs
        .iter()
        .find(|c| c["name"] == "app")
        .unwrap_or_else(|| panic!("no app"));
    assert_eq!(
        consumer["dependsOn"],
        serde_json::json!([{"containerName": "bridge-files", "condition": "COMPLETE"}])
    );
    // Run the init container as the ECS agent would: its entrypoint, command, environment and
    // its host volume (here a scratch directory standing in for the instance's /var/lib/bridge/files).
    let host = dir.join("instance-files");
    std::fs::create_dir_all(&host).unwrap_or_else(|e| panic!("{e}"));
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "-v".into(),
        format!("{}:/bridge-files", host.display()),
    ];
    for e in init["environment"].as_array().cloned().unwrap_or_default() {
        args.extend([
            "-e".into(),
            format!(
                "{}={}",
                e["name"].as_str().unwrap_or_default(),
                e["value"].as_str().unwrap_or_default()
            ),
        ]);
    }
    let ep: Vec<String> = init["entryPoint"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect();
    args.extend(["--entrypoint".into(), ep[0].clone(), TEST_IMAGE.into()]);
    args.extend(ep[1..].iter().cloned());
    for c in init["command"].as_array().cloned().unwrap_or_default() {
        args.push(c.as_str().unwrap_or_default().to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = docker(&argv);
    assert!(ok, "the init container failed: {out}");
    // The consumer binds each host path from its task volumes: read what the path holds.
    let vols: BTreeMap<String, String> = body["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default().to_string(),
                v["host"]["sourcePath"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let mut seen = 0;
    for mp in consumer["mountPoints"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let src = &vols[mp["sourceVolume"].as_str().unwrap_or_default()];
        let rel = src
            .strip_prefix("/var/lib/bridge/files/")
            .unwrap_or_else(|| panic!("{src} is not under the files root"));
        let on_host = host.join(rel);
        match mp["containerPath"].as_str() {
            Some("/etc/app.conf") => {
                assert_eq!(std::fs::read(&on_host).unwrap_or_default(), CONF.as_bytes());
                assert_eq!(mp["readOnly"], true);
                seen += 1;
            }
            Some("/etc/app/site.conf") => {
                assert_eq!(
                    std::fs::read(&on_host).unwrap_or_default(),
                    SITE_CONF.as_bytes()
                );
                assert_eq!(mp["readOnly"], true);
                seen += 1;
            }
            Some("/srv/site") => {
                assert_eq!(
                    std::fs::read(on_host.join("img/logo.bin")).unwrap_or_default(),
                    BINARY
                );
                assert_eq!(
                    std::fs::read(on_host.join("index.html")).unwrap_or_default(),
                    b"<h1>hi</h1>\n"
                );
                seen += 1;
            }
            other => panic!("unexpected mount {other:?}"),
        }
    }
    assert_eq!(seen, 3);
    // Files written as root in the container: remove them with the engine's help.
    let _ = docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/x", dir.display()),
        TEST_IMAGE,
        "rm",
        "-rf",
        "/x/instance-files",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_file_is_an_error_at_the_volume_entry_on_every_target() {
    let dir = workdir("missing");
    let f = compose(&dir, "it-files-missing", "");
    let app = load(&f);
    for kind in [
        ProviderKind::Swarm,
        ProviderKind::Gce,
        ProviderKind::Openstack,
        ProviderKind::Aws,
    ] {
        let t = translate(kind, &app);
        let d = t
            .diagnostics
            .iter()
            .find(|d| d.code == "E072")
            .unwrap_or_else(|| panic!("{kind:?}: no E072 in {:?}", t.diagnostics));
        assert!(d.is_error());
        assert_eq!(d.path, "services.app.volumes[0]");
        assert!(d.message.contains("./conf/app.conf"), "{}", d.message);
        assert!(
            d.file
                .as_deref()
                .is_some_and(|f| f.ends_with("compose.yaml")),
            "{d:?}"
        );
        let sp = d.span.unwrap_or_else(|| panic!("{kind:?}: no position"));
        assert_eq!(sp.line, 7, "{kind:?}: {d:?}");
        assert!(d.hint.is_some());
        assert_eq!(
            ledger(&t, "services.app.volumes[0]"),
            Fidelity::Dropped,
            "{kind:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_over_a_target_limit_is_an_error_naming_file_service_and_limit() {
    let dir = workdir("limits");
    let f = compose(&dir, "it-files-big", "");
    // Printable and incompressible enough: the size counts as written.
    let big: Vec<u8> = (0..600 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    write(&dir.join("conf/app.conf"), &big);
    let app = load(&f);
    for (kind, limit) in [
        (ProviderKind::Swarm, "512000"),
        (ProviderKind::Gce, "524288"),
        (ProviderKind::Openstack, "65535"),
        (ProviderKind::Aws, "65536"),
    ] {
        let t = translate(kind, &app);
        let d = t
            .diagnostics
            .iter()
            .find(|d| d.code == "E073")
            .unwrap_or_else(|| panic!("{kind:?}: no E073 in {:?}", t.diagnostics));
        assert!(d.is_error());
        assert_eq!(d.path, "services.app.volumes[0]", "{kind:?}");
        assert!(
            d.message.contains("./conf/app.conf"),
            "{kind:?}: {}",
            d.message
        );
        assert!(d.message.contains("`app`"), "{kind:?}: {}", d.message);
        assert!(d.message.contains(limit), "{kind:?}: {}", d.message);
        assert!(d.span.is_some() && d.hint.is_some(), "{kind:?}: {d:?}");
    }
    // Under every limit: no error anywhere.
    write(&dir.join("conf/app.conf"), b"small\n");
    let app = load(&f);
    for kind in [
        ProviderKind::Swarm,
        ProviderKind::Gce,
        ProviderKind::Openstack,
        ProviderKind::Aws,
    ] {
        let t = translate(kind, &app);
        assert!(!t.diagnostics.has_errors(), "{kind:?}: {:?}", t.diagnostics);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
