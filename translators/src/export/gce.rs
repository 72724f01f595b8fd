//! GCE instance bodies read back into an app: the inverse of [`crate::gce`]. The files are what
//! `bridge render -p gce` writes (`gce/instances/*.json`, `gce/disks/*.json`,
//! `gce/firewalls/*.json`), or what the Compute API returns for them (one resource, or a list's
//! `items`). A host's containers come back from its `user-data` (bridge's cloud-config, read by
//! [`super::cloudconfig`] as for Heat's docker hosts, with the secrets and configs its boot
//! script fetches from Secret Manager) or from the legacy `gce-container-declaration` (konlet's
//! `spec.containers[]`); replicas are the hosts running a service; a plain instance is a vm.
//! A machine type is the placement's choice, so it gives cpus and memory back only as a size
//! request (`X002`). Every field not read back is `X001` with its path and position, unreadable
//! input `X003`.

use std::collections::{BTreeMap, BTreeSet};

use bridge_core::model::{
    App, Command, Config, Env, GceOptions, Mount, MountKind, Port, Protocol, RestartPolicy, Secret,
    Service, Version, Vm, Volume,
};
use bridge_core::node::Node;
use bridge_core::units::ByteSize;
use bridge_core::{Diagnostic, Diagnostics, shell};
use serde_json::Value;

use super::cloudconfig::{BRIDGE_FILES, CloudConfig, apply_unit, parse_run, write_file};
use super::{
    Export, Reader, dns_label, finish, join, read_artifact, secret_and_config_refs, volume_refs,
    words,
};
use crate::cloudinit::{SCRIPTS_DIR, SECRETS_DIR};
use crate::gce::{COS_IMAGE, DEFAULT_ZONE, HOST_DISK_GB, LABEL_APP, LABEL_COMPONENT, SCOPE};

const GIB: u64 = 1024 * 1024 * 1024;

/// Fields the Compute API sets on an instance (or disk, or firewall) itself.
const SERVER_FIELDS: &[&str] = &[
    "id",
    "kind",
    "selfLink",
    "selfLinkWithId",
    "status",
    "statusMessage",
    "creationTimestamp",
    "zone",
    "region",
    "cpuPlatform",
    "fingerprint",
    "labelFingerprint",
    "startRestricted",
    "deletionProtection",
    "lastStartTimestamp",
    "lastStopTimestamp",
    "lastSuspendedTimestamp",
    "satisfiesPzi",
    "satisfiesPzs",
    "shieldedInstanceConfig",
    "shieldedInstanceIntegrityPolicy",
    "keyRevocationActionType",
    "displayDevice",
    "confidentialInstanceConfig",
    "resourceStatus",
    "users",
    "lastAttachTimestamp",
    "lastDetachTimestamp",
    "physicalBlockSizeBytes",
    "sourceImage",
    "sourceImageId",
    "licenses",
    "licenseCodes",
    "guestOsFeatures",
    "architecture",
    "logConfig",
];

/// Metadata bridge writes on every host for its own driver and agents.
const BRIDGE_METADATA: &[&str] = &[
    crate::gce::update::METADATA_KEY,
    crate::gce::update::GUEST_ATTRIBUTES_KEY,
    crate::gce::peers::BOOK_KEY,
    "google-logging-enabled",
];

/// The app being built.
#[derive(Default)]
struct Out {
    app_names: Vec<String>,
    gce: GceOptions,
    services: BTreeMap<String, Service>,
    vms: BTreeMap<String, Vm>,
    volumes: BTreeMap<String, Volume>,
    secrets: BTreeMap<String, Secret>,
    configs: BTreeMap<String, Config>,
    /// Disk name to its body's size and labels (from `gce/disks/*.json`).
    disks: BTreeMap<String, (Option<u64>, BTreeMap<String, String>)>,
    /// Volumes attached to hosts: (disk name, volume key, file, path, node).
    attached: Vec<(String, String, String, String, Node)>,
    /// Services run by a container declaration (their ports are the firewall rules').
    declared: BTreeSet<String>,
    /// Firewall rules: (target tag, port, published, file, path, node).
    firewalls: Vec<(String, Port, String, String, Node)>,
    /// Secret Manager ids fetched: id to (secret or config name, is a secret, file, path, node).
    fetched: BTreeMap<String, (String, bool, String, String, Node)>,
    /// Inline config contents a host writes.
    contents: BTreeMap<String, String>,
    /// The services of each host, as read.
    hosts: Vec<Vec<String>>,
    /// Groups read back: group name to its services.
    groups: BTreeMap<String, Vec<String>>,
}

/// Export GCE resource bodies (`(file name, text)` each) as one app named `name` (default: the
/// `bridge-app` label, else the first instance's name).
pub fn instances(files: &[(String, String)], name: Option<&str>) -> Result<Export, Diagnostics> {
    let mut out = Out::default();
    let mut diags = Vec::new();
    let mut docs = Vec::new();
    for (file, text) in files {
        let mut r = Reader::new(file);
        let root = match read_artifact(
            file,
            text,
            "a GCE resource body",
            "give the JSON bodies `bridge render -p gce` writes, or what `gcloud compute instances describe --format json` prints",
        ) {
            Ok(n) => n,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let items: Vec<(String, Node)> = match (root.as_seq(), root.get("items")) {
            (Some(s), _) => s
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("[{i}]"), n.clone()))
                .collect(),
            (None, Some(list)) if root.get("machineType").is_none() => r
                .seq("items", list)
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("items[{i}]"), n.clone()))
                .collect(),
            _ => vec![(String::new(), root.clone())],
        };
        for (path, n) in items {
            if n.as_map().is_none() {
                r.fail(
                    &path,
                    &n,
                    format!("a GCE resource is a JSON object, not {}", n.describe()),
                    None,
                );
                continue;
            }
            if let Some(a) = n
                .get("labels")
                .and_then(|l| l.get(LABEL_APP))
                .and_then(Node::as_str)
            {
                out.app_names.push(a.to_string());
            }
            docs.push((file.clone(), path, n));
        }
        diags.extend(r.diags);
    }
    if !diags.iter().any(Diagnostic::is_error)
        && !docs.iter().any(|(_, _, n)| n.get("machineType").is_some())
    {
        diags.push(
            Diagnostic::error(
                bridge_core::codes::EXPORT_UNREADABLE,
                "none of the files holds an instance (a body with `machineType`)",
            )
            .with_file(files.first().map(|f| f.0.as_str()).unwrap_or("").into())
            .with_hint("give the instance bodies (gce/instances/*.json) with their disks and firewall rules"),
        );
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(diags));
    }
    // The app's name is needed to read container and unit names.
    let app = dns_label(
        &name
            .map(str::to_string)
            .or_else(|| out.app_names.first().cloned())
            .or_else(|| {
                docs.iter().find_map(|(_, _, n)| {
                    let d = n.get("description")?.as_str()?;
                    let (_, rest) = d.split_once(" of ")?;
                    Some(rest.split(':').next()?.trim().to_string())
                })
            })
            .or_else(|| {
                docs.iter()
                    .find_map(|(_, _, n)| n.get("name")?.as_str().map(str::to_string))
            })
            .unwrap_or_else(|| "app".into()),
    );
    // Disks first: their sizes and labels, for the volumes the instances attach.
    for (file, path, n) in &docs {
        if n.get("machineType").is_some() {
            continue;
        }
        let mut r = Reader::new(file);
        if n.get("allowed").is_some() || n.get("denied").is_some() || n.get("direction").is_some() {
            firewall(&mut r, path, n, &mut out);
        } else if n.get("sizeGb").is_some() || n.get("type").is_some() {
            disk(&mut r, path, n, &mut out);
        } else {
            r.fail(
                path,
                n,
                "not a GCE instance, disk or firewall body (no `machineType`, `sizeGb` or `allowed`)"
                    .into(),
                Some("give the files under gce/instances, gce/disks and gce/firewalls"),
            );
        }
        diags.extend(r.diags);
    }
    for (file, path, n) in &docs {
        if n.get("machineType").is_none() {
            continue;
        }
        let mut r = Reader::new(file);
        instance(&mut r, &app, path, n, &mut out);
        diags.extend(r.diags);
    }
    let mut r = Reader::new(files.first().map(|f| f.0.as_str()).unwrap_or(""));
    r.diags = diags;
    if r.has_errors() {
        return Err(Diagnostics(r.diags));
    }
    done(&mut r, &app, &mut out);
    let gce = (out.gce != GceOptions::default()).then_some(out.gce);
    let app = App {
        bridge: Version::V1,
        name: app,
        services: out.services,
        vms: out.vms,
        volumes: out.volumes,
        secrets: out.secrets,
        configs: out.configs,
        networks: BTreeMap::new(),
        groups: out
            .groups
            .keys()
            .map(|g| (g.clone(), bridge_core::model::Group::default()))
            .collect(),
        providers: bridge_core::model::Providers {
            gce,
            ..Default::default()
        },
        files: Default::default(),
        move_: None,
    };
    finish(r, app)
}

