//! cloud-init for container-VMs (GCE and Heat): per container a POSIX `sh` script that `exec`s
//! `docker run` with every value quoted by [`bridge_core::shell::quote`], and a systemd unit that
//! runs it. User values never reach systemd's own parser (which expands `$` and `%`): the unit only
//! names the script. `write_files` content is YAML-quoted by the serializer.

use std::collections::BTreeMap;
use std::sync::Arc;

use bridge_core::diag::Diagnostic;
use bridge_core::model::files;
use bridge_core::model::{App, DependencyCondition, MountKind, PortMode, RestartPolicy, Service};
use bridge_core::shell;
use serde::Serialize;

use crate::ledger::Ledger;

/// Where secrets are put on the VM before the containers start (tmpfs, root only).
pub const SECRETS_DIR: &str = "/run/bridge/secrets";
/// Where the scripts live.
pub const SCRIPTS_DIR: &str = "/etc/bridge";

/// The container name on the VM.
pub fn container_name(app: &str, svc: &str) -> String {
    format!("{app}-{svc}")
}

/// The docker network on the VM.
pub fn network_name(app: &str) -> String {
    format!("{app}-net")
}

/// What differs from host to host in the generated docker commands. The default is plain docker:
/// every named volume is a docker volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOptions {
    /// Named volumes kept in a host directory (say, a disk the host mounts) instead of a docker
    /// volume: volume name to the absolute host path, bound into the container.
    pub volume_paths: BTreeMap<String, String>,
    /// [`link_aliases`] of the app, computed once by a caller that renders many services (the
    /// scan is over every service); None computes it per call.
    pub link_aliases: Option<Arc<BTreeMap<String, Vec<String>>>>,
    /// The hosts have no GPUs: `--gpus` is left out, and the translator reports the field (a
    /// `--gpus` request fails on such a host, so the container would never start).
    pub no_gpus: bool,
    /// Services of the app that run on other VMs (not on this one), each with the addresses of
    /// the VMs running it: IP addresses, DNS names the VM resolves, or template tokens a template
    /// engine replaces with addresses. Written by [`peers_file`] to [`PEERS_FILE`]; every
    /// container script reads it at start (see [`run_script_with_peers`]).
    pub peers: BTreeMap<String, Vec<String>>,
    /// [`service_names`] of every service of the whole app, for a caller whose `app` holds only
    /// this VM's services; None computes them from `app`.
    pub names: Option<Arc<BTreeMap<String, Vec<String>>>>,
    /// Per service of `peers`: how the VM keeps its addresses current in the running containers
    /// (it runs [`refresh_script`] when they change), for the ledger line of [`peers_file`]; a
    /// service not in it has its addresses read when each container starts.
    pub peers_follow: BTreeMap<String, String>,
    /// [`namespace_sharers`] of the app, computed once by a caller that renders many services
    /// (finding them is a scan over every service, issue 15); None computes them per call.
    pub sharers: Option<Arc<BTreeMap<String, Vec<String>>>>,
}

/// [`service_names`] of every service of `app`.
pub fn all_service_names(app: &App) -> BTreeMap<String, Vec<String>> {
    let aliases = link_aliases(app);
    let sharers = namespace_sharers(app);
    app.services
        .keys()
        .map(|s| (s.clone(), names_with(app, s, &aliases, &sharers)))
        .collect()
}

/// Per service owning a network namespace that others join (`network_of`), those services, in
/// name order: one pass over the app, so a caller rendering every service does not scan every
/// service for each one.
pub fn namespace_sharers(app: &App) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, o) in &app.services {
        if o.network_of.is_some() {
            let owner = namespace_owner(app, n);
            if owner != n {
                out.entry(owner.to_string()).or_default().push(n.clone());
            }
        }
    }
    out
}

/// The hosts entries for names that run on other VMs: one line per name, `name address...`.
pub const PEERS_FILE: &str = "/etc/bridge/peers";

/// The names a service answers to on the app's network: its own, its aliases, the aliases other
/// services link to it by, and the services sharing its network namespace (with their aliases).
pub fn service_names(
    app: &App,
    svc: &str,
    link_aliases: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    names_with(app, svc, link_aliases, &namespace_sharers(app))
}

/// [`service_names`] with the app's [`namespace_sharers`] computed once.
fn names_with(
    app: &App,
    svc: &str,
    link_aliases: &BTreeMap<String, Vec<String>>,
    sharers: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = vec![svc.to_string()];
    if let Some(s) = app.services.get(svc) {
        out.extend(s.aliases.iter().cloned());
    }
    out.extend(link_aliases.get(svc).cloned().unwrap_or_default());
    for n in sharers.get(svc).into_iter().flatten() {
        if let Some(o) = app.services.get(n) {
            out.push(n.clone());
            out.extend(o.aliases.iter().cloned());
        }
    }
    out
}

/// The [`PEERS_FILE`] of a VM running `services`: for every service in `host.peers` (running
/// elsewhere), each of its names (see [`service_names`]) not also a name of a container here,
/// with the addresses of the VMs running it. The ledger line saying the name resolves across VMs
/// is written here, beside the entries. None when no name needs an entry.
pub fn peers_file(
    app: &App,
    services: &[&str],
    host: &HostOptions,
    ledger: &mut Ledger,
) -> Option<WriteFile> {
    if host.peers.is_empty() {
        return None;
    }
    let computed;
    let names_of: &BTreeMap<String, Vec<String>> = match &host.names {
        Some(m) => m,
        None => {
            computed = all_service_names(app);
            &computed
        }
    };
    // Borrowed, not copied: this runs once per (VM, service elsewhere) pair, issue 15.
    fn names<'a>(names_of: &'a BTreeMap<String, Vec<String>>, s: &'a str) -> Vec<&'a str> {
        match names_of.get(s) {
            Some(ns) => ns.iter().map(String::as_str).collect(),
            None => vec![s],
        }
    }
    // A name with a container here resolves to it on the VM's docker network (docker's DNS).
    let local: std::collections::BTreeSet<&str> =
        services.iter().flat_map(|s| names(names_of, s)).collect();
    let mut lines = String::new();
    // The ledger line of each service, written into reused buffers and stored only when it
    // differs from the one already there (every VM writes the same line for most services).
    let mut field = String::new();
    let mut reason = String::new();
    for (svc, addrs) in &host.peers {
        if addrs.is_empty() || services.contains(&svc.as_str()) {
            continue;
        }
        let mut ns = names(names_of, svc);
        ns.retain(|n| !local.contains(n));
        if ns.is_empty() {
            continue;
        }
        for n in &ns {
            lines.push_str(n);
            for a in addrs {
                lines.push(' ');
                lines.push_str(a);
            }
            lines.push('\n');
        }
        let follow = host
            .peers_follow
            .get(svc)
            .map_or("read when each container starts", String::as_str);
        field.clear();
        field.push_str("services.");
        field.push_str(svc);
        field.push_str(".name");
        reason.clear();
        reason.push_str("resolves from every container of the app: on its own VM through the docker network, from other VMs through hosts entries (the addresses of the VMs running it, ");
        reason.push_str(follow);
        reason.push_str("); across VMs only ports published on their own number are reachable");
        ledger.claimed_unless_same(
            &field,
            crate::claims::Claim::ResolvesNamesAcrossVms,
            &reason,
        );
    }
    if lines.is_empty() {
        return None;
    }
    Some(WriteFile {
        path: PEERS_FILE.into(),
        permissions: "0644".into(),
        content: format!("# written by bridge: names of the app that run on other VMs\n{lines}"),
    })
}

