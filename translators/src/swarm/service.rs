//! One neutral service as a Swarm ServiceSpec, with a ledger line for every field it sets.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard_stubs::models as api;
use bollard_stubs::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, GenericResourcesInner,
    GenericResourcesInnerDiscreteResourceSpec, HealthConfig, Limit, MountTmpfsOptions, MountType,
    NetworkAttachmentConfig, Platform, ResourceObject, ResourcesUlimits, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecConfigs, TaskSpecContainerSpecDnsConfig, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecSecrets, TaskSpecLogDriver, TaskSpecPlacement,
    TaskSpecPlacementPreferences, TaskSpecPlacementSpread, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use bridge_core::Diagnostics;
use bridge_core::diag::Diagnostic;
use bridge_core::model::*;
use bridge_core::units::Duration;

use super::{LABEL_SPEC_HASH, Sourced, SwarmService, ValueSource, labels, scoped, with_hash};
use crate::ledger::Ledger;

/// The engine's limit on one config's data (swarmkit refuses more).
pub const CONFIG_LIMIT: u64 = 500 * 1024;

/// A relative bind mount (`./conf/app.conf:/etc/app.conf:ro`) shipped as Swarm configs: one
/// config per file (a directory is expanded), named after the app and the content's hash so a
/// changed file is a new config and the service rolls onto it, labelled `bridge.app` so destroy
/// removes it once unused. Returns the service's references to them; writes the ledger line.
fn ship_bind(
    app: &App,
    name: &str,
    i: usize,
    m: &Mount,
    files: &mut Vec<Sourced<api::ConfigSpec>>,
    ledger: &mut Ledger,
    diags: &mut Diagnostics,
) -> Vec<TaskSpecContainerSpecConfigs> {
    let field = format!("services.{name}.volumes[{i}]");
    let src = m.source.clone().unwrap_or_default();
    let pf = match app.files.get(name, i, m) {
        Ok(pf) => pf,
        Err(d) => {
            ledger.dropped(
                &field,
                "the bind source cannot be read, so nothing is shipped",
            );
            diags.push(d);
            return Vec::new();
        }
    };
    let too_big = if pf.entries.is_empty() && pf.size > 0 {
        Some(pf.size)
    } else {
        pf.entries
            .iter()
            .map(|e| e.bytes.len() as u64)
            .find(|n| *n > CONFIG_LIMIT)
    };
    if let Some(size) = too_big {
        ledger.dropped(&field, "over the engine's size limit for one config");
        diags.push(bridge_core::model::files::too_large(
            pf,
            (name, i, &src),
            "one swarm config",
            size,
            CONFIG_LIMIT,
            "swarm keeps configs in its raft store, 500 KiB each: bake a large file into the image, or use a named volume",
        ));
        return Vec::new();
    }
    let mut refs = Vec::new();
    for e in &pf.entries {
        let hash = format!("{:016x}", bridge_core::hash::fnv1a64(&e.bytes));
        let config_name = format!("{}_file_{hash}", app.name);
        if !files
            .iter()
            .any(|f| f.spec.name.as_deref() == Some(config_name.as_str()))
        {
            let mut spec = api::ConfigSpec {
                name: Some(config_name.clone()),
                data: Some(super::base64(&e.bytes)),
                ..api::ConfigSpec::default()
            };
            let mut l = labels(&app.name, &format!("config/file-{hash}"));
            with_hash(&(&spec, &ValueSource::Inline), &mut l);
            spec.labels = Some(l);
            files.push(Sourced {
                spec,
                source: ValueSource::Inline,
            });
        }
        refs.push(TaskSpecContainerSpecConfigs {
            file: Some(api::TaskSpecContainerSpecFile1 {
                name: Some(e.target_in(&m.target)),
                uid: Some("0".into()),
                gid: Some("0".into()),
                mode: Some(0o444),
            }),
            config_name: Some(config_name),
            ..TaskSpecContainerSpecConfigs::default()
        });
    }
    if m.read_only {
        ledger.mapped(&field);
    } else {
        ledger.approximated(
            &field,
            "shipped as a swarm config per file: read-only in the container, and a change made there is not written back",
        );
    }
    refs
}

