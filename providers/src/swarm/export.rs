//! `bridge export -p swarm`: a live stack (`docker stack deploy`, selected by the
//! `com.docker.stack.namespace` label) or an app bridge deployed (`bridge.app`) read back into
//! bridge.yaml. Secrets and configs are read by reference only (their names, never a value).
//! Every spec field that is set and not read back is a diagnostic naming its path.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{
    ListConfigsOptions, ListNetworksOptions, ListSecretsOptions, ListServicesOptions,
    ListTasksOptions, ListVolumesOptions,
};
use bridge_core::model::{
    Command, Config, ConfigRef, Env, Health, HealthTest, Mount, MountKind, Network, Port, PortMode,
    Protocol, RestartPolicy, Secret, SecretRef, Service, ServiceMode, Version, Volume,
};
use bridge_core::units::{ByteSize, Cpus, Duration};
use bridge_core::{App, Diagnostic, Diagnostics, Severity, codes};
use bridge_translators::export::{Export, dns_label};
use serde_json::Value;

use super::{LABEL_APP, SwarmDriver, api, filters};
use crate::DriverError;

/// The stack label `docker stack deploy` sets.
pub const LABEL_STACK: &str = "com.docker.stack.namespace";

/// What to export.
#[derive(Debug, Clone)]
pub enum Select {
    /// A `docker stack deploy` stack.
    Stack(String),
    /// An app bridge deployed.
    App(String),
}

fn dropped(d: &mut Vec<Diagnostic>, path: &str) {
    d.push(
        Diagnostic::new(
            Severity::Warning,
            codes::EXPORT_DROPPED,
            format!("`{path}` is not exported: bridge does not read it back from a Swarm service"),
        )
        .with_path(path),
    );
}

/// Read the selected services, networks, volumes, secrets and configs from the engine.
pub async fn export(
    d: &SwarmDriver,
    sel: &Select,
    name: Option<&str>,
) -> Result<Result<Export, Diagnostics>, DriverError> {
    let (label, value) = match sel {
        Select::Stack(s) => (LABEL_STACK, s.clone()),
        Select::App(a) => (LABEL_APP, a.clone()),
    };
    let f = filters(&[("label", format!("{label}={value}"))]);
    let docker = &d.docker;
    let services = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(f.clone()),
            status: None,
        }))
        .await
        .map_err(|e| api("services", e))?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions { filters: None }))
        .await
        .map_err(|e| api("networks", e))?;
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(f.clone()),
        }))
        .await
        .map_err(|e| api("volumes", e))?;
    let secrets = docker
        .list_secrets(Some(ListSecretsOptions {
            filters: Some(f.clone()),
        }))
        .await
        .map_err(|e| api("secrets", e))?;
    let configs = docker
        .list_configs(Some(ListConfigsOptions {
            filters: Some(f.clone()),
        }))
        .await
        .map_err(|e| api("configs", e))?;
    let mut specs: Vec<Value> = Vec::new();
    let mut unread = Vec::new();
    for s in &services {
        let Some(mut spec) = s.spec.as_ref().and_then(|x| serde_json::to_value(x).ok()) else {
            continue;
        };
        match health_of(docker, s.id.as_deref().unwrap_or_default()).await? {
            Some(h) => spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"] = h,
            None => unread.push(spec["Name"].as_str().unwrap_or_default().to_string()),
        }
        specs.push(spec);
    }
    let nets: Vec<Value> = networks
        .iter()
        .filter_map(|n| serde_json::to_value(n).ok())
        .collect();
    let vols: Vec<Value> = volumes
        .volumes
        .unwrap_or_default()
        .iter()
        .filter_map(|v| serde_json::to_value(v).ok())
        .collect();
    let secs: Vec<String> = secrets
        .iter()
        .filter_map(|s| s.spec.as_ref()?.name.clone())
        .collect();
    let cfgs: Vec<String> = configs
        .iter()
        .filter_map(|s| s.spec.as_ref()?.name.clone())
        .collect();
    let mut out = from_specs(
        name.unwrap_or(&value),
        &value,
        label,
        &specs,
        &nets,
        &vols,
        &secs,
        &cfgs,
    );
    if let Ok(e) = &mut out {
        for svc in unread {
            e.diagnostics.0.push(
                Diagnostic::new(
                    Severity::Warning,
                    codes::EXPORT_DROPPED,
                    format!(
                        "the health check of service `{svc}` is not read back: the Engine's service \
                         API answers it under a name its client model does not read, and no \
                         running container of the service is on this node to read it from"
                    ),
                )
                .with_path(format!("{svc}.TaskTemplate.ContainerSpec.Healthcheck"))
                .with_hint("run the export against a node that runs one of its tasks, or add `health:` by hand"),
            );
        }
    }
    Ok(out)
}

