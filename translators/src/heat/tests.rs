//! Unit tests of the Heat translator: each mapping rule on a small app.

use std::path::Path;
use std::sync::Arc;

use bridge_core::{LoadOptions, ValidApp, load_str};
use serde_json::Value;

use super::*;
use crate::Fidelity;

fn valid(yaml: &str) -> ValidApp {
    let name: Arc<str> = "test.yaml".into();
    let opts = LoadOptions {
        env: Some(Default::default()),
        ..LoadOptions::default()
    };
    let loaded = load_str(&name, yaml, Path::new("."), &opts);
    match loaded.valid {
        Some(v) => v,
        None => panic!("invalid test app: {:?}", loaded.diagnostics),
    }
}

fn stack_with(yaml: &str, opts: &HeatOptions) -> (HeatStack, Translation) {
    let app = valid(yaml);
    let (stack, _, _) = build(&app, opts);
    let t = Heat {
        options: opts.clone(),
    }
    .translate(&app);
    (stack, t)
}

fn stack(yaml: &str) -> (HeatStack, Translation) {
    stack_with(yaml, &HeatOptions::default())
}

fn res<'a>(s: &'a HeatStack, name: &str) -> &'a Value {
    let r = &s.template["resources"][name];
    assert!(
        !r.is_null(),
        "no resource {name} in {}",
        serde_json::to_string_pretty(&s.template["resources"]).unwrap_or_default()
    );
    r
}

fn of_type<'a>(s: &'a HeatStack, ty: &str) -> Vec<(&'a String, &'a Value)> {
    s.template["resources"]
        .as_object()
        .map(|m| m.iter().filter(|(_, r)| r["type"] == ty).collect())
        .unwrap_or_default()
}

/// The first diagnostic with `code`, which there must be.
fn diag<'a>(t: &'a Translation, code: &str) -> &'a bridge_core::Diagnostic {
    t.diagnostics
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("no {code}: {:?}", t.diagnostics))
}

fn codes(t: &Translation) -> Vec<&'static str> {
    t.diagnostics.iter().map(|d| d.code).collect()
}

fn fidelity(t: &Translation, field: &str) -> Option<Fidelity> {
    t.ledger
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.fidelity)
}