fn ns(d: &Duration) -> i64 {
    i64::try_from(d.0).unwrap_or(i64::MAX)
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Services in dependency order (depends_on and links first), ties broken by name: Kahn's
/// algorithm taking the smallest ready name, linear in the graph.
pub fn order(app: &App) -> Vec<String> {
    let mut remaining: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (n, s) in &app.services {
        let deps: BTreeSet<&str> = s
            .depends_on
            .iter()
            .map(|d| d.service.as_str())
            .chain(s.links.iter().map(|l| l.service.as_str()))
            .filter(|d| *d != n && app.services.contains_key(*d))
            .collect();
        remaining.insert(n.as_str(), deps.len());
        for d in deps {
            dependents.entry(d).or_default().push(n.as_str());
        }
    }
    let mut ready: BTreeSet<&str> = remaining
        .iter()
        .filter(|(_, c)| **c == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut out = Vec::with_capacity(app.services.len());
    while let Some(n) = ready.pop_first() {
        remaining.remove(n);
        out.push(n.to_string());
        for w in dependents.get(n).map(Vec::as_slice).unwrap_or_default() {
            if let Some(c) = remaining.get_mut(w) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    ready.insert(w);
                }
            }
        }
    }
    // A cycle (validation rejects these): the rest in name order.
    out.extend(remaining.keys().map(|n| n.to_string()));
    out
}

