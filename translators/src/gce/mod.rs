//! Google Compute Engine: bridge owns the hosts. The placement solver packs the app's services
//! (groups, or services on their own) onto machine types from [`machines::catalogue`] (or the one
//! `providers.gce.machine_type`), and every host of its assignment becomes one `instances.insert`
//! request body: a Container-Optimized OS VM whose `user-data` is the shared cloud-init
//! ([`crate::cloudinit`]) running that host's containers with docker. Named volumes become
//! persistent disks (`disks.insert`) attached to the one VM that uses them; published ports become
//! firewall rules (`firewalls.insert`) aimed at network tags; plain VMs (`vms:`) become instances
//! of the image mapped in `providers.gce.images`.
//!
//! # Why plain instances, not a managed instance group
//!
//! The solver's assignment is what runs: host `h3` runs exactly the replicas the solver put there,
//! and hosts differ (one runs a group and a service, the next only the group). A managed instance
//! group stamps identical VMs from one template, so it could only run "one unit per VM" and would
//! lose the packing; its autohealing and rolling updates would also recreate VMs outside the plan.
//! A persistent disk attaches read-write to one VM, which a group of identical VMs cannot honour.
//! So each host is one named instance (`<app>-<host>`), and the GCE driver (not a MIG) replaces
//! the instances whose spec hash changed. GCE's own `automaticRestart` and live migration keep a
//! host running; systemd restarts its containers.
//!
//! # One replica of a unit per VM
//!
//! Container names and published host ports are per VM, so a VM runs at most one replica of each
//! unit: the translator sets `max_per_host` to 1 before placing (a larger `max_per_host` is
//! approximated in the ledger).
//!
//! # Names, labels, tags
//!
//! Instance `<app>-<host>` (hosts `h0`, `h1`... in the solver's order), VM `<app>-<vm>` (or
//! `<app>-<vm>-<i>` with replicas), disk `<app>-<volume>` (or the volume's `name`), firewall
//! `<app>-<service>-<proto>-<port>`; all normalised by [`names::resource_name`]. Labels
//! `bridge-app`, `bridge-component` (`host-h0`, `vm-db`, `volume-data`) and `bridge-spec-hash`
//! (16 hex digits of the body without that label) go on instances, their boot disks and disks,
//! normalised by [`names::label_key`] / [`names::label_value`]. Firewall rules have no labels in
//! Compute v1: the same three are written into their `description`. Network tags: `<app>` on
//! every instance, `<app>-<service>` on each host per service it runs, `<app>-<vm>` on a VM.
//!
//! # Firewall
//!
//! One rule per published port of a service (or VM): source `0.0.0.0/0`, since a published port
//! is published to the world as with `docker run -p`; ports bound to a loopback `host_ip` get no
//! rule. A VM port that is not published is opened to the app's instances only (`sourceTags`).
//! Hosts and VMs get an external address only when they publish a port; others need Cloud NAT
//! (or Private Google Access and an Artifact Registry image) to pull images.
//!
//! # Secrets and configs
//!
//! Secret values never leave the deploying machine in an artifact: the GCE driver stores each
//! secret in Secret Manager as `<app>-<secret>` (or the secret's `name`) and the VM fetches it at
//! boot ([`setup`]), in the project `providers.gce.project` (default: the VM's own). Configs with
//! inline content are written by cloud-init; the others are stored and fetched the same way as
//! `<app>-config-<config>`. The VM's service account (`providers.gce.service_account`, default the
//! project's default compute account) needs `roles/secretmanager.secretAccessor`.

mod declaration;
pub mod machines;
pub mod names;
pub mod peers;
pub mod setup;
pub mod update;

use std::collections::{BTreeMap, BTreeSet};

use bridge_core::diag::Diagnostic;
use bridge_core::model::{App, GceOptions, MountKind, ProviderKind, Service, ServiceMode};
use bridge_core::placement::{self, Host, HostType, Op, Unit, UnitKey, UnitKind};
use bridge_core::units::ByteSize;
use bridge_core::{Diagnostics, ValidApp};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cloudinit::{self, HostOptions, SCRIPTS_DIR, SECRETS_DIR, WriteFile};
use crate::ledger::Ledger;
use crate::{Artifact, Translation, Translator};

pub use names::{label_key, label_value, resource_name};

/// The diagnostics this translator reports: code and meaning.
pub const CODES: &[(&str, &str)] = &[
    ("T300", "no zone is set: the default zone is used"),
    (
        "T301",
        "a VM's logical image has no GCE image in providers.gce.images",
    ),
    ("T302", "a persistent disk is needed on more than one VM"),
    ("T303", "no machine type is large enough for a VM"),
    (
        "T304",
        "providers.gce.machine_type is not a machine type bridge knows the size of",
    ),
    (
        "T305",
        "the container declaration's agent is deprecated upstream",
    ),
    (
        "T306",
        "a host keeps cloud-init although container_declaration is set",
    ),
    ("T307", "a field GCE hosts cannot express is left out"),
    (
        "T308",
        "a service names one on another VM whose ports are not published on their own number",
    ),
    ("T309", "two resources normalise to the same GCE name"),
    (
        "T310",
        "one secret is given under two variable names on one host",
    ),
    ("T311", "a metadata value is over the 256 KB limit"),
    ("T312", "spread over zones with one zone"),
    (
        "T313",
        "a bind mount's host path is relative or may not exist on Container-Optimized OS",
    ),
    (
        "T314",
        "a VM port's published number differs from its own: VMs have no port mapping",
    ),
    (
        "T315",
        "a platform other than linux/amd64 on x86-64 machine types",
    ),
    (
        "T316",
        "no machine type catalogue from the cloud: the stock E2 list is assumed",
    ),
    (
        "T317",
        "a field this target cannot express, named with the reason (what fidelity shows as dropped)",
    ),
];

/// The zone used when `providers.gce.zone` is not set.
pub const DEFAULT_ZONE: &str = "us-central1-a";
/// The hosts' image: Container-Optimized OS, stable channel.
pub const COS_IMAGE: &str = "projects/cos-cloud/global/images/family/cos-stable";
/// The hosts' boot disk size in GiB (images are pulled onto it).
pub const HOST_DISK_GB: u64 = 20;
/// The smallest persistent disk (and default volume size), in GiB.
pub const MIN_DISK_GB: u64 = 10;
/// The scope the VMs' service account gets (IAM roles decide what it may do).
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Label keys bridge owns.
pub const LABEL_APP: &str = "bridge-app";
/// The component label key.
pub const LABEL_COMPONENT: &str = "bridge-component";
/// The spec hash label key.
pub const LABEL_SPEC_HASH: &str = "bridge-spec-hash";

const GIB: u64 = 1024 * 1024 * 1024;
/// GCE's limit on one metadata value (the user-data among them), in bytes.
pub const METADATA_VALUE_LIMIT: usize = 256 * 1024;
/// GCE's limit on an instance's metadata, keys and values together, in bytes.
pub const METADATA_TOTAL_LIMIT: usize = 512 * 1024;

/// One request body with the names the driver needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// The GCE resource name.
    pub name: String,
    /// The `bridge-component` label value.
    pub component: String,
    /// The request body, as the Compute API v1 takes it.
    pub body: Value,
}

/// Everything the GCE driver creates for one app.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GceApp {
    /// The app name.
    pub app: String,
    /// The project (None: the driver's default).
    pub project: Option<String>,
    /// The zone of every instance and disk.
    pub zone: String,
    /// Persistent disks (`disks.insert`), created before the instances.
    pub disks: Vec<Resource>,
    /// Instances (`instances.insert`): hosts in the solver's order, then VMs.
    pub instances: Vec<Resource>,
    /// Firewall rules (`firewalls.insert`).
    pub firewalls: Vec<Resource>,
    /// The placement report (`gce/placement.txt`).
    pub placement: String,
    /// Secret Manager secret ids the driver stores values in: neutral secret (or config) path,
    /// such as `secrets.db_password`, to the id.
    pub secret_ids: BTreeMap<String, String>,
}

/// The GCE translator.
#[derive(Debug, Clone, Default)]
pub struct Gce;

impl Translator for Gce {
    fn target(&self) -> ProviderKind {
        ProviderKind::Gce
    }

    fn translate(&self, app: &ValidApp) -> Translation {
        let (gce, ledger, mut diagnostics) = build(app);
        let ledger = ledger.into_entries();
        // What the shared cloud-init generator leaves out is a warning too, like GCE's own drops.
        for e in &ledger {
            if e.fidelity == crate::Fidelity::Dropped
                && !diagnostics.iter().any(|d| d.path == e.field)
            {
                diagnostics.push(
                    bridge_core::Diagnostic::warning("T307", e.reason.clone())
                        .with_path(e.field.clone()),
                );
            }
        }
        let mut artifacts = Vec::new();
        let pretty = |v: &Value| {
            let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
            s.push('\n');
            s
        };
        for (dir, list) in [
            ("disks", &gce.disks),
            ("instances", &gce.instances),
            ("firewalls", &gce.firewalls),
        ] {
            for r in list {
                artifacts.push(Artifact {
                    path: format!("gce/{dir}/{}.json", r.name),
                    content: pretty(&r.body),
                });
            }
        }
        artifacts.push(Artifact {
            path: "gce/placement.txt".into(),
            content: gce.placement.clone(),
        });
        Translation {
            artifacts,
            ledger,
            diagnostics,
        }
    }
}

/// The Secret Manager id of a secret.
pub fn secret_id(app: &App, secret: &str) -> String {
    app.secrets
        .get(secret)
        .and_then(|s| s.name.clone())
        .unwrap_or_else(|| format!("{}-{secret}", app.name))
}

/// The Secret Manager id of a config stored there (not inline).
pub fn config_id(app: &App, config: &str) -> String {
    app.configs
        .get(config)
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| format!("{}-config-{config}", app.name))
}

/// The persistent disk name of a volume.
pub fn disk_name(app: &App, volume: &str) -> String {
    resource_name(
        &app.volumes
            .get(volume)
            .and_then(|v| v.name.clone())
            .unwrap_or_else(|| format!("{}-{volume}", app.name)),
    )
}

fn network_url(opts: &GceOptions) -> String {
    match &opts.network {
        Some(n) if n.contains('/') => n.clone(),
        Some(n) => format!("global/networks/{n}"),
        None => "global/networks/default".into(),
    }
}

fn subnetwork_url(opts: &GceOptions, zone: &str) -> Option<String> {
    opts.subnetwork.as_ref().map(|s| {
        if s.contains('/') {
            s.clone()
        } else {
            let region = zone.rsplit_once('-').map_or(zone, |(r, _)| r);
            format!("regions/{region}/subnetworks/{s}")
        }
    })
}

fn is_loopback(ip: &Option<String>) -> bool {
    ip.as_deref()
        .is_some_and(|ip| ip.starts_with("127.") || ip == "::1" || ip == "localhost")
}

