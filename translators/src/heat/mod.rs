//! OpenStack Heat: one HOT template per app. bridge owns the hosts: the placement solver packs the
//! app's units onto flavors and every solver host becomes an `OS::Nova::Server` whose cloud-init
//! (the shared [`crate::cloudinit`]) installs docker and runs exactly the containers the solver put
//! there; identical hosts become one `OS::Heat::ResourceGroup` (unless they run a health-checked
//! service: then separate servers, see `server.rs`). Secrets are hidden parameters,
//! published ports security group rules, named volumes Cinder volumes, `vms:` plain servers. With
//! `providers.openstack.containers: zun` services become `OS::Zun::Container`s instead.
//!
//! Values only known at deploy time (secrets, configs read from files, addresses) never appear in
//! the template: the server's `user_data` is a `str_replace` whose template holds placeholders and
//! whose params are `get_param` / `get_attr` / `get_resource` expressions. A secret reaches the
//! cloud-config as a whole `write_files` item JSON-encoded by Heat's own `list_join` (a map item is
//! serialized with `json.dumps`), so quotes, newlines or `#` in a value are data, never YAML.

mod deps;
mod server;
mod update;
mod vm;
mod zun;

pub use server::{
    HEALTH_SIGNAL_CONF, HEALTH_SIGNAL_SCRIPT, HEALTH_TIMEOUT_PARAM, PEER_META_PREFIX,
};

use std::collections::BTreeMap;

use bridge_core::diag::Diagnostic;
use bridge_core::model::{App, OpenstackContainers, OpenstackOptions, ProviderKind};
use bridge_core::placement::HostType;
use bridge_core::units::{ByteSize, Cpus};
use bridge_core::{Diagnostics, ValidApp};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ledger::Ledger;
use crate::{Artifact, Translation, Translator};

/// The HOT version written; Heat reads it since Rocky (2018) and it has `list_join` with maps.
pub const TEMPLATE_VERSION: &str = "2018-08-31";
/// Nova metadata / label key naming the app.
pub const TAG_APP: &str = "bridge.app";
/// Nova metadata / label key naming the component (`host/web`, `vm/db`, `volume/data`...).
pub const TAG_COMPONENT: &str = "bridge.component";
/// Nova metadata / label key holding the hash of the rendered resource without this key.
pub const TAG_SPEC_HASH: &str = "bridge.spec-hash";
/// The Glance image for container hosts when `providers.openstack.images.container-host` is unset.
pub const DEFAULT_HOST_IMAGE: &str = "ubuntu-24.04";
/// The `providers.openstack.images` key of the container host image.
pub const HOST_IMAGE_KEY: &str = "container-host";
/// Volume size in GB when `volumes.<v>.size` is unset.
pub const DEFAULT_VOLUME_GB: u64 = 10;

/// Diagnostic codes of the Heat translator.
pub const CODES: &[(&str, &str)] = &[
    (
        "T400",
        "a vm's image has no entry in providers.openstack.images",
    ),
    (
        "T401",
        "no flavor of the catalogue is large enough for a vm",
    ),
    ("T402", "a named volume is needed on more than one server"),
    (
        "T403",
        "providers.openstack.flavor is not in the flavor catalogue; its size is assumed",
    ),
    (
        "T404",
        "neutron is off: security groups and networks are not emitted",
    ),
    (
        "T405",
        "a placement rule has no OpenStack equivalent and is not applied",
    ),
    (
        "T406",
        "a bind mount's host path is not provisioned on the server",
    ),
    (
        "T407",
        "a port without a published number gets no security group rule",
    ),
    ("T408", "a volume option has no Cinder equivalent"),
    (
        "T409",
        "an update or rollback setting has no Heat equivalent",
    ),
    ("T410", "a field Zun cannot express"),
    (
        "T411",
        "a service names one on another server that its server cannot read the address of (a cycle) or whose ports are not published on their own number",
    ),
    (
        "T412",
        "an address reference would make a dependency cycle; left to the driver",
    ),
    (
        "T413",
        "a placeholder could not be made unique in the user data",
    ),
    ("T414", "a vm field OpenStack cannot express"),
    (
        "T415",
        "an app network is approximated by a per-server docker network",
    ),
    (
        "T416",
        "no flavor catalogue from the cloud: the stock m1.* flavors are assumed",
    ),
    (
        "T417",
        "an external secret or config: the OpenStack driver cannot look up its value",
    ),
    (
        "T418",
        "an update policy heat applies only in part between a service's separate servers",
    ),
    (
        "T419",
        "a field this target cannot express, named with the reason (what fidelity shows as dropped)",
    ),
];

