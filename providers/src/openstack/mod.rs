//! The OpenStack driver: one Heat stack per app, on plain HTTP calls (reqwest) to Keystone v3,
//! Heat and Nova. Credentials come from `clouds.yaml` (`providers.openstack.cloud`, else
//! `OS_CLOUD`) or the `OS_*` variables ([`auth`]). The desired state is one resource,
//! `stack/<app>`: the Heat translator's template, its non-secret parameter defaults and the
//! stack's tags (`bridge.app`, `bridge.component`, `bridge.spec-hash`). Deploy creates or
//! updates the stack and follows its events until it settles ([`stack`]); secrets go to Heat as
//! hidden parameters, read at apply time and never logged. Observe also checks every server of
//! the stack in Nova, so a server deleted or in ERROR behind Heat's back is drift that
//! reconcile repairs (stack check, mark unhealthy, update: Heat replaces it).

pub mod auth;
pub mod export;
mod stack;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bridge_core::model::ProviderKind;
use bridge_core::plan::{Action, Current, Desired, Plan, ResourceId, Step};
use bridge_core::{Diagnostics, ValidApp};
use bridge_translators::heat::{self as tr, HeatOptions, TAG_APP, TAG_COMPONENT, TAG_SPEC_HASH};
use serde_json::{Value, json};

use crate::{Capabilities, ComponentStatus, Driver, DriverError, ErrorKind, Readiness};
pub use auth::{CloudConfig, Session};

const PROVIDER: &str = "openstack";
/// The one resource kind this driver manages.
pub const KIND_STACK: &str = "stack";

fn err(resource: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> DriverError {
    DriverError::new(PROVIDER, resource, kind, message)
}

/// The addresses of one vm as Nova reports them ([`OpenstackDriver::server_addresses`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerAddress {
    /// Its fixed IP on the network it is attached to (IPv4 first, else IPv6).
    pub private: Option<String>,
    /// Its floating IP, when one is associated with its port.
    pub public: Option<String>,
}

/// Where Heat's events go as they arrive (one line each), besides the log.
pub type ProgressFn = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// The OpenStack driver.
pub struct OpenstackDriver {
    session: Session,
    /// Where relative secret and config files are read from (the app file's directory).
    base_dir: PathBuf,
    /// Between two polls of a stack's status and events.
    poll: Duration,
    /// How long a stack operation may take before bridge stops waiting.
    stack_timeout: Duration,
    calls: AtomicU64,
    progress: Option<ProgressFn>,
    /// Nova's flavors, read once per run by [`Driver::check`] ([`OpenstackDriver::flavors`]).
    flavors: OnceLock<Vec<tr::Flavor>>,
}

impl std::fmt::Debug for OpenstackDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenstackDriver")
            .field("session", &self.session)
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

/// The desired state of an app on OpenStack: one `stack/<app>` resource whose spec holds the
/// template, the defaults of its parameters (what a drifted parameter is reset to), the
/// parameters bridge supplies at apply time (by source, never by value), the stack's tags, and
/// `health: ok` (observe reports a lost or failed server there).
/// Sizes come from the stock flavor list (the translator warns, T416); a driver that has read
/// the cloud's flavors uses [`desired_with`].
pub fn desired(app: &ValidApp) -> (Vec<Desired>, Diagnostics) {
    desired_with(app, None)
}

