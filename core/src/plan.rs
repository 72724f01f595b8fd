//! Plans: what would change to bring a provider to the desired state, and why. A plan is a value
//! that can be printed, diffed and applied. [`diff`] is the pure engine: desired resources (the
//! translator's output with its spec hash) against observed ones (what the provider holds under
//! the app's labels), compared by spec hash and, where the provider reports its stored spec, by
//! the fields bridge sets (so provider defaults never show as drift), with the changed fields named.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

/// What happens to one resource. A small closed set, each with a display symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Already as desired.
    NoOp,
    /// Does not exist yet.
    Create,
    /// Changed in place.
    Update,
    /// Deleted and created again, because a field cannot change in place.
    Replace,
    /// Exists but is no longer desired.
    Delete,
    /// Exists without bridge's labels (made outside bridge) and matches the app: bridge's labels
    /// are added in place (`deploy --adopt`), nothing else changes.
    Adopt,
}

impl Action {
    /// The symbol shown in plans.
    pub fn symbol(&self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Adopt => "<=",
        }
    }

    /// True when the action writes to the provider.
    pub fn writes(&self) -> bool {
        *self != Action::NoOp
    }
}

/// The kind and name of a provider resource owned by the app.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResourceId {
    /// The kind, e.g. `service`, `network`, `task-definition`, `instance`.
    pub kind: String,
    /// The name, unique within the kind and the app.
    pub name: String,
}

impl ResourceId {
    /// A resource id.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        ResourceId {
            kind: kind.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// A resource that must be in place (and, when `healthy`, healthy) before another one starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// The resource waited for.
    pub resource: ResourceId,
    /// Wait for health, not only for existence.
    pub healthy: bool,
}

/// One step of a plan, with the reason for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The resource.
    pub resource: ResourceId,
    /// What happens to it.
    pub action: Action,
    /// Why, in words (`env LOG_LEVEL changed`, `missing`, `replicas 0 -> 3`).
    pub reason: String,
    /// The observed spec, when there is one and the step changes something (a no-op step
    /// carries neither spec: copying both of every unchanged resource was half of planning
    /// 10,000 resources, issue 15; nothing reads them).
    pub before: Option<Value>,
    /// The desired spec, when there is one and the step changes something.
    pub after: Option<Value>,
    /// The provider's handle of the observed resource (id, ARN), when it exists.
    pub handle: Option<String>,
    /// The apply rank: every step of a lower rank is applied before any of a higher one.
    pub rank: u32,
    /// What must be ready before this step runs.
    pub depends_on: Vec<Dependency>,
}

/// An ordered list of steps.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Plan {
    /// The steps, in the order they are applied.
    pub steps: Vec<Step>,
}

impl Plan {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(|s| s.action == Action::NoOp)
    }

    /// The steps that change something.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action.writes())
    }

    /// Counts per action: (create, update, replace, delete).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let n = |a: Action| self.steps.iter().filter(|s| s.action == a).count();
        (
            n(Action::Create),
            n(Action::Update),
            n(Action::Replace),
            n(Action::Delete),
        )
    }

    /// The plan for people: one line per change, with its reason; unchanged resources are left
    /// out.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in self.changes() {
            out.push_str(&format!(
                "{:>3} {}  ({})\n",
                s.action.symbol(),
                s.resource,
                s.reason
            ));
        }
        out.push_str(&summary_line(self.counts(), self.adopted()));
        out
    }

    /// How many resources are adopted (labelled in place).
    pub fn adopted(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.action == Action::Adopt)
            .count()
    }
}

/// The last line of a rendered plan: `no changes`, or the counts per action (adoptions only
/// when there are any).
pub fn summary_line((c, u, r, d): (usize, usize, usize, usize), adopted: usize) -> String {
    if c + u + r + d + adopted == 0 {
        return "no changes\n".into();
    }
    let adopt = if adopted > 0 {
        format!(", {adopted} to adopt")
    } else {
        String::new()
    };
    format!("plan: {c} to create, {u} to update, {r} to replace, {d} to delete{adopt}\n")
}

/// One resource as the app wants it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// Which resource.
    pub id: ResourceId,
    /// The hash of its normalised spec (the `bridge.spec-hash` label it will carry).
    pub spec_hash: String,
    /// The spec as sent to the provider.
    pub spec: Value,
    /// Apply rank (lower first).
    pub rank: u32,
    /// Whether the provider can change it in place; if not, a change is a replacement.
    pub in_place: bool,
    /// What must be ready first.
    pub depends_on: Vec<Dependency>,
}

