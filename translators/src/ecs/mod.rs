//! AWS ECS: one task definition per group (co-located services; a service without a group is its
//! own group), one ECS service per long-running group, one RunInstances body per VM and, on the
//! EC2 launch type, the size of the container-instance pool from the placement solver. Every
//! request body is in the API's exact shape (botocore's models) and tagged `bridge.app`,
//! `bridge.component` and `bridge.spec-hash`.
//!
//! # Choices
//!
//! - **Network mode.** Fargate needs `awsvpc`. On EC2 bridge uses `bridge` by default: links,
//!   host names, DNS settings and extra hosts work there, `hostPort` keeps the published port,
//!   and many tasks share one instance. `awsvpc` on EC2 gives each task an elastic network
//!   interface and instances hold only a few (a t3.medium three, so two tasks), which would break
//!   the placement solver's cpu/memory packing; [`Options::ec2_network_mode`] selects it anyway.
//! - **Secrets.** ECS injects secrets only as environment variables read from an ARN: the one in
//!   `providers.aws.secrets.<name>`, else (a secret with `env:` or `file:`) the Secrets Manager
//!   secret `<app>/<name>` that the driver creates, whose ARN is the late-bound input
//!   `secrets.<name>.arn` (`${secrets.<name>.arn}` in the rendered task definition). A secret the
//!   app wants as a file is injected as the variable named after the secret in upper case
//!   (`api_key` -> `API_KEY`); the ledger says so. The value source (`secrets.<name>.env|file`)
//!   is what the driver writes behind the ARN; it is never rendered ([`EcsApp::secrets`]).
//! - **Names across tasks.** Each long-running group registers its tasks in a Cloud Map service
//!   named after it, in the app's private DNS namespace `<app>.local` (`serviceRegistries`; the
//!   registry ARN is the late-bound input `discovery.GROUP.arn`, [`CloudMapService`]): A records
//!   with awsvpc, where ECS allows no DNS search domain, so the name resolves fully qualified;
//!   SRV records (container and port) in bridge mode, where every container gets the namespace
//!   as DNS search domain. What does not resolve is reported (T227, T211).
//! - **One-shot groups.** A group whose services all have `restart: never` gets a task definition
//!   but no ECS service (a service would restart it forever): the driver runs it once with
//!   `RunTask` ([`TaskDefinition::one_shot`]).
//! - **Essential.** A container is essential unless its restart policy is `never`, or another
//!   container of the task waits for it to complete (ECS forbids COMPLETE/SUCCESS on essential
//!   containers). A task with no essential container left marks its containers that nothing
//!   waits on essential.
//! - **Fargate size.** The smallest (cheapest at Fargate's per-vCPU and per-GB prices) valid task
//!   cpu/memory pair that holds the sum of the containers' demands (reservation, else limit, else
//!   the placement solver's default demand); a pair above what the app asked for is reported as
//!   an approximation. More than 16 vCPU or 120 GiB is an error.
//! - **Subnets.** With `awsvpc` and no `providers.aws.subnets`, the service has no
//!   `networkConfiguration` and [`EcsService::default_subnets`] tells the driver to use the default
//!   VPC's subnets.
//! - **Logs.** `awslogs` to `providers.aws.log_group` (default `/bridge/<app>`), stream prefix the
//!   app; the driver creates the log group. A service's own log driver is kept when ECS supports it
//!   on the launch type.
//! - **VMs.** `UserData` is the base64 of `user_data` as written: `${vms.x.address}` references
//!   stay in it for the driver to resolve before it calls RunInstances, as it does for environment
//!   values. The root disk's device name is `/dev/xvda`; the driver replaces it with the AMI's
//!   root device name.

pub mod api;
mod ec2;
mod service;
mod task;

use std::collections::{BTreeMap, BTreeSet};

use bridge_core::diag::{Diagnostic, Severity};
use bridge_core::model::{App, LaunchType, ProviderKind, RestartPolicy};
use bridge_core::{Diagnostics, ValidApp};
use serde::Serialize;

pub use ec2::{InstanceType, cost_of, instance_type_for, largest, stock_catalogue};
pub use task::{FARGATE_SIZES, default_port_name, fargate_size};

use crate::{Artifact, LedgerEntry, Translation, Translator};

