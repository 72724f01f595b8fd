//! The compose keys catalogue: how each compose key is treated on import (mapped, approximated,
//! or reported with its own diagnostic code).
//!
//! Codes: `C001`..`C092` are the 92 service keys of the Compose Specification in the order of its
//! schema (`definitions.service.properties`, sorted by name); `C1xx` are sub-keys (long syntax,
//! `deploy.*`, per-network attachment options); `C2xx` are top-level attributes and resources.

use crate::diag::Severity;

/// What the importer does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Carried to a neutral field with the same meaning.
    Mapped,
    /// Carried with a change of meaning, reported with `W102` or the key's own code.
    Approximated,
    /// Not carried; reported as a warning with the key's code.
    Dropped,
    /// Not carried because it has no effect on a deployment (local development only); a note.
    Ignored,
    /// The file cannot be deployed faithfully with it; an error with the key's code.
    Rejected,
}

impl Treatment {
    /// The severity of the diagnostic reported for a key with this treatment.
    pub fn severity(self) -> Severity {
        match self {
            Treatment::Rejected => Severity::Error,
            Treatment::Ignored => Severity::Note,
            _ => Severity::Warning,
        }
    }

    /// A word for the fidelity table.
    pub fn as_str(self) -> &'static str {
        match self {
            Treatment::Mapped => "mapped",
            Treatment::Approximated => "approximated",
            Treatment::Dropped => "dropped",
            Treatment::Ignored => "ignored",
            Treatment::Rejected => "rejected",
        }
    }
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key path: `blkio_config`, `deploy.endpoint_mode`, `networks.*.ipam`.
    pub key: &'static str,
    /// Its stable code.
    pub code: &'static str,
    /// How it is treated.
    pub treatment: Treatment,
    /// Why, lower-case, no trailing period.
    pub reason: &'static str,
}

use Treatment::{Approximated as A, Dropped as D, Ignored as I, Mapped as M, Rejected as R};

const fn k(
    key: &'static str,
    code: &'static str,
    treatment: Treatment,
    reason: &'static str,
) -> KeyInfo {
    KeyInfo {
        key,
        code,
        treatment,
        reason,
    }
}

