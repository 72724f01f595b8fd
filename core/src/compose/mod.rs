//! Compose import: a Compose Specification file becomes a neutral [`App`], with every key either
//! mapped or reported.
//!
//! The steps, in order: interpolation of every scalar value, the top-level keys, names made DNS
//! labels, `extends` resolved with compose's merge rules, `profiles`, each service converted
//! ([`service`]), then what needs every service (`network_mode: service:x` groups,
//! `volumes_from`, dependencies on services left out) and the top-level resources.

pub mod envfile;
pub mod interp;
pub mod keys;
pub mod merge;
pub mod read;
pub mod service;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codes;
use crate::diag::{Diagnostic, Diagnostics, Severity, did_you_mean};
use crate::model::{App, Config, Group, MountKind, Network, Secret, Service, Version, Volume};
use crate::node::{Limits, Node, NodeKind};
use crate::source::{SourceFile, Sources, Span};

use read::{Cx, is_empty_value, join};
use service::{Names, Pending};

/// bridge's own extension at the top of a compose file, `x-bridge: {move: {cutover: ...}}`:
/// read as bridge.yaml's `move` (same fields, same errors); its fields' positions are recorded
/// under `move.*` for validation.
fn x_bridge_move(cx: &mut Cx, root: &Node) -> Option<crate::model::MoveOptions> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct XBridge {
        #[serde(default, rename = "move")]
        move_: Option<crate::model::MoveOptions>,
    }
    let node = root.get("x-bridge")?;
    let st = crate::de::State::with_prefix(false, "x-bridge");
    let r: Result<XBridge, _> = crate::de::from_node(node, &st);
    cx.diags.extend(st.take_diagnostics());
    let m = match r {
        Ok(x) => x.move_?,
        Err(e) => {
            cx.diags.push(e.into_diagnostic());
            return None;
        }
    };
    // Positions: every key under move (three levels deep at most).
    fn walk(cx: &mut Cx, n: &Node, path: &str) {
        for (k, v) in n.as_map().unwrap_or_default() {
            let Some(key) = k.as_str() else { continue };
            let p = format!("{path}.{key}");
            cx.at(p.clone(), v.span);
            walk(cx, v, &p);
        }
    }
    if let Some(mv) = node.get("move") {
        cx.at("move", mv.span);
        walk(cx, mv, "move");
    }
    Some(m)
}

/// What the importer needs from its surroundings.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Variables for interpolation (the process environment, then `.env`, then `--env-file`s
    /// already merged by the caller in that precedence).
    pub env: HashMap<String, String>,
    /// Active profiles (`--profile`, `COMPOSE_PROFILES`).
    pub profiles: Vec<String>,
    /// The app name when the file has no top-level `name:`.
    pub default_name: String,
}

/// Where each neutral field path came from in the compose file.
///
/// The paths are kept back to back in one buffer and found by hash: a 10,000-service file
/// records 160,000 of them, and a `String` key apiece (allocated, hashed with SipHash, freed)
/// was a tenth of the import (issue 15).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    /// The compose file's name.
    pub file: Option<Arc<str>>,
    /// Every recorded path, back to back.
    paths: String,
    /// Per recorded path: where it stands in `paths`, its span, and the next entry of the same
    /// hash (`NONE` ends the chain).
    entries: Vec<MapEntry>,
    /// Path hash -> the last entry recorded with it.
    index: HashMap<u64, u32, BuildHasherDefault<HashIsKey>>,
}

#[derive(Debug, Clone, Copy)]
struct MapEntry {
    start: u32,
    end: u32,
    span: Span,
    next: u32,
}

const NONE: u32 = u32::MAX;

/// The hasher of an index whose keys are hashes already.
#[derive(Debug, Clone, Copy, Default)]
struct HashIsKey(u64);

impl std::hash::Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = path_hash(bytes);
    }
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
}

/// A fast non-cryptographic hash of a path (the multiply-rotate of rustc's FxHasher, eight
/// bytes at a time); paths come from the file, but a collision only costs a comparison.
fn path_hash(b: &[u8]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h: u64 = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    for &x in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(x)).wrapping_mul(K);
    }
    h
}