/// Tag keys bridge owns on every resource it creates.
pub const TAG_APP: &str = "bridge.app";
/// The component: `task-definition/web`, `service/web`, `instance/db`.
pub const TAG_COMPONENT: &str = "bridge.component";
/// Hash of the rendered spec without this tag, for drift detection.
pub const TAG_SPEC_HASH: &str = "bridge.spec-hash";

/// The ECS translator's diagnostic codes and what they mean.
pub const CODES: &[(&str, &str)] = &[
    (
        "T200",
        "an external secret has no ARN in providers.aws.secrets",
    ),
    (
        "T201",
        "a secret wanted as a file is injected as an environment variable",
    ),
    ("T202", "ECS has no per-container stop signal"),
    (
        "T203",
        "ECS restarts tasks its own way: the restart policy is approximated",
    ),
    ("T204", "a field awsvpc network mode does not allow"),
    ("T205", "a field Fargate does not support"),
    ("T206", "mode global needs the EC2 launch type"),
    ("T207", "a group is larger than the largest Fargate task"),
    (
        "T208",
        "a health check value is outside ECS's range and was clamped",
    ),
    (
        "T209",
        "stop_grace_period is above ECS's 120 seconds and was clamped",
    ),
    ("T210", "a bind mount cannot be expressed"),
    ("T211", "a link or dependency reaches outside the task"),
    ("T212", "a VM image has no AMI in providers.aws.images"),
    (
        "T213",
        "a VM is larger than every instance type bridge knows",
    ),
    (
        "T214",
        "a placement constraint or spread ECS cannot express",
    ),
    ("T215", "a field ECS cannot express"),
    (
        "T216",
        "a port is published differently from what the app asked",
    ),
    (
        "T217",
        "a log driver ECS does not support on this launch type",
    ),
    (
        "T218",
        "awsvpc without subnets: the driver uses the default VPC",
    ),
    ("T219", "no region for awslogs: the driver's region is used"),
    ("T220", "services of one group ask for different platforms"),
    (
        "T221",
        "a container others wait to complete is made non-essential",
    ),
    ("T222", "a Fargate task or instance type larger than asked"),
    (
        "T223",
        "a named volume is not shared storage on this launch type",
    ),
    ("T224", "two task definitions would share one family name"),
    (
        "T225",
        "a task needs an execution role (secrets, or awslogs on Fargate) and none is given",
    ),
    (
        "T226",
        "no region for awslogs at render: none in the file, the environment or the AWS config",
    ),
    (
        "T227",
        "a name other tasks use does not resolve from them (no TCP port for Service Connect to serve it on, a task run once, an alias taken)",
    ),
    (
        "T229",
        "no instance type catalogue from the region: the stock t3/m5/c5/r5 list is assumed",
    ),
    (
        "T228",
        "no instance type of the catalogue has the GPUs or architecture the pool needs",
    ),
    (
        "T230",
        "a field this target cannot express, named with the reason (what fidelity shows as dropped)",
    ),
];

/// The network mode of task definitions on the EC2 launch type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Docker's bridge network (the default on EC2).
    #[default]
    Bridge,
    /// One elastic network interface per task.
    Awsvpc,
}

/// Translator settings beyond the app's own `providers.aws`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Network mode on the EC2 launch type (Fargate is always awsvpc).
    pub ec2_network_mode: NetworkMode,
    /// Instance types for VMs and the container-instance pool: the region's, as the driver read
    /// them (DescribeInstanceTypes, filtered by DescribeInstanceTypeOfferings), or None for the
    /// stock list of [`stock_catalogue`], with warning T229.
    pub catalogue: Option<Vec<InstanceType>>,
    /// The region when `providers.aws.region` gives none (the driver's, or what `render`
    /// found in the credential chain's sources): written as `awslogs-region`.
    pub region: Option<String>,
    /// No region from the file or [`Options::region`] is an error (T226), not a warning (T219):
    /// `render` must not write task definitions that ECS rejects.
    pub require_region: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ec2_network_mode: NetworkMode::Bridge,
            catalogue: None,
            region: None,
            require_region: false,
        }
    }
}

/// One task definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskDefinition {
    /// The group (or ungrouped service) name.
    pub group: String,
    /// The neutral services in it, in start order.
    pub services: Vec<String>,
    /// True when every service has `restart: never`: run once with RunTask, no ECS service.
    pub one_shot: bool,
    /// The task reads secrets or logs to awslogs on Fargate but the options name no execution
    /// role: the driver must supply one (the account's `ecsTaskExecutionRole`).
    pub needs_execution_role: bool,
    /// The request body.
    pub body: api::RegisterTaskDefinition,
}

