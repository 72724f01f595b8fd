//! Docker Swarm: the app as Engine API objects (bollard's types): overlay networks, volumes,
//! secrets and configs (by name; values are read only at apply time), and one ServiceSpec per
//! service, each labelled `bridge.app`, `bridge.component`, `bridge.spec-hash`.

mod service;

use std::collections::{BTreeMap, HashMap};

use bollard_stubs::models::{
    ConfigSpec, NetworkCreateRequest, SecretSpec, ServiceSpec, VolumeCreateRequest,
};
use bridge_core::diag::Diagnostic;
use bridge_core::model::{App, ProviderKind};
use bridge_core::{Diagnostics, ValidApp};
use serde::Serialize;

use crate::ledger::Ledger;
use crate::{Artifact, Translation, Translator};

/// The diagnostic codes of the Swarm translator.
pub const CODES: &[(&str, &str)] = &[
    (
        "T001",
        "a vm cannot run on swarm: swarm runs containers only",
    ),
    (
        "T101",
        "a secret wanted as an environment variable is a file on swarm",
    ),
    ("T102", "swarm cannot set a container domain name"),
    ("T103", "swarm services cannot run privileged"),
    ("T104", "swarm services cannot map host devices"),
    ("T105", "swarm publishes ports on every address of the node"),
    ("T106", "a local network driver becomes overlay"),
    ("T107", "a bind mount source that is not an absolute path"),
    (
        "T108",
        "a security option the service api does not take (only selinux labels)",
    ),
    (
        "T109",
        "a field this target cannot express, named with the reason (what fidelity shows as dropped)",
    ),
];

/// Label keys bridge owns on every object it creates.
pub const LABEL_APP: &str = "bridge.app";
/// The component: `service/web`, `network/default`, ...
pub const LABEL_COMPONENT: &str = "bridge.component";
/// Hash of the normalised spec, for drift detection.
pub const LABEL_SPEC_HASH: &str = "bridge.spec-hash";

/// Where a secret's or config's value comes from at apply time (never held in the spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueSource {
    /// An environment variable of the deploying process.
    Env(String),
    /// A file, relative to the app file.
    File(String),
    /// Inline content (configs only; not secret).
    Inline,
    /// Exists already; bridge does not create it.
    External,
}

/// A secret or config to create, with the source of its value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sourced<T> {
    /// The Engine API spec, without the value for secrets.
    pub spec: T,
    /// Where the value comes from.
    pub source: ValueSource,
}

/// One service to create, with what it waits for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwarmService {
    /// The neutral service name.
    pub component: String,
    /// The Engine API spec, labels included.
    pub spec: ServiceSpec,
    /// Neutral services this one starts after, and whether it waits for their health.
    pub after: Vec<(String, bool)>,
}

/// Everything the Swarm driver creates for one app, in dependency order within each kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SwarmApp {
    /// The app name (stack namespace).
    pub app: String,
    /// Overlay networks.
    pub networks: Vec<NetworkCreateRequest>,
    /// Named volumes.
    pub volumes: Vec<VolumeCreateRequest>,
    /// Secrets (specs without data).
    pub secrets: Vec<Sourced<SecretSpec>>,
    /// Configs (inline content included, file/env content read at apply time).
    pub configs: Vec<Sourced<ConfigSpec>>,
    /// Services, dependencies first.
    pub services: Vec<SwarmService>,
}

/// The Swarm translator.
#[derive(Debug, Clone, Default)]
pub struct Swarm;

impl Translator for Swarm {
    fn target(&self) -> ProviderKind {
        ProviderKind::Swarm
    }