/// One resource as observed on the provider, found by the app's label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Current {
    /// Which resource (from its `bridge.component` label).
    pub id: ResourceId,
    /// The `bridge.spec-hash` label it carries.
    pub spec_hash: Option<String>,
    /// The spec the provider stores, in the same shape as [`Desired::spec`], when the provider
    /// reports it; fields the provider adds are ignored by the comparison.
    pub spec: Option<Value>,
    /// The provider's handle (id, ARN, self link).
    pub handle: String,
    /// Its apply rank, used to order deletions (higher ranks are deleted first).
    pub rank: u32,
    /// Dotted paths of fields the provider does not report back (so they cannot be compared;
    /// a change to them still shows through the spec hash).
    pub opaque: Vec<String>,
}

/// One field that differs between the desired and the observed spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// The field, as a dotted path of the provider's spec (`TaskTemplate.ContainerSpec.Env`).
    pub path: String,
    /// A short description (`env LOG_LEVEL changed`, `replicas 0 -> 3`).
    pub description: String,
}

/// The plan that brings `observed` to `desired`.
///
/// - desired and absent: `Create` (`missing`);
/// - present with the same spec hash and no differing field: `NoOp`;
/// - otherwise `Update` (or `Replace` when the resource cannot change in place), the reason naming
///   the changed fields; a hash difference with no field found says so;
/// - observed and not desired: `Delete`; a second observed resource with the same id (a duplicate)
///   is deleted too.
///
/// Creates and updates come first in rank order, then deletions in reverse rank order.
pub fn diff(desired: &[Desired], observed: &[Current]) -> Plan {
    // Hashed, not ordered: a search of 10,000 ids compares a dozen kind/name pairs per look-up
    // (issue 15); the order of the steps comes from the sorts below.
    let mut by_id: HashMap<&ResourceId, Vec<&Current>> = HashMap::with_capacity(observed.len());
    for o in observed {
        by_id.entry(&o.id).or_default().push(o);
    }
    for list in by_id.values_mut() {
        list.sort_by(|a, b| a.handle.cmp(&b.handle));
    }
    let mut forward = Vec::with_capacity(desired.len());
    let mut deletes = Vec::new();
    let wanted: HashSet<&ResourceId> = desired.iter().map(|d| &d.id).collect();
    for d in desired {
        let found: &[&Current] = by_id.get(&d.id).map_or(&[], Vec::as_slice);
        // Keep the copy that matches best (same hash first), delete the rest.
        let keep = found
            .iter()
            .position(|o| o.spec_hash.as_deref() == Some(d.spec_hash.as_str()))
            .unwrap_or(0);
        for (i, dup) in found.iter().enumerate() {
            if i != keep {
                deletes.push(delete_step(dup, "duplicate of the same component"));
            }
        }
        let step = |action: Action, reason: String, o: Option<&Current>| Step {
            resource: d.id.clone(),
            action,
            reason,
            before: o.filter(|_| action.writes()).and_then(|o| o.spec.clone()),
            after: action.writes().then(|| d.spec.clone()),
            handle: o.map(|o| o.handle.clone()),
            rank: d.rank,
            depends_on: d.depends_on.clone(),
        };
        match found.get(keep).copied() {
            None => forward.push(step(Action::Create, "missing".into(), None)),
            Some(o) => {
                let changes = o
                    .spec
                    .as_ref()
                    .map(|obs| field_changes_except(&d.spec, obs, &o.opaque))
                    .unwrap_or_default();
                let hash_same = o.spec_hash.as_deref() == Some(d.spec_hash.as_str());
                if hash_same && changes.is_empty() {
                    forward.push(step(Action::NoOp, "up to date".into(), Some(o)));
                    continue;
                }
                let mut reason: Vec<String> =
                    changes.iter().map(|c| c.description.clone()).collect();
                if reason.is_empty() {
                    reason.push(match &o.spec_hash {
                        Some(h) => format!("spec hash changed {h} -> {}", d.spec_hash),
                        None => "no spec hash label".into(),
                    });
                }
                let action = if d.in_place {
                    Action::Update
                } else {
                    Action::Replace
                };
                forward.push(step(action, reason.join(", "), Some(o)));
            }
        }
    }
    // In id order, as the sort below keeps the handle order of one id's copies.
    let mut gone: Vec<(&ResourceId, &Vec<&Current>)> = by_id
        .iter()
        .filter(|(id, _)| !wanted.contains(*id))
        .map(|(id, l)| (*id, l))
        .collect();
    gone.sort_by(|a, b| a.0.cmp(b.0));
    for (_, list) in gone {
        for o in list {
            deletes.push(delete_step(o, "no longer in the app"));
        }
    }
    forward.sort_by(|a, b| (a.rank, &a.resource).cmp(&(b.rank, &b.resource)));
    deletes.sort_by(|a, b| (b.rank, &a.resource).cmp(&(a.rank, &b.resource)));
    forward.extend(deletes);
    Plan { steps: forward }
}