/// Per linked service, the aliases other services link to it by, in service then link order.
pub fn link_aliases(app: &App) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in app.services.values() {
        for l in &o.links {
            if let Some(al) = &l.alias {
                out.entry(l.service.clone()).or_default().push(al.clone());
            }
        }
    }
    out
}

/// The service whose network namespace `name` runs in: itself, or the end of its `network_of`
/// chain (validation keeps the chain inside one group and without cycles back to `name`).
pub fn namespace_owner<'a>(app: &'a App, name: &'a str) -> &'a str {
    let mut cur = name;
    for _ in 0..app.services.len() {
        match app.services.get(cur).and_then(|s| s.network_of.as_deref()) {
            Some(next) if next != name => cur = next,
            _ => break,
        }
    }
    cur
}

/// The argv of `docker run` for one service (without the leading `docker`).
pub fn docker_run_args(app: &App, name: &str, s: &Service, ledger: &mut Ledger) -> Vec<String> {
    docker_run_args_on(app, name, s, &HostOptions::default(), ledger)
}

/// [`docker_run_args`] with per-host settings (named volumes bound from host paths).
pub fn docker_run_args_on(
    app: &App,
    name: &str,
    s: &Service,
    host: &HostOptions,
    ledger: &mut Ledger,
) -> Vec<String> {
    let p = |f: &str| format!("services.{name}.{f}");
    let mut a: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--name".into(),
        container_name(&app.name, name),
    ];
    // Services joining this one's network namespace (`network_of`): their names, aliases and
    // ports belong to this container, the one that owns the namespace.
    let computed;
    let sharer_names: &BTreeMap<String, Vec<String>> = match &host.sharers {
        Some(m) => m,
        None => {
            computed = namespace_sharers(app);
            &computed
        }
    };
    let sharers: Vec<(&String, &Service)> = sharer_names
        .get(name)
        .into_iter()
        .flatten()
        .filter_map(|n| app.services.get_key_value(n))
        .collect();
    if s.network_of.is_some() {
        let owner = namespace_owner(app, name);
        // docker refuses aliases, ports and names on a container network: they are the owner's.
        a.extend([
            "--network".into(),
            format!("container:{}", container_name(&app.name, owner)),
        ]);
        ledger.mapped(p("network_of"));
        if !s.aliases.is_empty() {
            ledger.mapped(p("aliases"));
        }
    } else {
        a.extend([
            "--network".into(),
            network_name(&app.name),
            "--network-alias".into(),
            name.to_string(),
        ]);
        for al in &s.aliases {
            a.extend(["--network-alias".into(), al.clone()]);
        }
        if !s.aliases.is_empty() {
            ledger.mapped(p("aliases"));
        }
        for (sn, o) in &sharers {
            a.extend(["--network-alias".into(), (*sn).clone()]);
            for al in &o.aliases {
                a.extend(["--network-alias".into(), al.clone()]);
            }
        }
    }
    // Links: the alias is added where the linked container runs; here only ordering.
    match &host.link_aliases {
        _ if s.network_of.is_some() => {}
        Some(map) => {
            for al in map.get(name).map(Vec::as_slice).unwrap_or_default() {
                a.extend(["--network-alias".into(), al.clone()]);
            }
        }
        None => {
            for al in link_aliases(app).remove(name).unwrap_or_default() {
                a.extend(["--network-alias".into(), al]);
            }
        }
    }
    if !s.links.is_empty() {
        ledger.approximated(p("links"), "a link alias becomes a network alias of the linked container on the host's docker network");
    }
    for (k, v) in &s.env.0 {
        a.extend(["--env".into(), format!("{k}={v}")]);
    }
    if !s.env.is_empty() {
        ledger.mapped(p("env"));
    }
    for (i, r) in s.secrets.iter().enumerate() {
        match &r.env {
            Some(_) => {
                a.extend(["--env-file".into(), format!("{SECRETS_DIR}/{}.env", r.name)]);
                ledger.mapped(format!("services.{name}.secrets[{i}].env"));
            }
            None => {
                let target = r
                    .file
                    .clone()
                    .unwrap_or_else(|| format!("/run/secrets/{}", r.name));
                a.extend([
                    "--volume".into(),
                    format!("{SECRETS_DIR}/{}:{target}:ro", r.name),
                ]);
                ledger.mapped(format!("services.{name}.secrets[{i}].file"));
            }
        }
        ledger.mapped(format!("services.{name}.secrets[{i}].name"));
        if r.uid.is_some() || r.gid.is_some() || r.mode.is_some() {
            ledger.mapped(format!("services.{name}.secrets[{i}].mode"));
        }
    }
    for (i, c) in s.configs.iter().enumerate() {
        let target = c.file.clone().unwrap_or_else(|| format!("/{}", c.name));
        a.extend([
            "--volume".into(),
            format!("{SCRIPTS_DIR}/configs/{}:{target}:ro", c.name),
        ]);
        ledger.mapped(format!("services.{name}.configs[{i}]"));
    }
    // A sharer's ports are published by the owner of the namespace.
    let own_ports: Vec<(Option<&String>, usize, &bridge_core::model::Port)> =
        if s.network_of.is_some() {
            Vec::new()
        } else {
            s.ports
                .iter()
                .enumerate()
                .map(|(i, pt)| (None, i, pt))
                .chain(sharers.iter().flat_map(|(sn, o)| {
                    o.ports
                        .iter()
                        .enumerate()
                        .map(move |(i, pt)| (Some(*sn), i, pt))
                }))
                .collect()
        };
    for (i, _) in s.ports.iter().enumerate() {
        if s.network_of.is_some() {
            ledger.approximated(
                format!("services.{name}.ports[{i}]"),
                "published by the container whose network this one shares",
            );
        }
    }
    for (who, i, pt) in own_ports {
        let svc_name = who.map_or(name, String::as_str);
        let mut spec = String::new();
        if let Some(ip) = &pt.host_ip {
            if ip.contains(':') {
                spec.push_str(&format!("[{ip}]:"));
            } else {
                spec.push_str(&format!("{ip}:"));
            }
        }
        if let Some(pb) = pt.published {
            spec.push_str(&format!("{pb}:"));
        } else if pt.host_ip.is_some() {
            spec.push(':');
        }
        spec.push_str(&format!("{}/{}", pt.container, pt.protocol.as_str()));
        a.extend(["--publish".into(), spec]);
        if who.is_none() {
            ledger.mapped(format!("services.{name}.ports[{i}]"));
        }
        if pt.mode == PortMode::Ingress && pt.published.is_some() {
            ledger.approximated(
                format!("services.{svc_name}.ports[{i}].mode"),
                "published on each VM running a replica; put a load balancer in front for one address",
            );
        }
    }
    if s.network_of.is_some() {
        for (f, set) in [
            ("expose", !s.expose.is_empty()),
            ("dns", !s.dns.is_empty()),
            ("dns_search", !s.dns_search.is_empty()),
            ("dns_opt", !s.dns_opt.is_empty()),
            ("extra_hosts", !s.extra_hosts.is_empty()),
        ] {
            if set {
                ledger.dropped(
                    p(f),
                    "a container sharing another's network uses that container's ports, resolver and hosts file (docker refuses its own)",
                );
            }
        }
    } else if !s.expose.is_empty() {
        for e in &s.expose {
            a.extend(["--expose".into(), e.to_string()]);
        }
        ledger.mapped(p("expose"));
    }
    for (i, m) in s.volumes.iter().enumerate() {
        match m.kind {
            MountKind::Tmpfs => {
                let mut spec = format!("type=tmpfs,destination={}", m.target);
                if let Some(sz) = m.size {
                    spec.push_str(&format!(",tmpfs-size={}", sz.0));
                }
                a.extend(["--mount".into(), spec]);
            }
            MountKind::Volume | MountKind::Bind => {
                let src = match (&m.source, m.kind) {
                    (Some(v), MountKind::Volume) => match host.volume_paths.get(v) {
                        Some(path) => path.clone(),
                        None => format!("{}-{v}", app.name),
                    },
                    (Some(_), _) if files::ships(m) => shipped_path(app, name, i, m),
                    (Some(path), _) => path.clone(),
                    (None, _) => String::new(),
                };
                let mut spec = if src.is_empty() {
                    m.target.clone()
                } else {
                    format!("{src}:{}", m.target)
                };
                if m.read_only {
                    spec.push_str(":ro");
                }
                a.extend(["--volume".into(), spec]);
            }
        }
        // A shipped bind's line comes from [`ship_files`], which writes its files.
        if !files::ships(m) {
            ledger.mapped(format!("services.{name}.volumes[{i}]"));
        }
    }
    let r = &s.resources;
    if let Some(c) = r.cpus {
        a.extend(["--cpus".into(), c.to_string()]);
        ledger.mapped(p("resources.cpus"));
    }
    if let Some(m) = r.memory {
        a.extend(["--memory".into(), m.0.to_string()]);
        ledger.mapped(p("resources.memory"));
    }
    if let Some(m) = r.reserve_memory {
        a.extend(["--memory-reservation".into(), m.0.to_string()]);
        ledger.mapped(p("resources.reserve_memory"));
    }
    if r.reserve_cpus.is_some() {
        ledger.approximated(
            p("resources.reserve_cpus"),
            "used to size and pack the VMs; docker has no cpu reservation",
        );
    }
    if let Some(n) = r.pids {
        a.extend(["--pids-limit".into(), n.to_string()]);
        ledger.mapped(p("resources.pids"));
    }
    if let Some(g) = r.gpus
        && !host.no_gpus
    {
        a.extend(["--gpus".into(), g.to_string()]);
        ledger.mapped(p("resources.gpus"));
    }
    if let Some(h) = &s.health {
        if h.test.is_none() {
            a.push("--no-healthcheck".into());
        } else {
            let cmd = match h.test.0.first().map(String::as_str) {
                Some("CMD-SHELL") => h.test.0.get(1).cloned().unwrap_or_default(),
                // docker run takes one string run by a shell: quote each word.
                _ => shell::join(&h.test.0[1.min(h.test.0.len())..]),
            };
            a.extend(["--health-cmd".into(), cmd]);
        }
        for (flag, d) in [
            ("--health-interval", h.interval),
            ("--health-timeout", h.timeout),
            ("--health-start-period", h.start_period),
            ("--health-start-interval", h.start_interval),
        ] {
            if let Some(d) = d {
                a.extend([flag.into(), d.to_string()]);
            }
        }
        if let Some(n) = h.retries {
            a.extend(["--health-retries".into(), n.to_string()]);
        }
        ledger.mapped(p("health"));
    }
    let opt =
        |a: &mut Vec<String>, ledger: &mut Ledger, flag: &str, field: &str, v: &Option<String>| {
            if let Some(v) = v {
                a.extend([flag.to_string(), v.clone()]);
                ledger.mapped(p(field));
            }
        };
    opt(&mut a, ledger, "--user", "user", &s.user);
    opt(&mut a, ledger, "--workdir", "working_dir", &s.working_dir);
    if s.network_of.is_none() {
        opt(&mut a, ledger, "--hostname", "hostname", &s.hostname);
        opt(&mut a, ledger, "--domainname", "domainname", &s.domainname);
    } else {
        for (f, v) in [("hostname", &s.hostname), ("domainname", &s.domainname)] {
            if v.is_some() {
                ledger.dropped(
                    p(f),
                    "a container sharing another's network has that container's host name (docker refuses one of its own)",
                );
            }
        }
    }
    opt(
        &mut a,
        ledger,
        "--stop-signal",
        "stop_signal",
        &s.stop_signal,
    );
    opt(&mut a, ledger, "--platform", "platform", &s.platform);
    if let Some(g) = s.stop_grace_period {
        a.extend(["--stop-timeout".into(), g.secs_ceil().to_string()]);
        ledger.mapped(p("stop_grace_period"));
    }
    for (flag, field, on) in [
        ("--init", "init", s.init),
        ("--read-only", "read_only", s.read_only),
        ("--privileged", "privileged", s.privileged),
        ("--tty", "tty", s.tty),
    ] {
        if on {
            a.push(flag.into());
            ledger.mapped(p(field));
        }
    }
    stdin_open(s, &p("stdin_open"), ledger);
    for (flag, field, list) in [
        ("--cap-add", "cap_add", &s.cap_add),
        ("--cap-drop", "cap_drop", &s.cap_drop),
        ("--group-add", "group_add", &s.group_add),
        ("--dns", "dns", &s.dns),
        ("--dns-search", "dns_search", &s.dns_search),
        ("--dns-option", "dns_opt", &s.dns_opt),
        ("--device", "devices", &s.devices),
    ] {
        if s.network_of.is_some() && flag.starts_with("--dns") {
            continue;
        }
        for v in list {
            a.extend([flag.into(), v.clone()]);
        }
        if !list.is_empty() {
            ledger.mapped(p(field));
        }
    }
    for (h, ip) in s.extra_hosts.iter().filter(|_| s.network_of.is_none()) {
        a.extend(["--add-host".into(), format!("{h}:{ip}")]);
    }
    if !s.extra_hosts.is_empty() && s.network_of.is_none() {
        ledger.mapped(p("extra_hosts"));
    }
    for (k, v) in &s.sysctls {
        a.extend(["--sysctl".into(), format!("{k}={v}")]);
    }
    if !s.sysctls.is_empty() {
        ledger.mapped(p("sysctls"));
    }
    for (k, u) in &s.ulimits {
        a.extend(["--ulimit".into(), format!("{k}={}:{}", u.soft, u.hard)]);
    }
    if !s.ulimits.is_empty() {
        ledger.mapped(p("ulimits"));
    }
    if let Some(sz) = s.shm_size {
        a.extend(["--shm-size".into(), sz.0.to_string()]);
        ledger.mapped(p("shm_size"));
    }
    if let Some(l) = &s.logging {
        if let Some(d) = &l.driver {
            a.extend(["--log-driver".into(), d.clone()]);
        }
        for (k, v) in &l.options {
            a.extend(["--log-opt".into(), format!("{k}={v}")]);
        }
        ledger.mapped(p("logging"));
    }
    if let Some(pp) = s.pull_policy {
        let v = match pp {
            bridge_core::model::PullPolicy::Always => "always",
            bridge_core::model::PullPolicy::Missing => "missing",
            bridge_core::model::PullPolicy::Never => "never",
        };
        a.extend(["--pull".into(), v.into()]);
        ledger.mapped(p("pull_policy"));
    }
    kernel_flags(name, s, &mut a, ledger);
    let mut labels: BTreeMap<String, String> = s.labels.clone();
    labels.insert("bridge.app".into(), app.name.clone());
    labels.insert("bridge.component".into(), format!("service/{name}"));
    for (k, v) in &labels {
        a.extend(["--label".into(), format!("{k}={v}")]);
    }
    if !s.labels.is_empty() {
        ledger.mapped(p("labels"));
    }
    // docker run --entrypoint takes one word; the rest of the entrypoint goes before the args.
    let mut tail: Vec<String> = Vec::new();
    if let Some(e) = &s.entrypoint {
        if let Some((first, rest)) = e.0.split_first() {
            a.extend(["--entrypoint".into(), first.clone()]);
            tail.extend(rest.iter().cloned());
        } else {
            a.extend(["--entrypoint".into(), String::new()]);
        }
        ledger.mapped(p("entrypoint"));
    }
    a.push(s.image.clone());
    ledger.mapped(p("image"));
    a.extend(tail);
    if let Some(c) = &s.command {
        a.extend(c.0.iter().cloned());
        ledger.mapped(p("command"));
    }
    a
}

