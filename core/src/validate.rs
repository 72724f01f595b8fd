//! Validation: an [`App`] becomes a [`ValidApp`] once names, references, ports, resources and
//! dependency order are checked. Everything after this may assume validity.
//!
//! Every check runs, so one pass reports every problem; each diagnostic carries a stable code,
//! the field path and the position found through [`Locate`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::codes;
use crate::compose::read::{item, join};
use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::model::{
    App, DependencyCondition, Health, MountKind, Placement, PortMode, ProviderKind, RestartPolicy,
    ServiceMode,
};
use crate::refs::{Ref, RefKind, scan as scan_references};
use crate::source::Span;
use crate::units::ByteSize;

/// Finds where a field path stands in the input, for diagnostics made after parsing.
pub trait Locate {
    /// The file and span for a field path such as `services.web.ports[1]`.
    fn locate(&self, path: &str) -> Option<(Arc<str>, Span)>;
}

/// A locator that knows no positions (for apps built in code).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLocation;

impl Locate for NoLocation {
    fn locate(&self, _path: &str) -> Option<(Arc<str>, Span)> {
        None
    }
}

/// An app that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidApp {
    app: App,
    order: Vec<String>,
}

impl ValidApp {
    /// The app.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Give the app back.
    pub fn into_app(self) -> App {
        self.app
    }

    /// A copy with `f` applied to the app: for changes that keep it valid and keep its
    /// dependency order (the partition writes providers and resolved addresses in).
    pub fn map_app(&self, f: impl FnOnce(&mut App)) -> ValidApp {
        let mut app = self.app.clone();
        f(&mut app);
        ValidApp {
            app,
            order: self.order.clone(),
        }
    }

    /// Every service name, dependencies (`depends_on` and `links`) before the services that
    /// need them; services that do not depend on each other come in name order, so the order
    /// is the same on every run.
    pub fn service_order(&self) -> &[String] {
        &self.order
    }
}

/// Docker's smallest memory limit.
const MIN_MEMORY: ByteSize = ByteSize(6 * 1024 * 1024);

/// Validate `app`; diagnostics are placed with `loc`.
///
/// Errors make the result `Err` with every diagnostic found (warnings included); otherwise the
/// warnings come back beside the [`ValidApp`].
pub fn validate(app: App, loc: &dyn Locate) -> Result<(ValidApp, Diagnostics), Diagnostics> {
    validate_keeping(app, loc).map_err(|(_, ds)| ds)
}

/// [`validate`] that gives the app back beside the diagnostics when it is not valid, so a
/// caller that keeps the app either way needs no copy of it (at 10,000 services the copy was a
/// seventh of loading a bridge.yaml).
pub fn validate_keeping(
    app: App,
    loc: &dyn Locate,
) -> Result<(ValidApp, Diagnostics), (App, Diagnostics)> {
    let mut c = Checker {
        app: &app,
        loc,
        out: Diagnostics::new(),
    };
    c.run();
    let mut out = c.out;
    if out.has_errors() {
        out.sort();
        return Err((app, out));
    }
    out.sort();
    let order = topological_order(&app);
    Ok((ValidApp { app, order }, out))
}

struct Checker<'a> {
    app: &'a App,
    loc: &'a dyn Locate,
    out: Diagnostics,
}

/// Which kind of named thing a name belongs to, for messages.
#[derive(Clone, Copy)]
enum Kind {
    Service,
    Vm,
    Volume,
    Secret,
    Config,
    Network,
    Group,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Vm => "VM",
            Kind::Volume => "volume",
            Kind::Secret => "secret",
            Kind::Config => "config",
            Kind::Network => "network",
            Kind::Group => "group",
        }
    }
    fn section(self) -> &'static str {
        match self {
            Kind::Service => "services",
            Kind::Vm => "vms",
            Kind::Volume => "volumes",
            Kind::Secret => "secrets",
            Kind::Config => "configs",
            Kind::Network => "networks",
            Kind::Group => "groups",
        }
    }
}

