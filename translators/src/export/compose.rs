//! An app written as a compose file (`bridge export --format compose`): every field compose
//! holds is written with the compose key the importer reads back to the same field; every
//! other set field (groups, vms, providers, a secret read as an environment variable...) is a
//! warning `X001` naming its path in the app. The written file imports back to the same app for
//! the fields both hold.

use bridge_core::codes;
use bridge_core::model::{
    App, DependencyCondition, MountKind, PullPolicy, RestartPolicy, Service, ServiceMode,
    UpdatePolicy,
};
use bridge_core::{Diagnostic, Severity};
use serde_json::{Map, Value, json};

/// The compose text and the fields it could not hold.
pub fn to_compose(app: &App) -> (String, Vec<Diagnostic>) {
    let mut d = Vec::new();
    let mut top = Map::new();
    top.insert("name".into(), json!(app.name));
    let mut services = Map::new();
    for (n, s) in &app.services {
        services.insert(n.clone(), Value::Object(service(n, s, &mut d)));
    }
    top.insert("services".into(), Value::Object(services));
    let mut vols = Map::new();
    for (n, v) in &app.volumes {
        let p = |f: &str| format!("volumes.{n}.{f}");
        let mut m = Map::new();
        if let Some(x) = &v.driver {
            m.insert("driver".into(), json!(x));
        }
        if !v.driver_opts.is_empty() {
            m.insert("driver_opts".into(), json!(v.driver_opts));
        }
        if v.external {
            m.insert("external".into(), json!(true));
        }
        if let Some(x) = &v.name {
            m.insert("name".into(), json!(x));
        }
        if !v.labels.is_empty() {
            m.insert("labels".into(), json!(v.labels));
        }
        if v.size.is_some() {
            drop(&mut d, &p("size"), "compose volumes have no size");
        }
        vols.insert(n.clone(), Value::Object(m));
    }
    if !vols.is_empty() {
        top.insert("volumes".into(), Value::Object(vols));
    }
    for (key, items) in [("secrets", secrets_of(app)), ("configs", configs_of(app))] {
        if !items.is_empty() {
            top.insert(key.into(), Value::Object(items));
        }
    }
    let mut nets = Map::new();
    for (n, net) in &app.networks {
        let v = serde_json::to_value(net).unwrap_or_default();
        nets.insert(n.clone(), v);
    }
    if !nets.is_empty() {
        top.insert("networks".into(), Value::Object(nets));
    }
    for n in app.vms.keys() {
        drop(
            &mut d,
            &format!("vms.{n}"),
            "compose has no virtual machines",
        );
    }
    for n in app.groups.keys() {
        drop(
            &mut d,
            &format!("groups.{n}"),
            "compose has no co-located groups (each service is scheduled on its own)",
        );
    }
    let providers = serde_json::to_value(&app.providers).unwrap_or_default();
    for (k, v) in providers.as_object().into_iter().flatten() {
        if !v.is_null() {
            drop(
                &mut d,
                &format!("providers.{k}"),
                "compose has no provider options",
            );
        }
    }
    // compose interpolates every string: a `$` of the app is written `$$`.
    let mut top = Value::Object(top);
    escape(&mut top);
    let text = serde_saphyr::to_string(&top).unwrap_or_default();
    (
        format!(
            "# written by bridge export --format compose: {} field(s) compose cannot hold are left out (see the diagnostics)\n{text}",
            d.len()
        ),
        d,
    )
}

fn escape(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(a) => a.iter_mut().for_each(escape),
        Value::Object(m) => m.values_mut().for_each(escape),
        _ => {}
    }
}

fn drop(d: &mut Vec<Diagnostic>, path: &str, why: &str) {
    d.push(
        Diagnostic::new(
            Severity::Warning,
            codes::EXPORT_DROPPED,
            format!("`{path}` is not written to compose: {why}"),
        )
        .with_path(path),
    );
}

fn secrets_of(app: &App) -> Map<String, Value> {
    let mut out = Map::new();
    for (n, s) in &app.secrets {
        let mut m = Map::new();
        if let Some(f) = &s.file {
            m.insert("file".into(), json!(f));
        }
        if let Some(e) = &s.env {
            m.insert("environment".into(), json!(e));
        }
        if s.external {
            m.insert("external".into(), json!(true));
        }
        if let Some(x) = &s.name {
            m.insert("name".into(), json!(x));
        }
        out.insert(n.clone(), Value::Object(m));
    }
    out
}