/// The cloud-config text of a server or of a resource group's member.
fn user_data(r: &Value) -> String {
    let props = if r["type"] == "OS::Heat::ResourceGroup" {
        &r["properties"]["resource_def"]["properties"]
    } else {
        &r["properties"]
    };
    let ud = &props["user_data"];
    match ud.as_str() {
        Some(s) => s.to_string(),
        None => ud["str_replace_strict"]["template"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

#[test]
fn one_server_per_host_runs_its_containers() {
    let (s, t) = stack(
        "bridge: v1\nname: shop\nservices:\n  web:\n    image: nginx:1.27\n    resources: {cpus: 5, memory: 1GiB}\n  api:\n    image: ghcr.io/acme/api:1\n    resources: {cpus: 5, memory: 1GiB}\n",
    );
    let servers = of_type(&s, "OS::Nova::Server");
    assert_eq!(servers.len(), 2, "{:?}", s.template);
    assert_eq!(s.hosts.len(), 2);
    for (name, r) in &servers {
        let p = &r["properties"];
        assert_eq!(p["user_data_format"], "RAW");
        assert_eq!(p["image"]["get_param"], "container_host_image");
        assert_eq!(p["metadata"][TAG_APP], "shop");
        assert!(
            p["metadata"][TAG_COMPONENT]
                .as_str()
                .unwrap_or("")
                .starts_with("host/")
        );
        assert_eq!(
            p["metadata"][TAG_SPEC_HASH].as_str().map(str::len),
            Some(16)
        );
        let ud = user_data(r);
        assert!(ud.starts_with("#cloud-config\n"));
        assert!(ud.contains("docker.io"), "installs docker: {ud}");
        let runs_web = ud.contains("shop-web.service");
        let runs_api = ud.contains("shop-api.service");
        assert!(runs_web ^ runs_api, "{name} runs exactly one of them");
    }
    // Flavor: 5 cpus need m1.xlarge (8 vcpus), and two do not fit on one; the parameter
    // defaults to it.
    assert_eq!(
        s.template["parameters"]["flavor_m1_xlarge"]["default"],
        "m1.xlarge"
    );
    assert!(s.bound.as_deref().unwrap_or("").contains("lower bound"));
    assert!(t.artifacts.iter().any(|a| a.path == "openstack/shop.yaml"));
    assert_eq!(fidelity(&t, "services.web.image"), Some(Fidelity::Mapped));
}

#[test]
fn identical_hosts_of_a_replicated_service_are_one_resource_group() {
    let (s, t) = stack(
        "bridge: v1\nname: search\nservices:\n  query:\n    image: q:1\n    replicas: 3\n    resources: {cpus: 1, memory: 1GiB}\n    update: {parallelism: 2, delay: 10s}\n",
    );
    let groups = of_type(&s, "OS::Heat::ResourceGroup");
    assert_eq!(groups.len(), 1, "{}", s.template);
    let rg = groups[0].1;
    assert_eq!(rg["properties"]["count"], 3);
    let def = &rg["properties"]["resource_def"];
    assert_eq!(def["type"], "OS::Nova::Server");
    assert!(
        def["properties"]["name"]
            .as_str()
            .unwrap_or("")
            .contains("%index%")
    );
    assert_eq!(rg["update_policy"]["rolling_update"]["max_batch_size"], 2);
    assert_eq!(rg["update_policy"]["rolling_update"]["pause_time"], 10);
    assert!(of_type(&s, "OS::Nova::Server").is_empty());
    assert_eq!(s.hosts[0].count, 3);
    assert_eq!(
        fidelity(&t, "services.query.replicas"),
        Some(Fidelity::Mapped)
    );
}

#[test]
fn published_ports_become_security_group_rules_on_their_hosts() {
    let (s, t) = stack(
        "bridge: v1\nname: web\nservices:\n  web:\n    image: nginx\n    ports: [\"80:8080\", \"53:53/udp\", \"127.0.0.1:9000:9000\", \"7000\"]\n",
    );
    let sgs = of_type(&s, "OS::Neutron::SecurityGroup");
    assert_eq!(sgs.len(), 2, "internal + the host's ports");
    let (sg_name, sg) = sgs
        .iter()
        .find(|(n, _)| n.as_str() != "sg_internal")
        .copied()
        .unwrap_or_else(|| panic!("no port group"));
    let rules = sg["properties"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules.iter().any(|r| r["protocol"] == "tcp"
        && r["port_range_min"] == 80
        && r["port_range_max"] == 80
        && r["remote_ip_prefix"] == "0.0.0.0/0"));
    assert!(
        rules
            .iter()
            .any(|r| r["protocol"] == "udp" && r["port_range_min"] == 53)
    );
    let server = of_type(&s, "OS::Nova::Server")[0].1;
    let attached = server["properties"]["security_groups"].to_string();
    assert!(attached.contains(sg_name.as_str()) && attached.contains("sg_internal"));
    assert!(
        sg["properties"]["description"]
            .as_str()
            .unwrap_or("")
            .contains("bridge.spec-hash=")
    );
    // The unpublished port is reported, not silently left closed.
    assert!(codes(&t).contains(&"T407"));
    assert_eq!(
        fidelity(&t, "services.web.ports[3]"),
        Some(Fidelity::Approximated)
    );
    assert_eq!(
        fidelity(&t, "services.web.ports[0]"),
        Some(Fidelity::Mapped)
    );
}

#[test]
fn named_volume_is_a_cinder_volume_attached_to_its_server() {
    let (s, t) = stack(
        "bridge: v1\nname: notes\nservices:\n  db:\n    image: postgres:16\n    volumes: [\"pgdata:/var/lib/postgresql/data\"]\nvolumes:\n  pgdata: {size: 20GiB}\n",
    );
    let vol = res(&s, "volume_pgdata");
    assert_eq!(vol["type"], "OS::Cinder::Volume");
    assert_eq!(vol["properties"]["size"], 20);
    assert_eq!(
        vol["properties"]["metadata"][TAG_COMPONENT],
        "volume/pgdata"
    );
    let att = of_type(&s, "OS::Cinder::VolumeAttachment");
    assert_eq!(att.len(), 1);
    assert_eq!(
        att[0].1["properties"]["volume_id"]["get_resource"],
        "volume_pgdata"
    );
    let server = att[0].1["properties"]["instance_uuid"]["get_resource"]
        .as_str()
        .unwrap_or_default();
    let r = res(&s, server);
    let ud = user_data(r);
    assert!(ud.contains("mount-volume.sh"));
    assert!(ud.contains("/var/lib/bridge/volumes/pgdata"));
    // The volume id reaches the cloud-init through str_replace.
    let params = &r["properties"]["user_data"]["str_replace_strict"]["params"];
    assert!(
        params
            .to_string()
            .contains("\"get_resource\":\"volume_pgdata\"")
    );
    assert_eq!(fidelity(&t, "volumes.pgdata.size"), Some(Fidelity::Mapped));
    // Default size.
    let (s, _) = stack(
        "bridge: v1\nname: n\nservices:\n  db:\n    image: p\n    volumes: [\"d:/d\"]\nvolumes:\n  d: {}\n",
    );
    assert_eq!(res(&s, "volume_d")["properties"]["size"], 10);
}

#[test]
fn a_volume_on_several_servers_is_an_error() {
    let (_, t) = stack(
        "bridge: v1\nname: n\nservices:\n  db:\n    image: p\n    replicas: 2\n    volumes: [\"d:/d\"]\nvolumes:\n  d: {}\n",
    );
    let d = diag(&t, "T402");
    assert!(d.is_error());
    assert!(d.hint.is_some());
}

#[test]
fn secrets_are_hidden_parameters_and_never_values() {
    // The value would come from the deploying environment; the translator never reads it.
    let yaml = "bridge: v1\nname: api\nservices:\n  api:\n    image: a\n    env: {PLAIN: visible}\n    secrets:\n      - {name: db_password, env: DB_PASSWORD}\n      - api_key\nsecrets:\n  db_password: {env: API_DB_PASSWORD}\n  api_key: {file: ./api_key.txt}\n";
    let (s, t) = stack(yaml);
    for p in ["secret_db_password", "secret_api_key"] {
        let param = &s.template["parameters"][p];
        assert_eq!(param["hidden"], true, "{p}");
        assert_eq!(param["type"], "string");
        assert!(param.get("default").is_none(), "{p} has no default");
    }
    let server = of_type(&s, "OS::Nova::Server")[0].1;
    let ud = &server["properties"]["user_data"]["str_replace_strict"];
    let params = ud["params"].to_string();
    assert!(params.contains("{\"get_param\":\"secret_db_password\"}"));
    assert!(params.contains("DB_PASSWORD="));
    assert!(params.contains("/var/lib/bridge/secrets/db_password.env"));
    assert!(params.contains("/var/lib/bridge/secrets/api_key"));
    // Every placeholder stands as a whole write_files item in the template.
    let template = ud["template"].as_str().unwrap_or_default();
    for token in ud["params"]
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        assert!(
            template.contains(&format!("- {token}\n")),
            "{token} in\n{template}"
        );
    }
    // parameters.example.yaml names them without values.
    let ex = t
        .artifacts
        .iter()
        .find(|a| a.path == "openstack/parameters.example.yaml")
        .map(|a| a.content.clone())
        .unwrap_or_default();
    assert!(ex.contains("secret_db_password: \"\""), "{ex}");
    assert!(ex.contains("environment variable API_DB_PASSWORD"));
    assert_eq!(s.parameters.len(), 2);
    assert!(s.parameters.iter().all(|p| p.hidden));
}

#[test]
fn a_known_secret_value_never_reaches_any_artifact() {
    // A secret value set in the load environment must not leak into the output.
    let value = "s3cr3t-V4lue-never-rendered";
    let yaml = "bridge: v1\nname: api\nservices:\n  api:\n    image: a\n    secrets: [{name: pw, env: PW}]\nsecrets:\n  pw: {env: BRIDGE_TEST_PW}\n";
    let name: Arc<str> = "t.yaml".into();
    let opts = LoadOptions {
        env: Some([("BRIDGE_TEST_PW".to_string(), value.to_string())].into()),
        ..LoadOptions::default()
    };
    let app = load_str(&name, yaml, Path::new("."), &opts)
        .valid
        .unwrap_or_else(|| panic!("invalid"));
    let t = Heat::default().translate(&app);
    for a in &t.artifacts {
        assert!(!a.content.contains(value), "{} leaks the secret", a.path);
    }
}

#[test]
fn yes_and_1_10_stay_strings_through_yaml_and_cloud_init() {
    let (s, t) = stack(
        "bridge: v1\nname: api\nservices:\n  api:\n    image: a\n    env: {FLAG: \"yes\", VERSION_PIN: \"1.10\", ODD: \"a'b\\\"c $(rm -rf /)\"}\n",
    );
    let text = &t.artifacts[0].content;
    // Heat's YAML 1.1 reader must read the same strings back: check with a YAML 1.1-style
    // reading of the scalars that matter by parsing our own output.
    let back: Value = serde_saphyr::from_str(text).unwrap_or(Value::Null);
    assert_eq!(back, s.template, "the template reads back as written");
    let ud = user_data(of_type(&s, "OS::Nova::Server")[0].1);
    // The env values reach docker as those exact words (quoted for sh).
    assert!(ud.contains("FLAG=yes"), "{ud}");
    assert!(ud.contains("VERSION_PIN=1.10"));
    assert!(!text.contains(": yes\n") && !text.contains(": 1.10\n"));
}

#[test]
fn zun_mode_emits_containers() {
    let (s, t) = stack(
        "bridge: v1\nname: z\nservices:\n  web:\n    image: nginx\n    command: [nginx, -g, daemon off;]\n    env: {A: b}\n    ports: [\"80:80\"]\n    replicas: 2\n    resources: {cpus: 0.5, memory: 256MiB}\n    restart: on-failure\n    restart_max_attempts: 3\n    hostname: web1\n    working_dir: /srv\n    stop_signal: SIGQUIT\n    labels: {tier: front}\n    volumes: [\"data:/data\"]\n  db:\n    image: postgres\n    secrets: [{name: pw, env: PGPASSWORD}]\n    volumes: [\"pg:/var/lib/postgresql\"]\nvolumes:\n  pg: {size: 5GiB}\n  data: {}\nsecrets:\n  pw: {env: PW}\nproviders:\n  openstack: {containers: zun}\n",
    );
    assert!(of_type(&s, "OS::Nova::Server").is_empty());
    let web = res(&s, "container_web");
    assert_eq!(web["type"], "OS::Heat::ResourceGroup");
    assert_eq!(web["properties"]["count"], 2);
    let c = &web["properties"]["resource_def"]["properties"];
    assert_eq!(c["image"], "nginx");
    assert_eq!(c["command"], "nginx -g 'daemon off;'");
    assert_eq!(c["cpu"], 0.5);
    assert_eq!(c["memory"], 256);
    assert_eq!(c["restart_policy"], "on-failure:3");
    assert_eq!(c["hostname"], "web1");
    assert_eq!(c["workdir"], "/srv");
    assert_eq!(c["labels"]["tier"], "front");
    assert_eq!(c["labels"][TAG_COMPONENT], "service/web");
    assert!(
        c["security_groups"]
            .to_string()
            .contains("sg_container_web")
    );
    let db = &res(&s, "container_db")["properties"];
    assert_eq!(db["environment"]["PGPASSWORD"]["get_param"], "secret_pw");
    assert_eq!(db["mounts"][0]["volume_id"]["get_resource"], "volume_pg");
    assert_eq!(db["mounts"][0]["mount_path"], "/var/lib/postgresql");
    // A volume used by two replicas is an error; stop_signal is reported as dropped.
    assert!(codes(&t).contains(&"T402"));
    assert!(codes(&t).contains(&"T410"));
    assert_eq!(
        fidelity(&t, "services.web.stop_signal"),
        Some(Fidelity::Dropped)
    );
}

#[test]
fn neutron_off_emits_no_neutron_resources() {
    let opts = HeatOptions {
        neutron: false,
        ..HeatOptions::default()
    };
    let (s, t) = stack_with(
        "bridge: v1\nname: w\nservices:\n  web:\n    image: nginx\n    ports: [\"80:80\"]\nvms:\n  db:\n    image: u\n    cpus: 1\n    memory: 1GiB\n    ports: [\"5432:5432\"]\nproviders:\n  openstack: {images: {u: Ubuntu}}\n",
        &opts,
    );
    let text = &t.artifacts[0].content;
    assert!(!text.contains("OS::Neutron::"), "{text}");
    for (_, r) in of_type(&s, "OS::Nova::Server") {
        assert!(r["properties"].get("security_groups").is_none());
        assert_eq!(r["properties"]["networks"][0]["allocate_network"], "none");
    }
    let d = diag(&t, "T404");
    assert!(d.message.contains("security groups"));
    assert_eq!(
        fidelity(&t, "services.web.ports[0]"),
        Some(Fidelity::Approximated)
    );
    assert_eq!(
        fidelity(&t, "vms.db.ports[0]"),
        Some(Fidelity::Approximated)
    );
}

#[test]
fn vms_are_servers_with_image_flavor_disk_and_user_data() {
    let (s, t) = stack(
        "bridge: v1\nname: l\nvms:\n  db:\n    image: ubuntu-24.04\n    cpus: 2\n    memory: 3GiB\n    disk: 40GiB\n    ports: [\"5432:5432\"]\n    user_data: \"#cloud-config\\npackages: [postgresql]\\n\"\n    labels: {role: db}\nproviders:\n  openstack: {network: private, key_name: ops, images: {ubuntu-24.04: \"Ubuntu 24.04\"}}\n",
    );
    let vm = res(&s, "vm_db");
    assert_eq!(vm["type"], "OS::Nova::Server");
    let p = &vm["properties"];
    assert_eq!(
        s.template["parameters"]["vm_db_image"]["default"],
        "Ubuntu 24.04"
    );
    // 2 cpus and 3GiB: m1.medium (2 vcpus, 4096 MiB) is the smallest that holds it.
    assert_eq!(
        s.template["parameters"]["vm_db_flavor"]["default"],
        "m1.medium"
    );
    let bdm = &p["block_device_mapping_v2"][0];
    assert_eq!(bdm["volume_size"], 40);
    assert_eq!(bdm["boot_index"], 0);
    assert_eq!(bdm["image"]["get_param"], "vm_db_image");
    assert!(p.get("image").is_none());
    assert_eq!(p["user_data_format"], "RAW");
    assert!(p["user_data"].as_str().unwrap_or("").contains("postgresql"));
    assert_eq!(p["networks"][0]["network"]["get_param"], "network");
    assert_eq!(p["key_name"]["get_param"], "key_name");
    assert_eq!(p["metadata"]["role"], "db");
    assert_eq!(p["metadata"][TAG_COMPONENT], "vm/db");
    assert!(p["security_groups"].to_string().contains("sg_vm_db"));
    assert_eq!(fidelity(&t, "vms.db.memory"), Some(Fidelity::Approximated));
    // A missing image mapping is an error with a hint.
    let (_, t) = stack(
        "bridge: v1\nname: l\nvms:\n  db:\n    image: centos\n    cpus: 1\n    memory: 1GiB\n",
    );
    let d = diag(&t, "T400");
    assert!(d.is_error() && d.hint.as_deref().unwrap_or("").contains("images"));
}

#[test]
fn outputs_give_addresses_and_vm_references_are_wired() {
    let (s, t) = stack(
        "bridge: v1\nname: l\nservices:\n  api:\n    image: a\n    env: {DB_HOST: \"${vms.db.address}\", URL: \"http://${vms.db.address}:5432/x\", LIT: \"$${vms.db.address}\"}\nvms:\n  db:\n    image: u\n    cpus: 1\n    memory: 1GiB\nproviders:\n  openstack: {images: {u: U}}\n",
    );
    assert_eq!(
        s.template["outputs"]["vm_db_address"]["value"]["get_attr"],
        serde_json::json!(["vm_db", "first_address"])
    );
    let (host, server) = of_type(&s, "OS::Nova::Server")
        .into_iter()
        .find(|(n, _)| n.starts_with("host_"))
        .unwrap_or_else(|| panic!("no host"));
    assert!(s.template["outputs"][format!("{host}_address")].is_object());
    let ud = &server["properties"]["user_data"]["str_replace_strict"];
    let params = ud["params"].as_object().cloned().unwrap_or_default();
    let wired: Vec<_> = params
        .iter()
        .filter(|(_, v)| v["get_attr"] == serde_json::json!(["vm_db", "first_address"]))
        .collect();
    assert_eq!(wired.len(), 2, "{params:?}");
    let template = ud["template"].as_str().unwrap_or_default();
    assert!(
        template.contains("LIT=${vms.db.address}"),
        "the escaped reference is literal text"
    );
    assert!(!template.contains("DB_HOST=${vms"));
    assert!(
        t.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        t.diagnostics
    );
}

#[test]
fn a_vm_on_another_provider_is_a_parameter_for_the_driver() {
    let (s, _) = stack(
        "bridge: v1\nname: l\nservices:\n  api:\n    image: a\n    env: {DB_HOST: \"${vms.db.address}\"}\nvms:\n  db:\n    image: u\n    cpus: 1\n    memory: 1GiB\n    provider: aws\n",
    );
    assert!(s.template["resources"].get("vm_db").is_none());
    let p = s
        .parameters
        .iter()
        .find(|p| p.name == "vm_db_address")
        .unwrap_or_else(|| panic!("no address parameter"));
    assert!(!p.hidden);
    assert_eq!(p.source, ValueSource::Address("vms.db".into()));
}

#[test]
fn services_on_other_providers_are_skipped() {
    let (s, t) = stack(
        "bridge: v1\nname: h\nservices:\n  a:\n    image: a\n    provider: aws\n  b:\n    image: b\n",
    );
    let all = s.template.to_string();
    assert!(!all.contains("h-a.service"));
    assert!(all.contains("h-b.service"));
    assert!(fidelity(&t, "services.a.image").is_none());
}

#[test]
fn output_is_byte_stable() {
    let yaml = "bridge: v1\nname: s\nservices:\n  a:\n    image: a\n    replicas: 3\n  b:\n    image: b\n    ports: [\"80:80\"]\n    secrets: [x]\nsecrets:\n  x: {env: X}\n";
    let app = valid(yaml);
    let one = Heat::default().translate(&app).artifacts;
    let two = Heat::default().translate(&app).artifacts;
    assert_eq!(one, two);
}

#[test]
fn every_code_is_documented_once() {
    let mut seen = std::collections::BTreeSet::new();
    for (c, m) in CODES {
        assert!(c.starts_with("T4") && c.len() == 4, "{c}");
        assert!(!m.is_empty() && seen.insert(*c));
    }
}

#[test]
fn the_clouds_flavors_are_chosen_and_the_stock_list_says_so() {
    let app = "bridge: v1\nname: fl\nservices:\n  web:\n    image: nginx\n    resources: {cpus: 0.5, memory: 512MiB}\nvms:\n  db:\n    image: ubuntu\n    cpus: 1\n    memory: 1GiB\nproviders:\n  openstack: {images: {ubuntu: cirros}}\n";
    // The stock list: m1.small, with the warning that it is assumed.
    let (s, t) = stack(app);
    assert_eq!(
        s.template["parameters"]["vm_db_flavor"]["default"],
        "m1.small"
    );
    assert!(
        t.diagnostics
            .iter()
            .any(|d| d.code == "T416" && d.severity == bridge_core::Severity::Warning),
        "{:?}",
        t.diagnostics
    );
    // A cloud whose flavors are not the stock ones: the smallest that holds each is chosen.
    let cloud = HeatOptions {
        flavors: Some(vec![
            Flavor::new("m1.tiny", 1, 512).with_disk(1),
            Flavor::new("bridge.small2", 1, 1536).with_disk(5),
            Flavor::new("bridge.big", 4, 8192).with_disk(20),
        ]),
        ..HeatOptions::default()
    };
    let (s, t) = stack_with(app, &cloud);
    assert_eq!(
        s.template["parameters"]["vm_db_flavor"]["default"],
        "bridge.small2"
    );
    assert_eq!(
        s.template["parameters"]["flavor_bridge_small2"]["default"], "bridge.small2",
        "{}",
        s.template["parameters"]
    );
    assert!(!t.diagnostics.iter().any(|d| d.code == "T416"));
    // Nothing fits: the error names the vm and the largest flavor.
    let small = HeatOptions {
        flavors: Some(vec![Flavor::new("m1.tiny", 1, 512).with_disk(1)]),
        ..HeatOptions::default()
    };
    let (_, t) = stack_with(
        &app.replace(
            "resources: {cpus: 0.5, memory: 512MiB}",
            "resources: {cpus: 0.1, memory: 64MiB}",
        ),
        &small,
    );
    let e: Vec<String> = t
        .diagnostics
        .iter()
        .filter(|d| d.code == "T401")
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    assert_eq!(
        e,
        [
            "vms.db.cpus: vm `db`: no flavor has 1 cpus and 1024 MiB; the largest is m1.tiny (1 vcpus, 512 MiB)"
        ]
    );
}

/// A server naming a pool on another server: a group that fits one Nova metadata value (255
/// characters) is a `bridge-peer-*` key of the consumer's metadata (updated in place, the
/// ledger says followed); one of 16 servers is not, and stays a token in the user data.
#[test]
fn peer_addresses_go_to_server_metadata_when_they_fit_nova_s_limit() {
    let app = |n: u32| {
        format!(
            "bridge: v1\nname: peers\nservices:\n  api:\n    image: a:1\n    replicas: {n}\n    ports: ['80:80']\n    resources: {{cpus: 1.5, memory: 256MiB}}\n  web:\n    image: w:1\n    depends_on: [api]\n    resources: {{cpus: 1.5, memory: 256MiB}}\nproviders:\n  openstack: {{flavor: m1.medium}}\n"
        )
    };
    let web_server = |s: &HeatStack| {
        of_type(s, "OS::Nova::Server")
            .into_iter()
            .find(|(_, r)| user_data(r).contains("/etc/bridge/web.sh"))
            .map(|(n, r)| (n.clone(), r.clone()))
            .unwrap_or_else(|| panic!("no web server: {}", s.template))
    };
    let (s, t) = stack(&app(15));
    let (_, web) = web_server(&s);
    let meta = &web["properties"]["metadata"];
    let (key, v) = meta
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.starts_with(PEER_META_PREFIX)))
        .unwrap_or_else(|| panic!("no peer key: {meta}"));
    assert_eq!(v["list_join"][1]["get_attr"][1], "first_address", "{v}");
    let ud = user_data(&web);
    assert!(ud.contains(&format!(" api {key}\n")), "{ud}");
    assert!(ud.contains("/etc/bridge/peers-watch.sh"), "{ud}");
    assert!(web["properties"]["user_data"].is_string(), "no tokens left");
    let line = t.ledger.iter().find(|e| e.field == "services.api.name");
    assert!(
        line.is_some_and(|e| e.reason.contains("metadata in place")),
        "{line:?}"
    );

    let (s, t) = stack(&app(16));
    let (_, web) = web_server(&s);
    let meta = web["properties"]["metadata"].to_string();
    assert!(!meta.contains(PEER_META_PREFIX), "{meta}");
    assert!(
        web["properties"]["user_data"]["str_replace_strict"]["params"]
            .to_string()
            .contains("first_address"),
        "{web}"
    );
    assert!(!user_data(&web).contains("peers-watch.sh"));
    let line = t.ledger.iter().find(|e| e.field == "services.api.name");
    assert!(
        line.is_some_and(|e| e.reason.contains("read when each container starts")),
        "{line:?}"
    );
}

