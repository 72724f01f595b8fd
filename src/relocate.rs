//! `bridge move`: an app's components on one provider (A) moved to another (B) as a resumable
//! state machine whose phases are history rows (command `move`, the phase in the row's plan):
//! `planned`, `deployed-B`, `B-healthy`, `cut-over`, `A-removed`, `done`; and for `--rollback`
//! `A-restored`, `B-removed`, `rolled-back`. A row is begun when its phase starts and finished
//! `ok` when the phase is reached, so a run killed with `kill -9` leaves it `running` (made
//! `interrupted` when the next run takes the dead holder's lock). Every phase's work is
//! idempotent and planned afresh from the peers (as deploy does), so a rerun walks the phases
//! again and picks up where the peers stand; B's health is checked again on every run, so A
//! is never removed before B is healthy.
//!
//! Named volumes are reported. Between two Docker engines (Swarm to Swarm, `--as` for a second
//! name on one engine) their data is copied in the phase `data-copied`, before B's services
//! start; any other pair moves no data, so a move whose components on A use a volume is refused
//! unless `--no-data`, naming each. Secrets move by
//! reference: B's driver creates them from their `env`/`file` source, nothing is read back
//! from A. With a DNS cut-over declared (`move.cutover.dns`: a Route 53 record), the `cut-over`
//! phase points the record at B's address for the component (its previous sets recorded in
//! the phase's row before the change is sent, so a rerun or `--rollback` knows them), waits
//! for the change to be INSYNC, and A is removed; `--rollback` puts the previous sets back
//! (`cut-back`) before B is removed. With none, the move stops once B is healthy and prints B's
//! endpoints; `--remove-source` (a second run) removes A, `--keep` ends the move leaving A.
//! `--endpoint` names B's Docker engine for a Swarm-to-Swarm move between two engines.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use bridge_core::ValidApp;
use bridge_core::model::{MountKind, ProviderKind};
use bridge_core::partition::{Component, Partition};
use bridge_core::state::{Actor, Store};
use bridge_providers::engine::{self, ApplyOptions, Event};
use bridge_providers::orchestrator::{self, HybridPlan, Orchestrator};
use bridge_providers::{DynDriver, Readiness};

use crate::lifecycle::{
    self, DeployProvider, LifecycleArgs, Progress, acquire, emit_json, fail, release,
};
use crate::output::{EXIT_INVALID, EXIT_OK};

/// What `bridge move` was asked.
#[derive(Debug)]
pub struct MoveOp {
    /// The provider the components leave (default: the recorded move's, else the only one).
    pub from: Option<DeployProvider>,
    /// The provider they go to (default: the recorded move's).
    pub to: Option<DeployProvider>,
    /// End the move without removing A.
    pub keep: bool,
    /// Remove A once B is healthy although no cut-over is declared.
    pub remove_source: bool,
    /// Return to A and remove B.
    pub rollback: bool,
    /// Move although named volumes' data stays behind on A.
    pub no_data: bool,
    /// Create a local swarm when B is swarm and none is active.
    pub yes: bool,
    /// How long B may take to become healthy (and each wait).
    pub timeout: Duration,
    /// The app's name on B (a second deployment on the same engine, e.g. Swarm to Swarm).
    pub rename: Option<String>,
    /// B's Docker engine (`--to swarm` only): `unix:///path` or `tcp://host:port`.
    pub endpoint: Option<String>,
}

/// The move as recorded in history.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Recorded {
    from: ProviderKind,
    to: ProviderKind,
    phase: String,
    rename: Option<String>,
    endpoint: Option<String>,
}

const FINAL: [&str; 2] = ["done", "rolled-back"];

fn kind(name: &str) -> Option<ProviderKind> {
    ProviderKind::ALL.into_iter().find(|p| p.as_str() == name)
}

/// The app's latest move in the state store, if one is recorded.
fn last_move(store: &Store, app: &str) -> Result<Option<Recorded>> {
    for d in store.history(app, 200)? {
        if d.command != "move" {
            continue;
        }
        let m = &d.plan["move"];
        let (Some(from), Some(to)) = (
            m["from"].as_str().and_then(kind),
            m["to"].as_str().and_then(kind),
        ) else {
            continue;
        };
        return Ok(Some(Recorded {
            from,
            to,
            phase: m["phase"].as_str().unwrap_or_default().to_string(),
            rename: m["as"].as_str().map(str::to_string),
            endpoint: m["endpoint"].as_str().map(str::to_string),
        }));
    }
    Ok(None)
}

/// When the app's latest move is done (not under another name) and `partition` places its
/// components on the move's source and none on its destination: why a deploy must not go on.
pub fn moved_from(state: &std::path::Path, app: &str, partition: &Partition) -> Option<String> {
    if !state.exists() {
        return None;
    }
    let store = Store::open(state).ok()?;
    let m = last_move(&store, app).ok()??;
    let ps = partition.providers();
    if let Some(b) = &m.endpoint
        && m.phase == "done"
        && m.rename.is_none()
        && ps.contains(&ProviderKind::Swarm)
        && swarm_endpoint(partition.valid()) != *b
    {
        return Some(format!(
            "{app} was moved to the Docker engine at {b} (bridge move --endpoint): this would deploy it on {} again\n  hint: set `providers.swarm.endpoint: {b}` in the file (or DOCKER_HOST={b})",
            swarm_endpoint(partition.valid())
        ));
    }
    (m.phase == "done" && m.rename.is_none() && ps.contains(&m.from) && !ps.contains(&m.to)).then(|| {
        format!(
            "{app} was moved from {from} to {to} (bridge move): this would deploy it on {from} again and remove it from {to} without a health gate\n  hint: deploy with `-p {to}` (or set `providers.default: {to}` in the file); to move it back, `bridge move --from {to} --to {from}`",
            from = m.from.as_str(),
            to = m.to.as_str()
        )
    })
}

