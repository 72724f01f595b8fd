//! Swarm objects: observe them by label, normalise the stored service spec to the shape bridge
//! sends, and apply one step (create, update with the service version, replace, delete).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{
    ConfigSpec, NetworkCreateRequest, NodeSpec, SecretSpec, ServiceSpec, VolumeCreateRequest,
};
use bollard::query_parameters::{
    InspectServiceOptions, ListConfigsOptions, ListNetworksOptions, ListSecretsOptions,
    ListServicesOptions, ListVolumesOptions, RemoveVolumeOptions, UpdateNodeOptions,
    UpdateServiceOptions,
};
use bridge_core::plan::{Action, Current, Desired, Step, Unowned};
use bridge_translators::swarm::{LABEL_APP, LABEL_COMPONENT, LABEL_SPEC_HASH, base64, scoped};
use serde_json::Value;

use super::{SwarmDriver, api, app_filter, component_id, err, filters, rank_of, status_of};
use crate::{DriverError, ErrorKind};

/// Any serialisable value as JSON (bollard's HashMaps become sorted objects).
pub trait Json {
    /// The value as JSON.
    fn json(&self) -> Value;
}

impl<T: serde::Serialize> Json for T {
    fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn hash_of(labels: Option<&HashMap<String, String>>) -> Option<String> {
    labels.and_then(|l| l.get(LABEL_SPEC_HASH).cloned())
}

/// Everything labelled for `app`. Five list calls; no writes.
pub async fn observe(d: &SwarmDriver, app: &str) -> Result<Vec<Current>, DriverError> {
    let docker = &d.docker;
    let f = app_filter(app);
    let (networks, volumes, secrets, configs, services) = tokio::join!(
        docker.list_networks(Some(ListNetworksOptions { filters: None })),
        docker.list_volumes(Some(ListVolumesOptions {
            filters: Some(f.clone())
        })),
        docker.list_secrets(Some(ListSecretsOptions {
            filters: Some(f.clone())
        })),
        docker.list_configs(Some(ListConfigsOptions {
            filters: Some(f.clone())
        })),
        docker.list_services(Some(ListServicesOptions {
            filters: Some(f.clone()),
            status: None,
        })),
    );
    let networks = networks.map_err(|e| api("networks", e))?;
    let mut out = Vec::new();
    let mut net_names: HashMap<String, String> = HashMap::new();
    for n in &networks {
        if let (Some(id), Some(name)) = (&n.id, &n.name) {
            net_names.insert(id.clone(), name.clone());
        }
        let Some(labels) = &n.labels else { continue };
        if labels.get(super::LABEL_APP).map(String::as_str) != Some(app) {
            continue;
        }
        if let Some(rid) = component_id(labels) {
            out.push(Current {
                rank: rank_of(&rid.kind),
                id: rid,
                spec_hash: hash_of(Some(labels)),
                spec: None,
                handle: n.id.clone().unwrap_or_default(),
                opaque: Vec::new(),
            });
        }
    }
    for v in volumes
        .map_err(|e| api("volumes", e))?
        .volumes
        .unwrap_or_default()
    {
        if let Some(rid) = component_id(&v.labels) {
            out.push(Current {
                rank: rank_of(&rid.kind),
                id: rid,
                spec_hash: hash_of(Some(&v.labels)),
                spec: None,
                handle: v.name.clone(),
                opaque: Vec::new(),
            });
        }
    }
    for s in secrets.map_err(|e| api("secrets", e))? {
        let labels = s.spec.as_ref().and_then(|sp| sp.labels.as_ref());
        if let Some(rid) = labels.and_then(component_id) {
            out.push(Current {
                rank: rank_of(&rid.kind),
                id: rid,
                spec_hash: hash_of(labels),
                spec: None,
                handle: s.id.clone().unwrap_or_default(),
                opaque: Vec::new(),
            });
        }
    }
    for c in configs.map_err(|e| api("configs", e))? {
        let labels = c.spec.as_ref().and_then(|sp| sp.labels.as_ref());
        if let Some(rid) = labels.and_then(component_id) {
            out.push(Current {
                rank: rank_of(&rid.kind),
                id: rid,
                spec_hash: hash_of(labels),
                spec: None,
                handle: c.id.clone().unwrap_or_default(),
                opaque: Vec::new(),
            });
        }
    }
    for s in services.map_err(|e| api("services", e))? {
        let Some(spec) = &s.spec else { continue };
        let Some(rid) = spec.labels.as_ref().and_then(component_id) else {
            continue;
        };
        out.push(Current {
            rank: rank_of(&rid.kind),
            id: rid,
            spec_hash: hash_of(spec.labels.as_ref()),
            spec: Some(normalise(spec, &net_names)),
            handle: s.id.clone().unwrap_or_default(),
            // The engine writes it back as `Healthcheck`, which the API model does not read: a
            // health change still shows through the spec hash.
            // The hash label itself is compared as the hash, not as a field.
            opaque: vec![
                "TaskTemplate.ContainerSpec.HealthCheck".into(),
                format!("Labels.{LABEL_SPEC_HASH}"),
            ],
        });
    }
    tracing::debug!(app, resources = out.len(), "observed");
    Ok(out)
}

/// The services and networks that have the names of `desired` ones but not `app`'s label
/// (a `docker stack deploy` stack, objects made by hand). A service can be relabelled in place
/// (an update of its `Labels` alone starts no new task); a network cannot (the Engine has no
/// network update). Two list calls; no writes.
pub async fn unowned(
    d: &SwarmDriver,
    app: &str,
    desired: &[Desired],
) -> Result<Vec<Unowned>, DriverError> {
    let name_of = |x: &Desired| x.spec["Name"].as_str().map(str::to_string);
    let wants = |kind: &str| desired.iter().any(|x| x.id.kind == kind);
    let ours = |labels: Option<&HashMap<String, String>>| {
        labels.and_then(|l| l.get(LABEL_APP)).map(String::as_str) == Some(app)
    };
    let mut out = Vec::new();
    if !wants("service") && !wants("network") {
        return Ok(out);
    }
    let networks = d
        .docker
        .list_networks(Some(ListNetworksOptions { filters: None }))
        .await
        .map_err(|e| api("networks", e))?;
    let net_names: HashMap<String, String> = networks
        .iter()
        .filter_map(|n| Some((n.id.clone()?, n.name.clone()?)))
        .collect();
    for x in desired.iter().filter(|x| x.id.kind == "network") {
        let Some(name) = name_of(x) else { continue };
        if let Some(n) = networks
            .iter()
            .find(|n| n.name.as_deref() == Some(name.as_str()) && !ours(n.labels.as_ref()))
        {
            out.push(Unowned {
                id: x.id.clone(),
                name,
                handle: n.id.clone().unwrap_or_default(),
                spec: None,
                opaque: Vec::new(),
                no_relabel: Some("the Engine cannot relabel a network in place (it has no network update); replacing it needs every service on it detached first".into()),
            });
        }
    }
    if wants("service") {
        let services = d
            .docker
            .list_services(Some(ListServicesOptions {
                filters: None,
                status: None,
            }))
            .await
            .map_err(|e| api("services", e))?;
        for x in desired.iter().filter(|x| x.id.kind == "service") {
            let Some(name) = name_of(x) else { continue };
            let Some((svc, spec)) = services.iter().find_map(|s| {
                let spec = s.spec.as_ref()?;
                (spec.name.as_deref() == Some(name.as_str()) && !ours(spec.labels.as_ref()))
                    .then_some((s, spec))
            }) else {
                continue;
            };
            let mut v = normalise(spec, &net_names);
            if !v["Labels"].is_object() {
                v["Labels"] = Value::Object(serde_json::Map::new());
            }
            out.push(Unowned {
                id: x.id.clone(),
                name,
                handle: svc.id.clone().unwrap_or_default(),
                spec: Some(v),
                // The labels adoption adds, and what observe cannot compare either.
                opaque: vec![
                    "TaskTemplate.ContainerSpec.HealthCheck".into(),
                    format!("Labels.{LABEL_APP}"),
                    format!("Labels.{LABEL_COMPONENT}"),
                    format!("Labels.{LABEL_SPEC_HASH}"),
                ],
                no_relabel: None,
            });
        }
    }
    Ok(out)
}

/// Adopt a service: add the desired spec's bridge labels to the service's own `Labels`, with
/// its version; nothing else of its spec is sent, so no task restarts. Retried when the
/// version moved meanwhile; idempotent (labels already there are set again to the same value).
async fn adopt_service(d: &SwarmDriver, step: &Step) -> Result<(), DriverError> {
    let r = step.resource.to_string();
    let handle = step.handle.clone().ok_or_else(|| {
        err(
            &r,
            ErrorKind::Other,
            "an adopt step needs the object's handle",
        )
    })?;
    let wanted: HashMap<String, String> = step
        .after
        .as_ref()
        .and_then(|a| a["Labels"].as_object())
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("bridge."))
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    for attempt in 1..=3 {
        let current = d
            .docker
            .inspect_service(&handle, None::<InspectServiceOptions>)
            .await
            .map_err(|e| api(&r, e))?;
        let mut spec = current.spec.unwrap_or_default();
        let mut labels = spec.labels.clone().unwrap_or_default();
        labels.extend(wanted.clone());
        spec.labels = Some(labels);
        let version = current.version.and_then(|v| v.index).unwrap_or(0);
        let opts = UpdateServiceOptions {
            version: i32::try_from(version).unwrap_or(i32::MAX),
            ..UpdateServiceOptions::default()
        };
        match d.docker.update_service(&handle, spec, opts, None).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt < 3 && e.to_string().contains("update out of sequence") => {}
            Err(e) => return Err(api(&r, e)),
        }
    }
    Ok(())
}

