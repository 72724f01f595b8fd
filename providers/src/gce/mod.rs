//! The Google Compute Engine driver: Compute REST v1 over reqwest (rustls), authenticated with
//! a service-account key (OAuth2 JWT-bearer grant), gcloud's user credentials or the metadata
//! server ([`auth`]). bridge owns the hosts: every host of the placement solver's assignment is
//! one Container-Optimized OS instance running its containers from cloud-init, named volumes are
//! persistent disks, published ports firewall rules (the GCE translator's request bodies, with
//! address references resolved: [`refs`]) and secret values Secret Manager secrets ([`secrets`]).
//! Plain instances, not a managed instance group: see the translator's module docs and the README.
//!
//! Ownership: instances and disks carry the labels `bridge-app`, `bridge-component` and
//! `bridge-spec-hash` (normalised to GCE's lowercase label syntax); firewall rules have no labels
//! in Compute v1, so the same three are in their description. Inserts carry a `requestId` derived
//! from the resource and its spec hash, so a rerun after a crash reuses it and the API does not
//! create a second copy. Reconcile replaces a deleted or stopped instance and resets drifted
//! metadata and labels with the current fingerprint.

mod api;
mod auth;
pub mod export;
mod objects;
mod peers;
mod refs;
mod rollout;
mod secrets;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use bridge_core::model::{GceOptions, ProviderKind};
use bridge_core::placement::HostType;
use bridge_core::plan::{Action, Desired, ResourceId, Step};
use bridge_core::{Diagnostics, ValidApp};
use bridge_translators::gce::{self as tr, LABEL_SPEC_HASH, label_value};
use serde_json::Value;

use crate::{Capabilities, ComponentStatus, Driver, DriverError, ErrorKind, Readiness};

pub use api::DEFAULT_ENDPOINT;
pub use rollout::UPDATE_SECONDS_ENV;

const PROVIDER: &str = "gce";

/// Apply ranks: firewall rules and disks exist before the instances that use them.
const RANK_FIREWALL: u32 = 0;
const RANK_DISK: u32 = 1;
const RANK_SECRET: u32 = 2;
const RANK_INSTANCE: u32 = 10;

/// The environment variable that overrides the Compute API base URL.
pub const ENDPOINT_ENV: &str = "BRIDGE_GCE_ENDPOINT";
/// The environment variable that overrides the Secret Manager API base URL.
pub const SECRETS_ENDPOINT_ENV: &str = "BRIDGE_GCE_SECRETS_ENDPOINT";

fn err(resource: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> DriverError {
    DriverError::new(PROVIDER, resource, kind, message)
}

/// The API base URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Compute Engine v1 (`.../compute/v1/`).
    pub compute: String,
    /// Secret Manager v1 (`.../v1/`).
    pub secrets: String,
}

impl Endpoints {
    /// `BRIDGE_GCE_ENDPOINT` and `BRIDGE_GCE_SECRETS_ENDPOINT`, else Google's.
    pub fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Endpoints {
            compute: env(ENDPOINT_ENV).unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            secrets: env(SECRETS_ENDPOINT_ENV)
                .unwrap_or_else(|| api::DEFAULT_SECRETS_ENDPOINT.to_string()),
        }
    }
}

/// The GCE driver for one project and zone.
#[derive(Debug)]
pub struct GceDriver {
    api: api::Compute,
    zone: String,
    /// Where relative secret and config files are read from (the app file's directory).
    base_dir: PathBuf,
    /// The rolling updates in progress.
    rollouts: rollout::Rollouts,
    /// The zone's machine types, read once per run by [`Driver::verify`]
    /// ([`GceDriver::machine_types`]).
    machine_types: OnceLock<Vec<HostType>>,
    /// One address-book sync at a time ([`peers::sync`]).
    peers_sync: tokio::sync::Mutex<()>,
}

impl GceDriver {
    /// Find the credentials, the project (`providers.gce.project`, else `GOOGLE_CLOUD_PROJECT`
    /// or `CLOUDSDK_CORE_PROJECT`, else the key's `project_id`) and the zone
    /// (`providers.gce.zone`, else the translator's default). Reads the key file; no request yet.
    /// Relative secret and config files are read from `base_dir`.
    pub fn connect(opts: Option<&GceOptions>, base_dir: PathBuf) -> Result<Self, DriverError> {
        let http = client()?;
        let tokens = auth::Tokens::discover(http.clone())?;
        Self::build(http, tokens, opts, Endpoints::from_env(), base_dir)
    }

