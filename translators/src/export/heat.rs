//! Heat (HOT) templates read back into an app: the inverse of [`crate::heat`]. A template bridge
//! rendered gives back its services (from the `docker run` scripts of each container host's
//! cloud-config, their systemd units, secrets and configs from the `write_files` items, replicas
//! from a resource group's `count`), its vms, volumes, and the `providers.openstack` options the
//! parameters hold; any other template gives what it declares: `OS::Nova::Server`s as vms (size
//! from a stock `m1.*` flavor name, ports from their security groups' rules, user data as it is),
//! `OS::Zun::Container`s as services, `OS::Cinder::Volume`s as volumes. Parameters are read
//! through their defaults; `get_param`, `get_resource` and `get_attr` are resolved where they name
//! a parameter or a resource of the template. Every field not read back is `X001` with its path
//! and position, a close reading `X002`, unreadable input `X003`.

use std::collections::{BTreeMap, BTreeSet};

use bridge_core::model::{
    App, Command, Config, Dependency, DependencyCondition, Env, Group, Mount, MountKind,
    OpenstackContainers, OpenstackOptions, Port, Protocol, PullPolicy, RestartPolicy, Secret,
    SecretRef, Service, UpdatePolicy, Version, Vm, Volume,
};
use bridge_core::node::{Node, NodeKind, Resolved};
use bridge_core::units::{ByteSize, Cpus, Duration};
use bridge_core::{Diagnostic, Diagnostics, shell};
use serde_json::Value;

use super::cloudconfig::{CloudConfig, apply_unit, parse_run, write_file};
use super::{
    Export, Reader, dns_label, finish, join, read_artifact, secret_and_config_refs, volume_refs,
    words,
};
use crate::cloudinit::SCRIPTS_DIR;
use crate::heat::{DEFAULT_HOST_IMAGE, HEALTH_TIMEOUT_PARAM, TAG_APP, TAG_COMPONENT};

/// Stock flavors whose size the name tells: OpenStack's classic `m1.*` and devstack's small ones.
pub const STOCK_FLAVORS: &[(&str, u64, u64)] = &[
    ("m1.nano", 1, 64),
    ("m1.micro", 1, 128),
    ("m1.tiny", 1, 512),
    ("m1.small", 1, 2048),
    ("m1.medium", 2, 4096),
    ("m1.large", 4, 8192),
    ("m1.xlarge", 8, 16384),
];

/// A template parameter.
struct Param<'n> {
    node: &'n Node,
    default: Option<&'n Node>,
    description: String,
}

/// What an intrinsic function (or a plain value) evaluates to.
enum Val {
    /// A plain scalar, or a parameter's default.
    Str(String),
    /// A parameter without a default.
    Param(String),
    /// `get_resource`.
    Resource(String),
    /// `get_attr: [resource, attribute, ...]`.
    Attr,
    /// Anything else (`str_replace`, `list_join`, a mapping...).
    Other,
}

/// One template being read.
struct Tpl<'n> {
    params: BTreeMap<String, Param<'n>>,
    resources: BTreeMap<String, &'n Node>,
    used_params: BTreeSet<String>,
    /// Resources read as part of another (security groups, attachments, wait conditions).
    consumed: BTreeSet<String>,
}

impl<'n> Tpl<'n> {
    /// Evaluate a property value: a scalar, `get_param` through its default, `get_resource`,
    /// `get_attr`.
    fn eval(&mut self, v: &Node) -> Val {
        if v.scalar().is_some() {
            return Val::Str(v.as_str().unwrap_or_default().to_string());
        }
        let Some([(k, arg)]) = v.as_map() else {
            return Val::Other;
        };
        match k.as_str() {
            Some("get_param") => {
                let name = match (arg.as_str(), arg.as_seq()) {
                    (Some(s), _) => s.to_string(),
                    (_, Some([first, ..])) => first.as_str().unwrap_or_default().to_string(),
                    _ => return Val::Other,
                };
                self.used_params.insert(name.clone());
                match self.params.get(&name).and_then(|p| p.default) {
                    Some(d) if d.scalar().is_some() => {
                        Val::Str(d.as_str().unwrap_or_default().to_string())
                    }
                    _ => Val::Param(name),
                }
            }
            Some("get_resource") => Val::Resource(arg.as_str().unwrap_or_default().to_string()),
            Some("get_attr") => match arg.as_seq() {
                Some([_, _, ..]) => Val::Attr,
                _ => Val::Other,
            },
            _ => Val::Other,
        }
    }

    /// The resource's type.
    fn type_of(&self, res: &str) -> Option<&str> {
        self.resources
            .get(res)
            .and_then(|r| r.get("type")?.as_str())
    }

    /// The description of a parameter.
    fn param_description(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(|p| p.description.as_str())
            .unwrap_or_default()
    }
}

/// A node as JSON (for values read whole, like the `str_replace` params of user data).
fn json(n: &Node) -> Value {
    match &n.kind {
        NodeKind::Scalar(_) => match n.resolve() {
            Some(Resolved::Null) => Value::Null,
            Some(Resolved::Bool(b)) => Value::Bool(b),
            Some(Resolved::Int(i)) => Value::from(i),
            Some(Resolved::Float(f)) => Value::from(f),
            Some(Resolved::Str(s)) => Value::from(s),
            None => Value::Null,
        },
        NodeKind::Seq(s) => Value::Array(s.iter().map(json).collect()),
        NodeKind::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), json(v)))
                .collect(),
        ),
    }
}

/// The app being built from one or more templates.
#[derive(Default)]
struct Out {
    app_names: Vec<String>,
    services: BTreeMap<String, Service>,
    vms: BTreeMap<String, Vm>,
    volumes: BTreeMap<String, Volume>,
    secrets: BTreeMap<String, Secret>,
    configs: BTreeMap<String, Config>,
    groups: BTreeMap<String, Group>,
    os: OpenstackOptions,
    zun: bool,
    docker: bool,
    /// Each container host's flavor as the template names it: (file, resource, flavor, node).
    host_flavors: Vec<(String, String, String, Node)>,
}

/// Export Heat templates (`(file name, text)` each) as one app named `name` (default: the
/// `bridge.app` tag of its resources, else the `bridge app NAME` description, else the first
/// file's name).
pub fn templates(files: &[(String, String)], name: Option<&str>) -> Result<Export, Diagnostics> {
    let mut out = Out::default();
    let mut diags = Vec::new();
    for (file, text) in files {
        let root = match read_artifact(
            file,
            text,
            "a Heat template",
            "give a HOT template (YAML with `heat_template_version` and `resources`)",
        ) {
            Ok(n) => n,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let mut r = Reader::new(file);
        template(&mut r, &root, file, &mut out);
        diags.extend(r.diags);
    }
    let mut r = Reader::new(files.first().map(|f| f.0.as_str()).unwrap_or(""));
    r.diags = diags;
    if r.has_errors() {
        return Err(Diagnostics(r.diags));
    }
    let app_name = name
        .map(str::to_string)
        .or_else(|| out.app_names.first().cloned())
        .unwrap_or_else(|| "app".into());
    let app_name = dns_label(&app_name);
    if out.zun {
        out.os.containers = OpenstackContainers::Zun;
    }
    let host_flavors = std::mem::take(&mut out.host_flavors);
    let app = App {
        bridge: Version::V1,
        name: app_name,
        services: out.services,
        vms: out.vms,
        volumes: out.volumes,
        secrets: out.secrets,
        configs: out.configs,
        networks: BTreeMap::new(),
        groups: out.groups,
        providers: bridge_core::model::Providers {
            openstack: Some(out.os),
            ..Default::default()
        },
        files: Default::default(),
        move_: None,
    };
    flavor_check(&mut r, &app, &host_flavors);
    finish(r, app)
}

/// The flavor a container host gets is chosen by the placement over its services' sizes, and
/// a cpu reservation leaves no trace in the template: render the exported app again and report
/// each host whose flavor would change.
fn flavor_check(r: &mut Reader, app: &App, hosts: &[(String, String, String, Node)]) {
    if hosts.is_empty() {
        return;
    }
    let Ok((valid, _)) =
        bridge_core::validate::validate(app.clone(), &bridge_core::validate::NoLocation)
    else {
        return;
    };
    let (stack, _, _) = crate::heat::build(&valid, &crate::heat::HeatOptions::default());
    let flavor_of = |res: &str| -> Option<String> {
        let r = stack.template.get("resources")?.get(res)?;
        let props = r.get("properties").and_then(|p| {
            p.get("resource_def")
                .and_then(|d| d.get("properties"))
                .or(Some(p))
        })?;
        let param = props.get("flavor")?.get("get_param")?.as_str()?;
        Some(
            stack
                .template
                .get("parameters")?
                .get(param)?
                .get("default")?
                .as_str()?
                .to_string(),
        )
    };
    for (file, res, was, at) in hosts {
        let now = flavor_of(res);
        if now.as_deref() != Some(was.as_str()) {
            let file_before = std::mem::replace(&mut r.file, file.as_str().into());
            r.approximated(
                &format!("resources.{res}.properties.flavor"),
                at,
                &format!(
                    "the placement chooses the flavor from the services' sizes, and cpu reservations are not in the template: the exported app gets {} instead of `{was}` (set `reserve_cpus` or providers.openstack.flavor)",
                    now.map_or("no server".to_string(), |f| format!("`{f}`"))
                ),
            );
            r.file = file_before;
        }
    }
}

/// The file's stem, for an app name of last resort.
fn stem(file: &str) -> String {
    std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "app".into())
}

