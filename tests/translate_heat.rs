//! The Heat translator over every example, the compose corpus and the kitchen sink: every template
//! is checked by the real Heat engine (`tests/validators/heat_validate.py`, offline, in ONE batch
//! call), and the ledger must name every field the apps set.
//!
//! Python comes from `BRIDGE_PYTHON` or `$HOME/.cache/bridge-venv/bin/python`
//! (`tests/run-peers-setup.sh` creates it); the validators from `BRIDGE_VALIDATORS` or
//! `<repo>/tests/validators`. A missing python or validator fails the test.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use bridge_core::{LoadOptions, ValidApp, load_file};
use bridge_translators::heat::{Heat, HeatOptions};
use bridge_translators::{Fidelity, Translation, Translator};

#[path = "support/peers.rs"]
mod peers;
use peers::{load, python, root, validators, yaml_files};

fn kitchen_sink() -> ValidApp {
    let path = root().join("tests/fixtures/kitchen-sink/heat.yaml");
    let opts = LoadOptions {
        env: Some(HashMap::new()),
        ..LoadOptions::default()
    };
    let loaded = load_file(&path, &opts);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert!(errors.is_empty(), "kitchen sink:\n{}", errors.join("\n"));
    loaded
        .valid
        .unwrap_or_else(|| panic!("the kitchen sink does not validate"))
}

/// Every input: examples, the corpus files that import, and the kitchen sink.
fn inputs() -> Vec<(String, ValidApp)> {
    let mut out = Vec::new();
    let mut examples = Vec::new();
    for dir in std::fs::read_dir(root().join("examples")).unwrap_or_else(|e| panic!("{e}")) {
        let dir = dir.unwrap_or_else(|e| panic!("{e}")).path();
        for name in ["bridge.yaml", "compose.yaml"] {
            if dir.join(name).exists() {
                examples.push(dir.join(name));
            }
        }
    }
    examples.sort();
    assert!(examples.len() >= 8);
    for f in examples {
        let app = load(&f).unwrap_or_else(|| panic!("{} does not validate", f.display()));
        out.push((f.display().to_string(), app));
    }
    let corpus = peers::corpus();
    assert!(corpus.is_dir(), "no corpus at {}", corpus.display());
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    files.sort();
    let mut imported = 0;
    for f in files {
        if let Some(app) = load(&f) {
            imported += 1;
            out.push((f.display().to_string(), app));
        }
    }
    assert!(imported > 50, "only {imported} corpus files imported");
    out.push(("kitchen-sink".into(), kitchen_sink()));
    out
}

/// Fields of a translation that are errors of the app on this target (not translator bugs).
const APP_ERRORS: &[&str] = &["T400", "T401", "T402"];

