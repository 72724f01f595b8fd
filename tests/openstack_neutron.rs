//! The OpenStack driver with Neutron on (its default) against the real test OpenStack
//! (tests/openstack/up.sh: a real neutron API with ML2 beside Keystone, Heat and Nova): the
//! template's `OS::Neutron::SecurityGroup` resources are created by Heat in Neutron and applied
//! to the servers' ports, the servers get fixed IPs on the `private` network, a floating IP from
//! `public` shows as the vm's public address, and `server_addresses` says what Nova says.

#[path = "support/openstack.rs"]
mod os;

use std::time::{Duration, Instant};

use bridge_providers::Driver;
use bridge_providers::engine::{self, ApplyOptions};
use bridge_providers::openstack::OpenstackDriver;
use reqwest::Method;
use serde_json::{Value, json};

async fn get(d: &OpenstackDriver, service: &str, path: &str) -> Value {
    let (st, b) = d
        .request(Method::GET, service, path, None)
        .await
        .unwrap_or_else(|e| panic!("{service} {path}: {e}"));
    assert_eq!(st, 200, "{service} {path}: {b}");
    b
}

/// Nova's own view of the server called `name`: (id, fixed IPs, floating IPs), read from
/// `GET /servers/detail` independently of the driver's code.
async fn nova_addresses(d: &OpenstackDriver, name: &str) -> (String, Vec<String>, Vec<String>) {
    let b = get(d, "compute", &format!("/servers/detail?name=^{name}$")).await;
    let servers = b["servers"].as_array().cloned().unwrap_or_default();
    assert_eq!(servers.len(), 1, "servers named {name}: {b}");
    let s = &servers[0];
    let (mut fixed, mut floating) = (Vec::new(), Vec::new());
    for (_, list) in s["addresses"].as_object().into_iter().flatten() {
        for a in list.as_array().into_iter().flatten() {
            let addr = a["addr"].as_str().unwrap_or_default().to_string();
            match a["OS-EXT-IPS:type"].as_str() {
                Some("floating") => floating.push(addr),
                _ => fixed.push(addr),
            }
        }
    }
    (
        s["id"].as_str().unwrap_or_default().to_string(),
        fixed,
        floating,
    )
}

