//! Plans: what would change to bring a provider to the desired state. A plan is a value that can
//! be printed, diffed and applied; the engine that builds and applies it lands with the drivers.

use serde::Serialize;

/// What happens to one resource. A small closed set, each with a display symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Already as desired.
    NoOp,
    /// Does not exist yet.
    Create,
    /// Changed in place.
    Update,
    /// Deleted and created again, because a field cannot change in place.
    Replace,
    /// Exists but is no longer desired.
    Delete,
}

impl Action {
    /// The symbol shown in plans.
    pub fn symbol(&self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// The kind and name of a provider resource owned by the app.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResourceId {
    /// The kind, e.g. `service`, `network`, `task-definition`, `instance`.
    pub kind: String,
    /// The name, unique within the kind and the app.
    pub name: String,
}

/// One step of a plan, with the reason for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The resource.
    pub resource: ResourceId,
    /// What happens to it.
    pub action: Action,
    /// Why, in words (`image changed from a:1 to a:2`, `missing`, `replicas drifted 0 -> 3`).
    pub reason: String,
    /// The observed spec, when there is one.
    pub before: Option<serde_json::Value>,
    /// The desired spec, when there is one.
    pub after: Option<serde_json::Value>,
}

/// An ordered list of steps.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Plan {
    /// The steps, in the order they are applied.
    pub steps: Vec<Step>,
}

impl Plan {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(|s| s.action == Action::NoOp)
    }
}