fn gib_ceil(b: ByteSize) -> u64 {
    b.0.div_ceil(GIB)
}

/// Translation state shared by the parts.
struct Ctx<'a> {
    app: &'a App,
    /// Service names, dependencies first.
    order: Vec<String>,
    opts: GceOptions,
    zone: String,
    /// The machine types the zone offers (the driver reads `machineTypes.list`), or None for the
    /// stock list of [`machines::catalogue`].
    machine_types: Option<Vec<HostType>>,
    ledger: Ledger,
    diags: Diagnostics,
}

impl Ctx<'_> {
    /// The catalogue sizes are chosen from: the zone's, else the stock list.
    fn catalogue(&self) -> Vec<HostType> {
        self.machine_types
            .clone()
            .unwrap_or_else(machines::catalogue)
    }

    fn warn(&mut self, code: &'static str, path: String, msg: String, hint: Option<String>) {
        self.diags.push(
            Diagnostic::warning(code, msg)
                .with_path(path)
                .with_hint_opt(hint),
        );
    }

    fn error(&mut self, code: &'static str, path: String, msg: String, hint: Option<String>) {
        self.diags.push(
            Diagnostic::error(code, msg)
                .with_path(path)
                .with_hint_opt(hint),
        );
    }

    /// A field GCE cannot express: ledger and warning.
    fn dropped(&mut self, path: String, reason: &str, hint: Option<&str>) {
        self.ledger.dropped(path.clone(), reason);
        self.warn("T307", path, reason.to_string(), hint.map(str::to_string));
    }

    fn labels(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_APP.to_string(), label_value(&self.app.name)),
            (LABEL_COMPONENT.to_string(), label_value(component)),
        ])
    }
}

/// Add `bridge-spec-hash` to the body's labels (and its boot disk's), computed over the body
/// without it.
fn seal(body: &mut Value) {
    let hash = bridge_core::hash::spec_hash(&*body);
    if let Some(l) = body.get_mut("labels").and_then(Value::as_object_mut) {
        l.insert(LABEL_SPEC_HASH.into(), Value::String(hash.clone()));
    }
    if let Some(disks) = body.get_mut("disks").and_then(Value::as_array_mut) {
        for d in disks {
            if let Some(l) = d
                .pointer_mut("/initializeParams/labels")
                .and_then(Value::as_object_mut)
            {
                l.insert(LABEL_SPEC_HASH.into(), Value::String(hash.clone()));
            }
        }
    }
}

/// What an instance body needs beyond the common settings.
struct InstanceSpec {
    name: String,
    component: String,
    machine_type: String,
    image: String,
    disk_gb: u64,
    attached: Vec<Value>,
    tags: BTreeSet<String>,
    labels: BTreeMap<String, String>,
    metadata: Vec<(String, String)>,
    external_ip: bool,
    description: String,
}

fn instance_body(c: &Ctx<'_>, s: InstanceSpec) -> Value {
    let mut labels = s.labels;
    labels.extend(c.labels(&s.component));
    let boot_labels = c.labels(&s.component);
    let mut disks = vec![json!({
        "boot": true,
        "autoDelete": true,
        "deviceName": "boot",
        "initializeParams": {
            "sourceImage": s.image,
            "diskSizeGb": s.disk_gb.to_string(),
            "diskType": format!("zones/{}/diskTypes/pd-balanced", c.zone),
            "labels": boot_labels,
        },
    })];
    disks.extend(s.attached);
    let mut nic = json!({"network": network_url(&c.opts)});
    if let Some(sub) = subnetwork_url(&c.opts, &c.zone) {
        nic["subnetwork"] = Value::String(sub);
    }
    if s.external_ip {
        nic["accessConfigs"] = json!([{"name": "External NAT", "type": "ONE_TO_ONE_NAT"}]);
    }
    let items: Vec<Value> = s
        .metadata
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let mut body = json!({
        "name": s.name,
        "description": s.description,
        "machineType": format!("zones/{}/machineTypes/{}", c.zone, s.machine_type),
        "disks": disks,
        "networkInterfaces": [nic],
        "labels": labels,
        "serviceAccounts": [{
            "email": c.opts.service_account.clone().unwrap_or_else(|| "default".into()),
            "scopes": [SCOPE],
        }],
        "tags": {"items": s.tags.into_iter().collect::<Vec<_>>()},
        "metadata": {"items": items},
        "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": true},
    });
    seal(&mut body);
    body
}

fn firewall_body(
    c: &Ctx<'_>,
    name: &str,
    component: &str,
    proto: &str,
    port: u16,
    target_tag: &str,
    source: Result<&str, &str>,
) -> Value {
    let mut body = json!({
        "name": name,
        "network": network_url(&c.opts),
        "direction": "INGRESS",
        "priority": 1000,
        "targetTags": [target_tag],
        "allowed": [{"IPProtocol": proto, "ports": [port.to_string()]}],
    });
    match source {
        Ok(range) => body["sourceRanges"] = json!([range]),
        Err(tag) => body["sourceTags"] = json!([tag]),
    }
    let hash = bridge_core::hash::spec_hash(&body);
    body["description"] = Value::String(format!(
        "bridge.app={} bridge.component={component} bridge.spec-hash={hash}",
        c.app.name
    ));
    body
}

/// Decode a catalogue entry's name `type` or `type@N` (a copy carrying label set N).
fn split_size(size: &str) -> (&str, usize) {
    match size.split_once('@') {
        Some((t, n)) => (t, n.parse().unwrap_or(0)),
        None => (size, 0),
    }
}

/// The catalogue, with one labelled copy per distinct set of `==` constraints: bridge creates
/// the hosts, so a host that runs a constrained unit carries the labels the constraints ask for
/// (also as instance labels). Label set 0 is empty.
fn labelled_catalogue(
    base: &[HostType],
    units: &[Unit],
) -> (Vec<HostType>, Vec<BTreeMap<String, String>>) {
    let mut sets: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    for u in units {
        if u.constraints.is_empty() {
            continue;
        }
        let labels: BTreeMap<String, String> = u
            .constraints
            .iter()
            .filter(|c| c.op == Op::Eq)
            .map(|c| (c.label.clone(), c.value.clone()))
            .collect();
        if u.constraints.iter().all(|c| c.matches(&labels)) && !sets.contains(&labels) {
            sets.push(labels);
        }
    }
    let mut out = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        for t in base {
            let mut t = t.clone();
            if i > 0 {
                t.name = format!("{}@{i}", t.name);
            }
            t.labels = set.clone();
            out.push(t);
        }
    }
    (out, sets)
}

/// Build the GCE request bodies, the ledger and diagnostics for an app.
pub fn build(valid: &ValidApp) -> (GceApp, Ledger, Diagnostics) {
    build_with(valid, None)
}

/// [`build`] with the machine types the zone offers, as the driver read them from
/// `machineTypes.list` ([`machines::from_api`]); None: the stock E2 list, with warning T316.
pub fn build_with(
    valid: &ValidApp,
    machine_types: Option<Vec<HostType>>,
) -> (GceApp, Ledger, Diagnostics) {
    let full = valid.app();
    let ours = |p: Option<ProviderKind>| p.is_none_or(|p| p == ProviderKind::Gce);
    let mut app = full.clone();
    app.services.retain(|_, s| ours(s.provider));
    app.vms.retain(|_, v| ours(v.provider));
    let order: Vec<String> = valid
        .service_order()
        .iter()
        .filter(|n| app.services.contains_key(*n))
        .cloned()
        .collect();
    let opts = app.providers.gce.clone().unwrap_or_default();
    let zone = opts.zone.clone().unwrap_or_else(|| DEFAULT_ZONE.into());
    let mut c = Ctx {
        app: &app,
        order,
        opts,
        zone,
        machine_types,
        ledger: Ledger::default(),
        diags: Diagnostics::new(),
    };
    let mut out = GceApp {
        app: app.name.clone(),
        project: c.opts.project.clone(),
        zone: c.zone.clone(),
        ..GceApp::default()
    };
    c.ledger.mapped("name");
    provider_ledger(&mut c);
    if c.opts.zone.is_none() && (!app.services.is_empty() || !app.vms.is_empty()) {
        c.warn(
            "T300",
            "providers.gce.zone".into(),
            format!("no zone is set; instances and disks go to {DEFAULT_ZONE}"),
            Some("set `providers.gce.zone`".into()),
        );
    }
    let sized = (!app.services.is_empty() && c.opts.machine_type.is_none()) || !app.vms.is_empty();
    if c.machine_types.is_none() && sized {
        c.warn(
            "T316",
            "providers.gce".into(),
            "no machine type catalogue from the cloud: sizes are chosen from the stock list e2-small to e2-standard-16".into(),
            Some("deploy (or plan) reads the zone's own machine types (machineTypes.list); a rendered request may name a type the zone lacks".into()),
        );
    }

    let hosts = place(&mut c, &mut out);
    hosts_to_instances(&mut c, &mut out, &hosts);
    for (name, s) in &app.services {
        service_ledger(&mut c, name, s);
        service_firewalls(&mut c, &mut out, name, s);
    }
    top_level_ledger(&mut c, &mut out);
    for name in app.vms.keys() {
        vm(&mut c, &mut out, name);
    }
    for (kind, list) in [
        ("instance", &out.instances),
        ("disk", &out.disks),
        ("firewall rule", &out.firewalls),
    ] {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for r in list {
            if let Some(first) = seen.insert(&r.name, &r.component) {
                c.diags.push(
                    Diagnostic::error(
                        "T309",
                        format!(
                            "the {kind} name `{}` is used by both {first} and {}",
                            r.name, r.component
                        ),
                    )
                    .with_hint(
                        "rename one of them; GCE names are lowercase and at most 63 characters",
                    ),
                );
            }
        }
    }
    out.disks.sort_by(|a, b| a.name.cmp(&b.name));
    out.firewalls.sort_by(|a, b| a.name.cmp(&b.name));
    c.ledger.report_drops(&mut c.diags, "T317", "gce");
    (out, c.ledger, c.diags)
}

fn provider_ledger(c: &mut Ctx<'_>) {
    let o = c.opts.clone();
    for (f, set) in [
        ("project", o.project.is_some()),
        ("zone", o.zone.is_some()),
        ("machine_type", o.machine_type.is_some()),
        ("network", o.network.is_some()),
        ("subnetwork", o.subnetwork.is_some()),
        ("service_account", o.service_account.is_some()),
        ("container_declaration", o.container_declaration),
    ] {
        if set {
            c.ledger.mapped(format!("providers.gce.{f}"));
        }
    }
    for k in o.images.keys() {
        c.ledger.mapped(format!("providers.gce.images.{k}"));
    }
}

