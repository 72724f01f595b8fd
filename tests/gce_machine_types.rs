//! Sizes from the cloud's own catalogue on GCE (issue 12): the driver reads the zone's machine
//! types (`machineTypes.list`, every page) once per run in `check`, and the placement picks the
//! smallest that holds each host and VM. Against the Compute-compatible test server
//! (tests/gce_server), whose zone lists more than bridge's stock E2 list (`e2-highcpu-2`, N2,
//! ARM64 and GPU types...), validates the list request's query by the discovery document and
//! rejects an instance whose machine type the zone does not list: a deploy sizes a host and a VM
//! on `e2-highcpu-2` (not in the stock list) and the server reports it on the instances; render
//! without credentials warns T316; a VM or a service larger than every type is an error naming
//! it and the zone's largest type.

mod support;

use std::process::Output;

use bridge_providers::Driver;
use support::gce::{PROJECT, Server, ZONE, valid};
use support::peers::text;

/// A VM of 2 vCPU and 2 GiB and a service of 1.5 cpu and 1 GiB (a host of 1.6 cpu and
/// 1.25 GiB with the overhead): both fit `e2-highcpu-2`, which the stock list lacks (there they
/// take `e2-standard-2`).
fn app(name: &str, vm_cpus: &str, svc_cpus: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: ghcr.io/acme/web:1.4\n    resources: {{cpus: {svc_cpus}, memory: 1GiB}}\nvms:\n  db:\n    image: debian-12\n    cpus: {vm_cpus}\n    memory: 2GiB\nproviders:\n  gce: {{project: {PROJECT}, zone: {ZONE}, images: {{debian-12: projects/debian-cloud/global/images/family/debian-12}}}}\n"
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn run(server: &Server, args: &[&str], file: &std::path::Path) -> Output {
    server
        .on_app(args, file)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run bridge: {e}"))
}

/// The machine type of every instance of the app, as `instances.get` reports it: name to the
/// type's last path segment.
fn machine_types(server: &Server, app: &str) -> Vec<(String, String)> {
    let dump = server.control("dump");
    let token = server.token();
    let mut out = Vec::new();
    for name in dump["resources"][format!("{ZONE}/instances")]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|n| n.starts_with(app))
    {
        let (status, v) = server.request(
            "GET",
            &format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/{name}"),
            Some(&token),
            None,
        );
        assert_eq!(status, 200, "{name}: {v}");
        let ty = v["machineType"].as_str().unwrap_or_default();
        assert!(
            ty.starts_with(&format!(
                "https://www.googleapis.com/compute/v1/projects/{PROJECT}/zones/{ZONE}/machineTypes/"
            )),
            "{name}: {ty}"
        );
        out.push((
            name.clone(),
            ty.rsplit('/').next().unwrap_or_default().to_string(),
        ));
    }
    out.sort();
    out
}

