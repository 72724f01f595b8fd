//! Instances, disks and firewall rules: observe them by the app's labels (firewall rules by
//! their description), and carry out plan steps idempotently. Inserts carry a deterministic
//! `requestId`; a 409 `alreadyExists` of our own copy converges; deletes tolerate absence;
//! metadata and labels are reset with the fingerprint just read (retried once on a 412).

use std::time::{Duration, Instant};

use bridge_core::hash::fnv1a64;
use bridge_core::plan::{Action, Current, ResourceId, Step};
use bridge_translators::gce::{LABEL_APP, LABEL_COMPONENT, LABEL_SPEC_HASH, label_value};
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    GceDriver, RANK_DISK, RANK_FIREWALL, RANK_INSTANCE, description_fields, disk_id, err,
    instance_id,
};
use crate::{ComponentStatus, DriverError, ErrorKind};

/// Instance states that are on their way to running or running.
const UP: &[&str] = &["PROVISIONING", "STAGING", "RUNNING"];

/// A deterministic UUID (RFC 9562 version 8, custom) for a request: the same resource, spec and
/// attempt always give the same id, so a rerun after a crash reuses it.
pub fn request_id(seed: &str) -> String {
    let a = fnv1a64(format!("a/{seed}").as_bytes());
    let b = fnv1a64(format!("b/{seed}").as_bytes());
    let hi = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_8000;
    let lo = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// The part of a resource URL from `zones/`, `regions/` or `global/` on.
fn partial(url: &str) -> String {
    for marker in ["/zones/", "/regions/", "/global/"] {
        if let Some(i) = url.find(marker) {
            return url[i + 1..].to_string();
        }
    }
    url.to_string()
}

fn normalise_urls(v: &mut Value, keys: &[&str]) {
    for k in keys {
        if let Some(s) = v.get(*k).and_then(Value::as_str) {
            let p = partial(s);
            v[*k] = Value::String(p);
        }
    }
}

/// All items of a list, following page tokens.
pub(super) async fn list(
    d: &GceDriver,
    path: &str,
    filter: Option<String>,
) -> Result<Vec<Value>, DriverError> {
    let mut out = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(f) = &filter {
            q.push(("filter", f.clone()));
        }
        if let Some(p) = &page {
            q.push(("pageToken", p.clone()));
        }
        let v = d.api.call(Method::GET, path, &q, None, path).await?;
        if let Some(items) = v["items"].as_array() {
            out.extend(items.iter().cloned());
        }
        match v["nextPageToken"].as_str() {
            Some(t) if !t.is_empty() => page = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

pub(super) fn app_filter(app: &str) -> String {
    format!("(labels.{LABEL_APP} = \"{}\")", label_value(app))
}

fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("labels")?.get(key)?.as_str()
}

/// An observed instance in the shape of the insert body (URLs partial, state folded).
fn instance_spec(v: &Value) -> Value {
    let mut s = v.clone();
    normalise_urls(&mut s, &["machineType", "zone"]);
    if let Some(nics) = s["networkInterfaces"].as_array_mut() {
        for n in nics {
            normalise_urls(n, &["network", "subnetwork"]);
        }
    }
    super::peers::normalise(&mut s);
    let status = v["status"].as_str().unwrap_or("UNKNOWN");
    s["status"] = Value::String(
        if UP.contains(&status) {
            "RUNNING"
        } else {
            status
        }
        .into(),
    );
    s
}

/// What carries the app's labels: instances, volume disks, and firewall rules whose description
/// names the app.
pub async fn observe(d: &GceDriver, app: &str) -> Result<Vec<Current>, DriverError> {
    let zone = &d.zone;
    let mut out = Vec::new();
    for v in list(d, &format!("zones/{zone}/instances"), Some(app_filter(app))).await? {
        let Some(component) = label(&v, LABEL_COMPONENT) else {
            continue;
        };
        out.push(Current {
            id: instance_id(component),
            spec_hash: label(&v, LABEL_SPEC_HASH).map(str::to_string),
            spec: Some(instance_spec(&v)),
            handle: v["name"].as_str().unwrap_or_default().to_string(),
            rank: RANK_INSTANCE,
            // Reported in another shape (initializeParams are not echoed, the default service
            // account is resolved): their changes show through the spec hash.
            // The name too: start-first updates alternate between a host's two names (a
            // real change of name changes the spec hash).
            opaque: vec!["disks".into(), "serviceAccounts".into(), "name".into()],
        });
    }
    for v in list(d, &format!("zones/{zone}/disks"), Some(app_filter(app))).await? {
        // Boot disks carry the instance's labels too; only volume disks are resources of their own.
        let Some(component) = label(&v, LABEL_COMPONENT).filter(|c| c.starts_with("volume-"))
        else {
            continue;
        };
        let mut s = v.clone();
        normalise_urls(&mut s, &["type", "zone"]);
        out.push(Current {
            id: disk_id(component),
            spec_hash: label(&v, LABEL_SPEC_HASH).map(str::to_string),
            spec: Some(s),
            handle: v["name"].as_str().unwrap_or_default().to_string(),
            rank: RANK_DISK,
            opaque: Vec::new(),
        });
    }
    for v in list(d, "global/firewalls", None).await? {
        let desc = v["description"].as_str().unwrap_or_default();
        let f = description_fields(desc);
        if f.get("bridge.app") != Some(&app) {
            continue;
        }
        let name = v["name"].as_str().unwrap_or_default().to_string();
        let mut s = v.clone();
        normalise_urls(&mut s, &["network"]);
        out.push(Current {
            id: ResourceId::new("firewall", name.clone()),
            spec_hash: f.get("bridge.spec-hash").map(|h| h.to_string()),
            spec: Some(s),
            handle: name,
            rank: RANK_FIREWALL,
            opaque: Vec::new(),
        });
    }
    Ok(out)
}

/// Where a kind lives: (collection path, the body's name).
fn collection(d: &GceDriver, kind: &str) -> Result<String, DriverError> {
    Ok(match kind {
        "instance" => format!("zones/{}/instances", d.zone),
        "disk" => format!("zones/{}/disks", d.zone),
        "firewall" => "global/firewalls".to_string(),
        other => {
            return Err(err(
                other,
                ErrorKind::Other,
                format!("the GCE driver has no resources of kind {other}"),
            ));
        }
    })
}

/// The body to send: the desired spec without what only the plan compares (`status`).
fn body_of(step: &Step) -> Result<Value, DriverError> {
    let mut b = step.after.clone().ok_or_else(|| {
        err(
            step.resource.to_string(),
            ErrorKind::Other,
            "a create step without a desired spec",
        )
    })?;
    if let Some(o) = b.as_object_mut() {
        o.remove("status");
    }
    Ok(b)
}

fn hash_of(body: &Value) -> String {
    if let Some(h) = label(body, LABEL_SPEC_HASH) {
        return h.to_string();
    }
    body["description"]
        .as_str()
        .map(description_fields)
        .and_then(|m| m.get("bridge.spec-hash").map(|h| h.to_string()))
        .unwrap_or_default()
}

/// Is this observed resource bridge's, for `app`?
fn owned(app: &str, v: &Value) -> bool {
    label(v, LABEL_APP) == Some(label_value(app).as_str())
        || v["description"]
            .as_str()
            .map(description_fields)
            .is_some_and(|m| m.get("bridge.app") == Some(&app))
}

pub(super) async fn get(
    d: &GceDriver,
    path: &str,
    resource: &str,
) -> Result<Option<Value>, DriverError> {
    match d.api.call(Method::GET, path, &[], None, resource).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Insert `body` into `coll`. The request id is derived from the resource and its spec; when
/// the API answers with an operation already DONE (a replay of an earlier request with that id)
/// whose resource is gone or that failed, the next derived id is used, so a deleted resource is
/// created again while a rerun after a crash never creates a second copy.
pub(super) async fn insert(
    d: &GceDriver,
    app: &str,
    coll: &str,
    body: &Value,
    resource: &str,
) -> Result<(), DriverError> {
    if !coll.ends_with("/instances") {
        return insert_body(d, app, coll, body, resource).await;
    }
    // The instance starts with the hosts' current addresses, and the others learn its own.
    let filled = super::peers::filled(d, app, body).await?;
    insert_body(d, app, coll, &filled, resource).await?;
    super::peers::sync(d, app).await
}

async fn insert_body(
    d: &GceDriver,
    app: &str,
    coll: &str,
    body: &Value,
    resource: &str,
) -> Result<(), DriverError> {
    let name = body["name"].as_str().unwrap_or_default();
    let path = format!("{coll}/{name}");
    let hash = hash_of(body);
    for attempt in 0..8 {
        let id = request_id(&format!("{}/{coll}/{name}/{hash}/{attempt}", d.api.project));
        let op = match d
            .api
            .call(
                Method::POST,
                coll,
                &[("requestId", id)],
                Some(body),
                resource,
            )
            .await
        {
            Ok(op) => op,
            Err(e) if e.kind == ErrorKind::Conflict => {
                // It exists: ours with this spec converges; ours with another spec is replaced.
                let Some(cur) = get(d, &path, resource).await? else {
                    // Not "already exists" (e.g. a disk it needs is in use): the API's error.
                    return Err(e);
                };
                if !owned(app, &cur) {
                    return Err(err(
                        resource,
                        ErrorKind::Conflict,
                        format!(
                            "{path} exists and is not bridge's (no bridge-app={} label)",
                            label_value(app)
                        ),
                    )
                    .with_hint("delete or rename it, or give the component another name"));
                }
                if hash_of(&cur) == hash {
                    if coll.ends_with("/instances") {
                        super::rollout::remember(d, app, body);
                    }
                    return Ok(());
                }
                delete(d, &path, resource).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let replay = op["status"] == "DONE";
        match d.api.wait(&op, resource).await {
            Ok(()) => {
                if !replay || get(d, &path, resource).await?.is_some() {
                    if coll.ends_with("/instances") {
                        super::rollout::remember(d, app, body);
                    }
                    return Ok(());
                }
                tracing::debug!(%path, attempt, "request id already used for a resource now gone");
            }
            Err(e) if replay => {
                tracing::debug!(%path, attempt, error = %e, "request id already used by a failed request");
            }
            Err(e) => return Err(e),
        }
    }
    Err(err(
        resource,
        ErrorKind::Other,
        format!("{path}: every derived request id was already used"),
    )
    .with_hint("wait an hour (the API forgets request ids), or rename the resource"))
}

/// Delete; absence is success. A disk still attached is a conflict with a hint.
pub(super) async fn delete(d: &GceDriver, path: &str, resource: &str) -> Result<(), DriverError> {
    match d.api.call(Method::DELETE, path, &[], None, resource).await {
        Ok(op) => d.api.wait(&op, resource).await.or_else(|e| {
            if e.kind == ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        }),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        Err(mut e) if e.kind == ErrorKind::Conflict && path.contains("/disks/") => {
            e.hint = Some("the disk is attached to an instance that is not bridge's (or not yet deleted): detach it, then rerun".into());
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Carry out one step; see the module docs for idempotency.
pub async fn apply(d: &GceDriver, app: &str, step: &Step) -> Result<(), DriverError> {
    let resource = step.resource.to_string();
    let coll = collection(d, &step.resource.kind)?;
    match step.action {
        Action::NoOp => Ok(()),
        // The driver finds no unowned objects, so no plan adopts one here.
        Action::Adopt => Err(super::err(
            resource,
            ErrorKind::Other,
            "adoption is not available on gce",
        )),
        Action::Create => insert(d, app, &coll, &body_of(step)?, &resource).await,
        Action::Delete => {
            let Some(name) = &step.handle else {
                return Ok(());
            };
            delete(d, &format!("{coll}/{name}"), &resource).await?;
            if step.resource.kind == "instance" {
                super::rollout::forget(d, app, &step.resource.name, None);
            }
            Ok(())
        }
        Action::Replace if step.resource.kind == "instance" => {
            update_instance(
                d,
                app,
                &coll,
                &body_of(step)?,
                step.handle.as_deref(),
                &resource,
            )
            .await
        }
        Action::Replace => {
            let body = body_of(step)?;
            let name = step
                .handle
                .clone()
                .unwrap_or_else(|| body["name"].as_str().unwrap_or_default().to_string());
            delete(d, &format!("{coll}/{name}"), &resource).await?;
            insert(d, app, &coll, &body, &resource).await
        }
        Action::Update if step.resource.kind == "disk" => {
            update_disk(d, app, &coll, &body_of(step)?, &resource).await
        }
        Action::Update => {
            update_instance(
                d,
                app,
                &coll,
                &body_of(step)?,
                step.handle.as_deref(),
                &resource,
            )
            .await
        }
    }
}

/// An instance that differs: replaced in a rolling update when its spec hash changed
/// ([`super::rollout`]), replaced at once when it is not running (stopped, terminated: it serves
/// nothing), otherwise its metadata and labels are set back (drift made outside bridge). The
/// current instance is the observed one (`handle`): start-first updates alternate between the
/// host's two names.
async fn update_instance(
    d: &GceDriver,
    app: &str,
    coll: &str,
    body: &Value,
    handle: Option<&str>,
    resource: &str,
) -> Result<(), DriverError> {
    let name = handle.unwrap_or_else(|| body["name"].as_str().unwrap_or_default());
    let path = format!("{coll}/{name}");
    for round in 0..2 {
        let Some(cur) = get(d, &path, resource).await? else {
            return insert(d, app, coll, body, resource).await;
        };
        let status = cur["status"].as_str().unwrap_or_default();
        if !UP.contains(&status) {
            tracing::info!(%path, %status, "replacing the instance that is not running");
            delete(d, &path, resource).await?;
            return insert(d, app, coll, body, resource).await;
        }
        if hash_of(&cur) != hash_of(body) {
            return super::rollout::replace(d, app, coll, &cur, body, resource).await;
        }
        let r = reset_drift(d, &path, &cur, body, resource).await;
        match r {
            Err(e) if e.kind == ErrorKind::Conflict && round == 0 => {
                tracing::debug!(%path, "fingerprint changed meanwhile, reading again");
            }
            other => return other,
        }
    }
    Ok(())
}

/// A disk that differs: grown with `disks.resize` (never shrunk), then relabelled (new spec
/// hash). A change of anything else (its type) would need a new disk, and the data on it is not
/// bridge's to drop: an error that says so.
async fn update_disk(
    d: &GceDriver,
    app: &str,
    coll: &str,
    body: &Value,
    resource: &str,
) -> Result<(), DriverError> {
    let name = body["name"].as_str().unwrap_or_default();
    let path = format!("{coll}/{name}");
    let Some(cur) = get(d, &path, resource).await? else {
        return insert(d, app, coll, body, resource).await;
    };
    let cur_type = cur["type"].as_str().map(partial).unwrap_or_default();
    if body["type"].as_str().is_some_and(|t| t != cur_type) {
        return Err(err(resource, ErrorKind::Unsatisfiable, format!("the disk {name} is {cur_type}, the app asks for {}: a disk's type cannot change", body["type"].as_str().unwrap_or_default()))
            .with_hint("copy the data to a new volume (a new name), or delete the disk yourself (its data is lost) and deploy again"));
    }
    let gb = |v: &Value| {
        v["sizeGb"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (want, have) = (gb(body), gb(&cur));
    if want < have {
        return Err(err(
            resource,
            ErrorKind::Unsatisfiable,
            format!(
                "the disk {name} has {have} GiB, the app asks for {want} GiB: disks cannot shrink"
            ),
        )
        .with_hint(format!("set the volume's size back to {have}GiB or more")));
    }
    if want > have {
        let op = d
            .api
            .call(
                Method::POST,
                &format!("{path}/resize"),
                &[],
                Some(&json!({"sizeGb": want.to_string()})),
                resource,
            )
            .await?;
        d.api.wait(&op, resource).await?;
    }
    set_labels(d, &path, &cur, body, resource).await
}

async fn reset_drift(
    d: &GceDriver,
    path: &str,
    cur: &Value,
    body: &Value,
    resource: &str,
) -> Result<(), DriverError> {
    let mut want = body.clone();
    super::peers::keep(&mut want, cur);
    let want_items = want
        .pointer("/metadata/items")
        .cloned()
        .unwrap_or(json!([]));
    let have_items = cur.pointer("/metadata/items").cloned().unwrap_or(json!([]));
    if want_items != have_items {
        let md = json!({
            "fingerprint": cur.pointer("/metadata/fingerprint").cloned().unwrap_or(Value::Null),
            "items": want_items,
        });
        let op = d
            .api
            .call(
                Method::POST,
                &format!("{path}/setMetadata"),
                &[],
                Some(&md),
                resource,
            )
            .await?;
        d.api.wait(&op, resource).await?;
    }
    set_labels(d, path, cur, body, resource).await
}

/// Set the labels `body` asks for, with the fingerprint of `cur`, when they differ.
async fn set_labels(
    d: &GceDriver,
    path: &str,
    cur: &Value,
    body: &Value,
    resource: &str,
) -> Result<(), DriverError> {
    let want = body.get("labels").cloned().unwrap_or(json!({}));
    if cur.get("labels").cloned().unwrap_or(json!({})) == want {
        return Ok(());
    }
    let req = json!({
        "labels": want,
        "labelFingerprint": cur.get("labelFingerprint").cloned().unwrap_or(Value::Null),
    });
    let op = d
        .api
        .call(
            Method::POST,
            &format!("{path}/setLabels"),
            &[],
            Some(&req),
            resource,
        )
        .await?;
    d.api.wait(&op, resource).await
}

async fn find_instance(
    d: &GceDriver,
    app: &str,
    id: &ResourceId,
) -> Result<Vec<Value>, DriverError> {
    let filter = format!(
        "{} (labels.{LABEL_COMPONENT} = \"{}\")",
        app_filter(app),
        id.name
    );
    list(d, &format!("zones/{}/instances", d.zone), Some(filter)).await
}

/// The app's instances, as Compute lists them.
pub(super) async fn app_instances(d: &GceDriver, app: &str) -> Result<Vec<Value>, DriverError> {
    list(
        d,
        &format!("zones/{}/instances", d.zone),
        Some(app_filter(app)),
    )
    .await
}

/// Wait until the instance runs and, when `healthy` and its containers have health checks (its
/// `bridge-update` metadata says so), until the VM reports them healthy in the guest attribute
/// `bridge/health`. Fails fast when it is stopped or terminated; on timeout the error carries
/// the last health output the VM reported.
pub async fn wait_ready(
    d: &GceDriver,
    app: &str,
    id: &ResourceId,
    healthy: bool,
    timeout: Duration,
) -> Result<(), DriverError> {
    if id.kind != "instance" {
        return Ok(());
    }
    let start = Instant::now();
    loop {
        let found = find_instance(d, app, id).await?;
        let Some(v) = found.first() else {
            return Err(err(
                id.to_string(),
                ErrorKind::NotFound,
                "no instance carries this component's labels",
            )
            .with_hint("run `bridge deploy` (or `bridge reconcile`) to create it"));
        };
        let name = v["name"].as_str().unwrap_or_default();
        let checks = healthy
            && bridge_translators::gce::update::HostUpdate::from_body(v).is_some_and(|u| u.health);
        let why = match super::rollout::is_up(d, name, checks, &id.to_string()).await? {
            super::rollout::Up::Yes => return Ok(()),
            super::rollout::Up::Never(why) => {
                return Err(err(id.to_string(), ErrorKind::Unsatisfiable, why).with_hint(
                    "run `bridge reconcile` to replace it, or look at its serial console output",
                ));
            }
            super::rollout::Up::NotYet(why) => why,
        };
        if start.elapsed() > timeout {
            return Err(err(
                id.to_string(),
                ErrorKind::Timeout,
                format!("not ready after {}s: {why}", timeout.as_secs()),
            )
            .with_hint("look at the instance's serial console and its containers' health checks; raise --timeout"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One line per instance: 1 desired, 1 running when RUNNING; health from the guest attribute
/// `bridge/health` for a host whose containers have checks, else `-`.
pub async fn status(d: &GceDriver, app: &str) -> Result<Vec<ComponentStatus>, DriverError> {
    let mut out: Vec<ComponentStatus> = Vec::new();
    for v in app_instances(d, app).await? {
        let Some(component) = label(&v, LABEL_COMPONENT) else {
            continue;
        };
        let s = v["status"].as_str().unwrap_or("UNKNOWN");
        let name = v["name"].as_str().unwrap_or_default();
        let mut errors = if UP.contains(&s) {
            Vec::new()
        } else {
            vec![format!("instance {name} is {s}")]
        };
        let mut health = "-".to_string();
        if s == "RUNNING"
            && bridge_translators::gce::update::HostUpdate::from_body(&v).is_some_and(|u| u.health)
        {
            match super::rollout::guest_health(d, name, component).await? {
                Some((h, output)) => {
                    if h != "healthy" && !output.is_empty() {
                        errors.push(output);
                    }
                    health = h;
                }
                None => health = "starting".into(),
            }
        }
        out.push(ComponentStatus {
            resource: instance_id(component),
            desired: 1,
            running: u64::from(s == "RUNNING"),
            health,
            errors,
        });
    }
    out.sort_by(|a, b| a.resource.cmp(&b.resource));
    Ok(out)
}

/// The addresses Compute reports for the app's running (or starting) instances: a VM
/// (`vm-NAME`, or `vm-NAME-0` for the first replica) at its `networkIP` and NAT IP; a service
/// at those of the first host (in name order) whose network tags name it.
pub async fn outputs(d: &GceDriver, app: &str) -> Result<Vec<crate::Address>, DriverError> {
    let zone = &d.zone;
    let mut list = list(d, &format!("zones/{zone}/instances"), Some(app_filter(app))).await?;
    list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let prefix = format!("{}-", bridge_translators::gce::resource_name(app));
    let mut out: std::collections::BTreeMap<String, crate::Address> = Default::default();
    for v in &list {
        if !UP.contains(&v["status"].as_str().unwrap_or_default()) {
            continue;
        }
        let nic = &v["networkInterfaces"][0];
        let private = nic["networkIP"].as_str().map(str::to_string);
        let public = nic["accessConfigs"][0]["natIP"]
            .as_str()
            .map(str::to_string);
        let mut add = |component: String| {
            out.entry(component.clone()).or_insert(crate::Address {
                component,
                private: private.clone(),
                public: public.clone(),
            });
        };
        let component = label(v, LABEL_COMPONENT).unwrap_or_default();
        if let Some(vm) = component.strip_prefix("vm-") {
            let vm = match vm.rsplit_once('-') {
                Some((n, "0")) => n,
                _ => vm,
            };
            add(format!("vms.{vm}"));
            continue;
        }
        for t in v["tags"]["items"].as_array().into_iter().flatten() {
            if let Some(svc) = t.as_str().and_then(|t| t.strip_prefix(&prefix)) {
                add(format!("services.{svc}"));
            }
        }
    }
    Ok(out.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_stable_uuids() {
        let a = request_id("p/zones/z/instances/x/abc/0");
        assert_eq!(a, request_id("p/zones/z/instances/x/abc/0"));
        assert_ne!(a, request_id("p/zones/z/instances/x/abc/1"));
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "8", "version 8: {a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "variant: {a}");
    }

    #[test]
    fn partial_urls() {
        assert_eq!(
            partial(
                "https://www.googleapis.com/compute/v1/projects/p/zones/z/machineTypes/e2-small"
            ),
            "zones/z/machineTypes/e2-small"
        );
        assert_eq!(
            partial("global/networks/default"),
            "global/networks/default"
        );
    }
}