/// A provider object that has the name one of the app's desired resources would get but not
/// the app's labels: made outside bridge (`docker stack deploy`, by hand, by another tool).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unowned {
    /// The desired resource whose name it has.
    pub id: ResourceId,
    /// The provider's name of the object.
    pub name: String,
    /// The provider's handle (id, ARN).
    pub handle: String,
    /// Its stored spec in the shape of [`Desired::spec`], when the provider reports one.
    pub spec: Option<Value>,
    /// Dotted paths not compared (as [`Current::opaque`]), bridge's own labels among them.
    pub opaque: Vec<String>,
    /// Why the provider cannot add bridge's labels in place, when it cannot.
    pub no_relabel: Option<String>,
}

/// What [`adopt`] found: the steps that met an unowned object without `--adopt`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Adoption {
    /// `service/web: bexp_web` for each desired resource whose name is taken by an object
    /// without the app's labels, when adoption was not asked for.
    pub conflicts: Vec<String>,
}

/// Turn the `Create` steps of `plan` whose name is taken by an [`Unowned`] object into what
/// taking it over needs (`adopt`), or mark them as conflicts (not `adopt`: the plan still says
/// create, with the reason naming the object, and [`Adoption::conflicts`] lists them):
///
/// - the provider can relabel it and its spec has every field the app sets: [`Action::Adopt`]
///   (labels added in place, nothing else sent);
/// - it can be relabelled but fields differ (or its spec is not reported): `Update` (or `Replace`
///   for a resource that does not change in place), the reason naming the fields;
/// - it cannot be relabelled: `Replace`, the reason saying why.
pub fn adopt(plan: &mut Plan, desired: &[Desired], found: &[Unowned], adopt: bool) -> Adoption {
    let mut out = Adoption::default();
    for s in &mut plan.steps {
        if s.action != Action::Create {
            continue;
        }
        let Some(u) = found.iter().find(|u| u.id == s.resource) else {
            continue;
        };
        if !adopt {
            s.reason = format!(
                "missing; `{}` exists without bridge's labels (made outside bridge): `--adopt` takes it over",
                u.name
            );
            out.conflicts.push(format!("{}: {}", s.resource, u.name));
            continue;
        }
        s.handle = Some(u.handle.clone());
        s.before = u.spec.clone();
        if let Some(why) = &u.no_relabel {
            s.action = Action::Replace;
            s.reason = format!(
                "`{}` exists without bridge's labels and {why}: replaced",
                u.name
            );
            continue;
        }
        let after = s.after.clone().unwrap_or(Value::Null);
        let changes = u
            .spec
            .as_ref()
            .map(|obs| field_changes_except(&after, obs, &u.opaque));
        match changes {
            Some(c) if c.is_empty() => {
                s.action = Action::Adopt;
                s.reason = format!(
                    "`{}` exists without bridge's labels: adopted, its labels added in place",
                    u.name
                );
            }
            other => {
                let what: Vec<String> = other
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| c.description)
                    .collect();
                let in_place = desired
                    .iter()
                    .find(|d| d.id == s.resource)
                    .is_some_and(|d| d.in_place);
                s.action = if in_place {
                    Action::Update
                } else {
                    Action::Replace
                };
                s.reason = format!(
                    "`{}` exists without bridge's labels: adopted with an update ({})",
                    u.name,
                    if what.is_empty() {
                        "its spec is not reported".to_string()
                    } else {
                        what.join(", ")
                    }
                );
            }
        }
    }
    out
}

fn delete_step(o: &Current, reason: &str) -> Step {
    Step {
        resource: o.id.clone(),
        action: Action::Delete,
        reason: reason.into(),
        before: o.spec.clone(),
        after: None,
        handle: Some(o.handle.clone()),
        rank: o.rank,
        depends_on: Vec::new(),
    }
}