/// The stored spec in the shape bridge sends: network ids back to names, the image digest the
/// engine may pin dropped, secret and config ids (filled at apply time) dropped.
fn normalise(spec: &ServiceSpec, net_names: &HashMap<String, String>) -> Value {
    let mut v = spec.json();
    let tt = &mut v["TaskTemplate"];
    if let Some(nets) = tt.get_mut("Networks").and_then(Value::as_array_mut) {
        for n in nets {
            if let Some(t) = n.get("Target").and_then(Value::as_str)
                && let Some(name) = net_names.get(t)
            {
                n["Target"] = Value::String(name.clone());
            }
        }
    }
    if let Some(cs) = tt.get_mut("ContainerSpec") {
        if let Some(img) = cs.get("Image").and_then(Value::as_str)
            && let Some((base, _digest)) = img.split_once("@sha256:")
        {
            cs["Image"] = Value::String(base.to_string());
        }
        for (list, id) in [("Secrets", "SecretID"), ("Configs", "ConfigID")] {
            if let Some(refs) = cs.get_mut(list).and_then(Value::as_array_mut) {
                for r in refs {
                    if let Some(o) = r.as_object_mut() {
                        o.remove(id);
                    }
                }
            }
        }
    }
    v
}

fn from_json<T: serde::de::DeserializeOwned>(step: &Step, v: &Value) -> Result<T, DriverError> {
    serde_json::from_value(v.clone()).map_err(|e| {
        err(
            step.resource.to_string(),
            ErrorKind::Other,
            format!("the plan's spec does not decode: {e}"),
        )
    })
}