/// A flavor the solver may choose: name, vCPUs, RAM, root disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flavor {
    /// The Nova flavor name.
    pub name: String,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in MiB.
    pub ram_mib: u64,
    /// Root disk in GB (Nova's `disk`; 0: sized to the image).
    pub disk_gb: u64,
}

impl Flavor {
    /// A flavor with no root disk of its own (Nova's `disk: 0`).
    pub fn new(name: impl Into<String>, vcpus: u32, ram_mib: u64) -> Flavor {
        Flavor {
            name: name.into(),
            vcpus,
            ram_mib,
            disk_gb: 0,
        }
    }

    /// The same flavor with a root disk of `gb` GB.
    pub fn with_disk(mut self, gb: u64) -> Flavor {
        self.disk_gb = gb;
        self
    }

    /// `m1.small (1 vcpus, 2048 MiB)`.
    pub fn describe(&self) -> String {
        format!("{} ({} vcpus, {} MiB)", self.name, self.vcpus, self.ram_mib)
    }

    fn host_type(&self) -> HostType {
        // Relative cost: RAM in MiB (typical clouds price flavors by size).
        HostType::new(
            self.name.clone(),
            Cpus(u64::from(self.vcpus) * 1000),
            ByteSize(self.ram_mib * 1024 * 1024),
            self.ram_mib.max(1),
        )
    }
}

/// The typical flavors of a stock OpenStack (`m1.small` to `m1.xlarge`), assumed when the driver
/// passes no catalogue of its own (`render` without credentials; warning T416). `m1.tiny`
/// (512 MiB) is left out: it cannot hold docker.
pub fn default_flavors() -> Vec<Flavor> {
    vec![
        Flavor::new("m1.small", 1, 2048).with_disk(20),
        Flavor::new("m1.medium", 2, 4096).with_disk(40),
        Flavor::new("m1.large", 4, 8192).with_disk(80),
        Flavor::new("m1.xlarge", 8, 16384).with_disk(160),
    ]
}

/// Options of the Heat translator (not bridge.yaml fields: the driver sets them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeatOptions {
    /// Emit `OS::Neutron::*` resources (security groups). Default true; false for clouds without
    /// Neutron, where published ports are reachable only as the cloud's default policy allows.
    pub neutron: bool,
    /// The flavors the solver may choose from: the cloud's own (the driver reads Nova's), or
    /// None for the stock list of [`default_flavors`], with warning T416.
    pub flavors: Option<Vec<Flavor>>,
    /// Install docker from the image's package manager (`packages: [docker.io]`). Default true;
    /// false for an image that has docker already.
    pub install_docker: bool,
    /// Availability zones for `spread: zone`, in round-robin order; empty: none.
    pub zones: Vec<String>,
}

impl Default for HeatOptions {
    fn default() -> HeatOptions {
        HeatOptions {
            neutron: true,
            flavors: None,
            install_docker: true,
            zones: Vec::new(),
        }
    }
}

/// Where the value of a stack parameter comes from at deploy time (never held in the template).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueSource {
    /// An environment variable of the deploying process.
    Env(String),
    /// A file, relative to the app file.
    File(String),
    /// Exists outside bridge; the driver looks it up.
    External,
    /// The address of a vm or service deployed elsewhere (another provider).
    Address(String),
    /// The ID of an existing Cinder volume, by name.
    Volume(String),
}

/// A template parameter without a default that the driver must supply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackParameter {
    /// The parameter name in the template.
    pub name: String,
    /// True for secrets (`hidden: true`).
    pub hidden: bool,
    /// Where its value comes from.
    pub source: ValueSource,
    /// The neutral field it stands for, e.g. `secrets.db_password`.
    pub field: String,
}