/// Build one service.
pub fn build(
    app: &App,
    name: &str,
    s: &Service,
    link_aliases: &BTreeMap<String, Vec<String>>,
    files: &mut Vec<Sourced<api::ConfigSpec>>,
    ledger: &mut Ledger,
    diags: &mut Diagnostics,
) -> SwarmService {
    let p = |f: &str| format!("services.{name}.{f}");
    let mut c = TaskSpecContainerSpec {
        image: Some(s.image.clone()),
        ..TaskSpecContainerSpec::default()
    };
    ledger.mapped(p("image"));

    // Swarm's Command replaces the image ENTRYPOINT and Args replaces CMD.
    if let Some(e) = &s.entrypoint {
        c.command = Some(e.0.clone());
        ledger.mapped(p("entrypoint"));
    }
    if let Some(cmd) = &s.command {
        c.args = Some(cmd.0.clone());
        ledger.mapped(p("command"));
    }

    let mut env: Vec<String> = s.env.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !s.env.is_empty() {
        if s.env
            .0
            .values()
            .any(|v| v.contains("${vms.") || v.contains("${services."))
        {
            ledger.claimed(
                p("env"),
                crate::claims::Claim::ResolvesAddressReferences,
                "address references are resolved by bridge at deploy time",
            );
        } else {
            ledger.mapped(p("env"));
        }
    }

    let mut secrets = Vec::new();
    for (i, r) in s.secrets.iter().enumerate() {
        let sec_name = app
            .secrets
            .get(&r.name)
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| scoped(&app.name, &r.name));
        let file = match (&r.env, &r.file) {
            (Some(var), _) => {
                let path = format!("/run/secrets/{}", r.name);
                env.push(format!("{var}_FILE={path}"));
                ledger.approximated(
                    format!("services.{name}.secrets[{i}].env"),
                    format!("swarm has no secret environment variables: mounted at {path} and {var}_FILE points to it; the image must read the file"),
                );
                diags.push(
                    Diagnostic::warning(
                        "T101",
                        format!(
                            "secret `{}` is a file on swarm, not the variable {var}",
                            r.name
                        ),
                    )
                    .with_path(format!("services.{name}.secrets[{i}]"))
                    .with_hint(format!(
                        "make the image read {var}_FILE, or use the file form"
                    )),
                );
                path
            }
            (None, Some(f)) => {
                ledger.mapped(format!("services.{name}.secrets[{i}].file"));
                f.clone()
            }
            (None, None) => r.name.clone(),
        };
        ledger.mapped(format!("services.{name}.secrets[{i}].name"));
        for (f, set) in [
            ("uid", r.uid.is_some()),
            ("gid", r.gid.is_some()),
            ("mode", r.mode.is_some()),
        ] {
            if set {
                ledger.mapped(format!("services.{name}.secrets[{i}].{f}"));
            }
        }
        secrets.push(TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(file),
                uid: Some(r.uid.clone().unwrap_or_else(|| "0".into())),
                gid: Some(r.gid.clone().unwrap_or_else(|| "0".into())),
                mode: Some(r.mode.unwrap_or(0o444)),
            }),
            secret_name: Some(sec_name),
            secret_id: None,
        });
    }
    if !secrets.is_empty() {
        c.secrets = Some(secrets);
    }
    let mut configs = Vec::new();
    for (i, r) in s.configs.iter().enumerate() {
        let cfg_name = app
            .configs
            .get(&r.name)
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| scoped(&app.name, &r.name));
        configs.push(TaskSpecContainerSpecConfigs {
            file: Some(api::TaskSpecContainerSpecFile1 {
                name: Some(r.file.clone().unwrap_or_else(|| format!("/{}", r.name))),
                uid: Some(r.uid.clone().unwrap_or_else(|| "0".into())),
                gid: Some(r.gid.clone().unwrap_or_else(|| "0".into())),
                mode: Some(r.mode.unwrap_or(0o444)),
            }),
            config_name: Some(cfg_name),
            ..TaskSpecContainerSpecConfigs::default()
        });
        ledger.mapped(format!("services.{name}.configs[{i}]"));
    }
    if !configs.is_empty() {
        c.configs = Some(configs);
    }
    if !env.is_empty() {
        env.sort();
        c.env = Some(env);
    }

    // Mounts, with shm_size as a tmpfs on /dev/shm.
    let mut mounts = Vec::new();
    for (i, m) in s.volumes.iter().enumerate() {
        if bridge_core::model::files::ships(m) {
            let refs = ship_bind(app, name, i, m, files, ledger, diags);
            c.configs.get_or_insert_with(Vec::new).extend(refs);
            continue;
        }
        let (typ, source) = match m.kind {
            MountKind::Volume => (
                MountType::VOLUME,
                m.source.as_ref().map(|v| {
                    app.volumes
                        .get(v)
                        .and_then(|d| d.name.clone())
                        .unwrap_or_else(|| scoped(&app.name, v))
                }),
            ),
            MountKind::Bind => {
                let src = m.source.clone().unwrap_or_default();
                if src.starts_with('/') {
                    ledger.approximated(
                        format!("services.{name}.volumes[{i}]"),
                        "a bind mount needs the path on every node that may run the task",
                    );
                } else {
                    // The engine refuses a relative source ("invalid mount config").
                    ledger.dropped(
                        format!("services.{name}.volumes[{i}]"),
                        "the engine takes only an absolute bind source",
                    );
                    diags.push(
                        Diagnostic::error(
                            "T107",
                            format!("the bind source `{src}` is relative: the engine refuses it, and a swarm node has no project directory to resolve it from"),
                        )
                        .with_path(format!("services.{name}.volumes[{i}]"))
                        .with_hint("write the absolute path on the node (docker compose resolves `./` from the compose file's directory), or use a config or a named volume"),
                    );
                }
                (MountType::BIND, m.source.clone())
            }
            MountKind::Tmpfs => (MountType::TMPFS, None),
        };
        if m.kind != MountKind::Bind {
            ledger.mapped(format!("services.{name}.volumes[{i}]"));
        }
        mounts.push(api::Mount {
            target: Some(m.target.clone()),
            source,
            typ: Some(typ),
            read_only: m.read_only.then_some(true),
            tmpfs_options: m.size.map(|sz| MountTmpfsOptions {
                size_bytes: Some(int(sz.0)),
                ..MountTmpfsOptions::default()
            }),
            ..api::Mount::default()
        });
    }
    if let Some(shm) = s.shm_size {
        mounts.push(api::Mount {
            target: Some("/dev/shm".into()),
            typ: Some(MountType::TMPFS),
            tmpfs_options: Some(MountTmpfsOptions {
                size_bytes: Some(int(shm.0)),
                ..MountTmpfsOptions::default()
            }),
            ..api::Mount::default()
        });
        ledger.approximated(
            p("shm_size"),
            "swarm services have no shm size: a tmpfs of that size is mounted on /dev/shm",
        );
    }
    if s.use_api_socket {
        mounts.push(api_socket_mount());
        ledger.mapped(p("use_api_socket"));
    }
    if !mounts.is_empty() {
        c.mounts = Some(mounts);
    }

    if let Some(h) = &s.health {
        c.health_check = Some(HealthConfig {
            test: Some(h.test.0.clone()),
            interval: h.interval.as_ref().map(ns),
            timeout: h.timeout.as_ref().map(ns),
            retries: h.retries.map(i64::from),
            start_period: h.start_period.as_ref().map(ns),
            start_interval: h.start_interval.as_ref().map(ns),
        });
        ledger.mapped(p("health"));
        if h.start_interval.is_some() {
            ledger.approximated(
                p("health.start_interval"),
                "engines before API 1.44 ignore start_interval",
            );
        }
    }

    macro_rules! simple {
        ($field:ident, $target:expr) => {
            if let Some(v) = &s.$field {
                $target = Some(v.clone());
                ledger.mapped(p(stringify!($field)));
            }
        };
    }
    simple!(user, c.user);
    simple!(working_dir, c.dir);
    simple!(hostname, c.hostname);
    simple!(stop_signal, c.stop_signal);
    if let Some(g) = &s.stop_grace_period {
        c.stop_grace_period = Some(ns(g));
        ledger.mapped(p("stop_grace_period"));
    }
    if s.domainname.is_some() {
        ledger.dropped(p("domainname"), "swarm services cannot set a domain name");
        diags.push(
            Diagnostic::warning(
                "T102",
                "swarm cannot set a container domain name; it is left out",
            )
            .with_path(p("domainname")),
        );
    }
    for (flag, set, target) in [
        ("init", s.init, &mut c.init),
        ("read_only", s.read_only, &mut c.read_only),
        ("tty", s.tty, &mut c.tty),
        ("stdin_open", s.stdin_open, &mut c.open_stdin),
    ] {
        if set {
            *target = Some(true);
            ledger.mapped(p(flag));
        }
    }
    if s.privileged {
        ledger.dropped(
            p("privileged"),
            "swarm services cannot run privileged containers",
        );
        diags.push(
            Diagnostic::warning(
                "T103",
                "swarm services cannot run privileged; the container runs unprivileged",
            )
            .with_path(p("privileged"))
            .with_hint("grant the capabilities it needs with cap_add instead"),
        );
    }
    security_opt(name, s, &mut c, ledger, diags);
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    c.capability_add = list(&s.cap_add);
    c.capability_drop = list(&s.cap_drop);
    c.groups = list(&s.group_add);
    for (f, v) in [
        ("cap_add", &s.cap_add),
        ("cap_drop", &s.cap_drop),
        ("group_add", &s.group_add),
    ] {
        if !v.is_empty() {
            ledger.mapped(p(f));
        }
    }
    if !s.dns.is_empty() || !s.dns_search.is_empty() || !s.dns_opt.is_empty() {
        c.dns_config = Some(TaskSpecContainerSpecDnsConfig {
            nameservers: list(&s.dns),
            search: list(&s.dns_search),
            options: list(&s.dns_opt),
        });
        for (f, v) in [
            ("dns", &s.dns),
            ("dns_search", &s.dns_search),
            ("dns_opt", &s.dns_opt),
        ] {
            if !v.is_empty() {
                ledger.mapped(p(f));
            }
        }
    }
    if !s.extra_hosts.is_empty() {
        c.hosts = Some(
            s.extra_hosts
                .iter()
                .map(|(h, ip)| format!("{ip} {h}"))
                .collect(),
        );
        ledger.mapped(p("extra_hosts"));
    }
    if !s.sysctls.is_empty() {
        c.sysctls = Some(s.sysctls.clone().into_iter().collect());
        ledger.mapped(p("sysctls"));
    }
    if !s.ulimits.is_empty() {
        c.ulimits = Some(
            s.ulimits
                .iter()
                .map(|(n, u)| ResourcesUlimits {
                    name: Some(n.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect(),
        );
        ledger.mapped(p("ulimits"));
    }
    if !s.devices.is_empty() {
        ledger.dropped(p("devices"), "swarm services cannot map host devices");
        diags.push(
            Diagnostic::warning(
                "T104",
                "swarm services cannot map host devices; they are left out",
            )
            .with_path(p("devices")),
        );
    }
    if !s.labels.is_empty() {
        c.labels = Some(s.labels.clone().into_iter().collect());
        ledger.mapped(p("labels"));
    }

    // Resources.
    let r = &s.resources;
    let mut res = TaskSpecResources::default();
    if r.cpus.is_some() || r.memory.is_some() || r.pids.is_some() {
        res.limits = Some(Limit {
            nano_cpus: r.cpus.map(|c| int(c.nano())),
            memory_bytes: r.memory.map(|m| int(m.0)),
            pids: r.pids.map(i64::from),
        });
    }
    if r.reserve_cpus.is_some() || r.reserve_memory.is_some() || r.gpus.is_some() {
        res.reservations = Some(ResourceObject {
            nano_cpus: r.reserve_cpus.map(|c| int(c.nano())),
            memory_bytes: r.reserve_memory.map(|m| int(m.0)),
            generic_resources: r.gpus.map(|g| {
                vec![GenericResourcesInner {
                    discrete_resource_spec: Some(GenericResourcesInnerDiscreteResourceSpec {
                        kind: Some("gpu".into()),
                        value: Some(i64::from(g)),
                    }),
                    named_resource_spec: None,
                }]
            }),
        });
    }
    for (f, set) in [
        ("resources.cpus", r.cpus.is_some()),
        ("resources.memory", r.memory.is_some()),
        ("resources.reserve_cpus", r.reserve_cpus.is_some()),
        ("resources.reserve_memory", r.reserve_memory.is_some()),
        ("resources.pids", r.pids.is_some()),
    ] {
        if set {
            ledger.mapped(p(f));
        }
    }
    if r.gpus.is_some() {
        ledger.approximated(
            p("resources.gpus"),
            "a generic resource `gpu`: nodes must advertise it in their engine configuration",
        );
    }

    let restart = TaskSpecRestartPolicy {
        condition: Some(match s.restart {
            RestartPolicy::Always => TaskSpecRestartPolicyConditionEnum::ANY,
            RestartPolicy::OnFailure => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
            RestartPolicy::Never => TaskSpecRestartPolicyConditionEnum::NONE,
        }),
        delay: s.restart_delay.as_ref().map(ns),
        max_attempts: s.restart_max_attempts.map(i64::from),
        window: s.restart_window.as_ref().map(ns),
    };
    ledger.mapped(p("restart"));
    for (f, set) in [
        ("restart_delay", s.restart_delay.is_some()),
        ("restart_max_attempts", s.restart_max_attempts.is_some()),
        ("restart_window", s.restart_window.is_some()),
    ] {
        if set {
            ledger.mapped(p(f));
        }
    }

    // Placement: constraints, spread, max per host, platform, and the group pin.
    // A group's own placement applies to each of its services (the group is one node here).
    let group_placement = s
        .group
        .as_ref()
        .and_then(|g| app.groups.get(g))
        .map(|g| &g.placement);
    let mut constraints = s.placement.constraints.clone();
    if !constraints.is_empty() {
        ledger.mapped(p("placement.constraints"));
    }
    if let (Some(gp), Some(g)) = (group_placement, &s.group) {
        for c in &gp.constraints {
            if !constraints.contains(c) {
                constraints.push(c.clone());
            }
        }
        if *gp != Placement::default() {
            ledger.approximated(
                format!("groups.{g}.placement"),
                "applied to each service of the group: constraints are added, spread and max_per_host hold per service",
            );
        }
    }
    for (f, set) in s.runtime_keys() {
        // use_api_socket is a bind mount (above), security_opt's SELinux labels Privileges.
        if set && f != "use_api_socket" && f != "security_opt" {
            ledger.dropped(
                p(f),
                "the Engine's service API (1.41) has no such field: swarm tasks run without it",
            );
        }
    }
    if let Some(o) = &s.network_of {
        ledger.dropped(
            p("network_of"),
            format!("a swarm service cannot join another's network namespace: it runs beside `{o}` on the app's network and reaches it by name, not on localhost"),
        );
    }
    if let Some(g) = &s.group {
        constraints.push(format!("node.labels.bridge.group.{}.{g} == true", app.name));
        ledger.claimed(
            p("group"),
            crate::claims::Claim::PinsGroupToOneNode,
            "swarm has no pods: the group's services are pinned to one node by a node label bridge sets; they do not share a network namespace",
        );
    }
    let spread = s
        .placement
        .spread
        .as_ref()
        .or_else(|| group_placement.and_then(|gp| gp.spread.as_ref()));
    let preferences = spread.and_then(|sp| {
        let descriptor = match sp.as_str() {
            "host" => None,
            "zone" => Some("node.labels.zone".to_string()),
            other => Some(other.to_string()),
        };
        ledger.mapped(p("placement.spread"));
        descriptor.map(|d| {
            vec![TaskSpecPlacementPreferences {
                spread: Some(TaskSpecPlacementSpread {
                    spread_descriptor: Some(d),
                }),
            }]
        })
    });
    let platforms = s.platform.as_ref().map(|pl| {
        ledger.mapped(p("platform"));
        let mut parts = pl.splitn(3, '/');
        let os = parts.next().map(str::to_string);
        let arch = parts.next().map(str::to_string);
        vec![Platform {
            os,
            architecture: arch,
        }]
    });
    if s.placement.max_per_host.is_some() {
        ledger.mapped(p("placement.max_per_host"));
    }
    let placement = TaskSpecPlacement {
        constraints: (!constraints.is_empty()).then_some(constraints),
        preferences,
        max_replicas: s
            .placement
            .max_per_host
            .or_else(|| group_placement.and_then(|gp| gp.max_per_host))
            .map(i64::from),
        platforms,
    };

    // Networks and aliases (links become aliases of the linked service, set on that service).
    let mut aliases: BTreeSet<String> = s.aliases.iter().cloned().collect();
    if !s.aliases.is_empty() {
        ledger.mapped(p("aliases"));
    }
    aliases.extend(link_aliases.get(name).into_iter().flatten().cloned());
    if !s.links.is_empty() {
        ledger.approximated(p("links"), "a link alias becomes a network alias of the linked service, visible to every service on the network");
    }
    let net_names: Vec<String> = if s.networks.is_empty() {
        vec!["default".into()]
    } else {
        s.networks.clone()
    };
    if !s.networks.is_empty() {
        ledger.mapped(p("networks"));
    }
    let networks: Vec<NetworkAttachmentConfig> = net_names
        .iter()
        .map(|n| NetworkAttachmentConfig {
            target: Some(
                app.networks
                    .get(n)
                    .and_then(|d| d.name.clone())
                    .unwrap_or_else(|| scoped(&app.name, n)),
            ),
            aliases: Some(
                std::iter::once(name.to_string())
                    .chain(aliases.iter().cloned())
                    .collect(),
            ),
            driver_opts: None,
        })
        .collect();

    let log_driver = s.logging.as_ref().map(|l| {
        ledger.mapped(p("logging"));
        TaskSpecLogDriver {
            name: l.driver.clone(),
            options: (!l.options.is_empty()).then(|| l.options.clone().into_iter().collect()),
        }
    });

    let task = TaskSpec {
        container_spec: Some(c),
        resources: (res != TaskSpecResources::default()).then_some(res),
        restart_policy: Some(restart),
        placement: Some(placement),
        networks: Some(networks),
        log_driver,
        ..TaskSpec::default()
    };

    let mode = match s.mode {
        ServiceMode::Replicated => {
            ledger.mapped(p("replicas"));
            ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(i64::from(s.replicas)),
                }),
                ..ServiceSpecMode::default()
            }
        }
        ServiceMode::Global => {
            ledger.mapped(p("mode"));
            ServiceSpecMode {
                global: Some(HashMap::new()),
                ..ServiceSpecMode::default()
            }
        }
    };

    let ports: Vec<EndpointPortConfig> = s
        .ports
        .iter()
        .enumerate()
        .map(|(idx, pt)| {
            ledger.mapped(format!("services.{name}.ports[{idx}]"));
            if pt.host_ip.is_some() {
                ledger.dropped(
                    format!("services.{name}.ports[{idx}].host_ip"),
                    "swarm publishes on every address of the node",
                );
                diags.push(
                    Diagnostic::warning(
                        "T105",
                        "swarm publishes ports on every address; the host address is left out",
                    )
                    .with_path(format!("services.{name}.ports[{idx}]")),
                );
            }
            if pt.app_protocol.is_some() {
                ledger.dropped(
                    format!("services.{name}.ports[{idx}].app_protocol"),
                    "swarm's endpoint has no application protocol",
                );
            }
            EndpointPortConfig {
                name: pt.name.clone(),
                protocol: Some(match pt.protocol {
                    Protocol::Tcp => EndpointPortConfigProtocolEnum::TCP,
                    Protocol::Udp => EndpointPortConfigProtocolEnum::UDP,
                    Protocol::Sctp => EndpointPortConfigProtocolEnum::SCTP,
                }),
                target_port: Some(i64::from(pt.container)),
                published_port: pt.published.map(i64::from),
                publish_mode: Some(match pt.mode {
                    PortMode::Ingress => EndpointPortConfigPublishModeEnum::INGRESS,
                    PortMode::Host => EndpointPortConfigPublishModeEnum::HOST,
                }),
            }
        })
        .collect();
    if !s.expose.is_empty() {
        ledger.mapped(p("expose"));
    }

    let update = |u: &UpdatePolicy, which: &str, ledger: &mut Ledger| {
        ledger.mapped(p(which));
        (
            u.parallelism.map(i64::from),
            u.delay.as_ref().map(ns),
            u.failure_action,
            u.monitor.as_ref().map(ns),
            u.max_failure_ratio,
            u.order,
        )
    };
    let update_config = s.update.as_ref().map(|u| {
        let (par, delay, fa, monitor, ratio, order) = update(u, "update", ledger);
        ServiceSpecUpdateConfig {
            parallelism: par,
            delay,
            failure_action: fa.map(|f| match f {
                FailureAction::Pause => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
                FailureAction::Continue => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
                FailureAction::Rollback => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
            }),
            monitor,
            max_failure_ratio: ratio,
            order: order.map(|o| match o {
                UpdateOrder::StopFirst => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
                UpdateOrder::StartFirst => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
            }),
        }
    });
    let rollback_config = s.rollback.as_ref().map(|u| {
        let (par, delay, fa, monitor, ratio, order) = update(u, "rollback", ledger);
        ServiceSpecRollbackConfig {
            parallelism: par,
            delay,
            failure_action: fa.map(|f| match f {
                FailureAction::Pause | FailureAction::Rollback => {
                    ServiceSpecRollbackConfigFailureActionEnum::PAUSE
                }
                FailureAction::Continue => ServiceSpecRollbackConfigFailureActionEnum::CONTINUE,
            }),
            monitor,
            max_failure_ratio: ratio,
            order: order.map(|o| match o {
                UpdateOrder::StopFirst => ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
                UpdateOrder::StartFirst => ServiceSpecRollbackConfigOrderEnum::START_FIRST,
            }),
        }
    });

    if !s.depends_on.is_empty() {
        ledger.claimed(
            p("depends_on"),
            crate::claims::Claim::WaitsForHealthyDependency,
            "swarm has no start order: bridge creates dependencies first and waits for them (for health with condition healthy); swarm's own restarts ignore it",
        );
    }
    if s.pull_policy.is_some() {
        ledger.approximated(
            p("pull_policy"),
            "swarm resolves the image digest at deploy; nodes pull when the digest is missing",
        );
    }
    if s.provider.is_some() {
        ledger.mapped(p("provider"));
    }

    let mut spec = ServiceSpec {
        name: Some(scoped(&app.name, name)),
        labels: None,
        task_template: Some(task),
        mode: Some(mode),
        update_config,
        rollback_config,
        networks: None,
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::VIP),
            ports: (!ports.is_empty()).then_some(ports),
        }),
    };
    let mut l = labels(&app.name, &format!("service/{name}"));
    l.extend(s.labels.clone());
    let hash = bridge_core::hash::spec_hash(&(&spec, &l));
    l.insert(LABEL_SPEC_HASH.to_string(), hash);
    spec.labels = Some(l);

    let after = s
        .depends_on
        .iter()
        .map(|d| {
            (
                d.service.clone(),
                d.condition == DependencyCondition::Healthy,
            )
        })
        .chain(s.links.iter().map(|l| (l.service.clone(), false)))
        .collect();
    SwarmService {
        component: name.to_string(),
        spec,
        after,
    }
}