/// Carry out one step; idempotent (see [`crate::Driver::apply`]).
pub async fn apply(d: &SwarmDriver, app: &str, step: &Step) -> Result<(), DriverError> {
    let r = step.resource.to_string();
    let after = step.after.clone().unwrap_or(Value::Null);
    if step.action == Action::Adopt {
        return match step.resource.kind.as_str() {
            "service" => adopt_service(d, step).await,
            other => Err(err(
                r,
                ErrorKind::Other,
                format!("a {other} cannot be adopted in place on swarm"),
            )),
        };
    }
    if matches!(step.action, Action::Delete | Action::Replace) {
        delete(d, step).await?;
        if step.action == Action::Delete {
            return Ok(());
        }
    }
    match step.resource.kind.as_str() {
        "network" => {
            // No CheckDuplicate in this API model: the app lock and observe-before-create keep
            // names unique, and a duplicate left by a crash is deleted by the next plan.
            let req: NetworkCreateRequest = from_json(step, &after)?;
            match d.docker.create_network(req).await {
                Ok(_) => Ok(()),
                Err(e) if status_of(&e) == Some(409) => Ok(()),
                Err(e) => Err(api(&r, e)),
            }
        }
        "volume" => {
            let req: VolumeCreateRequest = from_json(step, &after)?;
            let name = req.name.clone().unwrap_or_default();
            let made = d
                .docker
                .create_volume(req.clone())
                .await
                .map_err(|e| api(&r, e))?;
            if made
                .labels
                .contains_key(bridge_translators::swarm::LABEL_APP)
            {
                return Ok(());
            }
            // Creating a volume that exists returns the old one unchanged. One without bridge's
            // labels was made implicitly by a task's mount (a killed deploy's leftover): it holds
            // nothing of the app's yet, so replace it with the labelled one.
            let start = Instant::now();
            loop {
                match d
                    .docker
                    .remove_volume(&name, None::<RemoveVolumeOptions>)
                    .await
                {
                    Ok(()) => break,
                    Err(e) if status_of(&e) == Some(404) => break,
                    Err(_) if start.elapsed() < Duration::from_secs(30) => {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    Err(e) => {
                        return Err(err(
                            r.clone(),
                            ErrorKind::Conflict,
                            format!("volume {name} exists without bridge's labels and is in use ({e})"),
                        )
                        .with_hint(format!(
                            "remove it with `docker volume rm {name}` once its containers are gone, then deploy again"
                        )));
                    }
                }
            }
            d.docker
                .create_volume(req)
                .await
                .map(|_| ())
                .map_err(|e| api(&r, e))
        }
        "secret" => {
            let mut spec: SecretSpec = from_json(step, &after["spec"])?;
            let value = read_value(d, step, &after["source"])?;
            spec.data = Some(base64(&value));
            match d.docker.create_secret(spec).await {
                Ok(_) => Ok(()),
                Err(e) if status_of(&e) == Some(409) => Ok(()),
                Err(e) => Err(api(&r, e)),
            }
        }
        "config" => {
            let mut spec: ConfigSpec = from_json(step, &after["spec"])?;
            if spec.data.is_none() {
                spec.data = Some(base64(&read_value(d, step, &after["source"])?));
            }
            match d.docker.create_config(spec).await {
                Ok(_) => Ok(()),
                Err(e) if status_of(&e) == Some(409) => Ok(()),
                Err(e) => Err(api(&r, e)),
            }
        }
        "service" => {
            let spec: ServiceSpec = from_json(step, &after)?;
            apply_service(d, app, step, spec).await
        }
        other => Err(err(
            r,
            ErrorKind::Other,
            format!("unknown resource kind {other}"),
        )),
    }
}

/// A secret's or config's value, from the deploying process's environment or a file. Never
/// logged; errors name the variable or file, never the value.
fn read_value(d: &SwarmDriver, step: &Step, source: &Value) -> Result<Vec<u8>, DriverError> {
    let r = step.resource.to_string();
    if let Some(var) = source.get("env").and_then(Value::as_str) {
        return std::env::var_os(var)
            .map(|v| v.into_encoded_bytes())
            .ok_or_else(|| {
                err(&r, ErrorKind::Unsatisfiable, format!("the environment variable {var} is not set"))
                    .with_hint(format!("export {var} with the value before deploying (it is read at deploy time and never stored)"))
            });
    }
    if let Some(file) = source.get("file").and_then(Value::as_str) {
        let path = d.base_dir.join(file);
        return std::fs::read(&path).map_err(|e| {
            err(
                &r,
                ErrorKind::Unsatisfiable,
                format!("cannot read {}: {e}", path.display()),
            )
            .with_hint("create the file (relative paths are read beside the app file)")
        });
    }
    Err(err(
        r,
        ErrorKind::Other,
        "no value source (env or file) for this object",
    ))
}

async fn apply_service(
    d: &SwarmDriver,
    app: &str,
    step: &Step,
    mut spec: ServiceSpec,
) -> Result<(), DriverError> {
    let r = step.resource.to_string();
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| scoped(app, &step.resource.name));
    check_image(d, &r, &spec).await?;
    ensure_group_labels(d, &spec).await?;
    fill_ids(d, &r, &mut spec).await?;
    if step.action == Action::Create {
        match d.docker.create_service(spec.clone(), None).await {
            Ok(_) => return Ok(()),
            // Created meanwhile by another run of this app: converge by update. One that is
            // not the app's (made outside bridge after the plan) is not overwritten.
            Err(e) if status_of(&e) == Some(409) => {
                let existing = d
                    .docker
                    .inspect_service(&name, None::<InspectServiceOptions>)
                    .await
                    .map_err(|e| api(&r, e))?;
                let owner = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.labels.as_ref())
                    .and_then(|l| l.get(LABEL_APP).cloned());
                if owner.as_deref() != Some(app) {
                    return Err(err(
                        &r,
                        ErrorKind::Conflict,
                        format!("service {name} exists without bridge's labels for {app} (made outside bridge)"),
                    )
                    .with_hint("`bridge deploy --adopt` takes it over; or remove it (docker service rm), or rename the app"));
                }
            }
            Err(e) => return Err(api(&r, e)),
        }
    }
    // Update in place with the current version; retry once when it moved meanwhile.
    let target = step.handle.clone().unwrap_or(name);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = d
            .docker
            .inspect_service(&target, None::<InspectServiceOptions>)
            .await
            .map_err(|e| api(&r, e))?;
        let version = current.version.and_then(|v| v.index).unwrap_or(0);
        let opts = UpdateServiceOptions {
            version: i32::try_from(version).unwrap_or(i32::MAX),
            ..UpdateServiceOptions::default()
        };
        match d
            .docker
            .update_service(&target, spec.clone(), opts, None)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if attempts < 3 && e.to_string().contains("update out of sequence") => {
                tracing::debug!(resource = %r, "service version moved; retrying");
            }
            Err(e) => return Err(api(&r, e)),
        }
    }
}