/// The last segment of a (partial or full) resource URL after `kind/`.
fn after<'a>(url: &'a str, kind: &str) -> Option<&'a str> {
    let i = url.find(&format!("{kind}/"))?;
    url[i + kind.len() + 1..].split('/').next()
}

/// A Compute URL made partial: `zones/...`, `global/...`, `regions/...`, `projects/...`.
fn partial(url: &str) -> String {
    let s = url
        .split_once("/compute/v1/")
        .map_or(url, |(_, rest)| rest)
        .to_string();
    // `projects/P/zones/...` is the partial form with the project.
    match s.strip_prefix("projects/").and_then(|r| r.split_once('/')) {
        Some((_, rest))
            if rest.starts_with("zones/")
                || rest.starts_with("global/")
                || rest.starts_with("regions/") =>
        {
            rest.to_string()
        }
        _ => s,
    }
}

fn disk(r: &mut Reader, path: &str, n: &Node, out: &mut Out) {
    let mut size = None;
    let mut labels = BTreeMap::new();
    let mut name = String::new();
    for (k, kn, v) in r.map(path, n).unwrap_or_default() {
        let p = join(path, &k);
        match k.as_str() {
            "name" => name = r.str(&p, v).unwrap_or_default(),
            "description" => {}
            "sizeGb" => size = r.uint(&p, v),
            "type" => {
                let t = v.as_str().map(partial).unwrap_or_default();
                if after(&t, "diskTypes") != Some("pd-balanced") {
                    r.dropped(&p, kn, "bridge's persistent disks are pd-balanced");
                }
            }
            "labels" => {
                for (lk, lkn, lv) in r.map(&p, v).unwrap_or_default() {
                    if lk.starts_with("bridge-") {
                        continue;
                    }
                    match lv.as_str() {
                        Some(s) => {
                            labels.insert(lk, s.to_string());
                        }
                        None => r.dropped(&join(&p, &lk), lkn, "a label is a string"),
                    }
                }
            }
            f if SERVER_FIELDS.contains(&f) => {}
            _ => r.dropped(&p, kn, "bridge has no field for this disk property"),
        }
    }
    if !name.is_empty() {
        out.disks.insert(name, (size, labels));
    }
}

fn firewall(r: &mut Reader, path: &str, n: &Node, out: &mut Out) {
    let tags = n
        .get("targetTags")
        .and_then(|t| r.strs(&join(path, "targetTags"), t))
        .unwrap_or_default();
    let world = n
        .get("sourceRanges")
        .and_then(Node::as_seq)
        .is_some_and(|s| s.iter().any(|x| x.as_str() == Some("0.0.0.0/0")));
    for (k, kn, v) in r.map(path, n).unwrap_or_default() {
        let p = join(path, &k);
        match k.as_str() {
            "name" | "description" | "network" | "direction" | "priority" | "targetTags"
            | "sourceRanges" | "sourceTags" => {}
            "disabled" if v.as_str() == Some("false") => {}
            "allowed" => {
                for (i, a) in r.seq(&p, v).unwrap_or_default().iter().enumerate() {
                    let ap = format!("{p}[{i}]");
                    let proto = match a.get("IPProtocol").and_then(Node::as_str) {
                        Some("tcp") => Protocol::Tcp,
                        Some("udp") => Protocol::Udp,
                        Some("sctp") => Protocol::Sctp,
                        _ => {
                            r.dropped(&ap, a, "only tcp, udp and sctp ports are app ports");
                            continue;
                        }
                    };
                    let ports = a.get("ports").and_then(Node::as_seq).unwrap_or_default();
                    for (j, pn) in ports.iter().enumerate() {
                        let pp = format!("{ap}.ports[{j}]");
                        let Some(port) = pn.as_str().and_then(|s| s.parse::<u16>().ok()) else {
                            r.dropped(&pp, pn, "a port range is not one port of the app");
                            continue;
                        };
                        for t in &tags {
                            out.firewalls.push((
                                t.clone(),
                                Port {
                                    container: port,
                                    published: world.then_some(port),
                                    protocol: proto,
                                    ..Port::default()
                                },
                                r.file.to_string(),
                                pp.clone(),
                                pn.clone(),
                            ));
                        }
                    }
                }
            }
            f if SERVER_FIELDS.contains(&f) => {}
            _ => r.dropped(
                &p,
                kn,
                "bridge opens ports only: this firewall property is not read",
            ),
        }
    }
}

/// What one instance is, as read.
enum Kind {
    Host,
    Vm(String),
}

