//! EC2: the instance-type catalogue, one RunInstances body per VM, and the size of the ECS
//! container-instance pool from the placement solver.

use std::collections::BTreeMap;

use bridge_core::model::{AwsOptions, Vm};
use bridge_core::placement::{self, HostType, Options as PlaceOptions};
use bridge_core::units::{ByteSize, Cpus};

use super::api;
use super::{Capacity, Ctx, Instance, Pool, TAG_APP, TAG_COMPONENT, TAG_SPEC_HASH, on_aws};

const GIB: u64 = 1024 * 1024 * 1024;

/// An EC2 instance type bridge can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceType {
    /// The API name, like `m5.large`.
    pub name: &'static str,
    /// Virtual CPUs.
    pub vcpus: u64,
    /// Memory in GiB.
    pub memory_gib: u64,
    /// On-demand price in ten-thousandths of a dollar per hour (us-east-1, Linux); only compared.
    pub cost: u64,
    /// Burstable (t3): fine for VMs, not chosen for container instances, whose reserved cpu units
    /// would run out of credits under steady load.
    pub burstable: bool,
}

const fn it(
    name: &'static str,
    vcpus: u64,
    memory_gib: u64,
    cost: u64,
    burstable: bool,
) -> InstanceType {
    InstanceType {
        name,
        vcpus,
        memory_gib,
        cost,
        burstable,
    }
}

/// The catalogue: general purpose (t3, m5), compute (c5) and memory (r5) sizes.
pub const CATALOGUE: &[InstanceType] = &[
    it("t3.micro", 2, 1, 104, true),
    it("t3.small", 2, 2, 208, true),
    it("t3.medium", 2, 4, 416, true),
    it("t3.large", 2, 8, 832, true),
    it("t3.xlarge", 4, 16, 1664, true),
    it("t3.2xlarge", 8, 32, 3328, true),
    it("m5.large", 2, 8, 960, false),
    it("m5.xlarge", 4, 16, 1920, false),
    it("m5.2xlarge", 8, 32, 3840, false),
    it("m5.4xlarge", 16, 64, 7680, false),
    it("m5.8xlarge", 32, 128, 15360, false),
    it("m5.12xlarge", 48, 192, 23040, false),
    it("m5.16xlarge", 64, 256, 30720, false),
    it("m5.24xlarge", 96, 384, 46080, false),
    it("c5.large", 2, 4, 850, false),
    it("c5.xlarge", 4, 8, 1700, false),
    it("c5.2xlarge", 8, 16, 3400, false),
    it("c5.4xlarge", 16, 32, 6800, false),
    it("c5.9xlarge", 36, 72, 15300, false),
    it("c5.12xlarge", 48, 96, 20400, false),
    it("c5.18xlarge", 72, 144, 30600, false),
    it("c5.24xlarge", 96, 192, 40800, false),
    it("r5.large", 2, 16, 1260, false),
    it("r5.xlarge", 4, 32, 2520, false),
    it("r5.2xlarge", 8, 64, 5040, false),
    it("r5.4xlarge", 16, 128, 10080, false),
    it("r5.8xlarge", 32, 256, 20160, false),
    it("r5.12xlarge", 48, 384, 30240, false),
    it("r5.16xlarge", 64, 512, 40320, false),
    it("r5.24xlarge", 96, 768, 60480, false),
];

impl InstanceType {
    fn host(&self) -> HostType {
        HostType::new(
            self.name,
            Cpus(self.vcpus * 1000),
            ByteSize(self.memory_gib * GIB),
            self.cost,
        )
    }
}

/// The cheapest type in `catalogue` with at least `cpus` and `memory` (ties: catalogue order).
pub fn instance_type_for(
    catalogue: &[InstanceType],
    cpus: Cpus,
    memory: ByteSize,
) -> Option<InstanceType> {
    catalogue
        .iter()
        .filter(|t| t.vcpus * 1000 >= cpus.0 && t.memory_gib * GIB >= memory.0)
        .min_by_key(|t| t.cost)
        .copied()
}

fn ec2_tags(app: &str, component: &str, labels: &BTreeMap<String, String>) -> Vec<api::Ec2Tag> {
    let mut t: BTreeMap<String, String> = labels.clone();
    t.insert(TAG_APP.into(), app.into());
    t.insert(TAG_COMPONENT.into(), component.into());
    t.into_iter()
        .map(|(key, value)| api::Ec2Tag { key, value })
        .collect()
}