fn ledger_reason(t: &Translation, field: &str) -> String {
    t.ledger
        .iter()
        .find(|e| e.field == field)
        .map(|e| format!("{:?}: {}", e.fidelity, e.reason))
        .unwrap_or_else(|| panic!("no ledger line for {field}"))
}

/// The rolling update policy of the stack's one resource group.
fn rolling_update(s: &HeatStack) -> &Value {
    let groups = of_type(s, "OS::Heat::ResourceGroup");
    assert_eq!(groups.len(), 1, "{}", s.template);
    &groups[0].1["update_policy"]["rolling_update"]
}

#[test]
fn a_resource_group_without_an_update_policy_still_rolls_one_server_at_a_time() {
    let (s, t) = stack(
        "bridge: v1\nname: search\nservices:\n  query:\n    image: q:1\n    replicas: 3\n    resources: {cpus: 1, memory: 1GiB}\n",
    );
    let ru = rolling_update(&s);
    assert_eq!(ru["max_batch_size"], 1, "{}", s.template);
    assert_eq!(ru["min_in_service"], 2);
    assert!(ru.get("pause_time").is_none());
    assert!(!s.rollback);
    let line = ledger_reason(&t, "services.query.update");
    assert!(line.starts_with("Approximated"), "{line}");
    assert!(line.contains("replaces 1 server(s) at a time"), "{line}");
    assert!(line.contains("leaves the stack UPDATE_FAILED"), "{line}");
    assert!(!codes(&t).contains(&"T409"), "{:?}", codes(&t));
}