fn instance(r: &mut Reader, app: &str, path: &str, n: &Node, out: &mut Out) {
    let iname = n
        .get("name")
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_string();
    if iname.is_empty() {
        r.fail(
            &join(path, "name"),
            n,
            "an instance needs its `name`".into(),
            None,
        );
        return;
    }
    let component = n
        .get("labels")
        .and_then(|l| l.get(LABEL_COMPONENT))
        .and_then(Node::as_str)
        .map(str::to_string);
    let items: Vec<(String, &Node, &Node)> = n
        .get("metadata")
        .and_then(|m| m.get("items"))
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|it| {
            // Diagnostics point at the item's key: a value is one long JSON line.
            let k = it.get("key")?;
            Some((k.as_str()?.to_string(), k, it.get("value")?))
        })
        .collect();
    let has = |k: &str| items.iter().any(|(key, _, _)| key == k);
    let bridge_ud = items.iter().any(|(k, _, v)| {
        k == "user-data"
            && v.as_str().is_some_and(|t| {
                t.starts_with("#cloud-config")
                    && t.contains(&format!("path: {SCRIPTS_DIR}/"))
                    && t.contains("exec docker ")
            })
    });
    let bridge_made = component.is_some();
    let kind = match component.as_deref() {
        Some(c) if c.starts_with("vm-") => {
            let v = c.trim_start_matches("vm-");
            // `vm-db-0`: replica 0 of `db` (the instance is `<app>-db-0`).
            let base = v
                .rsplit_once('-')
                .filter(|(_, i)| i.parse::<u32>().is_ok() && iname.ends_with(&format!("-{v}")))
                .map_or(v, |(b, _)| b);
            Kind::Vm(base.to_string())
        }
        _ if bridge_ud || has("gce-container-declaration") => Kind::Host,
        _ => Kind::Vm(dns_label(
            iname.strip_prefix(&format!("{app}-")).unwrap_or(&iname),
        )),
    };
    let mut vm = Vm {
        replicas: 1,
        ..Vm::default()
    };
    let mut host_services: Vec<(String, Service)> = Vec::new();
    for (k, kn, v) in r.map(path, n).unwrap_or_default() {
        let p = join(path, &k);
        match k.as_str() {
            "name" => {}
            "description" => {
                if !v.as_str().is_some_and(|d| d.starts_with("bridge ")) {
                    r.dropped(&p, kn, "an instance's description is not part of the app");
                }
            }
            "machineType" => {
                let Some(mt) = r.str(&p, v) else { continue };
                let mt = partial(&mt);
                if let Some(z) = after(&mt, "zones")
                    && z != DEFAULT_ZONE
                {
                    out.gce.zone = Some(z.to_string());
                }
                let ty = after(&mt, "machineTypes").unwrap_or(&mt).to_string();
                let size = crate::gce::machines::size_of(&ty);
                match (&kind, size) {
                    (Kind::Vm(_), Some(t)) => {
                        vm.cpus = t.cpus;
                        vm.memory = t.memory;
                        r.approximated(
                            &p,
                            v,
                            &format!(
                                "the machine type {ty} is read as the vm's size request, {} vCPU and {}: rendered again, the smallest type that fits is chosen",
                                t.cpus, t.memory
                            ),
                        );
                    }
                    (Kind::Vm(_), None) => {
                        vm.cpus = bridge_core::units::Cpus(1000);
                        vm.memory = ByteSize(2 * GIB);
                        r.dropped(
                            &p,
                            v,
                            &format!("the size of machine type {ty} is not known: the vm is read as 1 vCPU and 2GiB"),
                        );
                    }
                    (Kind::Host, t) => r.approximated(
                        &p,
                        v,
                        &format!(
                            "the machine type {ty}{} is the placement's choice for this host's services: it is not a field of the app, and rendered again the placement chooses from the services' sizes (`providers.gce.machine_type` pins one type for every host)",
                            t.map(|t| format!(" ({} vCPU, {})", t.cpus, t.memory))
                                .unwrap_or_default()
                        ),
                    ),
                }
            }
            "labels" => {
                for (lk, lkn, lv) in r.map(&p, v).unwrap_or_default() {
                    let lp = join(&p, &lk);
                    if lk == LABEL_APP || lk == LABEL_COMPONENT || lk == crate::gce::LABEL_SPEC_HASH
                    {
                        continue;
                    }
                    match (&kind, lv.as_str()) {
                        (Kind::Vm(_), Some(s)) => {
                            vm.labels.insert(lk, s.to_string());
                        }
                        (Kind::Host, Some(_)) => r.dropped(
                            &lp,
                            lkn,
                            "a host's labels come from the placement's host labels, which the app does not hold",
                        ),
                        (_, None) => r.dropped(&lp, lkn, "a label is a string"),
                    }
                }
            }
            "disks" => {
                for (i, d) in r.seq(&p, v).unwrap_or_default().iter().enumerate() {
                    attached_disk(r, &format!("{p}[{i}]"), d, &kind, &mut vm, out);
                }
            }
            "networkInterfaces" => {
                let nics = r.seq(&p, v).unwrap_or_default();
                for (i, nic) in nics.iter().enumerate() {
                    let np = format!("{p}[{i}]");
                    if i > 0 {
                        r.dropped(&np, nic, "bridge's instances have one network interface");
                        continue;
                    }
                    for (nk, nkn, nv) in r.map(&np, nic).unwrap_or_default() {
                        let nkp = join(&np, &nk);
                        match nk.as_str() {
                            "network" => {
                                let net = nv.as_str().map(partial).unwrap_or_default();
                                let name = after(&net, "networks").unwrap_or(&net);
                                if name != "default" {
                                    out.gce.network = Some(name.to_string());
                                }
                            }
                            "subnetwork" => {
                                let sub = nv.as_str().map(partial).unwrap_or_default();
                                out.gce.subnetwork =
                                    Some(after(&sub, "subnetworks").unwrap_or(&sub).to_string());
                            }
                            // An external address follows from published ports.
                            "accessConfigs" => {}
                            "networkIP" | "name" | "fingerprint" | "kind" | "stackType"
                            | "ipv6AccessConfigs" | "queueCount" | "nicType" => {}
                            _ => r.dropped(
                                &nkp,
                                nkn,
                                "bridge has no field for this network interface property",
                            ),
                        }
                    }
                }
            }
            "serviceAccounts" => {
                for (i, sa) in r.seq(&p, v).unwrap_or_default().iter().enumerate() {
                    let sp = format!("{p}[{i}]");
                    let email = sa.get("email").and_then(Node::as_str).unwrap_or("default");
                    if email != "default"
                        && !email.ends_with("-compute@developer.gserviceaccount.com")
                    {
                        out.gce.service_account = Some(email.to_string());
                    }
                    let scopes: Vec<&str> = sa
                        .get("scopes")
                        .and_then(Node::as_seq)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(Node::as_str)
                        .collect();
                    if scopes != [SCOPE] {
                        r.dropped(
                            &join(&sp, "scopes"),
                            sa,
                            "bridge's instances take the cloud-platform scope, and IAM roles decide the rest",
                        );
                    }
                }
            }
            // Network tags follow from the app's and its services' names.
            "tags" if bridge_made => {}
            "tags" => {
                if v.get("items")
                    .and_then(Node::as_seq)
                    .is_some_and(|i| !i.is_empty())
                {
                    r.dropped(&p, kn, "bridge derives network tags from the app's and its services' names: an instance's own tags are not read");
                }
            }
            "scheduling" => {
                let migrate = v
                    .get("onHostMaintenance")
                    .and_then(Node::as_str)
                    .unwrap_or("MIGRATE")
                    == "MIGRATE";
                let restart = v
                    .get("automaticRestart")
                    .and_then(|b| b.as_str().map(|s| s == "true"))
                    .unwrap_or(true);
                let spot = v
                    .get("preemptible")
                    .and_then(Node::as_str)
                    .is_some_and(|s| s == "true")
                    || v.get("provisioningModel")
                        .and_then(Node::as_str)
                        .is_some_and(|m| m != "STANDARD");
                if !migrate || !restart || spot {
                    r.dropped(
                        &p,
                        kn,
                        "bridge's instances migrate on host maintenance and restart automatically: other scheduling is not read",
                    );
                }
            }
            "metadata" => {
                for (mk, mkn, _) in r.map(&p, v).unwrap_or_default() {
                    if mk != "items" && mk != "fingerprint" && mk != "kind" {
                        r.dropped(&join(&p, &mk), mkn, "not an instance metadata field");
                    }
                }
            }
            f if SERVER_FIELDS.contains(&f) => r.provider_set(&p, kn),
            _ => r.dropped(&p, kn, "bridge has no field for this instance property"),
        }
    }
    // Metadata items.
    let mpath = join(path, "metadata.items");
    let mut update: Option<(crate::gce::update::HostUpdate, String, &Node)> = None;
    for (i, (key, item, val)) in items.iter().enumerate() {
        let ip = format!("{mpath}[{i}]");
        let text = val.as_str().unwrap_or_default();
        match (key.as_str(), &kind) {
            (crate::gce::update::METADATA_KEY, Kind::Host) => {
                match serde_json::from_str::<crate::gce::update::HostUpdate>(text) {
                    Ok(u) => update = Some((u, ip, item)),
                    Err(e) => r.dropped(
                        &ip,
                        item,
                        &format!("bridge's update policy does not read: {e}"),
                    ),
                }
            }
            (k, _) if BRIDGE_METADATA.contains(&k) => {}
            ("user-data", Kind::Host) if bridge_ud => {
                host_services.extend(cloud_config(r, app, &ip, item, text, out));
            }
            ("gce-container-declaration", Kind::Host) => {
                out.gce.container_declaration = true;
                if let Some(s) = declaration(r, app, &ip, item, text) {
                    out.declared.insert(s.0.clone());
                    host_services.push(s);
                }
            }
            ("user-data" | "startup-script", Kind::Vm(_)) => {
                if key == "user-data" && text.starts_with("#!") {
                    r.approximated(
                        &ip,
                        item,
                        "a script given as user-data is rendered again as the startup-script (it runs at every boot)",
                    );
                }
                if key == "startup-script" && !text.starts_with("#!") {
                    r.approximated(
                        &ip,
                        item,
                        "a startup-script without `#!` is rendered again as cloud-init user-data",
                    );
                }
                vm.user_data = Some(text.to_string());
            }
            _ => r.dropped(
                &ip,
                item,
                &format!("the metadata `{key}` is not part of the app"),
            ),
        }
    }
    match kind {
        Kind::Vm(v) => {
            if vm.image.is_empty() {
                r.dropped(
                    &join(path, "disks"),
                    n,
                    "the boot disk's image is not in the body: the vm's image is `image`, map it in providers.gce.images",
                );
                vm.image = "image".into();
            }
            match out.vms.get_mut(&v) {
                Some(existing) => existing.replicas += 1,
                None => {
                    out.vms.insert(v, vm);
                }
            }
        }
        Kind::Host => {
            if host_services.len() > 1 {
                r.approximated(
                    &join(path, "metadata"),
                    n,
                    "the services of one host are read as services of their own: whether they were a group is not on the instance, and the placement packs them again",
                );
            }
            if let Some((u, ip, at)) = &update {
                host_update(r, u, ip, at, &mut host_services);
            }
            out.hosts
                .push(host_services.iter().map(|(n, _)| n.clone()).collect());
            for (svc, s) in host_services {
                match out.services.get_mut(&svc) {
                    Some(existing) => existing.replicas += 1,
                    None => {
                        out.services.insert(svc, s);
                    }
                }
            }
        }
    }
}