fn template(r: &mut Reader, root: &Node, file: &str, out: &mut Out) {
    let Some(entries) = root.as_map() else {
        r.fail(
            "",
            root,
            format!(
                "not a Heat template: the document is {}, not a mapping",
                root.describe()
            ),
            Some("give a HOT template (YAML with `heat_template_version` and `resources`)"),
        );
        return;
    };
    let Some(resources) = root.get("resources") else {
        r.fail(
            "",
            root,
            "not a Heat template: `resources` is missing".into(),
            Some("give a HOT template (YAML with `heat_template_version` and `resources`)"),
        );
        return;
    };
    if resources.as_map().is_none() {
        r.fail(
            "resources",
            resources,
            format!(
                "`resources` must be a mapping, not {}",
                resources.describe()
            ),
            None,
        );
        return;
    }
    let mut tpl = Tpl {
        params: BTreeMap::new(),
        resources: BTreeMap::new(),
        used_params: BTreeSet::new(),
        consumed: BTreeSet::new(),
    };
    let mut described = None;
    for (k, v) in entries {
        let key = k.as_str().unwrap_or_default();
        match key {
            "heat_template_version" | "resources" => {}
            "description" => {
                if let Some(n) = v
                    .as_str()
                    .and_then(|d| d.trim().strip_prefix("bridge app "))
                {
                    described = Some(n.trim().to_string());
                }
            }
            "parameters" => {
                let Some(ps) = r.map("parameters", v) else {
                    return;
                };
                for (pk, pkn, pv) in ps {
                    let path = join("parameters", &pk);
                    let Some(body) = pv.as_map() else {
                        r.fail(
                            &path,
                            pv,
                            format!("`{path}` must be a mapping, not {}", pv.describe()),
                            None,
                        );
                        continue;
                    };
                    let get = |f: &str| body.iter().find(|(k, _)| k.as_str() == Some(f));
                    tpl.params.insert(
                        pk.clone(),
                        Param {
                            node: pkn,
                            default: get("default").map(|(_, v)| v),
                            description: get("description")
                                .and_then(|(_, v)| v.as_str())
                                .unwrap_or_default()
                                .to_string(),
                        },
                    );
                }
            }
            "outputs" => {
                for (ok, okn, ov) in r.map("outputs", v).unwrap_or_default() {
                    // bridge's own outputs (the addresses of its servers and containers) are
                    // rendered from the app again.
                    let derived = ov
                        .get("value")
                        .map(|x| matches!(json(x), Value::Object(_)))
                        .unwrap_or(false)
                        && (ok.ends_with("_address") || ok.ends_with("_addresses"))
                        && ov
                            .get("description")
                            .and_then(Node::as_str)
                            .is_some_and(|d| d.starts_with("address"));
                    if !derived {
                        r.dropped(
                            &join("outputs", &ok),
                            okn,
                            "template outputs are not part of the app",
                        );
                    }
                }
            }
            _ => r.dropped(key, k, "bridge has no field for this template section"),
        }
    }
    for (rk, _, rv) in r.map("resources", resources).unwrap_or_default() {
        if rv.as_map().is_none() || rv.get("type").and_then(Node::as_str).is_none() {
            r.fail(
                &join("resources", &rk),
                rv,
                format!("resource `{rk}` has no `type`"),
                Some("every Heat resource is a mapping with a `type`"),
            );
            continue;
        }
        tpl.resources.insert(rk, rv);
    }
    if r.has_errors() {
        return;
    }
    let app_tag = find_app_tag(resources);
    out.app_names.push(dns_label(
        &app_tag.or(described).unwrap_or_else(|| stem(file)),
    ));
    let app_name = out.app_names.last().cloned().unwrap_or_default();
    // Volumes first: servers and containers mount them.
    let mut volume_keys: BTreeMap<String, String> = BTreeMap::new();
    let names: Vec<String> = tpl.resources.keys().cloned().collect();
    for rk in &names {
        if tpl.type_of(rk) == Some("OS::Cinder::Volume") {
            let node = tpl.resources[rk];
            if let Some(k) = volume(r, &mut tpl, &app_name, rk, node, out) {
                volume_keys.insert(rk.clone(), k);
            }
        }
    }
    let mut cx = Cx {
        app: app_name,
        volume_keys,
        hosts: Vec::new(),
        vm_res: BTreeMap::new(),
        zun_res: BTreeMap::new(),
        tokens: BTreeMap::new(),
        config_contents: BTreeMap::new(),
    };
    for rk in &names {
        let node = tpl.resources[rk];
        let path = join("resources", rk);
        let ty = tpl.type_of(rk).unwrap_or_default().to_string();
        match ty.as_str() {
            "OS::Cinder::Volume" => {}
            "OS::Nova::Server" => {
                let props = node.get("properties");
                server(r, &mut tpl, &mut cx, rk, &path, node, props, 1, out);
            }
            "OS::Zun::Container" => zun(r, &mut tpl, &mut cx, rk, &path, node, 1, out),
            "OS::Heat::ResourceGroup" => group(r, &mut tpl, &mut cx, rk, &path, node, out),
            _ => {}
        }
    }
    // What the servers and containers did not read.
    for rk in &names {
        let ty = tpl.type_of(rk).unwrap_or_default().to_string();
        let node = tpl.resources[rk];
        let path = join("resources", rk);
        let at = node.get("type").unwrap_or(node);
        match ty.as_str() {
            "OS::Cinder::Volume"
            | "OS::Nova::Server"
            | "OS::Zun::Container"
            | "OS::Heat::ResourceGroup" => {}
            "OS::Neutron::SecurityGroup"
            | "OS::Cinder::VolumeAttachment"
            | "OS::Heat::WaitConditionHandle"
            | "OS::Heat::WaitCondition"
                if tpl.consumed.contains(rk) => {}
            "OS::Neutron::SecurityGroup" => r.dropped(
                &path,
                at,
                "a security group no exported server or container uses",
            ),
            _ => r.dropped(
                &path,
                at,
                &format!("bridge has no counterpart for a `{ty}` resource"),
            ),
        }
    }
    hosts_done(r, &mut tpl, &mut cx, out);
    for (pk, p) in &tpl.params {
        if !tpl.used_params.contains(pk) && pk != HEALTH_TIMEOUT_PARAM {
            r.dropped(
                &join("parameters", pk),
                p.node,
                "no exported field reads this parameter",
            );
        }
    }
}

