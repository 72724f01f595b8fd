//! The Docker Swarm driver, on bollard (the Engine API): the app's `providers.swarm.endpoint`
//! (`unix:///path` or `tcp://host:port`, no TLS) when it sets one, else DOCKER_HOST, the default
//! socket, or TCP with TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). It observes what carries the app's
//! `bridge.app` label, creates networks, volumes, secrets (value read from the environment or a
//! file at apply time, never logged), configs and services, updates services in place with their
//! version (optimistic concurrency), and waits for tasks to run and be healthy.

pub mod export;
mod objects;
mod tasks;
pub mod transfer;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{LocalNodeState, SwarmInitRequest};
use bridge_core::model::ProviderKind;
use bridge_core::plan::{Current, Dependency, Desired, ResourceId, Step, Unowned};
use bridge_core::{Diagnostics, ValidApp};
use bridge_translators::swarm::{self as tr, LABEL_APP, LABEL_COMPONENT, LABEL_SPEC_HASH};

use crate::{Capabilities, ComponentStatus, Driver, DriverError, ErrorKind, Readiness};

const PROVIDER: &str = "swarm";

/// Apply ranks: everything a service references exists before it.
const RANK_NETWORK: u32 = 0;
const RANK_VOLUME: u32 = 1;
const RANK_SECRET: u32 = 2;
const RANK_CONFIG: u32 = 3;
const RANK_SERVICE: u32 = 10;

/// The Swarm driver.
#[derive(Debug)]
pub struct SwarmDriver {
    docker: Docker,
    host: String,
    /// Where relative secret and config files are read from (the app file's directory).
    base_dir: PathBuf,
    /// Nodes in the swarm, known after [`Driver::check`]; the missing-image check runs on one.
    nodes: Mutex<Option<i64>>,
}

fn err(resource: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> DriverError {
    DriverError::new(PROVIDER, resource, kind, message)
}

/// The status code of an Engine error response, if it is one.
fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// An Engine error as a driver error (the Engine's own message, lower-cased start).
fn api(resource: &str, e: bollard::errors::Error) -> DriverError {
    match &e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => {
            let kind = match status_code {
                404 => ErrorKind::NotFound,
                409 => ErrorKind::Conflict,
                503 => ErrorKind::NotInitialised,
                _ => ErrorKind::Other,
            };
            let mut d = err(resource, kind, message.trim().to_string());
            if message.contains("already in use") || message.contains("already allocated") {
                d.kind = ErrorKind::Unsatisfiable;
                d = d.with_hint("the published port is taken on the node: free it, or choose another published port in the app's ports");
            } else if message.contains("This node is not a swarm manager")
                || message.contains("not part of a swarm")
            {
                d.kind = ErrorKind::NotInitialised;
                d = d.with_hint("run `bridge deploy --yes` to create a local single-node swarm, or `docker swarm init`");
            }
            d
        }
        other => unreachable_error(&default_host(), &other.to_string()),
    }
}

/// The engine DOCKER_HOST names, else the local socket.
fn default_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

fn unreachable_error(host: &str, detail: &str) -> DriverError {
    err(
        "-",
        ErrorKind::Unreachable,
        format!("cannot reach the docker engine at {host}: {detail}"),
    )
    .with_hint("start the Docker Engine, or set DOCKER_HOST to its address (unix:///path/docker.sock, or tcp://host:2376 with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH)")
}

fn filters(pairs: &[(&str, String)]) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in pairs {
        m.entry((*k).to_string()).or_default().push(v.clone());
    }
    m
}

fn app_filter(app: &str) -> HashMap<String, Vec<String>> {
    filters(&[("label", format!("{LABEL_APP}={app}"))])
}

/// `service/web` -> (`service`, `web`).
fn component_id(labels: &HashMap<String, String>) -> Option<ResourceId> {
    let c = labels.get(LABEL_COMPONENT)?;
    let (k, n) = c.split_once('/')?;
    Some(ResourceId::new(k, n))
}

fn rank_of(kind: &str) -> u32 {
    match kind {
        "network" => RANK_NETWORK,
        "volume" => RANK_VOLUME,
        "secret" => RANK_SECRET,
        "config" => RANK_CONFIG,
        _ => RANK_SERVICE,
    }
}

