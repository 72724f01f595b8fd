//! Issue 12 on OpenStack, following a replaced server: `web`'s server reads `api`'s address from
//! its own Nova metadata (`bridge-peer-<server>`, filled by Heat's `get_attr first_address`),
//! not from its user data. Against the real test OpenStack (tests/openstack/up.sh: Keystone,
//! Heat, Nova with the fake virt driver, Neutron): `api`'s server replaced by a changed env gets
//! a new address, and the stack update writes it into `web`'s server metadata in place: the same
//! server (id), its user data untouched. The VM side (the watcher reading `meta_data.json`, the
//! hosts files rewritten in place) is the one `tests/names_across_vms.rs` runs on the Docker
//! Engine.

#[path = "support/openstack.rs"]
mod os;

use bridge_providers::Driver;
use bridge_providers::engine;
use bridge_providers::openstack::OpenstackDriver;
use reqwest::Method;
use serde_json::Value;

fn app_yaml(name: &str, release: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  api:\n    image: busybox:1\n    group: g\n    aliases: [backend]\n    env: {{RELEASE: '{release}'}}\n    command: [sleep, '3600']\n    ports: ['18484:18484']\n    resources: {{cpus: 1.5, memory: 256MiB}}\n  web:\n    image: busybox:1\n    command: [sleep, '3600']\n    links: ['api:apiref']\n    depends_on: [api]\n    resources: {{cpus: 1.5, memory: 256MiB}}\ngroups:\n  g: {{}}\nproviders:\n  openstack: {{flavor: m1.medium, images: {{container-host: bridge-test-image}}}}\n"
    )
}

/// Nova's servers of the app: (name, id, fixed IPs, metadata), by name.
async fn servers(d: &OpenstackDriver, app: &str) -> Vec<(String, String, Vec<String>, Value)> {
    let (st, b) = d
        .request(Method::GET, "compute", "/servers/detail", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st, 200, "{b}");
    let mut out = Vec::new();
    for s in b["servers"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or_default();
        if !name.starts_with(&format!("{app}-")) || s["status"] == "DELETED" {
            continue;
        }
        let mut fixed = Vec::new();
        for (_, list) in s["addresses"].as_object().into_iter().flatten() {
            for a in list.as_array().into_iter().flatten() {
                if a["OS-EXT-IPS:type"] != "floating" {
                    fixed.push(a["addr"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        out.push((
            name.to_string(),
            s["id"].as_str().unwrap_or_default().to_string(),
            fixed,
            s["metadata"].clone(),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The `bridge-peer-*` key of a server's metadata and its value (the peer's address).
fn peer_key(meta: &Value) -> Option<(String, String)> {
    meta.as_object()?
        .iter()
        .find(|(k, _)| k.starts_with("bridge-peer-"))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
}

#[test]
fn a_replaced_server_updates_its_peers_metadata_in_place() {
    let app = "it-os-follow";
    let yaml = app_yaml(app, "1");
    let dir = os::app_dir(app, &yaml);
    let d = os::driver("bridge-demo", &dir);
    let opts = os::apply_opts();
    let quiet = |_: &engine::Event| {};
    let result: Result<(), String> = os::rt().block_on(async {
        let _ = engine::destroy(&d, app, &opts, &quiet).await;
        let deploy = |yaml: String| {
            let d = &d;
            let dir = &dir;
            let opts = &opts;
            async move {
                let (desired, diags) = d.desired(&os::load(dir, &yaml));
                assert!(!diags.has_errors(), "{diags:?}");
                let plan = engine::plan(d, app, &desired)
                    .await
                    .map_err(|e| e.to_string())?;
                engine::apply_plan(d, app, &plan, opts, &quiet)
                    .await
                    .map_err(|e| format!("deploy: {e}"))
            }
        };
        deploy(yaml.clone()).await?;
        let before = servers(&d, app).await;
        assert_eq!(before.len(), 2, "{before:?}");
        // web's server holds the key; api's is the other one.
        let web = before
            .iter()
            .find(|s| peer_key(&s.3).is_some())
            .cloned()
            .ok_or_else(|| format!("no server has a bridge-peer key: {before:?}"))?;
        let api = before
            .iter()
            .find(|s| s.0 != web.0)
            .cloned()
            .unwrap_or_else(|| panic!("{before:?}"));
        let (key, ip1) = peer_key(&web.3).unwrap_or_default();
        assert_eq!(
            api.2,
            vec![ip1.clone()],
            "{key} is not api's address: {before:?}"
        );

        // api's server is replaced (its user data changed): a new server, a new address.
        deploy(app_yaml(app, "2")).await?;
        let after = servers(&d, app).await;
        let api2 = after
            .iter()
            .find(|s| s.0 == api.0)
            .cloned()
            .unwrap_or_else(|| panic!("{after:?}"));
        let web2 = after
            .iter()
            .find(|s| s.0 == web.0)
            .cloned()
            .unwrap_or_else(|| panic!("{after:?}"));
        assert_ne!(api2.1, api.1, "api's server was not replaced");
        assert_ne!(api2.2, api.2, "api's new server kept the address");
        assert_eq!(web2.1, web.1, "web's server was replaced");
        assert_eq!(
            peer_key(&web2.3),
            Some((key.clone(), api2.2[0].clone())),
            "web's metadata does not follow: {after:?}"
        );
        // A plan right after has nothing to do.
        let (desired, _) = d.desired(&os::load(&dir, &app_yaml(app, "2")));
        let plan = engine::plan(&d, app, &desired)
            .await
            .map_err(|e| e.to_string())?;
        assert!(
            plan.steps
                .iter()
                .all(|s| s.action == bridge_core::plan::Action::NoOp),
            "{:?}",
            plan.steps
        );
        Ok(())
    });
    let cleanup = os::rt().block_on(engine::destroy(&d, app, &opts, &quiet));
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap_or_else(|e| panic!("{e}"));
    cleanup.unwrap_or_else(|e| panic!("destroy: {e}"));
}
