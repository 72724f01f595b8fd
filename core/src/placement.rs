//! Placement: packs an app's container units (a group, or a service without a group) onto hosts by
//! cpu and memory, honouring co-location, `spread`, `max_per_host` and label constraints, and sizes
//! the host pool from one host size or a catalogue of sizes. Pure: no I/O, deterministic output.
//!
//! The pipeline is [`units`] (the app's workload as [`Unit`]s, with their demand per replica) then
//! [`place`] (one host size) or [`place_catalogue`] (the cheapest sizes from a caller's catalogue).
//! [`place_app`] does both for a [`ValidApp`].
//!
//! # Demand
//!
//! A unit's demand per replica is the sum over its services of, per dimension, the reservation if
//! set, else the limit, else [`Options::default_demand`] (0.25 cpu and 256MiB unless configured).
//! A host offers its size minus [`Options::overhead`] (0.1 cpu and 256MiB for the OS and the
//! container agent unless configured), minus what its `mode: global` units need.
//!
//! # Algorithm
//!
//! First-fit decreasing on two dimensions. Replicas are sorted by their largest share of the host
//! (`max(cpu / host cpu, memory / host memory)`, compared exactly in integers), larger first, ties
//! by the sum of both shares, then by unit and replica index; each replica goes to the first open
//! host where it fits and its spread and `max_per_host` rules hold, else a new host is opened.
//!
//! - `spread: host` puts replicas of one unit on distinct hosts. The solver sizes the pool, so
//!   distinct hosts are always possible and it opens hosts rather than doubling up; with an explicit
//!   `max_per_host` it allows that many per host and prefers the host holding fewest of them.
//! - `spread: zone` sends replica `r` to zone `zones[r % zones.len()]` ([`Options::zones`]). A
//!   host gets its zone when opened: the zone a replica asked for, else the zone with fewest hosts
//!   in its pool. With no zones given there is one unnamed zone and the rule holds trivially.
//! - `max_per_host` is a hard limit on replicas of one unit per host.
//! - Constraints `node.labels.K == V` and `node.labels.K != V` are matched against
//!   [`HostType::labels`]; every host of a size carries that size's labels.
//! - `mode: global` units run once on every host whose labels they satisfy; their demand is taken
//!   off each such host's capacity before packing. An app with only global units gets one host.
//!
//! # Choosing sizes from a catalogue
//!
//! Packing with several bin sizes is NP-hard, and a pool of one size maps to one auto-scaling
//! group, managed instance group or resource group, so the solver keeps pools homogeneous:
//!
//! 1. Each replicated unit's *eligible sizes* are those whose labels satisfy its constraints and
//!    which can hold one replica. Units with the same eligible sizes form a class.
//! 2. For each class, every eligible size is tried (a full first-fit decreasing run each) and the
//!    one with the lowest `hosts x cost` is kept (ties: fewer hosts, then catalogue order). Within a
//!    class this choice is exact for the packing heuristic, not just estimated.
//! 3. Classes that chose the same size are packed together when that uses no more hosts than
//!    packing them apart, so merging never costs more.
//!
//! This can miss a cheaper mix where one class would share room on another class's hosts; the
//! reported lower bound makes the slack visible.
//!
//! # Lower bound
//!
//! For each pool, `ceil(max(sum cpu demand / host cpu, sum memory demand / host memory))` with the
//! capacity that pool's hosts offer; [`Placement::lower_bound`] is the sum over pools. No placement
//! on the chosen sizes can use fewer hosts. First fit also keeps at most one host filled to half or
//! less in both dimensions (a later host's first replica did not fit there, so it fills more than
//! half of one dimension), hence without spread or `max_per_host` rules a pool uses at most
//! `2 * (cpu share + memory share) + 1 <= 4 * lower bound + 1` hosts.
//!
//! # Cost
//!
//! One packing is `O(replicas x hosts)`; a catalogue of `k` sizes packs each class up to `k` times
//! and once more at the end. Measured with a release build on a shared 2-core AMD EPYC container,
//! 10,000 single-replica units with demands between 0.05 and 2 cpu and 64MiB and 4GiB:
//! 27 to 55 ms on one size (1301 hosts, lower bound 1298) and 97 to 136 ms choosing from a
//! catalogue of four sizes. Worst cases measured: 10,000 units each over half a host (one host
//! each) took 160 ms; one unit of 10,000 `spread: host` replicas took 0.5 s.

use std::collections::BTreeMap;
use std::fmt;

use crate::codes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{App, Placement as ModelPlacement, ServiceMode};
use crate::units::{ByteSize, Cpus};
use crate::validate::ValidApp;

const MIB: u64 = 1024 * 1024;

/// CPU and memory, as demanded by one replica or offered by one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Demand {
    /// CPUs.
    pub cpus: Cpus,
    /// Memory.
    pub memory: ByteSize,
}

impl Demand {
    /// A demand of `cpus` and `memory`.
    pub const fn new(cpus: Cpus, memory: ByteSize) -> Demand {
        Demand { cpus, memory }
    }

    /// Both dimensions less `other`, or None when either would go below zero.
    pub fn checked_sub(self, other: Demand) -> Option<Demand> {
        Some(Demand {
            cpus: Cpus(self.cpus.0.checked_sub(other.cpus.0)?),
            memory: ByteSize(self.memory.0.checked_sub(other.memory.0)?),
        })
    }

    /// True when `self` fits within `capacity` in both dimensions.
    pub fn fits_in(self, capacity: Demand) -> bool {
        self.cpus <= capacity.cpus && self.memory <= capacity.memory
    }
}

impl std::ops::Add for Demand {
    type Output = Demand;

    /// Both dimensions added, saturating.
    fn add(self, other: Demand) -> Demand {
        Demand {
            cpus: Cpus(self.cpus.0.saturating_add(other.cpus.0)),
            memory: ByteSize(self.memory.0.saturating_add(other.memory.0)),
        }
    }
}

impl fmt::Display for Demand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cpu and {}", self.cpus, self.memory)
    }
}

/// One host size: a machine type, instance type or flavor. The catalogue is the caller's data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostType {
    /// The provider's name, such as `e2-standard-4` or `t3.large`.
    pub name: String,
    /// Virtual CPUs.
    pub cpus: Cpus,
    /// Memory.
    pub memory: ByteSize,
    /// Relative cost of one host, in any unit the whole catalogue shares (say, tenths of a cent
    /// per hour); only compared.
    pub cost: u64,
    /// Node labels every host of this size carries, matched by `node.labels.K` constraints.
    pub labels: BTreeMap<String, String>,
}

impl HostType {
    /// A host size without labels.
    pub fn new(name: impl Into<String>, cpus: Cpus, memory: ByteSize, cost: u64) -> HostType {
        HostType {
            name: name.into(),
            cpus,
            memory,
            cost,
            labels: BTreeMap::new(),
        }
    }

    /// The same size with one more label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> HostType {
        self.labels.insert(key.into(), value.into());
        self
    }

    fn size(&self) -> Demand {
        Demand::new(self.cpus, self.memory)
    }
}

/// Solver settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Taken off every host for the OS and container agent. Default 0.1 cpu and 256MiB.
    pub overhead: Demand,
    /// A service's demand in a dimension where it sets neither reservation nor limit. Default
    /// 0.25 cpu and 256MiB.
    pub default_demand: Demand,
    /// Zones for `spread: zone`, in round-robin order; empty means one unnamed zone.
    pub zones: Vec<String>,
    /// At most this many hosts in all; replicas beyond it are reported in
    /// [`Placement::unplaceable`]. None: no limit.
    pub max_hosts: Option<usize>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            overhead: Demand::new(Cpus(100), ByteSize(256 * MIB)),
            default_demand: Demand::new(Cpus(250), ByteSize(256 * MIB)),
            zones: Vec::new(),
            max_hosts: None,
        }
    }
}

/// Whether a unit is a group or a service on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitKind {
    /// A group: its services share a host.
    Group,
    /// A service without a group.
    Service,
}

/// Names a unit: its kind and name (a group and a service may share a name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitKey {
    /// Group or service.
    pub kind: UnitKind,
    /// The group's or service's name.
    pub name: String,
}