/// One pool of identical container hosts as the solver placed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPool {
    /// The template resource (a server, or a resource group when `count > 1`).
    pub resource: String,
    /// The flavor.
    pub flavor: String,
    /// How many servers.
    pub count: usize,
    /// The services each server runs.
    pub services: Vec<String>,
    /// The availability zone, when zones were given.
    pub zone: Option<String>,
}

/// What the OpenStack driver deploys for one app: a Heat stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeatStack {
    /// The stack name (the app name).
    pub name: String,
    /// The HOT template.
    pub template: Value,
    /// Parameters the driver must supply, sorted by name.
    pub parameters: Vec<StackParameter>,
    /// The container host pools (empty in zun mode).
    pub hosts: Vec<HostPool>,
    /// `N hosts used, lower bound M`, when there are container hosts.
    pub bound: Option<String>,
    /// A service's `update.failure_action` is `rollback`: the driver updates the stack with
    /// Heat's rollback enabled, so a failed update restores the previous template.
    pub rollback: bool,
}

/// The Heat translator.
#[derive(Debug, Clone, Default)]
pub struct Heat {
    /// Its options.
    pub options: HeatOptions,
}

impl Translator for Heat {
    fn target(&self) -> ProviderKind {
        ProviderKind::Openstack
    }

    fn translate(&self, app: &ValidApp) -> Translation {
        let (stack, ledger, diagnostics) = build(app, &self.options);
        Translation {
            artifacts: artifacts(&stack),
            ledger: ledger.into_entries(),
            diagnostics,
        }
    }
}

/// The artifacts: `openstack/<app>.yaml` and `openstack/parameters.example.yaml`.
pub fn artifacts(stack: &HeatStack) -> Vec<Artifact> {
    vec![
        Artifact {
            path: format!("openstack/{}.yaml", stack.name),
            content: render_template(&stack.template),
        },
        Artifact {
            path: "openstack/parameters.example.yaml".into(),
            content: parameters_example(stack),
        },
    ]
}

/// The template as YAML (serde-saphyr quotes `yes`, `1.10` and the like, so Heat's YAML 1.1
/// reader reads every string as a string).
pub fn render_template(template: &Value) -> String {
    serde_saphyr::to_string(template).unwrap_or_default()
}

/// A Heat environment file naming every parameter the driver must supply, values left empty.
pub fn parameters_example(stack: &HeatStack) -> String {
    let mut out = format!(
        "# parameters for the `{}` stack: bridge supplies them at deploy time from the sources\n# below; values are never written here\n",
        comment_safe(&stack.name)
    );
    if stack.parameters.is_empty() {
        out.push_str("parameters: {}\n");
        return out;
    }
    out.push_str("parameters:\n");
    for p in &stack.parameters {
        let from = match &p.source {
            ValueSource::Env(e) => format!("environment variable {e}"),
            ValueSource::File(f) => format!("file {f}"),
            ValueSource::External => "existing value, looked up by the driver".into(),
            ValueSource::Address(a) => format!("address of {a}, deployed elsewhere"),
            ValueSource::Volume(v) => format!("id of the existing cinder volume {v}"),
        };
        let hidden = if p.hidden { " (hidden)" } else { "" };
        out.push_str(&format!(
            "  # {}{hidden}: {}\n  {}: \"\"\n",
            comment_safe(&p.field),
            comment_safe(&from),
            p.name
        ));
    }
    out
}

