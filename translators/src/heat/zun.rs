//! `providers.openstack.containers: zun`: each service becomes `OS::Zun::Container` (a
//! `OS::Heat::ResourceGroup` of them for replicas) instead of servers running docker. Zun runs
//! each container with its own address, so ports are opened by security groups on the container
//! port; what Heat's Zun resource cannot express is dropped with a warning.

use std::collections::BTreeMap;

use bridge_core::diag::Diagnostic;
use bridge_core::model::{MountKind, PullPolicy, RestartPolicy, Service, ServiceMode};
use bridge_core::refs::RefKind;
use bridge_core::shell;
use serde_json::{Value, json};

use super::server::{port_rule, volume_resources};
use super::{Builder, TAG_SPEC_HASH, ident};

/// Every service as Zun containers.
pub(crate) fn build_all(b: &mut Builder<'_>, order: &[String]) {
    let mut users: BTreeMap<String, usize> = BTreeMap::new();
    for s in b.app.services.values() {
        for m in &s.volumes {
            if let (MountKind::Volume, Some(v)) = (m.kind, &m.source) {
                *users.entry(v.clone()).or_default() += s.replicas as usize;
            }
        }
    }
    volume_resources(b, &users);
    for name in order {
        let Some(s) = b.app.services.get(name).cloned() else {
            continue;
        };
        container(b, name, &s);
    }
}

/// Ledger `dropped` and a T410 warning.
fn drop(b: &mut Builder<'_>, name: &str, field: &str, reason: &str) {
    let path = format!("services.{name}.{field}");
    b.ledger.dropped(path.clone(), reason);
    b.diags.push(
        Diagnostic::warning(
            "T410",
            format!("service `{name}`: zun cannot express `{field}`: {reason}"),
        )
        .with_path(path)
        .with_hint("use the default `containers: docker` (servers running docker) for this app"),
    );
}