/// The 92 service keys of the Compose Specification, in schema order.
pub const SERVICE_KEYS: &[KeyInfo] = &[
    k("annotations", "C001", M, "mapped to `annotations`"),
    k(
        "attach",
        "C002",
        I,
        "attaching to log output only matters for a local `docker compose up`",
    ),
    k("blkio_config", "C003", M, "mapped to `blkio_config`"),
    k(
        "build",
        "C004",
        A,
        "bridge deploys images and does not build them",
    ),
    k("cap_add", "C005", M, "mapped to `cap_add`"),
    k("cap_drop", "C006", M, "mapped to `cap_drop`"),
    k("cgroup", "C007", M, "mapped to `cgroup`"),
    k("cgroup_parent", "C008", M, "mapped to `cgroup_parent`"),
    k("command", "C009", M, "mapped to `command`"),
    k("configs", "C010", M, "mapped to `configs`"),
    k(
        "container_name",
        "C011",
        A,
        "kept as a network alias; the container is named after the service so that replicas can coexist",
    ),
    k(
        "cpu_count",
        "C012",
        A,
        "a windows cpu count, read as a cpu limit",
    ),
    k(
        "cpu_percent",
        "C013",
        D,
        "a windows cpu percentage has no equivalent on the targets",
    ),
    k(
        "cpu_period",
        "C014",
        A,
        "only meaningful with `cpu_quota`; the pair becomes a cpu limit",
    ),
    k(
        "cpu_quota",
        "C015",
        A,
        "with `cpu_period`, becomes a cpu limit (quota / period)",
    ),
    k(
        "cpu_rt_period",
        "C016",
        D,
        "real-time group scheduling needs cgroup v1 and an engine started with --cpu-rt-runtime; the targets' hosts (cos, ubuntu 24.04) run cgroup v2, where docker refuses the flag",
    ),
    k(
        "cpu_rt_runtime",
        "C017",
        D,
        "real-time group scheduling needs cgroup v1 and an engine started with --cpu-rt-runtime; the targets' hosts (cos, ubuntu 24.04) run cgroup v2, where docker refuses the flag",
    ),
    k("cpu_shares", "C018", M, "mapped to `cpu_shares`"),
    k("cpus", "C019", M, "mapped to `resources.cpus`"),
    k("cpuset", "C020", M, "mapped to `cpuset`"),
    k(
        "credential_spec",
        "C021",
        D,
        "a gMSA credential spec (an Active Directory identity): Swarm applies one to Windows containers only, ECS takes only the S3 or SSM ARN of a spec (`credentialSpecs`), not a compose file, registry value or config, and the GCE and OpenStack container hosts have no Active Directory join",
    ),
    k("depends_on", "C022", M, "mapped to `depends_on`"),
    k(
        "deploy",
        "C023",
        M,
        "mapped to replicas, mode, resources, placement, restart, update and rollback",
    ),
    k(
        "develop",
        "C024",
        I,
        "file watching only matters for local development",
    ),
    k(
        "device_cgroup_rules",
        "C025",
        M,
        "mapped to `device_cgroup_rules`",
    ),
    k("devices", "C026", M, "mapped to `devices`"),
    k("dns", "C027", M, "mapped to `dns`"),
    k("dns_opt", "C028", M, "mapped to `dns_opt`"),
    k("dns_search", "C029", M, "mapped to `dns_search`"),
    k("domainname", "C030", M, "mapped to `domainname`"),
    k("entrypoint", "C031", M, "mapped to `entrypoint`"),
    k(
        "env_file",
        "C032",
        M,
        "read on import and merged into `env`",
    ),
    k("environment", "C033", M, "mapped to `env`"),
    k("expose", "C034", M, "mapped to `expose`"),
    k("extends", "C035", M, "resolved on import"),
    k(
        "external_links",
        "C036",
        D,
        "links to containers outside the app cannot be resolved on the targets",
    ),
    k("extra_hosts", "C037", M, "mapped to `extra_hosts`"),
    k("gpus", "C038", A, "read as a gpu reservation count"),
    k("group_add", "C039", M, "mapped to `group_add`"),
    k("healthcheck", "C040", M, "mapped to `health`"),
    k("hostname", "C041", M, "mapped to `hostname`"),
    k("image", "C042", M, "mapped to `image`"),
    k("init", "C043", M, "mapped to `init`"),
    k("ipc", "C044", M, "mapped to `ipc`"),
    k(
        "isolation",
        "C045",
        D,
        "windows isolation modes have no equivalent on the targets",
    ),
    k(
        "label_file",
        "C046",
        M,
        "read on import and merged into `labels`",
    ),
    k("labels", "C047", M, "mapped to `labels`"),
    k("links", "C048", M, "mapped to `links`"),
    k("logging", "C049", M, "mapped to `logging`"),
    k("mac_address", "C050", M, "mapped to `mac_address`"),
    k("mem_limit", "C051", M, "mapped to `resources.memory`"),
    k(
        "mem_reservation",
        "C052",
        M,
        "mapped to `resources.reserve_memory`",
    ),
    k("mem_swappiness", "C053", M, "mapped to `mem_swappiness`"),
    k("memswap_limit", "C054", M, "mapped to `memswap_limit`"),
    k(
        "models",
        "C055",
        D,
        "ai models served by docker model runner have no equivalent on the targets",
    ),
    k(
        "network_mode",
        "C056",
        A,
        "`service:x` becomes a group; `host` and `bridge` are not carried; `none` is refused",
    ),
    k("networks", "C057", M, "mapped to `networks` and `aliases`"),
    k(
        "oom_kill_disable",
        "C058",
        M,
        "mapped to `oom_kill_disable`",
    ),
    k("oom_score_adj", "C059", M, "mapped to `oom_score_adj`"),
    k("pid", "C060", M, "mapped to `pid`"),
    k("pids_limit", "C061", M, "mapped to `resources.pids`"),
    k("platform", "C062", M, "mapped to `platform`"),
    k("ports", "C063", M, "mapped to `ports`"),
    k("post_start", "C064", M, "mapped to `post_start`"),
    k("pre_stop", "C065", M, "mapped to `pre_stop`"),
    k("privileged", "C066", M, "mapped to `privileged`"),
    k("profiles", "C067", M, "resolved on import"),
    k(
        "provider",
        "C068",
        R,
        "a service run by a compose provider plugin has no container to deploy",
    ),
    k("pull_policy", "C069", M, "mapped to `pull_policy`"),
    k(
        "pull_refresh_after",
        "C070",
        A,
        "becomes `pull_policy: always`: the image is pulled at every container start, not only once it is older than the duration",
    ),
    k("read_only", "C071", M, "mapped to `read_only`"),
    k("restart", "C072", M, "mapped to `restart`"),
    k("runtime", "C073", M, "mapped to `runtime`"),
    k("scale", "C074", M, "mapped to `replicas`"),
    k("secrets", "C075", M, "mapped to `secrets`"),
    k("security_opt", "C076", M, "mapped to `security_opt`"),
    k("shm_size", "C077", M, "mapped to `shm_size`"),
    k("stdin_open", "C078", M, "mapped to `stdin_open`"),
    k(
        "stop_grace_period",
        "C079",
        M,
        "mapped to `stop_grace_period`",
    ),
    k("stop_signal", "C080", M, "mapped to `stop_signal`"),
    k("storage_opt", "C081", M, "mapped to `storage_opt`"),
    k("sysctls", "C082", M, "mapped to `sysctls`"),
    k("tmpfs", "C083", M, "mapped to tmpfs `volumes`"),
    k("tty", "C084", M, "mapped to `tty`"),
    k("ulimits", "C085", M, "mapped to `ulimits`"),
    k(
        "use_api_socket",
        "C086",
        A,
        "the socket of the engine running the container is mounted at /var/run/docker.sock; the deploying user's registry credentials are not copied in",
    ),
    k("user", "C087", M, "mapped to `user`"),
    k("userns_mode", "C088", M, "mapped to `userns_mode`"),
    k("uts", "C089", M, "mapped to `uts`"),
    k("volumes", "C090", M, "mapped to `volumes`"),
    k(
        "volumes_from",
        "C091",
        A,
        "the other service's mounts are copied; on several hosts they are not shared",
    ),
    k("working_dir", "C092", M, "mapped to `working_dir`"),
];

