//! Container hosts: the solver's hosts as `OS::Nova::Server`s (or a `OS::Heat::ResourceGroup` of
//! identical ones), their cloud-init, security groups, and the Cinder volumes they mount.
//!
//! # Servers or resource groups
//!
//! The solver's packing is what runs: every solver host is one server running exactly the
//! replicas the solver put on it. A replicated unit whose replicas landed on hosts that are
//! identical (same flavor, zone and co-located units, hence the same cloud-init) becomes one
//! `OS::Heat::ResourceGroup` with `count` = the number of such hosts, so scaling a group is a
//! count change Heat applies in place, with the rolling update policy of `update.rs`; every
//! other host is a plain `OS::Nova::Server`. Identical hosts running a health-checked service
//! are separate servers too (`<base>_0`, `<base>_1`, ...), each with its wait condition, so
//! `update.rs` can hold each replacement for the health of the ones before it. A host with a Cinder volume is always a
//! plain server (a volume attaches to one server). Each unit runs at most one replica per server
//! (`max_per_host: 1` is imposed): container names and published ports are per server.

use std::collections::{BTreeMap, BTreeSet};

use bridge_core::diag::Diagnostic;
use bridge_core::model::{App, MountKind, Service, ServiceMode};
use bridge_core::placement::{self, HostType, UnitKey};
use bridge_core::refs::RefKind;
use serde_json::{Value, json};

use super::{
    Builder, DEFAULT_HOST_IMAGE, DEFAULT_VOLUME_GB, HOST_IMAGE_KEY, HostPool, WithoutServices,
    ident,
};
use crate::cloudinit::{self, HostExtras, SCRIPTS_DIR, WriteFile};

/// Nova's limit on a server's user_data: 65535 bytes of its base64 form.
pub const NOVA_USER_DATA_LIMIT: usize = 65535;

/// Secrets are stored here on the server's disk (root only) and copied to the tmpfs
/// [`crate::cloudinit::SECRETS_DIR`] on every boot, since cloud-init writes files once per instance.
pub const SECRETS_STORE: &str = "/var/lib/bridge/secrets";
/// Where Cinder volumes are mounted on the server.
pub const VOLUMES_DIR: &str = "/var/lib/bridge/volumes";

const SETUP_SCRIPT: &str = "#!/bin/sh\n# written by bridge: runs on every boot before the containers start\nset -eu\nmkdir -p /run/bridge\nmkdir -p -m 0700 /run/bridge/secrets\nif [ -d /var/lib/bridge/secrets ]; then\n  find /var/lib/bridge/secrets -maxdepth 1 -type f -exec cp -p {} /run/bridge/secrets/ \\;\nfi\n";

const SETUP_UNIT: &str = "[Unit]\nDescription=bridge setup: secrets on tmpfs\nAfter=local-fs.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh /etc/bridge/setup.sh\n\n[Install]\nWantedBy=multi-user.target\n";