    /// Like [`GceDriver::connect`], with the key file and API bases given (no environment
    /// lookups for them): for tests and embedding.
    pub fn with_key(
        key_file: PathBuf,
        endpoints: Endpoints,
        opts: Option<&GceOptions>,
        base_dir: PathBuf,
    ) -> Result<Self, DriverError> {
        let http = client()?;
        let tokens = auth::Tokens::from_key_file(key_file, http.clone())?;
        Self::build(http, tokens, opts, endpoints, base_dir)
    }

    fn build(
        http: reqwest::Client,
        tokens: auth::Tokens,
        opts: Option<&GceOptions>,
        endpoints: Endpoints,
        base_dir: PathBuf,
    ) -> Result<Self, DriverError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let project = opts
            .and_then(|o| o.project.clone())
            .or_else(|| env("GOOGLE_CLOUD_PROJECT"))
            .or_else(|| env("CLOUDSDK_CORE_PROJECT"))
            .or_else(|| tokens.project.clone())
            .ok_or_else(|| {
                err("-", ErrorKind::Other, "no GCE project is set")
                    .with_hint("set providers.gce.project in the app file, or GOOGLE_CLOUD_PROJECT")
            })?;
        let zone = opts
            .and_then(|o| o.zone.clone())
            .unwrap_or_else(|| tr::DEFAULT_ZONE.to_string());
        tracing::debug!(%project, %zone, ?endpoints, principal = %tokens.principal(), "gce driver");
        Ok(GceDriver {
            api: api::Compute::new(http, endpoints.compute, endpoints.secrets, tokens, project),
            zone,
            base_dir,
            rollouts: rollout::Rollouts::default(),
            machine_types: OnceLock::new(),
            peers_sync: tokio::sync::Mutex::new(()),
        })
    }

    /// The machine types the zone offers (`machineTypes.list`, every page), as sizes the solver
    /// may choose ([`tr::machines::from_api`]: deprecated, ARM64, accelerator and unknown
    /// shared-core types are left out). Read once per driver; later calls reuse the list.
    pub async fn machine_types(&self) -> Result<Vec<HostType>, DriverError> {
        if let Some(m) = self.machine_types.get() {
            return Ok(m.clone());
        }
        let path = format!("zones/{}/machineTypes", self.zone);
        let items = objects::list(self, &path, None).await?;
        let out: Vec<HostType> = items.iter().filter_map(tr::machines::from_api).collect();
        if out.is_empty() {
            return Err(err(
                "-",
                ErrorKind::NotFound,
                format!("zone {} lists no machine type bridge can place containers on ({} listed)", self.zone, items.len()),
            )
            .with_hint("choose a zone with x86-64 machine types (gcloud compute machine-types list --zones ZONE)"));
        }
        tracing::debug!(zone = %self.zone, listed = items.len(), usable = out.len(), "gce machine types");
        Ok(self.machine_types.get_or_init(|| out).clone())
    }

    /// The project.
    pub fn project(&self) -> &str {
        &self.api.project
    }

    /// The zone.
    pub fn zone(&self) -> &str {
        &self.zone
    }
}