/// On a single-node swarm, the image must be on the node: say so before creating a service
/// whose tasks would fail with `No such image`.
async fn check_image(d: &SwarmDriver, r: &str, spec: &ServiceSpec) -> Result<(), DriverError> {
    if !d.single_node() {
        return Ok(());
    }
    let Some(image) = spec
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
    else {
        return Ok(());
    };
    match d.docker.inspect_image(&image).await {
        Ok(_) => Ok(()),
        Err(e) if status_of(&e) == Some(404) => Err(err(
            r,
            ErrorKind::Unsatisfiable,
            format!("image {image} is not on the node"),
        )
        .with_hint(format!(
            "make it available on the node (docker pull {image}, docker load or docker import), or correct the service's image"
        ))),
        Err(e) => Err(api(r, e)),
    }
}

/// Secret and config references need the engine's ids: look them up by name.
async fn fill_ids(d: &SwarmDriver, r: &str, spec: &mut ServiceSpec) -> Result<(), DriverError> {
    let Some(cs) = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    else {
        return Ok(());
    };
    for s in cs.secrets.iter_mut().flatten() {
        let Some(name) = s.secret_name.clone() else {
            continue;
        };
        let found = d
            .docker
            .list_secrets(Some(ListSecretsOptions {
                filters: Some(filters(&[("name", name.clone())])),
            }))
            .await
            .map_err(|e| api(r, e))?;
        let id = found
            .into_iter()
            .find(|x| x.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(name.as_str()))
            .and_then(|x| x.id)
            .ok_or_else(|| {
                err(
                    r,
                    ErrorKind::NotFound,
                    format!("secret {name} does not exist"),
                )
                .with_hint("create it (docker secret create) or declare it in the app's secrets")
            })?;
        s.secret_id = Some(id);
    }
    for c in cs.configs.iter_mut().flatten() {
        let Some(name) = c.config_name.clone() else {
            continue;
        };
        let found = d
            .docker
            .list_configs(Some(ListConfigsOptions {
                filters: Some(filters(&[("name", name.clone())])),
            }))
            .await
            .map_err(|e| api(r, e))?;
        let id = found
            .into_iter()
            .find(|x| x.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(name.as_str()))
            .and_then(|x| x.id)
            .ok_or_else(|| {
                err(
                    r,
                    ErrorKind::NotFound,
                    format!("config {name} does not exist"),
                )
                .with_hint("create it (docker config create) or declare it in the app's configs")
            })?;
        c.config_id = Some(id);
    }
    Ok(())
}

