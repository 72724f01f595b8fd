//! The driver conformance harness run for the OpenStack driver against the real test OpenStack
//! (Keystone, Heat, Nova with the fake virt driver: tests/openstack/up.sh), once as the admin and
//! once as a member-role user of the `demo` project.

#[path = "support/conformance.rs"]
mod conformance;
#[path = "support/openstack.rs"]
mod os;

fn run(cloud: &str, app: &str) {
    let yaml = os::app_yaml(app, "info", "");
    let dir = os::app_dir(app, &yaml);
    let valid = os::load(&dir, &yaml);
    let driver = os::driver(cloud, &dir);
    let result = os::rt().block_on(async {
        conformance::lifecycle(&driver, &valid).await?;
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
