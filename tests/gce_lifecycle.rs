//! The GCE driver through the `bridge` binary against the Compute-compatible test server
//! (tests/gce_server): token refresh mid-deploy, a revoked token, `kill -9` mid-deploy and a
//! rerun, reconcile after out-of-band changes, destroy, and clear errors with exit 2.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use bridge_core::ValidApp;
use bridge_core::plan::{Action, Step};
use bridge_providers::Driver;
use bridge_providers::gce::GceDriver;
use support::gce::{PROJECT, Server, ZONE, replicated_app, valid};
use support::peers::text;

fn bridge(server: &Server, args: &[&str], file: &Path) -> Output {
    server
        .on_app(args, file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bridge: {e}"))
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn driver(server: &Server, app: &ValidApp) -> GceDriver {
    server.driver(app).unwrap_or_else(|e| panic!("{e}"))
}

/// Instance names per component, as observed.
fn instances(server: &Server, app: &ValidApp) -> Vec<(String, String)> {
    let d = driver(server, app);
    let name = app.app().name.clone();
    let obs = rt()
        .block_on(d.observe(&name))
        .unwrap_or_else(|e| panic!("observe: {e}"));
    let mut v: Vec<(String, String)> = obs
        .into_iter()
        .filter(|c| c.id.kind == "instance")
        .map(|c| (c.id.name, c.handle))
        .collect();
    v.sort();
    v
}

fn desired_instances(app: &ValidApp) -> usize {
    bridge_providers::gce::desired(app, PROJECT)
        .0
        .iter()
        .filter(|d| d.id.kind == "instance")
        .count()
}

#[test]
fn gce_token_refresh_mid_deploy() {
    // Tokens live one second: a deploy with --wait outlives several.
    let server = Server::start("refresh", 1.0);
    let yaml = replicated_app("it-refresh");
    let f = server.write_app("app", &yaml);
    let t = Instant::now();
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let took = t.elapsed();
    let issued = server.stat("tokens_issued");
    assert!(
        issued >= 2 && took > Duration::from_secs(1),
        "expected the deploy ({took:?}) to need more than one token, got {issued}: {}",
        server.control("stats")
    );
    assert_eq!(
        instances(&server, &valid(&yaml)).len(),
        desired_instances(&valid(&yaml))
    );
    ok(&bridge(&server, &["destroy"], &f));
}

#[test]
fn gce_revoked_token_is_fetched_again_once() {
    let server = Server::start("revoke", 3600.0);
    let yaml = replicated_app("it-revoke");
    let app = valid(&yaml);
    let d = driver(&server, &app);
    let rt = rt();
    rt.block_on(d.status("it-revoke"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.stat("tokens_issued"), 1);
    server.control("revoke");
    rt.block_on(d.status("it-revoke"))
        .unwrap_or_else(|e| panic!("after revoke: {e}"));
    assert_eq!(
        server.stat("tokens_issued"),
        2,
        "{}",
        server.control("stats")
    );
    assert_eq!(
        server.stat("unauthenticated"),
        1,
        "{}",
        server.control("stats")
    );
}

#[test]
fn gce_kill_9_mid_deploy_then_rerun_leaves_no_duplicates() {
    let server = Server::start("kill", 3600.0);
    let yaml = replicated_app("it-kill");
    let app = valid(&yaml);
    let f = server.write_app("app", &yaml);
    // Kill it twice: while the firewall rule's insert is in flight, then (rerun) while the
    // instances' inserts are.
    for counter in ["insert_firewalls", "insert_instances"] {
        let mut child = server
            .bridge()
            .args(["deploy", "--yes", "-p", "gce", "-f"])
            .arg(&f)
            .arg("--state")
            .arg(server.dir.join("state.db"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run bridge: {e}"));
        let t = Instant::now();
        while server.stat(counter) == 0 {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no {counter} within a minute"
            );
            if let Ok(Some(s)) = child.try_wait() {
                panic!("deploy ended ({s}) before it could be killed");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Killed mid-deploy: something is still missing, or not yet running.
        let st = bridge(&server, &["status", "--output", "json"], &f);
        ok(&st);
        let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap_or_default();
        let comps = v["components"].as_array().cloned().unwrap_or_default();
        let running = comps.iter().filter(|c| c["running"] == 1).count();
        assert!(
            running < desired_instances(&app),
            "killed too late, after {counter}: {v}"
        );
    }
    // The rerun resumes: the plan names only what is missing, and the result is complete.
    ok(&bridge(&server, &["deploy", "--wait"], &f));
    ok(&bridge(&server, &["plan", "--detailed-exitcode"], &f));
    let got = instances(&server, &app);
    assert_eq!(got.len(), desired_instances(&app), "{got:?}");
    let mut names: Vec<&String> = got.iter().map(|(_, h)| h).collect();
    names.dedup();
    assert_eq!(names.len(), got.len(), "duplicate instances: {got:?}");
    assert_eq!(
        server.stat("insert_instances") as usize,
        desired_instances(&app),
        "an instance was inserted twice: {}",
        server.control("stats")
    );
    ok(&bridge(&server, &["destroy"], &f));
    assert!(instances(&server, &app).is_empty());
}

#[test]
fn gce_reconcile_replaces_deleted_and_terminated_instances_and_resets_metadata() {
    let server = Server::start("reconcile", 3600.0);
    let yaml = replicated_app("it-rec");
    let app = valid(&yaml);
    let f = server.write_app("app", &yaml);
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let got = instances(&server, &app);
    assert!(got.len() >= 3, "{got:?}");
    // Out of band: one instance deleted through the API, one's metadata changed (new
    // fingerprint), one terminated.
    let d = driver(&server, &app);
    let (comp, name) = got[0].clone();
    let step = Step {
        resource: bridge_core::plan::ResourceId::new("instance", comp),
        action: Action::Delete,
        reason: "out of band".into(),
        before: None,
        after: None,
        handle: Some(name.clone()),
        rank: 10,
        depends_on: Vec::new(),
    };
    rt().block_on(d.apply("it-rec", &step))
        .unwrap_or_else(|e| panic!("{e}"));
    server.control(&format!("drift/{ZONE}/{}", got[1].1));
    server.control(&format!("terminate/{ZONE}/{}", got[2].1));
    let plan = bridge(&server, &["plan", "--detailed-exitcode"], &f);
    assert_eq!(plan.status.code(), Some(3), "{}", text(&plan));
    let out = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(out.contains("missing"), "{out}");
    assert!(out.contains("status TERMINATED -> RUNNING"), "{out}");
    assert!(out.contains("metadata.items changed"), "{out}");
    ok(&bridge(&server, &["reconcile"], &f));
    ok(&bridge(&server, &["plan", "--detailed-exitcode"], &f));
    // The hand-edited instance is reset in place (setMetadata, never deleted or re-inserted);
    // the other setMetadata calls are the hosts' address book following the two re-inserted
    // instances (see gce_a_replaced_host_is_followed_without_a_restart).
    let events = server.control("oplog")["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let of = |ev: &str| {
        events
            .iter()
            .filter(|e| e["instance"] == got[1].1.as_str() && e["event"] == ev)
            .count()
    };
    assert_eq!((of("insert"), of("delete")), (1, 0), "{events:#?}");
    assert!(of("setMetadata") >= 1, "{events:#?}");
    let dump = server.control("dump");
    let md = dump["resources"][format!("{ZONE}/instances")][&got[1].1]["metadata"].to_string();
    assert!(!md.contains("changed by hand"), "{md}");
    let st = bridge(&server, &["status", "--output", "json"], &f);
    ok(&st);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap_or_default();
    let comps = v["components"].as_array().cloned().unwrap_or_default();
    assert_eq!(comps.len(), got.len(), "{v}");
    assert!(comps.iter().all(|c| c["running"] == 1), "{v}");
    // Destroy leaves nothing labelled, disks and firewall rules included.
    ok(&bridge(&server, &["destroy"], &f));
    let left = rt()
        .block_on(d.observe("it-rec"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(left.is_empty(), "{left:?}");
    let dump = server.control("dump").to_string();
    assert!(!dump.contains("it-rec"), "left behind: {dump}");
}

/// `bridge plan` with another credentials file.
fn plan_with_key(server: &Server, key: &Path, f: &Path) -> Output {
    server
        .bridge()
        .env("GOOGLE_APPLICATION_CREDENTIALS", key)
        .args(["plan", "-p", "gce", "-f"])
        .arg(f)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bridge: {e}"))
}

fn fails_with(o: &Output, needles: &[&str]) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    for n in needles {
        assert!(t.contains(n), "expected {n:?} in:\n{t}");
    }
}

#[test]
fn gce_bad_credentials_project_zone_and_quota_give_clear_errors() {
    let server = Server::start("errors", 3600.0);
    let yaml = replicated_app("it-err");
    let f = server.write_app("app", &yaml);

    // Not a key file.
    let garbage = server.dir.join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap_or_default();
    let o = plan_with_key(&server, &garbage, &f);
    fails_with(
        &o,
        &[
            "is not a service-account JSON key",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ],
    );

    // A missing key file.
    let o = plan_with_key(&server, &server.dir.join("nope.json"), &f);
    fails_with(&o, &["cannot read the credentials file", "hint:"]);

    // A key the server does not trust (deleted, or of another account).
    let foreign = server.foreign_key();
    let o = plan_with_key(&server, &foreign, &f);
    fails_with(
        &o,
        &["invalid_grant", "Invalid JWT Signature", "create a new key"],
    );

    // A project and a zone that do not exist.
    let wrong = server.write_app("wrong-project", &yaml.replace(PROJECT, "no-such-project"));
    fails_with(
        &bridge(&server, &["plan"], &wrong),
        &[
            "project no-such-project does not exist",
            "providers.gce.project",
        ],
    );
    let wrong = server.write_app("wrong-zone", &yaml.replace(ZONE, "mars-north1-a"));
    fails_with(
        &bridge(&server, &["plan"], &wrong),
        &["zone mars-north1-a does not exist", "providers.gce.zone"],
    );

    // No permission to create firewall rules.
    server.control("deny/firewalls");
    fails_with(
        &bridge(&server, &["deploy", "--yes"], &f),
        &["compute.firewalls.create", "roles/compute.securityAdmin"],
    );
    server.control("allow/firewalls");

    // Instance quota: the operation's error is surfaced with what to do.
    server.control("quota/1");
    fails_with(
        &bridge(&server, &["deploy", "--yes"], &f),
        &["QUOTA_EXCEEDED", "quota"],
    );
    server.control("quota/100");
    ok(&bridge(&server, &["deploy", "--yes"], &f));

    // A backend hiccup passes (retried with backoff); a lasting outage is reported.
    server.control("flaky/3");
    ok(&bridge(&server, &["plan"], &f));
    server.control("flaky/50");
    fails_with(
        &bridge(&server, &["plan"], &f),
        &["currently unavailable", "(503", "retry"],
    );
    server.control("flaky/0");

    // Secret Manager not enabled in the project.
    server.control("disable-api/secretmanager");
    fails_with(
        &bridge(&server, &["plan"], &f),
        &[
            "Secret Manager API has not been used",
            "gcloud services enable",
        ],
    );

    // The key disabled (service account removed): its tokens stop working and no new one comes.
    server.control("disable-key");
    fails_with(
        &bridge(&server, &["status"], &f),
        &["refused", "invalid_grant", "hint:"],
    );
    assert_eq!(server.stat("status_500"), 0, "the server hit a bug");
}

#[test]
fn gce_redeploy_writes_nothing_and_a_changed_app_replaces_only_its_instance_and_grows_the_volume() {
    let server = Server::start("change", 3600.0);
    let yaml = replicated_app("it-chg");
    let app = valid(&yaml);
    let f = server.write_app("app", &yaml);
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    let before = instances(&server, &app);
    let inserted = server.stat("insert_instances");
    // A redeploy of the same app writes nothing.
    let writes = |v: &serde_json::Value| -> u64 {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        ["insert_", "delete_", "setMetadata", "setLabels", "resize"]
                            .iter()
                            .any(|p| k.starts_with(p))
                    })
                    .filter_map(|(_, n)| n.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    };
    let w = writes(&server.control("stats"));
    let again = bridge(&server, &["deploy", "--wait"], &f);
    ok(&again);
    assert!(text(&again).contains("no changes"), "{}", text(&again));
    assert_eq!(
        writes(&server.control("stats")),
        w,
        "a no-op redeploy wrote"
    );
    // The db's env changes: only the host that runs db changes.
    let changed = yaml.replace("POSTGRES_DB: app", "POSTGRES_DB: app2");
    std::fs::write(&f, &changed).unwrap_or_else(|e| panic!("{e}"));
    let plan = bridge(&server, &["plan", "--detailed-exitcode"], &f);
    assert_eq!(plan.status.code(), Some(3), "{}", text(&plan));
    let out = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(out.contains("1 to update"), "{out}");
    ok(&bridge(&server, &["deploy", "--wait"], &f));
    ok(&bridge(&server, &["plan", "--detailed-exitcode"], &f));
    assert_eq!(
        server.stat("delete_instances"),
        1,
        "{}",
        server.control("stats")
    );
    assert_eq!(server.stat("insert_instances"), inserted + 1);
    assert_eq!(instances(&server, &valid(&changed)).len(), before.len());
    // The volume grows in place (disks.resize, then its spec-hash label); it never shrinks.
    let grown = changed.replace("size: 10GiB", "size: 20GiB");
    std::fs::write(&f, &grown).unwrap_or_else(|e| panic!("{e}"));
    let plan = bridge(&server, &["plan"], &f);
    let out = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(
        out.contains("disk/volume-data") && out.contains("sizeGb 10 -> 20"),
        "{out}"
    );
    ok(&bridge(&server, &["deploy"], &f));
    ok(&bridge(&server, &["plan", "--detailed-exitcode"], &f));
    assert_eq!(server.stat("resize"), 1, "{}", server.control("stats"));
    assert_eq!(server.stat("delete_disks"), 0);
    std::fs::write(&f, &changed).unwrap_or_else(|e| panic!("{e}"));
    fails_with(
        &bridge(&server, &["deploy"], &f),
        &["disks cannot shrink", "hint:"],
    );
    std::fs::write(&f, &grown).unwrap_or_else(|e| panic!("{e}"));
    ok(&bridge(&server, &["destroy"], &f));
}

#[test]
fn gce_secret_values_go_to_secret_manager_only_and_reach_no_output_state_or_compute_request() {
    let server = Server::start("secrets", 3600.0);
    let value = "s3cr3t-Value-9f2e";
    let yaml = format!(
        "bridge: v1\nname: it-sec\nservices:\n  api:\n    image: ghcr.io/acme/api:1\n    secrets: [{{name: db_password, env: DB_PASSWORD}}]\nsecrets:\n  db_password: {{env: API_DB_PASSWORD}}\nproviders:\n  gce: {{project: {PROJECT}, zone: {ZONE}}}\n"
    );
    let f = server.write_app("app", &yaml);
    let run = |args: &[&str]| {
        server
            .bridge()
            .env("API_DB_PASSWORD", value)
            .args(args)
            .arg("-f")
            .arg(&f)
            .args(["-p", "gce", "--state"])
            .arg(server.dir.join("state.db"))
            .env("RUST_LOG", "debug")
            .output()
            .unwrap_or_else(|e| panic!("cannot run bridge: {e}"))
    };
    let mut all = String::new();
    for args in [
        &["deploy", "--yes", "--wait"][..],
        &["plan"],
        &["status", "--output", "json"],
        &["history"],
    ] {
        let o = run(args);
        ok(&o);
        all.push_str(&text(&o));
    }
    assert!(
        !all.contains(value),
        "the secret value is in the output:\n{all}"
    );
    let state = std::fs::read(server.dir.join("state.db")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&state).contains(value),
        "the secret value is in state.db"
    );
    // Stored once in Secret Manager (as the secret the VMs fetch at boot), nowhere in Compute.
    let dump = server.control("dump");
    let secret = &dump["resources"]["global/secrets"]["it-sec-db_password"];
    assert_eq!(
        secret["_versions"][0]["_data"].as_str(),
        Some("czNjcjN0LVZhbHVlLTlmMmU="),
        "the secret's first version is not the value: {secret}"
    );
    assert_eq!(secret["_versions"].as_array().map(Vec::len), Some(1));
    let compute = dump["resources"][format!("{ZONE}/instances")].to_string();
    assert!(
        compute.contains("it-sec-db_password"),
        "the VM does not fetch it: {compute}"
    );
    assert!(
        !compute.contains(value) && !compute.contains("czNjcjN0LVZhbHVlLTlmMmU"),
        "the secret value reached the Compute API"
    );
    // Without the variable: nothing to read while the secret exists; once it is gone, a clear
    // error naming the variable.
    let without_var = || {
        server
            .bridge()
            .env_remove("API_DB_PASSWORD")
            .args(["deploy", "-p", "gce", "-f"])
            .arg(&f)
            .arg("--state")
            .arg(server.dir.join("state2.db"))
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    ok(&without_var());
    ok(&run(&["destroy"]));
    let dump = server.control("dump");
    assert_eq!(
        dump["resources"]["global/secrets"]
            .as_object()
            .map(|m| m.len()),
        Some(0),
        "destroy left secrets: {dump}"
    );
    fails_with(
        &without_var(),
        &["API_DB_PASSWORD is not set", "export API_DB_PASSWORD"],
    );
}

#[test]
fn gce_metadata_server_credentials_when_no_key_is_given() {
    let server = Server::start("metadata", 3600.0);
    let f = server.write_app("app", &replicated_app("it-md"));
    let home = server.dir.join("home"); // no gcloud application default credentials there
    let run = |extra: &[(&str, String)]| {
        let mut c = server.bridge();
        c.env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("CLOUDSDK_CONFIG")
            .env("HOME", &home);
        for (k, v) in extra {
            c.env(k, v);
        }
        c.args(["plan", "-p", "gce", "-f"])
            .arg(&f)
            .output()
            .unwrap_or_else(|e| panic!("cannot run bridge: {e}"))
    };
    let o = run(&[("GCE_METADATA_HOST", format!("127.0.0.1:{}", server.port))]);
    ok(&o);
    assert_eq!(
        server.stat("metadata_tokens_issued"),
        1,
        "{}",
        server.control("stats")
    );
    // Without any credentials (and not on GCE): a clear error naming what to set.
    if !std::fs::read_to_string("/sys/class/dmi/id/product_name")
        .is_ok_and(|p| p.contains("Google"))
    {
        fails_with(
            &run(&[]),
            &[
                "no Google credentials found",
                "GOOGLE_APPLICATION_CREDENTIALS",
            ],
        );
    }
}

#[test]
fn gce_gcloud_user_credentials_from_the_application_default_file() {
    let server = Server::start("adc", 3600.0);
    let f = server.write_app("app", &replicated_app("it-adc"));
    let config = server.dir.join("gcloud");
    std::fs::create_dir_all(&config).unwrap_or_else(|e| panic!("{e}"));
    let adc = |refresh: &str| {
        let v = serde_json::json!({
            "type": "authorized_user",
            "client_id": "764086051850-test.apps.googleusercontent.com",
            "client_secret": "test-client-secret",
            "refresh_token": refresh,
            "token_uri": format!("http://127.0.0.1:{}/token", server.port),
        });
        std::fs::write(
            config.join("application_default_credentials.json"),
            v.to_string(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    };
    let run = || {
        server
            .bridge()
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env("CLOUDSDK_CONFIG", &config)
            .args(["plan", "-p", "gce", "-f"])
            .arg(&f)
            .output()
            .unwrap_or_else(|e| panic!("cannot run bridge: {e}"))
    };
    adc("1//test-refresh-token");
    ok(&run());
    assert_eq!(
        server.stat("user_tokens_issued"),
        1,
        "{}",
        server.control("stats")
    );
    adc("1//revoked");
    fails_with(
        &run(),
        &[
            "Token has been expired or revoked",
            "application_default_credentials.json",
            "gcloud auth application-default login",
        ],
    );
}

#[test]
fn gce_address_references_resolve_to_internal_dns_names_at_deploy_time() {
    let server = Server::start("refs", 3600.0);
    let yaml = format!(
        "bridge: v1\nname: it-refs\nservices:\n  api:\n    image: ghcr.io/acme/api:1\n    env: {{DB: '${{vms.db.address}}:5432', WEB: '${{services.web.address}}', LIT: '$${{vms.db.address}}'}}\n    group: front\n  web:\n    image: ghcr.io/acme/web:1\n    group: front\n  far:\n    image: ghcr.io/acme/far:1\n    env: {{WEB: '${{services.web.address}}'}}\n    resources: {{cpus: 2, memory: 6GiB}}\nvms:\n  db:\n    image: ubuntu-24.04\n    cpus: 1\n    memory: 1GiB\n    user_data: \"#cloud-config\\nruncmd: [[echo, '${{services.web.address}}']]\\n\"\ngroups: {{front: {{}}}}\nproviders:\n  gce: {{project: {PROJECT}, zone: {ZONE}, images: {{ubuntu-24.04: projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64}}}}\n"
    );
    let f = server.write_app("app", &yaml);
    ok(&bridge(&server, &["deploy", "--yes", "--wait"], &f));
    ok(&bridge(&server, &["plan", "--detailed-exitcode"], &f));
    let dump = server.control("dump");
    let insts = dump["resources"][format!("{ZONE}/instances")].clone();
    let user_data = |name: &str| -> String {
        insts[name]["metadata"]["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["key"] == "user-data"))
            .and_then(|i| i["value"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let dns = |i: &str| format!("{i}.{ZONE}.c.{PROJECT}.internal");
    let names: Vec<String> = insts
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let host_of = |tag: &str| {
        names
            .iter()
            .find(|n| {
                insts[n.as_str()]["tags"]["items"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == tag))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no host tagged {tag}: {names:?}"))
    };
    let front = host_of("it-refs-api");
    let far = host_of("it-refs-far");
    assert_ne!(front, far, "the test needs far on another host");
    let ud = user_data(&front);
    assert!(
        ud.contains(&format!("DB={}:5432", dns("it-refs-db"))),
        "{ud}"
    );
    assert!(
        ud.contains("WEB=web'"),
        "same host: the container's name: {ud}"
    );
    assert!(
        ud.contains("LIT=${vms.db.address}"),
        "$${{ is a literal: {ud}"
    );
    let ud = user_data(&far);
    assert!(ud.contains(&format!("WEB={}'", dns(&front))), "{ud}");
    let ud = user_data("it-refs-db");
    assert!(ud.contains(&dns(&front)), "a VM's user_data: {ud}");
    ok(&bridge(&server, &["destroy"], &f));
}
