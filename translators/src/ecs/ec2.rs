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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceType {
    /// The API name, like `m5.large`.
    pub name: String,
    /// Virtual CPUs.
    pub vcpus: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Relative cost; only compared. The stock list: on-demand price in ten-thousandths of a
    /// dollar per hour (us-east-1, Linux). From the API: [`cost_of`] (no prices there).
    pub cost: u64,
    /// Burstable (t2, t3...): fine for VMs, not chosen for container instances, whose reserved
    /// cpu units would run out of credits under steady load.
    pub burstable: bool,
    /// An arm64 (Graviton) type; the others are x86-64.
    pub arm64: bool,
    /// GPUs.
    pub gpus: u32,
}

const fn it(name: &'static str, vcpus: u64, memory_gib: u64, cost: u64, burstable: bool) -> Stock {
    Stock {
        name,
        vcpus,
        memory_gib,
        cost,
        burstable,
    }
}

/// One entry of the stock list.
#[derive(Debug, Clone, Copy)]
struct Stock {
    name: &'static str,
    vcpus: u64,
    memory_gib: u64,
    cost: u64,
    burstable: bool,
}

/// Relative cost of a type from its size alone (DescribeInstanceTypes has no prices): m5's
/// on-demand rates per vCPU and per GiB, so smaller is cheaper.
pub fn cost_of(vcpus: u64, memory_mib: u64) -> u64 {
    vcpus * 340 + memory_mib * 36 / 1024
}

impl InstanceType {
    /// A type from the API's figures (x86-64, no GPUs, not burstable; see the builders).
    pub fn new(name: impl Into<String>, vcpus: u64, memory_mib: u64) -> InstanceType {
        InstanceType {
            name: name.into(),
            vcpus,
            memory_mib,
            cost: cost_of(vcpus, memory_mib),
            burstable: false,
            arm64: false,
            gpus: 0,
        }
    }

    /// `t3.small (2 vCPU, 2 GiB)`.
    pub fn describe(&self) -> String {
        if self.memory_mib.is_multiple_of(1024) {
            format!(
                "{} ({} vCPU, {} GiB)",
                self.name,
                self.vcpus,
                self.memory_mib / 1024
            )
        } else {
            format!(
                "{} ({} vCPU, {} MiB)",
                self.name, self.vcpus, self.memory_mib
            )
        }
    }

    fn memory(&self) -> ByteSize {
        ByteSize(self.memory_mib * 1024 * 1024)
    }
}

/// The stock list as instance types: assumed when the driver passes no catalogue of its own
/// (`render` without credentials; warning T229).
pub fn stock_catalogue() -> Vec<InstanceType> {
    CATALOGUE
        .iter()
        .map(|s| InstanceType {
            name: s.name.to_string(),
            vcpus: s.vcpus,
            memory_mib: s.memory_gib * 1024,
            cost: s.cost,
            burstable: s.burstable,
            arm64: false,
            gpus: 0,
        })
        .collect()
}

/// `m5.24xlarge (96 vCPU, 384 GiB)`: the catalogue's largest types by cpu and by memory (one
/// when they are the same), for a diagnostic.
pub fn largest(catalogue: &[InstanceType]) -> String {
    let by_cpu = catalogue.iter().max_by_key(|t| (t.vcpus, t.memory_mib));
    let by_mem = catalogue.iter().max_by_key(|t| (t.memory_mib, t.vcpus));
    match (by_cpu, by_mem) {
        (Some(a), Some(b)) if a.name == b.name => a.describe(),
        (Some(a), Some(b)) => format!("{} and {}", a.describe(), b.describe()),
        _ => "none".into(),
    }
}

