//! bridge-providers: one driver per target (Swarm now; AWS, GCE, OpenStack later) behind one
//! trait, and the engine that applies a plan through any of them. SDK types never leave this
//! crate.
//!
//! The lifecycle every driver follows: [`Driver::check`] (reachable? initialised?), then
//! [`Driver::observe`] (what the provider holds under the app's labels), [`bridge_core::plan::diff`]
//! against [`Driver::desired`], then [`engine::apply_plan`], which calls [`Driver::apply`] step by
//! step in rank order with bounded parallelism and health gating, and [`Driver::wait_ready`].

#[cfg(feature = "aws")]
pub mod aws;
pub mod engine;
#[cfg(feature = "gce")]
pub mod gce;
#[cfg(feature = "openstack")]
pub mod openstack;
pub mod orchestrator;
#[cfg(feature = "swarm")]
pub mod swarm;

use std::future::Future;
use std::time::Duration;

use bridge_core::model::ProviderKind;
use bridge_core::plan::{Current, Desired, Plan, ResourceId, Step, Unowned};
use bridge_core::{Diagnostics, ValidApp};
use serde::Serialize;

/// What kind of failure, so callers can react (exit codes, retries, hints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The provider cannot be reached.
    Unreachable,
    /// The provider is reachable but not set up (no swarm, no cluster).
    NotInitialised,
    /// The resource does not exist.
    NotFound,
    /// It exists already, or is in use, or changed meanwhile.
    Conflict,
    /// What the app asks for cannot run there (missing image, port taken).
    Unsatisfiable,
    /// It did not become ready in time.
    Timeout,
    /// Anything else.
    Other,
}

/// A failure talking to a provider: which provider, which resource, what to do, and the request
/// id when the provider gave one.
#[derive(Debug, thiserror::Error)]
#[error("{provider}: {resource}: {message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
#[non_exhaustive]
pub struct DriverError {
    /// The provider.
    pub provider: &'static str,
    /// The resource, or `-`.
    pub resource: String,
    /// What went wrong, lower-case.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The provider's request id.
    pub request_id: Option<String>,
}

impl DriverError {
    /// A new error.
    pub fn new(
        provider: &'static str,
        resource: impl Into<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        DriverError {
            provider,
            resource: resource.into(),
            message: message.into(),
            hint: None,
            kind,
            request_id: None,
        }
    }

    /// With a hint saying what to do.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// What a driver can do, declared up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Capabilities {
    /// Runs plain VMs.
    pub vms: bool,
    /// Co-locates a group's containers natively.
    pub groups: bool,
    /// Owns the hosts (bridge provisions container-VMs).
    pub owns_hosts: bool,
    /// Changes services in place (rolling updates) instead of replacing them.
    pub in_place_updates: bool,
    /// Reports task health.
    pub health: bool,
}

/// Whether the provider is ready to take a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Ready.
    Ready,
    /// Reachable but not set up; [`Driver::initialise`] would set it up as described.
    NotInitialised(String),
}

/// One component as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentStatus {
    /// The resource.
    pub resource: ResourceId,
    /// Desired replicas (tasks, instances).
    pub desired: u64,
    /// Running replicas.
    pub running: u64,
    /// `healthy`, `unhealthy`, `starting` or `-` (no health check).
    pub health: String,
    /// Errors of failing tasks, newest first, deduplicated.
    pub errors: Vec<String>,
}

/// The address of one component as its provider reports it (read from the peer, never
/// computed from what bridge sent), for the late-bound inputs `vms.X.address` and
/// `services.X.address` of the components that consume it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// `vms.NAME` or `services.NAME`.
    pub component: String,
    /// What other components on the same provider reach it at (private address, DNS name).
    pub private: Option<String>,
    /// What components on other providers reach it at (public, floating or node address).
    pub public: Option<String>,
}

