//! The deploy lifecycle commands: plan, deploy, status, destroy, reconcile, history. Each reads
//! the app, partitions it by provider, connects a driver for every provider it uses, and hands
//! them to the orchestrator (`bridge_providers::orchestrator`), which plans and applies across
//! them; this module only prints. The commands that write hold the app's one lock in the state
//! store while they work. Secret values are read by the drivers at apply time and never reach
//! this module's output, logs or the state store.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use bridge_core::model::ProviderKind;
use bridge_core::partition::Partition;
use bridge_core::plan::{Action, ResourceId};
use bridge_core::state::{Actor, Store};
use bridge_core::{Diagnostics, ValidApp};
use bridge_providers::engine::{ApplyOptions, Event};
use bridge_providers::orchestrator::{self, HybridPlan, Orchestrator};
use bridge_providers::{DriverError, DynDriver, Readiness};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::input::InputArgs;
use crate::output::{self, EXIT_INVALID, EXIT_OK, EXIT_OPERATIONAL};

/// Exit code of `plan --detailed-exitcode` when the plan has changes.
pub const EXIT_CHANGES: u8 = 3;

/// The providers the lifecycle commands can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeployProvider {
    /// Docker Swarm (the local engine by default).
    Swarm,
    /// AWS ECS (EC2 container instances or Fargate), with aws-config's credentials and region.
    Aws,
    /// Google Compute Engine (container-VMs; GOOGLE_APPLICATION_CREDENTIALS).
    Gce,
    /// OpenStack Heat (the cloud of providers.openstack.cloud, OS_CLOUD or OS_* variables).
    Openstack,
}

impl From<DeployProvider> for ProviderKind {
    fn from(p: DeployProvider) -> Self {
        match p {
            DeployProvider::Swarm => ProviderKind::Swarm,
            DeployProvider::Aws => ProviderKind::Aws,
            DeployProvider::Gce => ProviderKind::Gce,
            DeployProvider::Openstack => ProviderKind::Openstack,
        }
    }
}

/// Options shared by the lifecycle commands.
#[derive(Debug, clap::Args)]
pub struct LifecycleArgs {
    /// The bridge.yaml or compose file.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        default_value = "bridge.yaml"
    )]
    pub file: PathBuf,
    /// The provider of the components that do not name one (`provider:`); the others run
    /// where they say. Default: `providers.default`, else the only provider configured, else
    /// swarm.
    #[arg(short = 'p', long = "provider", value_enum)]
    pub provider: Option<DeployProvider>,
    /// The state database (default: `.bridge/state.db` beside the app file).
    #[arg(long = "state", value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Take the app's lock even when another process holds it.
    #[arg(long = "force-unlock")]
    pub force_unlock: bool,
    /// Shared input options.
    #[command(flatten)]
    pub input: InputArgs,
}

/// What a lifecycle command does.
#[derive(Debug)]
pub enum Op {
    /// Show what would change.
    Plan {
        /// Exit 3 when there are changes.
        detailed_exitcode: bool,
        /// Preview taking over objects made outside bridge (`deploy --adopt`).
        adopt: bool,
    },
    /// Apply the plan.
    Deploy {
        /// Do not ask (e.g. before creating a local swarm).
        yes: bool,
        /// Wait until every service runs.
        wait: bool,
        /// How long waits may take.
        timeout: Duration,
        /// Take over objects that have the app's names but not its labels.
        adopt: bool,
    },
    /// Show what runs.
    Status,
    /// Remove everything the app owns.
    Destroy {
        /// How long waits may take.
        timeout: Duration,
    },
    /// Bring the provider back to the app, once or every interval.
    Reconcile {
        /// Keep going.
        watch: bool,
        /// Between rounds.
        interval: Duration,
        /// How long waits may take.
        timeout: Duration,
    },
    /// Show past deployments.
    History {
        /// How many.
        limit: usize,
    },
}

/// Parse `10s`, `500ms`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    s.parse::<bridge_core::units::Duration>()
        .map(|d| Duration::from_nanos(d.0))
        .map_err(|e| e.to_string())
}

pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Run a lifecycle command.
pub fn run(args: &LifecycleArgs, op: Op, json: bool) -> Result<ExitCode> {
    init_tracing();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(args, op, json))
}