/// Text safe in a one-line YAML comment.
fn comment_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A Heat identifier (resource, parameter, output) from a bridge name.
pub(crate) fn ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The state shared by the parts of one translation.
pub(crate) struct Builder<'a> {
    /// The app restricted to what runs on OpenStack.
    pub app: App,
    /// The original app (for references to components on other providers).
    pub full: &'a App,
    pub opts: &'a HeatOptions,
    /// The flavor catalogue: the cloud's, else the stock list.
    pub flavors: Vec<Flavor>,
    pub os: OpenstackOptions,
    pub ledger: Ledger,
    pub diags: Diagnostics,
    pub parameters: BTreeMap<String, Value>,
    pub resources: BTreeMap<String, Value>,
    pub outputs: BTreeMap<String, Value>,
    pub stack_params: BTreeMap<String, StackParameter>,
    /// Secret name to its hidden parameter.
    pub secret_params: BTreeMap<String, String>,
    /// Config name to its parameter (configs not given inline).
    pub config_params: BTreeMap<String, String>,
    /// Volume name to the expression of its Cinder id (`get_resource` or `get_param`).
    pub volume_ids: BTreeMap<String, Value>,
    /// VM name to its resource name.
    pub vm_resources: BTreeMap<String, (String, u32)>,
    /// Resource dependencies created by address references (from, to), for cycle checks.
    pub deps: deps::DepGraph,
    /// Server (or resource group) resource to its health `OS::Heat::WaitCondition`.
    pub health_waits: BTreeMap<String, String>,
    pub hosts: Vec<HostPool>,
    pub bound: Option<String>,
    /// Service name to the pools running it (resource, is a resource group).
    pub hosts_of: BTreeMap<String, Vec<(String, bool)>>,
    /// The placeholder prefix (see `server::token_prefix`).
    pub token_prefix: String,
    /// The app-wide security group letting the app's servers reach each other.
    pub internal_sg: Option<String>,
    /// The port security group shared by the separate servers of one family (server.rs).
    pub family_sgs: BTreeMap<String, String>,
    /// See [`HeatStack::rollback`].
    pub rollback: bool,
    /// The app's link aliases and service names for every pool's peers file, computed at the
    /// first pool (once per app, not per pool: issue 15).
    pub names: Option<NameTables>,
}

/// [`crate::cloudinit::link_aliases`] and [`crate::cloudinit::all_service_names`] of the app, shared.
pub(crate) type NameTables = (
    std::sync::Arc<BTreeMap<String, Vec<String>>>,
    std::sync::Arc<BTreeMap<String, Vec<String>>>,
);