/// A driver. Every method documents its idempotency and failure cases.
pub trait Driver: Send + Sync {
    /// The target.
    fn kind(&self) -> ProviderKind;
    /// What it can do.
    fn capabilities(&self) -> Capabilities;
    /// The resource kinds that run the app's workloads (those `wait_ready` waits for and
    /// `status` reports). Default: `service`.
    fn workload_kinds(&self) -> &'static [&'static str] {
        &["service"]
    }
    /// The desired resources for an app (the translator's output, hashed and ranked), and the
    /// translator's diagnostics. Pure.
    fn desired(&self, app: &ValidApp) -> (Vec<Desired>, Diagnostics);
    /// Check what the app refers to on the provider before a plan or deploy (e.g. that the
    /// secret ARNs it names exist). Reads only. The default checks nothing.
    fn verify(&self, app: &ValidApp) -> impl Future<Output = Result<(), DriverError>> + Send {
        let _ = app;
        async { Ok(()) }
    }
    /// Is the provider reachable and set up? Reads only.
    fn check(&self) -> impl Future<Output = Result<Readiness, DriverError>> + Send;
    /// Set the provider up (e.g. `swarm init` of a local single-node swarm). Idempotent.
    fn initialise(&self) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// Everything the provider holds labelled for `app`, normalised for comparison. Reads only.
    fn observe(&self, app: &str) -> impl Future<Output = Result<Vec<Current>, DriverError>> + Send;
    /// Carry out one step. Idempotent: a create of something that exists converges it, a delete
    /// of something absent succeeds, an update re-reads the current version first (optimistic
    /// concurrency) and retries once when it changed meanwhile.
    fn apply(&self, app: &str, step: &Step)
    -> impl Future<Output = Result<(), DriverError>> + Send;
    /// The provider objects that have the names of `app`'s `desired` resources but not its
    /// labels (made outside bridge: `docker stack deploy`, by hand), each saying whether the
    /// provider can add bridge's labels in place; what `deploy --adopt` takes over, and what a
    /// deploy without it refuses to overwrite. Reads only. The default finds none.
    fn unowned(
        &self,
        app: &str,
        desired: &[Desired],
    ) -> impl Future<Output = Result<Vec<Unowned>, DriverError>> + Send {
        let _ = (app, desired);
        async { Ok(Vec::new()) }
    }
    /// Wait until a resource runs (all its replicas), and is healthy when `healthy` and it has a
    /// health check. Fails fast when its tasks fail for a reason that will not pass by itself.
    fn wait_ready(
        &self,
        app: &str,
        resource: &ResourceId,
        healthy: bool,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// Per component: desired, running, health and the errors of failing tasks. Reads only.
    fn status(
        &self,
        app: &str,
    ) -> impl Future<Output = Result<Vec<ComponentStatus>, DriverError>> + Send;
    /// Remove what the driver set up for `app` outside its labelled resources (node labels).
    /// Called after the labelled resources are deleted; tolerates absence.
    fn cleanup(&self, app: &str) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// Add what the provider itself says about a plan's changes to their reasons (e.g. which
    /// resources Heat's update preview would replace). Reads only. The default adds nothing.
    fn explain(
        &self,
        app: &str,
        plan: &mut Plan,
    ) -> impl Future<Output = Result<(), DriverError>> + Send {
        let _ = (app, plan);
        async { Ok(()) }
    }
    /// The addresses of the app's components that exist on the provider, as the provider
    /// reports them. Reads only. The default reports none.
    fn outputs(&self, app: &str) -> impl Future<Output = Result<Vec<Address>, DriverError>> + Send {
        let _ = app;
        async { Ok(Vec::new()) }
    }
    /// True when the driver's own artifacts wire references between two of its components
    /// (Heat's `get_attr`, GCE's internal DNS names), so the orchestrator leaves those to it.
    /// Default: false, the orchestrator fills them from [`Driver::outputs`].
    fn resolves_own_references(&self) -> bool {
        false
    }
    /// The late-bound inputs the driver's own resources produce for its part of `app` (the ARN
    /// of a secret it creates), each with the value the last [`Driver::observe`] found, which
    /// [`Driver::desired`] writes into the artifacts. The orchestrator holds a step whose spec
    /// still reads an unresolved one until a later round. Default: none.
    fn own_inputs(&self, app: &ValidApp) -> Vec<OwnInput> {
        let _ = app;
        Vec::new()
    }
}

/// A late-bound input a driver produces and reads itself (see [`Driver::own_inputs`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnInput {
    /// `secrets.db_password.arn`.
    pub name: String,
    /// The fields that read it (`services.api.secrets[0]`).
    pub fields: Vec<String>,
    /// Its value once the producer exists (an identifier such as an ARN; never a secret).
    pub value: Option<String>,
}