impl SwarmDriver {
    /// Connect to the engine named by DOCKER_HOST (default: the local socket; TLS when
    /// DOCKER_TLS_VERIFY is set) and agree on an API version. Relative secret and config files
    /// are read from `base_dir`.
    pub async fn connect(base_dir: PathBuf) -> Result<Self, DriverError> {
        Self::connect_to(None, base_dir).await
    }

    /// [`SwarmDriver::connect`] to `endpoint` (`providers.swarm.endpoint`: `unix:///path`,
    /// `tcp://host:port` or `http://host:port`, without TLS) instead of DOCKER_HOST when given.
    pub async fn connect_to(
        endpoint: Option<&str>,
        base_dir: PathBuf,
    ) -> Result<Self, DriverError> {
        let host = endpoint.map(str::to_string).unwrap_or_else(default_host);
        let docker = transfer::engine(endpoint).await?;
        tracing::debug!(%host, version = ?docker.client_version(), "connected");
        Ok(SwarmDriver {
            docker,
            host,
            base_dir,
            nodes: Mutex::new(None),
        })
    }

    /// The engine address.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn unreachable(&self, detail: &str) -> DriverError {
        unreachable_error(&self.host, detail)
    }

    fn single_node(&self) -> bool {
        self.nodes.lock().map(|n| *n == Some(1)).unwrap_or(false)
    }
}

impl Driver for SwarmDriver {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Swarm
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vms: false,
            groups: false,
            owns_hosts: false,
            in_place_updates: true,
            health: true,
        }
    }

    fn desired(&self, app: &ValidApp) -> (Vec<Desired>, Diagnostics) {
        desired(app)
    }

    async fn check(&self) -> Result<Readiness, DriverError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| self.unreachable(&e.to_string()))?;
        let swarm = info.swarm.unwrap_or_default();
        if let Ok(mut n) = self.nodes.lock() {
            *n = swarm.nodes;
        }
        match swarm.local_node_state {
            Some(LocalNodeState::ACTIVE) => {
                if swarm.control_available == Some(true) {
                    Ok(Readiness::Ready)
                } else {
                    Err(err("-", ErrorKind::NotInitialised, "this engine is a swarm worker, not a manager")
                        .with_hint("point DOCKER_HOST at a manager of the swarm, or promote this node (docker node promote)"))
                }
            }
            Some(LocalNodeState::INACTIVE) | Some(LocalNodeState::EMPTY) | None => {
                Ok(Readiness::NotInitialised(
                    "no swarm is active on this engine; bridge can create a local single-node swarm (swarm init, listening on 127.0.0.1:2377)".into(),
                ))
            }
            Some(state) => Err(err(
                "-",
                ErrorKind::NotInitialised,
                format!("the swarm on this engine is {state}{}", swarm.error.map(|e| format!(": {e}")).unwrap_or_default()),
            )
            .with_hint("repair the swarm (docker swarm unlock, or docker swarm leave --force and deploy again)")),
        }
    }

    async fn initialise(&self) -> Result<(), DriverError> {
        if self.check().await? == Readiness::Ready {
            return Ok(());
        }
        let req = SwarmInitRequest {
            listen_addr: Some("127.0.0.1:2377".into()),
            advertise_addr: Some("127.0.0.1".into()),
            ..SwarmInitRequest::default()
        };
        match self.docker.init_swarm(req).await {
            Ok(_) => {}
            Err(e) if status_of(&e) == Some(503) => {} // already part of a swarm
            Err(e) => return Err(api("swarm", e)),
        }
        tracing::info!("initialised a single-node swarm");
        self.check().await.map(|_| ())
    }

    async fn observe(&self, app: &str) -> Result<Vec<Current>, DriverError> {
        objects::observe(self, app).await
    }

    async fn apply(&self, app: &str, step: &Step) -> Result<(), DriverError> {
        objects::apply(self, app, step).await
    }

    async fn unowned(&self, app: &str, desired: &[Desired]) -> Result<Vec<Unowned>, DriverError> {
        objects::unowned(self, app, desired).await
    }

    async fn wait_ready(
        &self,
        app: &str,
        resource: &ResourceId,
        healthy: bool,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        tasks::wait_ready(self, app, resource, healthy, timeout).await
    }

    async fn status(&self, app: &str) -> Result<Vec<ComponentStatus>, DriverError> {
        tasks::status(self, app).await
    }

    async fn cleanup(&self, app: &str) -> Result<(), DriverError> {
        objects::remove_group_labels(self, app).await
    }

    /// Each service of the app that exists: inside the swarm its name (the alias it has on the
    /// app's networks), from elsewhere the node's address (`docker info`: the swarm's node
    /// address) where its published ports listen.
    async fn outputs(&self, app: &str) -> Result<Vec<crate::Address>, DriverError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| self.unreachable(&e.to_string()))?;
        let node = info
            .swarm
            .and_then(|s| s.node_addr)
            .filter(|a| !a.is_empty());
        Ok(objects::observe(self, app)
            .await?
            .into_iter()
            .filter(|c| c.id.kind == "service")
            .map(|c| crate::Address {
                component: format!("services.{}", c.id.name),
                private: Some(c.id.name.clone()),
                public: node.clone(),
            })
            .collect())
    }
}

