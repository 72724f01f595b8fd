//! The partition of an app by provider (DESIGN 5a): every component (service or VM) runs on its
//! `provider:`, else on the app's default provider (`--provider`, else `providers.default`, else
//! the only provider the app configures, else `swarm`). A component that cannot run where it is
//! placed (a VM on Swarm) is an error naming it and the fix: nothing is left out silently.
//!
//! The partition also knows the address references between components (`${vms.X.address}` and
//! `${services.X.address}` in env values and VM user data): they are the app's **late-bound
//! inputs**, named `vms.X.address` / `services.X.address`, whose values only a driver can report
//! once the producer exists. [`Partition::part`] gives a provider's part with the inputs resolved
//! so far written into the model, so the translators see the value and the spec hash follows it.

use std::collections::{BTreeMap, BTreeSet};

use crate::codes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{App, ProviderKind};
use crate::refs::{self, Ref, RefKind};
use crate::validate::ValidApp;

/// One component of an app.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// `services.NAME`.
    Service(String),
    /// `vms.NAME`.
    Vm(String),
}

impl Component {
    /// The component's name.
    pub fn name(&self) -> &str {
        match self {
            Component::Service(n) | Component::Vm(n) => n,
        }
    }

    /// The late-bound input that stands for this component's address: `vms.NAME.address`.
    pub fn address_input(&self) -> String {
        format!("{self}.address")
    }

    fn of_ref(kind: RefKind, name: &str) -> Self {
        match kind {
            RefKind::Vms => Component::Vm(name.to_string()),
            RefKind::Services => Component::Service(name.to_string()),
        }
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Component::Service(n) => write!(f, "services.{n}"),
            Component::Vm(n) => write!(f, "vms.{n}"),
        }
    }
}

/// One address reference: `consumer` reads `producer`'s address in `field`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The component whose value holds the reference.
    pub consumer: Component,
    /// The component whose address it needs.
    pub producer: Component,
    /// The field, e.g. `services.api.env.DB_HOST` or `vms.db.user_data`.
    pub field: String,
}

impl Reference {
    /// The input's name, `vms.db.address`.
    pub fn input(&self) -> String {
        self.producer.address_input()
    }
}

/// The app split by provider.
#[derive(Debug, Clone)]
pub struct Partition {
    valid: ValidApp,
    default: ProviderKind,
    placed: BTreeMap<Component, ProviderKind>,
    references: Vec<Reference>,
}

/// Whether a provider can run plain VMs. The drivers declare the same in their capabilities
/// (a test in the providers crate checks that they agree).
pub fn hosts_vms(p: ProviderKind) -> bool {
    p != ProviderKind::Swarm
}

/// The providers the app configures (`providers.aws`, `.gce`, `.openstack`, `.swarm` blocks).
pub fn configured(app: &App) -> Vec<ProviderKind> {
    let p = &app.providers;
    let mut out = Vec::new();
    if p.aws.is_some() {
        out.push(ProviderKind::Aws);
    }
    if p.gce.is_some() {
        out.push(ProviderKind::Gce);
    }
    if p.openstack.is_some() {
        out.push(ProviderKind::Openstack);
    }
    if p.swarm.is_some() {
        out.push(ProviderKind::Swarm);
    }
    out
}