/// The host's `bridge-update` metadata back into its services' update policies: parallelism is
/// per service; delay, monitor, order, failure action and ratio are the host's merge of its
/// services' (approximated when the host runs several).
fn host_update(
    r: &mut Reader,
    u: &crate::gce::update::HostUpdate,
    ip: &str,
    at: &Node,
    services: &mut [(String, Service)],
) {
    use bridge_core::model::{FailureAction, UpdateOrder, UpdatePolicy};
    let ms = |n: u64| (n > 0).then(|| bridge_core::units::Duration(n * 1_000_000));
    let shared = UpdatePolicy {
        delay: ms(u.delay_ms),
        monitor: ms(u.monitor_ms),
        failure_action: match u.failure_action.as_str() {
            "continue" => Some(FailureAction::Continue),
            "rollback" => Some(FailureAction::Rollback),
            _ => None,
        },
        max_failure_ratio: (u.max_failure_ratio > 0.0).then_some(u.max_failure_ratio),
        order: (u.order == "start-first").then_some(UpdateOrder::StartFirst),
        ..UpdatePolicy::default()
    };
    if services.len() > 1 && shared != UpdatePolicy::default() {
        r.approximated(
            ip,
            at,
            "the host's update delay, monitor, order and failure action merge those of its services: each service is given the merged values",
        );
    }
    for (n, s) in services.iter_mut() {
        let mut p = shared.clone();
        p.parallelism = u.parallelism.get(n).copied().filter(|p| *p != 1);
        if p != UpdatePolicy::default() {
            s.update = Some(p);
        }
    }
}

fn attached_disk(r: &mut Reader, p: &str, d: &Node, kind: &Kind, vm: &mut Vm, out: &mut Out) {
    let boot = d.get("boot").and_then(Node::as_str) == Some("true");
    for (k, kn, v) in r.map(p, d).unwrap_or_default() {
        let kp = join(p, &k);
        match k.as_str() {
            "boot" | "autoDelete" | "deviceName" | "mode" | "type" | "index" | "interface"
            | "kind" | "diskSizeGb" | "savedState" => {}
            "source" if !boot => {
                let src = v.as_str().map(partial).unwrap_or_default();
                let dn = after(&src, "disks").unwrap_or(&src).to_string();
                out.attached
                    .push((dn, String::new(), r.file.to_string(), kp.clone(), v.clone()));
            }
            "source" => {}
            "initializeParams" => {
                for (ik, ikn, iv) in r.map(&kp, v).unwrap_or_default() {
                    let ikp = join(&kp, &ik);
                    match (ik.as_str(), kind) {
                        ("labels", _) => {}
                        ("sourceImage", Kind::Host) => {
                            if iv.as_str() != Some(COS_IMAGE) {
                                r.dropped(
                                    &ikp,
                                    ikn,
                                    "a container host runs Container-Optimized OS (cos-stable)",
                                );
                            }
                        }
                        ("sourceImage", Kind::Vm(name)) => {
                            let img = iv.as_str().unwrap_or_default();
                            let img = img.strip_prefix("global/images/").unwrap_or(img);
                            vm.image = name.clone();
                            out.gce.images.insert(name.clone(), img.to_string());
                        }
                        ("diskSizeGb", Kind::Host) => {
                            if r.uint(&ikp, iv) != Some(HOST_DISK_GB) {
                                r.dropped(&ikp, ikn, "a container host's boot disk is 20 GB");
                            }
                        }
                        ("diskSizeGb", Kind::Vm(_)) => {
                            if let Some(gb) = r.uint(&ikp, iv) {
                                vm.disk = Some(ByteSize(gb * GIB));
                            }
                        }
                        ("diskType", _) => {
                            let t = iv.as_str().map(partial).unwrap_or_default();
                            if after(&t, "diskTypes") != Some("pd-balanced") {
                                r.dropped(&ikp, ikn, "bridge's boot disks are pd-balanced");
                            }
                        }
                        _ => {
                            r.dropped(&ikp, ikn, "bridge has no field for this boot disk property")
                        }
                    }
                }
            }
            f if SERVER_FIELDS.contains(&f) => {}
            _ => r.dropped(
                &kp,
                kn,
                "bridge has no field for this attached disk property",
            ),
        }
    }
}

