//! Names across tasks on ECS (issue 12), through the `bridge` binary against a moto server
//! (tests/support/moto.rs): an app of three services, each its own task: `db` (a port, a network
//! alias `pg`), `api` (reaching `db` by name, and by the link alias `database`) and `worker`
//! (no port), deployed on Fargate from a bridge.yaml and on EC2 from a compose file.
//!
//! Service Connect (the bare names): every ECS service is read back from moto as a Service
//! Connect client of the app's namespace, and each name, alias and link alias as the one client
//! alias of its own endpoint of the right service, on the container port, its portName a port
//! mapping of the service's task definition as registered. The render warns of no name (no
//! T227/T211). Drift in it (Service Connect turned off out of band) is planned and repaired.
//! moto keeps and checks Service Connect only through tests/support/moto_server.py, which
//! enforces ECS's rules (namespace exists in Cloud Map, portName in the task definition, one
//! client alias per entry, discovery names and client aliases unique in the namespace).
//!
//! Cloud Map (the fully qualified names): the driver creates the app's private DNS namespace
//! `<app>.local` and one Cloud Map service per ECS service with a record (A records on
//! Fargate's awsvpc, SRV records naming the container and port in EC2's bridge mode, where the
//! containers also get the namespace as DNS search domain), and registers each ECS service in
//! its Cloud Map service (`serviceRegistries`, whose ARN is the late-bound input
//! `discovery.GROUP.arn`: written so in the rendered service and inputs.json, held in the first
//! plan). All of it is read back from moto and compared; the plan after deploy is empty;
//! destroy removes namespace and services. Every Cloud Map request is checked against botocore's
//! servicediscovery model, the ECS and EC2 ones against theirs.

#[path = "support/engine.rs"]
mod engine;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use moto::{Moto, ok, workdir};
use peers::text;
use serde_json::Value;

/// `bridge deploy` and `bridge plan --detailed-exitcode` of the app file (`FILE`).
const DEPLOY: [&str; 8] = [
    "deploy",
    "-f",
    "FILE",
    "-p",
    "aws",
    "--wait",
    "--timeout",
    "3m",
];
const PLAN: [&str; 6] = ["plan", "-f", "FILE", "-p", "aws", "--detailed-exitcode"];