const GROUP_PREFIX: &str = "node.labels.";

/// Groups are pinned with `node.labels.bridge.group.<app>.<group> == true`: set that label on
/// the local node (a single-node swarm: the node this engine runs).
async fn ensure_group_labels(d: &SwarmDriver, spec: &ServiceSpec) -> Result<(), DriverError> {
    let wanted: Vec<String> = spec
        .task_template
        .as_ref()
        .and_then(|t| t.placement.as_ref())
        .and_then(|p| p.constraints.clone())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            let (lhs, rhs) = c.split_once("==")?;
            let label = lhs.trim().strip_prefix(GROUP_PREFIX)?;
            (label.starts_with("bridge.group.") && rhs.trim() == "true").then(|| label.to_string())
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    edit_node_labels(d, |labels| {
        let mut changed = false;
        for w in &wanted {
            if labels.get(w).map(String::as_str) != Some("true") {
                labels.insert(w.clone(), "true".into());
                changed = true;
            }
        }
        changed
    })
    .await
}

/// Remove the app's group labels from the local node.
pub async fn remove_group_labels(d: &SwarmDriver, app: &str) -> Result<(), DriverError> {
    let prefix = format!("bridge.group.{app}.");
    edit_node_labels(d, |labels| {
        let before = labels.len();
        labels.retain(|k, _| !k.starts_with(&prefix));
        labels.len() != before
    })
    .await
}

