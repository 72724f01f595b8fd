//! Address references in instance metadata, resolved at deploy time (the GCE translator leaves
//! `${vms.X.address}` and `${services.X.address}` in the user-data for the driver, as its ledger
//! says): a VM's address is its zonal internal DNS name
//! (`<instance>.<zone>.c.<project>.internal`, known before the VM exists, so nothing waits for
//! it); a service on the same host is its container's name on the host's docker network; a
//! service on other hosts is the first of them (in the solver's order). `$${` stands for a
//! literal `${`. The resolved addresses are folded into the spec hash, so an instance whose
//! addresses change is replaced (cloud-init runs at first boot only).

use std::collections::BTreeMap;

use bridge_core::hash::fnv1a64;
use bridge_core::refs::RefKind;
use bridge_translators::gce::{GceApp, LABEL_SPEC_HASH, resource_name};
use serde_json::Value;

/// Who runs what: the hosts (instance names, in order) of each service, the instance of each VM.
pub struct Addresses {
    project: String,
    zone: String,
    /// Service name -> instance names running it.
    services: BTreeMap<String, Vec<String>>,
    /// VM name -> instance name (its first replica).
    vms: BTreeMap<String, String>,
}

impl Addresses {
    /// From the translator's output.
    pub fn new(g: &GceApp, app: &bridge_core::model::App, project: &str) -> Self {
        let tag_of = |s: &str| resource_name(&format!("{}-{s}", app.name));
        let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut vms = BTreeMap::new();
        for i in &g.instances {
            if let Some(vm) = i.component.strip_prefix("vm-") {
                for name in app.vms.keys() {
                    if vm == name || vm == format!("{name}-0") {
                        vms.entry(name.clone()).or_insert_with(|| i.name.clone());
                    }
                }
                continue;
            }
            let tags = i.body.pointer("/tags/items").and_then(Value::as_array);
            for s in app.services.keys() {
                let t = tag_of(s);
                if tags.is_some_and(|tags| tags.iter().any(|x| x.as_str() == Some(t.as_str()))) {
                    services.entry(s.clone()).or_default().push(i.name.clone());
                }
            }
        }
        Addresses {
            project: project.to_string(),
            zone: g.zone.clone(),
            services,
            vms,
        }
    }

    fn dns(&self, instance: &str) -> String {
        // A project id with a domain (`example.com:proj`) is written `proj.example.com`.
        let project = match self.project.split_once(':') {
            Some((domain, id)) => format!("{id}.{domain}"),
            None => self.project.clone(),
        };
        format!("{instance}.{}.c.{project}.internal", self.zone)
    }

    /// `value` with its references resolved, seen from `instance`.
    pub fn resolve(&self, instance: &str, value: &str) -> String {
        bridge_core::refs::substitute(value, |kind, name| match kind {
            RefKind::Vms => self.vms.get(name).map(|i| self.dns(i)),
            RefKind::Services => self.services.get(name).and_then(|hosts| {
                if hosts.iter().any(|h| h == instance) {
                    Some(name.to_string())
                } else {
                    hosts.first().map(|h| self.dns(h))
                }
            }),
        })
    }

    /// Resolve the references in an instance body's metadata; when anything changed, fold the
    /// result into its spec hash (labels of the instance and its boot disk).
    pub fn apply(&self, body: &mut Value) {
        let name = body["name"].as_str().unwrap_or_default().to_string();
        let mut changed = String::new();
        if let Some(items) = body
            .pointer_mut("/metadata/items")
            .and_then(Value::as_array_mut)
        {
            for it in items {
                if let Some(v) = it.get("value").and_then(Value::as_str) {
                    let r = self.resolve(&name, v);
                    if r != v {
                        changed.push_str(&r);
                        it["value"] = Value::String(r);
                    }
                }
            }
        }
        if changed.is_empty() {
            return;
        }
        let old = body
            .pointer(&format!("/labels/{LABEL_SPEC_HASH}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let hash = Value::String(format!(
            "{:016x}",
            fnv1a64(format!("{old}/{changed}").as_bytes())
        ));
        if let Some(l) = body.get_mut("labels").and_then(Value::as_object_mut) {
            l.insert(LABEL_SPEC_HASH.into(), hash.clone());
        }
        if let Some(disks) = body.get_mut("disks").and_then(Value::as_array_mut) {
            for d in disks {
                if let Some(l) = d
                    .pointer_mut("/initializeParams/labels")
                    .and_then(Value::as_object_mut)
                {
                    l.insert(LABEL_SPEC_HASH.into(), hash.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Addresses {
        Addresses {
            project: "p1".into(),
            zone: "us-central1-a".into(),
            services: BTreeMap::from([("web".into(), vec!["shop-h1".into(), "shop-h2".into()])]),
            vms: BTreeMap::from([("db".into(), "shop-db".into())]),
        }
    }

    #[test]
    fn references_resolve_by_where_they_are_seen_from() {
        let a = addrs();
        assert_eq!(
            a.resolve("shop-h0", "'DB=${vms.db.address}:5432'"),
            "'DB=shop-db.us-central1-a.c.p1.internal:5432'"
        );
        assert_eq!(
            a.resolve("shop-h0", "${services.web.address}"),
            "shop-h1.us-central1-a.c.p1.internal"
        );
        assert_eq!(a.resolve("shop-h2", "${services.web.address}"), "web");
        assert_eq!(
            a.resolve("shop-h0", "$${vms.db.address} ${HOME} $"),
            "${vms.db.address} ${HOME} $"
        );
        assert_eq!(
            a.resolve("shop-h0", "${vms.nope.address}"),
            "${vms.nope.address}"
        );
    }

    #[test]
    fn domain_scoped_projects_use_the_dns_form() {
        let mut a = addrs();
        a.project = "example.com:shop".into();
        assert_eq!(a.dns("x"), "x.us-central1-a.c.shop.example.com.internal");
    }
}