/// The RunInstances body for one VM, or None when it has no AMI or no size (reported).
pub(crate) fn instance(
    cx: &mut Ctx<'_>,
    aws: &AwsOptions,
    catalogue: &[InstanceType],
    name: &str,
    vm: &Vm,
) -> Option<Instance> {
    let app = cx.app;
    let p = |f: &str| format!("vms.{name}.{f}");
    let image = aws.images.get(&vm.image);
    match image {
        Some(_) => cx.ledger.mapped(p("image")),
        None => {
            cx.ledger
                .dropped(p("image"), "no AMI is given for this image name");
            cx.error(
                "T212",
                p("image"),
                format!("no AMI for the image `{}`", vm.image),
                Some(&format!(
                    "add `providers.aws.images.{}: ami-...` (the AMI id in the region)",
                    vm.image
                )),
            );
        }
    }
    let ty = instance_type_for(catalogue, vm.cpus, vm.memory);
    match ty {
        Some(t) if t.vcpus * 1000 == vm.cpus.0 && t.memory_gib * GIB == vm.memory.0 => {
            cx.ledger.mapped(p("cpus"));
            cx.ledger.mapped(p("memory"));
        }
        Some(t) => {
            let why = format!(
                "the cheapest instance type that fits is {} ({} vCPU, {} GiB)",
                t.name, t.vcpus, t.memory_gib
            );
            cx.ledger.approximated(p("cpus"), why.clone());
            cx.ledger.approximated(p("memory"), why.clone());
            cx.note("T222", format!("vms.{name}"), why);
        }
        None => {
            cx.ledger
                .dropped(p("cpus"), "larger than every known instance type");
            cx.ledger
                .dropped(p("memory"), "larger than every known instance type");
            cx.error(
                "T213",
                format!("vms.{name}"),
                format!(
                    "vm `{name}` needs {} cpu and {}, more than any instance type bridge knows",
                    vm.cpus, vm.memory
                ),
                Some("lower cpus or memory (the largest known types have 96 vCPU or 768 GiB)"),
            );
        }
    }
    let (Some(image), Some(ty)) = (image, ty) else {
        // Every other field of the VM goes with it, and says so.
        cx.ledger.dropped(
            format!("vms.{name}"),
            "the vm is not rendered: it has no AMI or no instance type fits (see the error)",
        );
        return None;
    };
    if vm.replicas != 1 {
        cx.ledger.mapped(p("replicas"));
    }
    if vm.provider.is_some() {
        cx.ledger.mapped(p("provider"));
    }
    if !vm.labels.is_empty() {
        cx.ledger.mapped(p("labels"));
    }
    let user_data = vm.user_data.as_ref().map(|u| {
        if u.contains("${") {
            cx.ledger.approximated(
                p("user_data"),
                "address references are resolved by the driver before the instance starts",
            );
        } else {
            cx.ledger.mapped(p("user_data"));
        }
        crate::swarm::base64(u.as_bytes())
    });
    let disk = vm.disk.map(|d| {
        let gib = d.0.div_ceil(GIB).max(1);
        if gib * GIB == d.0 {
            cx.ledger.mapped(p("disk"));
        } else {
            cx.ledger
                .approximated(p("disk"), format!("EBS sizes are whole GiB: {gib} GiB"));
        }
        api::BlockDeviceMapping {
            device_name: "/dev/xvda".into(),
            ebs: api::EbsBlockDevice {
                delete_on_termination: true,
                volume_size: gib,
                volume_type: "gp3".into(),
            },
        }
    });
    for (i, _) in vm.ports.iter().enumerate() {
        cx.ledger.approximated(
            format!("vms.{name}.ports[{i}]"),
            "EC2 opens ports in security groups: the driver adds this port to the app's group; RunInstances itself has none",
        );
    }
    let pl = &vm.placement;
    if pl.spread.is_some() {
        cx.ledger.approximated(
            p("placement.spread"),
            "the driver spreads the replicas over providers.aws.subnets (one zone each)",
        );
    }
    for (i, _) in pl.constraints.iter().enumerate() {
        cx.drop_warn(
            "T214",
            format!("vms.{name}.placement.constraints[{i}]"),
            "EC2 instances have no node labels to match",
            None,
        );
    }
    if pl.max_per_host.is_some() {
        cx.ledger.mapped(p("placement.max_per_host"));
    }
    let component = format!("instance/{name}");
    let mut body = api::RunInstances {
        image_id: image.clone(),
        instance_type: ty.name.into(),
        min_count: vm.replicas,
        max_count: vm.replicas,
        user_data,
        subnet_id: aws.subnets.first().cloned(),
        security_group_ids: aws.security_groups.clone(),
        block_device_mappings: disk.into_iter().collect(),
        tag_specifications: Vec::new(),
    };
    let hash = bridge_core::hash::spec_hash(&(&body, &vm.labels));
    let mut t = ec2_tags(&app.name, &component, &vm.labels);
    t.push(api::Ec2Tag {
        key: TAG_SPEC_HASH.into(),
        value: hash,
    });
    body.tag_specifications = vec![
        api::TagSpecification {
            resource_type: "instance".into(),
            tags: t.clone(),
        },
        api::TagSpecification {
            resource_type: "volume".into(),
            tags: t,
        },
    ];
    Some(Instance {
        vm: name.to_string(),
        ports: vm.ports.clone(),
        body,
    })
}