impl UnitKey {
    /// The field path of the unit in a bridge.yaml: `groups.NAME` or `services.NAME`.
    pub fn path(&self) -> String {
        match self.kind {
            UnitKind::Group => format!("groups.{}", self.name),
            UnitKind::Service => format!("services.{}", self.name),
        }
    }
}

impl fmt::Display for UnitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            UnitKind::Group => write!(f, "group `{}`", self.name),
            UnitKind::Service => write!(f, "service `{}`", self.name),
        }
    }
}

/// How many replicas a unit runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// This many, packed by the solver.
    Count(u32),
    /// One on every host whose labels the unit's constraints accept.
    Global,
}

/// A comparison in a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// A parsed `node.labels.K == V` or `node.labels.K != V`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Constraint {
    /// The label key `K`.
    pub label: String,
    /// The comparison.
    pub op: Op,
    /// The value `V`.
    pub value: String,
}

impl Constraint {
    /// Parse a constraint; only node labels are known to the solver.
    pub fn parse(s: &str) -> Result<Constraint, String> {
        let (lhs, op, rhs) = if let Some((l, r)) = s.split_once("==") {
            (l, Op::Eq, r)
        } else if let Some((l, r)) = s.split_once("!=") {
            (l, Op::Ne, r)
        } else {
            return Err(format!("`{s}` has no `==` or `!=`"));
        };
        let lhs = lhs.trim();
        let value = rhs.trim().trim_matches(|c| c == '"' || c == '\'');
        let Some(label) = lhs.strip_prefix("node.labels.") else {
            return Err(format!(
                "`{lhs}` is not a node label; the placement solver matches `node.labels.KEY` only"
            ));
        };
        if label.is_empty() || value.is_empty() || value.contains("==") || value.contains("!=") {
            return Err(format!("`{s}` is not `node.labels.KEY == VALUE`"));
        }
        Ok(Constraint {
            label: label.to_string(),
            op,
            value: value.to_string(),
        })
    }

    /// True when a host with `labels` satisfies the constraint.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let equal = labels.get(&self.label) == Some(&self.value);
        match self.op {
            Op::Eq => equal,
            Op::Ne => !equal,
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Eq => "==",
            Op::Ne => "!=",
        };
        write!(f, "node.labels.{} {op} {}", self.label, self.value)
    }
}

/// What must land on one host, replicated: a group, or a service without a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The unit's name.
    pub key: UnitKey,
    /// Its services, sorted.
    pub services: Vec<String>,
    /// Demand of one replica.
    pub demand: Demand,
    /// How many replicas.
    pub replicas: Replicas,
    /// `spread: host`.
    pub spread_host: bool,
    /// `spread: zone`.
    pub spread_zone: bool,
    /// At most this many replicas on one host (the smallest one given in the unit).
    pub max_per_host: Option<u32>,
    /// Every constraint of the group and its services, sorted and without repeats.
    pub constraints: Vec<Constraint>,
}

impl Unit {
    /// A replicated unit with no placement rules, for callers that build workloads themselves.
    pub fn new(kind: UnitKind, name: impl Into<String>, demand: Demand, replicas: u32) -> Unit {
        let name = name.into();
        Unit {
            services: vec![name.clone()],
            key: UnitKey { kind, name },
            demand,
            replicas: Replicas::Count(replicas),
            spread_host: false,
            spread_zone: false,
            max_per_host: None,
            constraints: Vec::new(),
        }
    }

    fn accepts(&self, host: &HostType) -> bool {
        self.constraints.iter().all(|c| c.matches(&host.labels))
    }

    fn per_host_limit(&self) -> Option<u32> {
        self.max_per_host
            .or(if self.spread_host { Some(1) } else { None })
    }
}

/// A placement problem the solver cannot get past.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlacementError {
    /// Services of one group with different replica counts or modes.
    #[error("services of group `{group}` must run the same number of replicas, but {counts}")]
    GroupReplicas {
        /// The group.
        group: String,
        /// `web has 2, sidecar has 3`, or the modes.
        counts: String,
    },
    /// A constraint or spread that the solver does not understand.
    #[error("{message}")]
    BadPlacement {
        /// The field path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// No host size carries labels that satisfy the unit's constraints.
    #[error("{unit} has constraints no host size satisfies: {constraints}")]
    Unsatisfiable {
        /// The unit.
        unit: UnitKey,
        /// The constraints, joined.
        constraints: String,
    },
    /// One replica is larger than every host size it may run on.
    #[error(
        "{unit} needs {needs} per replica, more than the largest host ({size}) offers: {offers}"
    )]
    TooLarge {
        /// The unit.
        unit: UnitKey,
        /// Its demand per replica (with global units, what they need on every host).
        needs: Demand,
        /// The largest host size it may run on.
        size: String,
        /// What that size offers after overhead and global units.
        offers: Demand,
    },
    /// The catalogue is empty.
    #[error("no host sizes to place on")]
    NoHostTypes,
}

impl PlacementError {
    /// The stable code, listed in [`crate::codes`].
    pub fn code(&self) -> &'static str {
        match self {
            PlacementError::GroupReplicas { .. } => codes::GROUP_REPLICAS,
            PlacementError::BadPlacement { .. } => codes::UNSUPPORTED_PLACEMENT,
            PlacementError::Unsatisfiable { .. } => codes::UNSATISFIABLE_CONSTRAINT,
            PlacementError::TooLarge { .. } => codes::UNIT_TOO_LARGE,
            PlacementError::NoHostTypes => codes::NO_HOST_TYPES,
        }
    }

    /// The field path the error is about.
    pub fn path(&self) -> String {
        match self {
            PlacementError::GroupReplicas { group, .. } => format!("groups.{group}"),
            PlacementError::BadPlacement { path, .. } => path.clone(),
            PlacementError::Unsatisfiable { unit, .. } => format!("{}.placement", unit.path()),
            PlacementError::TooLarge { unit, .. } => unit.path(),
            PlacementError::NoHostTypes => String::new(),
        }
    }

    /// As a diagnostic with code, path and hint.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let hint = match self {
            PlacementError::GroupReplicas { .. } => {
                Some("set the same `replicas` and `mode` on every service of the group")
            }
            PlacementError::Unsatisfiable { .. } => {
                Some("add a host size with matching labels, or change the constraints")
            }
            PlacementError::TooLarge { .. } => {
                Some("lower the reservations, split the group, or offer a larger host size")
            }
            _ => None,
        };
        Diagnostic::error(self.code(), self.to_string())
            .with_path(self.path())
            .with_hint_opt(hint.map(str::to_string))
    }
}

/// Every error as a diagnostic, in order.
pub fn to_diagnostics(errors: &[PlacementError]) -> Diagnostics {
    Diagnostics(errors.iter().map(PlacementError::to_diagnostic).collect())
}

/// One replica of one unit on a host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    /// The unit.
    pub unit: UnitKey,
    /// The replica index, from 0; for a global unit, counted over the hosts it runs on.
    pub replica: u32,
}

/// One host of the pool and what runs on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `h0`, `h1`...
    pub name: String,
    /// The host size's name.
    pub size: String,
    /// Its zone, when zones were given.
    pub zone: Option<String>,
    /// Replicas on it, in placement order (global units last).
    pub units: Vec<Slot>,
    /// What its replicas use, global units included, overhead excluded.
    pub used: Demand,
    /// What it offers to units: its size less overhead.
    pub capacity: Demand,
}

/// A replica the solver could not place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    /// The unit.
    pub unit: UnitKey,
    /// The replica index.
    pub replica: u32,
    /// Why.
    pub reason: String,
}

/// The solver's answer: hosts, what runs on each, and how far it is from the lower bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Hosts, grouped by size in catalogue order, named `h0`, `h1`... in that order.
    pub hosts: Vec<Host>,
    /// How many hosts: `hosts.len()`.
    pub hosts_used: usize,
    /// No placement on the chosen sizes uses fewer hosts (see the module docs).
    pub lower_bound: usize,
    /// Total relative cost: sum of each host's size cost.
    pub cost: u64,
    /// Replicas not placed (only when [`Options::max_hosts`] is reached).
    pub unplaceable: Vec<Unplaced>,
}

/// Hosts used against the lower bound, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundReport {
    /// Hosts used.
    pub used: usize,
    /// The lower bound.
    pub lower_bound: usize,
}