/// [`desired`] with the cloud's flavor catalogue (None: the stock list).
pub fn desired_with(
    app: &ValidApp,
    flavors: Option<Vec<tr::Flavor>>,
) -> (Vec<Desired>, Diagnostics) {
    // `providers.openstack.neutron: false` is honoured by the translator itself.
    let opts = HeatOptions {
        flavors,
        ..HeatOptions::default()
    };
    let (stack, _ledger, diags) = tr::build(app, &opts);
    let mut defaults = serde_json::Map::new();
    if let Some(params) = stack.template["parameters"].as_object() {
        for (k, p) in params {
            // Hidden ones are never read back; the health timeout is the deploy's, not drift.
            if p["hidden"] == json!(true) || k == tr::HEALTH_TIMEOUT_PARAM {
                continue;
            }
            if let Some(d) = p.get("default") {
                defaults.insert(k.clone(), json!(param_string(d)));
            }
        }
    }
    let supplied: Vec<Value> = stack
        .parameters
        .iter()
        .map(|p| json!({"name": p.name, "hidden": p.hidden, "source": p.source, "field": p.field}))
        .collect();
    let mut spec = json!({
        "name": stack.name,
        "template": stack.template,
        "parameters": defaults,
        "supplied": supplied,
        "health": "ok",
    });
    if stack.rollback {
        // Only when set, so the spec hash of every other stack stays as it was.
        spec["rollback"] = json!(true);
    }
    let hash = bridge_core::hash::spec_hash(&spec);
    spec["tags"] = json!(tags(&stack.name, &hash));
    let d = Desired {
        id: ResourceId::new(KIND_STACK, stack.name.clone()),
        spec_hash: hash,
        spec,
        rank: 0,
        in_place: true,
        depends_on: Vec::new(),
    };
    (vec![d], diags)
}

/// A parameter value as Heat reports it back (strings; numbers and booleans as text).
fn param_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The stack's tags.
pub fn tags(app: &str, hash: &str) -> Vec<String> {
    vec![
        format!("{TAG_APP}={app}"),
        format!("{TAG_COMPONENT}={KIND_STACK}/{app}"),
        format!("{TAG_SPEC_HASH}={hash}"),
    ]
}

impl OpenstackDriver {
    /// A driver for the cloud named `cloud` (the app's `providers.openstack.cloud`; else
    /// `OS_CLOUD`; else the `OS_*` variables), `region` overriding the cloud's. No request is
    /// made until [`Driver::check`]. Relative secret files are read from `base_dir`.
    pub fn connect(
        base_dir: PathBuf,
        cloud: Option<&str>,
        region: Option<&str>,
    ) -> Result<Self, DriverError> {
        let env = |k: &str| std::env::var(k).ok();
        let cfg = CloudConfig::load(cloud, region, &env)?;
        Self::with_config(base_dir, cfg)
    }

    /// A driver for the app: its `providers.openstack.cloud` and `region`.
    pub fn for_app(base_dir: PathBuf, app: &ValidApp) -> Result<Self, DriverError> {
        let os = app.app().providers.openstack.clone().unwrap_or_default();
        Self::connect(base_dir, os.cloud.as_deref(), os.region.as_deref())
    }

    /// A driver for an explicit cloud configuration.
    pub fn with_config(base_dir: PathBuf, cfg: CloudConfig) -> Result<Self, DriverError> {
        tracing::debug!(cloud = %cfg.source, who = %cfg.who(), "openstack");
        Ok(OpenstackDriver {
            session: Session::new(cfg)?,
            base_dir,
            poll: Duration::from_secs(2),
            stack_timeout: Duration::from_secs(3600),
            calls: AtomicU64::new(0),
            progress: None,
            flavors: OnceLock::new(),
        })
    }

