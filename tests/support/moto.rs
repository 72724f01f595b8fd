//! The AWS driver's peer: a moto server (`moto_server.py`: moto.server with one moto bug fixed, from the venv that
//! tests/run-peers-setup.sh builds) on 127.0.0.1 and a free port, with ECS tasks set to stay
//! RUNNING (its state manager's manual transitions), plus `moto_agent.py` beside it, which plays
//! the ECS agent on the launched instances (including the container health checks, run on the
//! machine's Docker Engine) and ECS's service scheduler (see that file). In front
//! of moto sits a proxy that records every request body (to check them against botocore's
//! models) and can answer a share of requests with 500 or a throttling error. Killed on drop.
//! A moto that does not start fails the test with its log.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::peers;

/// One recorded request: the operation (`RegisterTaskDefinition`, `RunInstances`) and its body.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The operation.
    pub op: String,
    /// The JSON protocol's target prefix (`secretsmanager`, `AmazonEC2ContainerServiceV20141113`);
    /// empty for the Query protocol (EC2, STS).
    pub service: String,
    /// The body as sent.
    pub body: String,
    /// The HTTP method.
    pub method: String,
    /// The request target (path and query), as sent: what names a REST operation (Route 53).
    pub path: String,
}

/// A running moto, its agent and the proxy in front.
pub struct Moto {
    moto: Child,
    agent: Child,
    /// The label value (`bridge.moto-agent`) of the engine containers the agent runs health
    /// checks in; removed on drop.
    pub agent_id: String,
    /// moto itself.
    pub direct: String,
    /// The proxy bridge talks to.
    pub endpoint: String,
    /// The region.
    pub region: String,
    log: PathBuf,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    fault_percent: Arc<AtomicU32>,
    /// Requests answered with an injected fault.
    pub faults: Arc<AtomicU64>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// A `bridge` command run in `dir` (so its state store lands there) that sees nothing of the
/// machine's AWS settings (credentials, region, profile, ~/.aws, instance metadata): only
/// moto's endpoint and keys when `m` is given, no AWS at all otherwise.
pub fn bridge(m: Option<&Moto>, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bridge"));
    c.current_dir(dir).env("NO_COLOR", "1").env("HOME", dir);
    for k in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
    ] {
        c.env_remove(k);
    }
    // Empty profile files: nothing of the machine's ~/.aws is read.
    for f in ["no-aws-config", "no-aws-credentials"] {
        std::fs::write(dir.join(f), "").unwrap_or_else(|e| panic!("{e}"));
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        );
    if let Some(m) = m {
        for (k, v) in m.env() {
            c.env(k, v);
        }
    }
    c
}

/// Asserts that a bridge run succeeded; on failure shows its output and the tail of moto's log.
pub fn ok(o: &Output, m: &Moto, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n--- moto log (tail) ---\n{}",
        peers::text(o),
        log_tail(&m.log())
    );
}

/// The last 40 lines of moto's log, without its request lines.
pub fn log_tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.contains("POST / HTTP")).collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A fresh directory for one test: `bridge-aws-<name>-<pid>` under the temp dir.
pub fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-aws-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