impl Checker<'_> {
    /// Place `d` at `path` (shown) and push it.
    fn at(&mut self, path: &str, d: Diagnostic) {
        self.at_loc(path, path, d);
    }

    /// Push `d` with `shown` as its path, positioned at `locate` (a more precise path).
    fn at_loc(&mut self, shown: &str, locate: &str, d: Diagnostic) {
        let mut d = d.with_path(shown);
        if let Some((file, span)) = self.loc.locate(locate) {
            d = d.with_file(file).with_span(span);
        }
        self.out.push(d);
    }

    /// Where a path stands, for ordering things as they appear in the file.
    fn position(&self, path: &str) -> (u32, u32) {
        self.loc
            .locate(path)
            .map(|(_, s)| (s.line, s.col))
            .unwrap_or((u32::MAX, u32::MAX))
    }

    /// Push `d` at `path`, its span narrowed to `range` of `value` when the value's text can
    /// be found in the file exactly.
    fn at_part(&mut self, path: &str, value: &str, range: std::ops::Range<usize>, d: Diagnostic) {
        let mut d = d.with_path(path);
        if let Some((file, span)) = self.loc.locate(path) {
            let span = narrow(span, value, range).unwrap_or(span);
            d = d.with_file(file).with_span(span);
        }
        self.out.push(d);
    }

    /// The line a path stands on, for messages naming a second place.
    fn line_of(&self, path: &str) -> Option<u32> {
        self.loc
            .locate(path)
            .map(|(_, s)| s.line)
            .filter(|l| *l > 0)
    }

    fn run(&mut self) {
        if self.app.services.is_empty() && self.app.vms.is_empty() {
            self.at(
                "services",
                Diagnostic::error(codes::EMPTY_APP, "the app defines no services and no VMs")
                    .with_hint("add a service under `services:` or a VM under `vms:`"),
            );
        }
        self.names();
        for name in self.app.services.keys() {
            self.service(name);
        }
        for name in self.app.vms.keys() {
            self.vm(name);
        }
        self.top_level_sources();
        self.groups();
        self.cycles();
        self.host_ports();
        self.cutover();
        self.aws_names();
        if !self.app.services.is_empty() || !self.app.vms.is_empty() {
            self.unused();
        }
    }

    /// `providers.aws.services`: each key a group (or an ungrouped service) of the app, each
    /// name as ECS allows it (1 to 255 letters, digits, hyphens and underscores), and no ECS
    /// service name or task definition family given to two groups (a group not named there
    /// is `<app>-<group>`).
    fn aws_names(&mut self) {
        let app = self.app;
        let Some(aws) = app.providers.aws.as_ref() else {
            return;
        };
        if aws.services.is_empty() {
            return;
        }
        let mut groups: BTreeSet<String> = BTreeSet::new();
        for (name, s) in &app.services {
            groups.insert(s.group.clone().unwrap_or_else(|| name.clone()));
        }
        let effective = |what: &str, g: &str| {
            if what == "family" {
                aws.family(&app.name, g)
            } else {
                aws.service_name(&app.name, g)
            }
        };
        for (g, names) in &aws.services {
            let at = format!("providers.aws.services.{g}");
            if !groups.contains(g) {
                let hint = did_you_mean(g, groups.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "name a group, or a service that is in no group".into());
                let d = Diagnostic::error(
                    codes::DANGLING_REF,
                    format!("`{g}` is not a group or an ungrouped service of the app"),
                )
                .with_hint(hint);
                self.at(&at, d);
                continue;
            }
            for (what, n) in [
                ("service_name", names.service_name.as_ref()),
                ("family", names.family.as_ref()),
            ] {
                let Some(n) = n else { continue };
                let path = format!("{at}.{what}");
                let ok = (1..=255).contains(&n.len())
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    let d = Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!("`{n}` is not an ECS {}", what.replace('_', " ")),
                    )
                    .with_hint("1 to 255 letters, digits, hyphens and underscores");
                    self.at(&path, d);
                    continue;
                }
                if let Some(other) = groups.iter().find(|o| *o != g && effective(what, o) == *n) {
                    let d = Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!("group `{other}` has the ECS {} `{n}` already", what.replace('_', " ")),
                    )
                    .with_hint("one ECS service and one task definition family per group: give each group its own");
                    self.at(&path, d);
                }
            }
        }
    }

    /// `move.cutover`: the DNS record's zone, name, TTL and component; and
    /// `providers.swarm.endpoint`'s scheme.
    fn cutover(&mut self) {
        if let Some(e) = self
            .app
            .providers
            .swarm
            .as_ref()
            .and_then(|s| s.endpoint.as_deref())
            && !["unix://", "tcp://", "http://"]
                .iter()
                .any(|p| e.starts_with(p) && e.len() > p.len())
        {
            let d = Diagnostic::error(
                codes::INVALID_VALUE,
                format!("`{e}` is not a Docker engine endpoint"),
            )
            .with_hint("unix:///path/docker.sock or tcp://host:port (TLS: use DOCKER_HOST with DOCKER_TLS_VERIFY instead)");
            self.at("providers.swarm.endpoint", d);
        }
        let Some(dns) = self
            .app
            .move_
            .as_ref()
            .and_then(|m| m.cutover.as_ref())
            .and_then(|c| c.dns.as_ref())
        else {
            return;
        };
        const AT: &str = "move.cutover.dns";
        if let Some(p) = dns_name_problem(&dns.zone) {
            let d = Diagnostic::error(codes::INVALID_VALUE, format!("the zone `{}` {p}", dns.zone))
                .with_hint("the hosted zone's name, e.g. `example.internal.`");
            self.at(&format!("{AT}.zone"), d);
        }
        if let Some(p) = dns_name_problem(&dns.record) {
            let d = Diagnostic::error(
                codes::INVALID_VALUE,
                format!("the record `{}` {p}", dns.record),
            )
            .with_hint("a name inside the zone, e.g. `shop.example.internal.`");
            self.at(&format!("{AT}.record"), d);
        } else if dns_name_problem(&dns.zone).is_none() {
            let (r, z) = (fqdn(&dns.record), fqdn(&dns.zone));
            if r != z && !r.ends_with(&format!(".{z}")) {
                let d = Diagnostic::error(
                    codes::INVALID_VALUE,
                    format!(
                        "the record `{}` is not inside the zone `{}`",
                        dns.record, dns.zone
                    ),
                )
                .with_hint(format!(
                    "name a record that ends with the zone, e.g. `{}.{z}`",
                    r.split('.').next().unwrap_or("www")
                ));
                self.at(&format!("{AT}.record"), d);
            }
        }
        if let Some(t) = dns.ttl
            && !(0..=2_147_483_647).contains(&t)
        {
            let d = Diagnostic::error(
                codes::INVALID_VALUE,
                format!("the TTL {t} is out of range: 0 to 2147483647 seconds"),
            )
            .with_hint(
                "a TTL in seconds; a short one (60) lets consumers follow the cut-over quickly",
            );
            self.at(&format!("{AT}.ttl"), d);
        }
        let c = dns.component.as_str();
        if !self.app.services.contains_key(c) && !self.app.vms.contains_key(c) {
            let names = self.app.services.keys().chain(self.app.vms.keys());
            let hint = did_you_mean(c, names.map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| "name a service or VM of this app".into());
            let d = Diagnostic::error(
                codes::DANGLING_REF,
                format!("the cut-over component `{c}` is not a service or VM of the app"),
            )
            .with_hint(hint);
            self.at(&format!("{AT}.component"), d);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Names

    fn names(&mut self) {
        let app = self.app;
        if let Some(problem) = dns_label_problem(&app.name) {
            let d = Diagnostic::error(
                codes::BAD_NAME,
                format!("the app name `{}` {problem}", app.name),
            )
            .with_hint_opt(dns_hint(&app.name));
            self.at("name", d);
        }
        let sections: [(Kind, Vec<&String>); 7] = [
            (Kind::Service, app.services.keys().collect()),
            (Kind::Vm, app.vms.keys().collect()),
            (Kind::Volume, app.volumes.keys().collect()),
            (Kind::Secret, app.secrets.keys().collect()),
            (Kind::Config, app.configs.keys().collect()),
            (Kind::Network, app.networks.keys().collect()),
            (Kind::Group, app.groups.keys().collect()),
        ];
        for (kind, names) in sections {
            for name in names {
                let problem = match kind {
                    Kind::Secret | Kind::Config => secret_name_problem(name),
                    _ => dns_label_problem(name),
                };
                if let Some(problem) = problem {
                    let d = Diagnostic::error(
                        codes::BAD_NAME,
                        format!("{} name `{name}` {problem}", kind.word()),
                    )
                    .with_hint_opt(dns_hint(name));
                    self.at(&format!("{}.{name}", kind.section()), d);
                }
            }
        }
        // A service and a VM share the name space of DNS names and provider resources.
        for name in app.vms.keys() {
            if app.services.contains_key(name) {
                let line = self
                    .line_of(&join("services", name))
                    .map(|l| format!(" (line {l})"))
                    .unwrap_or_default();
                let d = Diagnostic::error(
                    codes::CONFLICT,
                    format!("`{name}` is both a service{line} and a VM"),
                )
                .with_hint("give the VM or the service another name; both become DNS names");
                self.at(&format!("vms.{name}"), d);
            }
        }
        // Secrets and configs may hold `_`, which targets that need DNS names turn into `-`.
        for (kind, names) in [
            (Kind::Secret, app.secrets.keys().collect::<Vec<_>>()),
            (Kind::Config, app.configs.keys().collect()),
        ] {
            let mut seen: BTreeMap<String, &String> = BTreeMap::new();
            for name in names {
                let dns = name.replace('_', "-");
                if let Some(first) = seen.get(&dns) {
                    let d = Diagnostic::error(
                        codes::CONFLICT,
                        format!(
                            "{} names `{first}` and `{name}` differ only in `_` and `-`",
                            kind.word()
                        ),
                    )
                    .with_hint("targets that need DNS names write `_` as `-`; rename one");
                    self.at(&format!("{}.{name}", kind.section()), d);
                } else {
                    seen.insert(dns, name);
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // References

    /// Report `name` (a reference at `shown`, placed at `locate`) when it is not a `kind`.
    fn dangling(&mut self, shown: &str, locate: &str, what: &str, name: &str, kind: Kind) {
        let candidates: Vec<&str> = self.names_of(kind);
        let mut hint =
            did_you_mean(name, candidates.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        if hint.is_none() {
            hint = match kind {
                Kind::Service if self.app.vms.contains_key(name) => Some(format!(
                    "`{name}` is a VM; a service reaches it through `${{vms.{name}.address}}` in `env`"
                )),
                Kind::Group if candidates.is_empty() => Some(format!(
                    "declare it under the top-level `groups:`, e.g. `groups: {{{name}: {{}}}}`"
                )),
                _ if candidates.is_empty() => Some(format!(
                    "define it under the top-level `{}:`",
                    kind.section()
                )),
                _ => Some(format!(
                    "defined {}s: {}",
                    kind.word(),
                    candidates
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
        }
        let d = Diagnostic::error(
            codes::DANGLING_REF,
            format!("{what} `{name}`, which is not a defined {}", kind.word()),
        )
        .with_hint_opt(hint);
        self.at_loc(shown, locate, d);
    }

    fn names_of(&self, kind: Kind) -> Vec<&str> {
        let app = self.app;
        match kind {
            Kind::Service => app.services.keys().map(String::as_str).collect(),
            Kind::Vm => app.vms.keys().map(String::as_str).collect(),
            Kind::Volume => app.volumes.keys().map(String::as_str).collect(),
            Kind::Secret => app.secrets.keys().map(String::as_str).collect(),
            Kind::Config => app.configs.keys().map(String::as_str).collect(),
            Kind::Network => std::iter::once("default")
                .chain(app.networks.keys().map(String::as_str))
                .collect(),
            Kind::Group => app.groups.keys().map(String::as_str).collect(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // One service

    /// Kernel parameters the container runtime refuses, on every target (all run the container
    /// with runc, which checks them when it creates the container, so the deploy would fail on
    /// the host instead). Read off the real engine (runc 1.1): only IPC parameters
    /// (`kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`), network ones (`net.*`) and
    /// `kernel.domainname` live in a namespace of the container's own; IPC ones are refused in
    /// the host's IPC namespace (`ipc: host`), `kernel.domainname` in the host's UTS namespace,
    /// and `kernel.hostname` always (it is the container's `hostname`).
    fn sysctls(&mut self, base: &str, s: &crate::model::Service) {
        for key in s.sysctls.keys() {
            let path = join(&join(base, "sysctls"), key);
            let ipc = ipc_sysctl(key);
            let d = if ipc {
                (s.ipc.as_deref() == Some("host")).then(|| {
                    Diagnostic::error(
                        codes::CONFLICT,
                        format!(
                            "`{key}` is an IPC parameter, and with `ipc: host` the container shares the host's IPC namespace, where the container runtime refuses to set it"
                        ),
                    )
                    .with_hint("drop `ipc: host` (use `shareable` to share the namespace between services), or set the parameter on the host")
                })
            } else if key.starts_with("net.") {
                None
            } else if key == "kernel.domainname" {
                (s.uts.as_deref() == Some("host")).then(|| {
                    Diagnostic::error(
                        codes::CONFLICT,
                        "`kernel.domainname` cannot be set with `uts: host`: the container shares the host's UTS namespace",
                    )
                    .with_hint("drop `uts: host`, or the parameter")
                })
            } else if key == "kernel.hostname" {
                Some(
                    Diagnostic::error(
                        codes::INVALID_VALUE,
                        "`kernel.hostname` is refused by the container runtime: it is the container's host name",
                    )
                    .with_hint("set `hostname:` instead"),
                )
            } else {
                Some(
                    Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!(
                            "`{key}` is not namespaced per container, so the container runtime refuses to set it"
                        ),
                    )
                    .with_hint("a container may set IPC (`kernel.shm*`, `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`) and network (`net.*`) parameters; set this one on the host (a VM's cloud-init or the host image)"),
                )
            };
            if let Some(d) = d {
                self.at(&path, d);
            }
        }
    }

    fn service(&mut self, name: &str) {
        let app = self.app;
        let Some(s) = app.services.get(name) else {
            return;
        };
        let base = join("services", name);

        if s.image.trim().is_empty() || s.image.chars().any(char::is_whitespace) {
            self.at(
                &join(&base, "image"),
                Diagnostic::error(
                    codes::INVALID_VALUE,
                    format!("`{}` is not an image reference", s.image),
                )
                .with_hint("write a reference such as `nginx:1.27` or `ghcr.io/acme/web:1.4`"),
            );
        }

        // depends_on
        for (i, dep) in s.depends_on.iter().enumerate() {
            // Paths are only spelt out for a diagnostic.
            let shown = || item(&base, "depends_on", i);
            let locate = || join(&shown(), "service");
            if dep.service == name {
                self.at_loc(
                    &shown(),
                    &locate(),
                    Diagnostic::error(codes::CYCLE, format!("`{name}` depends on itself"))
                        .with_hint("remove this dependency"),
                );
                continue;
            }
            let Some(target) = app.services.get(&dep.service) else {
                if dep.required {
                    self.dangling(
                        &shown(),
                        &locate(),
                        "depends on",
                        &dep.service,
                        Kind::Service,
                    );
                } else {
                    self.at_loc(
                        &shown(),
                        &locate(),
                        Diagnostic::warning(
                            codes::DANGLING_REF,
                            format!(
                                "depends on `{}`, which is not a defined service; ignored as `required: false`",
                                dep.service
                            ),
                        ),
                    );
                }
                continue;
            };
            if dep.condition == DependencyCondition::Healthy && !has_health(target.health.as_ref())
            {
                let why = if target.health.is_some() {
                    "its health check is disabled with [NONE]"
                } else {
                    "it has no `health:`"
                };
                self.at_loc(
                    &shown(),
                    &join(&shown(), "condition"),
                    Diagnostic::error(
                        codes::NO_HEALTH_CHECK,
                        format!(
                            "waits for `{}` to be healthy, but {why}",
                            dep.service
                        ),
                    )
                    .with_hint(format!(
                        "add a `health:` check to `{}` (a HEALTHCHECK in the image is not seen on every target), or use `condition: started`",
                        dep.service
                    )),
                );
            }
        }

        self.sysctls(&base, s);

        // links
        for (i, link) in s.links.iter().enumerate() {
            let path = item(&base, "links", i);
            if link.service == name {
                self.at(
                    &path,
                    Diagnostic::error(codes::CYCLE, format!("`{name}` links to itself"))
                        .with_hint("remove this link"),
                );
            } else if !app.services.contains_key(&link.service) {
                self.dangling(&path, &path, "links to", &link.service, Kind::Service);
            }
            if let Some(alias) = &link.alias
                && let Some(problem) = hostname_problem(alias)
            {
                self.at(
                    &path,
                    Diagnostic::error(codes::BAD_NAME, format!("link alias `{alias}` {problem}"))
                        .with_hint_opt(dns_hint(alias)),
                );
            }
        }
        for (i, alias) in s.aliases.iter().enumerate() {
            if let Some(problem) = alias_problem(alias) {
                self.at(
                    &item(&base, "aliases", i),
                    Diagnostic::error(codes::BAD_NAME, format!("alias `{alias}` {problem}"))
                        .with_hint_opt(dns_hint(alias)),
                );
            }
        }

        // mounts
        let mut targets: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, m) in s.volumes.iter().enumerate() {
            let shown = || item(&base, "volumes", i);
            if !m.target.starts_with('/') {
                self.at_loc(
                    &shown(),
                    &join(&shown(), "target"),
                    Diagnostic::error(
                        codes::BAD_MOUNT,
                        format!("the container path `{}` must be absolute", m.target),
                    ),
                );
            }
            let norm = m.target.trim_end_matches('/');
            let norm = if norm.is_empty() { "/" } else { norm };
            if let Some(first) = targets.get(norm) {
                self.at_loc(
                    &shown(),
                    &join(&shown(), "target"),
                    Diagnostic::error(
                        codes::BAD_MOUNT,
                        format!("`{}` is already mounted by volumes[{first}]", m.target),
                    )
                    .with_hint("mount each container path once"),
                );
            } else {
                targets.insert(norm, i);
            }
            match m.kind {
                MountKind::Volume => {
                    if let Some(src) = &m.source
                        && !app.volumes.contains_key(src)
                    {
                        self.dangling(
                            &shown(),
                            &join(&shown(), "source"),
                            "mounts volume",
                            src,
                            Kind::Volume,
                        );
                    }
                }
                MountKind::Tmpfs => {
                    if m.source.is_some() {
                        self.at_loc(
                            &shown(),
                            &join(&shown(), "source"),
                            Diagnostic::error(codes::BAD_MOUNT, "a tmpfs mount has no source")
                                .with_hint(
                                    "remove `source`, or use `type: volume` or `type: bind`",
                                ),
                        );
                    }
                }
                MountKind::Bind => {}
            }
            if m.size.is_some() && m.kind != MountKind::Tmpfs {
                self.at_loc(
                    &shown(),
                    &join(&shown(), "size"),
                    Diagnostic::warning(
                        codes::NO_EFFECT,
                        "`size` applies to tmpfs mounts only and is ignored here",
                    ),
                );
            }
        }

        // secrets
        for (i, r) in s.secrets.iter().enumerate() {
            let shown = || item(&base, "secrets", i);
            if !app.secrets.contains_key(&r.name) {
                self.dangling(
                    &shown(),
                    &join(&shown(), "name"),
                    "uses secret",
                    &r.name,
                    Kind::Secret,
                );
            }
            if let Some(var) = &r.env {
                self.env_name(&join(&shown(), "env"), var);
                if s.env.0.contains_key(var) {
                    self.at_loc(
                        &shown(),
                        &join(&shown(), "env"),
                        Diagnostic::error(
                            codes::CONFLICT,
                            format!("`{var}` is set both in `env` and from secret `{}`", r.name),
                        )
                        .with_hint(format!("remove `{var}` from `env`")),
                    );
                }
            }
            if let Some(file) = &r.file
                && !file.starts_with('/')
            {
                self.at_loc(
                    &shown(),
                    &join(&shown(), "file"),
                    Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!("the container path `{file}` must be absolute"),
                    )
                    .with_hint(format!("write `/run/secrets/{file}`")),
                );
            }
        }
        // configs
        for (i, r) in s.configs.iter().enumerate() {
            let shown = || item(&base, "configs", i);
            if !app.configs.contains_key(&r.name) {
                self.dangling(
                    &shown(),
                    &join(&shown(), "name"),
                    "uses config",
                    &r.name,
                    Kind::Config,
                );
            }
            if let Some(file) = &r.file
                && !file.starts_with('/')
            {
                self.at_loc(
                    &shown(),
                    &join(&shown(), "file"),
                    Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!("the container path `{file}` must be absolute"),
                    ),
                );
            }
        }
        // networks
        for (i, n) in s.networks.iter().enumerate() {
            if n != "default" && !app.networks.contains_key(n) {
                let path = item(&base, "networks", i);
                self.dangling(&path, &path, "attaches to network", n, Kind::Network);
            }
        }
        // group
        if let Some(g) = &s.group
            && !app.groups.contains_key(g)
        {
            let path = join(&base, "group");
            self.dangling(&path, &path, "belongs to group", g, Kind::Group);
        }
        // network_of: a service of the same group, not itself.
        if let Some(o) = &s.network_of {
            let path = join(&base, "network_of");
            match app.services.get(o) {
                None => self.dangling(&path, &path, "shares the network of", o, Kind::Service),
                Some(other) if o == name || other.group.is_none() || other.group != s.group => {
                    self.at(
                        &path,
                        Diagnostic::error(
                            codes::NETWORK_MODE,
                            format!("`{o}` must be another service of this service's group to share its network"),
                        )
                        .with_hint(format!("put both in one group (`group:`), or remove `network_of: {o}`")),
                    );
                }
                Some(_) => {
                    // The chain must end at a service that owns its namespace.
                    let mut cur = o.as_str();
                    for _ in 0..app.services.len() {
                        match app.services.get(cur).and_then(|x| x.network_of.as_deref()) {
                            Some(n) if n == name => {
                                self.at(
                                    &path,
                                    Diagnostic::error(
                                        codes::NETWORK_MODE,
                                        "`network_of` chains back to this service",
                                    )
                                    .with_hint("let one service of the chain own its network"),
                                );
                                break;
                            }
                            Some(n) => cur = n,
                            None => break,
                        }
                    }
                }
            }
        }

        // env
        // One path buffer for every variable (`services.<name>.env.<VAR>`), not one apiece: a
        // service of the bench has two dozen.
        let mut path = join(&base, "env");
        let env_base = path.len();
        for (k, v) in &s.env.0 {
            path.truncate(env_base);
            path.push('.');
            path.push_str(k);
            self.env_name(&path, k);
            self.references(&path, v);
        }

        // ports
        for (i, p) in s.ports.iter().enumerate() {
            if p.container == 0 || p.published == Some(0) {
                self.at(
                    &item(&base, "ports", i),
                    Diagnostic::error(codes::BAD_PORT, "port 0 is out of range (1-65535)"),
                );
            }
        }
        for (i, p) in s.expose.iter().enumerate() {
            if *p == 0 {
                self.at(
                    &item(&base, "expose", i),
                    Diagnostic::error(codes::BAD_PORT, "port 0 is out of range (1-65535)"),
                );
            }
        }

        // replicas and mode
        if s.mode == ServiceMode::Global && s.replicas != 1 {
            self.at(
                &join(&base, "replicas"),
                Diagnostic::error(
                    codes::CONFLICT,
                    format!(
                        "`replicas: {}` contradicts `mode: global`, which runs one copy per host",
                        s.replicas
                    ),
                )
                .with_hint("remove `replicas`, or remove `mode: global`"),
            );
        }

        self.resources(&base, s);
        if let Some(h) = &s.health {
            self.health(&join(&base, "health"), h);
        }
        self.restart(&base, s);
        self.placement(&join(&base, "placement"), &s.placement);
        for (what, u) in [("update", &s.update), ("rollback", &s.rollback)] {
            if let Some(u) = u
                && let Some(r) = u.max_failure_ratio
                && !(0.0..=1.0).contains(&r)
            {
                self.at(
                    &format!("{base}.{what}.max_failure_ratio"),
                    Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!("`max_failure_ratio` is {r}; it is a fraction from 0 to 1"),
                    ),
                );
            }
        }
    }

    fn resources(&mut self, base: &str, s: &crate::model::Service) {
        let r = &s.resources;
        let rb = join(base, "resources");
        if let Some(c) = r.cpus
            && c.0 == 0
        {
            self.at(
                &join(&rb, "cpus"),
                Diagnostic::error(codes::INVALID_VALUE, "`cpus` must be more than 0")
                    .with_hint("leave `cpus` out for no limit"),
            );
        }
        if let Some(m) = r.memory
            && m < MIN_MEMORY
        {
            self.at(
                &join(&rb, "memory"),
                Diagnostic::error(
                    codes::INVALID_VALUE,
                    format!("a memory limit of {m} is below docker's minimum of 6MiB"),
                )
                .with_hint("write at least `6MiB`; sizes without a unit are bytes"),
            );
        }
        if let (Some(limit), Some(res)) = (r.cpus, r.reserve_cpus)
            && res > limit
        {
            self.at(
                &join(&rb, "reserve_cpus"),
                Diagnostic::error(
                    codes::RESERVATION_OVER_LIMIT,
                    format!("`reserve_cpus` ({res}) is more than the `cpus` limit ({limit})"),
                )
                .with_hint(format!("lower `reserve_cpus` to at most {limit}")),
            );
        }
        if let (Some(limit), Some(res)) = (r.memory, r.reserve_memory)
            && res > limit
        {
            self.at(
                &join(&rb, "reserve_memory"),
                Diagnostic::error(
                    codes::RESERVATION_OVER_LIMIT,
                    format!("`reserve_memory` ({res}) is more than the `memory` limit ({limit})"),
                )
                .with_hint(format!("lower `reserve_memory` to at most {limit}")),
            );
        }
    }

    fn health(&mut self, base: &str, h: &Health) {
        if h.test.is_none() {
            let set: Vec<&str> = [
                ("interval", h.interval.is_some()),
                ("timeout", h.timeout.is_some()),
                ("retries", h.retries.is_some()),
                ("start_period", h.start_period.is_some()),
                ("start_interval", h.start_interval.is_some()),
            ]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| *k)
            .collect();
            if !set.is_empty() {
                self.at(
                    base,
                    Diagnostic::warning(
                        codes::NO_EFFECT,
                        format!(
                            "the check is disabled with [NONE], so {} has no effect",
                            set.iter()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                );
            }
        }
        if h.retries == Some(0) {
            self.at(
                &join(base, "retries"),
                Diagnostic::error(codes::INVALID_VALUE, "`retries` must be at least 1"),
            );
        }
        for (k, d) in [
            ("interval", h.interval),
            ("timeout", h.timeout),
            ("start_interval", h.start_interval),
        ] {
            if let Some(d) = d
                && d.0 < 1_000_000
            {
                self.at(
                    &format!("{base}.{k}"),
                    Diagnostic::error(
                        codes::BAD_DURATION,
                        format!("`{k}` is {d}; it must be at least 1ms"),
                    )
                    .with_hint("leave it out for the default"),
                );
            }
        }
        if let Some(d) = h.start_period
            && d.0 > 0
            && d.0 < 1_000_000
        {
            self.at(
                &join(base, "start_period"),
                Diagnostic::error(
                    codes::BAD_DURATION,
                    format!("`start_period` is {d}; it must be 0 or at least 1ms"),
                ),
            );
        }
    }

    fn restart(&mut self, base: &str, s: &crate::model::Service) {
        if s.restart != RestartPolicy::OnFailure && s.restart_max_attempts.is_some() {
            let policy = match s.restart {
                RestartPolicy::Always => "always",
                RestartPolicy::Never => "never",
                RestartPolicy::OnFailure => "on-failure",
            };
            self.at(
                &join(base, "restart_max_attempts"),
                Diagnostic::warning(
                    codes::NO_EFFECT,
                    format!(
                        "`restart_max_attempts` only counts with `restart: on-failure`, and this service has `restart: {policy}`"
                    ),
                )
                .with_hint("set `restart: on-failure`, or remove `restart_max_attempts`"),
            );
        }
        if s.restart == RestartPolicy::Never {
            for (k, on) in [
                ("restart_delay", s.restart_delay.is_some()),
                ("restart_window", s.restart_window.is_some()),
            ] {
                if on {
                    self.at(
                        &format!("{base}.{k}"),
                        Diagnostic::warning(
                            codes::NO_EFFECT,
                            format!("`{k}` has no effect with `restart: never`"),
                        ),
                    );
                }
            }
        }
        const DAY: u64 = 24 * 3_600_000_000_000;
        for (k, d) in [
            ("stop_grace_period", s.stop_grace_period),
            ("restart_delay", s.restart_delay),
        ] {
            if let Some(d) = d
                && d.0 > DAY
            {
                self.at(
                    &format!("{base}.{k}"),
                    Diagnostic::warning(
                        codes::INVALID_VALUE,
                        format!("`{k}` is {d}, more than a day; is the unit right?"),
                    ),
                );
            }
        }
    }

    fn placement(&mut self, base: &str, p: &Placement) {
        if let Some(spread) = &p.spread {
            let ok = spread == "host"
                || spread == "zone"
                || spread
                    .strip_prefix("node.labels.")
                    .is_some_and(|l| !l.is_empty() && !l.contains(char::is_whitespace));
            if !ok {
                let hint = did_you_mean(spread, ["host", "zone"])
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        "spread over `host`, `zone` or a node label such as `node.labels.rack`"
                            .into()
                    });
                self.at(
                    &join(base, "spread"),
                    Diagnostic::error(
                        codes::BAD_CONSTRAINT,
                        format!("cannot spread over `{spread}`"),
                    )
                    .with_hint(hint),
                );
            }
        }
        for (i, c) in p.constraints.iter().enumerate() {
            if let Err(problem) = parse_constraint(c) {
                self.at(
                    &item(base, "constraints", i),
                    Diagnostic::error(
                        codes::BAD_CONSTRAINT,
                        format!("`{c}` is not a constraint: {problem}"),
                    )
                    .with_hint("write `<attribute> == <value>` or `<attribute> != <value>`, e.g. `node.labels.ssd == true`"),
                );
            }
        }
        if p.max_per_host == Some(0) {
            self.at(
                &join(base, "max_per_host"),
                Diagnostic::error(codes::INVALID_VALUE, "`max_per_host` must be at least 1")
                    .with_hint("leave it out for no limit"),
            );
        }
    }

    /// Check an environment variable name.
    fn env_name(&mut self, path: &str, name: &str) {
        let problem = if name.is_empty() {
            Some("an environment variable name is empty")
        } else if name.contains('=') {
            Some("an environment variable name cannot hold `=`")
        } else if name.contains('\0') {
            Some("an environment variable name cannot hold a NUL character")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.at(
                path,
                Diagnostic::error(codes::INVALID_VALUE, format!("{problem}: `{name}`"))
                    .with_hint("use letters, digits and `_`, e.g. `DB_PASSWORD`"),
            );
        }
    }

    /// Check the `${...}` references in a value.
    fn references(&mut self, path: &str, value: &str) {
        for (r, range) in scan_references(value) {
            match r {
                Ref::Unclosed => {
                    let rest = value.get(range.end..).unwrap_or_default();
                    let hint = unclosed_hint(rest);
                    self.at_part(
                        path,
                        value,
                        range,
                        Diagnostic::error(codes::BAD_REFERENCE, "`${` is not closed by `}`")
                            .with_hint(hint),
                    );
                }
                Ref::Address { kind, name } => {
                    let (exists, other_exists, wanted, other) = match kind {
                        RefKind::Vms => (
                            self.app.vms.contains_key(name),
                            self.app.services.contains_key(name),
                            Kind::Vm,
                            "services",
                        ),
                        RefKind::Services => (
                            self.app.services.contains_key(name),
                            self.app.vms.contains_key(name),
                            Kind::Service,
                            "vms",
                        ),
                    };
                    if !exists {
                        if other_exists {
                            self.at_part(
                                path,
                                value,
                                range,
                                Diagnostic::error(
                                    codes::DANGLING_REF,
                                    format!("refers to `{name}`, which is not a {}", wanted.word()),
                                )
                                .with_hint(format!("write `${{{other}.{name}.address}}`")),
                            );
                        } else {
                            let what =
                                format!("`${{{}.{name}.address}}` refers to", wanted.section());
                            self.dangling(path, path, &what, name, wanted);
                        }
                    }
                }
                Ref::Other(inner) => {
                    let hint = reference_hint(inner, path.ends_with(".user_data"));
                    self.at_part(
                        path,
                        value,
                        range,
                        Diagnostic::error(
                            codes::BAD_REFERENCE,
                            format!("`${{{inner}}}` is not a reference bridge understands"),
                        )
                        .with_hint(hint),
                    );
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // VMs

    fn vm(&mut self, name: &str) {
        let Some(v) = self.app.vms.get(name) else {
            return;
        };
        let base = format!("vms.{name}");
        if let Some(p) = v.provider
            && !crate::partition::hosts_vms(p)
        {
            self.at(
                &join(&base, "provider"),
                Diagnostic::error(
                    codes::CANNOT_HOST,
                    format!("vm `{name}` cannot run on {}: it runs containers only", p.as_str()),
                )
                .with_hint("set `provider: aws`, `gce` or `openstack` to run the VM there beside the containers"),
            );
        }
        if v.image.trim().is_empty() {
            self.at(
                &join(&base, "image"),
                Diagnostic::error(codes::INVALID_VALUE, "the VM image is empty")
                    .with_hint("write a logical image name such as `ubuntu-24.04`"),
            );
        }
        if v.cpus.0 == 0 {
            self.at(
                &join(&base, "cpus"),
                Diagnostic::error(codes::INVALID_VALUE, "a VM needs more than 0 CPUs"),
            );
        }
        if v.memory.0 == 0 {
            self.at(
                &join(&base, "memory"),
                Diagnostic::error(
                    codes::INVALID_VALUE,
                    "a VM needs more than 0 bytes of memory",
                )
                .with_hint("write a size with a unit, e.g. `4GiB`"),
            );
        }
        if v.disk == Some(ByteSize(0)) {
            self.at(
                &join(&base, "disk"),
                Diagnostic::error(codes::INVALID_VALUE, "a VM disk of 0 bytes")
                    .with_hint("write a size with a unit, e.g. `40GiB`, or leave `disk` out"),
            );
        }
        for (i, p) in v.ports.iter().enumerate() {
            if p.container == 0 || p.published == Some(0) {
                self.at(
                    &item(&base, "ports", i),
                    Diagnostic::error(codes::BAD_PORT, "port 0 is out of range (1-65535)"),
                );
            }
        }
        if let Some(ud) = &v.user_data {
            self.references(&join(&base, "user_data"), ud);
        }
        self.placement(&join(&base, "placement"), &v.placement);
    }

    // -----------------------------------------------------------------------------------------
    // Secrets and configs

    fn top_level_sources(&mut self) {
        let app = self.app;
        for (name, s) in &app.secrets {
            let path = format!("secrets.{name}");
            let given: Vec<&str> = [
                ("env", s.env.is_some()),
                ("file", s.file.is_some()),
                ("external", s.external),
            ]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| *k)
            .collect();
            self.one_source(
                &path,
                "secret",
                name,
                &given,
                "`env`, `file` or `external: true`",
            );
            if let Some(var) = &s.env {
                self.env_name(&join(&path, "env"), var);
            }
        }
        for (name, c) in &app.configs {
            let path = format!("configs.{name}");
            let given: Vec<&str> = [
                ("file", c.file.is_some()),
                ("content", c.content.is_some()),
                ("env", c.env.is_some()),
                ("external", c.external),
            ]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| *k)
            .collect();
            self.one_source(
                &path,
                "config",
                name,
                &given,
                "`file`, `content`, `env` or `external: true`",
            );
            if let Some(var) = &c.env {
                self.env_name(&join(&path, "env"), var);
            }
        }
    }

    fn one_source(&mut self, path: &str, what: &str, name: &str, given: &[&str], choices: &str) {
        match given {
            [_] => {}
            [] => self.at(
                path,
                Diagnostic::error(
                    codes::SECRET_SOURCE,
                    format!("{what} `{name}` has no source"),
                )
                .with_hint(format!("give exactly one of {choices}")),
            ),
            [first, rest @ ..] => {
                let second = rest.first().copied().unwrap_or(first);
                self.at(
                    &format!("{path}.{second}"),
                    Diagnostic::error(
                        codes::SECRET_SOURCE,
                        format!(
                            "{what} `{name}` has {} sources ({}); it takes exactly one",
                            given.len(),
                            given
                                .iter()
                                .map(|g| format!("`{g}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .with_hint(format!("keep `{first}` or `{second}`, not both")),
                );
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Groups

    fn groups(&mut self) {
        let app = self.app;
        let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, s) in &app.services {
            if let Some(g) = &s.group {
                members.entry(g.as_str()).or_default().push(name);
            }
        }
        for (g, mut names) in members {
            names.sort_by_key(|n| self.position(&format!("services.{n}")));
            let Some((&first, rest)) = names.split_first() else {
                continue;
            };
            let Some(a) = app.services.get(first) else {
                continue;
            };
            for &other in rest {
                let Some(b) = app.services.get(other) else {
                    continue;
                };
                let clash = if a.provider != b.provider {
                    Some((
                        "provider",
                        a.provider
                            .map(|p| p.as_str())
                            .unwrap_or("the default")
                            .to_string(),
                        b.provider
                            .map(|p| p.as_str())
                            .unwrap_or("the default")
                            .to_string(),
                    ))
                } else if a.mode != b.mode {
                    Some(("mode", mode_str(a.mode).into(), mode_str(b.mode).into()))
                } else if a.mode == ServiceMode::Replicated && a.replicas != b.replicas {
                    Some(("replicas", a.replicas.to_string(), b.replicas.to_string()))
                } else {
                    None
                };
                if let Some((field, va, vb)) = clash {
                    self.at(
                        &format!("services.{other}.group"),
                        Diagnostic::error(
                            codes::CONFLICT,
                            format!(
                                "group `{g}` runs on one host, but `{first}` has {field} {va} and `{other}` has {field} {vb}"
                            ),
                        )
                        .with_hint(format!("give every service in group `{g}` the same {field}")),
                    );
                }
            }
        }
        for (name, g) in &app.groups {
            self.placement(&format!("groups.{name}.placement"), &g.placement);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Cycles

    fn cycles(&mut self) {
        let graph = dependency_graph(self.app);
        for scc in strongly_connected(&graph) {
            if scc.len() < 2 {
                continue;
            }
            let Some(cycle) = shortest_cycle(&graph, &scc) else {
                continue;
            };
            let (Some(from), Some(to)) = (cycle.first(), cycle.get(1)) else {
                continue;
            };
            let path = graph
                .get(from.as_str())
                .and_then(|es| es.iter().find(|(t, _)| t == to))
                .map(|(_, p)| p.clone())
                .unwrap_or_else(|| format!("services.{from}"));
            let shown = cycle.join(" -> ");
            self.at(
                &path,
                Diagnostic::error(codes::CYCLE, format!("dependency cycle: {shown}"))
                    .with_hint("remove one of these `depends_on` or `links` entries"),
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // Host ports

    fn host_ports(&mut self) {
        struct Use {
            provider: Option<ProviderKind>,
            port: u16,
            protocol: crate::model::Protocol,
            ip: Option<String>,
            owner: String,
            path: String,
        }
        let app = self.app;
        let mut uses: Vec<Use> = Vec::new();
        let mut add = |provider, owner: String, base: &str, ports: &[crate::model::Port]| {
            for (i, p) in ports.iter().enumerate() {
                if let Some(port) = p.published {
                    uses.push(Use {
                        provider,
                        port,
                        protocol: p.protocol,
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|ip| !matches!(ip.as_str(), "" | "0.0.0.0" | "::")),
                        owner: owner.clone(),
                        path: item(base, "ports", i),
                    });
                }
            }
        };
        for (name, s) in &app.services {
            add(
                s.provider,
                format!("service `{name}`"),
                &join("services", name),
                &s.ports,
            );
        }
        // VMs are machines of their own: their ports never clash with another's.
        // The first in the file is the owner; later ones are reported.
        uses.sort_by_cached_key(|u| self.position(&u.path));
        // The earlier uses of each (provider, port, protocol), in file order: a hash look-up
        // where comparing every pair was quadratic.
        let mut earlier: HashMap<(Option<ProviderKind>, u16, crate::model::Protocol), Vec<usize>> =
            HashMap::new();
        for (j, b) in uses.iter().enumerate() {
            let same = earlier.entry((b.provider, b.port, b.protocol)).or_default();
            let clash = same
                .iter()
                .map(|&i| &uses[i])
                .find(|a| a.ip.is_none() || b.ip.is_none() || a.ip == b.ip);
            same.push(j);
            let Some(a) = clash else { continue };
            let at = self
                .line_of(&format!("{}.published", a.path))
                .map(|l| format!(" at line {l}"))
                .unwrap_or_default();
            let who = if a.owner == b.owner {
                "this service".to_string()
            } else {
                a.owner.clone()
            };
            let who = if a.owner == b.owner && a.owner.starts_with("VM") {
                "this VM".to_string()
            } else {
                who
            };
            let d = Diagnostic::error(
                codes::DUPLICATE_HOST_PORT,
                format!(
                    "host port {}/{} is already published by {who} ({}{at})",
                    b.port,
                    b.protocol.as_str(),
                    a.path
                ),
            )
            .with_hint("publish another host port, or leave `published` out for an ephemeral one");
            let (path, locate) = (b.path.clone(), format!("{}.published", b.path));
            self.at_loc(&path, &locate, d);
        }
        // Host-mode ports on several replicas need one replica per host.
        for (name, s) in &app.services {
            if s.mode == ServiceMode::Replicated
                && s.replicas > 1
                && s.placement.max_per_host != Some(1)
            {
                for (i, p) in s.ports.iter().enumerate() {
                    if p.mode == PortMode::Host && p.published.is_some() {
                        self.at(
                            &format!("services.{name}.ports[{i}]"),
                            Diagnostic::warning(
                                codes::DUPLICATE_HOST_PORT,
                                format!(
                                    "{} replicas publish host port {} in `mode: host`; two on one host cannot both bind it",
                                    s.replicas,
                                    p.published.unwrap_or_default()
                                ),
                            )
                            .with_hint("set `placement: {max_per_host: 1}`, or use `mode: global`"),
                        );
                    }
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Unused definitions

    fn unused(&mut self) {
        let app = self.app;
        let mut used: BTreeSet<(&str, &str)> = BTreeSet::new();
        for s in app.services.values() {
            for r in &s.secrets {
                used.insert(("secrets", &r.name));
            }
            for r in &s.configs {
                used.insert(("configs", &r.name));
            }
            for m in &s.volumes {
                if m.kind == MountKind::Volume
                    && let Some(src) = &m.source
                {
                    used.insert(("volumes", src));
                }
            }
            for n in &s.networks {
                used.insert(("networks", n));
            }
            if let Some(g) = &s.group {
                used.insert(("groups", g));
            }
        }
        let defined: [(Kind, Vec<&String>); 5] = [
            (Kind::Secret, app.secrets.keys().collect()),
            (Kind::Config, app.configs.keys().collect()),
            (Kind::Volume, app.volumes.keys().collect()),
            (Kind::Network, app.networks.keys().collect()),
            (Kind::Group, app.groups.keys().collect()),
        ];
        for (kind, names) in defined {
            for name in names {
                if kind.section() == "networks" && name == "default" {
                    continue;
                }
                if !used.contains(&(kind.section(), name.as_str())) {
                    self.at(
                        &format!("{}.{name}", kind.section()),
                        Diagnostic::warning(
                            codes::UNUSED,
                            format!("{} `{name}` is defined but no service uses it", kind.word()),
                        ),
                    );
                }
            }
        }
    }
}

fn mode_str(m: ServiceMode) -> &'static str {
    match m {
        ServiceMode::Replicated => "replicated",
        ServiceMode::Global => "global",
    }
}

fn has_health(h: Option<&Health>) -> bool {
    h.is_some_and(|h| !h.test.is_none())
}

// ---------------------------------------------------------------------------------------------
// Names

/// A kernel parameter of the IPC namespace (those docker and runc accept per container).
pub fn ipc_sysctl(k: &str) -> bool {
    matches!(
        k,
        "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
            | "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
    ) || k.starts_with("fs.mqueue.")
}

/// Why `name` is not a DNS label (RFC 1123, lower case), or None when it is one.
pub fn dns_label_problem(name: &str) -> Option<String> {
    label_problem(name, false)
}

/// Why `name` is not a fully qualified DNS name (labels of letters, digits, `-` and `_`, 1 to 63
/// characters each, 253 characters in all; a trailing dot is allowed), if it is not one.
pub fn dns_name_problem(name: &str) -> Option<String> {
    let n = name.strip_suffix('.').unwrap_or(name);
    if n.is_empty() {
        return Some("is empty".into());
    }
    if n.len() > 253 {
        return Some(format!("is {} characters long; the most is 253", n.len()));
    }
    for l in n.split('.') {
        if l.is_empty() {
            return Some("has an empty label (two dots in a row)".into());
        }
        if l.len() > 63 {
            return Some(format!(
                "has the label `{l}` of {} characters; the most is 63",
                l.len()
            ));
        }
        if let Some(c) = l
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Some(format!(
                "holds `{c}`: DNS labels take letters, digits, `-` and `_`"
            ));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Some(format!(
                "has the label `{l}`, which starts or ends with `-`"
            ));
        }
    }
    None
}

/// A DNS name with its trailing dot, lower-cased: how Route 53 compares names.
pub fn fqdn(name: &str) -> String {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    format!("{n}.")
}

/// Secret and config names: a DNS label that may also hold `_`.
fn secret_name_problem(name: &str) -> Option<String> {
    label_problem(name, true)
}

fn label_problem(name: &str, underscore: bool) -> Option<String> {
    let allowed = if underscore {
        "lower-case letters, digits, `-` and `_`"
    } else {
        "lower-case letters, digits and `-`"
    };
    if name.is_empty() {
        return Some("is empty; a name is 1 to 63 characters".into());
    }
    let len = name.chars().count();
    if len > 63 {
        return Some(format!("is {len} characters long; the most is 63"));
    }
    let ok = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (underscore && c == '_')
    };
    if let Some(bad) = name.chars().find(|c| !ok(*c)) {
        let what = if bad.is_ascii_uppercase() {
            "an upper-case letter".to_string()
        } else {
            format!("`{bad}`")
        };
        return Some(format!("holds {what}; a name holds only {allowed}"));
    }
    let edge = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !name.starts_with(edge) || !name.ends_with(edge) {
        return Some("must start and end with a letter or digit".into());
    }
    None
}

/// Why `name` is not a host name (DNS labels joined by dots), or None.
fn hostname_problem(name: &str) -> Option<String> {
    if name.len() > 253 {
        return Some("is longer than 253 characters".into());
    }
    name.split('.').find_map(dns_label_problem)
}

/// Network aliases are resolved by the container runtimes' DNS, which also answers names with
/// `_` (as compose's `db_1`) and is case-insensitive: letters, digits, `-`, `_` and dots.
fn alias_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 253 {
        return Some("must be 1 to 253 characters".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!(
            "holds `{bad}`; an alias holds letters, digits, `-`, `_` and `.`"
        ));
    }
    if name.split('.').any(str::is_empty) {
        return Some("has an empty part between dots".into());
    }
    None
}

/// A corrected name for the hint.
fn dns_hint(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let mut s: String = out.trim_matches('-').chars().take(63).collect();
    while s.ends_with('-') {
        s.pop();
    }
    (!s.is_empty() && s != name).then(|| format!("rename it to `{s}`"))
}

// ---------------------------------------------------------------------------------------------
// `${...}` references

/// The span of bytes `range` of `value`, when `span` (the whole value's) shows the value's text
/// verbatim: a plain or simply quoted one-line scalar, or a literal block (`|`) scalar.
fn narrow(span: Span, value: &str, range: std::ops::Range<usize>) -> Option<Span> {
    let before = value.get(..range.start)?;
    let part = value.get(range.clone())?;
    let part = part.split('\n').next().unwrap_or(part);
    let width = u32::try_from(part.chars().count()).ok()?;
    let chars = |s: &str| u32::try_from(s.chars().count()).ok();
    let (line, col) = if !value.contains('\n') {
        if span.line != span.end_line {
            return None;
        }
        let shown = span.end_col.checked_sub(span.col)?;
        let n = chars(value)?;
        let offset = if shown == n {
            0
        } else if shown == n + 2 && !value.contains(['"', '\\', '\'']) {
            1
        } else {
            return None;
        };
        (span.line, span.col + offset + chars(before)?)
    } else {
        let newlines = u32::try_from(value.matches('\n').count()).ok()?;
        let lines = span.end_line.checked_sub(span.line)?;
        let literal = if value.ends_with('\n') {
            lines == newlines
        } else {
            lines == newlines + 1
        };
        if !literal {
            return None;
        }
        let k = u32::try_from(before.matches('\n').count()).ok()?;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (span.line + k, span.col + chars(&before[line_start..])?)
    };
    Some(Span {
        line,
        col,
        end_line: line,
        end_col: col + width.max(1),
    })
}

/// A hint for an unclosed `${` followed by `rest`.
fn unclosed_hint(rest: &str) -> String {
    for kind in ["vms.", "services."] {
        if let Some(after) = rest.strip_prefix(kind)
            && let Some((name, _)) = after.split_once(".address")
            && !name.is_empty()
            && !name.contains(['.', ' '])
        {
            return format!("close it: `${{{kind}{name}.address}}`");
        }
    }
    "close it with `}`, or write `$${` for a literal `${`".into()
}

/// A hint for `${inner}`, which is not a known reference; `in_user_data` for cloud-init text,
/// where a shell variable is the likely intent.
fn reference_hint(inner: &str, in_user_data: bool) -> String {
    let parts: Vec<&str> = inner.split('.').collect();
    match parts.as_slice() {
        [kind, name, attr] => {
            let kind = did_you_mean(kind, ["vms", "services"]).unwrap_or(kind);
            if matches!(kind, "vms" | "services") {
                if *attr == "address" || did_you_mean(attr, ["address"]).is_some() {
                    return format!("did you mean `${{{kind}.{name}.address}}`?");
                }
                return format!("the only attribute is `address`: `${{{kind}.{name}.address}}`");
            }
        }
        [kind, name] if did_you_mean(kind, ["vms", "services"]).is_some() => {
            let kind = did_you_mean(kind, ["vms", "services"]).unwrap_or(kind);
            return format!("did you mean `${{{kind}.{name}.address}}`?");
        }
        _ => {}
    }
    // `VAR`, `VAR:-default`, `VAR?err`: an environment variable.
    let var: String = inner
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if in_user_data {
        return format!(
            "write `$${{{inner}}}` to hand `${{{inner}}}` to the script as it is; bridge only resolves `${{vms.NAME.address}}` and `${{services.NAME.address}}`"
        );
    }
    if !var.is_empty() {
        return format!(
            "bridge.yaml is not interpolated: write `${{services.NAME.address}}` or `${{vms.NAME.address}}` for an address, a secret with `env: {var}` for a value from the deploying environment, or `$${{{inner}}}` for the text itself"
        );
    }
    "the only references are `${vms.NAME.address}` and `${services.NAME.address}`; write `$${` for a literal `${`".into()
}

// ---------------------------------------------------------------------------------------------
// Placement constraints

/// Parse `<attribute> (==|!=) <value>`.
fn parse_constraint(c: &str) -> Result<(&str, &str, &str), String> {
    let ops: Vec<(usize, &str)> = c.match_indices("==").chain(c.match_indices("!=")).collect();
    let (at, op) = match ops.as_slice() {
        [one] => *one,
        [] => {
            return Err(if c.contains('=') {
                "the operator is `==` or `!=`".into()
            } else {
                "no `==` or `!=`".into()
            });
        }
        _ => return Err("more than one operator".into()),
    };
    let attr = c[..at].trim();
    let value = c[at + op.len()..].trim();
    if attr.is_empty() {
        return Err("the attribute is missing".into());
    }
    if value.is_empty() {
        return Err("the value is missing".into());
    }
    if !attr
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-' | '/'))
    {
        return Err(format!("`{attr}` is not an attribute"));
    }
    // Values may hold spaces (`engine.labels.operatingsystem == ubuntu 14.04` is valid on Swarm).
    Ok((attr, op, value))
}

// ---------------------------------------------------------------------------------------------
// Dependency graph

/// Service -> (dependency, field path of the edge); only edges to defined services.
type Graph<'a> = BTreeMap<&'a str, Vec<(String, String)>>;

fn dependency_graph(app: &App) -> Graph<'_> {
    let mut g: Graph<'_> = BTreeMap::new();
    for (name, s) in &app.services {
        let edges = g.entry(name.as_str()).or_default();
        for (i, d) in s.depends_on.iter().enumerate() {
            if d.service != *name && app.services.contains_key(&d.service) {
                edges.push((
                    d.service.clone(),
                    format!("services.{name}.depends_on[{i}]"),
                ));
            }
        }
        for (i, l) in s.links.iter().enumerate() {
            if l.service != *name && app.services.contains_key(&l.service) {
                edges.push((l.service.clone(), format!("services.{name}.links[{i}]")));
            }
        }
    }
    g
}

/// Strongly connected components (Tarjan), each sorted, in order of their smallest name.
/// Iterative, so a dependency chain of any length cannot overflow the stack.
fn strongly_connected(g: &Graph<'_>) -> Vec<Vec<String>> {
    let names: Vec<&str> = g.keys().copied().collect();
    let id: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let adj: Vec<Vec<usize>> = names
        .iter()
        .map(|n| {
            g.get(n)
                .map(|es| {
                    es.iter()
                        .filter_map(|(t, _)| id.get(t.as_str()).copied())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let n = names.len();
    let (mut index, mut low) = (vec![usize::MAX; n], vec![0usize; n]);
    let mut on = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0;
    let mut out: Vec<Vec<String>> = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (vertex, position in its edge list)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on[root] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if let Some(&w) = adj[v].get(*pos) {
                *pos += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on[w] = true;
                    work.push((w, 0));
                } else if on[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on[w] = false;
                    comp.push(names[w].to_string());
                    if w == v {
                        break;
                    }
                }
                comp.sort();
                out.push(comp);
            }
        }
    }
    out.sort();
    out
}

/// The shortest cycle through the smallest name of `scc`, as `[a, b, ..., a]`.
fn shortest_cycle(g: &Graph<'_>, scc: &[String]) -> Option<Vec<String>> {
    let start = scc.first()?;
    let inside: BTreeSet<&str> = scc.iter().map(String::as_str).collect();
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue: VecDeque<&str> = VecDeque::from([start.as_str()]);
    while let Some(v) = queue.pop_front() {
        let mut next: Vec<&str> = g
            .get(v)
            .map(|es| es.iter().map(|(t, _)| t.as_str()).collect())
            .unwrap_or_default();
        next.sort();
        next.dedup();
        for w in next {
            if !inside.contains(w) {
                continue;
            }
            if w == start {
                let mut path = vec![start.clone()];
                let mut cur = v;
                let mut rev = Vec::new();
                while cur != start {
                    rev.push(cur.to_string());
                    cur = prev.get(cur)?;
                }
                rev.reverse();
                path.extend(rev);
                path.push(start.clone());
                return Some(path);
            }
            if !prev.contains_key(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    None
}

/// Dependencies first; ties in name order. Assumes no cycles (any left over are appended).
fn topological_order(app: &App) -> Vec<String> {
    // Kahn's algorithm, always taking the smallest ready name: linear in the graph (times a
    // log for the ordered set), where rescanning for the next ready service was quadratic.
    let g = dependency_graph(app);
    let mut remaining: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (v, edges) in &g {
        let deps: BTreeSet<&str> = edges.iter().map(|(t, _)| t.as_str()).collect();
        remaining.insert(v, deps.len());
        for d in deps {
            dependents.entry(d).or_default().push(v);
        }
    }
    let mut ready: BTreeSet<&str> = remaining
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(v, _)| *v)
        .collect();
    let mut out = Vec::with_capacity(g.len());
    while let Some(v) = ready.pop_first() {
        remaining.remove(v);
        out.push(v.to_string());
        for w in dependents.get(v).map(Vec::as_slice).unwrap_or_default() {
            if let Some(n) = remaining.get_mut(w) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    ready.insert(w);
                }
            }
        }
    }
    // Services on a cycle (validation reports those) follow in name order.
    out.extend(remaining.keys().map(|v| v.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::load::{LoadOptions, load_str};

    fn load(yaml: &str) -> crate::Loaded {
        let opts = LoadOptions {
            env: Some(HashMap::new()),
            ..Default::default()
        };
        load_str(&Arc::from("t.yaml"), yaml, Path::new("."), &opts)
    }

    /// The (code, path) of every diagnostic.
    fn found(yaml: &str) -> Vec<(&'static str, String)> {
        load(yaml)
            .diagnostics
            .iter()
            .map(|d| (d.code, d.path.clone()))
            .collect()
    }

    #[test]
    fn aws_service_names_are_checked() {
        let y = |names: &str| {
            format!(
                "bridge: v1\nname: shop\nservices:\n  web: {{image: x}}\n  api: {{image: x, group: back}}\n  db: {{image: x, group: back}}\ngroups:\n  back: {{}}\nproviders:\n  aws:\n    services: {names}\n"
            )
        };
        let at = |f: &str| format!("providers.aws.services.{f}");
        assert_eq!(
            found(&y(
                "{web: {service_name: web, family: Web_1}, back: {family: b}}"
            )),
            []
        );
        // Not a group; a name ECS refuses; a name another group has (its own or bridge's).
        assert_eq!(found(&y("{api: {service_name: a}}")), [("E021", at("api"))]);
        assert_eq!(
            found(&y("{web: {service_name: 'web.1', family: ''}}")),
            [("E013", at("web.service_name")), ("E013", at("web.family"))]
        );
        assert_eq!(
            found(&y("{web: {family: shop-back}}")),
            [("E013", at("web.family"))]
        );
        assert_eq!(
            found(&y("{web: {service_name: s}, back: {service_name: s}}")),
            [
                ("E013", at("web.service_name")),
                ("E013", at("back.service_name"))
            ]
        );
        let l = load(&y("{web: {family: shop-back}}"));
        let d = &l.diagnostics.0[0];
        assert!(d.message.contains("group `back`"), "{}", d.message);
        assert!(d.span.is_some(), "no position: {d:?}");
    }

    #[test]
    fn cut_over_declarations_are_checked() {
        let y = |dns: &str| {
            format!(
                "bridge: v1\nname: a\nservices:\n  web: {{image: x}}\nmove:\n  cutover:\n    dns: {dns}\n"
            )
        };
        let ok = y(
            "{provider: aws, zone: Example.Internal, record: shop.example.internal., ttl: 0, component: web}",
        );
        assert!(found(&ok).is_empty(), "{:?}", found(&ok));
        for (dns, code, path) in [
            (
                "{provider: aws, zone: x.y., record: a.x.y., ttl: 2147483648, component: web}",
                codes::INVALID_VALUE,
                "move.cutover.dns.ttl",
            ),
            (
                "{provider: aws, zone: x.y., record: a.x.y., ttl: -1, component: web}",
                codes::INVALID_VALUE,
                "move.cutover.dns.ttl",
            ),
            (
                "{provider: aws, zone: x.y., record: a.z.y., component: web}",
                codes::INVALID_VALUE,
                "move.cutover.dns.record",
            ),
            (
                "{provider: aws, zone: 'x y.', record: a.x.y., component: web}",
                codes::INVALID_VALUE,
                "move.cutover.dns.zone",
            ),
            (
                "{provider: aws, zone: x.y., record: -a.x.y., component: web}",
                codes::INVALID_VALUE,
                "move.cutover.dns.record",
            ),
            (
                "{provider: aws, zone: x.y., record: a.x.y., component: db}",
                codes::DANGLING_REF,
                "move.cutover.dns.component",
            ),
            (
                "{provider: gcp, zone: x.y., record: a.x.y., component: web}",
                codes::INVALID_VALUE,
                "move.cutover.dns.provider",
            ),
            (
                "{provider: aws, zone: x.y., record: a.x.y., component: web, tll: 3}",
                codes::UNKNOWN_FIELD,
                "move.cutover.dns.tll",
            ),
        ] {
            let f = found(&y(dns));
            assert!(
                f.iter().any(|(c, p)| *c == code && p == path),
                "{dns}: {f:?}"
            );
        }
        assert_eq!(dns_name_problem("a.b."), None);
        assert!(dns_name_problem(&format!("{}.b", "x".repeat(64))).is_some());
        assert_eq!(fqdn("A.b"), "a.b.");
    }

    fn has(yaml: &str, code: &str, path: &str) {
        let f = found(yaml);
        assert!(
            f.iter().any(|(c, p)| *c == code && p == path),
            "expected {code} at {path}, found {f:?}"
        );
    }

    fn clean(yaml: &str) {
        let l = load(yaml);
        assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
        assert!(l.valid.is_some());
    }

    const HEAD: &str = "bridge: v1\nname: shop\n";

    fn app(body: &str) -> String {
        format!("{HEAD}{body}")
    }

    #[test]
    fn a_plain_app_is_valid() {
        clean(&app("services:\n  web:\n    image: nginx\n"));
    }

    #[test]
    fn names_are_dns_labels() {
        let y =
            "bridge: v1\nname: My_Shop\nservices:\n  Web:\n    image: nginx\n  ok:\n    image: x\n";
        has(y, codes::BAD_NAME, "name");
        has(y, codes::BAD_NAME, "services.Web");
        let l = load(y);
        assert!(
            l.diagnostics
                .iter()
                .any(|d| d.hint.as_deref() == Some("rename it to `my-shop`"))
        );
        assert!(dns_label_problem("a").is_none());
        assert!(dns_label_problem("web-1").is_none());
        assert!(dns_label_problem("-web").is_some());
        assert!(dns_label_problem("web-").is_some());
        assert!(dns_label_problem("").is_some());
        assert!(dns_label_problem(&"a".repeat(64)).is_some());
        assert!(dns_label_problem(&"a".repeat(63)).is_none());
        assert!(secret_name_problem("db_password").is_none());
        assert!(dns_label_problem("db_password").is_some());
        assert_eq!(dns_hint("Web__App_"), Some("rename it to `web-app`".into()));
    }

    #[test]
    fn every_section_name_is_checked() {
        let y = app(
            "services:\n  web:\n    image: x\n    networks: [Front]\n    volumes: ['Data:/d']\n    group: G1\nvms:\n  Db:\n    image: u\n    cpus: 1\n    memory: 1GiB\nvolumes:\n  Data: {}\nnetworks:\n  Front: {}\ngroups:\n  G1: {}\nsecrets:\n  Pw: {env: PW}\nconfigs:\n  C.1: {content: x}\n",
        );
        for p in [
            "vms.Db",
            "volumes.Data",
            "networks.Front",
            "groups.G1",
            "secrets.Pw",
        ] {
            has(&y, codes::BAD_NAME, p);
        }
    }

    #[test]
    fn a_service_and_a_vm_cannot_share_a_name() {
        let y = app(
            "services:\n  db:\n    image: x\nvms:\n  db:\n    image: u\n    cpus: 1\n    memory: 1GiB\n",
        );
        has(&y, codes::CONFLICT, "vms.db");
    }

    #[test]
    fn secret_names_differing_in_underscore_clash() {
        let y = app(
            "services:\n  web:\n    image: x\n    secrets: [a_b, a-b]\nsecrets:\n  a_b: {env: A}\n  a-b: {env: B}\n",
        );
        has(&y, codes::CONFLICT, "secrets.a_b");
    }

    #[test]
    fn dangling_references_suggest() {
        let y = app(
            "services:\n  web:\n    image: x\n    depends_on: [cahce]\n    links: [nope]\n    volumes: ['dat:/d']\n    secrets: [pw]\n    configs: [conf]\n    networks: [front, default]\n    group: g\n  cache:\n    image: redis\n",
        );
        has(&y, codes::DANGLING_REF, "services.web.depends_on[0]");
        has(&y, codes::DANGLING_REF, "services.web.links[0]");
        has(&y, codes::DANGLING_REF, "services.web.volumes[0]");
        has(&y, codes::DANGLING_REF, "services.web.secrets[0]");
        has(&y, codes::DANGLING_REF, "services.web.configs[0]");
        has(&y, codes::DANGLING_REF, "services.web.networks[0]");
        has(&y, codes::DANGLING_REF, "services.web.group");
        assert_eq!(found(&y).len(), 7, "{:?}", found(&y));
        let l = load(&y);
        assert!(
            l.diagnostics
                .iter()
                .any(|d| d.hint.as_deref() == Some("did you mean `cache`?"))
        );
    }

    #[test]
    fn an_optional_missing_dependency_is_a_warning() {
        let y = app(
            "services:\n  web:\n    image: x\n    depends_on: [{service: gone, required: false}]\n",
        );
        let l = load(&y);
        assert!(l.valid.is_some());
        assert_eq!(l.diagnostics.len(), 1);
    }

    #[test]
    fn a_service_never_depends_on_itself() {
        let y = app("services:\n  web:\n    image: x\n    depends_on: [web]\n");
        has(&y, codes::CYCLE, "services.web.depends_on[0]");
        let y = app("services:\n  web:\n    image: x\n    links: [web]\n");
        has(&y, codes::CYCLE, "services.web.links[0]");
    }

    #[test]
    fn cycles_are_shown_in_order() {
        let y = app(
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    links: [c]\n  c:\n    image: x\n    depends_on: [a]\n  d:\n    image: x\n    depends_on: [a]\n",
        );
        let l = load(&y);
        let cyc: Vec<&Diagnostic> = l
            .diagnostics
            .iter()
            .filter(|d| d.code == codes::CYCLE)
            .collect();
        assert_eq!(cyc.len(), 1);
        assert_eq!(cyc[0].message, "dependency cycle: a -> b -> c -> a");
        assert_eq!(cyc[0].path, "services.a.depends_on[0]");
    }

    #[test]
    fn two_separate_cycles_are_both_reported() {
        let y = app(
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n  c:\n    image: x\n    depends_on: [d]\n  d:\n    image: x\n    depends_on: [c]\n",
        );
        let l = load(&y);
        let msgs: Vec<&str> = l
            .diagnostics
            .iter()
            .filter(|d| d.code == codes::CYCLE)
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(
            msgs,
            [
                "dependency cycle: a -> b -> a",
                "dependency cycle: c -> d -> c"
            ]
        );
    }

    #[test]
    fn service_order_puts_dependencies_first() {
        let y = app(
            "services:\n  web:\n    image: x\n    depends_on: [api]\n  api:\n    image: x\n    depends_on: [db, cache]\n    links: [db]\n  db:\n    image: x\n  cache:\n    image: x\n  admin:\n    image: x\n",
        );
        let l = load(&y);
        let Some(v) = l.valid else {
            panic!("{:?}", l.diagnostics)
        };
        assert_eq!(v.service_order(), ["admin", "cache", "db", "api", "web"]);
    }

    #[test]
    fn healthy_needs_a_health_check() {
        let y = app(
            "services:\n  web:\n    image: x\n    depends_on: [{service: db, condition: service_healthy}]\n  db:\n    image: x\n",
        );
        // compose spelling is not the bridge one
        assert!(found(&y).iter().any(|(c, _)| *c == codes::INVALID_VALUE));
        let y = app(
            "services:\n  web:\n    image: x\n    depends_on: [{service: db, condition: healthy}, {service: c, condition: healthy}, {service: ok, condition: healthy}]\n  db:\n    image: x\n  c:\n    image: x\n    health: {test: [NONE]}\n  ok:\n    image: x\n    health: {test: 'true'}\n",
        );
        has(&y, codes::NO_HEALTH_CHECK, "services.web.depends_on[0]");
        has(&y, codes::NO_HEALTH_CHECK, "services.web.depends_on[1]");
        assert_eq!(found(&y).len(), 2);
    }

    #[test]
    fn references_in_env_and_user_data() {
        let y = app(
            "services:\n  web:\n    image: x\n    env:\n      A: ${vms.db.address}\n      B: ${services.api.address}\n      C: $${HOME}\n      D: ${HOME}\n      E: ${vms.nope.address}\n      F: ${vms.db.ip}\n      G: ${services.db.address}\n      H: 'x ${vms.db.address'\n  api:\n    image: x\nvms:\n  db:\n    image: u\n    cpus: 1\n    memory: 1GiB\n    user_data: 'echo ${HOST}'\n",
        );
        let f = found(&y);
        for (code, path) in [
            (codes::BAD_REFERENCE, "services.web.env.D"),
            (codes::DANGLING_REF, "services.web.env.E"),
            (codes::BAD_REFERENCE, "services.web.env.F"),
            (codes::DANGLING_REF, "services.web.env.G"),
            (codes::BAD_REFERENCE, "services.web.env.H"),
            (codes::BAD_REFERENCE, "vms.db.user_data"),
        ] {
            assert!(
                f.contains(&(code, path.to_string())),
                "{code} {path}: {f:?}"
            );
        }
        assert_eq!(f.len(), 6, "{f:?}");
    }

    #[test]
    fn unclosed_hint_closes_the_reference() {
        assert_eq!(
            unclosed_hint("services.api.address:80"),
            "close it: `${services.api.address}`"
        );
        assert!(reference_hint("HOME", true).starts_with("write `$${HOME}`"));
        assert!(reference_hint("DB:-x", false).contains("`env: DB`"));
        assert_eq!(
            reference_hint("vm.db.address", false),
            "did you mean `${vms.db.address}`?"
        );
    }

    #[test]
    fn narrow_finds_the_reference_only_when_the_text_is_verbatim() {
        let one = |line, col, end_col| Span {
            line,
            col,
            end_line: line,
            end_col,
        };
        // plain
        assert_eq!(narrow(one(3, 10, 16), "p ${z}", 2..6), Some(one(3, 12, 16)));
        // quoted
        assert_eq!(narrow(one(3, 10, 18), "q ${y}", 2..6), Some(one(3, 13, 17)));
        // quoted with escapes: unknown
        assert_eq!(narrow(one(3, 10, 20), "q\\ ${y}", 3..7), None);
        // literal block: second line
        let block = Span {
            line: 8,
            col: 9,
            end_line: 10,
            end_col: 7,
        };
        assert_eq!(narrow(block, "line1\n${x}\n", 6..10), Some(one(9, 9, 13)));
        // folded block: lines do not match
        let folded = Span {
            line: 8,
            col: 9,
            end_line: 11,
            end_col: 7,
        };
        assert_eq!(narrow(folded, "a ${x}\nb\n", 2..6), None);
    }

    #[test]
    fn duplicate_host_ports() {
        let y = app(
            "services:\n  web:\n    image: x\n    ports: ['80:8000', '80:8001', '53:53/udp']\n  api:\n    image: x\n    ports: ['80:9000', '53:53', '127.0.0.1:81:1', '127.0.0.2:81:1']\n  other:\n    image: x\n    provider: gce\n    ports: ['80:1']\nvms:\n  db:\n    image: u\n    cpus: 1\n    memory: 1GiB\n    ports: ['53:53/udp']\n",
        );
        let f = found(&y);
        let dups: Vec<&String> = f
            .iter()
            .filter(|(c, _)| *c == codes::DUPLICATE_HOST_PORT)
            .map(|(_, p)| p)
            .collect();
        // The first in the file owns the port; later ones are reported.
        assert_eq!(
            dups,
            ["services.web.ports[1]", "services.api.ports[0]"],
            "{f:?}"
        );
    }

    #[test]
    fn host_mode_ports_with_replicas_warn() {
        let y = app(
            "services:\n  web:\n    image: x\n    replicas: 2\n    ports: [{container: 80, published: 80, mode: host}]\n",
        );
        let l = load(&y);
        assert!(l.valid.is_some());
        assert_eq!(l.diagnostics.len(), 1);
    }

    #[test]
    fn resources() {
        let y = app(
            "services:\n  web:\n    image: x\n    resources: {cpus: 0.5, reserve_cpus: 1, memory: 256MiB, reserve_memory: 1GiB}\n  tiny:\n    image: x\n    resources: {cpus: 0, memory: 1MiB}\n",
        );
        has(
            &y,
            codes::RESERVATION_OVER_LIMIT,
            "services.web.resources.reserve_cpus",
        );
        has(
            &y,
            codes::RESERVATION_OVER_LIMIT,
            "services.web.resources.reserve_memory",
        );
        has(&y, codes::INVALID_VALUE, "services.tiny.resources.cpus");
        has(&y, codes::INVALID_VALUE, "services.tiny.resources.memory");
    }

    #[test]
    fn vm_resources() {
        let y = app("vms:\n  db:\n    image: ''\n    cpus: 0\n    memory: 0\n    disk: 0\n");
        for p in [
            "vms.db.image",
            "vms.db.cpus",
            "vms.db.memory",
            "vms.db.disk",
        ] {
            has(&y, codes::INVALID_VALUE, p);
        }
    }

    #[test]
    fn global_with_replicas() {
        let y = app("services:\n  web:\n    image: x\n    mode: global\n    replicas: 3\n");
        has(&y, codes::CONFLICT, "services.web.replicas");
        clean(&app("services:\n  web:\n    image: x\n    mode: global\n"));
    }

    #[test]
    fn secret_and_config_sources() {
        let y = app(
            "services:\n  web:\n    image: x\n    secrets: [a, b]\n    configs: [c, d]\nsecrets:\n  a: {env: A, file: ./a}\n  b: {}\nconfigs:\n  c: {content: x, external: true}\n  d: {}\n",
        );
        has(&y, codes::SECRET_SOURCE, "secrets.a.file");
        has(&y, codes::SECRET_SOURCE, "secrets.b");
        has(&y, codes::SECRET_SOURCE, "configs.c.external");
        has(&y, codes::SECRET_SOURCE, "configs.d");
    }

    #[test]
    fn env_names() {
        let y = app(
            "services:\n  web:\n    image: x\n    env: ['=x', 'A=1']\n    secrets: [{name: pw, env: 'B=C'}, {name: pw, env: A}]\nsecrets:\n  pw: {env: 'P=Q'}\n",
        );
        has(&y, codes::INVALID_VALUE, "services.web.env.");
        has(&y, codes::INVALID_VALUE, "services.web.secrets[0].env");
        has(&y, codes::INVALID_VALUE, "secrets.pw.env");
        has(&y, codes::CONFLICT, "services.web.secrets[1]");
    }

    #[test]
    fn constraints_and_spread() {
        let y = app(
            "services:\n  web:\n    image: x\n    placement:\n      spread: zones\n      max_per_host: 0\n      constraints: ['node.role == manager', 'node.labels.ssd = true', 'a == b == c', '== x', 'x !=']\n",
        );
        has(&y, codes::BAD_CONSTRAINT, "services.web.placement.spread");
        has(
            &y,
            codes::INVALID_VALUE,
            "services.web.placement.max_per_host",
        );
        for i in 1..5 {
            has(
                &y,
                codes::BAD_CONSTRAINT,
                &format!("services.web.placement.constraints[{i}]"),
            );
        }
        assert!(parse_constraint("node.labels.rack != r1").is_ok());
        assert!(parse_constraint("engine.labels.os==linux").is_ok());
        clean(&app(
            "services:\n  web:\n    image: x\n    placement: {spread: node.labels.rack}\n",
        ));
    }

    #[test]
    fn health_values() {
        let y = app(
            "services:\n  web:\n    image: x\n    health: {test: 'true', retries: 0, interval: 0s, timeout: 1us}\n  off:\n    image: x\n    health: {test: [NONE], interval: 5s}\n",
        );
        has(&y, codes::INVALID_VALUE, "services.web.health.retries");
        has(&y, codes::BAD_DURATION, "services.web.health.interval");
        has(&y, codes::BAD_DURATION, "services.web.health.timeout");
        has(&y, codes::NO_EFFECT, "services.off.health");
    }

    #[test]
    fn mounts() {
        let y = app(
            "services:\n  web:\n    image: x\n    volumes:\n      - /data\n      - ./d:/data/\n      - {type: tmpfs, source: x, target: /t}\n      - {type: bind, source: ./x, target: /b, size: 1MiB}\n",
        );
        has(&y, codes::BAD_MOUNT, "services.web.volumes[1]");
        has(&y, codes::BAD_MOUNT, "services.web.volumes[2]");
        has(&y, codes::NO_EFFECT, "services.web.volumes[3]");
    }

    #[test]
    fn empty_app() {
        has(&app(""), codes::EMPTY_APP, "services");
        has(&app("volumes: {a: {}}\n"), codes::EMPTY_APP, "services");
    }

    #[test]
    fn restart_attempts_without_on_failure() {
        let y = app("services:\n  web:\n    image: x\n    restart_max_attempts: 3\n");
        has(&y, codes::NO_EFFECT, "services.web.restart_max_attempts");
        assert!(load(&y).valid.is_some());
        clean(&app(
            "services:\n  web:\n    image: x\n    restart: on-failure\n    restart_max_attempts: 3\n",
        ));
    }

    #[test]
    fn unused_definitions_warn() {
        let y = app(
            "services:\n  web:\n    image: x\nsecrets:\n  pw: {env: PW}\nvolumes:\n  data: {}\n",
        );
        has(&y, codes::UNUSED, "secrets.pw");
        has(&y, codes::UNUSED, "volumes.data");
        assert!(load(&y).valid.is_some());
    }

    #[test]
    fn groups_share_provider_and_replicas() {
        let y = app(
            "services:\n  a:\n    image: x\n    group: g\n    replicas: 2\n  b:\n    image: x\n    group: g\ngroups:\n  g: {}\n",
        );
        has(&y, codes::CONFLICT, "services.b.group");
    }

    #[test]
    fn diagnostics_have_positions() {
        let y = app("services:\n  web:\n    image: x\n    depends_on: [db]\n");
        let l = load(&y);
        let Some(d) = l.diagnostics.iter().next() else {
            panic!("no diagnostic")
        };
        assert_eq!(d.file.as_deref(), Some("t.yaml"));
        assert_eq!(d.span.map(|s| (s.line, s.col)), Some((6, 18)));
    }

    #[test]
    fn no_location_works() {
        let a = App {
            bridge: crate::model::Version::V1,
            name: "x".into(),
            services: BTreeMap::from([("web".into(), crate::model::Service::default())]),
            vms: BTreeMap::new(),
            volumes: BTreeMap::new(),
            secrets: BTreeMap::new(),
            configs: BTreeMap::new(),
            networks: BTreeMap::new(),
            groups: BTreeMap::new(),
            providers: Default::default(),
            files: Default::default(),
            move_: None,
        };
        let r = validate(a, &NoLocation);
        let Err(ds) = r else {
            panic!("empty image accepted")
        };
        assert_eq!(ds.len(), 1);
    }
}