#[test]
fn parallelism_zero_replaces_every_member_of_the_group_at_once() {
    let (s, _) = stack(
        "bridge: v1\nname: search\nservices:\n  query:\n    image: q:1\n    replicas: 3\n    update: {parallelism: 0}\n",
    );
    let ru = rolling_update(&s);
    assert_eq!(ru["max_batch_size"], 3);
    assert_eq!(ru["min_in_service"], 0);
}

/// `api` with 3 replicas spread over 3 zones (so 3 separate servers, not a resource group) and
/// the given update policy; the servers' resource names in host order.
fn spread(update: &str) -> (HeatStack, Translation, Vec<String>) {
    let opts = HeatOptions {
        zones: vec!["az1".into(), "az2".into(), "az3".into()],
        ..HeatOptions::default()
    };
    let (s, t) = stack_with(
        &format!(
            "bridge: v1\nname: spread\nservices:\n  api:\n    image: a:1\n    replicas: 3\n    placement: {{spread: zone}}\n    update: {update}\n"
        ),
        &opts,
    );
    assert_eq!(of_type(&s, "OS::Nova::Server").len(), 3, "{}", s.template);
    let names: Vec<String> = s.hosts.iter().map(|h| h.resource.clone()).collect();
    assert_eq!(names.len(), 3);
    (s, t, names)
}

