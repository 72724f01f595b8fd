//! One compose service to a neutral [`Service`]: every one of the 92 keys is mapped,
//! approximated, or reported with its catalogue code.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codes;
use crate::diag::Severity;
use crate::model::{
    Blkio, CgroupNs, Command, ConfigRef, Dependency, DependencyCondition, FailureAction, Health,
    HealthTest, Link, Logging, Mount, MountKind, Port, PortMode, Protocol, PullPolicy,
    RestartPolicy, SecretRef, Service, ServiceMode, Ulimit, UpdateOrder, UpdatePolicy,
};
use crate::node::{Node, NodeKind, Resolved};
use crate::source::{SourceFile, Sources, Span};
use crate::units::{ByteSize, Cpus};

use super::keys::{self, Treatment};
use super::read::{Cx, index, is_empty_value, join};

/// Names of everything, compose name to neutral name.
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// Services (active or not).
    pub services: HashMap<String, String>,
    /// Declared top-level volumes.
    pub volumes: HashMap<String, String>,
    /// Declared top-level secrets.
    pub secrets: HashMap<String, String>,
    /// Declared top-level configs.
    pub configs: HashMap<String, String>,
    /// Declared top-level networks.
    pub networks: HashMap<String, String>,
}

impl Names {
    /// The neutral name of a compose service name (unchanged when unknown).
    pub fn service(&self, n: &str) -> String {
        self.services
            .get(n)
            .cloned()
            .unwrap_or_else(|| n.to_string())
    }
    fn of(map: &HashMap<String, String>, n: &str) -> String {
        map.get(n).cloned().unwrap_or_else(|| n.to_string())
    }
}

/// What the service conversion needs from the document.
pub struct Env<'a> {
    /// Interpolation variables.
    pub vars: &'a HashMap<String, String>,
    /// The compose file's directory.
    pub base_dir: &'a Path,
    /// Name maps.
    pub names: &'a Names,
    /// Files read.
    pub sources: &'a mut Sources,
    /// Variables already reported unset.
    pub unset_seen: &'a mut BTreeSet<String>,
    /// Env files already read and parsed, by path: many services naming one file read it once.
    pub env_files: HashMap<PathBuf, EnvFileRead>,
}

/// One env file as read: the name it is shown under and its parse.
pub type EnvFileRead = (
    Arc<str>,
    Result<Vec<(String, Option<String>)>, super::envfile::EnvFileError>,
);

/// Facts about a service settled after all services are converted.
#[derive(Debug, Default)]
pub struct Pending {
    /// `network_mode` and where it stands.
    pub network_mode: Option<(String, Span)>,
    /// `volumes_from` entries and where they stand.
    pub volumes_from: Vec<(String, Span)>,
    /// `container_name`.
    pub container_name: Option<String>,
    /// Whether the service has `build:`.
    pub has_build: bool,
}

/// Legacy resource keys, reconciled with `deploy.resources` at the end.
#[derive(Default)]
struct Legacy {
    cpus: Option<(Cpus, &'static str, Span)>,
    memory: Option<(ByteSize, Span)>,
    reserve_memory: Option<(ByteSize, Span)>,
    pids: Option<(u32, Span)>,
    cpu_quota: Option<(i64, Span)>,
    cpu_period: Option<(i64, Span)>,
    scale: Option<(u32, Span)>,
    restart: Option<(RestartPolicy, Option<u32>, Span, bool)>,
    gpus: Option<(u32, Span)>,
}

/// What deploy set, so that legacy keys do not override it.
#[derive(Default)]
struct DeploySet {
    cpus: bool,
    memory: bool,
    reserve_memory: bool,
    pids: bool,
    replicas: bool,
    restart: bool,
    gpus: bool,
}

/// Every key a service may have, built once (not once per service).
fn key_names() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut k: Vec<&'static str> = keys::SERVICE_KEYS.iter().map(|e| e.key).collect();
        // Legacy keys that compose-go still reads but the current schema no longer lists.
        k.extend(["volume_driver", "net"]);
        k
    })
}