impl BoundReport {
    /// Hosts above the lower bound.
    pub fn excess(&self) -> usize {
        self.used.saturating_sub(self.lower_bound)
    }
}

impl fmt::Display for BoundReport {
    /// `5 hosts used, lower bound 4 (1 above, 125.0%)`, or `... (optimal)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.used == 1 { "host" } else { "hosts" };
        write!(
            f,
            "{} {noun} used, lower bound {}",
            self.used, self.lower_bound
        )?;
        if self.excess() == 0 {
            f.write_str(" (optimal)")
        } else {
            let permille = (self.used as u128 * 1000) / (self.lower_bound.max(1) as u128);
            write!(
                f,
                " ({} above, {}.{}%)",
                self.excess(),
                permille / 10,
                permille % 10
            )
        }
    }
}

impl Placement {
    /// Hosts used against the lower bound.
    pub fn bound_report(&self) -> BoundReport {
        BoundReport {
            used: self.hosts_used,
            lower_bound: self.lower_bound,
        }
    }
}

/// True for a `node.role == X` or `node.role != X` constraint: Swarm's manager/worker roles,
/// which hosts the solver creates do not have.
pub fn is_node_role(constraint: &str) -> bool {
    let lhs = constraint
        .split_once("==")
        .or_else(|| constraint.split_once("!="))
        .map_or(constraint, |(l, _)| l);
    lhs.trim() == "node.role"
}

/// A warning for every `node.role` constraint of the app's services and groups: the solver's
/// hosts (on `target`) have no node roles, so [`units`] leaves these constraints out.
pub fn node_role_warnings(app: &App, target: &str) -> Diagnostics {
    let mut out = Diagnostics::default();
    let placements = app
        .services
        .iter()
        .map(|(n, s)| (format!("services.{n}.placement"), &s.placement))
        .chain(
            app.groups
                .iter()
                .map(|(n, g)| (format!("groups.{n}.placement"), &g.placement)),
        );
    for (base, p) in placements {
        for (i, c) in p.constraints.iter().enumerate() {
            if !is_node_role(c) {
                continue;
            }
            out.push(
                Diagnostic::warning(
                    codes::NODE_ROLE_IGNORED,
                    format!(
                        "`{}`: {target} hosts have no swarm node roles (manager, worker); the constraint is ignored",
                        c.trim()
                    ),
                )
                .with_path(format!("{base}.constraints[{i}]"))
                .with_hint("drop it for this target, or use `node.labels.KEY == VALUE`, which bridge gives the hosts it creates"),
            );
        }
    }
    out
}