impl Builder<'_> {
    /// A template parameter (idempotent).
    pub fn param(&mut self, name: &str, body: Value) {
        self.parameters.entry(name.to_string()).or_insert(body);
    }

    /// A parameter the driver must supply.
    pub fn required_param(&mut self, name: &str, hidden: bool, source: ValueSource, field: String) {
        let mut body = json!({"type": "string", "description": format!("bridge: {field}")});
        if hidden {
            body["hidden"] = json!(true);
        }
        self.param(name, body);
        self.stack_params
            .entry(name.to_string())
            .or_insert(StackParameter {
                name: name.to_string(),
                hidden,
                source,
                field,
            });
    }

    /// A resource name not used yet, from `base`.
    pub fn fresh(&self, base: &str) -> String {
        let base = ident(base);
        if !self.resources.contains_key(&base) {
            return base;
        }
        (2..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| !self.resources.contains_key(n))
            .unwrap_or(base)
    }

    /// The three bridge tags, the spec hash computed over `resource` as rendered without it.
    pub fn tags(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TAG_APP.to_string(), self.app.name.clone()),
            (TAG_COMPONENT.to_string(), component.to_string()),
        ])
    }

    /// Insert the spec hash into the map at `resource.properties.<key>` (metadata, labels).
    pub fn add_resource(&mut self, name: &str, mut resource: Value, tag_path: &[&str]) {
        let hash = bridge_core::hash::spec_hash(&resource);
        let mut at = &mut resource;
        for k in tag_path {
            at = &mut at[*k];
        }
        if let Some(m) = at.as_object_mut() {
            m.insert(TAG_SPEC_HASH.into(), json!(hash));
        }
        self.resources.insert(name.to_string(), resource);
    }

    /// A security group for `rules` (published ports), or None without Neutron or rules.
    pub fn port_security_group(
        &mut self,
        owner: &str,
        component: &str,
        rules: Vec<Value>,
    ) -> Option<String> {
        if !self.opts.neutron || rules.is_empty() {
            return None;
        }
        let name = self.fresh(&format!("sg_{owner}"));
        let mut r = json!({
            "type": "OS::Neutron::SecurityGroup",
            "properties": {
                "name": format!("{}-{}", self.app.name, component.replace('/', "-")),
                "rules": rules,
            }
        });
        let hash = bridge_core::hash::spec_hash(&r);
        r["properties"]["description"] = json!(format!(
            "{TAG_APP}={} {TAG_COMPONENT}=secgroup/{component} {TAG_SPEC_HASH}={hash}",
            self.app.name
        ));
        self.resources.insert(name.clone(), r);
        Some(name)
    }

    /// The app-wide group that lets the app's servers reach each other on every port.
    pub fn internal_security_group(&mut self) -> Option<String> {
        if !self.opts.neutron {
            return None;
        }
        if let Some(n) = &self.internal_sg {
            return Some(n.clone());
        }
        let mut rules = Vec::new();
        for ethertype in ["IPv4", "IPv6"] {
            for protocol in ["tcp", "udp"] {
                rules.push(json!({
                    "direction": "ingress", "ethertype": ethertype, "protocol": protocol,
                    "port_range_min": 1, "port_range_max": 65535, "remote_mode": "remote_group_id",
                }));
            }
        }
        let name = self.fresh("sg_internal");
        let mut r = json!({
            "type": "OS::Neutron::SecurityGroup",
            "properties": {"name": format!("{}-internal", self.app.name), "rules": rules}
        });
        let hash = bridge_core::hash::spec_hash(&r);
        r["properties"]["description"] = json!(format!(
            "{TAG_APP}={} {TAG_COMPONENT}=secgroup/internal {TAG_SPEC_HASH}={hash}",
            self.app.name
        ));
        self.resources.insert(name.clone(), r);
        self.internal_sg = Some(name.clone());
        Some(name)
    }

    /// The `networks` property of a server or container.
    pub fn networks(&mut self) -> Option<Value> {
        match (&self.os.network, self.opts.neutron) {
            (Some(n), _) => {
                let n = n.clone();
                self.param(
                    "network",
                    json!({"type": "string", "default": n, "description": "the network servers attach to"}),
                );
                Some(json!([{"network": {"get_param": "network"}}]))
            }
            // Without Neutron and without a network Nova must not try to allocate one.
            (None, false) => Some(json!([{"allocate_network": "none"}])),
            // With Neutron and no network named, Nova picks the project's one network (or
            // the cloud's auto-allocated topology). Since compute microversion 2.37 a server
            // must say so: with no `networks` at all Heat's create fails ("nics are required
            // after microversion 2.36"), as the live test cloud showed.
            (None, true) => Some(json!([{"allocate_network": "auto"}])),
        }
    }

    /// The `key_name` parameter when set.
    pub fn key_name(&mut self) -> Option<Value> {
        let k = self.os.key_name.clone()?;
        self.param(
            "key_name",
            json!({"type": "string", "default": k, "description": "the key pair for the servers"}),
        );
        Some(json!({"get_param": "key_name"}))
    }

    /// Would `from -> to` close a dependency cycle?
    pub fn would_cycle(&self, from: &str, to: &str) -> bool {
        self.deps.would_cycle(from, to)
    }

    /// The value of `${vms.NAME.address}` seen from resource `from`: the vm's first address
    /// (addresses joined by `,` for a vm with replicas), or a parameter the driver fills when the
    /// vm runs elsewhere or wiring it would make a cycle.
    pub fn vm_address(&mut self, from: &str, vm: &str, field: &str) -> Value {
        if let Some((res, replicas)) = self.vm_resources.get(vm).cloned() {
            if !self.would_cycle(from, &res) {
                self.deps.insert(from, &res);
                return address_of(&res, replicas > 1);
            }
            self.diags.push(
                Diagnostic::warning(
                    "T412",
                    format!("`${{vms.{vm}.address}}` would make a dependency cycle between servers"),
                )
                .with_path(field.to_string())
                .with_hint("the driver supplies the address as a parameter after a first deploy; or break the cycle of address references"),
            );
        }
        let p = format!("vm_{}_address", ident(vm));
        self.required_param(
            &p,
            false,
            ValueSource::Address(format!("vms.{vm}")),
            format!("vms.{vm}.address"),
        );
        json!({"get_param": p})
    }

    /// A parameter standing for `${services.NAME.address}` of a service deployed elsewhere.
    pub fn service_address_param(&mut self, svc: &str) -> Value {
        let p = format!("service_{}_address", ident(svc));
        self.required_param(
            &p,
            false,
            ValueSource::Address(format!("services.{svc}")),
            format!("services.{svc}.address"),
        );
        json!({"get_param": p})
    }
}

