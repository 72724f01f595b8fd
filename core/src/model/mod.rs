//! The neutral application model (`bridge.yaml`): services (containers), VMs, volumes, secrets,
//! configs, networks, groups and per-provider options. Every field has one meaning on every target.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, Cpus, Duration};

pub mod files;
mod forms;
pub use forms::{
    Command, ConfigRef, Dependency, DependencyCondition, Env, HealthTest, Link, Mount, MountKind,
    Port, PortMode, Protocol, SecretRef, Ulimit,
};

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_one(n: &u32) -> bool {
    *n == 1
}
fn one() -> u32 {
    1
}
fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

/// The format version of a bridge.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema, Default)]
pub enum Version {
    /// The first and current version.
    #[default]
    #[serde(rename = "v1")]
    V1,
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        match v.as_str() {
            "v1" => Ok(Version::V1),
            other => Err(crate::de::coded_error(
                crate::codes::BAD_VERSION,
                &format!("unsupported bridge.yaml version `{other}`"),
                Some("this bridge reads `bridge: v1`"),
            )),
        }
    }
}

/// A whole application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(title = "bridge application definition")]
pub struct App {
    /// Marks the file as a bridge.yaml; a file without it is read as a compose file.
    pub bridge: Version,
    /// The application's name: a DNS label that prefixes every provider resource.
    pub name: String,
    /// Containers, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    /// Plain virtual machines, first-class members of the app.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vms: BTreeMap<String, Vm>,
    /// Named volumes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    /// Secrets: where their values come from at deploy time. Values are never rendered.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    /// Configuration files mounted into containers (not secret).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, Config>,
    /// Networks that services attach to; services on a shared network can reach each other.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    /// Groups of containers that always run on the same host (a pod).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Group>,
    /// Options per provider.
    #[serde(default, skip_serializing_if = "is_default")]
    pub providers: Providers,
    /// How `bridge move` hands consumers over from the old deployment to the new one.
    #[serde(default, rename = "move", skip_serializing_if = "Option::is_none")]
    pub move_: Option<MoveOptions>,
    /// The content of every relative bind source (`./nginx.conf:/etc/nginx/nginx.conf`), read
    /// by the loader from the app file's directory; never part of the file itself.
    #[serde(skip)]
    #[schemars(skip)]
    pub files: files::ProjectFiles,
}