fn state_path(args: &LifecycleArgs) -> PathBuf {
    args.state
        .clone()
        .unwrap_or_else(|| base_dir(&args.file).join(".bridge").join("state.db"))
}

pub(crate) fn base_dir(file: &Path) -> PathBuf {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub(crate) fn print_diags(diags: &Diagnostics, sources: &bridge_core::source::Sources) {
    output::print_diagnostics(diags, sources, crate::output::ColorChoice::Auto.resolve());
}

pub(crate) fn load(
    args: &LifecycleArgs,
    json: bool,
) -> Result<std::result::Result<ValidApp, ExitCode>> {
    let loaded = crate::input::load(&args.file, &args.input, false);
    match loaded.valid {
        Some(v) => {
            if !json {
                print_diags(&loaded.diagnostics, &loaded.sources);
            }
            Ok(Ok(v))
        }
        None => {
            invalid(json, &loaded.diagnostics, &loaded.sources);
            Ok(Err(ExitCode::from(EXIT_INVALID)))
        }
    }
}

pub(crate) fn invalid(json: bool, diags: &Diagnostics, sources: &bridge_core::source::Sources) {
    if json {
        emit_json(&serde_json::json!({
            "event": "result", "ok": false,
            "diagnostics": diags,
        }));
    } else {
        print_diags(diags, sources);
    }
}

pub(crate) fn emit_json(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, v);
    let _ = writeln!(out);
}

pub(crate) fn fail(json: bool, e: &dyn std::fmt::Display) -> ExitCode {
    if json {
        emit_json(&serde_json::json!({"event": "result", "ok": false, "error": e.to_string()}));
    } else {
        eprintln!("error: {e}");
    }
    ExitCode::from(EXIT_OPERATIONAL)
}

