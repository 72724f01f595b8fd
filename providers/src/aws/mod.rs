//! The AWS driver: ECS on EC2 container instances bridge launches, or on Fargate. Credentials
//! and region come from aws-config's default chain (`providers.aws.region` wins over
//! `AWS_REGION`), endpoints from `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`.
//!
//! What it owns, each tagged `bridge.app`, `bridge.component` and `bridge.spec-hash`, in apply
//! rank order: the ECS cluster (and the awslogs log groups), the app's security group with the
//! published ports, the EC2 instances (the container-instance pool the placement solver sized,
//! and the app's VMs), one task definition family per group (a new revision only when the spec
//! hash changes; older revisions beyond [`KEEP_REVISIONS`] deregistered after the service moved),
//! the Cloud Map namespace `<app>.local` and one Cloud Map service per ECS service (names across
//! tasks; their ARNs are the late-bound inputs `discovery.GROUP.arn`), and one ECS service per
//! long-running group, registered in its Cloud Map service. Destroy runs in reverse: services scaled to 0 and
//! deleted, task definitions deregistered, instances terminated (and waited for), the security
//! group and the cluster deleted.
//!
//! Idempotency: every create first looks for the tagged resource; RunInstances and CreateService
//! carry client tokens derived from the component and its spec hash, so a retry (or a rerun
//! after `kill -9`) never duplicates.

mod client;
mod discovery;
mod ec2;
mod ecs;
pub mod export;
pub mod route53;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_config::BehaviorVersion;
use bridge_core::model::{AwsOptions, LaunchType, ProviderKind};
use bridge_core::plan::{Current, Dependency, Desired, ResourceId, Step};
use bridge_core::{Diagnostics, ValidApp};
use bridge_translators::ecs::{self as tr, TAG_COMPONENT, TAG_SPEC_HASH};
use serde_json::{Value, json};

pub(crate) use client::{Client, Svc};

use crate::{Capabilities, ComponentStatus, Driver, DriverError, ErrorKind, Readiness};

pub(crate) const PROVIDER: &str = "aws";

/// Task definition revisions kept per family after a successful deploy.
pub const KEEP_REVISIONS: usize = 3;

/// The SSM parameter with the ECS-optimised Amazon Linux 2023 AMI.
pub const ECS_AMI_PARAMETER: &str =
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

const RANK_CLUSTER: u32 = 0;
const RANK_SECURITY_GROUP: u32 = 1;
const RANK_SECRET: u32 = 1;
const RANK_NAMESPACE: u32 = 1;
const RANK_DISCOVERY: u32 = 2;
const RANK_INSTANCE: u32 = 2;
const RANK_TASK_DEFINITION: u32 = 3;
const RANK_SERVICE: u32 = 10;

/// The AWS driver.
#[derive(Debug)]
pub struct AwsDriver {
    pub(crate) client: Client,
    /// The app's `providers.aws` (cluster, subnets, secrets, ...).
    pub(crate) options: AwsOptions,
    /// How long a launched instance may take to register with the cluster.
    pub(crate) register_timeout: Duration,
    /// How long terminations and service drains may take.
    pub(crate) delete_timeout: Duration,
    /// Where relative secret files are read from.
    pub(crate) base_dir: PathBuf,
    /// Secret ARN -> (neutral name, value source `env:VAR` / `file:PATH` / `external`).
    pub(crate) secret_sources: BTreeMap<String, (String, String)>,
    /// The ARNs of the secrets the driver created for the app (neutral name -> ARN), as the
    /// last [`Driver::observe`] found them: the values of the late-bound inputs
    /// `secrets.NAME.arn`.
    pub(crate) secret_arns: std::sync::Mutex<BTreeMap<String, String>>,
    /// The ARNs of the app's Cloud Map services (group -> ARN), as the last [`Driver::observe`]
    /// found them: the values of the late-bound inputs `discovery.GROUP.arn`.
    pub(crate) discovery_arns: std::sync::Mutex<BTreeMap<String, String>>,
    /// The region's instance types, read once per run by [`Driver::verify`]
    /// ([`AwsDriver::instance_types`]).
    pub(crate) instance_types: std::sync::OnceLock<Vec<tr::InstanceType>>,
}

pub(crate) fn err(
    resource: impl Into<String>,
    kind: ErrorKind,
    message: impl Into<String>,
) -> DriverError {
    DriverError::new(PROVIDER, resource, kind, message)
}