trait WithoutServices {
    /// A copy of the app without its services (they are cloned one by one where needed).
    fn clone_without_services(&self) -> App;
}

impl WithoutServices for App {
    fn clone_without_services(&self) -> App {
        App {
            bridge: self.bridge,
            name: self.name.clone(),
            services: BTreeMap::new(),
            vms: self.vms.clone(),
            volumes: self.volumes.clone(),
            secrets: self.secrets.clone(),
            configs: self.configs.clone(),
            networks: self.networks.clone(),
            groups: self.groups.clone(),
            providers: self.providers.clone(),
            files: self.files.clone(),
            move_: self.move_.clone(),
        }
    }
}

/// `get_attr first_address` of a server, or of every member of a resource group joined by `,`.
pub(crate) fn address_of(res: &str, group: bool) -> Value {
    if group {
        json!({"list_join": [",", {"get_attr": [res, "first_address"]}]})
    } else {
        json!({"get_attr": [res, "first_address"]})
    }
}

/// Build the Heat stack, the ledger and diagnostics for an app.
pub fn build(valid: &ValidApp, opts: &HeatOptions) -> (HeatStack, Ledger, Diagnostics) {
    let full = valid.app();
    let here = |p: Option<ProviderKind>| p.is_none_or(|p| p == ProviderKind::Openstack);
    let mut app = full.clone();
    app.services.retain(|_, s| here(s.provider));
    app.vms.retain(|_, v| here(v.provider));
    let os = full.providers.openstack.clone().unwrap_or_default();
    // `providers.openstack.neutron: false` turns Neutron off whatever the caller's options say.
    let effective;
    let opts = if os.neutron == Some(false) && opts.neutron {
        effective = HeatOptions {
            neutron: false,
            ..opts.clone()
        };
        &effective
    } else {
        opts
    };
    let needs_flavor = !app.services.is_empty() || !app.vms.is_empty();
    let mut b = Builder {
        flavors: opts.flavors.clone().unwrap_or_else(default_flavors),
        app,
        full,
        opts,
        os,
        ledger: Ledger::default(),
        diags: Diagnostics::new(),
        parameters: BTreeMap::new(),
        resources: BTreeMap::new(),
        outputs: BTreeMap::new(),
        stack_params: BTreeMap::new(),
        secret_params: BTreeMap::new(),
        config_params: BTreeMap::new(),
        volume_ids: BTreeMap::new(),
        vm_resources: BTreeMap::new(),
        deps: deps::DepGraph::default(),
        health_waits: BTreeMap::new(),
        hosts: Vec::new(),
        bound: None,
        hosts_of: BTreeMap::new(),
        token_prefix: server::token_prefix(full),
        internal_sg: None,
        family_sgs: BTreeMap::new(),
        rollback: false,
        names: None,
    };
    if opts.flavors.is_none() && needs_flavor {
        b.diags.push(
            Diagnostic::warning(
                "T416",
                "no flavor catalogue from the cloud: sizes are chosen from the stock flavors m1.small to m1.xlarge",
            )
            .with_path("providers.openstack")
            .with_hint("deploy (or plan) reads the cloud's own flavors from Nova; a rendered template may name flavors the cloud lacks"),
        );
    }
    b.ledger.mapped("name");
    provider_ledger(&mut b);
    top_level(&mut b);
    // VMs first: container hosts may wire their addresses.
    vm::build_all(&mut b);
    let order: Vec<String> = valid
        .service_order()
        .iter()
        .filter(|s| b.app.services.contains_key(*s))
        .cloned()
        .collect();
    match b.os.containers {
        OpenstackContainers::Docker => server::build_all(&mut b, &order),
        OpenstackContainers::Zun => zun::build_all(&mut b, &order),
    }
    if !opts.neutron
        && (b.app.services.values().any(|s| !s.ports.is_empty())
            || b.app.vms.values().any(|v| !v.ports.is_empty()))
    {
        b.diags.push(
            Diagnostic::warning(
                "T404",
                "neutron is off: no security groups are emitted, so published ports are reachable only as the cloud's default policy allows",
            )
            .with_path("providers.openstack")
            .with_hint("open the ports in the cloud's default security group, or deploy with neutron on"),
        );
    }
    let mut template = json!({
        "heat_template_version": TEMPLATE_VERSION,
        "description": format!("bridge app {}", b.app.name),
    });
    if !b.parameters.is_empty() {
        template["parameters"] = Value::Object(b.parameters.clone().into_iter().collect());
    }
    template["resources"] = Value::Object(std::mem::take(&mut b.resources).into_iter().collect());
    if !b.outputs.is_empty() {
        template["outputs"] = Value::Object(b.outputs.clone().into_iter().collect());
    }
    let stack = HeatStack {
        name: b.app.name.clone(),
        template,
        parameters: b.stack_params.values().cloned().collect(),
        hosts: b.hosts,
        bound: b.bound,
        rollback: b.rollback,
    };
    b.ledger.report_drops(&mut b.diags, "T419", "openstack");
    (stack, b.ledger, b.diags)
}