/// A boxed future, for the object-safe [`DynDriver`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe face of a [`Driver`], so one orchestrator can hold several drivers at once
/// (`Box<dyn DynDriver>`). Every [`Driver`] is one; the methods mean the same.
#[allow(missing_docs)]
pub trait DynDriver: Send + Sync {
    fn kind(&self) -> ProviderKind;
    fn capabilities(&self) -> Capabilities;
    fn workload_kinds(&self) -> &'static [&'static str];
    fn desired(&self, app: &ValidApp) -> (Vec<Desired>, Diagnostics);
    fn verify<'a>(&'a self, app: &'a ValidApp) -> BoxFuture<'a, Result<(), DriverError>>;
    fn check(&self) -> BoxFuture<'_, Result<Readiness, DriverError>>;
    fn initialise(&self) -> BoxFuture<'_, Result<(), DriverError>>;
    fn observe<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<Vec<Current>, DriverError>>;
    fn apply<'a>(&'a self, app: &'a str, step: &'a Step) -> BoxFuture<'a, Result<(), DriverError>>;
    fn unowned<'a>(
        &'a self,
        app: &'a str,
        desired: &'a [Desired],
    ) -> BoxFuture<'a, Result<Vec<Unowned>, DriverError>>;
    fn wait_ready<'a>(
        &'a self,
        app: &'a str,
        resource: &'a ResourceId,
        healthy: bool,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>>;
    fn status<'a>(
        &'a self,
        app: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ComponentStatus>, DriverError>>;
    fn cleanup<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<(), DriverError>>;
    fn explain<'a>(
        &'a self,
        app: &'a str,
        plan: &'a mut Plan,
    ) -> BoxFuture<'a, Result<(), DriverError>>;
    fn outputs<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<Vec<Address>, DriverError>>;
    fn resolves_own_references(&self) -> bool;
    fn own_inputs(&self, app: &ValidApp) -> Vec<OwnInput>;
}

impl<D: Driver> DynDriver for D {
    fn kind(&self) -> ProviderKind {
        Driver::kind(self)
    }
    fn capabilities(&self) -> Capabilities {
        Driver::capabilities(self)
    }
    fn workload_kinds(&self) -> &'static [&'static str] {
        Driver::workload_kinds(self)
    }
    fn desired(&self, app: &ValidApp) -> (Vec<Desired>, Diagnostics) {
        Driver::desired(self, app)
    }
    fn verify<'a>(&'a self, app: &'a ValidApp) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(Driver::verify(self, app))
    }
    fn check(&self) -> BoxFuture<'_, Result<Readiness, DriverError>> {
        Box::pin(Driver::check(self))
    }
    fn initialise(&self) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(Driver::initialise(self))
    }
    fn observe<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<Vec<Current>, DriverError>> {
        Box::pin(Driver::observe(self, app))
    }
    fn apply<'a>(&'a self, app: &'a str, step: &'a Step) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(Driver::apply(self, app, step))
    }
    fn unowned<'a>(
        &'a self,
        app: &'a str,
        desired: &'a [Desired],
    ) -> BoxFuture<'a, Result<Vec<Unowned>, DriverError>> {
        Box::pin(Driver::unowned(self, app, desired))
    }
    fn wait_ready<'a>(
        &'a self,
        app: &'a str,
        resource: &'a ResourceId,
        healthy: bool,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(Driver::wait_ready(self, app, resource, healthy, timeout))
    }
    fn status<'a>(
        &'a self,
        app: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ComponentStatus>, DriverError>> {
        Box::pin(Driver::status(self, app))
    }
    fn cleanup<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(Driver::cleanup(self, app))
    }
    fn explain<'a>(
        &'a self,
        app: &'a str,
        plan: &'a mut Plan,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(Driver::explain(self, app, plan))
    }
    fn outputs<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<Vec<Address>, DriverError>> {
        Box::pin(Driver::outputs(self, app))
    }
    fn resolves_own_references(&self) -> bool {
        Driver::resolves_own_references(self)
    }
    fn own_inputs(&self, app: &ValidApp) -> Vec<OwnInput> {
        Driver::own_inputs(self, app)
    }
}
