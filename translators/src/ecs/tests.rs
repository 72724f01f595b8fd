//! Unit tests of the ECS mapping rules.

use std::path::Path;
use std::sync::Arc;

use bridge_core::{LoadOptions, ValidApp, load_str};
use serde_json::Value;

use super::*;

fn app(yaml: &str) -> ValidApp {
    let name: Arc<str> = "test.yaml".into();
    let opts = LoadOptions {
        env: Some(Default::default()),
        ..LoadOptions::default()
    };
    let l = load_str(&name, yaml, Path::new("."), &opts);
    match l.valid {
        Some(v) => v,
        None => panic!("invalid test app: {:?}", l.diagnostics),
    }
}

fn run(yaml: &str) -> (EcsApp, Vec<crate::LedgerEntry>, Diagnostics) {
    build(&app(yaml), &Options::default())
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn codes(d: &Diagnostics) -> Vec<&'static str> {
    d.iter().map(|x| x.code).collect()
}

fn has(d: &Diagnostics, code: &str, path: &str) -> bool {
    d.iter().any(|x| x.code == code && x.path == path)
}

fn fidelity(l: &[crate::LedgerEntry], field: &str) -> Option<crate::Fidelity> {
    l.iter().find(|e| e.field == field).map(|e| e.fidelity)
}

const FARGATE: &str =
    "providers:\n  aws: {region: us-east-1, launch_type: fargate, subnets: [subnet-1]}\n";

#[test]
fn fargate_size_table() {
    // (cpu units, MiB) asked -> chosen.
    let cases = [
        ((0, 0), Some((256, 512))),
        ((256, 512), Some((256, 512))),
        ((256, 513), Some((256, 1024))),
        ((256, 2048), Some((256, 2048))),
        ((256, 2049), Some((512, 3072))),
        ((257, 512), Some((512, 1024))),
        ((1024, 3000), Some((1024, 3072))),
        ((2048, 16000), Some((2048, 16384))),
        ((256, 17000), Some((4096, 17408))),
        ((4096, 30721), Some((8192, 32768))),
        ((8192, 16385), Some((8192, 20480))),
        ((16384, 122880), Some((16384, 122880))),
        ((16385, 1024), None),
        ((256, 122881), None),
    ];
    for ((c, m), want) in cases {
        assert_eq!(fargate_size(c, m), want, "asked {c} units, {m} MiB");
    }
    // Every answer is a valid pair that fits.
    for c in (0..=16384).step_by(128) {
        for m in (0..=122880).step_by(2048) {
            if let Some((tc, tm)) = fargate_size(c, m) {
                assert!(tc >= c && tm >= m);
                assert!(FARGATE_SIZES.iter().any(|&(fc, lo, hi, step)| fc == tc
                    && tm >= lo
                    && tm <= hi
                    && (tm - lo) % step == 0));
            }
        }
    }
}

#[test]
fn fargate_task_size_from_the_group_and_rounding_reported() {
    let (e, l, d) = run(&format!(
        "bridge: v1\nname: a\nservices:\n  web:\n    image: x\n    group: g\n    resources: {{cpus: 0.3, memory: 600MiB}}\n  side:\n    image: y\n    group: g\n    resources: {{cpus: 0.2, memory: 100MiB}}\ngroups: {{g: {{}}}}\n{FARGATE}"
    ));
    let td = &e.task_definitions[0].body;
    // 0.3 -> 308 units, 0.2 -> 205 units: 513 units, 700 MiB -> 1024 units / 2048 MiB.
    assert_eq!(td.cpu.as_deref(), Some("1024"));
    assert_eq!(td.memory.as_deref(), Some("2048"));
    assert_eq!(td.network_mode, "awsvpc");
    assert_eq!(
        fidelity(&l, "services.web.resources"),
        Some(crate::Fidelity::Approximated)
    );
    assert!(has(&d, "T222", "groups.g"));
}

#[test]
fn too_big_for_fargate_is_an_error() {
    let (_, _, d) = run(&format!(
        "bridge: v1\nname: a\nservices:\n  big:\n    image: x\n    resources: {{cpus: 17, memory: 8GiB}}\ngroups: {{g: {{}}}}\n{FARGATE}"
    ));
    assert!(has(&d, "T207", "services.big.resources"), "{:?}", codes(&d));
    assert!(d.has_errors());
    let (_, _, d) = run(&format!(
        "bridge: v1\nname: a\nservices:\n  a:\n    image: x\n    group: g\n    resources: {{cpus: 2, memory: 100GiB}}\n  b:\n    image: x\n    group: g\n    resources: {{cpus: 2, memory: 30GiB}}\ngroups: {{g: {{}}}}\n{FARGATE}"
    ));
    assert!(has(&d, "T207", "groups.g"), "{:?}", codes(&d));
}