/// The `bridge.app` tag in any resource's metadata or labels.
fn find_app_tag(resources: &Node) -> Option<String> {
    for (_, v) in resources.as_map()? {
        let props = v.get("properties").and_then(|p| {
            p.get("resource_def")
                .and_then(|d| d.get("properties"))
                .or(Some(p))
        });
        for k in ["metadata", "labels"] {
            if let Some(a) = props
                .and_then(|p| p.get(k))
                .and_then(|m| m.get(TAG_APP))
                .and_then(Node::as_str)
            {
                return Some(a.to_string());
            }
        }
    }
    None
}

/// State across the resources of one template.
struct Cx {
    app: String,
    /// Cinder volume resource to the app's volume key.
    volume_keys: BTreeMap<String, String>,
    /// bridge's container hosts as read, for the replicas and groups once all are read.
    hosts: Vec<Host>,
    /// Server resource to the vm key.
    vm_res: BTreeMap<String, String>,
    /// Zun container resource to the service key.
    zun_res: BTreeMap<String, String>,
    /// Placeholders left in env values (`\u{1}RES\u{2}TOKEN\u{1}`) to what they stand for.
    tokens: BTreeMap<String, (Value, String, Node)>,
    /// Inline config contents the hosts write.
    config_contents: BTreeMap<String, String>,
}

/// One bridge container host (a server or a resource group of them).
struct Host {
    res: String,
    path: String,
    count: u32,
    /// Services, in script order, as read from this host.
    services: Vec<(String, Service)>,
    /// The resource's `depends_on` (wait conditions of other hosts).
    waits: Vec<String>,
    update: Option<UpdatePolicy>,
}

/// `OS::Cinder::Volume`: a named volume.
fn volume(
    r: &mut Reader,
    tpl: &mut Tpl<'_>,
    app: &str,
    rk: &str,
    node: &Node,
    out: &mut Out,
) -> Option<String> {
    let path = join("resources", rk);
    let mut vol = Volume::default();
    let mut key = rk.strip_prefix("volume_").unwrap_or(rk).to_string();
    let mut name = None;
    let props = node.get("properties");
    for (k, kn, v) in r
        .map(&join(&path, "properties"), props.unwrap_or(node))
        .unwrap_or_default()
    {
        let p = join(&join(&path, "properties"), &k);
        match k.as_str() {
            "size" => match tpl_eval_uint(r, tpl, &p, v) {
                Some(gb) => vol.size = Some(ByteSize(gb << 30)),
                None => r.dropped(&p, v, "the size is not a number of GB"),
            },
            "name" => match tpl.eval(v) {
                Val::Str(s) => name = Some(s),
                _ => r.dropped(&p, v, "a volume name bridge cannot read"),
            },
            "metadata" => {
                for (mk, mkn, mv) in r.map(&p, v).unwrap_or_default() {
                    match mk.as_str() {
                        TAG_APP | crate::heat::TAG_SPEC_HASH => {}
                        TAG_COMPONENT => {
                            if let Some(c) = mv.as_str().and_then(|c| c.strip_prefix("volume/")) {
                                key = c.to_string();
                            }
                        }
                        _ => match mv.as_str() {
                            Some(s) => {
                                vol.labels.insert(mk, s.to_string());
                            }
                            None => r.dropped(&join(&p, &mk), mkn, "a label is a string"),
                        },
                    }
                }
            }
            _ => r.dropped(
                &p,
                kn,
                "bridge has no field for this cinder volume property",
            ),
        }
    }
    let key = dns_label(&key);
    let key = if key.is_empty() { "data".into() } else { key };
    if name.as_deref() != Some(&format!("{app}-{key}")) {
        vol.name = name;
    }
    out.volumes.insert(key.clone(), vol);
    Some(key)
}

fn tpl_eval_uint(r: &mut Reader, tpl: &mut Tpl<'_>, path: &str, v: &Node) -> Option<u64> {
    match tpl.eval(v) {
        Val::Str(s) => s.trim().parse().ok(),
        Val::Param(p) => {
            no_default(r, tpl, path, v, &p);
            None
        }
        _ => None,
    }
}

/// A parameter read without a default: reported.
fn no_default(r: &mut Reader, tpl: &Tpl<'_>, path: &str, at: &Node, param: &str) {
    let _ = tpl;
    r.dropped(
        path,
        at,
        &format!("it reads the parameter `{param}`, which has no default (its value is given at stack create)"),
    );
}

/// `OS::Heat::ResourceGroup`: `count` copies of its `resource_def`.
fn group<'n>(
    r: &mut Reader,
    tpl: &mut Tpl<'n>,
    cx: &mut Cx,
    rk: &str,
    path: &str,
    node: &'n Node,
    out: &mut Out,
) {
    let props_path = join(path, "properties");
    let Some(props) = node.get("properties") else {
        r.dropped(path, node, "a resource group without properties");
        return;
    };
    let mut count = 1u32;
    let mut def = None;
    for (k, kn, v) in r.map(&props_path, props).unwrap_or_default() {
        let p = join(&props_path, &k);
        match k.as_str() {
            "count" => match tpl.eval(v) {
                Val::Str(s) => match s.trim().parse::<u32>() {
                    Ok(n) => count = n,
                    Err(_) => r.fail(&p, v, format!("`{p}` must be a number, not `{s}`"), None),
                },
                Val::Param(pn) => no_default(r, tpl, &p, v, &pn),
                _ => r.dropped(&p, v, "a count bridge cannot evaluate: read as 1"),
            },
            "resource_def" => def = Some((p, v)),
            _ => r.dropped(
                &p,
                kn,
                "bridge has no field for this resource group property",
            ),
        }
    }
    let Some((dpath, def)) = def else {
        r.dropped(path, node, "a resource group without `resource_def`");
        return;
    };
    let ty = def.get("type").and_then(Node::as_str).unwrap_or_default();
    let update = node
        .get("update_policy")
        .map(|u| (join(path, "update_policy"), u));
    let before = cx.hosts.len();
    match ty {
        "OS::Nova::Server" => server(
            r,
            tpl,
            cx,
            rk,
            &dpath,
            node,
            def.get("properties"),
            count,
            out,
        ),
        "OS::Zun::Container" => zun(r, tpl, cx, rk, &dpath, def, count, out),
        other => {
            r.dropped(
                &join(&dpath, "type"),
                def.get("type").unwrap_or(def),
                &format!(
                    "a group of `{other}` resources (a nested template, say) is not read back"
                ),
            );
            return;
        }
    }
    if let Some((up, u)) = update {
        let mut policy = UpdatePolicy::default();
        for (k, kn, v) in r.map(&up, u).unwrap_or_default() {
            let p = join(&up, &k);
            if k != "rolling_update" {
                r.dropped(&p, kn, "bridge writes only rolling_update");
                continue;
            }
            for (rk2, rkn, rv) in r.map(&p, v).unwrap_or_default() {
                let rp = join(&p, &rk2);
                match rk2.as_str() {
                    "max_batch_size" => {
                        if let Some(n) = tpl_eval_uint(r, tpl, &rp, rv) {
                            policy.parallelism = Some(n as u32);
                        }
                    }
                    // The members left in service: bridge derives it from the count.
                    "min_in_service" => {}
                    "pause_time" => {
                        if let Some(n) = tpl_eval_uint(r, tpl, &rp, rv) {
                            policy.delay = Some(Duration(n * 1_000_000_000));
                        }
                    }
                    _ => r.dropped(&rp, rkn, "bridge has no field for it"),
                }
            }
        }
        // bridge's default (one at a time, no pause) is no field of the app.
        if policy.parallelism == Some(1) && policy.delay.is_none() {
            policy.parallelism = None;
        }
        let policy = (policy != UpdatePolicy::default()).then_some(policy);
        if let Some(h) = cx.hosts.get_mut(before) {
            h.update = policy;
        } else if let Some(p) = policy {
            // A group of zun containers: the service is the group's.
            if let Some(s) = out.services.values_mut().last() {
                s.update = Some(p);
            }
        }
    }
}

