//! `bridge export -p openstack` (issue 14) through the binary, against the real test OpenStack
//! (tests/openstack/up.sh: Keystone, Heat, Nova with the fake driver, Neutron):
//! (a) a stack created by hand through Heat's API (not by bridge) from a small HOT template with
//! parameters (one given a value other than its default at create, one hidden) and a server
//! whose user data runs a container, exported with `--stack`: the bridge.yaml validates, the
//! values given at create (not the defaults) come back, the hidden parameter is reported and its
//! value (given or default) is nowhere in the output; the same stack by its id;
//! (b) an app deployed with `bridge deploy -p openstack`, exported with `--app`: its service and
//! vm come back, the secret's value is in no output;
//! (c) a stack that does not exist: exit 1, naming it. Every stack made here is deleted.

#[path = "support/openstack.rs"]
mod os;
#[path = "support/peers.rs"]
mod peers;

use std::path::Path;
use std::time::{Duration, Instant};

use bridge_providers::openstack::OpenstackDriver;
use peers::text;
use reqwest::Method;
use serde_json::{Value, json};

const CLOUD: &str = "bridge-demo";
/// The hidden parameter's value given at create, and its template default: neither is exported.
const HIDDEN_GIVEN: &str = "hidden-given-7c41";
const HIDDEN_DEFAULT: &str = "hidden-default-93ad";

/// A hand-written template: a security group opening port 80, a server on a flavor parameter
/// whose user data runs a container from an image parameter with a hidden parameter in its env.
const TEMPLATE: &str = r#"heat_template_version: 2018-08-31
description: a web server written by hand
parameters:
  flavor:
    type: string
    default: m1.small
  web_image:
    type: string
    default: nginx:1.25
  db_password:
    type: string
    hidden: true
    default: hidden-default-93ad
resources:
  web_sg:
    type: OS::Neutron::SecurityGroup
    properties:
      rules:
        - {protocol: tcp, port_range_min: 80, port_range_max: 80, remote_ip_prefix: 0.0.0.0/0}
  web:
    type: OS::Nova::Server
    properties:
      image: bridge-test-image
      flavor: {get_param: flavor}
      networks: [{network: private}]
      security_groups: [{get_resource: web_sg}]
      user_data_format: RAW
      user_data:
        str_replace:
          template: |
            #!/bin/sh
            docker run -d --restart always --name web -p 80:80 -e DB_PASSWORD='$DB_PASSWORD' $IMAGE
          params:
            $IMAGE: {get_param: web_image}
            $DB_PASSWORD: {get_param: db_password}
"#;

/// Deletes the hand-made stack (and waits until Heat no longer lists it) when dropped.
struct Stack<'d> {
    d: &'d OpenstackDriver,
    name: String,
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        os::rt().block_on(async {
            let t0 = Instant::now();
            let mut asked = false;
            while t0.elapsed() < Duration::from_secs(180) {
                let st = os::stacks(self.d, &self.name).await;
                let Some((id, status)) = st.first() else {
                    return;
                };
                if status == "DELETE_COMPLETE" {
                    return;
                }
                if !status.ends_with("IN_PROGRESS") && (!asked || status == "DELETE_FAILED") {
                    let _ = self
                        .d
                        .request(
                            Method::DELETE,
                            "orchestration",
                            &format!("/stacks/{}/{id}", self.name),
                            None,
                        )
                        .await;
                    asked = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            eprintln!("stack {} still listed after 180 s", self.name);
        });
    }
}