/// A raw HTTP/1.1 request to moto (for its /moto-api); the status code and body.
pub fn http(base: &str, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

impl Moto {
    /// Start moto, wait until it answers (60 s at most), set task transitions to manual, start
    /// the agent and the proxy.
    pub fn start(name: &str, region: &str) -> Moto {
        let python = peers::python();
        let port = free_port();
        let direct = format!("http://127.0.0.1:{port}");
        let log =
            std::env::temp_dir().join(format!("bridge-moto-{name}-{}.log", std::process::id()));
        std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        // Appending, as the agent does to the same file: else moto's writes at its own offset
        // overwrite the agent's lines.
        let out = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let moto = Command::new(&python)
            .arg(peers::root().join("tests/support/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}", python.display()));
        let start = Instant::now();
        loop {
            if let Ok((200, _)) = http(&direct, "GET", "/moto-api/", "") {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let l = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("moto did not answer on {direct} within 60 s; its log:\n{l}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let (code, body) = http(
            &direct,
            "POST",
            "/moto-api/state-manager/set-transition",
            r#"{"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000000}}"#,
        )
        .unwrap_or_else(|e| panic!("set-transition: {e}"));
        assert_eq!(code, 201, "moto set-transition answered {code}: {body}");
        let agent_log = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("{e}"));
        let agent_err = agent_log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let agent_id = format!("moto-{name}-{}", std::process::id());
        let agent = Command::new(&python)
            .arg(peers::root().join("tests/support/moto_agent.py"))
            .args([&direct, region, &agent_id])
            .stdin(Stdio::null())
            .stdout(agent_log)
            .stderr(agent_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_agent.py: {e}"));
        let recorded: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let fault_percent = Arc::new(AtomicU32::new(0));
        let faults = Arc::new(AtomicU64::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("proxy: {e}"));
        let endpoint = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        {
            let (rec, pct, n, up) = (
                recorded.clone(),
                fault_percent.clone(),
                faults.clone(),
                direct.clone(),
            );
            std::thread::spawn(move || {
                let counter = Arc::new(AtomicU64::new(0));
                for c in listener.incoming().flatten() {
                    let (rec, pct, n, up, counter) = (
                        rec.clone(),
                        pct.clone(),
                        n.clone(),
                        up.clone(),
                        counter.clone(),
                    );
                    std::thread::spawn(move || proxy(c, &up, &rec, &pct, &n, &counter));
                }
            });
        }
        Moto {
            moto,
            agent,
            agent_id,
            direct,
            endpoint,
            region: region.to_string(),
            log,
            recorded,
            fault_percent,
            faults,
        }
    }

    /// The environment for a `bridge` process (or aws-config) to reach this moto through the
    /// proxy with dummy credentials; the instance metadata service is off (no traffic off
    /// 127.0.0.1). The caller points AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE away from the
    /// machine's ~/.aws.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_MAX_ATTEMPTS", "12".into()),
        ]
    }

    /// Answer this share of requests (0..=100) with an injected 500 or throttling error.
    pub fn set_faults(&self, percent: u32) {
        self.fault_percent.store(percent.min(100), Ordering::SeqCst);
    }

    /// Every request recorded so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// moto's (and the agent's) log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A VPC `10.N.0.0/16` with one subnet `10.N.1.0/24` and a security group `group` in it,
    /// made by hand through boto3 (as another tool would): (vpc, subnet, group) ids.
    pub fn network(&self, n: u8, group: &str) -> (String, String, String) {
        let id = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let cidr = serde_json::json!({"CidrBlock": format!("10.{n}.0.0/16")}).to_string();
        let vpc = id(&self.boto("ec2", "create_vpc", &cidr)["Vpc"]["VpcId"]);
        let subnet = serde_json::json!({"VpcId": vpc, "CidrBlock": format!("10.{n}.1.0/24")});
        let subnet =
            id(&self.boto("ec2", "create_subnet", &subnet.to_string())["Subnet"]["SubnetId"]);
        let sg = serde_json::json!({"GroupName": group, "Description": group, "VpcId": vpc});
        let sg = id(&self.boto("ec2", "create_security_group", &sg.to_string())["GroupId"]);
        (vpc, subnet, sg)
    }

    /// Call an AWS API on moto directly (out of band, as another actor would) with the venv's
    /// boto3: `service`, `method`, JSON keyword arguments. Returns the JSON answer.
    pub fn boto(&self, service: &str, method: &str, args: &str) -> serde_json::Value {
        let out = self.boto_output(service, method, args);
        assert!(
            out.status.success(),
            "boto3 {service}.{method}({args}) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("boto3 answer: {e}"))
    }

    /// The error boto3 reports for a call the peer must refuse (it fails the test if the call
    /// succeeds).
    #[allow(dead_code)]
    pub fn boto_refused(&self, service: &str, method: &str, args: &str) -> String {
        let out = self.boto_output(service, method, args);
        assert!(
            !out.status.success(),
            "boto3 {service}.{method}({args}) succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    }

    fn boto_output(&self, service: &str, method: &str, args: &str) -> std::process::Output {
        let script = "import boto3, json, sys\nc = boto3.client(sys.argv[1], endpoint_url=sys.argv[4], region_name=sys.argv[5], aws_access_key_id='testing', aws_secret_access_key='testing')\nr = getattr(c, sys.argv[2])(**json.loads(sys.argv[3]))\nr.pop('ResponseMetadata', None)\nprint(json.dumps(r, default=str))\n";
        Command::new(peers::python())
            .args([
                "-c",
                script,
                service,
                method,
                args,
                &self.direct,
                &self.region,
            ])
            .output()
            .unwrap_or_else(|e| panic!("boto3: {e}"))
    }
}

impl Moto {
    /// The app's Secrets Manager secrets as moto lists them (tagged `bridge.app=<app>`): name,
    /// ARN, tags.
    pub fn app_secrets(&self, app: &str) -> Vec<(String, String, serde_json::Value)> {
        let v = self.boto("secretsmanager", "list_secrets", "{}");
        v["SecretList"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s["Tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["Key"] == "bridge.app" && t["Value"] == app)
            })
            .map(|s| {
                (
                    s["Name"].as_str().unwrap_or_default().to_string(),
                    s["ARN"].as_str().unwrap_or_default().to_string(),
                    s["Tags"].clone(),
                )
            })
            .collect()
    }

    /// The times (epoch seconds) of the agent's `health: TIME TASK CONTAINER STATUS` lines for
    /// `container` reaching `status` (`HEALTHY`, `UNHEALTHY`).
    pub fn health_times(&self, container: &str, status: &str) -> Vec<f64> {
        self.log()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                match f.as_slice() {
                    ["health:", t, _task, c, s] if *c == container && *s == status => {
                        t.parse().ok()
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// Every RegisterTaskDefinition, CreateService, UpdateService and RunInstances body sent
    /// so far passes the strict check against botocore's models; how many were checked.
    pub fn check_bodies(&self, name: &str) -> usize {
        check_bodies_of(self, name)
    }
}

/// Decodes EC2 Query bodies back into botocore's request shape (by the model's location
/// names, flattened lists), reports parameters the model does not have, then runs the ECS
/// validator's strict shape check (required members, types, enums, ranges).
const EC2_QUERY_CHECK: &str = r#"
import json, sys
from urllib.parse import parse_qsl
sys.path.insert(0, sys.argv[1])
import ecs_validate
from botocore.loaders import Loader
shapes = Loader().load_service_model("ec2", "service-2")["shapes"]
def qname(name, m):
    if "queryName" in m: return m["queryName"]
    ln = m.get("locationName")
    return ln[0].upper() + ln[1:] if ln else name
def decode(shape, params, prefix, used):
    s = shapes[shape]
    t = s["type"]
    if t == "structure":
        out = {}
        for name, m in s["members"].items():
            key = (prefix + "." if prefix else "") + qname(name, m)
            if any(k == key or k.startswith(key + ".") for k in params):
                out[name] = decode(m["shape"], params, key, used)
        return out
    if t == "list":
        items, i = [], 1
        while any(k == "%s.%d" % (prefix, i) or k.startswith("%s.%d." % (prefix, i)) for k in params):
            items.append(decode(s["member"]["shape"], params, "%s.%d" % (prefix, i), used)); i += 1
        return items
    used.add(prefix)
    v = params.get(prefix)
    if t in ("integer", "long"): return int(v)
    if t == "boolean": return v == "true"
    if t in ("double", "float"): return float(v)
    return v
def decode_struct(shape, params):
    used = set()
    s = shapes[shape]
    out = {}
    for name, m in s["members"].items():
        key = qname(name, m)
        if any(k == key or k.startswith(key + ".") for k in params):
            sub = shapes[m["shape"]]
            if sub["type"] == "structure":
                out[name] = {}
                for n2, m2 in sub["members"].items():
                    k2 = key + "." + qname(n2, m2)
                    if any(k == k2 or k.startswith(k2 + ".") for k in params):
                        out[name][n2] = decode(m2["shape"], params, k2, used)
            else:
                out[name] = decode(m["shape"], params, key, used)
    return out, used
bad = False
for f in sys.argv[2:]:
    params = dict(parse_qsl(open(f).read(), keep_blank_values=True))
    action = params.pop("Action"); params.pop("Version", None)
    obj, used = decode_struct(action + "Request", params)
    out = ["%s: parameter not in the EC2 model" % k for k in sorted(set(params) - used)]
    ecs_validate._check_shape(shapes, action + "Request", obj, "", out)
    for line in out:
        print("%s: %s" % (f, line)); bad = True
sys.exit(1 if bad else 0)
"#;

/// Checks JSON bodies of one service against its botocore model (argv: validators dir, service
/// name, then `SHAPE=FILE` pairs) with the ECS validator's strict shape check (unknown keys,
/// required members, types, enums, lengths, patterns).
const JSON_MODEL_CHECK: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import ecs_validate
from botocore.loaders import Loader
shapes = Loader().load_service_model(sys.argv[2], "service-2")["shapes"]
bad = False
for arg in sys.argv[3:]:
    shape, f = arg.split("=", 1)
    out = []
    ecs_validate._check_shape(shapes, shape, json.load(open(f)), "", out)
    for line in out:
        print("%s: %s: %s" % (f, shape, line)); bad = True
sys.exit(1 if bad else 0)
"#;

/// Every ECS request (RegisterTaskDefinition, CreateService and UpdateService by
/// ecs_validate, the others against the ECS model whole), every RunInstances,
/// DescribeInstanceTypes and DescribeInstanceTypeOfferings body (by the Query check, each
/// against its own action's shape), and every Secrets Manager and Cloud Map (servicediscovery)
/// request, sent so far passes the strict check against botocore's models; returns how many
/// were checked.
fn check_bodies_of(m: &Moto, name: &str) -> usize {
    let dir = std::env::temp_dir().join(format!("bridge-aws-{name}-bodies-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut by_shape: std::collections::BTreeMap<&str, Vec<PathBuf>> = Default::default();
    // JSON services checked whole against their own model: target prefix -> botocore name.
    let mut json_services: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut route53: Vec<PathBuf> = Vec::new();
    for (i, r) in m.recorded().iter().enumerate() {
        if r.path.starts_with("/2013-04-01/") {
            let f = dir.join(format!("{i:04}-route53.json"));
            let v = serde_json::json!({"method": r.method, "path": r.path, "body": r.body});
            std::fs::write(&f, v.to_string()).unwrap_or_else(|e| panic!("{e}"));
            route53.push(f);
            continue;
        }
        // ECS: the three bodies ecs_validate knows in depth go to it below; every other ECS
        // request (describe, list, tag, delete, ...) is checked against the ECS model whole.
        let ecs_whole = r.service.starts_with("AmazonEC2ContainerService")
            && !matches!(
                r.op.as_str(),
                "RegisterTaskDefinition" | "CreateService" | "UpdateService"
            );
        let model = match r.service.as_str() {
            "secretsmanager" => Some("secretsmanager"),
            "Route53AutoNaming_v20170314" => Some("servicediscovery"),
            _ if ecs_whole => Some("ecs"),
            _ => None,
        };
        if let Some(model) = model {
            let f = dir.join(format!("{i:04}-{}.json", r.op));
            std::fs::write(&f, &r.body).unwrap_or_else(|e| panic!("{e}"));
            json_services.entry(model).or_default().push(format!(
                "{}Request={}",
                r.op,
                f.display()
            ));
            continue;
        }
        let shape = match r.op.as_str() {
            "RegisterTaskDefinition" => "RegisterTaskDefinitionRequest",
            "CreateService" => "CreateServiceRequest",
            "UpdateService" => "UpdateServiceRequest",
            "RunInstances" | "DescribeInstanceTypes" | "DescribeInstanceTypeOfferings" => {
                "RunInstances"
            }
            _ => continue,
        };
        let f = dir.join(format!("{i:04}-{}.body", r.op));
        std::fs::write(&f, &r.body).unwrap_or_else(|e| panic!("{e}"));
        by_shape.entry(shape).or_default().push(f);
    }
    let v = peers::validators();
    let mut n = 0;
    for (shape, files) in &by_shape {
        n += files.len();
        let mut c = Command::new(peers::python());
        if *shape == "RunInstances" {
            c.args(["-W", "ignore", "-c", EC2_QUERY_CHECK]).arg(&v);
        } else {
            c.arg(v.join("ecs_validate.py")).args(["--shape", shape]);
        }
        let out = c
            .args(files)
            .output()
            .unwrap_or_else(|e| panic!("validator: {e}"));
        assert!(
            out.status.success(),
            "{shape} bodies the driver sent fail botocore's model:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (model, bodies) in &json_services {
        n += bodies.len();
        let out = Command::new(peers::python())
            .args(["-W", "ignore", "-c", JSON_MODEL_CHECK])
            .arg(&v)
            .arg(model)
            .args(bodies)
            .output()
            .unwrap_or_else(|e| panic!("validator: {e}"));
        assert!(
            out.status.success(),
            "{model} requests the driver sent fail botocore's model:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if !route53.is_empty() {
        n += route53.len();
        let out = Command::new(peers::python())
            .args(["-W", "ignore", "-c", ROUTE53_CHECK])
            .arg(&v)
            .args(&route53)
            .output()
            .unwrap_or_else(|e| panic!("validator: {e}"));
        assert!(
            out.status.success(),
            "Route 53 requests bridge sent fail botocore's model:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    n
}

/// Route 53 requests (REST-XML) against botocore's route53 model: the operation is the one
/// whose method and request URI match exactly; its URI and query-string parameters (none the
/// model lacks), and its XML body (the input shape's root element and namespace, every
/// element a member by its location name) are read into the input shape, which then passes
/// the ECS validator's strict shape check. Prints `OP` per request checked.
const ROUTE53_CHECK: &str = r#"
import json, re, sys
from urllib.parse import urlsplit, parse_qsl, unquote
import xml.etree.ElementTree as ET
sys.path.insert(0, sys.argv[1])
import ecs_validate
from botocore.loaders import Loader
model = Loader().load_service_model("route53", "service-2")
shapes, ops = model["shapes"], model["operations"]
def pattern(uri):
    segs = []
    for seg in uri.split("/"):
        m = re.fullmatch(r"\{(\w+)\+?\}", seg)
        segs.append("(?P<%s>[^/]+)" % m.group(1) if m else re.escape(seg))
    return "^" + "/".join(segs) + "$"
def decode(shape, el, where, out):
    s = shapes[shape]; t = s["type"]
    if t == "structure":
        members = s.get("members", {})
        by_loc = {m.get("locationName", k): k for k, m in members.items()}
        obj = {}
        for c in el:
            tag = c.tag.split("}")[-1]
            if tag not in by_loc:
                out.append("%s.%s: element not in %s" % (where, tag, shape)); continue
            k = by_loc[tag]
            obj[k] = decode(members[k]["shape"], c, where + "." + k, out)
        return obj
    if t == "list":
        mem = s["member"]; loc = mem.get("locationName", "member")
        items = []
        for c in el:
            tag = c.tag.split("}")[-1]
            if tag != loc:
                out.append("%s: element %s, the list's members are %s" % (where, tag, loc)); continue
            items.append(decode(mem["shape"], c, where + "[]", out))
        return items
    text = el.text or ""
    if t in ("integer", "long"):
        try: return int(text)
        except ValueError: out.append("%s: %r is not an integer" % (where, text)); return text
    if t == "boolean": return text == "true"
    return text
bad = False
for f in sys.argv[2:]:
    r = json.load(open(f))
    u = urlsplit(r["path"])
    found = None
    for name, op in ops.items():
        h = op["http"]
        if h["method"] != r["method"]: continue
        m = re.match(pattern(h["requestUri"].split("?")[0]), u.path)
        if m: found = (name, op, m); break
    if not found:
        print("%s: %s %s is no Route 53 operation" % (f, r["method"], r["path"])); bad = True; continue
    name, op, m = found
    out = []
    shape = op.get("input", {}).get("shape")
    obj = {}
    members = shapes[shape]["members"] if shape else {}
    uri = {mm.get("locationName"): k for k, mm in members.items() if mm.get("location") == "uri"}
    qs = {mm.get("locationName"): k for k, mm in members.items() if mm.get("location") == "querystring"}
    for loc, val in m.groupdict().items():
        obj[uri[loc]] = unquote(val)
    for k, val in parse_qsl(u.query, keep_blank_values=True):
        if k not in qs: out.append("query %s: not a parameter of %s" % (k, name)); continue
        t = shapes[members[qs[k]]["shape"]]["type"]
        obj[qs[k]] = int(val) if t in ("integer", "long") else val
    if r["body"].strip():
        root = ET.fromstring(r["body"])
        s = shapes[shape]
        ref = op["input"]
        want_tag = ref.get("locationName", s.get("locationName"))
        want_ns = ref.get("xmlNamespace", s.get("xmlNamespace", {})).get("uri")
        tag = root.tag.split("}")[-1]; ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else None
        if tag != want_tag or ns != want_ns:
            out.append("root element {%s}%s, the model wants {%s}%s" % (ns, tag, want_ns, want_tag))
        body_members = {k: mm for k, mm in members.items() if "location" not in mm}
        by_loc = {mm.get("locationName", k): k for k, mm in body_members.items()}
        for c in root:
            t2 = c.tag.split("}")[-1]
            if t2 not in by_loc: out.append("%s: element not in %s" % (t2, shape)); continue
            obj[by_loc[t2]] = decode(body_members[by_loc[t2]]["shape"], c, by_loc[t2], out)
    if shape:
        ecs_validate._check_shape(shapes, shape, obj, "", out)
    for line in out:
        print("%s: %s: %s" % (f, name, line)); bad = True
    print(name)
sys.exit(1 if bad else 0)
"#;

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.moto.kill();
        let _ = self.agent.wait();
        let _ = self.moto.wait();
        // The engine containers the agent ran (health checks, Service Connect clients).
        if let Ok(o) = Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("label=bridge.moto-agent={}", self.agent_id))
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        // The networks it played Service Connect on (each task's, each namespace's).
        if let Ok(o) = Command::new("docker")
            .args(["network", "ls", "-q", "--filter"])
            .arg(format!("label=bridge.moto-agent={}", self.agent_id))
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["network", "rm"])
                    .args(&ids)
                    .output();
            }
        }
    }
}

/// One request per connection: record it, maybe answer with a fault, else forward it to moto
/// with `Connection: close` and copy the answer back.
fn proxy(
    client: TcpStream,
    upstream: &str,
    rec: &Mutex<Vec<Recorded>>,
    pct: &AtomicU32,
    faults: &AtomicU64,
    counter: &AtomicU64,
) {
    let Ok(mut client_w) = client.try_clone() else {
        return;
    };
    let mut r = BufReader::new(client);
    let mut head = String::new();
    let mut len = 0usize;
    let mut target = String::new();
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = lower.strip_prefix("x-amz-target:") {
            target = line[line.len() - v.len()..].trim().to_string();
        }
        if line == "\r\n" {
            break;
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if head.is_empty() {
            request_line = line.trim_end().to_string();
        }
        head.push_str(&line);
    }
    let mut body = vec![0u8; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let text = String::from_utf8_lossy(&body).to_string();
    let op = if target.is_empty() {
        text.split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or_default()
            .to_string()
    } else {
        target.rsplit('.').next().unwrap_or_default().to_string()
    };
    // Deterministic spread of faults: request i fails when (i * 37) % 100 < percent.
    let i = counter.fetch_add(1, Ordering::SeqCst);
    let p = u64::from(pct.load(Ordering::SeqCst));
    if (i * 37) % 100 < p {
        faults.fetch_add(1, Ordering::SeqCst);
        let (status, ctype, payload) = match (i.is_multiple_of(2), target.is_empty()) {
            (true, false) => ("500 Internal Server Error", "application/x-amz-json-1.1", r#"{"__type":"InternalFailure","message":"injected by the test proxy"}"#.to_string()),
            (false, false) => ("400 Bad Request", "application/x-amz-json-1.1", r#"{"__type":"ThrottlingException","message":"Rate exceeded (injected by the test proxy)"}"#.to_string()),
            (true, true) => ("500 Internal Server Error", "text/xml", "<Response><Errors><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>injected</RequestID></Response>".to_string()),
            (false, true) => ("503 Service Unavailable", "text/xml", "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded (injected by the test proxy)</Message></Error></Errors><RequestID>injected</RequestID></Response>".to_string()),
        };
        let _ = client_w.write_all(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            )
            .as_bytes(),
        );
        return;
    }
    if let Ok(mut g) = rec.lock() {
        let service = target
            .rsplit_once('.')
            .map(|(s, _)| s.to_string())
            .unwrap_or_default();
        let mut rl = request_line.split_whitespace();
        g.push(Recorded {
            op,
            service,
            body: text,
            method: rl.next().unwrap_or_default().to_string(),
            path: rl.next().unwrap_or_default().to_string(),
        });
    }
    let Ok(mut up) = TcpStream::connect(upstream.trim_start_matches("http://")) else {
        return;
    };
    head.push_str("Connection: close\r\n\r\n");
    if up.write_all(head.as_bytes()).is_err() || up.write_all(&body).is_err() {
        return;
    }
    // Copy the answer, with its Connection header replaced by close.
    let mut ur = BufReader::new(up);
    let mut rhead = String::new();
    loop {
        let mut line = String::new();
        match ur.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line == "\r\n" {
            break;
        }
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        rhead.push_str(&line);
    }
    rhead.push_str("Connection: close\r\n\r\n");
    if client_w.write_all(rhead.as_bytes()).is_err() {
        return;
    }
    let mut rest = Vec::new();
    let _ = ur.read_to_end(&mut rest);
    let _ = client_w.write_all(&rest);
    let _ = client_w.flush();
}