/// Convert one (extends-resolved, active) service.
pub fn convert(
    cx: &mut Cx,
    env: &mut Env<'_>,
    orig: &str,
    node: &Node,
) -> (String, Service, Pending) {
    let nname = env.names.service(orig);
    let p = format!("services.{orig}");
    let np = format!("services.{nname}");
    let mut s = Service {
        replicas: 1,
        ..Service::default()
    };
    let mut container_alias: Option<(String, Span)> = None;
    let mut refresh_after: Option<Span> = None;
    let mut pend = Pending::default();
    let mut legacy = Legacy::default();
    let mut dset = DeploySet::default();
    let mut env_file_vars: BTreeMap<String, String> = BTreeMap::new();
    let mut environment: Vec<(String, Option<String>, Span)> = Vec::new();
    let mut labels_from_file: BTreeMap<String, String> = BTreeMap::new();
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    let mut deploy_labels: Option<(BTreeMap<String, String>, Span)> = None;
    let mut tmpfs_mounts: Vec<(Mount, Span)> = Vec::new();
    let entries = cx.entries(node, &p, key_names());
    // One buffer for every key's path: `services.<name>.<key>`, cut back and extended.
    let mut kp = String::with_capacity(p.len() + 32);
    for (key, knode, v) in entries {
        kp.clear();
        kp.push_str(&p);
        kp.push('.');
        kp.push_str(key);
        let nf = |f: &str| join(&np, f);
        let span = v.span;
        let kspan = knode.span;
        match key {
            "image" => {
                if let Some(i) = cx.opt_string(v, &kp) {
                    cx.at_key(&np, "image", span, true);
                    s.image = i;
                }
            }
            "build" => {
                pend.has_build = !v.is_null();
            }
            "command" | "entrypoint" => {
                let c = command(cx, v, &kp);
                if c.is_some() {
                    cx.at_key(&np, key, span, true);
                }
                if key == "command" {
                    s.command = c;
                } else {
                    s.entrypoint = c;
                }
            }
            "environment" => {
                for e in cx.list_or_dict(v, &kp, &['=']) {
                    environment.push((e.key, e.value, e.span));
                }
                cx.at_key(&np, "env", kspan, true);
            }
            "env_file" => {
                env_file(cx, env, v, &kp, &mut env_file_vars);
                cx.at_key(&np, "env", kspan, true);
            }
            "labels" => {
                labels.extend(cx.string_map(v, &kp));
                cx.at_key(&np, "labels", kspan, true);
            }
            "label_file" => {
                let files = cx.string_or_list(v, &kp);
                for f in files {
                    if let Some(vars) = read_env_file(cx, env, &f, true, &kp, span) {
                        labels_from_file.extend(vars);
                    }
                }
                cx.at_key(&np, "labels", kspan, true);
            }
            "ports" => ports(cx, v, &kp, &nf("ports"), &mut s.ports),
            "expose" => expose(cx, v, &kp, &mut s.expose),
            "volumes" => volumes(cx, env.names, v, &kp, &nf("volumes"), &mut s.volumes),
            "tmpfs" => {
                for (i, t) in cx.string_or_list(v, &kp).into_iter().enumerate() {
                    let item = v.as_seq().and_then(|x| x.get(i)).unwrap_or(v);
                    if let Some(m) = tmpfs_short(cx, &t, &index(&kp, i), item.span) {
                        tmpfs_mounts.push((m, item.span));
                    }
                }
            }
            "secrets" => {
                s.secrets = refs(cx, v, &kp, "/run/secrets/", &env.names.secrets)
                    .into_iter()
                    .enumerate()
                    .map(|(i, (r, sp))| {
                        cx.at_item(&np, "secrets", i, sp);
                        SecretRef {
                            name: r.name,
                            env: None,
                            file: r.file,
                            uid: r.uid,
                            gid: r.gid,
                            mode: r.mode,
                        }
                    })
                    .collect();
            }
            "configs" => {
                s.configs = refs(cx, v, &kp, "/", &env.names.configs)
                    .into_iter()
                    .enumerate()
                    .map(|(i, (r, sp))| {
                        cx.at_item(&np, "configs", i, sp);
                        r
                    })
                    .collect();
            }
            "depends_on" => depends_on(cx, env.names, v, &kp, &nf("depends_on"), &mut s.depends_on),
            "links" => {
                for (i, l) in cx.strings(v, &kp).into_iter().enumerate() {
                    let mut link = Link::parse(&l);
                    link.service = env.names.service(&link.service);
                    if let Some(item) = v.as_seq().and_then(|x| x.get(i)) {
                        cx.at_item(&np, "links", i, item.span);
                    }
                    s.links.push(link);
                }
            }
            "healthcheck" => {
                s.health = health(cx, v, &kp);
                cx.at_key(&np, "health", kspan, true);
            }
            "restart" => {
                if let Some(r) = cx.opt_string(v, &kp) {
                    legacy.restart = restart(cx, &r, &kp, span).map(|(a, b, c)| (a, b, span, c));
                }
            }
            "deploy" => deploy(cx, v, &kp, &np, &mut s, &mut dset, &mut deploy_labels),
            "cpus" => {
                if let Some(c) = cpus_any(cx, v, &kp) {
                    legacy.cpus = Some((c, "cpus", span));
                }
            }
            "cpu_count" => {
                if let Some(n) = cx.uint::<u64>(v, &kp).filter(|n| *n > 0) {
                    legacy.cpus = Some((Cpus(n.saturating_mul(1000)), "cpu_count", span));
                    cx.approx(
                        &kp,
                        span,
                        format!("`cpu_count: {n}` (windows) is read as a limit of {n} cpus"),
                    );
                }
            }
            "cpu_quota" => legacy.cpu_quota = cx.int(v, &kp).map(|q| (q, span)),
            "cpu_period" => legacy.cpu_period = cx.int(v, &kp).map(|q| (q, span)),
            "mem_limit" => legacy.memory = cx.bytes_any(v, &kp).map(|b| (b, span)),
            "mem_reservation" => legacy.reserve_memory = cx.bytes_any(v, &kp).map(|b| (b, span)),
            "pids_limit" => {
                if let Some(n) = cx.int(v, &kp) {
                    if n > 0 {
                        legacy.pids = u32::try_from(n).ok().map(|n| (n, span));
                    } else if n < 0 {
                        // -1 means unlimited, which is the default.
                    }
                }
            }
            "scale" => legacy.scale = cx.uint::<u32>(v, &kp).map(|n| (n, span)),
            "gpus" => legacy.gpus = gpus(cx, v, &kp).map(|n| (n, span)),
            "networks" => networks(cx, env.names, v, &kp, &np, &mut s),
            "network_mode" => {
                pend.network_mode = cx.opt_string(v, &kp).map(|m| (m, span));
            }
            "net" => {
                // Compose file format v1's name for network_mode.
                if let Some(info) = keys::entry("net") {
                    cx.report(info, &kp, kspan);
                }
                if pend.network_mode.is_none() {
                    pend.network_mode = cx.opt_string(v, &kp).map(|m| (m, span));
                }
            }
            "volume_driver" => {
                if let Some(info) = keys::entry("volume_driver")
                    && !is_empty_value(v)
                {
                    cx.report(info, &kp, kspan);
                }
            }
            "volumes_from" => {
                let items = cx.strings(v, &kp);
                for (i, it) in items.into_iter().enumerate() {
                    let sp = v.as_seq().and_then(|x| x.get(i)).map_or(span, |n| n.span);
                    pend.volumes_from.push((it, sp));
                }
            }
            "container_name" => {
                pend.container_name = cx.opt_string(v, &kp);
                if let (Some(info), Some(c)) = (keys::service_key(key), &pend.container_name) {
                    let msg = format!(
                        "`container_name: {c}` is approximated: {}; other services reach it as `{c}` and `{nname}`",
                        info.reason
                    );
                    cx.push(Severity::Warning, info.code, &kp, kspan, msg);
                    container_alias = Some((c.clone(), v.span));
                }
            }
            "profiles" | "extends" => {}
            "user" => s.user = scalar_field(cx, v, &kp, &nf("user")),
            "working_dir" => s.working_dir = scalar_field(cx, v, &kp, &nf("working_dir")),
            "hostname" => s.hostname = scalar_field(cx, v, &kp, &nf("hostname")),
            "domainname" => s.domainname = scalar_field(cx, v, &kp, &nf("domainname")),
            "stop_signal" => s.stop_signal = scalar_field(cx, v, &kp, &nf("stop_signal")),
            "platform" => s.platform = scalar_field(cx, v, &kp, &nf("platform")),
            "stop_grace_period" => {
                s.stop_grace_period = cx.duration(v, &kp);
                cx.at_key(&np, key, span, true);
            }
            "init" => s.init = cx.boolean(v, &kp).unwrap_or(false),
            "read_only" => s.read_only = cx.boolean(v, &kp).unwrap_or(false),
            "privileged" => s.privileged = cx.boolean(v, &kp).unwrap_or(false),
            "tty" => s.tty = cx.boolean(v, &kp).unwrap_or(false),
            "stdin_open" => s.stdin_open = cx.boolean(v, &kp).unwrap_or(false),
            "cap_add" => s.cap_add = cx.strings(v, &kp),
            "cap_drop" => s.cap_drop = cx.strings(v, &kp),
            "group_add" => s.group_add = cx.strings(v, &kp),
            "dns" => s.dns = cx.string_or_list(v, &kp),
            "dns_search" => s.dns_search = cx.string_or_list(v, &kp),
            "dns_opt" => s.dns_opt = cx.strings(v, &kp),
            "extra_hosts" => extra_hosts(cx, v, &kp, &mut s.extra_hosts),
            "sysctls" => s.sysctls = cx.string_map(v, &kp),
            "ulimits" => ulimits(cx, v, &kp, &mut s.ulimits),
            "shm_size" => s.shm_size = cx.bytes_any(v, &kp),
            "devices" => devices(cx, v, &kp, &mut s.devices),
            "logging" => s.logging = logging(cx, v, &kp),
            "pull_policy" => s.pull_policy = pull_policy(cx, v, &kp),
            "pull_refresh_after" => {
                if cx.duration(v, &kp).is_some() {
                    refresh_after = Some(kspan);
                }
            }
            "cpu_shares" => {
                s.cpu_shares = ranged(cx, v, &kp, 2, 262_144).and_then(|n| u32::try_from(n).ok());
            }
            "cpuset" => s.cpuset = cx.opt_string(v, &kp),
            "security_opt" => s.security_opt = cx.strings(v, &kp),
            "pid" => s.pid = cx.opt_string(v, &kp),
            "ipc" => s.ipc = cx.opt_string(v, &kp),
            "mem_swappiness" => {
                s.mem_swappiness = ranged(cx, v, &kp, 0, 100).and_then(|n| u32::try_from(n).ok());
            }
            "memswap_limit" => s.memswap_limit = cx.bytes_any(v, &kp),
            "oom_score_adj" => {
                s.oom_score_adj =
                    ranged(cx, v, &kp, -1000, 1000).and_then(|n| i32::try_from(n).ok());
            }
            "oom_kill_disable" => s.oom_kill_disable = cx.boolean(v, &kp).unwrap_or(false),
            "device_cgroup_rules" => s.device_cgroup_rules = cx.strings(v, &kp),
            "mac_address" => s.mac_address = cx.opt_string(v, &kp),
            "userns_mode" => s.userns_mode = cx.opt_string(v, &kp),
            "uts" => s.uts = cx.opt_string(v, &kp),
            "storage_opt" => s.storage_opt = cx.string_map(v, &kp),
            "runtime" => s.runtime = cx.opt_string(v, &kp),
            "cgroup_parent" => s.cgroup_parent = cx.opt_string(v, &kp),
            "annotations" => s.annotations = cx.string_map(v, &kp),
            "cgroup" => s.cgroup = cgroup_ns(cx, v, &kp),
            "blkio_config" => s.blkio_config = blkio(cx, v, &kp),
            "use_api_socket" => {
                s.use_api_socket = cx.boolean(v, &kp).unwrap_or(false);
                if s.use_api_socket
                    && let Some(info) = keys::service_key(key)
                {
                    cx.report(info, &kp, kspan);
                }
            }
            "post_start" => s.post_start = hooks(cx, v, &kp),
            "pre_stop" => s.pre_stop = hooks(cx, v, &kp),
            // `attach: false` is the setting that means something (true is the default).
            "attach" => {
                if cx.boolean(v, &kp) == Some(false)
                    && let Some(info) = keys::service_key("attach")
                {
                    cx.report(info, &kp, kspan);
                }
            }
            other => {
                if let Some(info) = keys::service_key(other)
                    && info.treatment != Treatment::Mapped
                    && !is_empty_value(v)
                {
                    cx.report(info, &kp, kspan);
                }
            }
        }
        if !matches!(key, "profiles" | "extends" | "build" | "network_mode") {
            // Kept when the arm above recorded a more precise span for it.
            cx.map.record(kspan, false, |b| {
                b.push_str(&np);
                b.push('.');
                b.push_str(key);
            });
        }
    }

    // env: env_file first, then environment wins.
    let mut envmap = env_file_vars;
    for (k, v, sp) in environment {
        match v {
            Some(v) => {
                envmap.insert(k, v);
            }
            None => match env.vars.get(&k) {
                Some(v) => {
                    envmap.insert(k, v.clone());
                }
                None => {
                    envmap.remove(&k);
                    cx.warn(
                        codes::UNSET_VARIABLE,
                        &format!("{p}.environment.{k}"),
                        sp,
                        format!("`{k}` has no value here and is not set in the environment; it is left out"),
                    )
                    .hint = Some(format!("write `{k}=value`, or set {k} where bridge runs"));
                }
            },
        }
    }
    s.env = crate::model::Env(envmap);

    // labels: label_file, then labels, then deploy.labels.
    let mut all_labels = labels_from_file;
    all_labels.extend(labels);
    if let Some((dl, sp)) = deploy_labels {
        for (k, v) in dl {
            if let Some(old) = all_labels.get(&k)
                && *old != v
            {
                cx.approx(
                    &format!("{p}.deploy.labels.{k}"),
                    sp,
                    format!("label `{k}` is set in `labels` and in `deploy.labels` with different values; `deploy.labels` wins"),
                );
            }
            all_labels.insert(k, v);
        }
    }
    s.labels = all_labels;

    for (m, sp) in tmpfs_mounts {
        let i = s.volumes.len();
        cx.at_item(&np, "volumes", i, sp);
        s.volumes.push(m);
    }

    reconcile(cx, &p, &mut s, legacy, &dset);

    if s.image.is_empty() {
        let sp = node.span;
        if pend.has_build {
            cx.error(
                codes::BUILD_WITHOUT_IMAGE,
                &format!("{p}.build"),
                node.get("build").map_or(sp, |b| b.span),
                format!("service `{orig}` is built from source but names no image; bridge deploys images and does not build them"),
            )
            .hint = Some("add `image:` naming the image your CI builds and pushes".into());
        } else if node.get("provider").is_none() {
            cx.error(
                codes::NO_IMAGE,
                &p,
                sp,
                format!("service `{orig}` has no `image`"),
            )
            .hint = Some("add `image:` with the image to run".into());
        }
    } else if pend.has_build
        && let Some(info) = keys::service_key("build")
    {
        let bspan = node.entry("build").map_or(node.span, |(k, _)| k.span);
        cx.push(
            Severity::Warning,
            info.code,
            &format!("{p}.build"),
            bspan,
            format!(
                "`build` is not carried: bridge deploys the image `{}` and does not build it",
                s.image
            ),
        )
        .hint = Some("build and push the image in CI before deploying".into());
    }
    // `pull_refresh_after`: a refresh on a schedule is a pull at every start, unless the service
    // says never to pull, or only when missing (then it is not carried).
    if let (Some(sp), Some(info)) = (refresh_after, keys::service_key("pull_refresh_after")) {
        let kp = format!("{p}.pull_refresh_after");
        match s.pull_policy {
            None | Some(PullPolicy::Always) => {
                s.pull_policy = Some(PullPolicy::Always);
                cx.report(info, &kp, sp);
            }
            Some(other) => {
                let other = format!("{other:?}").to_ascii_lowercase();
                cx.push(
                    Severity::Warning,
                    info.code,
                    &kp,
                    sp,
                    format!("`pull_refresh_after` is not carried: `pull_policy: {other}` does not refresh the image"),
                )
                .hint = Some("drop pull_refresh_after, or set `pull_policy: always`".into());
            }
        }
    }
    // `container_name` is a name other containers reach this one by: an alias.
    if let Some((c, sp)) = container_alias
        && c.to_ascii_lowercase() != nname
        && !s.aliases.iter().any(|a| a.eq_ignore_ascii_case(&c))
    {
        cx.at_item(&np, "aliases", s.aliases.len(), sp);
        s.aliases.push(c);
    }
    // Other containers reach a renamed service by its compose name: keep it as an alias.
    // DNS is case-insensitive, so only a rename beyond case needs it.
    if nname != orig.to_ascii_lowercase() && !s.aliases.iter().any(|a| a == orig) {
        s.aliases.push(orig.to_string());
    }
    (nname, s, pend)
}

/// `cgroup: host | private`.
fn cgroup_ns(cx: &mut Cx, v: &Node, kp: &str) -> Option<CgroupNs> {
    match cx.opt_string(v, kp)?.as_str() {
        "host" => Some(CgroupNs::Host),
        "private" => Some(CgroupNs::Private),
        other => {
            cx.invalid(v, kp, format!("`{other}` is not a cgroup namespace mode"))
                .hint = Some("write `host` or `private`".into());
            None
        }
    }
}