/// A container service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Service {
    /// The image reference (a compose `build:` without `image:` is an error).
    pub image: String,
    /// Replaces the image's command: a list, or a string split like a shell would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Replaces the image's entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Command>,
    /// Environment variables; `${vms.NAME.address}` is resolved at deploy time.
    #[serde(default, skip_serializing_if = "Env::is_empty")]
    pub env: Env,
    /// Secrets given to the container as files or environment variables.
    #[serde(
        default,
        deserialize_with = "forms::deserialize_secret_refs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secrets: Vec<SecretRef>,
    /// Configs mounted as files.
    #[serde(
        default,
        deserialize_with = "forms::deserialize_config_refs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub configs: Vec<ConfigRef>,
    /// Published ports: `"80:8000/tcp"`, `"8000"`, or the long form.
    #[serde(
        default,
        deserialize_with = "forms::deserialize_ports",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<Port>,
    /// Ports reachable by other services only, never published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<u16>,
    /// Mounts: `"data:/var/lib/x:ro"`, `"./site:/srv"`, or the long form (volume, bind, tmpfs).
    #[serde(
        default,
        deserialize_with = "forms::deserialize_mounts",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<Mount>,
    /// Services this one starts after, optionally waiting for them to be healthy.
    #[serde(
        default,
        deserialize_with = "forms::deserialize_dependencies",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub depends_on: Vec<Dependency>,
    /// Legacy links: each becomes a DNS name (the alias) on every target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// How many copies run (ignored with `mode: global`).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub replicas: u32,
    /// `replicated` (default) or `global` (one per host).
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: ServiceMode,
    /// CPU and memory limits and reservations.
    #[serde(default, skip_serializing_if = "is_default")]
    pub resources: Resources,
    /// The container's health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// When a stopped container is started again.
    #[serde(default, skip_serializing_if = "is_default")]
    pub restart: RestartPolicy,
    /// Give up restarting after this many attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_max_attempts: Option<u32>,
    /// Wait this long between restart attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_delay: Option<Duration>,
    /// The window in which restart attempts are counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_window: Option<Duration>,
    /// How a new version replaces the old one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdatePolicy>,
    /// How a failed update is rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<UpdatePolicy>,
    /// The group this service belongs to: same group, same host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Join the network namespace of this service (compose `network_mode: service:x`): one
    /// localhost and one set of ports for both. It must be in the same group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_of: Option<String>,
    /// Where replicas may run.
    #[serde(default, skip_serializing_if = "is_default")]
    pub placement: Placement,
    /// The provider for this service in a hybrid app; default: `--provider`, else
    /// `providers.default`, else the only provider configured, else `swarm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
    /// Labels (container labels on targets that have them, tags elsewhere).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Networks the service attaches to; empty means the app's default network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// Extra DNS names of this service on its networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The user (and group) the process runs as: `1000`, `1000:1000`, `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// The container's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The container's domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// The signal that stops the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// How long to wait after the stop signal before killing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    /// Run an init process that reaps zombies and forwards signals.
    #[serde(default, skip_serializing_if = "is_false")]
    pub init: bool,
    /// Mount the root filesystem read-only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// Run privileged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// Allocate a terminal.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    /// Keep standard input open.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    /// Linux capabilities to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Linux capabilities to drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Extra groups for the process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// DNS search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// DNS resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    /// Extra `/etc/hosts` entries: host name to address.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_hosts: BTreeMap<String, String>,
    /// Kernel parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// Resource limits (`nofile: 65536` or `{soft, hard}`).
    #[serde(
        default,
        deserialize_with = "forms::deserialize_ulimits",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// Size of `/dev/shm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    /// Host devices: `/dev/fuse`, `/dev/sda:/dev/xvda:rwm`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// Where logs go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// The platform the image is for, like `linux/amd64` or `linux/arm64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// When to pull the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<PullPolicy>,
    /// Relative CPU weight (docker `--cpu-shares`; 1024 is one CPU's worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u32>,
    /// The CPUs the container may run on: `0-3`, `0,1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    /// Security options: `no-new-privileges:true`, `seccomp=unconfined`, `label=...`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// The PID namespace: `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// The IPC namespace: `host`, `private`, `shareable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// How readily the kernel swaps the container's memory (0 to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_swappiness: Option<u32>,
    /// Memory plus swap the container may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<ByteSize>,
    /// The kernel's OOM-killer preference (-1000 to 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    /// Do not let the OOM killer stop the container.
    #[serde(default, skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    /// Device cgroup rules: `c 1:3 mr`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    /// The container's MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// The user namespace: `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    /// The UTS namespace: `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    /// Storage driver options: `size: 20G`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_opt: BTreeMap<String, String>,
    /// The OCI runtime: `runc`, `runsc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// The parent cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// OCI annotations on the container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The cgroup namespace: `host` or `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupNs>,
    /// Block I/O weights and rate limits (compose `blkio_config`).
    #[serde(default, skip_serializing_if = "Blkio::is_empty")]
    pub blkio_config: Blkio,
    /// Mount the API socket of the Docker Engine running the container into it, at
    /// `/var/run/docker.sock` (compose `use_api_socket`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_api_socket: bool,
    /// Commands run in the container once it has started (compose `post_start`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<Hook>,
    /// Commands run in the container before it is stopped (compose `pre_stop`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<Hook>,
}