/// The health check a service's containers run, read from one of its running containers on
/// this node (the Engine answers a service spec's health check as `Healthcheck`, which the
/// client's model, `HealthCheck`, does not read). `Some(Null)`: the containers run none of
/// their own (none, or only the image's, which the image keeps); `None`: no container of the
/// service is on this node.
async fn health_of(
    docker: &bollard::Docker,
    service_id: &str,
) -> Result<Option<Value>, DriverError> {
    let tasks = docker
        .list_tasks(Some(ListTasksOptions {
            filters: Some(filters(&[
                ("service", service_id.to_string()),
                ("desired-state", "running".to_string()),
            ])),
        }))
        .await
        .map_err(|e| api("tasks", e))?;
    for t in tasks {
        let Some(id) = t.status.and_then(|s| s.container_status?.container_id) else {
            continue;
        };
        // A task on another node: its container is not this engine's.
        let Ok(c) = docker.inspect_container(&id, None).await else {
            continue;
        };
        let Some(cfg) = c.config else { continue };
        let own = cfg
            .healthcheck
            .filter(|h| h.test.as_ref().is_some_and(|t| !t.is_empty()));
        let image = match &cfg.image {
            Some(i) => docker
                .inspect_image(i)
                .await
                .ok()
                .and_then(|i| i.config?.healthcheck),
            None => None,
        };
        return Ok(Some(match own {
            Some(h) if Some(&h) != image.as_ref() => serde_json::to_value(h).unwrap_or(Value::Null),
            _ => Value::Null,
        }));
    }
    Ok(None)
}