/// A region name as AWS spells them (`us-east-1`, `eu-central-2`, `us-gov-west-1`,
/// `cn-north-1`, `ap-southeast-5`).
pub fn region_is_valid(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let known = ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx", "cn"];
    match parts.as_slice() {
        [geo, dir, n] => {
            known.contains(geo)
                && !dir.is_empty()
                && dir.chars().all(|c| c.is_ascii_lowercase())
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
        }
        [geo, "gov" | "iso" | "isob", dir, n] => {
            known.contains(geo)
                && dir.chars().all(|c| c.is_ascii_lowercase())
                && n.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// The region `render` writes when the app gives none: from the same sources as the driver's
/// credential chain, without its network ones (the instance metadata service): `AWS_REGION`,
/// `AWS_DEFAULT_REGION`, then the region of the profile (`AWS_PROFILE`, default `default`) in
/// the AWS config files (`AWS_CONFIG_FILE`, `~/.aws/config`). `None` when none sets one.
pub fn render_region() -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let chain = aws_config::meta::region::RegionProviderChain::first_try(
            aws_config::environment::region::EnvironmentVariableRegionProvider::new(),
        )
        .or_else(aws_config::profile::ProfileFileRegionProvider::new());
        chain.region().await.map(|r| r.to_string())
    })
}

fn env_secs(k: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default),
    )
}

/// Settings that take the place of the environment's (for tests, and programs embedding the
/// driver): endpoint, region (the app's `providers.aws.region` still wins) and static keys.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Instead of `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Instead of `AWS_REGION`.
    pub region: Option<String>,
    /// Access key id and secret key, instead of the default credential chain.
    pub keys: Option<(String, String)>,
}

impl AwsDriver {
    /// Resolve credentials and region with aws-config's default chain (the app's
    /// `providers.aws.region` first), and check both are usable. Makes no AWS call but the
    /// credential providers' own.
    pub async fn connect(app: &ValidApp, base_dir: PathBuf) -> Result<Self, DriverError> {
        Self::connect_with(app, base_dir, Overrides::default()).await
    }

    /// [`AwsDriver::connect`] with some settings given instead of read from the environment.
    pub async fn connect_with(
        app: &ValidApp,
        base_dir: PathBuf,
        over: Overrides,
    ) -> Result<Self, DriverError> {
        let options = app.app().providers.aws.clone().unwrap_or_default();
        let client = Self::client_for(&options, &over).await?;
        let secret_sources = tr::build(app, &tr::Options::default())
            .0
            .secrets
            .into_iter()
            .map(|s| (s.arn, (s.name, s.source)))
            .collect();
        Ok(Self::with(client, options, base_dir, secret_sources))
    }

    /// The driver over `client`, with nothing looked up yet and the timeouts from the
    /// environment.
    fn with(
        client: Client,
        options: AwsOptions,
        base_dir: PathBuf,
        secret_sources: BTreeMap<String, (String, String)>,
    ) -> Self {
        AwsDriver {
            secret_sources,
            secret_arns: std::sync::Mutex::default(),
            discovery_arns: std::sync::Mutex::default(),
            instance_types: std::sync::OnceLock::new(),
            client,
            options,
            register_timeout: env_secs("BRIDGE_AWS_REGISTER_SECONDS", 600),
            delete_timeout: env_secs("BRIDGE_AWS_DELETE_SECONDS", 600),
            base_dir,
        }
    }

    /// A driver for reading what a region holds without an app (`bridge export -p aws`):
    /// credentials, region and endpoints resolved exactly as for a deploy, the app options
    /// empty (the region from `over` or the environment).
    pub async fn connect_bare(base_dir: PathBuf, over: Overrides) -> Result<Self, DriverError> {
        let options = AwsOptions::default();
        let client = Self::client_for(&options, &over).await?;
        Ok(Self::with(client, options, base_dir, BTreeMap::new()))
    }