/// `blkio_config`: `weight` (10 to 1000) and, per device `path`, `weight_device` weights and
/// `device_{read,write}_{bps,iops}` rates.
fn blkio(cx: &mut Cx, v: &Node, kp: &str) -> Blkio {
    const LISTS: [&str; 5] = [
        "weight_device",
        "device_read_bps",
        "device_write_bps",
        "device_read_iops",
        "device_write_iops",
    ];
    let mut b = Blkio::default();
    let mut known = vec!["weight"];
    known.extend(LISTS);
    for (key, _, val) in cx.entries(v, kp, &known) {
        let ip = format!("{kp}.{key}");
        if key == "weight" {
            b.weight = ranged(cx, val, &ip, 10, 1000).and_then(|n| u16::try_from(n).ok());
            continue;
        }
        let Some(items) = val.as_seq() else {
            if !val.is_null() {
                cx.wrong_type(val, &ip, "a list of `{path, ...}`");
            }
            continue;
        };
        let rate = if key == "weight_device" {
            "weight"
        } else {
            "rate"
        };
        for (i, it) in items.iter().enumerate() {
            let ep = format!("{ip}[{i}]");
            let e = cx.entries(it, &ep, &["path", rate]);
            let get = |k: &str| e.iter().find(|(n, _, _)| *n == k).map(|(_, _, x)| *x);
            let (Some(pn), Some(rn)) = (get("path"), get(rate)) else {
                cx.invalid(it, &ep, format!("a device entry needs `path` and `{rate}`"))
                    .hint = Some(format!("write `{{path: /dev/sda, {rate}: ...}}`"));
                continue;
            };
            let Some(path) = cx.string(pn, &format!("{ep}.path")) else {
                continue;
            };
            if !path.starts_with("/dev/") {
                cx.invalid(
                    pn,
                    &format!("{ep}.path"),
                    format!("`{path}` is not a device path"),
                )
                .hint = Some("name a block device, like `/dev/sda`".into());
                continue;
            }
            let rp = format!("{ep}.{rate}");
            match key {
                "weight_device" => {
                    if let Some(w) =
                        ranged(cx, rn, &rp, 10, 1000).and_then(|n| u16::try_from(n).ok())
                    {
                        b.weight_device.insert(path, w);
                    }
                }
                "device_read_bps" | "device_write_bps" => {
                    if let Some(r) = cx.bytes_any(rn, &rp) {
                        let m = if key == "device_read_bps" {
                            &mut b.device_read_bps
                        } else {
                            &mut b.device_write_bps
                        };
                        m.insert(path, r);
                    }
                }
                _ => {
                    if let Some(r) = cx.uint::<u64>(rn, &rp) {
                        let m = if key == "device_read_iops" {
                            &mut b.device_read_iops
                        } else {
                            &mut b.device_write_iops
                        };
                        m.insert(path, r);
                    }
                }
            }
        }
    }
    b
}

/// An integer in `lo..=hi` (the kernel's range), else an error naming the range.
fn ranged(cx: &mut Cx, v: &Node, kp: &str, lo: i64, hi: i64) -> Option<i64> {
    let n = cx.int(v, kp)?;
    if (lo..=hi).contains(&n) {
        Some(n)
    } else {
        cx.invalid(v, kp, format!("{n} is out of range ({lo} to {hi})"));
        None
    }
}

fn scalar_field(cx: &mut Cx, v: &Node, kp: &str, np: &str) -> Option<String> {
    let r = cx.opt_string(v, kp);
    if r.is_some() {
        cx.at(np, v.span);
    }
    r
}

impl Cx {
    /// A byte size from a number of bytes or a string with a unit.
    pub fn bytes_any(&mut self, v: &Node, path: &str) -> Option<ByteSize> {
        match v.resolve() {
            Some(Resolved::Int(i)) if i >= 0 => Some(ByteSize(i.unsigned_abs())),
            Some(Resolved::Int(_)) => {
                self.invalid(v, path, "a size cannot be negative");
                None
            }
            _ => self.bytes(v, path),
        }
    }
}

fn cpus_any(cx: &mut Cx, v: &Node, path: &str) -> Option<Cpus> {
    let text = match v.resolve() {
        Some(Resolved::Null) => return None,
        Some(Resolved::Int(_) | Resolved::Float(_) | Resolved::Str(_)) => {
            v.as_str().unwrap_or("").trim().to_string()
        }
        _ => {
            cx.wrong_type(v, path, "a cpu count");
            return None;
        }
    };
    // Exact decimal arithmetic on the text as written: floats would turn 2.047 into 2.048.
    if let Ok(c) = text.parse::<Cpus>() {
        return Some(c);
    }
    let (int, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let digits_ok = !int.is_empty() || !frac.is_empty();
    if digits_ok
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && frac.len() > 3
        && let Ok(whole) = if int.is_empty() {
            Ok(0)
        } else {
            int.parse::<u64>()
        }
        && let Ok(milli) = frac[..3].parse::<u64>()
    {
        let rest_nonzero = frac[3..].bytes().any(|b| b != b'0');
        let total = whole
            .saturating_mul(1000)
            .saturating_add(milli)
            .saturating_add(u64::from(rest_nonzero));
        let c = Cpus(total.max(1));
        if rest_nonzero {
            cx.approx(
                path,
                v.span,
                format!("{text} cpus is rounded up to {c}: cpus are counted in thousandths"),
            );
        }
        return Some(c);
    }
    cx.error(
        codes::BAD_UNIT,
        path,
        v.span,
        format!("`{text}` is not a cpu count"),
    );
    None
}

/// `post_start` / `pre_stop`: a list of `{command, user, privileged, working_dir, environment}`.
fn hooks(cx: &mut Cx, v: &Node, path: &str) -> Vec<crate::model::Hook> {
    let mut out = Vec::new();
    let Some(items) = v.as_seq() else {
        if !v.is_null() {
            cx.wrong_type(v, path, "a list of hooks");
        }
        return out;
    };
    for (i, it) in items.iter().enumerate() {
        let ip = index(path, i);
        let mut h = crate::model::Hook::default();
        let mut has_command = false;
        for (k, _, val) in cx.entries(
            it,
            &ip,
            &[
                "command",
                "user",
                "privileged",
                "working_dir",
                "environment",
            ],
        ) {
            let kp = join(&ip, k);
            match k {
                "command" => {
                    if let Some(c) = command(cx, val, &kp) {
                        h.command = c;
                        has_command = true;
                    }
                }
                "user" => h.user = cx.opt_string(val, &kp),
                "privileged" => h.privileged = cx.boolean(val, &kp).unwrap_or(false),
                "working_dir" => h.working_dir = cx.opt_string(val, &kp),
                _ => h.env = cx.string_map(val, &kp),
            }
        }
        if has_command {
            out.push(h);
        } else {
            cx.invalid(it, &ip, "a hook needs a `command`");
        }
    }
    out
}

fn command(cx: &mut Cx, v: &Node, path: &str) -> Option<Command> {
    match &v.kind {
        NodeKind::Seq(_) => Some(Command(cx.strings(v, path))),
        NodeKind::Scalar(_) if v.is_null() => None,
        NodeKind::Scalar(s) => match crate::shell::split(&s.text) {
            Ok(words) => Some(Command(words)),
            Err(e) => {
                cx.invalid(v, path, format!("cannot split the command: {e}"))
                    .hint = Some("write the command as a list of words".into());
                None
            }
        },
        NodeKind::Map(_) => {
            cx.wrong_type(v, path, "a string or a list of strings");
            None
        }
    }
}

fn env_file(
    cx: &mut Cx,
    env: &mut Env<'_>,
    v: &Node,
    path: &str,
    out: &mut BTreeMap<String, String>,
) {
    let items: Vec<&Node> = match &v.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Scalar(_) if v.is_null() => Vec::new(),
        _ => vec![v],
    };
    for (i, it) in items.into_iter().enumerate() {
        let ip = if v.as_seq().is_some() {
            index(path, i)
        } else {
            path.to_string()
        };
        let (file, required) = match &it.kind {
            NodeKind::Scalar(_) => match cx.string(it, &ip) {
                Some(f) => (f, true),
                None => continue,
            },
            NodeKind::Map(_) => {
                let mut file = None;
                let mut required = true;
                for (k, _, val) in cx.entries(it, &ip, &["path", "required", "format"]) {
                    let kp = join(&ip, k);
                    match k {
                        "path" => file = cx.string(val, &kp),
                        "required" => required = cx.boolean(val, &kp).unwrap_or(true),
                        _ => {
                            if let Some(info) = keys::entry("env_file.format")
                                && !is_empty_value(val)
                            {
                                cx.report(info, &kp, val.span);
                            }
                        }
                    }
                }
                match file {
                    Some(f) => (f, required),
                    None => {
                        cx.error(
                            codes::MISSING_FIELD,
                            &ip,
                            it.span,
                            "missing required field `path`",
                        );
                        continue;
                    }
                }
            }
            NodeKind::Seq(_) => {
                cx.wrong_type(it, &ip, "a path or {path, required}");
                continue;
            }
        };
        if let Some(vars) = read_env_file(cx, env, &file, required, &ip, it.span) {
            out.extend(vars);
        }
    }
}

/// Read an env (or label) file relative to the compose file. Bare `KEY` lines take their value
/// from the interpolation environment and are left out when it has none.
fn read_env_file(
    cx: &mut Cx,
    env: &mut Env<'_>,
    file: &str,
    required: bool,
    path: &str,
    span: Span,
) -> Option<Vec<(String, String)>> {
    let full = env.base_dir.join(file);
    if let Some((shown, parsed)) = env.env_files.get(&full) {
        let (shown, parsed) = (shown.clone(), parsed.clone());
        return env_file_vars(cx, env.vars, shown, parsed, path);
    }
    let text = match std::fs::read_to_string(&full) {
        Ok(t) => t,
        Err(e) => {
            if required {
                cx.error(
                    codes::ENV_FILE,
                    path,
                    span,
                    format!("cannot read `{file}`: {e}"),
                )
                .hint = Some("the path is relative to the compose file; mark it `required: false` if it is optional".into());
            }
            return None;
        }
    };
    let shown: Arc<str> = full.display().to_string().into();
    env.sources
        .add(SourceFile::new(shown.clone(), text.as_str()));
    let vars = env.vars;
    let lookup = |k: &str| vars.get(k).cloned();
    let parsed = super::envfile::parse_env_file(&text, &lookup);
    env.env_files.insert(full, (shown.clone(), parsed.clone()));
    env_file_vars(cx, vars, shown, parsed, path)
}