/// The boot script's secret and config fetches and disk mounts, into the cloud-config as read.
fn setup_script(text: &str, cc: &mut CloudConfig, fetched: &mut Vec<(String, String, bool)>) {
    let configs_dir = format!("{}/", crate::gce::setup::CONFIGS_DIR);
    let secrets_dir = format!("{SECRETS_DIR}/");
    let mut id: Option<String> = None;
    for line in text.lines() {
        let Ok(w) = shell::split(line) else { continue };
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        let target = |f: &str| -> Option<(String, bool)> {
            let f = f.strip_suffix(".tmp").unwrap_or(f);
            if let Some(n) = f.strip_prefix(&secrets_dir) {
                return Some((n.to_string(), true));
            }
            f.strip_prefix(&configs_dir).map(|n| (n.to_string(), false))
        };
        match w.as_slice() {
            ["fetch", x] => id = Some(x.to_string()),
            ["printf", "%s=%s\\n", var, "$val", ">", f] => {
                if let (Some((n, true)), Some(i)) = (target(f), &id) {
                    let n = n.strip_suffix(".env").unwrap_or(&n).to_string();
                    cc.secret_envs
                        .entry(n.clone())
                        .or_default()
                        .push(var.to_string());
                    fetched.push((i.clone(), n, true));
                }
            }
            ["printf", "%s", "$data", "|", "base64", "-d", ">", f] => {
                if let (Some((n, secret)), Some(i)) = (target(f), &id) {
                    if !secret {
                        cc.configs.insert(n.clone(), (None, None));
                    }
                    fetched.push((i.clone(), n, secret));
                }
            }
            ["chmod", mode, f] => {
                let m = u32::from_str_radix(mode, 8).ok();
                match target(f) {
                    Some((n, true)) if !n.ends_with(".env") => {
                        // bridge's default for a fetched secret file is 0400.
                        cc.secret_files.insert(n, m.filter(|m| *m != 0o400));
                    }
                    Some((n, false)) => {
                        cc.configs.insert(n, (None, m));
                    }
                    _ => {}
                }
            }
            ["chown", owner, f] => {
                if let Some((n, secret)) = target(f) {
                    let (u, g) = owner.split_once(':').unwrap_or((owner, ""));
                    let own = (Some(u.to_string()), (!g.is_empty()).then(|| g.to_string()));
                    if secret {
                        cc.owners.insert(format!("secret:{n}"), own);
                    } else {
                        cc.owners.insert(n, own);
                    }
                }
            }
            ["chgrp", g, f] => {
                if let Some((n, secret)) = target(f) {
                    let key = if secret { format!("secret:{n}") } else { n };
                    cc.owners.insert(key, (None, Some(g.to_string())));
                }
            }
            _ => {}
        }
    }
}

/// bridge's cloud-config on a host: its services.
fn cloud_config(
    r: &mut Reader,
    app: &str,
    ip: &str,
    at: &Node,
    text: &str,
    out: &mut Out,
) -> Vec<(String, Service)> {
    let Some(doc) = r.embedded_yaml(ip, at, text, "cloud-config") else {
        return Vec::new();
    };
    let mut cc = CloudConfig::default();
    let mut fetched = Vec::new();
    let unit_dir = format!("/etc/systemd/system/{app}-");
    for (k, v) in doc.as_map().unwrap_or_default() {
        let key = k.as_str().unwrap_or_default();
        let kp = format!("{ip}#{key}");
        match key {
            "write_files" => {
                for (i, item) in v.as_seq().unwrap_or_default().iter().enumerate() {
                    let fp = format!("{kp}[{i}]");
                    let f = |n: &str| item.get(n).and_then(Node::as_str).map(str::to_string);
                    let path = f("path").unwrap_or_default();
                    let content = f("content").unwrap_or_default();
                    if path == format!("{SCRIPTS_DIR}/setup.sh") {
                        setup_script(&content, &mut cc, &mut fetched);
                        if let Some(p) = content
                            .lines()
                            .find_map(|l| l.strip_prefix("project="))
                            .and_then(|p| shell::split(p).ok())
                            .and_then(|w| w.into_iter().next())
                            && !p.starts_with('$')
                        {
                            out.gce.project = Some(p);
                        }
                        continue;
                    }
                    // The host's own agents and the drop-ins that tie units to them.
                    let own = path == format!("{SCRIPTS_DIR}/health.sh")
                        || path
                            == format!("/etc/systemd/system/{}", crate::gce::setup::HEALTH_UNIT)
                        || (path.starts_with(&unit_dir) && path.contains(".service.d/"))
                        || BRIDGE_FILES.contains(&path.as_str());
                    if own {
                        continue;
                    }
                    write_file(
                        r,
                        &fp,
                        at,
                        app,
                        &path,
                        f("permissions"),
                        &Value::String(content),
                        &mut cc,
                    );
                }
            }
            "runcmd" => {
                for (i, c) in v.as_seq().unwrap_or_default().iter().enumerate() {
                    let words = words(c);
                    let w: Vec<&str> = words.iter().map(String::as_str).collect();
                    match w.as_slice() {
                        ["systemctl", "enable", "--now", _] | ["systemctl", "daemon-reload"] => {}
                        ["sh", "-c", c] if c.starts_with("docker network inspect ") => {}
                        ["docker", "volume", "create", _] => {}
                        _ => r.dropped(
                            &format!("{kp}[{i}]"),
                            at,
                            &format!(
                                "the command `{}` is not part of the app",
                                shell::join(&words)
                            ),
                        ),
                    }
                }
            }
            _ => r.dropped(
                &kp,
                at,
                &format!("the cloud-config key `{key}` is not part of the app"),
            ),
        }
    }
    for (id, n, secret) in fetched {
        out.fetched.entry(id).or_insert((
            n,
            secret,
            r.file.to_string(),
            ip.to_string(),
            at.clone(),
        ));
    }
    for (n, (content, _)) in &cc.configs {
        if let Some(c) = content {
            out.contents.insert(n.clone(), c.clone());
        }
    }
    // Secret owners are keyed apart from configs' while the script is read.
    let secret_owners: BTreeMap<String, (Option<String>, Option<String>)> = cc
        .owners
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("secret:")?.to_string(), v.clone())))
        .collect();
    cc.owners.retain(|k, _| !k.starts_with("secret:"));
    let mut services = Vec::new();
    let tokens = BTreeMap::new();
    for (svc, args, spath) in std::mem::take(&mut cc.scripts) {
        let sp = format!("{ip}#{spath}");
        let Some(mut s) = parse_run(r, &sp, at, "", app, &svc, &args, &cc, &tokens) else {
            continue;
        };
        s = apply_unit(
            s,
            cc.units.get(&svc).map(String::as_str).unwrap_or_default(),
            app,
        );
        // The reader escapes `${` as a literal; bridge's GCE render keeps the app's
        // `${vms.x.address}` references for the driver to resolve, and writes a literal `$${`.
        for v in s.env.0.values_mut() {
            *v = unescape_refs(v);
        }
        for x in &mut s.secrets {
            if let Some((u, g)) = secret_owners.get(&x.name) {
                x.uid = u.clone();
                x.gid = g.clone();
            }
            // The boot script's mode (GCE's default is 0400, not Heat's 0444).
            if x.env.is_none() {
                x.mode = cc.secret_files.get(&x.name).copied().flatten();
            }
        }
        // Persistent disks are mounted under /mnt/disks/<volume>.
        for m in &mut s.volumes {
            if m.kind == MountKind::Bind
                && let Some(v) = m
                    .source
                    .as_deref()
                    .and_then(|src| src.strip_prefix(&format!("{}/", crate::gce::setup::DISKS_DIR)))
                    .filter(|v| !v.contains('/'))
            {
                m.kind = MountKind::Volume;
                m.source = Some(v.to_string());
            }
        }
        services.push((svc, s));
    }
    for f in &cc.shipped {
        r.approximated(
            ip,
            at,
            &format!("the project file `{f}` is shipped by cloud-init: its content is not written back, and the service binds the host path"),
        );
    }
    services
}