#[test]
fn separate_servers_of_a_service_are_chained_by_parallelism() {
    let (s, t, n) = spread("{delay: 5s}");
    // Each server waits for the one before it: one at a time.
    let deps: Vec<&Value> = n.iter().map(|r| &res(&s, r)["depends_on"]).collect();
    let want = [
        Value::Null,
        serde_json::json!([n[0]]),
        serde_json::json!([n[1]]),
    ];
    assert_eq!(deps, want.iter().collect::<Vec<_>>(), "{}", s.template);
    // A delay between separate servers has no heat form: a warning naming the field.
    let d = diag(&t, "T418");
    assert_eq!(d.path, "services.api.update.delay");
    let line = ledger_reason(&t, "services.api.update");
    assert!(line.contains("depends on the one 1 before it"), "{line}");
}

#[test]
fn separate_servers_with_parallelism_two_wait_two_back() {
    let (s, _, n) = spread("{parallelism: 2}");
    let deps: Vec<&Value> = n.iter().map(|r| &res(&s, r)["depends_on"]).collect();
    let want = [Value::Null, Value::Null, serde_json::json!([n[0]])];
    assert_eq!(deps, want.iter().collect::<Vec<_>>(), "{}", s.template);
}

#[test]
fn failure_action_rollback_enables_heats_rollback_and_the_rest_are_warnings() {
    let (s, t) = stack(
        "bridge: v1\nname: search\nservices:\n  query:\n    image: q:1\n    replicas: 2\n    update: {failure_action: rollback, delay: 3s}\n",
    );
    assert!(s.rollback);
    assert_eq!(rolling_update(&s)["pause_time"], 3);
    let line = ledger_reason(&t, "services.query.update");
    assert!(line.contains("rolls the whole stack back"), "{line}");
    assert!(line.contains("pausing update.delay"), "{line}");
    assert!(!codes(&t).contains(&"T409"), "{:?}", codes(&t));
    let (s, t) = stack(
        "bridge: v1\nname: search\nservices:\n  side:\n    image: s:1\n    update: {order: stop-first, failure_action: continue, monitor: 5s}\n    rollback: {parallelism: 1}\n",
    );
    assert!(!s.rollback);
    let side = ledger_reason(&t, "services.side.update");
    assert!(side.contains("not honoured: order stop-first"), "{side}");
    assert!(side.contains("failure_action continue"), "{side}");
    assert!(side.contains("monitor"), "{side}");
    assert_eq!(
        fidelity(&t, "services.side.rollback"),
        Some(Fidelity::Dropped)
    );
    let paths: Vec<&str> = t
        .diagnostics
        .iter()
        .filter(|d| d.code == "T409")
        .map(|d| d.path.as_str())
        .collect();
    assert!(paths.contains(&"services.side.update"), "{paths:?}");
    assert!(paths.contains(&"services.side.rollback"), "{paths:?}");
}

