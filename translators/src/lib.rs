//! bridge-translators: pure, deterministic functions from a [`ValidApp`] to one provider's
//! artifacts plus a ledger of what was mapped, approximated or dropped. No clock, no network,
//! sorted maps, so output is byte-stable and golden-testable. The ECS, GCE, Heat and Swarm
//! translators implement [`Translator`]; each lives in its own module.

pub mod claims;
pub mod cloudinit;
pub mod ecs;
pub mod export;
pub mod gce;
pub mod heat;
pub mod ledger;
pub mod swarm;

use bridge_core::model::ProviderKind;
use bridge_core::{Diagnostics, ValidApp};
use serde::Serialize;

/// How faithfully a neutral field reaches a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fidelity {
    /// Carried over with the same meaning.
    Mapped,
    /// Carried over with a different but close meaning.
    Approximated,
    /// Not expressible on the target.
    Dropped,
}

/// One line of the fidelity ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// The neutral field path, e.g. `services.web.stop_signal`.
    pub field: String,
    /// How faithfully it maps.
    pub fidelity: Fidelity,
    /// Why, for approximated and dropped fields.
    pub reason: String,
    /// The deploy-time behaviour the line promises, if any ([`claims`] names the driver tests
    /// that prove it). Not part of the JSON output.
    #[serde(skip)]
    pub claim: Option<claims::Claim>,
}

/// One file of output, ready for the provider's own tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// A relative path such as `ecs/web.task-definition.json`.
    pub path: String,
    /// The content.
    pub content: String,
}

/// What a translator produces.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Translation {
    /// The files.
    pub artifacts: Vec<Artifact>,
    /// Every neutral field the app sets, with its fidelity on this target.
    pub ledger: Vec<LedgerEntry>,
    /// Problems found while translating.
    pub diagnostics: Diagnostics,
}

/// A translator to one target. Implementations must be pure and deterministic.
pub trait Translator {
    /// The target.
    fn target(&self) -> ProviderKind;
    /// Translate the app.
    fn translate(&self, app: &ValidApp) -> Translation;
}

/// Every translator's diagnostic codes (`T...`), each meaning led by its target
/// (`swarm: ...`), for `bridge explain`.
pub fn codes() -> Vec<(String, String)> {
    [
        ("aws", ecs::CODES),
        ("gce", gce::CODES),
        ("openstack", heat::CODES),
        ("swarm", swarm::CODES),
    ]
    .into_iter()
    .flat_map(|(t, codes)| {
        codes
            .iter()
            .map(move |(c, m)| (c.to_string(), format!("{t}: {m}")))
    })
    .collect()
}

/// The translator for a target, when one exists.
pub fn for_provider(kind: ProviderKind) -> Option<Box<dyn Translator>> {
    Some(match kind {
        ProviderKind::Aws => Box::new(ecs::Ecs::default()),
        ProviderKind::Gce => Box::new(gce::Gce),
        ProviderKind::Openstack => Box::new(heat::Heat::default()),
        ProviderKind::Swarm => Box::new(swarm::Swarm),
    })
}
