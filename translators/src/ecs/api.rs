//! The request bodies bridge sends to ECS and EC2, in exactly the API's shape (botocore's
//! `ecs/2014-11-13` and `ec2/2016-11-15` models): what `aws ecs register-task-definition
//! --cli-input-json` and friends take. Only the members bridge sets are declared; unset members
//! are left out of the JSON.

use std::collections::BTreeMap;

use serde::Serialize;

fn no<T>(v: &[T]) -> bool {
    v.is_empty()
}

/// An ECS tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A name and a value (environment variables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValuePair {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// A secret injected as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// The variable name.
    pub name: String,
    /// The Secrets Manager or SSM ARN (never the value).
    pub value_from: String,
}

/// A container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The port in the container.
    pub container_port: u16,
    /// The port on the host (bridge mode) or the container port (awsvpc); none for dynamic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// A name (needed with appProtocol).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `http`, `http2` or `grpc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

/// A mount of a task volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    /// The task volume.
    pub source_volume: String,
    /// The path in the container.
    pub container_path: String,
    /// Read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Start order within the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    /// The container waited for.
    pub container_name: String,
    /// `START`, `COMPLETE`, `SUCCESS` or `HEALTHY`.
    pub condition: String,
}

/// A container health check (seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `[CMD, ...]`, `[CMD-SHELL, "..."]` or `[NONE]`.
    pub command: Vec<String>,
    /// Seconds between checks (5-300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// Seconds one check may take (2-120).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Failures before unhealthy (1-10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Grace seconds after start (0-300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<u64>,
}

/// Where a container's logs go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// The log driver.
    pub log_driver: String,
    /// Its options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// A `/etc/hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostEntry {
    /// The host name.
    pub hostname: String,
    /// The address.
    pub ip_address: String,
}

/// A resource limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ulimit {
    /// One of ECS's ulimit names.
    pub name: String,
    /// Soft limit.
    pub soft_limit: i32,
    /// Hard limit.
    pub hard_limit: i32,
}

/// A kernel parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemControl {
    /// The parameter.
    pub namespace: String,
    /// Its value.
    pub value: String,
}

/// Capabilities to add and drop.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct KernelCapabilities {
    /// Added.
    #[serde(skip_serializing_if = "no")]
    pub add: Vec<String>,
    /// Dropped.
    #[serde(skip_serializing_if = "no")]
    pub drop: Vec<String>,
}

/// A host device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// On the host.
    pub host_path: String,
    /// In the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    /// `read`, `write`, `mknod`.
    #[serde(skip_serializing_if = "no")]
    pub permissions: Vec<String>,
}

/// A memory-backed mount (EC2 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tmpfs {
    /// In the container.
    pub container_path: String,
    /// Size in MiB.
    pub size: u64,
    /// Mount options (`ro`).
    #[serde(skip_serializing_if = "no")]
    pub mount_options: Vec<String>,
}

/// Linux-specific container settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxParameters {
    /// Capabilities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<KernelCapabilities>,
    /// Devices.
    #[serde(skip_serializing_if = "no")]
    pub devices: Vec<Device>,
    /// Run an init process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_process_enabled: Option<bool>,
    /// `/dev/shm` size in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_memory_size: Option<u64>,
    /// tmpfs mounts.
    #[serde(skip_serializing_if = "no")]
    pub tmpfs: Vec<Tmpfs>,
    /// Swappiness, 0 to 100 (EC2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u32>,
    /// Swap the container may use, MiB (EC2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_swap: Option<u64>,
}

/// A GPU (or other) resource requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceRequirement {
    /// `GPU`.
    #[serde(rename = "type")]
    pub kind: String,
    /// How many.
    pub value: String,
}