/// The fields bridge sets in `desired` that differ in `observed`. Keys compare without case (an
/// engine may respell them), fields only the provider sets are ignored, `KEY=value` lists (env)
/// compare by key and never show values.
pub fn field_changes(desired: &Value, observed: &Value) -> Vec<FieldChange> {
    field_changes_except(desired, observed, &[])
}

/// [`field_changes`], skipping the fields at the `opaque` dotted paths.
pub fn field_changes_except(
    desired: &Value,
    observed: &Value,
    opaque: &[String],
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(
        &mut String::with_capacity(128),
        desired,
        observed,
        opaque,
        &mut out,
    );
    out
}

/// Compare `d` with `o` at the dotted `path`, which each field extends and cuts back (one
/// buffer for the whole walk: the diff of 10,000 resources visits every field, issue 15).
fn walk(path: &mut String, d: &Value, o: &Value, opaque: &[String], out: &mut Vec<FieldChange>) {
    if opaque.iter().any(|p| p.as_str() == path.as_str()) {
        return;
    }
    match (d, o) {
        (Value::Null, _) => {}
        (Value::Object(dm), Value::Object(om)) => {
            let len = path.len();
            // Both maps are sorted by key: the observed key spelt as bridge spells it is found
            // by walking `om` alongside `dm` (one comparison a key, not a search per key,
            // issue 15); another spelling by a scan.
            let mut ours = om.iter().peekable();
            for (k, dv) in dm {
                while ours.next_if(|(ok, _)| ok.as_str() < k.as_str()).is_some() {}
                let ov = match ours.peek() {
                    Some((ok, ov)) if *ok == k => ov,
                    _ => key_ignoring_case(om, k).unwrap_or(&Value::Null),
                };
                // A field stored exactly as sent has nothing to report (what most of an
                // unchanged spec is): one comparison, no path built.
                if dv == ov {
                    continue;
                }
                if len > 0 {
                    path.push('.');
                }
                path.push_str(k);
                walk(path, dv, ov, opaque, out);
                path.truncate(len);
            }
        }
        // The same list in the same order (the common case) has nothing to report.
        (Value::Array(da), Value::Array(oa)) if da == oa => {}
        (Value::Array(da), oa) if is_env_list(da) => {
            let empty = Vec::new();
            let oa = oa.as_array().unwrap_or(&empty);
            let dk = env_map(da);
            let ok = env_map(oa);
            let name = friendly(path);
            for (k, v) in &dk {
                match ok.get(k) {
                    None => out.push(change(path, format!("{name} {k} added"))),
                    Some(ov) if ov != v => out.push(change(path, format!("{name} {k} changed"))),
                    Some(_) => {}
                }
            }
            for k in ok.keys() {
                if !dk.contains_key(k) {
                    out.push(change(path, format!("{name} {k} removed")));
                }
            }
        }
        (Value::Array(da), Value::Array(oa)) => {
            if da.len() != oa.len() || da.iter().zip(oa).any(|(x, y)| !contains(y, x)) {
                out.push(change(path, format!("{} changed", friendly(path))));
            }
        }
        (dv, ov) => {
            if !contains(ov, dv) {
                let name = friendly(path);
                let text = match (dv, ov) {
                    (Value::Number(_) | Value::Bool(_), _)
                    | (Value::String(_), Value::String(_))
                        if !is_sensitive(path) =>
                    {
                        format!("{name} {} -> {}", short(ov), short(dv))
                    }
                    _ => format!("{name} changed"),
                };
                out.push(change(path, text));
            }
        }
    }
}

/// The value under `key` in `map`, the key compared without case: the key as spelt first (a
/// lookup, as engines mostly echo bridge's spelling), then a scan for another spelling. A
/// scan for every key made the diff quadratic in the size of an object.
fn key_ignoring_case<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn change(path: &str, description: String) -> FieldChange {
    FieldChange {
        path: path.to_string(),
        description,
    }
}

/// True when every field of `sent` is in `stored` with the same value (the provider may add more).
pub fn contains(stored: &Value, sent: &Value) -> bool {
    match (stored, sent) {
        (_, Value::Null) => true,
        (Value::Object(a), Value::Object(b)) => b
            .iter()
            .all(|(k, v)| v.is_null() || key_ignoring_case(a, k).is_some_and(|av| contains(av, v))),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| contains(x, y))
        }
        (a, b) => a == b,
    }
}

