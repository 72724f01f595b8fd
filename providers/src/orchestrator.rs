//! The orchestrator (DESIGN 1 and 5a): one app across several providers. It holds a driver per
//! provider the app uses (behind the object-safe [`DynDriver`]), the partition of the app, and
//! the **one resolver** of late-bound inputs: the address of a component (`vms.db.address`)
//! is read from the producer's driver ([`DynDriver::outputs`], i.e. from the peer) and written
//! into the consumer's part of the model before it is translated, so the rendered artifact, its
//! spec hash and what is sent all carry the resolved value, and a producer with a new address
//! updates its consumers.
//!
//! Apply goes in rounds: every step whose inputs are known is applied (per provider in rank
//! order, producers' providers first); a step that still waits for an input (its artifact holds
//! the unresolved reference) is held until a later round, after its producer exists and reports
//! the address. Each round plans afresh from what the providers hold, so a run killed at any
//! moment is resumed by the next one, with nothing applied twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bridge_core::model::ProviderKind;
use bridge_core::partition::Partition;
use bridge_core::plan::{Action, Current, Desired, Plan, ResourceId, adopt, diff};
use bridge_core::{Diagnostics, ValidApp};
use serde::Serialize;

use crate::engine::{self, ApplyOptions, ApplyReport, Event};
use crate::{Address, ComponentStatus, DriverError, DynDriver, ErrorKind, Readiness};

/// How a consumer on one provider reaches a producer on another: the producer's public (or
/// floating, external, node) address when it has one, else its private one (on one machine,
/// as in the tests, they are the same loopback or node address).
pub fn address_for(consumer: ProviderKind, producer: ProviderKind, a: &Address) -> Option<String> {
    if consumer == producer {
        a.private.clone().or_else(|| a.public.clone())
    } else {
        a.public.clone().or_else(|| a.private.clone())
    }
}

/// One late-bound input of the app and where its value stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Input {
    /// `vms.db.address`.
    pub name: String,
    /// The provider of the producer.
    pub from: ProviderKind,
    /// The provider of the consumer.
    pub to: ProviderKind,
    /// The fields that read it.
    pub fields: Vec<String>,
    /// The value, once the producer reports it (an address; never a secret).
    pub value: Option<String>,
    /// Wired by the consumer's own translator (same provider: Heat `get_attr`, GCE DNS).
    pub native: bool,
}

/// The plan of one provider's part.
#[derive(Debug, Clone, Serialize)]
pub struct PartPlan {
    /// The provider.
    pub provider: ProviderKind,
    /// Its steps.
    pub plan: Plan,
    /// Steps that wait for inputs not known yet: resource -> the inputs.
    pub held: BTreeMap<ResourceId, Vec<String>>,
    /// The translator's diagnostics for this part.
    pub diagnostics: Diagnostics,
    /// Resources whose name is taken by an object without the app's labels, when adoption was
    /// not asked for (`service/web: shop_web`): an apply refuses to start.
    pub unowned: Vec<String>,
}

impl PartPlan {
    /// The plan without the held steps: what can be applied now.
    pub fn ready(&self) -> Plan {
        Plan {
            steps: self
                .plan
                .steps
                .iter()
                .filter(|s| !self.held.contains_key(&s.resource))
                .cloned()
                .collect(),
        }
    }
}

/// The plan across every provider of the app.
#[derive(Debug, Clone, Serialize)]
pub struct HybridPlan {
    /// One part per provider, producers' providers first.
    pub parts: Vec<PartPlan>,
    /// The late-bound inputs.
    pub inputs: Vec<Input>,
}