/// The Docker engine the app's Swarm part goes to: `providers.swarm.endpoint`, else
/// DOCKER_HOST, else the local socket.
fn swarm_endpoint(app: &ValidApp) -> String {
    app.app()
        .providers
        .swarm
        .as_ref()
        .and_then(|s| s.endpoint.clone())
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

/// The record sets the open move's first `cut-over` row recorded as the record's before the
/// cut-over (None when no cut-over of this move began).
fn recorded_previous(store: &Store, app: &str) -> Result<Option<serde_json::Value>> {
    let mut out = None;
    for d in store.history(app, 200)? {
        let Some(p) = d.plan["move"]["phase"].as_str() else {
            continue;
        };
        if FINAL.contains(&p) {
            break;
        }
        if p == "cut-over"
            && let Some(prev) = d.plan["steps"]["dns"].get("previous")
        {
            out = Some(prev.clone());
        }
    }
    Ok(out)
}

/// True when the open (latest, not final) move of `app` reached `phase`.
fn reached(store: &Store, app: &str, phase: &str) -> Result<bool> {
    for d in store.history(app, 200)? {
        let Some(p) = d.plan["move"]["phase"].as_str() else {
            continue;
        };
        if FINAL.contains(&p) {
            return Ok(false);
        }
        if p == phase && d.result == "ok" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The app with every component that runs on `from` placed on `to`, the others where they
/// are, named `name`; its Swarm part on the engine `endpoint` when given.
fn moved_app(
    src: &Partition,
    from: ProviderKind,
    to: ProviderKind,
    name: &str,
    endpoint: Option<&str>,
) -> ValidApp {
    let placed = src.placement().clone();
    let at = move |c: Component| {
        placed
            .get(&c)
            .map(|p| if *p == from { to } else { *p })
            .unwrap_or(to)
    };
    src.valid().map_app(|app| {
        app.name = name.to_string();
        if let Some(e) = endpoint {
            app.providers.swarm.get_or_insert_default().endpoint = Some(e.to_string());
        }
        for (n, s) in app.services.iter_mut() {
            s.provider = Some(at(Component::Service(n.clone())));
        }
        for (n, v) in app.vms.iter_mut() {
            v.provider = Some(at(Component::Vm(n.clone())));
        }
    })
}

/// The named volumes (bridge-managed, not external) that components on `from` mount: volume ->
/// the components.
pub fn volumes_on(src: &Partition, from: ProviderKind) -> BTreeMap<String, Vec<String>> {
    let app = src.valid().app();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, s) in &app.services {
        if src.provider_of(&Component::Service(n.clone())) != Some(from) {
            continue;
        }
        for m in &s.volumes {
            let (MountKind::Volume, Some(v)) = (&m.kind, &m.source) else {
                continue;
            };
            if app.volumes.get(v).is_some_and(|d| !d.external) {
                out.entry(v.clone())
                    .or_default()
                    .push(format!("services.{n}"));
            }
        }
    }
    out
}

/// Run `bridge move`.
pub fn run(args: &LifecycleArgs, op: MoveOp, json: bool) -> Result<ExitCode> {
    lifecycle::init_tracing();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(args, op, json))
}

fn say(json: bool, event: serde_json::Value, text: &str) {
    if json {
        emit_json(&event);
    } else {
        eprintln!("{text}");
    }
}

async fn connect_all(
    args: &LifecycleArgs,
    valid: &ValidApp,
    partition: &Partition,
    json: bool,
    timeout: Duration,
) -> Result<BTreeMap<ProviderKind, Box<dyn DynDriver>>> {
    let progress: orchestrator::ProgressFn = std::sync::Arc::new(move |line: &str| {
        if json {
            emit_json(&serde_json::json!({"event": "progress", "message": line}));
        } else {
            eprintln!("  {line}");
        }
    });
    let mut drivers = BTreeMap::new();
    for p in partition.providers() {
        let d = orchestrator::connect_with(
            p,
            valid,
            lifecycle::base_dir(&args.file),
            Some(progress.clone()),
            Some(timeout),
        )
        .await?;
        drivers.insert(p, d);
    }
    Ok(drivers)
}

async fn run_async(args: &LifecycleArgs, op: MoveOp, json: bool) -> Result<ExitCode> {
    let valid = match lifecycle::load(args, json)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let app = valid.app().name.clone();
    let (store, actor) = match acquire(args, &app, "move", json) {
        Ok(x) => x,
        Err(e) => return Ok(fail(json, &e)),
    };
    let r = moving(args, &valid, &store, &actor, op, json).await;
    release(&store, &app, &actor)?;
    match r {
        Ok(code) => Ok(code),
        Err(e) => Ok(fail(json, &e)),
    }
}

/// One phase's history row: begun now, finished by [`Phase::reached`] or [`Phase::failed`].
struct Phase<'a> {
    store: &'a Mutex<Store>,
    id: i64,
    json: bool,
    name: &'static str,
}

struct Ctx<'a> {
    store: &'a Mutex<Store>,
    actor: &'a Actor,
    app: &'a str,
    rename: Option<String>,
    endpoint: Option<String>,
    label: String,
    from: ProviderKind,
    to: ProviderKind,
    rollback: bool,
    json: bool,
}