/// The string a scalar or default holds, or a report.
fn eval_str(r: &mut Reader, tpl: &mut Tpl<'_>, path: &str, v: &Node) -> Option<String> {
    match tpl.eval(v) {
        Val::Str(s) => Some(s),
        Val::Param(p) => {
            no_default(r, tpl, path, v, &p);
            None
        }
        _ => {
            r.dropped(path, v, "a value bridge cannot evaluate");
            None
        }
    }
}

/// `OS::Nova::Server` (or `count` of them): bridge's container host, else a vm.
#[allow(clippy::too_many_arguments)]
fn server<'n>(
    r: &mut Reader,
    tpl: &mut Tpl<'n>,
    cx: &mut Cx,
    rk: &str,
    path: &str,
    node: &'n Node,
    props: Option<&'n Node>,
    count: u32,
    out: &mut Out,
) {
    let ppath = join(path, "properties");
    let Some(props) = props else {
        r.dropped(path, node, "a server without properties");
        return;
    };
    if let Some(ud) = props.get("user_data")
        && let Some(cc) = bridge_user_data(tpl, ud)
    {
        host(r, tpl, cx, rk, &ppath, node, props, ud, cc, count, out);
        return;
    }
    vm(r, tpl, cx, rk, &ppath, props, count, out);
}

/// The cloud-config text and its `str_replace` params when this is bridge's user data: a
/// `#cloud-config` that runs containers from `/etc/bridge/*.sh` scripts.
fn bridge_user_data<'n>(
    tpl: &mut Tpl<'n>,
    ud: &'n Node,
) -> Option<(String, BTreeMap<String, &'n Node>)> {
    let (text, params) = match ud.as_str() {
        Some(t) => (t.to_string(), BTreeMap::new()),
        None => {
            let [(k, body)] = ud.as_map()? else {
                return None;
            };
            if !matches!(k.as_str(), Some("str_replace" | "str_replace_strict")) {
                return None;
            }
            let t = body.get("template")?.as_str()?.to_string();
            let mut params = BTreeMap::new();
            for (pk, pv) in body
                .get("params")
                .and_then(Node::as_map)
                .unwrap_or_default()
            {
                params.insert(pk.as_str().unwrap_or_default().to_string(), pv);
            }
            (t, params)
        }
    };
    let _ = tpl;
    if text.starts_with("#cloud-config")
        && text.contains(&format!("path: {SCRIPTS_DIR}/"))
        && text.contains("exec docker ")
    {
        Some((text, params))
    } else {
        None
    }
}

#[allow(clippy::too_many_arguments)]
fn host<'n>(
    r: &mut Reader,
    tpl: &mut Tpl<'n>,
    cx: &mut Cx,
    rk: &str,
    ppath: &str,
    node: &'n Node,
    props: &'n Node,
    ud: &'n Node,
    (text, params): (String, BTreeMap<String, &'n Node>),
    count: u32,
    out: &mut Out,
) {
    out.docker = true;
    for (k, kn, v) in r.map(ppath, props).unwrap_or_default() {
        let p = join(ppath, &k);
        match k.as_str() {
            "name" | "user_data" | "user_data_format" => {}
            "flavor" => {
                // The placement solver chooses it again from the services' sizes (checked
                // against this one once the app is built, see `flavor_check`).
                if let Val::Str(f) = tpl.eval(v) {
                    out.host_flavors.push((r.file.to_string(), rk.to_string(), f, v.clone()));
                }
            }
            "image" => {
                if let Some(i) = eval_str(r, tpl, &p, v)
                    && i != DEFAULT_HOST_IMAGE
                {
                    out.os.images.insert(crate::heat::HOST_IMAGE_KEY.into(), i);
                }
            }
            "metadata" => {
                for (mk, mkn, _) in r.map(&p, v).unwrap_or_default() {
                    if mk.starts_with("bridge.") || mk.starts_with(crate::heat::PEER_META_PREFIX) {
                        continue;
                    }
                    r.dropped(&join(&p, &mk), mkn, "server metadata of a container host is not part of the app");
                }
            }
            "networks" => networks(r, tpl, &p, v, out),
            "key_name" => {
                if let Some(k) = eval_str(r, tpl, &p, v) {
                    out.os.key_name = Some(k);
                }
            }
            "security_groups" => {
                // bridge's groups open the published ports, which the scripts hold.
                for g in v.as_seq().unwrap_or_default() {
                    if let Val::Resource(sg) = tpl.eval(g) {
                        tpl.consumed.insert(sg);
                    }
                }
            }
            "availability_zone" => r.approximated(
                &p,
                v,
                "the zone comes from `spread: zone` and the zones the driver is given, not from the app",
            ),
            _ => r.dropped(&p, kn, "bridge has no field for this server property"),
        }
    }
    let ud_path = join(ppath, "user_data");
    let Some(doc) = r.embedded_yaml(&ud_path, ud, &text, "cloud-config") else {
        return;
    };
    let mut cc = CloudConfig::default();
    let mut mounts: Vec<(String, String)> = Vec::new();
    for (k, v) in doc.as_map().unwrap_or_default() {
        let key = k.as_str().unwrap_or_default();
        let kp = format!("{ud_path}#{key}");
        match key {
            "packages" => {
                for p in v.as_seq().unwrap_or_default() {
                    let name = p.as_str().unwrap_or_default();
                    if name != "docker.io" && name != "curl" {
                        r.dropped(
                            &kp,
                            ud,
                            &format!("the package `{name}` is not part of the app"),
                        );
                    }
                }
            }
            "write_files" => {
                for (i, item) in v.as_seq().unwrap_or_default().iter().enumerate() {
                    let ip = format!("{kp}[{i}]");
                    let item = match item.as_str() {
                        Some(tok) => match params.get(tok) {
                            Some(p) => write_file_param(&json(p)),
                            None => None,
                        },
                        None => {
                            let f =
                                |n: &str| item.get(n).and_then(Node::as_str).map(str::to_string);
                            Some((
                                f("path").unwrap_or_default(),
                                f("permissions"),
                                Value::from(f("content").unwrap_or_default()),
                            ))
                        }
                    };
                    let Some((fpath, perms, content)) = item else {
                        r.dropped(&ip, ud, "a write_files item bridge cannot read");
                        continue;
                    };
                    write_file(r, &ip, ud, &cx.app, &fpath, perms, &content, &mut cc);
                }
            }
            "runcmd" => {
                for (i, c) in v.as_seq().unwrap_or_default().iter().enumerate() {
                    let words = words(c);
                    let ip = format!("{kp}[{i}]");
                    runcmd(
                        r,
                        &ip,
                        ud,
                        &cx.app,
                        &words,
                        &params,
                        tpl,
                        &mut cc,
                        &mut mounts,
                    );
                }
            }
            _ => r.dropped(
                &kp,
                ud,
                &format!("the cloud-config key `{key}` is not part of the app"),
            ),
        }
    }
    let tokens: BTreeMap<String, Value> =
        params.iter().map(|(k, v)| (k.clone(), json(v))).collect();
    for (t, v) in &tokens {
        cx.tokens.insert(
            format!("{rk}\u{2}{t}"),
            (v.clone(), ud_path.clone(), ud.clone()),
        );
    }
    for (n, (content, _)) in &cc.configs {
        if let Some(c) = content {
            cx.config_contents.insert(n.clone(), c.clone());
        }
    }
    let mut services = Vec::new();
    for (svc, args, spath) in std::mem::take(&mut cc.scripts) {
        let ip = format!("{ud_path}#{spath}");
        if let Some(s) = parse_run(r, &ip, ud, rk, &cx.app, &svc, &args, &cc, &tokens) {
            let s = apply_unit(
                s,
                cc.units.get(&svc).map(String::as_str).unwrap_or_default(),
                &cx.app,
            );
            services.push((svc, s));
        }
    }
    for f in &cc.shipped {
        r.approximated(
            &ud_path,
            ud,
            &format!("the project file `{f}` is shipped by cloud-init: its content is not written back, and the service binds the host path"),
        );
    }
    // Attachments of this host's volumes are read with its mounts.
    for (rk2, n) in &tpl.resources {
        if tpl.type_of(rk2) == Some("OS::Cinder::VolumeAttachment")
            && n.get("properties")
                .and_then(|p| p.get("instance_uuid"))
                .and_then(|x| x.get("get_resource"))
                .and_then(Node::as_str)
                == Some(rk)
        {
            tpl.consumed.insert(rk2.clone());
        }
    }
    let mut waits = Vec::new();
    if let Some(d) = node.get("depends_on") {
        let list: Vec<&Node> = match d.as_seq() {
            Some(s) => s.iter().collect(),
            None => vec![d],
        };
        for w in list {
            if let Some(w) = w.as_str() {
                waits.push(w.to_string());
            }
        }
    }
    for suffix in ["_health", "_healthy"] {
        let w = format!("{rk}{suffix}");
        if tpl.resources.contains_key(&w) {
            tpl.consumed.insert(w);
        }
    }
    if cx.hosts.is_empty() {
        // What bridge's Heat translator writes nowhere in the template (its ledger says
        // approximated or dropped for these): left at their defaults, said once per template.
        r.diags.push(
            Diagnostic::new(
                bridge_core::Severity::Note,
                bridge_core::codes::EXPORT_DROPPED,
                "a container host's template does not hold cpu reservations, port names, modes and app protocols, links (their aliases are read as aliases), dependency conditions and `required` between services of one server, a service's provider or placement rules: these fields are left at their defaults".to_string(),
            )
            .with_path(ud_path.clone())
            .with_file(r.file.clone())
            .with_span(ud.span),
        );
    }
    cx.hosts.push(Host {
        res: rk.to_string(),
        path: ud_path,
        count,
        services,
        waits,
        update: None,
    });
}