/// The catalogue: general purpose (t3, m5), compute (c5) and memory (r5) sizes.
const CATALOGUE: &[Stock] = &[
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
            self.name.clone(),
            Cpus(self.vcpus * 1000),
            self.memory(),
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
        .filter(|t| t.vcpus * 1000 >= cpus.0 && t.memory() >= memory)
        .min_by_key(|t| t.cost)
        .cloned()
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
    // A VM's AMI is taken to be x86-64, and it asks for no GPUs.
    let plain: Vec<InstanceType> = catalogue
        .iter()
        .filter(|t| !t.arm64 && t.gpus == 0)
        .cloned()
        .collect();
    let ty = instance_type_for(&plain, vm.cpus, vm.memory);
    match &ty {
        Some(t) if t.vcpus * 1000 == vm.cpus.0 && t.memory() == vm.memory => {
            cx.ledger.mapped(p("cpus"));
            cx.ledger.mapped(p("memory"));
        }
        Some(t) => {
            let why = format!("the cheapest instance type that fits is {}", t.describe());
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
                    "vm `{name}` needs {} cpu and {}, more than any x86-64 instance type {}",
                    vm.cpus,
                    vm.memory,
                    if cx.stock_types {
                        "bridge knows"
                    } else {
                        "the region offers"
                    }
                ),
                Some(&format!(
                    "lower cpus or memory (the largest {} {})",
                    if cx.stock_types {
                        "in the stock list:"
                    } else {
                        "the region offers:"
                    },
                    largest(&plain)
                )),
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
            cx.ledger.claimed(
                p("user_data"),
                crate::claims::Claim::ResolvesAddressReferences,
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
        cx.ledger.claimed(
            format!("vms.{name}.ports[{i}]"),
            crate::claims::Claim::OpensVmPorts,
            "EC2 opens ports in security groups: the driver adds this port to the app's group; RunInstances itself has none",
        );
    }
    let pl = &vm.placement;
    if pl.spread.is_some() {
        cx.ledger.claimed(
            p("placement.spread"),
            crate::claims::Claim::SpreadsVmReplicas,
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
        instance_type: ty.name,
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
    // Base sizes: the one the options name, or the non-burstable catalogue of the pool's
    // architecture, with enough GPUs for the services that ask for them.
    let gpus = app
        .services
        .iter()
        .filter_map(|(n, s)| Some((s.resources.gpus?, n)))
        .max();
    if let (true, Some((g, n))) = (cx.stock_types, gpus) {
        // The stock list has no GPU types; the region's may.
        cx.warn(
            "T228",
            format!("services.{n}.resources.gpus"),
            format!("the stock instance types have no GPUs; the pool is sized without the {g} GPU(s) asked for"),
            Some("deploy (or plan) reads the region's instance types and sizes the pool on GPU types"),
        );
    }
    let gpus = gpus.filter(|_| !cx.stock_types);
    let arm64 = cx.pool_arm64;
    let fits = |t: &InstanceType| {
        t.arm64 == arm64
            && match gpus {
                Some((g, _)) => t.gpus >= g,
                None => t.gpus == 0,
            }
    };
    let whose = if cx.stock_types {
        "in the stock list"
    } else {
        "the region offers"
    };
    let base: Vec<HostType> = match &aws.instance_type {
        Some(n) => match catalogue.iter().find(|t| &t.name == n) {
            Some(t) => vec![t.host()],
            None => {
                let hint = if cx.stock_types {
                    format!(
                        "use one of {}",
                        catalogue
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    "use a type the region offers (aws ec2 describe-instance-type-offerings), or leave it out to let the solver choose".to_string()
                };
                cx.error(
                    "T213",
                    "providers.aws.instance_type".into(),
                    if cx.stock_types {
                        format!("bridge does not know the size of the instance type `{n}`")
                    } else {
                        format!("the region offers no instance type `{n}`")
                    },
                    Some(&hint),
                );
                return None;
            }
        },
        None => {
            let v: Vec<HostType> = catalogue
                .iter()
                .filter(|t| !t.burstable && fits(t))
                .map(InstanceType::host)
                .collect();
            if v.is_empty() {
                let (path, what) = match gpus {
                    Some((g, n)) => (
                        format!("services.{n}.resources.gpus"),
                        format!("{g} GPU{}", if g == 1 { "" } else { "s" }),
                    ),
                    None => (
                        "providers.aws".to_string(),
                        "the pool's architecture".to_string(),
                    ),
                };
                cx.error(
                    "T228",
                    path,
                    format!("no non-burstable instance type {whose} has {what}"),
                    Some("run the service on Fargate (no GPUs), or on a region or cluster that has GPU instances"),
                );
                return None;
            }
            v
        }
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
