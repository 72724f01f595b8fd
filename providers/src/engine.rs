//! The deploy engine, the same for every driver: apply a plan in rank order (networks, volumes,
//! secrets, configs, then services by dependency depth; deletions last, in reverse), with
//! bounded parallelism inside a rank, health gating on `condition: healthy` dependencies, and an
//! event for every step so the CLI can draw progress bars or print JSON.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bridge_core::plan::{Action, Plan, ResourceId, Step, diff};
use futures_util::StreamExt;
use serde::Serialize;

use crate::{DriverError, DynDriver};

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Steps running at once within one rank.
    pub parallelism: usize,
    /// How long a health wait may take.
    pub timeout: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 4,
            timeout: Duration::from_secs(300),
        }
    }
}

/// What happened, step by step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step started.
    Started {
        /// The resource.
        resource: ResourceId,
        /// The action.
        action: Action,
        /// Why.
        reason: String,
    },
    /// A step waits for a dependency's health.
    Waiting {
        /// The resource that waits.
        resource: ResourceId,
        /// The dependency.
        on: ResourceId,
    },
    /// A step finished.
    Done {
        /// The resource.
        resource: ResourceId,
        /// The action.
        action: Action,
        /// How long it took.
        millis: u64,
    },
    /// A step failed.
    Failed {
        /// The resource.
        resource: ResourceId,
        /// The action.
        action: Action,
        /// The error, with its hint.
        error: String,
    },
    /// A resource is running (and healthy where it has a check).
    Ready {
        /// The resource.
        resource: ResourceId,
        /// How long the wait took.
        millis: u64,
    },
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApplyReport {
    /// Steps that changed something and succeeded.
    pub applied: usize,
    /// Steps not started because an earlier one failed.
    pub skipped: usize,
}

fn ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Apply the changing steps of `plan`. Every step of a rank finishes before the next rank starts;
/// within a rank at most `parallelism` run at once. A failure stops the apply after the steps
/// already running; the error of the first failure is returned. Re-running after a failure (or a
/// kill) converges, since every step is idempotent and the next plan is made from what exists.
pub async fn apply_plan<D: DynDriver + ?Sized>(
    driver: &D,
    app: &str,
    plan: &Plan,
    opts: &ApplyOptions,
    on: &(dyn Fn(&Event) + Sync),
) -> Result<ApplyReport, DriverError> {
    let mut forward: BTreeMap<u32, Vec<&Step>> = BTreeMap::new();
    let mut deletes: BTreeMap<std::cmp::Reverse<u32>, Vec<&Step>> = BTreeMap::new();
    for s in plan.changes() {
        if s.action == Action::Delete {
            deletes
                .entry(std::cmp::Reverse(s.rank))
                .or_default()
                .push(s);
        } else {
            forward.entry(s.rank).or_default().push(s);
        }
    }
    let groups: Vec<Vec<&Step>> = forward.into_values().chain(deletes.into_values()).collect();
    let total: usize = groups.iter().map(Vec::len).sum();
    let mut report = ApplyReport::default();
    for group in groups {
        let results: Vec<Result<(), DriverError>> = futures_util::stream::iter(group)
            .map(|s| run_step(driver, app, s, opts, on))
            .buffer_unordered(opts.parallelism.max(1))
            .collect()
            .await;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(()) => report.applied += 1,
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if let Some(e) = first_err {
            report.skipped = total - report.applied;
            tracing::warn!(
                applied = report.applied,
                skipped = report.skipped,
                "apply stopped"
            );
            return Err(e);
        }
    }
    Ok(report)
}

async fn run_step<D: DynDriver + ?Sized>(
    driver: &D,
    app: &str,
    s: &Step,
    opts: &ApplyOptions,
    on: &(dyn Fn(&Event) + Sync),
) -> Result<(), DriverError> {
    for d in s.depends_on.iter().filter(|d| d.healthy) {
        on(&Event::Waiting {
            resource: s.resource.clone(),
            on: d.resource.clone(),
        });
        if let Err(e) = driver
            .wait_ready(app, &d.resource, true, opts.timeout)
            .await
        {
            on(&Event::Failed {
                resource: s.resource.clone(),
                action: s.action,
                error: e.to_string(),
            });
            return Err(e);
        }
    }
    on(&Event::Started {
        resource: s.resource.clone(),
        action: s.action,
        reason: s.reason.clone(),
    });
    let t = Instant::now();
    tracing::info!(resource = %s.resource, action = ?s.action, reason = %s.reason, "apply");
    match driver.apply(app, s).await {
        Ok(()) => {
            on(&Event::Done {
                resource: s.resource.clone(),
                action: s.action,
                millis: ms(t),
            });
            Ok(())
        }
        Err(e) => {
            on(&Event::Failed {
                resource: s.resource.clone(),
                action: s.action,
                error: e.to_string(),
            });
            Err(e)
        }
    }
}

/// Wait until every workload of the plan (those not deleted; services, or what
/// [`Driver::workload_kinds`] says) runs, in parallel.
pub async fn wait_all<D: DynDriver + ?Sized>(
    driver: &D,
    app: &str,
    plan: &Plan,
    opts: &ApplyOptions,
    on: &(dyn Fn(&Event) + Sync),
) -> Result<(), DriverError> {
    let kinds = driver.workload_kinds();
    let services: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.action != Action::Delete && kinds.contains(&s.resource.kind.as_str()))
        .collect();
    let results: Vec<Result<(), DriverError>> = futures_util::stream::iter(services)
        .map(|s| async move {
            let t = Instant::now();
            driver
                .wait_ready(app, &s.resource, true, opts.timeout)
                .await?;
            on(&Event::Ready {
                resource: s.resource.clone(),
                millis: ms(t),
            });
            Ok(())
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Observe and plan: what would change.
pub async fn plan<D: DynDriver + ?Sized>(
    driver: &D,
    app: &str,
    desired: &[bridge_core::plan::Desired],
) -> Result<Plan, DriverError> {
    let observed = driver.observe(app).await?;
    Ok(diff(desired, &observed))
}

/// Delete everything labelled for `app` (services first), then the driver's other traces.
/// Absent resources are not an error; a second destroy does nothing.
pub async fn destroy<D: DynDriver + ?Sized>(
    driver: &D,
    app: &str,
    opts: &ApplyOptions,
    on: &(dyn Fn(&Event) + Sync),
) -> Result<Plan, DriverError> {
    let observed = driver.observe(app).await?;
    let plan = diff(&[], &observed);
    apply_plan(driver, app, &plan, opts, on).await?;
    driver.cleanup(app).await?;
    Ok(plan)
}