/// Push `flag value` and mark the field mapped.
fn flag(a: &mut Vec<String>, ledger: &mut Ledger, field: String, flag: &str, v: String) {
    a.extend([flag.to_string(), v]);
    ledger.mapped(field);
}

/// The kernel and runtime settings compose has and `docker run` takes as they are: each key its
/// flag and its ledger line.
fn kernel_flags(name: &str, s: &Service, a: &mut Vec<String>, ledger: &mut Ledger) {
    let p = |f: &str| format!("services.{name}.{f}");
    if let Some(n) = s.cpu_shares {
        flag(a, ledger, p("cpu_shares"), "--cpu-shares", n.to_string());
    }
    if let Some(c) = &s.cpuset {
        flag(a, ledger, p("cpuset"), "--cpuset-cpus", c.clone());
    }
    for o in &s.security_opt {
        flag(a, ledger, p("security_opt"), "--security-opt", o.clone());
    }
    if let Some(v) = &s.pid {
        flag(a, ledger, p("pid"), "--pid", v.clone());
    }
    if let Some(v) = &s.ipc {
        flag(a, ledger, p("ipc"), "--ipc", v.clone());
    }
    if let Some(n) = s.mem_swappiness {
        flag(
            a,
            ledger,
            p("mem_swappiness"),
            "--memory-swappiness",
            n.to_string(),
        );
    }
    if let Some(m) = s.memswap_limit {
        if s.resources.memory.is_some() {
            flag(
                a,
                ledger,
                p("memswap_limit"),
                "--memory-swap",
                m.0.to_string(),
            );
        } else {
            // docker refuses --memory-swap without --memory.
            ledger.dropped(
                p("memswap_limit"),
                "docker takes a swap limit only beside a memory limit: set resources.memory too",
            );
        }
    }
    if let Some(n) = s.oom_score_adj {
        flag(
            a,
            ledger,
            p("oom_score_adj"),
            "--oom-score-adj",
            n.to_string(),
        );
    }
    if s.oom_kill_disable {
        a.push("--oom-kill-disable".into());
        ledger.mapped(p("oom_kill_disable"));
    }
    for r in &s.device_cgroup_rules {
        flag(
            a,
            ledger,
            p("device_cgroup_rules"),
            "--device-cgroup-rule",
            r.clone(),
        );
    }
    if let Some(m) = &s.mac_address {
        if s.network_of.is_some() {
            ledger.dropped(
                p("mac_address"),
                "a container sharing another's network has that container's MAC address",
            );
        } else {
            flag(a, ledger, p("mac_address"), "--mac-address", m.clone());
        }
    }
    if let Some(v) = &s.userns_mode {
        flag(a, ledger, p("userns_mode"), "--userns", v.clone());
    }
    if let Some(v) = &s.uts {
        flag(a, ledger, p("uts"), "--uts", v.clone());
    }
    for (k, v) in &s.storage_opt {
        flag(
            a,
            ledger,
            p("storage_opt"),
            "--storage-opt",
            format!("{k}={v}"),
        );
    }
    if let Some(v) = &s.runtime {
        flag(a, ledger, p("runtime"), "--runtime", v.clone());
    }
    if let Some(v) = &s.cgroup_parent {
        flag(a, ledger, p("cgroup_parent"), "--cgroup-parent", v.clone());
    }
    cgroup_blkio_socket_flags(name, s, a, ledger);
    if !s.annotations.is_empty() {
        // A refused flag would keep the container from starting at all.
        ledger.dropped(
            p("annotations"),
            "docker run --annotation needs Engine API 1.43 (Docker 24), which the VM's docker may not have (Debian's docker.io has 1.41)",
        );
    }
}

