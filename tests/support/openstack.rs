//! The test OpenStack that `tests/openstack/up.sh` starts (tests/run starts it before
//! `cargo test`): where its clouds.yaml is, drivers for its two users, test apps, and direct
//! Nova and Heat calls for out-of-band changes. Nothing is skipped: when the cloud is not up,
//! every test that needs it fails with the reason.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bridge_core::{LoadOptions, ValidApp, load_str};
use bridge_providers::openstack::{CloudConfig, OpenstackDriver};
use serde_json::Value;

/// The clouds.yaml up.sh wrote: `BRIDGE_OS_CLOUDS`, else `$HOME/.cache/bridge-openstack/clouds.yaml`.
pub fn clouds_yaml() -> PathBuf {
    let p = match std::env::var_os("BRIDGE_OS_CLOUDS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/bridge-openstack/clouds.yaml"),
    };
    assert!(
        p.exists(),
        "the test OpenStack is not up: {} is missing; run tests/openstack/up.sh (tests/run does) or set BRIDGE_OS_CLOUDS",
        p.display()
    );
    let up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5000".parse().unwrap_or_else(|e| panic!("{e}")),
        std::time::Duration::from_secs(2),
    );
    assert!(
        up.is_ok(),
        "the test OpenStack is not up: nothing answers on Keystone's 127.0.0.1:5000 ({:?}); run tests/openstack/up.sh",
        up.err()
    );
    p
}

/// The environment a CLI run needs to reach the cloud `cloud` (`bridge-admin`, `bridge-demo`).
pub fn cli_env(cloud: &str) -> Vec<(String, String)> {
    vec![
        (
            "OS_CLIENT_CONFIG_FILE".into(),
            clouds_yaml().display().to_string(),
        ),
        ("OS_CLOUD".into(), cloud.into()),
    ]
}

/// A driver for `cloud` of the test clouds.yaml, polling every half second.
pub fn driver(cloud: &str, base: &Path) -> OpenstackDriver {
    let clouds = clouds_yaml().display().to_string();
    let env = move |k: &str| match k {
        "OS_CLIENT_CONFIG_FILE" => Some(clouds.clone()),
        _ => None,
    };
    let cfg = CloudConfig::load(Some(cloud), None, &env).unwrap_or_else(|e| panic!("{e}"));
    OpenstackDriver::with_config(base.to_path_buf(), cfg)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_poll(std::time::Duration::from_millis(500))
}

/// A test app on the test cloud: container services on a host server and a plain vm, with
/// `neutron: false` (servers booted with no network; [`app_yaml_neutron`] for the default), images mapped to the cloud's test image. `extra` is appended
/// to the vm's definition (indented 4 spaces), `web_env` is the web service's LOG_LEVEL.
pub fn app_yaml(name: &str, web_env: &str, vm_extra: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: busybox:1\n    command: [sleep, '3600']\n    env: {{LOG_LEVEL: {web_env}, DB_HOST: '${{vms.db.address}}'}}\n    secrets: [{{name: api_key, env: API_KEY}}]\n    ports: ['8080:80']\nvms:\n  db:\n    image: ubuntu-24.04\n    cpus: 1\n    memory: 2GiB\n    ports: [5432]\n{vm_extra}secrets: {{api_key: {{file: ./api_key.txt}}}}\nproviders:\n  openstack: {{neutron: false, images: {{ubuntu-24.04: bridge-test-image, container-host: bridge-test-image}}}}\n"
    )
}

/// [`app_yaml`] with Neutron on (the driver's default): the servers attach to the cloud's
/// network (`private`, the one network Nova picks when none is named) and the template holds
/// `OS::Neutron::SecurityGroup` resources for the published ports and the app's own traffic.
pub fn app_yaml_neutron(name: &str, web_env: &str, vm_extra: &str) -> String {
    let yaml = app_yaml(name, web_env, vm_extra);
    assert!(yaml.contains("neutron: false, "));
    yaml.replace("neutron: false, ", "")
}

/// The secret's value in the test apps (written beside them; must never show up in output).
pub const SECRET: &str = "s3cret-value-4711";

