//! How the GCE driver replaces a host whose spec changed, and how it knows a host is up: one
//! function, [`host_update`], decides both for a host from its services' `update` policies and
//! health checks, writes the ledger lines that say so, and returns the [`HostUpdate`] the
//! translator puts in the instance's metadata (`bridge-update`, a JSON value) so the driver reads
//! exactly what the ledger promised.
//!
//! - **Parallelism** is per service: a host is replaced only while fewer than `parallelism` other
//!   hosts of each of its services are being replaced (default 1, so never every replica of a
//!   service down at once).
//! - **Order**: `stop-first` (the default) deletes the old instance, then inserts the new one;
//!   `start-first` inserts the new one under the host's other name ([`alternate_name`]) and
//!   deletes the old one once the new one is up. A host with a persistent disk is always
//!   stop-first: the disk attaches read-write to one VM.
//! - **Up** means RUNNING, and, when a container on the host has a health check, the host's
//!   guest attribute `bridge/health` reading `healthy` (written by the VM: [`super::setup`]);
//!   then the host is watched for `monitor`, then `delay` passes before the service's next host.
//! - **failure_action** when a new instance is not up in time: `pause` (default) stops the
//!   rollout there, `continue` goes on, `rollback` restores the previous instances of the
//!   rollout (the new one deleted, the old body inserted again). Either way the deploy fails.

use std::collections::BTreeMap;

use bridge_core::model::{FailureAction, Service, UpdateOrder, UpdatePolicy};
use serde::{Deserialize, Serialize};

use super::names::resource_name;
use crate::ledger::Ledger;

/// The instance metadata key holding the [`HostUpdate`] (JSON).
pub const METADATA_KEY: &str = "bridge-update";
/// The metadata key that turns guest attributes on (the VM writes its health there).
pub const GUEST_ATTRIBUTES_KEY: &str = "enable-guest-attributes";
/// The guest attribute namespace bridge writes to and reads (`bridge/health`, `bridge/output`).
pub const GUEST_NAMESPACE: &str = "bridge";

/// What the driver does when a host changes, and how it knows the host is up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostUpdate {
    /// Per service on the host: how many of its hosts may be replaced at once.
    pub parallelism: BTreeMap<String, u32>,
    /// `stop-first` or `start-first`.
    pub order: String,
    /// `pause`, `continue` or `rollback`.
    pub failure_action: String,
    /// Wait after a host is up before the next one of its services, in milliseconds.
    pub delay_ms: u64,
    /// Watch a new host this long after it is up, in milliseconds.
    pub monitor_ms: u64,
    /// Failures tolerated before `failure_action` applies, as a fraction of the service's hosts.
    pub max_failure_ratio: f64,
    /// Up means healthy too: the host's containers have health checks, reported through the
    /// guest attribute `bridge/health`.
    pub health: bool,
}

impl HostUpdate {
    /// Read back from an instance body's metadata (None: not a host, or an older bridge's).
    pub fn from_body(body: &serde_json::Value) -> Option<HostUpdate> {
        let items = body.pointer("/metadata/items")?.as_array()?;
        let v = items
            .iter()
            .find(|i| i["key"] == METADATA_KEY)?
            .get("value")?
            .as_str()?;
        serde_json::from_str(v).ok()
    }

    /// True for start-first.
    pub fn start_first(&self) -> bool {
        self.order == "start-first"
    }
}

/// The host's other name, for start-first replacements: `<name>-b`, and back. Both are valid
/// GCE names of at most 63 characters ([`resource_name`]).
pub fn alternate_name(primary: &str, current: &str) -> String {
    let alt = resource_name(&format!("{primary}-b"));
    if current == primary {
        alt
    } else {
        primary.to_string()
    }
}

fn has_check(s: &Service) -> bool {
    s.health.as_ref().is_some_and(|h| !h.test.is_none())
}