/// `cgroup`, `blkio_config` and `use_api_socket`: each the `docker run` flag compose passes the
/// Engine, and its ledger line.
fn cgroup_blkio_socket_flags(name: &str, s: &Service, a: &mut Vec<String>, ledger: &mut Ledger) {
    let p = |f: &str| format!("services.{name}.{f}");
    if let Some(c) = s.cgroup {
        flag(a, ledger, p("cgroup"), "--cgroupns", c.as_str().into());
    }
    blkio_flags(&s.blkio_config, &p("blkio_config"), a, ledger);
    if s.use_api_socket {
        flag(
            a,
            ledger,
            p("use_api_socket"),
            "--volume",
            format!("{API_SOCKET}:{API_SOCKET}"),
        );
    }
}

/// `blkio_config` as `docker run` takes it. Approximated, never mapped: the Engine discards a
/// weight (with a warning, and starts the container) where the kernel has no weight-based I/O
/// scheduler, and the device paths are the VM's, which docker refuses to start with if absent.
fn blkio_flags(
    b: &bridge_core::model::Blkio,
    field: &str,
    a: &mut Vec<String>,
    ledger: &mut Ledger,
) {
    if b.is_empty() {
        return;
    }
    if let Some(w) = b.weight {
        a.extend(["--blkio-weight".into(), w.to_string()]);
    }
    for (d, w) in &b.weight_device {
        a.extend(["--blkio-weight-device".into(), format!("{d}:{w}")]);
    }
    for (fl, m) in [
        ("--device-read-bps", &b.device_read_bps),
        ("--device-write-bps", &b.device_write_bps),
    ] {
        for (d, r) in m {
            a.extend([fl.into(), format!("{d}:{}", r.0)]);
        }
    }
    for (fl, m) in [
        ("--device-read-iops", &b.device_read_iops),
        ("--device-write-iops", &b.device_write_iops),
    ] {
        for (d, r) in m {
            a.extend([fl.into(), format!("{d}:{r}")]);
        }
    }
    let weighs = b.weight.is_some() || !b.weight_device.is_empty();
    let devices = !b.weight_device.is_empty()
        || !b.device_read_bps.is_empty()
        || !b.device_write_bps.is_empty()
        || !b.device_read_iops.is_empty()
        || !b.device_write_iops.is_empty();
    let mut why = Vec::new();
    if weighs {
        why.push("the Engine applies a block I/O weight only where the kernel has a weight-based I/O scheduler, else it discards it with a warning");
    }
    if devices {
        why.push("device paths are the VM's (GCE disks are /dev/sda or /dev/nvme0n1, OpenStack's /dev/vda): docker does not start the container if one is missing");
    }
    ledger.approximated(field, why.join("; "));
}