impl HybridPlan {
    /// True when nothing would change on any provider.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|p| p.plan.is_empty())
    }

    /// Counts per action across providers: (create, update, replace, delete).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        self.parts.iter().fold((0, 0, 0, 0), |acc, p| {
            let (c, u, r, d) = p.plan.counts();
            (acc.0 + c, acc.1 + u, acc.2 + r, acc.3 + d)
        })
    }

    /// All diagnostics of the parts.
    pub fn diagnostics(&self) -> Diagnostics {
        let mut out = Diagnostics::new();
        for p in &self.parts {
            for d in &p.diagnostics.0 {
                out.push(d.clone());
            }
        }
        out
    }

    /// The plan for people, grouped by provider; a held step says what it waits for.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let several = self.parts.len() > 1;
        for p in &self.parts {
            let changes: Vec<_> = p.plan.changes().collect();
            if changes.is_empty() {
                continue;
            }
            if several {
                out.push_str(&format!("{}:\n", p.provider.as_str()));
            }
            for s in changes {
                let waits = p
                    .held
                    .get(&s.resource)
                    .map(|i| {
                        format!(
                            "; waits for {} (known after its producer is applied)",
                            i.join(", ")
                        )
                    })
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{:>3} {}  ({}{waits})\n",
                    s.action.symbol(),
                    s.resource,
                    s.reason
                ));
            }
        }
        let adopted = self.parts.iter().map(|p| p.plan.adopted()).sum();
        out.push_str(&bridge_core::plan::summary_line(self.counts(), adopted));
        out
    }

    /// The steps as JSON, each with its provider (and what it waits for).
    pub fn steps_json(&self) -> serde_json::Value {
        let mut out = Vec::new();
        for p in &self.parts {
            for s in &p.plan.steps {
                let mut v = serde_json::json!({
                    "provider": p.provider.as_str(),
                    "resource": s.resource.to_string(),
                    "action": s.action,
                    "reason": s.reason,
                });
                if let Some(i) = p.held.get(&s.resource) {
                    v["waits_for"] = serde_json::json!(i);
                }
                out.push(v);
            }
        }
        serde_json::Value::Array(out)
    }
}

