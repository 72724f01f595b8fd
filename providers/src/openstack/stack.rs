//! The app's Heat stack: find it by name or tag, create or update it and follow its events until
//! it settles, preview an update, check it and repair lost servers, delete it, and read the
//! servers' state for `status`. Every operation is idempotent: a create of a stack that exists
//! updates it, a stack still in progress (a killed deploy) is waited for first, a delete of an
//! absent stack succeeds.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use bridge_core::plan::{Current, Desired, ResourceId, Unowned};
use reqwest::Method;
use serde_json::{Value, json};

use super::{KIND_STACK, OpenstackDriver, err};
use crate::{ComponentStatus, DriverError, ErrorKind};

/// Heat's own timeout for a create or update, in minutes.
const TIMEOUT_MINS: u64 = 60;
/// How much longer than the stack timeout (which is also the health wait conditions' timeout)
/// bridge follows a create or update, so Heat's own verdict (a wait condition's failure reason)
/// arrives before bridge gives up.
const HEALTH_GRACE: Duration = Duration::from_secs(30);

/// Percent-encode a path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The message of an OpenStack error body (Heat's `error.message`, Nova's `{kind: {message}}`,
/// Keystone's `error.message`), without a trailing period.
pub(crate) fn message(body: &Value) -> String {
    let m = body["error"]["message"]
        .as_str()
        .map(str::to_string)
        .or_else(|| body["explanation"].as_str().map(str::to_string))
        .or_else(|| {
            body.as_object().and_then(|o| {
                o.values()
                    .find_map(|v| v.get("message").and_then(Value::as_str))
                    .map(str::to_string)
            })
        })
        .or_else(|| body["text"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    m.trim().trim_end_matches('.').to_string()
}

/// An API error as a driver error, with a hint for the kinds people can fix.
pub(crate) fn api_error(resource: &str, status: u16, body: &Value) -> DriverError {
    let msg = message(body);
    let typ = body["error"]["type"].as_str().unwrap_or_default();
    let kind = match status {
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        400 | 413 => ErrorKind::Unsatisfiable,
        401 | 403 => ErrorKind::NotInitialised,
        502..=504 => ErrorKind::Unreachable,
        _ => ErrorKind::Other,
    };
    let mut e = err(
        resource,
        kind,
        format!(
            "heat answered HTTP {status}{}: {msg}",
            if typ.is_empty() {
                String::new()
            } else {
                format!(" ({typ})")
            }
        ),
    );
    e = match status {
        400 => e.with_hint(hint_for(&msg).unwrap_or(
            "heat rejected the template bridge rendered: see it with `bridge render -p openstack`; a `ResourceTypeUnavailable` means the cloud lacks that service (set providers.openstack.neutron: false for a cloud without Neutron)",
        )),
        403 => e.with_hint("the user lacks a role heat requires on this project (usually `member`): ask the cloud's operators"),
        413 => e.with_hint("the template is larger than heat accepts (max_template_size): split the app"),
        502..=504 => e.with_hint("heat is not serving: try again later, or ask the cloud's operators"),
        _ => e,
    };
    e
}

/// A hint for a failure reason people can act on.
fn hint_for(reason: &str) -> Option<&'static str> {
    let r = reason.to_ascii_lowercase();
    if r.contains("quota") {
        Some(
            "the project's quota is exhausted: raise it (openstack quota set) or lower replicas, cpus or memory",
        )
    } else if r.contains("no valid host") {
        Some(
            "no hypervisor has room for the server: choose a smaller flavor (cpus, memory) or ask the cloud's operators",
        )
    } else if r.contains("flavor") && (r.contains("not found") || r.contains("could not be found"))
    {
        Some(
            "the flavor does not exist in this cloud: set providers.openstack.flavor, or size the app to the cloud's flavors (openstack flavor list)",
        )
    } else if r.contains("no images matching")
        || (r.contains("image") && (r.contains("not found") || r.contains("could not be found")))
    {
        Some(
            "the image does not exist in this cloud: map it in providers.openstack.images (openstack image list)",
        )
    } else if r.contains("no networks matching")
        || r.contains("unable to find network")
        || (r.contains("network") && r.contains("not found"))
    {
        Some(
            "the network does not exist in this cloud: set providers.openstack.network (openstack network list)",
        )
    } else if r.contains("waitconditiontimeout") {
        Some(
            "the server's containers did not report healthy in time (no signal reached heat): check their health checks, or deploy with a longer --timeout (`journalctl -u bridge-health-signal` on the server shows what was seen)",
        )
    } else if r.contains("waitconditionfailure") {
        Some(
            "a container's health check stayed unhealthy (its last output is above): fix the check or the service, then deploy again",
        )
    } else {
        None
    }
}

/// A stack as listed.
#[derive(Debug, Clone)]
pub(crate) struct StackRef {
    pub name: String,
    pub id: String,
    pub status: String,
    pub reason: String,
    pub tags: Vec<String>,
}

impl StackRef {
    fn from(v: &Value) -> StackRef {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        StackRef {
            name: s("stack_name"),
            id: s("id"),
            status: s("stack_status"),
            reason: s("stack_status_reason"),
            tags: v["tags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub(crate) fn path(&self) -> String {
        format!("/stacks/{}/{}", enc(&self.name), enc(&self.id))
    }

    fn in_progress(&self) -> bool {
        self.status.ends_with("_IN_PROGRESS")
    }

    fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

pub(crate) async fn call(
    d: &OpenstackDriver,
    method: Method,
    path: &str,
    body: Option<&Value>,
    resource: &str,
) -> Result<(u16, Value), DriverError> {
    d.request(method, "orchestration", path, body)
        .await
        .map_err(|mut e| {
            if e.resource == "-" {
                e.resource = resource.to_string();
            }
            e
        })
}

/// The stacks `GET /stacks?{query}` lists (deleted ones left out).
pub(crate) async fn list(d: &OpenstackDriver, query: &str) -> Result<Vec<StackRef>, DriverError> {
    let (status, body) = call(d, Method::GET, &format!("/stacks?{query}"), None, "stacks").await?;
    if status != 200 {
        return Err(api_error("stacks", status, &body));
    }
    // A stack just deleted may be listed as DELETE_COMPLETE for a moment: it is gone.
    Ok(body["stacks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(StackRef::from)
                .filter(|s| s.status != "DELETE_COMPLETE")
                .collect()
        })
        .unwrap_or_default())
}

/// The stack called `name`, if any (deleted ones are not listed).
pub(crate) async fn find(d: &OpenstackDriver, name: &str) -> Result<Option<StackRef>, DriverError> {
    let found = list(d, &format!("name={}", enc(name))).await?;
    Ok(found.into_iter().find(|s| s.name == name))
}

/// The stack's details (`GET /stacks/{name}/{id}`), `None` when it is gone.
pub(crate) async fn get(d: &OpenstackDriver, s: &StackRef) -> Result<Option<Value>, DriverError> {
    let (status, body) = call(d, Method::GET, &s.path(), None, &s.name).await?;
    match status {
        200 => Ok(Some(body["stack"].clone())),
        404 => Ok(None),
        _ => Err(api_error(&s.name, status, &body)),
    }
}

/// One server of the stack (at any nesting depth).
#[derive(Debug, Clone)]
struct ServerRes {
    /// The resource name in its (possibly nested) stack.
    name: String,
    /// The path of the stack that owns the resource (`/stacks/n/id`).
    owner: String,
    /// The Nova server id.
    server: String,
    status: String,
}

async fn servers(d: &OpenstackDriver, s: &StackRef) -> Result<Vec<ServerRes>, DriverError> {
    let (status, body) = call(
        d,
        Method::GET,
        &format!("{}/resources?nested_depth=5", s.path()),
        None,
        &s.name,
    )
    .await?;
    if status == 404 {
        return Ok(Vec::new());
    }
    if status != 200 {
        return Err(api_error(&s.name, status, &body));
    }
    let mut out = Vec::new();
    for r in body["resources"].as_array().into_iter().flatten() {
        if r["resource_type"] != "OS::Nova::Server" {
            continue;
        }
        let owner = r["links"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["rel"] == "stack")
            .and_then(|l| l["href"].as_str())
            .and_then(|h| h.find("/stacks/").map(|i| h[i..].to_string()))
            .unwrap_or_else(|| s.path());
        out.push(ServerRes {
            name: r["resource_name"].as_str().unwrap_or_default().to_string(),
            owner,
            server: r["physical_resource_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            status: r["resource_status"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
    }
    out.sort_by(|a, b| (&a.owner, &a.name).cmp(&(&b.owner, &b.name)));
    Ok(out)
}

/// Nova's view of a server: `None` when it is gone. A server being deleted is shown as `DELETED`
/// (or `SOFT_DELETED`, with deferred delete) for a moment before Nova answers 404: gone too.
async fn nova_server(d: &OpenstackDriver, id: &str) -> Result<Option<Value>, DriverError> {
    if id.is_empty() {
        return Ok(None);
    }
    let (status, body) = d
        .request(
            Method::GET,
            "compute",
            &format!("/servers/{}", enc(id)),
            None,
        )
        .await?;
    match status {
        200 if matches!(
            body["server"]["status"].as_str(),
            Some("DELETED" | "SOFT_DELETED")
        ) =>
        {
            Ok(None)
        }
        200 => Ok(Some(body["server"].clone())),
        404 => Ok(None),
        _ => Err(api_error(&format!("server {id}"), status, &body)),
    }
}

/// Servers of the stack that are gone or broken, with what is wrong.
async fn lost_servers(
    d: &OpenstackDriver,
    s: &StackRef,
) -> Result<Vec<(ServerRes, String)>, DriverError> {
    let mut out = Vec::new();
    for r in servers(d, s).await? {
        if r.status.ends_with("IN_PROGRESS") || r.status == "INIT_COMPLETE" {
            continue;
        }
        if r.status == "CHECK_FAILED" {
            out.push((r.clone(), format!("server {} is marked unhealthy", r.name)));
            continue;
        }
        match nova_server(d, &r.server).await? {
            None => out.push((r.clone(), format!("server {} is gone", r.name))),
            Some(v) if v["status"] == "ERROR" => {
                let fault = v["fault"]["message"].as_str().unwrap_or("no fault given");
                out.push((
                    r.clone(),
                    format!("server {} is in ERROR ({fault})", r.name),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(out)
}

/// Every stack tagged for `app`, with its parameters and health.
pub(crate) async fn observe(d: &OpenstackDriver, app: &str) -> Result<Vec<Current>, DriverError> {
    let tag = format!("{}={app}", bridge_translators::heat::TAG_APP);
    let mut out = Vec::new();
    for s in list(d, &format!("tags={}", enc(&tag))).await? {
        let Some(detail) = get(d, &s).await? else {
            continue;
        };
        let mut params = serde_json::Map::new();
        if let Some(p) = detail["parameters"].as_object() {
            for (k, v) in p {
                if !k.starts_with("OS::") {
                    params.insert(k.clone(), v.clone());
                }
            }
        }
        let health = if s.in_progress() {
            format!("stack {}", s.status)
        } else if s.status.ends_with("_FAILED") {
            format!("stack {}: {}", s.status, short(&s.reason))
        } else if s.status == "ROLLBACK_COMPLETE" {
            // Heat's rollback restores the previous template and parameters but keeps the
            // failed update's tags (its spec hash): the spec that runs is not the tagged one.
            "stack ROLLBACK_COMPLETE: the last update failed and was rolled back".to_string()
        } else {
            let lost = lost_servers(d, &s).await?;
            if lost.is_empty() {
                "ok".to_string()
            } else {
                lost.into_iter()
                    .map(|(_, why)| why)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let name = s
            .tag(bridge_translators::heat::TAG_COMPONENT)
            .and_then(|c| c.strip_prefix("stack/"))
            .unwrap_or(&s.name)
            .to_string();
        let mut spec = json!({
            "name": s.name,
            "parameters": params,
            "health": health,
        });
        // Heat keeps the flag of the last create/update: `rollback` as the desired spec writes
        // it (present only when on), so a stack deployed with rollback plans empty.
        if detail["disable_rollback"] == json!(false) {
            spec["rollback"] = json!(true);
        }
        out.push(Current {
            id: ResourceId::new(KIND_STACK, name.clone()),
            spec_hash: s
                .tag(bridge_translators::heat::TAG_SPEC_HASH)
                .map(str::to_string),
            spec: Some(spec),
            handle: format!("{}/{}", s.name, s.id),
            rank: 0,
            opaque: vec!["template".into(), "supplied".into(), "tags".into()],
        });
    }
    Ok(out)
}

/// The template Heat holds for the stack (`GET /stacks/{name}/{id}/template`); `res` names it in
/// an error.
pub(crate) async fn template(
    d: &OpenstackDriver,
    s: &StackRef,
    res: &str,
) -> Result<Value, DriverError> {
    let (status, template) =
        call(d, Method::GET, &format!("{}/template", s.path()), None, res).await?;
    if status != 200 {
        return Err(api_error(res, status, &template));
    }
    Ok(template)
}

/// The stacks named as the app's desired stacks that carry no `bridge.app` tag (made by hand,
/// or from `bridge render` by another tool): what `deploy --adopt` takes over. Each is reported
/// with its template and parameters as Heat holds them (hidden ones left out), so the plan
/// adopts it (tags added, nothing else changed) only when they are what bridge would deploy.
/// A stack tagged for another app is not listed.
pub(crate) async fn unowned(
    d: &OpenstackDriver,
    desired: &[Desired],
) -> Result<Vec<Unowned>, DriverError> {
    let mut out = Vec::new();
    for want in desired.iter().filter(|x| x.id.kind == KIND_STACK) {
        let name = want.spec["name"].as_str().unwrap_or(&want.id.name);
        let Some(s) = find(d, name).await? else {
            continue;
        };
        if s.tag(bridge_translators::heat::TAG_APP).is_some() {
            continue;
        }
        let Some(detail) = get(d, &s).await? else {
            continue;
        };
        let res = format!("{KIND_STACK}/{name}");
        let template = template(d, &s, &res).await?;
        let mut params = serde_json::Map::new();
        for (k, v) in detail["parameters"].as_object().into_iter().flatten() {
            if !k.starts_with("OS::") && v != "******" {
                params.insert(k.clone(), v.clone());
            }
        }
        let health = if s.status.ends_with("_COMPLETE") && s.status != "ROLLBACK_COMPLETE" {
            "ok".to_string()
        } else {
            format!("stack {}", s.status)
        };
        let mut spec = json!({
            "name": s.name,
            "template": template,
            "parameters": params,
            "health": health,
        });
        if detail["disable_rollback"] == json!(false) {
            spec["rollback"] = json!(true);
        }
        out.push(Unowned {
            id: want.id.clone(),
            name: s.name.clone(),
            handle: format!("{}/{}", s.name, s.id),
            spec: Some(spec),
            opaque: vec!["supplied".into(), "tags".into()],
            no_relabel: None,
        });
    }
    Ok(out)
}

/// Take over a stack made outside bridge: its tags set by a stack update that keeps its
/// template and parameters (`PATCH` with `existing`), so Heat changes no resource; followed
/// until it settles.
pub(crate) async fn adopt(
    d: &OpenstackDriver,
    name: &str,
    spec: &Value,
) -> Result<(), DriverError> {
    let res = format!("{KIND_STACK}/{name}");
    let Some(s) = find(d, name).await? else {
        return Err(err(&res, ErrorKind::NotFound, "the stack to adopt is gone")
            .with_hint("plan again: it will be created"));
    };
    let tags: Vec<&str> = spec["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let seen = event_ids(d, &s).await.unwrap_or_default();
    let b = json!({
        "existing": true,
        "tags": tags.join(","),
        "disable_rollback": spec["rollback"] != json!(true),
    });
    let (status, body) = call(d, Method::PATCH, &s.path(), Some(&b), &res).await?;
    if !(200..300).contains(&status) {
        return Err(api_error(&res, status, &body));
    }
    follow(d, &s, &seen, Some("UPDATE"), d.stack_timeout).await
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(197).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The create/update body: template, parameters (secrets among them, as hidden parameters),
/// tags. Never logged.
fn body(spec: &Value, params: &serde_json::Map<String, Value>, name: Option<&str>) -> Value {
    let tags: Vec<&str> = spec["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut b = json!({
        "template": spec["template"],
        "parameters": params,
        "tags": tags.join(","),
        // Heat's rollback only when a service's update asks for it (`failure_action: rollback`).
        "disable_rollback": spec["rollback"] != json!(true),
        "timeout_mins": TIMEOUT_MINS,
    });
    if let Some(n) = name {
        b["stack_name"] = json!(n);
    }
    b
}

/// How long to wait after Heat answered a write with a server error before looking again.
const SERVER_ERROR_PAUSE: Duration = Duration::from_secs(2);

/// Create the stack `name`, or update it when it exists (after waiting for an operation still
/// in progress, and repairing lost servers first), then follow it until it settles.
pub(crate) async fn converge(
    d: &OpenstackDriver,
    app: &str,
    name: &str,
    spec: &Value,
    params: serde_json::Map<String, Value>,
) -> Result<(), DriverError> {
    let res = format!("{KIND_STACK}/{name}");
    // Heat may answer a create or an update with a server error (HTTP 500 RemoteError: heat-api
    // lost its engine's reply, under load) after the engine started the operation. Such a write
    // is never repeated blindly: the next round looks the stack up first, so a stack created
    // meanwhile is updated (or its operation followed), never created twice.
    let mut server_errors = 0;
    for _ in 0..5 {
        let Some(s) = find(d, name).await? else {
            let (status, b) = call(
                d,
                Method::POST,
                "/stacks",
                Some(&body(spec, &params, Some(name))),
                &res,
            )
            .await?;
            match status {
                201 | 202 => {
                    let id = b["stack"]["id"].as_str().unwrap_or_default().to_string();
                    tracing::info!(stack = %name, %id, "create started");
                    let s = StackRef {
                        name: name.to_string(),
                        id,
                        status: "CREATE_IN_PROGRESS".into(),
                        reason: String::new(),
                        tags: Vec::new(),
                    };
                    return follow(
                        d,
                        &s,
                        &HashSet::new(),
                        Some("CREATE"),
                        d.stack_timeout + HEALTH_GRACE,
                    )
                    .await;
                }
                // Created meanwhile (a resumed deploy): converge it with an update.
                409 => continue,
                500 | 502..=504 if server_errors < 2 => {
                    server_errors += 1;
                    tracing::warn!(stack = %name, status, message = %message(&b), "create answered with a server error; looking the stack up again");
                    tokio::time::sleep(SERVER_ERROR_PAUSE).await;
                    continue;
                }
                _ => return Err(api_error(&res, status, &b)),
            }
        };
        if s.tag(bridge_translators::heat::TAG_APP) != Some(app) {
            return Err(err(
                &res,
                ErrorKind::Conflict,
                format!(
                    "a stack named `{name}` exists but is not bridge's (no tag {}={app})",
                    bridge_translators::heat::TAG_APP
                ),
            )
            .with_hint("rename the app, or delete or rename the other stack"));
        }
        if s.in_progress() {
            tracing::info!(stack = %name, status = %s.status, "waiting for the operation in progress");
            let _ = follow(d, &s, &HashSet::new(), None, d.stack_timeout).await;
            continue;
        }
        repair(d, &s).await?;
        let seen = event_ids(d, &s).await.unwrap_or_default();
        let (status, b) = call(
            d,
            Method::PUT,
            &s.path(),
            Some(&body(spec, &params, None)),
            &res,
        )
        .await?;
        match status {
            200..=299 => {
                tracing::info!(stack = %name, "update started");
                let timeout = d.stack_timeout + HEALTH_GRACE;
                let res = follow(d, &s, &seen, Some("UPDATE"), timeout).await;
                return match res {
                    Err(e) if spec["rollback"] == json!(true) => {
                        Err(rolled_back(d, &s, timeout, e).await)
                    }
                    other => other,
                };
            }
            409 => continue,
            500 | 502..=504 if server_errors < 2 => {
                server_errors += 1;
                tracing::warn!(stack = %name, status, message = %message(&b), "update answered with a server error; looking the stack up again");
                tokio::time::sleep(SERVER_ERROR_PAUSE).await;
                continue;
            }
            _ => return Err(api_error(&res, status, &b)),
        }
    }
    Err(err(
        &res,
        ErrorKind::Conflict,
        format!("stack `{name}` kept changing while bridge tried to converge it"),
    )
    .with_hint("another tool is working on the stack: wait for it, then deploy again"))
}

/// A failed update with Heat's rollback enabled: wait for the rollback Heat starts (the stack
/// leaves UPDATE_FAILED for ROLLBACK_*), then report the update's failure and how the rollback
/// ended.
async fn rolled_back(
    d: &OpenstackDriver,
    s: &StackRef,
    timeout: Duration,
    update: DriverError,
) -> DriverError {
    let start = Instant::now();
    let mut status = String::new();
    while start.elapsed() < timeout {
        match get(d, s).await {
            Ok(Some(v)) => {
                let now = StackRef::from(&v);
                status = now.status.clone();
                if status.starts_with("ROLLBACK_") && !now.in_progress() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return e,
        }
        tokio::time::sleep(d.poll).await;
    }
    let mut e = update;
    if status == "ROLLBACK_COMPLETE" {
        e.hint = Some(
            "heat restored the previous template and its servers; fix the cause, then deploy again"
                .into(),
        );
    }
    e.message = if status == "ROLLBACK_COMPLETE" {
        format!(
            "{}; heat rolled the stack back to the previous template (ROLLBACK_COMPLETE)",
            e.message
        )
    } else {
        format!(
            "{}; heat's rollback did not complete (stack {})",
            e.message,
            if status.is_empty() {
                "unknown"
            } else {
                &status
            }
        )
    };
    e
}

/// Stack check, then mark every lost server unhealthy so the following update replaces it.
async fn repair(d: &OpenstackDriver, s: &StackRef) -> Result<(), DriverError> {
    let lost = lost_servers(d, s).await?;
    if lost.is_empty() {
        return Ok(());
    }
    let res = format!("{KIND_STACK}/{}", s.name);
    tracing::info!(stack = %s.name, lost = lost.len(), "stack check");
    let seen = event_ids(d, s).await.unwrap_or_default();
    let (status, b) = call(
        d,
        Method::POST,
        &format!("{}/actions", s.path()),
        Some(&json!({"check": null})),
        &res,
    )
    .await?;
    if (200..300).contains(&status) {
        // CHECK_FAILED is the expected outcome with a server gone.
        let _ = follow(d, s, &seen, Some("CHECK"), d.stack_timeout).await;
    } else {
        tracing::warn!(status, message = %message(&b), "stack check refused; marking unhealthy directly");
    }
    for (r, why) in lost {
        let (status, b) = call(
            d,
            Method::PATCH,
            &format!("{}/resources/{}", r.owner, enc(&r.name)),
            Some(&json!({"mark_unhealthy": true, "resource_status_reason": format!("bridge: {why}")})),
            &res,
        )
        .await?;
        if !(200..300).contains(&status) && status != 404 {
            return Err(api_error(&res, status, &b));
        }
        tracing::info!(resource = %r.name, %why, "marked unhealthy");
    }
    Ok(())
}

async fn event_ids(d: &OpenstackDriver, s: &StackRef) -> Result<HashSet<String>, DriverError> {
    let (status, b) = call(
        d,
        Method::GET,
        &format!("{}/events?sort_dir=asc", s.path()),
        None,
        &s.name,
    )
    .await?;
    if status != 200 {
        return Ok(HashSet::new());
    }
    Ok(b["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect())
}

/// Follow a stack until the operation `action` (`CREATE`, `UPDATE`, `CHECK`, `DELETE`; `None`:
/// whatever is in progress now) has finished: log every new event (`RUST_LOG=info`), fail with
/// the failing resource and its reason on `*_FAILED`. Heat starts an operation asynchronously,
/// so a status left from the previous operation does not count: the stack's own terminal event
/// for `action`, not among `seen` (the events before the request), does.
pub(crate) async fn follow(
    d: &OpenstackDriver,
    s: &StackRef,
    seen: &HashSet<String>,
    action: Option<&str>,
    timeout: Duration,
) -> Result<(), DriverError> {
    let res = format!("{KIND_STACK}/{}", s.name);
    let start = Instant::now();
    let mut seen = seen.clone();
    let mut finished_event = false;
    // The last failed resource among the events: by the time heat rolls back, the resource
    // list may hold no failed resource any more (the failed replacement is being deleted).
    let mut last_failed: Option<String> = None;
    loop {
        if let Ok((200, b)) = call(
            d,
            Method::GET,
            &format!("{}/events?sort_dir=asc", s.path()),
            None,
            &res,
        )
        .await
        {
            for e in b["events"].as_array().into_iter().flatten() {
                let id = e["id"].as_str().unwrap_or_default().to_string();
                if seen.insert(id) {
                    let status = e["resource_status"].as_str().unwrap_or_default();
                    let resource = e["resource_name"].as_str().unwrap_or_default();
                    let reason = e["resource_status_reason"].as_str().unwrap_or_default();
                    tracing::info!(stack = %s.name, resource, status, reason, "heat event");
                    if status.ends_with("_FAILED")
                        && e["physical_resource_id"].as_str() != Some(s.id.as_str())
                    {
                        last_failed =
                            Some(format!("resource {resource} {status}: {}", short(reason)));
                    }
                    d.progress(&format!(
                        "{}: {resource} {status}{}",
                        s.name,
                        if reason.is_empty() || reason == "state changed" {
                            String::new()
                        } else {
                            format!(": {}", short(reason))
                        }
                    ));
                    if let Some(a) = action
                        && e["physical_resource_id"].as_str() == Some(s.id.as_str())
                        && (status == format!("{a}_COMPLETE") || status == format!("{a}_FAILED"))
                    {
                        finished_event = true;
                    }
                }
            }
        }
        let detail = get(d, s).await?;
        let now = detail.as_ref().map(StackRef::from);
        match (&now, action) {
            (None, Some("DELETE")) => return Ok(()),
            (None, _) => {
                return Err(err(
                    &res,
                    ErrorKind::NotFound,
                    "the stack disappeared while bridge waited for it",
                )
                .with_hint("someone deleted it meanwhile: deploy again"));
            }
            (Some(now), _) => {
                let done = match action {
                    None => !now.in_progress(),
                    Some("DELETE") => {
                        now.status == "DELETE_COMPLETE" || now.status == "DELETE_FAILED"
                    }
                    Some(a) => {
                        finished_event
                            && (now.status == format!("{a}_COMPLETE")
                                || now.status == format!("{a}_FAILED")
                                // The update failed and heat is rolling it back.
                                || (a == "UPDATE" && now.status.starts_with("ROLLBACK_")))
                    }
                };
                if done {
                    if now.status.ends_with("_FAILED") || now.status.starts_with("ROLLBACK_") {
                        return Err(failure(d, now, last_failed.as_deref()).await);
                    }
                    tracing::info!(stack = %s.name, status = %now.status, secs = start.elapsed().as_secs(), "settled");
                    return Ok(());
                }
                if start.elapsed() > timeout {
                    // Settled as failed, but its own final event not listed yet: a failure, with
                    // the failed resource's reason, not "still ... FAILED".
                    if !now.in_progress()
                        && (now.status.ends_with("_FAILED") || now.status.starts_with("ROLLBACK_"))
                    {
                        return Err(failure(d, now, last_failed.as_deref()).await);
                    }
                    let busy = in_progress(d, now).await;
                    return Err(err(
                        &res,
                        ErrorKind::Timeout,
                        format!(
                            "stack is still {} after {}s{}",
                            now.status,
                            start.elapsed().as_secs(),
                            if busy.is_empty() {
                                String::new()
                            } else {
                                format!(", waiting on {}", busy.join(", "))
                            }
                        ),
                    )
                    .with_hint("heat is still working on it: `bridge status` shows its progress; deploy again later to resume"));
                }
            }
        }
        tokio::time::sleep(d.poll).await;
    }
}

/// The stack's resources still in progress, as `name (type)`: what a timed-out wait was
/// waiting on (a health wait condition nothing signalled, a server still building).
async fn in_progress(d: &OpenstackDriver, s: &StackRef) -> Vec<String> {
    let res = format!("{KIND_STACK}/{}", s.name);
    let Ok((200, b)) = call(
        d,
        Method::GET,
        &format!("{}/resources", s.path()),
        None,
        &res,
    )
    .await
    else {
        return Vec::new();
    };
    b["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["resource_status"]
                .as_str()
                .is_some_and(|st| st.ends_with("_IN_PROGRESS"))
        })
        .map(|r| {
            format!(
                "{} ({})",
                r["resource_name"].as_str().unwrap_or_default(),
                r["resource_type"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// The error for a failed stack: the first failed resource (deepest first) and its reason.
async fn failure(d: &OpenstackDriver, s: &StackRef, last_failed: Option<&str>) -> DriverError {
    let res = format!("{KIND_STACK}/{}", s.name);
    let mut detail = String::new();
    if let Ok((200, b)) = call(
        d,
        Method::GET,
        &format!("{}/resources?nested_depth=5", s.path()),
        None,
        &res,
    )
    .await
    {
        let failed: Vec<&Value> = b["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["resource_status"]
                    .as_str()
                    .is_some_and(|st| st.ends_with("_FAILED"))
            })
            .collect();
        // A leaf failure's reason is not itself a wrapped child failure.
        let leaf = failed
            .iter()
            .find(|r| r["resource_type"] != "OS::Heat::ResourceGroup")
            .or(failed.first());
        if let Some(r) = leaf {
            detail = format!(
                "resource {} ({}) {}: {}",
                r["resource_name"].as_str().unwrap_or_default(),
                r["resource_type"].as_str().unwrap_or_default(),
                r["resource_status"].as_str().unwrap_or_default(),
                short(r["resource_status_reason"].as_str().unwrap_or_default())
            );
        }
    }
    if detail.is_empty() {
        detail = match last_failed {
            Some(f) => f.to_string(),
            None => short(&s.reason),
        };
    }
    let mut e = err(
        &res,
        ErrorKind::Unsatisfiable,
        format!("stack {}: {detail}", s.status),
    );
    let hint = hint_for(&detail).or_else(|| hint_for(&s.reason));
    e = match hint {
        Some(h) => e.with_hint(h),
        None => e.with_hint(
            "fix the cause, then deploy again (the stack is kept as it is for inspection: `openstack stack event list`)",
        ),
    };
    e
}

/// Delete the stack (by name; `handle` is `name/id`) and wait until it is gone. Absent: done.
pub(crate) async fn delete(
    d: &OpenstackDriver,
    name: &str,
    handle: Option<&str>,
) -> Result<(), DriverError> {
    let res = format!("{KIND_STACK}/{name}");
    let stack_name = handle
        .and_then(|h| h.split_once('/'))
        .map(|(n, _)| n)
        .unwrap_or(name);
    for _ in 0..3 {
        let Some(s) = find(d, stack_name).await? else {
            return Ok(());
        };
        if s.in_progress() {
            // A delete in progress is waited for, never requested twice (Heat fails a second
            // delete whose credentials the first one removed already).
            let action = s.status.starts_with("DELETE").then_some("DELETE");
            let _ = follow(d, &s, &HashSet::new(), action, d.stack_timeout).await;
            continue;
        }
        let seen = event_ids(d, &s).await.unwrap_or_default();
        let (status, b) = call(d, Method::DELETE, &s.path(), None, &res).await?;
        if status == 404 {
            return Ok(());
        }
        if !(200..300).contains(&status) && status != 409 {
            return Err(api_error(&res, status, &b));
        }
        match follow(d, &s, &seen, Some("DELETE"), d.stack_timeout).await {
            Ok(()) => {
                if find(d, stack_name).await?.is_none() {
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(err(
        &res,
        ErrorKind::Conflict,
        "the stack is still there after three deletes",
    )
    .with_hint("see `openstack stack show` for why heat cannot delete it"))
}

/// Wait until the stack settles: `Ok` when it is complete.
pub(crate) async fn wait_settled(
    d: &OpenstackDriver,
    name: &str,
    timeout: Duration,
) -> Result<(), DriverError> {
    let Some(s) = find(d, name).await? else {
        return Err(err(
            format!("{KIND_STACK}/{name}"),
            ErrorKind::NotFound,
            "no such stack",
        )
        .with_hint("deploy first"));
    };
    follow(d, &s, &HashSet::new(), None, timeout).await
}

/// The changes Heat would make for an update, in words (`replace vm_db; update host_1`), or
/// `None` when the stack does not exist.
pub(crate) async fn preview(
    d: &OpenstackDriver,
    name: &str,
    spec: &Value,
    params: serde_json::Map<String, Value>,
) -> Result<Option<String>, DriverError> {
    let Some(s) = find(d, name).await? else {
        return Ok(None);
    };
    let res = format!("{KIND_STACK}/{name}");
    let (status, b) = call(
        d,
        Method::PUT,
        &format!("{}/preview", s.path()),
        Some(&body(spec, &params, None)),
        &res,
    )
    .await?;
    if !(200..300).contains(&status) {
        return Err(api_error(&res, status, &b));
    }
    let changes = &b["resource_changes"];
    let mut parts = Vec::new();
    for (key, word) in [
        ("replaced", "replace"),
        ("updated", "update in place"),
        ("added", "add"),
        ("deleted", "delete"),
    ] {
        let mut names: Vec<String> = changes[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["resource_name"].as_str().map(str::to_string))
            .collect();
        names.sort();
        if !names.is_empty() {
            parts.push(format!("{word} {}", names.join(", ")));
        }
    }
    Ok(Some(if parts.is_empty() {
        "no resource changes".to_string()
    } else {
        parts.join("; ")
    }))
}

/// A server's addresses as Nova reports them (`addresses`, every network by name): the first
/// fixed IPv4 address (else the first fixed IPv6 one) as private, the first floating one as
/// public. Networks are read in name order, so the choice is stable.
pub(crate) fn server_address(server: &Value) -> super::ServerAddress {
    let mut fixed4 = None;
    let mut fixed6 = None;
    let mut floating = None;
    let mut nets: Vec<(&String, &Value)> = server["addresses"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    nets.sort_by(|a, b| a.0.cmp(b.0));
    for (_, list) in nets {
        for a in list.as_array().into_iter().flatten() {
            let Some(addr) = a["addr"].as_str() else {
                continue;
            };
            let slot = match (a["OS-EXT-IPS:type"].as_str(), a["version"].as_u64()) {
                (Some("floating"), _) => &mut floating,
                (_, Some(6)) => &mut fixed6,
                _ => &mut fixed4,
            };
            if slot.is_none() {
                *slot = Some(addr.to_string());
            }
        }
    }
    super::ServerAddress {
        private: fixed4.or(fixed6),
        public: floating,
    }
}

/// The addresses of the app's vms (the `vm/<name>` servers of its stacks), by vm name. A vm with
/// replicas is represented by its first replica (the lowest index in the server names). A vm
/// whose server is gone is left out.
pub(crate) async fn addresses(
    d: &OpenstackDriver,
    app: &str,
) -> Result<BTreeMap<String, super::ServerAddress>, DriverError> {
    let tag = format!("{}={app}", bridge_translators::heat::TAG_APP);
    // vm name -> (Nova server name, its addresses): the replica with the smallest index wins.
    let mut found: BTreeMap<String, ((usize, String), super::ServerAddress)> = BTreeMap::new();
    for s in list(d, &format!("tags={}", enc(&tag))).await? {
        for r in servers(d, &s).await? {
            let Some(server) = nova_server(d, &r.server).await? else {
                continue;
            };
            let Some(vm) = server["metadata"][bridge_translators::heat::TAG_COMPONENT]
                .as_str()
                .and_then(|c| c.strip_prefix("vm/"))
            else {
                continue;
            };
            let name = server["name"].as_str().unwrap_or_default().to_string();
            // Ordered by length first, so `db-2` comes before `db-10`.
            let key = (name.len(), name);
            let addr = server_address(&server);
            match found.get(vm) {
                Some((k, _)) if *k <= key => {}
                _ => {
                    found.insert(vm.to_string(), (key, addr));
                }
            }
        }
    }
    Ok(found.into_iter().map(|(k, (_, a))| (k, a)).collect())
}

/// Per component (`vm/db`, `host/...`, from the servers' `bridge.component` metadata): servers
/// wanted, servers ACTIVE, and what is wrong with the others; the stack itself first.
pub(crate) async fn status(
    d: &OpenstackDriver,
    app: &str,
) -> Result<Vec<ComponentStatus>, DriverError> {
    let tag = format!("{}={app}", bridge_translators::heat::TAG_APP);
    let mut out = Vec::new();
    for s in list(d, &format!("tags={}", enc(&tag))).await? {
        let complete = s.status.ends_with("_COMPLETE") && !s.status.starts_with("DELETE");
        out.push(ComponentStatus {
            resource: ResourceId::new(KIND_STACK, s.name.clone()),
            desired: 1,
            running: u64::from(complete),
            health: s.status.to_ascii_lowercase(),
            errors: if s.status.ends_with("_FAILED") {
                vec![short(&s.reason)]
            } else {
                Vec::new()
            },
        });
        let mut comps: BTreeMap<String, ComponentStatus> = BTreeMap::new();
        for r in servers(d, &s).await? {
            let server = nova_server(d, &r.server).await?;
            let comp = server
                .as_ref()
                .and_then(|v| v["metadata"][bridge_translators::heat::TAG_COMPONENT].as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("server/{}", r.name));
            let (kind, cname) = comp.split_once('/').unwrap_or(("server", comp.as_str()));
            let c = comps
                .entry(comp.clone())
                .or_insert_with(|| ComponentStatus {
                    resource: ResourceId::new(kind, cname),
                    desired: 0,
                    running: 0,
                    health: "-".into(),
                    errors: Vec::new(),
                });
            c.desired += 1;
            match server {
                Some(v) if v["status"] == "ACTIVE" => c.running += 1,
                Some(v) => {
                    let fault = v["fault"]["message"].as_str().unwrap_or_default();
                    c.errors.push(format!(
                        "server {} is {}{}",
                        r.name,
                        v["status"].as_str().unwrap_or("?"),
                        if fault.is_empty() {
                            String::new()
                        } else {
                            format!(": {fault}")
                        }
                    ));
                }
                None => c.errors.push(format!("server {} is gone", r.name)),
            }
        }
        out.extend(comps.into_values());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_each_service_shape() {
        assert_eq!(
            message(&json!({"error": {"message": "Bad template.", "type": "X"}})),
            "Bad template"
        );
        assert_eq!(
            message(
                &json!({"itemNotFound": {"message": "Instance x could not be found.", "code": 404}})
            ),
            "Instance x could not be found"
        );
    }

    #[test]
    fn a_rejected_template_says_what_to_do() {
        let e = api_error(
            "stack/x",
            400,
            &json!({"error": {"message": "The Resource Type (OS::Neutron::SecurityGroup) could not be found.", "type": "StackValidationFailed"}}),
        );
        let s = e.to_string();
        assert!(
            s.contains("heat answered HTTP 400 (StackValidationFailed)"),
            "{s}"
        );
        assert!(s.contains("hint: heat rejected the template"), "{s}");
        assert_eq!(e.kind, ErrorKind::Unsatisfiable);
        let q = api_error(
            "stack/x",
            400,
            &json!({"error": {"message": "Quota exceeded for instances"}}),
        );
        assert!(q.to_string().contains("raise it"), "{q}");
        // Heat's own wording (seen from the test cloud) when Glance lacks the image.
        let i = api_error(
            "stack/x",
            400,
            &json!({"error": {"message": "Property error: : resources.vm_db.properties.image: : Error validating value 'x': No images matching {'name': 'x'}", "type": "StackValidationFailed"}}),
        );
        assert!(
            i.to_string()
                .contains("map it in providers.openstack.images"),
            "{i}"
        );
    }

    #[test]
    fn a_servers_addresses_are_its_fixed_and_floating_ips() {
        // The shape Nova's API returns (GET /servers/{id}, `addresses`).
        let server = json!({"addresses": {
            "z-other": [{"addr": "192.0.2.9", "version": 4, "OS-EXT-IPS:type": "fixed"}],
            "private": [
                {"addr": "2001:db8::5", "version": 6, "OS-EXT-IPS:type": "fixed"},
                {"addr": "198.51.100.7", "version": 4, "OS-EXT-IPS:type": "fixed"},
                {"addr": "203.0.113.4", "version": 4, "OS-EXT-IPS:type": "floating"}
            ]
        }});
        let a = server_address(&server);
        assert_eq!(a.private.as_deref(), Some("198.51.100.7"));
        assert_eq!(a.public.as_deref(), Some("203.0.113.4"));
        let v6 = json!({"addresses": {"n": [{"addr": "2001:db8::5", "version": 6, "OS-EXT-IPS:type": "fixed"}]}});
        assert_eq!(server_address(&v6).private.as_deref(), Some("2001:db8::5"));
        assert_eq!(server_address(&v6).public, None);
        let none = server_address(&json!({"addresses": {}}));
        assert_eq!((none.private, none.public), (None, None));
    }

    #[test]
    fn tags_carry_app_component_and_hash() {
        assert_eq!(
            super::super::tags("shop", "abc"),
            vec![
                "bridge.app=shop",
                "bridge.component=stack/shop",
                "bridge.spec-hash=abc"
            ]
        );
        assert_eq!(enc("bridge.app=shop"), "bridge.app%3Dshop");
    }
}