/// Ledger lines for `providers.openstack` and the other providers' blocks.
fn provider_ledger(b: &mut Builder<'_>) {
    let Some(o) = b.full.providers.openstack.clone() else {
        return;
    };
    let f = |k: &str| format!("providers.openstack.{k}");
    if o.cloud.is_some() {
        b.ledger.mapped(f("cloud"));
    }
    if o.region.is_some() {
        b.ledger.mapped(f("region"));
    }
    if o.flavor.is_some() {
        b.ledger.mapped(f("flavor"));
    }
    if o.network.is_some() {
        if b.opts.neutron {
            b.ledger.mapped(f("network"));
        } else {
            b.ledger.approximated(
                f("network"),
                "passed to nova by name; without neutron the cloud must resolve it",
            );
        }
    }
    if o.key_name.is_some() {
        b.ledger.mapped(f("key_name"));
    }
    for k in o.images.keys() {
        b.ledger.mapped(format!("providers.openstack.images.{k}"));
    }
    if o.containers != OpenstackContainers::default() {
        b.ledger.mapped(f("containers"));
    }
    if o.neutron.is_some() {
        b.ledger.mapped(f("neutron"));
    }
}

/// Secrets, configs, networks and groups: what the whole app declares.
fn top_level(b: &mut Builder<'_>) {
    let secrets = b.full.secrets.clone();
    for (s, sec) in &secrets {
        let p = format!("secret_{}", ident(s));
        let source = if let Some(e) = &sec.env {
            b.ledger.mapped(format!("secrets.{s}.env"));
            ValueSource::Env(e.clone())
        } else if let Some(f) = &sec.file {
            b.ledger.mapped(format!("secrets.{s}.file"));
            ValueSource::File(f.clone())
        } else {
            b.ledger.dropped(
                format!("secrets.{s}.external"),
                "heat has no secret store reference, and the OpenStack driver cannot look up an existing secret's value: a deploy that needs it stops, asking for `env:` or `file:`",
            );
            b.diags.push(
                Diagnostic::warning(
                    "T417",
                    format!("secret `{s}` is external: the OpenStack driver cannot look up its value, so a deploy that needs it stops"),
                )
                .with_path(format!("secrets.{s}.external"))
                .with_hint("give the secret `env:` or `file:` for openstack"),
            );
            ValueSource::External
        };
        if sec.name.is_some() {
            b.ledger.approximated(
                format!("secrets.{s}.name"),
                "the value is a hidden stack parameter; the name is not used on openstack",
            );
        }
        let used = b
            .app
            .services
            .values()
            .any(|svc| svc.secrets.iter().any(|r| r.name == *s));
        if used {
            b.required_param(&p, true, source, format!("secrets.{s}"));
            b.secret_params.insert(s.clone(), p);
        }
    }
    let configs = b.full.configs.clone();
    for (c, cfg) in &configs {
        let source = if cfg.content.is_some() {
            b.ledger.mapped(format!("configs.{c}.content"));
            None
        } else if let Some(e) = &cfg.env {
            b.ledger.mapped(format!("configs.{c}.env"));
            Some(ValueSource::Env(e.clone()))
        } else if let Some(f) = &cfg.file {
            b.ledger.mapped(format!("configs.{c}.file"));
            Some(ValueSource::File(f.clone()))
        } else {
            b.ledger.dropped(
                format!("configs.{c}.external"),
                "heat has no config store, and the OpenStack driver cannot look up an existing config's content: a deploy that needs it stops, asking for `env:` or `file:`",
            );
            b.diags.push(
                Diagnostic::warning(
                    "T417",
                    format!("config `{c}` is external: the OpenStack driver cannot look up its content, so a deploy that needs it stops"),
                )
                .with_path(format!("configs.{c}.external"))
                .with_hint("give the config `content:`, `env:` or `file:` for openstack"),
            );
            Some(ValueSource::External)
        };
        if cfg.name.is_some() {
            b.ledger.approximated(
                format!("configs.{c}.name"),
                "the content is written to each server; the name is not used on openstack",
            );
        }
        let used = b
            .app
            .services
            .values()
            .any(|svc| svc.configs.iter().any(|r| r.name == *c));
        if let (Some(source), true) = (source, used) {
            let p = format!("config_{}", ident(c));
            b.required_param(&p, false, source, format!("configs.{c}"));
            b.config_params.insert(c.clone(), p);
        }
    }
    let networks = b.full.networks.clone();
    for (n, net) in &networks {
        let mut fields = vec!["networks"];
        if net.internal {
            fields.push("internal");
        }
        if net.external {
            fields.push("external");
        }
        if net.name.is_some() {
            fields.push("name");
        }
        if net.driver.is_some() {
            fields.push("driver");
        }
        if !net.driver_opts.is_empty() {
            fields.push("driver_opts");
        }
        if !net.labels.is_empty() {
            fields.push("labels");
        }
        for f in fields.iter().skip(1) {
            b.ledger.approximated(
                format!("networks.{n}.{f}"),
                "each server has one docker network for the containers it runs; services on different servers reach each other through published ports",
            );
        }
        b.ledger.approximated(
            format!("networks.{n}"),
            "each server has one docker network for the containers it runs; services on different servers reach each other through published ports",
        );
        b.diags.push(
            Diagnostic::warning(
                "T415",
                format!("network `{n}` becomes a docker network on each server, not one network across servers"),
            )
            .with_path(format!("networks.{n}"))
            .with_hint("put services that talk by name in one group so they share a server"),
        );
    }
    let groups = b.full.groups.clone();
    for (g, grp) in &groups {
        b.ledger.mapped(format!("groups.{g}"));
        let p = &grp.placement;
        if p.spread
            .as_deref()
            .is_some_and(|sp| sp == "host" || sp == "zone")
        {
            b.ledger.mapped(format!("groups.{g}.placement.spread"));
        }
        if p.max_per_host.is_some() {
            b.ledger.approximated(
                format!("groups.{g}.placement.max_per_host"),
                "each server runs one replica of a group (container names and published ports are per server)",
            );
        }
        if !p.constraints.is_empty() {
            b.ledger.dropped(
                format!("groups.{g}.placement.constraints"),
                "flavors carry no node labels: bridge chooses the flavor",
            );
            b.diags.push(
                Diagnostic::warning(
                    "T405",
                    format!("group `{g}`: placement constraints are not applied on openstack"),
                )
                .with_path(format!("groups.{g}.placement.constraints"))
                .with_hint("pin a flavor with providers.openstack.flavor instead"),
            );
        }
    }
}

#[cfg(test)]
mod tests;