/// One ECS service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcsService {
    /// The group (or ungrouped service) name.
    pub group: String,
    /// Groups whose services this one waits for (created first).
    pub after: Vec<String>,
    /// Those of `after` that a member depends on with `condition: healthy`: the driver creates
    /// this service only once their tasks report `healthStatus: HEALTHY`.
    pub healthy_after: Vec<String>,
    /// awsvpc without subnets in the options: the driver fills in the default VPC's subnets.
    pub default_subnets: bool,
    /// The group's Cloud Map service (names across tasks), when its tasks register one.
    pub discovery: Option<CloudMapService>,
    /// The request body.
    pub body: api::CreateService,
}

/// One Cloud Map service in the app's namespace: the name other tasks reach a group by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudMapService {
    /// The group (its Cloud Map service is named after it).
    pub group: String,
    /// The late-bound input its ARN fills: `discovery.GROUP.arn`.
    pub input: String,
    /// The `servicediscovery` CreateService body without `NamespaceId` and `CreatorRequestId`,
    /// which the driver adds (the namespace it created, a token from the spec hash).
    pub body: serde_json::Value,
}

/// The app's private DNS namespace in Cloud Map: `<app>.local`.
pub fn namespace_name(app: &str) -> String {
    format!("{app}.local")
}

/// The `Description` bridge gives a group's Cloud Map service: `bridge app=APP
/// component=discovery/GROUP spec-hash=HASH`. Cloud Map's ListServices summaries carry the
/// description (not the tags, nor the namespace), so observe reads the app's services 100 to a
/// call from it instead of two calls (GetService, ListTagsForResource) per service.
pub fn discovery_description(app: &str, group: &str, spec_hash: &str) -> String {
    format!("bridge app={app} component=discovery/{group} spec-hash={spec_hash}")
}

/// The app, component and spec hash a [`discovery_description`] holds; `None` for any other
/// text (a service made by hand, or by a bridge that wrote no description).
pub fn parse_discovery_description(d: &str) -> Option<(&str, &str, &str)> {
    let rest = d.strip_prefix("bridge app=")?;
    let (app, rest) = rest.split_once(" component=")?;
    let (component, hash) = rest.split_once(" spec-hash=")?;
    let ok = |x: &str| !x.is_empty() && !x.contains(' ');
    (ok(app) && ok(component) && ok(hash)).then_some((app, component, hash))
}

/// The late-bound input that stands for the ARN of a group's Cloud Map service:
/// `discovery.GROUP.arn`.
pub fn discovery_arn_input(group: &str) -> String {
    format!("discovery.{group}.arn")
}

/// The CreatePrivateDnsNamespace body for the app, without `Vpc` and `CreatorRequestId`, which
/// the driver adds (the VPC of `providers.aws.subnets`, else the default VPC, as for the
/// security group). Tagged like the rest.
pub fn namespace_body(app: &str) -> serde_json::Value {
    let mut body = serde_json::json!({
        "Name": namespace_name(app),
        "Description": format!("names of the services of the app {app}, by bridge"),
        "Tags": [
            {"Key": TAG_APP, "Value": app},
            {"Key": TAG_COMPONENT, "Value": format!("namespace/{app}")},
        ],
    });
    let h = bridge_core::hash::spec_hash(&body);
    if let Some(t) = body["Tags"].as_array_mut() {
        t.push(serde_json::json!({"Key": TAG_SPEC_HASH, "Value": h}));
    }
    body
}

/// One VM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// The neutral VM name.
    pub vm: String,
    /// Ports the driver opens in the app's security group (RunInstances has none).
    pub ports: Vec<bridge_core::model::Port>,
    /// The request body.
    pub body: api::RunInstances,
}

/// Where a secret's value comes from; the driver writes it behind the ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretSource {
    /// The neutral secret name.
    pub name: String,
    /// The ARN ECS reads.
    pub arn: String,
    /// `env:VAR`, `file:PATH` or `external` (the ARN holds the value already).
    pub source: String,
    /// The Secrets Manager name when the driver creates the secret (no ARN in
    /// `providers.aws.secrets`); then [`SecretSource::arn`] is the placeholder of the
    /// late-bound input `secrets.NAME.arn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create: Option<String>,
}

