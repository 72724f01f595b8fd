//! Rolling replacement of hosts whose spec changed, as the translator's `bridge-update` metadata
//! says ([`HostUpdate`], decided with its ledger lines by
//! `bridge_translators::gce::update::host_update`): at most `parallelism` hosts of each service
//! replaced at once, stop-first or start-first, each new instance waited for until it is RUNNING
//! (and its guest attribute `bridge/health` reads `healthy` when its containers have checks),
//! watched for `monitor`, then `delay` before the service's next host. When a new instance is not
//! up within `BRIDGE_GCE_UPDATE_SECONDS` (default 600), `failure_action` decides: `pause` stops
//! the rollout of its services, `continue` goes on, `rollback` deletes the new instance and
//! inserts the previous body again, and restores the hosts of the same services this run already
//! replaced. The deploy fails in each case.
//!
//! The previous bodies: every instance body the driver inserts is kept, keyed by component and
//! spec hash, in `.bridge/gce/<app>/` beside the app file, so a rollback inserts exactly what was
//! sent before (the API does not echo a boot disk's `initializeParams`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bridge_translators::gce::update::{GUEST_NAMESPACE, HostUpdate, alternate_name};
use reqwest::Method;
use serde_json::Value;

use super::{GceDriver, err};
use crate::{DriverError, ErrorKind};

/// How long a new instance may take to be up during a rolling update (seconds).
pub const UPDATE_SECONDS_ENV: &str = "BRIDGE_GCE_UPDATE_SECONDS";

/// The update timeout: `BRIDGE_GCE_UPDATE_SECONDS`, default 600 s.
pub fn update_timeout() -> Duration {
    std::env::var(UPDATE_SECONDS_ENV)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(Duration::from_secs(600), Duration::from_secs_f64)
}

/// A host replaced in this run: enough to put it back.
#[derive(Debug, Clone)]
struct Replaced {
    /// The previous body (its name is the previous instance name).
    old: Value,
    /// The name of the instance that replaced it.
    new_name: String,
}

/// Why a service's rollout stopped.
#[derive(Debug, Clone)]
enum Stopped {
    Paused(String),
    RolledBack(String),
}

/// The rollouts of one driver: which services have hosts being replaced, which stopped.
#[derive(Debug, Default)]
pub struct Rollouts {
    state: Mutex<RollState>,
}

#[derive(Debug, Default)]
struct RollState {
    busy: BTreeMap<String, u32>,
    stopped: BTreeMap<String, Stopped>,
    replaced: BTreeMap<String, Vec<Replaced>>,
    failed: BTreeMap<String, u32>,
}