impl Service {
    /// The kernel and runtime keys of `docker run` (and the hooks) this service sets, each as
    /// (its field name, whether it is set), in one fixed order: the one list every translator
    /// reads to map, or report, the keys its target cannot express.
    pub fn runtime_keys(&self) -> [(&'static str, bool); 22] {
        [
            ("cpu_shares", self.cpu_shares.is_some()),
            ("cpuset", self.cpuset.is_some()),
            ("security_opt", !self.security_opt.is_empty()),
            ("pid", self.pid.is_some()),
            ("ipc", self.ipc.is_some()),
            ("mem_swappiness", self.mem_swappiness.is_some()),
            ("memswap_limit", self.memswap_limit.is_some()),
            ("oom_score_adj", self.oom_score_adj.is_some()),
            ("oom_kill_disable", self.oom_kill_disable),
            ("device_cgroup_rules", !self.device_cgroup_rules.is_empty()),
            ("mac_address", self.mac_address.is_some()),
            ("userns_mode", self.userns_mode.is_some()),
            ("uts", self.uts.is_some()),
            ("storage_opt", !self.storage_opt.is_empty()),
            ("runtime", self.runtime.is_some()),
            ("cgroup_parent", self.cgroup_parent.is_some()),
            ("annotations", !self.annotations.is_empty()),
            ("cgroup", self.cgroup.is_some()),
            ("blkio_config", !self.blkio_config.is_empty()),
            ("use_api_socket", self.use_api_socket),
            ("post_start", !self.post_start.is_empty()),
            ("pre_stop", !self.pre_stop.is_empty()),
        ]
    }
}

/// The cgroup namespace a container runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CgroupNs {
    /// The host's cgroup namespace.
    Host,
    /// A namespace of its own.
    Private,
}

impl CgroupNs {
    /// As docker spells it (`--cgroupns`).
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupNs::Host => "host",
            CgroupNs::Private => "private",
        }
    }
}

/// Block I/O weights and rate limits, per device path (`/dev/sda`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Blkio {
    /// Relative weight of the container's block I/O (10 to 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Weight per device.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weight_device: BTreeMap<String, u16>,
    /// Read rate limit per device, bytes per second.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub device_read_bps: BTreeMap<String, ByteSize>,
    /// Write rate limit per device, bytes per second.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub device_write_bps: BTreeMap<String, ByteSize>,
    /// Read operations per second per device.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub device_read_iops: BTreeMap<String, u64>,
    /// Write operations per second per device.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub device_write_iops: BTreeMap<String, u64>,
}

impl Blkio {
    /// Nothing set.
    pub fn is_empty(&self) -> bool {
        *self == Blkio::default()
    }
}

/// A command run inside the running container by the target's supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Hook {
    /// The command, `[prog, args...]` or a string split like a shell's words.
    pub command: Command,
    /// The user it runs as (default: the container's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Run it privileged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// Its working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Extra environment variables for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// `replicated` or `global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceMode {
    /// `replicas` copies.
    #[default]
    Replicated,
    /// One copy per host.
    Global,
}

/// CPU, memory and process limits and reservations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Resources {
    /// CPU limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    /// Memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// CPUs reserved (guaranteed) for scheduling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_cpus: Option<Cpus>,
    /// Memory reserved (guaranteed) for scheduling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_memory: Option<ByteSize>,
    /// Most processes in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u32>,
    /// GPUs reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
}

/// A container health check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Health {
    /// `[CMD, prog, args...]`, `[CMD-SHELL, "cmd"]`, a string (run by a shell), or `[NONE]`.
    pub test: HealthTest,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Time one check may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Failures in a row before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Grace period after start in which failures do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
}

/// When a stopped container is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Always (the default, as in `docker stack deploy`).
    #[default]
    Always,
    /// Only after a non-zero exit.
    OnFailure,
    /// Never: the container runs once.
    Never,
}

/// How updates (or rollbacks) roll out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct UpdatePolicy {
    /// Replicas updated at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// Wait between batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// What to do when a batch fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<FailureAction>,
    /// How long to watch each task for failure after it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Duration>,
    /// Fraction of failures tolerated (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_ratio: Option<f64>,
    /// Start the new task before stopping the old one, or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<UpdateOrder>,
}

/// What a failed update does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureAction {
    /// Stop and wait.
    Pause,
    /// Carry on.
    Continue,
    /// Roll back to the previous version.
    Rollback,
}

/// Order of stop and start during an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// Stop the old, then start the new.
    StopFirst,
    /// Start the new, then stop the old.
    StartFirst,
}