/// One pool of EC2 container instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pool {
    /// The instance type.
    pub instance_type: String,
    /// How many instances.
    pub count: usize,
    /// Container-instance attributes the driver sets (from `node.labels` constraints).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// The size of the EC2 container-instance pool (EC2 launch type only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capacity {
    /// The ECS cluster.
    pub cluster: String,
    /// Pools by instance type.
    pub pools: Vec<Pool>,
    /// Instances in all.
    pub instances: usize,
    /// No placement on these types uses fewer.
    pub lower_bound: usize,
    /// `5 hosts used, lower bound 4 (...)`.
    pub report: String,
    /// The AMI, when `providers.aws.ami` sets one (else the driver uses the ECS-optimised AMI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The instance profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
}

/// Everything the AWS driver creates for one app.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EcsApp {
    /// The app name.
    pub app: String,
    /// The ECS cluster.
    pub cluster: String,
    /// Task definitions, in group order.
    pub task_definitions: Vec<TaskDefinition>,
    /// ECS services, dependencies first.
    pub services: Vec<EcsService>,
    /// VMs.
    pub instances: Vec<Instance>,
    /// The container-instance pool (EC2 launch type with at least one group).
    pub capacity: Option<Capacity>,
    /// Secret value sources for the driver.
    pub secrets: Vec<SecretSource>,
}

/// The ECS translator.
#[derive(Debug, Clone, Default)]
pub struct Ecs {
    /// Settings.
    pub options: Options,
}

impl Translator for Ecs {
    fn target(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    fn translate(&self, app: &ValidApp) -> Translation {
        let (ecs, ledger, diagnostics) = build(app, &self.options);
        Translation {
            artifacts: artifacts(&ecs),
            ledger,
            diagnostics,
        }
    }
}

/// Pretty, key-sorted JSON with a final newline.
fn pretty<T: Serialize>(v: &T) -> String {
    let v = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// The files: `aws/task-definitions/<family>.json`, `aws/services/<name>.json`,
/// `aws/instances/<vm>.json`, `aws/capacity.json`.
pub fn artifacts(ecs: &EcsApp) -> Vec<Artifact> {
    let mut out = Vec::new();
    for t in &ecs.task_definitions {
        out.push(Artifact {
            path: format!("aws/task-definitions/{}.json", t.body.family),
            content: pretty(&t.body),
        });
    }
    for s in &ecs.services {
        out.push(Artifact {
            path: format!("aws/services/{}.json", s.body.service_name),
            content: pretty(&s.body),
        });
    }
    if ecs.services.iter().any(|s| s.discovery.is_some()) {
        out.push(Artifact {
            path: "aws/discovery/namespace.json".into(),
            content: pretty(&namespace_body(&ecs.app)),
        });
    }
    for d in ecs.services.iter().filter_map(|s| s.discovery.as_ref()) {
        out.push(Artifact {
            path: format!("aws/discovery/services/{}.json", d.group),
            content: pretty(&d.body),
        });
    }
    for i in &ecs.instances {
        out.push(Artifact {
            path: format!("aws/instances/{}.json", i.vm),
            content: pretty(&i.body),
        });
    }
    if let Some(c) = &ecs.capacity {
        out.push(Artifact {
            path: "aws/capacity.json".into(),
            content: pretty(c),
        });
    }
    out
}

/// The bridge tags of a component, without the hash.
fn tags(app: &str, component: &str) -> Vec<api::Tag> {
    vec![
        api::Tag {
            key: TAG_APP.into(),
            value: app.into(),
        },
        api::Tag {
            key: TAG_COMPONENT.into(),
            value: component.into(),
        },
    ]
}

/// The spec hash tag of a body rendered without it.
fn hash_tag<T: Serialize>(body: &T) -> api::Tag {
    api::Tag {
        key: TAG_SPEC_HASH.into(),
        value: bridge_core::hash::spec_hash(body),
    }
}

/// True when the service or VM runs on AWS in this app.
fn on_aws(p: Option<ProviderKind>) -> bool {
    p.is_none_or(|p| p == ProviderKind::Aws)
}

/// A service's or VM's group: its `group`, else its own name.
fn group_of(name: &str, s: &bridge_core::model::Service) -> String {
    s.group.clone().unwrap_or_else(|| name.to_string())
}

/// The fidelity ledger: the crate's one [`crate::ledger::Ledger`].
pub(crate) use crate::ledger::Ledger;

/// Context shared by the builders.
pub(crate) struct Ctx<'a> {
    pub app: &'a App,
    pub fargate: bool,
    pub awsvpc: bool,
    /// The instance types are the stock list, not the region's.
    pub stock_types: bool,
    /// The container-instance pool is arm64 (Graviton): every service on the EC2 launch type
    /// is `linux/arm64` and the catalogue has such types.
    pub pool_arm64: bool,
    pub ledger: Ledger,
    pub diags: Diagnostics,
    /// Project files the current task's init container writes: (path under
    /// [`task::FILES_ROOT`], content).
    pub files: Vec<(String, Vec<u8>)>,
    /// Service Connect discovery names given so far: unique in the namespace.
    pub discovery_names: BTreeSet<String>,
}

impl Ctx<'_> {
    pub fn warn(&mut self, code: &'static str, path: String, message: String, hint: Option<&str>) {
        self.diags.push(
            Diagnostic::warning(code, message)
                .with_path(path)
                .with_hint_opt(hint.map(str::to_string)),
        );
    }
    pub fn error(&mut self, code: &'static str, path: String, message: String, hint: Option<&str>) {
        self.diags.push(
            Diagnostic::error(code, message)
                .with_path(path)
                .with_hint_opt(hint.map(str::to_string)),
        );
    }
    pub fn note(&mut self, code: &'static str, path: String, message: String) {
        self.diags
            .push(Diagnostic::new(Severity::Note, code, message).with_path(path));
    }
    /// The field is dropped, with a warning.
    pub fn drop_warn(
        &mut self,
        code: &'static str,
        path: String,
        reason: &str,
        hint: Option<&str>,
    ) {
        self.ledger.dropped(path.clone(), reason);
        self.warn(code, path, reason.to_string(), hint);
    }
    pub fn launch(&self) -> &'static str {
        if self.fargate { "FARGATE" } else { "EC2" }
    }
}