    /// The flavors Nova offers this project (`GET /flavors/detail`, every page; disabled ones
    /// left out), read once per driver (one run) and cached.
    pub async fn flavors(&self) -> Result<Vec<tr::Flavor>, DriverError> {
        if let Some(f) = self.flavors.get() {
            return Ok(f.clone());
        }
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let path = match &marker {
                Some(m) => format!("/flavors/detail?limit=100&marker={m}"),
                None => "/flavors/detail?limit=100".to_string(),
            };
            let (status, body) = self
                .request(reqwest::Method::GET, "compute", &path, None)
                .await?;
            if !(200..300).contains(&status) {
                return Err(stack::api_error("flavors", status, &body));
            }
            let page = body["flavors"].as_array().cloned().unwrap_or_default();
            for f in &page {
                if f["OS-FLV-DISABLED:disabled"] == json!(true) {
                    continue;
                }
                let (Some(name), Some(vcpus), Some(ram)) =
                    (f["name"].as_str(), f["vcpus"].as_u64(), f["ram"].as_u64())
                else {
                    continue;
                };
                let vcpus = u32::try_from(vcpus).unwrap_or(u32::MAX);
                out.push(
                    tr::Flavor::new(name, vcpus, ram).with_disk(f["disk"].as_u64().unwrap_or(0)),
                );
            }
            let next = body["flavors_links"]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x["rel"] == "next"));
            match page.last().and_then(|f| f["id"].as_str()) {
                Some(id) if next => marker = Some(id.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| (a.ram_mib, a.vcpus, &a.name).cmp(&(b.ram_mib, b.vcpus, &b.name)));
        tracing::debug!(flavors = out.len(), "nova flavors");
        Ok(self.flavors.get_or_init(|| out).clone())
    }

    /// Report every Heat event of a stack operation to `f` as it arrives
    /// (`<stack>: <resource> <STATUS>: <reason>`), e.g. for the CLI's progress output.
    pub fn with_progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    /// Tell the progress sink, if any.
    pub(crate) fn progress(&self, line: &str) {
        if let Some(f) = &self.progress {
            f(line);
        }
    }

    /// Give up waiting for a stack operation after `timeout` (default 1 h); it is also the
    /// timeout of the servers' health wait conditions (`deploy --timeout`).
    pub fn with_stack_timeout(mut self, timeout: Duration) -> Self {
        self.stack_timeout = timeout;
        self
    }

    /// Poll stacks this often (default 2 s).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The Keystone session (its token count shows renewals).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// HTTP requests made so far (Keystone excluded).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// One authenticated call to a service of the catalog (`orchestration`, `compute`...), at
    /// `path` below its endpoint. A 401 (token revoked or expired early) authenticates again and
    /// retries once. Returns the status and the JSON body (`null` when there is none). Bodies
    /// are never logged.
    pub async fn request(
        &self,
        method: reqwest::Method,
        service: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), DriverError> {
        let mut retried = false;
        let mut attempts = 0u32;
        loop {
            let tok = self.session.token().await?;
            let base = self.session.endpoint(&tok, service)?;
            let url = format!("{base}{path}");
            let mut req = self
                .session
                .http()
                .request(method.clone(), &url)
                .header("X-Auth-Token", Session::header(&tok))
                .header("Accept", "application/json");
            if service == "compute" {
                req = req.header("OpenStack-API-Version", "compute 2.37");
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            self.calls.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%method, %url, "request");
            let resp = match req.send().await {
                Ok(r) => r,
                // A connection the server closed under us (keep-alive race) or a refused one:
                // try again a little later. Every call bridge makes is safe to repeat (a repeated
                // create meets the stack by name).
                Err(e) if attempts < 3 && (e.is_request() || e.is_connect()) => {
                    attempts += 1;
                    tracing::debug!(%url, error = %e, attempts, "retrying");
                    tokio::time::sleep(Duration::from_millis(300 * u64::from(attempts))).await;
                    continue;
                }
                Err(e) => {
                    return Err(auth::transport(&url, &e).with_hint(format!(
                        "the {service} endpoint in the service catalog is not reachable from here: check the network, or the interface (`{}`) chosen in the {}",
                        self.session.cloud.interface, self.session.cloud.source
                    )));
                }
            };
            let status = resp.status().as_u16();
            let request_id = resp
                .headers()
                .get("x-openstack-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = resp.text().await.unwrap_or_default();
            if status == 401 && !retried {
                tracing::info!(%url, "token rejected; authenticating again");
                self.session.invalidate(&tok).await;
                retried = true;
                continue;
            }
            // A read the API could not serve (heat-api's RemoteError when its engine timed out
            // under load, a proxy's 502-504) is repeated a few times; writes are not repeated
            // here: their callers look the resource up first (see `stack::converge`).
            if (status == 500 || (502..=504).contains(&status))
                && method == reqwest::Method::GET
                && attempts < 3
            {
                attempts += 1;
                tracing::info!(%url, status, attempts, "server error on a read; retrying");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempts))).await;
                continue;
            }
            let value: Value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or_else(|_| json!({"text": text}))
            };
            if let Some(id) = request_id {
                tracing::trace!(%id, status, "response");
            }
            return Ok((status, value));
        }
    }

    /// The addresses of the app's vms, by vm name (the `vms.<name>` component, e.g. `db`), as
    /// Nova reports them in each server's `addresses`: the fixed IP as `private` (IPv4 first),
    /// the floating IP as `public`. A vm with replicas is represented by its first replica; a
    /// vm whose server does not exist (not deployed, or deleted behind Heat's back) is absent.
    /// Container hosts are not vms and are not listed. One Heat resource list per stack and one
    /// Nova read per server.
    pub async fn server_addresses(
        &self,
        app: &str,
    ) -> Result<std::collections::BTreeMap<String, ServerAddress>, DriverError> {
        stack::addresses(self, app).await
    }

    /// Read a required parameter's value (secret, config, address) from its source.
    fn supply(&self, p: &Value) -> Result<String, DriverError> {
        let name = p["name"].as_str().unwrap_or_default();
        let src = &p["source"];
        if let Some(var) = src.get("env").and_then(Value::as_str) {
            return std::env::var(var).map_err(|_| {
                err(
                    format!("{KIND_STACK}/parameter {name}"),
                    ErrorKind::Unsatisfiable,
                    format!("the environment variable {var} is not set"),
                )
                .with_hint(format!("export {var}=... before deploying (its value goes to Heat as a hidden parameter and is never stored by bridge)"))
            });
        }
        if let Some(file) = src.get("file").and_then(Value::as_str) {
            let path = self.base_dir.join(file);
            return std::fs::read_to_string(&path).map_err(|e| {
                err(
                    format!("{KIND_STACK}/parameter {name}"),
                    ErrorKind::Unsatisfiable,
                    format!("cannot read {}: {e}", path.display()),
                )
                .with_hint("create the file, or fix its path (relative to the app file)")
            });
        }
        Err(err(
            format!("{KIND_STACK}/parameter {name}"),
            ErrorKind::Unsatisfiable,
            format!("parameter `{name}` needs a value from {src} that this driver cannot look up"),
        )
        .with_hint("give the secret or config as `env:` or `file:` in the app, or deploy the referenced component on openstack too"))
    }

    /// The parameters to send: every supplied one, read now.
    fn parameters(&self, spec: &Value) -> Result<serde_json::Map<String, Value>, DriverError> {
        let mut out = serde_json::Map::new();
        for p in spec["supplied"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            out.insert(name, json!(self.supply(p)?));
        }
        // Heat fails a server's health wait condition when this deploy would stop waiting.
        if spec["template"]["parameters"]
            .get(tr::HEALTH_TIMEOUT_PARAM)
            .is_some()
        {
            out.insert(
                tr::HEALTH_TIMEOUT_PARAM.into(),
                json!(self.stack_timeout.as_secs().max(1).to_string()),
            );
        }
        Ok(out)
    }
}