/// The providers earlier deployments of the app used (so a deploy or destroy also finds what
/// was left on a provider the app no longer uses).
fn earlier_providers(args: &LifecycleArgs, app: &str) -> Vec<ProviderKind> {
    let path = state_path(args);
    if !path.exists() {
        return Vec::new();
    }
    let Ok(store) = Store::open(&path) else {
        return Vec::new();
    };
    let mut out: Vec<ProviderKind> = Vec::new();
    for d in store.history(app, 50).unwrap_or_default() {
        for p in orchestrator::providers_in(&d.provider) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

async fn run_async(args: &LifecycleArgs, op: Op, json: bool) -> Result<ExitCode> {
    let valid = match load(args, json)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let app = valid.app().name.clone();
    if let Op::History { limit } = op {
        return history(args, &app, limit, json);
    }
    let partition = match Partition::new(&valid, args.provider.map(ProviderKind::from)) {
        Ok(p) => p,
        Err(diags) => {
            invalid(json, &diags, &Default::default());
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    // An app moved away from a provider (`bridge move`) is not put back there by a deploy or
    // reconcile that still reads the old placement: that would remove it from B ungated.
    if matches!(op, Op::Deploy { .. } | Op::Reconcile { .. })
        && let Some(m) = crate::relocate::moved_from(&state_path(args), &app, &partition)
    {
        return Ok(fail(json, &m));
    }
    // A driver for every provider of the app; one that cannot connect (no credentials, no
    // endpoint) stops here, naming the provider.
    let progress: orchestrator::ProgressFn = std::sync::Arc::new(move |line: &str| {
        if json {
            emit_json(&serde_json::json!({"event": "progress", "message": line}));
        } else {
            eprintln!("  {line}");
        }
    });
    let mut drivers: BTreeMap<ProviderKind, Box<dyn DynDriver>> = BTreeMap::new();
    // `--timeout` bounds the drivers' own waits too (Heat's stack operations and health wait
    // conditions), with or without `--wait`: `deploy --timeout 5m` never waits an hour.
    let bound = match &op {
        Op::Deploy { timeout, .. } | Op::Destroy { timeout } | Op::Reconcile { timeout, .. } => {
            Some(*timeout)
        }
        _ => None,
    };
    let connect = |p: ProviderKind| {
        orchestrator::connect_with(
            p,
            &valid,
            base_dir(&args.file),
            Some(progress.clone()),
            bound,
        )
    };
    for p in partition.providers() {
        match connect(p).await {
            Ok(d) => {
                drivers.insert(p, d);
            }
            Err(e) => return Ok(fail(json, &e)),
        }
    }
    if matches!(op, Op::Deploy { .. } | Op::Destroy { .. }) {
        for p in earlier_providers(args, &app) {
            if drivers.contains_key(&p) {
                continue;
            }
            match connect(p).await {
                Ok(d) => {
                    drivers.insert(p, d);
                }
                Err(e) => {
                    tracing::warn!(
                        "{app} was deployed to {} before, which cannot be reached now: {e}",
                        p.as_str()
                    );
                    if !json {
                        eprintln!(
                            "warning: {app} was deployed to {} before; what is left there is not removed: {e}",
                            p.as_str()
                        );
                    }
                }
            }
        }
    }
    let adopt = matches!(
        op,
        Op::Plan { adopt: true, .. } | Op::Deploy { adopt: true, .. }
    );
    let orch = match Orchestrator::new(partition, drivers) {
        Ok(o) => o.with_adopt(adopt),
        Err(e) => return Ok(fail(json, &e)),
    };
    match lifecycle(&orch, args, &app, op, json).await {
        Ok(code) => Ok(code),
        Err(e) => Ok(fail(json, &e)),
    }
}

/// The translators' diagnostics for every part, each prefixed with its provider when the app
/// spans several.
pub(crate) fn part_diagnostics(orch: &Orchestrator) -> Diagnostics {
    let none = BTreeMap::new();
    let mut out = Diagnostics::new();
    let providers = orch.partition().providers();
    for p in &providers {
        if let Some(d) = orch.driver(*p) {
            let (_, diags) = d.desired(&orch.partition().part(*p, &none));
            for mut x in diags.0 {
                if providers.len() > 1 {
                    x.message = format!("{}: {}", p.as_str(), x.message);
                }
                out.push(x);
            }
        }
    }
    out
}

/// The provider-independent part: every app, on one provider or several, goes through here.
async fn lifecycle(
    orch: &Orchestrator,
    args: &LifecycleArgs,
    app: &str,
    op: Op,
    json: bool,
) -> Result<ExitCode> {
    let providers = orch.partition().providers();
    let label = orchestrator::providers_label(&providers);
    for (p, readiness) in orch.check().await? {
        let Readiness::NotInitialised(what) = readiness else {
            continue;
        };
        let provider = p.as_str();
        let yes = matches!(op, Op::Deploy { yes: true, .. });
        let may_ask = matches!(op, Op::Deploy { .. }) && std::io::stdin().is_terminal() && !json;
        if yes || (may_ask && confirm(&format!("{what}. create it? [y/N] "))) {
            if let Some(d) = orch.driver(p) {
                d.initialise().await?;
            }
            if !json {
                eprintln!("{provider}: initialised");
            }
        } else {
            return Err(anyhow!(
                "{provider}: {what}\n  hint: run `bridge deploy --yes` to create it, or set it up yourself (docker swarm init --advertise-addr 127.0.0.1)"
            ));
        }
    }
    if matches!(
        op,
        Op::Plan { .. } | Op::Deploy { .. } | Op::Reconcile { .. }
    ) {
        orch.verify().await?;
    }
    let diags = part_diagnostics(orch);
    if diags.has_errors() {
        invalid(json, &diags, &Default::default());
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    // What the target cannot express (dropped or approximated fields) is said on every plan,
    // deploy and reconcile, not only by `render` and `fidelity`: never a silent drop.
    let shows_warnings = matches!(
        op,
        Op::Plan { .. } | Op::Deploy { .. } | Op::Reconcile { .. }
    ) && !diags.is_empty();
    if shows_warnings && !json {
        print_diags(&diags, &Default::default());
    } else if shows_warnings && !matches!(op, Op::Plan { .. }) {
        emit_json(&serde_json::json!({"event": "diagnostics", "diagnostics": diags}));
    }
    match op {
        Op::Plan {
            detailed_exitcode, ..
        } => {
            let plan = orch.plan().await?;
            if json {
                emit_json(&serde_json::json!({
                    "event": "plan", "app": app, "provider": label,
                    "providers": providers.iter().map(ProviderKind::as_str).collect::<Vec<_>>(),
                    "empty": plan.is_empty(), "steps": plan.steps_json(),
                    "unowned": plan.parts.iter().flat_map(|p| p.unowned.iter().map(move |u| format!("{}: {u}", p.provider.as_str()))).collect::<Vec<_>>(),
                    "inputs": plan.inputs, "diagnostics": diags,
                }));
            } else {
                print!("{}", plan.render());
            }
            let code = if detailed_exitcode && !plan.is_empty() {
                EXIT_CHANGES
            } else {
                EXIT_OK
            };
            Ok(ExitCode::from(code))
        }
        Op::Status => {
            let st = orch.status().await?;
            let several = st.len() > 1;
            if json {
                let components: Vec<serde_json::Value> = st
                    .iter()
                    .flat_map(|(p, list)| {
                        list.iter().map(move |c| {
                            let mut v = serde_json::to_value(c).unwrap_or_default();
                            v["provider"] = serde_json::json!(p.as_str());
                            v
                        })
                    })
                    .collect();
                emit_json(
                    &serde_json::json!({"event": "status", "app": app, "provider": label, "components": components}),
                );
            } else if st.iter().all(|(_, l)| l.is_empty()) {
                println!("{app}: nothing deployed on {label}");
            } else {
                let head = if several { "PROVIDER   " } else { "" };
                println!(
                    "{head}{:<28} {:>7} {:>7}  {:<10} ERROR",
                    "COMPONENT", "DESIRED", "RUNNING", "HEALTH"
                );
                for (p, list) in &st {
                    if several && list.is_empty() {
                        println!("{:<10} (nothing deployed)", p.as_str());
                    }
                    for c in list {
                        let pre = if several {
                            format!("{:<10} ", p.as_str())
                        } else {
                            String::new()
                        };
                        println!(
                            "{pre}{:<28} {:>7} {:>7}  {:<10} {}",
                            c.resource.to_string(),
                            c.desired,
                            c.running,
                            c.health,
                            c.errors.first().cloned().unwrap_or_default()
                        );
                    }
                }
            }
            Ok(ExitCode::from(EXIT_OK))
        }
        Op::Deploy { wait, timeout, .. } => {
            let opts = ApplyOptions {
                timeout,
                ..ApplyOptions::default()
            };
            let (store, actor) = acquire(args, app, "deploy", json)?;
            let r = run_ops(orch, &store, &actor, &label, &opts, wait, false, json).await;
            release(&store, app, &actor)?;
            r
        }
        Op::Destroy { timeout } => {
            let opts = ApplyOptions {
                timeout,
                ..ApplyOptions::default()
            };
            let (store, actor) = acquire(args, app, "destroy", json)?;
            let r = run_ops(orch, &store, &actor, &label, &opts, false, true, json).await;
            release(&store, app, &actor)?;
            r
        }
        Op::Reconcile {
            watch,
            interval,
            timeout,
        } => {
            let opts = ApplyOptions {
                timeout,
                ..ApplyOptions::default()
            };
            let (store, actor) = acquire(args, app, "reconcile", json)?;
            let r = async {
                loop {
                    let started = Instant::now();
                    let code =
                        run_ops(orch, &store, &actor, &label, &opts, false, false, json).await?;
                    if !watch {
                        return Ok(code);
                    }
                    let rest = interval.saturating_sub(started.elapsed());
                    tokio::time::sleep(rest).await;
                }
            }
            .await;
            release(&store, app, &actor)?;
            r
        }
        Op::History { .. } => Ok(ExitCode::from(EXIT_OK)),
    }
}

fn confirm(question: &str) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok()
        && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Take the app's lock (fails fast naming the holder; a dead holder on this host is taken over).
pub(crate) fn acquire(
    args: &LifecycleArgs,
    app: &str,
    command: &str,
    json: bool,
) -> Result<(Mutex<Store>, Actor)> {
    let path = state_path(args);
    let mut store = Store::open(&path)?;
    let actor = Actor::current(command);
    if let Some(broken) = store.lock(app, &actor, args.force_unlock)? {
        let msg = format!(
            "took over the lock of {}@{} (pid {}, {})",
            broken.actor.user, broken.actor.host, broken.actor.pid, broken.actor.command
        );
        tracing::warn!("{msg}");
        if !json {
            eprintln!("{msg}");
        }
    }
    Ok((Mutex::new(store), actor))
}

pub(crate) fn release(store: &Mutex<Store>, app: &str, actor: &Actor) -> Result<()> {
    if let Ok(s) = store.lock() {
        s.unlock(app, actor)?;
    }
    Ok(())
}

/// Plan, record, apply across every provider (or destroy), wait, record the outcome.
#[allow(clippy::too_many_arguments)]
async fn run_ops(
    orch: &Orchestrator,
    store: &Mutex<Store>,
    actor: &Actor,
    label: &str,
    opts: &ApplyOptions,
    wait: bool,
    destroy: bool,
    json: bool,
) -> Result<ExitCode> {
    let app = orch.app();
    let t = Instant::now();
    // What will change (a destroy's plan is everything observed, deleted).
    let plan: HybridPlan = if destroy {
        destroy_preview(orch).await?
    } else {
        orch.plan().await?
    };
    let id = {
        let s = store
            .lock()
            .map_err(|_| anyhow!("state store lock poisoned"))?;
        s.begin(
            app,
            label,
            actor,
            &serde_json::json!({"steps": plan.steps_json()}),
        )?
    };
    if !json && !plan.is_empty() {
        print!("{}", plan.render());
    }
    let several = orch.order().len() > 1;
    let progress = Progress::new(json, several);
    let on = |p: ProviderKind, e: &Event| progress.event(p, e);
    let mut result: Result<(), DriverError> = Ok(());
    if destroy {
        result = orch.destroy(opts, &on).await.map(|_| ());
    } else if !plan.is_empty() {
        result = orch.apply(opts, &on).await.map(|_| ());
    }
    if result.is_ok() && wait {
        result = orch.wait_all(opts, &on).await;
    }
    progress.finish();
    {
        let s = store
            .lock()
            .map_err(|_| anyhow!("state store lock poisoned"))?;
        s.finish(
            id,
            result.is_ok(),
            result.as_ref().err().map(|e| e.to_string()).as_deref(),
        )?;
    }
    if result.is_ok() && !plan.is_empty() {
        // Cache the handles (the truth stays the provider's labels).
        if let Ok(obs) = orch.observe().await {
            for (p, list) in obs {
                let handles: Vec<_> = list
                    .iter()
                    .map(|o| (o.id.to_string(), o.handle.clone(), o.spec_hash.clone()))
                    .collect();
                if let Ok(mut s) = store.lock() {
                    s.save_handles(app, p.as_str(), &handles)?;
                }
            }
        }
    }
    let (c, u, r, d) = plan.counts();
    let a: usize = plan.parts.iter().map(|p| p.plan.adopted()).sum();
    match result {
        Ok(()) => {
            if json {
                emit_json(&serde_json::json!({
                    "event": "result", "ok": true, "app": app, "deployment": id,
                    "provider": label,
                    "created": c, "updated": u, "replaced": r, "deleted": d, "adopted": a,
                    "millis": t.elapsed().as_millis() as u64,
                }));
            } else {
                let adopted = if a > 0 {
                    format!(", {a} adopted")
                } else {
                    String::new()
                };
                eprintln!(
                    "{app}: {} ({c} created, {u} updated, {r} replaced, {d} deleted{adopted}) in {:.1}s",
                    if plan.is_empty() {
                        "no changes"
                    } else {
                        "done"
                    },
                    t.elapsed().as_secs_f64()
                );
            }
            Ok(ExitCode::from(EXIT_OK))
        }
        Err(e) => Ok(fail(json, &e)),
    }
}

/// What a destroy would delete, per provider (reverse apply order).
async fn destroy_preview(orch: &Orchestrator) -> Result<HybridPlan, DriverError> {
    removal_preview(orch, None).await
}

/// What removing the app deletes on every provider (reverse apply order), or on `only`.
pub(crate) async fn removal_preview(
    orch: &Orchestrator,
    only: Option<ProviderKind>,
) -> Result<HybridPlan, DriverError> {
    let mut parts = Vec::new();
    for (p, observed) in orch.observe().await?.into_iter().rev() {
        if only.is_some_and(|o| o != p) {
            continue;
        }
        parts.push(orchestrator::PartPlan {
            provider: p,
            plan: bridge_core::plan::diff(&[], &observed),
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

/// Progress: bars on a terminal, lines otherwise, JSON lines with `--output json`. With several
/// providers every line and bar names its provider.
pub(crate) struct Progress {
    json: bool,
    several: bool,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<(ProviderKind, ResourceId), ProgressBar>>,
}

impl Progress {
    pub(crate) fn new(json: bool, several: bool) -> Self {
        let multi = (!json && std::io::stderr().is_terminal()).then(MultiProgress::new);
        Progress {
            json,
            several,
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn event(&self, p: ProviderKind, e: &Event) {
        if self.json {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["provider"] = serde_json::json!(p.as_str());
            emit_json(&v);
            return;
        }
        let pre = if self.several {
            format!("{}: ", p.as_str())
        } else {
            String::new()
        };
        let Some(multi) = &self.multi else {
            let line = match e {
                Event::Started { .. } | Event::Waiting { .. } => return,
                Event::Done {
                    resource,
                    action,
                    millis,
                } => {
                    format!(
                        "{} {pre}{resource}: {} ({millis} ms)",
                        action.symbol(),
                        done_word(*action)
                    )
                }
                Event::Failed {
                    resource,
                    action,
                    error,
                } => {
                    format!("{} {pre}{resource}: failed: {error}", action.symbol())
                }
                Event::Ready { resource, millis } => {
                    format!("  {pre}{resource}: running ({millis} ms)")
                }
            };
            eprintln!("{line}");
            return;
        };
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = |bars: &mut HashMap<(ProviderKind, ResourceId), ProgressBar>, r: &ResourceId| {
            bars.entry((p, r.clone()))
                .or_insert_with(|| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:<28} {wide_msg} {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_prefix(format!("{pre}{r}"));
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                })
                .clone()
        };
        match e {
            Event::Started {
                resource,
                action,
                reason,
            } => {
                bar(&mut bars, resource).set_message(format!("{} {reason}", action.symbol()));
            }
            Event::Waiting { resource, on } => {
                bar(&mut bars, resource).set_message(format!("waiting for {on} to be healthy"));
            }
            Event::Done {
                resource, action, ..
            } => {
                bar(&mut bars, resource).finish_with_message(done_word(*action).to_string());
            }
            Event::Failed {
                resource, error, ..
            } => {
                bar(&mut bars, resource).abandon_with_message(format!("failed: {error}"));
            }
            Event::Ready { resource, .. } => {
                bar(&mut bars, resource).finish_with_message("running".to_string());
            }
        }
    }

    pub(crate) fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for b in bars.values() {
                if !b.is_finished() {
                    b.finish();
                }
            }
        }
    }
}

fn done_word(a: Action) -> &'static str {
    match a {
        Action::NoOp => "unchanged",
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::Adopt => "adopted",
    }
}

fn history(args: &LifecycleArgs, app: &str, limit: usize, json: bool) -> Result<ExitCode> {
    let store = Store::open(&state_path(args))?;
    let rows = store.history(app, limit)?;
    if json {
        emit_json(&serde_json::json!({"event": "history", "app": app, "deployments": rows}));
        return Ok(ExitCode::from(EXIT_OK));
    }
    if rows.is_empty() {
        println!(
            "{app}: no deployments recorded in {}",
            store.path().display()
        );
    }
    for d in rows {
        let changes = d.plan["steps"]
            .as_array()
            .map(|s| s.iter().filter(|x| x["action"] != "noop").count())
            .unwrap_or(0);
        println!(
            "#{:<4} {}  {:<9} {:<14} {:<11} {:<24} {} changes{}",
            d.id,
            utc(d.started),
            match d.plan["move"]["phase"].as_str() {
                Some(phase) => format!("move {phase}"),
                None => d.command,
            },
            d.provider,
            d.result,
            d.who,
            changes,
            d.error
                .map(|e| format!("  ({})", e.lines().next().unwrap_or_default()))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// `YYYY-MM-DD HH:MM:SSZ` from seconds since the epoch (civil-from-days).
fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("ten").is_err());
    }
}