/// Size the container-instance pool of the app's ECS groups with the placement solver.
pub(crate) fn capacity(
    cx: &mut Ctx<'_>,
    aws: &AwsOptions,
    catalogue: &[InstanceType],
    cluster: &str,
) -> Option<Capacity> {
    // Only the services that run on ECS.
    let mut app = cx.app.clone();
    app.services.retain(|_, s| on_aws(s.provider));
    app.vms.clear();
    // Rules ECS expresses but the solver does not know (reported by the service builder) are
    // left out of the sizing.
    let keep = |pl: &mut bridge_core::model::Placement| {
        pl.constraints
            .retain(|c| placement::Constraint::parse(c).is_ok());
        if pl
            .spread
            .as_deref()
            .is_some_and(|s| s != "host" && s != "zone")
        {
            pl.spread = None;
        }
    };
    for s in app.services.values_mut() {
        keep(&mut s.placement);
    }
    for g in app.groups.values_mut() {
        keep(&mut g.placement);
    }
    let opts = PlaceOptions::default();
    let units = match placement::units(&app, &opts) {
        Ok(u) => u,
        Err(es) => {
            cx.diags.extend(placement::to_diagnostics(&es).0);
            return None;
        }
    };
    // Base sizes: the one the options name, or the non-burstable catalogue.
    let base: Vec<HostType> = match &aws.instance_type {
        Some(n) => match catalogue.iter().find(|t| t.name == n) {
            Some(t) => vec![t.host()],
            None => {
                cx.error(
                    "T213",
                    "providers.aws.instance_type".into(),
                    format!("bridge does not know the size of the instance type `{n}`"),
                    Some(&format!(
                        "use one of {}",
                        catalogue
                            .iter()
                            .map(|t| t.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                return None;
            }
        },
        None => catalogue
            .iter()
            .filter(|t| !t.burstable)
            .map(InstanceType::host)
            .collect(),
    };
    // Instances bridge launches can carry any attribute: one variant of each size per set of
    // `==` constraints a unit needs (and one without attributes).
    let mut label_sets: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    for u in &units {
        let set: BTreeMap<String, String> = u
            .constraints
            .iter()
            .filter(|c| c.op == placement::Op::Eq)
            .map(|c| (c.label.clone(), c.value.clone()))
            .collect();
        if !label_sets.contains(&set) {
            label_sets.push(set);
        }
    }
    let mut hosts = Vec::new();
    let mut variants: BTreeMap<String, (String, BTreeMap<String, String>)> = BTreeMap::new();
    for (i, set) in label_sets.iter().enumerate() {
        for b in &base {
            let mut h = b.clone();
            if i > 0 {
                h.name = format!("{}#{i}", b.name);
            }
            h.labels = set.clone();
            variants.insert(h.name.clone(), (b.name.clone(), set.clone()));
            hosts.push(h);
        }
    }
    let placed = match placement::place_catalogue(&units, &hosts, &opts) {
        Ok(p) => p,
        Err(es) => {
            cx.diags.extend(placement::to_diagnostics(&es).0);
            return None;
        }
    };
    let mut pools: BTreeMap<(String, BTreeMap<String, String>), usize> = BTreeMap::new();
    for h in &placed.hosts {
        let key = variants
            .get(&h.size)
            .cloned()
            .unwrap_or_else(|| (h.size.clone(), BTreeMap::new()));
        *pools.entry(key).or_default() += 1;
    }
    Some(Capacity {
        cluster: cluster.to_string(),
        pools: pools
            .into_iter()
            .map(|((instance_type, attributes), count)| Pool {
                instance_type,
                count,
                attributes,
            })
            .collect(),
        instances: placed.hosts_used,
        lower_bound: placed.lower_bound,
        report: placed.bound_report().to_string(),
        image_id: aws.ami.clone(),
        instance_profile: aws.instance_profile.clone(),
    })
}
