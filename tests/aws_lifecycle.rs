//! The AWS driver's lifecycle through the `bridge` binary, against a moto server (one per test,
//! on 127.0.0.1 and a free port; see tests/support/moto.rs): deploy of examples on EC2 and on
//! Fargate, an empty plan right after, a change, reconcile after out-of-band deletes, destroy
//! leaving nothing tagged; every RegisterTaskDefinition, CreateService, UpdateService and
//! RunInstances body checked against botocore's ECS and EC2 models; `kill -9` mid-deploy; 20% and
//! 100% injected 500/throttling answers; missing credentials, unknown region, a missing secret.

#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use moto::{Moto, bridge, ok, workdir};
use peers::text;
use serde_json::Value;

fn run(m: Option<&Moto>, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut c = bridge(m, dir);
    c.args(args);
    for (k, v) in extra {
        c.env(k, v);
    }
    c.output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

/// An example's bridge.yaml copied into `dir` (so the state store lands there), with `extra`
/// appended.
fn example(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let src = peers::root()
        .join("examples")
        .join(name)
        .join("bridge.yaml");
    let mut y = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    y.push_str(extra);
    let f = dir.join("bridge.yaml");
    std::fs::write(&f, y).unwrap_or_else(|e| panic!("{e}"));
    f
}

/// What moto holds tagged for `app`: live instances, active clusters, active task definition
/// revisions (family, revision), security groups, active services.
#[derive(Debug, Default)]
struct Tagged {
    instances: Vec<String>,
    clusters: usize,
    revisions: Vec<String>,
    groups: usize,
    services: usize,
}

impl Tagged {
    fn total(&self) -> usize {
        self.instances.len() + self.clusters + self.revisions.len() + self.groups + self.services
    }
}

/// Lists, in one boto3 process, what moto holds tagged for an app.
const TAGGED: &str = r#"
import boto3, json, sys
endpoint, region, app = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
ec2, ecs = boto3.client("ec2", **kw), boto3.client("ecs", **kw)
out = {"instances": [], "clusters": 0, "revisions": [], "groups": 0, "services": 0}
res = ec2.describe_instances(Filters=[{"Name": "tag:bridge.app", "Values": [app]},
    {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
for r in res["Reservations"]:
    for i in r["Instances"]:
        out["instances"].append({t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("bridge.component", ""))
for arn in ecs.list_clusters()["clusterArns"]:
    for c in ecs.describe_clusters(clusters=[arn], include=["TAGS"])["clusters"]:
        tags = {t["key"]: t["value"] for t in c.get("tags", [])}
        if tags.get("bridge.app") != app or c["status"] != "ACTIVE":
            continue
        out["clusters"] += 1
        arns = ecs.list_services(cluster=c["clusterName"])["serviceArns"]
        if arns:
            d = ecs.describe_services(cluster=c["clusterName"], services=arns)["services"]
            out["services"] += len([x for x in d if x["status"] == "ACTIVE"])
for f in ecs.list_task_definition_families(familyPrefix=app + "-")["families"]:
    for a in ecs.list_task_definitions(familyPrefix=f, status="ACTIVE")["taskDefinitionArns"]:
        out["revisions"].append(a.rsplit("/", 1)[-1])
g = ec2.describe_security_groups(Filters=[{"Name": "tag:bridge.app", "Values": [app]}])
out["groups"] = len(g["SecurityGroups"])
print(json.dumps(out))
"#;

fn tagged(m: &Moto, app: &str) -> Tagged {
    let out = Command::new(peers::python())
        .args(["-c", TAGGED, &m.direct, &m.region, app])
        .output()
        .unwrap_or_else(|e| panic!("boto3: {e}"));
    assert!(
        out.status.success(),
        "listing what is tagged failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let strings = |k: &str| -> Vec<String> {
        let mut l: Vec<String> = v[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        l.sort();
        l
    };
    let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
    Tagged {
        instances: strings("instances"),
        clusters: n("clusters"),
        revisions: strings("revisions"),
        groups: n("groups"),
        services: n("services"),
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn aws_ec2_example_deploys_changes_reconciles_and_destroys() {
    let m = Moto::start("ec2", "us-east-1");
    let dir = workdir("ec2");
    // The sidecar group: three containers in one task, on the EC2 launch type.
    let f = example(&dir, "05-sidecar-group", "");
    let file = f.to_string_lossy().to_string();
    let deploy = [
        "deploy",
        "-f",
        &file,
        "-p",
        "aws",
        "--wait",
        "--timeout",
        "2m",
    ];
    let plan = ["plan", "-f", &file, "-p", "aws", "--detailed-exitcode"];
    let o = run(Some(&m), &dir, &deploy, &[]);
    ok(&o, &m, "deploy");
    let t = tagged(&m, "blog");
    assert_eq!(t.clusters, 1, "{t:?}");
    assert_eq!(t.services, 1, "{t:?}");
    assert_eq!(t.groups, 1, "{t:?}");
    assert_eq!(t.revisions, vec!["blog-blog:1"], "{t:?}");
    assert!(
        !t.instances.is_empty() && t.instances.iter().all(|i| i.starts_with("instance/host-")),
        "{t:?}"
    );
    let hosts = t.instances.clone();

    // Right after: nothing to do.
    let o = run(Some(&m), &dir, &plan, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "plan after deploy is not empty:\n{}",
        text(&o)
    );
    assert!(stdout(&o).contains("no changes"), "{}", text(&o));

    // Status: the service runs its task (moto_agent plays ECS's scheduler).
    let o = run(
        Some(&m),
        &dir,
        &["status", "-f", &file, "-p", "aws", "--output", "json"],
        &[],
    );
    ok(&o, &m, "status");
    let st: Value =
        serde_json::from_str(stdout(&o).trim()).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(st["components"][0]["resource"]["name"], "blog", "{st}");
    assert_eq!(st["components"][0]["running"], 1, "{st}");

    // A change: one env value -> a new revision and a service update, nothing else.
    let y = std::fs::read_to_string(&f).unwrap_or_default().replace(
        "    image: nginx:1.27\n",
        "    image: nginx:1.27\n    env: {GREETING: hello}\n",
    );
    std::fs::write(&f, y).unwrap_or_else(|e| panic!("{e}"));
    let o = run(Some(&m), &dir, &plan, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let p = stdout(&o);
    assert!(
        p.contains("~ task-definition/blog") && p.contains("~ service/blog"),
        "{p}"
    );
    assert!(
        p.contains("plan: 0 to create, 2 to update, 0 to replace, 0 to delete"),
        "{p}"
    );
    ok(
        &run(Some(&m), &dir, &deploy, &[]),
        &m,
        "deploy of the change",
    );
    let o = run(Some(&m), &dir, &plan, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = tagged(&m, "blog");
    assert_eq!(t.revisions, vec!["blog-blog:1", "blog-blog:2"], "{t:?}");

    // Out of band: an instance terminated, the service deleted; reconcile restores both.
    let ids = m.boto(
        "ec2",
        "describe_instances",
        r#"{"Filters": [{"Name": "tag:bridge.app", "Values": ["blog"]}, {"Name": "instance-state-name", "Values": ["running"]}]}"#,
    );
    let victim = ids["Reservations"][0]["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(victim.starts_with("i-"), "{ids}");
    m.boto(
        "ec2",
        "terminate_instances",
        &format!(r#"{{"InstanceIds": ["{victim}"]}}"#),
    );
    m.boto(
        "ecs",
        "delete_service",
        r#"{"cluster": "blog", "service": "blog-blog", "force": true}"#,
    );
    let o = run(Some(&m), &dir, &plan, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let p = stdout(&o);
    assert!(
        p.contains("+ service/blog") && p.contains("+ instance/host-"),
        "{p}"
    );
    ok(
        &run(
            Some(&m),
            &dir,
            &["reconcile", "-f", &file, "-p", "aws", "--timeout", "2m"],
            &[],
        ),
        &m,
        "reconcile",
    );
    let t = tagged(&m, "blog");
    assert_eq!(
        t.instances, hosts,
        "the terminated instance is replaced, nothing more: {t:?}"
    );
    assert_eq!(t.services, 1, "{t:?}");
    // Drift of the desired count is reset.
    m.boto(
        "ecs",
        "update_service",
        r#"{"cluster": "blog", "service": "blog-blog", "desiredCount": 5}"#,
    );
    let o = run(Some(&m), &dir, &plan, &[]);
    assert!(stdout(&o).contains("~ service/blog"), "{}", text(&o));
    ok(
        &run(
            Some(&m),
            &dir,
            &["reconcile", "-f", &file, "-p", "aws"],
            &[],
        ),
        &m,
        "reconcile",
    );
    let d = m.boto(
        "ecs",
        "describe_services",
        r#"{"cluster": "blog", "services": ["blog-blog"]}"#,
    );
    assert_eq!(d["services"][0]["desiredCount"], 1, "{d}");
    assert_eq!(run(Some(&m), &dir, &plan, &[]).status.code(), Some(0));

    // Destroy leaves nothing tagged.
    ok(
        &run(Some(&m), &dir, &["destroy", "-f", &file, "-p", "aws"], &[]),
        &m,
        "destroy",
    );
    let t = tagged(&m, "blog");
    assert_eq!(t.total(), 0, "left behind: {t:?}");
    let o = run(Some(&m), &dir, &["destroy", "-f", &file, "-p", "aws"], &[]);
    ok(&o, &m, "second destroy");

    let n = m.check_bodies("ec2");
    assert!(n >= 5, "only {n} bodies recorded");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aws_fargate_example_deploys_changes_reconciles_and_destroys() {
    let m = Moto::start("fargate", "us-east-1");
    let dir = workdir("fargate");
    let f = example(
        &dir,
        "01-single-container",
        "providers:\n  aws: {launch_type: fargate, execution_role_arn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole'}\n",
    );
    let file = f.to_string_lossy().to_string();
    let deploy = [
        "deploy",
        "-f",
        &file,
        "-p",
        "aws",
        "--wait",
        "--timeout",
        "1m",
    ];
    ok(&run(Some(&m), &dir, &deploy, &[]), &m, "deploy");
    let t = tagged(&m, "hello");
    assert!(
        t.instances.is_empty(),
        "fargate launches no instances: {t:?}"
    );
    assert_eq!((t.clusters, t.services, t.groups), (1, 1, 1), "{t:?}");
    // awsvpc: the default VPC's subnets and the app's security group with the published port.
    let d = m.boto(
        "ecs",
        "describe_services",
        r#"{"cluster": "hello", "services": ["hello-web"]}"#,
    );
    let net = &d["services"][0]["networkConfiguration"]["awsvpcConfiguration"];
    assert!(
        net["subnets"].as_array().is_some_and(|a| !a.is_empty()),
        "{d}"
    );
    let g = m.boto(
        "ec2",
        "describe_security_groups",
        r#"{"Filters": [{"Name": "tag:bridge.app", "Values": ["hello"]}]}"#,
    );
    assert_eq!(
        net["securityGroups"][0], g["SecurityGroups"][0]["GroupId"],
        "{d}\n{g}"
    );
    assert_eq!(
        g["SecurityGroups"][0]["IpPermissions"][0]["FromPort"], 80,
        "{g}"
    );
    let plan = ["plan", "-f", &file, "-p", "aws", "--detailed-exitcode"];
    let o = run(Some(&m), &dir, &plan, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A change (two replicas) updates the service in place and nothing else.
    let y = std::fs::read_to_string(&f).unwrap_or_default().replace(
        "    ports: [\"8080:80\"]\n",
        "    ports: [\"8080:80\"]\n    replicas: 2\n",
    );
    std::fs::write(&f, y).unwrap_or_else(|e| panic!("{e}"));
    let o = run(Some(&m), &dir, &plan, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(stdout(&o).contains("~ service/web"), "{}", text(&o));
    ok(
        &run(Some(&m), &dir, &deploy, &[]),
        &m,
        "deploy of the change",
    );
    // Out of band: the service deleted and the security group's rule revoked; reconcile.
    m.boto(
        "ecs",
        "delete_service",
        r#"{"cluster": "hello", "service": "hello-web", "force": true}"#,
    );
    let gid = g["SecurityGroups"][0]["GroupId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    m.boto(
        "ec2",
        "revoke_security_group_ingress",
        &format!(r#"{{"GroupId": "{gid}", "IpPermissions": [{{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{{"CidrIp": "0.0.0.0/0"}}]}}]}}"#),
    );
    let o = run(Some(&m), &dir, &plan, &[]);
    let p = stdout(&o);
    assert!(
        p.contains("+ service/web") && p.contains("~ security-group/hello"),
        "{}",
        text(&o)
    );
    ok(
        &run(
            Some(&m),
            &dir,
            &["reconcile", "-f", &file, "-p", "aws"],
            &[],
        ),
        &m,
        "reconcile",
    );
    let o = run(Some(&m), &dir, &plan, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let d = m.boto(
        "ecs",
        "describe_services",
        r#"{"cluster": "hello", "services": ["hello-web"]}"#,
    );
    assert_eq!(
        (
            d["services"][0]["status"].as_str(),
            d["services"][0]["desiredCount"].as_u64()
        ),
        (Some("ACTIVE"), Some(2)),
        "{d}"
    );
    // `reconcile --watch` keeps it converged: a service deleted while it runs comes back.
    let mut watch = bridge(Some(&m), &dir)
        .args([
            "reconcile",
            "-f",
            &file,
            "-p",
            "aws",
            "--watch",
            "--interval",
            "1s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_secs(2));
    m.boto(
        "ecs",
        "delete_service",
        r#"{"cluster": "hello", "service": "hello-web", "force": true}"#,
    );
    let start = Instant::now();
    let back = loop {
        let d = m.boto(
            "ecs",
            "describe_services",
            r#"{"cluster": "hello", "services": ["hello-web"]}"#,
        );
        if d["services"][0]["status"] == "ACTIVE" {
            break true;
        }
        if start.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        back,
        "reconcile --watch did not recreate the deleted service within 30 s"
    );
    ok(
        &run(Some(&m), &dir, &["destroy", "-f", &file, "-p", "aws"], &[]),
        &m,
        "destroy",
    );
    assert_eq!(tagged(&m, "hello").total(), 0);
    assert!(m.check_bodies("fargate") >= 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aws_kill_9_mid_deploy_then_rerun_converges_without_duplicates() {
    let m = Moto::start("kill", "us-east-1");
    let dir = workdir("kill");
    let f = example(&dir, "05-sidecar-group", "");
    let file = f.to_string_lossy().to_string();
    let deploy = ["deploy", "-f", &file, "-p", "aws", "--timeout", "2m"];
    let mut expected_hosts = None;
    for (round, ms) in [150u64, 400, 800, 1500, 3000].into_iter().enumerate() {
        let mut child = bridge(Some(&m), &dir)
            .args(deploy)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let o = run(Some(&m), &dir, &deploy, &[]);
        ok(&o, &m, &format!("redeploy after kill -9 at {ms} ms"));
        let t = tagged(&m, "blog");
        let hosts = expected_hosts.get_or_insert_with(|| t.instances.clone());
        assert_eq!(
            &t.instances, hosts,
            "round {round}: duplicate or missing instances: {t:?}"
        );
        assert!(
            t.revisions.len() == 1 && t.revisions[0].starts_with("blog-blog:"),
            "round {round}: orphan task definitions: {t:?}"
        );
        assert_eq!(
            (t.clusters, t.services, t.groups),
            (1, 1, 1),
            "round {round}: {t:?}"
        );
        let o = run(
            Some(&m),
            &dir,
            &["plan", "-f", &file, "-p", "aws", "--detailed-exitcode"],
            &[],
        );
        assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(&o));
        if round == 2 {
            // Also from nothing again, so early kills hit the first creates.
            ok(
                &run(Some(&m), &dir, &["destroy", "-f", &file, "-p", "aws"], &[]),
                &m,
                "destroy",
            );
            expected_hosts = None;
        }
    }
    ok(
        &run(Some(&m), &dir, &["destroy", "-f", &file, "-p", "aws"], &[]),
        &m,
        "destroy",
    );
    assert_eq!(tagged(&m, "blog").total(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aws_deploy_converges_through_20_percent_faults_and_fails_clearly_at_100() {
    let m = Moto::start("faults", "us-east-1");
    let dir = workdir("faults");
    let f = example(&dir, "05-sidecar-group", "");
    let file = f.to_string_lossy().to_string();
    m.set_faults(20);
    let o = run(
        Some(&m),
        &dir,
        &[
            "deploy",
            "-f",
            &file,
            "-p",
            "aws",
            "--wait",
            "--timeout",
            "2m",
        ],
        &[],
    );
    ok(&o, &m, "deploy through 20% faults");
    let injected = m.faults.load(std::sync::atomic::Ordering::SeqCst);
    assert!(injected >= 5, "only {injected} faults were injected");
    let o = run(
        Some(&m),
        &dir,
        &["plan", "-f", &file, "-p", "aws", "--detailed-exitcode"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = tagged(&m, "blog");
    assert_eq!(t.revisions, vec!["blog-blog:1"], "{t:?}");

    m.set_faults(100);
    let started = Instant::now();
    let o = run(
        Some(&m),
        &dir,
        &["deploy", "-f", &file, "-p", "aws"],
        &[
            ("BRIDGE_AWS_RETRY_SECONDS", "4"),
            ("AWS_MAX_ATTEMPTS", "50"),
        ],
    );
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("gave up after") && err.contains("hint:"),
        "{err}"
    );
    assert!(
        took < Duration::from_secs(20),
        "took {took:?} with a 4 s retry budget"
    );
    m.set_faults(0);
    ok(
        &run(Some(&m), &dir, &["destroy", "-f", &file, "-p", "aws"], &[]),
        &m,
        "destroy",
    );
    assert_eq!(tagged(&m, "blog").total(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aws_missing_credentials_unknown_region_and_missing_secret_fail_clearly() {
    let m = Moto::start("errors", "us-east-1");
    let dir = workdir("errors");
    let f = example(&dir, "01-single-container", "");
    let file = f.to_string_lossy().to_string();

    // No credentials anywhere (no keys, no profile files, no instance metadata).
    let mut c = bridge(None, &dir);
    c.args(["plan", "-f", &file, "-p", "aws"])
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &m.endpoint);
    let o = c.output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no AWS credentials") && e.contains("hint: set AWS_ACCESS_KEY_ID"),
        "{e}"
    );

    // No region anywhere.
    let mut c = bridge(Some(&m), &dir);
    c.args(["plan", "-f", &file, "-p", "aws"])
        .env_remove("AWS_REGION");
    let o = c.output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no AWS region is set") && e.contains("providers.aws.region"),
        "{e}"
    );

    // An unknown region.
    let o = run(
        Some(&m),
        &dir,
        &["plan", "-f", &file, "-p", "aws"],
        &[("AWS_REGION", "mars-north-9")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("unknown AWS region `mars-north-9`") && e.contains("hint:"),
        "{e}"
    );

    // A secret ARN that does not exist: at plan time, naming the field; after creating it in
    // Secrets Manager and SSM the plan goes through.
    let dir2 = workdir("errors-secret");
    let f2 = example(&dir2, "02-env-and-secrets", "");
    std::fs::write(dir2.join("api_key.txt"), "k").unwrap_or_else(|e| panic!("{e}"));
    let file2 = f2.to_string_lossy().to_string();
    let o = run(
        Some(&m),
        &dir2,
        &["plan", "-f", &file2, "-p", "aws"],
        &[("API_DB_PASSWORD", "s3cr3t-value-xyz")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("providers.aws.secrets.") && e.contains("does not exist") && e.contains("hint:"),
        "{e}"
    );
    assert!(
        !e.contains("s3cr3t-value-xyz"),
        "a secret value leaked: {e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn aws_secret_values_are_written_behind_the_arns_and_never_shown() {
    let m = Moto::start("secrets", "us-east-1");
    let dir = workdir("secrets");
    let f = example(&dir, "02-env-and-secrets", "");
    std::fs::write(dir.join("api_key.txt"), "file-secret-value-123")
        .unwrap_or_else(|e| panic!("{e}"));
    // The secrets exist (with a placeholder), as the ARNs an app names must; Fargate.
    let sec = m.boto(
        "secretsmanager",
        "create_secret",
        r#"{"Name": "api/db-password", "SecretString": "placeholder"}"#,
    );
    let arn = sec["ARN"].as_str().unwrap_or_default().to_string();
    m.boto(
        "ssm",
        "put_parameter",
        r#"{"Name": "/api/key", "Value": "placeholder", "Type": "SecureString"}"#,
    );
    let y = std::fs::read_to_string(&f)
        .unwrap_or_default()
        .replace(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:api/db-password",
            &arn,
        )
        .replace(
            "    region: us-east-1\n",
            "    region: us-east-1\n    launch_type: fargate\n",
        );
    std::fs::write(&f, y).unwrap_or_else(|e| panic!("{e}"));
    let file = f.to_string_lossy().to_string();
    let env = [("API_DB_PASSWORD", "env-secret-value-456")];
    let mut shown = String::new();
    for args in [
        vec!["plan", "-f", &file, "-p", "aws"],
        vec![
            "deploy",
            "-f",
            &file,
            "-p",
            "aws",
            "--wait",
            "--timeout",
            "1m",
        ],
        vec!["plan", "-f", &file, "-p", "aws", "--output", "json"],
        vec!["status", "-f", &file, "-p", "aws"],
        vec!["history", "-f", &file, "-p", "aws"],
    ] {
        let o = run(Some(&m), &dir, &args, &env);
        ok(&o, &m, &args.join(" "));
        shown.push_str(&text(&o));
    }
    let v = m.boto(
        "secretsmanager",
        "get_secret_value",
        &format!(r#"{{"SecretId": "{arn}"}}"#),
    );
    assert_eq!(v["SecretString"], "env-secret-value-456", "{v}");
    let p = m.boto(
        "ssm",
        "get_parameter",
        r#"{"Name": "/api/key", "WithDecryption": true}"#,
    );
    assert_eq!(p["Parameter"]["Value"], "file-secret-value-123", "{p}");
    // The task definition reads them by ARN: no value there, in any output, or in state.db.
    let state =
        std::fs::read(dir.join(".bridge/state.db")).unwrap_or_else(|e| panic!("state.db: {e}"));
    let state = String::from_utf8_lossy(&state);
    for secret in ["env-secret-value-456", "file-secret-value-123"] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        assert!(!state.contains(secret), "{secret} in state.db");
        for r in m
            .recorded()
            .iter()
            .filter(|r| r.op == "RegisterTaskDefinition")
        {
            assert!(!r.body.contains(secret), "{secret} in a task definition");
        }
    }
    let td = m
        .recorded()
        .into_iter()
        .find(|r| r.op == "RegisterTaskDefinition")
        .map(|r| r.body)
        .unwrap_or_default();
    assert!(
        td.contains(&arn.replace('/', "\\/")) || td.contains(&arn),
        "the task definition does not read {arn}: {td}"
    );
    assert!(td.contains("ecsTaskExecutionRole"), "{td}");
    // A second deploy writes nothing (the stored values are equal).
    let puts = |m: &Moto| {
        m.recorded()
            .iter()
            .filter(|r| r.op == "PutSecretValue" || r.op == "PutParameter")
            .count()
    };
    assert_eq!(puts(&m), 2);
    ok(
        &run(Some(&m), &dir, &["deploy", "-f", &file, "-p", "aws"], &env),
        &m,
        "redeploy",
    );
    assert_eq!(puts(&m), 2);
    assert!(m.check_bodies("secrets") >= 2);
    ok(
        &run(Some(&m), &dir, &["destroy", "-f", &file, "-p", "aws"], &env),
        &m,
        "destroy",
    );
    assert_eq!(tagged(&m, "api").total(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
