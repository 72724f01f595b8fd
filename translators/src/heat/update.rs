//! How a stack update replaces a service's servers: one function, [`rolling`], writes both the
//! template fragments (a resource group's `update_policy`, `depends_on` between the separate
//! servers of one service) and the ledger lines and diagnostics of each service's `update` and
//! `rollback` fields, so the ledger says exactly what Heat is asked to do.
//!
//! What Heat does: a changed `user_data` replaces the server (its `user_data_update_policy` is
//! REPLACE), the convergence engine creates the replacement before it deletes the old server,
//! and resources without a dependency between them are replaced together. Measured on the test
//! cloud (`tests/openstack_rolling.rs`): a 3-member group with a batch of 1 never had fewer than
//! 3 servers ACTIVE nor more than 4 listed in Nova.
//!
//! - **Resource groups** always get `update_policy.rolling_update`: `max_batch_size` =
//!   `parallelism` (default 1; 0 means every member at once), `min_in_service` = the members
//!   left, `pause_time` = `delay`.
//! - **Separate servers of one service** (replicas on hosts that are not identical, or that run
//!   a health-checked service) are chained:
//!   each `depends_on` the one `parallelism` before it, so Heat replaces at most `parallelism` of
//!   them at once. A link that would close a cycle is left out (warning T418). `delay` has no
//!   Heat form between separate servers (warning T418).
//! - **order**: Heat's replacement is start-first; an explicit `stop-first` is a warning (T409).
//! - **failure_action**: `rollback` on any service makes the driver update with rollback
//!   enabled, so Heat restores the previous template (the whole stack) and keeps the servers
//!   that ran (`tests/openstack_rollback.rs`: the old server, same id, flavor and spec hash);
//!   `pause` (the default) leaves the failed stack UPDATE_FAILED for inspection; `continue` has
//!   no Heat form (Heat stops at a failed resource) and acts as pause (T409).
//! - **health**: a replaced server gets a new wait condition (see `server.rs`), so the update
//!   completes only once the replacements signal healthy. Identical servers of a health-checked
//!   service are separate servers (`server.rs`), not a resource group (whose rolling update
//!   would not wait for a member's wait condition), and each depends on the *wait condition* of
//!   the one `parallelism` before it: Heat replaces server i only once the replacement of
//!   server i - parallelism signalled healthy, and a replacement that never signals fails the
//!   update on the wait condition's timeout (`tests/openstack_gate.rs`).

use bridge_core::diag::Diagnostic;
use bridge_core::model::{FailureAction, UpdateOrder, UpdatePolicy};
use serde_json::json;

use super::Builder;

/// The pools of [`super::server`] as far as updates care: resource name, member count, services.
pub(crate) struct Pool<'p> {
    pub res: &'p str,
    pub count: usize,
    pub services: &'p [String],
}

/// Replicas replaced at once for a policy: `parallelism`, default 1, 0 meaning all of `total`.
fn batch(pol: &UpdatePolicy, total: usize) -> usize {
    match pol.parallelism {
        None => 1,
        Some(0) => total.max(1),
        Some(n) => n as usize,
    }
}