/// One app, its partition and a driver per provider.
pub struct Orchestrator {
    app: String,
    partition: Partition,
    drivers: BTreeMap<ProviderKind, Box<dyn DynDriver>>,
    /// Between two rounds when an input is not reported yet.
    poll: Duration,
    /// Take over objects that have the app's names but not its labels (`deploy --adopt`).
    adopt: bool,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("app", &self.app)
            .field("providers", &self.drivers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What an apply across providers did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HybridReport {
    /// Steps applied per provider.
    pub applied: BTreeMap<String, usize>,
    /// Rounds it took (1 when no step waited for an input).
    pub rounds: usize,
    /// The plan of the first round (what was found to change).
    #[serde(skip)]
    pub first: Option<HybridPlan>,
}

impl Orchestrator {
    /// An orchestrator for `partition`, with a driver for each of its providers. `drivers` may
    /// hold more (providers an earlier version of the app used): their part is empty, so a
    /// deploy removes what is left there.
    pub fn new(
        partition: Partition,
        drivers: BTreeMap<ProviderKind, Box<dyn DynDriver>>,
    ) -> Result<Self, DriverError> {
        for p in partition.providers() {
            if !drivers.contains_key(&p) {
                return Err(DriverError::new(
                    "bridge",
                    "-",
                    ErrorKind::Other,
                    format!("no driver for {}", p.as_str()),
                ));
            }
        }
        for (p, d) in &drivers {
            if d.kind() != *p {
                return Err(DriverError::new(
                    "bridge",
                    "-",
                    ErrorKind::Other,
                    format!(
                        "the driver given for {} is {}",
                        p.as_str(),
                        d.kind().as_str()
                    ),
                ));
            }
        }
        Ok(Orchestrator {
            app: partition.valid().app().name.clone(),
            partition,
            drivers,
            poll: Duration::from_secs(2),
            adopt: false,
        })
    }

    /// Adopt (`deploy --adopt`): objects that have the names of the app's resources but not its
    /// labels are taken over (labelled in place where the provider can, else replaced) instead
    /// of refused.
    pub fn with_adopt(mut self, adopt: bool) -> Self {
        self.adopt = adopt;
        self
    }

    /// With another interval between rounds that wait for an address.
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The app's name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The partition.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// The driver of `p`.
    pub fn driver(&self, p: ProviderKind) -> Option<&dyn DynDriver> {
        self.drivers.get(&p).map(|d| d.as_ref())
    }

    /// Providers in apply order: producers first, then the rest, then those that only hold
    /// leftovers.
    pub fn order(&self) -> Vec<ProviderKind> {
        let mut out = self.partition.provider_order();
        for p in self.drivers.keys() {
            if !out.contains(p) {
                out.push(*p);
            }
        }
        out
    }

    fn in_app(&self, p: ProviderKind) -> bool {
        self.partition.providers().contains(&p)
    }

    /// Every provider reachable and set up? The first that is not, with what it lacks.
    pub async fn check(&self) -> Result<Vec<(ProviderKind, Readiness)>, DriverError> {
        let mut out = Vec::new();
        for p in self.order() {
            if let Some(d) = self.driver(p) {
                out.push((p, d.check().await?));
            }
        }
        Ok(out)
    }

    /// Check what the app refers to on each provider (secret ARNs, ...).
    pub async fn verify(&self) -> Result<(), DriverError> {
        let none = BTreeMap::new();
        for p in self.order() {
            if self.in_app(p)
                && let Some(d) = self.driver(p)
            {
                d.verify(&self.partition.part(p, &none)).await?;
            }
        }
        Ok(())
    }

    /// The late-bound inputs and their values as the producers report them now.
    pub async fn inputs(&self) -> Result<Vec<Input>, DriverError> {
        let mut by_input: BTreeMap<(String, ProviderKind), Input> = BTreeMap::new();
        let mut outputs: BTreeMap<ProviderKind, Vec<Address>> = BTreeMap::new();
        for r in self.partition.references() {
            let (Some(to), Some(from)) = (
                self.partition.provider_of(&r.consumer),
                self.partition.provider_of(&r.producer),
            ) else {
                continue;
            };
            let native = to == from && self.driver(to).is_some_and(|d| d.resolves_own_references());
            let mut value = None;
            if !native {
                if !outputs.contains_key(&from)
                    && let Some(d) = self.driver(from)
                {
                    outputs.insert(from, d.outputs(&self.app).await?);
                }
                let want = r.producer.to_string();
                value = outputs
                    .get(&from)
                    .and_then(|list| list.iter().find(|a| a.component == want))
                    .and_then(|a| address_for(to, from, a));
            }
            let e = by_input.entry((r.input(), to)).or_insert_with(|| Input {
                name: r.input(),
                from,
                to,
                fields: Vec::new(),
                value,
                native,
            });
            e.fields.push(r.field.clone());
        }
        Ok(by_input.into_values().collect())
    }

    /// The plan across providers: observe each, resolve the inputs, translate each part,
    /// diff, and add what each provider says about its changes.
    pub async fn plan(&self) -> Result<HybridPlan, DriverError> {
        let mut inputs = self.inputs().await?;
        let mut parts = Vec::new();
        for p in self.order() {
            let Some(d) = self.driver(p) else { continue };
            let observed: Vec<Current> = d.observe(&self.app).await?;
            let (desired, diagnostics) = if self.in_app(p) {
                let values: BTreeMap<String, String> = inputs
                    .iter()
                    .filter(|i| i.to == p)
                    .filter_map(|i| i.value.clone().map(|v| (i.name.clone(), v)))
                    .collect();
                let part = self.partition.part(p, &values);
                // Inputs the provider produces for itself (a secret's ARN), as just observed.
                for o in d.own_inputs(&part) {
                    inputs.push(Input {
                        name: o.name,
                        from: p,
                        to: p,
                        fields: o.fields,
                        value: o.value,
                        native: false,
                    });
                }
                d.desired(&part)
            } else {
                (Vec::new(), Diagnostics::new())
            };
            if diagnostics.has_errors() {
                return Err(DriverError::new(
                    p.as_str(),
                    "-",
                    ErrorKind::Unsatisfiable,
                    format!(
                        "the app cannot be translated for {}: {}",
                        p.as_str(),
                        diagnostics
                            .0
                            .iter()
                            .filter(|d| d.severity == bridge_core::Severity::Error)
                            .map(|d| format!("{}: {}", d.path, d.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                ));
            }
            let mut plan = diff(&desired, &observed);
            // What would be created may exist already without the app's labels.
            let creates: Vec<Desired> = desired
                .iter()
                .filter(|x| {
                    plan.steps
                        .iter()
                        .any(|s| s.resource == x.id && s.action == Action::Create)
                })
                .cloned()
                .collect();
            let mut unowned = Vec::new();
            if !creates.is_empty() {
                let found = d.unowned(&self.app, &creates).await?;
                unowned = adopt(&mut plan, &desired, &found, self.adopt).conflicts;
            }
            d.explain(&self.app, &mut plan).await?;
            let unresolved: Vec<&Input> = inputs
                .iter()
                .filter(|i| i.to == p && !i.native && i.value.is_none())
                .collect();
            let mut held = BTreeMap::new();
            if !unresolved.is_empty() {
                for s in plan.changes() {
                    let Some(after) = &s.after else { continue };
                    let text = after.to_string();
                    let waits: Vec<String> = unresolved
                        .iter()
                        .filter(|i| text.contains(&i.name))
                        .map(|i| format!("{} from {}", i.name, i.from.as_str()))
                        .collect();
                    if !waits.is_empty() {
                        held.insert(s.resource.clone(), waits);
                    }
                }
                // The driver's order stands: what comes after a held step (a higher rank, or
                // a deletion, which goes last) waits with it.
                if let Some((rank, first)) = plan
                    .changes()
                    .filter(|s| held.contains_key(&s.resource))
                    .map(|s| (s.rank, s.resource.clone()))
                    .min()
                {
                    for s in plan.changes() {
                        if !held.contains_key(&s.resource)
                            && (s.rank > rank || s.action == bridge_core::plan::Action::Delete)
                        {
                            held.insert(s.resource.clone(), vec![format!("{first} first")]);
                        }
                    }
                }
            }
            parts.push(PartPlan {
                provider: p,
                plan,
                held,
                diagnostics,
                unowned,
            });
        }
        Ok(HybridPlan { parts, inputs })
    }

    /// Apply until every part is as desired: rounds of [`Orchestrator::plan`] and the steps it
    /// can apply, until no step waits for an input. A producer that exists but does not report
    /// its address within `opts.timeout` is an error naming the input.
    pub async fn apply(
        &self,
        opts: &ApplyOptions,
        on: &(dyn Fn(ProviderKind, &Event) + Sync),
    ) -> Result<HybridReport, DriverError> {
        let mut report = HybridReport::default();
        let started = Instant::now();
        loop {
            let plan = self.plan().await?;
            if let Some(part) = plan.parts.iter().find(|p| !p.unowned.is_empty()) {
                return Err(DriverError::new(
                    part.provider.as_str(),
                    part.unowned[0].split(':').next().unwrap_or("-"),
                    ErrorKind::Conflict,
                    format!(
                        "exists without bridge's labels (made outside bridge), so it is not the app's to change: {}",
                        part.unowned.join(", ")
                    ),
                )
                .with_hint("`bridge deploy --adopt` takes it over (see `bridge plan --adopt`); or remove it, or rename the app"));
            }
            if report.first.is_none() {
                report.first = Some(plan.clone());
            }
            report.rounds += 1;
            let mut applied_now = 0;
            for part in &plan.parts {
                let ready = part.ready();
                if ready.is_empty() {
                    continue;
                }
                let Some(d) = self.driver(part.provider) else {
                    continue;
                };
                let on_p = |e: &Event| on(part.provider, e);
                let r: ApplyReport = engine::apply_plan(d, &self.app, &ready, opts, &on_p).await?;
                applied_now += r.applied;
                *report
                    .applied
                    .entry(part.provider.as_str().to_string())
                    .or_default() += r.applied;
            }
            let waiting: Vec<(ProviderKind, &ResourceId, &Vec<String>)> = plan
                .parts
                .iter()
                .flat_map(|p| p.held.iter().map(move |(r, i)| (p.provider, r, i)))
                .collect();
            // A producer that was just created or replaced may report a new address: plan
            // again until a round changes nothing, so its consumers follow it.
            let reads_inputs = plan.inputs.iter().any(|i| !i.native);
            if waiting.is_empty() && (applied_now == 0 || !reads_inputs) {
                return Ok(report);
            }
            if waiting.is_empty() {
                continue;
            }
            if applied_now == 0 && started.elapsed() > opts.timeout {
                let (p, r, i) = waiting[0];
                return Err(DriverError::new(
                    p.as_str(),
                    r.to_string(),
                    ErrorKind::Timeout,
                    format!(
                        "waited {}s for {}: the producer reports no address",
                        opts.timeout.as_secs(),
                        i.join(", ")
                    ),
                )
                .with_hint("check that the producer was created and runs (bridge status); its provider must report an address for it"));
            }
            if applied_now == 0 {
                tokio::time::sleep(self.poll).await;
            }
        }
    }

    /// Wait until every workload of the app runs (and is healthy where it has a check), on
    /// every provider.
    pub async fn wait_all(
        &self,
        opts: &ApplyOptions,
        on: &(dyn Fn(ProviderKind, &Event) + Sync),
    ) -> Result<(), DriverError> {
        let plan = self.plan().await?;
        for part in &plan.parts {
            if let Some(d) = self.driver(part.provider) {
                let on_p = |e: &Event| on(part.provider, e);
                engine::wait_all(d, &self.app, &part.plan, opts, &on_p).await?;
            }
        }
        Ok(())
    }

    /// Per provider, per component: desired, running, health, errors.
    pub async fn status(&self) -> Result<Vec<(ProviderKind, Vec<ComponentStatus>)>, DriverError> {
        let mut out = Vec::new();
        for p in self.order() {
            if let Some(d) = self.driver(p) {
                out.push((p, d.status(&self.app).await?));
            }
        }
        Ok(out)
    }

    /// Remove everything labelled for the app on every provider, consumers' providers first
    /// (the reverse of the apply order), then each driver's other traces. Tolerates absence.
    pub async fn destroy(
        &self,
        opts: &ApplyOptions,
        on: &(dyn Fn(ProviderKind, &Event) + Sync),
    ) -> Result<HybridPlan, DriverError> {
        let mut parts = Vec::new();
        for p in self.order().into_iter().rev() {
            let Some(d) = self.driver(p) else { continue };
            let on_p = |e: &Event| on(p, e);
            let plan = engine::destroy(d, &self.app, opts, &on_p).await?;
            parts.push(PartPlan {
                provider: p,
                plan,
                held: BTreeMap::new(),
                diagnostics: Diagnostics::new(),
                unowned: Vec::new(),
            });
        }
        Ok(HybridPlan {
            parts,
            inputs: Vec::new(),
        })
    }

    /// Observe every provider (handles for the state store's cache).
    pub async fn observe(&self) -> Result<Vec<(ProviderKind, Vec<Current>)>, DriverError> {
        let mut out = Vec::new();
        for p in self.order() {
            if let Some(d) = self.driver(p) {
                out.push((p, d.observe(&self.app).await?));
            }
        }
        Ok(out)
    }
}

/// The providers named in a history row's provider field (`aws+openstack`).
pub fn providers_in(s: &str) -> Vec<ProviderKind> {
    s.split('+')
        .filter_map(|n| ProviderKind::ALL.into_iter().find(|p| p.as_str() == n))
        .collect()
}

/// The provider field of a history row for these providers (`aws+openstack`).
pub fn providers_label(ps: &[ProviderKind]) -> String {
    let set: BTreeSet<&str> = ps.iter().map(ProviderKind::as_str).collect();
    set.into_iter().collect::<Vec<_>>().join("+")
}

/// A progress callback for drivers that report progress lines (Heat's events).
pub type ProgressFn = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Connect the driver of `p` for `app` (relative files read from `base_dir`). Makes no write;
/// a provider whose cargo feature is off says so with a hint.
pub async fn connect(
    p: ProviderKind,
    app: &ValidApp,
    base_dir: PathBuf,
    progress: Option<ProgressFn>,
) -> Result<Box<dyn DynDriver>, DriverError> {
    connect_with(p, app, base_dir, progress, None).await
}

/// [`connect`] with a bound on how long the driver's own operations may wait (the `--timeout` of
/// deploy, destroy and reconcile): Heat's stack operations and its servers' health wait
/// conditions. None: the driver's default.
pub async fn connect_with(
    p: ProviderKind,
    app: &ValidApp,
    base_dir: PathBuf,
    progress: Option<ProgressFn>,
    timeout: Option<Duration>,
) -> Result<Box<dyn DynDriver>, DriverError> {
    let _ = (&app, &base_dir, &progress, &timeout);
    match p {
        #[cfg(feature = "swarm")]
        ProviderKind::Swarm => Ok(Box::new(
            crate::swarm::SwarmDriver::connect_to(
                app.app()
                    .providers
                    .swarm
                    .as_ref()
                    .and_then(|s| s.endpoint.as_deref()),
                base_dir,
            )
            .await?,
        )),
        #[cfg(feature = "aws")]
        ProviderKind::Aws => Ok(Box::new(
            crate::aws::AwsDriver::connect(app, base_dir).await?,
        )),
        #[cfg(feature = "gce")]
        ProviderKind::Gce => Ok(Box::new(crate::gce::GceDriver::connect(
            app.app().providers.gce.as_ref(),
            base_dir,
        )?)),
        #[cfg(feature = "openstack")]
        ProviderKind::Openstack => {
            let mut d = crate::openstack::OpenstackDriver::for_app(base_dir, app)?;
            if let Some(t) = timeout {
                d = d.with_stack_timeout(t);
            }
            Ok(Box::new(match progress {
                Some(f) => d.with_progress(f),
                None => d,
            }))
        }
        #[allow(unreachable_patterns)]
        other => {
            let name = other.as_str();
            Err(DriverError::new(
                other.as_str(),
                "-",
                ErrorKind::Other,
                format!("this bridge was built without the `{name}` feature"),
            )
            .with_hint(format!("cargo build --features {name}")))
        }
    }
}