/// A `write_files` item Heat builds from a `list_join` of one mapping: (path, permissions,
/// content as JSON).
fn write_file_param(v: &Value) -> Option<(String, Option<String>, Value)> {
    let item = v.get("list_join")?.get(1)?.get(0)?;
    Some((
        item.get("path")?.as_str()?.to_string(),
        item.get("permissions")
            .and_then(Value::as_str)
            .map(str::to_string),
        item.get("content").cloned().unwrap_or(Value::Null),
    ))
}

#[allow(clippy::too_many_arguments)]
fn runcmd(
    r: &mut Reader,
    path: &str,
    at: &Node,
    app: &str,
    words: &[String],
    params: &BTreeMap<String, &Node>,
    tpl: &mut Tpl<'_>,
    cc: &mut CloudConfig,
    mounts: &mut Vec<(String, String)>,
) {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["systemctl", "enable", "--now", _] | ["systemctl", "daemon-reload"] => {}
        ["sh", "-c", c] if c.starts_with("docker network inspect ") => {}
        ["docker", "volume", "create", _] => {}
        ["systemd-run", "--unit=bridge-health-signal", ..] => {}
        ["sh", script, token, dir, vol] if script.ends_with("/mount-volume.sh") => {
            if let Some(p) = params.get(*token) {
                match tpl.eval(p) {
                    Val::Resource(res) => mounts.push((res, vol.to_string())),
                    Val::Str(_) | Val::Param(_) => {}
                    _ => {}
                }
            }
            let _ = dir;
        }
        ["chown", owner, file] if file.starts_with(&format!("{SCRIPTS_DIR}/configs/")) => {
            let name = file
                .trim_start_matches(&format!("{SCRIPTS_DIR}/configs/"))
                .to_string();
            let (u, g) = owner.split_once(':').unwrap_or((owner, "0"));
            cc.owners
                .insert(name, (Some(u.to_string()), Some(g.to_string())));
        }
        _ => r.dropped(
            path,
            at,
            &format!(
                "the command `{}` is not part of the app",
                shell::join(words)
            ),
        ),
    }
    let _ = app;
}

fn networks(r: &mut Reader, tpl: &mut Tpl<'_>, p: &str, v: &Node, out: &mut Out) {
    for (i, n) in v.as_seq().unwrap_or_default().iter().enumerate() {
        let np = format!("{p}[{i}]");
        for (k, kn, x) in r.map(&np, n).unwrap_or_default() {
            match k.as_str() {
                "network" => {
                    if let Some(s) = eval_str(r, tpl, &join(&np, &k), x) {
                        out.os.network = Some(s);
                    }
                }
                "allocate_network" => match x.as_str() {
                    Some("none") => out.os.neutron = Some(false),
                    Some("auto") => {}
                    _ => r.dropped(&join(&np, &k), x, "bridge allocates `auto` or `none`"),
                },
                _ => r.dropped(
                    &join(&np, &k),
                    kn,
                    "bridge attaches servers to one network by name",
                ),
            }
        }
    }
}

/// The ports a security group's rules open (each `port_range_min` = `port_range_max`, tcp or
/// udp, from anywhere); bridge's app-internal group opens none.
fn sg_ports(r: &mut Reader, tpl: &mut Tpl<'_>, sg: &str) -> Vec<Port> {
    let Some(node) = tpl.resources.get(sg).copied() else {
        return Vec::new();
    };
    if tpl.type_of(sg) != Some("OS::Neutron::SecurityGroup") {
        return Vec::new();
    }
    if !tpl.consumed.insert(sg.to_string()) {
        // A group several servers or containers share: its ports went to the first.
        if node
            .get("properties")
            .and_then(|p| p.get("rules"))
            .and_then(Node::as_seq)
            .is_some_and(|r| !r.is_empty())
        {
            r.approximated(
                &format!("resources.{sg}"),
                node,
                "a security group several resources use: its ports are given to the first of them only (bridge opens each port for the service that publishes it)",
            );
        }
        return Vec::new();
    }
    let base = format!("resources.{sg}.properties");
    let mut out = Vec::new();
    let Some(props) = node.get("properties") else {
        return out;
    };
    for (k, kn, v) in r.map(&base, props).unwrap_or_default() {
        let p = join(&base, &k);
        match k.as_str() {
            "name" | "description" => {}
            "rules" => {
                for (i, rule) in v.as_seq().unwrap_or_default().iter().enumerate() {
                    let rp = format!("{p}[{i}]");
                    let get = |f: &str| rule.get(f).map(json);
                    if get("remote_mode").as_ref().and_then(Value::as_str)
                        == Some("remote_group_id")
                    {
                        // the app's servers reaching each other
                        continue;
                    }
                    let proto = get("protocol").and_then(|p| p.as_str().map(str::to_string));
                    let lo = get("port_range_min")
                        .and_then(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()));
                    let hi = get("port_range_max")
                        .and_then(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()));
                    let egress =
                        get("direction").as_ref().and_then(Value::as_str) == Some("egress");
                    let protocol = match proto.as_deref() {
                        Some("tcp") => Protocol::Tcp,
                        Some("udp") => Protocol::Udp,
                        _ => {
                            r.dropped(&rp, rule, "bridge opens tcp and udp ports only");
                            continue;
                        }
                    };
                    match (lo, hi) {
                        (Some(a), Some(b)) if a == b && !egress && a > 0 && a < 65536 => {
                            if let Some(ip) =
                                get("remote_ip_prefix").as_ref().and_then(Value::as_str)
                                && ip != "0.0.0.0/0"
                            {
                                r.approximated(
                                    &rp,
                                    rule,
                                    &format!(
                                        "bridge opens published ports to everyone, not only {ip}"
                                    ),
                                );
                            }
                            out.push(Port {
                                container: a as u16,
                                published: Some(a as u16),
                                protocol,
                                ..Port::default()
                            });
                        }
                        _ => r.dropped(
                            &rp,
                            rule,
                            "bridge opens single ingress ports, not ranges or egress",
                        ),
                    }
                }
            }
            _ => r.dropped(
                &p,
                kn,
                "bridge has no field for this security group property",
            ),
        }
    }
    out
}