/// The default provider: `cli` (`--provider`), else `providers.default`, else the only provider
/// configured, else `swarm`. Several configured and none chosen is an error when a component
/// has no `provider:` of its own.
pub fn default_provider(app: &App, cli: Option<ProviderKind>) -> Result<ProviderKind, Diagnostic> {
    if let Some(p) = cli.or(app.providers.default) {
        return Ok(p);
    }
    match configured(app).as_slice() {
        [] => Ok(ProviderKind::Swarm),
        [one] => Ok(*one),
        several => {
            let unpinned: Vec<String> = components(app)
                .into_iter()
                .filter(|(_, p)| p.is_none())
                .map(|(c, _)| c.to_string())
                .collect();
            if unpinned.is_empty() {
                // Every component names its provider: no default is needed.
                return Ok(several[0]);
            }
            let names: Vec<&str> = several.iter().map(ProviderKind::as_str).collect();
            Err(Diagnostic::error(
                codes::NO_DEFAULT_PROVIDER,
                format!(
                    "the app configures {} and {} has no `provider:`: which provider runs it is not said",
                    names.join(", "),
                    unpinned.join(", ")
                ),
            )
            .with_path("providers.default")
            .with_hint(format!(
                "pass `--provider {}` (or another), or set `providers.default`, or `provider:` on each component",
                names[0]
            )))
        }
    }
}

fn components(app: &App) -> Vec<(Component, Option<ProviderKind>)> {
    app.services
        .iter()
        .map(|(n, s)| (Component::Service(n.clone()), s.provider))
        .chain(
            app.vms
                .iter()
                .map(|(n, v)| (Component::Vm(n.clone()), v.provider)),
        )
        .collect()
}

/// Every address reference of the app, in component order.
pub fn references(app: &App) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut scan = |consumer: &Component, field: String, value: &str| {
        for (r, _) in refs::scan(value) {
            if let Ref::Address { kind, name } = r {
                out.push(Reference {
                    consumer: consumer.clone(),
                    producer: Component::of_ref(kind, name),
                    field: field.clone(),
                });
            }
        }
    };
    for (n, s) in &app.services {
        let c = Component::Service(n.clone());
        for (k, v) in &s.env.0 {
            scan(&c, format!("services.{n}.env.{k}"), v);
        }
    }
    for (n, v) in &app.vms {
        let c = Component::Vm(n.clone());
        if let Some(ud) = &v.user_data {
            scan(&c, format!("vms.{n}.user_data"), ud);
        }
    }
    out.sort();
    out.dedup();
    out
}

impl Partition {
    /// Split `valid` by provider, with `default` for components without `provider:`. Errors name
    /// every component that cannot run where it is placed.
    pub fn new(valid: &ValidApp, cli: Option<ProviderKind>) -> Result<Self, Diagnostics> {
        let app = valid.app();
        let default = default_provider(app, cli).map_err(|d| Diagnostics(vec![d]))?;
        let mut placed = BTreeMap::new();
        let mut errors = Diagnostics::new();
        for (c, pinned) in components(app) {
            let p = pinned.unwrap_or(default);
            if let Component::Vm(n) = &c
                && !hosts_vms(p)
            {
                let d = Diagnostic::error(
                    codes::CANNOT_HOST,
                    format!(
                        "vm `{n}` would run on {} (the default provider), which runs containers only",
                        p.as_str()
                    ),
                )
                .with_path(format!("vms.{n}"))
                .with_hint(format!(
                    "set `provider: aws`, `gce` or `openstack` on vms.{n}, or deploy with `--provider` one of those"
                ));
                errors.push(d);
                continue;
            }
            placed.insert(c, p);
        }
        if errors.has_errors() {
            return Err(errors);
        }
        Ok(Partition {
            valid: valid.clone(),
            default,
            placed,
            references: references(app),
        })
    }

    /// The app as validated.
    pub fn valid(&self) -> &ValidApp {
        &self.valid
    }

    /// The default provider.
    pub fn default_provider(&self) -> ProviderKind {
        self.default
    }

    /// Where each component runs: every component of the app exactly once.
    pub fn placement(&self) -> &BTreeMap<Component, ProviderKind> {
        &self.placed
    }

    /// The provider of one component.
    pub fn provider_of(&self, c: &Component) -> Option<ProviderKind> {
        self.placed.get(c).copied()
    }

    /// The providers the app runs on, in a stable order. An app with no components runs on its
    /// default provider (so `destroy` still finds what an earlier version left there).
    pub fn providers(&self) -> Vec<ProviderKind> {
        let set: BTreeSet<ProviderKind> = self.placed.values().copied().collect();
        if set.is_empty() {
            return vec![self.default];
        }
        set.into_iter().collect()
    }