impl Ctx<'_> {
    fn begin(&self, name: &'static str, steps: serde_json::Value) -> Result<Phase<'_>> {
        let s = self
            .store
            .lock()
            .map_err(|_| anyhow!("state store lock poisoned"))?;
        let id = s.begin(
            self.app,
            &self.label,
            self.actor,
            &serde_json::json!({
                "move": {"from": self.from.as_str(), "to": self.to.as_str(), "phase": name, "rollback": self.rollback, "as": self.rename, "endpoint": self.endpoint},
                "steps": steps,
            }),
        )?;
        say(
            self.json,
            serde_json::json!({"event": "phase", "phase": name, "state": "started", "from": self.from.as_str(), "to": self.to.as_str()}),
            &format!(
                "move {} -> {}: {name} ...",
                self.from.as_str(),
                self.to.as_str()
            ),
        );
        Ok(Phase {
            store: self.store,
            id,
            json: self.json,
            name,
        })
    }
}

impl Phase<'_> {
    fn reached(self) -> Result<()> {
        let s = self
            .store
            .lock()
            .map_err(|_| anyhow!("state store lock poisoned"))?;
        s.finish(self.id, true, None)?;
        say(
            self.json,
            serde_json::json!({"event": "phase", "phase": self.name, "state": "reached"}),
            &format!("  {}: reached", self.name),
        );
        Ok(())
    }

    fn failed(self, e: &dyn std::fmt::Display) -> Result<()> {
        let s = self
            .store
            .lock()
            .map_err(|_| anyhow!("state store lock poisoned"))?;
        s.finish(self.id, false, Some(&e.to_string()))?;
        Ok(())
    }
}

/// Run `f`, finishing the phase's row by its outcome.
async fn phase<T, E: std::fmt::Display>(
    p: Phase<'_>,
    f: impl std::future::Future<Output = std::result::Result<T, E>>,
) -> Result<std::result::Result<T, E>> {
    let r = f.await;
    match &r {
        Ok(_) => p.reached()?,
        Err(e) => p.failed(e)?,
    }
    Ok(r)
}

/// What removing `p`'s part deletes: everything observed there for the app.
async fn removal_plan(orch: &Orchestrator, p: ProviderKind) -> Result<HybridPlan> {
    Ok(lifecycle::removal_preview(orch, Some(p)).await?)
}

fn show_plan(json: bool, side: &str, p: ProviderKind, plan: &HybridPlan, title: &str) {
    if json {
        emit_json(&serde_json::json!({
            "event": "plan", "side": side, "provider": p.as_str(),
            "empty": plan.is_empty(), "steps": plan.steps_json(),
        }));
    } else {
        println!("{title}");
        for line in plan.render().lines() {
            println!("  {line}");
        }
    }
}

/// Check the providers of `orch` are set up (a swarm is created with `--yes`), verify, and
/// refuse a part the translator cannot render.
async fn ready(orch: &Orchestrator, yes: bool, json: bool) -> Result<Option<ExitCode>> {
    for (p, readiness) in orch.check().await? {
        if let Readiness::NotInitialised(what) = readiness {
            if !yes {
                return Err(anyhow!(
                    "{}: {what}\n  hint: run `bridge move --yes` to create it, or set it up yourself",
                    p.as_str()
                ));
            }
            if let Some(d) = orch.driver(p) {
                d.initialise().await?;
            }
        }
    }
    orch.verify().await?;
    let diags = lifecycle::part_diagnostics(orch);
    if diags.has_errors() {
        lifecycle::invalid(json, &diags, &Default::default());
        return Ok(Some(ExitCode::from(EXIT_INVALID)));
    }
    if !diags.is_empty() && !json {
        lifecycle::print_diags(&diags, &Default::default());
    }
    Ok(None)
}