/// Where the Docker Engine's API socket is, on the VMs and swarm nodes and in the container
/// (`use_api_socket`).
pub const API_SOCKET: &str = "/var/run/docker.sock";

/// `stdin_open` under systemd: the unit's standard input is `/dev/null`, so `docker run
/// --interactive` would hand the container an EOF at once, and with `--tty` exit before starting
/// ("the input device is not a TTY"). No flag is rendered: with `tty` the container's input is its
/// terminal, which stays open with no writer; without, there is no input to keep open.
fn stdin_open(s: &Service, field: &str, ledger: &mut Ledger) {
    if !s.stdin_open {
        return;
    }
    if s.tty {
        ledger.approximated(
            field,
            "systemd has no input to attach: the container's input is its terminal (--tty), open but with no writer; --interactive would end it at once",
        );
    } else {
        ledger.dropped(
            field,
            "systemd has no input to attach (the unit's stdin is /dev/null): --interactive would hand the container EOF at once",
        );
    }
}

/// The `sh` script that runs one container in the foreground (systemd supervises it).
pub fn run_script(args: &[String]) -> String {
    format!(
        "#!/bin/sh\n# written by bridge: runs one container in the foreground\nexec docker {}\n",
        shell::join(args)
    )
}

/// The current addresses of the app's VMs, `instance address` per line, kept on the VM by a
/// provider's watcher (GCE: [`crate::gce::peers`]); looked up before DNS, by the first label of a
/// DNS name in [`PEERS_FILE`]. Absent on a VM without one: DNS alone.
pub const PEER_BOOK: &str = "/run/bridge/peer-addresses";

/// Where [`refresh_script`] is written.
pub const REFRESH_SCRIPT: &str = "/etc/bridge/peers-refresh.sh";
/// Where a provider's watcher script is written ([`follow_files`]).
pub const WATCH_SCRIPT: &str = "/etc/bridge/peers-watch.sh";
/// The watcher's systemd unit: it keeps [`PEER_BOOK`] current and runs [`refresh_script`].
pub const FOLLOW_UNIT: &str = "bridge-peers.service";

/// The files of a VM that follows its peers' addresses: [`refresh_script`], the provider's
/// `watch` script (it keeps [`PEER_BOOK`] and runs the refresh) and the unit running it.
pub fn follow_files(app: &str, watch: String) -> Vec<WriteFile> {
    vec![
        WriteFile {
            path: REFRESH_SCRIPT.into(),
            permissions: "0755".into(),
            content: refresh_script(app),
        },
        WriteFile {
            path: WATCH_SCRIPT.into(),
            permissions: "0755".into(),
            content: watch,
        },
        WriteFile {
            path: format!("/etc/systemd/system/{FOLLOW_UNIT}"),
            permissions: "0644".into(),
            content: format!(
                "[Unit]\nDescription=bridge: follow the addresses of the app's other VMs\nAfter=docker.service network-online.target\nWants=network-online.target\n\n[Service]\nExecStart=/bin/sh {WATCH_SCRIPT}\nRestart=always\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n"
            ),
        },
    ]
}

/// `sh` function `bridge_ip ADDRESS TRIES`: prints the IPs of an address of [`PEERS_FILE`], one
/// a line: an IP as it is, else the [`PEER_BOOK`] entry of its first DNS label (every address on
/// that line), else the VM's resolver; `TRIES` rounds a second apart. Prints nothing when none
/// answers. One text for both scripts that read the file, so a container's start and its
/// refresh agree.
fn resolve_fn() -> String {
    r#"bridge_ip() {
  case $1 in *[!0-9a-fA-F.:]*) ;; *[.:]*) echo "$1"; return ;; esac
  i=0
  while :; do
    ip=$(awk -v a="${1%%.*}" '$1 == a { for (j = 2; j <= NF; j++) print $j; exit }' BOOK 2>/dev/null)
    [ -n "$ip" ] || ip=$(getent hosts "$1" | awk 'NR == 1 { print $1 }')
    [ -n "$ip" ] && break
    i=$((i + 1)); [ "$i" -ge "$2" ] && break
    sleep 1
  done
  [ -n "$ip" ] && echo "$ip"
}
"#
    .replace("BOOK", PEER_BOOK)
}

