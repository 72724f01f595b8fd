//! `vms:` as plain `OS::Nova::Server`s (a `OS::Heat::ResourceGroup` for a vm with replicas): the
//! image from `providers.openstack.images`, the cheapest catalogue flavor that holds the vm's cpus
//! and memory, a boot volume when `disk` is set, the vm's own user data, and a security group for
//! its published ports.

use bridge_core::diag::Diagnostic;
use serde_json::{Value, json};

use super::server::port_rule;
use super::{Builder, Flavor, ident};

/// The cheapest flavor (by RAM, then vCPUs, then root disk) that holds `cpus` (thousandths)
/// and `mib`.
pub(crate) fn fit(flavors: &[Flavor], cpus: u64, mib: u64) -> Option<Flavor> {
    flavors
        .iter()
        .filter(|f| u64::from(f.vcpus) * 1000 >= cpus && f.ram_mib >= mib)
        .min_by_key(|f| (f.ram_mib, f.vcpus, f.disk_gb))
        .cloned()
}

/// The largest flavor of the catalogue (by RAM, then vCPUs), for messages.
pub(crate) fn largest(flavors: &[Flavor]) -> Option<&Flavor> {
    flavors.iter().max_by_key(|f| (f.ram_mib, f.vcpus))
}

/// Every vm that runs on OpenStack.
pub(crate) fn build_all(b: &mut Builder<'_>) {
    let vms = b.app.vms.clone();
    for (name, vm) in &vms {
        let p = |f: &str| format!("vms.{name}.{f}");
        let res = b.fresh(&format!("vm_{name}"));
        let image = match b.os.images.get(&vm.image) {
            Some(i) => {
                b.ledger.mapped(p("image"));
                i.clone()
            }
            None => {
                b.diags.push(
                    Diagnostic::error(
                        "T400",
                        format!("vm `{name}`: image `{}` has no openstack image", vm.image),
                    )
                    .with_path(p("image"))
                    .with_hint(format!(
                        "add it: providers: {{openstack: {{images: {{{}: \"<glance image name>\"}}}}}}",
                        vm.image
                    )),
                );
                b.ledger
                    .dropped(p("image"), "no entry in providers.openstack.images");
                vm.image.clone()
            }
        };
        let mib = vm.memory.0.div_ceil(1024 * 1024);
        let flavor = match fit(&b.flavors, vm.cpus.0, mib) {
            Some(f) => {
                let exact = u64::from(f.vcpus) * 1000 == vm.cpus.0 && f.ram_mib == mib;
                for field in ["cpus", "memory"] {
                    if exact {
                        b.ledger.mapped(p(field));
                    } else {
                        b.ledger.approximated(
                            p(field),
                            format!(
                                "the smallest flavor that holds it: {} ({} vcpus, {} MiB)",
                                f.name, f.vcpus, f.ram_mib
                            ),
                        );
                    }
                }
                f.name
            }
            None => {
                let big = largest(&b.flavors);
                let the_largest = big.map_or("the catalogue is empty".to_string(), |f| {
                    format!("the largest is {}", f.describe())
                });
                b.diags.push(
                    Diagnostic::error(
                        "T401",
                        format!(
                            "vm `{name}`: no flavor has {} cpus and {mib} MiB; {the_largest}",
                            vm.cpus
                        ),
                    )
                    .with_path(p("cpus"))
                    .with_hint(
                        "lower cpus or memory, or ask the cloud's operator for a larger flavor",
                    ),
                );
                b.ledger.dropped(p("cpus"), "no flavor is large enough");
                b.ledger.dropped(p("memory"), "no flavor is large enough");
                big.map(|f| f.name.clone()).unwrap_or_default()
            }
        };
        let image_param = format!("vm_{}_image", ident(name));
        let flavor_param = format!("vm_{}_flavor", ident(name));
        b.param(
            &image_param,
            json!({"type": "string", "default": image, "description": format!("image of vm {name}")}),
        );
        b.param(
            &flavor_param,
            json!({"type": "string", "default": flavor, "description": format!("flavor of vm {name}")}),
        );
        let component = format!("vm/{name}");
        let mut meta = b.tags(&component);
        for (k, v) in &vm.labels {
            meta.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if !vm.labels.is_empty() {
            b.ledger.mapped(p("labels"));
        }
        let server_name = if vm.replicas > 1 {
            format!("{}-{name}-%index%", b.app.name)
        } else {
            format!("{}-{name}", b.app.name)
        };
        let mut props = json!({
            "name": server_name,
            "flavor": {"get_param": flavor_param},
            "metadata": meta,
        });
        match vm.disk {
            Some(d) => {
                let gb = d.0.div_ceil(1 << 30).max(1);
                props["block_device_mapping_v2"] = json!([{
                    "boot_index": 0,
                    "image": {"get_param": image_param},
                    "volume_size": gb,
                    "delete_on_termination": true,
                }]);
                if d.0 % (1 << 30) == 0 {
                    b.ledger.mapped(p("disk"));
                } else {
                    b.ledger.approximated(
                        p("disk"),
                        format!("boot volume sizes are whole GiB: rounded up to {gb}"),
                    );
                }
            }
            None => props["image"] = json!({"get_param": image_param}),
        }
        if let Some(ud) = &vm.user_data {
            props["user_data_format"] = json!("RAW");
            props["user_data"] = json!(ud);
            b.ledger.approximated(
                p("user_data"),
                "passed as it is; `${vms.NAME.address}` references in it are not resolved on openstack",
            );
        }
        if let Some(n) = b.networks() {
            props["networks"] = n;
        }
        if let Some(k) = b.key_name() {
            props["key_name"] = k;
        }
        let mut rules: Vec<Value> = Vec::new();
        for (i, pt) in vm.ports.iter().enumerate() {
            if let Some(pb) = pt.published {
                rules.push(port_rule(pt.protocol.as_str(), pb));
            }
            if b.opts.neutron {
                b.ledger.mapped(format!("vms.{name}.ports[{i}]"));
            } else {
                b.ledger.approximated(
                    format!("vms.{name}.ports[{i}]"),
                    "without neutron no security group opens it",
                );
            }
        }
        let mut sgs = Vec::new();
        if let Some(sg) = b.internal_security_group() {
            sgs.push(json!({"get_resource": sg}));
        }
        if let Some(sg) = b.port_security_group(&res, &component, rules) {
            sgs.push(json!({"get_resource": sg}));
        }
        if !sgs.is_empty() {
            props["security_groups"] = json!(sgs);
        }
        if vm.provider.is_some() {
            b.ledger.mapped(p("provider"));
        }
        let pl = &vm.placement;
        for (field, set) in [
            ("placement.spread", pl.spread.is_some()),
            ("placement.constraints", !pl.constraints.is_empty()),
            ("placement.max_per_host", pl.max_per_host.is_some()),
        ] {
            if set {
                b.ledger.dropped(
                    p(field),
                    "nova schedules vms; bridge sets no scheduler hints for them",
                );
                b.diags.push(
                    Diagnostic::warning(
                        "T414",
                        format!("vm `{name}`: `{field}` is not applied on openstack"),
                    )
                    .with_path(p(field))
                    .with_hint("nova's scheduler places the vm; use availability zones in the cloud to spread vms"),
                );
            }
        }
        let mut server = json!({"type": "OS::Nova::Server", "properties": props});
        let hash = bridge_core::hash::spec_hash(&server);
        server["properties"]["metadata"][super::TAG_SPEC_HASH] = json!(hash);
        if vm.replicas > 1 {
            b.ledger.mapped(p("replicas"));
            b.resources.insert(
                res.clone(),
                json!({
                    "type": "OS::Heat::ResourceGroup",
                    "properties": {"count": vm.replicas, "resource_def": server},
                }),
            );
        } else {
            b.resources.insert(res.clone(), server);
        }
        b.ledger.mapped(format!("vms.{name}"));
        b.outputs.insert(
            format!("{res}_address"),
            json!({
                "description": format!("address of vm {name}"),
                "value": super::address_of(&res, vm.replicas > 1),
            }),
        );
        b.vm_resources.insert(name.clone(), (res, vm.replicas));
    }
}