/// Build the ECS objects, the ledger (sorted by field) and diagnostics for an app.
pub fn build(valid: &ValidApp, opts: &Options) -> (EcsApp, Vec<LedgerEntry>, Diagnostics) {
    let app = valid.app();
    let mut aws = app.providers.aws.clone().unwrap_or_default();
    if aws.region.is_none() {
        aws.region = opts.region.clone();
    }
    let fargate = aws.launch_type == LaunchType::Fargate;
    let awsvpc = fargate || opts.ec2_network_mode == NetworkMode::Awsvpc;
    let catalogue = opts.catalogue.clone().unwrap_or_else(stock_catalogue);
    let arm = |s: &&bridge_core::model::Service| {
        s.platform
            .as_deref()
            .is_some_and(|p| p == "linux/arm64" || p == "linux/aarch64")
    };
    let ours: Vec<&bridge_core::model::Service> = app
        .services
        .values()
        .filter(|s| on_aws(s.provider))
        .collect();
    let pool_arm64 = !fargate
        && !ours.is_empty()
        && ours.iter().all(arm)
        && catalogue.iter().any(|t| t.arm64 && !t.burstable);
    let mut cx = Ctx {
        app,
        fargate,
        awsvpc,
        stock_types: opts.catalogue.is_none(),
        pool_arm64,
        ledger: Ledger::default(),
        diags: Diagnostics::new(),
        files: Vec::new(),
        discovery_names: BTreeSet::new(),
    };
    let cluster = aws.cluster.clone().unwrap_or_else(|| app.name.clone());
    let mut out = EcsApp {
        app: app.name.clone(),
        cluster: cluster.clone(),
        ..EcsApp::default()
    };
    ledger_options(&mut cx);
    for (g, group) in &app.groups {
        if group.placement != bridge_core::model::Placement::default() {
            cx.ledger.approximated(
                format!("groups.{g}.placement"),
                "sizes and labels the container-instance pool; ECS places the group's task by its services' own placement",
            );
        }
    }
    if aws.region.is_none() && app.services.values().any(|s| on_aws(s.provider)) {
        if opts.require_region {
            cx.error(
                "T226",
                "providers.aws.region".into(),
                "no AWS region is given, and none is set in the environment or the AWS config: the task definitions' awslogs-region cannot be written".into(),
                Some("set providers.aws.region in the app, or AWS_REGION (or AWS_DEFAULT_REGION, or a region in ~/.aws/config for AWS_PROFILE)"),
            );
        } else {
            cx.warn(
                "T219",
                "providers.aws.region".into(),
                "no region is given: awslogs is left to send logs to the region the driver deploys to"
                    .into(),
                Some("set providers.aws.region"),
            );
        }
    }

    // Groups in name order; services within a group in start order.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in valid.service_order() {
        if let Some(s) = app.services.get(name)
            && on_aws(s.provider)
        {
            groups
                .entry(group_of(name, s))
                .or_default()
                .push(name.clone());
        }
    }
    for (g, members) in &groups {
        if members.len() == 1
            && members[0] != *g
            && app
                .services
                .get(g)
                .is_some_and(|s| s.group.is_none() && on_aws(s.provider))
        {
            cx.error(
                "T224",
                format!("groups.{g}"),
                format!("group `{g}` and the ungrouped service `{g}` would both be the task family `{}-{g}`", app.name),
                Some("rename the group or the service"),
            );
        }
    }
    for (g, members) in &groups {
        let td = task::build(&mut cx, &aws, g, members);
        // One-shot groups are run once by the driver (RunTask with count = replicas); the
        // service is still built so its fields are ledgered and checked.
        if let Some(svc) = service::build(&mut cx, &aws, &cluster, g, members, &groups, &td)
            && !td.one_shot
        {
            out.services.push(svc);
        }
        out.task_definitions.push(td);
    }
    out.services = service::order(out.services);

    for (name, sec) in &app.secrets {
        if let Some(src) = secret(&mut cx, &aws, name, sec) {
            out.secrets.push(src);
        }
    }

    ledger_unsupported_top(&mut cx);

    for (v, vm) in &app.vms {
        if !on_aws(vm.provider) {
            continue;
        }
        if let Some(i) = ec2::instance(&mut cx, &aws, &catalogue, v, vm) {
            out.instances.push(i);
        }
    }

    let vms = app.vms.values().any(|v| on_aws(v.provider));
    let pool = !fargate && !groups.is_empty();
    if cx.stock_types && (vms || pool) {
        cx.warn(
            "T229",
            "providers.aws".into(),
            "no instance type catalogue from the region: sizes are chosen from the stock t3/m5/c5/r5 list".into(),
            Some("deploy (or plan) reads the region's own types (DescribeInstanceTypes and DescribeInstanceTypeOfferings); a rendered request may name a type the region lacks"),
        );
    }
    if pool {
        out.capacity = ec2::capacity(&mut cx, &aws, &catalogue, &cluster);
    }
    cx.ledger.report_drops(&mut cx.diags, "T230", "aws");
    (out, cx.ledger.into_entries(), cx.diags)
}