/// The app's container workload as units, sorted by key. Services of one group form one unit;
/// every other service is its own unit. VMs are not units: each is its own machine.
///
/// Errors (all of them, in unit order): a group whose services differ in replicas or mode, a
/// constraint other than `node.labels.K ==|!= V`, a spread other than `host` or `zone`, and
/// `max_per_host: 0`. `node.role` constraints are left out (the solver's hosts have no roles);
/// [`node_role_warnings`] reports them.
pub fn units(app: &App, opts: &Options) -> Result<Vec<Unit>, Vec<PlacementError>> {
    let mut errors = Vec::new();
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut out = Vec::new();
    for (name, svc) in &app.services {
        match &svc.group {
            Some(g) => grouped.entry(g.as_str()).or_default().push(name),
            None => {
                let key = UnitKey {
                    kind: UnitKind::Service,
                    name: name.clone(),
                };
                let replicas = match svc.mode {
                    ServiceMode::Global => Replicas::Global,
                    ServiceMode::Replicated => Replicas::Count(svc.replicas),
                };
                let mut unit = blank_unit(key, vec![name.clone()], replicas);
                unit.demand = service_demand(&svc.resources, opts);
                let path = format!("services.{name}.placement");
                apply_placement(&mut unit, &svc.placement, &path, &mut errors);
                out.push(unit);
            }
        }
    }
    for (group, members) in grouped {
        let svcs: Vec<(&str, &crate::model::Service)> = members
            .iter()
            .filter_map(|m| app.services.get(*m).map(|s| (*m, s)))
            .collect();
        let modes: Vec<Replicas> = svcs
            .iter()
            .map(|(_, s)| match s.mode {
                ServiceMode::Global => Replicas::Global,
                ServiceMode::Replicated => Replicas::Count(s.replicas),
            })
            .collect();
        let Some(first) = modes.first().copied() else {
            continue;
        };
        if modes.iter().any(|m| *m != first) {
            let counts = svcs
                .iter()
                .zip(&modes)
                .map(|((n, _), m)| match m {
                    Replicas::Global => format!("{n} is global"),
                    Replicas::Count(c) => format!("{n} has {c}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            errors.push(PlacementError::GroupReplicas {
                group: group.to_string(),
                counts,
            });
            continue;
        }
        let key = UnitKey {
            kind: UnitKind::Group,
            name: group.to_string(),
        };
        let names = svcs.iter().map(|(n, _)| n.to_string()).collect();
        let mut unit = blank_unit(key, names, first);
        if let Some(g) = app.groups.get(group) {
            let path = format!("groups.{group}.placement");
            apply_placement(&mut unit, &g.placement, &path, &mut errors);
        }
        for (n, s) in &svcs {
            unit.demand = unit.demand + service_demand(&s.resources, opts);
            let path = format!("services.{n}.placement");
            apply_placement(&mut unit, &s.placement, &path, &mut errors);
        }
        unit.constraints.sort();
        unit.constraints.dedup();
        out.push(unit);
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn blank_unit(key: UnitKey, services: Vec<String>, replicas: Replicas) -> Unit {
    Unit {
        key,
        services,
        demand: Demand::default(),
        replicas,
        spread_host: false,
        spread_zone: false,
        max_per_host: None,
        constraints: Vec::new(),
    }
}

fn service_demand(r: &crate::model::Resources, opts: &Options) -> Demand {
    Demand {
        cpus: r
            .reserve_cpus
            .or(r.cpus)
            .unwrap_or(opts.default_demand.cpus),
        memory: r
            .reserve_memory
            .or(r.memory)
            .unwrap_or(opts.default_demand.memory),
    }
}

fn apply_placement(
    unit: &mut Unit,
    p: &ModelPlacement,
    path: &str,
    errors: &mut Vec<PlacementError>,
) {
    match p.spread.as_deref().map(str::trim) {
        None => {}
        Some("host" | "node.id" | "node.hostname") => unit.spread_host = true,
        Some("zone") => unit.spread_zone = true,
        Some(other) => errors.push(PlacementError::BadPlacement {
            path: format!("{path}.spread"),
            message: format!(
                "the placement solver spreads over `host` or `zone`, not `{other}`: every host of a size carries the same labels"
            ),
        }),
    }
    for (i, c) in p.constraints.iter().enumerate() {
        // The solver's hosts have no node roles: see `node_role_warnings`.
        if is_node_role(c) {
            continue;
        }
        match Constraint::parse(c) {
            Ok(c) => unit.constraints.push(c),
            Err(message) => errors.push(PlacementError::BadPlacement {
                path: format!("{path}.constraints[{i}]"),
                message,
            }),
        }
    }
    if let Some(m) = p.max_per_host {
        if m == 0 {
            errors.push(PlacementError::BadPlacement {
                path: format!("{path}.max_per_host"),
                message: "max_per_host is 0, so no replica can run anywhere".to_string(),
            });
        }
        unit.max_per_host = Some(unit.max_per_host.map_or(m, |old| old.min(m)));
    }
}

/// Place `units` on hosts of one size. Same as [`place_catalogue`] with a catalogue of one.
pub fn place(
    units: &[Unit],
    host: &HostType,
    opts: &Options,
) -> Result<Placement, Vec<PlacementError>> {
    place_catalogue(units, std::slice::from_ref(host), opts)
}

/// Build the units of a validated app and place them on the cheapest sizes of `catalogue`.
pub fn place_app(
    app: &ValidApp,
    catalogue: &[HostType],
    opts: &Options,
) -> Result<Placement, Vec<PlacementError>> {
    let units = units(app.app(), opts)?;
    place_catalogue(&units, catalogue, opts)
}

/// Place `units` on hosts chosen from `catalogue`, cheapest first (see the module docs).
///
/// Errors (all of them): an empty catalogue, a unit whose constraints no size satisfies, a unit
/// (or the global units together) larger than every size it may run on.
pub fn place_catalogue(
    units: &[Unit],
    catalogue: &[HostType],
    opts: &Options,
) -> Result<Placement, Vec<PlacementError>> {
    if catalogue.is_empty() {
        return Err(vec![PlacementError::NoHostTypes]);
    }
    let mut errors = Vec::new();
    // What each size offers to replicated units: size - overhead - its global units.
    let mut globals: Vec<usize> = (0..units.len())
        .filter(|&i| units[i].replicas == Replicas::Global)
        .collect();
    globals.sort_by(|&a, &b| units[a].key.cmp(&units[b].key));
    let offers: Vec<Option<Demand>> = catalogue
        .iter()
        .map(|t| {
            let load = globals
                .iter()
                .filter(|&&g| units[g].accepts(t))
                .fold(Demand::default(), |acc, &g| acc + units[g].demand);
            t.size()
                .checked_sub(opts.overhead)
                .and_then(|c| c.checked_sub(load))
                .filter(|c| c.cpus.0 > 0 && c.memory.0 > 0)
        })
        .collect();
    for &g in &globals {
        let unit = &units[g];
        let accepting: Vec<usize> = (0..catalogue.len())
            .filter(|&t| unit.accepts(&catalogue[t]))
            .collect();
        if accepting.is_empty() {
            errors.push(unsatisfiable(unit));
        } else if accepting.iter().all(|&t| offers[t].is_none()) {
            let t = largest(catalogue, &accepting);
            let need = globals
                .iter()
                .filter(|&&o| units[o].accepts(&catalogue[t]))
                .fold(Demand::default(), |acc, &o| acc + units[o].demand);
            errors.push(PlacementError::TooLarge {
                unit: unit.key.clone(),
                needs: need,
                size: catalogue[t].name.clone(),
                offers: catalogue[t]
                    .size()
                    .checked_sub(opts.overhead)
                    .unwrap_or_default(),
            });
        }
    }
    // Replicated units by their set of eligible sizes.
    let mut classes: BTreeMap<Vec<usize>, Vec<usize>> = BTreeMap::new();
    for (i, unit) in units.iter().enumerate() {
        if unit.replicas == Replicas::Global {
            continue;
        }
        let accepting: Vec<usize> = (0..catalogue.len())
            .filter(|&t| unit.accepts(&catalogue[t]))
            .collect();
        let eligible: Vec<usize> = accepting
            .iter()
            .copied()
            .filter(|&t| offers[t].is_some_and(|o| unit.demand.fits_in(o)))
            .collect();
        if accepting.is_empty() {
            errors.push(unsatisfiable(unit));
        } else if eligible.is_empty() {
            let t = largest(catalogue, &accepting);
            errors.push(PlacementError::TooLarge {
                unit: unit.key.clone(),
                needs: unit.demand,
                size: catalogue[t].name.clone(),
                offers: offers[t].unwrap_or_default(),
            });
        } else if unit.replicas != Replicas::Count(0) {
            classes.entry(eligible).or_default().push(i);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let zones = opts.zones.len();

    // Per class, the size with the lowest cost (each tried in full), then merge by size.
    let mut by_size: BTreeMap<usize, Vec<Vec<usize>>> = BTreeMap::new();
    for (eligible, members) in &classes {
        let mut best: Option<(u128, usize, usize)> = None;
        for &t in eligible {
            let Some(cap) = offers[t] else { continue };
            let n = pack(units, members, cap, zones, None).hosts.len();
            let key = (n as u128 * u128::from(catalogue[t].cost), n, t);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        if let Some((_, _, t)) = best {
            by_size.entry(t).or_default().push(members.clone());
        }
    }
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (t, classes) in by_size {
        let Some(cap) = offers[t] else { continue };
        if classes.len() > 1 {
            let mut all: Vec<usize> = classes.iter().flatten().copied().collect();
            all.sort_unstable();
            let apart: usize = classes
                .iter()
                .map(|m| pack(units, m, cap, zones, None).hosts.len())
                .sum();
            if pack(units, &all, cap, zones, None).hosts.len() <= apart {
                groups.push((t, all));
                continue;
            }
        }
        groups.extend(classes.into_iter().map(|m| (t, m)));
    }
    // Only global units: one host of the cheapest size that runs any of them.
    if groups.is_empty() && !globals.is_empty() {
        let cheapest = (0..catalogue.len())
            .filter(|&t| {
                offers[t].is_some() && globals.iter().any(|&g| units[g].accepts(&catalogue[t]))
            })
            .min_by_key(|&t| (catalogue[t].cost, t));
        if let Some(t) = cheapest {
            groups.push((t, Vec::new()));
        }
    }

    // Final packing, within the host limit.
    let mut hosts = Vec::new();
    let mut unplaceable = Vec::new();
    let mut lower_bound = 0usize;
    let mut cost = 0u64;
    let mut global_count = vec![0u32; units.len()];
    for (t, members) in groups {
        let size = &catalogue[t];
        let Some(cap) = offers[t] else { continue };
        let room = opts.max_hosts.map(|m| m.saturating_sub(hosts.len()));
        let mut packed = pack(units, &members, cap, zones, room);
        if members.is_empty() && room != Some(0) {
            packed
                .hosts
                .push(OpenHost::new(if zones > 0 { Some(0) } else { None }));
        }
        let total = members.iter().fold(Demand::default(), |acc, &i| {
            let n = match units[i].replicas {
                Replicas::Count(n) => u64::from(n),
                Replicas::Global => 0,
            };
            acc + Demand::new(
                Cpus(units[i].demand.cpus.0.saturating_mul(n)),
                ByteSize(units[i].demand.memory.0.saturating_mul(n)),
            )
        });
        lower_bound += lower_bound_for(total, cap);
        for (i, r, reason) in packed.unplaced {
            unplaceable.push(Unplaced {
                unit: units[i].key.clone(),
                replica: r,
                reason,
            });
        }
        let capacity = size.size().checked_sub(opts.overhead).unwrap_or_default();
        for h in packed.hosts {
            let mut slots: Vec<Slot> = h
                .slots
                .iter()
                .map(|&(i, r)| Slot {
                    unit: units[i].key.clone(),
                    replica: r,
                })
                .collect();
            let mut used = h.used;
            for &g in &globals {
                if units[g].accepts(size) {
                    slots.push(Slot {
                        unit: units[g].key.clone(),
                        replica: global_count[g],
                    });
                    global_count[g] += 1;
                    used = used + units[g].demand;
                }
            }
            cost = cost.saturating_add(size.cost);
            hosts.push(Host {
                name: format!("h{}", hosts.len()),
                size: size.name.clone(),
                zone: h.zone.and_then(|z| opts.zones.get(z).cloned()),
                units: slots,
                used,
                capacity,
            });
        }
    }
    Ok(Placement {
        hosts_used: hosts.len(),
        hosts,
        lower_bound,
        cost,
        unplaceable,
    })
}

fn unsatisfiable(unit: &Unit) -> PlacementError {
    PlacementError::Unsatisfiable {
        unit: unit.key.clone(),
        constraints: unit
            .constraints
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The largest size among `among` (by cpus, then memory, then catalogue order).
fn largest(catalogue: &[HostType], among: &[usize]) -> usize {
    among
        .iter()
        .copied()
        .max_by_key(|&t| (catalogue[t].cpus, catalogue[t].memory, std::cmp::Reverse(t)))
        .unwrap_or(0)
}

/// `ceil(max(total cpu / cap cpu, total memory / cap memory))`.
fn lower_bound_for(total: Demand, cap: Demand) -> usize {
    let c = total.cpus.0.div_ceil(cap.cpus.0.max(1));
    let m = total.memory.0.div_ceil(cap.memory.0.max(1));
    usize::try_from(c.max(m)).unwrap_or(usize::MAX)
}

struct OpenHost {
    zone: Option<usize>,
    used: Demand,
    slots: Vec<(usize, u32)>,
    counts: BTreeMap<usize, u32>,
}

impl OpenHost {
    fn new(zone: Option<usize>) -> OpenHost {
        OpenHost {
            zone,
            used: Demand::default(),
            slots: Vec::new(),
            counts: BTreeMap::new(),
        }
    }

    fn count(&self, unit: usize) -> u32 {
        self.counts.get(&unit).copied().unwrap_or(0)
    }

    fn put(&mut self, unit: usize, replica: u32, demand: Demand) {
        self.used = self.used + demand;
        self.slots.push((unit, replica));
        *self.counts.entry(unit).or_insert(0) += 1;
    }
}

struct Packed {
    hosts: Vec<OpenHost>,
    unplaced: Vec<(usize, u32, String)>,
}

/// First-fit decreasing of the replicas of `members` onto hosts offering `cap`, opening at most
/// `room` hosts when given.
fn pack(
    units: &[Unit],
    members: &[usize],
    cap: Demand,
    zones: usize,
    room: Option<usize>,
) -> Packed {
    // Shares of the host, on the common denominator cap.cpus * cap.memory.
    let (cc, cm) = (u128::from(cap.cpus.0), u128::from(cap.memory.0));
    let share = |d: Demand| {
        let c = u128::from(d.cpus.0) * cm;
        let m = u128::from(d.memory.0) * cc;
        (c.max(m), c + m)
    };
    let mut order: Vec<usize> = members.to_vec();
    order.sort_by(|&a, &b| {
        share(units[b].demand)
            .cmp(&share(units[a].demand))
            .then_with(|| units[a].key.cmp(&units[b].key))
    });
    let mut hosts: Vec<OpenHost> = Vec::new();
    let mut zone_hosts = vec![0usize; zones];
    let mut unplaced = Vec::new();
    for i in order {
        let unit = &units[i];
        let Replicas::Count(n) = unit.replicas else {
            continue;
        };
        let limit = unit.per_host_limit();
        for r in 0..n {
            let want_zone = (unit.spread_zone && zones > 0).then(|| r as usize % zones);
            let mut chosen: Option<(u32, usize)> = None;
            for (h, host) in hosts.iter().enumerate() {
                if want_zone.is_some() && host.zone != want_zone {
                    continue;
                }
                if !(host.used + unit.demand).fits_in(cap) {
                    continue;
                }
                let count = host.count(i);
                if limit.is_some_and(|l| count >= l) {
                    continue;
                }
                if !unit.spread_host {
                    chosen = Some((count, h));
                    break;
                }
                if chosen.is_none_or(|c| (count, h) < c) {
                    chosen = Some((count, h));
                }
                if count == 0 {
                    break; // nothing beats the first host without one
                }
            }
            if let Some((_, h)) = chosen {
                if let Some(host) = hosts.get_mut(h) {
                    host.put(i, r, unit.demand);
                }
                continue;
            }
            if limit == Some(0) {
                unplaced.push((i, r, "max_per_host is 0".to_string()));
            } else if !unit.demand.fits_in(cap) {
                unplaced.push((
                    i,
                    r,
                    format!("needs {} but a host offers {cap}", unit.demand),
                ));
            } else if room.is_some_and(|room| hosts.len() >= room) {
                unplaced.push((i, r, "no room left within max_hosts".to_string()));
            } else {
                let zone = want_zone.or_else(|| {
                    (0..zones).min_by_key(|&z| (zone_hosts.get(z).copied().unwrap_or(0), z))
                });
                if let Some(z) = zone
                    && let Some(c) = zone_hosts.get_mut(z)
                {
                    *c += 1;
                }
                let mut host = OpenHost::new(zone);
                host.put(i, r, unit.demand);
                hosts.push(host);
            }
        }
    }
    Packed { hosts, unplaced }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Resources, Service, Version};
    use proptest::prelude::*;

    const GIB: u64 = 1024 * MIB;

    fn app(yaml: &str) -> App {
        match serde_saphyr::from_str::<App>(yaml) {
            Ok(a) => a,
            Err(e) => panic!("test app does not parse: {e}"),
        }
    }

    fn no_overhead() -> Options {
        Options {
            overhead: Demand::default(),
            ..Options::default()
        }
    }

    fn host(cpus: u64, gib: u64) -> HostType {
        HostType::new(
            format!("{cpus}x{gib}"),
            Cpus(cpus * 1000),
            ByteSize(gib * GIB),
            1,
        )
    }

    fn solve(a: &App, h: &HostType, opts: &Options) -> Placement {
        let us = match units(a, opts) {
            Ok(u) => u,
            Err(e) => panic!("units: {e:?}"),
        };
        match place(&us, h, opts) {
            Ok(p) => p,
            Err(e) => panic!("place: {e:?}"),
        }
    }

    /// Each host as `name[zone]: unit#replica unit#replica`.
    fn layout(p: &Placement) -> Vec<String> {
        p.hosts
            .iter()
            .map(|h| {
                let slots: Vec<String> = h
                    .units
                    .iter()
                    .map(|s| format!("{}#{}", s.unit.name, s.replica))
                    .collect();
                match &h.zone {
                    Some(z) => format!("{}[{z}]: {}", h.name, slots.join(" ")),
                    None => format!("{}: {}", h.name, slots.join(" ")),
                }
            })
            .collect()
    }

    #[test]
    fn first_fit_decreasing_by_hand() {
        // Host 4 cpu; order by share: b (3), a (2, 2), c (1, 1).
        let a = app(r#"
bridge: v1
name: t
services:
  a: {image: x, replicas: 2, resources: {cpus: 2, memory: 1GiB}}
  b: {image: x, resources: {cpus: 3, memory: 1GiB}}
  c: {image: x, replicas: 2, resources: {cpus: 1, memory: 1GiB}}
"#);
        let p = solve(&a, &host(4, 16), &no_overhead());
        assert_eq!(layout(&p), ["h0: b#0 c#0", "h1: a#0 a#1", "h2: c#1"]);
        assert_eq!(p.lower_bound, 3);
        assert_eq!(p.hosts_used, 3);
        assert_eq!(p.hosts[0].used, Demand::new(Cpus(4000), ByteSize(2 * GIB)));
        assert_eq!(
            p.bound_report().to_string(),
            "3 hosts used, lower bound 3 (optimal)"
        );
    }

    #[test]
    fn memory_can_be_the_binding_dimension() {
        // 1 cpu, 4GiB host: memory decides. x (3GiB) first, then y (2GiB) twice, z (1GiB).
        let a = app(r#"
bridge: v1
name: t
services:
  x: {image: x, resources: {cpus: 0.1, memory: 3GiB}}
  y: {image: x, replicas: 2, resources: {cpus: 0.1, memory: 2GiB}}
  z: {image: x, resources: {cpus: 0.1, memory: 1GiB}}
"#);
        let p = solve(&a, &host(1, 4), &no_overhead());
        assert_eq!(layout(&p), ["h0: x#0 z#0", "h1: y#0 y#1"]);
        assert_eq!(p.lower_bound, 2);
    }

    #[test]
    fn reservations_then_limits_then_defaults() {
        let a = app(r#"
bridge: v1
name: t
services:
  r: {image: x, resources: {cpus: 2, memory: 2GiB, reserve_cpus: 0.5, reserve_memory: 512MiB}}
  l: {image: x, resources: {cpus: 1.5, reserve_memory: 1GiB}}
  d: {image: x}
"#);
        let us = units(&a, &Options::default()).unwrap_or_default();
        let demand: Vec<(String, Demand)> =
            us.iter().map(|u| (u.key.name.clone(), u.demand)).collect();
        assert_eq!(
            demand,
            [
                ("d".to_string(), Demand::new(Cpus(250), ByteSize(256 * MIB))),
                ("l".to_string(), Demand::new(Cpus(1500), ByteSize(GIB))),
                ("r".to_string(), Demand::new(Cpus(500), ByteSize(512 * MIB))),
            ]
        );
    }

    #[test]
    fn group_is_one_unit_on_one_host() {
        // The sidecar example: 0.5 + 0.1 + 0.25 (default) cpu, 512 + 64 + 256 MiB per replica.
        let a = app(r#"
bridge: v1
name: blog
services:
  app: {image: x, group: blog, replicas: 2, resources: {cpus: 0.5, memory: 512MiB}}
  log-shipper: {image: x, group: blog, replicas: 2, resources: {cpus: 0.1, memory: 64MiB}}
  proxy: {image: x, group: blog, replicas: 2}
  solo: {image: x, resources: {cpus: 0.05, memory: 64MiB}}
groups:
  blog: {}
"#);
        let us = units(&a, &Options::default()).unwrap_or_default();
        assert_eq!(us.len(), 2);
        assert_eq!(us[0].key.kind, UnitKind::Group);
        assert_eq!(us[0].services, ["app", "log-shipper", "proxy"]);
        assert_eq!(us[0].demand, Demand::new(Cpus(850), ByteSize(832 * MIB)));
        // 1 cpu host less 0.1 overhead: one replica of the group per host; solo fits beside it.
        let p = solve(&a, &host(1, 2), &Options::default());
        assert_eq!(layout(&p), ["h0: blog#0 solo#0", "h1: blog#1"]);
        assert_eq!(
            p.hosts[0].capacity,
            Demand::new(Cpus(900), ByteSize(1792 * MIB))
        );
    }

    #[test]
    fn group_with_different_replicas_is_an_error() {
        let a = app(r#"
bridge: v1
name: t
services:
  web: {image: x, group: g, replicas: 2}
  side: {image: x, group: g, replicas: 3}
  agent: {image: x, group: h, mode: global}
  other: {image: x, group: h}
"#);
        let errs = units(&a, &Options::default()).err().unwrap_or_default();
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[0].to_string(),
            "services of group `g` must run the same number of replicas, but side has 3, web has 2"
        );
        assert_eq!(
            errs[1].to_string(),
            "services of group `h` must run the same number of replicas, but agent is global, other has 1"
        );
        let d = errs[0].to_diagnostic();
        assert_eq!(
            (d.code, d.path.as_str()),
            (codes::GROUP_REPLICAS, "groups.g")
        );
    }

    #[test]
    fn max_per_host_is_a_hard_limit() {
        let a = app(r#"
bridge: v1
name: t
services:
  w: {image: x, replicas: 5, resources: {cpus: 0.1, memory: 64MiB}, placement: {max_per_host: 2}}
"#);
        let p = solve(&a, &host(16, 64), &no_overhead());
        assert_eq!(layout(&p), ["h0: w#0 w#1", "h1: w#2 w#3", "h2: w#4"]);
        // The lower bound counts resources only.
        assert_eq!(p.lower_bound, 1);
        assert_eq!(
            p.bound_report().to_string(),
            "3 hosts used, lower bound 1 (2 above, 300.0%)"
        );
    }

    #[test]
    fn spread_host_puts_replicas_on_distinct_hosts() {
        let a = app(r#"
bridge: v1
name: t
services:
  api: {image: x, replicas: 3, resources: {cpus: 0.5, memory: 64MiB}, placement: {spread: host}}
  tiny: {image: x, replicas: 3, resources: {cpus: 0.1, memory: 64MiB}}
"#);
        let p = solve(&a, &host(16, 64), &no_overhead());
        assert_eq!(
            layout(&p),
            ["h0: api#0 tiny#0 tiny#1 tiny#2", "h1: api#1", "h2: api#2"]
        );
    }

    #[test]
    fn spread_host_with_max_per_host_evens_out() {
        // Two per host allowed; spread takes the host holding fewest, so h0 and h1 alternate,
        // where plain first fit would fill h0 to the limit first.
        let yaml = r#"
bridge: v1
name: t
services:
  big1: {image: x, resources: {cpus: 10, memory: 64MiB}}
  big2: {image: x, resources: {cpus: 10, memory: 64MiB}}
  api: {image: x, replicas: 4, resources: {cpus: 1, memory: 64MiB}, placement: {SPREAD max_per_host: 2}}
"#;
        let spread = app(&yaml.replace("SPREAD", "spread: host,"));
        let p = solve(&spread, &host(16, 64), &no_overhead());
        assert_eq!(
            layout(&p),
            ["h0: big1#0 api#0 api#2", "h1: big2#0 api#1 api#3"]
        );
        let plain = app(&yaml.replace("SPREAD", ""));
        let p = solve(&plain, &host(16, 64), &no_overhead());
        assert_eq!(
            layout(&p),
            ["h0: big1#0 api#0 api#1", "h1: big2#0 api#2 api#3"]
        );
    }

    #[test]
    fn spread_zone_alternates_zones() {
        let a = app(r#"
bridge: v1
name: t
services:
  q: {image: x, replicas: 4, resources: {cpus: 0.5, memory: 64MiB}, placement: {spread: zone}}
  s: {image: x, replicas: 2, resources: {cpus: 0.1, memory: 64MiB}}
"#);
        let opts = Options {
            zones: vec!["a".into(), "b".into()],
            ..no_overhead()
        };
        let p = solve(&a, &host(16, 64), &opts);
        assert_eq!(layout(&p), ["h0[a]: q#0 q#2 s#0 s#1", "h1[b]: q#1 q#3"]);
    }

    #[test]
    fn example_06_zone_spread_max_per_host_and_constraint() {
        let a = app(include_str!(
            "../../examples/06-replicas-placement/bridge.yaml"
        ));
        let opts = Options {
            zones: vec!["a".into(), "b".into(), "c".into()],
            ..Options::default()
        };
        // 0.5 cpu reserved per replica: three fit on 1.9 cpu, but at most two per host.
        let h = host(2, 8).with_label("tier", "search");
        let p = solve(&a, &h, &opts);
        assert_eq!(
            layout(&p),
            [
                "h0[a]: query#0 query#3",
                "h1[b]: query#1 query#4",
                "h2[c]: query#2 query#5"
            ]
        );
        assert_eq!(p.lower_bound, 2);
        // Without the label the constraint cannot hold.
        let us = units(&a, &opts).unwrap_or_default();
        let errs = place(&us, &host(2, 8), &opts).err().unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "service `query` has constraints no host size satisfies: `node.labels.tier == search`"
        );
        assert_eq!(errs[0].code(), codes::UNSATISFIABLE_CONSTRAINT);
        assert_eq!(errs[0].path(), "services.query.placement");
    }

    #[test]
    fn constraints_pick_the_labelled_size() {
        let a = app(r#"
bridge: v1
name: t
services:
  db: {image: x, resources: {cpus: 1, memory: 1GiB}, placement: {constraints: ["node.labels.disk == ssd"]}}
  web: {image: x, replicas: 2, resources: {cpus: 1, memory: 1GiB}, placement: {constraints: ["node.labels.disk != ssd"]}}
  any: {image: x, resources: {cpus: 1, memory: 1GiB}}
"#);
        let catalogue = [
            HostType::new("plain", Cpus(4000), ByteSize(8 * GIB), 10),
            HostType::new("fast", Cpus(4000), ByteSize(8 * GIB), 5).with_label("disk", "ssd"),
        ];
        let us = units(&a, &no_overhead()).unwrap_or_default();
        let p = match place_catalogue(&us, &catalogue, &no_overhead()) {
            Ok(p) => p,
            Err(e) => panic!("{e:?}"),
        };
        // `any` may go on either and goes where it is cheaper; `web` must avoid ssd.
        assert_eq!(layout(&p), ["h0: web#0 web#1", "h1: any#0 db#0"]);
        let sizes: Vec<&str> = p.hosts.iter().map(|h| h.size.as_str()).collect();
        assert_eq!(sizes, ["plain", "fast"]);
        assert_eq!(p.cost, 15);
    }

    #[test]
    fn constraint_syntax_and_spread_errors() {
        let a = app(r#"
bridge: v1
name: t
services:
  w:
    image: x
    placement: {spread: node.labels.rack, constraints: ["node.id == n1", "node.labels.ok = 1", "node.role == worker"], max_per_host: 0}
"#);
        let errs = units(&a, &Options::default()).err().unwrap_or_default();
        let got: Vec<(String, String)> = errs.iter().map(|e| (e.path(), e.to_string())).collect();
        assert_eq!(
            got,
            [
                (
                    "services.w.placement.spread".to_string(),
                    "the placement solver spreads over `host` or `zone`, not `node.labels.rack`: every host of a size carries the same labels".to_string()
                ),
                (
                    "services.w.placement.constraints[0]".to_string(),
                    "`node.id` is not a node label; the placement solver matches `node.labels.KEY` only".to_string()
                ),
                (
                    "services.w.placement.constraints[1]".to_string(),
                    "`node.labels.ok = 1` has no `==` or `!=`".to_string()
                ),
                (
                    "services.w.placement.max_per_host".to_string(),
                    "max_per_host is 0, so no replica can run anywhere".to_string()
                ),
            ]
        );
        assert!(
            errs.iter()
                .all(|e| e.code() == codes::UNSUPPORTED_PLACEMENT)
        );
        assert_eq!(
            Constraint::parse(" node.labels.zone=='eu' "),
            Ok(Constraint {
                label: "zone".into(),
                op: Op::Eq,
                value: "eu".into()
            })
        );
    }

    #[test]
    fn node_role_is_left_out_with_a_warning() {
        let a = app(r#"
bridge: v1
name: t
services:
  w:
    image: x
    placement: {constraints: [" node.role == manager", "node.labels.ssd == true"]}
  g1: {image: x, group: g}
groups:
  g: {placement: {constraints: ["node.role!=worker"]}}
"#);
        let us = units(&a, &Options::default()).unwrap_or_default();
        let w = us.iter().find(|u| u.key.name == "w");
        assert_eq!(
            w.map(|u| u.constraints.clone()),
            Some(vec![Constraint {
                label: "ssd".into(),
                op: Op::Eq,
                value: "true".into()
            }])
        );
        assert!(
            us.iter()
                .any(|u| u.key.name == "g" && u.constraints.is_empty())
        );
        let d = node_role_warnings(&a, "gce");
        let got: Vec<(String, &str, bool)> =
            d.0.iter()
                .map(|d| (d.path.clone(), d.code, d.is_error()))
                .collect();
        assert_eq!(
            got,
            [
                (
                    "services.w.placement.constraints[0]".to_string(),
                    codes::NODE_ROLE_IGNORED,
                    false
                ),
                (
                    "groups.g.placement.constraints[0]".to_string(),
                    codes::NODE_ROLE_IGNORED,
                    false
                ),
            ]
        );
        assert!(
            d.0[0]
                .message
                .contains("`node.role == manager`: gce hosts have no swarm node roles")
        );
        assert!(!is_node_role("node.labels.role == manager"));
    }

    #[test]
    fn unit_larger_than_any_host_is_an_error() {
        let a = app(r#"
bridge: v1
name: t
services:
  huge: {image: x, group: g, resources: {cpus: 6, memory: 1GiB}}
  side: {image: x, group: g, resources: {cpus: 1, memory: 1GiB}}
  ok: {image: x}
"#);
        let catalogue = [host(2, 8), host(4, 16)];
        let us = units(&a, &Options::default()).unwrap_or_default();
        let errs = place_catalogue(&us, &catalogue, &Options::default())
            .err()
            .unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "group `g` needs 7 cpu and 2GiB per replica, more than the largest host (4x16) offers: 3.9 cpu and 16128MiB"
        );
        let d = errs[0].to_diagnostic();
        assert_eq!(
            (d.code, d.path.as_str()),
            (codes::UNIT_TOO_LARGE, "groups.g")
        );
        assert!(d.hint.is_some());
        assert_eq!(
            place_catalogue(&us, &[], &Options::default()),
            Err(vec![PlacementError::NoHostTypes])
        );
    }

    #[test]
    fn global_units_run_on_every_host() {
        let a = app(r#"
bridge: v1
name: t
services:
  agent: {image: x, mode: global, resources: {cpus: 0.5, memory: 128MiB}}
  web: {image: x, replicas: 3, resources: {cpus: 1.5, memory: 1GiB}}
"#);
        // 4 cpu less 0.5 for the agent: two web replicas per host.
        let p = solve(&a, &host(4, 16), &no_overhead());
        assert_eq!(layout(&p), ["h0: web#0 web#1 agent#0", "h1: web#2 agent#1"]);
        assert_eq!(
            p.hosts[0].used,
            Demand::new(Cpus(3500), ByteSize(2 * GIB + 128 * MIB))
        );
        assert_eq!(p.lower_bound, 2);
        // Global units alone still get a host.
        let only = app(r#"
bridge: v1
name: t
services:
  agent: {image: x, mode: global}
"#);
        let p = solve(&only, &host(4, 16), &no_overhead());
        assert_eq!(layout(&p), ["h0: agent#0"]);
        // A global unit that does not fit beside the overhead is an error.
        let errs = place(
            &units(&only, &Options::default()).unwrap_or_default(),
            &HostType::new("nano", Cpus(300), ByteSize(512 * MIB), 1),
            &Options::default(),
        )
        .err()
        .unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code(), codes::UNIT_TOO_LARGE);
    }

    #[test]
    fn catalogue_picks_the_cheapest_pool() {
        let a = app(r#"
bridge: v1
name: t
services:
  w: {image: x, replicas: 8, resources: {cpus: 1, memory: 1GiB}}
"#);
        let us = units(&a, &no_overhead()).unwrap_or_default();
        let small = HostType::new("small", Cpus(2000), ByteSize(8 * GIB), 10);
        let large = HostType::new("large", Cpus(8000), ByteSize(32 * GIB), 30);
        let p = place_catalogue(&us, &[small.clone(), large.clone()], &no_overhead());
        let p = p.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (p.hosts_used, p.cost, p.hosts[0].size.as_str()),
            (1, 30, "large")
        );
        let pricey = HostType { cost: 50, ..large };
        let p = place_catalogue(&us, &[small, pricey], &no_overhead());
        let p = p.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (p.hosts_used, p.cost, p.hosts[0].size.as_str()),
            (4, 40, "small")
        );
    }

    #[test]
    fn max_hosts_leaves_replicas_unplaceable() {
        let a = app(r#"
bridge: v1
name: t
services:
  w: {image: x, replicas: 3, resources: {cpus: 3, memory: 1GiB}}
"#);
        let opts = Options {
            max_hosts: Some(2),
            ..no_overhead()
        };
        let p = solve(&a, &host(4, 16), &opts);
        assert_eq!(layout(&p), ["h0: w#0", "h1: w#1"]);
        assert_eq!(
            p.unplaceable,
            [Unplaced {
                unit: UnitKey {
                    kind: UnitKind::Service,
                    name: "w".into()
                },
                replica: 2,
                reason: "no room left within max_hosts".into()
            }]
        );
    }

    /// One random service: group (0..3 or none), cpus (thousandths), memory (MiB), whether the
    /// numbers are reservations, replicas, global, spread (0 none, 1 host, 2 zone), max_per_host.
    type Gen = (Option<u8>, u64, u64, bool, u32, bool, u8, Option<u32>);

    fn gen_service() -> impl Strategy<Value = Gen> {
        (
            prop::option::of(0u8..3),
            1u64..=2000,
            1u64..=2048,
            any::<bool>(),
            0u32..5,
            prop::bool::weighted(0.1),
            0u8..3,
            prop::option::weighted(0.3, 1u32..=3),
        )
    }

    /// An app from random services; `rules` false drops spread and max_per_host.
    fn gen_app(svcs: &[Gen], group_replicas: &[u32; 3], rules: bool) -> App {
        let mut services = BTreeMap::new();
        for (i, &(group, cpus, mib, reserve, replicas, global, spread, mph)) in
            svcs.iter().enumerate()
        {
            let (cpus, memory) = (Some(Cpus(cpus)), Some(ByteSize(mib * MIB)));
            let resources = if reserve {
                Resources {
                    reserve_cpus: cpus,
                    reserve_memory: memory,
                    ..Resources::default()
                }
            } else {
                Resources {
                    cpus,
                    memory,
                    ..Resources::default()
                }
            };
            let mut svc = Service {
                image: "x".into(),
                resources,
                replicas,
                ..Service::default()
            };
            match group {
                Some(g) => {
                    svc.group = Some(format!("g{g}"));
                    svc.replicas = group_replicas[usize::from(g)];
                }
                None if global => svc.mode = ServiceMode::Global,
                None => {}
            }
            if rules {
                svc.placement.spread = match spread {
                    1 => Some("host".into()),
                    2 => Some("zone".into()),
                    _ => None,
                };
                svc.placement.max_per_host = mph;
            }
            services.insert(format!("s{i}"), svc);
        }
        App {
            bridge: Version::V1,
            name: "p".into(),
            services,
            vms: BTreeMap::new(),
            volumes: BTreeMap::new(),
            secrets: BTreeMap::new(),
            configs: BTreeMap::new(),
            networks: BTreeMap::new(),
            groups: BTreeMap::new(),
            providers: Default::default(),
            files: Default::default(),
            move_: None,
        }
    }

    /// Everything a placement must satisfy, whatever the input.
    fn check_invariants(
        app: &App,
        us: &[Unit],
        p: &Placement,
        catalogue: &[HostType],
        opts: &Options,
    ) {
        // Co-location: every service is in exactly one unit, a group's unit holds all of it.
        let mut seen: Vec<&str> = us
            .iter()
            .flat_map(|u| u.services.iter().map(String::as_str))
            .collect();
        seen.sort_unstable();
        let all: Vec<&str> = app.services.keys().map(String::as_str).collect();
        assert_eq!(seen, all);
        for u in us {
            if u.key.kind == UnitKind::Group {
                let members: Vec<&str> = app
                    .services
                    .iter()
                    .filter(|(_, s)| s.group.as_deref() == Some(u.key.name.as_str()))
                    .map(|(n, _)| n.as_str())
                    .collect();
                assert_eq!(u.services, members);
            }
        }
        assert_eq!(p.hosts_used, p.hosts.len());
        assert!(p.unplaceable.is_empty());
        let by_key: BTreeMap<&UnitKey, &Unit> = us.iter().map(|u| (&u.key, u)).collect();
        let mut replicas: BTreeMap<&UnitKey, Vec<u32>> = BTreeMap::new();
        let mut cost = 0u64;
        for (n, h) in p.hosts.iter().enumerate() {
            assert_eq!(h.name, format!("h{n}"));
            let size = catalogue.iter().find(|t| t.name == h.size);
            let Some(size) = size else {
                panic!("unknown size {}", h.size)
            };
            cost += size.cost;
            assert_eq!(Some(h.capacity), size.size().checked_sub(opts.overhead));
            let mut used = Demand::default();
            let mut per_unit: BTreeMap<&UnitKey, u32> = BTreeMap::new();
            for s in &h.units {
                let Some(u) = by_key.get(&s.unit) else {
                    panic!("unknown unit {}", s.unit)
                };
                used = used + u.demand;
                *per_unit.entry(&s.unit).or_default() += 1;
                replicas.entry(&s.unit).or_default().push(s.replica);
                if u.spread_zone && !opts.zones.is_empty() && u.replicas != Replicas::Global {
                    let want = &opts.zones[s.replica as usize % opts.zones.len()];
                    assert_eq!(h.zone.as_ref(), Some(want), "{} on {}", s.unit, h.name);
                }
            }
            assert_eq!(h.used, used);
            assert!(h.used.fits_in(h.capacity), "{} over capacity", h.name);
            for (k, c) in per_unit {
                let u = by_key[k];
                if u.replicas == Replicas::Global {
                    assert_eq!(c, 1, "global {k} twice on {}", h.name);
                } else if let Some(l) = u.per_host_limit() {
                    assert!(c <= l, "{k}: {c} on {} above {l}", h.name);
                }
            }
        }
        assert_eq!(p.cost, cost);
        // Every replica exactly once; global units once per host.
        for u in us {
            let mut got = replicas.remove(&u.key).unwrap_or_default();
            got.sort_unstable();
            let n = match u.replicas {
                Replicas::Count(n) => n,
                Replicas::Global => u32::try_from(p.hosts_used).unwrap_or(u32::MAX),
            };
            assert_eq!(got, (0..n).collect::<Vec<_>>(), "replicas of {}", u.key);
        }
        assert!(p.hosts_used >= p.lower_bound);
    }

    fn has_rules(us: &[Unit]) -> bool {
        us.iter()
            .any(|u| u.spread_host || u.spread_zone || u.max_per_host.is_some())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn one_size_invariants(
            svcs in prop::collection::vec(gen_service(), 1..14),
            group_replicas in prop::array::uniform3(0u32..5),
            rules in any::<bool>(),
            cpus in 4u64..=32,
            gib in 4u64..=64,
            zones in 0usize..4,
        ) {
            let app = gen_app(&svcs, &group_replicas, rules);
            let opts = Options {
                zones: (0..zones).map(|z| format!("z{z}")).collect(),
                ..Options::default()
            };
            let us = units(&app, &opts);
            prop_assert!(us.is_ok(), "{us:?}");
            let us = us.unwrap_or_default();
            let size = host(cpus, gib);
            let p = match place(&us, &size, &opts) {
                Ok(p) => p,
                Err(errs) => {
                    // Only size can fail here: check the unit really does not fit.
                    for e in errs {
                        let PlacementError::TooLarge { needs, offers, .. } = e else {
                            panic!("unexpected {e}");
                        };
                        prop_assert!(!needs.fits_in(offers) || offers == Demand::default());
                    }
                    return Ok(());
                }
            };
            check_invariants(&app, &us, &p, std::slice::from_ref(&size), &opts);

            // First fit keeps at most one host half empty in both dimensions, so without spread
            // or max_per_host (h - 1) <= 2 * (cpu share + memory share), and h <= 4 * lb + 1.
            if !has_rules(&us) {
                let globals = us.iter().filter(|u| u.replicas == Replicas::Global)
                    .fold(Demand::default(), |a, u| a + u.demand);
                let cap = size.size().checked_sub(opts.overhead).and_then(|c| c.checked_sub(globals));
                let Some(cap) = cap else { panic!("placed on a host without room") };
                let (c, m) = (u128::from(cap.cpus.0), u128::from(cap.memory.0));
                let (mut sc, mut sm) = (0u128, 0u128);
                for u in &us {
                    if let Replicas::Count(n) = u.replicas {
                        sc += u128::from(u.demand.cpus.0) * u128::from(n);
                        sm += u128::from(u.demand.memory.0) * u128::from(n);
                    }
                }
                let h = p.hosts_used as u128;
                prop_assert!(h.saturating_sub(1) * c * m <= 2 * (sc * m + sm * c),
                    "{} hosts for cpu {sc}/{c}, memory {sm}/{m}", p.hosts_used);
                prop_assert!(p.hosts_used <= 4 * p.lower_bound + 1);
            }

            // Deterministic, and independent of the order units are given in.
            prop_assert_eq!(place(&us, &size, &opts), Ok(p.clone()));
            let mut rev = us.clone();
            rev.reverse();
            prop_assert_eq!(place(&rev, &size, &opts), Ok(p));
        }

        #[test]
        fn catalogue_invariants(
            svcs in prop::collection::vec(gen_service(), 1..14),
            group_replicas in prop::array::uniform3(0u32..5),
            rules in any::<bool>(),
            sizes in prop::collection::vec((2u64..=32, 2u64..=64, 1u64..100), 1..4),
        ) {
            let app = gen_app(&svcs, &group_replicas, rules);
            let opts = Options { zones: vec!["a".into(), "b".into()], ..Options::default() };
            let us = units(&app, &opts).unwrap_or_default();
            let catalogue: Vec<HostType> = sizes
                .iter()
                .enumerate()
                .map(|(i, &(c, g, cost))| HostType {
                    name: format!("t{i}"),
                    ..HostType::new("", Cpus(c * 1000), ByteSize(g * GIB), cost)
                })
                .collect();
            let Ok(p) = place_catalogue(&us, &catalogue, &opts) else { return Ok(()) };
            check_invariants(&app, &us, &p, &catalogue, &opts);
            prop_assert_eq!(place_catalogue(&us, &catalogue, &opts), Ok(p.clone()));
            // With no constraints, when every size can take the whole workload the catalogue
            // answer costs exactly what the cheapest single size does.
            let alone: Vec<Option<u64>> = catalogue
                .iter()
                .map(|t| place(&us, t, &opts).ok().map(|q| q.cost))
                .collect();
            if alone.iter().all(Option::is_some) {
                let best = alone.iter().flatten().min().copied();
                prop_assert_eq!(Some(p.cost), best);
            }
        }
    }
}