fn is_env_list(a: &[Value]) -> bool {
    !a.is_empty()
        && a.iter().all(|v| {
            v.as_str()
                .is_some_and(|s| s.split_once('=').is_some_and(|(k, _)| is_env_key(k)))
        })
}

fn is_env_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

fn env_map(a: &[Value]) -> BTreeMap<String, String> {
    a.iter()
        .filter_map(|v| v.as_str())
        .filter_map(|s| s.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Values under these fields are never shown, only named.
fn is_sensitive(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.contains("env") || p.contains("secret") || p.contains("data") || p.contains("args")
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => "unset".into(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// A field's name for people: the well-known Engine/compose fields get their bridge.yaml name,
/// others keep their dotted path.
fn friendly(path: &str) -> String {
    let known = [
        ("TaskTemplate.ContainerSpec.Env", "env"),
        ("TaskTemplate.ContainerSpec.Image", "image"),
        ("TaskTemplate.ContainerSpec.Args", "command"),
        ("TaskTemplate.ContainerSpec.Command", "entrypoint"),
        ("TaskTemplate.ContainerSpec.Mounts", "volumes"),
        ("TaskTemplate.ContainerSpec.Secrets", "secrets"),
        ("TaskTemplate.ContainerSpec.Configs", "configs"),
        ("TaskTemplate.ContainerSpec.HealthCheck", "health"),
        ("TaskTemplate.Resources", "resources"),
        ("TaskTemplate.Placement", "placement"),
        ("TaskTemplate.Networks", "networks"),
        ("TaskTemplate.RestartPolicy", "restart"),
        ("Mode.Replicated.Replicas", "replicas"),
        ("EndpointSpec.Ports", "ports"),
        ("UpdateConfig", "update"),
        ("RollbackConfig", "rollback"),
        ("Labels", "labels"),
    ];
    for (prefix, name) in known {
        if path == prefix {
            return name.to_string();
        }
        if let Some(rest) = path.strip_prefix(prefix)
            && let Some(rest) = rest.strip_prefix('.')
        {
            return format!("{name}.{rest}");
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired(kind: &str, name: &str, hash: &str, spec: Value, rank: u32) -> Desired {
        Desired {
            id: ResourceId::new(kind, name),
            spec_hash: hash.into(),
            spec,
            rank,
            in_place: kind == "service",
            depends_on: Vec::new(),
        }
    }

    fn current(kind: &str, name: &str, hash: &str, spec: Option<Value>, rank: u32) -> Current {
        Current {
            id: ResourceId::new(kind, name),
            spec_hash: Some(hash.into()),
            spec,
            handle: format!("id-{name}"),
            rank,
            opaque: Vec::new(),
        }
    }

    fn svc(env: &[&str], replicas: i64) -> Value {
        json!({
            "Name": "app_web",
            "TaskTemplate": {"ContainerSpec": {"Image": "busybox:1", "Env": env}},
            "Mode": {"Replicated": {"Replicas": replicas}},
        })
    }

    #[test]
    fn missing_resources_are_created_in_rank_order() {
        let d = vec![
            desired("service", "web", "h1", svc(&["A=1"], 1), 10),
            desired("network", "default", "n1", json!({}), 0),
        ];
        let p = diff(&d, &[]);
        let got: Vec<_> = p
            .steps
            .iter()
            .map(|s| (s.action, s.resource.to_string(), s.reason.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Action::Create, "network/default".into(), "missing".into()),
                (Action::Create, "service/web".into(), "missing".into()),
            ]
        );
        assert!(!p.is_empty());
    }

    #[test]
    fn provider_defaults_are_not_drift() {
        let d = vec![desired("service", "web", "h1", svc(&["A=1"], 1), 10)];
        let mut stored = svc(&["A=1"], 1);
        stored["TaskTemplate"]["ForceUpdate"] = json!(0);
        stored["TaskTemplate"]["ContainerSpec"]["Isolation"] = json!("default");
        let o = vec![current("service", "web", "h1", Some(stored), 10)];
        let p = diff(&d, &o);
        assert!(p.is_empty(), "{}", p.render());
        assert_eq!(p.render(), "no changes\n");
    }

    #[test]
    fn an_env_change_names_the_variable_not_the_value() {
        let d = vec![desired(
            "service",
            "web",
            "h2",
            svc(&["A=1", "LOG_LEVEL=debug"], 1),
            10,
        )];
        let o = vec![current(
            "service",
            "web",
            "h1",
            Some(svc(&["A=1", "LOG_LEVEL=info"], 1)),
            10,
        )];
        let p = diff(&d, &o);
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].action, Action::Update);
        assert_eq!(p.steps[0].reason, "env LOG_LEVEL changed");
        assert_eq!(p.steps[0].handle.as_deref(), Some("id-web"));
        assert!(!p.render().contains("debug"));
    }

    #[test]
    fn scaled_out_of_band_is_drift_even_with_the_same_hash() {
        let d = vec![desired("service", "web", "h1", svc(&["A=1"], 3), 10)];
        let o = vec![current("service", "web", "h1", Some(svc(&["A=1"], 0)), 10)];
        let p = diff(&d, &o);
        assert_eq!(p.steps[0].action, Action::Update);
        assert_eq!(p.steps[0].reason, "replicas 0 -> 3");
    }

    #[test]
    fn immutable_kinds_are_replaced_and_extras_deleted_services_first() {
        let d = vec![desired("secret", "pw", "s2", json!({}), 2)];
        let o = vec![
            current("secret", "pw", "s1", None, 2),
            current("network", "old", "n", None, 0),
            current("service", "gone", "x", None, 10),
        ];
        let p = diff(&d, &o);
        let got: Vec<_> = p
            .steps
            .iter()
            .map(|s| (s.action, s.resource.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Action::Replace, "secret/pw".into()),
                (Action::Delete, "service/gone".into()),
                (Action::Delete, "network/old".into()),
            ]
        );
        assert_eq!(p.steps[0].reason, "spec hash changed s1 -> s2");
        assert_eq!(p.counts(), (0, 0, 1, 2));
    }

    #[test]
    fn duplicates_are_deleted_keeping_the_matching_copy() {
        let d = vec![desired("network", "default", "n1", json!({}), 0)];
        let mut a = current("network", "default", "old", None, 0);
        a.handle = "a".into();
        let mut b = current("network", "default", "n1", None, 0);
        b.handle = "b".into();
        let p = diff(&d, &[a, b]);
        let got: Vec<_> = p
            .steps
            .iter()
            .map(|s| (s.action, s.handle.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            got,
            vec![(Action::NoOp, "b".into()), (Action::Delete, "a".into())]
        );
    }

    #[test]
    fn keys_compare_without_case_and_lists_by_content() {
        let d =
            json!({"TaskTemplate": {"ContainerSpec": {"HealthCheck": {"Test": ["CMD", "true"]}}}});
        let o =
            json!({"TaskTemplate": {"ContainerSpec": {"Healthcheck": {"Test": ["CMD", "true"]}}}});
        assert!(field_changes(&d, &o).is_empty());
        let o2 =
            json!({"TaskTemplate": {"ContainerSpec": {"Healthcheck": {"Test": ["CMD", "false"]}}}});
        let c = field_changes(&d, &o2);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].description, "health.Test changed");
        let img = field_changes(
            &json!({"TaskTemplate": {"ContainerSpec": {"Image": "a:2"}}}),
            &json!({"TaskTemplate": {"ContainerSpec": {"Image": "a:1"}}}),
        );
        assert_eq!(img[0].description, "image a:1 -> a:2");
    }

    #[test]
    fn keys_are_found_among_extra_and_respelled_observed_keys() {
        // Observed keys the provider adds sort before, between and after bridge's; one is
        // respelled; only the one real difference is reported.
        let d = json!({"Aa": 1, "Bb": {"X": 1}, "Cc": 2, "Dd": [1], "Zz": "z"});
        let o = json!({"A0": 0, "Aa": 1, "Ab": 0, "Ca": 0, "Cc": 3, "Dd": [1], "Zz": "z", "bb": {"X": 1, "Y": 2}, "zz": 0});
        let c = field_changes(&d, &o);
        let got: Vec<_> = c
            .iter()
            .map(|c| (c.path.as_str(), c.description.as_str()))
            .collect();
        assert_eq!(got, vec![("Cc", "Cc 3 -> 2")]);
        let o2 = json!({"Aa": 1, "bb": {"X": 2}, "Cc": 2, "Dd": [1]});
        let c = field_changes(&d, &o2);
        let got: Vec<_> = c
            .iter()
            .map(|c| (c.path.as_str(), c.description.as_str()))
            .collect();
        assert_eq!(got, vec![("Bb.X", "Bb.X 2 -> 1"), ("Zz", "Zz changed")]);
    }

    #[test]
    fn opaque_fields_are_not_compared() {
        let d = json!({"TaskTemplate": {"ContainerSpec": {"HealthCheck": {"Test": ["CMD", "true"]}, "Image": "a"}}});
        let o = json!({"TaskTemplate": {"ContainerSpec": {"Image": "a"}}});
        assert_eq!(field_changes(&d, &o).len(), 1);
        let opaque = vec!["TaskTemplate.ContainerSpec.HealthCheck".to_string()];
        assert!(field_changes_except(&d, &o, &opaque).is_empty());
    }

    #[test]
    fn env_additions_and_removals_are_named() {
        let c = field_changes(
            &json!({"TaskTemplate": {"ContainerSpec": {"Env": ["A=1", "B=2"]}}}),
            &json!({"TaskTemplate": {"ContainerSpec": {"Env": ["A=1", "C=3"]}}}),
        );
        let names: Vec<_> = c.iter().map(|c| c.description.as_str()).collect();
        assert_eq!(names, vec!["env B added", "env C removed"]);
    }

    fn unowned(kind: &str, name: &str, spec: Option<Value>, no_relabel: Option<&str>) -> Unowned {
        Unowned {
            id: ResourceId::new(kind, name),
            name: format!("shop_{name}"),
            handle: format!("id-{name}"),
            spec,
            opaque: vec!["Labels.bridge.app".into()],
            no_relabel: no_relabel.map(str::to_string),
        }
    }

    #[test]
    fn adoption_relabels_updates_or_replaces() {
        let spec = json!({"Name": "shop_web", "Labels": {"bridge.app": "shop"}, "Image": "a:1"});
        let want = vec![
            desired("service", "web", "h1", spec.clone(), 10),
            desired(
                "service",
                "api",
                "h2",
                json!({"Name": "shop_api", "Image": "b:2"}),
                10,
            ),
            desired(
                "network",
                "default",
                "h3",
                json!({"Name": "shop_default"}),
                0,
            ),
            desired("service", "new", "h4", json!({"Name": "shop_new"}), 10),
        ];
        let found = vec![
            // Same fields (only bridge's label missing): labelled in place.
            unowned(
                "service",
                "web",
                Some(json!({"Name": "shop_web", "Labels": {"x": "y"}, "Image": "a:1", "Extra": 1})),
                None,
            ),
            // A field differs: an update that also sets the labels.
            unowned(
                "service",
                "api",
                Some(json!({"Name": "shop_api", "Image": "b:1"})),
                None,
            ),
            // Cannot be relabelled: replaced, saying why.
            unowned(
                "network",
                "default",
                None,
                Some("the engine cannot relabel a network"),
            ),
        ];
        let mut p = diff(&want, &[]);
        let none = adopt(&mut p, &want, &found, true);
        assert!(none.conflicts.is_empty());
        let by = |n: &str| {
            p.steps
                .iter()
                .find(|s| s.resource.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(by("web").action, Action::Adopt);
        assert_eq!(by("web").handle.as_deref(), Some("id-web"));
        assert_eq!(by("api").action, Action::Update);
        assert!(
            by("api").reason.contains("Image b:1 -> b:2"),
            "{}",
            by("api").reason
        );
        assert_eq!(by("default").action, Action::Replace);
        assert!(by("default").reason.contains("cannot relabel a network"));
        assert_eq!(by("default").handle.as_deref(), Some("id-default"));
        assert_eq!(by("new").action, Action::Create);
        assert!(
            p.render().ends_with(
                "plan: 1 to create, 1 to update, 1 to replace, 0 to delete, 1 to adopt\n"
            ),
            "{}",
            p.render()
        );

        // Without --adopt: still creates, each named as a conflict, nothing adopted.
        let mut q = diff(&want, &[]);
        let c = adopt(&mut q, &want, &found, false);
        assert_eq!(
            c.conflicts,
            vec![
                "network/default: shop_default",
                "service/api: shop_api",
                "service/web: shop_web"
            ]
        );
        assert!(q.steps.iter().all(|s| s.action == Action::Create));
        assert!(q.steps.iter().any(|s| {
            s.reason
                .contains("`shop_web` exists without bridge's labels")
        }));
    }
}