/// One container of a task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    /// The container name (the neutral service name).
    pub name: String,
    /// The image.
    pub image: String,
    /// CPU units (1 vCPU = 1024).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u64>,
    /// Hard memory limit, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Soft memory reservation, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u64>,
    /// Legacy links (bridge mode).
    #[serde(skip_serializing_if = "no")]
    pub links: Vec<String>,
    /// Ports.
    #[serde(skip_serializing_if = "no")]
    pub port_mappings: Vec<PortMapping>,
    /// Whether the task stops when this container stops.
    pub essential: bool,
    /// Replaces the image entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    /// Replaces the image command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment, sorted by name.
    #[serde(skip_serializing_if = "no")]
    pub environment: Vec<KeyValuePair>,
    /// Mounts.
    #[serde(skip_serializing_if = "no")]
    pub mount_points: Vec<MountPoint>,
    /// Linux settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux_parameters: Option<LinuxParameters>,
    /// Docker security options (SELinux, AppArmor, no-new-privileges; EC2).
    #[serde(skip_serializing_if = "no")]
    pub docker_security_options: Vec<String>,
    /// Secrets as environment variables.
    #[serde(skip_serializing_if = "no")]
    pub secrets: Vec<Secret>,
    /// Start order within the task.
    #[serde(skip_serializing_if = "no")]
    pub depends_on: Vec<ContainerDependency>,
    /// Seconds before the container is killed after SIGTERM (max 120).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
    /// Host name (not with awsvpc).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// User.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// Privileged (EC2 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Read-only root filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// DNS servers (not with awsvpc).
    #[serde(skip_serializing_if = "no")]
    pub dns_servers: Vec<String>,
    /// DNS search domains (not with awsvpc).
    #[serde(skip_serializing_if = "no")]
    pub dns_search_domains: Vec<String>,
    /// `/etc/hosts` entries (not with awsvpc).
    #[serde(skip_serializing_if = "no")]
    pub extra_hosts: Vec<HostEntry>,
    /// Keep stdin open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<bool>,
    /// Allocate a terminal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudo_terminal: Option<bool>,
    /// Container labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub docker_labels: BTreeMap<String, String>,
    /// Resource limits.
    #[serde(skip_serializing_if = "no")]
    pub ulimits: Vec<Ulimit>,
    /// Logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Kernel parameters.
    #[serde(skip_serializing_if = "no")]
    pub system_controls: Vec<SystemControl>,
    /// GPUs.
    #[serde(skip_serializing_if = "no")]
    pub resource_requirements: Vec<ResourceRequirement>,
}

/// A host path volume (EC2 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostVolumeProperties {
    /// The path on the container instance.
    pub source_path: String,
}

/// A docker volume (EC2 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerVolumeConfiguration {
    /// `task` or `shared`.
    pub scope: String,
    /// Create it when missing (shared scope only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoprovision: Option<bool>,
    /// The volume driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// Volume labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// An EFS volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EfsVolumeConfiguration {
    /// The file system id.
    pub file_system_id: String,
    /// `ENABLED`.
    pub transit_encryption: String,
}

/// A task volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// The name mount points refer to.
    pub name: String,
    /// A host path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolumeProperties>,
    /// A docker volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
    /// An EFS file system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EfsVolumeConfiguration>,
}

/// The platform the task's images are built for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// `X86_64` or `ARM64`.
    pub cpu_architecture: String,
    /// `LINUX`.
    pub operating_system_family: String,
}

/// `RegisterTaskDefinition`'s request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterTaskDefinition {
    /// `<app>-<group>`.
    pub family: String,
    /// Task role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Execution role (pulls images, reads secrets, writes logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// `bridge` or `awsvpc`.
    pub network_mode: String,
    /// The containers.
    pub container_definitions: Vec<ContainerDefinition>,
    /// Task volumes.
    #[serde(skip_serializing_if = "no")]
    pub volumes: Vec<Volume>,
    /// `EC2` or `FARGATE`.
    pub requires_compatibilities: Vec<String>,
    /// Task cpu units (Fargate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory MiB (Fargate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    /// The PID namespace: `host` or `task`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    /// The IPC namespace: `host`, `task` or `none` (EC2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    /// Tags, `bridge.spec-hash` last.
    pub tags: Vec<Tag>,
}

/// A task placement strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementStrategy {
    /// `spread` or `binpack`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `instanceId`, `attribute:...`, `memory`.
    pub field: String,
}

/// A task placement constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementConstraint {
    /// `memberOf` or `distinctInstance`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The cluster query (memberOf only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// Stop a failing deployment, and roll it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentCircuitBreaker {
    /// On.
    pub enable: bool,
    /// Roll back when it trips.
    pub rollback: bool,
}

/// How a new task definition replaces the old one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    /// Circuit breaker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
    /// Upper limit of running tasks, percent of desiredCount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_percent: Option<u64>,
    /// Lower limit of healthy tasks, percent of desiredCount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_healthy_percent: Option<u64>,
}