fn container(b: &mut Builder<'_>, name: &str, s: &Service) {
    let p = |f: &str| format!("services.{name}.{f}");
    let res = b.fresh(&format!("container_{name}"));
    let mut props = serde_json::Map::new();
    let cname = if s.replicas > 1 {
        format!("{}-{name}-%index%", b.app.name)
    } else {
        format!("{}-{name}", b.app.name)
    };
    props.insert("name".into(), json!(cname));
    props.insert("image".into(), json!(s.image));
    b.ledger.mapped(p("image"));
    let mut words: Vec<String> = Vec::new();
    if let Some(e) = &s.entrypoint {
        words.extend(e.0.iter().cloned());
        b.ledger.approximated(
            p("entrypoint"),
            "heat's zun container has no entrypoint: its words start the command (the image's own entrypoint still runs first)",
        );
        b.diags.push(
            Diagnostic::warning("T410", format!("service `{name}`: zun cannot replace the image's entrypoint; its words are put before the command"))
                .with_path(p("entrypoint"))
                .with_hint("build the image with the entrypoint you need"),
        );
    }
    if let Some(c) = &s.command {
        words.extend(c.0.iter().cloned());
        b.ledger.mapped(p("command"));
    }
    if !words.is_empty() {
        props.insert("command".into(), json!(shell::join(&words)));
    }
    // Environment: plain values, wired addresses, env secrets from hidden parameters.
    let mut env = serde_json::Map::new();
    for (k, v) in &s.env.0 {
        env.insert(k.clone(), env_value(b, &res, name, k, v));
    }
    if !s.env.is_empty() {
        b.ledger.mapped(p("env"));
    }
    for (i, r) in s.secrets.iter().enumerate() {
        let param = b.secret_params.get(&r.name).cloned();
        match (&r.env, param) {
            (Some(e), Some(param)) => {
                env.insert(e.clone(), json!({"get_param": param}));
                b.ledger.approximated(
                    format!("services.{name}.secrets[{i}].env"),
                    "a hidden heat parameter passed as a zun environment variable: readable through zun's api by the project",
                );
                b.ledger
                    .mapped(format!("services.{name}.secrets[{i}].name"));
            }
            _ => drop(
                b,
                name,
                &format!("secrets[{i}]"),
                "zun has no secret files; give the secret as `env:` instead",
            ),
        }
    }
    if !env.is_empty() {
        props.insert("environment".into(), Value::Object(env));
    }
    for (i, _) in s.configs.iter().enumerate() {
        drop(b, name, &format!("configs[{i}]"), "zun mounts no files");
    }
    let r = &s.resources;
    if let Some(c) = r.cpus {
        props.insert("cpu".into(), json!(c.as_f64()));
        b.ledger.mapped(p("resources.cpus"));
    }
    if let Some(m) = r.memory {
        props.insert("memory".into(), json!(m.0.div_ceil(1024 * 1024)));
        b.ledger.mapped(p("resources.memory"));
    }
    for (f, set) in [
        ("resources.reserve_cpus", r.reserve_cpus.is_some()),
        ("resources.reserve_memory", r.reserve_memory.is_some()),
        ("resources.pids", r.pids.is_some()),
        ("resources.gpus", r.gpus.is_some()),
    ] {
        if set {
            drop(
                b,
                name,
                f,
                "zun's container resource has only cpu and memory limits",
            );
        }
    }
    let restart = match s.restart {
        RestartPolicy::Always => "always".to_string(),
        RestartPolicy::Never => "no".to_string(),
        RestartPolicy::OnFailure => match s.restart_max_attempts {
            Some(n) => {
                b.ledger.mapped(p("restart_max_attempts"));
                format!("on-failure:{n}")
            }
            None => "on-failure".to_string(),
        },
    };
    props.insert("restart_policy".into(), json!(restart));
    b.ledger.mapped(p("restart"));
    if s.restart_max_attempts.is_some() && s.restart != RestartPolicy::OnFailure {
        drop(
            b,
            name,
            "restart_max_attempts",
            "zun counts attempts only with on-failure",
        );
    }
    for (f, set) in [
        ("restart_delay", s.restart_delay.is_some()),
        ("restart_window", s.restart_window.is_some()),
    ] {
        if set {
            drop(b, name, f, "zun's restart policy has no delay or window");
        }
    }
    if let Some(h) = &s.hostname {
        props.insert("hostname".into(), json!(h));
        b.ledger.mapped(p("hostname"));
    }
    if let Some(w) = &s.working_dir {
        props.insert("workdir".into(), json!(w));
        b.ledger.mapped(p("working_dir"));
    }
    if s.stdin_open {
        props.insert("interactive".into(), json!(true));
        b.ledger.mapped(p("stdin_open"));
    }
    if s.tty {
        props.insert("tty".into(), json!(true));
        b.ledger.mapped(p("tty"));
    }
    if let Some(pp) = s.pull_policy {
        let v = match pp {
            PullPolicy::Always => "always",
            PullPolicy::Missing => "ifnotpresent",
            PullPolicy::Never => "never",
        };
        props.insert("image_pull_policy".into(), json!(v));
        b.ledger.mapped(p("pull_policy"));
    }
    // Mounts: named volumes are cinder volumes.
    let mut mounts = Vec::new();
    for (i, m) in s.volumes.iter().enumerate() {
        match (m.kind, &m.source) {
            (MountKind::Volume, Some(v)) => {
                if let Some(id) = b.volume_ids.get(v).cloned() {
                    mounts.push(json!({"volume_id": id, "mount_path": m.target}));
                }
                if m.read_only {
                    b.ledger.approximated(
                        format!("services.{name}.volumes[{i}]"),
                        "zun mounts cinder volumes read-write",
                    );
                } else {
                    b.ledger.mapped(format!("services.{name}.volumes[{i}]"));
                }
            }
            _ => drop(
                b,
                name,
                &format!("volumes[{i}]"),
                "zun mounts cinder volumes only (no bind, tmpfs or anonymous volumes)",
            ),
        }
    }
    if !mounts.is_empty() {
        props.insert("mounts".into(), json!(mounts));
    }
    // Ports: the container has its own address; security groups open the container port.
    let mut rules = Vec::new();
    for (i, pt) in s.ports.iter().enumerate() {
        let field = format!("services.{name}.ports[{i}]");
        if pt.published.is_some() {
            rules.push(port_rule(pt.protocol.as_str(), pt.container));
        }
        if !b.opts.neutron {
            b.ledger.approximated(
                field,
                "the container port on the container's own address; without neutron no security group opens it",
            );
        } else if pt.published.is_some_and(|pb| pb != pt.container) {
            b.ledger.approximated(
                field,
                "zun gives the container its own address: the container port is opened, the published number is not used",
            );
        } else {
            b.ledger.mapped(field);
        }
    }
    if !s.expose.is_empty() {
        b.ledger.mapped(p("expose"));
    }
    let component = format!("service/{name}");
    let mut sgs = Vec::new();
    if let Some(sg) = b.internal_security_group() {
        sgs.push(json!({"get_resource": sg}));
    }
    if let Some(sg) = b.port_security_group(&res, &component, rules) {
        sgs.push(json!({"get_resource": sg}));
    }
    if !sgs.is_empty() {
        props.insert("security_groups".into(), json!(sgs));
    }
    if let Some(n) = b.networks() {
        // Zun's networks take `network` only; without neutron, leave the default.
        if b.opts.neutron || b.os.network.is_some() {
            props.insert("networks".into(), n);
        }
    }
    let mut labels = b.tags(&component);
    for (k, v) in &s.labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if !s.labels.is_empty() {
        b.ledger.mapped(p("labels"));
    }
    props.insert("labels".into(), json!(labels));
    let mut deps: Vec<String> = Vec::new();
    for d in &s.depends_on {
        if b.app.services.contains_key(&d.service) {
            deps.push(format!("container_{}", ident(&d.service)));
        }
    }
    if !s.depends_on.is_empty() {
        b.ledger.approximated(
            p("depends_on"),
            "heat creates the dependency's container first; health and completion are not waited for",
        );
    }
    if s.replicas != 1 {
        b.ledger.mapped(p("replicas"));
    }
    if s.mode == ServiceMode::Global {
        drop(
            b,
            name,
            "mode",
            "zun has no hosts to run one replica on each; one container runs",
        );
    }
    if s.provider.is_some() {
        b.ledger.mapped(p("provider"));
    }
    unsupported(b, name, s);
    let mut c = json!({"type": "OS::Zun::Container", "properties": props});
    let hash = bridge_core::hash::spec_hash(&c);
    c["properties"]["labels"][TAG_SPEC_HASH] = json!(hash);
    let mut resource = if s.replicas > 1 {
        json!({
            "type": "OS::Heat::ResourceGroup",
            "properties": {"count": s.replicas, "resource_def": c},
        })
    } else {
        c
    };
    if !deps.is_empty() {
        resource["depends_on"] = json!(deps);
    }
    b.resources.insert(res.clone(), resource);
    b.outputs.insert(
        format!("{res}_addresses"),
        json!({
            "description": format!("addresses of service {name}"),
            "value": {"get_attr": [res, "addresses"]},
        }),
    );
    b.hosts_of
        .entry(name.to_string())
        .or_default()
        .push((res, s.replicas > 1));
}