impl Driver for OpenstackDriver {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Openstack
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vms: true,
            groups: true,
            owns_hosts: true,
            in_place_updates: true,
            health: false,
        }
    }

    /// Heat wires references between the stack's own servers (`get_attr`).
    fn resolves_own_references(&self) -> bool {
        true
    }

    /// The app's VMs with the fixed and floating IPs Nova reports for their servers.
    async fn outputs(&self, app: &str) -> Result<Vec<crate::Address>, DriverError> {
        Ok(self
            .server_addresses(app)
            .await?
            .into_iter()
            .map(|(vm, a)| crate::Address {
                component: format!("vms.{vm}"),
                private: a.private,
                public: a.public,
            })
            .collect())
    }

    /// Sized from the cloud's flavors once [`Driver::check`] has read them, else the stock list.
    fn desired(&self, app: &ValidApp) -> (Vec<Desired>, Diagnostics) {
        desired_with(app, self.flavors.get().cloned())
    }

    async fn check(&self) -> Result<Readiness, DriverError> {
        let tok = self.session.token().await?;
        self.session.endpoint(&tok, "orchestration")?;
        self.session.endpoint(&tok, "compute")?;
        let (status, body) = self
            .request(reqwest::Method::GET, "orchestration", "/build_info", None)
            .await?;
        if status == 403 {
            return Err(err(
                "-",
                ErrorKind::NotInitialised,
                format!("heat refuses {}: {}", self.session.cloud.who(), stack::message(&body)),
            )
            .with_hint("the user needs the `member` role (or the cloud's heat_stack_owner role) on the project"));
        }
        if !(200..300).contains(&status) {
            return Err(stack::api_error("-", status, &body));
        }
        // The catalogue the placement sizes hosts and vms from.
        self.flavors().await?;
        Ok(Readiness::Ready)
    }

    async fn initialise(&self) -> Result<(), DriverError> {
        Ok(())
    }

    async fn observe(&self, app: &str) -> Result<Vec<Current>, DriverError> {
        stack::observe(self, app).await
    }

    /// Stacks with the app's stack name and no `bridge.app` tag.
    async fn unowned(
        &self,
        _app: &str,
        desired: &[Desired],
    ) -> Result<Vec<bridge_core::plan::Unowned>, DriverError> {
        stack::unowned(self, desired).await
    }

    async fn apply(&self, app: &str, step: &Step) -> Result<(), DriverError> {
        if step.resource.kind != KIND_STACK {
            return Err(err(
                step.resource.to_string(),
                ErrorKind::Other,
                "the openstack driver manages stacks only",
            ));
        }
        match step.action {
            Action::NoOp => Ok(()),
            // A stack made outside bridge whose template and parameters are bridge's: tagged.
            Action::Adopt => {
                let spec = step.after.as_ref().ok_or_else(|| {
                    err(
                        step.resource.to_string(),
                        ErrorKind::Other,
                        "no desired spec",
                    )
                })?;
                stack::adopt(self, &step.resource.name, spec).await
            }
            Action::Create | Action::Update | Action::Replace => {
                let spec = step.after.as_ref().ok_or_else(|| {
                    err(
                        step.resource.to_string(),
                        ErrorKind::Other,
                        "no desired spec",
                    )
                })?;
                let params = self.parameters(spec)?;
                stack::converge(self, app, &step.resource.name, spec, params).await
            }
            Action::Delete => {
                stack::delete(self, &step.resource.name, step.handle.as_deref()).await
            }
        }
    }

    async fn wait_ready(
        &self,
        _app: &str,
        resource: &ResourceId,
        _healthy: bool,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        stack::wait_settled(self, &resource.name, timeout).await
    }

    async fn status(&self, app: &str) -> Result<Vec<ComponentStatus>, DriverError> {
        stack::status(self, app).await
    }

    async fn cleanup(&self, _app: &str) -> Result<(), DriverError> {
        Ok(())
    }

    async fn explain(&self, _app: &str, plan: &mut Plan) -> Result<(), DriverError> {
        for s in plan.steps.iter_mut() {
            if s.resource.kind != KIND_STACK
                || !matches!(s.action, Action::Update | Action::Replace)
            {
                continue;
            }
            let Some(spec) = s.after.clone() else {
                continue;
            };
            // The secrets are needed for the preview too; without them, say so and go on.
            let params = match self.parameters(&spec) {
                Ok(p) => p,
                Err(e) => {
                    s.reason
                        .push_str(&format!("; heat preview not available: {}", e.message));
                    continue;
                }
            };
            if let Some(preview) = stack::preview(self, &s.resource.name, &spec, params).await? {
                s.reason.push_str(&format!("; heat: {preview}"));
            }
        }
        Ok(())
    }
}