/// Decide the update of a host running `svcs` (with `disks`: it has a persistent disk) and write
/// the ledger lines of their `update` and `rollback` fields.
pub fn host_update(
    ledger: &mut Ledger,
    services: &BTreeMap<String, Service>,
    svcs: &[String],
    disks: bool,
) -> HostUpdate {
    let mut u = HostUpdate {
        parallelism: BTreeMap::new(),
        order: "stop-first".into(),
        failure_action: "pause".into(),
        delay_ms: 0,
        monitor_ms: 0,
        max_failure_ratio: 0.0,
        health: false,
    };
    let mut start_first = false;
    let mut ratio: Option<f64> = None;
    // continue < pause < rollback: the strictest wins on a shared host.
    let mut action = 0u8;
    let rank = |a: FailureAction| match a {
        FailureAction::Continue => 0,
        FailureAction::Pause => 1,
        FailureAction::Rollback => 2,
    };
    for name in svcs {
        let Some(s) = services.get(name) else {
            continue;
        };
        u.health |= has_check(s);
        let pol = s.update.clone().unwrap_or_default();
        u.parallelism
            .insert(name.clone(), pol.parallelism.unwrap_or(1).max(1));
        let ms = |d: Option<bridge_core::units::Duration>| {
            d.map(|d| u64::try_from(d.to_std().as_millis()).unwrap_or(u64::MAX))
        };
        u.delay_ms = u.delay_ms.max(ms(pol.delay).unwrap_or(0));
        u.monitor_ms = u.monitor_ms.max(ms(pol.monitor).unwrap_or(0));
        if let Some(r) = pol.max_failure_ratio {
            ratio = Some(ratio.map_or(r, |x: f64| x.min(r)));
        }
        action = action.max(rank(pol.failure_action.unwrap_or(FailureAction::Pause)));
        start_first |= pol.order == Some(UpdateOrder::StartFirst);
        if let Some(p) = &s.update {
            policy_ledger(ledger, &format!("services.{name}.update"), p, disks);
        }
        if s.rollback.is_some() {
            ledger.claimed(
                format!("services.{name}.rollback"),
                crate::claims::Claim::RollsBackFailedUpdates,
                "a failed update's rollback restores the previous instances one at a time as soon as the failure is seen: the rollback policy's own fields are not used",
            );
        }
    }
    u.failure_action = match action {
        0 => "continue",
        2 => "rollback",
        _ => "pause",
    }
    .into();
    if start_first && !disks {
        u.order = "start-first".into();
    }
    u.max_failure_ratio = ratio.unwrap_or(0.0);
    u
}

fn policy_ledger(ledger: &mut Ledger, at: &str, p: &UpdatePolicy, disks: bool) {
    let f = |x: &str| format!("{at}.{x}");
    if p.parallelism.is_some() {
        ledger.claimed(
            f("parallelism"),
            crate::claims::Claim::ReplacesInBatches,
            "at most this many of the service's VMs are replaced at once by the GCE driver (a VM shared with other services waits for theirs too)",
        );
    }
    if p.delay.is_some() {
        ledger.mapped_claim(f("delay"), crate::claims::Claim::PacesBatches);
    }
    if p.monitor.is_some() {
        ledger.mapped_claim(f("monitor"), crate::claims::Claim::PacesBatches);
    }
    if p.max_failure_ratio.is_some() {
        ledger.mapped(f("max_failure_ratio"));
    }
    if p.failure_action.is_some() {
        ledger.claimed(
            f("failure_action"),
            crate::claims::Claim::RollsBackFailedUpdates,
            "applied by the GCE driver when a new VM is not running (and healthy) in time; the deploy fails in every case",
        );
    }
    match p.order {
        Some(UpdateOrder::StartFirst) if disks => ledger.claimed(
            f("order"),
            crate::claims::Claim::StopsBeforeStarting,
            "stop-first: the VM has a persistent disk, which attaches read-write to one VM at a time",
        ),
        Some(UpdateOrder::StartFirst) => ledger.claimed(
            f("order"),
            crate::claims::Claim::StartsBeforeStopping,
            "the new VM is inserted under the host's other name (`-b` added or taken off) before the old one is deleted",
        ),
        Some(UpdateOrder::StopFirst) => ledger.mapped(f("order")),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_names_toggle_and_stay_valid() {
        assert_eq!(alternate_name("shop-h0", "shop-h0"), "shop-h0-b");
        assert_eq!(alternate_name("shop-h0", "shop-h0-b"), "shop-h0");
        let long = "a".repeat(63);
        let alt = alternate_name(&long, &long);
        assert_ne!(alt, long);
        assert!(alt.len() <= 63, "{alt}");
        assert_eq!(alternate_name(&long, &alt), long);
    }
}