/// An env value with its `${...address}` references wired (`str_replace`) and `$${` unescaped.
fn env_value(b: &mut Builder<'_>, res: &str, svc: &str, key: &str, v: &str) -> Value {
    if !v.contains('$') {
        return json!(v);
    }
    let field = format!("services.{svc}.env.{key}");
    let mut params = serde_json::Map::new();
    let mut n = 0;
    let out = bridge_core::refs::substitute(v, |kind, name| {
        let value = match kind {
            RefKind::Vms => b.vm_address(res, name, &field),
            RefKind::Services => b.service_address_param(name),
        };
        n += 1;
        // `@` never occurs in a plain value here: every other `$` and `@` stays as is and
        // tokens are checked against the value below.
        let token = format!("@@{n}@@");
        params.insert(token.clone(), value);
        Some(token)
    });
    if params.is_empty() {
        return json!(out);
    }
    if params.keys().any(|t| v.contains(t.as_str())) {
        b.diags.push(
            Diagnostic::error(
                "T413",
                format!(
                    "service `{svc}`: env `{key}` holds text that looks like a bridge placeholder"
                ),
            )
            .with_path(field)
            .with_hint("remove `@@` from the value"),
        );
    }
    json!({"str_replace_strict": {"template": out, "params": params}})
}

/// Fields Heat's Zun container cannot carry: each dropped with a warning.
fn unsupported(b: &mut Builder<'_>, name: &str, s: &Service) {
    let set: [(&str, bool); 30] = [
        ("health", s.health.is_some()),
        ("network_of", s.network_of.is_some()),
        ("update", s.update.is_some()),
        ("rollback", s.rollback.is_some()),
        ("group", s.group.is_some()),
        ("placement.spread", s.placement.spread.is_some()),
        ("placement.constraints", !s.placement.constraints.is_empty()),
        ("placement.max_per_host", s.placement.max_per_host.is_some()),
        ("networks", !s.networks.is_empty()),
        ("aliases", !s.aliases.is_empty()),
        ("links", !s.links.is_empty()),
        ("user", s.user.is_some()),
        ("domainname", s.domainname.is_some()),
        ("stop_signal", s.stop_signal.is_some()),
        ("stop_grace_period", s.stop_grace_period.is_some()),
        ("init", s.init),
        ("read_only", s.read_only),
        ("privileged", s.privileged),
        ("cap_add", !s.cap_add.is_empty()),
        ("cap_drop", !s.cap_drop.is_empty()),
        ("group_add", !s.group_add.is_empty()),
        ("dns", !s.dns.is_empty()),
        ("dns_search", !s.dns_search.is_empty()),
        ("dns_opt", !s.dns_opt.is_empty()),
        ("extra_hosts", !s.extra_hosts.is_empty()),
        ("sysctls", !s.sysctls.is_empty()),
        ("ulimits", !s.ulimits.is_empty()),
        ("shm_size", s.shm_size.is_some()),
        ("devices", !s.devices.is_empty()),
        ("logging", s.logging.is_some()),
    ];
    for (f, on) in set.into_iter().chain(s.runtime_keys()) {
        if on {
            drop(b, name, f, "heat's OS::Zun::Container has no such property");
        }
    }
    if s.platform.is_some() {
        drop(
            b,
            name,
            "platform",
            "heat's OS::Zun::Container has no such property",
        );
    }
}