/// Create a stack by hand (POST /stacks) and wait until it is `want`; its id.
async fn create(
    d: &OpenstackDriver,
    name: &str,
    template: &str,
    parameters: Value,
    want: &str,
) -> String {
    let body = json!({
        "stack_name": name,
        "template": template,
        "parameters": parameters,
        "timeout_mins": 10,
    });
    let (st, b) = d
        .request(Method::POST, "orchestration", "/stacks", Some(&body))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st, 201, "stack create: {b}");
    let id = b["stack"]["id"].as_str().unwrap_or_default().to_string();
    let t0 = Instant::now();
    loop {
        let s = os::stacks(d, name).await;
        let status = s.first().map(|x| x.1.clone()).unwrap_or_default();
        if status == want {
            return id;
        }
        if status.ends_with("FAILED") || status.ends_with("COMPLETE") {
            let (_, b) = d
                .request(
                    Method::GET,
                    "orchestration",
                    &format!("/stacks/{name}/{id}"),
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            panic!(
                "the hand-made stack is {status}, not {want}: {}",
                b["stack"]["stack_status_reason"]
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(240),
            "the hand-made stack is still {status} after 240 s"
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

fn export_json(dir: &Path, args: &[&str]) -> (std::process::Output, Value) {
    let mut a = vec!["export", "-p", "openstack", "--output", "json"];
    a.extend(args);
    let o = os::run(dir, &a, &os::cli_env(CLOUD));
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("export prints no JSON ({e}):\n{}", text(&o)));
    (o, v)
}

fn diagnostics(v: &Value) -> Vec<(String, String, String)> {
    v["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let f = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            (f("code"), f("path"), f("message"))
        })
        .collect()
}

#[test]
fn a_hand_made_heat_stack_exports_with_its_live_parameter_values() {
    let t0 = Instant::now();
    let dir = std::env::temp_dir().join(format!("bridge-os-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let d = os::driver(CLOUD, &dir);
    let name = format!("handmade-{}", std::process::id());
    let _guard = Stack {
        d: &d,
        name: name.clone(),
    };
    let params = json!({"flavor": "m1.medium", "web_image": "nginx:1.27-alpine", "db_password": HIDDEN_GIVEN});
    let id = os::rt().block_on(create(&d, &name, TEMPLATE, params, "CREATE_COMPLETE"));

    let (o, v) = export_json(&dir, &["--stack", &name, "-o", "out.yaml"]);
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    // The value given at create, not the template's default.
    let vm = &v["app"]["vms"]["web"];
    assert_eq!(vm["cpus"], json!(2), "m1.medium given at create: {v}");
    assert_eq!(vm["memory"], json!("4GiB"), "{v}");
    assert_eq!(vm["image"], json!("bridge-test-image"), "{v}");
    assert_eq!(
        vm["ports"],
        json!(["80:80"]),
        "the security group's rule: {v}"
    );
    let ud = vm["user_data"].as_str().unwrap_or_default();
    assert!(
        ud.contains("docker run -d --restart always --name web -p 80:80"),
        "{ud}"
    );
    assert!(
        ud.contains("nginx:1.27-alpine") && !ud.contains("nginx:1.25"),
        "{ud}"
    );
    // The hidden one: reported, its placeholder left, neither its value nor its default written.
    assert!(ud.contains("DB_PASSWORD='$DB_PASSWORD'"), "{ud}");
    let ds = diagnostics(&v);
    assert!(
        ds.iter()
            .any(|(c, p, m)| c == "X001" && p == "parameters.db_password" && m.contains("hidden")),
        "{ds:?}"
    );
    let written = std::fs::read_to_string(dir.join("out.yaml")).unwrap_or_else(|e| panic!("{e}"));
    for secret in [HIDDEN_GIVEN, HIDDEN_DEFAULT] {
        assert!(!all.contains(secret), "{secret} in the output:\n{all}");
        assert!(!written.contains(secret), "{secret} written:\n{written}");
    }
    // The app is named after the stack; the written bridge.yaml validates on its own.
    assert_eq!(v["app"]["name"], json!(name), "{v}");
    let val = os::run(&dir, &["validate", "-f", "out.yaml"], &[]);
    assert!(val.status.success(), "{}\n{written}", text(&val));
    // The same stack by its id.
    let (o, v2) = export_json(&dir, &["--stack", &id]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(v2["app"], v["app"]);
    eprintln!("hand-made stack created and exported in {:?}", t0.elapsed());
}

#[test]
fn an_app_bridge_deployed_exports_by_app_name() {
    let t0 = Instant::now();
    let app = format!("it-os-export-{}", std::process::id());
    let yaml = os::app_yaml(&app, "debug", "");
    let dir = os::app_dir(&format!("export-{app}"), &yaml);
    let env = os::cli_env(CLOUD);
    struct Destroy<'a>(&'a Path, &'a [(String, String)]);
    impl Drop for Destroy<'_> {
        fn drop(&mut self) {
            let o = os::run(self.0, &os::app_args("destroy", &[]), self.1);
            if !o.status.success() {
                eprintln!("destroy failed: {}", text(&o));
            }
        }
    }
    let _guard = Destroy(&dir, &env);
    let o = os::run(&dir, &os::app_args("deploy", &["--timeout", "240s"]), &env);
    assert!(o.status.success(), "deploy: {}", text(&o));
    assert!(!text(&o).contains(os::SECRET));

    let (o, v) = export_json(&dir, &["--app", &app]);
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    assert!(!all.contains(os::SECRET), "the secret leaked:\n{all}");
    let a = &v["app"];
    assert_eq!(a["name"], json!(app), "{a}");
    let keys = |k: &str| -> Vec<String> {
        a[k].as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys("services"), vec!["web"], "{a}");
    assert_eq!(keys("vms"), vec!["db"], "{a}");
    let web = &a["services"]["web"];
    assert_eq!(web["image"], json!("busybox:1"), "{a}");
    assert_eq!(web["env"]["LOG_LEVEL"], json!("debug"), "{a}");
    assert_eq!(web["env"]["DB_HOST"], json!("${vms.db.address}"), "{a}");
    assert_eq!(web["secrets"][0]["name"], json!("api_key"), "{a}");
    // The template holds the Glance image the app's `images` mapped `ubuntu-24.04` to.
    assert_eq!(a["vms"]["db"]["image"], json!("bridge-test-image"), "{a}");
    assert_eq!(a["vms"]["db"]["memory"], json!("2GiB"), "{a}");
    assert!(a["secrets"].get("api_key").is_some(), "{a}");
    // The secret's hidden parameter is reported, not read.
    let ds = diagnostics(&v);
    assert!(
        ds.iter()
            .any(|(c, p, m)| c == "X001" && p.starts_with("parameters.") && m.contains("hidden")),
        "{ds:?}"
    );
    eprintln!("app deployed and exported in {:?}", t0.elapsed());
}

/// A stack whose first resource fails (Heat's own `OS::Heat::TestResource`), so its server is
/// never created: Heat leaves it CREATE_FAILED (rollback is off by default).
const FAILING: &str = r#"heat_template_version: 2018-08-31
resources:
  broken:
    type: OS::Heat::TestResource
    properties: {fail: true}
  web:
    type: OS::Nova::Server
    depends_on: broken
    properties:
      image: bridge-test-image
      flavor: m1.small
      networks: [{network: private}]
"#;

#[test]
fn a_failed_stack_exports_with_its_status_as_a_warning() {
    let dir = std::env::temp_dir();
    let d = os::driver(CLOUD, &dir);
    let name = format!("handmade-failed-{}", std::process::id());
    let _guard = Stack {
        d: &d,
        name: name.clone(),
    };
    os::rt().block_on(create(&d, &name, FAILING, json!({}), "CREATE_FAILED"));
    let (o, v) = export_json(&dir, &["--stack", &name]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(v["app"]["vms"]["web"]["memory"], json!("2GiB"), "{v}");
    let ds = diagnostics(&v);
    assert!(
        ds.iter()
            .any(|(c, _, m)| c == "X002" && m.contains("the stack is CREATE_FAILED (")),
        "{ds:?}"
    );
    assert!(
        ds.iter().any(|(c, p, m)| c == "X001"
            && p == "resources.broken"
            && m.contains("OS::Heat::TestResource")),
        "{ds:?}"
    );
}

#[test]
fn a_missing_stack_fails_naming_it() {
    let dir = std::env::temp_dir();
    let o = os::run(
        &dir,
        &["export", "-p", "openstack", "--stack", "no-such-stack-e1f0"],
        &os::cli_env(CLOUD),
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("no Heat stack is named `no-such-stack-e1f0`"),
        "{t}"
    );
    let o = os::run(
        &dir,
        &["export", "-p", "openstack", "--app", "no-such-app-e1f0"],
        &os::cli_env(CLOUD),
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("bridge.app=no-such-app-e1f0"), "{t}");
}

/// `deploy --adopt` of a stack made outside bridge: created through Heat's API (as
/// `openstack stack create` would) from the template bridge renders for the app, so nothing but
/// the tags differs. Without `--adopt` the deploy refuses naming it; `plan --adopt` is one adopt
/// step; after `deploy --adopt` the stack carries bridge's tags, Nova's servers are the same
/// (ids), and the next plan is empty.
#[test]
fn a_stack_made_outside_bridge_is_adopted_in_place() {
    let app = format!("it-os-adopt-{}", std::process::id());
    let yaml = os::app_yaml(&app, "info", "");
    let dir = os::app_dir(&format!("adopt-{app}"), &yaml);
    let env = os::cli_env(CLOUD);
    let d = os::driver(CLOUD, &dir);
    let _guard = Stack {
        d: &d,
        name: app.clone(),
    };
    let rt = os::rt();
    // What bridge would deploy, on the cloud's flavors (as plan and deploy size it).
    let flavors = rt.block_on(d.flavors()).unwrap_or_else(|e| panic!("{e}"));
    let (desired, _) =
        bridge_providers::openstack::desired_with(&os::load(&dir, &yaml), Some(flavors));
    let spec = &desired[0].spec;
    let mut params = serde_json::Map::new();
    for p in spec["supplied"].as_array().into_iter().flatten() {
        params.insert(
            p["name"].as_str().unwrap_or_default().to_string(),
            json!(os::SECRET),
        );
    }
    assert!(!params.is_empty(), "the secret is a parameter: {spec}");
    let template = serde_json::to_string(&spec["template"]).unwrap_or_default();
    rt.block_on(create(
        &d,
        &app,
        &template,
        Value::Object(params),
        "CREATE_COMPLETE",
    ));
    let before = rt.block_on(os::servers(&d, &app));
    assert_eq!(before.len(), 2, "{before:?}");

    let no_leak = |o: &std::process::Output| {
        assert!(
            !text(o).contains(os::SECRET),
            "the secret leaked:\n{}",
            text(o)
        );
    };
    let o = os::run(&dir, &os::app_args("deploy", &[]), &env);
    no_leak(&o);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--adopt"), "{}", text(&o));
    let o = os::run(&dir, &os::app_args("plan", &["--adopt"]), &env);
    no_leak(&o);
    assert!(o.status.success(), "{}", text(&o));
    eprintln!("plan --adopt:\n{}", text(&o));
    assert!(
        text(&o).contains(&format!("<= stack/{app}")) && text(&o).contains("adopted"),
        "{}",
        text(&o)
    );
    let o = os::run(&dir, &os::app_args("deploy", &["--adopt"]), &env);
    no_leak(&o);
    assert!(o.status.success(), "{}", text(&o));
    eprintln!("deploy --adopt:\n{}", text(&o));
    // Heat holds bridge's tags now (read from Heat's stack list).
    let (_, b) = rt
        .block_on(d.request(
            Method::GET,
            "orchestration",
            &format!("/stacks?name={app}"),
            None,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let tags = b["stacks"][0]["tags"].to_string();
    assert!(
        tags.contains(&format!("bridge.app={app}")) && tags.contains("bridge.spec-hash="),
        "{b}"
    );
    let o = os::run(&dir, &os::app_args("plan", &["--detailed-exitcode"]), &env);
    no_leak(&o);
    assert_eq!(o.status.code(), Some(0), "plan after adopt: {}", text(&o));
    let after = rt.block_on(os::servers(&d, &app));
    let ids = |v: &[(String, String, String)]| v.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before), "servers replaced: {after:?}");
    let o = os::run(&dir, &os::app_args("destroy", &[]), &env);
    assert!(o.status.success(), "{}", text(&o));
}