    /// The signed-request client: aws-config's default chain (the app's region first), with
    /// the overrides; checks the region and that credentials resolve.
    async fn client_for(options: &AwsOptions, over: &Overrides) -> Result<Client, DriverError> {
        // The credential providers' own HTTPS client (SSO, STS, IMDS), on ring.
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
        if let Some(r) = options.region.clone().or(over.region.clone()) {
            loader = loader.region(aws_config::Region::new(r));
        }
        if let Some(e) = &over.endpoint_url {
            loader = loader.endpoint_url(e.clone());
        }
        if let Some((a, s)) = &over.keys {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                a.clone(),
                s.clone(),
                None,
                None,
                "bridge-overrides",
            ));
        }
        let conf = loader.load().await;
        let region = conf.region().map(|r| r.to_string()).ok_or_else(|| {
            err("-", ErrorKind::NotInitialised, "no AWS region is set").with_hint(
                "set providers.aws.region in the app, or AWS_REGION (or a region in ~/.aws/config)",
            )
        })?;
        if !region_is_valid(&region) {
            let from = if options.region.is_some() {
                "providers.aws.region"
            } else {
                "the environment (AWS_REGION / AWS_DEFAULT_REGION / ~/.aws/config)"
            };
            return Err(err(
                "-",
                ErrorKind::NotInitialised,
                format!("unknown AWS region `{region}` (from {from})"),
            )
            .with_hint("use a region name such as us-east-1 or eu-west-1"));
        }
        let creds = conf.credentials_provider().ok_or_else(|| {
            err(
                "-",
                ErrorKind::Unreachable,
                "no AWS credential provider is configured",
            )
            .with_hint("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
        })?;
        let client = Client::new(creds, region, conf.endpoint_url().map(str::to_string))?;
        client.credentials().await?;
        Ok(client)
    }

    /// The region in use.
    pub fn region(&self) -> &str {
        &self.client.region
    }

    /// The translator's options for this driver: the region in use written as
    /// `awslogs-region` when the app gives none, as `render` does with [`render_region`].
    /// VMs and the container-instance pool are sized from the region's instance types once
    /// [`Driver::verify`] has read them (else from the stock list, warning T229).
    pub fn translator_options(&self) -> tr::Options {
        tr::Options {
            region: Some(self.client.region.clone()),
            catalogue: self.instance_types.get().cloned(),
            ..tr::Options::default()
        }
    }

    /// The instance types the region offers (DescribeInstanceTypeOfferings and
    /// DescribeInstanceTypes, every page). Read once per driver; later calls reuse the list.
    pub async fn instance_types(&self) -> Result<Vec<tr::InstanceType>, DriverError> {
        if let Some(t) = self.instance_types.get() {
            return Ok(t.clone());
        }
        let out = ec2::instance_types(self).await?;
        if out.is_empty() {
            return Err(err(
                "-",
                ErrorKind::NotFound,
                format!("region {} lists no instance types", self.client.region),
            )
            .with_hint("check the region (providers.aws.region or AWS_REGION) and the ec2:DescribeInstanceTypes permission"));
        }
        tracing::debug!(types = out.len(), "ec2 instance types");
        Ok(self.instance_types.get_or_init(|| out).clone())
    }

    /// The ECS endpoint in use.
    pub fn ecs_endpoint(&self) -> String {
        self.client.endpoint(Svc::Ecs)
    }

    pub(crate) fn cluster(&self, app: &str) -> String {
        self.options
            .cluster
            .clone()
            .unwrap_or_else(|| app.to_string())
    }

    pub(crate) async fn ecs(
        &self,
        op: &str,
        resource: &str,
        body: Value,
    ) -> Result<Value, DriverError> {
        self.client
            .json(Svc::Ecs, op, &body)
            .await
            .map_err(|e| e.into_driver(op, resource))
    }
}

/// The spec hash of a spec as [`desired`] computes it for the cluster, the security group and
/// the instances.
pub(crate) fn bridge_core_hash(spec: &Value) -> String {
    bridge_core::hash::spec_hash(spec)
}

/// `bridge.component` of a tag list (ECS `key`/`value` or EC2 `Key`/`Value`).
pub(crate) fn tag_of<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// ECS tags (`key`/`value`) as pairs.
pub(crate) fn ecs_tags(v: &Value) -> Vec<(String, String)> {
    tag_pairs(v, "key", "value")
}

/// Tags as the other services write them (`Key`/`Value`: Secrets Manager, Cloud Map, EC2) as
/// pairs.
pub(crate) fn kv_tags(v: &Value) -> Vec<(String, String)> {
    tag_pairs(v, "Key", "Value")
}

fn tag_pairs(v: &Value, key: &str, value: &str) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t[key].as_str()?.to_string(), t[value].as_str()?.to_string())))
        .collect()
}

/// The resource id a component tag names.
pub(crate) fn component_id(c: &str) -> Option<ResourceId> {
    let (k, n) = c.split_once('/')?;
    Some(ResourceId::new(k, n))
}

fn hash_of_tags(tags: &[tr::api::Tag]) -> String {
    tags.iter()
        .find(|t| t.key == TAG_SPEC_HASH)
        .map(|t| t.value.clone())
        .unwrap_or_default()
}