/// `$${x}` (the reader's literal) back to `${x}` where bridge's render left an address reference,
/// and `$$${` (a literal in the app, written `$${` on the host) back to `$${`.
fn unescape_refs(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find("$${") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 3..];
        if tail.starts_with("vms.") || tail.starts_with("services.") {
            out.push_str("${");
        } else {
            out.push_str("$${");
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// konlet's `gce-container-declaration`: one container.
fn declaration(
    r: &mut Reader,
    app: &str,
    ip: &str,
    at: &Node,
    text: &str,
) -> Option<(String, Service)> {
    let doc = r.embedded_yaml(ip, at, text, "container declaration")?;
    let Some(spec) = doc.get("spec") else {
        r.dropped(ip, at, "the container declaration has no `spec`");
        return None;
    };
    let mut s = Service {
        replicas: 1,
        ..Service::default()
    };
    let mut name = None;
    let mut volumes: BTreeMap<String, &Node> = BTreeMap::new();
    for vol in spec
        .get("volumes")
        .and_then(Node::as_seq)
        .unwrap_or_default()
    {
        if let Some(n) = vol.get("name").and_then(Node::as_str) {
            volumes.insert(n.to_string(), vol);
        }
    }
    for (k, v) in spec.as_map().unwrap_or_default() {
        let key = k.as_str().unwrap_or_default();
        let kp = format!("{ip}#spec.{key}");
        match key {
            "volumes" => {}
            "restartPolicy" => {
                s.restart = match v.as_str() {
                    Some("Always") => RestartPolicy::Always,
                    Some("OnFailure") => RestartPolicy::OnFailure,
                    Some("Never") => RestartPolicy::Never,
                    _ => {
                        r.dropped(&kp, at, "not Always, OnFailure or Never");
                        RestartPolicy::Always
                    }
                }
            }
            "containers" => {
                let cs = v.as_seq().unwrap_or_default();
                for (i, c) in cs.iter().enumerate() {
                    let cp = format!("{kp}[{i}]");
                    if i > 0 {
                        r.dropped(
                            &cp,
                            at,
                            "a declared instance runs one container: the others are not read",
                        );
                        continue;
                    }
                    for (ck, cv) in c.as_map().unwrap_or_default() {
                        let ckey = ck.as_str().unwrap_or_default();
                        let ckp = format!("{cp}.{ckey}");
                        let words = |n: &Node| -> Vec<String> {
                            n.as_seq()
                                .unwrap_or_default()
                                .iter()
                                .map(|w| w.as_str().unwrap_or_default().to_string())
                                .collect()
                        };
                        match ckey {
                            "name" => name = cv.as_str().map(str::to_string),
                            "image" => s.image = cv.as_str().unwrap_or_default().to_string(),
                            "command" => s.entrypoint = Some(Command(words(cv))),
                            "args" => s.command = Some(Command(words(cv))),
                            "env" => {
                                let mut env = BTreeMap::new();
                                for e in cv.as_seq().unwrap_or_default() {
                                    match (
                                        e.get("name").and_then(Node::as_str),
                                        e.get("value").and_then(Node::as_str),
                                    ) {
                                        (Some(n), Some(val)) => {
                                            env.insert(n.to_string(), val.to_string());
                                        }
                                        _ => r.dropped(
                                            &ckp,
                                            at,
                                            "an env entry without a name and a string value",
                                        ),
                                    }
                                }
                                s.env = Env(env);
                            }
                            "stdin" => s.stdin_open = cv.as_str() == Some("true"),
                            "tty" => s.tty = cv.as_str() == Some("true"),
                            "securityContext" => {
                                for (sk, sv) in cv.as_map().unwrap_or_default() {
                                    match (sk.as_str(), sv.as_str()) {
                                        (Some("privileged"), Some(b)) => s.privileged = b == "true",
                                        _ => r.dropped(
                                            &format!("{ckp}.{}", sk.as_str().unwrap_or_default()),
                                            at,
                                            "only `privileged` is read back",
                                        ),
                                    }
                                }
                            }
                            "volumeMounts" => {
                                for (j, m) in cv.as_seq().unwrap_or_default().iter().enumerate() {
                                    let mp = format!("{ckp}[{j}]");
                                    let vname =
                                        m.get("name").and_then(Node::as_str).unwrap_or_default();
                                    let target = m
                                        .get("mountPath")
                                        .and_then(Node::as_str)
                                        .unwrap_or_default()
                                        .to_string();
                                    let ro =
                                        m.get("readOnly").and_then(Node::as_str) == Some("true");
                                    let Some(vol) = volumes.get(vname) else {
                                        r.dropped(
                                            &mp,
                                            at,
                                            &format!(
                                                "the mount names no volume `{vname}` of the spec"
                                            ),
                                        );
                                        continue;
                                    };
                                    let mount = if vol.get("emptyDir").is_some() {
                                        Some(Mount {
                                            kind: MountKind::Tmpfs,
                                            source: None,
                                            target,
                                            read_only: ro,
                                            size: None,
                                        })
                                    } else if let Some(hp) = vol
                                        .get("hostPath")
                                        .and_then(|h| h.get("path"))
                                        .and_then(Node::as_str)
                                    {
                                        Some(Mount {
                                            kind: MountKind::Bind,
                                            source: Some(hp.to_string()),
                                            target,
                                            read_only: ro,
                                            size: None,
                                        })
                                    } else if let Some(pd) = vol
                                        .get("gcePersistentDisk")
                                        .and_then(|h| h.get("pdName"))
                                        .and_then(Node::as_str)
                                    {
                                        let v = pd.strip_prefix(&format!("{app}-")).unwrap_or(pd);
                                        Some(Mount {
                                            kind: MountKind::Volume,
                                            source: Some(dns_label(v)),
                                            target,
                                            read_only: ro,
                                            size: None,
                                        })
                                    } else {
                                        None
                                    };
                                    match mount {
                                        Some(m) => s.volumes.push(m),
                                        None => r.dropped(&mp, at, "a volume that is not emptyDir, hostPath or gcePersistentDisk"),
                                    }
                                }
                            }
                            other => r.dropped(
                                &ckp,
                                at,
                                &format!("the container field `{other}` is not read back"),
                            ),
                        }
                    }
                }
                if cs.is_empty() {
                    r.dropped(&kp, at, "the declaration runs no container");
                    return None;
                }
            }
            other => r.dropped(
                &kp,
                at,
                &format!("the spec field `{other}` is not read back"),
            ),
        }
    }
    if s.image.is_empty() {
        r.fail(
            &format!("{ip}#spec.containers[0].image"),
            at,
            "the declared container has no image".into(),
            None,
        );
        return None;
    }
    let cname = name.unwrap_or_else(|| "app".into());
    let svc = dns_label(cname.strip_prefix(&format!("{app}-")).unwrap_or(&cname));
    Some((svc, s))
}

/// Services that must share a host: on every host together, and sharing a named volume (a
/// persistent disk attaches to one VM) or a network namespace (`network_of`). They become a
/// group named after the first of them; services merely packed together stay apart (the host
/// says so, `X002`).
fn groups(out: &mut Out) {
    let mut hosts_of: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (i, h) in out.hosts.iter().enumerate() {
        for s in h {
            hosts_of.entry(s.clone()).or_default().insert(i);
        }
    }
    let vols = |s: &Service| -> BTreeSet<String> {
        s.volumes
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
            .filter_map(|m| m.source.clone())
            .collect()
    };
    // Union-find over the services of one host.
    let names: Vec<String> = out.services.keys().cloned().collect();
    let mut parent: BTreeMap<String, String> =
        names.iter().map(|n| (n.clone(), n.clone())).collect();
    fn root(p: &BTreeMap<String, String>, n: &str) -> String {
        let mut cur = n.to_string();
        while let Some(up) = p.get(&cur).filter(|u| **u != cur) {
            cur = up.clone();
        }
        cur
    }
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            if hosts_of.get(a) != hosts_of.get(b) {
                continue;
            }
            let (sa, sb) = (&out.services[a], &out.services[b]);
            let tied = !vols(sa).is_disjoint(&vols(sb))
                || sa.network_of.as_deref() == Some(b.as_str())
                || sb.network_of.as_deref() == Some(a.as_str());
            if tied {
                let (ra, rb) = (root(&parent, a), root(&parent, b));
                if ra != rb {
                    let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
                    parent.insert(hi, lo);
                }
            }
        }
    }
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in &names {
        groups.entry(root(&parent, n)).or_default().push(n.clone());
    }
    groups.retain(|_, m| m.len() > 1);
    for (g, members) in &groups {
        for m in members {
            if let Some(s) = out.services.get_mut(m) {
                s.group = Some(g.clone());
            }
        }
    }
    out.groups = groups;
}