    fn translate(&self, app: &ValidApp) -> Translation {
        let (swarm, ledger, diagnostics) = build(app.app());
        let mut artifacts = Vec::new();
        let json = |v: &dyn erased::Json| v.pretty();
        for n in &swarm.networks {
            artifacts.push(Artifact {
                path: format!("swarm/networks/{}.json", n.name),
                content: json(n),
            });
        }
        for v in &swarm.volumes {
            artifacts.push(Artifact {
                path: format!("swarm/volumes/{}.json", v.name.clone().unwrap_or_default()),
                content: json(v),
            });
        }
        for s in &swarm.secrets {
            artifacts.push(Artifact {
                path: format!(
                    "swarm/secrets/{}.json",
                    s.spec.name.clone().unwrap_or_default()
                ),
                content: json(&s.spec),
            });
        }
        for c in &swarm.configs {
            artifacts.push(Artifact {
                path: format!(
                    "swarm/configs/{}.json",
                    c.spec.name.clone().unwrap_or_default()
                ),
                content: json(&c.spec),
            });
        }
        for s in &swarm.services {
            artifacts.push(Artifact {
                path: format!(
                    "swarm/services/{}.json",
                    s.spec.name.clone().unwrap_or_default()
                ),
                content: json(&s.spec),
            });
        }
        Translation {
            artifacts,
            ledger: ledger.into_entries(),
            diagnostics,
        }
    }
}

