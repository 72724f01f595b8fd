//! bridge-providers: one driver per target (Swarm, AWS, GCE, OpenStack) behind one trait. SDK
//! types never leave this crate. Drivers land with their issues; this is the seam they fill.

use bridge_core::model::ProviderKind;
use bridge_core::plan::{ResourceId, Step};

/// A failure talking to a provider: which provider, which resource, and the request id when the
/// provider gave one.
#[derive(Debug, thiserror::Error)]
#[error("{provider}: {resource}: {message}")]
#[non_exhaustive]
pub struct DriverError {
    /// The provider.
    pub provider: &'static str,
    /// The resource, or `-`.
    pub resource: String,
    /// What went wrong, lower-case.
    pub message: String,
    /// The provider's request id.
    pub request_id: Option<String>,
}

/// What a driver can do, declared up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Runs plain VMs.
    pub vms: bool,
    /// Co-locates a group's containers natively.
    pub groups: bool,
    /// Owns the hosts (bridge provisions container-VMs).
    pub owns_hosts: bool,
}

/// One resource as observed on the provider, found by its `bridge.app` label.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Which resource.
    pub id: ResourceId,
    /// The `bridge.spec-hash` label it carries.
    pub spec_hash: Option<String>,
    /// The provider's handle (id, ARN, self link).
    pub handle: String,
}

/// A driver. `apply` is idempotent: applying a step that already took effect does nothing;
/// `destroy` tolerates absence.
pub trait Driver {
    /// The target.
    fn kind(&self) -> ProviderKind;
    /// What it can do.
    fn capabilities(&self) -> Capabilities;
    /// Everything the provider holds labelled for `app`.
    fn observe(&self, app: &str) -> Result<Vec<Observed>, DriverError>;
    /// Carry out one step; idempotent.
    fn apply(&self, step: &Step) -> Result<(), DriverError>;
    /// Remove everything labelled for `app`; absent resources are not an error.
    fn destroy(&self, app: &str) -> Result<(), DriverError>;
}