async fn endpoints(orch: &Orchestrator, to: ProviderKind, json: bool) -> Result<()> {
    let Some(d) = orch.driver(to) else {
        return Ok(());
    };
    let list = d.outputs(orch.app()).await?;
    if json {
        emit_json(
            &serde_json::json!({"event": "endpoints", "provider": to.as_str(), "endpoints": list}),
        );
        return Ok(());
    }
    println!("{} endpoints on {}:", orch.app(), to.as_str());
    if list.is_empty() {
        println!("  (none reported)");
    }
    for a in list {
        println!(
            "  {:<24} private {:<24} public {}",
            a.component,
            a.private.as_deref().unwrap_or("-"),
            a.public.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

async fn moving(
    args: &LifecycleArgs,
    valid: &ValidApp,
    store: &Mutex<Store>,
    actor: &Actor,
    op: MoveOp,
    json: bool,
) -> Result<ExitCode> {
    let app = valid.app().name.clone();
    let recorded = {
        let s = store
            .lock()
            .map_err(|_| anyhow!("state store lock poisoned"))?;
        last_move(&s, &app)?
    };
    let open = recorded
        .clone()
        .filter(|r| !FINAL.contains(&r.phase.as_str()));
    let from_cli = op.from.map(ProviderKind::from);
    let to_cli = op.to.map(ProviderKind::from);
    // The source: --from, else the open move's, else where the app runs (only one provider).
    let src_default = from_cli
        .or(open.as_ref().map(|r| r.from))
        .or(args.provider.map(ProviderKind::from));
    let src = match Partition::new(valid, src_default) {
        Ok(p) => p,
        Err(diags) => {
            lifecycle::invalid(json, &diags, &Default::default());
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let from = match src_default {
        Some(p) => p,
        None => match src.providers().as_slice() {
            [one] => *one,
            several => {
                return Err(anyhow!(
                    "{app} runs on {}: say which provider its components leave\n  hint: bridge move --from {} --to ...",
                    orchestrator::providers_label(several),
                    several[0].as_str()
                ));
            }
        },
    };
    let Some(to) = to_cli.or(open.as_ref().map(|r| r.to)) else {
        return Err(anyhow!(
            "no destination: pass --to aws|gce|openstack|swarm (no move of {app} is in progress)"
        ));
    };
    let rename = op
        .rename
        .clone()
        .or(open.as_ref().and_then(|r| r.rename.clone()));
    let endpoint = op
        .endpoint
        .clone()
        .or(open.as_ref().and_then(|r| r.endpoint.clone()));
    if endpoint.is_some() && to != ProviderKind::Swarm {
        return Err(anyhow!(
            "--endpoint names B's Docker engine: it goes with --to swarm, not --to {}",
            to.as_str()
        ));
    }
    if let Some(e) = &endpoint
        && !["unix://", "tcp://", "http://"]
            .iter()
            .any(|p| e.starts_with(p) && e.len() > p.len())
    {
        return Err(anyhow!(
            "--endpoint `{e}` is not a Docker engine endpoint\n  hint: unix:///path/docker.sock or tcp://host:port"
        ));
    }
    let b_name = rename.clone().unwrap_or_else(|| app.clone());
    if let Some(problem) = bridge_core::validate::dns_label_problem(&b_name) {
        return Err(anyhow!(
            "--as `{b_name}`: the app name {problem}\n  hint: a lower-case DNS label such as `{app}-b`"
        ));
    }
    let other_engine = endpoint
        .as_ref()
        .is_some_and(|e| from == ProviderKind::Swarm && *e != swarm_endpoint(valid));
    if from == to && b_name == app && !other_engine {
        if let Some(e) = &endpoint {
            return Err(anyhow!(
                "{app}: --endpoint {e} is the engine A runs on: nothing to move\n  hint: name B's engine with --endpoint, or set A's with `providers.swarm.endpoint` (or DOCKER_HOST)"
            ));
        }
        return Err(anyhow!(
            "{app}: --from and --to are both {}: nothing to move\n  hint: to run a second copy on the same provider and move to it, pass `--as NEW-NAME`",
            to.as_str()
        ));
    }
    if let Some(r) = &open
        && (r.from != from || r.to != to || r.rename != rename || r.endpoint != endpoint)
    {
        return Err(anyhow!(
            "a move of {app} from {} to {} is in progress (phase {})\n  hint: finish it (`bridge move --to {}`) or roll it back (`bridge move --rollback`) first",
            r.from.as_str(),
            r.to.as_str(),
            r.phase,
            r.to.as_str()
        ));
    }
    if let Some(r) = &open {
        say(
            json,
            serde_json::json!({"event": "resume", "from": from.as_str(), "to": to.as_str(), "phase": r.phase}),
            &format!(
                "resuming the move of {app} from {} to {} (last phase: {})",
                from.as_str(),
                to.as_str(),
                r.phase
            ),
        );
    }
    if !src.providers().contains(&from) {
        return Err(anyhow!(
            "{app} has no component on {}\n  hint: --from names where the components run now",
            from.as_str()
        ));
    }
    // The declared cut-over: its component must be one that moves.
    let declared = match cutover_component(args, valid, &src, from, json, op.rollback) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let moved = moved_app(&src, from, to, &b_name, endpoint.as_deref());
    let dst = match Partition::new(&moved, Some(to)) {
        Ok(p) => p,
        Err(diags) => {
            lifecycle::invalid(json, &diags, &Default::default());
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let src_orch = Orchestrator::new(
        src.clone(),
        connect_all(args, valid, &src, json, op.timeout).await?,
    )?;
    let dst_orch = Orchestrator::new(
        dst.clone(),
        connect_all(args, &moved, &dst, json, op.timeout).await?,
    )?;
    let mut all = src.providers();
    all.extend(dst.providers());
    let ctx = Ctx {
        store,
        actor,
        app: &app,
        rename: rename.clone(),
        endpoint: endpoint.clone(),
        label: orchestrator::providers_label(&all),
        from,
        to,
        rollback: op.rollback,
        json,
    };
    let opts = ApplyOptions {
        timeout: op.timeout,
        ..ApplyOptions::default()
    };
    let several = src.providers().len().max(dst.providers().len()) > 1;
    // The declared cut-over's zone must exist.
    let dns = match declared {
        Some((d, label)) => Some(zone_target(args, d, label).await?),
        None => None,
    };
    if op.rollback {
        return rollback(
            &ctx,
            &src_orch,
            &dst_orch,
            &opts,
            op.yes,
            several,
            dns.as_ref(),
        )
        .await;
    }

    // Volumes: each reported; their data is copied between two Docker engines only.
    let volumes = volumes_on(&src, from);
    let copies = from == ProviderKind::Swarm && to == ProviderKind::Swarm && !op.no_data;
    for (v, users) in &volumes {
        say(
            json,
            serde_json::json!({"event": "volume", "volume": v, "used_by": users, "copied": copies}),
            &format!(
                "volume `{v}` (used by {}): its data on {} is {} {}",
                users.join(", "),
                from.as_str(),
                if copies { "copied to" } else { "not copied to" },
                to.as_str()
            ),
        );
    }
    if !volumes.is_empty() && !op.no_data && !copies {
        let names: Vec<String> = volumes.keys().map(|v| format!("`{v}`")).collect();
        return Err(anyhow!(
            "refusing to move {app} from {} to {}: the data of volume {} would be lost (bridge copies volume data only between two Docker engines); nothing was changed\n  hint: copy the data yourself, or pass --no-data to move without it ({} starts with empty volumes; A keeps its data until it is removed)",
            from.as_str(),
            to.as_str(),
            names.join(", "),
            to.as_str()
        ));
    }
    if let Some(code) = ready(&dst_orch, op.yes, json).await? {
        return Ok(code);
    }

    // planned: both sides shown.
    let p = ctx.begin("planned", serde_json::Value::Null)?;
    let b_plan = dst_orch.plan().await?;
    let a_plan = removal_plan(&src_orch, from).await?;
    show_plan(
        json,
        "target",
        to,
        &b_plan,
        &format!("B ({}): deployed first", to.as_str()),
    );
    show_plan(
        json,
        "source",
        from,
        &a_plan,
        &format!(
            "A ({}): removed only after B is healthy{}",
            from.as_str(),
            if op.keep {
                " (--keep: not removed)"
            } else {
                ""
            }
        ),
    );
    p.reached()?;

    let progress = Progress::new(json, several);
    let on = |p: ProviderKind, e: &Event| progress.event(p, e);

    // data-copied: B's volumes first (by B's driver), then each filled from A's before B's
    // services start. Once per move: a rerun after it does not overwrite what B wrote since.
    let copied = {
        let s = store
            .lock()
            .map_err(|_| anyhow!("state store lock poisoned"))?;
        reached(&s, &app, "data-copied")?
    };
    if copies && !volumes.is_empty() && !copied {
        let p = ctx.begin("data-copied", serde_json::Value::Null)?;
        let r = copy_volumes(&src_orch, &dst_orch, &volumes, &opts, &on, json).await;
        if let Err(e) = phase(p, async { r }).await? {
            progress.finish();
            return Err(anyhow!(
                "copying the volumes' data failed: {e}\n  A ({}) is untouched; run the move again",
                from.as_str()
            ));
        }
    }

    // deployed-B
    let p = ctx.begin("deployed-B", b_plan.steps_json())?;
    if let Err(e) = phase(p, dst_orch.apply(&opts, &on)).await? {
        progress.finish();
        return Err(anyhow!(
            "deploying to {} failed: {e}\n  A ({}) is untouched; run the move again, or `bridge move --rollback` to remove what reached {}",
            to.as_str(),
            from.as_str(),
            to.as_str()
        ));
    }

    // B-healthy: deploy --wait's real health, bounded by --timeout.
    let p = ctx.begin("B-healthy", serde_json::Value::Null)?;
    let t = Instant::now();
    if let Err(e) = phase(p, dst_orch.wait_all(&opts, &on)).await? {
        progress.finish();
        let m = format!(
            "{} is not healthy after {:.0}s: {e}\n  A ({}) is untouched and still serves; fix and run the move again, or `bridge move --rollback` to remove B",
            to.as_str(),
            t.elapsed().as_secs_f64(),
            from.as_str()
        );
        return Err(anyhow!(m));
    }
    progress.finish();

    // cut-over: the declared DNS record is pointed at B; with none, B's endpoints are shown and
    // A stays until asked to go.
    endpoints(&dst_orch, to, json).await?;
    if let Some(t) = &dns {
        let a = address_of(&src_orch, from, &t.component).await;
        let b = address_of(&dst_orch, to, &t.component).await?.ok_or_else(|| {
            anyhow!(
                "{} reports no address for {}: the record {} cannot be pointed at B\n  A ({}) still serves; `bridge move --rollback` removes B",
                to.as_str(),
                t.component,
                t.record,
                from.as_str()
            )
        })?;
        let prev = {
            let s = store
                .lock()
                .map_err(|_| anyhow!("state store lock poisoned"))?;
            recorded_previous(&s, &app)?
        };
        dns_cut_over(&ctx, t, prev, a.ok().flatten(), &b, op.timeout).await?;
    } else if !op.keep && !op.remove_source {
        let m = format!(
            "{app} runs and is healthy on {}; {} still serves. Point consumers at the endpoints above, then run `bridge move -f {} --to {} --remove-source` to remove A (or `--keep` to end the move leaving it)",
            to.as_str(),
            from.as_str(),
            args.file.display(),
            to.as_str()
        );
        say(
            json,
            serde_json::json!({"event": "result", "ok": true, "app": app, "phase": "B-healthy", "from": from.as_str(), "to": to.as_str(), "source_removed": false, "message": m}),
            &m,
        );
        return Ok(ExitCode::from(EXIT_OK));
    }
    if dns.is_none() {
        let p = ctx.begin("cut-over", serde_json::Value::Null)?;
        p.reached()?;
    }

    if !op.keep {
        let plan = removal_plan(&src_orch, from).await?;
        let p = ctx.begin("A-removed", plan.steps_json())?;
        let progress = Progress::new(json, several);
        let on = |e: &Event| progress.event(from, e);
        let r = match src_orch.driver(from) {
            Some(d) => engine::destroy(d, &app, &opts, &on).await.map(|_| ()),
            None => Ok(()),
        };
        progress.finish();
        if let Err(e) = phase(p, async { r }).await? {
            return Err(anyhow!(
                "removing {app} from {} failed: {e}\n  B ({}) is healthy; run the move again to finish",
                from.as_str(),
                to.as_str()
            ));
        }
    }
    let p = ctx.begin("done", serde_json::Value::Null)?;
    p.reached()?;
    let m = format!(
        "{app} moved from {} to {}{}. From now on deploy it with `-p {}` (or set `providers.default: {}`): a plain `bridge deploy` places it as the file says",
        from.as_str(),
        to.as_str(),
        if op.keep { " (A kept)" } else { "" },
        to.as_str(),
        to.as_str()
    );
    say(
        json,
        serde_json::json!({"event": "result", "ok": true, "app": app, "phase": "done", "from": from.as_str(), "to": to.as_str(), "source_removed": !op.keep, "message": m}),
        &m,
    );
    Ok(ExitCode::from(EXIT_OK))
}

/// The swarm volume names of the app's volume `v` as `orch`'s swarm driver renders them.
fn volume_name(orch: &Orchestrator, v: &str) -> Option<String> {
    let d = orch.driver(ProviderKind::Swarm)?;
    let part = orch.partition().part(ProviderKind::Swarm, &BTreeMap::new());
    d.desired(&part)
        .0
        .into_iter()
        .find(|x| x.id.kind == "volume" && x.id.name == v)
        .and_then(|x| x.spec["Name"].as_str().map(str::to_string))
}

/// Create B's volumes (B's own plan, its volume steps only) and copy each from A's with a
/// transfer container on each engine (see `bridge_providers::swarm::transfer`).
async fn copy_volumes(
    src: &Orchestrator,
    dst: &Orchestrator,
    volumes: &BTreeMap<String, Vec<String>>,
    opts: &ApplyOptions,
    on: &(dyn Fn(ProviderKind, &Event) + Sync),
    json: bool,
) -> Result<()> {
    let plan = dst.plan().await?;
    let Some(d) = dst.driver(ProviderKind::Swarm) else {
        return Ok(());
    };
    let steps = plan
        .parts
        .iter()
        .filter(|p| p.provider == ProviderKind::Swarm)
        .flat_map(|p| p.plan.steps.iter())
        .filter(|s| s.resource.kind == "volume")
        .cloned()
        .collect();
    let on_p = |e: &Event| on(ProviderKind::Swarm, e);
    engine::apply_plan(
        d,
        dst.app(),
        &bridge_core::plan::Plan { steps },
        opts,
        &on_p,
    )
    .await?;
    copy_data(src, dst, volumes, json).await
}

#[cfg(feature = "swarm")]
async fn copy_data(
    src: &Orchestrator,
    dst: &Orchestrator,
    volumes: &BTreeMap<String, Vec<String>>,
    json: bool,
) -> Result<()> {
    use bridge_providers::swarm::transfer;
    let ep = |o: &Orchestrator| {
        o.partition()
            .valid()
            .app()
            .providers
            .swarm
            .as_ref()
            .and_then(|s| s.endpoint.clone())
    };
    let (ea, eb) = (ep(src), ep(dst));
    let (a, b) = (
        transfer::engine(ea.as_deref()).await?,
        transfer::engine(eb.as_deref()).await?,
    );
    let same_engine = ea == eb;
    let app = src.partition().valid().app();
    for (v, users) in volumes {
        let (Some(from), Some(to)) = (volume_name(src, v), volume_name(dst, v)) else {
            return Err(anyhow!("volume `{v}`: no swarm volume rendered for it"));
        };
        if from == to && same_engine {
            return Err(anyhow!(
                "volume `{v}` has the fixed name `{from}` on both sides: A and B would share it\n  hint: drop `volumes.{v}.name`, or move to another engine"
            ));
        }
        let image = users
            .first()
            .and_then(|u| u.strip_prefix("services."))
            .and_then(|u| app.services.get(u))
            .map(|s| s.image.clone())
            .unwrap_or_default();
        let t = Instant::now();
        let bytes = transfer::copy_volume(&a, &from, &b, &to, &image).await?;
        say(
            json,
            serde_json::json!({"event": "volume-copied", "volume": v, "from": from, "to": to, "bytes": bytes, "millis": t.elapsed().as_millis() as u64}),
            &format!(
                "  volume `{v}`: {from} -> {to}, {bytes} bytes of tar in {:.1}s",
                t.elapsed().as_secs_f64()
            ),
        );
    }
    Ok(())
}

#[cfg(not(feature = "swarm"))]
async fn copy_data(
    _: &Orchestrator,
    _: &Orchestrator,
    _: &BTreeMap<String, Vec<String>>,
    _: bool,
) -> Result<()> {
    Err(anyhow!(
        "this bridge was built without the `swarm` feature: volumes cannot be copied"
    ))
}

/// `--rollback`: A deployed again and healthy (nothing changes when it was never removed),
/// then B removed.
async fn rollback(
    ctx: &Ctx<'_>,
    src: &Orchestrator,
    dst: &Orchestrator,
    opts: &ApplyOptions,
    yes: bool,
    several: bool,
    dns: Option<&DnsTarget>,
) -> Result<ExitCode> {
    let json = ctx.json;
    let (from, to) = (ctx.from, ctx.to);
    if let Some(code) = ready(src, yes, json).await? {
        return Ok(code);
    }
    let progress = Progress::new(json, several);
    let on = |p: ProviderKind, e: &Event| progress.event(p, e);
    let a_plan = src.plan().await?;
    let p = ctx.begin("A-restored", a_plan.steps_json())?;
    let r = phase(p, async {
        src.apply(opts, &on).await?;
        src.wait_all(opts, &on).await
    })
    .await?;
    progress.finish();
    if let Err(e) = r {
        return Err(anyhow!(
            "{} could not be restored: {e}\n  B ({}) is kept",
            from.as_str(),
            to.as_str()
        ));
    }
    // cut-back: the record holds again what it held before the cut-over (recorded then).
    let prev = {
        let s = ctx
            .store
            .lock()
            .map_err(|_| anyhow!("state store lock poisoned"))?;
        recorded_previous(&s, ctx.app)?
    };
    if let (Some(t), Some(prev)) = (dns, prev) {
        dns_cut_back(ctx, t, prev, opts.timeout).await?;
    }
    let b = removal_plan(dst, to).await?;
    show_plan(
        json,
        "target",
        to,
        &b,
        &format!("B ({}): removed", to.as_str()),
    );
    let p = ctx.begin("B-removed", b.steps_json())?;
    let progress = Progress::new(json, several);
    let on = |e: &Event| progress.event(to, e);
    let r = match dst.driver(to) {
        Some(d) => engine::destroy(d, ctx.app, opts, &on).await.map(|_| ()),
        None => Ok(()),
    };
    progress.finish();
    if let Err(e) = phase(p, async { r }).await? {
        return Err(anyhow!(
            "removing B ({}) failed: {e}\n  A serves; run `bridge move --rollback` again",
            to.as_str()
        ));
    }
    let p = ctx.begin("rolled-back", serde_json::Value::Null)?;
    p.reached()?;
    let m = format!(
        "{}: the move to {} is rolled back; {} serves",
        ctx.app,
        to.as_str(),
        from.as_str()
    );
    say(
        json,
        serde_json::json!({"event": "result", "ok": true, "app": ctx.app, "phase": "rolled-back", "from": from.as_str(), "to": to.as_str()}),
        &m,
    );
    Ok(ExitCode::from(EXIT_OK))
}

/// The declared DNS cut-over, resolved: the zone found in Route 53.
pub(crate) struct DnsTarget {
    #[cfg(feature = "aws")]
    r53: bridge_providers::aws::route53::Route53,
    zone_id: String,
    record: String,
    ttl: i64,
    /// `services.NAME` or `vms.NAME`, as drivers report addresses.
    component: String,
}

/// Where `path` of the app file stands (the `x-bridge.` extension in a compose file): the
/// diagnostic placed there, and the file as a source to print it with.
fn placed(
    args: &LifecycleArgs,
    path: &str,
    d: bridge_core::Diagnostic,
) -> (bridge_core::Diagnostic, bridge_core::source::Sources) {
    let name: std::sync::Arc<str> = args.file.display().to_string().into();
    let mut sources = bridge_core::source::Sources::default();
    let Ok(text) = std::fs::read_to_string(&args.file) else {
        return (d.with_file(name), sources);
    };
    let mut d = d.with_path(path).with_file(name.clone());
    if let Ok(root) = bridge_core::node::load(&text, &Default::default()) {
        let full = if root.get("bridge").is_none() && root.get("x-bridge").is_some() {
            format!("x-bridge.{path}")
        } else {
            path.to_string()
        };
        d = d.with_span(root.locate(&full).span);
    }
    sources.add(bridge_core::source::SourceFile::new(name, text));
    (d, sources)
}

/// `file:line:column` of `path` in the app file, for a message.
fn position(args: &LifecycleArgs, path: &str) -> String {
    let (d, _) = placed(args, path, bridge_core::Diagnostic::error("-", ""));
    match d.span {
        Some(s) if s.line > 0 => format!("{}:{}:{}", args.file.display(), s.line, s.col),
        _ => args.file.display().to_string(),
    }
}

/// The app's `move.cutover.dns` and its component's label (`services.web`), checked against
/// this move: the component must be one that moves (exit 1 at its position otherwise).
fn cutover_component<'a>(
    args: &LifecycleArgs,
    valid: &'a ValidApp,
    src: &Partition,
    from: ProviderKind,
    json: bool,
    rollback: bool,
) -> std::result::Result<Option<(&'a bridge_core::model::DnsCutover, String)>, ExitCode> {
    let Some(dns) = valid
        .app()
        .move_
        .as_ref()
        .and_then(|m| m.cutover.as_ref())
        .and_then(|c| c.dns.as_ref())
    else {
        return Ok(None);
    };
    let c = dns.component.as_str();
    let (comp, label) = if valid.app().services.contains_key(c) {
        (Component::Service(c.to_string()), format!("services.{c}"))
    } else {
        (Component::Vm(c.to_string()), format!("vms.{c}"))
    };
    let on = src.provider_of(&comp);
    if !rollback && on != Some(from) {
        let d = bridge_core::Diagnostic::error(
            bridge_core::codes::INVALID_VALUE,
            format!(
                "the cut-over component `{c}` runs on {}, not on {} (--from): only a component that moves can be cut over",
                on.as_ref().map(ProviderKind::as_str).unwrap_or("no provider"),
                from.as_str()
            ),
        )
        .with_hint(format!(
            "name a component that runs on {} in move.cutover.dns.component, or move from where `{c}` runs",
            from.as_str()
        ));
        let (d, sources) = placed(args, "move.cutover.dns.component", d);
        let mut ds = bridge_core::Diagnostics::new();
        ds.push(d);
        lifecycle::invalid(json, &ds, &sources);
        return Err(ExitCode::from(EXIT_INVALID));
    }
    Ok(Some((dns, label)))
}

#[cfg(feature = "aws")]
async fn zone_target(
    args: &LifecycleArgs,
    dns: &bridge_core::model::DnsCutover,
    component: String,
) -> Result<DnsTarget> {
    use bridge_providers::aws::route53::{Route53, fqdn};
    let r53 = Route53::connect().await?;
    let Some(zone_id) = r53.zone_id(&dns.zone).await? else {
        return Err(anyhow!(
            "{}: the hosted zone `{}` (move.cutover.dns.zone) is not in Route 53; nothing was changed\n  hint: create the zone (aws route53 create-hosted-zone --name {}), or correct its name; AWS_ENDPOINT_URL_ROUTE_53 or AWS_ENDPOINT_URL names another Route 53 endpoint",
            position(args, "move.cutover.dns.zone"),
            fqdn(&dns.zone),
            fqdn(&dns.zone)
        ));
    };
    Ok(DnsTarget {
        r53,
        zone_id,
        record: fqdn(&dns.record),
        ttl: dns.ttl.unwrap_or(60),
        component,
    })
}

#[cfg(not(feature = "aws"))]
async fn zone_target(
    _: &LifecycleArgs,
    _: &bridge_core::model::DnsCutover,
    _: String,
) -> Result<DnsTarget> {
    Err(anyhow!(
        "this bridge was built without the `aws` feature: the Route 53 cut-over (move.cutover.dns) cannot be made"
    ))
}

/// The address `p`'s driver reports for `component` (`services.web`): its public one, else
/// its private one.
async fn address_of(
    orch: &Orchestrator,
    p: ProviderKind,
    component: &str,
) -> Result<Option<String>> {
    let Some(d) = orch.driver(p) else {
        return Ok(None);
    };
    Ok(d.outputs(orch.app())
        .await?
        .into_iter()
        .find(|a| a.component == component)
        .and_then(|a| a.public.or(a.private)))
}

/// `cut-over`: the record's sets made B's address (one batch, the previous sets of another type
/// deleted in it), then the change waited INSYNC. The previous sets are those the move's first
/// cut-over row recorded (`prev`), else the record's now; this row records them before the
/// change is sent.
#[cfg(feature = "aws")]
async fn dns_cut_over(
    ctx: &Ctx<'_>,
    t: &DnsTarget,
    prev: Option<serde_json::Value>,
    a: Option<String>,
    b: &str,
    timeout: Duration,
) -> Result<()> {
    use bridge_providers::aws::route53::{RecordSet, changes_to, record_for};
    let now = t.r53.records(&t.zone_id, &t.record).await?;
    let prev: Vec<RecordSet> = match prev {
        Some(v) => serde_json::from_value(v)?,
        None => now.clone(),
    };
    let want = record_for(&t.record, b, t.ttl);
    let p = ctx.begin(
        "cut-over",
        serde_json::json!({"dns": {"zone_id": t.zone_id, "record": t.record, "component": t.component, "previous": prev, "a_address": a, "to": want}}),
    )?;
    let r = async {
        let mut changes = changes_to(&now, std::slice::from_ref(&want));
        if changes.is_empty() {
            // Already B's (a rerun): sent again all the same, to have a change to wait for.
            changes.push((bridge_providers::aws::route53::Action::Upsert, want.clone()));
        }
        let id = t
            .r53
            .change(
                &t.zone_id,
                &changes,
                &format!("bridge move {}: cut-over to {}", ctx.app, ctx.to.as_str()),
            )
            .await?;
        let was: Vec<&String> = now.iter().flat_map(|s| &s.values).collect();
        say(
            ctx.json,
            serde_json::json!({"event": "dns-change", "record": t.record, "change": id, "from": was, "to": b, "a_address": a}),
            &format!(
                "  {} {}: {} -> {b} ({}'s address for {}; A's: {}), change {id}",
                want.kind,
                t.record,
                if was.is_empty() {
                    "(none)".to_string()
                } else {
                    was.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(",")
                },
                ctx.to.as_str(),
                t.component,
                a.as_deref().unwrap_or("-")
            ),
        );
        t.r53.wait_insync(&id, timeout).await?;
        Ok::<(), bridge_providers::DriverError>(())
    };
    if let Err(e) = phase(p, r).await? {
        return Err(anyhow!(
            "the cut-over of {} failed: {e}\n  A ({}) still serves; run the move again, or `bridge move --rollback`",
            t.record,
            ctx.from.as_str()
        ));
    }
    Ok(())
}

/// `cut-back` (`--rollback`): the record's sets made what the cut-over recorded as previous
/// (deleted when it had none), the change waited INSYNC.
#[cfg(feature = "aws")]
async fn dns_cut_back(
    ctx: &Ctx<'_>,
    t: &DnsTarget,
    prev: serde_json::Value,
    timeout: Duration,
) -> Result<()> {
    use bridge_providers::aws::route53::{RecordSet, changes_to};
    let prev: Vec<RecordSet> = serde_json::from_value(prev)?;
    let now = t.r53.records(&t.zone_id, &t.record).await?;
    let p = ctx.begin(
        "cut-back",
        serde_json::json!({"dns": {"zone_id": t.zone_id, "record": t.record, "restore": prev}}),
    )?;
    let r = async {
        let changes = changes_to(&now, &prev);
        let shown: Vec<&String> = prev.iter().flat_map(|s| &s.values).collect();
        if changes.is_empty() {
            say(
                ctx.json,
                serde_json::json!({"event": "dns-change", "record": t.record, "to": shown}),
                &format!("  {}: already {:?}", t.record, shown),
            );
            return Ok(());
        }
        let id = t
            .r53
            .change(
                &t.zone_id,
                &changes,
                &format!("bridge move {}: rollback to {}", ctx.app, ctx.from.as_str()),
            )
            .await?;
        say(
            ctx.json,
            serde_json::json!({"event": "dns-change", "record": t.record, "change": id, "to": shown}),
            &format!("  {}: back to {:?}, change {id}", t.record, shown),
        );
        t.r53.wait_insync(&id, timeout).await
    };
    if let Err(e) = phase(p, r).await? {
        return Err(anyhow!(
            "restoring {} failed: {e}\n  A serves, B is kept; run `bridge move --rollback` again",
            t.record
        ));
    }
    Ok(())
}

#[cfg(not(feature = "aws"))]
async fn dns_cut_over(
    _: &Ctx<'_>,
    _: &DnsTarget,
    _: Option<serde_json::Value>,
    _: Option<String>,
    _: &str,
    _: Duration,
) -> Result<()> {
    Err(anyhow!("built without the `aws` feature"))
}

#[cfg(not(feature = "aws"))]
async fn dns_cut_back(_: &Ctx<'_>, _: &DnsTarget, _: serde_json::Value, _: Duration) -> Result<()> {
    Err(anyhow!("built without the `aws` feature"))
}
