//! The driver conformance harness (in the spirit of Nomad's DriverHarness): one lifecycle,
//! parameterised by driver, that every driver (Swarm now; AWS, OpenStack, GCE later) must pass
//! against its real peer. It speaks only the `Driver` trait and the core plan types.

#![allow(dead_code)]

use std::time::Duration;

use bridge_core::ValidApp;
use bridge_core::plan::{Action, diff};
use bridge_providers::Driver;
use bridge_providers::engine::{self, ApplyOptions};

fn e(what: &'static str) -> impl Fn(bridge_providers::DriverError) -> String {
    move |err| format!("{what}: {err}")
}

fn ids(v: &[bridge_core::plan::Current]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|c| c.id.to_string()).collect();
    out.sort();
    out
}

/// Run the whole lifecycle for `app` on `driver`; `Err` names the first broken promise.
pub async fn lifecycle<D: Driver>(driver: &D, app: &ValidApp) -> Result<(), String> {
    let name = app.app().name.clone();
    let opts = ApplyOptions {
        parallelism: 4,
        timeout: Duration::from_secs(90),
    };
    let quiet = |_: &engine::Event| {};

    // Start from nothing; destroy tolerates absence.
    engine::destroy(driver, &name, &opts, &quiet)
        .await
        .map_err(e("initial destroy"))?;
    engine::destroy(driver, &name, &opts, &quiet)
        .await
        .map_err(e("destroy of nothing"))?;
    if !driver
        .observe(&name)
        .await
        .map_err(e("observe"))?
        .is_empty()
    {
        return Err("observe after destroy is not empty".into());
    }

    // Plan from nothing: everything is created, in rank order.
    let (desired, diags) = driver.desired(app);
    if diags.has_errors() {
        return Err(format!("translation errors: {diags:?}"));
    }
    let plan = engine::plan(driver, &name, &desired)
        .await
        .map_err(e("plan"))?;
    if plan.steps.iter().any(|s| s.action != Action::Create) || plan.steps.len() != desired.len() {
        return Err(format!("first plan is not all creates:\n{}", plan.render()));
    }
    if plan.steps.windows(2).any(|w| w[0].rank > w[1].rank) {
        return Err("first plan is not in rank order".into());
    }
    engine::apply_plan(driver, &name, &plan, &opts, &quiet)
        .await
        .map_err(e("apply"))?;

    // Observe finds each desired resource exactly once, and the plan is empty.
    let observed = driver.observe(&name).await.map_err(e("observe"))?;
    let mut want: Vec<String> = desired.iter().map(|d| d.id.to_string()).collect();
    want.sort();
    if ids(&observed) != want {
        return Err(format!("observed {:?}, desired {want:?}", ids(&observed)));
    }
    let again = diff(&desired, &observed);
    if !again.is_empty() {
        return Err(format!(
            "plan right after apply is not empty:\n{}",
            again.render()
        ));
    }

    // apply is idempotent: the same create steps again change nothing.
    for s in &plan.steps {
        driver.apply(&name, s).await.map_err(e("re-apply"))?;
    }
    let after = driver.observe(&name).await.map_err(e("observe"))?;
    if ids(&after) != want {
        return Err(format!("re-applying creates duplicated: {:?}", ids(&after)));
    }
    if !diff(&desired, &after).is_empty() {
        return Err("re-applying creates changed something".into());
    }

    // Everything becomes ready, and status says so.
    engine::wait_all(driver, &name, &plan, &opts, &quiet)
        .await
        .map_err(e("wait"))?;
    let status = driver.status(&name).await.map_err(e("status"))?;
    // One status line per workload resource (the driver's `workload_kinds`); a driver whose
    // desired state has none of them (a Heat stack) reports its own components, at least one.
    let kinds = driver.workload_kinds();
    let services = desired
        .iter()
        .filter(|d| kinds.contains(&d.id.kind.as_str()))
        .count();
    let count_ok = if services > 0 {
        status.len() == services
    } else {
        !status.is_empty()
    };
    if !count_ok || status.iter().any(|c| c.running < c.desired) {
        return Err(format!("status after wait: {status:?}"));
    }

    // Destroy removes everything; a delete of something already gone succeeds.
    let gone = engine::destroy(driver, &name, &opts, &quiet)
        .await
        .map_err(e("destroy"))?;
    if !driver
        .observe(&name)
        .await
        .map_err(e("observe"))?
        .is_empty()
    {
        return Err("observe after destroy is not empty".into());
    }
    for s in gone.steps.iter().take(2) {
        driver
            .apply(&name, s)
            .await
            .map_err(e("delete of absent"))?;
    }
    Ok(())
}

