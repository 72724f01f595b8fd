//! The legacy `gce-container-declaration` metadata (option `providers.gce.container_declaration`):
//! the YAML `spec: {containers: [...], volumes: [...], restartPolicy}` that Container-Optimized
//! OS's startup agent (konlet) read. Upstream deprecated the agent; it runs one container per VM
//! with the host's network. A service is declared only when every field it sets has a meaning
//! there; otherwise its host keeps cloud-init (see [`unsupported`]).

use std::collections::BTreeMap;

use bridge_core::model::{MountKind, RestartPolicy, Service};
use serde::Serialize;

/// Fields a declared container cannot carry, by neutral field name; empty when it can be declared.
pub fn unsupported(s: &Service) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut no = |set: bool, f: &'static str| {
        if set {
            out.push(f);
        }
    };
    no(!s.secrets.is_empty(), "secrets");
    no(!s.configs.is_empty(), "configs");
    no(s.health.is_some(), "health");
    no(
        s.resources.cpus.is_some() || s.resources.memory.is_some(),
        "resources",
    );
    no(
        s.resources.pids.is_some() || s.resources.gpus.is_some(),
        "resources",
    );
    no(s.user.is_some(), "user");
    no(s.working_dir.is_some(), "working_dir");
    no(s.hostname.is_some() || s.domainname.is_some(), "hostname");
    no(
        s.stop_signal.is_some() || s.stop_grace_period.is_some(),
        "stop_signal",
    );
    no(s.init || s.read_only, "init");
    no(!s.cap_add.is_empty() || !s.cap_drop.is_empty(), "cap_add");
    no(!s.group_add.is_empty(), "group_add");
    no(
        !s.dns.is_empty() || !s.dns_search.is_empty() || !s.dns_opt.is_empty(),
        "dns",
    );
    no(!s.extra_hosts.is_empty(), "extra_hosts");
    no(!s.sysctls.is_empty() || !s.ulimits.is_empty(), "sysctls");
    no(s.shm_size.is_some() || !s.devices.is_empty(), "devices");
    no(s.logging.is_some(), "logging");
    no(
        s.platform.is_some() || s.pull_policy.is_some(),
        "pull_policy",
    );
    no(!s.labels.is_empty(), "labels");
    no(s.network_of.is_some(), "network_of");
    // The kernel and runtime keys: docker run flags, which the declaration has no field for.
    no(s.runtime_keys().iter().any(|(_, on)| *on), "security_opt");
    no(!s.aliases.is_empty() || !s.links.is_empty(), "links");
    // Project files (relative binds) ship through cloud-init's write_files only.
    no(
        s.volumes.iter().any(bridge_core::model::files::ships),
        "volumes",
    );
    no(
        s.restart_max_attempts.is_some() || s.restart_delay.is_some(),
        "restart_max_attempts",
    );
    // Host networking: a container port is the host port.
    no(
        s.ports
            .iter()
            .any(|p| p.published != Some(p.container) || p.host_ip.is_some()),
        "ports",
    );
    no(
        s.volumes
            .iter()
            .any(|m| m.kind == MountKind::Tmpfs && m.size.is_some()),
        "volumes",
    );
    no(
        s.volumes
            .iter()
            .any(|m| m.kind == MountKind::Volume && m.source.is_none()),
        "volumes",
    );
    out.dedup();
    out
}

#[derive(Serialize)]
struct Doc {
    spec: Spec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    containers: Vec<Container>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<BTreeMap<String, serde_json::Value>>,
    restart_policy: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: String,
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<EnvVar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_context: Option<BTreeMap<String, bool>>,
    stdin: bool,
    tty: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volume_mounts: Vec<VolumeMount>,
}