/// [`run_script`] for a VM with a [`PEERS_FILE`]: before `docker run`, each address in the file
/// is turned into an `--add-host name:ip` (an IP as it is, an instance of [`PEER_BOOK`] at its
/// address there, a DNS name resolved by the VM, waiting up to 30 s for it to resolve), so the
/// names of containers on other VMs resolve in this one. A name that does not resolve is left
/// out with a message on stderr (the journal). A VM with a watcher keeps them current while the
/// container runs ([`refresh_script`]).
pub fn run_script_with_peers(args: &[String]) -> String {
    let rest = args.get(1..).unwrap_or_default();
    format!(
        "#!/bin/sh\n# written by bridge: runs one container in the foreground; names on other VMs from {PEERS_FILE}\n\
         {}\
         set --\n\
         if [ -r {PEERS_FILE} ]; then\n\
         while read -r name addrs; do\n  \
         case $name in ''|'#'*) continue ;; esac\n  \
         for a in $addrs; do\n    \
         ips=$(bridge_ip \"$a\" 30)\n    \
         [ -n \"$ips\" ] || echo \"bridge: $a ($name) does not resolve: left out\" >&2\n    \
         for ip in $ips; do set -- \"$@\" --add-host \"$name:$ip\"; done\n  \
         done\n\
         done < {PEERS_FILE}\n\
         fi\n\
         exec docker run \"$@\" {}\n",
        resolve_fn(),
        shell::join(rest)
    )
}

/// The script that makes the running containers of `app` on this VM follow [`PEERS_FILE`]: it
/// resolves each name as [`run_script_with_peers`] does (without waiting), and writes the
/// result into each container's hosts file (docker's `HostsPath`, bind-mounted as its
/// `/etc/hosts`) in place, so the inode, and so the container's view of it, stays: lines naming
/// a peer name are replaced, docker's own lines kept. A name that resolves nowhere keeps its old
/// lines. Run by a provider's watcher whenever the addresses may have changed.
pub fn refresh_script(app: &str) -> String {
    let label = shell::quote(&format!("bridge.app={app}"));
    format!(
        "#!/bin/sh\n# written by bridge: the names of {PEERS_FILE} written into the hosts file of each running container of the app, in place\n\
         {}\
         [ -r {PEERS_FILE} ] || exit 0\n\
         e=$(mktemp) || exit 1\n\
         trap 'rm -f \"$e\" \"$e.h\"' EXIT\n\
         while read -r name addrs; do\n  \
         case $name in ''|'#'*) continue ;; esac\n  \
         for a in $addrs; do\n    \
         ips=$(bridge_ip \"$a\" 1)\n    \
         [ -n \"$ips\" ] || echo \"bridge: $a ($name) does not resolve: kept as it was\" >&2\n    \
         for ip in $ips; do printf '%s\\t%s\\n' \"$ip\" \"$name\" >> \"$e\"; done\n  \
         done\n\
         done < {PEERS_FILE}\n\
         [ -s \"$e\" ] || exit 0\n\
         for c in $(docker ps -q --filter label={label}); do\n  \
         h=$(docker inspect -f '{{{{.HostsPath}}}}' \"$c\") || continue\n  \
         [ -f \"$h\" ] || continue\n  \
         awk -v e=\"$e\" 'BEGIN {{ while ((getline l < e) > 0) {{ split(l, f, \"\\t\"); n[f[2]] = 1; add[++k] = l }} }}\n    \
         /^[ \\t]*#/ {{ print; next }} {{ for (i = 2; i <= NF; i++) if ($i in n) next; print }}\n    \
         END {{ for (i = 1; i <= k; i++) print add[i] }}' \"$h\" > \"$e.h\" || continue\n  \
         if [ \"$(cat \"$e.h\")\" != \"$(cat \"$h\")\" ]; then cat \"$e.h\" > \"$h\" && echo \"bridge: hosts of $c updated\" >&2; fi\n\
         done\n",
        resolve_fn()
    )
}

/// [`run_script`] for a container joining `owner`'s network namespace: it first waits (up to a
/// minute) for that container to run, since systemd starts both units at once.
pub fn run_script_joining(args: &[String], owner: &str) -> String {
    let owner = shell::quote(owner);
    format!(
        "#!/bin/sh\n# written by bridge: runs one container in the foreground, in the network of {owner}\n\
         i=0\n\
         until [ \"$(docker inspect -f '{{{{.State.Running}}}}' {owner} 2>/dev/null)\" = true ]; do\n  \
         i=$((i + 1)); [ \"$i\" -gt 60 ] && exit 1; sleep 1\n\
         done\n\
         exec docker {}\n",
        shell::join(args)
    )
}

/// The script for a service's `post_start` or `pre_stop` hooks: waits (up to a minute) for the
/// container to run, then `docker exec`s each hook in order, stopping at the first failure.
pub fn hook_script(container: &str, hooks: &[bridge_core::model::Hook]) -> String {
    let c = shell::quote(container);
    let mut out = format!(
        "#!/bin/sh\n# written by bridge: lifecycle hooks run in {c}\nset -e\ni=0\n\
         until [ \"$(docker inspect -f '{{{{.State.Running}}}}' {c} 2>/dev/null)\" = true ]; do\n  \
         i=$((i + 1)); [ \"$i\" -gt 60 ] && exit 1; sleep 1\n\
         done\n"
    );
    for h in hooks {
        let mut a: Vec<String> = vec!["exec".into()];
        if let Some(u) = &h.user {
            a.extend(["--user".into(), u.clone()]);
        }
        if h.privileged {
            a.push("--privileged".into());
        }
        if let Some(w) = &h.working_dir {
            a.extend(["--workdir".into(), w.clone()]);
        }
        for (k, v) in &h.env {
            a.extend(["--env".into(), format!("{k}={v}")]);
        }
        a.push(container.to_string());
        a.extend(h.command.0.iter().cloned());
        out.push_str(&format!("docker {}\n", shell::join(&a)));
    }
    out
}