/// Waits for a Cinder volume (by id) to be attached, formats it when blank, mounts it through
/// fstab and makes it a docker volume. Arguments: volume id, mount dir, docker volume name.
const MOUNT_SCRIPT: &str = r#"#!/bin/sh
# written by bridge: mounts a cinder volume and makes it a docker volume
set -eu
id="$1"; dir="$2"; vol="$3"
short=$(printf %s "$id" | cut -c1-20)
i=0
dev=""
while [ -z "$dev" ]; do
  for d in /dev/disk/by-id/*"$short"*; do
    [ -e "$d" ] && dev="$d" && break
  done
  [ -n "$dev" ] && break
  i=$((i + 1))
  if [ "$i" -ge 900 ]; then echo "bridge: volume $id is not attached" >&2; exit 1; fi
  sleep 1
done
blkid "$dev" >/dev/null 2>&1 || mkfs.ext4 -q "$dev"
mkdir -p "$dir"
uuid=$(blkid -s UUID -o value "$dev")
grep -q "UUID=$uuid " /etc/fstab || echo "UUID=$uuid $dir ext4 defaults,nofail 0 2" >> /etc/fstab
mountpoint -q "$dir" || mount "$dir"
docker volume inspect "$vol" >/dev/null 2>&1 || docker volume create --driver local --opt type=none --opt o=bind --opt device="$dir" "$vol" >/dev/null
"#;

/// The stack parameter holding the health wait conditions' timeout in seconds (the driver
/// supplies the deploy's timeout).
pub const HEALTH_TIMEOUT_PARAM: &str = "health_timeout";
/// Where a server keeps its wait condition handle's signal URL (line 1) and token (line 2).
pub const HEALTH_SIGNAL_CONF: &str = "/var/lib/bridge/heat-signal";

/// Signals Heat's wait condition once the named containers are healthy (SUCCESS), or as soon as
/// one is unhealthy (FAILURE, with its last health check output). Arguments: the file with the
/// signal URL and token, then the container names. The JSON strings come from docker's own
/// `json` template function, so health output is data, never JSON syntax.
pub const HEALTH_SIGNAL_SCRIPT: &str = r#"#!/bin/sh
# written by bridge: tells heat's wait condition whether this server's containers are healthy
set -u
conf="$1"; shift
endpoint=$(sed -n 1p "$conf")
token=$(sed -n 2p "$conf")
id=$(hostname)
send() {
  body="{\"status\":\"$1\",\"reason\":$2,\"data\":$3,\"id\":\"$id\"}"
  i=0
  until curl -fsS -o /dev/null -X POST -H "X-Auth-Token: $token" -H 'Content-Type: application/json' -H 'Accept: application/json' --data-binary "$body" "$endpoint"; do
    i=$((i + 1))
    if [ "$i" -ge 30 ]; then echo "bridge: cannot signal heat" >&2; exit 1; fi
    sleep 10
  done
  echo "bridge: signalled $1"
}
last='{{$o := ""}}{{if .State.Health}}{{range .State.Health.Log}}{{$o = .Output}}{{end}}{{end}}'
while :; do
  pending=""
  for c in "$@"; do
    s=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$c" 2>/dev/null) || s=missing
    case "$s" in
      healthy) ;;
      unhealthy)
        reason=$(docker inspect -f "$last"'{{json (printf "container %s is unhealthy: %s" .Name $o)}}' "$c")
        data=$(docker inspect -f "$last"'{{json $o}}' "$c")
        send FAILURE "$reason" "$data"
        exit 1 ;;
      *) pending="$pending $c" ;;
    esac
  done
  if [ -z "$pending" ]; then
    data=$(docker inspect -f "$last"'{{json $o}}' "$c")
    send SUCCESS "\"healthy: $*\"" "$data"
    exit 0
  fi
  sleep 2
done
"#;

/// The flavor catalogue for container hosts.
fn catalogue(b: &mut Builder<'_>) -> Vec<HostType> {
    let Some(name) = b.os.flavor.clone() else {
        return b.flavors.iter().map(|f| f.host_type()).collect();
    };
    if let Some(f) = b.flavors.iter().find(|f| f.name == name) {
        return vec![f.host_type()];
    }
    let assumed = super::Flavor::new(name.clone(), 2, 4096);
    b.diags.push(
        Diagnostic::warning(
            "T403",
            format!("flavor `{name}` is not in the flavor catalogue: hosts are packed as if it had 2 vcpus and 4096 MiB"),
        )
        .with_path("providers.openstack.flavor")
        .with_hint(format!("use a flavor of the catalogue ({})", b.flavors.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "))),
    );
    vec![assumed.host_type()]
}

/// All container hosts of the app.
pub(crate) fn build_all(b: &mut Builder<'_>, order: &[String]) {
    if b.app.services.is_empty() {
        return;
    }
    service_ledger(b);
    let popts = placement::Options {
        zones: b.opts.zones.clone(),
        ..placement::Options::default()
    };
    // Heat applies no node-label constraints and spreads over hosts or zones only (see the
    // ledger): the solver packs without them.
    let mut papp = b.app.clone();
    for s in papp.services.values_mut() {
        s.placement.constraints.clear();
    }
    for g in papp.groups.values_mut() {
        g.placement.constraints.clear();
    }
    let spreads: Vec<(String, String)> = papp
        .services
        .iter()
        .filter_map(|(n, s)| {
            s.placement
                .spread
                .clone()
                .map(|sp| (format!("services.{n}"), sp))
        })
        .chain(papp.groups.iter().filter_map(|(n, g)| {
            g.placement
                .spread
                .clone()
                .map(|sp| (format!("groups.{n}"), sp))
        }))
        .filter(|(_, sp)| sp != "host" && sp != "zone")
        .collect();
    for (path, sp) in spreads {
        let field = format!("{path}.placement.spread");
        b.ledger.dropped(
            field.clone(),
            "openstack hosts carry no node labels to spread over",
        );
        b.diags.push(
            Diagnostic::warning(
                "T405",
                format!("spread over `{sp}` is not applied on openstack"),
            )
            .with_path(field)
            .with_hint("write `spread: host` or `spread: zone`"),
        );
    }
    for s in papp.services.values_mut() {
        if s.placement
            .spread
            .as_deref()
            .is_some_and(|sp| sp != "host" && sp != "zone")
        {
            s.placement.spread = None;
        }
    }
    for g in papp.groups.values_mut() {
        if g.placement
            .spread
            .as_deref()
            .is_some_and(|sp| sp != "host" && sp != "zone")
        {
            g.placement.spread = None;
        }
    }
    let mut units = match placement::units(&papp, &popts) {
        Ok(u) => u,
        Err(errs) => {
            b.diags.extend(placement::to_diagnostics(&errs).0);
            return;
        }
    };
    for u in &mut units {
        // One replica per server (container names and published ports are per server).
        u.max_per_host = Some(1);
    }
    let cat = catalogue(b);
    let placed = match placement::place_catalogue(&units, &cat, &popts) {
        Ok(p) => p,
        Err(errs) => {
            b.diags.extend(placement::to_diagnostics(&errs).0);
            return;
        }
    };
    b.bound = Some(placed.bound_report().to_string());
    let unit_services: BTreeMap<UnitKey, Vec<String>> = units
        .iter()
        .map(|u| (u.key.clone(), u.services.clone()))
        .collect();
    // Pools of identical hosts, in the solver's host order.
    type Sig = (String, Option<String>, Vec<UnitKey>);
    let mut pools: Vec<(Sig, usize)> = Vec::new();
    for h in &placed.hosts {
        let mut keys: Vec<UnitKey> = h.units.iter().map(|s| s.unit.clone()).collect();
        keys.sort();
        keys.dedup();
        let sig = (h.size.clone(), h.zone.clone(), keys);
        match pools.iter_mut().find(|(s, _)| *s == sig) {
            Some((_, n)) => *n += 1,
            None => pools.push((sig, 1)),
        }
    }
    // Services per pool, in dependency order.
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut plans: Vec<Plan> = Vec::new();
    for ((size, zone, keys), count) in pools {
        let mut services: Vec<String> = keys
            .iter()
            .flat_map(|k| unit_services.get(k).cloned().unwrap_or_default())
            .collect();
        services.sort_by_key(|s| rank.get(s.as_str()).copied().unwrap_or(usize::MAX));
        services.dedup();
        let first = keys.first().map(|k| k.name.clone()).unwrap_or_default();
        let base = if keys.len() > 1 {
            format!("host_{first}_plus{}", keys.len() - 1)
        } else {
            format!("host_{first}")
        };
        // Health-gated identical hosts are separate servers, not a resource group: a group's
        // rolling update does not wait for a member's wait condition, while a separate server
        // can depend on the previous one's (update.rs), so a rolling update goes on only once
        // the replacements before it reported healthy. Named `<base>_<i>` from 0, as a
        // group's members (`%index%`).
        if count > 1 && health_gated(&b.app, &services) {
            for i in 0..count {
                plans.push(Plan {
                    res: String::new(),
                    base: format!("{base}_{i}"),
                    family: Some(base.clone()),
                    size: size.clone(),
                    zone: zone.clone(),
                    count: 1,
                    services: services.clone(),
                });
            }
            continue;
        }
        plans.push(Plan {
            res: String::new(),
            base,
            family: None,
            size,
            zone,
            count,
            services,
        });
    }
    // Stable, distinct resource names.
    let mut taken = BTreeSet::new();
    for p in &mut plans {
        let base = ident(&p.base);
        let mut name = base.clone();
        let mut i = 2;
        while taken.contains(&name) || b.resources.contains_key(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        taken.insert(name.clone());
        p.res = name;
    }
    volumes(b, &plans);
    let peers = cross_host_names(b, &plans);
    for p in &plans {
        for s in &p.services {
            b.hosts_of
                .entry(s.clone())
                .or_default()
                .push((p.res.clone(), p.count > 1));
        }
    }
    for p in &plans {
        host(b, p, peers.get(&p.res));
    }
    health_dependencies(b, &plans);
    let pools: Vec<super::update::Pool<'_>> = plans
        .iter()
        .map(|p| super::update::Pool {
            res: &p.res,
            count: p.count,
            services: &p.services,
        })
        .collect();
    b.rollback = super::update::rolling(b, &pools);
    refine_ledger(b);
    b.hosts = plans
        .iter()
        .map(|p| HostPool {
            resource: p.res.clone(),
            flavor: p.size.clone(),
            count: p.count,
            services: p.services.clone(),
            zone: p.zone.clone(),
        })
        .collect();
}

/// One pool of identical hosts.
struct Plan {
    res: String,
    base: String,
    /// For the separate servers of health-gated identical hosts: the base they share (one
    /// security group for all of them).
    family: Option<String>,
    size: String,
    zone: Option<String>,
    count: usize,
    services: Vec<String>,
}

/// Whether one of `services` has a health check (its server gets a wait condition).
fn health_gated(app: &App, services: &[String]) -> bool {
    services.iter().any(|s| {
        app.services
            .get(s)
            .and_then(|x| x.health.as_ref())
            .is_some_and(|h| !h.test.is_none())
    })
}

/// The named volumes a service mounts.
fn named_volumes(s: &Service) -> impl Iterator<Item = &str> {
    s.volumes.iter().filter_map(|m| match (m.kind, &m.source) {
        (MountKind::Volume, Some(v)) => Some(v.as_str()),
        _ => None,
    })
}

/// Cinder volumes: one per named volume used here (or used nowhere), checked to be needed on one
/// server only.
fn volumes(b: &mut Builder<'_>, plans: &[Plan]) {
    let mut users: BTreeMap<String, usize> = BTreeMap::new();
    for p in plans {
        let mut here = BTreeSet::new();
        for s in &p.services {
            if let Some(svc) = b.app.services.get(s) {
                here.extend(named_volumes(svc).map(str::to_string));
            }
        }
        for v in here {
            *users.entry(v).or_default() += p.count;
        }
    }
    volume_resources(b, &users);
}

/// Create the Cinder volumes for `users` (volume -> servers needing it) and the unused ones.
pub(crate) fn volume_resources(b: &mut Builder<'_>, users: &BTreeMap<String, usize>) {
    let used_elsewhere: BTreeSet<String> = b
        .full
        .services
        .values()
        .flat_map(|s| named_volumes(s).map(str::to_string))
        .collect();
    let vols = b.full.volumes.clone();
    for (v, vol) in &vols {
        let servers = users.get(v).copied().unwrap_or(0);
        if servers == 0 && used_elsewhere.contains(v) {
            // Used only by services on other providers.
            continue;
        }
        if servers > 1 {
            let users: Vec<String> = b
                .app
                .services
                .iter()
                .filter(|(_, s)| named_volumes(s).any(|x| x == v))
                .map(|(n, _)| format!("`{n}`"))
                .collect();
            b.diags.push(
                Diagnostic::error(
                    "T402",
                    format!(
                        "volume `{v}` is needed on {servers} servers ({}), but a cinder volume attaches to one server",
                        users.join(", ")
                    ),
                )
                .with_path(format!("volumes.{v}"))
                .with_hint("run the services that use it with replicas: 1 in one group, or use a shared file system (a bind mount of an NFS path)"),
            );
        }
        if vol.external {
            let p = format!("volume_{}", ident(v));
            let name = vol.name.clone().unwrap_or_else(|| v.clone());
            b.required_param(
                &p,
                false,
                super::ValueSource::Volume(name),
                format!("volumes.{v}"),
            );
            b.ledger.mapped(format!("volumes.{v}.external"));
            if vol.name.is_some() {
                b.ledger.mapped(format!("volumes.{v}.name"));
            }
            b.volume_ids.insert(v.clone(), json!({"get_param": p}));
            continue;
        }
        let gb = vol
            .size
            .map_or(DEFAULT_VOLUME_GB, |s| s.0.div_ceil(1 << 30).max(1));
        match vol.size {
            Some(s) if s.0 % (1 << 30) != 0 => b.ledger.approximated(
                format!("volumes.{v}.size"),
                format!("cinder sizes are whole GiB: rounded up to {gb}"),
            ),
            Some(_) => b.ledger.mapped(format!("volumes.{v}.size")),
            None => {}
        }
        let res = b.fresh(&format!("volume_{v}"));
        let mut meta = b.tags(&format!("volume/{v}"));
        for (k, val) in &vol.labels {
            meta.entry(k.clone()).or_insert_with(|| val.clone());
        }
        if !vol.labels.is_empty() {
            b.ledger.mapped(format!("volumes.{v}.labels"));
        }
        if vol.name.is_some() {
            b.ledger.mapped(format!("volumes.{v}.name"));
        }
        for (f, set) in [
            ("driver", vol.driver.is_some()),
            ("driver_opts", !vol.driver_opts.is_empty()),
        ] {
            if set {
                b.ledger.dropped(
                    format!("volumes.{v}.{f}"),
                    "cinder volumes have no docker volume driver; the volume is an ext4 file system on a cinder block device",
                );
                b.diags.push(
                    Diagnostic::warning(
                        "T408",
                        format!("volume `{v}`: `{f}` has no cinder equivalent and is not applied"),
                    )
                    .with_path(format!("volumes.{v}.{f}"))
                    .with_hint(
                        "remove it for openstack, or choose the cinder volume type in the cloud",
                    ),
                );
            }
        }
        b.add_resource(
            &res,
            json!({
                "type": "OS::Cinder::Volume",
                "properties": {
                    "name": vol.name.clone().unwrap_or_else(|| format!("{}-{v}", b.app.name)),
                    "size": gb,
                    "metadata": meta,
                }
            }),
            &["properties", "metadata"],
        );
        b.volume_ids.insert(v.clone(), json!({"get_resource": res}));
    }
}

/// Per pool, the services of the app on other servers with the pools running them (resource,
/// count): the servers whose addresses the pool's peers file ([`cloudinit::peers_file`]) names
/// (see [`host`]).
type Peers = BTreeMap<String, BTreeMap<String, Vec<(String, usize)>>>;

/// Wire the peers of every pool. A pool reading another's address depends on it, so the edges
/// must stay acyclic: the names a service depends on or links to are wired first (in dependency
/// order), then every other name wherever no cycle forms. A named service that cannot be wired
/// gets a T411 warning; so does one whose ports are not reachable across servers.
fn cross_host_names(b: &mut Builder<'_>, plans: &[Plan]) -> Peers {
    let mut hosts_of: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    for p in plans {
        for s in &p.services {
            hosts_of
                .entry(s.clone())
                .or_default()
                .push((p.res.clone(), p.count));
        }
    }
    let mut peers: Peers = BTreeMap::new();
    let mut wire = |b: &mut Builder<'_>, p: &Plan, other: &str| -> bool {
        if p.services.iter().any(|s| s == other) {
            return true;
        }
        if peers.get(&p.res).is_some_and(|m| m.contains_key(other)) {
            return true;
        }
        let Some(pools) = hosts_of.get(other) else {
            return true;
        };
        if pools.iter().any(|(res, _)| b.would_cycle(&p.res, res)) {
            return false;
        }
        for (res, _) in pools {
            b.deps.insert(&p.res, res);
        }
        peers
            .entry(p.res.clone())
            .or_default()
            .insert(other.to_string(), pools.clone());
        true
    };
    let mut warned = BTreeSet::new();
    for p in plans {
        for s in &p.services {
            let Some(svc) = b.app.services.get(s) else {
                continue;
            };
            let named: Vec<String> = svc
                .depends_on
                .iter()
                .map(|d| d.service.clone())
                .chain(svc.links.iter().map(|l| l.service.clone()))
                .collect();
            for other in named {
                let owner = cloudinit::namespace_owner(&b.app, &other).to_string();
                if p.services.contains(&owner) || !b.app.services.contains_key(&owner) {
                    continue;
                }
                let wired = wire(b, p, &owner);
                if !warned.insert((s.clone(), other.clone())) {
                    continue;
                }
                if !wired {
                    b.diags.push(
                        Diagnostic::warning(
                            "T411",
                            format!("service `{s}` names `{other}` on another server, but that server already reads this one's address: the name does not resolve from `{s}`"),
                        )
                        .with_path(format!("services.{s}"))
                        .with_hint(format!("put `{s}` and `{other}` in one group, or drop one direction of the dependency between the two servers")),
                    );
                    continue;
                }
                if let Some(why) = unreachable_ports(&b.app.services[&owner]) {
                    b.diags.push(
                        Diagnostic::warning(
                            "T411",
                            format!("service `{s}` reaches `{other}` on another server, where the name resolves to that server's address, but {why}: such ports are not reachable across servers"),
                        )
                        .with_path(format!("services.{s}"))
                        .with_hint(format!("publish the port on the same number (`ports: [\"5432:5432\"]` for 5432), or put `{s}` and `{other}` in one group")),
                    );
                }
            }
        }
    }
    // Every other name, wherever it forms no cycle (a name nobody depends on is wired only if
    // it can be; an unwired one still resolves on its own server).
    for p in plans {
        let others: Vec<String> = hosts_of.keys().cloned().collect();
        for o in others {
            wire(b, p, &o);
        }
    }
    peers
}

/// Nova's limit on one metadata value, in characters.
const NOVA_METADATA_VALUE_LIMIT: usize = 255;
/// Characters one IPv4 address takes in a space-separated list, at most.
const PEER_ADDRESS_CHARS: usize = 16;
/// The server metadata keys holding the addresses of the pools a server's peers file names
/// (`bridge-peer-<resource>`); the key is the address the peers file gives.
pub const PEER_META_PREFIX: &str = "bridge-peer-";
/// Where the Heat watcher reads the server's metadata.
pub const META_DATA_URL: &str = "http://169.254.169.254/openstack/latest/meta_data.json";
/// How often it polls (the metadata service has no long poll).
pub const PEERS_POLL_SECONDS: u32 = 10;
/// The ledger's words for a followed name on Heat.
const PEERS_FOLLOW: &str = "kept current in the running containers: a replaced server's new address is written by the stack update into this server's metadata in place, which bridge-peers.service on each server polls every 10 s";

/// The Heat watcher: polls the server's metadata (`meta_data.json`, with cloud-init's python3)
/// for its `bridge-peer-*` keys, keeps them in [`cloudinit::PEER_BOOK`], runs the refresh.
/// `BRIDGE_META_DATA_URL` names another source.
pub fn watch_script() -> String {
    format!(
        r#"#!/bin/sh
# written by bridge: follows the addresses of the app's other servers (server metadata {PEER_META_PREFIX}*)
url=${{BRIDGE_META_DATA_URL:-{META_DATA_URL}}}
book={book}
mkdir -p "${{book%/*}}"
while :; do
  if python3 -c '
import json, sys, urllib.request
meta = json.load(urllib.request.urlopen(sys.argv[1], timeout=10)).get("meta", {{}})
for k, v in sorted(meta.items()):
    if k.startswith("{PEER_META_PREFIX}"):
        print(k, v)
' "$url" > "$book.new"; then
    mv -f "$book.new" "$book"
  else
    echo "bridge: cannot read the server metadata at $url" >&2
  fi
  /bin/sh {refresh}
  sleep {PEERS_POLL_SECONDS}
done
"#,
        book = cloudinit::PEER_BOOK,
        refresh = cloudinit::REFRESH_SCRIPT,
    )
}

/// Why a service's ports are not reached through its server's address, if they are not: a port
/// not published on its own number, an exposed port, or no port at all.
fn unreachable_ports(s: &Service) -> Option<String> {
    let bad: Vec<String> = s
        .ports
        .iter()
        .filter(|p| p.published != Some(p.container) || loopback(p.host_ip.as_deref()))
        .map(|p| p.container.to_string())
        .chain(s.expose.iter().map(|e| e.to_string()))
        .collect();
    if !bad.is_empty() {
        Some(format!(
            "container port(s) {} are not published on their own number",
            bad.join(", ")
        ))
    } else if s.ports.is_empty() {
        Some("it publishes no port".into())
    } else {
        None
    }
}

/// Tokens that `str_replace` swaps for values: `BRIDGE<salt>_<n>Z`, with a salt such that the
/// prefix occurs nowhere in the app's own text.
struct Tokens {
    prefix: String,
    n: usize,
    params: BTreeMap<String, Value>,
}

/// The token prefix for an app: `BRIDGE<salt>_` with the smallest salt that occurs nowhere in
/// the app's own text (computed once per translation).
pub(crate) fn token_prefix(app: &App) -> String {
    let text = serde_json::to_string(app).unwrap_or_default();
    let salt = (0..)
        .find(|i| !text.contains(&format!("BRIDGE{i}_")))
        .unwrap_or(0);
    format!("BRIDGE{salt}_")
}

impl Tokens {
    fn new(prefix: &str) -> Tokens {
        Tokens {
            prefix: prefix.to_string(),
            n: 0,
            params: BTreeMap::new(),
        }
    }

    fn add(&mut self, value: Value) -> String {
        self.n += 1;
        let t = format!("{}{}Z", self.prefix, self.n);
        self.params.insert(t.clone(), value);
        t
    }
}

/// Replace the `${vms.X.address}` and `${services.X.address}` references of `value` with tokens
/// (wired to the address) and turn `$${` into `${`.
fn resolve_refs(
    b: &mut Builder<'_>,
    tokens: &mut Tokens,
    from: &str,
    here: &BTreeSet<String>,
    field: &str,
    value: &str,
) -> String {
    bridge_core::refs::substitute(value, |kind, name| match kind {
        RefKind::Vms => {
            let v = b.vm_address(from, name, field);
            Some(tokens.add(v))
        }
        // Same server: the container's name on the server's docker network.
        RefKind::Services if here.contains(name) => Some(name.to_string()),
        RefKind::Services => Some(service_address(b, tokens, from, name, field)),
    })
}

/// The address of a service on another server (or provider), as a token.
fn service_address(
    b: &mut Builder<'_>,
    tokens: &mut Tokens,
    from: &str,
    name: &str,
    field: &str,
) -> String {
    let target = b
        .hosts_of
        .get(name)
        .cloned()
        .filter(|pools| pools.iter().all(|(res, _)| !b.would_cycle(from, res)));
    let v = match target {
        Some(pools) if pools.len() == 1 => {
            let (res, group) = &pools[0];
            b.deps.insert(from, res);
            super::address_of(res, *group)
        }
        Some(pools) => {
            let mut lists: Vec<Value> = vec![json!(",")];
            for (res, group) in &pools {
                b.deps.insert(from, res);
                lists.push(if *group {
                    json!({"get_attr": [res, "first_address"]})
                } else {
                    json!([{"get_attr": [res, "first_address"]}])
                });
            }
            json!({ "list_join": lists })
        }
        None => {
            if b.hosts_of.contains_key(name) {
                b.diags.push(
                    Diagnostic::warning(
                        "T412",
                        format!("`${{services.{name}.address}}` would make a dependency cycle between servers"),
                    )
                    .with_path(field.to_string())
                    .with_hint("the driver supplies the address as a parameter; or put both services in one group"),
                );
            }
            b.service_address_param(name)
        }
    };
    tokens.add(v)
}

/// One pool: server or resource group, its security group, volume attachments, output.
fn host(b: &mut Builder<'_>, p: &Plan, peers: Option<&BTreeMap<String, Vec<(String, usize)>>>) {
    let app_name = b.app.name.clone();
    let here: BTreeSet<String> = p.services.iter().cloned().collect();
    let mut tokens = Tokens::new(&b.token_prefix);
    // The pool's services (only: cloning the whole app per pool is quadratic) with their
    // references resolved.
    let mut app = b.app.clone_without_services();
    for n in &p.services {
        if let Some(s) = b.app.services.get(n) {
            app.services.insert(n.clone(), s.clone());
        }
    }
    let names: Vec<String> = app.services.keys().cloned().collect();
    for n in &names {
        let env: Vec<(String, String)> = app.services[n]
            .env
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut resolved = BTreeMap::new();
        for (k, v) in env {
            let field = format!("services.{n}.env.{k}");
            resolved.insert(k, resolve_refs(b, &mut tokens, &p.res, &here, &field, &v));
        }
        if let Some(s) = app.services.get_mut(n) {
            s.env.0 = resolved;
        }
    }
    let mut extras = HostExtras::default();
    if b.opts.install_docker {
        extras.packages.push("docker.io".into());
    }
    extras.files.push(WriteFile {
        path: format!("{SCRIPTS_DIR}/setup.sh"),
        permissions: "0755".into(),
        content: SETUP_SCRIPT.into(),
    });
    extras.files.push(WriteFile {
        path: "/etc/systemd/system/bridge-setup.service".into(),
        permissions: "0644".into(),
        content: SETUP_UNIT.into(),
    });
    // Secrets: one file per secret used as a file, one env file per secret used as env.
    let mut env_names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut file_modes: BTreeMap<String, Option<u32>> = BTreeMap::new();
    let mut config_modes: BTreeMap<String, Option<u32>> = BTreeMap::new();
    // Config name to the (uid, gid, mode) of its first reference.
    type Owner = (Option<String>, Option<String>, Option<u32>);
    let mut config_owners: BTreeMap<String, Owner> = BTreeMap::new();
    let mut config_conflicts: Vec<(String, usize)> = Vec::new();
    for (n, s) in &app.services {
        for r in &s.secrets {
            match &r.env {
                Some(e) => {
                    env_names
                        .entry(r.name.clone())
                        .or_default()
                        .insert(e.clone());
                }
                None => {
                    let m = file_modes.entry(r.name.clone()).or_insert(r.mode);
                    if m.is_none() {
                        *m = r.mode;
                    }
                }
            }
        }
        for (i, c) in s.configs.iter().enumerate() {
            let m = config_modes.entry(c.name.clone()).or_insert(c.mode);
            if m.is_none() {
                *m = c.mode;
            }
            // One file per config on the server: the first reference's owner applies.
            let want = (c.uid.clone(), c.gid.clone(), c.mode);
            match config_owners.get(&c.name) {
                Some(first) if *first != want => config_conflicts.push((n.clone(), i)),
                Some(_) => {}
                None => {
                    config_owners.insert(c.name.clone(), want);
                }
            }
        }
    }
    for (name, mode) in &file_modes {
        let Some(param) = b.secret_params.get(name).cloned() else {
            continue;
        };
        let item = json!({"list_join": ["", [{
            "path": format!("{SECRETS_STORE}/{name}"),
            "permissions": format!("{:04o}", mode.unwrap_or(0o444)),
            "content": {"get_param": param},
        }]]});
        let t = tokens.add(item);
        extras.file_placeholders.push(t);
    }
    for (name, envs) in &env_names {
        let Some(param) = b.secret_params.get(name).cloned() else {
            continue;
        };
        let mut parts: Vec<Value> = Vec::new();
        for e in envs {
            parts.push(json!(format!("{e}=")));
            parts.push(json!({"get_param": param}));
            parts.push(json!("\n"));
        }
        let item = json!({"list_join": ["", [{
            "path": format!("{SECRETS_STORE}/{name}.env"),
            "permissions": "0400",
            "content": {"list_join": ["", parts]},
        }]]});
        let t = tokens.add(item);
        extras.file_placeholders.push(t);
    }
    for (name, (uid, gid, _)) in &config_owners {
        // cloud-init's `owner` takes names only; a compose uid/gid is a number: chown takes both.
        if uid.is_some() || gid.is_some() {
            extras.before_containers.push(vec![
                "chown".into(),
                format!(
                    "{}:{}",
                    uid.as_deref().unwrap_or("0"),
                    gid.as_deref().unwrap_or("0")
                ),
                format!("{SCRIPTS_DIR}/configs/{name}"),
            ]);
        }
    }
    for (name, mode) in &config_modes {
        let path = format!("{SCRIPTS_DIR}/configs/{name}");
        let permissions = format!("{:04o}", mode.unwrap_or(0o444));
        if let Some(content) = b.full.configs.get(name).and_then(|c| c.content.clone()) {
            extras.files.push(WriteFile {
                path,
                permissions,
                content,
            });
        } else if let Some(param) = b.config_params.get(name).cloned() {
            let item = json!({"list_join": ["", [{
                "path": path, "permissions": permissions, "content": {"get_param": param},
            }]]});
            let t = tokens.add(item);
            extras.file_placeholders.push(t);
        }
    }
    extras
        .before_containers
        .push(vec!["systemctl".into(), "daemon-reload".into()]);
    extras.before_containers.push(vec![
        "systemctl".into(),
        "enable".into(),
        "--now".into(),
        "bridge-setup.service".into(),
    ]);
    // Cinder volumes used here.
    let mut vols: BTreeSet<String> = BTreeSet::new();
    for s in app.services.values() {
        vols.extend(named_volumes(s).map(str::to_string));
    }
    let mut attach: Vec<(String, Value)> = Vec::new();
    if !vols.is_empty() {
        extras.files.push(WriteFile {
            path: format!("{SCRIPTS_DIR}/mount-volume.sh"),
            permissions: "0755".into(),
            content: MOUNT_SCRIPT.into(),
        });
    }
    for v in &vols {
        let Some(id) = b.volume_ids.get(v).cloned() else {
            continue;
        };
        let t = tokens.add(id.clone());
        extras.before_containers.push(vec![
            "sh".into(),
            format!("{SCRIPTS_DIR}/mount-volume.sh"),
            t,
            format!("{VOLUMES_DIR}/{v}"),
            format!("{app_name}-{v}"),
        ]);
        attach.push((v.clone(), id));
    }
    let gate = health_gate(b, p, &mut tokens, &mut extras);
    let service_refs: Vec<&str> = p.services.iter().map(String::as_str).collect();
    let (aliases, all_names) = b
        .names
        .get_or_insert_with(|| {
            (
                std::sync::Arc::new(cloudinit::link_aliases(&b.app)),
                std::sync::Arc::new(cloudinit::all_service_names(&b.app)),
            )
        })
        .clone();
    // Names on other servers: their addresses, resolved by Heat (get_attr), as tokens.
    let mut host_opts = cloudinit::HostOptions {
        link_aliases: Some(aliases),
        names: Some(all_names),
        ..cloudinit::HostOptions::default()
    };
    // A pool whose addresses fit one Nova metadata value is named by a key of this server's
    // metadata, which Heat fills with them and updates in place when they change; the VM's
    // bridge-peers.service polls them (a replaced server is followed without replacing this
    // one). A larger group's addresses are a token in the user data: a change replaces this
    // server.
    let mut peer_meta: BTreeMap<String, Value> = BTreeMap::new();
    for (svc, pools) in peers.into_iter().flatten() {
        let mut lists: Vec<Value> = vec![json!(" ")];
        let mut keys = Vec::new();
        for (res, count) in pools {
            let attr = json!({"get_attr": [res, "first_address"]});
            if *count * PEER_ADDRESS_CHARS <= NOVA_METADATA_VALUE_LIMIT {
                let key = format!("{PEER_META_PREFIX}{res}");
                let v = if *count > 1 {
                    json!({"list_join": [" ", attr]})
                } else {
                    attr
                };
                peer_meta.insert(key.clone(), v);
                keys.push(key);
            } else {
                lists.push(if *count > 1 { attr } else { json!([attr]) });
            }
        }
        if lists.len() > 1 {
            keys.push(tokens.add(json!({ "list_join": lists })));
        } else {
            host_opts
                .peers_follow
                .insert(svc.clone(), PEERS_FOLLOW.into());
        }
        host_opts.peers.insert(svc.clone(), keys);
    }
    if !peer_meta.is_empty() {
        extras
            .files
            .extend(cloudinit::follow_files(&app_name, watch_script()));
        extras.after_containers.push(vec![
            "systemctl".into(),
            "enable".into(),
            "--now".into(),
            cloudinit::FOLLOW_UNIT.into(),
        ]);
    }
    let text = cloudinit::cloud_config_full(&app, &service_refs, extras, &host_opts, &mut b.ledger);
    let encoded = text.len().div_ceil(3) * 4;
    if let Some((src, svc, i, size)) = cloudinit::shipped_sizes(&app, &service_refs)
        .first()
        .filter(|_| encoded > NOVA_USER_DATA_LIMIT)
    {
        let f = app.files.0.get(src).cloned().unwrap_or_default();
        let mut d = bridge_core::model::files::too_large(
            &f,
            (svc, *i, src),
            "Nova's user_data",
            encoded as u64,
            NOVA_USER_DATA_LIMIT as u64,
            "Nova keeps at most 65535 bytes of base64 user_data: bake large files into the image, or put them on a cinder volume",
        );
        d.message = format!(
            "service `{svc}`: the bind source `{src}` ({size} bytes) makes the user_data of {} {encoded} bytes in base64, over Nova's limit of {NOVA_USER_DATA_LIMIT}",
            p.res
        );
        b.diags.push(d);
    }
    for (svc, i) in config_conflicts {
        b.ledger.approximated(
            format!("services.{svc}.configs[{i}]"),
            "another service on the server reads the same config file: the first reference's owner and mode apply",
        );
    }
    let user_data = if tokens.params.is_empty() {
        json!(text)
    } else {
        for t in tokens.params.keys() {
            if text.matches(t.as_str()).count() == 0 {
                b.diags.push(
                    Diagnostic::error(
                        "T413",
                        format!(
                            "placeholder `{t}` did not survive rendering the user data of `{}`",
                            p.res
                        ),
                    )
                    .with_path(format!(
                        "services.{}",
                        p.services.first().cloned().unwrap_or_default()
                    ))
                    .with_hint("report this as a bridge bug"),
                );
            }
        }
        json!({"str_replace_strict": {"template": text, "params": tokens.params}})
    };
    // Security group for the published ports of this pool.
    let mut rules: Vec<Value> = Vec::new();
    let mut seen = BTreeSet::new();
    for s in &p.services {
        let Some(svc) = b.app.services.get(s) else {
            continue;
        };
        for pt in &svc.ports {
            if let (Some(pb), false) = (pt.published, loopback(pt.host_ip.as_deref()))
                && seen.insert((pt.protocol, pb))
            {
                rules.push(port_rule(pt.protocol.as_str(), pb));
            }
        }
    }
    let component = format!("host/{}", p.res.trim_start_matches("host_"));
    let mut sgs: Vec<Value> = Vec::new();
    if let Some(sg) = b.internal_security_group() {
        sgs.push(json!({"get_resource": sg}));
    }
    let port_sg = match &p.family {
        Some(f) => match b.family_sgs.get(f).cloned() {
            Some(sg) => Some(sg),
            None => {
                let owner = ident(f);
                let family = format!("host/{}", owner.trim_start_matches("host_"));
                let sg = b.port_security_group(&owner, &family, rules);
                if let Some(sg) = &sg {
                    b.family_sgs.insert(f.clone(), sg.clone());
                }
                sg
            }
        },
        None => b.port_security_group(&p.res, &component, rules),
    };
    if let Some(sg) = port_sg {
        sgs.push(json!({"get_resource": sg}));
    }
    let flavor_param = format!("flavor_{}", ident(&p.size));
    b.param(
        &flavor_param,
        json!({"type": "string", "default": p.size, "description": "flavor chosen by the bridge placement solver"}),
    );
    let image =
        b.os.images
            .get(HOST_IMAGE_KEY)
            .cloned()
            .unwrap_or_else(|| DEFAULT_HOST_IMAGE.to_string());
    b.param(
        "container_host_image",
        json!({"type": "string", "default": image, "description": "image of the container hosts (cloud-init and a package manager with docker)"}),
    );
    let server_name = if p.count > 1 {
        format!("{app_name}-{}-%index%", p.base.trim_start_matches("host_"))
    } else {
        format!("{app_name}-{}", p.base.trim_start_matches("host_"))
    };
    let mut props = json!({
        "name": server_name.replace('_', "-"),
        "image": {"get_param": "container_host_image"},
        "flavor": {"get_param": flavor_param},
        "metadata": peer_meta.into_iter().chain(b.tags(&component).into_iter().map(|(k, v)| (k, json!(v)))).collect::<serde_json::Map<String, Value>>(),
        "user_data_format": "RAW",
        "user_data": user_data,
    });
    if let Some(n) = b.networks() {
        props["networks"] = n;
    }
    if let Some(k) = b.key_name() {
        props["key_name"] = k;
    }
    if !sgs.is_empty() {
        props["security_groups"] = json!(sgs);
    }
    if let Some(z) = &p.zone {
        props["availability_zone"] = json!(z);
    }
    let mut server = json!({"type": "OS::Nova::Server", "properties": props});
    // A wait condition waits once: when it is created. The handle is named after what makes
    // Heat replace the server (the properties Nova cannot update: user data, key, zone;
    // hashed with the handle's first name), so a replaced server gets a new, empty handle,
    // and the wait condition (its `handle` is not updatable) is replaced with it, after the
    // new server, and waits for the new server's signal. A server updated in place (resized,
    // metadata) keeps its handle: it boots nothing and signals nothing.
    let gate = gate.map(|first| {
        let pr = &server["properties"];
        let spec = bridge_core::hash::spec_hash(&json!([
            pr["user_data"],
            pr["user_data_format"],
            pr["key_name"],
            pr["availability_zone"],
        ]));
        let named = b.fresh(&format!("{first}_{}", &spec[..8]));
        if let Some(h) = b.resources.remove(&first) {
            b.resources.insert(named.clone(), h);
        }
        rename_attr_refs(&mut server, &first, &named);
        named
    });
    let hash = bridge_core::hash::spec_hash(&server);
    server["properties"]["metadata"][super::TAG_SPEC_HASH] = json!(hash);
    if p.count > 1 {
        // Its update_policy is written by `update::rolling`, with the ledger line.
        let rg = json!({
            "type": "OS::Heat::ResourceGroup",
            "properties": {"count": p.count, "resource_def": server},
        });
        b.resources.insert(p.res.clone(), rg);
    } else {
        b.resources.insert(p.res.clone(), server);
    }
    if let Some(handle) = gate {
        let wait = b.fresh(&format!("{}_healthy", p.res));
        b.resources.insert(
            wait.clone(),
            json!({
                "type": "OS::Heat::WaitCondition",
                // The timeout runs from the server's creation, not the stack's.
                "depends_on": [p.res],
                "properties": {
                    "handle": {"get_resource": handle},
                    "count": p.count,
                    "timeout": {"get_param": HEALTH_TIMEOUT_PARAM},
                },
            }),
        );
        b.health_waits.insert(p.res.clone(), wait);
    }
    for (v, id) in attach {
        let res = b.fresh(&format!("attach_{v}"));
        b.resources.insert(
            res,
            json!({
                "type": "OS::Cinder::VolumeAttachment",
                "properties": {"instance_uuid": {"get_resource": p.res}, "volume_id": id},
            }),
        );
    }
    b.outputs.insert(
        format!("{}_address", p.res),
        json!({
            "description": format!("address of the servers running {}", p.services.join(", ")),
            "value": super::address_of(&p.res, p.count > 1),
        }),
    );
}

/// Point every `get_attr: [from, ...]` under `v` at `to`.
fn rename_attr_refs(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(a)) = m.get_mut("get_attr")
                && a.first().and_then(Value::as_str) == Some(from)
            {
                a[0] = json!(to);
            }
            for x in m.values_mut() {
                rename_attr_refs(x, from, to);
            }
        }
        Value::Array(a) => {
            for x in a {
                rename_attr_refs(x, from, to);
            }
        }
        _ => {}
    }
}

/// Health gating of one pool: when its containers have health checks, a wait condition handle
/// whose URL and token the server keeps in [`HEALTH_SIGNAL_CONF`], and the cloud-init command that
/// runs [`HEALTH_SIGNAL_SCRIPT`] after the containers start. Returns the handle's resource name
/// (the caller adds the `OS::Heat::WaitCondition` once the server exists).
fn health_gate(
    b: &mut Builder<'_>,
    p: &Plan,
    tokens: &mut Tokens,
    extras: &mut HostExtras,
) -> Option<String> {
    let app_name = b.app.name.clone();
    let gated: Vec<String> = p
        .services
        .iter()
        .filter(|s| health_gated(&b.app, std::slice::from_ref(*s)))
        .cloned()
        .collect();
    if gated.is_empty() {
        return None;
    }
    let handle = b.fresh(&format!("{}_health", p.res));
    b.resources.insert(
        handle.clone(),
        json!({"type": "OS::Heat::WaitConditionHandle"}),
    );
    b.param(
        HEALTH_TIMEOUT_PARAM,
        json!({"type": "number", "default": 600, "description": "seconds a server's containers may take to report healthy (bridge supplies the deploy's timeout)"}),
    );
    // The URL and token reach the disk only, as one write_files item Heat itself JSON-encodes.
    let item = json!({"list_join": ["", [{
        "path": HEALTH_SIGNAL_CONF,
        "permissions": "0400",
        "content": {"list_join": ["\n", [
            {"get_attr": [handle, "endpoint"]},
            {"get_attr": [handle, "token"]},
            "",
        ]]},
    }]]});
    let t = tokens.add(item);
    extras.file_placeholders.push(t);
    extras.files.push(WriteFile {
        path: format!("{SCRIPTS_DIR}/health-signal.sh"),
        permissions: "0755".into(),
        content: HEALTH_SIGNAL_SCRIPT.into(),
    });
    if b.opts.install_docker {
        extras.packages.push("curl".into());
    }
    // In the background (systemd-run), so cloud-init finishes while the checks run.
    let mut cmd: Vec<String> = vec![
        "systemd-run".into(),
        "--unit=bridge-health-signal".into(),
        "/bin/sh".into(),
        format!("{SCRIPTS_DIR}/health-signal.sh"),
        HEALTH_SIGNAL_CONF.into(),
    ];
    for s in &gated {
        cmd.push(cloudinit::container_name(&app_name, s));
        b.ledger.mapped(format!("services.{s}.health"));
    }
    extras.after_containers.push(cmd);
    Some(handle)
}

/// A server whose service depends on a `service_healthy` service of another pool is created only
/// after that pool's wait condition (its containers reported healthy). Run after every pool is
/// built; a dependency that would close a cycle stays a deploy-time wait only.
fn health_dependencies(b: &mut Builder<'_>, plans: &[Plan]) {
    use bridge_core::model::DependencyCondition;
    for p in plans {
        let mut waits: BTreeSet<String> = BTreeSet::new();
        for s in &p.services {
            let Some(svc) = b.app.services.get(s) else {
                continue;
            };
            let mut wired = false;
            let deps = svc.depends_on.clone();
            for d in &deps {
                if d.condition != DependencyCondition::Healthy || p.services.contains(&d.service) {
                    continue;
                }
                for (q, _) in b.hosts_of.get(&d.service).cloned().unwrap_or_default() {
                    let Some(w) = b.health_waits.get(&q).cloned() else {
                        continue;
                    };
                    if q == p.res || b.would_cycle(&p.res, &q) {
                        continue;
                    }
                    b.deps.insert(&p.res, &q);
                    waits.insert(w);
                    wired = true;
                }
            }
            if wired {
                b.ledger.claimed(
                    format!("services.{s}.depends_on"),
                    crate::claims::Claim::WaitsForHealthAcrossVms,
                    "a service_healthy dependency on another server: heat creates this server after that server's containers report healthy (its wait condition); on the same server systemd orders the containers",
                );
            }
        }
        if !waits.is_empty()
            && let Some(r) = b.resources.get_mut(&p.res)
        {
            r["depends_on"] = json!(waits.into_iter().collect::<Vec<_>>());
        }
    }
}

/// An ingress rule for one published port from anywhere.
pub(crate) fn port_rule(protocol: &str, port: u16) -> Value {
    json!({
        "direction": "ingress",
        "protocol": protocol,
        "port_range_min": port,
        "port_range_max": port,
        "remote_ip_prefix": "0.0.0.0/0",
    })
}

/// Ledger lines for service fields the cloud-init does not cover (placement, replicas, updates).
fn service_ledger(b: &mut Builder<'_>) {
    let services: Vec<(String, Service)> = b
        .app
        .services
        .iter()
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect();
    for (n, s) in &services {
        let p = |f: &str| format!("services.{n}.{f}");
        if s.replicas != 1 {
            b.ledger.mapped(p("replicas"));
        }
        if s.mode == ServiceMode::Global {
            b.ledger.approximated(
                p("mode"),
                "one replica on every container host of the app (bridge sizes the pool)",
            );
        }
        if s.group.is_some() {
            b.ledger.mapped(p("group"));
        }
        if s.provider.is_some() {
            b.ledger.mapped(p("provider"));
        }
        if s.placement
            .spread
            .as_deref()
            .is_some_and(|sp| sp == "host" || sp == "zone")
        {
            if b.opts.zones.is_empty() && s.placement.spread.as_deref() == Some("zone") {
                b.ledger.approximated(
                    p("placement.spread"),
                    "no availability zones were given: replicas are spread over servers only",
                );
            } else {
                b.ledger.mapped(p("placement.spread"));
            }
        }
        if s.placement.max_per_host.is_some() {
            b.ledger.approximated(
                p("placement.max_per_host"),
                "each server runs at most one replica of a service (container names and published ports are per server)",
            );
        }
        if !s.placement.constraints.is_empty() {
            b.ledger.dropped(
                p("placement.constraints"),
                "flavors carry no node labels: bridge chooses the flavor",
            );
            b.diags.push(
                Diagnostic::warning(
                    "T405",
                    format!("service `{n}`: placement constraints are not applied on openstack"),
                )
                .with_path(p("placement.constraints"))
                .with_hint("pin a flavor with providers.openstack.flavor instead"),
            );
        }
        if !s.networks.is_empty() {
            b.ledger.approximated(
                p("networks"),
                "one docker network per server for the containers on it",
            );
        }
        // `update` and `rollback`: `update::rolling`, beside the fragments it writes.
    }
}

/// A host address that only the server itself can reach.
fn loopback(ip: Option<&str>) -> bool {
    ip.is_some_and(|ip| ip.starts_with("127.") || ip == "::1")
}

/// Ledger lines that refine what the cloud-init marked (it runs once per pool and marks ports,
/// mounts and secret modes mapped): run after every pool is built.
fn refine_ledger(b: &mut Builder<'_>) {
    let services: Vec<(String, Service)> = b
        .app
        .services
        .iter()
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect();
    for (n, s) in &services {
        for (i, pt) in s.ports.iter().enumerate() {
            let field = format!("services.{n}.ports[{i}]");
            match pt.published {
                Some(_) if loopback(pt.host_ip.as_deref()) => {}
                Some(_) if !b.opts.neutron => b.ledger.approximated(
                    field,
                    "published with docker on the server; without neutron no security group opens it",
                ),
                Some(_) => {}
                None => {
                    b.ledger.approximated(
                        field.clone(),
                        "docker publishes it on an ephemeral host port; no security group rule opens it",
                    );
                    b.diags.push(
                        Diagnostic::warning(
                            "T407",
                            format!("service `{n}`: container port {} has no published port, so no security group rule opens it", pt.container),
                        )
                        .with_path(field)
                        .with_hint(format!("write `{0}:{0}` to publish it on a fixed port", pt.container)),
                    );
                }
            }
        }
        for (i, m) in s.volumes.iter().enumerate() {
            if bridge_core::model::files::ships(m) {
                // Shipped by cloud-init's write_files, which writes the ledger line.
                if let Err(d) = b.app.files.get(n, i, m) {
                    b.diags.push(d);
                }
            } else if m.kind == MountKind::Bind {
                b.ledger.approximated(
                    format!("services.{n}.volumes[{i}]"),
                    "the host path must exist on the server; bridge does not copy files there",
                );
                b.diags.push(
                    Diagnostic::warning(
                        "T406",
                        format!("service `{n}`: bind mount of `{}` needs that path on the server", m.source.clone().unwrap_or_default()),
                    )
                    .with_path(format!("services.{n}.volumes[{i}]"))
                    .with_hint("use a config or a named volume (a cinder volume) for files the container needs"),
                );
            }
        }
        for (i, r) in s.secrets.iter().enumerate() {
            if r.uid.is_some() || r.gid.is_some() {
                b.ledger.approximated(
                    format!("services.{n}.secrets[{i}].mode"),
                    "the mode is applied; the file is owned by root (readable through the mode)",
                );
            }
        }
    }
}