/// The variables of a parsed env file (bare `KEY`s from `vars`), or its parse error reported.
fn env_file_vars(
    cx: &mut Cx,
    vars: &HashMap<String, String>,
    shown: Arc<str>,
    parsed: Result<Vec<(String, Option<String>)>, super::envfile::EnvFileError>,
    path: &str,
) -> Option<Vec<(String, String)>> {
    match parsed {
        Ok(list) => Some(
            list.into_iter()
                .filter_map(|(k, v)| v.or_else(|| vars.get(&k).cloned()).map(|v| (k, v)))
                .collect(),
        ),
        Err(e) => {
            cx.diags.push(
                crate::diag::Diagnostic::error(codes::ENV_FILE, e.message.clone())
                    .with_path(path)
                    .with_file(shown)
                    .with_span(Span::point(
                        u32::try_from(e.line).unwrap_or(u32::MAX),
                        u32::try_from(e.column).unwrap_or(u32::MAX),
                    )),
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ports and expose

/// The most ports one range may expand to.
const MAX_RANGE: u16 = 1024;

/// A port number or range `a-b`.
fn port_range(t: &str) -> Result<(u16, u16), String> {
    let one = |x: &str| -> Result<u16, String> {
        match x.trim().parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            Ok(n) => Err(format!("port {n} is out of range (1-65535)")),
            Err(_) if x.trim().is_empty() => {
                Err("an empty port number (is a variable unset?)".to_string())
            }
            Err(_) => Err(format!("`{x}` is not a port number")),
        }
    };
    match t.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a {
                return Err(format!("the range `{t}` ends before it starts"));
            }
            if b - a >= MAX_RANGE {
                return Err(format!(
                    "the range `{t}` has more than {MAX_RANGE} ports; bridge expands ranges into single ports"
                ));
            }
            Ok((a, b))
        }
        None => {
            let p = one(t)?;
            Ok((p, p))
        }
    }
}

/// Parse a short port `[host_ip:][published[-range]:]container[-range][/protocol]`, ranges
/// expanded. The flag is true when a range of host ports was narrowed to its first port.
pub fn parse_port(s: &str) -> Result<(Vec<Port>, bool), String> {
    let (body, proto) = match s.rsplit_once('/') {
        Some((b, p)) => (
            b,
            match p.to_ascii_lowercase().as_str() {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => return Err(format!("unknown protocol `{p}` (tcp, udp or sctp)")),
            },
        ),
        None => (s, Protocol::Tcp),
    };
    let (host_ip, rest): (Option<String>, &str) = if let Some(r) = body.strip_prefix('[') {
        let (ip, rest) = r.split_once(']').ok_or("unclosed `[` in an IPv6 address")?;
        let rest = rest
            .strip_prefix(':')
            .ok_or("expected `:` after the IPv6 address")?;
        (Some(ip.to_string()), rest)
    } else {
        match body.matches(':').count() {
            0 | 1 => (None, body),
            2 => {
                let (ip, rest) = body.split_once(':').unwrap_or(("", body));
                (Some(ip.to_string()), rest)
            }
            _ => {
                // An unbracketed IPv6 address: the last two fields are the ports.
                let mut it = body.rsplitn(3, ':');
                let c = it.next().unwrap_or("");
                let p = it.next().unwrap_or("");
                let ip = it.next().unwrap_or("");
                let rest_len = c.len() + p.len() + 1;
                (Some(ip.to_string()), &body[body.len() - rest_len..])
            }
        }
    };
    let (published, container) = match rest.split_once(':') {
        Some(("", c)) => (None, port_range(c)?),
        Some((p, c)) => (Some(port_range(p)?), port_range(c)?),
        None => (None, port_range(rest)?),
    };
    let n = usize::from(container.1 - container.0) + 1;
    let mut narrowed = false;
    let pubs: Vec<Option<u16>> = match published {
        None => vec![None; n],
        Some((a, b)) => {
            let m = usize::from(b - a) + 1;
            if m == n {
                (a..=b).map(Some).collect()
            } else if n == 1 {
                narrowed = m > 1;
                vec![Some(a)]
            } else {
                return Err(format!(
                    "the host range has {m} ports and the container range {n}; they must match"
                ));
            }
        }
    };
    let ports = (container.0..=container.1)
        .zip(pubs)
        .map(|(c, p)| Port {
            container: c,
            published: p,
            protocol: proto,
            host_ip: host_ip.clone().filter(|h| !h.is_empty()),
            ..Port::default()
        })
        .collect();
    Ok((ports, narrowed))
}

fn ports(cx: &mut Cx, v: &Node, path: &str, np: &str, out: &mut Vec<Port>) {
    let Some(items) = v.as_seq() else {
        if !v.is_null() {
            cx.wrong_type(v, path, "a list of ports");
        }
        return;
    };
    for (i, it) in items.iter().enumerate() {
        let ip = index(path, i);
        let got: Vec<Port> = match &it.kind {
            NodeKind::Scalar(s) => match parse_port(&s.text) {
                Ok((ps, narrowed)) => {
                    if narrowed && let Some(info) = keys::entry("ports.published") {
                        cx.report(info, &ip, it.span).message = format!(
                            "`{}` lets docker pick any host port of the range; bridge publishes the first one",
                            s.text
                        );
                    }
                    ps
                }
                Err(e) => {
                    cx.error(codes::BAD_PORT, &ip, it.span, e).hint =
                        Some("write \"published:container/protocol\", e.g. \"8080:80/tcp\"".into());
                    continue;
                }
            },
            NodeKind::Map(_) => match port_long(cx, it, &ip) {
                Some(ps) => ps,
                None => continue,
            },
            NodeKind::Seq(_) => {
                cx.wrong_type(it, &ip, "a port");
                continue;
            }
        };
        for p in got {
            cx.at_item(np, "", out.len(), it.span);
            out.push(p);
        }
    }
}

fn port_long(cx: &mut Cx, it: &Node, ip: &str) -> Option<Vec<Port>> {
    let mut target = None;
    let mut published: Option<String> = None;
    let mut port = Port::default();
    let fields = [
        "name",
        "mode",
        "host_ip",
        "target",
        "published",
        "protocol",
        "app_protocol",
    ];
    for (k, _, val) in cx.entries(it, ip, &fields) {
        let kp = join(ip, k);
        match k {
            "target" => target = cx.string(val, &kp).map(|t| (t, val)),
            "published" => published = cx.opt_string(val, &kp),
            "host_ip" => port.host_ip = cx.opt_string(val, &kp).filter(|h| !h.is_empty()),
            "name" => port.name = cx.opt_string(val, &kp),
            "app_protocol" => port.app_protocol = cx.opt_string(val, &kp),
            "protocol" => {
                port.protocol = match cx.opt_string(val, &kp).as_deref() {
                    None | Some("tcp") => Protocol::Tcp,
                    Some("udp") => Protocol::Udp,
                    Some("sctp") => Protocol::Sctp,
                    Some(o) => {
                        cx.error(
                            codes::BAD_PORT,
                            &kp,
                            val.span,
                            format!("unknown protocol `{o}` (tcp, udp or sctp)"),
                        );
                        return None;
                    }
                }
            }
            _ => {
                port.mode = match cx.opt_string(val, &kp).as_deref() {
                    None | Some("ingress") => PortMode::Ingress,
                    Some("host") => PortMode::Host,
                    Some(o) => {
                        cx.invalid(val, &kp, format!("unknown port mode `{o}`"))
                            .hint = Some("one of: ingress, host".into());
                        return None;
                    }
                }
            }
        }
    }
    let Some((t, tnode)) = target else {
        cx.error(
            codes::MISSING_FIELD,
            ip,
            it.span,
            "missing required field `target`",
        );
        return None;
    };
    let c = match port_range(&t) {
        Ok(c) => c,
        Err(e) => {
            cx.error(codes::BAD_PORT, &join(ip, "target"), tnode.span, e);
            return None;
        }
    };
    let n = usize::from(c.1 - c.0) + 1;
    let pubs: Vec<Option<u16>> = match published.as_deref() {
        None | Some("") => vec![None; n],
        Some(p) => match port_range(p) {
            Ok((a, b)) if usize::from(b - a) + 1 == n => (a..=b).map(Some).collect(),
            Ok((a, b)) if n == 1 => {
                if let Some(info) = keys::entry("ports.published") {
                    cx.report(info, &join(ip, "published"), it.span).message = format!(
                        "`published: {p}` lets docker pick any host port of the range; bridge publishes {a}"
                    );
                }
                let _ = b;
                vec![Some(a)]
            }
            Ok(_) => {
                cx.error(
                    codes::BAD_PORT,
                    ip,
                    it.span,
                    "the published and target ranges differ in length",
                );
                return None;
            }
            Err(e) => {
                cx.error(codes::BAD_PORT, &join(ip, "published"), it.span, e);
                return None;
            }
        },
    };
    Some(
        (c.0..=c.1)
            .zip(pubs)
            .map(|(c, p)| Port {
                container: c,
                published: p,
                ..port.clone()
            })
            .collect(),
    )
}

fn expose(cx: &mut Cx, v: &Node, path: &str, out: &mut Vec<u16>) {
    let Some(items) = v.as_seq() else {
        if !v.is_null() {
            cx.wrong_type(v, path, "a list of ports");
        }
        return;
    };
    for (i, it) in items.iter().enumerate() {
        let ip = index(path, i);
        let Some(t) = cx.string(it, &ip) else {
            continue;
        };
        let (body, proto) = match t.split_once('/') {
            Some((b, p)) => (b, Some(p)),
            None => (t.as_str(), None),
        };
        if let Some(p) = proto
            && p != "tcp"
            && let Some(info) = keys::entry("expose.protocol")
        {
            cx.report(info, &ip, it.span).message = format!(
                "`{t}`: exposed ports carry no protocol; bridge exposes port {body} without `/{p}`"
            );
        }
        match port_range(body) {
            Ok((a, b)) => {
                for p in a..=b {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
            Err(e) => {
                cx.error(codes::BAD_PORT, &ip, it.span, e);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// volumes

fn is_host_path(src: &str) -> bool {
    src.starts_with('/')
        || src.starts_with('.')
        || src.starts_with('~')
        || src.starts_with('\\')
        || (src.len() >= 2 && src.as_bytes()[1] == b':' && src.as_bytes()[0].is_ascii_alphabetic())
}

fn volumes(cx: &mut Cx, names: &Names, v: &Node, path: &str, np: &str, out: &mut Vec<Mount>) {
    let Some(items) = v.as_seq() else {
        if !v.is_null() {
            cx.wrong_type(v, path, "a list of mounts");
        }
        return;
    };
    for (i, it) in items.iter().enumerate() {
        let ip = index(path, i);
        let m = match &it.kind {
            NodeKind::Scalar(s) => mount_short(cx, &s.text, &ip, it.span),
            NodeKind::Map(_) => mount_long(cx, it, &ip),
            NodeKind::Seq(_) => {
                cx.wrong_type(it, &ip, "a mount");
                None
            }
        };
        let Some(mut m) = m else { continue };
        if m.kind == MountKind::Volume
            && let Some(src) = &m.source
        {
            match names.volumes.get(src) {
                Some(n) => m.source = Some(n.clone()),
                None => {
                    cx.error(
                        codes::DANGLING_REF,
                        &ip,
                        it.span,
                        format!("named volume `{src}` is not declared in the top-level `volumes:`"),
                    )
                    .hint = Some(format!(
                        "add `volumes: {{{src}: {{}}}}` at the top level, or write `./{src}` for a host directory"
                    ));
                }
            }
        }
        cx.at_item(np, "", out.len(), it.span);
        out.push(m);
    }
}

fn mount_short(cx: &mut Cx, s: &str, ip: &str, span: Span) -> Option<Mount> {
    // Windows drive letters (`C:\x`) hold a colon that is not a separator.
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c == ':' {
            let drive = cur.len() == 1
                && cur.chars().all(|x| x.is_ascii_alphabetic())
                && matches!(chars.get(i + 1), Some('\\' | '/'));
            if !drive {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
        }
        cur.push(*c);
    }
    parts.push(cur);
    let abs = |t: &str| t.starts_with('/') || is_host_path(t) && !t.starts_with('.');
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, t.clone(), None),
        [a, b] if abs(b) => (Some(a.clone()), b.clone(), None),
        [a, b] => (None, a.clone(), Some(b.clone())),
        [a, b, c] => (Some(a.clone()), b.clone(), Some(c.clone())),
        _ => {
            cx.error(
                codes::BAD_MOUNT,
                ip,
                span,
                format!("`{s}` is not `source:target[:mode]`"),
            );
            return None;
        }
    };
    if !abs(&target) {
        cx.error(
            codes::BAD_MOUNT,
            ip,
            span,
            format!("the container path `{target}` must be absolute"),
        );
        return None;
    }
    let mut read_only = false;
    for opt in mode.iter().flat_map(|m| m.split(',')) {
        let sub = match opt {
            "ro" => {
                read_only = true;
                None
            }
            "rw" | "" => None,
            "z" | "Z" => Some("volumes.bind.selinux"),
            "nocopy" => Some("volumes.volume.nocopy"),
            "cached" | "delegated" | "consistent" => Some("volumes.consistency"),
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                Some("volumes.bind.propagation")
            }
            other => {
                cx.error(
                    codes::BAD_MOUNT,
                    ip,
                    span,
                    format!("unknown mount option `{other}`"),
                )
                .hint = Some("one of: ro, rw, z, Z, nocopy, cached, delegated, rshared...".into());
                return None;
            }
        };
        if let Some(info) = sub.and_then(keys::entry) {
            cx.report(info, ip, span).message = format!(
                "mount option `{opt}` is {}: {}",
                if info.treatment == Treatment::Ignored {
                    "ignored"
                } else {
                    "not carried"
                },
                info.reason
            );
        }
    }
    let kind = match &source {
        Some(src) if is_host_path(src) => MountKind::Bind,
        _ => MountKind::Volume,
    };
    Some(Mount {
        kind,
        source: source.filter(|s| !s.is_empty()),
        target,
        read_only,
        size: None,
    })
}

fn mount_long(cx: &mut Cx, it: &Node, ip: &str) -> Option<Mount> {
    let fields = [
        "type",
        "source",
        "target",
        "read_only",
        "consistency",
        "bind",
        "volume",
        "tmpfs",
        "image",
    ];
    let mut m = Mount::default();
    let mut kind: Option<String> = None;
    let mut target = None;
    for (k, kn, val) in cx.entries(it, ip, &fields) {
        let kp = join(ip, k);
        match k {
            "type" => kind = cx.string(val, &kp),
            "source" => m.source = cx.opt_string(val, &kp).filter(|s| !s.is_empty()),
            "target" => target = cx.string(val, &kp),
            "read_only" => m.read_only = cx.boolean(val, &kp).unwrap_or(false),
            "consistency" => {
                if !is_empty_value(val)
                    && let Some(info) = keys::entry("volumes.consistency")
                {
                    cx.report(info, &kp, kn.span);
                }
            }
            "bind" => {
                let f = ["propagation", "create_host_path", "recursive", "selinux"];
                for (bk, bkn, bv) in cx.entries(val, &kp, &f) {
                    let report = match bk {
                        "create_host_path" => cx.boolean(bv, &join(&kp, bk)) == Some(false),
                        _ => !is_empty_value(bv),
                    };
                    if report && let Some(info) = keys::entry(&format!("volumes.bind.{bk}")) {
                        cx.report(info, &join(&kp, bk), bkn.span);
                    }
                }
            }
            "volume" => {
                for (vk, vkn, vv) in cx.entries(val, &kp, &["labels", "nocopy", "subpath"]) {
                    if !is_empty_value(vv)
                        && let Some(info) = keys::entry(&format!("volumes.volume.{vk}"))
                    {
                        cx.report(info, &join(&kp, vk), vkn.span);
                    }
                }
            }
            "tmpfs" => {
                for (tk, tkn, tv) in cx.entries(val, &kp, &["size", "mode"]) {
                    if tk == "size" {
                        m.size = cx.bytes_any(tv, &join(&kp, tk));
                    } else if let Some(info) = keys::entry("volumes.tmpfs.mode") {
                        cx.report(info, &join(&kp, tk), tkn.span);
                    }
                }
            }
            _ => {
                if !is_empty_value(val)
                    && let Some(info) = keys::entry("volumes.type")
                {
                    cx.report(info, &kp, kn.span);
                }
            }
        }
    }
    let Some(target) = target else {
        cx.error(
            codes::MISSING_FIELD,
            ip,
            it.span,
            "missing required field `target`",
        );
        return None;
    };
    m.target = target;
    m.kind = match kind.as_deref() {
        Some("volume") | None => MountKind::Volume,
        Some("bind") => MountKind::Bind,
        Some("tmpfs") => MountKind::Tmpfs,
        Some(t @ ("npipe" | "cluster" | "image")) => {
            if let Some(info) = keys::entry("volumes.type") {
                cx.report(info, &join(ip, "type"), it.span).message =
                    format!("a `{t}` mount cannot be deployed: {}", info.reason);
            }
            return None;
        }
        Some(o) => {
            cx.invalid(it, &join(ip, "type"), format!("unknown mount type `{o}`"))
                .hint = Some("one of: volume, bind, tmpfs".into());
            return None;
        }
    };
    if m.kind == MountKind::Bind && m.source.is_none() {
        cx.error(
            codes::BAD_MOUNT,
            ip,
            it.span,
            "a bind mount needs a `source` path",
        );
        return None;
    }
    if m.kind == MountKind::Tmpfs {
        m.source = None;
    }
    Some(m)
}

fn tmpfs_short(cx: &mut Cx, s: &str, ip: &str, span: Span) -> Option<Mount> {
    let (target, opts) = match s.split_once(':') {
        Some((t, o)) => (t, o),
        None => (s, ""),
    };
    let mut m = Mount {
        kind: MountKind::Tmpfs,
        target: target.to_string(),
        ..Mount::default()
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some(("size", sz)) => match sz.parse::<ByteSize>() {
                Ok(b) => m.size = Some(b),
                Err(e) => {
                    cx.error(codes::BAD_UNIT, ip, span, e);
                }
            },
            Some(("mode", _)) => {
                if let Some(info) = keys::entry("volumes.tmpfs.mode") {
                    cx.report(info, ip, span);
                }
            }
            _ => {
                cx.approx(ip, span, format!("tmpfs option `{o}` is not carried"));
            }
        }
    }
    Some(m)
}

// ---------------------------------------------------------------------------------------------
// secrets, configs, dependencies, networks

fn file_mode(cx: &mut Cx, v: &Node, path: &str) -> Option<u32> {
    let t = v.as_str()?.trim().to_string();
    let parsed = if let Some(o) = t.strip_prefix("0o") {
        u32::from_str_radix(o, 8).ok()
    } else if t.starts_with('0') && t.len() > 1 {
        // YAML 1.1 octal, as docker compose reads `mode: 0440`.
        u32::from_str_radix(&t[1..], 8).ok()
    } else if v.scalar().is_some_and(|s| !s.plain) {
        // A quoted mode is octal in compose.
        u32::from_str_radix(&t, 8).ok()
    } else {
        t.parse::<u32>().ok()
    };
    if parsed.is_none() {
        cx.invalid(v, path, format!("`{t}` is not a file mode"))
            .hint = Some("write an octal mode such as 0440".into());
    }
    parsed
}

fn refs(
    cx: &mut Cx,
    v: &Node,
    path: &str,
    default_dir: &str,
    names: &HashMap<String, String>,
) -> Vec<(ConfigRef, Span)> {
    let Some(items) = v.as_seq() else {
        if !v.is_null() {
            cx.wrong_type(v, path, "a list");
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let ip = index(path, i);
        match &it.kind {
            NodeKind::Scalar(_) => {
                if let Some(n) = cx.string(it, &ip) {
                    let name = Names::of(names, &n);
                    // A renamed secret or config keeps the path the app reads it from.
                    let file = (name != n).then(|| format!("{default_dir}{n}"));
                    out.push((
                        ConfigRef {
                            name,
                            file,
                            ..ConfigRef::default()
                        },
                        it.span,
                    ));
                }
            }
            NodeKind::Map(_) => {
                let mut r = ConfigRef::default();
                let mut source = None;
                for (k, _, val) in cx.entries(it, &ip, &["source", "target", "uid", "gid", "mode"])
                {
                    let kp = join(&ip, k);
                    match k {
                        "source" => source = cx.string(val, &kp),
                        "target" => {
                            r.file = cx.opt_string(val, &kp).map(|t| {
                                if t.starts_with('/') || t.contains(":\\") {
                                    t
                                } else {
                                    format!("{default_dir}{t}")
                                }
                            })
                        }
                        "uid" => r.uid = cx.opt_string(val, &kp),
                        "gid" => r.gid = cx.opt_string(val, &kp),
                        _ => r.mode = file_mode(cx, val, &kp),
                    }
                }
                let Some(src) = source else {
                    cx.error(
                        codes::MISSING_FIELD,
                        &ip,
                        it.span,
                        "missing required field `source`",
                    );
                    continue;
                };
                r.name = Names::of(names, &src);
                let default_target = format!("{default_dir}{src}");
                if r.name == src {
                    if r.file.as_deref() == Some(default_target.as_str()) {
                        r.file = None;
                    }
                } else if r.file.is_none() {
                    // A renamed secret or config keeps the path the app reads it from.
                    r.file = Some(default_target);
                }
                out.push((r, it.span));
            }
            NodeKind::Seq(_) => cx.wrong_type(it, &ip, "a name or {source, target}"),
        }
    }
    out
}

fn depends_on(
    cx: &mut Cx,
    names: &Names,
    v: &Node,
    path: &str,
    np: &str,
    out: &mut Vec<Dependency>,
) {
    match &v.kind {
        NodeKind::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                if let Some(n) = cx.string(it, &index(path, i)) {
                    cx.at_item(np, "", out.len(), it.span);
                    out.push(Dependency::on(names.service(&n)));
                }
            }
        }
        NodeKind::Map(m) => {
            for (k, val) in m {
                let Some(name) = k.as_str() else { continue };
                let kp = join(path, name);
                let mut d = Dependency::on(names.service(name));
                for (f, _, fv) in cx.entries(val, &kp, &["condition", "restart", "required"]) {
                    let fp = join(&kp, f);
                    match f {
                        "condition" => {
                            d.condition = match cx.opt_string(fv, &fp).as_deref() {
                                None | Some("service_started") => DependencyCondition::Started,
                                Some("service_healthy") => DependencyCondition::Healthy,
                                Some("service_completed_successfully") => {
                                    DependencyCondition::CompletedSuccessfully
                                }
                                Some(o) => {
                                    cx.invalid(fv, &fp, format!("unknown condition `{o}`")).hint = Some(
                                        "one of: service_started, service_healthy, service_completed_successfully"
                                            .into(),
                                    );
                                    DependencyCondition::Started
                                }
                            }
                        }
                        "restart" => d.restart = cx.boolean(fv, &fp).unwrap_or(false),
                        _ => d.required = cx.boolean(fv, &fp).unwrap_or(true),
                    }
                }
                cx.at_item(np, "", out.len(), k.span);
                out.push(d);
            }
        }
        NodeKind::Scalar(_) if v.is_null() => {}
        NodeKind::Scalar(_) => cx.wrong_type(v, path, "a list or a mapping of services"),
    }
}

fn networks(cx: &mut Cx, names: &Names, v: &Node, path: &str, np: &str, s: &mut Service) {
    let mut per_net: Vec<(String, Vec<String>, Span)> = Vec::new();
    match &v.kind {
        NodeKind::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                if let Some(n) = cx.string(it, &index(path, i)) {
                    per_net.push((n, Vec::new(), it.span));
                }
            }
        }
        NodeKind::Map(m) => {
            for (k, val) in m {
                let Some(name) = k.as_str() else { continue };
                let kp = join(path, name);
                let fields = [
                    "aliases",
                    "interface_name",
                    "ipv4_address",
                    "ipv6_address",
                    "link_local_ips",
                    "mac_address",
                    "driver_opts",
                    "priority",
                    "gw_priority",
                ];
                let mut aliases = Vec::new();
                for (f, fk, fv) in cx.entries(val, &kp, &fields) {
                    if f == "aliases" {
                        aliases = cx.strings(fv, &join(&kp, f));
                    } else if !is_empty_value(fv)
                        && let Some(info) = keys::entry(&format!("networks.{f}"))
                    {
                        cx.report(info, &join(&kp, f), fk.span);
                    }
                }
                per_net.push((name.to_string(), aliases, k.span));
            }
        }
        NodeKind::Scalar(_) if v.is_null() => {}
        NodeKind::Scalar(_) => cx.wrong_type(v, path, "a list or a mapping of networks"),
    }
    let first_aliases: Option<BTreeSet<String>> =
        per_net.first().map(|(_, a, _)| a.iter().cloned().collect());
    let differ = per_net
        .iter()
        .any(|(_, a, _)| Some(a.iter().cloned().collect::<BTreeSet<_>>()) != first_aliases);
    for (i, (n, aliases, sp)) in per_net.into_iter().enumerate() {
        cx.at_item(np, "networks", i, sp);
        s.networks.push(Names::of(&names.networks, &n));
        for a in aliases {
            if !s.aliases.contains(&a) {
                s.aliases.push(a);
            }
        }
    }
    if differ && !s.aliases.is_empty() {
        cx.approx(
            path,
            v.span,
            format!(
                "aliases differ per network; the service answers to all of them ({}) on every network",
                s.aliases.join(", ")
            ),
        );
    }
    if !s.aliases.is_empty() {
        cx.at_key(np, "aliases", v.span, true);
    }
}