/// A wait condition waits once, when created: a server Heat replaces (its user data changed)
/// gets a new handle, named after that spec, so its wait condition is replaced and waits for
/// the new server; a resize (updated in place, nothing boots) keeps the handle.
#[test]
fn a_replaced_server_gets_a_new_health_handle_and_a_resize_keeps_it() {
    let app = |level: &str, flavor: &str| {
        format!(
            "bridge: v1\nname: shop\nservices:\n  db:\n    image: busybox:1\n    env: {{LEVEL: {level}}}\n    health: {{test: [CMD, 'true']}}\n    resources: {{memory: 512MiB}}\nproviders:\n  openstack: {{flavor: {flavor}}}\n"
        )
    };
    let handle = |s: &HeatStack| -> String {
        let h = of_type(s, "OS::Heat::WaitConditionHandle");
        assert_eq!(h.len(), 1, "{}", s.template);
        let name = h[0].0.clone();
        let w = res(s, "host_db_healthy");
        assert_eq!(w["properties"]["handle"]["get_resource"], name.as_str());
        // The server reads this handle's endpoint and token.
        let server = serde_json::to_string(res(s, "host_db")).unwrap_or_default();
        assert!(
            server.contains(&format!("[\"{name}\",\"endpoint\"]")),
            "{server}"
        );
        name
    };
    let (a, _) = stack(&app("one", "m1.small"));
    let (a2, _) = stack(&app("one", "m1.small"));
    let (b, _) = stack(&app("two", "m1.small"));
    let (c, _) = stack(&app("one", "m1.medium"));
    let (ha, hb, hc) = (handle(&a), handle(&b), handle(&c));
    assert!(ha.starts_with("host_db_health_") && ha.len() == "host_db_health_".len() + 8);
    assert_eq!(ha, handle(&a2), "not stable");
    assert_ne!(ha, hb, "a changed user data kept the handle");
    assert_ne!(
        res(&a, "host_db")["properties"]["flavor"],
        res(&c, "host_db")["properties"]["flavor"]
    );
    assert_eq!(ha, hc, "a resize renamed the handle");
    // The server's spec hash is over the server as rendered (with the handle's final name).
    let mut r = res(&a, "host_db").clone();
    let tag = r["properties"]["metadata"][TAG_SPEC_HASH].take();
    if let Some(m) = r["properties"]["metadata"].as_object_mut() {
        m.remove(TAG_SPEC_HASH);
    }
    assert_eq!(tag, bridge_core::hash::spec_hash(&r).as_str());
}