impl Driver for GceDriver {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gce
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vms: true,
            groups: true,
            owns_hosts: true,
            in_place_updates: false,
            health: true,
        }
    }

    fn workload_kinds(&self) -> &'static [&'static str] {
        &["instance"]
    }

    /// References between the app's own instances are their internal DNS names ([`refs`]).
    fn resolves_own_references(&self) -> bool {
        true
    }

    /// The app's instances as Compute reports them: a VM's internal IP (`networkIP`) and
    /// external NAT IP, and for a service the addresses of the first host that runs it.
    async fn outputs(&self, app: &str) -> Result<Vec<crate::Address>, DriverError> {
        objects::outputs(self, app).await
    }

    /// Sized from the zone's machine types once [`Driver::verify`] has read them, else the stock
    /// list (warning T316).
    fn desired(&self, app: &ValidApp) -> (Vec<Desired>, Diagnostics) {
        desired_with(app, &self.api.project, self.machine_types.get().cloned())
    }

    /// Before a plan, deploy or reconcile: the zone's machine types, the catalogue the
    /// placement sizes hosts and VMs from, read once per run (`status` and `destroy` need none).
    async fn verify(&self, _app: &ValidApp) -> Result<(), DriverError> {
        self.machine_types().await.map(|_| ())
    }

    async fn check(&self) -> Result<Readiness, DriverError> {
        let zone = format!("zones/{}", self.zone);
        match self
            .api
            .call(reqwest::Method::GET, &zone, &[], None, "-")
            .await
        {
            Ok(_) => Ok(Readiness::Ready),
            Err(e) if e.kind == ErrorKind::NotFound => {
                // Which one is missing: the project or the zone?
                let project = self
                    .api
                    .call(reqwest::Method::GET, "", &[], None, "-")
                    .await;
                Err(match project {
                    Err(p) if p.kind == ErrorKind::NotFound => err(
                        "-",
                        ErrorKind::NotFound,
                        format!("project {} does not exist, or is not visible to these credentials", self.api.project),
                    )
                    .with_hint("set providers.gce.project (or GOOGLE_CLOUD_PROJECT) to the project id, not its name or number"),
                    Err(p) => p,
                    Ok(_) => err(
                        "-",
                        ErrorKind::NotFound,
                        format!("zone {} does not exist in project {}", self.zone, self.api.project),
                    )
                    .with_hint("set providers.gce.zone to a zone such as us-central1-a (gcloud compute zones list)"),
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn initialise(&self) -> Result<(), DriverError> {
        Ok(())
    }

    async fn observe(&self, app: &str) -> Result<Vec<bridge_core::plan::Current>, DriverError> {
        let mut out = objects::observe(self, app).await?;
        out.extend(secrets::observe(self, app).await?);
        Ok(out)
    }

    async fn apply(&self, app: &str, step: &Step) -> Result<(), DriverError> {
        if step.resource.kind != "secret" {
            return objects::apply(self, app, step).await;
        }
        match step.action {
            Action::NoOp => Ok(()),
            Action::Adopt => Err(err(
                step.resource.to_string(),
                ErrorKind::Other,
                "adoption is not available on gce",
            )),
            Action::Create => secrets::create(self, app, step).await,
            Action::Delete => secrets::delete(self, step).await,
            // A secret is not changed in place: the old one goes, the new one is created.
            Action::Update | Action::Replace => {
                secrets::delete(self, step).await?;
                secrets::create(self, app, step).await
            }
        }
    }

    async fn wait_ready(
        &self,
        app: &str,
        resource: &ResourceId,
        healthy: bool,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        objects::wait_ready(self, app, resource, healthy, timeout).await
    }

    async fn status(&self, app: &str) -> Result<Vec<ComponentStatus>, DriverError> {
        objects::status(self, app).await
    }

    async fn cleanup(&self, _app: &str) -> Result<(), DriverError> {
        // Nothing outside the labelled resources (secrets carry the labels too).
        Ok(())
    }
}

fn client() -> Result<reqwest::Client, DriverError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| err("-", ErrorKind::Other, format!("cannot set up https: {e}")))
}

/// The `bridge-component` of a translator resource as a resource id.
fn instance_id(component: &str) -> ResourceId {
    ResourceId::new("instance", label_value(component))
}

fn disk_id(component: &str) -> ResourceId {
    ResourceId::new("disk", label_value(component))
}

/// The spec hash in a body's labels.
fn label_hash(body: &Value) -> String {
    body.pointer(&format!("/labels/{LABEL_SPEC_HASH}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `bridge.app=a bridge.component=c bridge.spec-hash=h` (a firewall description) as a map.
fn description_fields(d: &str) -> std::collections::BTreeMap<&str, &str> {
    d.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// The desired resources of an app on GCE in `project`: the translator's request bodies, with
/// address references resolved ([`refs`]), hashed (the `bridge-spec-hash` label, or the
/// description of a firewall rule) and ranked. An instance's spec also says `status: RUNNING`
/// (not sent), so a stopped or terminated instance shows as drift and is replaced.
/// Sizes come from the stock machine types (the translator warns, T316); a driver that has read
/// the zone's uses [`desired_with`].
pub fn desired(app: &ValidApp, project: &str) -> (Vec<Desired>, Diagnostics) {
    desired_with(app, project, None)
}

/// [`desired`] with the zone's machine types (None: the stock list).
pub fn desired_with(
    app: &ValidApp,
    project: &str,
    machine_types: Option<Vec<HostType>>,
) -> (Vec<Desired>, Diagnostics) {
    let (g, _ledger, diags) = tr::build_with(app, machine_types);
    let addresses = refs::Addresses::new(&g, app.app(), project);
    let mut out = Vec::new();
    for f in &g.firewalls {
        let hash = f.body["description"]
            .as_str()
            .map(description_fields)
            .and_then(|m| m.get("bridge.spec-hash").map(|h| h.to_string()))
            .unwrap_or_default();
        out.push(Desired {
            id: ResourceId::new("firewall", f.name.clone()),
            spec_hash: hash,
            spec: f.body.clone(),
            rank: RANK_FIREWALL,
            in_place: false,
            depends_on: Vec::new(),
        });
    }
    for d in &g.disks {
        out.push(Desired {
            id: disk_id(&d.component),
            spec_hash: label_hash(&d.body),
            spec: d.body.clone(),
            rank: RANK_DISK,
            // Grown in place (disks.resize) and relabelled; other changes are refused.
            in_place: true,
            depends_on: Vec::new(),
        });
    }
    for i in &g.instances {
        let mut spec = i.body.clone();
        addresses.apply(&mut spec);
        let spec_hash = label_hash(&spec);
        spec["status"] = Value::String("RUNNING".into());
        out.push(Desired {
            id: instance_id(&i.component),
            spec_hash,
            spec,
            rank: RANK_INSTANCE,
            in_place: true,
            depends_on: Vec::new(),
        });
    }
    healthy_dependencies(app, &mut out);
    out.extend(secrets::desired(&g, app.app()));
    (out, diags)
}

/// `depends_on: {x: {condition: service_healthy}}` across hosts: the instance waits until the
/// hosts running `x` are up and report healthy ([`objects::wait_ready`]), and is ranked after
/// them. A cycle between hosts (each runs a dependency of the other) keeps no such waits: the
/// hosts start together, as before.
fn healthy_dependencies(app: &ValidApp, out: &mut [Desired]) {
    use bridge_core::model::DependencyCondition;
    let a = app.app();
    let tag = |svc: &str| tr::resource_name(&format!("{}-{svc}", a.name));
    let runs = |d: &Desired, svc: &str| {
        d.spec
            .pointer("/tags/items")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|x| x.as_str() == Some(tag(svc).as_str())))
    };
    let hosts: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].id.kind == "instance" && out[i].id.name.starts_with("host-"))
        .collect();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); out.len()];
    for &i in &hosts {
        for (name, svc) in &a.services {
            if !runs(&out[i], name) {
                continue;
            }
            for dep in svc
                .depends_on
                .iter()
                .filter(|d| d.condition == DependencyCondition::Healthy)
            {
                for &j in &hosts {
                    if j != i && runs(&out[j], &dep.service) && !deps[i].contains(&j) {
                        deps[i].push(j);
                    }
                }
            }
        }
    }
    let mut depth = vec![0u32; out.len()];
    let mut settled = false;
    for _ in 0..=hosts.len() {
        let mut changed = false;
        for &i in &hosts {
            let d = deps[i].iter().map(|&j| depth[j] + 1).max().unwrap_or(0);
            if d > depth[i] {
                depth[i] = d;
                changed = true;
            }
        }
        if !changed {
            settled = true;
            break;
        }
    }
    if !settled {
        tracing::warn!("hosts depend on each other's health in a cycle: none waits for another");
        return;
    }
    for &i in &hosts {
        out[i].rank = RANK_INSTANCE + depth[i];
        out[i].depends_on = deps[i]
            .iter()
            .map(|&j| bridge_core::plan::Dependency {
                resource: out[j].id.clone(),
                healthy: true,
            })
            .collect();
    }
}