/// Sub-keys of service keys (long syntax, `deploy.*`, network attachments).
pub const SUB_KEYS: &[KeyInfo] = &[
    k(
        "deploy.endpoint_mode",
        "C101",
        D,
        "dns round-robin instead of a virtual ip has no neutral field",
    ),
    k(
        "deploy.mode",
        "C102",
        A,
        "jobs run to completion once; read as a service that is never restarted",
    ),
    k(
        "deploy.resources.reservations.generic_resources",
        "C103",
        D,
        "swarm generic resources have no neutral field",
    ),
    k(
        "deploy.resources.reservations.devices",
        "C104",
        D,
        "only gpu device reservations are carried (as `resources.gpus`)",
    ),
    k(
        "deploy.placement.preferences",
        "C105",
        D,
        "only one spread preference is carried",
    ),
    k(
        "deploy.labels",
        "C106",
        A,
        "service labels are merged into the container labels",
    ),
    k(
        "deploy.rollback_config.failure_action",
        "C107",
        D,
        "a rollback cannot itself roll back",
    ),
    k(
        "volumes.consistency",
        "C110",
        I,
        "mount consistency only matters for docker desktop on macos",
    ),
    k(
        "volumes.bind.propagation",
        "C111",
        D,
        "bind propagation modes have no neutral field",
    ),
    k(
        "volumes.bind.create_host_path",
        "C112",
        D,
        "host paths are always created when missing",
    ),
    k(
        "volumes.bind.recursive",
        "C113",
        D,
        "recursive read-only binds have no neutral field",
    ),
    k(
        "volumes.bind.selinux",
        "C114",
        D,
        "selinux relabelling has no neutral field",
    ),
    k(
        "volumes.volume.nocopy",
        "C115",
        D,
        "volumes are always populated from the image when empty",
    ),
    k(
        "volumes.volume.subpath",
        "C116",
        R,
        "mounting a sub-directory of a volume has no neutral field; the whole volume would be mounted",
    ),
    k(
        "volumes.volume.labels",
        "C117",
        D,
        "labels of an anonymous volume have no neutral field",
    ),
    k(
        "volumes.tmpfs.mode",
        "C118",
        D,
        "the file mode of a tmpfs mount has no neutral field",
    ),
    k(
        "volumes.type",
        "C119",
        R,
        "npipe, cluster and image mounts have no neutral field",
    ),
    k(
        "ports.published",
        "C120",
        A,
        "a range of host ports for one container port becomes its first port",
    ),
    k(
        "expose.protocol",
        "C121",
        A,
        "exposed ports carry no protocol",
    ),
    k(
        "networks.ipv4_address",
        "C130",
        D,
        "static addresses cannot be honoured on cloud networks",
    ),
    k(
        "networks.ipv6_address",
        "C131",
        D,
        "static addresses cannot be honoured on cloud networks",
    ),
    k(
        "networks.link_local_ips",
        "C132",
        D,
        "link-local addresses have no neutral field",
    ),
    k(
        "networks.mac_address",
        "C133",
        D,
        "fixed mac addresses cannot be honoured on cloud networks",
    ),
    k(
        "networks.driver_opts",
        "C134",
        D,
        "per-attachment driver options have no neutral field",
    ),
    k(
        "networks.priority",
        "C135",
        D,
        "attachment order has no neutral field",
    ),
    k(
        "networks.gw_priority",
        "C136",
        D,
        "default gateway selection has no neutral field",
    ),
    k(
        "networks.interface_name",
        "C137",
        D,
        "interface names have no neutral field",
    ),
    k(
        "env_file.format",
        "C140",
        D,
        "only the compose env file format is read",
    ),
    k(
        "network_mode.bridge",
        "C150",
        I,
        "`bridge` is the default on every target",
    ),
    k(
        "network_mode.host",
        "C151",
        D,
        "the container gets its own network namespace; publish the ports it listens on",
    ),
    k(
        "volume_driver",
        "C160",
        D,
        "a legacy key: set `driver` on the top-level volume instead",
    ),
    k(
        "net",
        "C161",
        A,
        "the compose v1 name of `network_mode`, read as such",
    ),
    k(
        "healthcheck.test",
        "C152",
        A,
        "a health check without `test` keeps the image's test; its timings cannot be carried alone",
    ),
];