/// The `bridge.spec-hash` of a `Key`/`Value` tag list the translator wrote.
fn tr_hash_of(tags: &Value) -> String {
    tags.as_array()
        .into_iter()
        .flatten()
        .find(|t| t["Key"] == TAG_SPEC_HASH)
        .and_then(|t| t["Value"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn with_hash(spec: &mut Value, hash: &str, key: &str, value: &str) {
    if let Some(t) = spec.get_mut("tags").and_then(Value::as_array_mut) {
        t.retain(|x| x[key] != TAG_SPEC_HASH);
        t.push(json!({key: TAG_SPEC_HASH, value: hash}));
    }
}

/// The ports the app's security group opens: `tcp/80`, sorted.
fn ingress_of(ecs: &tr::EcsApp, awsvpc: bool) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for td in &ecs.task_definitions {
        for c in &td.body.container_definitions {
            for p in &c.port_mappings {
                let port = if awsvpc {
                    Some(p.container_port)
                } else {
                    p.host_port.filter(|h| *h != 0)
                };
                if let Some(port) = port {
                    out.insert(format!("{}/{port}", p.protocol));
                }
            }
        }
    }
    for i in &ecs.instances {
        for p in &i.ports {
            let proto = format!("{:?}", p.protocol).to_ascii_lowercase();
            let port = p.published.unwrap_or(p.container);
            out.insert(format!("{proto}/{port}"));
        }
    }
    out.into_iter().collect()
}

/// What [`desired_with`] knows of the secrets the driver creates: their ARNs (the late-bound
/// inputs `secrets.NAME.arn`, from the last observe) and a fold of each value (a hash, never
/// the value), so that a changed value changes the secret's and its readers' spec hashes.
#[derive(Debug, Clone, Default)]
pub struct SecretsKnown {
    /// Neutral name -> ARN.
    pub arns: BTreeMap<String, String>,
    /// Neutral name -> hash of the value.
    pub values: BTreeMap<String, String>,
    /// Group -> ARN of its Cloud Map service (the late-bound inputs `discovery.GROUP.arn`).
    pub discovery: BTreeMap<String, String>,
}

/// The desired resources of an app on AWS, hashed and ranked (pure), with nothing known of
/// the secrets the driver creates.
pub fn desired(app: &ValidApp) -> (Vec<Desired>, Diagnostics) {
    desired_with(app, &SecretsKnown::default(), &tr::Options::default())
}

/// The hash of a secret value that [`SecretsKnown::values`] holds.
pub(crate) fn value_fold(name: &str, value: &str) -> String {
    bridge_core::hash::spec_hash(&("bridge secret value", name, value))
}

/// The desired resources of an app on AWS, hashed and ranked: [`desired`] with the secrets'
/// ARNs written into the task definitions that read them, and their values' hashes folded
/// into the spec hashes of the secrets and of those task definitions (so their services
/// follow).
pub fn desired_with(
    app: &ValidApp,
    known: &SecretsKnown,
    opts: &tr::Options,
) -> (Vec<Desired>, Diagnostics) {
    let (mut ecs, _ledger, diags) = tr::build(app, opts);
    let name = ecs.app.clone();
    let aws = app.app().providers.aws.clone().unwrap_or_default();
    let fargate = aws.launch_type == LaunchType::Fargate;
    let mut out = Vec::new();
    let mut push =
        |id: ResourceId, spec: Value, rank: u32, in_place: bool, deps: Vec<Dependency>| {
            let hash = bridge_core::hash::spec_hash(&spec);
            out.push(Desired {
                id,
                spec_hash: hash,
                spec,
                rank,
                in_place,
                depends_on: deps,
            });
        };
    if ecs.task_definitions.is_empty() && ecs.instances.is_empty() {
        return (Vec::new(), diags);
    }
    let log_groups: Vec<String> = {
        let mut s = std::collections::BTreeSet::new();
        for td in &ecs.task_definitions {
            for c in &td.body.container_definitions {
                if let Some(l) = &c.log_configuration
                    && l.log_driver == "awslogs"
                    && let Some(g) = l.options.get("awslogs-group")
                {
                    s.insert(g.clone());
                }
            }
        }
        s.into_iter().collect()
    };
    push(
        ResourceId::new("cluster", ecs.cluster.clone()),
        json!({"clusterName": ecs.cluster, "logGroups": log_groups}),
        RANK_CLUSTER,
        true,
        Vec::new(),
    );
    let awsvpc = fargate;
    let ingress = ingress_of(&ecs, awsvpc);
    let needs_sg = ecs.capacity.is_some()
        || !ecs.instances.is_empty()
        || (fargate && !ecs.services.is_empty());
    if needs_sg {
        push(
            ResourceId::new("security-group", name.clone()),
            json!({"GroupName": format!("bridge-{name}"), "Ingress": ingress, "Subnet": aws.subnets.first()}),
            RANK_SECURITY_GROUP,
            true,
            Vec::new(),
        );
    }
    if let Some(cap) = &ecs.capacity {
        let mut n = 0;
        for pool in &cap.pools {
            for _ in 0..pool.count {
                n += 1;
                push(
                    ResourceId::new("instance", format!("host-{n}")),
                    json!({
                        "Role": "container-instance",
                        "Cluster": cap.cluster,
                        "ImageId": cap.image_id.clone().unwrap_or_else(|| format!("resolve:ssm:{ECS_AMI_PARAMETER}")),
                        "InstanceType": pool.instance_type,
                        "Attributes": pool.attributes,
                        "IamInstanceProfile": cap.instance_profile,
                        "SubnetId": aws.subnets.get((n - 1) % aws.subnets.len().max(1)),
                        "SecurityGroupIds": aws.security_groups,
                    }),
                    RANK_INSTANCE,
                    false,
                    Vec::new(),
                );
            }
        }
    }
    for i in &ecs.instances {
        let count = i.body.min_count.max(1);
        for r in 0..count {
            let n = if count == 1 {
                i.vm.clone()
            } else {
                format!("{}-{}", i.vm, r + 1)
            };
            let mut body = serde_json::to_value(&i.body).unwrap_or(Value::Null);
            body["MinCount"] = json!(1);
            body["MaxCount"] = json!(1);
            if let Some(s) = aws.subnets.get(r as usize % aws.subnets.len().max(1)) {
                body["SubnetId"] = json!(s);
            }
            if let Some(ts) = body["TagSpecifications"].as_array_mut() {
                for t in ts {
                    if let Some(tags) = t["Tags"].as_array_mut() {
                        tags.retain(|x| x["Key"] != TAG_SPEC_HASH);
                        for x in tags.iter_mut() {
                            if x["Key"] == TAG_COMPONENT {
                                x["Value"] = json!(format!("instance/{n}"));
                            }
                        }
                    }
                }
            }
            push(
                ResourceId::new("instance", n),
                json!({"Role": "vm", "RunInstances": body}),
                RANK_INSTANCE,
                false,
                Vec::new(),
            );
        }
    }
    // The secrets the driver creates in Secrets Manager (no ARN in providers.aws.secrets).
    let mut secret_hash: BTreeMap<String, (String, String)> = BTreeMap::new();
    for s in &ecs.secrets {
        let Some(sm) = &s.create else { continue };
        let mut spec = json!({
            "Name": sm,
            "Source": s.source,
            "Tags": [
                {"Key": tr::TAG_APP, "Value": name},
                {"Key": TAG_COMPONENT, "Value": format!("secret/{}", s.name)},
            ],
        });
        let base = bridge_core::hash::spec_hash(&spec);
        let hash = match known.values.get(&s.name) {
            Some(v) => bridge_core::hash::spec_hash(&(base, v)),
            None => base,
        };
        if let Some(t) = spec["Tags"].as_array_mut() {
            t.push(json!({"Key": TAG_SPEC_HASH, "Value": hash}));
        }
        secret_hash.insert(s.arn.clone(), (s.name.clone(), hash.clone()));
        out.push(Desired {
            id: ResourceId::new("secret", s.name.clone()),
            spec_hash: hash,
            spec,
            rank: RANK_SECRET,
            in_place: true,
            depends_on: Vec::new(),
        });
    }
    // Task definitions read them by ARN, once known; their hash follows the secret's.
    let mut td_secrets: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for td in &mut ecs.task_definitions {
        for c in &mut td.body.container_definitions {
            for sec in &mut c.secrets {
                let Some((n, h)) = secret_hash.get(&sec.value_from) else {
                    continue;
                };
                if let Some(arn) = known.arns.get(n) {
                    sec.value_from = arn.clone();
                }
                td_secrets
                    .entry(td.group.clone())
                    .or_default()
                    .push((sec.value_from.clone(), h.clone()));
            }
        }
    }
    let mut td_hash: BTreeMap<String, String> = BTreeMap::new();
    for td in &ecs.task_definitions {
        let mut hash = hash_of_tags(&td.body.tags);
        if let Some(read) = td_secrets.get(&td.group) {
            hash = bridge_core::hash::spec_hash(&(hash, read));
        }
        td_hash.insert(td.group.clone(), hash.clone());
        let mut spec = serde_json::to_value(&td.body).unwrap_or(Value::Null);
        with_hash(&mut spec, &hash, "key", "value");
        if td.one_shot
            && let Some(o) = spec.as_object_mut()
        {
            let count = td
                .services
                .iter()
                .filter_map(|s| app.app().services.get(s))
                .map(|s| s.replicas.max(1))
                .max()
                .unwrap_or(1);
            o.insert(ecs::RUN_ONCE.into(), json!({"count": count}));
        }
        out.push(Desired {
            id: ResourceId::new("task-definition", td.group.clone()),
            spec_hash: hash,
            spec,
            rank: RANK_TASK_DEFINITION,
            in_place: true,
            depends_on: Vec::new(),
        });
    }
    // Names across tasks: the app's Cloud Map namespace (Service Connect's, and the records')
    // and one Cloud Map service per group whose tasks register a name; each ECS service reads
    // its ARN once known.
    if ecs
        .services
        .iter()
        .any(|s| s.discovery.is_some() || s.body.service_connect_configuration.is_some())
    {
        let mut spec = tr::namespace_body(&name);
        spec["Subnet"] = json!(aws.subnets.first());
        let hash = tr_hash_of(&spec["Tags"]);
        out.push(Desired {
            id: ResourceId::new("namespace", name.clone()),
            spec_hash: hash,
            spec,
            rank: RANK_NAMESPACE,
            in_place: true,
            depends_on: Vec::new(),
        });
    }
    for s in &mut ecs.services {
        let Some(dsc) = &s.discovery else { continue };
        out.push(Desired {
            id: ResourceId::new("discovery", s.group.clone()),
            spec_hash: tr_hash_of(&dsc.body["Tags"]),
            spec: dsc.body.clone(),
            rank: RANK_DISCOVERY,
            in_place: false,
            depends_on: Vec::new(),
        });
        if let Some(arn) = known.discovery.get(&s.group) {
            for r in &mut s.body.service_registries {
                r.registry_arn = arn.clone();
            }
        }
    }
    let mut depth: BTreeMap<String, u32> = BTreeMap::new();
    for s in &ecs.services {
        let d = s
            .after
            .iter()
            .filter_map(|g| depth.get(g).map(|x| x + 1))
            .max()
            .unwrap_or(0);
        depth.insert(s.group.clone(), d);
        let registries: Vec<&str> = s
            .body
            .service_registries
            .iter()
            .map(|r| r.registry_arn.as_str())
            .collect();
        let hash = if registries.is_empty() {
            bridge_core::hash::spec_hash(&(
                hash_of_tags(&s.body.tags),
                td_hash.get(&s.group),
                s.default_subnets,
            ))
        } else {
            // The registry's ARN as resolved: a replaced Cloud Map service updates the service.
            bridge_core::hash::spec_hash(&(
                hash_of_tags(&s.body.tags),
                td_hash.get(&s.group),
                s.default_subnets,
                registries,
            ))
        };
        let mut spec = serde_json::to_value(&s.body).unwrap_or(Value::Null);
        with_hash(&mut spec, &hash, "key", "value");
        if let Some(o) = spec.as_object_mut() {
            o.insert("defaultSubnets".into(), json!(s.default_subnets));
        }
        out.push(Desired {
            id: ResourceId::new("service", s.group.clone()),
            spec_hash: hash,
            spec,
            rank: RANK_SERVICE + d,
            in_place: true,
            depends_on: s
                .after
                .iter()
                .map(|g| Dependency {
                    resource: ResourceId::new("service", g.clone()),
                    healthy: s.healthy_after.contains(g),
                })
                .collect(),
        });
    }
    (out, diags)
}

impl Driver for AwsDriver {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vms: true,
            groups: true,
            owns_hosts: true,
            in_place_updates: true,
            health: true,
        }
    }

    /// [`desired_with`] with the ARNs of the secrets the last observe found and the hashes of
    /// their values as read now (from `env:`/`file:`; an unreadable one is reported at apply).
    fn desired(&self, app: &ValidApp) -> (Vec<Desired>, Diagnostics) {
        let mut known = SecretsKnown {
            arns: self
                .secret_arns
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default(),
            values: BTreeMap::new(),
            discovery: self
                .discovery_arns
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default(),
        };
        for s in tr::build(app, &tr::Options::default()).0.secrets {
            if s.create.is_some()
                && let Ok(Some(v)) = ecs::read_secret_value(self, &s.name, &s.source)
            {
                known.values.insert(s.name.clone(), value_fold(&s.name, &v));
            }
        }
        desired_with(app, &known, &self.translator_options())
    }

    /// `secrets.NAME.arn` of each secret the driver creates and `discovery.GROUP.arn` of each
    /// Cloud Map service, with the ARN the last observe found.
    fn own_inputs(&self, app: &ValidApp) -> Vec<crate::OwnInput> {
        let arns = self
            .secret_arns
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        let discovery = self
            .discovery_arns
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        tr::own_inputs(app)
            .into_iter()
            .map(|(name, fields)| {
                let of = |prefix: &str, m: &BTreeMap<String, String>| {
                    name.strip_prefix(prefix)
                        .and_then(|n| n.strip_suffix(".arn"))
                        .and_then(|n| m.get(n).cloned())
                };
                crate::OwnInput {
                    value: of("secrets.", &arns).or_else(|| of("discovery.", &discovery)),
                    name,
                    fields,
                }
            })
            .collect()
    }

    /// Reachable and authorised: one cheap ECS read. An account is always "set up" for ECS;
    /// the cluster is one of the app's resources.
    async fn check(&self) -> Result<Readiness, DriverError> {
        self.ecs("ListClusters", "-", json!({"maxResults": 1}))
            .await?;
        Ok(Readiness::Ready)
    }

    async fn initialise(&self) -> Result<(), DriverError> {
        Ok(())
    }

    /// Before a plan, deploy or reconcile: the secret ARNs the app names exist, and the
    /// region's instance types (the catalogue VMs and the container-instance pool are sized
    /// from) are read, once per run. `status` and `destroy` need neither.
    async fn verify(&self, app: &ValidApp) -> Result<(), DriverError> {
        self.instance_types().await?;
        ecs::verify_secrets(self, app).await
    }

    async fn observe(&self, app: &str) -> Result<Vec<Current>, DriverError> {
        let mut out = ecs::observe(self, app).await?;
        out.extend(ec2::observe(self, app).await?);
        let secrets = ecs::observe_secrets(self, app).await?;
        if let Ok(mut m) = self.secret_arns.lock() {
            *m = secrets
                .iter()
                .map(|c| (c.id.name.clone(), c.handle.clone()))
                .collect();
        }
        out.extend(secrets);
        let names = discovery::observe(self, app).await?;
        if let Ok(mut m) = self.discovery_arns.lock() {
            *m = names
                .iter()
                .filter(|c| c.id.kind == "discovery")
                .map(|c| (c.id.name.clone(), c.handle.clone()))
                .collect();
        }
        out.extend(names);
        Ok(out)
    }

    async fn apply(&self, app: &str, step: &Step) -> Result<(), DriverError> {
        if step.action == bridge_core::plan::Action::Adopt {
            return match step.resource.kind.as_str() {
                "cluster" | "task-definition" | "service" => ecs::adopt(self, app, step).await,
                "namespace" | "discovery" => discovery::adopt(self, step).await,
                other => Err(err(
                    step.resource.to_string(),
                    ErrorKind::Other,
                    format!("a {other} cannot be adopted in place on aws"),
                )),
            };
        }
        match step.resource.kind.as_str() {
            "cluster" => ecs::apply_cluster(self, app, step).await,
            "security-group" => ec2::apply_security_group(self, app, step).await,
            "instance" => ec2::apply_instance(self, app, step).await,
            "task-definition" => ecs::apply_task_definition(self, app, step).await,
            "secret" => ecs::apply_secret(self, app, step).await,
            "namespace" => discovery::apply_namespace(self, app, step).await,
            "discovery" => discovery::apply_service(self, app, step).await,
            "service" => ecs::apply_service(self, app, step).await,
            other => Err(err(
                step.resource.to_string(),
                ErrorKind::Other,
                format!("the aws driver has no resource kind `{other}`"),
            )),
        }
    }

    /// The ECS cluster, task definition families and services, the Cloud Map namespace and
    /// services that have the app's names but not its tags ([`ecs::unowned`],
    /// [`discovery::unowned`]). A service registered in a Cloud Map service adopted with it
    /// is read with the registry as the app names it before its ARN is known
    /// (`${discovery.GROUP.arn}`).
    async fn unowned(
        &self,
        app: &str,
        desired: &[Desired],
    ) -> Result<Vec<bridge_core::plan::Unowned>, DriverError> {
        let mut out = discovery::unowned(self, app, desired).await?;
        let mut ecs = ecs::unowned(self, app, desired).await?;
        for u in ecs.iter_mut().filter(|u| u.id.kind == "service") {
            let Some(found) = out
                .iter()
                .find(|x| x.id.kind == "discovery" && x.id.name == u.id.name)
            else {
                continue;
            };
            let wanted = desired
                .iter()
                .find(|x| x.id == u.id)
                .map(|x| x.spec["serviceRegistries"].clone())
                .unwrap_or(Value::Null);
            let Some(spec) = u.spec.as_mut() else {
                continue;
            };
            for (i, r) in spec["serviceRegistries"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let placeholder = wanted[i]["registryArn"].as_str().unwrap_or_default();
                if r["registryArn"] == found.handle.as_str() && placeholder.starts_with("${") {
                    r["registryArn"] = json!(placeholder);
                }
            }
        }
        out.extend(ecs);
        Ok(out)
    }

    async fn wait_ready(
        &self,
        app: &str,
        resource: &ResourceId,
        healthy: bool,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        if resource.kind != "service" {
            return Ok(());
        }
        ecs::wait_service(self, app, &resource.name, healthy, timeout).await
    }

    /// The ECS services, then each of the app's VMs (container hosts are not components):
    /// running when EC2 says so, its state otherwise.
    async fn status(&self, app: &str) -> Result<Vec<ComponentStatus>, DriverError> {
        let mut out = ecs::status(self, app).await?;
        let live = ["pending", "running", "stopping", "stopped"];
        let mut vms = ec2::instances(self, app, &live).await?;
        vms.sort_by(|a, b| a.tags.get(TAG_COMPONENT).cmp(&b.tags.get(TAG_COMPONENT)));
        for i in vms {
            let Some(name) = i
                .tags
                .get(TAG_COMPONENT)
                .and_then(|c| c.strip_prefix("instance/"))
            else {
                continue;
            };
            if name.starts_with("host-") {
                continue;
            }
            let running = u64::from(i.state == "running");
            out.push(ComponentStatus {
                resource: ResourceId::new("instance", name),
                desired: 1,
                running,
                health: "-".into(),
                errors: if running == 1 || i.state == "pending" {
                    Vec::new()
                } else {
                    vec![format!("instance {} is {}", i.id, i.state)]
                },
            });
        }
        Ok(out)
    }

    async fn cleanup(&self, _app: &str) -> Result<(), DriverError> {
        Ok(())
    }

    /// The app's VMs on AWS that are pending or running, with the private address EC2 reports
    /// (DescribeInstances).
    async fn outputs(&self, app: &str) -> Result<Vec<crate::Address>, DriverError> {
        Ok(ec2::vm_addresses(self, app)
            .await?
            .into_iter()
            .map(|(vm, ip)| crate::Address {
                component: format!("vms.{vm}"),
                private: Some(ip),
                public: None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-5",
            "us-gov-west-1",
            "cn-north-1",
        ] {
            assert!(region_is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "mars-north-9",
            "US-EAST-1",
            "us-east-1a",
            "useast1",
        ] {
            assert!(!region_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn a_healthy_dependency_across_tasks_is_a_health_gate() {
        let y = "bridge: v1\nname: h\nservices:\n  api:\n    image: x\n    depends_on: [{service: db, condition: healthy}, cache]\n  db:\n    image: x\n    health: {test: 'true'}\n  cache:\n    image: x\nproviders:\n  aws: {region: us-east-1, launch_type: fargate}\n";
        let l = bridge_core::load_str(
            &std::sync::Arc::from("h.yaml"),
            y,
            std::path::Path::new("."),
            &bridge_core::LoadOptions::default(),
        );
        let Some(v) = l.valid else {
            panic!("{:?}", l.diagnostics)
        };
        let d = desired(&v).0;
        let api = d
            .iter()
            .find(|x| x.id == ResourceId::new("service", "api"))
            .unwrap_or_else(|| panic!("no service/api"));
        let gates: Vec<(String, bool)> = api
            .depends_on
            .iter()
            .map(|x| (x.resource.name.clone(), x.healthy))
            .collect();
        assert_eq!(gates, [("cache".into(), false), ("db".into(), true)]);
    }

    #[test]
    fn health_detail_shows_what_ecs_reports() {
        let t = json!({"healthStatus": "UNHEALTHY", "stoppedReason": "Task failed container health checks",
            "containers": [{"name": "db", "healthStatus": "UNHEALTHY"}]});
        assert_eq!(
            ecs::health_detail(&t),
            "stopped: Task failed container health checks (container db: UNHEALTHY)"
        );
        let td = json!({"containerDefinitions": [
            {"name": "a", "healthCheck": {"command": ["CMD-SHELL", "true"]}},
            {"name": "b", "healthCheck": {"command": ["NONE"]}},
            {"name": "c", "essential": false, "healthCheck": {"command": ["CMD", "true"]}},
            {"name": "d"}]});
        assert_eq!(ecs::checked_containers(&td), ["a"]);
    }

    #[test]
    fn the_service_hash_follows_its_task_definition() {
        let load = |image: &str| {
            let y = format!(
                "bridge: v1\nname: h\nservices:\n  web:\n    image: {image}\n    resources: {{cpus: 0.25, memory: 128MiB}}\nproviders:\n  aws: {{region: us-east-1}}\n"
            );
            let l = bridge_core::load_str(
                &std::sync::Arc::from("h.yaml"),
                &y,
                std::path::Path::new("."),
                &bridge_core::LoadOptions::default(),
            );
            match l.valid {
                Some(v) => desired(&v).0,
                None => panic!("{:?}", l.diagnostics),
            }
        };
        let (a, b) = (load("nginx:1"), load("nginx:2"));
        let hash = |d: &[Desired], k: &str| {
            d.iter()
                .find(|x| x.id.kind == k)
                .map(|x| x.spec_hash.clone())
                .unwrap_or_default()
        };
        assert_ne!(hash(&a, "task-definition"), hash(&b, "task-definition"));
        assert_ne!(hash(&a, "service"), hash(&b, "service"));
        assert_eq!(hash(&a, "cluster"), hash(&b, "cluster"));
        // In apply order (the engine applies by rank, not by list position): cluster, security
        // group and the Cloud Map namespace (every ECS service is a Service Connect client of
        // it), instances, task definitions, services.
        let mut by_rank: Vec<&Desired> = a.iter().collect();
        by_rank.sort_by_key(|d| d.rank);
        let kinds: Vec<&str> = by_rank.iter().map(|d| d.id.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "cluster",
                "security-group",
                "namespace",
                "instance",
                "task-definition",
                "service"
            ]
        );
        let rank = |k: &str| by_rank.iter().find(|d| d.id.kind == k).map(|d| d.rank);
        assert!(rank("namespace") < rank("service"));
        assert!(rank("task-definition") < rank("service"));
    }
}