/// The desired resources of an app on Swarm: the translator's objects, hashed (the
/// `bridge.spec-hash` label the translator set) and ranked. External secrets, configs, networks
/// and volumes are not bridge's to create, so they are not desired here.
pub fn desired(app: &ValidApp) -> (Vec<Desired>, Diagnostics) {
    let (s, _ledger, diags) = tr::build(app.app());
    let mut out = Vec::new();
    let hash = |l: &Option<HashMap<String, String>>| {
        l.as_ref()
            .and_then(|l| l.get(LABEL_SPEC_HASH).cloned())
            .unwrap_or_default()
    };
    let id = |l: &Option<HashMap<String, String>>, kind: &str, fallback: &str| {
        l.as_ref()
            .and_then(component_id)
            .unwrap_or_else(|| ResourceId::new(kind, fallback))
    };
    let json = |v: &dyn objects::Json| v.json();
    for n in &s.networks {
        out.push(Desired {
            id: id(&n.labels, "network", &n.name),
            spec_hash: hash(&n.labels),
            spec: json(n),
            rank: RANK_NETWORK,
            in_place: false,
            depends_on: Vec::new(),
        });
    }
    for v in &s.volumes {
        out.push(Desired {
            id: id(&v.labels, "volume", v.name.as_deref().unwrap_or_default()),
            spec_hash: hash(&v.labels),
            spec: json(v),
            rank: RANK_VOLUME,
            in_place: false,
            depends_on: Vec::new(),
        });
    }
    for sec in s
        .secrets
        .iter()
        .filter(|x| x.source != tr::ValueSource::External)
    {
        out.push(Desired {
            id: id(
                &sec.spec.labels,
                "secret",
                sec.spec.name.as_deref().unwrap_or_default(),
            ),
            spec_hash: hash(&sec.spec.labels),
            spec: json(sec),
            rank: RANK_SECRET,
            in_place: false,
            depends_on: Vec::new(),
        });
    }
    for c in s
        .configs
        .iter()
        .filter(|x| x.source != tr::ValueSource::External)
    {
        out.push(Desired {
            id: id(
                &c.spec.labels,
                "config",
                c.spec.name.as_deref().unwrap_or_default(),
            ),
            spec_hash: hash(&c.spec.labels),
            spec: json(c),
            rank: RANK_CONFIG,
            in_place: false,
            depends_on: Vec::new(),
        });
    }
    // Services ranked by dependency depth, so dependencies are in place first.
    let mut depth: BTreeMap<&str, u32> = BTreeMap::new();
    for svc in &s.services {
        let d = svc
            .after
            .iter()
            .filter_map(|(dep, _)| depth.get(dep.as_str()).map(|x| x + 1))
            .max()
            .unwrap_or(0);
        depth.insert(svc.component.as_str(), d);
        out.push(Desired {
            id: ResourceId::new("service", svc.component.clone()),
            spec_hash: hash(&svc.spec.labels),
            spec: json(&svc.spec),
            rank: RANK_SERVICE + d,
            in_place: true,
            depends_on: svc
                .after
                .iter()
                .map(|(dep, healthy)| Dependency {
                    resource: ResourceId::new("service", dep.clone()),
                    healthy: *healthy,
                })
                .collect(),
        });
    }
    (out, diags)
}