/// Once every body is read: volumes, secrets and configs the services name, and the ports of
/// declared containers and vms from the firewall rules.
fn done(r: &mut Reader, app: &str, out: &mut Out) {
    groups(out);
    // Address references to components the bodies do not hold (another provider's, or
    // instances not given): said, so the app can be completed.
    let mut texts: Vec<(String, String)> = Vec::new();
    for (n, v) in &out.vms {
        if let Some(u) = &v.user_data {
            texts.push((format!("vms.{n}.user_data"), u.clone()));
        }
    }
    for (n, s) in &out.services {
        for (k, v) in &s.env.0 {
            texts.push((format!("services.{n}.env.{k}"), v.clone()));
        }
    }
    for (path, t) in texts {
        for (kind, names) in [
            ("vms", &out.vms.keys().cloned().collect::<BTreeSet<_>>()),
            ("services", &out.services.keys().cloned().collect()),
        ] {
            for part in t.split(&format!("${{{kind}.")).skip(1) {
                let who = part.split('.').next().unwrap_or_default();
                if !names.contains(who) {
                    r.diags.push(
                        Diagnostic::new(
                            bridge_core::Severity::Warning,
                            bridge_core::codes::EXPORT_DROPPED,
                            format!("`{path}` names `{kind}.{who}`, which none of the given bodies holds (deployed elsewhere, or not given): complete the app with it"),
                        )
                        .with_path(path.clone())
                        .with_file(r.file.clone()),
                    );
                }
            }
        }
    }
    // Ports from firewall rules: a declared container's (host network) and a vm's.
    let app_tag = crate::gce::names::resource_name(app);
    for (tag, port, file, path, node) in std::mem::take(&mut out.firewalls) {
        let Some(who) = tag.strip_prefix(&format!("{app_tag}-")) else {
            if tag != app_tag {
                r.dropped_in(
                    &file,
                    &path,
                    &node,
                    &format!("the rule opens a port for the network tag `{tag}`, which is no service or vm of the app `{app}`"),
                );
            }
            continue;
        };
        if out.declared.contains(who)
            && let Some(s) = out.services.get_mut(who)
        {
            if !s.ports.contains(&port) {
                s.ports.push(port);
            }
            continue;
        }
        if let Some(v) = out.vms.get_mut(who) {
            if !v.ports.contains(&port) {
                v.ports.push(port);
            }
            continue;
        }
        if out.services.contains_key(who) {
            // A cloud-init host's ports are in its docker run.
            continue;
        }
        r.dropped_in(
            &file,
            &path,
            &node,
            &format!("the rule opens a port for `{who}`, which none of the given instances runs"),
        );
    }
    // Volumes the services mount.
    let vols: BTreeSet<String> = volume_refs(out.services.values()).into_iter().collect();
    let attached = std::mem::take(&mut out.attached);
    for v in vols {
        let default_disk = crate::gce::names::resource_name(&format!("{app}-{v}"));
        let dn = attached
            .iter()
            .map(|a| a.0.clone())
            .find(|d| *d == default_disk)
            .or_else(|| {
                attached
                    .iter()
                    .map(|a| a.0.clone())
                    .find(|d| d.ends_with(&format!("-{v}")) || *d == v)
            })
            .unwrap_or(default_disk.clone());
        let mut vol = Volume::default();
        if dn != default_disk {
            vol.name = Some(dn.clone());
        }
        match out.disks.get(&dn) {
            Some((size, labels)) => {
                vol.size = size.map(|gb| ByteSize(gb * GIB));
                vol.labels = labels.clone();
            }
            None => {
                if let Some((_, _, file, path, node)) = attached.iter().find(|a| a.0 == dn) {
                    r.dropped_in(
                        file,
                        path,
                        node,
                        &format!("the size of disk `{dn}` is in its own body (gce/disks/{dn}.json), not given: the volume takes the default size"),
                    );
                }
            }
        }
        out.volumes.insert(v, vol);
    }
    // Secrets and configs: fetched from Secret Manager (the values never are on the instance),
    // or a config written inline.
    let refs = secret_and_config_refs(out.services.values());
    for (name, secret) in refs {
        let (id, at) = match out
            .fetched
            .iter()
            .find(|(_, (n, s, ..))| *n == name && *s == secret)
        {
            Some((id, (_, _, file, path, node))) => (
                Some(id.clone()),
                Some((file.clone(), path.clone(), node.clone())),
            ),
            None => (None, None),
        };
        let default_id = if secret {
            format!("{app}-{name}")
        } else {
            format!("{app}-config-{name}")
        };
        let var = name.to_uppercase().replace(['-', '.'], "_");
        if secret {
            if out.secrets.contains_key(&name) {
                continue;
            }
            let var = format!("SECRET_{var}");
            if let Some((file, path, node)) = &at {
                r.approximated_in(
                    file,
                    path,
                    node,
                    &format!("the secret `{name}` is fetched from Secret Manager at boot: its value is not on the instance, and it is read from the environment variable {var} at deploy time"),
                );
            }
            out.secrets.insert(
                name,
                Secret {
                    env: Some(var),
                    name: id.filter(|i| *i != default_id),
                    ..Secret::default()
                },
            );
        } else {
            if out.configs.contains_key(&name) {
                continue;
            }
            let cfg = match out.contents.get(&name) {
                Some(c) => Config {
                    content: Some(c.clone()),
                    ..Config::default()
                },
                None => {
                    let var = format!("CONFIG_{var}");
                    if let Some((file, path, node)) = &at {
                        r.approximated_in(
                            file,
                            path,
                            node,
                            &format!("the config `{name}` is fetched from Secret Manager at boot: its content is not on the instance, and it is read from the environment variable {var} at deploy time"),
                        );
                    }
                    Config {
                        env: Some(var),
                        name: id.filter(|i| *i != default_id),
                        ..Config::default()
                    }
                }
            };
            out.configs.insert(name, cfg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_core::codes::{EXPORT_APPROXIMATED, EXPORT_DROPPED, EXPORT_UNREADABLE};

    fn export(files: &[(&str, &str)]) -> Result<Export, Diagnostics> {
        let f: Vec<(String, String)> = files
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        instances(&f, None)
    }

    /// The errors of an export that must fail.
    fn refused(files: &[(&str, &str)]) -> Diagnostics {
        match export(files) {
            Err(d) => d,
            Ok(e) => panic!("exported {:?}", e.app),
        }
    }

    /// The app's GCE options, which it must have.
    fn gce_options(e: &Export) -> &bridge_core::model::GceOptions {
        e.app
            .providers
            .gce
            .as_ref()
            .unwrap_or_else(|| panic!("no gce options"))
    }

    fn has(d: &Diagnostics, code: &str, path: &str) -> bool {
        d.iter().any(|x| x.code == code && x.path.contains(path))
    }

    const DECLARED: &str = r#"{
  "name": "web-1",
  "machineType": "https://compute.googleapis.com/compute/v1/projects/p/zones/europe-west1-b/machineTypes/e2-small",
  "status": "RUNNING",
  "canIpForward": true,
  "metadata": {"items": [
    {"key": "gce-container-declaration", "value": "spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n    command: [nginx]\n    args: [-g, daemon off;]\n    env:\n    - name: MODE\n      value: prod\n    volumeMounts:\n    - name: v0\n      mountPath: /data\n      readOnly: true\n    workingDir: /srv\n  volumes:\n  - name: v0\n    hostPath:\n      path: /var/data\n  restartPolicy: OnFailure\n"},
    {"key": "ssh-keys", "value": "me:ssh-ed25519 AAAA"}
  ]}
}"#;

    #[test]
    fn a_container_declaration_becomes_a_service() {
        let e = export(&[("web-1.json", DECLARED)]).unwrap_or_else(|d| panic!("{d:?}"));
        let s = &e.app.services["web"];
        assert_eq!(s.image, "nginx:1.27");
        assert_eq!(
            s.entrypoint.as_ref().map(|c| c.0.clone()),
            Some(vec!["nginx".to_string()])
        );
        assert_eq!(
            s.command.as_ref().map(|c| c.0.clone()),
            Some(vec!["-g".to_string(), "daemon off;".to_string()])
        );
        assert_eq!(s.env.0.get("MODE").map(String::as_str), Some("prod"));
        assert_eq!(s.restart, RestartPolicy::OnFailure);
        assert_eq!(s.volumes[0].source.as_deref(), Some("/var/data"));
        assert!(s.volumes[0].read_only);
        let gce = gce_options(&e);
        assert_eq!(gce.zone.as_deref(), Some("europe-west1-b"));
        let d = &e.diagnostics;
        // What is not read back is said, by path.
        assert!(has(d, EXPORT_DROPPED, "canIpForward"), "{d:?}");
        assert!(has(d, EXPORT_DROPPED, "workingDir"), "{d:?}");
        assert!(has(d, EXPORT_DROPPED, "metadata.items[1]"), "{d:?}");
        assert!(has(d, EXPORT_APPROXIMATED, "machineType"), "{d:?}");
        // The server's own fields are notes.
        assert!(
            d.iter()
                .any(|x| x.path == "status" && x.severity == bridge_core::Severity::Note)
        );
    }

    #[test]
    fn a_plain_instance_is_a_vm_sized_from_its_machine_type() {
        let body = r##"{"name": "shop-db", "machineType": "zones/us-central1-a/machineTypes/e2-standard-2",
          "labels": {"bridge-app": "shop", "bridge-component": "vm-db", "tier": "data"},
          "disks": [{"boot": true, "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12", "diskSizeGb": "30"}}],
          "metadata": {"items": [{"key": "startup-script", "value": "#!/bin/sh\necho hi\n"}]}}"##;
        let e = export(&[("db.json", body)]).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(e.app.name, "shop");
        let v = &e.app.vms["db"];
        assert_eq!(v.cpus, bridge_core::units::Cpus(2000));
        assert_eq!(v.memory, ByteSize(8 * GIB));
        assert_eq!(v.disk, Some(ByteSize(30 * GIB)));
        assert_eq!(v.image, "db");
        assert_eq!(v.labels.get("tier").map(String::as_str), Some("data"));
        assert_eq!(v.user_data.as_deref(), Some("#!/bin/sh\necho hi\n"));
        let gce = gce_options(&e);
        assert_eq!(
            gce.images.get("db").map(String::as_str),
            Some("projects/debian-cloud/global/images/family/debian-12")
        );
        assert!(has(&e.diagnostics, EXPORT_APPROXIMATED, "machineType"));
    }

    #[test]
    fn bad_input_fails_naming_file_and_field() {
        let d = refused(&[("x.json", "{\"name\": \"a\", \"foo\": 1}")]);
        assert!(
            d.iter()
                .any(|x| x.code == EXPORT_UNREADABLE && x.file.as_deref() == Some("x.json"))
        );
        let d = refused(&[("y.json", "{\"machineType\": \"e2-small\"}")]);
        assert!(
            d.iter()
                .any(|x| x.code == EXPORT_UNREADABLE && x.path == "name"),
            "{d:?}"
        );
        let d = refused(&[("z.json", "not json: [")]);
        assert!(
            d.iter().any(|x| x.file.as_deref() == Some("z.json")),
            "{d:?}"
        );
        let decl = DECLARED.replace("    image: nginx:1.27\\n", "");
        let d = refused(&[("w.json", &decl)]);
        assert!(
            d.iter()
                .any(|x| x.code == EXPORT_UNREADABLE && x.path.contains("image")),
            "{d:?}"
        );
    }

    #[test]
    fn a_rendered_host_gives_back_secret_modes_owners_and_volumes() {
        use crate::Translator;
        let yaml = "bridge: v1\nname: shop\nservices:\n  db:\n    image: postgres:16\n    volumes: ['data:/var/lib/postgresql/data']\n    secrets:\n    - {name: pw, env: POSTGRES_PASSWORD}\n    - {name: key, file: /k, mode: 0o444, uid: '70'}\nvolumes: {data: {size: 30GiB}}\nsecrets: {pw: {env: PW}, key: {env: KEY, name: shared-key}}\nproviders: {gce: {project: p1, zone: europe-west1-b}}\n";
        let loaded = bridge_core::load_str(
            &std::sync::Arc::from("app.yaml"),
            yaml,
            std::path::Path::new("."),
            &bridge_core::LoadOptions::default(),
        );
        let app = loaded
            .valid
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        let t = crate::gce::Gce.translate(&app);
        let files: Vec<(String, String)> = t
            .artifacts
            .iter()
            .filter(|a| a.path.ends_with(".json"))
            .map(|a| (a.path.clone(), a.content.clone()))
            .collect();
        let e = instances(&files, None).unwrap_or_else(|d| panic!("{d:?}"));
        let db = &e.app.services["db"];
        let key = db.secrets.iter().find(|s| s.name == "key");
        assert_eq!(key.and_then(|k| k.mode), Some(0o444));
        assert_eq!(key.and_then(|k| k.uid.as_deref()), Some("70"));
        assert_eq!(key.and_then(|k| k.file.as_deref()), Some("/k"));
        let pw = db.secrets.iter().find(|s| s.name == "pw");
        assert_eq!(pw.and_then(|k| k.env.as_deref()), Some("POSTGRES_PASSWORD"));
        // The secret stored under its own name keeps it.
        assert_eq!(e.app.secrets["key"].name.as_deref(), Some("shared-key"));
        assert_eq!(e.app.secrets["pw"].name, None);
        assert_eq!(db.volumes[0].kind, MountKind::Volume);
        assert_eq!(db.volumes[0].source.as_deref(), Some("data"));
        assert_eq!(e.app.volumes["data"].size, Some(ByteSize(30 * GIB)));
        let gce = gce_options(&e);
        assert_eq!(gce.project.as_deref(), Some("p1"));
        assert_eq!(gce.zone.as_deref(), Some("europe-west1-b"));
    }

    #[test]
    fn references_come_back_and_literals_stay() {
        assert_eq!(
            unescape_refs("h=$${vms.db.address}:5432"),
            "h=${vms.db.address}:5432"
        );
        assert_eq!(unescape_refs("lit $${HOME}"), "lit $${HOME}");
    }
}
