//! Swarm tasks: wait for a service's tasks to run (and be healthy), and report status with the
//! errors of failing tasks. Reads only.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bollard::models::{HealthStatusEnum, Service, Task, TaskState};
use bollard::query_parameters::{
    InspectContainerOptions, InspectServiceOptions, ListServicesOptions, ListTasksOptions,
};
use bridge_core::plan::ResourceId;
use bridge_translators::swarm::scoped;

use super::{SwarmDriver, api, app_filter, component_id, err, filters};
use crate::{ComponentStatus, DriverError, ErrorKind};

fn desired_replicas(s: &Service, tasks: &[Task]) -> u64 {
    let mode = s.spec.as_ref().and_then(|sp| sp.mode.as_ref());
    match mode.and_then(|m| m.replicated.as_ref()) {
        Some(r) => u64::try_from(r.replicas.unwrap_or(1)).unwrap_or(0),
        // Global: one per eligible node; count the tasks the orchestrator wants running.
        None => tasks
            .iter()
            .filter(|t| t.desired_state == Some(TaskState::RUNNING))
            .count() as u64,
    }
}

fn running(tasks: &[Task]) -> Vec<&Task> {
    tasks
        .iter()
        .filter(|t| {
            t.desired_state == Some(TaskState::RUNNING)
                && t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING)
        })
        .collect()
}

/// Errors of tasks that failed since the service last changed, newest first, deduplicated.
fn task_errors(s: &Service, tasks: &[Task]) -> Vec<String> {
    let since = s
        .updated_at
        .as_ref()
        .map(|d| d.to_string())
        .unwrap_or_default();
    let mut failed: Vec<&Task> = tasks
        .iter()
        .filter(|t| {
            matches!(
                t.status.as_ref().and_then(|s| s.state),
                Some(TaskState::FAILED | TaskState::REJECTED)
            ) && t.created_at.as_ref().is_none_or(|c| *c >= since)
        })
        .collect();
    failed.sort_by_key(|t| std::cmp::Reverse(t.updated_at.as_ref().map(|d| d.to_string())));
    let mut seen = BTreeSet::new();
    failed
        .iter()
        .filter_map(|t| t.status.as_ref().and_then(|s| s.err.clone()))
        .filter(|e| seen.insert(e.clone()))
        .take(3)
        .collect()
}

/// A task error that will not go away by retrying, with what to do.
fn permanent(e: &str, service: &str) -> Option<String> {
    if e.contains("No such image") || e.contains("pull access denied") {
        Some(format!(
            "the image of {service} is not on the node: pull or load it there (docker pull, docker load, docker import)"
        ))
    } else if e.contains("address already in use") || e.contains("port is already allocated") {
        Some(format!(
            "a published port of {service} is taken on the node: free it, or choose another published port"
        ))
    } else if e.contains("no suitable node") {
        Some(
            "no node satisfies the placement constraints: check the constraints and node labels"
                .into(),
        )
    } else {
        None
    }
}

async fn tasks_of(d: &SwarmDriver, name: &str) -> Result<Vec<Task>, DriverError> {
    d.docker
        .list_tasks(Some(ListTasksOptions {
            filters: Some(filters(&[("service", name.to_string())])),
        }))
        .await
        .map_err(|e| api(name, e))
}

/// Count healthy containers among running tasks, and those that have a health check at all
/// (containers on this engine; remote ones count as healthy when their task runs). The engine's
/// container state is read because the service spec's health check does not round-trip through
/// the API model.
async fn healthy_count(d: &SwarmDriver, tasks: &[&Task]) -> (u64, u64) {
    let mut n = 0;
    let mut checked = 0;
    for t in tasks {
        let Some(cid) = t
            .status
            .as_ref()
            .and_then(|s| s.container_status.as_ref())
            .and_then(|c| c.container_id.clone())
        else {
            continue;
        };
        match d
            .docker
            .inspect_container(&cid, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => {
                let h = c.state.and_then(|s| s.health).and_then(|h| h.status);
                if !matches!(
                    h,
                    None | Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY)
                ) {
                    checked += 1;
                }
                if matches!(
                    h,
                    Some(
                        HealthStatusEnum::HEALTHY
                            | HealthStatusEnum::NONE
                            | HealthStatusEnum::EMPTY
                    ) | None
                ) {
                    n += 1;
                }
            }
            Err(_) => n += 1,
        }
    }
    (n, checked)
}

/// Wait until the service's tasks run (and are healthy when asked and it has a check).
pub async fn wait_ready(
    d: &SwarmDriver,
    app: &str,
    resource: &ResourceId,
    healthy: bool,
    timeout: Duration,
) -> Result<(), DriverError> {
    if resource.kind != "service" {
        return Ok(());
    }
    let r = resource.to_string();
    let name = scoped(app, &resource.name);
    let start = Instant::now();
    let mut last = String::from("no task has started");
    loop {
        let s = d
            .docker
            .inspect_service(&name, None::<InspectServiceOptions>)
            .await
            .map_err(|e| api(&r, e))?;
        let tasks = tasks_of(d, &name).await?;
        let want = desired_replicas(&s, &tasks);
        let run = running(&tasks);
        let errors = task_errors(&s, &tasks);
        if let Some(e) = errors.first() {
            if let Some(hint) = permanent(e, &resource.name) {
                return Err(
                    err(&r, ErrorKind::Unsatisfiable, format!("tasks fail: {e}")).with_hint(hint),
                );
            }
            last = format!("last task error: {e}");
        }
        let mut ok = run.len() as u64 >= want;
        if ok && healthy {
            let (h, _) = healthy_count(d, &run).await;
            ok = h >= want;
            if !ok {
                last = format!("{h} of {want} healthy");
            }
        } else if !ok {
            last = format!("{} of {want} running", run.len());
        }
        if ok {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(err(
                &r,
                ErrorKind::Timeout,
                format!("not ready after {}s: {last}", timeout.as_secs()),
            )
            .with_hint("see `bridge status` and `docker service ps --no-trunc` for the tasks; raise --timeout if it is only slow"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Per service: desired, running, health, task errors.
pub async fn status(d: &SwarmDriver, app: &str) -> Result<Vec<ComponentStatus>, DriverError> {
    let services = d
        .docker
        .list_services(Some(ListServicesOptions {
            filters: Some(app_filter(app)),
            status: Some(true),
        }))
        .await
        .map_err(|e| api("services", e))?;
    let mut out = Vec::new();
    for s in services {
        let Some(rid) = s
            .spec
            .as_ref()
            .and_then(|sp| sp.labels.as_ref())
            .and_then(component_id)
        else {
            continue;
        };
        let name = scoped(app, &rid.name);
        let tasks = tasks_of(d, &name).await?;
        let want = desired_replicas(&s, &tasks);
        let run = running(&tasks);
        let (h, checked) = healthy_count(d, &run).await;
        let health = if checked > 0 {
            if h == run.len() as u64 {
                "healthy".into()
            } else {
                format!("{h}/{} healthy", run.len())
            }
        } else {
            "-".into()
        };
        out.push(ComponentStatus {
            resource: rid,
            desired: want,
            running: run.len() as u64,
            health,
            errors: task_errors(&s, &tasks),
        });
    }
    out.sort_by(|a, b| a.resource.cmp(&b.resource));
    Ok(out)
}