#[test]
fn secret_arns_present_created_and_missing() {
    let yaml = "bridge: v1\nname: a\nservices:\n  api:\n    image: x\n    secrets:\n      - {name: pw, env: DB_PASSWORD}\n      - api_key\n      - ext\n      - token\nsecrets:\n  pw: {env: PW}\n  api_key: {file: ./k}\n  ext: {external: true}\n  token: {env: TOKEN}\n  unused: {file: ./u}\nproviders:\n  aws:\n    secrets:\n      pw: arn:aws:secretsmanager:us-east-1:123456789012:secret:pw\n      api_key: arn:aws:ssm:us-east-1:123456789012:parameter/key\n";
    let (e, l, d) = run(yaml);
    let c = &e.task_definitions[0].body.container_definitions[0];
    let s = json(&c.secrets);
    // `token` has a value and no ARN: the driver creates it; the task reads the late-bound ARN.
    assert_eq!(
        s,
        serde_json::json!([
            {"name": "API_KEY", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/key"},
            {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:pw"},
            {"name": "TOKEN", "valueFrom": "${secrets.token.arn}"},
        ])
    );
    // The file secret is an approximation with a warning; the external one without an ARN an
    // error with a hint.
    assert!(has(&d, "T201", "services.api.secrets[1]"));
    let missing: Vec<_> = d.iter().filter(|x| x.code == "T200").collect();
    assert_eq!(missing.len(), 1, "{:?}", codes(&d));
    assert_eq!(missing[0].path, "services.api.secrets[2]");
    assert!(missing[0].is_error());
    assert!(
        missing[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("providers.aws.secrets.ext"))
    );
    assert_eq!(
        fidelity(&l, "services.api.secrets[0].env"),
        Some(crate::Fidelity::Mapped)
    );
    assert_eq!(
        fidelity(&l, "services.api.secrets[1].name"),
        Some(crate::Fidelity::Approximated)
    );
    assert_eq!(
        fidelity(&l, "secrets.token.env"),
        Some(crate::Fidelity::Mapped)
    );
    assert_eq!(
        fidelity(&l, "secrets.unused.file"),
        Some(crate::Fidelity::Dropped)
    );
    // The driver learns where values come from and what to create; no value is anywhere.
    assert_eq!(e.secrets.len(), 3);
    assert_eq!(e.secrets[1].source, "env:PW");
    assert_eq!(e.secrets[1].create, None);
    assert_eq!(e.secrets[2].name, "token");
    assert_eq!(e.secrets[2].source, "env:TOKEN");
    assert_eq!(e.secrets[2].arn, "${secrets.token.arn}");
    assert_eq!(e.secrets[2].create.as_deref(), Some("a/token"));
    assert!(e.task_definitions[0].needs_execution_role);
    assert!(has(&d, "T225", "providers.aws.execution_role_arn"));
}

#[test]
fn links_in_bridge_mode() {
    let (e, l, d) = run(
        "bridge: v1\nname: a\nservices:\n  proxy:\n    image: nginx\n    group: g\n    links: ['app:backend', other]\n  app:\n    image: x\n    group: g\n  other:\n    image: y\ngroups: {g: {}}\n",
    );
    let td = e
        .task_definitions
        .iter()
        .find(|t| t.group == "g")
        .unwrap_or_else(|| panic!("no task for g"));
    assert_eq!(td.body.network_mode, "bridge");
    let proxy = td
        .body
        .container_definitions
        .iter()
        .find(|c| c.name == "proxy")
        .unwrap_or_else(|| panic!("no proxy"));
    assert_eq!(proxy.links, vec!["app:backend".to_string()]);
    assert_eq!(
        fidelity(&l, "services.proxy.links[0]"),
        Some(crate::Fidelity::Mapped)
    );
    // A link to another task cannot be a docker link.
    assert!(has(&d, "T211", "services.proxy.links[1]"));
    assert_eq!(
        fidelity(&l, "services.proxy.links[1]"),
        Some(crate::Fidelity::Dropped)
    );
    // Containers start in dependency order: app before proxy.
    let names: Vec<&str> = td
        .body
        .container_definitions
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["app", "proxy"]);
    // The service of g is created after the one it links to.
    let order: Vec<&str> = e.services.iter().map(|s| s.group.as_str()).collect();
    assert_eq!(order, ["other", "g"]);
}

#[test]
fn awsvpc_restrictions() {
    let (e, l, d) = run(&format!(
        "bridge: v1\nname: a\nservices:\n  web:\n    image: x\n    group: g\n    hostname: web\n    dns: [1.1.1.1]\n    dns_search: [corp]\n    extra_hosts: {{db: 10.0.0.5}}\n    links: [app]\n    privileged: true\n    ports: ['80:8000', '9000']\n  app:\n    image: y\n    group: g\ngroups: {{g: {{}}}}\n{FARGATE}"
    ));
    let c = &e.task_definitions[0].body.container_definitions;
    let web = c
        .iter()
        .find(|c| c.name == "web")
        .unwrap_or_else(|| panic!("no web"));
    let v = json(web);
    for k in [
        "hostname",
        "dnsServers",
        "dnsSearchDomains",
        "extraHosts",
        "links",
        "privileged",
    ] {
        assert!(v.get(k).is_none(), "{k} is set with awsvpc: {v}");
    }
    for f in ["hostname", "dns", "dns_search", "extra_hosts"] {
        assert!(
            has(&d, "T204", &format!("services.web.{f}")),
            "{f}: {:?}",
            codes(&d)
        );
        assert_eq!(
            fidelity(&l, &format!("services.web.{f}")),
            Some(crate::Fidelity::Dropped)
        );
    }
    assert!(has(&d, "T204", "services.web.links[0]"));
    assert!(has(&d, "T205", "services.web.privileged"));
    // hostPort is the container port; a different published port is reported.
    assert_eq!(
        json(&web.port_mappings),
        serde_json::json!([
            {"containerPort": 8000, "hostPort": 8000, "protocol": "tcp", "name": "web-8000-tcp"},
            {"containerPort": 9000, "hostPort": 9000, "protocol": "tcp", "name": "web-9000-tcp"},
        ])
    );
    assert!(has(&d, "T216", "services.web.ports[0]"));
    // awsvpc networking from the options.
    let svc = json(&e.services[0].body);
    assert_eq!(
        svc["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        serde_json::json!(["subnet-1"])
    );
    assert!(svc.get("placementStrategy").is_none());
}

#[test]
fn depends_on_conditions() {
    let (e, l, d) = run(
        "bridge: v1\nname: a\nservices:\n  web:\n    image: x\n    group: g\n    depends_on:\n      - {service: db, condition: healthy}\n      - {service: migrate, condition: completed_successfully}\n      - {service: log, condition: started}\n      - {service: init, condition: completed_successfully}\n      - other\n  db:\n    image: x\n    group: g\n    health: {test: 'pg_isready'}\n  migrate:\n    image: x\n    group: g\n    restart: never\n  log:\n    image: x\n    group: g\n  init:\n    image: x\n    group: g\n  other:\n    image: x\ngroups: {g: {}}\n",
    );
    let td = e
        .task_definitions
        .iter()
        .find(|t| t.group == "g")
        .unwrap_or_else(|| panic!("no g"));
    let c = |n: &str| {
        td.body
            .container_definitions
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("no {n}"))
    };
    assert_eq!(
        json(&c("web").depends_on),
        serde_json::json!([
            {"containerName": "db", "condition": "HEALTHY"},
            {"containerName": "migrate", "condition": "SUCCESS"},
            {"containerName": "log", "condition": "START"},
            {"containerName": "init", "condition": "SUCCESS"},
        ])
    );
    // `restart: never` is non-essential; `init` is waited on to complete, so it is made
    // non-essential with a warning.
    assert!(!c("migrate").essential);
    assert!(!c("init").essential);
    assert!(c("web").essential && c("db").essential);
    assert!(has(&d, "T221", "services.init.restart"));
    // The dependency on another task is approximated: the driver orders the services.
    assert_eq!(
        fidelity(&l, "services.web.depends_on[4]"),
        Some(crate::Fidelity::Approximated)
    );
    let g = e
        .services
        .iter()
        .find(|s| s.group == "g")
        .unwrap_or_else(|| panic!("no g service"));
    assert_eq!(g.after, vec!["other".to_string()]);
    // Inside one task the container's dependsOn HEALTHY gates; across tasks nothing is
    // health-gated by a plain dependency.
    assert!(g.healthy_after.is_empty());
}

#[test]
fn a_healthy_dependency_on_another_task_is_health_gated() {
    let (e, l, _) = run(
        "bridge: v1\nname: a\nservices:\n  api:\n    image: x\n    depends_on:\n      - {service: db, condition: healthy}\n      - cache\n  db:\n    image: x\n    health: {test: 'pg_isready'}\n  cache:\n    image: x\n",
    );
    let api = e
        .services
        .iter()
        .find(|s| s.group == "api")
        .unwrap_or_else(|| panic!("no api service"));
    assert_eq!(api.after, vec!["cache".to_string(), "db".to_string()]);
    assert_eq!(api.healthy_after, vec!["db".to_string()]);
    assert_eq!(
        fidelity(&l, "services.api.depends_on[0]"),
        Some(crate::Fidelity::Approximated)
    );
}

#[test]
fn one_shot_group_has_no_service() {
    let (e, _, _) = run(
        "bridge: v1\nname: a\nservices:\n  job:\n    image: x\n    restart: never\n  web:\n    image: y\n",
    );
    assert_eq!(e.task_definitions.len(), 2);
    let job = e
        .task_definitions
        .iter()
        .find(|t| t.group == "job")
        .unwrap_or_else(|| panic!("no job"));
    assert!(job.one_shot);
    // The lone container of a one-shot task stays essential: its exit ends the task.
    assert!(job.body.container_definitions[0].essential);
    let names: Vec<&str> = e.services.iter().map(|s| s.group.as_str()).collect();
    assert_eq!(names, ["web"]);
}

#[test]
fn health_check_clamping() {
    let (e, l, d) = run(
        "bridge: v1\nname: a\nservices:\n  web:\n    image: x\n    health: {test: [CMD, 'true'], interval: 1s, timeout: 200s, retries: 20, start_period: 10m, start_interval: 1s}\n  ok:\n    image: x\n    health: {test: [CMD, 'true'], interval: 30s, timeout: 1500ms, retries: 3, start_period: 0s}\n",
    );
    let hc = |n: &str| {
        let t = e
            .task_definitions
            .iter()
            .find(|t| t.group == n)
            .unwrap_or_else(|| panic!("no {n}"));
        json(&t.body.container_definitions[0].health_check)
    };
    assert_eq!(
        hc("web"),
        serde_json::json!({"command": ["CMD", "true"], "interval": 5, "timeout": 120, "retries": 10, "startPeriod": 300})
    );
    for f in ["interval", "timeout", "retries", "start_period"] {
        assert!(has(&d, "T208", &format!("services.web.health.{f}")), "{f}");
        assert_eq!(
            fidelity(&l, &format!("services.web.health.{f}")),
            Some(crate::Fidelity::Approximated)
        );
    }
    assert!(has(&d, "T215", "services.web.health.start_interval"));
    // 1500ms rounds up to 2s, inside the range: approximated, no warning.
    assert_eq!(
        hc("ok"),
        serde_json::json!({"command": ["CMD", "true"], "interval": 30, "timeout": 2, "retries": 3, "startPeriod": 0})
    );
    // (Its name is reported as not resolvable, T230: it has no port.)
    let health = |x: &&bridge_core::diag::Diagnostic| x.path.starts_with("services.ok.health");
    assert!(
        !d.iter().any(|x| health(&x)),
        "{:?}",
        d.iter().filter(health).collect::<Vec<_>>()
    );
    assert!(has(&d, "T230", "services.ok.name"));
    assert_eq!(
        fidelity(&l, "services.ok.health.timeout"),
        Some(crate::Fidelity::Approximated)
    );
    assert_eq!(
        fidelity(&l, "services.ok.health.interval"),
        Some(crate::Fidelity::Mapped)
    );
}

#[test]
fn placement_and_deployment() {
    let (e, l, d) = run(
        "bridge: v1\nname: a\nservices:\n  q:\n    image: x\n    replicas: 4\n    placement: {spread: host, constraints: ['node.labels.tier == search', 'node.labels.ssd != false', 'node.role == manager']}\n    update: {parallelism: 1, failure_action: rollback}\n  d:\n    image: x\n    mode: global\n",
    );
    let q = json(
        &e.services
            .iter()
            .find(|s| s.group == "q")
            .unwrap_or_else(|| panic!("no q"))
            .body,
    );
    assert_eq!(
        q["placementConstraints"],
        serde_json::json!([
            {"type": "memberOf", "expression": "attribute:tier == search"},
            {"type": "memberOf", "expression": "attribute:ssd != false"},
            {"type": "distinctInstance"},
        ])
    );
    assert_eq!(
        q["placementStrategy"],
        serde_json::json!([{"type": "spread", "field": "instanceId"}])
    );
    assert!(has(&d, "T214", "services.q.placement.constraints[2]"));
    // Stop-first (the default order), one of four at a time: 75% stay healthy.
    assert_eq!(
        q["deploymentConfiguration"],
        serde_json::json!({"deploymentCircuitBreaker": {"enable": true, "rollback": true}, "maximumPercent": 100, "minimumHealthyPercent": 75})
    );
    assert_eq!(q["desiredCount"], 4);
    let dd = json(
        &e.services
            .iter()
            .find(|s| s.group == "d")
            .unwrap_or_else(|| panic!("no d"))
            .body,
    );
    assert_eq!(dd["schedulingStrategy"], "DAEMON");
    assert!(dd.get("desiredCount").is_none());
    assert_eq!(
        fidelity(&l, "services.q.update.parallelism"),
        Some(crate::Fidelity::Approximated)
    );
    // The pool is sized with instance attributes the constraints need.
    let cap = e.capacity.unwrap_or_else(|| panic!("no capacity"));
    assert!(
        cap.pools
            .iter()
            .any(|p| p.attributes.get("tier").map(String::as_str) == Some("search"))
    );
    assert!(
        cap.instances >= 4,
        "spread host needs four instances: {cap:?}"
    );
}

#[test]
fn global_on_fargate_is_an_error() {
    let (_, _, d) = run(&format!(
        "bridge: v1\nname: a\nservices:\n  d:\n    image: x\n    mode: global\ngroups: {{g: {{}}}}\n{FARGATE}"
    ));
    assert!(has(&d, "T206", "services.d.mode"));
    assert!(d.has_errors());
}

#[test]
fn stop_signal_and_grace() {
    let (e, l, d) = run(
        "bridge: v1\nname: a\nservices:\n  w:\n    image: x\n    stop_signal: SIGQUIT\n    stop_grace_period: 5m\n",
    );
    assert!(has(&d, "T202", "services.w.stop_signal"));
    assert!(has(&d, "T209", "services.w.stop_grace_period"));
    assert_eq!(
        fidelity(&l, "services.w.stop_signal"),
        Some(crate::Fidelity::Dropped)
    );
    assert_eq!(
        e.task_definitions[0].body.container_definitions[0].stop_timeout,
        Some(120)
    );
}

#[test]
fn vms_need_an_ami_and_get_the_cheapest_fitting_type() {
    let (e, l, d) = run(
        "bridge: v1\nname: a\nvms:\n  db:\n    image: ubuntu\n    cpus: 3\n    memory: 5GiB\n    disk: 10GiB\n    user_data: 'echo ${vms.db2.address}'\n  db2:\n    image: debian\n    cpus: 1\n    memory: 1GiB\nproviders:\n  aws:\n    images: {ubuntu: ami-1}\n",
    );
    assert!(has(&d, "T212", "vms.db2.image"));
    assert_eq!(e.instances.len(), 1);
    let b = json(&e.instances[0].body);
    assert_eq!(b["InstanceType"], "t3.xlarge");
    assert_eq!(b["ImageId"], "ami-1");
    assert_eq!(b["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"], 10);
    assert_eq!(
        b["UserData"],
        crate::swarm::base64(b"echo ${vms.db2.address}")
    );
    assert_eq!(
        fidelity(&l, "vms.db.user_data"),
        Some(crate::Fidelity::Approximated)
    );
    assert_eq!(
        fidelity(&l, "vms.db.cpus"),
        Some(crate::Fidelity::Approximated)
    );
    assert!(e.capacity.is_none(), "no containers, no pool");
}

#[test]
fn hybrid_services_are_skipped() {
    let (e, l, _) = run(
        "bridge: v1\nname: a\nservices:\n  web:\n    image: x\n  other:\n    image: y\n    provider: gce\n",
    );
    assert_eq!(e.task_definitions.len(), 1);
    assert!(!l.iter().any(|x| x.field.starts_with("services.other")));
}

#[test]
fn tags_and_hash() {
    let yaml = "bridge: v1\nname: a\nservices:\n  web:\n    image: x:1\n";
    let (e1, _, _) = run(yaml);
    let (e2, _, _) = run(yaml);
    assert_eq!(artifacts(&e1), artifacts(&e2));
    let t = &e1.task_definitions[0].body.tags;
    assert_eq!(t[0].key, TAG_APP);
    assert_eq!(t[1].value, "task-definition/web");
    assert_eq!(t[2].key, TAG_SPEC_HASH);
    // The hash is over the body without it.
    let mut b = e1.task_definitions[0].body.clone();
    b.tags.pop();
    assert_eq!(t[2].value, bridge_core::hash::spec_hash(&b));
    let (e3, _, _) = run("bridge: v1\nname: a\nservices:\n  web:\n    image: x:2\n");
    assert_ne!(e3.task_definitions[0].body.tags[2].value, t[2].value);
    let paths: Vec<String> = artifacts(&e1).into_iter().map(|a| a.path).collect();
    assert_eq!(
        paths,
        [
            "aws/task-definitions/a-web.json",
            "aws/services/a-web.json",
            "aws/capacity.json"
        ]
    );
}

#[test]
fn volumes_by_launch_type() {
    let base = "bridge: v1\nname: a\nservices:\n  db:\n    image: x\n    volumes: ['data:/d', 'efs:/e', '/srv/x:/x', {type: tmpfs, target: /t, size: 8MiB}]\nvolumes:\n  data: {}\n  efs: {}\n";
    let (e, _, d) = run(&format!(
        "{base}providers:\n  aws:\n    efs: {{efs: fs-1}}\n"
    ));
    let td = json(&e.task_definitions[0].body);
    assert_eq!(
        td["volumes"][0]["dockerVolumeConfiguration"]["scope"],
        "shared"
    );
    assert_eq!(
        td["volumes"][1]["efsVolumeConfiguration"]["fileSystemId"],
        "fs-1"
    );
    assert_eq!(td["volumes"][2]["host"]["sourcePath"], "/srv/x");
    assert_eq!(
        td["containerDefinitions"][0]["linuxParameters"]["tmpfs"][0]["size"],
        8
    );
    assert!(has(&d, "T223", "services.db.volumes[0]"));
    let (e, _, d) = run(&format!(
        "{base}providers:\n  aws:\n    launch_type: fargate\n    efs: {{efs: fs-1}}\n"
    ));
    let td = json(&e.task_definitions[0].body);
    assert!(has(&d, "T210", "services.db.volumes[2]"));
    assert!(has(&d, "T205", "services.db.volumes[3]"));
    assert!(td["volumes"].as_array().is_some_and(|v| {
        v.iter()
            .all(|v| v.get("host").is_none() && v.get("dockerVolumeConfiguration").is_none())
    }));
}

#[test]
fn codes_are_in_range_and_used_ones_listed() {
    for (c, m) in CODES {
        let n: u32 = c[1..].parse().unwrap_or(0);
        assert!((200..300).contains(&n) && c.starts_with('T'), "{c}");
        assert!(!m.is_empty() && !m.ends_with('.'));
    }
    let src = [
        include_str!("mod.rs"),
        include_str!("task.rs"),
        include_str!("service.rs"),
        include_str!("ec2.rs"),
    ]
    .concat();
    for i in 200..300 {
        let code = format!("\"T{i}\"");
        if src.matches(&code).count() > 1 {
            assert!(
                CODES.iter().any(|(c, _)| format!("\"{c}\"") == code),
                "{code} is not listed"
            );
        }
    }
}

/// The Service Connect endpoints of a service body: (portName, discoveryName, port, dnsName).
fn endpoints(svc: &crate::ecs::EcsService) -> Vec<(String, String, u64, String)> {
    let b = json(&svc.body);
    b["serviceConnectConfiguration"]["services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let a = &e["clientAliases"];
            assert_eq!(
                a.as_array().map(Vec::len),
                Some(1),
                "one client alias per entry: {e}"
            );
            (
                e["portName"].as_str().unwrap_or_default().to_string(),
                e["discoveryName"].as_str().unwrap_or_default().to_string(),
                a[0]["port"].as_u64().unwrap_or_default(),
                a[0]["dnsName"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn service<'a>(e: &'a EcsApp, g: &str) -> &'a crate::ecs::EcsService {
    e.services
        .iter()
        .find(|s| s.group == g)
        .unwrap_or_else(|| panic!("no service for {g}"))
}

const NAMES_APP: &str = "services:\n  api:\n    image: nginx\n    ports: ['8080:80']\n    links: [db, 'db:database']\n    depends_on: [db, queue]\n  db:\n    image: postgres\n    ports: ['5432']\n    aliases: [pg]\n  queue:\n    image: redis\n  worker:\n    image: busybox\n";

#[test]
fn names_aliases_and_links_are_service_connect_client_aliases_on_fargate() {
    let (e, l, d) = run(&format!(
        "bridge: v1\nname: a\nproviders:\n  aws: {{launch_type: fargate}}\n{NAMES_APP}"
    ));
    let db = service(&e, "db");
    let body = json(&db.body);
    // The service's name, its network alias and the link alias of another task, each a client
    // alias of its own entry on the named port mapping, in the app's namespace.
    assert_eq!(body["serviceConnectConfiguration"]["enabled"], true);
    assert_eq!(body["serviceConnectConfiguration"]["namespace"], "a.local");
    let ep = |p: &str, dn: &str, n: &str| (p.to_string(), dn.to_string(), 5432, n.to_string());
    assert_eq!(
        endpoints(db),
        vec![
            ep("db-5432-tcp", "db-5432", "db"),
            ep("db-5432-tcp", "pg-5432", "pg"),
            ep("db-5432-tcp", "database-5432", "database"),
        ]
    );
    let td = e
        .task_definitions
        .iter()
        .find(|t| t.group == "db")
        .unwrap_or_else(|| panic!("no task for db"));
    assert_eq!(
        td.body.container_definitions[0].port_mappings[0]
            .name
            .as_deref(),
        Some("db-5432-tcp")
    );
    // Every service is a client of the namespace, also one without ports.
    for g in ["api", "queue", "worker"] {
        let c = &json(&service(&e, g).body)["serviceConnectConfiguration"];
        assert_eq!(c["enabled"], true, "{g}");
        assert_eq!(c["namespace"], "a.local", "{g}");
    }
    assert!(endpoints(service(&e, "worker")).is_empty());
    // The Cloud Map record stays: the fully qualified name, an A record per task.
    assert_eq!(
        body["serviceRegistries"],
        serde_json::json!([{"registryArn": "${discovery.db.arn}"}])
    );
    let cm = db
        .discovery
        .as_ref()
        .unwrap_or_else(|| panic!("no Cloud Map service for db"));
    assert_eq!(cm.input, "discovery.db.arn");
    assert_eq!(cm.body["DnsConfig"]["DnsRecords"][0]["Type"], "A");
    // The ledger says what resolves, from the function that wrote the endpoints.
    for f in [
        "services.db.name",
        "services.db.aliases",
        "services.api.links[0]",
        "services.api.links[1]",
    ] {
        assert_eq!(fidelity(&l, f), Some(crate::Fidelity::Approximated), "{f}");
    }
    // Nothing warns of db or api; only queue, which has no port and which api reaches by name.
    assert!(
        !d.iter().any(|x| (x.code == "T227" || x.code == "T211")
            && (x.path.contains(".db") || x.path.contains(".api"))),
        "{d:?}"
    );
    assert!(has(&d, "T227", "services.queue.name"));
    assert!(!has(&d, "T227", "services.worker.name"));
    assert_eq!(
        fidelity(&l, "services.worker.name"),
        Some(crate::Fidelity::Approximated)
    );
    // awsvpc takes no search domain.
    let api = e
        .task_definitions
        .iter()
        .find(|t| t.group == "api")
        .unwrap_or_else(|| panic!("no task for api"));
    assert!(
        api.body.container_definitions[0]
            .dns_search_domains
            .is_empty()
    );
    // The artifacts: the namespace and the Cloud Map services beside the ECS services.
    let files: Vec<String> = crate::ecs::artifacts(&e)
        .into_iter()
        .map(|a| a.path)
        .collect();
    assert!(
        files.contains(&"aws/discovery/namespace.json".to_string()),
        "{files:?}"
    );
    assert!(
        files.contains(&"aws/discovery/services/db.json".to_string()),
        "{files:?}"
    );
    let inputs = crate::ecs::own_inputs(&app(
        "bridge: v1\nname: a\nproviders:\n  aws: {launch_type: fargate}\nservices:\n  db:\n    image: postgres\n",
    ));
    assert_eq!(
        inputs,
        vec![(
            "discovery.db.arn".to_string(),
            vec!["services.db.name".to_string()]
        )]
    );
}

#[test]
fn names_in_bridge_mode_are_service_connect_aliases_beside_srv_records() {
    let (e, l, d) = run(&format!(
        "bridge: v1\nname: a\n{}",
        NAMES_APP.replace("    links:", "    dns_search: [corp.example]\n    links:")
    ));
    let db = service(&e, "db");
    assert_eq!(
        json(&db.body)["serviceRegistries"],
        serde_json::json!([{"registryArn": "${discovery.db.arn}", "containerName": "db", "containerPort": 5432}])
    );
    assert_eq!(
        db.discovery
            .as_ref()
            .map(|c| c.body["DnsConfig"]["DnsRecords"][0]["Type"].clone()),
        Some(Value::from("SRV"))
    );
    // The bare names are Service Connect's on EC2 bridge mode too: `db:5432` is an address.
    let names: Vec<String> = endpoints(db).into_iter().map(|e| e.3).collect();
    assert_eq!(names, ["db", "pg", "database"]);
    let api = e
        .task_definitions
        .iter()
        .find(|t| t.group == "api")
        .unwrap_or_else(|| panic!("no task for api"));
    assert_eq!(
        api.body.container_definitions[0].dns_search_domains,
        vec!["corp.example".to_string(), "a.local".to_string()]
    );
    // A group with no port has neither record nor endpoint; it warns only where it is reached.
    let worker = service(&e, "worker");
    assert!(worker.discovery.is_none() && worker.body.service_registries.is_empty());
    assert!(
        !d.iter()
            .any(|x| x.path.contains("worker") && x.code == "T227"),
        "{d:?}"
    );
    assert!(has(&d, "T227", "services.queue.name"));
    assert_eq!(
        fidelity(&l, "services.queue.name"),
        Some(crate::Fidelity::Dropped)
    );
    assert_eq!(
        fidelity(&l, "services.db.name"),
        Some(crate::Fidelity::Approximated)
    );
    assert!(!d.iter().any(|x| x.path == "groups.db"), "{d:?}");
}

#[test]
fn a_name_is_served_once_in_the_namespace() {
    // Two services in two tasks with one alias, and a link alias that is another service's
    // name: ECS wants each name and port unique in the namespace, so the first keeps it.
    let (e, l, d) = run(
        "bridge: v1\nname: a\nservices:\n  a1:\n    image: x\n    ports: ['80']\n    aliases: [cache]\n  a2:\n    image: x\n    ports: ['80']\n    aliases: [cache]\n  c:\n    image: x\n    links: ['a1:a2']\n",
    );
    let names =
        |g: &str| -> Vec<String> { endpoints(service(&e, g)).into_iter().map(|e| e.3).collect() };
    assert_eq!(names("a1"), ["a1", "cache"]);
    assert_eq!(names("a2"), ["a2"]);
    assert!(has(&d, "T227", "services.a2.aliases"));
    assert_eq!(
        fidelity(&l, "services.a2.aliases"),
        Some(crate::Fidelity::Dropped)
    );
    assert!(has(&d, "T211", "services.c.links[0]"));
    let all: Vec<String> = e
        .services
        .iter()
        .flat_map(|s| endpoints(s).into_iter().map(|e| e.1))
        .collect();
    let unique: std::collections::BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "{all:?}");
}

/// A small region catalogue as the driver reads it: x86-64, Graviton, burstable and GPU types.
fn region_types() -> Vec<InstanceType> {
    let t = |n: &str, c: u64, m: u64| InstanceType::new(n, c, m);
    let mut out = vec![
        t("t2.micro", 1, 1024),
        t("m6i.large", 2, 8192),
        t("m6i.xlarge", 4, 16384),
        t("m6g.large", 2, 8192),
        t("m6g.xlarge", 4, 16384),
        t("g4dn.xlarge", 4, 16384),
        t("g4dn.12xlarge", 48, 196608),
    ];
    out[0].burstable = true;
    for i in [3, 4] {
        out[i].arm64 = true;
    }
    out[5].gpus = 1;
    out[6].gpus = 4;
    out
}

fn run_in_region(yaml: &str) -> (EcsApp, Vec<crate::LedgerEntry>, Diagnostics) {
    let opts = Options {
        catalogue: Some(region_types()),
        ..Options::default()
    };
    build(&app(yaml), &opts)
}

fn pool_types(e: &EcsApp) -> Vec<String> {
    e.capacity
        .as_ref()
        .map(|c| c.pools.iter().map(|p| p.instance_type.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn region_catalogue_sizes_vms_and_the_pool_without_the_stock_warning() {
    let yaml = "bridge: v1\nname: a\nservices:\n  w:\n    image: nginx\n    resources: {cpus: 1, memory: 1GiB}\nvms:\n  db:\n    image: ubuntu\n    cpus: 1\n    memory: 1GiB\nproviders:\n  aws:\n    images: {ubuntu: ami-1}\n";
    let (e, _, d) = run(yaml);
    assert!(has(&d, "T229", "providers.aws"), "{d:?}");
    assert_eq!(json(&e.instances[0].body)["InstanceType"], "t3.micro");
    let (e, _, d) = run_in_region(yaml);
    assert!(!codes(&d).contains(&"T229"), "{d:?}");
    assert_eq!(json(&e.instances[0].body)["InstanceType"], "t2.micro");
    // The pool: the smallest non-burstable x86-64 type without GPUs.
    assert_eq!(pool_types(&e), ["m6i.large"]);
}

#[test]
fn arm64_services_get_a_graviton_pool_from_the_region() {
    let yaml = "bridge: v1\nname: a\nservices:\n  w:\n    image: nginx\n    platform: linux/arm64\n    resources: {cpus: 1, memory: 1GiB}\n";
    let (e, _, d) = run_in_region(yaml);
    assert!(!d.has_errors(), "{d:?}");
    assert_eq!(pool_types(&e), ["m6g.large"]);
    let rp = json(&e.task_definitions[0].body)["runtimePlatform"].clone();
    assert_eq!(rp["cpuArchitecture"], "ARM64", "{rp}");
    // The stock list has no Graviton types: an error, as before.
    let (_, _, d) = run(yaml);
    assert!(has(&d, "T215", "services.w.platform"), "{d:?}");
    // Mixed architectures share one x86-64 pool: the arm64 one cannot be placed.
    let mixed = "bridge: v1\nname: a\nservices:\n  w:\n    image: nginx\n    platform: linux/arm64\n  x:\n    image: nginx\n";
    let (e, _, d) = run_in_region(mixed);
    assert!(has(&d, "T215", "services.w.platform"), "{d:?}");
    assert!(pool_types(&e).iter().all(|t| t.starts_with("m6i")), "{e:?}");
}

#[test]
fn gpu_services_get_gpu_types_or_a_diagnostic() {
    let yaml = |g: u32| {
        format!(
            "bridge: v1\nname: a\nservices:\n  w:\n    image: trainer\n    resources: {{cpus: 2, memory: 4GiB, gpus: {g}}}\n"
        )
    };
    let (e, _, d) = run_in_region(&yaml(1));
    assert!(!d.has_errors(), "{d:?}");
    assert_eq!(pool_types(&e), ["g4dn.xlarge"]);
    let (e, _, d) = run_in_region(&yaml(4));
    assert!(!d.has_errors(), "{d:?}");
    assert_eq!(pool_types(&e), ["g4dn.12xlarge"]);
    // No type has 8 GPUs: an error on the field.
    let (e, _, d) = run_in_region(&yaml(8));
    assert!(has(&d, "T228", "services.w.resources.gpus"), "{d:?}");
    assert!(d.has_errors() && e.capacity.is_none());
    // The stock list has none at all: a warning, the region's list decides at deploy.
    let (_, _, d) = run(&yaml(1));
    assert!(
        has(&d, "T228", "services.w.resources.gpus") && !d.has_errors(),
        "{d:?}"
    );
}

#[test]
fn a_vm_larger_than_the_region_offers_names_the_largest() {
    let (_, _, d) = run_in_region(
        "bridge: v1\nname: a\nvms:\n  db:\n    image: ubuntu\n    cpus: 64\n    memory: 1GiB\nproviders:\n  aws:\n    images: {ubuntu: ami-1}\n",
    );
    let e = d
        .iter()
        .find(|x| x.code == "T213" && x.path == "vms.db")
        .unwrap_or_else(|| panic!("{d:?}"));
    assert!(e.message.contains("the region offers"), "{}", e.message);
    // GPU and Graviton types are not for VMs: the largest plain one is m6i.xlarge.
    assert!(
        e.hint
            .as_deref()
            .unwrap_or_default()
            .contains("m6i.xlarge (4 vCPU, 16 GiB)"),
        "{e:?}"
    );
}

/// With `ipc: host` on one of a task's services, the task's IPC namespace is the instance's:
/// the IPC parameters of the task's other containers are left out and reported (runc refuses
/// them there: "not allowed in the hosts ipc namespace"), the others kept. (On the service with
/// `ipc: host` itself they are a validation error, on every target.)
#[test]
fn ipc_parameters_are_not_set_in_the_hosts_ipc_namespace() {
    let (e, l, d) = run(
        "bridge: v1\nname: a\nservices:\n  web:\n    image: x\n    group: g\n    ipc: host\n    sysctls: {net.core.somaxconn: '1024'}\n  side:\n    image: y\n    group: g\n    sysctls: {fs.mqueue.msg_max: '64'}\ngroups: {g: {}}\n",
    );
    let td = json(&e.task_definitions[0].body);
    assert_eq!(td["ipcMode"], "host", "{td}");
    let by_name = |n: &str| {
        td["containerDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == n)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        by_name("web")["systemControls"],
        serde_json::json!([{"namespace": "net.core.somaxconn", "value": "1024"}])
    );
    assert!(by_name("side").get("systemControls").is_none(), "{td}");
    assert_eq!(
        fidelity(&l, "services.web.sysctls"),
        Some(crate::Fidelity::Mapped)
    );
    assert_eq!(
        fidelity(&l, "services.side.sysctls"),
        Some(crate::Fidelity::Dropped)
    );
    assert!(!has(&d, "T215", "services.web.sysctls"));
    assert!(has(&d, "T215", "services.side.sysctls"));
    // Without ipc: host they are set.
    let (e, l, _) = run(
        "bridge: v1\nname: a\nservices:\n  web:\n    image: x\n    sysctls: {kernel.shmmax: '100000000'}\n",
    );
    let td = json(&e.task_definitions[0].body);
    assert_eq!(
        td["containerDefinitions"][0]["systemControls"][0]["namespace"],
        "kernel.shmmax"
    );
    assert_eq!(
        fidelity(&l, "services.web.sysctls"),
        Some(crate::Fidelity::Mapped)
    );
}

#[test]
fn a_group_named_in_providers_aws_services_keeps_its_ecs_names() {
    let (ecs, ledger, _) = run(
        "bridge: v1\nname: shop\nservices:\n  web: {image: nginx}\n  api: {image: nginx}\nproviders:\n  aws:\n    region: us-east-1\n    services:\n      web: {service_name: web, family: web-td}\n",
    );
    let names: Vec<(&str, &str)> = ecs
        .services
        .iter()
        .map(|s| {
            (
                s.body.service_name.as_str(),
                s.body.task_definition.as_str(),
            )
        })
        .collect();
    assert_eq!(names, [("shop-api", "shop-api"), ("web", "web-td")]);
    let families: Vec<&str> = ecs
        .task_definitions
        .iter()
        .map(|t| t.body.family.as_str())
        .collect();
    assert_eq!(families, ["shop-api", "web-td"]);
    assert_eq!(
        fidelity(&ledger, "providers.aws.services"),
        Some(crate::Fidelity::Mapped)
    );
}