/// Run the solver; on success fill the placement report. Hosts with their label sets.
fn place(c: &mut Ctx<'_>, out: &mut GceApp) -> Vec<(Host, BTreeMap<String, String>, Vec<String>)> {
    let app = c.app;
    if app.services.is_empty() {
        out.placement = format!("# placement of {} on gce: no services\n", app.name);
        return Vec::new();
    }
    let known = match (&c.opts.machine_type, &c.machine_types) {
        (Some(t), Some(zone)) => match zone.iter().find(|h| &h.name == t) {
            Some(h) => Some(Some(h.clone())),
            None => {
                let z = c.zone.clone();
                c.error(
                    "T304",
                    "providers.gce.machine_type".into(),
                    format!("zone {z} offers no machine type `{t}`"),
                    Some(format!("use one the zone lists (gcloud compute machine-types list --zones {z}), or leave it out to let the solver choose")),
                );
                return Vec::new();
            }
        },
        (Some(t), None) => Some(machines::size_of(t)),
        (None, _) => None,
    };
    let base = match (&c.opts.machine_type, known) {
        (Some(t), Some(known)) => match known {
            Some(h) => vec![h],
            None => {
                c.error(
                    "T304",
                    "providers.gce.machine_type".into(),
                    format!("bridge does not know the size of machine type `{t}`"),
                    Some("use a predefined type such as `e2-standard-4` or `n2-highmem-8`, a custom type such as `e2-custom-4-8192`, or leave it out to let the solver choose".into()),
                );
                return Vec::new();
            }
        },
        _ => c.catalogue(),
    };
    let popts = placement::Options::default();
    c.diags.extend(placement::node_role_warnings(app, "gce").0);
    let mut units = match placement::units(app, &popts) {
        Ok(u) => u,
        Err(es) => {
            c.diags.extend(placement::to_diagnostics(&es).0);
            return Vec::new();
        }
    };
    for u in &mut units {
        u.max_per_host = Some(1);
    }
    let (catalogue, sets) = labelled_catalogue(&base, &units);
    let p = match placement::place_catalogue(&units, &catalogue, &popts) {
        Ok(p) => p,
        Err(es) => {
            c.diags.extend(placement::to_diagnostics(&es).0);
            return Vec::new();
        }
    };
    let by_key: BTreeMap<&UnitKey, &Unit> = units.iter().map(|u| (&u.key, u)).collect();
    let mut rep = format!(
        "# placement of {} on gce, zone {}: the solver's assignment, one instance per host\n{}\ncost: {} (tenths of a cent per hour at us-central1 on-demand prices)\n",
        app.name,
        c.zone,
        p.bound_report(),
        p.cost
    );
    let rank: BTreeMap<&str, usize> = c
        .order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut hosts = Vec::new();
    for h in &p.hosts {
        let (ty, set) = split_size(&h.size);
        let labels = sets.get(set).cloned().unwrap_or_default();
        let mut svcs: BTreeSet<String> = BTreeSet::new();
        let mut slots = Vec::new();
        for s in &h.units {
            let kind = match s.unit.kind {
                UnitKind::Group => "group",
                UnitKind::Service => "service",
            };
            slots.push(format!("{kind} {} #{}", s.unit.name, s.replica));
            if let Some(u) = by_key.get(&s.unit) {
                svcs.extend(u.services.iter().cloned());
            }
        }
        let label_text = if labels.is_empty() {
            String::new()
        } else {
            format!(
                " labels {}",
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        rep.push_str(&format!(
            "{}-{} {ty}{label_text}: uses {} of {}: {}\n",
            app.name,
            h.name,
            h.used,
            h.capacity,
            slots.join(", ")
        ));
        let mut ordered: Vec<String> = svcs.into_iter().collect();
        ordered.sort_by_key(|n| rank.get(n.as_str()).copied().unwrap_or(usize::MAX));
        hosts.push((h.clone(), labels, ordered));
    }
    for u in &p.unplaceable {
        rep.push_str(&format!(
            "unplaced: {} #{}: {}\n",
            u.unit, u.replica, u.reason
        ));
    }
    out.placement = rep;
    hosts
}

/// Secrets and configs a host's services need: files cloud-init writes, fetches and owners the
/// setup script handles.
fn host_files(c: &mut Ctx<'_>, svcs: &[String], st: &mut setup::Setup) -> Vec<WriteFile> {
    let app = c.app;
    let mut files: BTreeMap<String, WriteFile> = BTreeMap::new();
    let mut fetched: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for svc in svcs {
        let Some(s) = app.services.get(svc) else {
            continue;
        };
        for (i, r) in s.secrets.iter().enumerate() {
            let id = secret_id(app, &r.name);
            let (path, var) = match &r.env {
                Some(var) => (format!("{SECRETS_DIR}/{}.env", r.name), Some(var.clone())),
                None => (format!("{SECRETS_DIR}/{}", r.name), None),
            };
            match fetched.get(&path) {
                Some((who, v)) if *v != var => {
                    let msg = format!(
                        "secret `{}` is given as {} here and as {} by {who} on the same VM",
                        r.name,
                        var.as_deref().unwrap_or("a file"),
                        v.as_deref().unwrap_or("a file"),
                    );
                    c.error(
                        "T310",
                        format!("services.{svc}.secrets[{i}]"),
                        msg,
                        Some(
                            "use one variable name for the secret in every service of a group"
                                .into(),
                        ),
                    );
                    continue;
                }
                Some(_) => {
                    c.ledger.approximated(
                        format!("services.{svc}.secrets[{i}].mode"),
                        "another service on the same VM reads the same secret file; the first reference's owner and mode apply",
                    );
                    continue;
                }
                None => {}
            }
            fetched.insert(path.clone(), (svc.clone(), var.clone()));
            st.fetches.push(setup::Fetch {
                secret_id: id,
                path,
                env_var: var,
                uid: r.uid.clone(),
                gid: r.gid.clone(),
                mode: r.mode,
            });
        }
        for r in &s.configs {
            let path = format!("{}/{}", setup::CONFIGS_DIR, r.name);
            if files.contains_key(&path) || fetched.contains_key(&path) {
                continue;
            }
            let def = app.configs.get(&r.name);
            match def.and_then(|d| d.content.clone()) {
                Some(content) => {
                    files.insert(
                        path.clone(),
                        WriteFile {
                            path: path.clone(),
                            permissions: format!("{:04o}", r.mode.unwrap_or(0o444)),
                            content,
                        },
                    );
                    if r.uid.is_some() || r.gid.is_some() {
                        st.chowns.push(setup::Chown {
                            path,
                            uid: r.uid.clone(),
                            gid: r.gid.clone(),
                            mode: None,
                        });
                    }
                }
                None => {
                    fetched.insert(path.clone(), (svc.clone(), None));
                    st.fetches.push(setup::Fetch {
                        secret_id: config_id(app, &r.name),
                        path,
                        env_var: None,
                        uid: r.uid.clone(),
                        gid: r.gid.clone(),
                        mode: Some(r.mode.unwrap_or(0o444)),
                    });
                }
            }
        }
    }
    files.into_values().collect()
}

/// One instance per host of the solver's assignment, and a disk per named volume they use.
fn hosts_to_instances(
    c: &mut Ctx<'_>,
    out: &mut GceApp,
    hosts: &[(Host, BTreeMap<String, String>, Vec<String>)],
) {
    let app = c.app;
    let instance = |h: &Host| peers::host_instance(&app.name, &h.name);
    // Named volumes: which hosts need them.
    let mut vol_hosts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut svc_hosts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (h, _, svcs) in hosts {
        for s in svcs {
            svc_hosts.entry(s.clone()).or_default().insert(instance(h));
            for m in app.services.get(s).map(|s| &s.volumes[..]).unwrap_or(&[]) {
                if let (MountKind::Volume, Some(v)) = (m.kind, &m.source) {
                    vol_hosts.entry(v.clone()).or_default().insert(instance(h));
                }
            }
        }
    }
    for (v, hs) in &vol_hosts {
        if hs.len() > 1 {
            let list = hs.iter().cloned().collect::<Vec<_>>().join(", ");
            c.error(
                "T302",
                format!("volumes.{v}"),
                format!("volume `{v}` is a persistent disk, which attaches read-write to one VM, but {list} need it"),
                Some("run the services that use it as one replica of one group, or use a bind mount to a file store".into()),
            );
        }
        let def = app.volumes.get(v).cloned().unwrap_or_default();
        if def.external {
            continue;
        }
        let name = disk_name(app, v);
        let component = format!("volume-{v}");
        let mut labels: BTreeMap<String, String> = def
            .labels
            .iter()
            .map(|(k, val)| (label_key(k), label_value(val)))
            .collect();
        labels.extend(c.labels(&component));
        let gb = def.size.map_or(MIN_DISK_GB, gib_ceil).max(MIN_DISK_GB);
        let mut body = json!({
            "name": name,
            "description": format!("bridge volume {v} of {}", app.name),
            "sizeGb": gb.to_string(),
            "type": format!("zones/{}/diskTypes/pd-balanced", c.zone),
            "labels": labels,
        });
        seal(&mut body);
        out.disks.push(Resource {
            name,
            component,
            body,
        });
    }

    let mut declared: BTreeMap<String, bool> = BTreeMap::new();
    let mut any_declared = false;
    // Computed once for every host (a copy per host is quadratic, issue 15).
    let aliases = std::sync::Arc::new(cloudinit::link_aliases(app));
    let all_names = std::sync::Arc::new(cloudinit::all_service_names(app));
    let sharers = std::sync::Arc::new(cloudinit::namespace_sharers(app));
    // Each service's instances as DNS names, formatted once (not once per host reading them).
    let svc_dns: BTreeMap<String, Vec<String>> = svc_hosts
        .iter()
        .map(|(s, hs)| (s.clone(), hs.iter().map(|h| instance_dns(c, h)).collect()))
        .collect();
    for (h, host_labels, svcs) in hosts {
        let name = instance(h);
        let component = format!("host-{}", h.name);
        let (ty, _) = split_size(&h.size);
        let mut st = setup::Setup {
            project: c.opts.project.clone(),
            ..setup::Setup::default()
        };
        let mut attached = Vec::new();
        let mut host_opts = HostOptions {
            link_aliases: Some(aliases.clone()),
            // The machine types bridge places on have no GPUs (the ledger says dropped).
            no_gpus: true,
            peers: peer_addresses(&svc_dns, svcs),
            names: Some(all_names.clone()),
            sharers: Some(sharers.clone()),
            ..HostOptions::default()
        };
        let mut devices = BTreeMap::new();
        let used: BTreeSet<&String> = svcs
            .iter()
            .filter_map(|s| app.services.get(s))
            .flat_map(|s| s.volumes.iter())
            .filter(|m| m.kind == MountKind::Volume)
            .filter_map(|m| m.source.as_ref())
            .collect();
        for v in used {
            let dn = disk_name(app, v);
            attached.push(json!({
                "source": format!("zones/{}/disks/{dn}", c.zone),
                "deviceName": dn,
                "mode": "READ_WRITE",
                "type": "PERSISTENT",
                "autoDelete": false,
                "boot": false,
            }));
            let path = format!("{}/{v}", setup::DISKS_DIR);
            host_opts.volume_paths.insert(v.clone(), path.clone());
            devices.insert(v.clone(), dn.clone());
            st.disks.push(setup::DiskMount { device: dn, path });
        }
        let mut tags = BTreeSet::from([resource_name(&app.name)]);
        let mut external_ip = false;
        for s in svcs {
            tags.insert(resource_name(&format!("{}-{s}", app.name)));
            if let Some(svc) = app.services.get(s) {
                external_ip |= svc
                    .ports
                    .iter()
                    .any(|p| p.published.is_some() && !is_loopback(&p.host_ip));
            }
        }
        let upd = update::host_update(&mut c.ledger, &app.services, svcs, !attached.is_empty());
        let single = match (svcs.as_slice(), h.units.len()) {
            ([one], 1) => app.services.get(one).map(|s| (one, s)),
            _ => None,
        };
        let mut metadata = Vec::new();
        let declare = c.opts.container_declaration;
        // Names on other hosts resolve through cloud-init's peers file, which a declared
        // container does not read.
        let needs_peers = svcs.iter().filter_map(|s| app.services.get(s)).any(|s| {
            s.depends_on
                .iter()
                .map(|d| &d.service)
                .chain(s.links.iter().map(|l| &l.service))
                .any(|d| host_opts.peers.contains_key(d))
        });
        match single {
            Some((sname, s))
                if declare && declaration::unsupported(s).is_empty() && !needs_peers =>
            {
                any_declared = true;
                declared.entry(sname.clone()).or_insert(true);
                metadata.push((
                    "gce-container-declaration".to_string(),
                    declaration::render(&cloudinit::container_name(&app.name, sname), s, &devices),
                ));
            }
            _ => {
                if declare {
                    let why = match single {
                        Some(_) if needs_peers => "its service names a service on another host, which resolves only through cloud-init's peers file".to_string(),
                        Some((_, s)) => format!(
                            "its service sets {}, which the declaration cannot carry",
                            declaration::unsupported(s).join(", ")
                        ),
                        None => "it runs more than one container".to_string(),
                    };
                    c.diags.push(
                        Diagnostic::new(
                            bridge_core::Severity::Note,
                            "T306",
                            format!("{name} keeps cloud-init: {why}"),
                        )
                        .with_path("providers.gce.container_declaration"),
                    );
                }
                for s in svcs {
                    declared.insert(s.clone(), false);
                }
                let mut extra = host_files(c, svcs, &mut st);
                if !st.is_empty() {
                    extra.push(WriteFile {
                        path: format!("{SCRIPTS_DIR}/setup.sh"),
                        permissions: "0700".into(),
                        content: setup::script(&st),
                    });
                    extra.push(WriteFile {
                        path: format!("/etc/systemd/system/{}", setup::UNIT),
                        permissions: "0644".into(),
                        content: setup::unit(),
                    });
                    for s in svcs {
                        extra.push(WriteFile {
                            path: format!(
                                "/etc/systemd/system/{}-{s}.service.d/10-bridge-setup.conf",
                                app.name
                            ),
                            permissions: "0644".into(),
                            content: setup::drop_in(),
                        });
                    }
                }
                if upd.health {
                    extra.extend(health_files(app, svcs));
                }
                let names: Vec<&str> = svcs.iter().map(String::as_str).collect();
                // A host reading names on other hosts follows their replacements (see [`peers`]).
                let follows = cloudinit::peers_file(
                    app,
                    &names,
                    &host_opts,
                    &mut crate::ledger::Ledger::default(),
                )
                .is_some();
                let mut after = Vec::new();
                if follows {
                    host_opts.peers_follow = host_opts
                        .peers
                        .keys()
                        .map(|s| (s.clone(), peers::FOLLOW.to_string()))
                        .collect();
                    extra.extend(peers::files(&app.name));
                    after.push(vec![
                        "systemctl".into(),
                        "enable".into(),
                        "--now".into(),
                        peers::UNIT.into(),
                    ]);
                    metadata.push((peers::BOOK_KEY.into(), peers::BOOK_PLACEHOLDER.into()));
                }
                let extras = cloudinit::HostExtras {
                    files: extra,
                    after_containers: after,
                    ..cloudinit::HostExtras::default()
                };
                let ud =
                    cloudinit::cloud_config_full(app, &names, extras, &host_opts, &mut c.ledger);
                metadata.push(("user-data".to_string(), ud));
            }
        }
        if upd.health {
            metadata.push((update::GUEST_ATTRIBUTES_KEY.into(), "TRUE".into()));
        }
        metadata.push((
            update::METADATA_KEY.into(),
            serde_json::to_string(&upd).unwrap_or_default(),
        ));
        metadata.push(("google-logging-enabled".into(), "true".into()));
        let shipped =
            cloudinit::shipped_sizes(app, &svcs.iter().map(String::as_str).collect::<Vec<_>>());
        let total: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if let Some((src, svc, i, size)) = shipped.first().filter(|_| {
            total > METADATA_TOTAL_LIMIT
                || metadata
                    .iter()
                    .any(|(k, v)| k == "user-data" && v.len() > METADATA_VALUE_LIMIT)
        }) {
            let (what, limit) = if total > METADATA_TOTAL_LIMIT {
                ("the instance metadata (all values)", METADATA_TOTAL_LIMIT)
            } else {
                ("one metadata value (the user-data)", METADATA_VALUE_LIMIT)
            };
            let f = app.files.0.get(src).cloned().unwrap_or_default();
            let mut d = bridge_core::model::files::too_large(
                &f,
                (svc, *i, src),
                &format!(
                    "the user-data of {name} ({size} bytes of project files); GCE takes {what}"
                ),
                total as u64,
                limit as u64,
                "GCE metadata holds 256 KiB per value and 512 KiB per instance: bake large files into the image, or keep them on a persistent disk",
            );
            d.message = format!(
                "service `{svc}`: the bind source `{src}` ({size} bytes) fills the user-data of {name} past GCE's limit of {limit} bytes for {what}"
            );
            c.diags.push(d);
        }
        for (k, v) in &metadata {
            if v.len() > METADATA_VALUE_LIMIT && shipped.is_empty() {
                c.error(
                    "T311",
                    format!("gce.instances.{name}.metadata.{k}"),
                    format!("the {k} of {name} is {} bytes; GCE takes at most 256 KB per metadata value", v.len()),
                    Some("run fewer containers per VM (set `providers.gce.machine_type` to a smaller type) or shorten large inline configs".into()),
                );
            }
        }
        let labels = host_labels
            .iter()
            .map(|(k, v)| (label_key(k), label_value(v)))
            .collect();
        let body = instance_body(
            c,
            InstanceSpec {
                name: name.clone(),
                component: component.clone(),
                machine_type: ty.to_string(),
                image: COS_IMAGE.into(),
                disk_gb: HOST_DISK_GB,
                attached,
                tags,
                labels,
                metadata,
                external_ip,
                description: format!(
                    "bridge host {} of {}: {}",
                    h.name,
                    app.name,
                    svcs.join(", ")
                ),
            },
        );
        out.instances.push(Resource {
            name,
            component,
            body,
        });
    }
    if any_declared {
        c.warn(
            "T305",
            "providers.gce.container_declaration".into(),
            "the container declaration is read by Container-Optimized OS's startup agent, which upstream deprecated".into(),
            Some("leave `container_declaration` out to run the containers from cloud-init, which bridge supports on every host".into()),
        );
    }
    for (svc, all) in &declared {
        if *all && let Some(s) = app.services.get(svc) {
            declaration_ledger(c, svc, s);
        }
    }
    cross_vm_ports(c, &svc_hosts);
}

/// The DNS name of an instance inside GCE: the zonal internal name when the project is known,
/// else the instance name, which the VM's resolver completes with its own zone's search domain
/// (every instance of the app is in the one zone).
fn instance_dns(c: &Ctx<'_>, instance: &str) -> String {
    match &c.opts.project {
        Some(p) => format!("{instance}.{}.c.{p}.internal", c.zone),
        None => instance.to_string(),
    }
}

/// For a host running `svcs`: every other service of the app with the internal DNS names of the
/// instances running it, for [`cloudinit::peers_file`]. DNS names, not addresses: an instance
/// keeps its name when bridge replaces it, and GCE's DNS answers with its current address.
fn peer_addresses(
    svc_dns: &BTreeMap<String, Vec<String>>,
    svcs: &[String],
) -> BTreeMap<String, Vec<String>> {
    svc_dns
        .iter()
        .filter(|(s, _)| !svcs.contains(s))
        .map(|(s, hs)| (s.clone(), hs.clone()))
        .collect()
}

/// A service named (depends_on, links) by a service on another VM: its name resolves there to
/// the VMs running it, so only ports published on their own number are reached. Report every
/// other port, and a service that publishes none.
fn cross_vm_ports(c: &mut Ctx<'_>, svc_hosts: &BTreeMap<String, BTreeSet<String>>) {
    let app = c.app;
    for (svc, s) in &app.services {
        let mine = svc_hosts.get(svc).cloned().unwrap_or_default();
        let deps = s
            .depends_on
            .iter()
            .map(|d| ("depends_on", &d.service))
            .chain(s.links.iter().map(|l| ("links", &l.service)));
        let mut warned = BTreeSet::new();
        for (field, d) in deps {
            let theirs = svc_hosts.get(d).cloned().unwrap_or_default();
            if mine.is_subset(&theirs) || !warned.insert(d.clone()) {
                continue;
            }
            let Some(other) = app.services.get(cloudinit::namespace_owner(app, d)) else {
                continue;
            };
            let unreachable: Vec<String> = other
                .ports
                .iter()
                .filter(|p| p.published != Some(p.container) || is_loopback(&p.host_ip))
                .map(|p| p.container.to_string())
                .chain(other.expose.iter().map(|e| e.to_string()))
                .collect();
            if other.ports.is_empty() || !unreachable.is_empty() {
                let what = if unreachable.is_empty() {
                    "it publishes no port".to_string()
                } else {
                    format!(
                        "container port(s) {} are not published on their own number",
                        unreachable.join(", ")
                    )
                };
                c.warn(
                    "T308",
                    format!("services.{svc}.{field}"),
                    format!("`{svc}` reaches `{d}` on another VM, where the name `{d}` resolves to that VM's address, but {what}: such ports are not reachable across VMs"),
                    Some(format!("publish the port on the same number (`ports: [\"5432:5432\"]` for 5432), or put `{svc}` and `{d}` in one group")),
                );
            }
        }
    }
}

/// The health reporter of a host whose containers have health checks: its script, its unit, and
/// a drop-in per container unit that starts it ([`setup::health_script`]).
fn health_files(app: &App, svcs: &[String]) -> Vec<WriteFile> {
    let checked: Vec<String> = svcs
        .iter()
        .filter(|s| {
            app.services
                .get(*s)
                .and_then(|s| s.health.as_ref())
                .is_some_and(|h| !h.test.is_none())
        })
        .map(|s| cloudinit::container_name(&app.name, s))
        .collect();
    let mut out = vec![
        WriteFile {
            path: format!("{SCRIPTS_DIR}/health.sh"),
            permissions: "0755".into(),
            content: setup::health_script(&checked),
        },
        WriteFile {
            path: format!("/etc/systemd/system/{}", setup::HEALTH_UNIT),
            permissions: "0644".into(),
            content: setup::health_unit(),
        },
    ];
    for s in svcs {
        out.push(WriteFile {
            path: format!(
                "/etc/systemd/system/{}-{s}.service.d/20-bridge-health.conf",
                app.name
            ),
            permissions: "0644".into(),
            content: format!("[Unit]\nWants={}\n", setup::HEALTH_UNIT),
        });
    }
    out
}

fn declaration_ledger(c: &mut Ctx<'_>, name: &str, s: &Service) {
    let p = |f: &str| format!("services.{name}.{f}");
    c.ledger.mapped(p("image"));
    c.ledger.mapped(p("restart"));
    for (f, set) in [
        ("command", s.command.is_some()),
        ("entrypoint", s.entrypoint.is_some()),
        ("env", !s.env.is_empty()),
        ("privileged", s.privileged),
        ("tty", s.tty),
        ("stdin_open", s.stdin_open),
    ] {
        if set {
            c.ledger.mapped(p(f));
        }
    }
    for i in 0..s.volumes.len() {
        c.ledger.mapped(format!("services.{name}.volumes[{i}]"));
    }
    for i in 0..s.ports.len() {
        c.ledger.approximated(
            format!("services.{name}.ports[{i}]"),
            "the declared container uses the VM's network: the port is open on the VM as it is, reachable from outside through the firewall rule",
        );
    }
    if !s.expose.is_empty() {
        c.ledger.approximated(
            p("expose"),
            "the declared container uses the VM's network: every port it listens on is open on the VM",
        );
    }
    // A dependency on another GCE host keeps this host on cloud-init (T306, the peers file);
    // so this names one elsewhere, which the GCE driver does not hold this VM for.
    if !s.depends_on.is_empty() {
        c.ledger.approximated(
            p("depends_on"),
            "the declaration carries no depends_on, so nothing on the VM holds the container for its dependency (a dependency on another GCE host keeps this host on cloud-init instead, T306)",
        );
    }
}

/// Ledger lines for the service fields the shared cloud-init generator does not decide.
fn service_ledger(c: &mut Ctx<'_>, name: &str, s: &Service) {
    let p = |f: &str| format!("services.{name}.{f}");
    c.ledger.mapped(p("image"));
    if s.replicas != 1 {
        c.ledger.mapped(p("replicas"));
    }
    if s.mode == ServiceMode::Global {
        c.ledger.mapped(p("mode"));
    }
    if s.group.is_some() {
        c.ledger.mapped(p("group"));
    }
    if s.provider.is_some() {
        c.ledger.mapped(p("provider"));
    }
    placement_ledger(c, &p("placement"), &s.placement, s.replicas);
    if !s.networks.is_empty() {
        c.ledger.approximated(
            p("networks"),
            "the containers on one VM share one docker network; VMs reach each other through the VPC",
        );
    }
    if s.env
        .0
        .values()
        .any(|v| v.contains("${vms.") || v.contains("${services."))
    {
        c.ledger.claimed(
            p("env"),
            crate::claims::Claim::ResolvesAddressReferences,
            "address references are resolved by bridge at deploy time to the VM's address",
        );
    }
    if s.restart_window.is_some() && s.restart_max_attempts.is_none() {
        c.dropped(
            p("restart_window"),
            "systemd counts restarts in a window only with a count: a window without restart_max_attempts has no effect",
            Some("set restart_max_attempts too, or leave restart_window out"),
        );
    }
    if s.resources.gpus.is_some() {
        c.dropped(
            p("resources.gpus"),
            "the E2 machine types bridge places on have no GPUs; docker's --gpus request fails on them",
            Some("run GPU workloads as a VM with an accelerator, or on another target"),
        );
    }
    if let Some(pl) = &s.platform
        && pl != "linux/amd64"
    {
        c.ledger.approximated(
            p("platform"),
            "the machine types are x86-64: other platforms run only under emulation",
        );
        c.warn(
            "T315",
            p("platform"),
            format!("`{pl}` images do not run natively on the x86-64 machine types bridge uses"),
            Some("publish a linux/amd64 image".into()),
        );
    }
    for (i, pt) in s.ports.iter().enumerate() {
        let at = format!("services.{name}.ports[{i}]");
        if pt.name.is_some() {
            c.dropped(
                format!("{at}.name"),
                "docker and GCE firewall rules have no port names",
                None,
            );
        }
        if pt.app_protocol.is_some() {
            c.dropped(
                format!("{at}.app_protocol"),
                "without a load balancer there is no application protocol to set",
                None,
            );
        }
        if pt.published.is_none() {
            c.ledger.approximated(
                at,
                "published on an ephemeral VM port chosen by docker, which no firewall rule opens",
            );
        }
    }
    for (i, m) in s.volumes.iter().enumerate() {
        let at = format!("services.{name}.volumes[{i}]");
        match (m.kind, &m.source) {
            (MountKind::Volume, None) => c.ledger.approximated(
                at,
                "an anonymous docker volume on the VM's boot disk, lost when the VM is replaced",
            ),
            (MountKind::Bind, Some(_)) if bridge_core::model::files::ships(m) => {
                // Shipped by cloud-init's write_files (the ledger line comes from there).
                if let Some(d) = c.app.files.get(name, i, m).err() {
                    c.diags.push(d);
                }
            }
            (MountKind::Bind, Some(src)) if !src.starts_with('/') => {
                c.ledger.approximated(
                    at.clone(),
                    "the host path is on the VM, where a relative path resolves from / and bridge copies no files",
                );
                c.warn(
                    "T313",
                    at,
                    format!("the bind source `{src}` is relative; on the VM it names a directory under /, which bridge does not fill"),
                    Some("use a config for files the container needs, or an absolute path that exists on the VM".into()),
                );
            }
            (MountKind::Bind, Some(src))
                if ![
                    "/var/", "/home/", "/mnt/", "/tmp", "/run/", "/etc/", "/dev/", "/proc/",
                    "/sys/",
                ]
                .iter()
                .any(|pre| src.starts_with(pre)) =>
            {
                c.warn(
                    "T313",
                    at,
                    format!("the root file system of Container-Optimized OS is read-only, so docker cannot create `{src}` there"),
                    Some("bind a path under /var, /home, /mnt/stateful_partition or /tmp".into()),
                );
            }
            _ => {}
        }
    }
}

fn placement_ledger(
    c: &mut Ctx<'_>,
    base: &str,
    pl: &bridge_core::model::Placement,
    replicas: u32,
) {
    if let Some(sp) = &pl.spread {
        if sp == "zone" {
            c.ledger.approximated(
                format!("{base}.spread"),
                format!("every instance is in the one zone {}", c.zone),
            );
            if replicas > 1 {
                c.warn(
                    "T312",
                    format!("{base}.spread"),
                    format!("the replicas are spread over VMs but all in zone {}", c.zone),
                    Some("GCE options name one zone; deploy a second copy of the app in another zone for zone redundancy".into()),
                );
            }
        } else {
            c.ledger.mapped(format!("{base}.spread"));
        }
    }
    for (i, con) in pl.constraints.iter().enumerate() {
        let at = format!("{base}.constraints[{i}]");
        if placement::is_node_role(con) {
            c.ledger
                .dropped(at, "GCE instances have no swarm node roles");
        } else {
            c.ledger.mapped(at);
        }
    }
    match pl.max_per_host {
        Some(1) => c.ledger.mapped(format!("{base}.max_per_host")),
        Some(_) => c.ledger.approximated(
            format!("{base}.max_per_host"),
            "a VM runs at most one replica of each service, since container names and host ports are per VM",
        ),
        None => {}
    }
}

/// One firewall rule per published port.
fn service_firewalls(c: &mut Ctx<'_>, out: &mut GceApp, name: &str, s: &Service) {
    let app = c.app;
    let tag = resource_name(&format!("{}-{name}", app.name));
    for pt in &s.ports {
        let Some(pb) = pt.published else { continue };
        if is_loopback(&pt.host_ip) {
            continue;
        }
        let proto = pt.protocol.as_str();
        let fw = resource_name(&format!("{}-{name}-{proto}-{pb}", app.name));
        if out.firewalls.iter().any(|f| f.name == fw) {
            continue;
        }
        let component = format!("firewall-{name}-{proto}-{pb}");
        let body = firewall_body(c, &fw, &component, proto, pb, &tag, Ok("0.0.0.0/0"));
        out.firewalls.push(Resource {
            name: fw,
            component,
            body,
        });
    }
}

/// Ledger lines for volumes, secrets, configs, networks and groups.
fn top_level_ledger(c: &mut Ctx<'_>, out: &mut GceApp) {
    let app = c.app;
    for (v, vol) in &app.volumes {
        let p = |f: &str| format!("volumes.{v}.{f}");
        if let Some(sz) = vol.size {
            if sz.0 % GIB == 0 && gib_ceil(sz) >= MIN_DISK_GB {
                c.ledger.mapped(p("size"));
            } else {
                c.ledger.approximated(
                    p("size"),
                    "a persistent disk is sized in whole GiB, at least 10",
                );
            }
        }
        if vol.external {
            c.ledger.mapped(p("external"));
        }
        if vol.name.is_some() {
            c.ledger.mapped(p("name"));
        }
        if !vol.labels.is_empty() {
            if vol
                .labels
                .iter()
                .all(|(k, val)| label_key(k) == *k && label_value(val) == *val)
            {
                c.ledger.mapped(p("labels"));
            } else {
                c.ledger.approximated(
                    p("labels"),
                    "GCE label keys and values are lowercase [a-z0-9_-], at most 63 characters: other characters become `_`",
                );
            }
        }
        if vol.driver.is_some() {
            c.dropped(
                p("driver"),
                "the volume is a persistent disk mounted on the VM; docker volume drivers do not apply",
                Some("leave driver out for GCE"),
            );
        }
        if !vol.driver_opts.is_empty() {
            c.dropped(
                p("driver_opts"),
                "the volume is a persistent disk mounted on the VM; docker volume driver options do not apply",
                Some("leave driver_opts out for GCE"),
            );
        }
    }
    for (s, sec) in &app.secrets {
        let id = secret_id(app, s);
        out.secret_ids.insert(format!("secrets.{s}"), id.clone());
        for (f, set) in [
            ("env", sec.env.is_some()),
            ("file", sec.file.is_some()),
            ("external", sec.external),
            ("name", sec.name.is_some()),
        ] {
            if set {
                c.ledger.mapped(format!("secrets.{s}.{f}"));
            }
        }
    }
    for (n, cfg) in &app.configs {
        let p = |f: &str| format!("configs.{n}.{f}");
        if cfg.content.is_none() {
            out.secret_ids
                .insert(format!("configs.{n}"), config_id(app, n));
        }
        if cfg.content.is_some() {
            c.ledger.mapped(p("content"));
        }
        for (f, set) in [("file", cfg.file.is_some()), ("env", cfg.env.is_some())] {
            if set {
                c.ledger.claimed(
                    p(f),
                    crate::claims::Claim::StoresInSecretStore,
                    "the GCE driver stores the content in Secret Manager and the VM fetches it at boot",
                );
            }
        }
        if cfg.external {
            c.ledger.claimed(
                p("external"),
                crate::claims::Claim::FetchesSecretsAtBoot,
                "read from the Secret Manager secret of that name at boot",
            );
        }
        if cfg.name.is_some() {
            c.ledger.mapped(p("name"));
        }
    }
    for (n, net) in &app.networks {
        let p = |f: &str| format!("networks.{n}.{f}");
        if net.internal {
            c.dropped(
                p("internal"),
                "the containers on a VM share one docker network with outside access",
                None,
            );
        }
        if net.external {
            c.dropped(
                p("external"),
                "the VMs use the VPC in providers.gce.network; docker networks are made per VM",
                Some("set providers.gce.network for the VPC"),
            );
        }
        for (f, set) in [
            ("name", net.name.is_some()),
            ("driver", net.driver.is_some()),
            ("driver_opts", !net.driver_opts.is_empty()),
            ("labels", !net.labels.is_empty()),
        ] {
            if set {
                c.dropped(
                    p(f),
                    "the containers on one VM share one bridge docker network made by bridge",
                    None,
                );
            }
        }
    }
    for (g, grp) in &app.groups {
        placement_ledger(c, &format!("groups.{g}.placement"), &grp.placement, 1);
    }
}

/// A plain VM: instances of the mapped image, sized from the catalogue, and its firewall rules.
fn vm(c: &mut Ctx<'_>, out: &mut GceApp, name: &str) {
    let app = c.app;
    let Some(v) = app.vms.get(name) else {
        return;
    };
    let p = |f: &str| format!("vms.{name}.{f}");
    let image = match c.opts.images.get(&v.image) {
        Some(img) if img.contains('/') => Some(img.clone()),
        Some(img) => Some(format!("global/images/{img}")),
        None => {
            c.error(
                "T301",
                p("image"),
                format!("the VM image `{}` has no GCE image", v.image),
                Some(format!(
                    "map it in `providers.gce.images`, e.g. `{}: projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64`",
                    v.image
                )),
            );
            None
        }
    };
    c.ledger.mapped(p("image"));
    let catalogue = c.catalogue();
    let machine = machines::for_vm(&catalogue, v.cpus, v.memory);
    match &machine {
        Some(t) => {
            for (f, exact) in [("cpus", t.cpus == v.cpus), ("memory", t.memory == v.memory)] {
                if exact {
                    c.ledger.mapped(p(f));
                } else {
                    c.ledger.approximated(
                        p(f),
                        format!(
                            "rounded up to machine type {} ({} vCPU, {})",
                            t.name, t.cpus, t.memory
                        ),
                    );
                }
            }
        }
        None => {
            c.error(
                "T303",
                p("cpus"),
                format!("no machine type has {} vCPU and {}", v.cpus, v.memory),
                Some(format!(
                    "the largest in {} {}; lower the vm's cpus or memory",
                    if c.machine_types.is_some() {
                        "the zone's catalogue is"
                    } else {
                        "the stock list is"
                    },
                    machines::largest(&catalogue)
                )),
            );
        }
    }
    let disk_gb = v.disk.map_or(MIN_DISK_GB, gib_ceil).max(MIN_DISK_GB);
    if let Some(d) = v.disk {
        if d.0 % GIB == 0 && gib_ceil(d) >= MIN_DISK_GB {
            c.ledger.mapped(p("disk"));
        } else {
            c.ledger
                .approximated(p("disk"), "boot disks are sized in whole GiB, at least 10");
        }
    }
    let mut metadata = Vec::new();
    if let Some(ud) = &v.user_data {
        if ud.starts_with("#!") {
            metadata.push(("startup-script".to_string(), ud.clone()));
            c.ledger.approximated(
                p("user_data"),
                "a script runs as the GCE startup-script, at every boot rather than once",
            );
        } else {
            metadata.push(("user-data".to_string(), ud.clone()));
            c.ledger.mapped(p("user_data"));
        }
    }
    if v.replicas != 1 {
        c.ledger.mapped(p("replicas"));
    }
    if v.provider.is_some() {
        c.ledger.mapped(p("provider"));
    }
    // A VM is one machine per replica: spread over hosts and max_per_host hold trivially.
    placement_ledger(c, &p("placement"), &v.placement, v.replicas);
    if !v.placement.constraints.is_empty() {
        c.dropped(
            p("placement.constraints"),
            "a VM is its own machine: there are no host labels to match",
            None,
        );
    }
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    if !v.labels.is_empty() {
        labels = v
            .labels
            .iter()
            .map(|(k, val)| (label_key(k), label_value(val)))
            .collect();
        if v.labels.iter().all(|(k, val)| labels.get(k) == Some(val)) {
            c.ledger.mapped(p("labels"));
        } else {
            c.ledger.approximated(
                p("labels"),
                "GCE label keys and values are lowercase [a-z0-9_-], at most 63 characters: other characters become `_`",
            );
        }
    }
    let vm_tag = resource_name(&format!("{}-{name}", app.name));
    let app_tag = resource_name(&app.name);
    let mut external_ip = false;
    for (i, pt) in v.ports.iter().enumerate() {
        let proto = pt.protocol.as_str();
        let (port, source) = match pt.published {
            Some(pb) if !is_loopback(&pt.host_ip) => {
                external_ip = true;
                if pb != pt.container {
                    c.warn(
                        "T314",
                        format!("vms.{name}.ports[{i}]"),
                        format!("a VM has no port mapping: port {pb} is opened, and the VM must listen on it, not on {}", pt.container),
                        Some(format!("write `{pb}` alone")),
                    );
                    c.ledger.approximated(
                        format!("vms.{name}.ports[{i}]"),
                        "a VM has no port mapping: the published port is opened",
                    );
                } else {
                    c.ledger.mapped(format!("vms.{name}.ports[{i}]"));
                }
                (pb, Ok("0.0.0.0/0"))
            }
            _ => {
                c.ledger.mapped(format!("vms.{name}.ports[{i}]"));
                (pt.container, Err(app_tag.as_str()))
            }
        };
        let fw = resource_name(&format!("{}-{name}-{proto}-{port}", app.name));
        if out.firewalls.iter().any(|f| f.name == fw) {
            continue;
        }
        let component = format!("firewall-{name}-{proto}-{port}");
        let body = firewall_body(c, &fw, &component, proto, port, &vm_tag, source);
        out.firewalls.push(Resource {
            name: fw,
            component,
            body,
        });
    }
    let (Some(image), Some(machine)) = (image, machine) else {
        return;
    };
    for i in 0..v.replicas {
        let (iname, component) = if v.replicas == 1 {
            (format!("{}-{name}", app.name), format!("vm-{name}"))
        } else {
            (format!("{}-{name}-{i}", app.name), format!("vm-{name}-{i}"))
        };
        let iname = resource_name(&iname);
        let body = instance_body(
            c,
            InstanceSpec {
                name: iname.clone(),
                component: component.clone(),
                machine_type: machine.name.clone(),
                image: image.clone(),
                disk_gb,
                attached: Vec::new(),
                tags: BTreeSet::from([app_tag.clone(), vm_tag.clone()]),
                labels: labels.clone(),
                metadata: metadata.clone(),
                external_ip,
                description: format!("bridge vm {name} of {}", app.name),
            },
        );
        out.instances.push(Resource {
            name: iname,
            component,
            body,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_core::LoadOptions;
    use std::sync::Arc;

    fn valid(yaml: &str) -> ValidApp {
        let name: Arc<str> = "test.yaml".into();
        let opts = LoadOptions {
            env: Some(Default::default()),
            ..LoadOptions::default()
        };
        let l = bridge_core::load_str(&name, yaml, std::path::Path::new("."), &opts);
        match l.valid {
            Some(v) => v,
            None => panic!("invalid test app: {:?}", l.diagnostics),
        }
    }

    fn run(yaml: &str) -> (GceApp, Vec<crate::LedgerEntry>, Diagnostics) {
        let (g, l, d) = build(&valid(yaml));
        (g, l.into_entries(), d)
    }

    fn codes(d: &Diagnostics) -> Vec<&'static str> {
        d.iter().map(|d| d.code).collect()
    }

    fn user_data(r: &Resource) -> Option<String> {
        meta(r, "user-data")
    }

    fn meta(r: &Resource, key: &str) -> Option<String> {
        r.body["metadata"]["items"]
            .as_array()?
            .iter()
            .find(|i| i["key"] == key)
            .and_then(|i| i["value"].as_str())
            .map(str::to_string)
    }

    fn fidelity(l: &[crate::LedgerEntry], f: &str) -> Option<crate::Fidelity> {
        l.iter().find(|e| e.field == f).map(|e| e.fidelity)
    }

    #[test]
    fn hosts_become_instances() {
        let (g, l, d) = run(
            "bridge: v1\nname: shop\nservices:\n  web:\n    image: nginx\n    replicas: 3\n    resources: {cpus: 1, memory: 1GiB}\n    ports: ['80:80']\n  api:\n    image: api\n    group: back\n  worker:\n    image: worker\n    group: back\ngroups:\n  back: {}\nproviders:\n  gce: {zone: europe-west4-a}\n",
        );
        assert!(!d.has_errors(), "{d:?}");
        // One instance per host of the solver's assignment, named after it; one replica of a
        // unit per VM, so three web replicas need three hosts.
        let n = g.instances.len();
        assert!(n >= 3, "{}", g.placement);
        for (i, r) in g.instances.iter().enumerate() {
            assert_eq!(r.name, format!("shop-h{i}"));
            assert!(g.placement.contains(&format!("shop-h{i} e2-")));
        }
        assert!(
            g.placement
                .contains(&format!("{n} hosts used, lower bound"))
        );
        let mut webs = 0;
        let mut backs = 0;
        for r in &g.instances {
            let b = &r.body;
            assert!(
                b["machineType"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("zones/europe-west4-a/machineTypes/e2-")
            );
            assert_eq!(b["disks"][0]["initializeParams"]["sourceImage"], COS_IMAGE);
            assert_eq!(b["scheduling"]["onHostMaintenance"], "MIGRATE");
            assert_eq!(b["scheduling"]["automaticRestart"], true);
            assert_eq!(b["labels"]["bridge-app"], "shop");
            assert_eq!(b["labels"]["bridge-component"], r.component.as_str());
            assert_eq!(b["serviceAccounts"][0]["email"], "default");
            assert_eq!(
                b["networkInterfaces"][0]["network"],
                "global/networks/default"
            );
            // The hash is over the body without itself.
            let mut unsealed = b.clone();
            let hash = unsealed["labels"]
                .as_object_mut()
                .and_then(|m| m.remove(LABEL_SPEC_HASH))
                .unwrap_or_default();
            if let Some(l) = unsealed["disks"][0]["initializeParams"]["labels"].as_object_mut() {
                l.remove(LABEL_SPEC_HASH);
            }
            assert_eq!(hash, bridge_core::hash::spec_hash(&unsealed));
            let ud = user_data(r).unwrap_or_default();
            assert!(ud.starts_with("#cloud-config\n"));
            let tags: Vec<&str> = b["tags"]["items"]
                .as_array()
                .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
                .unwrap_or_default();
            if ud.contains("/etc/bridge/web.sh") {
                webs += 1;
                assert!(tags.contains(&"shop-web"));
                // Published port: external address.
                assert!(b["networkInterfaces"][0]["accessConfigs"].is_array());
            }
            if ud.contains("/etc/bridge/api.sh") {
                backs += 1;
                // The group runs together.
                assert!(ud.contains("/etc/bridge/worker.sh"));
                assert!(tags.contains(&"shop-api") && tags.contains(&"shop-worker"));
            }
            if !ud.contains("/etc/bridge/web.sh") {
                assert!(b["networkInterfaces"][0].get("accessConfigs").is_none());
            }
        }
        assert_eq!((webs, backs), (3, 1));
        assert_eq!(
            fidelity(&l, "services.web.replicas"),
            Some(crate::Fidelity::Mapped)
        );
        // No zone warning: the zone is set. No secrets: no setup unit.
        assert!(!codes(&d).contains(&"T300"));
        assert!(g.instances.iter().all(|r| {
            !user_data(r)
                .unwrap_or_default()
                .contains("bridge-setup.service\n  permissions")
        }));
    }

    #[test]
    fn catalogue_or_one_machine_type_and_constraint_labels() {
        let app = "bridge: v1\nname: s\nservices:\n  big:\n    image: x\n    resources: {cpus: 3, memory: 2GiB}\n  q:\n    image: q\n    placement: {constraints: ['node.labels.tier == search']}\n";
        let (g, _, d) = run(app);
        assert!(codes(&d).contains(&"T300"), "no zone: a warning");
        let types: Vec<String> = g
            .instances
            .iter()
            .map(|r| {
                r.body["machineType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert!(
            types
                .iter()
                .any(|t| t.ends_with("/e2-standard-4") || t.ends_with("/e2-highcpu-4")),
            "{types:?}"
        );
        // The constrained unit's host carries the label the constraint asks for.
        let q = g
            .instances
            .iter()
            .find(|r| {
                user_data(r)
                    .unwrap_or_default()
                    .contains("/etc/bridge/q.sh")
            })
            .unwrap_or_else(|| panic!("no host runs q"));
        assert_eq!(q.body["labels"]["tier"], "search");
        assert!(g.placement.contains("labels tier=search"));
        let (g, l, d) = run(&format!(
            "{app}providers:\n  gce: {{machine_type: n2-standard-8}}\n"
        ));
        assert!(!d.has_errors());
        assert!(
            g.instances
                .iter()
                .all(|r| r.body["machineType"] == "zones/us-central1-a/machineTypes/n2-standard-8")
        );
        assert_eq!(
            fidelity(&l, "providers.gce.machine_type"),
            Some(crate::Fidelity::Mapped)
        );
        let (_, _, d) = run(&format!(
            "{app}providers:\n  gce: {{machine_type: z9-mystery-1}}\n"
        ));
        assert!(codes(&d).contains(&"T304"));
    }

    #[test]
    fn volumes_become_attached_disks() {
        let (g, l, d) = run(
            "bridge: v1\nname: notes\nservices:\n  db:\n    image: postgres\n    volumes: ['pgdata:/var/lib/postgresql/data', {type: tmpfs, target: /tmp}]\nvolumes:\n  pgdata: {size: 20GiB, labels: {Tier: Hot.Data}}\nproviders:\n  gce: {zone: us-east1-b}\n",
        );
        assert!(!d.has_errors(), "{d:?}");
        assert_eq!(g.disks.len(), 1);
        let disk = &g.disks[0].body;
        assert_eq!(disk["name"], "notes-pgdata");
        assert_eq!(disk["sizeGb"], "20");
        assert_eq!(disk["type"], "zones/us-east1-b/diskTypes/pd-balanced");
        assert_eq!(disk["labels"]["tier"], "hot_data");
        assert_eq!(disk["labels"]["bridge-component"], "volume-pgdata");
        assert!(disk["labels"]["bridge-spec-hash"].is_string());
        assert_eq!(
            fidelity(&l, "volumes.pgdata.labels"),
            Some(crate::Fidelity::Approximated)
        );
        let host = &g.instances[0];
        let att = &host.body["disks"][1];
        assert_eq!(att["source"], "zones/us-east1-b/disks/notes-pgdata");
        assert_eq!(att["deviceName"], "notes-pgdata");
        assert_eq!(att["autoDelete"], false);
        let ud = user_data(host).unwrap_or_default();
        // Formatted when blank, mounted, then bound into the container; no docker volume.
        assert!(ud.contains("mkfs.ext4"));
        assert!(ud.contains("mount -o discard,defaults \"$dev\" /mnt/disks/pgdata"));
        assert!(ud.contains("--volume /mnt/disks/pgdata:/var/lib/postgresql/data"));
        assert!(!ud.contains("docker volume create") && !ud.contains("- volume\n"));
        assert!(ud.contains("Requires=bridge-setup.service"));
        // Default size 10GiB.
        let (g, _, _) = run(
            "bridge: v1\nname: n\nservices:\n  db:\n    image: p\n    volumes: ['d:/d']\nvolumes:\n  d: {}\n",
        );
        assert_eq!(g.disks[0].body["sizeGb"], "10");
        // Replicas on several VMs cannot share one read-write disk.
        let (_, _, d) = run(
            "bridge: v1\nname: n\nservices:\n  db:\n    image: p\n    replicas: 2\n    volumes: ['d:/d']\nvolumes:\n  d: {}\n",
        );
        let e = d
            .iter()
            .find(|x| x.code == "T302")
            .unwrap_or_else(|| panic!("no T302: {d:?}"));
        assert!(e.is_error() && e.path == "volumes.d" && e.hint.is_some());
        // An external volume is attached, not created.
        let (g, _, _) = run(
            "bridge: v1\nname: n\nservices:\n  db:\n    image: p\n    volumes: ['d:/d']\nvolumes:\n  d: {external: true, name: old-disk}\n",
        );
        assert!(g.disks.is_empty());
        assert_eq!(
            g.instances[0].body["disks"][1]["source"],
            "zones/us-central1-a/disks/old-disk"
        );
    }

    #[test]
    fn published_ports_become_firewall_rules() {
        let (g, l, _) = run(
            "bridge: v1\nname: shop\nservices:\n  web:\n    image: nginx\n    ports: ['80:8000', '127.0.0.1:9000:9000', {container: 53, published: 5353, protocol: udp}, '7000']\nvms:\n  db:\n    image: ubuntu\n    cpus: 2\n    memory: 4GiB\n    ports: [5432, '8080:8080']\nproviders:\n  gce: {network: prod, images: {ubuntu: projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64}}\n",
        );
        let names: Vec<&str> = g.firewalls.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "shop-db-tcp-5432",
                "shop-db-tcp-8080",
                "shop-web-tcp-80",
                "shop-web-udp-5353"
            ]
        );
        let web = &g.firewalls[2].body;
        assert_eq!(web["sourceRanges"][0], "0.0.0.0/0");
        assert_eq!(web["targetTags"][0], "shop-web");
        assert_eq!(web["allowed"][0]["IPProtocol"], "tcp");
        assert_eq!(web["allowed"][0]["ports"][0], "80");
        assert_eq!(web["network"], "global/networks/prod");
        assert!(
            web["description"]
                .as_str()
                .unwrap_or_default()
                .contains("bridge.spec-hash=")
        );
        // A VM port that is not published is open to the app's instances only.
        let db = &g.firewalls[0].body;
        assert_eq!(db["sourceTags"][0], "shop");
        assert!(db.get("sourceRanges").is_none());
        // An ephemeral host port gets no rule, and says so.
        assert_eq!(
            fidelity(&l, "services.web.ports[3]"),
            Some(crate::Fidelity::Approximated)
        );
        let vm = g
            .instances
            .iter()
            .find(|r| r.name == "shop-db")
            .unwrap_or_else(|| panic!("no vm"));
        assert_eq!(
            vm.body["machineType"],
            "zones/us-central1-a/machineTypes/e2-standard-2"
        );
        assert!(vm.body["networkInterfaces"][0]["accessConfigs"].is_array());
    }

    #[test]
    fn vms_need_an_image_mapping() {
        let (g, _, d) = run(
            "bridge: v1\nname: a\nvms:\n  db:\n    image: ubuntu\n    cpus: 1\n    memory: 1GiB\n",
        );
        let e = d
            .iter()
            .find(|x| x.code == "T301")
            .unwrap_or_else(|| panic!("{d:?}"));
        assert!(e.is_error() && e.path == "vms.db.image" && e.hint.is_some());
        assert!(g.instances.is_empty());
        let (_, _, d) = run(
            "bridge: v1\nname: a\nvms:\n  db:\n    image: u\n    cpus: 64\n    memory: 1GiB\nproviders:\n  gce: {images: {u: debian-12}}\n",
        );
        assert!(codes(&d).contains(&"T303"));
    }

    #[test]
    fn container_declaration_option() {
        let app = "bridge: v1\nname: a\nservices:\n  web:\n    image: nginx:1\n    command: [nginx, -g, 'daemon off;']\n    env: {A: '1'}\n    ports: ['80:80']\n  api:\n    image: api\n    group: g\n    user: '1000'\n  side:\n    image: side\n    group: g\ngroups:\n  g: {}\n";
        let (g, l, d) = run(&format!(
            "{app}providers:\n  gce: {{container_declaration: true}}\n"
        ));
        let web = g
            .instances
            .iter()
            .find(|r| {
                r.body["description"]
                    .as_str()
                    .unwrap_or_default()
                    .ends_with(": web")
            })
            .unwrap_or_else(|| panic!("no web host"));
        let decl =
            meta(web, "gce-container-declaration").unwrap_or_else(|| panic!("no declaration"));
        assert!(user_data(web).is_none());
        let v: serde_json::Value = serde_saphyr::from_str(&decl).unwrap_or_default();
        assert_eq!(v["spec"]["containers"][0]["image"], "nginx:1");
        assert_eq!(v["spec"]["containers"][0]["args"][2], "daemon off;");
        assert_eq!(v["spec"]["restartPolicy"], "Always");
        // Deprecated upstream: a warning; the group keeps cloud-init with a note.
        assert!(
            d.iter()
                .any(|x| x.code == "T305" && x.severity == bridge_core::Severity::Warning)
        );
        assert!(
            d.iter()
                .any(|x| x.code == "T306" && x.severity == bridge_core::Severity::Note)
        );
        let grp = g
            .instances
            .iter()
            .find(|r| r.name != web.name)
            .unwrap_or_else(|| panic!("no group host"));
        assert!(user_data(grp).is_some());
        assert_eq!(
            fidelity(&l, "services.web.ports[0]"),
            Some(crate::Fidelity::Approximated)
        );
        assert_eq!(
            fidelity(&l, "services.web.command"),
            Some(crate::Fidelity::Mapped)
        );
        // Without the option: cloud-init everywhere, no warning.
        let (g, _, d) = run(app);
        assert!(g.instances.iter().all(|r| user_data(r).is_some()));
        assert!(!codes(&d).contains(&"T305"));
    }

    #[test]
    fn a_dependency_on_another_host_keeps_cloud_init_and_no_line_promises_an_order() {
        // web depends on db on another host: web keeps cloud-init (T306) and its depends_on line
        // is cloud-init's; no line says VMs start in dependency order.
        for cond in ["healthy", "started"] {
            let (g, l, d) = run(&format!(
                "bridge: v1\nname: a\nservices:\n  web:\n    image: nginx:1\n    depends_on: [{{service: db, condition: {cond}}}]\n    placement: {{constraints: ['node.labels.slot == a']}}\n  db:\n    image: db\n    health: {{test: [CMD, 'true']}}\n    placement: {{constraints: ['node.labels.slot == b']}}\nproviders:\n  gce: {{container_declaration: true}}\n"
            ));
            assert!(!d.has_errors(), "{d:?}");
            let web = g
                .instances
                .iter()
                .find(|r| {
                    r.body["description"]
                        .as_str()
                        .unwrap_or_default()
                        .ends_with(": web")
                })
                .unwrap_or_else(|| panic!("no web host"));
            assert!(meta(web, "gce-container-declaration").is_none(), "{cond}");
            assert!(
                d.iter()
                    .any(|x| x.code == "T306" && x.message.contains("another host")),
                "{cond}: {d:?}"
            );
            let e = l
                .iter()
                .find(|e| e.field == "services.web.depends_on")
                .unwrap_or_else(|| panic!("{cond}: no depends_on line"));
            assert!(!e.reason.contains("declaration"), "{cond}: {}", e.reason);
            assert!(
                l.iter().all(|e| !e.reason.contains("dependency order")),
                "{cond}"
            );
        }
    }

    #[test]
    fn a_declared_host_keeps_cloud_init_for_project_files_and_names_on_other_hosts() {
        // web binds a project file, api reaches db on another host: neither reaches a declared
        // container (no write_files, no peers file), so both hosts keep cloud-init, with a note.
        let (g, l, d) = run(
            "bridge: v1\nname: a\nservices:\n  db:\n    image: postgres\n    placement: {constraints: ['node.labels.slot == a']}\n  web:\n    image: nginx\n    volumes: ['./site:/usr/share/nginx/html:ro']\n    placement: {constraints: ['node.labels.slot == b']}\n  api:\n    image: api\n    depends_on: [db]\n    placement: {constraints: ['node.labels.slot == c']}\nproviders:\n  gce: {container_declaration: true}\n",
        );
        let host_of = |svc: &str| {
            g.instances
                .iter()
                .find(|r| {
                    r.body["description"]
                        .as_str()
                        .unwrap_or_default()
                        .ends_with(&format!(": {svc}"))
                })
                .unwrap_or_else(|| panic!("no host of {svc} alone: {:?}", g.instances))
        };
        for svc in ["web", "api"] {
            let h = host_of(svc);
            assert!(
                meta(h, "gce-container-declaration").is_none(),
                "{svc} declared"
            );
            assert!(user_data(h).is_some(), "{svc} has no cloud-init");
        }
        let notes: Vec<&str> = d
            .iter()
            .filter(|x| x.code == "T306")
            .map(|x| x.message.as_str())
            .collect();
        assert!(notes.iter().any(|m| m.contains("volumes")), "{notes:?}");
        assert!(notes.iter().any(|m| m.contains("peers file")), "{notes:?}");
        // The name db resolves on api's host through the peers file the ledger names.
        assert!(
            user_data(host_of("api"))
                .unwrap_or_default()
                .contains("/etc/bridge/peers")
        );
        assert_eq!(
            fidelity(&l, "services.db.name"),
            Some(crate::Fidelity::Approximated)
        );
        // db names no other service and binds no project file: it is still declared.
        assert!(meta(host_of("db"), "gce-container-declaration").is_some());
    }

    /// Only a `healthy` dependency makes the cross-VM health claim; `completed_successfully`
    /// is what systemd does with it (the container starts once the dependency's has started).
    #[test]
    fn a_completed_successfully_dependency_claims_no_health_wait() {
        let y = |cond: &str| {
            format!(
                "bridge: v1\nname: a\nservices:\n  web:\n    image: x\n    depends_on: [{{service: migrate, condition: {cond}}}]\n  migrate:\n    image: x\n    health: {{test: 'true'}}\nproviders:\n  gce: {{project: p1}}\n"
            )
        };
        let (_, l, d) = run(&y("completed_successfully"));
        assert!(!d.has_errors(), "{d:?}");
        let dep = l.iter().find(|e| e.field == "services.web.depends_on");
        assert_eq!(
            dep.map(|e| (e.fidelity, e.claim)),
            Some((crate::Fidelity::Mapped, None))
        );
        let cond = l
            .iter()
            .find(|e| e.field == "services.web.depends_on[0].condition")
            .unwrap_or_else(|| panic!("no condition line: {l:?}"));
        assert_eq!(cond.fidelity, crate::Fidelity::Approximated);
        assert!(cond.claim.is_none() && cond.reason.contains("not once it has exited"));
        let (_, l, _) = run(&y("healthy"));
        let dep = l.iter().find(|e| e.field == "services.web.depends_on");
        assert_eq!(
            dep.and_then(|e| e.claim),
            Some(crate::claims::Claim::WaitsForHealthAcrossVms)
        );
        assert!(
            !l.iter()
                .any(|e| e.field == "services.web.depends_on[0].condition")
        );
    }

    #[test]
    fn secrets_are_fetched_never_rendered() {
        let (g, l, _) = run(
            "bridge: v1\nname: api\nservices:\n  api:\n    image: api\n    secrets: [{name: db_password, env: DB_PASSWORD}, api_key]\nsecrets:\n  db_password: {env: API_DB_PASSWORD}\n  api_key: {file: ./key.txt}\nproviders:\n  gce: {project: p1}\n",
        );
        let ud = user_data(&g.instances[0]).unwrap_or_default();
        assert!(ud.contains(
            "sm=\"${BRIDGE_GCE_SECRETS_ENDPOINT:-https://secretmanager.googleapis.com/v1/}\""
        ));
        assert!(ud.contains("\"${sm%/}/projects/$project/secrets/$1/versions/latest:access\""));
        assert!(ud.contains(
            "md=\"http://${GCE_METADATA_HOST:-metadata.google.internal}/computeMetadata/v1\""
        ));
        assert!(ud.contains("project=p1"));
        assert!(ud.contains("fetch api-db_password"));
        assert!(ud.contains("--env-file /run/bridge/secrets/db_password.env"));
        assert!(ud.contains("/run/bridge/secrets/api_key:/run/secrets/api_key:ro"));
        assert!(!ud.contains("API_DB_PASSWORD") && !ud.contains("key.txt"));
        assert_eq!(
            g.secret_ids.get("secrets.api_key").map(String::as_str),
            Some("api-api_key")
        );
        assert_eq!(
            fidelity(&l, "secrets.db_password.env"),
            Some(crate::Fidelity::Mapped)
        );
    }

    #[test]
    fn link_aliases_and_cross_vm_dependencies() {
        let (g, _, d) = run(
            "bridge: v1\nname: b\nservices:\n  app:\n    image: a\n    group: g\n  proxy:\n    image: p\n    group: g\n    links: ['app:backend']\n  other:\n    image: o\n    depends_on: [app]\ngroups:\n  g: {}\n",
        );
        let grp = g
            .instances
            .iter()
            .find(|r| {
                user_data(r)
                    .unwrap_or_default()
                    .contains("/etc/bridge/app.sh")
            })
            .unwrap_or_else(|| panic!("no group host"));
        let ud = user_data(grp).unwrap_or_default();
        assert!(
            ud.contains("--network-alias app --network-alias backend"),
            "{ud}"
        );
        // `other` runs on another VM: `app` and its link alias resolve there through the
        // peers file, but `app` publishes no port, so it is not reachable: T308 says so.
        let oth = g
            .instances
            .iter()
            .find(|r| {
                user_data(r)
                    .unwrap_or_default()
                    .contains("/etc/bridge/other.sh")
            })
            .unwrap_or_else(|| panic!("no host of other"));
        let ud = user_data(oth).unwrap_or_default();
        let host = &grp.name;
        assert!(ud.contains(&format!("app {host}")), "{ud}");
        assert!(ud.contains(&format!("backend {host}")), "{ud}");
        assert!(ud.contains("exec docker run \"$@\" --rm"), "{ud}");
        let w = d
            .iter()
            .find(|x| x.code == "T308")
            .unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(w.path, "services.other.depends_on");
        assert!(
            !d.iter()
                .any(|x| x.code == "T308" && x.path.starts_with("services.proxy"))
        );
    }

    #[test]
    fn hybrid_apps_skip_other_providers() {
        let (g, l, _) = run(
            "bridge: v1\nname: h\nservices:\n  a:\n    image: a\n    provider: aws\n  b:\n    image: b\nvms:\n  v:\n    image: u\n    cpus: 1\n    memory: 1GiB\n    provider: openstack\n",
        );
        assert_eq!(g.instances.len(), 1);
        assert!(fidelity(&l, "services.a.image").is_none());
        assert!(fidelity(&l, "services.b.image").is_some());
    }
}