mod erased {
    /// Pretty, key-sorted JSON of any serialisable value (HashMaps in bollard's types are
    /// sorted through serde_json::Value so output is byte-stable).
    pub trait Json {
        fn pretty(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn pretty(&self) -> String {
            let v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
            let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// Prefix a resource name with the app, as `docker stack deploy` does.
pub fn scoped(app: &str, name: &str) -> String {
    format!("{app}_{name}")
}

fn labels(app: &str, component: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_APP.to_string(), app.to_string()),
        (LABEL_COMPONENT.to_string(), component.to_string()),
    ])
}

/// Add the spec hash label, computed over the spec without it.
fn with_hash<T: Serialize>(spec: &T, labels: &mut HashMap<String, String>) {
    labels.insert(
        LABEL_SPEC_HASH.to_string(),
        bridge_core::hash::spec_hash(spec),
    );
}

/// Build the Swarm objects, the ledger and diagnostics for an app.
pub fn build(app: &App) -> (SwarmApp, Ledger, Diagnostics) {
    let mut ledger = Ledger::default();
    let mut diags = Diagnostics::new();
    let mut out = SwarmApp {
        app: app.name.clone(),
        ..SwarmApp::default()
    };
    let name = &app.name;

    // Networks: the declared ones plus `default` when any service uses it.
    let mut nets: BTreeMap<String, bridge_core::model::Network> = app.networks.clone();
    if app.services.values().any(|s| s.networks.is_empty()) {
        nets.entry("default".into()).or_default();
    }
    for (n, net) in &nets {
        if net.external {
            // Used by name (`name` or the key); bridge neither creates nor removes it.
            ledger.mapped(format!("networks.{n}"));
            continue;
        }
        // Services attach only to swarm-scoped networks: compose's local drivers become overlay.
        let driver = match net.driver.as_deref() {
            None | Some("overlay") => "overlay".to_string(),
            Some(local @ ("bridge" | "host" | "macvlan" | "ipvlan" | "none")) => {
                ledger.approximated(
                    format!("networks.{n}.driver"),
                    format!("swarm services attach to swarm-scoped networks only: the `{local}` driver becomes overlay"),
                );
                diags.push(
                    Diagnostic::warning("T106", format!("network `{n}` uses the `{local}` driver, which swarm services cannot attach to; it becomes an overlay network"))
                        .with_path(format!("networks.{n}.driver")),
                );
                "overlay".to_string()
            }
            Some(other) => other.to_string(),
        };
        let mut req = NetworkCreateRequest {
            name: net.name.clone().unwrap_or_else(|| scoped(name, n)),
            driver: Some(driver),
            attachable: Some(true),
            internal: net.internal.then_some(true),
            options: (!net.driver_opts.is_empty())
                .then(|| net.driver_opts.clone().into_iter().collect()),
            labels: None,
            ..NetworkCreateRequest::default()
        };
        let mut l = labels(name, &format!("network/{n}"));
        l.extend(net.labels.clone());
        with_hash(&req, &mut l);
        req.labels = Some(l);
        if app.networks.contains_key(n) {
            ledger.mapped(format!("networks.{n}"));
        }
        out.networks.push(req);
    }

    for (v, vol) in &app.volumes {
        if vol.external {
            ledger.mapped(format!("volumes.{v}"));
            continue;
        }
        let mut req = VolumeCreateRequest {
            name: Some(vol.name.clone().unwrap_or_else(|| scoped(name, v))),
            driver: Some(vol.driver.clone().unwrap_or_else(|| "local".into())),
            driver_opts: (!vol.driver_opts.is_empty())
                .then(|| vol.driver_opts.clone().into_iter().collect()),
            ..VolumeCreateRequest::default()
        };
        let mut l = labels(name, &format!("volume/{v}"));
        l.extend(vol.labels.clone());
        with_hash(&req, &mut l);
        req.labels = Some(l);
        ledger.mapped(format!("volumes.{v}"));
        if vol.size.is_some() {
            ledger.approximated(
                format!("volumes.{v}.size"),
                "docker volumes grow as needed; the local driver takes no size (a driver option may)",
            );
        }
        out.volumes.push(req);
    }

    for (s, sec) in &app.secrets {
        let source = if sec.external {
            ValueSource::External
        } else if let Some(e) = &sec.env {
            ValueSource::Env(e.clone())
        } else if let Some(f) = &sec.file {
            ValueSource::File(f.clone())
        } else {
            ValueSource::External
        };
        let mut spec = SecretSpec {
            name: Some(sec.name.clone().unwrap_or_else(|| scoped(name, s))),
            ..SecretSpec::default()
        };
        let mut l = labels(name, &format!("secret/{s}"));
        // The hash covers the source, never the value.
        with_hash(&(&spec, &source), &mut l);
        spec.labels = Some(l);
        ledger.mapped(format!("secrets.{s}"));
        out.secrets.push(Sourced { spec, source });
    }

    for (c, cfg) in &app.configs {
        let (source, data) = if cfg.external {
            (ValueSource::External, None)
        } else if let Some(content) = &cfg.content {
            (ValueSource::Inline, Some(base64(content.as_bytes())))
        } else if let Some(e) = &cfg.env {
            (ValueSource::Env(e.clone()), None)
        } else if let Some(f) = &cfg.file {
            (ValueSource::File(f.clone()), None)
        } else {
            (ValueSource::External, None)
        };
        let mut spec = ConfigSpec {
            name: Some(cfg.name.clone().unwrap_or_else(|| scoped(name, c))),
            data,
            ..ConfigSpec::default()
        };
        let mut l = labels(name, &format!("config/{c}"));
        with_hash(&(&spec, &source), &mut l);
        spec.labels = Some(l);
        ledger.mapped(format!("configs.{c}"));
        out.configs.push(Sourced { spec, source });
    }

    let link_aliases = crate::cloudinit::link_aliases(app);
    let mut file_configs = Vec::new();
    for svc in service::order(app) {
        if let Some(s) = app.services.get(&svc) {
            if s.provider.is_some_and(|p| p != ProviderKind::Swarm) {
                continue;
            }
            out.services.push(service::build(
                app,
                &svc,
                s,
                &link_aliases,
                &mut file_configs,
                &mut ledger,
                &mut diags,
            ));
        }
    }

    out.configs.extend(file_configs);

    for (v, vm) in &app.vms {
        if vm.provider.is_some_and(|p| p != ProviderKind::Swarm) {
            continue;
        }
        ledger.dropped(format!("vms.{v}"), "swarm runs containers only");
        diags.push(
            Diagnostic::error("T001", format!("vm `{v}` cannot run on swarm: swarm runs containers only"))
                .with_path(format!("vms.{v}"))
                .with_hint(format!("set `provider: aws`, `gce` or `openstack` on vms.{v} to run it there beside the swarm services")),
        );
    }
    ledger.report_drops(&mut diags, "T109", "swarm");
    (out, ledger, diags)
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