// ---------------------------------------------------------------------------------------------
// health, restart, deploy

fn health(cx: &mut Cx, v: &Node, path: &str) -> Option<Health> {
    let fields = [
        "disable",
        "interval",
        "retries",
        "test",
        "timeout",
        "start_period",
        "start_interval",
    ];
    let mut h = Health::default();
    let mut test_set = false;
    let mut disable = false;
    for (k, _, val) in cx.entries(v, path, &fields) {
        let kp = join(path, k);
        match k {
            "disable" => disable = cx.boolean(val, &kp).unwrap_or(false),
            "interval" => h.interval = cx.duration(val, &kp),
            "timeout" => h.timeout = cx.duration(val, &kp),
            "start_period" => h.start_period = cx.duration(val, &kp),
            "start_interval" => h.start_interval = cx.duration(val, &kp),
            "retries" => h.retries = cx.uint(val, &kp),
            _ => match &val.kind {
                NodeKind::Seq(_) => {
                    let words = cx.strings(val, &kp);
                    match words.first().map(String::as_str) {
                        Some("CMD") if words.len() >= 2 => {}
                        Some("CMD-SHELL") if words.len() >= 2 => {}
                        Some("NONE") => {}
                        _ => {
                            cx.invalid(val, &kp, "a health test list starts with CMD (and a program), CMD-SHELL (and a command) or NONE")
                                .hint = Some("write [CMD, curl, -f, http://localhost/]".into());
                            return None;
                        }
                    }
                    let words = if words[0] == "CMD-SHELL" && words.len() > 2 {
                        // compose joins the rest with spaces
                        vec!["CMD-SHELL".to_string(), words[1..].join(" ")]
                    } else if words[0] == "NONE" {
                        vec!["NONE".to_string()]
                    } else {
                        words
                    };
                    h.test = HealthTest(words);
                    test_set = true;
                }
                NodeKind::Scalar(_) if val.is_null() => {}
                NodeKind::Scalar(s) => {
                    h.test = HealthTest(vec!["CMD-SHELL".into(), s.text.clone()]);
                    test_set = true;
                }
                NodeKind::Map(_) => cx.wrong_type(val, &kp, "a string or a list"),
            },
        }
    }
    if disable {
        return Some(Health {
            test: HealthTest(vec!["NONE".into()]),
            ..Health::default()
        });
    }
    if !test_set {
        if let Some(info) = keys::entry("healthcheck.test") {
            cx.report(info, path, v.span).message = "a health check without `test` keeps the image's own test; its timings are not carried".into();
        }
        return None;
    }
    Some(h)
}