/// Set the update fragments of every pool and write the `update`/`rollback` ledger lines of
/// every service. Returns whether the stack update must run with Heat's rollback enabled.
pub(crate) fn rolling(b: &mut Builder<'_>, pools: &[Pool<'_>]) -> bool {
    let mut rollback = false;
    let services: Vec<String> = b.app.services.keys().cloned().collect();
    // Resource groups: a batched rolling update, never every member at once by default.
    for p in pools.iter().filter(|p| p.count > 1) {
        let pol = p
            .services
            .iter()
            .filter_map(|s| b.app.services.get(s))
            .find_map(|s| s.update.clone())
            .unwrap_or_default();
        let size = batch(&pol, p.count).min(p.count);
        let mut rolling = json!({
            "max_batch_size": size,
            "min_in_service": p.count - size,
        });
        if let Some(d) = pol.delay {
            rolling["pause_time"] = json!(d.secs_ceil());
        }
        if let Some(r) = b.resources.get_mut(p.res) {
            r["update_policy"] = json!({ "rolling_update": rolling });
        }
    }
    for n in &services {
        let Some(s) = b.app.services.get(n).cloned() else {
            continue;
        };
        let field = |f: &str| format!("services.{n}.{f}");
        let pol = s.update.clone().unwrap_or_default();
        let mine: Vec<&Pool<'_>> = pools.iter().filter(|p| p.services.contains(n)).collect();
        let total: usize = mine.iter().map(|p| p.count).sum();
        let size = batch(&pol, total);
        // Separate servers (or groups) of the service: pool i waits for pool i - size, for its
        // wait condition when it has one (its containers reported healthy), so Heat replaces
        // server i only once the replacement of server i - size signalled healthy.
        let mut broken = false;
        let mut links = 0;
        let mut gated_links = 0;
        for i in size..mine.len() {
            let (from, to) = (mine[i].res.to_string(), mine[i - size].res.to_string());
            if b.would_cycle(&from, &to) {
                broken = true;
                continue;
            }
            // The cycle check is on servers: the wait condition depends on its server only.
            b.deps.insert(&from, &to);
            links += 1;
            let to = match b.health_waits.get(&to) {
                Some(w) => {
                    gated_links += 1;
                    w.clone()
                }
                None => to,
            };
            if let Some(r) = b.resources.get_mut(&from) {
                let mut deps: Vec<serde_json::Value> =
                    r["depends_on"].as_array().cloned().unwrap_or_default();
                if !deps.contains(&json!(to)) {
                    deps.push(json!(to));
                }
                r["depends_on"] = json!(deps);
            }
        }
        if broken {
            b.diags.push(
                Diagnostic::warning(
                    "T418",
                    format!("service `{n}`: some of its servers read each other's addresses, so heat may replace more than {size} of them at once"),
                )
                .with_path(field("update.parallelism"))
                .with_hint("run the service's replicas on identical servers (one resource group), or drop the address references between them"),
            );
        }
        let separate = mine.len() > 1;
        if separate && pol.delay.is_some() {
            b.diags.push(
                Diagnostic::warning(
                    "T418",
                    format!("service `{n}`: update.delay is not applied between its separate servers (heat has no pause between resources)"),
                )
                .with_path(field("update.delay"))
                .with_hint(if gated_links > 0 {
                    "heat waits for each replacement's health signal instead; a service without health checks on identical servers is a resource group, whose rolling update pauses"
                } else {
                    "replicas on identical servers form a resource group, whose rolling update pauses"
                }),
            );
        }
        let action = pol.failure_action.unwrap_or(FailureAction::Pause);
        rollback |= action == FailureAction::Rollback;
        let mut unsupported: Vec<&str> = Vec::new();
        if pol.order == Some(UpdateOrder::StopFirst) {
            unsupported.push("order stop-first (heat creates a replacement server before it deletes the old one)");
        }
        if action == FailureAction::Continue {
            unsupported.push("failure_action continue (heat stops the update at the first failed server, as pause)");
        }
        if pol.monitor.is_some() {
            unsupported.push("monitor");
        }
        if pol.max_failure_ratio.is_some() {
            unsupported.push("max_failure_ratio");
        }
        if total > 1 || s.update.is_some() {
            let how = if mine.iter().any(|p| p.count > 1) && !separate {
                format!(
                    "the resource group's rolling update replaces {size} server(s) at a time (max_batch_size, min_in_service){}",
                    if pol.delay.is_some() {
                        ", pausing update.delay between batches (pause_time)"
                    } else {
                        ""
                    }
                )
            } else if separate && gated_links > 0 {
                format!(
                    "each server waits for the one {size} before it to report healthy (its wait condition), so heat replaces at most {size} at a time and replaces the next only once the replacement before it signalled healthy (a replacement that never signals fails the update on the health timeout){}",
                    if broken || gated_links < links {
                        " where no address reference forbids it and the server before it has a health check"
                    } else {
                        ""
                    }
                )
            } else if separate {
                format!(
                    "each server depends on the one {size} before it, so heat replaces at most {size} at a time{}",
                    if broken {
                        " where no address reference forbids it"
                    } else {
                        ""
                    }
                )
            } else {
                "one server: heat replaces it".to_string()
            };
            let fail = match action {
                FailureAction::Rollback => {
                    "a failed update rolls the whole stack back to the previous template and the servers that ran before (heat's rollback)"
                }
                _ => "a failed update stops and leaves the stack UPDATE_FAILED for inspection",
            };
            // A replaced server gets a new wait condition (server.rs names its handle after the
            // server's spec): the update completes only once it signalled.
            let gated = s.health.as_ref().is_some_and(|h| !h.test.is_none());
            let health = if !gated {
                ""
            } else if separate {
                "; the update completes only once every replacement server has signalled healthy (its new wait condition)"
            } else {
                "; the update completes only once the replacement server has signalled healthy (its new wait condition)"
            };
            let mut line = format!(
                "{how}; heat creates each replacement before it deletes the old server (start-first){health}; {fail}"
            );
            if !unsupported.is_empty() {
                line.push_str(&format!("; not honoured: {}", unsupported.join(", ")));
            }
            // Approximated: the order is always start-first, whatever `order` says.
            // With rollback the line promises the rollback too: its proofs include the batches'.
            let claim = if action == FailureAction::Rollback {
                crate::claims::Claim::RollsBackFailedUpdates
            } else if separate && gated_links > 0 {
                crate::claims::Claim::GatesBatchesOnHealth
            } else {
                crate::claims::Claim::ReplacesInBatches
            };
            b.ledger.claimed(field("update"), claim, line);
        }
        if !unsupported.is_empty() {
            b.diags.push(
                Diagnostic::warning(
                    "T409",
                    format!("service `{n}`: update {} has no heat equivalent", unsupported.join(", ")),
                )
                .with_path(field("update"))
                .with_hint("heat replaces servers start-first and stops (or, with failure_action rollback, rolls the stack back) at a failure"),
            );
        }
        if s.rollback.is_some() {
            b.ledger.dropped(
                field("rollback"),
                "heat's rollback re-applies the previous template in its own order; there is no per-service rollback policy",
            );
            b.diags.push(
                Diagnostic::warning(
                    "T409",
                    format!("service `{n}`: the rollback policy has no heat equivalent"),
                )
                .with_path(field("rollback"))
                .with_hint("failure_action: rollback under update makes heat roll the stack back"),
            );
        }
    }
    rollback
}