#[derive(Serialize)]
struct EnvVar {
    name: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VolumeMount {
    name: String,
    mount_path: String,
    read_only: bool,
}

/// The declaration for one service. `disks` maps a named volume to the attached disk's device
/// name (konlet mounts `gcePersistentDisk` by that name and formats a blank disk as ext4).
pub fn render(container: &str, s: &Service, disks: &BTreeMap<String, String>) -> String {
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    for (i, m) in s.volumes.iter().enumerate() {
        let vname = format!("vol-{i}");
        let source = match (m.kind, &m.source) {
            (MountKind::Tmpfs, _) => serde_json::json!({"emptyDir": {"medium": "Memory"}}),
            (MountKind::Bind, Some(p)) => serde_json::json!({"hostPath": {"path": p}}),
            (MountKind::Volume, Some(v)) => {
                let pd = disks.get(v).cloned().unwrap_or_else(|| v.clone());
                serde_json::json!({"gcePersistentDisk": {"pdName": pd, "fsType": "ext4"}})
            }
            _ => continue,
        };
        let mut vol = BTreeMap::new();
        vol.insert("name".to_string(), serde_json::Value::String(vname.clone()));
        if let serde_json::Value::Object(o) = source {
            vol.extend(o);
        }
        volumes.push(vol);
        mounts.push(VolumeMount {
            name: vname,
            mount_path: m.target.clone(),
            read_only: m.read_only,
        });
    }
    let c = Container {
        name: container.to_string(),
        image: s.image.clone(),
        command: s.entrypoint.as_ref().map(|e| e.0.clone()),
        args: s.command.as_ref().map(|c| c.0.clone()),
        env: s
            .env
            .0
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.clone(),
                value: v.clone(),
            })
            .collect(),
        security_context: s
            .privileged
            .then(|| BTreeMap::from([("privileged".to_string(), true)])),
        stdin: s.stdin_open,
        tty: s.tty,
        volume_mounts: mounts,
    };
    let doc = Doc {
        spec: Spec {
            containers: vec![c],
            volumes,
            restart_policy: match s.restart {
                RestartPolicy::Always => "Always",
                RestartPolicy::OnFailure => "OnFailure",
                RestartPolicy::Never => "Never",
            },
        },
    };
    let body = serde_saphyr::to_string(&doc).unwrap_or_default();
    format!(
        "# DISCLAIMER: written by bridge for the deprecated Container-Optimized OS startup agent\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_core::model::{Command, Env, Mount, Port};

    #[test]
    fn declared_fields() {
        let s = Service {
            image: "nginx:1".into(),
            command: Some(Command(vec!["-g".into(), "daemon off;".into()])),
            env: Env(BTreeMap::from([("A".into(), "x: 'y'".into())])),
            privileged: true,
            volumes: vec![Mount {
                kind: MountKind::Volume,
                source: Some("data".into()),
                target: "/data".into(),
                ..Mount::default()
            }],
            ports: vec![Port {
                container: 80,
                published: Some(80),
                ..Port::default()
            }],
            ..Service::default()
        };
        assert!(unsupported(&s).is_empty());
        let y = render(
            "web",
            &s,
            &BTreeMap::from([("data".into(), "shop-data".into())]),
        );
        let v: serde_json::Value = serde_saphyr::from_str(&y).unwrap_or_default();
        assert_eq!(v["spec"]["containers"][0]["args"][1], "daemon off;");
        assert_eq!(v["spec"]["containers"][0]["env"][0]["value"], "x: 'y'");
        assert_eq!(
            v["spec"]["containers"][0]["securityContext"]["privileged"],
            true
        );
        assert_eq!(
            v["spec"]["volumes"][0]["gcePersistentDisk"]["pdName"],
            "shop-data"
        );
        assert_eq!(v["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn undeclarable_fields() {
        let mut s = Service {
            image: "x".into(),
            ports: vec![Port {
                container: 8000,
                published: Some(80),
                ..Port::default()
            }],
            ..Service::default()
        };
        assert_eq!(unsupported(&s), vec!["ports"]);
        s.ports.clear();
        s.health = Some(Default::default());
        s.user = Some("1000".into());
        assert_eq!(unsupported(&s), vec!["health", "user"]);
    }
}