fn instance_types(desired: &[bridge_core::plan::Desired]) -> Vec<String> {
    let mut v: Vec<String> = desired
        .iter()
        .filter(|d| d.id.kind == "instance")
        .map(|d| {
            d.spec["machineType"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn gce_deploy_sizes_hosts_and_vms_from_the_zones_machine_types() {
    let server = Server::start("mtypes", 3600.0);
    let yaml = app("it-mt", "2", "1.5");
    let valid = valid(&yaml);
    let d = server.driver(&valid).unwrap_or_else(|e| panic!("{e}"));
    let rt = rt();
    rt.block_on(async {
        // Before verify: the stock list, and the translator says so.
        let (desired, diags) = d.desired(&valid);
        assert!(diags.iter().any(|x| x.code == "T316"), "{diags:?}");
        assert_eq!(instance_types(&desired), ["e2-standard-2", "e2-standard-2"]);

        d.verify(&valid)
            .await
            .unwrap_or_else(|e| panic!("verify: {e}"));
        let listed = server.stat("machineTypes.list");
        // 30 types in pages of 2: every page was read.
        assert_eq!(listed, 15, "{}", server.control("stats"));
        let types = d.machine_types().await.unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        assert!(names.contains(&"e2-highcpu-2"), "{names:?}");
        assert!(names.contains(&"n2d-standard-8"), "{names:?}");
        // ARM64, GPU types are not offered to the solver.
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("t2a-") || n.starts_with("a2-")),
            "{names:?}"
        );
        // Shared-core types at their sustained share.
        let micro = types.iter().find(|t| t.name == "e2-micro");
        assert_eq!(micro.map(|t| t.cpus.0), Some(250), "{types:?}");
        let _ = d.machine_types().await;
        assert_eq!(
            server.stat("machineTypes.list"),
            listed,
            "the catalogue is read once per run"
        );
        let (desired, diags) = d.desired(&valid);
        assert!(!diags.has_errors(), "{diags:?}");
        assert!(!diags.iter().any(|x| x.code == "T316"), "{diags:?}");
        assert_eq!(instance_types(&desired), ["e2-highcpu-2", "e2-highcpu-2"]);
    });

    // The binary's deploy (which checks first) creates them so, as the server reports.
    let f = server.write_app("app", &yaml);
    let o = run(&server, &["deploy", "--yes"], &f);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("T316"), "{}", text(&o));
    let got = machine_types(&server, "it-mt");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|(_, t)| t == "e2-highcpu-2"), "{got:?}");
    // Converged: the plan after the deploy (sized the same way) has nothing to do.
    let o = run(&server, &["plan", "--detailed-exitcode"], &f);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&server, &["destroy"], &f);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn gce_machine_types_list_query_is_checked_by_the_discovery_document() {
    let server = Server::start("mtquery", 3600.0);
    let token = server.token();
    let base = format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}/machineTypes");
    let (status, v) = server.request("GET", &format!("{base}?maxResults=3"), Some(&token), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "compute#machineTypeList");
    // The server's pages are 2 long; the item has the discovery document's fields.
    let first = &v["items"][0];
    assert_eq!(first["kind"], "compute#machineType", "{v}");
    assert!(
        first["guestCpus"].is_u64() && first["memoryMb"].is_u64(),
        "{first}"
    );
    assert!(v["nextPageToken"].is_string(), "{v}");
    for bad in [
        "maxResults=501",
        "maxResults=-1",
        "colour=red",
        "returnPartialSuccess=maybe",
    ] {
        let (status, v) = server.request("GET", &format!("{base}?{bad}"), Some(&token), None);
        assert_eq!(status, 400, "{bad}: {v}");
    }
    let (status, v) = server.request("GET", &format!("{base}/e2-highcpu-2"), Some(&token), None);
    assert_eq!((status, v["memoryMb"].as_u64()), (200, Some(2048)), "{v}");
    let (status, _) = server.request("GET", &format!("{base}/z9-mystery-1"), Some(&token), None);
    assert_eq!(status, 404);
    // An instance of a type the zone does not list is refused, as the real API does.
    let body = serde_json::json!({
        "name": "odd",
        "machineType": format!("zones/{ZONE}/machineTypes/z9-mystery-1"),
        "disks": [{"boot": true, "autoDelete": true, "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
        "networkInterfaces": [{"network": "global/networks/default"}],
    });
    let (status, v) = server.request(
        "POST",
        &format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances"),
        Some(&token),
        Some(&body),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("does not exist in zone"), "{v}");
}

#[test]
fn gce_render_without_credentials_says_the_sizes_are_the_stock_list() {
    let dir = std::env::temp_dir().join(format!("bridge-gce-mtrender-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let f = dir.join("bridge.yaml");
    std::fs::write(&f, app("it-mtr", "2", "1.5")).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_bridge"))
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .env("HOME", &dir)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("BRIDGE_GCE_ENDPOINT")
        .arg("render")
        .arg("-f")
        .arg(&f)
        .args(["-p", "gce", "-o"])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("render: {e}"));
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("T316") && t.contains("stock list"), "{t}");
    let mut found = Vec::new();
    for e in std::fs::read_dir(out.join("gce/instances"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let s = std::fs::read_to_string(e.path()).unwrap_or_default();
        if s.contains("machineTypes/e2-standard-2") {
            found.push(e.file_name());
        }
    }
    assert!(
        !found.is_empty(),
        "no rendered instance names e2-standard-2"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gce_a_request_larger_than_every_machine_type_names_it_and_the_largest() {
    let server = Server::start("mtbig", 3600.0);
    for (yaml, path, largest) in [
        // A VM of 64 vCPU: the zone's largest is e2-standard-32 (the stock list stops at 16).
        (
            app("it-big", "64", "1"),
            "vms.db",
            "e2-standard-32 (32 vCPU, 128GiB)",
        ),
        // A service of 40 cpus: no host is large enough.
        (app("it-big", "2", "40"), "services.web", "e2-standard-32"),
    ] {
        let valid = valid(&yaml);
        let d = server.driver(&valid).unwrap_or_else(|e| panic!("{e}"));
        rt().block_on(d.verify(&valid))
            .unwrap_or_else(|e| panic!("verify: {e}"));
        let (_, diags) = d.desired(&valid);
        let e = diags
            .iter()
            .find(|x| x.severity == bridge_core::Severity::Error && x.path.starts_with(path))
            .unwrap_or_else(|| panic!("no error on {path}: {diags:?}"));
        let said = format!("{} {}", e.message, e.hint.clone().unwrap_or_default());
        assert!(said.contains(largest), "{said}");
        // The binary refuses to deploy it, with the same diagnostic.
        let f = server.write_app("big", &yaml);
        let o = run(&server, &["deploy", "--yes"], &f);
        assert_ne!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains(largest), "{}", text(&o));
    }
    assert_eq!(
        server.stat("insert_instances"),
        0,
        "{}",
        server.control("stats")
    );
}