/// A temp dir holding `app.yaml` and the secret file.
pub fn app_dir(tag: &str, yaml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bridge-os-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("api_key.txt"), SECRET).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("app.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// Load and validate `yaml` as if it were `dir/app.yaml`.
pub fn load(dir: &Path, yaml: &str) -> ValidApp {
    let loaded = load_str(&Arc::from("app.yaml"), yaml, dir, &LoadOptions::default());
    loaded
        .valid
        .unwrap_or_else(|| panic!("does not validate: {:?}", loaded.diagnostics))
}

/// Apply options for the test cloud: 4 steps at once, 5 minutes per wait.
pub fn apply_opts() -> bridge_providers::engine::ApplyOptions {
    bridge_providers::engine::ApplyOptions {
        parallelism: 4,
        timeout: std::time::Duration::from_secs(300),
    }
}

/// A current-thread runtime.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// Nova's servers whose name starts with `prefix` (id, name, status), in the driver's project,
/// deleted ones left out.
pub async fn servers(d: &OpenstackDriver, prefix: &str) -> Vec<(String, String, String)> {
    let (status, body) = d
        .request(reqwest::Method::GET, "compute", "/servers/detail", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200, "{body}");
    let mut out: Vec<(String, String, String)> = body["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (f("id"), f("name"), f("status"))
        })
        // A server Nova is finishing to delete is listed as DELETED for a moment: it is gone.
        .filter(|(_, n, st)| n.starts_with(prefix) && st != "DELETED")
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// POST SUCCESS to the wait condition handle `handle` of the stack at `path` (`/stacks/NAME/ID`),
/// with the endpoint and token Heat gives it, as the server's health script does; `id` is the
/// signal's id (one per signal a wait condition counts).
pub async fn signal_success(d: &OpenstackDriver, path: &str, handle: &str, id: &str) {
    let (status, r) = d
        .request(
            reqwest::Method::GET,
            "orchestration",
            &format!("{path}/resources/{handle}"),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200, "{r}");
    let attrs = &r["resource"]["attributes"];
    let endpoint = attrs["endpoint"]
        .as_str()
        .unwrap_or_else(|| panic!("no endpoint: {r}"));
    let token = attrs["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {r}"));
    let body = serde_json::json!({"status": "SUCCESS", "reason": "healthy", "data": "", "id": id});
    let resp = reqwest::Client::new()
        .post(endpoint)
        .header("X-Auth-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("signal {endpoint}: {e}"));
    assert!(resp.status().is_success(), "signal: {}", resp.status());
}

/// Heat's stacks named `name` (id, status).
pub async fn stacks(d: &OpenstackDriver, name: &str) -> Vec<(String, String)> {
    let (status, body) = d
        .request(
            reqwest::Method::GET,
            "orchestration",
            &format!("/stacks?name={name}"),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200, "{body}");
    body["stacks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s: &Value| {
            (
                s["id"].as_str().unwrap_or_default().to_string(),
                s["stack_status"].as_str().unwrap_or_default().to_string(),
            )
        })
        // Heat lists a stack it has just deleted as DELETE_COMPLETE for a moment (seen in CI
        // right after a destroy that waited for DELETE_COMPLETE): it is gone, as for the driver.
        .filter(|(_, status)| status != "DELETE_COMPLETE")
        .collect()
}

/// Upload a tiny raw image called `name` to Glance in the driver's project (private).
pub async fn upload_image(d: &OpenstackDriver, name: &str) {
    let (st, b) = d
        .request(
            reqwest::Method::POST,
            "image",
            "/v2/images",
            Some(&serde_json::json!({"name": name, "disk_format": "raw", "container_format": "bare"})),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st, 201, "{b}");
    let id = b["id"].as_str().unwrap_or_default().to_string();
    let tok = d.session().token().await.unwrap_or_else(|e| panic!("{e}"));
    let r = reqwest::Client::new()
        .put(format!("http://127.0.0.1:9292/v2/images/{id}/file"))
        .header(
            "X-Auth-Token",
            bridge_providers::openstack::Session::header(&tok),
        )
        .header("Content-Type", "application/octet-stream")
        .body(vec![0u8; 65536])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 204, "image upload");
}

/// Delete the images called `name` in the driver's project.
pub async fn delete_images(d: &OpenstackDriver, name: &str) {
    let (_, b) = d
        .request(
            reqwest::Method::GET,
            "image",
            &format!("/v2/images?name={name}"),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for i in b["images"].as_array().into_iter().flatten() {
        let id = i["id"].as_str().unwrap_or_default();
        let _ = d
            .request(
                reqwest::Method::DELETE,
                "image",
                &format!("/v2/images/{id}"),
                None,
            )
            .await;
    }
}

/// `bridge ARGS` in `dir` with `env` and none of the caller's OpenStack variables.
pub fn cli(dir: &Path, args: &[&str], env: &[(String, String)]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_bridge"));
    c.current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("OS_CLOUD")
        .env_remove("OS_AUTH_URL")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// `CMD -p openstack -f app.yaml --state state.db EXTRA...`: a CLI run on the app of [`app_dir`].
pub fn app_args<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        cmd,
        "-p",
        "openstack",
        "-f",
        "app.yaml",
        "--state",
        "state.db",
    ];
    v.extend(extra);
    v
}

/// [`cli`], run to completion.
pub fn run(dir: &Path, args: &[&str], env: &[(String, String)]) -> std::process::Output {
    cli(dir, args, env)
        .output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}