/// A server that is not bridge's container host: a vm.
#[allow(clippy::too_many_arguments)]
fn vm<'n>(
    r: &mut Reader,
    tpl: &mut Tpl<'n>,
    cx: &mut Cx,
    rk: &str,
    ppath: &str,
    props: &'n Node,
    count: u32,
    out: &mut Out,
) {
    let mut key = rk.strip_prefix("vm_").unwrap_or(rk).to_string();
    if let Some(c) = props
        .get("metadata")
        .and_then(|m| m.get(TAG_COMPONENT))
        .and_then(Node::as_str)
        .and_then(|c| c.strip_prefix("vm/"))
    {
        key = c.to_string();
    }
    let key = dns_label(&key);
    let mut v = Vm {
        image: String::new(),
        cpus: Cpus(1000),
        memory: ByteSize(2048 << 20),
        disk: None,
        ports: Vec::new(),
        user_data: None,
        replicas: count,
        provider: None,
        placement: Default::default(),
        labels: BTreeMap::new(),
    };
    let mut glance = None;
    let mut sized = false;
    for (k, kn, x) in r.map(ppath, props).unwrap_or_default() {
        let p = join(ppath, &k);
        match k.as_str() {
            "image" => glance = image(r, tpl, &p, x),
            "flavor" => {
                let f = match tpl.eval(x) {
                    Val::Str(s) => s,
                    Val::Param(pn) => {
                        no_default(r, tpl, &p, x, &pn);
                        continue;
                    }
                    _ => {
                        r.dropped(&p, x, "a flavor bridge cannot evaluate");
                        continue;
                    }
                };
                match STOCK_FLAVORS.iter().find(|(n, _, _)| *n == f) {
                    Some((_, c, m)) => {
                        v.cpus = Cpus(c * 1000);
                        v.memory = ByteSize(m << 20);
                        sized = true;
                    }
                    None => r.dropped(
                        &p,
                        x,
                        &format!("the size of flavor `{f}` is unknown (not a stock m1.* flavor): cpus 1 and memory 2GiB are written; set the vm's size"),
                    ),
                }
            }
            "block_device_mapping_v2" => {
                let items = x.as_seq().unwrap_or_default();
                match items {
                    [b] => {
                        for (bk, bkn, bv) in r.map(&format!("{p}[0]"), b).unwrap_or_default() {
                            let bp = format!("{p}[0].{bk}");
                            match bk.as_str() {
                                "image" => glance = image(r, tpl, &bp, bv),
                                "volume_size" => {
                                    if let Some(gb) = tpl_eval_uint(r, tpl, &bp, bv) {
                                        v.disk = Some(ByteSize(gb << 30));
                                    }
                                }
                                "boot_index" | "delete_on_termination" => {}
                                _ => r.dropped(&bp, bkn, "bridge boots from one image volume"),
                            }
                        }
                    }
                    _ => r.dropped(&p, x, "bridge boots a vm from one image volume"),
                }
            }
            "user_data_format" => {
                if x.as_str() != Some("RAW") {
                    r.dropped(&p, x, "bridge passes user data as it is (RAW)");
                }
            }
            "user_data" => v.user_data = user_data(r, tpl, &p, x),
            "networks" => networks(r, tpl, &p, x, out),
            "key_name" => {
                if let Some(k) = eval_str(r, tpl, &p, x) {
                    out.os.key_name = Some(k);
                }
            }
            "security_groups" => {
                for (i, g) in x.as_seq().unwrap_or_default().iter().enumerate() {
                    match tpl.eval(g) {
                        Val::Resource(sg) => v.ports.extend(sg_ports(r, tpl, &sg)),
                        _ => r.dropped(
                            &format!("{p}[{i}]"),
                            g,
                            "a security group of the cloud, not of the template",
                        ),
                    }
                }
            }
            "metadata" => r.labels(&p, x, &mut v.labels),
            "name" => {
                if let Val::Str(n) = tpl.eval(x)
                    && n != format!("{}-{key}", cx.app)
                    && n != format!("{}-{key}-%index%", cx.app)
                {
                    r.approximated(
                        &p,
                        x,
                        &format!("the server is named `{}-{key}` by bridge", cx.app),
                    );
                }
            }
            _ => r.dropped(&p, kn, "bridge has no field for this server property"),
        }
    }
    let _ = sized;
    let glance = glance.unwrap_or_else(|| key.clone());
    out.os.images.insert(glance.clone(), glance.clone());
    v.image = glance;
    v.ports.sort_by_key(|p| (p.container, p.protocol.as_str()));
    v.ports.dedup();
    if out.vms.contains_key(&key) {
        r.fail(
            ppath,
            props,
            format!("a vm named `{key}` is read twice"),
            Some("export the templates separately"),
        );
        return;
    }
    cx.vm_res.insert(rk.to_string(), key.clone());
    out.vms.insert(key, v);
}

/// A server's image: a name, or a parameter's default.
fn image(r: &mut Reader, tpl: &mut Tpl<'_>, p: &str, x: &Node) -> Option<String> {
    match tpl.eval(x) {
        Val::Str(s) => Some(s),
        Val::Param(pn) => {
            r.dropped(
                p,
                x,
                &format!("the image parameter `{pn}` has no default: the image is written as `{pn}` in providers.openstack.images; set the cloud's image name there"),
            );
            Some(pn)
        }
        _ => {
            r.dropped(p, x, "an image bridge cannot evaluate");
            None
        }
    }
}

/// A vm's user data: text as it is, a `str_replace` whose params are parameters with defaults.
fn user_data(r: &mut Reader, tpl: &mut Tpl<'_>, p: &str, x: &Node) -> Option<String> {
    if let Some(s) = x.as_str() {
        return Some(s.to_string());
    }
    if let Some([(k, body)]) = x.as_map()
        && matches!(k.as_str(), Some("str_replace" | "str_replace_strict"))
        && let Some(t) = body.get("template").and_then(Node::as_str)
    {
        let mut text = t.to_string();
        for (pk, pv) in body
            .get("params")
            .and_then(Node::as_map)
            .unwrap_or_default()
        {
            let name = pk.as_str().unwrap_or_default();
            let pp = format!("{p}.{}.params.{name}", k.as_str().unwrap_or_default());
            match tpl.eval(pv) {
                Val::Str(s) => text = text.replace(name, &s),
                Val::Param(pn) => no_default(r, tpl, &pp, pv, &pn),
                _ => r.dropped(
                    &pp,
                    pv,
                    "a value known only to the running stack: left as the placeholder",
                ),
            }
        }
        return Some(text);
    }
    r.dropped(
        p,
        x,
        "user data built by other resources (software configs) is not read back",
    );
    None
}