/// True when bridge creates the secret in Secrets Manager itself: it has a value source
/// (`env:` or `file:`) and is not external. (With an ARN in `providers.aws.secrets` the ARN wins.)
pub fn is_managed_secret(sec: &bridge_core::model::Secret) -> bool {
    !sec.external && (sec.env.is_some() || sec.file.is_some())
}

/// The late-bound input that stands for the ARN of a secret the driver creates:
/// `secrets.NAME.arn`.
pub fn secret_arn_input(name: &str) -> String {
    format!("secrets.{name}.arn")
}

/// How a task definition reads that input until it is known: `${secrets.NAME.arn}`.
pub fn secret_arn_placeholder(name: &str) -> String {
    format!("${{{}}}", secret_arn_input(name))
}

/// The Secrets Manager name bridge gives a secret it creates: the secret's `name`, else
/// `<app>/<secret>`.
pub fn managed_secret_name(app: &str, name: &str, sec: &bridge_core::model::Secret) -> String {
    sec.name.clone().unwrap_or_else(|| format!("{app}/{name}"))
}

/// The value source of one secret and its ledger lines, from one place: an ARN in
/// `providers.aws.secrets` (the driver writes an `env:`/`file:` value behind it), else, for a
/// secret with a value source that a service on AWS reads, a Secrets Manager secret the driver
/// creates ([`SecretSource::create`]), read by its ARN as the late-bound input
/// `secrets.NAME.arn`.
fn secret(
    cx: &mut Ctx<'_>,
    aws: &bridge_core::model::AwsOptions,
    name: &str,
    sec: &bridge_core::model::Secret,
) -> Option<SecretSource> {
    let app = cx.app;
    let p = format!("secrets.{name}");
    let source = if sec.external {
        "external".to_string()
    } else if let Some(e) = &sec.env {
        format!("env:{e}")
    } else if let Some(f) = &sec.file {
        format!("file:{f}")
    } else {
        "external".to_string()
    };
    let Some(arn) = aws.secrets.get(name) else {
        let read_on_aws = app
            .services
            .values()
            .any(|s| on_aws(s.provider) && s.secrets.iter().any(|r| r.name == name));
        if is_managed_secret(sec) && read_on_aws {
            let sm = managed_secret_name(&app.name, name, sec);
            for f in ["env", "file"] {
                let set = if f == "env" {
                    sec.env.is_some()
                } else {
                    sec.file.is_some()
                };
                if set {
                    cx.ledger.mapped(format!("{p}.{f}"));
                }
            }
            if sec.name.is_some() {
                cx.ledger.mapped(format!("{p}.name"));
            }
            return Some(SecretSource {
                name: name.to_string(),
                arn: secret_arn_placeholder(name),
                source,
                create: Some(sm),
            });
        }
        for (f, set) in [
            ("env", sec.env.is_some()),
            ("file", sec.file.is_some()),
            ("external", sec.external),
            ("name", sec.name.is_some()),
        ] {
            if set {
                cx.ledger.dropped(
                    format!("{p}.{f}"),
                    if sec.external {
                        "ECS reads secrets from an ARN; this external secret has none in providers.aws.secrets"
                    } else {
                        "no service on AWS reads this secret"
                    },
                );
            }
        }
        return None;
    };
    for (f, set) in [("env", sec.env.is_some()), ("file", sec.file.is_some())] {
        if set {
            cx.ledger.claimed(
                format!("{p}.{f}"),
                crate::claims::Claim::StoresInSecretStore,
                "ECS reads the value from the ARN in providers.aws.secrets; the driver writes this source's value there",
            );
        }
    }
    if sec.external {
        cx.ledger.mapped(format!("{p}.external"));
    }
    if sec.name.is_some() {
        cx.ledger.approximated(
            format!("{p}.name"),
            "ECS names the secret by its ARN in providers.aws.secrets",
        );
    }
    Some(SecretSource {
        name: name.to_string(),
        arn: arn.clone(),
        source,
        create: None,
    })
}