fn configs_of(app: &App) -> Map<String, Value> {
    let mut out = Map::new();
    for (n, c) in &app.configs {
        let mut m = Map::new();
        if let Some(f) = &c.file {
            m.insert("file".into(), json!(f));
        }
        if let Some(x) = &c.content {
            m.insert("content".into(), json!(x));
        }
        if let Some(e) = &c.env {
            m.insert("environment".into(), json!(e));
        }
        if c.external {
            m.insert("external".into(), json!(true));
        }
        if let Some(x) = &c.name {
            m.insert("name".into(), json!(x));
        }
        out.insert(n.clone(), Value::Object(m));
    }
    out
}

fn update(u: &UpdatePolicy) -> Value {
    let v = serde_json::to_value(u).unwrap_or_default();
    let mut m = Map::new();
    for (k, x) in v.as_object().into_iter().flatten() {
        if !x.is_null() {
            m.insert(k.clone(), x.clone());
        }
    }
    Value::Object(m)
}

/// Keys whose compose key and value are the bridge field's own (same name, same form).
const SAME: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "expose",
    "labels",
    "user",
    "working_dir",
    "hostname",
    "domainname",
    "stop_signal",
    "stop_grace_period",
    "init",
    "read_only",
    "privileged",
    "tty",
    "stdin_open",
    "cap_add",
    "cap_drop",
    "group_add",
    "dns",
    "dns_search",
    "dns_opt",
    "sysctls",
    "ulimits",
    "shm_size",
    "devices",
    "logging",
    "platform",
    "cpu_shares",
    "cpuset",
    "security_opt",
    "pid",
    "ipc",
    "mem_swappiness",
    "memswap_limit",
    "oom_score_adj",
    "oom_kill_disable",
    "device_cgroup_rules",
    "mac_address",
    "userns_mode",
    "uts",
    "storage_opt",
    "runtime",
    "cgroup_parent",
    "annotations",
    "cgroup",
    "use_api_socket",
    "post_start",
    "pre_stop",
];