    /// The components placed on `p`.
    pub fn components_on(&self, p: ProviderKind) -> Vec<&Component> {
        self.placed
            .iter()
            .filter(|(_, q)| **q == p)
            .map(|(c, _)| c)
            .collect()
    }

    /// Every address reference.
    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    /// The references whose consumer runs on `p`.
    pub fn references_on(&self, p: ProviderKind) -> impl Iterator<Item = &Reference> {
        self.references
            .iter()
            .filter(move |r| self.provider_of(&r.consumer) == Some(p))
    }

    /// Providers in an order in which producers come before their consumers where the
    /// references allow (a reference each way between two providers leaves them in name order).
    pub fn provider_order(&self) -> Vec<ProviderKind> {
        let ps = self.providers();
        let mut needs: BTreeMap<ProviderKind, BTreeSet<ProviderKind>> = BTreeMap::new();
        for r in &self.references {
            if let (Some(c), Some(p)) =
                (self.provider_of(&r.consumer), self.provider_of(&r.producer))
                && c != p
            {
                needs.entry(c).or_default().insert(p);
            }
        }
        let mut out: Vec<ProviderKind> = Vec::new();
        let mut left: Vec<ProviderKind> = ps;
        while !left.is_empty() {
            let ready = left.iter().position(|p| {
                needs
                    .get(p)
                    .is_none_or(|n| n.iter().all(|q| out.contains(q) || q == p))
            });
            let i = ready.unwrap_or(0);
            out.push(left.remove(i));
        }
        out
    }