/// The late-bound inputs the AWS driver produces for itself: `secrets.NAME.arn` of each
/// secret it creates, with the fields that read it (`services.api.secrets[0]`), and
/// `discovery.GROUP.arn` of each group's Cloud Map service, read by the group's ECS service
/// (`services.db.name` for each of its services).
pub fn own_inputs(valid: &ValidApp) -> Vec<(String, Vec<String>)> {
    let app = valid.app();
    let ecs = build(valid, &Options::default()).0;
    let discovery: Vec<(String, Vec<String>)> = ecs
        .services
        .iter()
        .filter_map(|s| {
            let d = s.discovery.as_ref()?;
            let td = ecs.task_definitions.iter().find(|t| t.group == s.group)?;
            Some((
                d.input.clone(),
                td.services
                    .iter()
                    .map(|m| format!("services.{m}.name"))
                    .collect(),
            ))
        })
        .collect();
    let mut out: Vec<(String, Vec<String>)> = ecs
        .secrets
        .into_iter()
        .filter(|s| s.create.is_some())
        .map(|s| {
            let fields = app
                .services
                .iter()
                .filter(|(_, svc)| on_aws(svc.provider))
                .flat_map(|(n, svc)| {
                    svc.secrets
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.name == s.name)
                        .map(move |(i, _)| format!("services.{n}.secrets[{i}]"))
                })
                .collect();
            (secret_arn_input(&s.name), fields)
        })
        .collect();
    out.extend(discovery);
    out
}