/// `OS::Zun::Container` (or `count` of them): a service.
#[allow(clippy::too_many_arguments)]
fn zun<'n>(
    r: &mut Reader,
    tpl: &mut Tpl<'n>,
    cx: &mut Cx,
    rk: &str,
    path: &str,
    node: &'n Node,
    count: u32,
    out: &mut Out,
) {
    out.zun = true;
    let ppath = join(path, "properties");
    let Some(props) = node.get("properties") else {
        r.dropped(path, node, "a container without properties");
        return;
    };
    let mut key = rk.strip_prefix("container_").unwrap_or(rk).to_string();
    if let Some(c) = props
        .get("labels")
        .and_then(|m| m.get(TAG_COMPONENT))
        .and_then(Node::as_str)
        .and_then(|c| c.strip_prefix("service/"))
    {
        key = c.to_string();
    }
    let key = dns_label(&key);
    let mut s = Service {
        replicas: count,
        ..Service::default()
    };
    for (k, kn, x) in r.map(&ppath, props).unwrap_or_default() {
        let p = join(&ppath, &k);
        match k.as_str() {
            "name" => {}
            "image" => s.image = eval_str(r, tpl, &p, x).unwrap_or_default(),
            "command" => {
                if let Some(c) = eval_str(r, tpl, &p, x) {
                    match shell::split(&c) {
                        Ok(w) => s.command = Some(Command(w)),
                        Err(e) => r.fail(
                            &p,
                            x,
                            format!("`{p}` cannot be split into words: {e}"),
                            None,
                        ),
                    }
                }
            }
            "environment" => {
                for (ek, ekn, ev) in r.map(&p, x).unwrap_or_default() {
                    let ep = join(&p, &ek);
                    match tpl.eval(ev) {
                        Val::Str(v) => {
                            s.env.0.insert(ek, v.replace("${", "$${"));
                        }
                        Val::Param(pn) => {
                            match tpl.param_description(&pn).strip_prefix("bridge: secrets.") {
                                Some(sec) => s.secrets.push(SecretRef {
                                    name: sec.to_string(),
                                    env: Some(ek),
                                    ..SecretRef::default()
                                }),
                                None => no_default(r, tpl, &ep, ev, &pn),
                            }
                        }
                        Val::Attr => {
                            let t = format!("{rk}\u{2}{ek}");
                            cx.tokens.insert(t.clone(), (json(ev), ep, ev.clone()));
                            s.env.0.insert(ek, format!("\u{1}{t}\u{1}"));
                        }
                        _ => {
                            // bridge's str_replace_strict with `@@n@@` tokens
                            let v = json(ev);
                            let body = v.get("str_replace_strict").or_else(|| v.get("str_replace"));
                            match body.and_then(|b| {
                                Some((b.get("template")?.as_str()?, b.get("params")?.as_object()?))
                            }) {
                                Some((t, params)) => {
                                    let mut val = t.replace("${", "$${");
                                    for (pk, pv) in params {
                                        let tok = format!("{rk}\u{2}{ek}\u{2}{pk}");
                                        cx.tokens.insert(
                                            tok.clone(),
                                            (pv.clone(), ep.clone(), ev.clone()),
                                        );
                                        val = val.replace(pk.as_str(), &format!("\u{1}{tok}\u{1}"));
                                    }
                                    s.env.0.insert(ek, val);
                                }
                                None => r.dropped(&ep, ekn, "a value bridge cannot evaluate"),
                            }
                        }
                    }
                }
            }
            "cpu" => match json(x).as_f64() {
                Some(c) => s.resources.cpus = Some(Cpus((c * 1000.0).round() as u64)),
                None => r.fail(&p, x, format!("`{p}` must be a number"), None),
            },
            "memory" => match tpl_eval_uint(r, tpl, &p, x) {
                Some(m) => s.resources.memory = Some(ByteSize(m << 20)),
                None => r.fail(&p, x, format!("`{p}` must be a number of MiB"), None),
            },
            "restart_policy" => {
                let v = eval_str(r, tpl, &p, x).unwrap_or_default();
                let (pol, n) = v.split_once(':').unwrap_or((v.as_str(), ""));
                s.restart = match pol {
                    "always" | "unless-stopped" => RestartPolicy::Always,
                    "on-failure" => RestartPolicy::OnFailure,
                    _ => RestartPolicy::Never,
                };
                s.restart_max_attempts = n.parse().ok();
            }
            "hostname" => s.hostname = eval_str(r, tpl, &p, x),
            "workdir" => s.working_dir = eval_str(r, tpl, &p, x),
            "interactive" => s.stdin_open = json(x).as_bool().unwrap_or(false),
            "tty" => s.tty = json(x).as_bool().unwrap_or(false),
            "image_pull_policy" => {
                s.pull_policy = match x.as_str() {
                    Some("always") => Some(PullPolicy::Always),
                    Some("ifnotpresent") => Some(PullPolicy::Missing),
                    Some("never") => Some(PullPolicy::Never),
                    _ => {
                        r.dropped(&p, x, "an unknown pull policy");
                        None
                    }
                }
            }
            "mounts" => {
                for (i, m) in x.as_seq().unwrap_or_default().iter().enumerate() {
                    let mp = format!("{p}[{i}]");
                    let target = m.get("mount_path").and_then(Node::as_str);
                    let vol = m.get("volume_id").map(|v| tpl.eval(v));
                    match (target, vol) {
                        (Some(t), Some(Val::Resource(res)))
                            if cx.volume_keys.contains_key(&res) =>
                        {
                            s.volumes.push(Mount {
                                kind: MountKind::Volume,
                                source: cx.volume_keys.get(&res).cloned(),
                                target: t.to_string(),
                                read_only: false,
                                size: None,
                            })
                        }
                        _ => r.dropped(&mp, m, "a mount of a volume the template does not create"),
                    }
                }
            }
            "security_groups" => {
                for (i, g) in x.as_seq().unwrap_or_default().iter().enumerate() {
                    match tpl.eval(g) {
                        Val::Resource(sg) => s.ports.extend(sg_ports(r, tpl, &sg)),
                        _ => r.dropped(
                            &format!("{p}[{i}]"),
                            g,
                            "a security group of the cloud, not of the template",
                        ),
                    }
                }
            }
            "networks" => networks(r, tpl, &p, x, out),
            "labels" => r.labels(&p, x, &mut s.labels),
            _ => r.dropped(
                &p,
                kn,
                "bridge has no field for this zun container property",
            ),
        }
    }
    if s.image.is_empty() {
        r.fail(
            &ppath,
            props,
            format!("container `{rk}` has no `image`"),
            Some("zun requires an image"),
        );
        return;
    }
    s.ports.sort_by_key(|p| (p.container, p.protocol.as_str()));
    s.ports.dedup();
    // Heat creates a container's dependencies first.
    if let Some(d) = node
        .get("depends_on")
        .or_else(|| tpl.resources.get(rk).and_then(|n| n.get("depends_on")))
    {
        for x in d
            .as_seq()
            .map(|s| s.to_vec())
            .unwrap_or_else(|| vec![d.clone()])
        {
            if let Some(dep) = x.as_str() {
                s.depends_on.push(Dependency {
                    service: dns_label(dep.strip_prefix("container_").unwrap_or(dep)),
                    condition: DependencyCondition::Started,
                    restart: false,
                    required: true,
                });
            }
        }
    }
    if out.services.contains_key(&key) {
        r.fail(
            &ppath,
            props,
            format!("a service named `{key}` is read twice"),
            Some("export the templates separately"),
        );
        return;
    }
    cx.zun_res.insert(rk.to_string(), key.clone());
    out.services.insert(key, s);
}

/// What a placeholder of an env value stands for: an address reference.
fn reference(v: &Value, cx: &Cx, tpl: &Tpl<'_>) -> Option<String> {
    if let Some(p) = v.get("get_param").and_then(Value::as_str) {
        let d = tpl.param_description(p).strip_prefix("bridge: ")?;
        let (kind, rest) = d.split_once('.')?;
        let name = rest.strip_suffix(".address")?;
        return matches!(kind, "vms" | "services").then(|| format!("${{{kind}.{name}.address}}"));
    }
    if let Some(a) = v.get("get_attr").and_then(Value::as_array) {
        let res = a.first()?.as_str()?;
        if let Some(k) = cx.vm_res.get(res) {
            return Some(format!("${{vms.{k}.address}}"));
        }
        if let Some(k) = cx.zun_res.get(res) {
            return Some(format!("${{services.{k}.address}}"));
        }
        let h = cx.hosts.iter().find(|h| h.res == res)?;
        return h
            .services
            .first()
            .map(|(n, _)| format!("${{services.{n}.address}}"));
    }
    if let Some(l) = v.get("list_join").and_then(Value::as_array) {
        for part in l.iter().skip(1) {
            let inner = match part {
                Value::Array(a) => a.first()?,
                x => x,
            };
            if let Some(x) = reference(inner, cx, tpl) {
                return Some(x);
            }
        }
    }
    None
}