impl SourceMap {
    /// The span for `path`, or for its nearest recorded parent.
    pub fn locate(&self, path: &str) -> Option<Span> {
        let mut p = path;
        loop {
            if let Some(s) = self.get(p) {
                return Some(s);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// The span recorded for exactly `path`.
    pub fn get(&self, path: &str) -> Option<Span> {
        let mut at = *self.index.get(&path_hash(path.as_bytes()))?;
        while at != NONE {
            let e = self.entries.get(at as usize)?;
            if self.paths.get(e.start as usize..e.end as usize) == Some(path) {
                return Some(e.span);
            }
            at = e.next;
        }
        None
    }

    /// How many paths are recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no path is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Room for `n` more paths of about `bytes` bytes each.
    pub fn reserve(&mut self, n: usize, bytes: usize) {
        self.entries.reserve(n);
        self.index.reserve(n);
        self.paths.reserve(n.saturating_mul(bytes));
    }

    /// Record `span` for the path that `write` appends to the buffer it is given (so a path
    /// built of pieces costs no allocation of its own). An earlier span of the same path is
    /// replaced when `replace` is true, else kept.
    pub fn record(&mut self, span: Span, replace: bool, write: impl FnOnce(&mut String)) {
        let start = self.paths.len();
        write(&mut self.paths);
        let (Ok(start32), Ok(end32), Ok(id)) = (
            u32::try_from(start),
            u32::try_from(self.paths.len()),
            u32::try_from(self.entries.len()),
        ) else {
            // Past 4 GiB of paths (the input limit is far below): keep what is recorded.
            self.paths.truncate(start);
            return;
        };
        let h = path_hash(&self.paths.as_bytes()[start..]);
        let head = self.index.get(&h).copied().unwrap_or(NONE);
        let mut at = head;
        while at != NONE {
            let e = &mut self.entries[at as usize];
            if self.paths[e.start as usize..e.end as usize] == self.paths[start..] {
                if replace {
                    e.span = span;
                }
                self.paths.truncate(start);
                return;
            }
            at = e.next;
        }
        self.entries.push(MapEntry {
            start: start32,
            end: end32,
            span,
            next: head,
        });
        self.index.insert(h, id);
    }

    /// Record `span` for `path`, replacing an earlier one.
    pub fn insert(&mut self, path: &str, span: Span) {
        self.record(span, true, |b| b.push_str(path));
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The app, unless an error made one impossible.
    pub app: Option<App>,
    /// Everything found.
    pub diagnostics: Diagnostics,
    /// Where neutral fields came from.
    pub source_map: SourceMap,
}

const TOP_LEVEL: &[&str] = &[
    "version", "name", "include", "services", "models", "networks", "volumes", "secrets", "configs",
];

/// Import a parsed compose file. `base_dir` resolves `env_file`, `extends.file` and relative
/// paths; files read along the way are added to `sources`.
pub fn import(
    root: &Node,
    file: &Arc<str>,
    base_dir: &Path,
    opts: &ImportOptions,
    sources: &mut Sources,
) -> Imported {
    import_owned(root.clone(), file, base_dir, opts, sources)
}

/// [`import`] of a tree the caller no longer needs: interpolation rewrites it in place instead
/// of copying it first (at 10,000 services the copy is a tenth of the import).
pub fn import_owned(
    root: Node,
    file: &Arc<str>,
    base_dir: &Path,
    opts: &ImportOptions,
    sources: &mut Sources,
) -> Imported {
    let mut cx = Cx::default();
    cx.map.file = Some(file.clone());
    if root.as_map().is_none() && !root.is_null() {
        cx.error(
            codes::COMPOSE_INVALID,
            "",
            root.span,
            format!(
                "a compose file is a mapping at the top, found {}",
                root.describe()
            ),
        );
        return Imported {
            app: None,
            diagnostics: cx.diags,
            source_map: cx.map,
        };
    }
    let mut root = root;
    let mut unset_seen = BTreeSet::new();
    interpolate_tree(
        &mut root,
        &mut String::new(),
        &opts.env,
        &mut cx,
        &mut unset_seen,
        None,
    );

    let mut name: Option<(String, Span)> = None;
    for (key, knode, v) in cx.entries(&root, "", &[]) {
        match key {
            "version" => {
                cx.push(
                    Severity::Note,
                    codes::OBSOLETE_VERSION,
                    "version",
                    knode.span,
                    "`version` is obsolete in the Compose Specification and is ignored",
                )
                .hint = Some("remove the `version:` line".into());
            }
            "name" => {
                name = cx.opt_string(v, "name").map(|n| (n, v.span));
            }
            "include" => {
                if let Some(info) = keys::entry("include") {
                    cx.report(info, "include", knode.span).hint = Some(
                        "merge the included files into this one; `docker compose config` prints the merged file"
                            .into(),
                    );
                }
            }
            "models" => {
                if !is_empty_value(v)
                    && let Some(info) = keys::entry("models")
                {
                    cx.report(info, "models", knode.span);
                }
            }
            "services" | "networks" | "volumes" | "secrets" | "configs" => {
                if v.as_map().is_none() && !v.is_null() {
                    cx.wrong_type(v, key, "a mapping");
                }
            }
            other => {
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_FIELD,
                    format!("unknown top-level key `{other}`"),
                )
                .with_path(other)
                .with_span(knode.span);
                d.hint = Some(match did_you_mean(other, TOP_LEVEL.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "extensions start with `x-`".into(),
                });
                cx.diags.push(d);
            }
        }
    }

    let empty = Node::empty_map(Span::default());
    let section = |k: &str| {
        root.get(k)
            .filter(|n| n.as_map().is_some())
            .unwrap_or(&empty)
    };
    let services = section("services");
    // A service records two dozen or so field spans: growing the map by rehashing from empty
    // (or once more near the end) was a twentieth of the import at 10,000 services.
    cx.map
        .reserve(services.as_map().map_or(0, <[_]>::len) * 32, 32);

    // Names.
    let names = Names {
        services: normalise_names(&mut cx, services, "services", "service"),
        volumes: normalise_names(&mut cx, section("volumes"), "volumes", "volume"),
        secrets: normalise_names(&mut cx, section("secrets"), "secrets", "secret"),
        configs: normalise_names(&mut cx, section("configs"), "configs", "config"),
        networks: normalise_names(&mut cx, section("networks"), "networks", "network"),
    };

    // extends, profiles.
    let mut ext = Extends {
        vars: &opts.env,
        sources,
        unset_seen: &mut unset_seen,
        docs: HashMap::new(),
    };
    // The main document is only needed by `extends`; most files have none.
    let any_extends = services
        .as_map()
        .unwrap_or_default()
        .iter()
        .any(|(_, v)| v.get("extends").is_some());
    if any_extends {
        ext.docs.insert(
            String::new(),
            Doc::new(base_dir.to_path_buf(), std::borrow::Cow::Borrowed(services)),
        );
    }
    let mut resolved: Vec<(String, std::borrow::Cow<'_, Node>)> = Vec::new();
    let mut inactive: BTreeSet<String> = BTreeSet::new();
    for (k, v) in services.as_map().unwrap_or_default() {
        let Some(sname) = k.as_str() else { continue };
        let path = format!("services.{sname}");
        if v.as_map().is_none() {
            if v.is_null() {
                cx.error(
                    codes::NO_IMAGE,
                    &path,
                    k.span,
                    format!("service `{sname}` is empty"),
                )
                .hint = Some("add `image:` with the image to run".into());
            } else {
                cx.wrong_type(v, &path, "a mapping");
            }
            continue;
        }
        // A service without `extends` is used as it stands: no lookup, no copy.
        let node = if v.get("extends").is_none() {
            std::borrow::Cow::Borrowed(v)
        } else {
            let mut stack = Vec::new();
            let Some(node) = ext.resolve(&mut cx, "", sname, &mut stack, 0) else {
                continue;
            };
            std::borrow::Cow::Owned(node)
        };
        cx.at(
            format!(
                "services.{}",
                names.services.get(sname).map_or(sname, |s| s)
            ),
            k.span,
        );
        let profiles = node
            .get("profiles")
            .map(|p| cx.strings(p, &join(&path, "profiles")))
            .unwrap_or_default();
        let active = profiles.is_empty()
            || profiles
                .iter()
                .any(|p| opts.profiles.iter().any(|a| a == p || a == "*"));
        if !active {
            cx.push(
                Severity::Note,
                codes::PROFILE_INACTIVE,
                &path,
                k.span,
                format!(
                    "service `{sname}` is left out: its profiles ({}) are not active",
                    profiles.join(", ")
                ),
            )
            .hint = Some(format!("deploy it with `--profile {}`", profiles[0]));
            inactive.insert(sname.to_string());
            continue;
        }
        resolved.push((sname.to_string(), node));
    }

    // Services.
    let mut env = service::Env {
        vars: &opts.env,
        base_dir,
        names: &names,
        sources: ext.sources,
        unset_seen: ext.unset_seen,
        env_files: HashMap::new(),
    };
    let mut out: BTreeMap<String, Service> = BTreeMap::new();
    let mut pending: Vec<(String, String, Pending)> = Vec::new();
    for (orig, node) in &resolved {
        let (nname, svc, pend) = service::convert(&mut cx, &mut env, orig, node);
        out.insert(nname.clone(), svc);
        pending.push((orig.clone(), nname, pend));
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    settle(&mut cx, &names, &inactive, &mut out, &pending, &mut groups);

    // Top-level resources.
    let volumes = top_volumes(&mut cx, section("volumes"), &names.volumes);
    let secrets = top_secrets(&mut cx, section("secrets"), &names.secrets);
    let configs = top_configs(&mut cx, section("configs"), &names.configs);
    let mut networks = top_networks(&mut cx, section("networks"), &names.networks);
    if out
        .values()
        .any(|s| s.networks.iter().any(|n| n == "default"))
        && !networks.contains_key("default")
    {
        networks.insert("default".into(), Network::default());
    }

    let app_name = match name {
        Some((n, span)) => {
            cx.at("name", span);
            let norm = normalise(&n);
            if norm != n {
                cx.approx(
                    "name",
                    span,
                    format!("the app `{n}` is deployed as `{norm}` (names must be dns labels)"),
                );
            }
            norm
        }
        None => opts.default_name.clone(),
    };
    let app = App {
        bridge: Version::V1,
        name: app_name,
        services: out,
        vms: BTreeMap::new(),
        volumes,
        secrets,
        configs,
        networks,
        groups,
        providers: Default::default(),
        files: Default::default(),
        move_: x_bridge_move(&mut cx, &root),
    };
    Imported {
        app: Some(app),
        diagnostics: cx.diags,
        source_map: cx.map,
    }
}

// ---------------------------------------------------------------------------------------------
// interpolation

/// Interpolate every scalar value (not keys) of `node` in place. Unset variables are reported
/// once each (W101), `${VAR?msg}` with VAR unset is E102, malformed references E103.
pub fn interpolate_tree(
    node: &mut Node,
    path: &mut String,
    vars: &HashMap<String, String>,
    cx: &mut Cx,
    unset_seen: &mut BTreeSet<String>,
    file: Option<&Arc<str>>,
) {
    let span = node.span;
    match &mut node.kind {
        // The path is one buffer grown and cut back as the walk goes: no string per node.
        NodeKind::Map(m) => {
            for (k, v) in m.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k.as_str().unwrap_or_default());
                interpolate_tree(v, path, vars, cx, unset_seen, file);
                path.truncate(len);
            }
        }
        NodeKind::Seq(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                let len = path.len();
                read::push_index(path, i);
                interpolate_tree(v, path, vars, cx, unset_seen, file);
                path.truncate(len);
            }
        }
        NodeKind::Scalar(s) => {
            if !s.text.contains('$') {
                return;
            }
            let lookup = |k: &str| vars.get(k).cloned();
            let mut unset = Vec::new();
            let result = interp::interpolate(&s.text, &lookup, &mut unset);
            let path: &str = path;
            let mut push = |d: Diagnostic| {
                let d = d.with_path(path).with_span(span);
                cx.diags.push(match file {
                    Some(f) => d.with_file(f.clone()),
                    None => d,
                });
            };
            for var in unset {
                if unset_seen.insert(var.clone()) {
                    push(
                        Diagnostic::warning(
                            codes::UNSET_VARIABLE,
                            format!("variable `{var}` is not set; it becomes an empty string"),
                        )
                        .with_hint(format!(
                            "set {var} in the environment or in .env, or write ${{{var}:-default}}"
                        )),
                    );
                }
            }
            match result {
                Ok(text) => {
                    if text.is_empty() {
                        s.plain = false;
                    }
                    s.text = text;
                }
                Err(e @ interp::InterpError::Required { .. }) => {
                    push(
                        Diagnostic::error(codes::REQUIRED_VARIABLE, e.to_string())
                            .with_hint("set it in the environment or in .env (or pass --env-file)"),
                    );
                }
                Err(e) => {
                    push(
                        Diagnostic::error(codes::INTERPOLATION, e.to_string())
                            .with_hint("write `$$` for a literal dollar sign"),
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// names

/// A compose name as a DNS label: lower case, `_` and `.` become `-`, outer `-` trimmed.
pub fn normalise(name: &str) -> String {
    normalise_keeping(name, false)
}

/// Like [`normalise`]; with `keep_underscore`, `_` stays (secret and config names may hold it).
pub fn normalise_keeping(name: &str, keep_underscore: bool) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(|c| match c {
            '_' if keep_underscore => '_',
            '_' | '.' | ' ' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let t = s.trim_matches('-');
    if t.is_empty() { s } else { t.to_string() }
}

fn normalise_names(cx: &mut Cx, section: &Node, path: &str, what: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut seen: HashMap<String, (String, Span)> = HashMap::new();
    // Secret and config names are never DNS names on any target: `_` may stay.
    let keep_underscore = matches!(what, "secret" | "config");
    for (k, _) in section.as_map().unwrap_or_default() {
        let Some(name) = k.as_str() else { continue };
        let norm = normalise_keeping(name, keep_underscore);
        if let Some((other, _)) = seen.get(&norm) {
            cx.error(
                codes::CONFLICT,
                &join(path, name),
                k.span,
                format!("{what} `{name}` and {what} `{other}` are both deployed as `{norm}`"),
            )
            .hint = Some(format!(
                "rename one of them; {what} names become dns labels"
            ));
            continue;
        }
        if norm != name {
            cx.approx(
                &join(path, name),
                k.span,
                format!(
                    "{what} `{name}` is deployed as `{norm}` (names must be {})",
                    if keep_underscore {
                        "lower-case letters, digits, `-` and `_`"
                    } else {
                        "dns labels"
                    }
                ),
            );
        }
        seen.insert(norm.clone(), (name.to_string(), k.span));
        out.insert(name.to_string(), norm);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// extends

struct Doc<'a> {
    dir: PathBuf,
    /// The document's `services:` (the main one borrowed, not copied).
    services: std::borrow::Cow<'a, Node>,
    /// Service name to its index in `services`' mapping (the first of equal keys, as
    /// [`Node::get`] finds it): a lookup per `extends` instead of a scan of every service.
    index: HashMap<String, usize>,
}

impl<'a> Doc<'a> {
    fn new(dir: PathBuf, services: std::borrow::Cow<'a, Node>) -> Self {
        let mut index = HashMap::new();
        for (i, (k, _)) in services.as_map().unwrap_or_default().iter().enumerate() {
            if let Some(name) = k.as_str() {
                index.entry(name.to_string()).or_insert(i);
            }
        }
        Doc {
            dir,
            services,
            index,
        }
    }

    /// The service `name`, as `services.get(name)`.
    fn get(&self, name: &str) -> Option<&Node> {
        let i = *self.index.get(name)?;
        self.services.as_map()?.get(i).map(|(_, v)| v)
    }
}

struct Extends<'a> {
    vars: &'a HashMap<String, String>,
    sources: &'a mut Sources,
    unset_seen: &'a mut BTreeSet<String>,
    docs: HashMap<String, Doc<'a>>,
}

const MAX_EXTENDS: usize = 32;

impl Extends<'_> {
    /// The service `name` of document `doc` with its `extends` chain merged in.
    fn resolve(
        &mut self,
        cx: &mut Cx,
        doc: &str,
        name: &str,
        stack: &mut Vec<(String, String)>,
        depth: usize,
    ) -> Option<Node> {
        let d = self.docs.get(doc)?;
        let node = d.get(name)?.clone();
        let dir = d.dir.clone();
        let path = format!("services.{name}");
        let Some((ek, ev)) = node.entry("extends") else {
            return Some(node);
        };
        let ep = join(&path, "extends");
        let espan = ek.span;
        let (base_name, base_file) = match &ev.kind {
            NodeKind::Scalar(_) => (cx.string(ev, &ep)?, None),
            NodeKind::Map(_) => {
                let mut s = None;
                let mut f = None;
                for (k, _, v) in cx.entries(ev, &ep, &["service", "file"]) {
                    if k == "service" {
                        s = cx.string(v, &join(&ep, k));
                    } else {
                        f = cx.opt_string(v, &join(&ep, k));
                    }
                }
                let Some(s) = s else {
                    cx.error(codes::EXTENDS, &ep, espan, "`extends` needs a `service`");
                    return None;
                };
                (s, f)
            }
            NodeKind::Seq(_) => {
                cx.wrong_type(ev, &ep, "a service name or {service, file}");
                return None;
            }
        };
        let target_doc = match &base_file {
            None => doc.to_string(),
            Some(f) => {
                let full = dir.join(f);
                let key = full.display().to_string();
                if !self.docs.contains_key(&key) && !self.load(cx, &full, &key, &ep, espan) {
                    return None;
                }
                key
            }
        };
        let me = (doc.to_string(), name.to_string());
        stack.push(me);
        let target = (target_doc.clone(), base_name.clone());
        if stack.contains(&target) || depth > MAX_EXTENDS {
            let chain: Vec<&str> = stack.iter().map(|(_, s)| s.as_str()).collect();
            cx.error(
                codes::EXTENDS,
                &ep,
                espan,
                format!(
                    "`extends` forms a cycle: {} -> {base_name}",
                    chain.join(" -> ")
                ),
            );
            return None;
        }
        if self
            .docs
            .get(&target_doc)
            .and_then(|d| d.get(&base_name))
            .is_none()
        {
            let where_ = base_file
                .as_deref()
                .map(|f| format!(" in `{f}`"))
                .unwrap_or_default();
            let mut d = Diagnostic::error(
                codes::EXTENDS,
                format!("`extends` names service `{base_name}`, which is not defined{where_}"),
            )
            .with_path(ep.clone())
            .with_span(espan);
            if let Some(doc) = self.docs.get(&target_doc)
                && let Some(m) = doc.services.as_map()
                && let Some(s) = did_you_mean(&base_name, m.iter().filter_map(|(k, _)| k.as_str()))
            {
                d.hint = Some(format!("did you mean `{s}`?"));
            }
            cx.diags.push(d);
            return None;
        }
        let mut base = self.resolve(cx, &target_doc, &base_name, stack, depth + 1)?;
        stack.pop();
        if let Some(f) = &base_file
            && let Some(rel) = Path::new(f).parent()
            && !rel.as_os_str().is_empty()
        {
            rebase(&mut base, rel);
        }
        let mut over = node.clone();
        if let Some(m) = over.as_map_mut() {
            m.retain(|(k, _)| k.as_str() != Some("extends"));
        }
        if let Some(m) = base.as_map_mut() {
            // A service's own `extends` was consumed by the recursion above.
            m.retain(|(k, _)| k.as_str() != Some("extends"));
        }
        Some(merge::merge("", &base, &over))
    }

    fn load(&mut self, cx: &mut Cx, full: &Path, key: &str, ep: &str, espan: Span) -> bool {
        let text = match std::fs::read_to_string(full) {
            Ok(t) => t,
            Err(e) => {
                cx.error(
                    codes::EXTENDS,
                    ep,
                    espan,
                    format!("cannot read `{}`: {e}", full.display()),
                )
                .hint = Some("the path is relative to the compose file".into());
                return false;
            }
        };
        let shown: Arc<str> = key.into();
        self.sources
            .add(SourceFile::new(shown.clone(), text.as_str()));
        let mut root = match crate::node::load(&text, &Limits::default()) {
            Ok(r) => r,
            Err(e) => {
                cx.diags.push(
                    Diagnostic::error(e.code, e.message)
                        .with_file(shown)
                        .with_span(e.span)
                        .with_hint_opt(e.hint),
                );
                cx.error(codes::EXTENDS, ep, espan, format!("cannot read `{key}`"));
                return false;
            }
        };
        interpolate_tree(
            &mut root,
            &mut String::new(),
            self.vars,
            cx,
            self.unset_seen,
            Some(&shown),
        );
        let services = root
            .get("services")
            .cloned()
            .unwrap_or_else(|| Node::empty_map(Span::default()));
        let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
        self.docs.insert(
            key.to_string(),
            Doc::new(dir, std::borrow::Cow::Owned(services)),
        );
        true
    }
}

/// Relative paths of a service from another directory, made relative to this one.
fn rebase(node: &mut Node, rel: &Path) {
    let fix = |s: &str| -> String {
        let p = rel.join(s.trim_start_matches("./"));
        let t = p.display().to_string();
        if t.starts_with('.') || t.starts_with('/') {
            t
        } else {
            format!("./{t}")
        }
    };
    let is_rel = |s: &str| !s.starts_with('/') && !s.starts_with('~') && !s.is_empty();
    let Some(m) = node.as_map_mut() else { return };
    for (k, v) in m.iter_mut() {
        match k.as_str() {
            Some("env_file" | "label_file") => {
                let items: Vec<&mut Node> = match &mut v.kind {
                    NodeKind::Seq(items) => items.iter_mut().collect(),
                    _ => vec![v],
                };
                for it in items {
                    let target = if it.as_map().is_some() {
                        it.get_mut("path")
                    } else {
                        Some(it)
                    };
                    if let Some(NodeKind::Scalar(s)) = target.map(|t| &mut t.kind)
                        && is_rel(&s.text)
                    {
                        s.text = fix(&s.text);
                    }
                }
            }
            Some("volumes") => {
                if let NodeKind::Seq(items) = &mut v.kind {
                    for it in items {
                        if let NodeKind::Scalar(s) = &mut it.kind {
                            if s.text.starts_with('.') {
                                s.text = fix(&s.text);
                            }
                        } else if it.get("type").and_then(Node::as_str) == Some("bind")
                            && let Some(src) = it.get_mut("source")
                            && let NodeKind::Scalar(s) = &mut src.kind
                            && is_rel(&s.text)
                        {
                            s.text = fix(&s.text);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// what needs every service

fn settle(
    cx: &mut Cx,
    names: &Names,
    inactive: &BTreeSet<String>,
    out: &mut BTreeMap<String, Service>,
    pending: &[(String, String, Pending)],
    groups: &mut BTreeMap<String, Group>,
) {
    let inactive_neutral: BTreeSet<String> = inactive
        .iter()
        .map(|s| names.services.get(s).cloned().unwrap_or_else(|| s.clone()))
        .collect();
    // Dependencies and links on services left out by profiles.
    for (orig, nname, _) in pending {
        let Some(s) = out.get_mut(nname) else {
            continue;
        };
        let before = s.depends_on.len();
        let dropped: Vec<String> = s
            .depends_on
            .iter()
            .filter(|d| inactive_neutral.contains(&d.service))
            .map(|d| d.service.clone())
            .collect();
        s.depends_on
            .retain(|d| !inactive_neutral.contains(&d.service));
        s.links.retain(|l| !inactive_neutral.contains(&l.service));
        if s.depends_on.len() != before {
            cx.warn(
                codes::PROFILE_INACTIVE,
                &format!("services.{orig}.depends_on"),
                cx.map
                    .locate(&format!("services.{nname}.depends_on"))
                    .unwrap_or_default(),
                format!(
                    "the dependency on {} is dropped: it is left out by its profiles",
                    dropped.join(", ")
                ),
            );
        }
    }

    // Owners by compose name and by `container_name` (the first one), so that finding one is a
    // look-up, not a scan of every service.
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut by_container: HashMap<&str, usize> = HashMap::new();
    for (i, (o, _, p)) in pending.iter().enumerate() {
        by_name.entry(o.as_str()).or_insert(i);
        if let Some(c) = p.container_name.as_deref() {
            by_container.entry(c).or_insert(i);
        }
    }

    // volumes_from: copy the mounts.
    for (orig, nname, pend) in pending {
        for (i, (item, span)) in pend.volumes_from.iter().enumerate() {
            let path = format!("services.{orig}.volumes_from[{i}]");
            let info = keys::service_key("volumes_from");
            let code = info.map_or(codes::APPROXIMATED, |i| i.code);
            let (target, mode) = match item.strip_prefix("container:") {
                Some(rest) => {
                    let (c, m) = rest.split_once(':').unwrap_or((rest, ""));
                    let owner = by_container.get(c).map(|&i| pending[i].0.clone());
                    match owner {
                        Some(o) => (o, m.to_string()),
                        None => {
                            cx.warn(
                                code,
                                &path,
                                *span,
                                format!("`{item}` names a container outside the app; its mounts are not carried"),
                            );
                            continue;
                        }
                    }
                }
                None => {
                    let (s, m) = item.split_once(':').unwrap_or((item.as_str(), ""));
                    (s.to_string(), m.to_string())
                }
            };
            let tn = names.service(&target);
            let Some(src) = out.get(&tn).map(|s| s.volumes.clone()) else {
                cx.error(
                    codes::DANGLING_REF,
                    &path,
                    *span,
                    format!("`volumes_from` names service `{target}`, which is not deployed"),
                );
                continue;
            };
            let Some(s) = out.get_mut(nname) else {
                continue;
            };
            let mut copied = Vec::new();
            for mut m in src {
                if m.kind == MountKind::Tmpfs || s.volumes.iter().any(|x| x.target == m.target) {
                    continue;
                }
                if mode == "ro" {
                    m.read_only = true;
                }
                copied.push(m.target.clone());
                s.volumes.push(m);
            }
            cx.warn(
                code,
                &path,
                *span,
                format!(
                    "the mounts of `{target}` ({}) are copied; anonymous volumes and host paths are only shared when both run on one host",
                    if copied.is_empty() { "none".to_string() } else { copied.join(", ") }
                ),
            );
        }
    }

    // network_mode.
    let owner_of = |pend: &[(String, String, Pending)], mode: &str| -> Option<String> {
        if let Some(x) = mode.strip_prefix("service:") {
            return by_name.get(x).map(|&i| pend[i].0.clone());
        }
        let c = mode.strip_prefix("container:")?;
        // The first service whose container name or name is `c`.
        [by_container.get(c), by_name.get(c)]
            .into_iter()
            .flatten()
            .min()
            .map(|&i| pend[i].0.clone())
    };
    for (orig, nname, pend) in pending {
        let Some((mode, span)) = &pend.network_mode else {
            continue;
        };
        let path = format!("services.{orig}.network_mode");
        match mode.as_str() {
            "bridge" | "default" | "" => {
                if let Some(info) = keys::entry("network_mode.bridge") {
                    cx.report(info, &path, *span);
                }
            }
            "host" => {
                if let Some(info) = keys::entry("network_mode.host") {
                    cx.report(info, &path, *span).message =
                        format!("`network_mode: host` is not carried: {}", info.reason);
                }
            }
            "none" => {
                cx.error(
                    codes::NETWORK_MODE,
                    &path,
                    *span,
                    "`network_mode: none` cannot be honoured safely: every target gives the container a network, so an isolated container would become reachable",
                )
                .hint = Some("remove `network_mode: none` if the service may have network access".into());
            }
            m if m.starts_with("service:") || m.starts_with("container:") => {
                let Some(mut owner) = owner_of(pending, m) else {
                    let x = m.split_once(':').map_or(m, |(_, x)| x);
                    let why = if inactive.contains(x) {
                        "is left out by its profiles"
                    } else {
                        "is not a service of this file"
                    };
                    cx.error(
                        codes::NETWORK_MODE,
                        &path,
                        *span,
                        format!("`network_mode: {m}` shares the network of `{x}`, which {why}"),
                    );
                    continue;
                };
                // The namespace joined is the immediate owner's (docker resolves chains itself).
                let joined = names.service(&owner);
                // Follow chains (a -> b -> c): the group is named after the last one.
                let mut hops = 0;
                while let Some((_, _, p)) = by_name.get(owner.as_str()).map(|&i| &pending[i])
                    && let Some((next_mode, _)) = &p.network_mode
                    && let Some(next) = owner_of(pending, next_mode)
                    && hops < pending.len()
                {
                    owner = next;
                    hops += 1;
                }
                if owner == *orig {
                    cx.error(
                        codes::NETWORK_MODE,
                        &path,
                        *span,
                        "`network_mode` chains back to this service",
                    );
                    continue;
                }
                let group = names.service(&owner);
                groups.entry(group.clone()).or_default();
                cx.at(format!("groups.{group}"), *span);
                for svc in [nname.clone(), group.clone()] {
                    if let Some(s) = out.get_mut(&svc) {
                        s.group = Some(group.clone());
                        cx.at(format!("services.{svc}.group"), *span);
                    }
                }
                if let Some(s) = out.get_mut(nname) {
                    s.network_of = Some(joined);
                    cx.at(format!("services.{nname}.network_of"), *span);
                }
                if m.starts_with("container:") {
                    cx.approx(
                        &path,
                        *span,
                        format!("`{m}` is read as the service `{owner}`; both run together in group `{group}`"),
                    );
                }
            }
            other => {
                cx.error(
                    codes::NETWORK_MODE,
                    &path,
                    *span,
                    format!("`network_mode: {other}` cannot be expressed"),
                )
                .hint = Some("attach the service to a network with `networks:`".into());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// top-level resources

fn report_top(cx: &mut Cx, key: &str, path: &str, knode: &Node, v: &Node) {
    if !is_empty_value(v)
        && let Some(info) = keys::entry(key)
    {
        cx.report(info, path, knode.span);
    }
}

/// `external: true` or the legacy `external: {name: x}`.
fn external(cx: &mut Cx, v: &Node, path: &str, name: &mut Option<String>) -> bool {
    if v.as_map().is_some() {
        for (k, _, n) in cx.entries(v, path, &["name"]) {
            if let Some(x) = cx.opt_string(n, &join(path, k)) {
                *name = Some(x);
            }
        }
        return true;
    }
    cx.boolean(v, path).unwrap_or(false)
}

/// Keep the compose name for an external resource whose key was renamed.
fn keep_external_name(orig: &str, norm: &str, external: bool, name: &mut Option<String>) {
    if external && name.is_none() && orig != norm {
        *name = Some(orig.to_string());
    }
}

fn top_volumes(
    cx: &mut Cx,
    section: &Node,
    names: &HashMap<String, String>,
) -> BTreeMap<String, Volume> {
    let mut out = BTreeMap::new();
    for (k, v) in section.as_map().unwrap_or_default() {
        let Some(orig) = k.as_str() else { continue };
        let Some(norm) = names.get(orig) else {
            continue;
        };
        let path = format!("volumes.{orig}");
        let mut vol = Volume::default();
        let fields = ["name", "driver", "driver_opts", "external", "labels"];
        for (f, _, fv) in cx.entries(v, &path, &fields) {
            let fp = join(&path, f);
            match f {
                "name" => vol.name = cx.opt_string(fv, &fp),
                "driver" => vol.driver = cx.opt_string(fv, &fp),
                "driver_opts" => vol.driver_opts = cx.string_map(fv, &fp),
                "external" => vol.external = external(cx, fv, &fp, &mut vol.name),
                _ => vol.labels = cx.string_map(fv, &fp),
            }
        }
        keep_external_name(orig, norm, vol.external, &mut vol.name);
        cx.at(format!("volumes.{norm}"), k.span);
        out.insert(norm.clone(), vol);
    }
    out
}

fn top_secrets(
    cx: &mut Cx,
    section: &Node,
    names: &HashMap<String, String>,
) -> BTreeMap<String, Secret> {
    let mut out = BTreeMap::new();
    for (k, v) in section.as_map().unwrap_or_default() {
        let Some(orig) = k.as_str() else { continue };
        let Some(norm) = names.get(orig) else {
            continue;
        };
        let path = format!("secrets.{orig}");
        let mut sec = Secret::default();
        let fields = [
            "name",
            "environment",
            "file",
            "external",
            "labels",
            "driver",
            "driver_opts",
            "template_driver",
        ];
        for (f, fk, fv) in cx.entries(v, &path, &fields) {
            let fp = join(&path, f);
            match f {
                "name" => sec.name = cx.opt_string(fv, &fp),
                "environment" => sec.env = cx.opt_string(fv, &fp),
                "file" => sec.file = cx.opt_string(fv, &fp),
                "external" => sec.external = external(cx, fv, &fp, &mut sec.name),
                other => report_top(cx, &format!("secrets.*.{other}"), &fp, fk, fv),
            }
        }
        keep_external_name(orig, norm, sec.external, &mut sec.name);
        cx.at(format!("secrets.{norm}"), k.span);
        out.insert(norm.clone(), sec);
    }
    out
}

fn top_configs(
    cx: &mut Cx,
    section: &Node,
    names: &HashMap<String, String>,
) -> BTreeMap<String, Config> {
    let mut out = BTreeMap::new();
    for (k, v) in section.as_map().unwrap_or_default() {
        let Some(orig) = k.as_str() else { continue };
        let Some(norm) = names.get(orig) else {
            continue;
        };
        let path = format!("configs.{orig}");
        let mut c = Config::default();
        let fields = [
            "name",
            "content",
            "environment",
            "file",
            "external",
            "labels",
            "template_driver",
        ];
        for (f, fk, fv) in cx.entries(v, &path, &fields) {
            let fp = join(&path, f);
            match f {
                "name" => c.name = cx.opt_string(fv, &fp),
                "content" => c.content = cx.opt_string(fv, &fp),
                "environment" => c.env = cx.opt_string(fv, &fp),
                "file" => c.file = cx.opt_string(fv, &fp),
                "external" => c.external = external(cx, fv, &fp, &mut c.name),
                other => report_top(cx, &format!("configs.*.{other}"), &fp, fk, fv),
            }
        }
        keep_external_name(orig, norm, c.external, &mut c.name);
        cx.at(format!("configs.{norm}"), k.span);
        out.insert(norm.clone(), c);
    }
    out
}

fn top_networks(
    cx: &mut Cx,
    section: &Node,
    names: &HashMap<String, String>,
) -> BTreeMap<String, Network> {
    let mut out = BTreeMap::new();
    for (k, v) in section.as_map().unwrap_or_default() {
        let Some(orig) = k.as_str() else { continue };
        let Some(norm) = names.get(orig) else {
            continue;
        };
        let path = format!("networks.{orig}");
        let mut n = Network::default();
        let fields = [
            "name",
            "driver",
            "driver_opts",
            "ipam",
            "external",
            "internal",
            "enable_ipv4",
            "enable_ipv6",
            "attachable",
            "labels",
        ];
        for (f, fk, fv) in cx.entries(v, &path, &fields) {
            let fp = join(&path, f);
            match f {
                "name" => n.name = cx.opt_string(fv, &fp),
                "driver" => n.driver = cx.opt_string(fv, &fp),
                "driver_opts" => n.driver_opts = cx.string_map(fv, &fp),
                "external" => n.external = external(cx, fv, &fp, &mut n.name),
                "internal" => n.internal = cx.boolean(fv, &fp).unwrap_or(false),
                "labels" => n.labels = cx.string_map(fv, &fp),
                "enable_ipv4" => {
                    if cx.boolean(fv, &fp) == Some(false)
                        && let Some(info) = keys::entry("networks.*.enable_ipv4")
                    {
                        cx.report(info, &fp, fk.span);
                    }
                }
                other => report_top(cx, &format!("networks.*.{other}"), &fp, fk, fv),
            }
        }
        keep_external_name(orig, norm, n.external, &mut n.name);
        cx.at(format!("networks.{norm}"), k.span);
        out.insert(norm.clone(), n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(normalise("web_1"), "web-1");
        assert_eq!(normalise("My.Svc"), "my-svc");
        assert_eq!(normalise("_x_"), "x");
        assert_eq!(normalise("ok"), "ok");
    }
}