/// Ledger lines for `providers.aws`.
fn ledger_options(cx: &mut Ctx<'_>) {
    let Some(aws) = &cx.app.providers.aws else {
        return;
    };
    let p = |f: &str| format!("providers.aws.{f}");
    let mut set = Vec::new();
    for (f, on) in [
        ("region", aws.region.is_some()),
        ("cluster", aws.cluster.is_some()),
        ("launch_type", aws.launch_type != LaunchType::default()),
        ("instance_type", aws.instance_type.is_some()),
        ("ami", aws.ami.is_some()),
        ("subnets", !aws.subnets.is_empty()),
        ("security_groups", !aws.security_groups.is_empty()),
        ("instance_profile", aws.instance_profile.is_some()),
        ("assign_public_ip", aws.assign_public_ip),
        ("execution_role_arn", aws.execution_role_arn.is_some()),
        ("task_role_arn", aws.task_role_arn.is_some()),
        ("secrets", !aws.secrets.is_empty()),
        ("efs", !aws.efs.is_empty()),
        ("images", !aws.images.is_empty()),
        ("log_group", aws.log_group.is_some()),
        ("services", !aws.services.is_empty()),
    ] {
        if on {
            set.push(f);
        }
    }
    for f in set {
        cx.ledger.mapped(p(f));
    }
    if aws.assign_public_ip && !cx.awsvpc {
        cx.ledger.dropped(
            p("assign_public_ip"),
            "tasks in bridge network mode use their container instance's address",
        );
    }
}

/// Ledger lines for top-level fields ECS has no object for.
fn ledger_unsupported_top(cx: &mut Ctx<'_>) {
    let app = cx.app;
    for (n, net) in &app.networks {
        let p = format!("networks.{n}");
        for (f, set) in [
            ("internal", net.internal),
            ("external", net.external),
            ("name", net.name.is_some()),
            ("driver", net.driver.is_some()),
            ("driver_opts", !net.driver_opts.is_empty()),
            ("labels", !net.labels.is_empty()),
        ] {
            if set {
                cx.ledger.dropped(
                    format!("{p}.{f}"),
                    "ECS has no user-defined networks: tasks share the VPC of providers.aws.subnets, and security groups decide who reaches whom",
                );
            }
        }
        if net.internal {
            cx.warn(
                "T215",
                format!("{p}.internal"),
                format!("ECS has no internal networks; `{n}` is not isolated"),
                Some("use subnets without an internet route and security groups in providers.aws"),
            );
        }
    }
    for (c, cfg) in &app.configs {
        for (f, set) in [
            ("file", cfg.file.is_some()),
            ("content", cfg.content.is_some()),
            ("env", cfg.env.is_some()),
            ("external", cfg.external),
            ("name", cfg.name.is_some()),
        ] {
            if f == "content" && set && !cx.fargate {
                cx.ledger.claimed(
                    format!("configs.{c}.{f}"),
                    crate::claims::Claim::ShipsProjectFiles,
                    "shipped as a file by the init container of each task that mounts it",
                );
            } else if set {
                cx.ledger
                    .dropped(format!("configs.{c}.{f}"), "ECS has no config files");
            }
        }
    }
    for (g, grp) in &app.groups {
        // Group placement is ledgered by the service builder; an empty group is mapped here.
        if grp.placement == Default::default() {
            cx.ledger.mapped(format!("groups.{g}"));
        }
    }
    for (v, vol) in &app.volumes {
        let p = format!("volumes.{v}");
        if *vol == Default::default() {
            cx.ledger.mapped(p.clone());
        }
        let efs = app
            .providers
            .aws
            .as_ref()
            .is_some_and(|a| a.efs.contains_key(v));
        if vol.size.is_some() {
            cx.ledger.approximated(
                format!("{p}.size"),
                if efs {
                    "EFS grows as needed; it takes no size"
                } else {
                    "docker volumes grow as needed; they take no size"
                },
            );
        }
        for (f, set) in [
            ("driver", vol.driver.is_some()),
            ("driver_opts", !vol.driver_opts.is_empty()),
            ("labels", !vol.labels.is_empty()),
        ] {
            if set {
                if efs || cx.fargate {
                    cx.ledger.dropped(
                        format!("{p}.{f}"),
                        "an EFS or Fargate task volume has no docker driver, options or labels",
                    );
                } else {
                    cx.ledger.mapped(format!("{p}.{f}"));
                }
            }
        }
        if vol.external {
            cx.ledger.mapped(format!("{p}.external"));
        }
        if vol.name.is_some() {
            if efs {
                cx.ledger.approximated(
                    format!("{p}.name"),
                    "the EFS file system in providers.aws.efs names the storage",
                );
            } else {
                cx.ledger.mapped(format!("{p}.name"));
            }
        }
    }
}

/// True when a restart policy means the container runs once.
fn runs_once(r: RestartPolicy) -> bool {
    r == RestartPolicy::Never
}

#[cfg(test)]
mod tests;