fn bridge(m: &Moto, dir: &Path, args: &[&str]) -> Output {
    let mut c = moto::bridge(Some(m), dir);
    c.env("BRIDGE_AWS_REGISTER_SECONDS", "120");
    c.args(args)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

/// What db runs: an HTTP server on its port answering `from-db`.
const DB: &str = "mkdir -p /w && echo from-db > /w/index.html && exec httpd -f -p 5432 -h /w";

/// The app: a bridge.yaml on Fargate, a compose file (no provider options: EC2) otherwise. The
/// images are the local test image (the played agent pulls nothing).
fn app(name: &str, launch: &str) -> (&'static str, String) {
    let img = engine::TEST_IMAGE;
    if launch == "fargate" {
        return (
            "bridge.yaml",
            format!(
                "bridge: v1\nname: {name}\nproviders:\n  aws: {{region: us-east-1, launch_type: fargate}}\nservices:\n  db:\n    image: {img}\n    command: [sh, -c, {DB:?}]\n    ports: ['5432']\n    aliases: [pg]\n    resources: {{cpus: 0.25, memory: 256MiB}}\n  api:\n    image: {img}\n    command: [sleep, '3600']\n    ports: ['8080:80']\n    env: {{DB_HOST: db}}\n    depends_on: [db]\n    links: ['db:database']\n    resources: {{cpus: 0.25, memory: 256MiB}}\n  worker:\n    image: {img}\n    command: [sleep, '3600']\n    depends_on: [api]\n    resources: {{cpus: 0.25, memory: 256MiB}}\n"
            ),
        );
    }
    (
        "compose.yaml",
        format!(
            "name: {name}\nservices:\n  db:\n    image: {img}\n    command: [sh, -c, {DB:?}]\n    ports: ['5432']\n    networks:\n      default:\n        aliases: [pg]\n    deploy: {{resources: {{limits: {{cpus: '0.25', memory: 256M}}}}}}\n  api:\n    image: {img}\n    command: [sleep, '3600']\n    ports: ['8080:80']\n    environment: {{DB_HOST: db}}\n    depends_on: [db]\n    links: ['db:database']\n    deploy: {{resources: {{limits: {{cpus: '0.25', memory: 256M}}}}}}\n  worker:\n    image: {img}\n    command: [sleep, '3600']\n    depends_on: [api]\n    deploy: {{resources: {{limits: {{cpus: '0.25', memory: 256M}}}}}}\n"
        ),
    )
}

/// The ECS services of the app as DescribeServices reports them, by group.
fn ecs_services(m: &Moto, name: &str) -> std::collections::BTreeMap<String, Value> {
    let v = m.boto(
        "ecs",
        "describe_services",
        &format!(
            r#"{{"cluster": "{name}", "services": ["{name}-api", "{name}-db", "{name}-worker"]}}"#
        ),
    );
    v["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["status"] == "ACTIVE")
        .map(|s| {
            let g = s["serviceName"].as_str().unwrap_or_default();
            (
                g.trim_start_matches(&format!("{name}-")).to_string(),
                s.clone(),
            )
        })
        .collect()
}

/// A service's Service Connect configuration as ECS reports it: on its primary deployment.
fn connect(s: &Value) -> Value {
    s["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["status"] == "PRIMARY")
        .map(|d| d["serviceConnectConfiguration"].clone())
        .unwrap_or(Value::Null)
}

/// Every service is a client of the namespace, and serves exactly `want` (dnsName, port) as
/// one client alias each, on a port mapping of its own task definition.
fn assert_service_connect(m: &Moto, name: &str, ns_arn: &str) {
    let svcs = ecs_services(m, name);
    assert_eq!(
        svcs.keys().cloned().collect::<Vec<_>>(),
        ["api", "db", "worker"]
    );
    let want: [(&str, &[(&str, u64)]); 3] = [
        ("db", &[("db", 5432), ("pg", 5432), ("database", 5432)]),
        ("api", &[("api", 80)]),
        ("worker", &[]),
    ];
    for (g, names) in want {
        let s = &svcs[g];
        let c = connect(s);
        assert_eq!(c["enabled"], true, "{g}: {s}");
        assert_eq!(c["namespace"], ns_arn, "{g}: {c}");
        let td = m.boto(
            "ecs",
            "describe_task_definition",
            &format!(
                r#"{{"taskDefinition": "{}"}}"#,
                s["taskDefinition"].as_str().unwrap_or_default()
            ),
        )["taskDefinition"]
            .clone();
        let port_names: Vec<&str> = td["containerDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["portMappings"].as_array().into_iter().flatten())
            .filter_map(|p| p["name"].as_str())
            .collect();
        let mut got = Vec::new();
        for e in c["services"].as_array().into_iter().flatten() {
            assert!(
                port_names.contains(&e["portName"].as_str().unwrap_or_default()),
                "{g}: {e} names no port mapping of {td}"
            );
            let a = &e["clientAliases"];
            assert_eq!(a.as_array().map(Vec::len), Some(1), "{e}");
            got.push((
                a[0]["dnsName"].as_str().unwrap_or_default().to_string(),
                a[0]["port"].as_u64().unwrap_or_default(),
            ));
        }
        let want: Vec<(String, u64)> = names.iter().map(|(n, p)| (n.to_string(), *p)).collect();
        assert_eq!(got, want, "{g}: {c}");
    }
}

/// The namespaces moto holds named `<app>.local`, with their tags.
fn namespaces(m: &Moto, app: &str) -> Vec<(Value, Value)> {
    let v = m.boto("servicediscovery", "list_namespaces", "{}");
    v["Namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["Name"] == format!("{app}.local").as_str())
        .map(|n| {
            let tags = m.boto(
                "servicediscovery",
                "list_tags_for_resource",
                &format!(
                    r#"{{"ResourceARN": "{}"}}"#,
                    n["Arn"].as_str().unwrap_or_default()
                ),
            )["Tags"]
                .clone();
            (n.clone(), tags)
        })
        .collect()
}

/// The Cloud Map services in a namespace, by name, as GetService reports them.
fn cloud_map_services(m: &Moto, ns: &str) -> std::collections::BTreeMap<String, Value> {
    let v = m.boto("servicediscovery", "list_services", "{}");
    v["Services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            m.boto(
                "servicediscovery",
                "get_service",
                &format!(r#"{{"Id": "{}"}}"#, s["Id"].as_str().unwrap_or_default()),
            )["Service"]
                .clone()
        })
        .filter(|s| s["NamespaceId"] == ns)
        .map(|s| (s["Name"].as_str().unwrap_or_default().to_string(), s))
        .collect()
}

fn tag(tags: &Value, key: &str) -> Option<String> {
    tags.as_array()?
        .iter()
        .find(|t| t["Key"] == key)
        .and_then(|t| t["Value"].as_str())
        .map(str::to_string)
}

fn docker(args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"));
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// The running engine container the played agent runs for `container` of the task of ECS
/// service `service` (waited for up to 60 s).
fn task_container(m: &Moto, service: &str, container: &str) -> String {
    let start = Instant::now();
    loop {
        let (_, out) = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=bridge.moto-agent={}", m.agent_id),
            "--filter",
            &format!("label=bridge.moto-group=service:{service}"),
            "--filter",
            &format!("label=bridge.moto-container={container}"),
            "--filter",
            "status=running",
        ]);
        let ids: Vec<&str> = out.split_whitespace().collect();
        if ids.len() == 1 {
            return ids[0].to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no single running engine container {container} of {service}: {ids:?}\n{}",
            moto::log_tail(&m.log())
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// An HTTP GET from `container` to `host:port` with busybox `nc` (`tries` times, 0.4 s apart,
/// until it answers `want`): whether it did, and the last output.
fn fetch(container: &str, host: &str, port: u16, want: &str, tries: usize) -> (bool, String) {
    let cmd = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port}");
    let mut got = (false, String::new());
    for _ in 0..tries {
        got = docker(&["exec", container, "sh", "-c", &cmd]);
        if got.0 && got.1.contains(want) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    (false, got.1)
}

/// The addresses `host` resolves to from `container` (busybox `nslookup`, the engine's DNS),
/// none when it does not resolve.
fn lookup(container: &str, host: &str) -> Vec<String> {
    let (ok, out) = docker(&["exec", container, "busybox", "nslookup", host]);
    if !ok {
        return Vec::new();
    }
    // After the server's own lines: "Name: HOST" then "Address: IP".
    out.split("Name:")
        .skip(1)
        .flat_map(|b| b.lines().filter_map(|l| l.strip_prefix("Address:")))
        .map(|a| a.trim().to_string())
        .collect()
}

/// A container's addresses, by engine network.
fn addresses(container: &str) -> std::collections::BTreeMap<String, String> {
    let (ok, out) = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
        container,
    ]);
    assert!(ok, "{out}");
    out.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Service Connect, run (the played agent's proxy, tests/support/moto_agent.py): from api's
/// container `db`, its alias `pg` and the link alias `database` resolve to api's own proxy and a
/// TCP request on 5432 reaches db's container; a task that is a client of another namespace
/// does not resolve them; a task whose definition lacks an entry's portName is refused.
fn assert_names_resolve(m: &Moto, name: &str, fargate: bool) {
    let api = task_container(m, &format!("{name}-api"), "api");
    let db = task_container(m, &format!("{name}-db"), "db");
    let proxy = task_container(m, &format!("{name}-api"), "ecs-service-connect-0");
    // api's container: on its task's own network, and (serving `api:80`) an endpoint on the
    // namespace's.
    let api_nets = addresses(&api);
    let api_net = api_nets
        .keys()
        .find(|n| !n.contains("-ns-"))
        .unwrap_or_else(|| panic!("api's task has no network of its own: {api_nets:?}"));
    assert_eq!(api_nets.len(), 2, "{api_nets:?}");
    let proxy_ip = addresses(&proxy)
        .get(api_net)
        .cloned()
        .unwrap_or_else(|| panic!("the proxy is not on api's task network {api_net}"));
    let db_ips: Vec<String> = addresses(&db).into_values().collect();
    assert!(!db_ips.contains(&proxy_ip), "{db_ips:?}");
    for host in ["db", "pg", "database"] {
        assert_eq!(
            lookup(&api, host),
            std::slice::from_ref(&proxy_ip),
            "{host} from api"
        );
        let (ok, out) = fetch(&api, host, 5432, "from-db", 25);
        assert!(
            ok,
            "{host}:5432 from api did not reach db: {out}\n{}",
            moto::log_tail(&m.log())
        );
    }
    // api's own name reaches its own service's endpoint port (no server on it: refused, but
    // the name resolves), and a port no alias names is not answered.
    assert_eq!(lookup(&api, "api"), std::slice::from_ref(&proxy_ip));
    let (ok, out) = fetch(&api, "db", 5433, "from-db", 1);
    assert!(!ok, "db:5433 answered: {out}");

    // A task outside the namespace: a client of another namespace, in the same cluster, running
    // api's task definition.
    // (An HTTP namespace: Service Connect takes one, and moto allows one private DNS
    // namespace per VPC.)
    let other = format!("{name}-other");
    m.boto(
        "servicediscovery",
        "create_http_namespace",
        &format!(r#"{{"Name": "{other}"}}"#),
    );
    let api_svc = &ecs_services(m, name)["api"];
    // api's definition with little memory and no host port: the EC2 instances are sized for
    // the app alone, and api holds its host port.
    let small = register_copy(
        m,
        api_svc["taskDefinition"].as_str().unwrap_or_default(),
        &format!("{name}-outside"),
        |c| {
            c["memory"] = serde_json::json!(16);
            if let Some(c) = c.as_object_mut() {
                c.remove("memoryReservation");
                c.remove("cpu");
            }
            for p in c["portMappings"].as_array_mut().into_iter().flatten() {
                if let Some(p) = p.as_object_mut() {
                    p.remove("hostPort");
                }
            }
        },
    );
    let mut outside = serde_json::json!({
        "cluster": name,
        "serviceName": format!("{name}-outside"),
        "taskDefinition": small,
        "desiredCount": 1,
        "launchType": if fargate { "FARGATE" } else { "EC2" },
        "serviceConnectConfiguration": {"enabled": true, "namespace": other},
    });
    if fargate {
        outside["networkConfiguration"] = api_svc["networkConfiguration"].clone();
    }
    m.boto("ecs", "create_service", &outside.to_string());
    let out = task_container(m, &format!("{name}-outside"), "api");
    // Its namespace has no client alias: nothing for a proxy to answer, so it has none.
    let (_, proxies) = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=bridge.moto-group=service:{name}-outside"),
        "--filter",
        "label=bridge.moto-container=ecs-service-connect-0",
    ]);
    assert_eq!(proxies.trim(), "", "a proxy outside the namespace");
    for host in ["db", "pg", "database"] {
        assert_eq!(
            lookup(&out, host),
            Vec::<String>::new(),
            "{host} resolves outside"
        );
        let (ok, got) = fetch(&out, host, 5432, "from-db", 1);
        assert!(
            !ok,
            "{host}:5432 reached db from outside the namespace: {got}"
        );
    }
    // db itself is up (the request above did not fail for want of it).
    assert!(fetch(&api, "db", 5432, "from-db", 25).0);
    m.boto(
        "ecs",
        "delete_service",
        &format!(r#"{{"cluster": "{name}", "service": "{name}-outside", "force": true}}"#),
    );
}

/// Registers a copy of the task definition `from` as `family`, each container definition
/// edited by `edit`; its ARN.
fn register_copy(m: &Moto, from: &str, family: &str, edit: impl Fn(&mut Value)) -> String {
    let td = m.boto(
        "ecs",
        "describe_task_definition",
        &format!(r#"{{"taskDefinition": "{from}"}}"#),
    )["taskDefinition"]
        .clone();
    let mut reg = serde_json::json!({ "family": family });
    for k in [
        "containerDefinitions",
        "networkMode",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "executionRoleArn",
    ] {
        if !td[k].is_null() {
            reg[k] = td[k].clone();
        }
    }
    for c in reg["containerDefinitions"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        edit(c);
    }
    m.boto("ecs", "register_task_definition", &reg.to_string())["taskDefinition"]
        ["taskDefinitionArn"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The played proxy relies on each entry's portName being a port mapping of the task's
/// definition: db's service moved out of band to a definition without port names has its new
/// task stopped with the reason, and the agent says so.
fn assert_refused_without_port_name(m: &Moto, name: &str) {
    let db_svc = &ecs_services(m, name)["db"];
    let arn = register_copy(
        m,
        db_svc["taskDefinition"].as_str().unwrap_or_default(),
        &format!("{name}-noname"),
        |c| {
            for p in c["portMappings"].as_array_mut().into_iter().flatten() {
                if let Some(p) = p.as_object_mut() {
                    p.remove("name");
                }
            }
        },
    );
    m.boto(
        "ecs",
        "update_service",
        &format!(r#"{{"cluster": "{name}", "service": "{name}-db", "taskDefinition": "{arn}"}}"#),
    );
    let start = Instant::now();
    let reason = loop {
        let stopped = m.boto(
            "ecs",
            "list_tasks",
            &format!(r#"{{"cluster": "{name}", "desiredStatus": "STOPPED"}}"#),
        )["taskArns"]
            .clone();
        let found = stopped
            .as_array()
            .filter(|a| !a.is_empty())
            .map(|a| {
                m.boto(
                    "ecs",
                    "describe_tasks",
                    &serde_json::json!({"cluster": name, "tasks": a}).to_string(),
                )["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| t["taskDefinitionArn"] == arn.as_str())
                    .filter_map(|t| t["stoppedReason"].as_str().map(str::to_string))
                    .find(|r| r.starts_with("Service Connect:"))
            })
            .unwrap_or_default();
        if let Some(r) = found {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no task of {arn} stopped for its Service Connect configuration\n{}",
            moto::log_tail(&m.log())
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        reason.contains("portName db-5432-tcp") && reason.contains(&format!("{name}-noname")),
        "{reason}"
    );
    assert!(
        m.log().contains("connect: REFUSED"),
        "the agent did not say so"
    );
}

fn names_resolve_across_tasks(launch: &str, name: &str) {
    engine::ensure_test_image();
    let m = Moto::start(name, "us-east-1");
    let dir = workdir(name);
    let (file_name, text_of_app) = app(name, launch);
    let f = dir.join(file_name);
    std::fs::write(&f, text_of_app).unwrap_or_else(|e| panic!("{e}"));
    let file = f.to_string_lossy().to_string();
    let fargate = launch == "fargate";
    let record = if fargate { "A" } else { "SRV" };

    // Render: the service reads its registry's ARN as a late-bound input, listed beside it.
    let out = dir.join("rendered");
    let o = bridge(
        &m,
        &dir,
        &[
            "render",
            "-f",
            &file,
            "-p",
            "aws",
            "-o",
            &out.to_string_lossy(),
        ],
    );
    ok(&o, &m, "render");
    let read = |p: &str| -> Value {
        let t = std::fs::read_to_string(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    for g in ["api", "db"] {
        let svc = read(&format!("aws/services/{name}-{g}.json"));
        assert_eq!(
            svc["serviceRegistries"][0]["registryArn"],
            format!("${{discovery.{g}.arn}}").as_str(),
            "{svc}"
        );
        let cm = read(&format!("aws/discovery/services/{g}.json"));
        assert_eq!(cm["DnsConfig"]["DnsRecords"][0]["Type"], record, "{cm}");
    }
    assert_eq!(
        read("aws/discovery/namespace.json")["Name"],
        format!("{name}.local").as_str()
    );
    let inputs = std::fs::read_to_string(out.join("inputs.json"))
        .unwrap_or_else(|e| panic!("inputs.json: {e}"));
    assert!(
        inputs.contains("\"input\": \"discovery.db.arn\"") && inputs.contains("services.db.name"),
        "{inputs}"
    );
    // Every name, alias and link alias resolves: nothing to warn of.
    assert!(
        !text(&o).contains("T227") && !text(&o).contains("T211"),
        "{}",
        text(&o)
    );
    let db = read(&format!("aws/services/{name}-db.json"));
    assert_eq!(
        db["serviceConnectConfiguration"]["namespace"],
        format!("{name}.local").as_str(),
        "{db}"
    );

    // The first plan: namespace and Cloud Map services created, the ECS services wait.
    let o = bridge(&m, &dir, &["plan", "-f", &file, "-p", "aws"]);
    ok(&o, &m, "plan");
    let plan = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        plan.contains(&format!("+ namespace/{name}")) && plan.contains("+ discovery/db"),
        "{plan}"
    );
    assert!(plan.contains("waits for discovery.db.arn"), "{plan}");

    let o = bridge(
        &m,
        &dir,
        &DEPLOY.map(|a| if a == "FILE" { &file } else { a }),
    );
    ok(&o, &m, "deploy");

    // Read back: one namespace, the app's, and a Cloud Map service per ECS service in it.
    let ns = namespaces(&m, name);
    assert_eq!(ns.len(), 1, "{ns:?}");
    let (ns, ns_tags) = &ns[0];
    assert_eq!(
        tag(ns_tags, "bridge.app").as_deref(),
        Some(name),
        "{ns_tags}"
    );
    assert_eq!(ns["Type"], "DNS_PRIVATE", "{ns}");
    let ns_id = ns["Id"].as_str().unwrap_or_default();
    let cm = cloud_map_services(&m, ns_id);
    // `worker` publishes no port: an A record on awsvpc, none in bridge mode (SRV names a port).
    let groups: &[&str] = if fargate {
        &["api", "db", "worker"]
    } else {
        &["api", "db"]
    };
    assert_eq!(cm.keys().cloned().collect::<Vec<_>>(), groups, "{cm:?}");
    let ecs = m.boto(
        "ecs",
        "describe_services",
        &format!(
            r#"{{"cluster": "{name}", "services": ["{name}-api", "{name}-db", "{name}-worker"]}}"#
        ),
    );
    for (g, s) in &cm {
        assert_eq!(s["DnsConfig"]["DnsRecords"][0]["Type"], record, "{s}");
        assert_eq!(s["DnsConfig"]["RoutingPolicy"], "MULTIVALUE", "{s}");
        let tags = m.boto(
            "servicediscovery",
            "list_tags_for_resource",
            &format!(
                r#"{{"ResourceARN": "{}"}}"#,
                s["Arn"].as_str().unwrap_or_default()
            ),
        )["Tags"]
            .clone();
        assert_eq!(
            tag(&tags, "bridge.component"),
            Some(format!("discovery/{g}")),
            "{tags}"
        );
        let svc = ecs["services"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["serviceName"] == format!("{name}-{g}").as_str())
            .unwrap_or_else(|| panic!("no ECS service for {g}: {ecs}"));
        let reg = &svc["serviceRegistries"];
        assert_eq!(reg.as_array().map(Vec::len), Some(1), "{svc}");
        assert_eq!(reg[0]["registryArn"], s["Arn"], "{svc}");
        if fargate {
            assert!(reg[0].get("containerPort").is_none(), "{svc}");
        } else {
            // SRV names the container and its port.
            let port = if g == "db" { 5432 } else { 80 };
            assert_eq!(reg[0]["containerName"], g.as_str(), "{svc}");
            assert_eq!(reg[0]["containerPort"], port, "{svc}");
        }
    }
    // EC2 bridge mode: every container looks names up in the namespace.
    let td = m.boto(
        "ecs",
        "describe_task_definition",
        &format!(r#"{{"taskDefinition": "{name}-api"}}"#),
    )["taskDefinition"]
        .clone();
    let search = td["containerDefinitions"][0]["dnsSearchDomains"].clone();
    if fargate {
        assert!(search.is_null(), "awsvpc takes no search domain: {td}");
    } else {
        assert_eq!(search, serde_json::json!([format!("{name}.local")]), "{td}");
    }

    // Service Connect, read back: every service a client, every name an alias of the right one.
    let ns_arn = ns["Arn"].as_str().unwrap_or_default().to_string();
    assert_service_connect(&m, name, &ns_arn);

    // Service Connect, run: the names resolve and reach db from api's task, not from outside.
    assert_names_resolve(&m, name, fargate);

    // Nothing left to do.
    let o = bridge(&m, &dir, &PLAN.map(|a| if a == "FILE" { &file } else { a }));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Drift: Service Connect turned off on db out of band is planned and repaired.
    m.boto(
        "ecs",
        "update_service",
        &format!(
            r#"{{"cluster": "{name}", "service": "{name}-db", "serviceConnectConfiguration": {{"enabled": false}}}}"#
        ),
    );
    assert_eq!(connect(&ecs_services(&m, name)["db"])["enabled"], false);
    let o = bridge(&m, &dir, &PLAN.map(|a| if a == "FILE" { &file } else { a }));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let plan = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        plan.contains("~ service/db") && plan.contains("serviceConnectConfiguration.enabled"),
        "{plan}"
    );
    let o = bridge(
        &m,
        &dir,
        &DEPLOY.map(|a| if a == "FILE" { &file } else { a }),
    );
    ok(&o, &m, "deploy (repair)");
    assert_service_connect(&m, name, &ns_arn);

    // The peer enforces ECS's Service Connect rules (tests/support/moto_server.py): what breaks
    // one is refused with ECS's InvalidParameterException, and changes nothing.
    let sc = |conf: &str| {
        format!(
            r#"{{"cluster": "{name}", "serviceName": "{name}-x", "taskDefinition": "{name}-db", "desiredCount": 0, "serviceConnectConfiguration": {conf}}}"#
        )
    };
    let entry = |port_name: &str, disc: &str, aliases: &str| {
        format!(
            r#"{{"enabled": true, "namespace": "{name}.local", "services": [{{"portName": "{port_name}", "discoveryName": "{disc}", "clientAliases": [{aliases}]}}]}}"#
        )
    };
    let db_port = "db-5432-tcp";
    for (conf, why) in [
        (
            r#"{"enabled": true, "namespace": "nowhere.local"}"#.to_string(),
            "namespace nowhere.local was not found",
        ),
        (
            entry("nope", "x-1", r#"{"port": 1, "dnsName": "x"}"#),
            "portName nope does not match",
        ),
        (
            entry(db_port, "x-1", ""),
            "clientAliases must have 1 element",
        ),
        (
            entry(db_port, "db-5432", r#"{"port": 1, "dnsName": "x"}"#),
            "discoveryName db-5432 is already in use",
        ),
        (
            entry(db_port, "db", r#"{"port": 1, "dnsName": "x"}"#),
            "discoveryName db is already in use",
        ),
        (
            entry(db_port, "x-1", r#"{"port": 5432, "dnsName": "pg"}"#),
            "client alias pg:5432 is already in use",
        ),
    ] {
        let e = m.boto_refused("ecs", "create_service", &sc(&conf));
        assert!(
            e.contains("InvalidParameterException") && e.contains(why),
            "{why}: {e}"
        );
    }
    let o = bridge(&m, &dir, &PLAN.map(|a| if a == "FILE" { &file } else { a }));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // What the played proxy relies on, it enforces (moto_agent.py).
    assert_refused_without_port_name(&m, name);

    // Destroy removes the Cloud Map services and the namespace.
    let o = bridge(&m, &dir, &["destroy", "-f", &file, "-p", "aws"]);
    ok(&o, &m, "destroy");
    assert!(
        namespaces(&m, name).is_empty(),
        "the namespace is still there"
    );
    assert!(
        cloud_map_services(&m, ns_id).is_empty(),
        "Cloud Map services are still there"
    );
    let left = m.boto(
        "ecs",
        "describe_services",
        &format!(r#"{{"cluster": "{name}", "services": ["{name}-api", "{name}-db"]}}"#),
    );
    assert!(
        left["services"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|s| s["status"] != "ACTIVE"),
        "{left}"
    );

    let n = m.check_bodies(name);
    let sd = m
        .recorded()
        .iter()
        .filter(|r| r.service == "Route53AutoNaming_v20170314")
        .count();
    for op in [
        "CreatePrivateDnsNamespace",
        "CreateService",
        "DeleteService",
        "DeleteNamespace",
    ] {
        assert!(
            m.recorded()
                .iter()
                .any(|r| r.service == "Route53AutoNaming_v20170314" && r.op == op),
            "no Cloud Map {op} sent"
        );
    }
    assert!(n >= sd + 4, "only {n} bodies checked ({sd} Cloud Map)");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aws_names_resolve_across_tasks_on_fargate() {
    names_resolve_across_tasks("fargate", "nmf");
}

#[test]
fn aws_names_resolve_across_tasks_on_ec2() {
    names_resolve_across_tasks("ec2", "nme");
}
