//! The Compute test server enforces the real API's rules (a fake is only worth its rules):
//! bearer tokens, schema validation from the discovery document with the real error shape,
//! 404/409/412, requestId replay, label filters and operations that progress.

mod support;

use serde_json::json;
use support::gce::{PROJECT, Server, ZONE};

#[test]
fn gce_test_server_enforces_the_real_api_rules() {
    let server = Server::start("rules", 3600.0);
    let zone = format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}");
    let disks = format!("{zone}/disks");

    // No token, or one it did not issue: 401.
    let (code, v) = server.request("GET", &disks, None, None);
    assert_eq!(
        (code, v["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{v}"
    );
    let (code, _) = server.request("GET", &disks, Some("ya29.forged"), None);
    assert_eq!(code, 401);
    let token = server.token();
    let t = Some(token.as_str());

    // Unknown and output-only fields: 400 in the real error shape.
    let disk = json!({"name": "d1", "sizeGb": "10", "type": format!("zones/{ZONE}/diskTypes/pd-balanced"), "labels": {"bridge-app": "x"}});
    let mut bad = disk.clone();
    bad["sizeGB"] = json!("10");
    let (code, v) = server.request("POST", &disks, t, Some(&bad));
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], 400);
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(v["error"]["errors"][0]["reason"], "invalid");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown field 'sizeGB'"),
        "{v}"
    );
    let mut bad = disk.clone();
    bad["status"] = json!("READY");
    let (code, v) = server.request("POST", &disks, t, Some(&bad));
    assert!(code == 400 && v.to_string().contains("output-only"), "{v}");
    let mut bad = disk.clone();
    bad["labels"] = json!({"Bridge-App": "X"});
    let (code, v) = server.request("POST", &disks, t, Some(&bad));
    assert!(
        code == 400 && v.to_string().contains("bad label key"),
        "{v}"
    );

    // Insert: an operation that progresses to DONE by itself; the same requestId replays it;
    // the same name again is 409 alreadyExists.
    let rid = "6f0e2c1a-1b2c-4d3e-8f40-123456789abc";
    let (code, op) = server.request("POST", &format!("{disks}?requestId={rid}"), t, Some(&disk));
    assert_eq!(code, 200, "{op}");
    assert_eq!(op["status"], "PENDING");
    let (_, again) = server.request("POST", &format!("{disks}?requestId={rid}"), t, Some(&disk));
    assert_eq!(
        again["name"], op["name"],
        "a replayed requestId must return the same operation"
    );
    let (code, v) = server.request("POST", &disks, t, Some(&disk));
    assert_eq!(
        (code, v["error"]["errors"][0]["reason"].as_str()),
        (409, Some("alreadyExists")),
        "{v}"
    );
    let (code, v) = server.request(
        "POST",
        &format!("{disks}?requestId=00000000-0000-0000-0000-000000000000"),
        t,
        Some(&disk),
    );
    assert_eq!(code, 400, "the zero UUID is refused: {v}");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let op_path = format!(
        "{zone}/operations/{}",
        op["name"].as_str().unwrap_or_default()
    );
    let (_, done) = server.request("GET", &op_path, t, None);
    assert_eq!(done["status"], "DONE", "{done}");

    // Label filters; 404 in the real shape.
    let (_, l) = server.request(
        "GET",
        &format!("{disks}?filter=labels.bridge-app%3Dx"),
        t,
        None,
    );
    assert_eq!(l["items"].as_array().map(Vec::len), Some(1), "{l}");
    let (_, l) = server.request(
        "GET",
        &format!("{disks}?filter=labels.bridge-app%3Dy"),
        t,
        None,
    );
    assert_eq!(l["items"].as_array().map(Vec::len), Some(0), "{l}");
    let (code, v) = server.request("GET", &format!("{disks}/nope"), t, None);
    assert_eq!(
        (code, v["error"]["errors"][0]["reason"].as_str()),
        (404, Some("notFound")),
        "{v}"
    );

    // An instance using the disk; setMetadata with a stale fingerprint is 412 conditionNotMet.
    let inst = json!({
        "name": "i1",
        "machineType": format!("zones/{ZONE}/machineTypes/e2-small"),
        "disks": [
            {"boot": true, "autoDelete": true, "initializeParams": {"sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}},
            {"source": format!("zones/{ZONE}/disks/d1"), "deviceName": "d1"}
        ],
        "networkInterfaces": [{"network": "global/networks/default"}],
        "metadata": {"items": [{"key": "user-data", "value": "#cloud-config\n{}\n"}]},
    });
    let (code, v) = server.request("POST", &format!("{zone}/instances"), t, Some(&inst));
    assert_eq!(code, 200, "{v}");
    let (_, i) = server.request("GET", &format!("{zone}/instances/i1"), t, None);
    let fp = i["metadata"]["fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let md = |fp: &str| json!({"fingerprint": fp, "items": [{"key": "a", "value": "b"}]});
    let (code, v) = server.request(
        "POST",
        &format!("{zone}/instances/i1/setMetadata"),
        t,
        Some(&md("c3RhbGU=")),
    );
    assert_eq!(
        (code, v["error"]["errors"][0]["reason"].as_str()),
        (412, Some("conditionNotMet")),
        "{v}"
    );
    let mut with_kind = md(&fp);
    with_kind["kind"] = json!("compute#metadata");
    let (code, v) = server.request(
        "POST",
        &format!("{zone}/instances/i1/setMetadata"),
        t,
        Some(&with_kind),
    );
    assert_eq!(code, 400, "kind is output-only: {v}");
    let (code, v) = server.request(
        "POST",
        &format!("{zone}/instances/i1/setMetadata"),
        t,
        Some(&md(&fp)),
    );
    assert_eq!(code, 200, "{v}");
    // The attached disk cannot be deleted.
    let (code, v) = server.request("DELETE", &format!("{disks}/d1"), t, None);
    assert_eq!(
        (code, v["error"]["errors"][0]["reason"].as_str()),
        (400, Some("resourceInUseByAnotherResource")),
        "{v}"
    );

    // Secret Manager: the discovery document's schema, the id syntax, 409 in that API's shape.
    let secrets = format!("/secretmanager/v1/projects/{PROJECT}/secrets");
    let sec = json!({"replication": {"automatic": {}}, "labels": {"bridge-app": "x"}});
    let (code, v) = server.request("POST", &format!("{secrets}?secretId=bad.id"), t, Some(&sec));
    assert_eq!(
        (code, v["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT")),
        "{v}"
    );
    let mut bad = sec.clone();
    bad["replicaton"] = json!({});
    let (code, v) = server.request("POST", &format!("{secrets}?secretId=s1"), t, Some(&bad));
    assert!(
        code == 400 && v.to_string().contains("unknown field 'replicaton'"),
        "{v}"
    );
    let (code, v) = server.request("POST", &format!("{secrets}?secretId=s1"), t, Some(&sec));
    assert_eq!(code, 200, "{v}");
    let (code, v) = server.request("POST", &format!("{secrets}?secretId=s1"), t, Some(&sec));
    assert_eq!(
        (code, v["error"]["status"].as_str()),
        (409, Some("ALREADY_EXISTS")),
        "{v}"
    );
    assert!(
        v["error"].get("errors").is_none(),
        "a gRPC API's error has no errors list: {v}"
    );
    let (code, v) = server.request(
        "POST",
        &format!("{secrets}/s1:addVersion"),
        t,
        Some(&json!({"payload": {"data": "not base64!"}})),
    );
    assert_eq!(code, 400, "{v}");
    let (code, v) = server.request(
        "POST",
        &format!("{secrets}/s1:addVersion"),
        t,
        Some(&json!({"payload": {"data": "aGk="}})),
    );
    assert_eq!((code, v["state"].as_str()), (200, Some("ENABLED")), "{v}");
    assert_eq!(server.stat("status_500"), 0);
}