    /// The part of the app that runs on `p`: the whole app with every component's `provider`
    /// set to where it runs (the translators take the components placed on their target and
    /// leave the rest to the other parts), and each address reference that `values` resolves
    /// written in. `values` maps an input (`vms.db.address`) to the address as the consumers
    /// on `p` reach it. A reference without a value stays as written: the translator treats it
    /// as its own (same-provider wiring) or the step that holds it waits.
    pub fn part(&self, p: ProviderKind, values: &BTreeMap<String, String>) -> ValidApp {
        let placed = &self.placed;
        self.valid.map_app(|app: &mut App| {
            let resolve = |kind: RefKind, name: &str| {
                values
                    .get(&Component::of_ref(kind, name).address_input())
                    .cloned()
            };
            for (n, s) in app.services.iter_mut() {
                let here = placed.get(&Component::Service(n.clone())).copied();
                s.provider = here;
                if here != Some(p) {
                    continue;
                }
                for v in s.env.0.values_mut() {
                    if v.contains("${") {
                        *v = refs::replace(v, resolve);
                    }
                }
            }
            for (n, vm) in app.vms.iter_mut() {
                let here = placed.get(&Component::Vm(n.clone())).copied();
                vm.provider = here;
                if here != Some(p) {
                    continue;
                }
                if let Some(ud) = vm.user_data.as_mut()
                    && ud.contains("${")
                {
                    *ud = refs::replace(ud, resolve);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::NoLocation;

    fn valid(yaml: &str) -> ValidApp {
        let loaded = crate::load::load_str(
            &std::sync::Arc::from("t.yaml"),
            yaml,
            std::path::Path::new("."),
            &crate::LoadOptions::default(),
        );
        let _ = NoLocation;
        match loaded.valid {
            Some(v) => v,
            None => panic!("invalid: {:?}", loaded.diagnostics),
        }
    }

    const HYBRID: &str = "bridge: v1\nname: h\nservices:\n  api:\n    image: x\n    env: {DB: '${vms.db.address}:5432', LIT: '$${vms.db.address}'}\n  web:\n    image: x\n    provider: aws\n    env: {API: '${services.api.address}'}\nvms:\n  db: {image: u, cpus: 1, memory: 1GiB, provider: openstack}\n";

    #[test]
    fn every_component_lands_on_exactly_one_provider() {
        let v = valid(HYBRID);
        let p = Partition::new(&v, Some(ProviderKind::Swarm)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.placement().len(), 3);
        assert_eq!(
            p.provider_of(&Component::Service("api".into())),
            Some(ProviderKind::Swarm)
        );
        assert_eq!(
            p.provider_of(&Component::Vm("db".into())),
            Some(ProviderKind::Openstack)
        );
        assert_eq!(
            p.providers(),
            vec![
                ProviderKind::Aws,
                ProviderKind::Openstack,
                ProviderKind::Swarm
            ]
        );
        // openstack produces for swarm, swarm for aws.
        assert_eq!(
            p.provider_order(),
            vec![
                ProviderKind::Openstack,
                ProviderKind::Swarm,
                ProviderKind::Aws
            ]
        );
    }

    #[test]
    fn a_vm_on_swarm_is_an_error_naming_it() {
        let v = valid("bridge: v1\nname: h\nvms:\n  db: {image: u, cpus: 1, memory: 1GiB}\n");
        let e = Partition::new(&v, Some(ProviderKind::Swarm)).err();
        let e = e.map(|d| d.0).unwrap_or_default();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "vms.db");
        assert!(e[0].message.contains("vm `db`"), "{}", e[0].message);
        assert!(Partition::new(&v, Some(ProviderKind::Gce)).is_ok());
    }

    #[test]
    fn default_is_cli_then_file_then_only_configured_then_swarm() {
        let v = valid("bridge: v1\nname: h\nservices: {a: {image: x}}\n");
        assert_eq!(default_provider(v.app(), None), Ok(ProviderKind::Swarm));
        let v = valid(
            "bridge: v1\nname: h\nservices: {a: {image: x}}\nproviders: {aws: {region: eu-west-1}}\n",
        );
        assert_eq!(default_provider(v.app(), None), Ok(ProviderKind::Aws));
        assert_eq!(
            default_provider(v.app(), Some(ProviderKind::Gce)),
            Ok(ProviderKind::Gce)
        );
        let v = valid(
            "bridge: v1\nname: h\nservices: {a: {image: x}}\nproviders: {aws: {region: eu-west-1}, gce: {project: p}}\n",
        );
        let e = default_provider(v.app(), None).err();
        assert!(e.is_some_and(|d| d.message.contains("services.a")));
        let v = valid(
            "bridge: v1\nname: h\nservices: {a: {image: x}}\nproviders: {default: gce, aws: {region: eu-west-1}, gce: {project: p}}\n",
        );
        assert_eq!(default_provider(v.app(), None), Ok(ProviderKind::Gce));
    }

    #[test]
    fn part_writes_resolved_inputs_for_its_own_consumers_only() {
        let v = valid(HYBRID);
        let p = Partition::new(&v, Some(ProviderKind::Swarm)).unwrap_or_else(|e| panic!("{e:?}"));
        let values = BTreeMap::from([("vms.db.address".to_string(), "10.0.0.9".to_string())]);
        let swarm = p.part(ProviderKind::Swarm, &values);
        let api = &swarm.app().services["api"];
        assert_eq!(api.env.0["DB"], "10.0.0.9:5432");
        assert_eq!(api.env.0["LIT"], "$${vms.db.address}");
        assert_eq!(api.provider, Some(ProviderKind::Swarm));
        assert_eq!(
            swarm.app().vms["db"].provider,
            Some(ProviderKind::Openstack)
        );
        // The aws part keeps its own unresolved reference as written.
        let aws = p.part(ProviderKind::Aws, &values);
        assert_eq!(
            aws.app().services["web"].env.0["API"],
            "${services.api.address}"
        );
        assert_eq!(
            aws.app().services["api"].env.0["DB"],
            "${vms.db.address}:5432"
        );
        assert_eq!(p.references().len(), 2);
    }
}