/// The systemd unit for one container. Only names (DNS labels) appear here.
pub fn unit(app: &App, name: &str, s: &Service, ledger: &mut Ledger) -> String {
    let restart = match s.restart {
        RestartPolicy::Always => "always",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Never => "no",
    };
    ledger.mapped(format!("services.{name}.restart"));
    let mut after = vec![
        "docker.service".to_string(),
        "bridge-setup.service".to_string(),
    ];
    let mut wants = Vec::new();
    let mut part_of = Vec::new();
    for (i, d) in s.depends_on.iter().enumerate() {
        let du = format!("{}-{}.service", app.name, d.service);
        after.push(du.clone());
        wants.push(du.clone());
        if d.restart {
            // Compose restarts this service when the dependency is restarted: systemd's PartOf.
            part_of.push(du);
            ledger.mapped(format!("services.{name}.depends_on[{i}].restart"));
        }
        if !d.required {
            ledger.mapped(format!("services.{name}.depends_on[{i}].required"));
        }
    }
    if !s.depends_on.is_empty() {
        if s.depends_on
            .iter()
            .any(|d| d.condition == DependencyCondition::Healthy)
        {
            ledger.claimed(
                format!("services.{name}.depends_on"),
                crate::claims::Claim::WaitsForHealthAcrossVms,
                "ordered by systemd on the same VM, which starts the container once the dependency's has started, not once it is healthy; a service_healthy dependency on another VM is waited for at deploy time",
            );
        } else {
            ledger.mapped(format!("services.{name}.depends_on"));
        }
        // Nothing waits for a dependency to exit: not systemd (a simple unit counts as started
        // once its process runs), not the driver (it waits for service_healthy only).
        for (i, d) in s.depends_on.iter().enumerate() {
            if d.condition == DependencyCondition::CompletedSuccessfully {
                ledger.approximated(
                    format!("services.{name}.depends_on[{i}].condition"),
                    "service_completed_successfully: the container starts once the dependency's container has started, not once it has exited successfully (its exit code is not checked)",
                );
            }
        }
    }
    let mut u = String::new();
    u.push_str(&format!(
        "[Unit]\nDescription=bridge {} {}\n",
        app.name, name
    ));
    u.push_str(&format!(
        "After={}\nRequires=docker.service\n",
        after.join(" ")
    ));
    if !wants.is_empty() {
        // Wants, not Requires: a missing or failed dependency does not stop this one.
        u.push_str(&format!("Wants={}\n", wants.join(" ")));
    }
    if !part_of.is_empty() {
        u.push_str(&format!("PartOf={}\n", part_of.join(" ")));
    }
    // Joining another container's network needs it running, and a new one of it.
    if s.network_of.is_some() {
        let unit = format!("{}-{}.service", app.name, namespace_owner(app, name));
        u.push_str(&format!("After={unit}\nRequires={unit}\nPartOf={unit}\n"));
    }
    if let (Some(n), Some(w)) = (s.restart_max_attempts, s.restart_window) {
        u.push_str(&format!(
            "StartLimitBurst={n}\nStartLimitIntervalSec={}\n",
            w.secs_ceil()
        ));
        ledger.mapped(format!("services.{name}.restart_max_attempts"));
        ledger.mapped(format!("services.{name}.restart_window"));
    } else if let Some(n) = s.restart_max_attempts {
        u.push_str(&format!("StartLimitBurst={n}\nStartLimitIntervalSec=0\n"));
        ledger.approximated(
            format!("services.{name}.restart_max_attempts"),
            "systemd counts attempts without a window",
        );
    }
    u.push_str("\n[Service]\n");
    u.push_str(&format!(
        "ExecStartPre=-/usr/bin/docker rm -f {}\n",
        container_name(&app.name, name)
    ));
    u.push_str(&format!("ExecStart=/bin/sh {SCRIPTS_DIR}/{name}.sh\n"));
    // Hooks: after the start, and before the stop (a failed pre_stop does not keep it running).
    if !s.post_start.is_empty() {
        u.push_str(&format!(
            "ExecStartPost=/bin/sh {SCRIPTS_DIR}/{name}.post-start.sh\n"
        ));
        ledger.mapped(format!("services.{name}.post_start"));
    }
    if !s.pre_stop.is_empty() {
        u.push_str(&format!(
            "ExecStop=-/bin/sh {SCRIPTS_DIR}/{name}.pre-stop.sh\n"
        ));
        ledger.mapped(format!("services.{name}.pre_stop"));
    }
    u.push_str(&format!(
        "ExecStop=/usr/bin/docker stop {}\n",
        container_name(&app.name, name)
    ));
    u.push_str(&format!("Restart={restart}\n"));
    if let Some(d) = s.restart_delay {
        u.push_str(&format!("RestartSec={}\n", d.secs_ceil().max(1)));
        ledger.mapped(format!("services.{name}.restart_delay"));
    }
    u.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    u
}

/// One file for cloud-init's `write_files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteFile {
    /// Absolute path on the VM.
    pub path: String,
    /// Octal permissions, e.g. `0755`.
    pub permissions: String,
    /// The content.
    pub content: String,
}

/// Where the project files of relative bind mounts are written on a VM.
pub const FILES_DIR: &str = "/var/lib/bridge/files";

/// The host path a relative bind mount `i` of service `name` is bound from: a directory under
/// [`FILES_DIR`] for a directory source, the file in it (named like the source) for a file.
pub fn shipped_path(app: &App, name: &str, i: usize, m: &bridge_core::model::Mount) -> String {
    let base = format!("{FILES_DIR}/{}/{name}/{i}", app.name);
    let is_dir = m
        .source
        .as_ref()
        .and_then(|src| app.files.0.get(src))
        .is_some_and(|f| f.dir);
    if is_dir {
        base
    } else {
        let file = files::base_name(m.source.as_deref().unwrap_or_default());
        format!("{base}/{file}")
    }
}

/// The errors of shipping service `name`'s relative bind sources (missing or unreadable,
/// placed at the volume entry), for the translator's diagnostics.
pub fn project_file_errors(app: &App, name: &str, s: &Service) -> Vec<Diagnostic> {
    s.volumes
        .iter()
        .enumerate()
        .filter(|(_, m)| files::ships(m))
        .filter_map(|(i, m)| app.files.get(name, i, m).err())
        .collect()
}

/// The shipped project files of the given services, largest first: (bind source, service,
/// mount index, bytes), so a size-limit error can name what fills the user data.
pub fn shipped_sizes(app: &App, services: &[&str]) -> Vec<(String, String, usize, u64)> {
    let mut out = Vec::new();
    for name in services {
        let Some(s) = app.services.get(*name) else {
            continue;
        };
        for (i, m) in s.volumes.iter().enumerate() {
            if let (true, Ok(f)) = (files::ships(m), app.files.get(name, i, m)) {
                out.push((
                    m.source.clone().unwrap_or_default(),
                    name.to_string(),
                    i,
                    f.size,
                ));
            }
        }
    }
    out.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.cmp(b)));
    out
}

/// A `write_files` item with base64 content (a binary project file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct EncodedFile {
    path: String,
    permissions: String,
    encoding: &'static str,
    content: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum FileItem {
    File(WriteFile),
    Encoded(EncodedFile),
    Placeholder(String),
}