impl Rollouts {
    fn lock(&self) -> std::sync::MutexGuard<'_, RollState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until every unit of `limits` has a free slot, and take them; an error when one of
    /// them stopped (paused or rolled back).
    async fn acquire(
        &self,
        resource: &str,
        limits: &BTreeMap<String, u32>,
    ) -> Result<(), DriverError> {
        loop {
            {
                let mut st = self.lock();
                if let Some((svc, why)) = limits
                    .keys()
                    .find_map(|k| st.stopped.get(k).map(|w| (k.clone(), w.clone())))
                {
                    let (kind, what) = match why {
                        Stopped::Paused(w) => ("paused", w),
                        Stopped::RolledBack(w) => ("rolled back", w),
                    };
                    return Err(err(
                        resource,
                        ErrorKind::Unsatisfiable,
                        format!("not replaced: the update of {svc} was {kind} after {what}"),
                    )
                    .with_hint("fix the failing change, then deploy again"));
                }
                if limits
                    .iter()
                    .all(|(k, n)| st.busy.get(k).copied().unwrap_or(0) < *n)
                {
                    for k in limits.keys() {
                        *st.busy.entry(k.clone()).or_default() += 1;
                    }
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn release(&self, limits: &BTreeMap<String, u32>) {
        let mut st = self.lock();
        for k in limits.keys() {
            if let Some(n) = st.busy.get_mut(k) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// Where the bodies of an app's instances are kept.
fn store_dir(d: &GceDriver, app: &str) -> PathBuf {
    d.base_dir
        .join(".bridge")
        .join("gce")
        .join(bridge_translators::gce::resource_name(app))
}

fn store_file(d: &GceDriver, app: &str, component: &str, hash: &str) -> PathBuf {
    store_dir(d, app).join(format!("{component}.{hash}.json"))
}

/// Keep the body of an instance just inserted (best effort: a rollback without it pauses).
pub fn remember(d: &GceDriver, app: &str, body: &Value) {
    let (Some(component), hash) = (component_of(body), super::label_hash(body)) else {
        return;
    };
    let path = store_file(d, app, &component, &hash);
    let r = std::fs::create_dir_all(store_dir(d, app))
        .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(body).unwrap_or_default()));
    if let Err(e) = r {
        tracing::warn!(path = %path.display(), error = %e, "cannot keep the instance body for rollbacks");
    }
}

/// Forget the kept bodies of a component, but the one with hash `keep`.
pub fn forget(d: &GceDriver, app: &str, component: &str, keep: Option<&str>) {
    let Ok(dir) = std::fs::read_dir(store_dir(d, app)) else {
        return;
    };
    let prefix = format!("{component}.");
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(rest) = name.strip_prefix(&prefix)
            && keep.is_none_or(|k| rest != format!("{k}.json"))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn recall(d: &GceDriver, app: &str, component: &str, hash: &str) -> Option<Value> {
    let text = std::fs::read(store_file(d, app, component, hash)).ok()?;
    serde_json::from_slice(&text).ok()
}

fn component_of(body: &Value) -> Option<String> {
    body.pointer(&format!(
        "/labels/{}",
        bridge_translators::gce::LABEL_COMPONENT
    ))
    .and_then(Value::as_str)
    .map(str::to_string)
}

/// The host's guest attributes under `bridge/`: (health, output); None when the VM wrote none.
pub async fn guest_health(
    d: &GceDriver,
    name: &str,
    resource: &str,
) -> Result<Option<(String, String)>, DriverError> {
    let path = format!("zones/{}/instances/{name}/getGuestAttributes", d.zone);
    let q = [("queryPath", format!("{GUEST_NAMESPACE}/"))];
    match d.api.call(Method::GET, &path, &q, None, resource).await {
        Ok(v) => {
            let items = v
                .pointer("/queryValue/items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let get = |k: &str| {
                items
                    .iter()
                    .find(|i| i["namespace"] == GUEST_NAMESPACE && i["key"] == k)
                    .and_then(|i| i["value"].as_str())
                    .map(str::to_string)
            };
            Ok(get("health").map(|h| (h, get("output").unwrap_or_default())))
        }
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// What an instance is: its status, and for a host with checks its reported health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Up {
    /// RUNNING (and healthy where it has checks).
    Yes,
    /// Not yet: the status or health, and the last health output.
    NotYet(String),
    /// Gone, stopped or terminated: it will not come up by itself.
    Never(String),
}

/// Is the instance `name` up? Health counts when `health` (its containers have checks).
pub async fn is_up(
    d: &GceDriver,
    name: &str,
    health: bool,
    resource: &str,
) -> Result<Up, DriverError> {
    let path = format!("zones/{}/instances/{name}", d.zone);
    let v = match d.api.call(Method::GET, &path, &[], None, resource).await {
        Ok(v) => v,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Ok(Up::Never(format!("the instance {name} does not exist")));
        }
        Err(e) => return Err(e),
    };
    let status = v["status"].as_str().unwrap_or("UNKNOWN");
    match status {
        "RUNNING" => {}
        "PROVISIONING" | "STAGING" => {
            return Ok(Up::NotYet(format!("the instance {name} is {status}")));
        }
        other => return Ok(Up::Never(format!("the instance {name} is {other}"))),
    }
    if !health {
        return Ok(Up::Yes);
    }
    Ok(match guest_health(d, name, resource).await? {
        Some((h, _)) if h == "healthy" => Up::Yes,
        Some((h, out)) if out.is_empty() => Up::NotYet(format!("the containers of {name} are {h}")),
        Some((h, out)) => Up::NotYet(format!("the containers of {name} are {h}: {out}")),
        None => Up::NotYet(format!(
            "{name} is RUNNING and has reported no health yet (guest attribute bridge/health)"
        )),
    })
}

/// Wait until `name` is up, then watch it for `monitor`.
async fn wait_up(
    d: &GceDriver,
    name: &str,
    upd: &HostUpdate,
    timeout: Duration,
    resource: &str,
) -> Result<(), DriverError> {
    let start = Instant::now();
    let fail = |why: String| {
        err(resource, ErrorKind::Timeout, why).with_hint(format!(
            "look at the instance's serial console and the containers' health; {UPDATE_SECONDS_ENV} sets how long a new instance may take"
        ))
    };
    loop {
        match is_up(d, name, upd.health, resource).await? {
            Up::Yes => break,
            Up::Never(why) => return Err(fail(why)),
            Up::NotYet(why) if start.elapsed() > timeout => {
                return Err(fail(format!(
                    "not up after {:.0}s: {why}",
                    timeout.as_secs_f64()
                )));
            }
            Up::NotYet(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_millis(upd.monitor_ms) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match is_up(d, name, upd.health, resource).await? {
            Up::Yes => {}
            Up::NotYet(why) | Up::Never(why) => {
                return Err(fail(format!(
                    "failed within its monitor period of {}ms: {why}",
                    upd.monitor_ms
                )));
            }
        }
    }
    Ok(())
}

/// The update of a body: its `bridge-update` metadata, else (a VM) one at a time, stop-first.
fn policy(body: &Value, component: &str) -> HostUpdate {
    HostUpdate::from_body(body).unwrap_or_else(|| HostUpdate {
        parallelism: BTreeMap::from([(component.to_string(), 1)]),
        order: "stop-first".into(),
        failure_action: "pause".into(),
        delay_ms: 0,
        monitor_ms: 0,
        max_failure_ratio: 0.0,
        health: false,
    })
}

/// Replace the instance `current` (its observed body) by `body`, as a step of a rolling update.
pub async fn replace(
    d: &GceDriver,
    app: &str,
    coll: &str,
    current: &Value,
    body: &Value,
    resource: &str,
) -> Result<(), DriverError> {
    let component = component_of(body).unwrap_or_default();
    let upd = policy(body, &component);
    let limits = upd.parallelism.clone();
    d.rollouts.acquire(resource, &limits).await?;
    let r = replace_held(d, app, coll, current, body, &upd, resource).await;
    if r.is_ok() && upd.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(upd.delay_ms)).await;
    }
    d.rollouts.release(&limits);
    r
}

async fn replace_held(
    d: &GceDriver,
    app: &str,
    coll: &str,
    current: &Value,
    body: &Value,
    upd: &HostUpdate,
    resource: &str,
) -> Result<(), DriverError> {
    let primary = body["name"].as_str().unwrap_or_default().to_string();
    let old_name = current["name"].as_str().unwrap_or(&primary).to_string();
    let component = component_of(body).unwrap_or_default();
    let old_hash = super::label_hash(current);
    let old_body = recall(d, app, &component, &old_hash);
    let mut new = body.clone();
    let new_name = if upd.start_first() {
        alternate_name(&primary, &old_name)
    } else {
        primary.clone()
    };
    new["name"] = Value::String(new_name.clone());
    let timeout = update_timeout();
    tracing::info!(%resource, from = %old_name, to = %new_name, order = %upd.order, "rolling replacement");
    let result = if upd.start_first() {
        match super::objects::insert(d, app, coll, &new, resource).await {
            Ok(()) => match wait_up(d, &new_name, upd, timeout, resource).await {
                Ok(()) => super::objects::delete(d, &format!("{coll}/{old_name}"), resource).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    } else {
        super::objects::delete(d, &format!("{coll}/{old_name}"), resource).await?;
        match super::objects::insert(d, app, coll, &new, resource).await {
            Ok(()) => wait_up(d, &new_name, upd, timeout, resource).await,
            Err(e) => Err(e),
        }
    };
    let e = match result {
        Ok(()) => {
            forget(d, app, &component, Some(&super::label_hash(body)));
            let mut st = d.rollouts.lock();
            if let Some(old) = old_body {
                for svc in upd.parallelism.keys() {
                    st.replaced.entry(svc.clone()).or_default().push(Replaced {
                        old: old.clone(),
                        new_name: new_name.clone(),
                    });
                }
            }
            return Ok(());
        }
        Err(e) => e,
    };
    failed(
        d,
        app,
        coll,
        upd,
        resource,
        e,
        old_body.map(|old| Replaced { old, new_name }),
    )
    .await
}

/// A new instance did not come up: apply the failure action; always an error.
async fn failed(
    d: &GceDriver,
    app: &str,
    coll: &str,
    upd: &HostUpdate,
    resource: &str,
    e: DriverError,
    this: Option<Replaced>,
) -> Result<(), DriverError> {
    let mut tolerated = false;
    if upd.max_failure_ratio > 0.0 {
        let hosts = service_hosts(d, app).await.unwrap_or_default();
        let mut st = d.rollouts.lock();
        tolerated = upd.parallelism.keys().all(|svc| {
            let n = st.failed.entry(svc.clone()).or_default();
            *n += 1;
            let total = hosts.get(svc).copied().unwrap_or(1).max(1);
            f64::from(*n) / f64::from(total) <= upd.max_failure_ratio
        });
    }
    let what = format!("{resource} failed: {}", e.message);
    let action = if tolerated {
        "continue"
    } else {
        upd.failure_action.as_str()
    };
    match action {
        "continue" => Err(e),
        "rollback" => {
            let Some(this) = this else {
                pause(d, upd, &what);
                return Err(e.with_hint(
                    "the update is paused, not rolled back: the previous body of this instance is not kept on this machine (.bridge/gce beside the app file); fix the change and deploy again",
                ));
            };
            {
                let mut st = d.rollouts.lock();
                for svc in upd.parallelism.keys() {
                    st.stopped
                        .insert(svc.clone(), Stopped::RolledBack(what.clone()));
                }
            }
            let mut restore = vec![this];
            {
                let mut st = d.rollouts.lock();
                for svc in upd.parallelism.keys() {
                    restore.extend(
                        st.replaced
                            .remove(svc)
                            .unwrap_or_default()
                            .into_iter()
                            .rev(),
                    );
                }
            }
            for r in &restore {
                let old_name = r.old["name"].as_str().unwrap_or_default().to_string();
                tracing::warn!(%resource, restore = %old_name, "rolling back");
                if r.new_name != old_name {
                    super::objects::delete(d, &format!("{coll}/{}", r.new_name), resource).await?;
                }
                let path = format!("{coll}/{old_name}");
                match super::objects::get(d, &path, resource).await? {
                    // Start-first: the old instance still runs as it was.
                    Some(cur) if super::label_hash(&cur) == super::label_hash(&r.old) => {}
                    Some(_) => {
                        super::objects::delete(d, &path, resource).await?;
                        super::objects::insert(d, app, coll, &r.old, resource).await?;
                    }
                    None => super::objects::insert(d, app, coll, &r.old, resource).await?,
                }
                let mut plain = upd.clone();
                plain.monitor_ms = 0;
                wait_up(d, &old_name, &plain, update_timeout(), resource).await?;
            }
            let mut out = err(
                resource,
                e.kind,
                format!(
                    "{}; rolled back: {} instance(s) restored to their previous spec",
                    e.message,
                    restore.len()
                ),
            );
            out.hint = e.hint;
            Err(out)
        }
        _ => {
            pause(d, upd, &what);
            Err(e)
        }
    }
}

fn pause(d: &GceDriver, upd: &HostUpdate, what: &str) {
    let mut st = d.rollouts.lock();
    for svc in upd.parallelism.keys() {
        st.stopped
            .insert(svc.clone(), Stopped::Paused(what.to_string()));
    }
}

/// How many instances of the app carry each service's network tag.
async fn service_hosts(d: &GceDriver, app: &str) -> Result<BTreeMap<String, u32>, DriverError> {
    let prefix = format!("{}-", bridge_translators::gce::resource_name(app));
    let mut out = BTreeMap::new();
    for v in super::objects::app_instances(d, app).await? {
        for t in v["tags"]["items"].as_array().into_iter().flatten() {
            if let Some(svc) = t.as_str().and_then(|t| t.strip_prefix(&prefix)) {
                *out.entry(svc.to_string()).or_default() += 1;
            }
        }
    }
    Ok(out)
}
