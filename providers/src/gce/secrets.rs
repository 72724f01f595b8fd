//! Secret Manager: the values of the app's secrets (and of configs without inline content) are
//! stored as secrets `<app>-<name>` (the translator's ids), which the VMs fetch at boot. The
//! value is read from the deploying process's environment or a file at apply time, sent once as
//! the secret's first version, and never logged, planned or stored by bridge. A secret carries
//! the labels `bridge-app`, `bridge-component` and `bridge-spec-hash`; its spec hash covers the
//! id and where the value comes from, not the value (as on Swarm, a changed value is not seen:
//! destroy and deploy, or add a version yourself). External secrets must exist.

use bridge_core::plan::{Current, Desired, ResourceId, Step};
use bridge_translators::gce::{GceApp, LABEL_APP, LABEL_COMPONENT, LABEL_SPEC_HASH, label_value};
use reqwest::Method;
use serde_json::{Value, json};

use super::api::Api;
use super::{GceDriver, RANK_SECRET, err};
use crate::{DriverError, ErrorKind};

/// The desired secrets: one per neutral secret (not external) and per config stored there.
pub fn desired(g: &GceApp, app: &bridge_core::model::App) -> Vec<Desired> {
    let mut out = Vec::new();
    for (path, id) in &g.secret_ids {
        let (source, external) = if let Some(s) = path
            .strip_prefix("secrets.")
            .and_then(|n| app.secrets.get(n))
        {
            (json!({"env": s.env, "file": s.file}), s.external)
        } else if let Some(c) = path
            .strip_prefix("configs.")
            .and_then(|n| app.configs.get(n))
        {
            (json!({"env": c.env, "file": c.file}), c.external)
        } else {
            continue;
        };
        if external {
            continue;
        }
        let component = path.replacen('.', "-", 1);
        let mut labels = serde_json::Map::new();
        labels.insert(LABEL_APP.into(), json!(label_value(&app.name)));
        labels.insert(LABEL_COMPONENT.into(), json!(label_value(&component)));
        let mut spec = json!({"secretId": id, "labels": labels, "source": source});
        let hash = bridge_core::hash::spec_hash(&spec);
        spec["labels"][LABEL_SPEC_HASH] = json!(hash);
        out.push(Desired {
            id: ResourceId::new("secret", label_value(&component)),
            spec_hash: hash,
            spec,
            rank: RANK_SECRET,
            in_place: false,
            depends_on: Vec::new(),
        });
    }
    out
}

fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("labels")?.get(key)?.as_str()
}

/// The app's secrets, found by label.
pub async fn observe(d: &GceDriver, app: &str) -> Result<Vec<Current>, DriverError> {
    let mut out = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let mut q = vec![("filter", format!("labels.{LABEL_APP}={}", label_value(app)))];
        if let Some(p) = &page {
            q.push(("pageToken", p.clone()));
        }
        let v = d
            .api
            .call_api(Api::Secrets, Method::GET, "secrets", &q, None, "secrets")
            .await?;
        for s in v["secrets"].as_array().into_iter().flatten() {
            let Some(component) = label(s, LABEL_COMPONENT) else {
                continue;
            };
            let id = s["name"]
                .as_str()
                .and_then(|n| n.rsplit('/').next())
                .unwrap_or_default()
                .to_string();
            out.push(Current {
                id: ResourceId::new("secret", component),
                spec_hash: label(s, LABEL_SPEC_HASH).map(str::to_string),
                spec: Some(json!({"secretId": id, "labels": s["labels"]})),
                handle: id,
                rank: RANK_SECRET,
                // Where the value came from is bridge's, not the API's.
                opaque: vec!["source".into()],
            });
        }
        match v["nextPageToken"].as_str() {
            Some(t) if !t.is_empty() => page = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

/// The value, from the environment or a file (relative to the app file). Errors name the
/// variable or file, never the value.
fn read_value(d: &GceDriver, resource: &str, source: &Value) -> Result<Vec<u8>, DriverError> {
    if let Some(var) = source["env"].as_str() {
        return std::env::var_os(var)
            .map(|v| v.into_encoded_bytes())
            .ok_or_else(|| {
                err(resource, ErrorKind::Unsatisfiable, format!("the environment variable {var} is not set"))
                    .with_hint(format!("export {var} with the value before deploying (it is read at deploy time and never stored by bridge)"))
            });
    }
    if let Some(file) = source["file"].as_str() {
        let path = d.base_dir.join(file);
        return std::fs::read(&path).map_err(|e| {
            err(
                resource,
                ErrorKind::Unsatisfiable,
                format!("cannot read {}: {e}", path.display()),
            )
            .with_hint("the path is relative to the app file's directory")
        });
    }
    Err(err(
        resource,
        ErrorKind::Unsatisfiable,
        "the secret has no env or file to read its value from",
    )
    .with_hint("give it `env: VAR` or `file: PATH`, or mark it external"))
}

/// Create the secret and its first version. Idempotent: an existing secret of the app is kept,
/// and gets its first version if it has none (a run killed between the two calls).
pub async fn create(d: &GceDriver, app: &str, step: &Step) -> Result<(), DriverError> {
    let resource = step.resource.to_string();
    let after = step.after.clone().unwrap_or(Value::Null);
    let id = after["secretId"].as_str().unwrap_or_default().to_string();
    let value = read_value(d, &resource, &after["source"])?;
    let body = json!({"replication": {"automatic": {}}, "labels": after["labels"]});
    let q = [("secretId", id.clone())];
    match d
        .api
        .call_api(
            Api::Secrets,
            Method::POST,
            "secrets",
            &q,
            Some(&body),
            &resource,
        )
        .await
    {
        Ok(_) => {}
        Err(e) if e.kind == ErrorKind::Conflict => {
            let cur = d
                .api
                .call_api(
                    Api::Secrets,
                    Method::GET,
                    &format!("secrets/{id}"),
                    &[],
                    None,
                    &resource,
                )
                .await?;
            if label(&cur, LABEL_APP) != Some(label_value(app).as_str()) {
                return Err(err(
                    &resource,
                    ErrorKind::Conflict,
                    format!(
                        "secret {id} exists and is not bridge's (no bridge-app={} label)",
                        label_value(app)
                    ),
                )
                .with_hint(
                    "mark the secret `external: true` to use it as it is, or give it another name",
                ));
            }
        }
        Err(e) => return Err(e),
    }
    let versions = d
        .api
        .call_api(
            Api::Secrets,
            Method::GET,
            &format!("secrets/{id}/versions"),
            &[],
            None,
            &resource,
        )
        .await?;
    let enabled = versions["versions"]
        .as_array()
        .is_some_and(|v| v.iter().any(|x| x["state"] == "ENABLED"));
    if !enabled {
        // Standard base64 with padding, as the API's `bytes` fields take it.
        let data = bridge_translators::swarm::base64(&value);
        let req = json!({"payload": {"data": data}});
        d.api
            .call_api(
                Api::Secrets,
                Method::POST,
                &format!("secrets/{id}:addVersion"),
                &[],
                Some(&req),
                &resource,
            )
            .await?;
    }
    Ok(())
}

/// Delete the secret (and its versions); absence is success.
pub async fn delete(d: &GceDriver, step: &Step) -> Result<(), DriverError> {
    let Some(id) = &step.handle else {
        return Ok(());
    };
    match d
        .api
        .call_api(
            Api::Secrets,
            Method::DELETE,
            &format!("secrets/{id}"),
            &[],
            None,
            &step.resource.to_string(),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