/// Where replicas may run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Placement {
    /// Spread replicas over `host`, `zone`, or a node label (`node.labels.rack`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<String>,
    /// Constraints such as `node.labels.ssd == true` or `node.role != manager`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// At most this many replicas on one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_host: Option<u32>,
}

/// The cloud or engine a component runs on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// AWS ECS (EC2 or Fargate) and EC2.
    Aws,
    /// Google Compute Engine container-VMs.
    Gce,
    /// OpenStack Heat.
    Openstack,
    /// Docker Swarm.
    Swarm,
}

impl ProviderKind {
    /// Every provider.
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::Aws,
        ProviderKind::Gce,
        ProviderKind::Openstack,
        ProviderKind::Swarm,
    ];

    /// The name used on the command line and in files.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProviderKind::Aws => "aws",
            ProviderKind::Gce => "gce",
            ProviderKind::Openstack => "openstack",
            ProviderKind::Swarm => "swarm",
        }
    }
}

/// Where logs go.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Logging {
    /// The log driver (`json-file`, `awslogs`, `gcplogs`, `syslog`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// When to pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    /// Every start.
    Always,
    /// Only when absent.
    Missing,
    /// Never; the image must be present.
    Never,
}

/// A plain virtual machine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Vm {
    /// A logical image name, mapped per provider in `providers.<p>.images`.
    pub image: String,
    /// Virtual CPUs.
    pub cpus: Cpus,
    /// Memory.
    pub memory: ByteSize,
    /// Root disk size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<ByteSize>,
    /// Ports opened to the app and, when published, to the outside.
    #[serde(
        default,
        deserialize_with = "forms::deserialize_ports",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<Port>,
    /// cloud-init user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// How many identical VMs.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub replicas: u32,
    /// The provider for this VM; default is `--provider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
    /// Where the VM may run.
    #[serde(default, skip_serializing_if = "is_default")]
    pub placement: Placement,
    /// Labels (tags on the provider).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A named volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Volume {
    /// The size to provision where the target needs one (Cinder, persistent disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
    /// A volume driver (Swarm) or backing store hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// The volume exists already and is not managed by bridge.
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    /// The provider's name of the volume, when it differs from the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Where a secret's value comes from at deploy time. Exactly one source.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Secret {
    /// An environment variable of the deploying process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// A file, relative to the bridge.yaml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The secret exists in the provider already (an ARN in `providers.aws.secrets`, a Swarm secret...).
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    /// The provider's name of the secret, when it differs from the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A configuration file's content source. Exactly one source.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Config {
    /// A file, relative to the bridge.yaml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The content inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// An environment variable of the deploying process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The config exists in the provider already.
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    /// The provider's name, when it differs from the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Network {
    /// No route to the outside.
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    /// The network exists already and is not managed by bridge.
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    /// The provider's name, when it differs from the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A network driver (Swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A group of co-located containers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Group {
    /// Where the group's hosts may run.
    #[serde(default, skip_serializing_if = "is_default")]
    pub placement: Placement,
}

/// Options per provider.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Providers {
    /// The provider of every component without a `provider:` of its own (when `--provider` is
    /// not given). Without it: the only provider configured here, else `swarm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ProviderKind>,
    /// AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsOptions>,
    /// Google Compute Engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gce: Option<GceOptions>,
    /// OpenStack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openstack: Option<OpenstackOptions>,
    /// Docker Swarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<SwarmOptions>,
}

/// ECS launch type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LaunchType {
    /// Tasks on EC2 container instances that bridge provisions.
    #[default]
    Ec2,
    /// Serverless tasks.
    Fargate,
}