/// The app from service specs, networks, volumes and secret/config names as the Engine API
/// returns them (JSON). `prefix` is the stack name objects are named under (`<prefix>_<name>`).
#[allow(clippy::too_many_arguments)]
pub fn from_specs(
    name: &str,
    prefix: &str,
    label: &str,
    specs: &[Value],
    networks: &[Value],
    volumes: &[Value],
    secrets: &[String],
    configs: &[String],
) -> Result<Export, Diagnostics> {
    let mut d = Vec::new();
    let strip = |n: &str| -> String {
        n.strip_prefix(&format!("{prefix}_"))
            .map(str::to_string)
            .unwrap_or_else(|| n.to_string())
    };
    let mut app = App {
        bridge: Version::V1,
        name: dns_label(name),
        services: BTreeMap::new(),
        vms: BTreeMap::new(),
        volumes: BTreeMap::new(),
        secrets: BTreeMap::new(),
        configs: BTreeMap::new(),
        networks: BTreeMap::new(),
        groups: BTreeMap::new(),
        providers: Default::default(),
        files: Default::default(),
        move_: None,
    };
    if specs.is_empty() {
        return Err(Diagnostics(vec![
            Diagnostic::error(
                codes::EXPORT_UNREADABLE,
                format!("no service carries the label {label}={prefix}"),
            )
            .with_hint("check the name with `docker stack ls` (or `docker service ls`)"),
        ]));
    }
    // A stack's networks and volumes were not made by bridge, and the Engine cannot relabel a
    // network or a volume: the app uses them by name (external), so `deploy --adopt` takes the
    // services over without replacing what they run on.
    let stack = label == LABEL_STACK;
    let by_name = |d: &mut Vec<Diagnostic>, what: &str, key: &str, full: &str| {
        d.push(
            Diagnostic::new(
                Severity::Note,
                codes::EXPORT_APPROXIMATED,
                format!(
                    "{what} `{full}` is the stack's, and the Engine cannot relabel a {what}: the app uses it by name (external); `bridge destroy` leaves it"
                ),
            )
            .with_path(format!("{what}s.{key}")),
        );
    };
    let mut net_ids: HashMap<String, String> = HashMap::new();
    for n in networks {
        let nm = n["Name"].as_str().unwrap_or_default().to_string();
        net_ids.insert(n["Id"].as_str().unwrap_or_default().to_string(), nm.clone());
        if n["Labels"][label].as_str() == Some(prefix) {
            let key = dns_label(&strip(&nm));
            if stack {
                by_name(&mut d, "network", &key, &nm);
                app.networks.insert(
                    key,
                    Network {
                        external: true,
                        name: Some(nm.clone()),
                        ..Network::default()
                    },
                );
                continue;
            }
            if key == "default" {
                continue;
            }
            let driver = n["Driver"].as_str().filter(|x| *x != "overlay");
            app.networks.insert(
                key,
                Network {
                    internal: n["Internal"].as_bool().unwrap_or(false),
                    driver: driver.map(str::to_string),
                    ..Network::default()
                },
            );
        }
    }
    for v in volumes {
        let nm = v["Name"].as_str().unwrap_or_default();
        let driver = v["Driver"].as_str().filter(|x| *x != "local");
        if stack {
            by_name(&mut d, "volume", &dns_label(&strip(nm)), nm);
        }
        app.volumes.insert(
            dns_label(&strip(nm)),
            Volume {
                driver: driver.map(str::to_string),
                external: stack,
                name: stack.then(|| nm.to_string()),
                ..Volume::default()
            },
        );
    }
    for s in secrets {
        app.secrets.insert(
            strip(s),
            Secret {
                external: true,
                name: Some(s.clone()),
                ..Secret::default()
            },
        );
    }
    for c in configs {
        app.configs.insert(
            strip(c),
            Config {
                external: true,
                name: Some(c.clone()),
                ..Config::default()
            },
        );
    }
    for spec in specs {
        let full = spec["Name"].as_str().unwrap_or_default();
        let key = dns_label(&strip(full));
        let p = format!("services.{key}");
        let mut s = Service {
            replicas: 1,
            ..Service::default()
        };
        let cs = &spec["TaskTemplate"]["ContainerSpec"];
        for (k, v) in cs.as_object().into_iter().flatten() {
            let strs = || -> Vec<String> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            match k.as_str() {
                "Image" => {
                    let img = v.as_str().unwrap_or_default();
                    s.image = img.split('@').next().unwrap_or(img).to_string();
                }
                "Command" => s.entrypoint = Some(Command(strs())),
                "Args" => s.command = Some(Command(strs())),
                "Env" => {
                    s.env = Env(strs()
                        .iter()
                        .map(|e| match e.split_once('=') {
                            Some((a, b)) => (a.to_string(), b.to_string()),
                            None => (e.clone(), String::new()),
                        })
                        .collect())
                }
                "Labels" => {
                    for (lk, lv) in v.as_object().into_iter().flatten() {
                        if lk != LABEL_STACK && !lk.starts_with("bridge.") {
                            s.labels
                                .insert(lk.clone(), lv.as_str().unwrap_or_default().into());
                        }
                    }
                }
                "User" => s.user = v.as_str().map(str::to_string),
                "Dir" => s.working_dir = v.as_str().map(str::to_string),
                "Hostname" => s.hostname = v.as_str().map(str::to_string),
                "TTY" => s.tty = v.as_bool().unwrap_or(false),
                "OpenStdin" => s.stdin_open = v.as_bool().unwrap_or(false),
                "ReadOnly" => s.read_only = v.as_bool().unwrap_or(false),
                "StopSignal" => s.stop_signal = v.as_str().map(str::to_string),
                "Secrets" => {
                    for x in v.as_array().into_iter().flatten() {
                        let n = strip(x["SecretName"].as_str().unwrap_or_default());
                        s.secrets.push(SecretRef {
                            file: x["File"]["Name"]
                                .as_str()
                                .filter(|f| *f != n && *f != format!("/run/secrets/{n}"))
                                .map(str::to_string),
                            name: n,
                            ..SecretRef::default()
                        });
                    }
                }
                "Configs" => {
                    for x in v.as_array().into_iter().flatten() {
                        let n = strip(x["ConfigName"].as_str().unwrap_or_default());
                        let f = x["File"]["Name"].as_str().unwrap_or_default();
                        let f = if f.starts_with('/') {
                            f.to_string()
                        } else {
                            format!("/{f}")
                        };
                        s.configs.push(ConfigRef {
                            file: (f != format!("/{n}")).then_some(f),
                            name: n,
                            ..ConfigRef::default()
                        });
                    }
                }
                "Mounts" => {
                    for (i, m) in v.as_array().into_iter().flatten().enumerate() {
                        let kind = match m["Type"].as_str() {
                            Some("volume") => MountKind::Volume,
                            Some("bind") => MountKind::Bind,
                            Some("tmpfs") => MountKind::Tmpfs,
                            _ => {
                                dropped(
                                    &mut d,
                                    &format!("{p}.TaskTemplate.ContainerSpec.Mounts[{i}]"),
                                );
                                continue;
                            }
                        };
                        let mp = format!("{p}.TaskTemplate.ContainerSpec.Mounts[{i}]");
                        for (mk, mv) in m.as_object().into_iter().flatten() {
                            let known = ["Type", "Source", "Target", "ReadOnly", "TmpfsOptions"];
                            if mk == "VolumeOptions" {
                                for (ok, ov) in mv.as_object().into_iter().flatten() {
                                    if ok != "Labels" && !ov.is_null() && ov != false {
                                        dropped(&mut d, &format!("{mp}.VolumeOptions.{ok}"));
                                    }
                                }
                            } else if !known.contains(&mk.as_str()) && !mv.is_null() {
                                dropped(&mut d, &format!("{mp}.{mk}"));
                            }
                        }
                        let src = m["Source"].as_str().filter(|x| !x.is_empty());
                        if let (true, MountKind::Volume, Some(full)) = (stack, kind, src)
                            && !app.volumes.contains_key(&dns_label(&strip(full)))
                        {
                            by_name(&mut d, "volume", &dns_label(&strip(full)), full);
                            app.volumes.insert(
                                dns_label(&strip(full)),
                                Volume {
                                    external: true,
                                    name: Some(full.to_string()),
                                    ..Volume::default()
                                },
                            );
                        }
                        s.volumes.push(Mount {
                            kind,
                            source: src.map(|x| {
                                if kind == MountKind::Volume {
                                    dns_label(&strip(x))
                                } else {
                                    x.to_string()
                                }
                            }),
                            target: m["Target"].as_str().unwrap_or_default().to_string(),
                            read_only: m["ReadOnly"].as_bool().unwrap_or(false),
                            size: m["TmpfsOptions"]["SizeBytes"].as_u64().map(ByteSize),
                        });
                    }
                }
                "HealthCheck" | "Healthcheck" => {
                    let dur = |k: &str| v[k].as_u64().filter(|n| *n > 0).map(Duration);
                    let test: Vec<String> = v["Test"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    if !test.is_empty() {
                        s.health = Some(Health {
                            test: HealthTest(test),
                            interval: dur("Interval"),
                            timeout: dur("Timeout"),
                            retries: v["Retries"]
                                .as_u64()
                                .filter(|n| *n > 0)
                                .and_then(|n| u32::try_from(n).ok()),
                            start_period: dur("StartPeriod"),
                            start_interval: dur("StartInterval"),
                        });
                    }
                }
                "StopGracePeriod" => s.stop_grace_period = v.as_u64().map(Duration),
                "Init" => s.init = v.as_bool().unwrap_or(false),
                "Privileges"
                    if v.as_object()
                        .is_some_and(|o| o.values().all(Value::is_null)) => {}
                "Isolation" if v == "default" => {}
                _ if v.is_null() => {}
                _ => dropped(&mut d, &format!("{p}.TaskTemplate.ContainerSpec.{k}")),
            }
        }
        match spec["Mode"].as_object() {
            Some(m) if m.contains_key("Global") => s.mode = ServiceMode::Global,
            Some(m) => {
                s.replicas = m
                    .get("Replicated")
                    .and_then(|r| r["Replicas"].as_u64())
                    .and_then(|r| u32::try_from(r).ok())
                    .unwrap_or(1)
            }
            None => {}
        }
        for x in spec["EndpointSpec"]["Ports"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(target) = x["TargetPort"].as_u64().and_then(|t| u16::try_from(t).ok()) else {
                continue;
            };
            s.ports.push(Port {
                container: target,
                published: x["PublishedPort"]
                    .as_u64()
                    .and_then(|t| u16::try_from(t).ok()),
                protocol: match x["Protocol"].as_str() {
                    Some("udp") => Protocol::Udp,
                    Some("sctp") => Protocol::Sctp,
                    _ => Protocol::Tcp,
                },
                mode: if x["PublishMode"] == "host" {
                    PortMode::Host
                } else {
                    PortMode::Ingress
                },
                ..Port::default()
            });
        }
        for x in spec["TaskTemplate"]["Networks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let t = x["Target"].as_str().unwrap_or_default();
            let nm = dns_label(&strip(net_ids.get(t).map(String::as_str).unwrap_or(t)));
            if nm != "default" {
                s.networks.push(nm);
            }
        }
        let res = &spec["TaskTemplate"]["Resources"];
        if let Some(n) = res["Limits"]["NanoCPUs"].as_u64().filter(|n| *n > 0) {
            s.resources.cpus = Some(Cpus(n / 1_000_000));
        }
        if let Some(n) = res["Limits"]["MemoryBytes"].as_u64().filter(|n| *n > 0) {
            s.resources.memory = Some(ByteSize(n));
        }
        if let Some(n) = res["Reservations"]["NanoCPUs"].as_u64().filter(|n| *n > 0) {
            s.resources.reserve_cpus = Some(Cpus(n / 1_000_000));
        }
        if let Some(n) = res["Reservations"]["MemoryBytes"]
            .as_u64()
            .filter(|n| *n > 0)
        {
            s.resources.reserve_memory = Some(ByteSize(n));
        }
        for (k, v) in spec.as_object().into_iter().flatten() {
            match k.as_str() {
                "Name" | "Mode" | "EndpointSpec" | "TaskTemplate" | "Labels" => {}
                _ if v.is_null() => {}
                _ => dropped(&mut d, &format!("{p}.{k}")),
            }
        }
        for (k, v) in spec["TaskTemplate"].as_object().into_iter().flatten() {
            match k.as_str() {
                "ContainerSpec" | "Networks" | "Resources" | "ForceUpdate" | "Runtime" => {}
                "Placement" => {
                    for (pk, pv) in v.as_object().into_iter().flatten() {
                        match pk.as_str() {
                            "Constraints" => {
                                s.placement.constraints = pv
                                    .as_array()
                                    .map(|a| {
                                        a.iter()
                                            .filter_map(|x| x.as_str().map(str::to_string))
                                            .collect()
                                    })
                                    .unwrap_or_default()
                            }
                            "Platforms" => {}
                            _ if pv.is_null() => {}
                            _ => dropped(&mut d, &format!("{p}.TaskTemplate.Placement.{pk}")),
                        }
                    }
                }
                "RestartPolicy" => {
                    for (rk, rv) in v.as_object().into_iter().flatten() {
                        match rk.as_str() {
                            "Condition" => {
                                s.restart = match rv.as_str() {
                                    Some("on-failure") => RestartPolicy::OnFailure,
                                    Some("none") => RestartPolicy::Never,
                                    _ => RestartPolicy::Always,
                                }
                            }
                            "MaxAttempts" => {
                                s.restart_max_attempts = rv
                                    .as_u64()
                                    .filter(|n| *n > 0)
                                    .and_then(|n| u32::try_from(n).ok())
                            }
                            "Delay" => {
                                s.restart_delay = rv.as_u64().filter(|n| *n > 0).map(Duration)
                            }
                            "Window" => {
                                s.restart_window = rv.as_u64().filter(|n| *n > 0).map(Duration)
                            }
                            _ if rv.is_null() => {}
                            _ => dropped(&mut d, &format!("{p}.TaskTemplate.RestartPolicy.{rk}")),
                        }
                    }
                }
                _ if v.is_null() || v.as_object().is_some_and(|o| o.is_empty()) => {}
                _ => dropped(&mut d, &format!("{p}.TaskTemplate.{k}")),
            }
        }
        // `docker stack deploy` creates no volumes: the tasks do, from their mounts.
        for m in &s.volumes {
            if let (MountKind::Volume, Some(src)) = (m.kind, &m.source) {
                app.volumes.entry(src.clone()).or_default();
            }
        }
        app.services.insert(key, s);
    }
    Ok(Export {
        app,
        diagnostics: Diagnostics(d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str) -> Value {
        json!({
            "Name": name,
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "busybox:1",
                    "Mounts": [{"Type": "volume", "Source": "shop_db_data", "Target": "/data"}]
                },
                "Networks": [{"Target": "n1"}]
            },
            "Mode": {"Replicated": {"Replicas": 1}}
        })
    }

    #[test]
    fn a_stack_uses_its_networks_and_volumes_by_name() {
        let nets = [json!({"Id": "n1", "Name": "shop_default", "Labels": {LABEL_STACK: "shop"}})];
        let e = from_specs(
            "shop",
            "shop",
            LABEL_STACK,
            &[spec("shop_db")],
            &nets,
            &[],
            &[],
            &[],
        )
        .unwrap_or_else(|d| panic!("{d:?}"));
        let net = &e.app.networks["default"];
        assert!(net.external);
        assert_eq!(net.name.as_deref(), Some("shop_default"));
        // The key is a DNS label; the name stays the Engine's.
        let vol = &e.app.volumes["db-data"];
        assert!(vol.external);
        assert_eq!(vol.name.as_deref(), Some("shop_db_data"));
        assert_eq!(
            e.app.services["db"].volumes[0].source.as_deref(),
            Some("db-data")
        );
        let notes: Vec<&str> = e
            .diagnostics
            .0
            .iter()
            .filter(|d| d.code == codes::EXPORT_APPROXIMATED)
            .map(|d| d.path.as_str())
            .collect();
        assert_eq!(notes, ["networks.default", "volumes.db-data"]);
    }

    #[test]
    fn an_app_bridge_deployed_keeps_owning_them() {
        let nets = [json!({"Id": "n1", "Name": "shop_back", "Labels": {LABEL_APP: "shop"}})];
        let e = from_specs(
            "shop",
            "shop",
            LABEL_APP,
            &[spec("shop_db")],
            &nets,
            &[],
            &[],
            &[],
        )
        .unwrap_or_else(|d| panic!("{d:?}"));
        assert!(!e.app.networks["back"].external);
        assert!(!e.app.volumes["db-data"].external);
    }
}