#[test]
fn security_groups_ports_and_addresses_with_neutron_on() {
    let app = "it-os-neutron";
    let yaml = os::app_yaml_neutron(app, "info", "");
    let dir = os::app_dir(app, &yaml);
    let d = os::driver("bridge-demo", &dir);
    // Port bindings are shown to admins only.
    let admin = os::driver("bridge-admin", &dir);
    let opts = ApplyOptions {
        parallelism: 4,
        timeout: Duration::from_secs(300),
    };
    let quiet = |_: &engine::Event| {};
    let result: Result<(), String> = os::rt().block_on(async {
        let _ = engine::destroy(&d, app, &opts, &quiet).await;
        let (desired, _) = d.desired(&os::load(&dir, &yaml));
        let template = desired[0].spec["template"].to_string();
        assert!(template.contains("OS::Neutron::SecurityGroup"), "{template}");
        let plan = engine::plan(&d, app, &desired).await.map_err(|e| e.to_string())?;
        engine::apply_plan(&d, app, &plan, &opts, &quiet)
            .await
            .map_err(|e| format!("deploy: {e}"))?;

        // Heat created the security groups in Neutron, and they are on the vm's port.
        let (id, fixed, floating) = nova_addresses(&d, &format!("{app}-db")).await;
        let groups = get(&d, "network", "/v2.0/security-groups").await;
        let ours: Vec<(String, String)> = groups["security_groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["name"].as_str().is_some_and(|n| n.starts_with(app)))
            .map(|g| {
                let f = |k: &str| g[k].as_str().unwrap_or_default().to_string();
                (f("id"), f("name"))
            })
            .collect();
        let names: Vec<&str> = ours.iter().map(|g| g.1.as_str()).collect();
        let (internal, web) = ("it-os-neutron-internal", "it-os-neutron-host-web");
        assert!(names.contains(&internal) && names.contains(&web), "{names:?}");
        let gid = |n: &str| ours.iter().find(|g| g.1 == n).map(|g| g.0.clone()).unwrap_or_default();
        // Every server of the app has one bound, active port holding the app's internal group;
        // the container host's also holds the group of its published port.
        let servers = os::servers(&d, &format!("{app}-")).await;
        assert_eq!(servers.len(), 2, "{servers:?}");
        let mut vm_port = Value::Null;
        for (sid, sname, _) in &servers {
            let ports = get(&admin, "network", &format!("/v2.0/ports?device_id={sid}")).await;
            let ports = ports["ports"].as_array().cloned().unwrap_or_default();
            assert_eq!(ports.len(), 1, "{sname}: {ports:?}");
            let port = ports[0].clone();
            assert_eq!(port["binding:host_id"], "host-ovs-filter-active", "{port}");
            assert_eq!(port["binding:vif_type"], "ovs", "{port}");
            assert_eq!(port["status"], "ACTIVE", "{port}");
            let on_port = port["security_groups"].to_string();
            assert!(on_port.contains(&gid(internal)), "{sname}: {port}");
            if *sname == format!("{app}-db") {
                vm_port = port;
            } else {
                assert!(on_port.contains(&gid(web)), "{sname}: {port}");
            }
        }
        assert_eq!(vm_port["device_id"], json!(id), "{vm_port}");
        // The published port 8080 is open in the host's group.
        let rules = get(&d, "network", "/v2.0/security-group-rules").await;
        assert!(
            rules["security_group_rules"].as_array().into_iter().flatten().any(|r| {
                r["security_group_id"] == json!(gid(web))
                    && r["port_range_min"] == 8080
                    && r["direction"] == "ingress"
            }),
            "no ingress rule for 8080 in {web}: {rules}"
        );

        // The fixed IP: what Nova reports, on the private subnet.
        assert_eq!(fixed.len(), 1, "{fixed:?}");
        assert!(floating.is_empty(), "{floating:?}");
        assert!(fixed[0].starts_with("198.51.100."), "{fixed:?}");
        let addrs = d.server_addresses(app).await.map_err(|e| e.to_string())?;
        let keys: Vec<&String> = addrs.keys().collect();
        assert_eq!(keys, ["db"], "only the vm, not the container host: {addrs:?}");
        assert_eq!(addrs["db"].private.as_deref(), Some(fixed[0].as_str()));
        assert_eq!(addrs["db"].public, None);

        // A floating IP from `public` on the vm's port: Nova reports it (Neutron tells Nova), and
        // so does server_addresses.
        let nets = get(&d, "network", "/v2.0/networks?name=public").await;
        let public = nets["networks"][0]["id"].as_str().unwrap_or_default().to_string();
        let (st, fip) = d
            .request(
                Method::POST,
                "network",
                "/v2.0/floatingips",
                Some(&json!({"floatingip": {"floating_network_id": public, "port_id": vm_port["id"]}})),
            )
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(st, 201, "{fip}");
        let fip_id = fip["floatingip"]["id"].as_str().unwrap_or_default().to_string();
        let fip_addr = fip["floatingip"]["floating_ip_address"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(fip_addr.starts_with("203.0.113."), "{fip}");
        let t = Instant::now();
        loop {
            let (_, _, floating) = nova_addresses(&d, &format!("{app}-db")).await;
            if floating == [fip_addr.clone()] {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(90),
                "nova never showed the floating ip {fip_addr}: {floating:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let addrs = d.server_addresses(app).await.map_err(|e| e.to_string())?;
        assert_eq!(addrs["db"].public.as_deref(), Some(fip_addr.as_str()));
        assert_eq!(addrs["db"].private.as_deref(), Some(fixed[0].as_str()));
        let (st, b) = d
            .request(Method::DELETE, "network", &format!("/v2.0/floatingips/{fip_id}"), None)
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(st, 204, "{b}");

        // An empty plan after the deploy; destroy leaves no server, port or group of the app.
        let p = engine::plan(&d, app, &desired).await.map_err(|e| e.to_string())?;
        assert!(p.is_empty(), "{}", p.render());
        engine::destroy(&d, app, &opts, &quiet)
            .await
            .map_err(|e| format!("destroy: {e}"))?;
        assert!(os::servers(&d, &format!("{app}-")).await.is_empty());
        let left = get(&d, "network", &format!("/v2.0/ports?device_id={id}")).await;
        assert_eq!(left["ports"], json!([]), "{left}");
        let groups = get(&d, "network", "/v2.0/security-groups").await;
        assert!(
            !groups.to_string().contains(&format!("\"{app}-")),
            "groups left: {groups}"
        );
        assert!(d.server_addresses(app).await.map_err(|e| e.to_string())?.is_empty());
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        panic!("{e}");
    }
}