/// The resource name a host's servers share: `host_pair` for `host_pair_1` when the template
/// also holds `host_pair_0` and `host_pair_1` (the Heat translator's separate servers of a
/// health-checked unit), else the host's own name.
fn family<'a>(res: &'a str, hosts: &[Host]) -> &'a str {
    let Some((stem, i)) = res.rsplit_once('_') else {
        return res;
    };
    let has = |i: &str| hosts.iter().any(|h| h.res == format!("{stem}_{i}"));
    if !i.is_empty() && i.bytes().all(|c| c.is_ascii_digit()) && has("0") && has("1") {
        stem
    } else {
        res
    }
}

/// Replicas, groups, health waits and address references, once every server is read; then the
/// secrets, configs and volumes the services name.
fn hosts_done(r: &mut Reader, tpl: &mut Tpl<'_>, cx: &mut Cx, out: &mut Out) {
    let healthy_of: BTreeMap<String, Vec<String>> = cx
        .hosts
        .iter()
        .map(|h| {
            (
                format!("{}_healthy", h.res),
                h.services.iter().map(|(n, _)| n.clone()).collect(),
            )
        })
        .collect();
    let hosts = std::mem::take(&mut cx.hosts);
    for h in &hosts {
        let names: Vec<&str> = h.services.iter().map(|(n, _)| n.as_str()).collect();
        let base = family(&h.res, &hosts);
        let base = base.strip_prefix("host_").unwrap_or(base);
        let group = (names.len() > 1 && !base.contains("_plus")).then(|| dns_label(base));
        let waited: BTreeSet<&String> = h
            .waits
            .iter()
            .filter_map(|w| healthy_of.get(w))
            .flatten()
            .collect();
        for (n, s) in &h.services {
            if let Some(existing) = out.services.get_mut(n) {
                existing.replicas += h.count;
                continue;
            }
            let mut s = s.clone();
            s.replicas = h.count;
            if let Some(g) = &group {
                s.group = Some(g.clone());
                out.groups.insert(g.clone(), Group::default());
            }
            for d in &mut s.depends_on {
                if waited.contains(&d.service) {
                    d.condition = DependencyCondition::Healthy;
                } else if names.contains(&d.service.as_str())
                    && h.services
                        .iter()
                        .any(|(o, os)| *o == d.service && os.health.is_some())
                {
                    r.approximated(
                        &h.path,
                        h.services.first().map(|_| tpl.resources[&h.res]).unwrap_or(tpl.resources[&h.res]),
                        &format!("`{n}` depends on `{}` on the same server, where systemd orders the two: a `service_healthy` condition leaves no trace there, so it is read as `started`", d.service),
                    );
                }
            }
            if h.update.is_some() {
                s.update = h.update.clone();
            }
            out.services.insert(n.clone(), s);
        }
    }
    cx.hosts = hosts;
    // A sharer's names are its owner's aliases on the server.
    let sharers: Vec<(String, String)> = out
        .services
        .iter()
        .filter_map(|(n, s)| Some((n.clone(), s.network_of.clone()?)))
        .collect();
    // The owner's aliases run: its own, then each sharer's name followed by its aliases.
    let owners: BTreeSet<&String> = sharers.iter().map(|(_, o)| o).collect();
    let sharer_names: BTreeSet<&String> = sharers.iter().map(|(n, _)| n).collect();
    let mut moved: Vec<(String, Vec<String>)> = Vec::new();
    for owner in owners {
        let Some(o) = out.services.get_mut(owner) else {
            continue;
        };
        let mut own = Vec::new();
        let mut cur: Option<usize> = None;
        for a in std::mem::take(&mut o.aliases) {
            if sharer_names.contains(&a) {
                moved.push((a, Vec::new()));
                cur = Some(moved.len() - 1);
            } else if let Some(c) = cur {
                moved[c].1.push(a);
            } else {
                own.push(a);
            }
        }
        o.aliases = own;
    }
    for (n, aliases) in moved {
        if let Some(s) = out.services.get_mut(&n) {
            s.aliases = aliases;
        }
    }
    // Address references.
    for (v, _, _) in cx.tokens.values() {
        if let Some(p) = v.get("get_param").and_then(Value::as_str) {
            tpl.used_params.insert(p.to_string());
        }
    }
    let keys: Vec<String> = out.services.keys().cloned().collect();
    for k in keys {
        let env = out.services[&k].env.0.clone();
        let mut resolved = BTreeMap::new();
        for (ek, v) in env {
            let mut text = String::new();
            for (i, part) in v.split('\u{1}').enumerate() {
                if i % 2 == 0 {
                    text.push_str(part);
                    continue;
                }
                let Some((val, path, at)) = cx.tokens.get(part) else {
                    continue;
                };
                match reference(val, cx, tpl) {
                    Some(x) => text.push_str(&x),
                    None => r.dropped(
                        path,
                        at,
                        &format!("`{ek}` of `{k}` holds a value known only to the running stack (not an address bridge can name): left out of the value"),
                    ),
                }
            }
            resolved.insert(ek, text);
        }
        if let Some(s) = out.services.get_mut(&k) {
            s.env = Env(resolved);
        }
    }
    // Secrets, configs and volumes the services name.
    let refs = secret_and_config_refs(out.services.values());
    for (name, secret) in refs {
        let param = format!(
            "{}_{}",
            if secret { "secret" } else { "config" },
            crate::heat::ident(&name)
        );
        let var = crate::heat::ident(&name).to_uppercase();
        let at = tpl.params.get(&param).map(|p| p.node);
        if secret {
            if out.secrets.contains_key(&name) {
                continue;
            }
            tpl.used_params.insert(param.clone());
            let var = format!("SECRET_{var}");
            if let Some(at) = at {
                r.approximated(
                    &join("parameters", &param),
                    at,
                    &format!("the secret's value source is not in the template: it is read from the environment variable {var} at deploy time"),
                );
            }
            out.secrets.insert(
                name,
                Secret {
                    env: Some(var),
                    ..Secret::default()
                },
            );
        } else {
            if out.configs.contains_key(&name) {
                continue;
            }
            let inline = out_config_content(cx, &name);
            let cfg = match inline {
                Some(c) => Config {
                    content: Some(c),
                    ..Config::default()
                },
                None => {
                    tpl.used_params.insert(param.clone());
                    let var = format!("CONFIG_{var}");
                    if let Some(at) = at {
                        r.approximated(
                            &join("parameters", &param),
                            at,
                            &format!("the config's content source is not in the template: it is read from the environment variable {var} at deploy time"),
                        );
                    }
                    Config {
                        env: Some(var),
                        ..Config::default()
                    }
                }
            };
            out.configs.insert(name, cfg);
        }
    }
    let vols = volume_refs(out.services.values());
    for v in vols {
        if out.volumes.contains_key(&v) {
            continue;
        }
        let param = format!("volume_{}", crate::heat::ident(&v));
        tpl.used_params.insert(param.clone());
        if let Some(p) = tpl.params.get(&param) {
            r.approximated(
                &join("parameters", &param),
                p.node,
                "an existing cinder volume: its name is not in the template (the key is used)",
            );
        }
        out.volumes.insert(
            v,
            Volume {
                external: true,
                ..Volume::default()
            },
        );
    }
}

/// A config's inline content, as some host wrote it.
fn out_config_content(cx: &Cx, name: &str) -> Option<String> {
    cx.config_contents.get(name).cloned()
}