/// A health-checked service on identical servers: separate servers, not a resource group, each
/// depending on the wait condition of the one before it, so Heat replaces the next only once
/// the previous replacement signalled healthy; the ledger line says so, with its claim.
#[test]
fn identical_servers_of_a_health_checked_service_are_chained_on_their_wait_conditions() {
    let (s, t) = stack(
        "bridge: v1\nname: shop\nservices:\n  web:\n    image: busybox:1\n    replicas: 3\n    ports: ['8080:80']\n    health: {test: [CMD, 'true']}\n    resources: {memory: 1500MiB}\nproviders:\n  openstack: {flavor: m1.small}\n",
    );
    assert!(
        of_type(&s, "OS::Heat::ResourceGroup").is_empty(),
        "{}",
        s.template
    );
    let names: Vec<String> = s.hosts.iter().map(|h| h.resource.clone()).collect();
    assert_eq!(names, ["host_web_0", "host_web_1", "host_web_2"]);
    assert!(s.hosts.iter().all(|h| h.count == 1));
    for (i, n) in names.iter().enumerate() {
        let r = res(&s, n);
        assert_eq!(r["type"], "OS::Nova::Server");
        // Named as a group's members are.
        assert_eq!(r["properties"]["name"], format!("shop-web-{i}"));
        let w = res(&s, &format!("{n}_healthy"));
        assert_eq!(w["type"], "OS::Heat::WaitCondition");
        assert_eq!(w["properties"]["count"], 1);
        assert_eq!(w["depends_on"], serde_json::json!([n]));
        let want = if i == 0 {
            Value::Null
        } else {
            serde_json::json!([format!("host_web_{}_healthy", i - 1)])
        };
        assert_eq!(r["depends_on"], want, "{n}: {}", s.template);
    }
    assert_eq!(of_type(&s, "OS::Heat::WaitConditionHandle").len(), 3);
    // One port security group for the three (Neutron's default quota is 10 groups).
    let sgs: Vec<&String> = of_type(&s, "OS::Neutron::SecurityGroup")
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| *n != "sg_internal")
        .collect();
    assert_eq!(sgs, ["sg_host_web"], "{}", s.template);
    for n in &names {
        let groups = &res(&s, n)["properties"]["security_groups"];
        assert!(
            groups
                .as_array()
                .is_some_and(|a| a.contains(&serde_json::json!({"get_resource": "sg_host_web"}))),
            "{n}: {groups}"
        );
    }
    let line = ledger_reason(&t, "services.web.update");
    assert!(
        line.contains("waits for the one 1 before it to report healthy"),
        "{line}"
    );
    assert!(!line.contains("where no address reference"), "{line}");
    let e = t
        .ledger
        .iter()
        .find(|e| e.field == "services.web.update")
        .unwrap_or_else(|| panic!("no update line"));
    assert_eq!(e.claim, Some(crate::claims::Claim::GatesBatchesOnHealth));
    // Without a health check the same replicas stay one resource group.
    let (g, t) = stack(
        "bridge: v1\nname: shop\nservices:\n  web:\n    image: busybox:1\n    replicas: 3\n    resources: {memory: 1500MiB}\nproviders:\n  openstack: {flavor: m1.small}\n",
    );
    assert_eq!(rolling_update(&g)["max_batch_size"], 1);
    let e = t
        .ledger
        .iter()
        .find(|e| e.field == "services.web.update")
        .unwrap_or_else(|| panic!("no update line"));
    assert_eq!(e.claim, Some(crate::claims::Claim::ReplacesInBatches));
}

