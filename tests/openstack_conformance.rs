//! The driver conformance harness run for the OpenStack driver against the real test OpenStack
//! (Keystone, Heat, Nova with the fake virt driver: tests/openstack/up.sh), once as the admin and
//! once as a member-role user of the `demo` project.

#[path = "support/conformance.rs"]
mod conformance;
#[path = "support/openstack.rs"]
mod os;

use std::time::{Duration, Instant};

use bridge_core::plan::Action;
use bridge_providers::Driver;
use bridge_providers::engine::{self, ApplyOptions};
use bridge_providers::openstack::OpenstackDriver;

fn e(what: &'static str) -> impl Fn(bridge_providers::DriverError) -> String {
    move |err| format!("{what}: {err}")
}

/// Beyond the generic harness: a changed value previewed by Heat (in place or replacement),
/// a server deleted through Nova's API restored by the next apply (reconcile), destroy.
async fn changes_and_repair(
    driver: &OpenstackDriver,
    dir: &std::path::Path,
    app: &str,
) -> Result<(), String> {
    let opts = ApplyOptions {
        parallelism: 4,
        timeout: Duration::from_secs(300),
    };
    let quiet = |_: &engine::Event| {};
    let valid = os::load(dir, &os::app_yaml(app, "info", ""));
    let (desired, _) = driver.desired(&valid);
    let plan = engine::plan(driver, app, &desired)
        .await
        .map_err(e("plan"))?;
    engine::apply_plan(driver, app, &plan, &opts, &quiet)
        .await
        .map_err(e("deploy"))?;
    // The secret went to Heat as a hidden parameter: not in the template, masked in the stack.
    let (id, _) = os::stacks(driver, app).await.pop().ok_or("no stack")?;
    let get = |path: String| async move {
        driver
            .request(reqwest::Method::GET, "orchestration", &path, None)
            .await
            .map_err(e("heat"))
    };
    let (_, template) = get(format!("/stacks/{app}/{id}/template")).await?;
    let (_, stack) = get(format!("/stacks/{app}/{id}")).await?;
    if template.to_string().contains(os::SECRET) || stack.to_string().contains(os::SECRET) {
        return Err("the secret is readable in the stack or its template".into());
    }
    if stack["stack"]["parameters"]["secret_api_key"] != "******" {
        return Err(format!(
            "secret parameter: {}",
            stack["stack"]["parameters"]
        ));
    }
    for (yaml, want) in [
        (
            os::app_yaml(app, "info", "").replace("cpus: 1", "cpus: 2"),
            "heat: update in place vm_db",
        ),
        (
            os::app_yaml(app, "info", "    user_data: \"#cloud-config\\n\"\n"),
            "heat: replace vm_db",
        ),
    ] {
        let (d, _) = driver.desired(&os::load(dir, &yaml));
        let mut p = engine::plan(driver, app, &d).await.map_err(e("plan"))?;
        driver.explain(app, &mut p).await.map_err(e("explain"))?;
        let step = p.steps.first().ok_or("empty plan")?;
        if step.action != Action::Update || !step.reason.contains(want) {
            return Err(format!("expected `{want}`:\n{}", p.render()));
        }
    }
    let before = os::servers(driver, &format!("{app}-db")).await;
    let [(id, _, _)] = before.as_slice() else {
        return Err(format!("db servers: {before:?}"));
    };
    let (st, b) = driver
        .request(
            reqwest::Method::DELETE,
            "compute",
            &format!("/servers/{id}"),
            None,
        )
        .await
        .map_err(e("nova delete"))?;
    if st != 204 {
        return Err(format!("nova delete: {st} {b}"));
    }
    let t = Instant::now();
    while !os::servers(driver, &format!("{app}-db")).await.is_empty() {
        if t.elapsed() > Duration::from_secs(180) {
            return Err("the server was not deleted".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let p = engine::plan(driver, app, &desired)
        .await
        .map_err(e("plan"))?;
    if !p.render().contains("server vm_db is gone") {
        return Err(format!("the lost server is not drift:\n{}", p.render()));
    }
    engine::apply_plan(driver, app, &p, &opts, &quiet)
        .await
        .map_err(e("reconcile"))?;
    let after = os::servers(driver, &format!("{app}-db")).await;
    if after.len() != 1 || after[0].0 == *id || after[0].2 != "ACTIVE" {
        return Err(format!("after reconcile: {after:?} (was {id})"));
    }
    let p = engine::plan(driver, app, &desired)
        .await
        .map_err(e("plan"))?;
    if !p.is_empty() {
        return Err(format!("plan after reconcile:\n{}", p.render()));
    }
    engine::destroy(driver, app, &opts, &quiet)
        .await
        .map_err(e("destroy"))?;
    Ok(())
}

fn run(cloud: &str, app: &str) {
    let yaml = os::app_yaml(app, "info", "");
    let dir = os::app_dir(app, &yaml);
    let valid = os::load(&dir, &yaml);
    let driver = os::driver(cloud, &dir);
    let result = os::rt().block_on(async {
        conformance::lifecycle(&driver, &valid).await?;
        changes_and_repair(&driver, &dir, app).await?;
        // Destroy left no stack and no server of the app.
        let left = os::servers(&driver, &format!("{app}-")).await;
        if !left.is_empty() {
            return Err(format!("servers left after destroy: {left:?}"));
        }
        let stacks = os::stacks(&driver, app).await;
        if !stacks.is_empty() {
            return Err(format!("stacks left after destroy: {stacks:?}"));
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        panic!("{cloud}: {e}");
    }
}

#[test]
fn openstack_driver_passes_the_conformance_harness_as_admin() {
    run("bridge-admin", "it-os-conf-admin");
}

#[test]
fn openstack_driver_passes_the_conformance_harness_as_a_member_of_demo() {
    run("bridge-demo", "it-os-conf-demo");
}