/// One `security_opt` entry as an SELinux label: `label:type:T` or `label=type:T` (docker takes
/// either separator after `label`) gives `("type", "T")`, `label:disable` gives `("disable", "")`.
/// None for any other option, or a label part docker does not know.
fn selinux_label(opt: &str) -> Option<(&str, &str)> {
    let rest = opt
        .strip_prefix("label=")
        .or_else(|| opt.strip_prefix("label:"))?;
    if rest == "disable" {
        return Some(("disable", ""));
    }
    let (part, value) = rest.split_once(':')?;
    matches!(part, "user" | "role" | "type" | "level").then_some((part, value))
}

/// `security_opt` on Swarm: the Engine's service API (1.41) has the container's SELinux labels
/// (`Privileges.SELinuxContext`) and nothing else of it; the Engine discards `NoNewPrivileges`,
/// `Seccomp` and `AppArmor` (later API versions, which bollard-stubs has), so none is sent and
/// each other entry is reported.
fn security_opt(
    name: &str,
    s: &Service,
    c: &mut TaskSpecContainerSpec,
    ledger: &mut Ledger,
    diags: &mut Diagnostics,
) {
    if s.security_opt.is_empty() {
        return;
    }
    let field = format!("services.{name}.security_opt");
    // All five fields, as the Engine stores them, so that the stored spec reads back as sent.
    let mut ctx = api::TaskSpecContainerSpecPrivilegesSeLinuxContext {
        disable: Some(false),
        user: Some(String::new()),
        role: Some(String::new()),
        typ: Some(String::new()),
        level: Some(String::new()),
    };
    let mut labels = 0;
    let mut lost = Vec::new();
    for opt in &s.security_opt {
        match selinux_label(opt) {
            Some((part, value)) => {
                labels += 1;
                let v = Some(value.to_string());
                match part {
                    "disable" => ctx.disable = Some(true),
                    "user" => ctx.user = v,
                    "role" => ctx.role = v,
                    "type" => ctx.typ = v,
                    _ => ctx.level = v,
                }
            }
            None => lost.push(opt.as_str()),
        }
    }
    if labels > 0 {
        c.privileges = Some(api::TaskSpecContainerSpecPrivileges {
            se_linux_context: Some(ctx),
            ..api::TaskSpecContainerSpecPrivileges::default()
        });
    }
    if lost.is_empty() {
        ledger.mapped(&field);
        return;
    }
    let why = format!(
        "the Engine's service API (1.41) takes only SELinux labels (`label:...`) here: {} not carried",
        lost.join(", ")
    );
    if labels > 0 {
        ledger.approximated(&field, why.clone());
    } else {
        ledger.dropped(&field, why.clone());
    }
    diags.push(
        Diagnostic::warning("T108", why)
            .with_path(field)
            .with_hint("set them for every container in the nodes' daemon configuration (daemon.json `no-new-privileges`, `seccomp-profile`), or deploy to a VM target"),
    );
}