/// The same promises for an app across one or several providers, through the orchestrator: from
/// nothing, the first plan is all creates, some held for inputs other providers produce; apply
/// (in rounds) creates each desired resource once on its provider; the plan right after is
/// empty on every provider; `read_back` checks what the peers hold (the resolved addresses, read
/// from the peer, not from bridge's own hashes); status covers every provider; destroy leaves
/// nothing on any of them, and a second destroy does nothing.
pub async fn hybrid<F, Fut>(
    orch: &bridge_providers::orchestrator::Orchestrator,
    read_back: F,
) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let opts = ApplyOptions {
        parallelism: 4,
        timeout: Duration::from_secs(120),
    };
    let quiet = |_: bridge_core::model::ProviderKind, _: &engine::Event| {};
    orch.destroy(&opts, &quiet)
        .await
        .map_err(e("initial destroy"))?;
    nothing_left(orch).await?;

    let first = orch.plan().await.map_err(e("plan"))?;
    let mut held = 0;
    for part in &first.parts {
        if part.plan.steps.iter().any(|s| s.action != Action::Create) {
            return Err(format!(
                "first plan is not all creates:\n{}",
                first.render()
            ));
        }
        held += part.held.len();
    }
    let cross = first.inputs.iter().filter(|i| i.from != i.to).count();
    if cross > 0 && held == 0 {
        return Err(format!(
            "the app reads {cross} address(es) across providers but no step waits for one:\n{}",
            first.render()
        ));
    }
    let report = orch.apply(&opts, &quiet).await.map_err(e("apply"))?;
    if held > 0 && report.rounds < 2 {
        return Err(format!(
            "held steps were applied in {} round",
            report.rounds
        ));
    }

    // Every desired resource exists once on its provider, and nothing is left to do.
    let again = orch.plan().await.map_err(e("plan after apply"))?;
    if !again.is_empty() {
        return Err(format!(
            "plan right after apply is not empty:\n{}",
            again.render()
        ));
    }
    if again.inputs.iter().any(|i| !i.native && i.value.is_none()) {
        return Err(format!("unresolved inputs after apply: {:?}", again.inputs));
    }
    for (p, list) in orch.observe().await.map_err(e("observe"))? {
        let part = again.parts.iter().find(|x| x.provider == p);
        let mut want: Vec<String> = part
            .map(|x| {
                x.plan
                    .steps
                    .iter()
                    .map(|s| s.resource.to_string())
                    .collect()
            })
            .unwrap_or_default();
        want.sort();
        if ids(&list) != want {
            return Err(format!(
                "{}: observed {:?}, desired {want:?}",
                p.as_str(),
                ids(&list)
            ));
        }
    }
    read_back().await?;

    // A second apply changes nothing.
    let r2 = orch.apply(&opts, &quiet).await.map_err(e("re-apply"))?;
    if r2.applied.values().any(|n| *n > 0) {
        return Err(format!("re-apply changed something: {:?}", r2.applied));
    }

    orch.wait_all(&opts, &quiet).await.map_err(e("wait"))?;
    let status = orch.status().await.map_err(e("status"))?;
    for p in orch.partition().providers() {
        let st = status.iter().find(|(q, _)| *q == p).map(|(_, s)| s);
        if st.is_none_or(|s| s.is_empty() || s.iter().any(|c| c.running < c.desired)) {
            return Err(format!("status of {} after wait: {st:?}", p.as_str()));
        }
    }

    orch.destroy(&opts, &quiet).await.map_err(e("destroy"))?;
    nothing_left(orch).await?;
    orch.destroy(&opts, &quiet)
        .await
        .map_err(e("destroy of nothing"))?;
    Ok(())
}

async fn nothing_left(o: &bridge_providers::orchestrator::Orchestrator) -> Result<(), String> {
    for (p, list) in o.observe().await.map_err(e("observe"))? {
        if !list.is_empty() {
            return Err(format!("{} still holds {:?}", p.as_str(), ids(&list)));
        }
    }
    Ok(())
}
