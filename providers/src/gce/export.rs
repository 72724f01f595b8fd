//! `bridge export -p gce`: the live instances read back into an app. With `--app NAME`, what the
//! driver deployed (the instances and volume disks labelled `bridge-app=NAME`, the firewall
//! rules whose description names it, listed as [`super::objects::observe`] lists them); with
//! `--instance NAME...`, the named instances, whoever made them (a container declaration or
//! bridge's cloud-init), the data disks they attach and the firewall rules aimed at their
//! network tags. Each resource is passed as the API
//! returned it to the artifact exporter ([`bridge_translators::export::gce`]), named
//! `zones/<zone>/instances/<name>` (or `.../disks/<name>`, `global/firewalls/<name>`) in the
//! diagnostics. The boot disk of an instance is read too (`disks.get`): the API does not echo
//! an instance's `initializeParams`, so the disk's `sourceImage`, `sizeGb` and `type` are put
//! back in their place. Secret values are not on an instance (they live in Secret Manager, and
//! the boot script only names them), and Secret Manager is not read.

use reqwest::Method;
use serde_json::Value;

use bridge_core::Diagnostics;
use bridge_translators::export::Export;
use bridge_translators::gce::{LABEL_APP, LABEL_COMPONENT};

use super::{GceDriver, description_fields, objects};
use crate::{DriverError, ErrorKind};

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// What bridge deployed for this app.
    App(String),
    /// These instances, by name.
    Instances(Vec<String>),
}

/// The boot disk's image, size and type put back as `initializeParams` (the API answers with
/// the disk's `source` only); left as it is when the disk cannot be read.
async fn boot_params(d: &GceDriver, inst: &mut Value) {
    let Some(disks) = inst.get_mut("disks").and_then(Value::as_array_mut) else {
        return;
    };
    for disk in disks {
        if disk.get("boot").and_then(Value::as_bool) != Some(true)
            || disk.get("initializeParams").is_some()
        {
            continue;
        }
        let Some(name) = disk
            .get("source")
            .and_then(Value::as_str)
            .and_then(|s| s.rsplit('/').next())
            .map(str::to_string)
        else {
            continue;
        };
        let path = format!("zones/{}/disks/{name}", d.zone);
        let Ok(b) = d.api.call(Method::GET, &path, &[], None, &path).await else {
            continue;
        };
        let mut p = serde_json::Map::new();
        for (from, to) in [
            ("sourceImage", "sourceImage"),
            ("sizeGb", "diskSizeGb"),
            ("type", "diskType"),
        ] {
            if let Some(v) = b.get(from) {
                p.insert(to.into(), v.clone());
            }
        }
        if !p.is_empty() {
            disk["initializeParams"] = Value::Object(p);
            if let Some(o) = disk.as_object_mut() {
                o.remove("source");
                o.remove("diskSizeGb");
            }
        }
    }
}

/// Read the live resources and export them.
pub async fn export(
    d: &GceDriver,
    sel: &Select,
    name: Option<&str>,
) -> Result<Result<Export, Diagnostics>, DriverError> {
    let zone = d.zone.clone();
    let mut files: Vec<(String, String)> = Vec::new();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let mut data_disks: Vec<String> = Vec::new();
    let mut fallback = name.map(str::to_string);
    match sel {
        Select::App(app) => {
            let mut insts = objects::list(
                d,
                &format!("zones/{zone}/instances"),
                Some(objects::app_filter(app)),
            )
            .await?;
            insts.retain(|v| v["labels"].get(LABEL_COMPONENT).is_some());
            if insts.is_empty() {
                return Err(DriverError::new(
                    "gce",
                    app.clone(),
                    ErrorKind::NotFound,
                    format!(
                        "no instance in project {} zone {zone} carries the label {LABEL_APP}={app}",
                        d.project()
                    ),
                )
                .with_hint("check the app name and --zone; `bridge status -p gce -f FILE` lists what bridge deployed"));
            }
            for mut v in insts {
                boot_params(d, &mut v).await;
                let n = v["name"].as_str().unwrap_or_default().to_string();
                files.push((format!("zones/{zone}/instances/{n}"), pretty(&v)));
            }
            for v in objects::list(
                d,
                &format!("zones/{zone}/disks"),
                Some(objects::app_filter(app)),
            )
            .await?
            {
                let volume = v["labels"]
                    .get(LABEL_COMPONENT)
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.starts_with("volume-"));
                if volume {
                    let n = v["name"].as_str().unwrap_or_default().to_string();
                    files.push((format!("zones/{zone}/disks/{n}"), pretty(&v)));
                }
            }
            for v in objects::list(d, "global/firewalls", None).await? {
                let desc = v["description"].as_str().unwrap_or_default();
                if description_fields(desc).get("bridge.app") == Some(&app.as_str()) {
                    let n = v["name"].as_str().unwrap_or_default().to_string();
                    files.push((format!("global/firewalls/{n}"), pretty(&v)));
                }
            }
            fallback = fallback.or_else(|| Some(app.clone()));
        }
        Select::Instances(names) => {
            for n in names {
                let path = format!("zones/{zone}/instances/{n}");
                let mut v = d.api.call(Method::GET, &path, &[], None, n).await?;
                boot_params(d, &mut v).await;
                for disk in v["disks"].as_array().cloned().unwrap_or_default() {
                    if disk["boot"].as_bool() == Some(true) {
                        continue;
                    }
                    if let Some(dn) = disk["source"].as_str().and_then(|s| s.rsplit('/').next()) {
                        data_disks.push(dn.to_string());
                    }
                }
                files.push((path, pretty(&v)));
            }
            // The firewall rules aimed at the instances' network tags: a declared container's
            // or a vm's ports.
            let tags: std::collections::BTreeSet<String> = files
                .iter()
                .filter_map(|(_, t)| serde_json::from_str::<Value>(t).ok())
                .flat_map(|v| {
                    v["tags"]["items"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                })
                .collect();
            if !tags.is_empty() {
                for v in objects::list(d, "global/firewalls", None).await? {
                    let aimed = v["targetTags"].as_array().is_some_and(|t| {
                        t.iter()
                            .any(|x| x.as_str().is_some_and(|x| tags.contains(x)))
                    });
                    if aimed {
                        let n = v["name"].as_str().unwrap_or_default().to_string();
                        files.push((format!("global/firewalls/{n}"), pretty(&v)));
                    }
                }
            }
            for dn in data_disks {
                let path = format!("zones/{zone}/disks/{dn}");
                let v = d.api.call(Method::GET, &path, &[], None, &dn).await?;
                files.push((path, pretty(&v)));
            }
        }
    }
    Ok(bridge_translators::export::gce::instances(
        &files,
        fallback.as_deref(),
    ))
}