/// `use_api_socket`: the node's Engine socket, bound where the container expects it (each
/// swarm node runs an Engine, so the socket is there on every node).
fn api_socket_mount() -> api::Mount {
    let sock = crate::cloudinit::API_SOCKET;
    api::Mount {
        target: Some(sock.into()),
        source: Some(sock.into()),
        typ: Some(MountType::BIND),
        ..api::Mount::default()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use bridge_core::{LoadOptions, load_str};

    use super::*;
    use crate::{Fidelity, Translator};

    #[test]
    fn selinux_labels_in_both_spellings() {
        assert_eq!(
            selinux_label("label:type:svirt_t"),
            Some(("type", "svirt_t"))
        );
        assert_eq!(
            selinux_label("label=level:s0:c100,c200"),
            Some(("level", "s0:c100,c200"))
        );
        assert_eq!(selinux_label("label=user:u"), Some(("user", "u")));
        assert_eq!(selinux_label("label:role:r"), Some(("role", "r")));
        assert_eq!(selinux_label("label:disable"), Some(("disable", "")));
        assert_eq!(selinux_label("label:bogus:x"), None);
        assert_eq!(selinux_label("no-new-privileges:true"), None);
        assert_eq!(selinux_label("seccomp=unconfined"), None);
    }

    /// The context sent and the verdict: mapped when every entry is a label, approximated beside
    /// others (each reported, T108), dropped with no label and then no `Privileges` at all.
    #[test]
    fn security_opt_verdicts() {
        let run = |opts: &str| {
            let yaml = format!("services:\n  web:\n    image: x\n    security_opt: [{opts}]\n");
            let l = load_str(
                &Arc::from("compose.yaml"),
                &yaml,
                Path::new("."),
                &LoadOptions::default(),
            );
            let v = l.valid.unwrap_or_else(|| panic!("{:?}", l.diagnostics));
            let t = super::super::Swarm.translate(&v);
            let spec: serde_json::Value = t
                .artifacts
                .iter()
                .find(|a| a.path.starts_with("swarm/services/"))
                .and_then(|a| serde_json::from_str(&a.content).ok())
                .unwrap_or_default();
            let line = t
                .ledger
                .iter()
                .find(|e| e.field == "services.web.security_opt")
                .map(|e| (e.fidelity, e.reason.clone()))
                .unwrap_or_else(|| panic!("no line: {:?}", t.ledger));
            let t108 = t.diagnostics.iter().any(|d| d.code == "T108");
            (
                spec["TaskTemplate"]["ContainerSpec"]["Privileges"].clone(),
                line,
                t108,
            )
        };
        let (p, (f, _), warned) = run("'label:disable', 'label:type:svirt_t'");
        assert_eq!(p["SELinuxContext"]["Disable"], true, "{p}");
        assert_eq!(p["SELinuxContext"]["Type"], "svirt_t", "{p}");
        assert_eq!(f, Fidelity::Mapped);
        assert!(!warned);
        let (p, (f, why), warned) = run("'label=user:u', 'apparmor:unconfined'");
        assert_eq!(p["SELinuxContext"]["User"], "u", "{p}");
        assert_eq!(f, Fidelity::Approximated);
        assert!(why.contains("apparmor:unconfined"), "{why}");
        assert!(warned);
        let (p, (f, _), warned) = run("'no-new-privileges:true'");
        assert!(p.is_null(), "{p}");
        assert_eq!(f, Fidelity::Dropped);
        assert!(warned);
    }
}