/// AWS options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct AwsOptions {
    /// The region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The ECS cluster name (default: the app name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `ec2` or `fargate`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub launch_type: LaunchType,
    /// EC2 instance type for container instances (default: sized by placement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// AMI for container instances (default: the ECS-optimised AMI from SSM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami: Option<String>,
    /// Subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// Security groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Instance profile for container instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    /// Give Fargate tasks a public address.
    #[serde(default, skip_serializing_if = "is_false")]
    pub assign_public_ip: bool,
    /// Task execution role ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Task role ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Secret name to the ARN (Secrets Manager or SSM parameter) ECS reads it from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// EFS file system per volume name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub efs: BTreeMap<String, String>,
    /// AMI per logical VM image name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// CloudWatch log group (default: `/bridge/<app>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// The ECS names of a group (or ungrouped service) whose ECS service and task definition
    /// family were made outside bridge under their own names (`deploy --adopt` takes them
    /// over): group -> names. A group not named here is `<app>-<group>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, AwsServiceNames>,
}

/// The names an existing ECS service and its task definition family have
/// (`providers.aws.services.GROUP`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct AwsServiceNames {
    /// The ECS service's name (default: `<app>-<group>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The task definition family (default: `<app>-<group>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

impl AwsOptions {
    /// The ECS service name of group `group` of app `app`: `providers.aws.services.GROUP.service_name`,
    /// else `<app>-<group>`.
    pub fn service_name(&self, app: &str, group: &str) -> String {
        self.services
            .get(group)
            .and_then(|n| n.service_name.clone())
            .unwrap_or_else(|| format!("{app}-{group}"))
    }

    /// The task definition family of group `group` of app `app`:
    /// `providers.aws.services.GROUP.family`, else `<app>-<group>`.
    pub fn family(&self, app: &str, group: &str) -> String {
        self.services
            .get(group)
            .and_then(|n| n.family.clone())
            .unwrap_or_else(|| format!("{app}-{group}"))
    }
}

/// GCE options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct GceOptions {
    /// The project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Machine type (default: sized by placement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_type: Option<String>,
    /// VPC network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Subnetwork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnetwork: Option<String>,
    /// Service account email for the VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Emit the legacy `gce-container-declaration` for single-container groups.
    #[serde(default, skip_serializing_if = "is_false")]
    pub container_declaration: bool,
    /// Image per logical VM image name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
}

/// How OpenStack runs containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpenstackContainers {
    /// Nova servers that run docker from cloud-init.
    #[default]
    Docker,
    /// OS::Zun::Container.
    Zun,
}

/// OpenStack options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct OpenstackOptions {
    /// The `clouds.yaml` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
    /// The region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Flavor for container hosts (default: sized by placement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
    /// The network servers attach to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Key pair name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Image per logical VM image name (and `container-host` for container hosts).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// `docker` (default) or `zun`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub containers: OpenstackContainers,
    /// Whether the cloud has Neutron (default true). `false` drops every `OS::Neutron::*`
    /// resource (security groups) and boots servers with `networks: none` unless `network` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neutron: Option<bool>,
}

/// `bridge move`'s options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct MoveOptions {
    /// What consumers read, switched from A to B in the move's `cut-over` phase (once B is
    /// healthy, before A is removed) and back by `--rollback`. Without it the move stops once B
    /// is healthy and prints B's endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutover: Option<Cutover>,
}

/// A cut-over target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct Cutover {
    /// A DNS record that consumers resolve: set to B's address for `component`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsCutover>,
}

/// The DNS service that holds a cut-over record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnsProvider {
    /// Amazon Route 53 (a public or private hosted zone), with the AWS credentials bridge uses.
    #[default]
    Aws,
}

/// A DNS record carrying one component's address: an `A` record for an IPv4 address, `AAAA`
/// for IPv6, `CNAME` for a host name, as the component's driver reports it (its public address,
/// else its private one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct DnsCutover {
    /// Where the zone is hosted: `aws` (Route 53).
    pub provider: DnsProvider,
    /// The hosted zone's name, e.g. `example.internal.` (must exist).
    pub zone: String,
    /// The record's name, inside the zone, e.g. `shop.example.internal.`.
    pub record: String,
    /// The record's TTL in seconds, 0 to 2147483647 (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// The service or VM whose address the record carries; it must be one that moves.
    pub component: String,
}

/// Docker Swarm options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct SwarmOptions {
    /// The engine endpoint, e.g. `unix:///var/run/docker.sock` (default: DOCKER_HOST or the local socket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}