/// Top-level attributes and attributes of top-level resources.
pub const TOP_KEYS: &[KeyInfo] = &[
    k(
        "networks.*.ipam",
        "C201",
        D,
        "address management is done by each target's network",
    ),
    k(
        "networks.*.attachable",
        "C202",
        D,
        "standalone containers attaching to app networks has no neutral field",
    ),
    k(
        "networks.*.enable_ipv6",
        "C203",
        D,
        "ipv6 on app networks has no neutral field",
    ),
    k(
        "networks.*.enable_ipv4",
        "C204",
        D,
        "disabling ipv4 on app networks has no neutral field",
    ),
    k(
        "secrets.*.labels",
        "C205",
        D,
        "secret labels have no neutral field",
    ),
    k(
        "secrets.*.driver",
        "C206",
        D,
        "secret drivers have no neutral field",
    ),
    k(
        "secrets.*.driver_opts",
        "C207",
        D,
        "secret driver options have no neutral field",
    ),
    k(
        "secrets.*.template_driver",
        "C208",
        D,
        "templated secrets have no neutral field",
    ),
    k(
        "configs.*.labels",
        "C209",
        D,
        "config labels have no neutral field",
    ),
    k(
        "configs.*.template_driver",
        "C210",
        D,
        "templated configs have no neutral field",
    ),
    k(
        "include",
        "C220",
        R,
        "bridge reads one compose file; included files are not merged",
    ),
    k(
        "models",
        "C221",
        D,
        "ai models served by docker model runner have no equivalent on the targets",
    ),
];

/// The catalogue entry of a service key.
pub fn service_key(key: &str) -> Option<&'static KeyInfo> {
    SERVICE_KEYS.iter().find(|e| e.key == key)
}

/// The catalogue entry of a sub-key or top-level attribute.
pub fn entry(key: &str) -> Option<&'static KeyInfo> {
    SUB_KEYS.iter().chain(TOP_KEYS).find(|e| e.key == key)
}

/// Every code this catalogue assigns.
pub fn codes() -> impl Iterator<Item = &'static str> {
    SERVICE_KEYS
        .iter()
        .chain(SUB_KEYS)
        .chain(TOP_KEYS)
        .map(|e| e.code)
}

/// Each catalogue code with its meaning, for `bridge explain`: `compose key <key>: <treatment>: <reason>`.
pub fn explain() -> Vec<(String, String)> {
    SERVICE_KEYS
        .iter()
        .chain(SUB_KEYS)
        .chain(TOP_KEYS)
        .map(|e| {
            (
                e.code.to_string(),
                format!(
                    "compose key `{}`: {}: {}",
                    e.key,
                    e.treatment.as_str(),
                    e.reason
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ninety_two_service_keys_in_order_with_their_index_as_code() {
        assert_eq!(SERVICE_KEYS.len(), 92);
        for (i, e) in SERVICE_KEYS.iter().enumerate() {
            assert_eq!(e.code, format!("C{:03}", i + 1), "{}", e.key);
        }
        let mut sorted: Vec<&str> = SERVICE_KEYS.iter().map(|e| e.key).collect();
        sorted.sort_unstable();
        let keys: Vec<&str> = SERVICE_KEYS.iter().map(|e| e.key).collect();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn codes_are_unique_and_known_to_lookup() {
        let mut all: Vec<&str> = codes().collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        for c in all {
            assert_eq!(crate::codes::lookup(c), c);
        }
    }
}