async fn edit_node_labels(
    d: &SwarmDriver,
    edit: impl Fn(&mut HashMap<String, String>) -> bool,
) -> Result<(), DriverError> {
    let info = d.docker.info().await.map_err(|e| api("node", e))?;
    let Some(node_id) = info.swarm.and_then(|s| s.node_id).filter(|n| !n.is_empty()) else {
        return Ok(());
    };
    for _ in 0..3 {
        let node = d
            .docker
            .inspect_node(&node_id)
            .await
            .map_err(|e| api("node", e))?;
        let mut spec: NodeSpec = node.spec.unwrap_or_default();
        let mut labels = spec.labels.clone().unwrap_or_default();
        if !edit(&mut labels) {
            return Ok(());
        }
        spec.labels = Some(labels);
        let version = node.version.and_then(|v| v.index).unwrap_or(0);
        let opts = UpdateNodeOptions {
            version: i64::try_from(version).unwrap_or(i64::MAX),
        };
        match d.docker.update_node(&node_id, spec, opts).await {
            Ok(()) => return Ok(()),
            Err(e) if e.to_string().contains("out of sequence") => continue,
            Err(e) => return Err(api("node", e)),
        }
    }
    Err(err(
        "node",
        ErrorKind::Conflict,
        "the node changed three times while bridge labelled it",
    ))
}

/// Delete the observed object; absent is fine. Networks, volumes, secrets and configs still in
/// use by tasks being removed are retried for up to 60 s.
async fn delete(d: &SwarmDriver, step: &Step) -> Result<(), DriverError> {
    let r = step.resource.to_string();
    let Some(handle) = step.handle.clone() else {
        return Ok(());
    };
    let start = Instant::now();
    loop {
        let res = match step.resource.kind.as_str() {
            "service" => d.docker.delete_service(&handle).await,
            "network" => d.docker.remove_network(&handle).await,
            "volume" => {
                d.docker
                    .remove_volume(&handle, None::<RemoveVolumeOptions>)
                    .await
            }
            "secret" => d.docker.delete_secret(&handle).await,
            "config" => d.docker.delete_config(&handle).await,
            _ => Ok(()),
        };
        match res {
            Ok(()) => {
                if step.resource.kind == "network" {
                    wait_network_gone(d, &handle).await;
                }
                return Ok(());
            }
            Err(e) if status_of(&e) == Some(404) => return Ok(()),
            Err(e) => {
                let msg = e.to_string();
                let busy = status_of(&e) == Some(409)
                    || msg.contains("in use")
                    || msg.contains("active endpoints");
                if busy && start.elapsed() < Duration::from_secs(60) {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    continue;
                }
                return Err(api(&r, e));
            }
        }
    }
}

/// A removed swarm network stays listed on the node until the tasks that used it have stopped;
/// wait (up to 30 s) so a redeploy right after never sees the stale copy.
async fn wait_network_gone(d: &SwarmDriver, id: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let listed = d
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters(&[("id", id.to_string())])),
            }))
            .await
            .map(|l| !l.is_empty())
            .unwrap_or(false);
        if !listed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
