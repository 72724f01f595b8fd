//! Sizes from the cloud's own catalogue (issue 12): the OpenStack driver reads Nova's flavors
//! (`GET /flavors/detail`) once per run in `check`, and the placement picks the smallest that
//! holds each vm and container host. Against the real test OpenStack (tests/openstack/up.sh):
//! a private flavor made for this test (`bridge.small2-<pid>`, 1 vcpu 1536 MiB, which the stock
//! m1.* list has not) is chosen over m1.small, Heat accepts the stack and Nova boots the servers
//! with it; a vm larger than every flavor is an error naming the vm and the cloud's largest
//! flavor. The flavor is private to the admin project, so parallel tests of other projects do
//! not see it, and it is deleted at the end.

#[path = "support/openstack.rs"]
mod os;

use bridge_providers::Driver;
use bridge_providers::engine::{self, ApplyOptions};
use reqwest::Method;
use serde_json::{Value, json};

const APP: &str = "it-os-flavors";

fn yaml(vm_cpus: &str, vm_memory: &str) -> String {
    format!(
        "bridge: v1\nname: {APP}\nservices:\n  web:\n    image: busybox:1\n    command: [sleep, '3600']\n    resources: {{cpus: 0.5, memory: 512MiB}}\nvms:\n  db:\n    image: ubuntu-24.04\n    cpus: {vm_cpus}\n    memory: {vm_memory}\nproviders:\n  openstack: {{neutron: false, images: {{ubuntu-24.04: bridge-test-image, container-host: bridge-test-image}}}}\n"
    )
}

async fn call(
    d: &bridge_providers::openstack::OpenstackDriver,
    m: Method,
    path: &str,
    body: Option<&Value>,
) -> Value {
    let (status, v) = d
        .request(m.clone(), "compute", path, body)
        .await
        .unwrap_or_else(|e| panic!("{m} {path}: {e}"));
    assert!((200..300).contains(&status), "{m} {path}: {status} {v}");
    v
}

/// Destroys the app and deletes the flavor when the test ends, passed or not (dropped outside
/// any runtime).
struct Cleanup {
    dir: std::path::PathBuf,
    flavor: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let d = os::driver("bridge-admin", &self.dir);
        os::rt().block_on(async {
            let quiet = |_: &engine::Event| {};
            if let Err(e) = engine::destroy(&d, APP, &ApplyOptions::default(), &quiet).await {
                eprintln!("cleanup: {e}");
            }
            let path = format!("/flavors/{}", self.flavor);
            let _ = d.request(Method::DELETE, "compute", &path, None).await;
        });
    }
}

#[test]
fn the_clouds_own_flavor_is_chosen_and_nova_boots_it() {
    let dir = os::app_dir("flavors", &yaml("1", "1GiB"));
    let admin = os::driver("bridge-admin", &dir);
    let name = format!("bridge.small2-{}", std::process::id());
    let rt = os::rt();
    // A private flavor the admin project may use.
    let id = rt.block_on(async {
        let tok = admin.session().token().await.unwrap_or_else(|e| panic!("{e}"));
        let f = call(
            &admin,
            Method::POST,
            "/flavors",
            Some(&json!({"flavor": {"name": name, "vcpus": 1, "ram": 1536, "disk": 5, "os-flavor-access:is_public": false}})),
        )
        .await;
        let id = f["flavor"]["id"].as_str().unwrap_or_default().to_string();
        call(
            &admin,
            Method::POST,
            &format!("/flavors/{id}/action"),
            Some(&json!({"addTenantAccess": {"tenant": tok.project_id}})),
        )
        .await;
        id
    });
    let _cleanup = Cleanup {
        dir: dir.clone(),
        flavor: id.clone(),
    };
    rt.block_on(async {
        // Before check: the stock list, and the translator says so.
        let valid = os::load(&dir, &yaml("1", "1GiB"));
        let (_, diags) = admin.desired(&valid);
        assert!(diags.iter().any(|d| d.code == "T416"), "{diags:?}");

        admin.check().await.unwrap_or_else(|e| panic!("check: {e}"));
        let flavors = admin.flavors().await.unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = flavors.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&name.as_str()), "{names:?}");
        assert!(names.contains(&"m1.small"), "{names:?}");
        let calls = admin.calls();
        let _ = admin.flavors().await;
        assert_eq!(admin.calls(), calls, "the catalogue is read once per run");

        let (desired, diags) = admin.desired(&valid);
        assert!(!diags.has_errors(), "{diags:?}");
        assert!(!diags.iter().any(|d| d.code == "T416"), "{diags:?}");
        let params = &desired[0].spec["template"]["parameters"];
        // 1 vcpu 1 GiB: bridge.small2 (1536 MiB) is smaller than m1.small (2048 MiB).
        assert_eq!(params["vm_db_flavor"]["default"], json!(name), "{params}");
        // The container host (0.5 cpu 512 MiB plus overhead) fits it too.
        let host = params
            .as_object()
            .into_iter()
            .flatten()
            .find(|(k, _)| k.starts_with("flavor_"))
            .map(|(_, v)| v["default"].clone());
        assert_eq!(host, Some(json!(name)), "{params}");

        let opts = ApplyOptions::default();
        let quiet = |_: &engine::Event| {};
        let plan = engine::plan(&admin, APP, &desired)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        engine::apply_plan(&admin, APP, &plan, &opts, &quiet)
            .await
            .unwrap_or_else(|e| panic!("deploy: {e}"));
        let servers = call(&admin, Method::GET, "/servers/detail", None).await;
        let ours: Vec<&Value> = servers["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&format!("{APP}-")))
            })
            .collect();
        assert_eq!(ours.len(), 2, "{servers}");
        for s in &ours {
            assert_eq!(s["status"], "ACTIVE", "{s}");
            assert_eq!(s["flavor"]["id"], json!(id), "{s}");
        }

        // Larger than every flavor: an error naming the vm and the cloud's largest flavor.
        let big = os::load(&dir, &yaml("64", "512GiB"));
        let (_, diags) = admin.desired(&big);
        let largest = flavors
            .iter()
            .max_by_key(|f| (f.ram_mib, f.vcpus))
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let e: Vec<String> = diags
            .iter()
            .filter(|d| d.code == "T401")
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect();
        assert_eq!(e.len(), 1, "{diags:?}");
        assert!(
            e[0].starts_with(
                "vms.db.cpus: vm `db`: no flavor has 64 cpus and 524288 MiB; the largest is "
            ) && e[0].contains(&format!("the largest is {largest} (")),
            "{e:?}"
        );
    });
}