/// The policy, the attempts, and whether it is `unless-stopped` (approximated when used).
fn restart(
    cx: &mut Cx,
    r: &str,
    path: &str,
    span: Span,
) -> Option<(RestartPolicy, Option<u32>, bool)> {
    match r {
        "no" | "false" | "" => Some((RestartPolicy::Never, None, false)),
        "always" => Some((RestartPolicy::Always, None, false)),
        "unless-stopped" => Some((RestartPolicy::Always, None, true)),
        "on-failure" => Some((RestartPolicy::OnFailure, None, false)),
        o => match o.strip_prefix("on-failure:").map(|n| n.parse::<u32>()) {
            Some(Ok(n)) => Some((RestartPolicy::OnFailure, Some(n), false)),
            _ => {
                cx.error(
                    codes::INVALID_VALUE,
                    path,
                    span,
                    format!("unknown restart policy `{o}`"),
                )
                .hint = Some("one of: no, always, on-failure[:N], unless-stopped".into());
                None
            }
        },
    }
}

fn update_policy(cx: &mut Cx, v: &Node, path: &str, rollback: bool) -> UpdatePolicy {
    let fields = [
        "parallelism",
        "delay",
        "failure_action",
        "monitor",
        "max_failure_ratio",
        "order",
    ];
    let mut u = UpdatePolicy::default();
    for (k, kn, val) in cx.entries(v, path, &fields) {
        let kp = join(path, k);
        match k {
            "parallelism" => u.parallelism = cx.uint(val, &kp),
            "delay" => u.delay = cx.duration(val, &kp),
            "monitor" => u.monitor = cx.duration(val, &kp),
            "max_failure_ratio" => u.max_failure_ratio = cx.float(val, &kp),
            "failure_action" => {
                u.failure_action = match cx.opt_string(val, &kp).as_deref() {
                    None => None,
                    Some("pause") => Some(FailureAction::Pause),
                    Some("continue") => Some(FailureAction::Continue),
                    Some("rollback") if !rollback => Some(FailureAction::Rollback),
                    Some("rollback") => {
                        if let Some(info) = keys::entry("deploy.rollback_config.failure_action") {
                            cx.report(info, &kp, kn.span);
                        }
                        None
                    }
                    Some(o) => {
                        cx.invalid(val, &kp, format!("unknown failure action `{o}`"))
                            .hint = Some("one of: pause, continue, rollback".into());
                        None
                    }
                }
            }
            _ => {
                u.order = match cx.opt_string(val, &kp).as_deref() {
                    None => None,
                    Some("stop-first") => Some(UpdateOrder::StopFirst),
                    Some("start-first") => Some(UpdateOrder::StartFirst),
                    Some(o) => {
                        cx.invalid(val, &kp, format!("unknown order `{o}`")).hint =
                            Some("one of: stop-first, start-first".into());
                        None
                    }
                }
            }
        }
    }
    u
}