fn service(n: &str, s: &Service, d: &mut Vec<Diagnostic>) -> Map<String, Value> {
    let p = |f: &str| format!("services.{n}.{f}");
    let all = serde_json::to_value(s).unwrap_or_default();
    let mut m = Map::new();
    let mut deploy = Map::new();
    for (k, v) in all.as_object().into_iter().flatten() {
        if v.is_null() {
            continue;
        }
        match k.as_str() {
            k2 if SAME.contains(&k2) => {
                m.insert(k.clone(), v.clone());
            }
            "env" => {
                m.insert("environment".into(), v.clone());
            }
            "secrets" => {
                let mut list = Vec::new();
                for (i, r) in s.secrets.iter().enumerate() {
                    if r.env.is_some() {
                        drop(
                            d,
                            &format!("services.{n}.secrets[{i}]"),
                            "compose gives secrets as files, not environment variables",
                        );
                        continue;
                    }
                    let mut e = Map::new();
                    e.insert("source".into(), json!(r.name));
                    if let Some(f) = &r.file {
                        e.insert("target".into(), json!(f));
                    }
                    for (f, x) in [("uid", &r.uid), ("gid", &r.gid)] {
                        if let Some(x) = x {
                            e.insert(f.into(), json!(x));
                        }
                    }
                    if let Some(mode) = r.mode {
                        e.insert("mode".into(), json!(mode));
                    }
                    list.push(Value::Object(e));
                }
                if !list.is_empty() {
                    m.insert("secrets".into(), Value::Array(list));
                }
            }
            "configs" => {
                let list: Vec<Value> = s
                    .configs
                    .iter()
                    .map(|c| {
                        let mut e = Map::new();
                        e.insert("source".into(), json!(c.name));
                        if let Some(f) = &c.file {
                            e.insert("target".into(), json!(f));
                        }
                        for (f, x) in [("uid", &c.uid), ("gid", &c.gid)] {
                            if let Some(x) = x {
                                e.insert(f.into(), json!(x));
                            }
                        }
                        if let Some(mode) = c.mode {
                            e.insert("mode".into(), json!(mode));
                        }
                        Value::Object(e)
                    })
                    .collect();
                m.insert("configs".into(), Value::Array(list));
            }
            "ports" => {
                let list: Vec<Value> = s
                    .ports
                    .iter()
                    .map(|pt| {
                        let mut e = Map::new();
                        e.insert("target".into(), json!(pt.container));
                        if let Some(pb) = pt.published {
                            e.insert("published".into(), json!(pb.to_string()));
                        }
                        e.insert("protocol".into(), json!(pt.protocol.as_str()));
                        if let Some(ip) = &pt.host_ip {
                            e.insert("host_ip".into(), json!(ip));
                        }
                        e.insert(
                            "mode".into(),
                            json!(serde_json::to_value(pt.mode).unwrap_or_default()),
                        );
                        if let Some(x) = &pt.name {
                            e.insert("name".into(), json!(x));
                        }
                        if let Some(x) = &pt.app_protocol {
                            e.insert("app_protocol".into(), json!(x));
                        }
                        Value::Object(e)
                    })
                    .collect();
                m.insert("ports".into(), Value::Array(list));
            }
            "volumes" => {
                let list: Vec<Value> = s
                    .volumes
                    .iter()
                    .map(|v| {
                        let mut e = Map::new();
                        let ty = match v.kind {
                            MountKind::Volume => "volume",
                            MountKind::Bind => "bind",
                            MountKind::Tmpfs => "tmpfs",
                        };
                        e.insert("type".into(), json!(ty));
                        if let Some(src) = &v.source {
                            e.insert("source".into(), json!(src));
                        }
                        e.insert("target".into(), json!(v.target));
                        if v.read_only {
                            e.insert("read_only".into(), json!(true));
                        }
                        if let Some(sz) = v.size {
                            e.insert("tmpfs".into(), json!({"size": sz.0}));
                        }
                        Value::Object(e)
                    })
                    .collect();
                m.insert("volumes".into(), Value::Array(list));
            }
            "depends_on" => {
                let mut deps = Map::new();
                for dep in &s.depends_on {
                    let cond = match dep.condition {
                        DependencyCondition::Started => "service_started",
                        DependencyCondition::Healthy => "service_healthy",
                        DependencyCondition::CompletedSuccessfully => {
                            "service_completed_successfully"
                        }
                    };
                    deps.insert(
                        dep.service.clone(),
                        json!({"condition": cond, "restart": dep.restart, "required": dep.required}),
                    );
                }
                m.insert("depends_on".into(), Value::Object(deps));
            }
            "links" => {
                let list: Vec<Value> = s
                    .links
                    .iter()
                    .map(|l| match &l.alias {
                        Some(a) => json!(format!("{}:{a}", l.service)),
                        None => json!(l.service),
                    })
                    .collect();
                m.insert("links".into(), Value::Array(list));
            }
            "replicas" => {
                deploy.insert("replicas".into(), json!(s.replicas));
            }
            "mode" => {
                if s.mode == ServiceMode::Global {
                    deploy.insert("mode".into(), json!("global"));
                }
            }
            "resources" => {
                let r = &s.resources;
                let mut limits = Map::new();
                let mut res = Map::new();
                if let Some(c) = r.cpus {
                    limits.insert("cpus".into(), json!(c.to_string()));
                }
                if let Some(x) = r.memory {
                    limits.insert("memory".into(), json!(x.0.to_string()));
                }
                if let Some(x) = r.pids {
                    limits.insert("pids".into(), json!(x));
                }
                if let Some(c) = r.reserve_cpus {
                    res.insert("cpus".into(), json!(c.to_string()));
                }
                if let Some(x) = r.reserve_memory {
                    res.insert("memory".into(), json!(x.0.to_string()));
                }
                if let Some(g) = r.gpus {
                    res.insert(
                        "devices".into(),
                        json!([{"capabilities": ["gpu"], "count": g}]),
                    );
                }
                let mut rs = Map::new();
                if !limits.is_empty() {
                    rs.insert("limits".into(), Value::Object(limits));
                }
                if !res.is_empty() {
                    rs.insert("reservations".into(), Value::Object(res));
                }
                deploy.insert("resources".into(), Value::Object(rs));
            }
            "health" => {
                if let Some(h) = &s.health {
                    let mut e = Map::new();
                    if h.test.is_none() {
                        e.insert("disable".into(), json!(true));
                    } else {
                        e.insert("test".into(), json!(h.test.0));
                    }
                    for (f, x) in [
                        ("interval", h.interval),
                        ("timeout", h.timeout),
                        ("start_period", h.start_period),
                        ("start_interval", h.start_interval),
                    ] {
                        if let Some(x) = x {
                            e.insert(f.into(), json!(x.to_string()));
                        }
                    }
                    if let Some(n) = h.retries {
                        e.insert("retries".into(), json!(n));
                    }
                    m.insert("healthcheck".into(), Value::Object(e));
                }
            }
            "restart" | "restart_max_attempts" | "restart_delay" | "restart_window" => {}
            "update" | "rollback" => {}
            "placement" => {
                let pl = &s.placement;
                let mut e = Map::new();
                if !pl.constraints.is_empty() {
                    e.insert("constraints".into(), json!(pl.constraints));
                }
                if let Some(n) = pl.max_per_host {
                    e.insert("max_replicas_per_node".into(), json!(n));
                }
                if pl.spread.is_some() {
                    drop(
                        d,
                        &p("placement.spread"),
                        "compose spreads over node labels only (deploy.placement.preferences), not over bridge's hosts or zones",
                    );
                }
                if !e.is_empty() {
                    deploy.insert("placement".into(), Value::Object(e));
                }
            }
            "group" => drop(d, &p("group"), "compose has no co-located groups"),
            "provider" => drop(d, &p("provider"), "compose has no providers"),
            "network_of" => {
                if let Some(o) = &s.network_of {
                    m.insert("network_mode".into(), json!(format!("service:{o}")));
                }
            }
            // The list form keeps their order (aliases need the mapping form, below).
            "networks" => {
                m.insert("networks".into(), json!(s.networks));
            }
            "aliases" => {}
            "extra_hosts" => {
                let list: Vec<Value> = s
                    .extra_hosts
                    .iter()
                    .map(|(h, ip)| json!(format!("{h}:{ip}")))
                    .collect();
                m.insert("extra_hosts".into(), Value::Array(list));
            }
            "pull_policy" => {
                let v = match s.pull_policy {
                    Some(PullPolicy::Always) => "always",
                    Some(PullPolicy::Never) => "never",
                    _ => "missing",
                };
                m.insert("pull_policy".into(), json!(v));
            }
            "blkio_config" => {
                m.insert("blkio_config".into(), v.clone());
            }
            other => drop(d, &p(other), "not written to compose yet"),
        }
    }
    // Aliases ride on the service's networks (the default network when it names none).
    if !s.aliases.is_empty() {
        let nets: Vec<String> = if s.networks.is_empty() {
            d.push(
                Diagnostic::new(
                    Severity::Warning,
                    codes::EXPORT_APPROXIMATED,
                    format!("`services.{n}.aliases` is approximated: compose holds aliases per network, so they are written on the `default` network, which imports as `networks: [default]`"),
                )
                .with_path(p("aliases")),
            );
            vec!["default".into()]
        } else {
            s.networks.clone()
        };
        let mut map = Map::new();
        for net in nets {
            map.insert(net, json!({"aliases": s.aliases}));
        }
        m.insert("networks".into(), Value::Object(map));
    }
    // Restart: `restart:` alone, or deploy.restart_policy with attempts, delay, window.
    let cond = match s.restart {
        RestartPolicy::Always => "any",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Never => "none",
    };
    if s.restart_max_attempts.is_some() || s.restart_delay.is_some() || s.restart_window.is_some() {
        let mut rp = Map::new();
        rp.insert("condition".into(), json!(cond));
        if let Some(n) = s.restart_max_attempts {
            rp.insert("max_attempts".into(), json!(n));
        }
        if let Some(x) = s.restart_delay {
            rp.insert("delay".into(), json!(x.to_string()));
        }
        if let Some(x) = s.restart_window {
            rp.insert("window".into(), json!(x.to_string()));
        }
        deploy.insert("restart_policy".into(), Value::Object(rp));
    } else {
        let r = match s.restart {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "no",
        };
        m.insert("restart".into(), json!(r));
    }
    if let Some(u) = &s.update {
        deploy.insert("update_config".into(), update(u));
    }
    if let Some(u) = &s.rollback {
        deploy.insert("rollback_config".into(), update(u));
    }
    if !deploy.is_empty() {
        m.insert("deploy".into(), Value::Object(deploy));
    }
    m
}