#[test]
fn every_template_passes_heat_validation() {
    let py = python();
    let script = validators().join("heat_validate.py");
    assert!(
        py.exists(),
        "python missing at {} (run tests/run-peers-setup.sh or set BRIDGE_PYTHON)",
        py.display()
    );
    assert!(
        script.exists(),
        "validator missing at {} (set BRIDGE_VALIDATORS)",
        script.display()
    );
    let dir = std::env::temp_dir().join(format!("bridge-heat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut templates = Vec::new();
    let mut skipped = Vec::new();
    let mut variants: Vec<(String, ValidApp, HeatOptions)> = inputs()
        .into_iter()
        .map(|(n, a)| (n, a, HeatOptions::default()))
        .collect();
    let sink = kitchen_sink();
    variants.push((
        "kitchen-sink neutron off".into(),
        sink.clone(),
        HeatOptions {
            neutron: false,
            ..HeatOptions::default()
        },
    ));
    let mut zun = sink.clone().into_app();
    if let Some(o) = zun.providers.openstack.as_mut() {
        o.containers = bridge_core::model::OpenstackContainers::Zun;
    }
    let zun = bridge_core::validate::validate(zun, &bridge_core::validate::NoLocation)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .0;
    variants.push(("kitchen-sink zun".into(), zun, HeatOptions::default()));
    for (i, (name, app, opts)) in variants.iter().enumerate() {
        let t = Heat {
            options: opts.clone(),
        }
        .translate(app);
        let errors: Vec<String> = t
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        if !errors.is_empty() {
            assert!(
                t.diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .all(|d| APP_ERRORS.contains(&d.code)
                        || d.code.starts_with('P')
                        || !d.code.starts_with('T')),
                "{name}: translator errors:\n{}",
                errors.join("\n")
            );
            assert!(
                !name.contains("examples") && !name.starts_with("kitchen-sink"),
                "{name}: errors:\n{}",
                errors.join("\n")
            );
            skipped.push(format!("{name}: {}", errors.join("; ")));
            continue;
        }
        ledger_names_every_service(name, app, &t);
        for a in &t.artifacts {
            let p = dir.join(format!("{i:03}")).join(&a.path);
            std::fs::create_dir_all(p.parent().unwrap_or(&dir)).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&p, &a.content).unwrap_or_else(|e| panic!("{e}"));
            if !a.path.ends_with("parameters.example.yaml") {
                templates.push(p);
            }
        }
    }
    assert!(templates.len() > 60, "only {} templates", templates.len());
    let out = Command::new(&py)
        .arg(&script)
        .arg("--fill-required")
        .args(&templates)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "heat_validate.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    eprintln!(
        "{} templates valid; {} apps not translatable on openstack:\n{}",
        templates.len(),
        skipped.len(),
        skipped.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn ledger_names_every_service(name: &str, app: &ValidApp, t: &Translation) {
    let fields: BTreeSet<&str> = t.ledger.iter().map(|e| e.field.as_str()).collect();
    for (s, svc) in &app.app().services {
        if svc
            .provider
            .is_some_and(|p| p != bridge_core::model::ProviderKind::Openstack)
        {
            continue;
        }
        let f = format!("services.{s}.image");
        assert!(
            fields.contains(f.as_str()),
            "{name}: no ledger entry for {f}"
        );
    }
}

#[test]
fn the_ledger_names_every_field_of_the_kitchen_sink() {
    let app = kitchen_sink();
    for (mode, opts, zun) in [
        ("docker", HeatOptions::default(), false),
        (
            "neutron off",
            HeatOptions {
                neutron: false,
                ..HeatOptions::default()
            },
            false,
        ),
        ("zun", HeatOptions::default(), true),
    ] {
        let app = if zun {
            let mut a = app.clone().into_app();
            if let Some(o) = a.providers.openstack.as_mut() {
                o.containers = bridge_core::model::OpenstackContainers::Zun;
            }
            bridge_core::validate::validate(a, &bridge_core::validate::NoLocation)
                .unwrap_or_else(|d| panic!("{d:?}"))
                .0
        } else {
            app.clone()
        };
        let t = Heat { options: opts }.translate(&app);
        let fields: BTreeSet<&str> = t.ledger.iter().map(|e| e.field.as_str()).collect();
        let mut missing = Vec::new();
        for f in SINK_FIELDS {
            if zun && ZUN_NOT_PER_FIELD.contains(f) {
                continue;
            }
            if !fields.contains(f) {
                missing.push(*f);
            }
        }
        assert!(
            missing.is_empty(),
            "{mode}: no ledger entry for {missing:?}"
        );
        // Every dropped field is also a warning with a hint.
        for e in t.ledger.iter().filter(|e| e.fidelity == Fidelity::Dropped) {
            assert!(
                !e.reason.is_empty(),
                "{mode}: {} dropped without a reason",
                e.field
            );
            assert!(
                t.diagnostics
                    .iter()
                    .any(|d| e.field.starts_with(&d.path) && d.hint.is_some()),
                "{mode}: {} dropped without a warning",
                e.field
            );
        }
    }
}

/// Fields the zun mode reports as a whole (`secrets[i]`, `configs[i]`) rather than per sub-field.
const ZUN_NOT_PER_FIELD: &[&str] = &[
    "services.web.secrets[1].file",
    "services.web.secrets[1].name",
    "services.web.secrets[1].mode",
    "services.web.configs[0]",
    "services.web.depends_on",
    "services.web.env",
];

/// Every field the kitchen sink sets, as ledger paths.
const SINK_FIELDS: &[&str] = &[
    "name",
    "services.web.image",
    "services.web.command",
    "services.web.entrypoint",
    "services.web.env",
    "services.web.secrets[0].env",
    "services.web.secrets[0].name",
    "services.web.secrets[1].file",
    "services.web.secrets[1].name",
    "services.web.secrets[1].mode",
    "services.web.configs[0]",
    "services.web.ports[0]",
    "services.web.ports[1]",
    "services.web.expose",
    "services.web.volumes[0]",
    "services.web.volumes[1]",
    "services.web.volumes[2]",
    "services.web.depends_on",
    "services.web.links",
    "services.web.resources.cpus",
    "services.web.resources.memory",
    "services.web.resources.reserve_cpus",
    "services.web.resources.reserve_memory",
    "services.web.resources.pids",
    "services.web.resources.gpus",
    "services.web.health",
    "services.web.restart",
    "services.web.restart_max_attempts",
    "services.web.restart_delay",
    "services.web.restart_window",
    "services.web.update",
    "services.web.rollback",
    "services.web.group",
    "services.web.placement.spread",
    "services.web.placement.constraints",
    "services.web.placement.max_per_host",
    "services.web.provider",
    "services.web.labels",
    "services.web.networks",
    "services.web.aliases",
    "services.web.user",
    "services.web.working_dir",
    "services.web.hostname",
    "services.web.domainname",
    "services.web.stop_signal",
    "services.web.stop_grace_period",
    "services.web.init",
    "services.web.read_only",
    "services.web.privileged",
    "services.web.tty",
    "services.web.stdin_open",
    "services.web.cap_add",
    "services.web.cap_drop",
    "services.web.group_add",
    "services.web.dns",
    "services.web.dns_search",
    "services.web.dns_opt",
    "services.web.extra_hosts",
    "services.web.sysctls",
    "services.web.ulimits",
    "services.web.shm_size",
    "services.web.devices",
    "services.web.logging",
    "services.web.platform",
    "services.web.pull_policy",
    "services.cache.image",
    "services.cache.group",
    "services.cache.health",
    "services.api.image",
    "services.api.mode",
    "services.api.ports[0]",
    "vms.db",
    "vms.db.image",
    "vms.db.cpus",
    "vms.db.memory",
    "vms.db.disk",
    "vms.db.ports[0]",
    "vms.db.ports[1]",
    "vms.db.user_data",
    "vms.db.provider",
    "vms.db.placement.spread",
    "vms.db.placement.constraints",
    "vms.db.placement.max_per_host",
    "vms.db.labels",
    "volumes.cache.size",
    "volumes.cache.driver",
    "volumes.cache.driver_opts",
    "volumes.cache.labels",
    "volumes.cache.name",
    "volumes.shared.external",
    "volumes.shared.name",
    "secrets.db_password.env",
    "secrets.tls_key.file",
    "secrets.vendor_token.external",
    "secrets.vendor_token.name",
    "configs.site.content",
    "configs.nginx.file",
    "configs.motd.env",
    "configs.legacy.external",
    "configs.legacy.name",
    "networks.frontend",
    "networks.frontend.internal",
    "networks.frontend.driver",
    "networks.frontend.driver_opts",
    "networks.frontend.labels",
    "networks.frontend.name",
    "networks.outside",
    "networks.outside.external",
    "groups.front",
    "groups.front.placement.spread",
    "groups.front.placement.constraints",
    "groups.front.placement.max_per_host",
    "providers.openstack.cloud",
    "providers.openstack.region",
    "providers.openstack.flavor",
    "providers.openstack.network",
    "providers.openstack.key_name",
    "providers.openstack.images.ubuntu-24.04",
    "providers.openstack.images.container-host",
];

/// `yes` and `1.10` reach the container as those strings when Heat's own YAML 1.1 reader reads
/// the template (a zun environment, and the docker script inside the cloud-config, read as
/// cloud-init reads it).
#[test]
fn yes_and_1_10_reach_the_container_as_strings() {
    let py = python();
    assert!(py.exists(), "python missing at {}", py.display());
    let dir = std::env::temp_dir().join(format!("bridge-heat-yes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut paths = Vec::new();
    for (mode, extra) in [
        ("docker", ""),
        ("zun", "providers:\n  openstack: {containers: zun}\n"),
    ] {
        let f = dir.join(format!("{mode}.bridge.yaml"));
        std::fs::write(
            &f,
            format!("bridge: v1\nname: yes-{mode}\nservices:\n  api:\n    image: a\n    env: {{FLAG: \"yes\", VERSION_PIN: \"1.10\", OFF: \"off\", NUL: \"~\"}}\n{extra}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let app = load(&f).unwrap_or_else(|| panic!("invalid {mode} app"));
        let t = Heat::default().translate(&app);
        let out = dir.join(format!("{mode}.yaml"));
        std::fs::write(&out, &t.artifacts[0].content).unwrap_or_else(|e| panic!("{e}"));
        paths.push(out);
    }
    let script = r#"
import sys, yaml
from heat.common import template_format
docker = yaml.load(open(sys.argv[1]).read(), Loader=template_format.yaml_loader)
server = [r for r in docker['resources'].values() if r['type'] == 'OS::Nova::Server'][0]
cc = yaml.safe_load(server['properties']['user_data'])
run = [f['content'] for f in cc['write_files'] if f['path'] == '/etc/bridge/api.sh'][0]
zun = yaml.load(open(sys.argv[2]).read(), Loader=template_format.yaml_loader)
env = zun['resources']['container_api']['properties']['environment']
print(repr(env['FLAG']), repr(env['VERSION_PIN']), repr(env['OFF']), repr(env['NUL']))
print('FLAG=yes' in run, 'VERSION_PIN=1.10' in run, 'OFF=off' in run, "NUL='~'" in run or 'NUL=~' in run)
"#;
    let out = Command::new(&py)
        .arg("-c")
        .arg(script)
        .args(&paths)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout, "'yes' '1.10' 'off' '~'\nTrue True True True\n",
        "as heat and cloud-init read them"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A secret value with quotes, newlines, `#`, `: `, a backslash, non-ASCII text and something
/// that looks like a placeholder reaches the server's file byte for byte: the template is
/// resolved the way Heat resolves it (`get_param`, `list_join` JSON-encoding a map item,
/// `str_replace_strict`), then read as cloud-init reads it.
#[test]
fn a_hostile_secret_value_is_data_in_the_cloud_config() {
    let py = python();
    assert!(py.exists(), "python missing at {}", py.display());
    let dir = std::env::temp_dir().join(format!("bridge-heat-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let f = dir.join("bridge.yaml");
    std::fs::write(
        &f,
        "bridge: v1\nname: s\nservices:\n  api:\n    image: a\n    secrets: [{name: pw, env: PW}, key]\nsecrets:\n  pw: {env: X}\n  key: {file: ./k}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let app = load(&f).unwrap_or_else(|| panic!("invalid app"));
    let t = Heat::default().translate(&app);
    let out = dir.join("s.yaml");
    std::fs::write(&out, &t.artifacts[0].content).unwrap_or_else(|e| panic!("{e}"));
    let script = r#"
import sys, json, yaml
from heat.common import template_format
tpl = yaml.load(open(sys.argv[1]).read(), Loader=template_format.yaml_loader)
values = {'secret_pw': 'a"b\'c\n# d: e\\f é BRIDGE0_1Z\n- x', 'secret_key': '-----BEGIN KEY-----\nline: two\n-----END KEY-----\n'}
def resolve(v):
    if isinstance(v, dict) and len(v) == 1:
        (k, a), = v.items()
        if k == 'get_param':
            return values[a]
        if k == 'list_join':
            d, items = a[0], resolve(a[1])
            return d.join(i if isinstance(i, str) else json.dumps(i, sort_keys=True) for i in items)
    if isinstance(v, dict):
        return {k: resolve(x) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve(x) for x in v]
    return v
server = [r for r in tpl['resources'].values() if r['type'] == 'OS::Nova::Server'][0]
sr = server['properties']['user_data']['str_replace_strict']
text = sr['template']
params = {k: resolve(v) for k, v in sr['params'].items()}
for k in sorted(params, key=len, reverse=True):
    assert k in text, k
    text = text.replace(k, params[k])
cc = yaml.safe_load(text)
files = {f['path']: f for f in cc['write_files']}
env = files['/var/lib/bridge/secrets/pw.env']
key = files['/var/lib/bridge/secrets/key']
assert env['content'] == 'PW=' + values['secret_pw'] + '\n', env
assert key['content'] == values['secret_key'], key
assert env['permissions'] == '0400' and key['permissions'] == '0444'
print('ok')
"#;
    let res = Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        res.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