fn deploy(
    cx: &mut Cx,
    v: &Node,
    path: &str,
    np: &str,
    s: &mut Service,
    dset: &mut DeploySet,
    labels: &mut Option<(BTreeMap<String, String>, Span)>,
) {
    let fields = [
        "mode",
        "endpoint_mode",
        "replicas",
        "labels",
        "rollback_config",
        "update_config",
        "resources",
        "restart_policy",
        "placement",
    ];
    for (k, kn, val) in cx.entries(v, path, &fields) {
        let kp = join(path, k);
        match k {
            "mode" => match cx.opt_string(val, &kp).as_deref() {
                None | Some("replicated") => {}
                Some("global") => {
                    s.mode = ServiceMode::Global;
                    cx.at_key(np, "mode", val.span, true);
                }
                Some(m @ ("replicated-job" | "global-job")) => {
                    if m == "global-job" {
                        s.mode = ServiceMode::Global;
                    }
                    s.restart = RestartPolicy::Never;
                    dset.restart = true;
                    if let Some(info) = keys::entry("deploy.mode") {
                        cx.report(info, &kp, val.span).message = format!(
                            "`{m}` runs to completion once; it becomes a {} service that is never restarted",
                            if m == "global-job" {
                                "global"
                            } else {
                                "replicated"
                            }
                        );
                    }
                }
                Some(o) => {
                    cx.invalid(val, &kp, format!("unknown deploy mode `{o}`"))
                        .hint =
                        Some("one of: replicated, global, replicated-job, global-job".into());
                }
            },
            "endpoint_mode" => match cx.opt_string(val, &kp).as_deref() {
                None | Some("vip") => {}
                Some(_) => {
                    if let Some(info) = keys::entry("deploy.endpoint_mode") {
                        cx.report(info, &kp, kn.span);
                    }
                }
            },
            "replicas" => {
                if let Some(n) = cx.uint::<u32>(val, &kp) {
                    s.replicas = n;
                    dset.replicas = true;
                    cx.at_key(np, "replicas", val.span, true);
                }
            }
            "labels" => {
                let m = cx.string_map(val, &kp);
                *labels = Some((m, kn.span));
            }
            "update_config" => {
                s.update = Some(update_policy(cx, val, &kp, false));
                cx.at_key(np, "update", kn.span, true);
            }
            "rollback_config" => {
                s.rollback = Some(update_policy(cx, val, &kp, true));
                cx.at_key(np, "rollback", kn.span, true);
            }
            "restart_policy" => {
                for (rk, _, rv) in
                    cx.entries(val, &kp, &["condition", "delay", "max_attempts", "window"])
                {
                    let rp = join(&kp, rk);
                    match rk {
                        "condition" => match cx.opt_string(rv, &rp).as_deref() {
                            None => {}
                            Some("none") => s.restart = RestartPolicy::Never,
                            Some("on-failure") => s.restart = RestartPolicy::OnFailure,
                            Some("any") => s.restart = RestartPolicy::Always,
                            Some(o) => {
                                cx.invalid(rv, &rp, format!("unknown restart condition `{o}`"))
                                    .hint = Some("one of: none, on-failure, any".into());
                                continue;
                            }
                        },
                        "delay" => s.restart_delay = cx.duration(rv, &rp),
                        "window" => s.restart_window = cx.duration(rv, &rp),
                        _ => s.restart_max_attempts = cx.uint(rv, &rp),
                    }
                    cx.at_key(np, "restart", kn.span, true);
                }
                dset.restart = true;
            }
            "placement" => {
                let f = ["constraints", "preferences", "max_replicas_per_node"];
                for (pk, pkn, pv) in cx.entries(val, &kp, &f) {
                    let pp = join(&kp, pk);
                    match pk {
                        "constraints" => s.placement.constraints = cx.strings(pv, &pp),
                        "max_replicas_per_node" => s.placement.max_per_host = cx.uint(pv, &pp),
                        _ => {
                            let Some(items) = pv.as_seq() else {
                                if !pv.is_null() {
                                    cx.wrong_type(pv, &pp, "a list of {spread: label}");
                                }
                                continue;
                            };
                            for (i, it) in items.iter().enumerate() {
                                let ip = index(&pp, i);
                                for (_, _, sv) in cx.entries(it, &ip, &["spread"]) {
                                    let Some(sp) = cx.string(sv, &join(&ip, "spread")) else {
                                        continue;
                                    };
                                    if s.placement.spread.is_none() {
                                        s.placement.spread = Some(sp);
                                    } else if let Some(info) =
                                        keys::entry("deploy.placement.preferences")
                                    {
                                        cx.report(info, &ip, pkn.span).message = format!(
                                            "spread preference `{sp}` is not carried: only the first one is kept"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
                cx.at_key(np, "placement", kn.span, true);
            }
            _ => resources(cx, val, &kp, np, s, dset),
        }
    }
}

fn resources(cx: &mut Cx, v: &Node, path: &str, np: &str, s: &mut Service, dset: &mut DeploySet) {
    for (k, _, val) in cx.entries(v, path, &["limits", "reservations"]) {
        let kp = join(path, k);
        let limits = k == "limits";
        let fields: &[&str] = if limits {
            &["cpus", "memory", "pids"]
        } else {
            &["cpus", "memory", "generic_resources", "devices"]
        };
        for (f, fk, fv) in cx.entries(val, &kp, fields) {
            let fp = join(&kp, f);
            match (limits, f) {
                (true, "cpus") => {
                    s.resources.cpus = cpus_any(cx, fv, &fp);
                    dset.cpus = s.resources.cpus.is_some();
                    cx.at_key(np, "resources.cpus", fv.span, true);
                }
                (true, "memory") => {
                    s.resources.memory = cx.bytes_any(fv, &fp);
                    dset.memory = s.resources.memory.is_some();
                    cx.at_key(np, "resources.memory", fv.span, true);
                }
                (true, _) => {
                    s.resources.pids = cx.uint(fv, &fp);
                    dset.pids = s.resources.pids.is_some();
                    cx.at_key(np, "resources.pids", fv.span, true);
                }
                (false, "cpus") => {
                    s.resources.reserve_cpus = cpus_any(cx, fv, &fp);
                    cx.at_key(np, "resources.reserve_cpus", fv.span, true);
                }
                (false, "memory") => {
                    s.resources.reserve_memory = cx.bytes_any(fv, &fp);
                    dset.reserve_memory = s.resources.reserve_memory.is_some();
                    cx.at_key(np, "resources.reserve_memory", fv.span, true);
                }
                (false, "generic_resources") => {
                    if !is_empty_value(fv)
                        && let Some(info) =
                            keys::entry("deploy.resources.reservations.generic_resources")
                    {
                        cx.report(info, &fp, fk.span);
                    }
                }
                _ => {
                    if let Some(n) = device_reservations(cx, fv, &fp) {
                        s.resources.gpus = Some(n);
                        dset.gpus = true;
                        cx.at_key(np, "resources.gpus", fv.span, true);
                    }
                }
            }
        }
    }
}

/// GPU devices (`capabilities: [gpu]`) counted; other devices reported.
fn device_reservations(cx: &mut Cx, v: &Node, path: &str) -> Option<u32> {
    let Some(items) = v.as_seq() else {
        if !v.is_null() {
            cx.wrong_type(v, path, "a list of devices");
        }
        return None;
    };
    let mut total: Option<u32> = None;
    for (i, it) in items.iter().enumerate() {
        let ip = index(path, i);
        let fields = ["capabilities", "count", "device_ids", "driver", "options"];
        let mut caps = Vec::new();
        let mut count: Option<&Node> = None;
        let mut ids = Vec::new();
        for (k, _, val) in cx.entries(it, &ip, &fields) {
            match k {
                "capabilities" => caps = cx.strings(val, &join(&ip, k)),
                "count" => count = Some(val),
                "device_ids" => ids = cx.strings(val, &join(&ip, k)),
                _ => {}
            }
        }
        if !caps.iter().any(|c| c == "gpu") {
            if let Some(info) = keys::entry("deploy.resources.reservations.devices") {
                cx.report(info, &ip, it.span).message = format!(
                    "a device reservation with capabilities [{}] is not carried: {}",
                    caps.join(", "),
                    info.reason
                );
            }
            continue;
        }
        let n = gpu_count(cx, count, &ids, &ip, it.span);
        total = Some(total.unwrap_or(0).saturating_add(n));
    }
    total
}

fn gpu_count(cx: &mut Cx, count: Option<&Node>, ids: &[String], ip: &str, span: Span) -> u32 {
    match count {
        Some(c) if c.as_str() == Some("all") => {
            cx.approx(
                &join(ip, "count"),
                c.span,
                "`count: all` reserves every gpu of the host; bridge reserves 1 gpu",
            )
            .hint = Some("write the number of gpus the service needs".into());
            1
        }
        Some(c) => cx.uint(c, &join(ip, "count")).unwrap_or(1),
        None if !ids.is_empty() => {
            cx.approx(
                ip,
                span,
                format!(
                    "specific gpus ({}) cannot be chosen; bridge reserves {} gpu(s)",
                    ids.join(", "),
                    ids.len()
                ),
            );
            u32::try_from(ids.len()).unwrap_or(u32::MAX)
        }
        None => {
            cx.approx(
                ip,
                span,
                "a gpu reservation without `count` reserves every gpu of the host; bridge reserves 1 gpu",
            );
            1
        }
    }
}

fn gpus(cx: &mut Cx, v: &Node, path: &str) -> Option<u32> {
    if v.as_str() == Some("all") {
        return Some(gpu_count(cx, Some(v), &[], path, v.span));
    }
    let Some(items) = v.as_seq() else {
        if !v.is_null() {
            cx.wrong_type(v, path, "`all` or a list of gpu requests");
        }
        return None;
    };
    let mut total = 0u32;
    for (i, it) in items.iter().enumerate() {
        let ip = index(path, i);
        let fields = ["capabilities", "count", "device_ids", "driver", "options"];
        let mut count = None;
        let mut ids = Vec::new();
        for (k, _, val) in cx.entries(it, &ip, &fields) {
            match k {
                "count" => count = Some(val),
                "device_ids" => ids = cx.strings(val, &join(&ip, k)),
                _ => {}
            }
        }
        total = total.saturating_add(gpu_count(cx, count, &ids, &ip, it.span));
    }
    Some(total)
}

/// Legacy keys fill what `deploy` did not set; both set and different is reported.
fn reconcile(cx: &mut Cx, p: &str, s: &mut Service, l: Legacy, d: &DeploySet) {
    // cpu_quota / cpu_period -> cpus
    let mut cpus = l.cpus;
    if let Some((q, qspan)) = l.cpu_quota
        && q > 0
    {
        let period = l.cpu_period.map_or(100_000, |(p, _)| p).max(1);
        let c = Cpus(
            u64::try_from(q.saturating_mul(1000) / period)
                .unwrap_or(0)
                .max(1),
        );
        cx.approx(
            &format!("{p}.cpu_quota"),
            qspan,
            format!("`cpu_quota: {q}` per `cpu_period: {period}` becomes a limit of {c} cpus"),
        );
        if cpus.is_none() {
            cpus = Some((c, "cpu_quota", qspan));
        }
    } else if let Some((_, psp)) = l.cpu_period
        && let Some(info) = keys::service_key("cpu_period")
    {
        cx.push(
            Severity::Warning,
            info.code,
            &format!("{p}.cpu_period"),
            psp,
            "`cpu_period` without `cpu_quota` sets no limit and is not carried",
        );
    }
    let np = format!("services.{}", p.trim_start_matches("services."));
    macro_rules! fill {
        ($set:expr, $field:expr, $legacy:expr, $key:expr, $dkey:expr, $show:expr) => {
            if let Some((v, span)) = $legacy {
                if !$set {
                    $field = Some(v);
                    cx.at_key(&np, $dkey, span, true);
                } else if $field != Some(v) {
                    cx.approx(
                        &format!("{p}.{}", $key),
                        span,
                        format!(
                            "`{}` ({}) differs from `deploy.resources` ({}); deploy wins",
                            $key,
                            $show(&v),
                            $field.as_ref().map($show).unwrap_or_default()
                        ),
                    );
                }
            }
        };
    }
    let (cpus_key, cpus_v) = match cpus {
        Some((c, key, sp)) => (key, Some((c, sp))),
        None => ("cpus", None),
    };
    fill!(
        d.cpus,
        s.resources.cpus,
        cpus_v,
        cpus_key,
        "resources.cpus",
        |c: &Cpus| c.to_string()
    );
    fill!(
        d.memory,
        s.resources.memory,
        l.memory,
        "mem_limit",
        "resources.memory",
        |b: &ByteSize| b.to_string()
    );
    fill!(
        d.reserve_memory,
        s.resources.reserve_memory,
        l.reserve_memory,
        "mem_reservation",
        "resources.reserve_memory",
        |b: &ByteSize| b.to_string()
    );
    fill!(
        d.pids,
        s.resources.pids,
        l.pids,
        "pids_limit",
        "resources.pids",
        |n: &u32| n.to_string()
    );
    fill!(
        d.gpus,
        s.resources.gpus,
        l.gpus,
        "gpus",
        "resources.gpus",
        |n: &u32| n.to_string()
    );
    if let Some((n, span)) = l.scale {
        if !d.replicas {
            s.replicas = n;
            cx.at_key(&np, "replicas", span, true);
        } else if s.replicas != n {
            cx.approx(
                &format!("{p}.scale"),
                span,
                format!(
                    "`scale: {n}` differs from `deploy.replicas: {}`; deploy wins",
                    s.replicas
                ),
            );
        }
    }
    if let Some((r, max, span, unless_stopped)) = l.restart {
        if !d.restart {
            if unless_stopped {
                cx.approx(
                    &format!("{p}.restart"),
                    span,
                    "`unless-stopped` becomes `always`: a deployed service has no manual stop that survives a restart of its host",
                );
            }
            s.restart = r;
            if max.is_some() {
                s.restart_max_attempts = max;
            }
            cx.at_key(&np, "restart", span, true);
        } else if s.restart != r {
            cx.approx(
                &format!("{p}.restart"),
                span,
                format!(
                    "`restart` ({}) differs from `deploy.restart_policy` ({}); deploy wins",
                    policy_name(r),
                    policy_name(s.restart)
                ),
            );
        }
    }
}

fn policy_name(r: RestartPolicy) -> &'static str {
    match r {
        RestartPolicy::Always => "always",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Never => "never",
    }
}

// ---------------------------------------------------------------------------------------------
// smaller fields

fn extra_hosts(cx: &mut Cx, v: &Node, path: &str, out: &mut BTreeMap<String, String>) {
    let strip = |ip: &str| {
        ip.trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string()
    };
    match &v.kind {
        NodeKind::Map(m) => {
            for (k, val) in m {
                let Some(host) = k.as_str() else { continue };
                let kp = join(path, host);
                let ips = cx.string_or_list(val, &kp);
                if ips.len() > 1 {
                    cx.approx(
                        &kp,
                        val.span,
                        format!(
                            "`{host}` has {} addresses; bridge keeps the first, {}",
                            ips.len(),
                            ips[0]
                        ),
                    );
                }
                if let Some(ip) = ips.first() {
                    out.insert(host.to_string(), strip(ip));
                }
            }
        }
        NodeKind::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                let ip = index(path, i);
                let Some(t) = cx.string(it, &ip) else {
                    continue;
                };
                let split = t.split_once('=').or_else(|| t.split_once(':'));
                match split {
                    Some((h, a)) if !h.is_empty() && !a.is_empty() => {
                        out.insert(h.trim().to_string(), strip(a));
                    }
                    _ => {
                        cx.invalid(
                            it,
                            &ip,
                            format!("`{t}` is not `host:address` or `host=address`"),
                        );
                    }
                }
            }
        }
        NodeKind::Scalar(_) if v.is_null() => {}
        NodeKind::Scalar(_) => cx.wrong_type(v, path, "a list of host:address or a mapping"),
    }
}

fn ulimits(cx: &mut Cx, v: &Node, path: &str, out: &mut BTreeMap<String, Ulimit>) {
    let Some(m) = v.as_map() else {
        if !v.is_null() {
            cx.wrong_type(v, path, "a mapping of limits");
        }
        return;
    };
    for (k, val) in m {
        let Some(name) = k.as_str() else { continue };
        let kp = join(path, name);
        let u = if val.as_map().is_some() {
            let mut soft = None;
            let mut hard = None;
            for (f, _, fv) in cx.entries(val, &kp, &["soft", "hard"]) {
                let r = cx.int(fv, &join(&kp, f));
                if f == "soft" {
                    soft = r;
                } else {
                    hard = r;
                }
            }
            match (soft, hard) {
                (Some(s), Some(h)) => {
                    if s > h && h >= 0 {
                        cx.invalid(val, &kp, format!("soft limit {s} is above hard limit {h}"));
                        continue;
                    }
                    Ulimit { soft: s, hard: h }
                }
                _ => {
                    cx.error(
                        codes::MISSING_FIELD,
                        &kp,
                        val.span,
                        "a ulimit needs both `soft` and `hard`",
                    );
                    continue;
                }
            }
        } else {
            match cx.int(val, &kp) {
                Some(n) => Ulimit { soft: n, hard: n },
                None => continue,
            }
        };
        out.insert(name.to_string(), u);
    }
}

fn devices(cx: &mut Cx, v: &Node, path: &str, out: &mut Vec<String>) {
    let Some(items) = v.as_seq() else {
        if !v.is_null() {
            cx.wrong_type(v, path, "a list of devices");
        }
        return;
    };
    for (i, it) in items.iter().enumerate() {
        let ip = index(path, i);
        match &it.kind {
            NodeKind::Map(_) => {
                let mut src = None;
                let mut tgt = None;
                let mut perm = None;
                for (k, _, val) in cx.entries(it, &ip, &["source", "target", "permissions"]) {
                    let s = cx.string(val, &join(&ip, k));
                    match k {
                        "source" => src = s,
                        "target" => tgt = s,
                        _ => perm = s,
                    }
                }
                let Some(src) = src else {
                    cx.error(
                        codes::MISSING_FIELD,
                        &ip,
                        it.span,
                        "missing required field `source`",
                    );
                    continue;
                };
                let mut d = src.clone();
                if tgt.is_some() || perm.is_some() {
                    d.push(':');
                    d.push_str(tgt.as_deref().unwrap_or(&src));
                }
                if let Some(p) = perm {
                    d.push(':');
                    d.push_str(&p);
                }
                out.push(d);
            }
            _ => {
                if let Some(s) = cx.string(it, &ip) {
                    out.push(s);
                }
            }
        }
    }
}

fn logging(cx: &mut Cx, v: &Node, path: &str) -> Option<Logging> {
    let mut l = Logging::default();
    let mut any = false;
    for (k, _, val) in cx.entries(v, path, &["driver", "options"]) {
        any = true;
        if k == "driver" {
            l.driver = cx.opt_string(val, &join(path, k));
        } else {
            l.options = cx.string_map(val, &join(path, k));
        }
    }
    any.then_some(l)
}

fn pull_policy(cx: &mut Cx, v: &Node, path: &str) -> Option<PullPolicy> {
    let p = cx.opt_string(v, path)?;
    match p.as_str() {
        "always" => Some(PullPolicy::Always),
        "never" => Some(PullPolicy::Never),
        "missing" | "if_not_present" => Some(PullPolicy::Missing),
        "build" => {
            cx.approx(
                path,
                v.span,
                "`pull_policy: build` becomes `missing`: bridge deploys the pushed image and does not build it",
            );
            Some(PullPolicy::Missing)
        }
        o if o == "daily" || o == "weekly" || o.starts_with("every_") || o == "refresh" => {
            cx.approx(
                path,
                v.span,
                format!(
                    "`pull_policy: {o}` becomes `always`: periodic refresh has no neutral field"
                ),
            );
            Some(PullPolicy::Always)
        }
        o => {
            cx.invalid(v, path, format!("unknown pull policy `{o}`"))
                .hint = Some(
                "one of: always, never, missing, build, daily, weekly, every_<duration>".into(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ports() {
        let one = |s: &str| match parse_port(s) {
            Ok((p, _)) => p
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(one("80"), "80");
        assert_eq!(one("8080:80/udp"), "8080:80/udp");
        assert_eq!(one("127.0.0.1:8080:80"), "127.0.0.1:8080:80");
        assert_eq!(one("127.0.0.1::80"), "127.0.0.1::80");
        assert_eq!(one("[::1]:8080:80"), "[::1]:8080:80");
        assert_eq!(one("8000-8002:80-82"), "8000:80 8001:81 8002:82");
        assert_eq!(one("3000-3001"), "3000 3001");
        assert!(one("8000-8001:80-82").starts_with("error"));
        assert!(one("0:80").starts_with("error"));
        assert!(one("70000").starts_with("error"));
        assert!(one("80/xyz").starts_with("error"));
        assert!(one("1-65535").starts_with("error"));
        match parse_port("9000-9010:80") {
            Ok((p, narrowed)) => {
                assert!(narrowed);
                assert_eq!(p[0].published, Some(9000));
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn short_mounts() {
        let mut cx = Cx::default();
        let sp = Span::default();
        let m = |cx: &mut Cx, s: &str| mount_short(cx, s, "v", sp);
        let a = m(&mut cx, "data:/var/lib:ro").unwrap_or_else(|| panic!("none"));
        assert_eq!(
            (a.kind, a.source.as_deref(), a.read_only),
            (MountKind::Volume, Some("data"), true)
        );
        let b = m(&mut cx, "./site:/srv").unwrap_or_else(|| panic!("none"));
        assert_eq!(b.kind, MountKind::Bind);
        let c = m(&mut cx, "/anon").unwrap_or_else(|| panic!("none"));
        assert_eq!((c.kind, c.source), (MountKind::Volume, None));
        let d = m(&mut cx, "C:\\data:/data").unwrap_or_else(|| panic!("none"));
        assert_eq!(
            (d.kind, d.source.as_deref()),
            (MountKind::Bind, Some("C:\\data"))
        );
        assert!(cx.diags.is_empty());
        let e = m(&mut cx, "/x:/y:z");
        assert!(e.is_some());
        assert_eq!(cx.diags.0[0].code, "C114");
        assert!(m(&mut cx, "a:relative").is_none());
    }

    #[test]
    fn modes_are_octal_like_compose() {
        let mut cx = Cx::default();
        let n = |s: &str| {
            crate::node::load(s, &crate::node::Limits::default())
                .unwrap_or_else(|e| panic!("{e:?}"))
        };
        assert_eq!(file_mode(&mut cx, &n("0440"), "m"), Some(0o440));
        assert_eq!(file_mode(&mut cx, &n("'0440'"), "m"), Some(0o440));
        assert_eq!(file_mode(&mut cx, &n("288"), "m"), Some(288));
        assert_eq!(file_mode(&mut cx, &n("0o440"), "m"), Some(0o440));
    }
}