/// Separate servers (zones) of a health-checked service with parallelism 2: server 2 waits for
/// server 0's wait condition; a delay is still a warning, whose hint says why.
#[test]
fn separate_health_checked_servers_wait_for_the_wait_condition_parallelism_back() {
    let opts = HeatOptions {
        zones: vec!["az1".into(), "az2".into(), "az3".into()],
        ..HeatOptions::default()
    };
    let (s, t) = stack_with(
        "bridge: v1\nname: spread\nservices:\n  api:\n    image: a:1\n    replicas: 3\n    health: {test: [CMD, 'true']}\n    placement: {spread: zone}\n    update: {parallelism: 2, delay: 5s}\n",
        &opts,
    );
    let n: Vec<String> = s.hosts.iter().map(|h| h.resource.clone()).collect();
    assert_eq!(n.len(), 3, "{}", s.template);
    let deps: Vec<&Value> = n.iter().map(|r| &res(&s, r)["depends_on"]).collect();
    let want = [
        Value::Null,
        Value::Null,
        serde_json::json!([format!("{}_healthy", n[0])]),
    ];
    assert_eq!(deps, want.iter().collect::<Vec<_>>(), "{}", s.template);
    let d = diag(&t, "T418");
    assert_eq!(d.path, "services.api.update.delay");
    assert!(
        d.hint
            .as_deref()
            .unwrap_or_default()
            .contains("health signal"),
        "{d:?}"
    );
}