/// The `write_files` items that ship service `name`'s relative bind sources to the VM under
/// [`FILES_DIR`] (text as is, anything else base64), bound from there by the `docker run` of
/// [`docker_run_args_on`]; writes the mounts' ledger lines.
fn ship_files(app: &App, name: &str, s: &Service, ledger: &mut Ledger) -> Vec<FileItem> {
    let mut out = Vec::new();
    for (i, m) in s.volumes.iter().enumerate() {
        if !files::ships(m) {
            continue;
        }
        let field = format!("services.{name}.volumes[{i}]");
        let Ok(pf) = app.files.get(name, i, m) else {
            ledger.dropped(
                field,
                "the bind source cannot be read, so nothing is shipped",
            );
            continue;
        };
        let host = shipped_path(app, name, i, m);
        for e in &pf.entries {
            let path = if pf.dir {
                format!("{host}/{}", e.rel)
            } else {
                host.clone()
            };
            out.push(match e.text() {
                Some(t) => FileItem::File(WriteFile {
                    path,
                    permissions: "0644".into(),
                    content: t.to_string(),
                }),
                None => FileItem::Encoded(EncodedFile {
                    path,
                    permissions: "0644".into(),
                    encoding: "b64",
                    content: crate::swarm::base64(&e.bytes),
                }),
            });
        }
        ledger.claimed(
            field,
            crate::claims::Claim::ShipsProjectFiles,
            "the files are written to the VM by cloud-init at first boot and bound from there: a change made in the container stays on that VM",
        );
    }
    out
}

/// Extra cloud-config for a host beyond its containers (Heat uses it; everything is optional and
/// an empty [`HostExtras`] renders exactly what [`cloud_config`] renders).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostExtras {
    /// Files for `write_files`, before the containers' own files.
    pub files: Vec<WriteFile>,
    /// Plain scalars placed as whole `write_files` items after `files`: placeholders that a
    /// template engine replaces with a JSON-encoded item (Heat's `str_replace` + `list_join`),
    /// so values only known at deploy time are quoted by the engine, never by string pasting.
    pub file_placeholders: Vec<String>,
    /// Packages to install before the containers start (e.g. `docker.io` on a generic image).
    pub packages: Vec<String>,
    /// `runcmd` entries (argv lists) run after docker and its network are up and before the
    /// docker volumes are created and the containers start (mounting block devices, for example).
    pub before_containers: Vec<Vec<String>>,
    /// `runcmd` entries (argv lists) run after the containers are started (Heat's health
    /// signal, for example).
    pub after_containers: Vec<Vec<String>>,
}

/// The `#cloud-config` document for a host running the given services: docker network, one
/// script and one unit per container, then start them. `extra` files (secrets fetched at boot,
/// configs) come first.
pub fn cloud_config(
    app: &App,
    services: &[&str],
    extra: Vec<WriteFile>,
    ledger: &mut Ledger,
) -> String {
    cloud_config_full(
        app,
        services,
        HostExtras {
            files: extra,
            ..HostExtras::default()
        },
        &HostOptions::default(),
        ledger,
    )
}

/// [`cloud_config`] with [`HostExtras`]: packages, placeholder items and
/// commands that run before the containers.
pub fn cloud_config_with(
    app: &App,
    services: &[&str],
    extras: HostExtras,
    ledger: &mut Ledger,
) -> String {
    cloud_config_full(app, services, extras, &HostOptions::default(), ledger)
}

/// [`cloud_config`] with per-host settings: named volumes in `host.volume_paths` are bound from
/// that host path and get no `docker volume create`.
pub fn cloud_config_on(
    app: &App,
    services: &[&str],
    extra: Vec<WriteFile>,
    host: &HostOptions,
    ledger: &mut Ledger,
) -> String {
    cloud_config_full(
        app,
        services,
        HostExtras {
            files: extra,
            ..HostExtras::default()
        },
        host,
        ledger,
    )
}

/// The general form: [`HostExtras`] and [`HostOptions`] together.
pub fn cloud_config_full(
    app: &App,
    services: &[&str],
    extras: HostExtras,
    host: &HostOptions,
    ledger: &mut Ledger,
) -> String {
    #[derive(Serialize)]
    struct Doc {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        packages: Vec<String>,
        write_files: Vec<FileItem>,
        runcmd: Vec<Vec<String>>,
    }
    let mut files: Vec<FileItem> = extras.files.into_iter().map(FileItem::File).collect();
    files.extend(
        extras
            .file_placeholders
            .into_iter()
            .map(FileItem::Placeholder),
    );
    let mut runcmd: Vec<Vec<String>> = vec![
        vec![
            "systemctl".into(),
            "enable".into(),
            "--now".into(),
            "docker".into(),
        ],
        vec![
            "sh".into(),
            "-c".into(),
            format!(
                "docker network inspect {0} >/dev/null 2>&1 || docker network create {0}",
                network_name(&app.name)
            ),
        ],
    ];
    let mut volumes: Vec<String> = Vec::new();
    let peers = peers_file(app, services, host, ledger);
    let with_peers = peers.is_some();
    if let Some(f) = peers {
        files.push(FileItem::File(f));
    }
    for name in services {
        let Some(s) = app.services.get(*name) else {
            continue;
        };
        for m in &s.volumes {
            if let (MountKind::Volume, Some(v)) = (m.kind, &m.source)
                && !host.volume_paths.contains_key(v)
            {
                volumes.push(format!("{}-{v}", app.name));
            }
        }
        let args = docker_run_args_on(app, name, s, host, ledger);
        files.extend(ship_files(app, name, s, ledger));
        let content = match &s.network_of {
            Some(_) => run_script_joining(
                &args,
                &container_name(&app.name, namespace_owner(app, name)),
            ),
            None if with_peers => run_script_with_peers(&args),
            None => run_script(&args),
        };
        files.push(FileItem::File(WriteFile {
            path: format!("{SCRIPTS_DIR}/{name}.sh"),
            permissions: "0755".into(),
            content,
        }));
        for (which, hooks) in [("post-start", &s.post_start), ("pre-stop", &s.pre_stop)] {
            if !hooks.is_empty() {
                files.push(FileItem::File(WriteFile {
                    path: format!("{SCRIPTS_DIR}/{name}.{which}.sh"),
                    permissions: "0755".into(),
                    content: hook_script(&container_name(&app.name, name), hooks),
                }));
            }
        }
        files.push(FileItem::File(WriteFile {
            path: format!("/etc/systemd/system/{}-{name}.service", app.name),
            permissions: "0644".into(),
            content: unit(app, name, s, ledger),
        }));
    }
    runcmd.extend(extras.before_containers);
    volumes.sort();
    volumes.dedup();
    for v in volumes {
        runcmd.push(vec!["docker".into(), "volume".into(), "create".into(), v]);
    }
    runcmd.push(vec!["systemctl".into(), "daemon-reload".into()]);
    for name in services {
        runcmd.push(vec![
            "systemctl".into(),
            "enable".into(),
            "--now".into(),
            format!("{}-{name}.service", app.name),
        ]);
    }
    runcmd.extend(extras.after_containers);
    let doc = Doc {
        packages: extras.packages,
        write_files: files,
        runcmd,
    };
    let body = serde_saphyr::to_string(&doc).unwrap_or_default();
    format!("#cloud-config\n{body}")
}