/// awsvpc networking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpcConfiguration {
    /// Subnets.
    pub subnets: Vec<String>,
    /// Security groups.
    #[serde(skip_serializing_if = "no")]
    pub security_groups: Vec<String>,
    /// `ENABLED` or `DISABLED`.
    pub assign_public_ip: String,
}

/// A service's network configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfiguration {
    /// awsvpc settings.
    pub awsvpc_configuration: AwsVpcConfiguration,
}

/// One entry of `serviceRegistries`: the Cloud Map service's ARN, and for an SRV record (bridge
/// network mode) the container and port it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRegistry {
    /// The Cloud Map service's ARN: the late-bound input `discovery.GROUP.arn` until the driver
    /// has created it.
    pub registry_arn: String,
    /// The container the SRV record names (bridge network mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Its container port (bridge network mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<u16>,
}

/// `serviceConnectConfiguration`: the namespace the service's tasks resolve names in (through
/// the proxy ECS adds to each task) and the endpoints it serves there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectConfiguration {
    /// Always true.
    pub enabled: bool,
    /// The Cloud Map namespace, by name: `<app>.local`.
    pub namespace: String,
    /// The endpoints: one per name and TCP port (ECS takes one client alias per entry).
    #[serde(skip_serializing_if = "no")]
    pub services: Vec<ServiceConnectService>,
}

/// One Service Connect endpoint: a named port mapping of the task definition, reached as one
/// client alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectService {
    /// A `portMappings` name of the task definition.
    pub port_name: String,
    /// The Cloud Map service ECS creates for it: unique in the namespace.
    pub discovery_name: String,
    /// Exactly one (ECS's limit).
    pub client_aliases: Vec<ServiceConnectClientAlias>,
}

/// The name and port client tasks reach an endpoint by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectClientAlias {
    /// The port the proxy listens on in client tasks: the container port.
    pub port: u16,
    /// The bare name: a service name, a network alias or a link alias.
    pub dns_name: String,
}

/// `CreateService`'s request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateService {
    /// The cluster.
    pub cluster: String,
    /// `<app>-<group>`.
    pub service_name: String,
    /// The task definition family (its latest revision).
    pub task_definition: String,
    /// Tasks to keep running (not with DAEMON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<u32>,
    /// `EC2` or `FARGATE`.
    pub launch_type: String,
    /// `REPLICA` or `DAEMON`.
    pub scheduling_strategy: String,
    /// Rolling update settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Constraints (EC2 only).
    #[serde(skip_serializing_if = "no")]
    pub placement_constraints: Vec<PlacementConstraint>,
    /// Strategies (EC2 only).
    #[serde(skip_serializing_if = "no")]
    pub placement_strategy: Vec<PlacementStrategy>,
    /// awsvpc networking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// The Cloud Map service the tasks register in (names across tasks).
    #[serde(skip_serializing_if = "no")]
    pub service_registries: Vec<ServiceRegistry>,
    /// Service Connect: every service of the app is a client of the app's namespace, and a
    /// group with TCP ports serves each of its names on them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_connect_configuration: Option<ServiceConnectConfiguration>,
    /// Always false: bridge does not open exec sessions.
    pub enable_execute_command: bool,
    /// `TASK_DEFINITION`.
    pub propagate_tags: String,
    /// Tags, `bridge.spec-hash` last.
    pub tags: Vec<Tag>,
}

/// An EC2 tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ec2Tag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// Tags for one kind of resource RunInstances creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagSpecification {
    /// `instance` or `volume`.
    pub resource_type: String,
    /// The tags.
    pub tags: Vec<Ec2Tag>,
}

/// An EBS root disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EbsBlockDevice {
    /// Delete with the instance.
    pub delete_on_termination: bool,
    /// GiB.
    pub volume_size: u64,
    /// `gp3`.
    pub volume_type: String,
}

/// A block device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlockDeviceMapping {
    /// The device name (the driver sets the AMI's root device name).
    pub device_name: String,
    /// The EBS volume.
    pub ebs: EbsBlockDevice,
}

/// `RunInstances`' request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunInstances {
    /// The AMI.
    pub image_id: String,
    /// The instance type.
    pub instance_type: String,
    /// Replicas.
    pub min_count: u32,
    /// Replicas.
    pub max_count: u32,
    /// base64 user data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// The subnet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// Security groups.
    #[serde(skip_serializing_if = "no")]
    pub security_group_ids: Vec<String>,
    /// The root disk.
    #[serde(skip_serializing_if = "no")]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// Tags.
    pub tag_specifications: Vec<TagSpecification>,
}
