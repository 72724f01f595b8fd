//! The deploy lifecycle commands: plan, deploy, status, destroy, reconcile, history. Each reads
//! the app, connects the provider's driver, and (for the commands that write) holds the app's
//! lock in the state store while it works. Secret values are read by the driver at apply time
//! and never reach this module's output, logs or the state store.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use bridge_core::plan::{Action, Plan, ResourceId};
use bridge_core::state::{Actor, Store};
use bridge_core::{LoadOptions, ValidApp, load_file};
#[cfg(feature = "aws")]
use bridge_providers::aws::AwsDriver;
use bridge_providers::engine::{self, ApplyOptions, Event};
#[cfg(feature = "gce")]
use bridge_providers::gce::GceDriver;
#[cfg(feature = "openstack")]
use bridge_providers::openstack::OpenstackDriver;
#[cfg(feature = "swarm")]
use bridge_providers::swarm::SwarmDriver;
use bridge_providers::{Driver, DriverError, Readiness};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::InputArgs;
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
    /// The provider to deploy to.
    #[arg(short = 'p', long = "provider", value_enum, default_value_t = DeployProvider::Swarm)]
    pub provider: DeployProvider,
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
    },
    /// Apply the plan.
    Deploy {
        /// Do not ask (e.g. before creating a local swarm).
        yes: bool,
        /// Wait until every service runs.
        wait: bool,
        /// How long waits may take.
        timeout: Duration,
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

fn init_tracing() {
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

fn base_dir(file: &Path) -> PathBuf {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn load(args: &LifecycleArgs, json: bool) -> Result<std::result::Result<ValidApp, ExitCode>> {
    let mut profiles = args.input.profiles.clone();
    if let Ok(p) = std::env::var("COMPOSE_PROFILES") {
        profiles.extend(p.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    let opts = LoadOptions {
        env: None::<HashMap<String, String>>,
        env_files: args.input.env_files.clone(),
        profiles,
        ..LoadOptions::default()
    };
    let loaded = load_file(&args.file, &opts);
    let color = crate::output::ColorChoice::Auto.resolve();
    match loaded.valid {
        Some(v) => {
            if !json {
                output::print_diagnostics(&loaded.diagnostics, &loaded.sources, color);
            }
            Ok(Ok(v))
        }
        None => {
            if json {
                emit_json(&serde_json::json!({
                    "event": "result", "ok": false,
                    "diagnostics": loaded.diagnostics,
                }));
            } else {
                output::print_diagnostics(&loaded.diagnostics, &loaded.sources, color);
            }
            Ok(Err(ExitCode::from(EXIT_INVALID)))
        }
    }
}

fn emit_json(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, v);
    let _ = writeln!(out);
}

fn fail(json: bool, e: &dyn std::fmt::Display) -> ExitCode {
    if json {
        emit_json(&serde_json::json!({"event": "result", "ok": false, "error": e.to_string()}));
    } else {
        eprintln!("error: {e}");
    }
    ExitCode::from(EXIT_OPERATIONAL)
}

#[cfg_attr(
    not(any(
        feature = "swarm",
        feature = "aws",
        feature = "gce",
        feature = "openstack"
    )),
    allow(unreachable_code)
)]
async fn run_async(args: &LifecycleArgs, op: Op, json: bool) -> Result<ExitCode> {
    let valid = match load(args, json)? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let app = valid.app().name.clone();
    if let Op::History { limit } = op {
        return history(args, &app, limit, json);
    }
    let r: Result<ExitCode> = match args.provider {
        #[cfg(feature = "swarm")]
        DeployProvider::Swarm => match SwarmDriver::connect(base_dir(&args.file)).await {
            Ok(d) => lifecycle(&d, args, &valid, &app, op, json).await,
            Err(e) => return Ok(fail(json, &e)),
        },
        #[cfg(feature = "openstack")]
        DeployProvider::Openstack => match OpenstackDriver::for_app(base_dir(&args.file), &valid) {
            Ok(d) => {
                // Heat's events as they arrive: a line on stderr, or a JSON event.
                let d = d.with_progress(std::sync::Arc::new(move |line: &str| {
                    if json {
                        emit_json(&serde_json::json!({"event": "progress", "message": line}));
                    } else {
                        eprintln!("  {line}");
                    }
                }));
                lifecycle(&d, args, &valid, &app, op, json).await
            }
            Err(e) => return Ok(fail(json, &e)),
        },
        #[cfg(feature = "aws")]
        DeployProvider::Aws => match AwsDriver::connect(&valid, base_dir(&args.file)).await {
            Ok(d) => lifecycle(&d, args, &valid, &app, op, json).await,
            Err(e) => return Ok(fail(json, &e)),
        },
        #[cfg(feature = "gce")]
        DeployProvider::Gce => {
            match GceDriver::connect(valid.app().providers.gce.as_ref(), base_dir(&args.file)) {
                Ok(d) => lifecycle(&d, args, &valid, &app, op, json).await,
                Err(e) => return Ok(fail(json, &e)),
            }
        }
        #[allow(unreachable_patterns)]
        other => {
            let name = format!("{other:?}").to_lowercase();
            return Ok(fail(
                json,
                &format!(
                    "{name}: this bridge was built without the `{name}` feature\n  hint: cargo build --features {name}"
                ),
            ));
        }
    };
    match r {
        Ok(code) => Ok(code),
        Err(e) => Ok(fail(json, &e)),
    }
}

/// The provider-independent part: every driver goes through here.
async fn lifecycle<D: Driver>(
    driver: &D,
    args: &LifecycleArgs,
    valid: &ValidApp,
    app: &str,
    op: Op,
    json: bool,
) -> Result<ExitCode> {
    let provider = driver.kind().as_str();
    match driver.check().await? {
        Readiness::Ready => {}
        Readiness::NotInitialised(what) => {
            let yes = matches!(op, Op::Deploy { yes: true, .. });
            let may_ask =
                matches!(op, Op::Deploy { .. }) && std::io::stdin().is_terminal() && !json;
            if yes || (may_ask && confirm(&format!("{what}. create it? [y/N] "))) {
                driver.initialise().await?;
                if !json {
                    eprintln!("{provider}: initialised");
                }
            } else {
                return Err(anyhow!(
                    "{provider}: {what}\n  hint: run `bridge deploy --yes` to create it, or set it up yourself (docker swarm init --advertise-addr 127.0.0.1)"
                ));
            }
        }
    }
    if matches!(
        op,
        Op::Plan { .. } | Op::Deploy { .. } | Op::Reconcile { .. }
    ) {
        driver.verify(valid).await?;
    }
    let (desired, diags) = driver.desired(valid);
    if diags.has_errors() {
        if json {
            emit_json(&serde_json::json!({"event": "result", "ok": false, "diagnostics": diags}));
        } else {
            output::print_diagnostics(
                &diags,
                &Default::default(),
                output::ColorChoice::Auto.resolve(),
            );
        }
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    // What the target cannot express (dropped or approximated fields) is said on every plan,
    // deploy and reconcile, not only by `render` and `fidelity`: never a silent drop.
    let shows_warnings = matches!(
        op,
        Op::Plan { .. } | Op::Deploy { .. } | Op::Reconcile { .. }
    ) && !diags.is_empty();
    if shows_warnings && !json {
        output::print_diagnostics(
            &diags,
            &Default::default(),
            output::ColorChoice::Auto.resolve(),
        );
    } else if shows_warnings && !matches!(op, Op::Plan { .. }) {
        emit_json(&serde_json::json!({"event": "diagnostics", "diagnostics": diags}));
    }
    match op {
        Op::Plan { detailed_exitcode } => {
            let mut plan = engine::plan(driver, app, &desired).await?;
            driver.explain(app, &mut plan).await?;
            if json {
                emit_json(
                    &serde_json::json!({"event": "plan", "app": app, "provider": provider, "empty": plan.is_empty(), "steps": plan_json(&plan), "diagnostics": diags}),
                );
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
            let st = driver.status(app).await?;
            if json {
                emit_json(&serde_json::json!({"event": "status", "app": app, "components": st}));
            } else if st.is_empty() {
                println!("{app}: nothing deployed on {provider}");
            } else {
                println!(
                    "{:<28} {:>7} {:>7}  {:<10} ERROR",
                    "COMPONENT", "DESIRED", "RUNNING", "HEALTH"
                );
                for c in &st {
                    println!(
                        "{:<28} {:>7} {:>7}  {:<10} {}",
                        c.resource.to_string(),
                        c.desired,
                        c.running,
                        c.health,
                        c.errors.first().cloned().unwrap_or_default()
                    );
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
            let r = async {
                let mut plan = engine::plan(driver, app, &desired).await?;
                driver.explain(app, &mut plan).await?;
                run_plan(
                    driver, &store, &actor, app, provider, &plan, &opts, wait, json,
                )
                .await
            }
            .await;
            release(&store, app, &actor)?;
            r
        }
        Op::Destroy { timeout } => {
            let opts = ApplyOptions {
                timeout,
                ..ApplyOptions::default()
            };
            let (store, actor) = acquire(args, app, "destroy", json)?;
            let r = async {
                let observed = driver.observe(app).await?;
                let plan = bridge_core::plan::diff(&[], &observed);
                let code = run_plan(
                    driver, &store, &actor, app, provider, &plan, &opts, false, json,
                )
                .await?;
                driver.cleanup(app).await?;
                Ok(code)
            }
            .await;
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
                    let plan = engine::plan(driver, app, &desired).await?;
                    let code = run_plan(
                        driver, &store, &actor, app, provider, &plan, &opts, false, json,
                    )
                    .await?;
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
fn acquire(
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

fn release(store: &Mutex<Store>, app: &str, actor: &Actor) -> Result<()> {
    if let Ok(s) = store.lock() {
        s.unlock(app, actor)?;
    }
    Ok(())
}

fn plan_json(plan: &Plan) -> serde_json::Value {
    serde_json::Value::Array(
        plan.steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "resource": s.resource.to_string(),
                    "action": s.action,
                    "reason": s.reason,
                })
            })
            .collect(),
    )
}

#[allow(clippy::too_many_arguments)]
async fn run_plan<D: Driver>(
    driver: &D,
    store: &Mutex<Store>,
    actor: &Actor,
    app: &str,
    provider: &str,
    plan: &Plan,
    opts: &ApplyOptions,
    wait: bool,
    json: bool,
) -> Result<ExitCode> {
    let t = Instant::now();
    let id = {
        let s = store
            .lock()
            .map_err(|_| anyhow!("state store lock poisoned"))?;
        s.begin(
            app,
            provider,
            actor,
            &serde_json::json!({"steps": plan_json(plan)}),
        )?
    };
    if !json && !plan.is_empty() {
        print!("{}", plan.render());
    }
    let progress = Progress::new(json);
    let on = |e: &Event| progress.event(e);
    let mut result: Result<(), DriverError> = Ok(());
    if !plan.is_empty() {
        result = engine::apply_plan(driver, app, plan, opts, &on)
            .await
            .map(|_| ());
    }
    if result.is_ok() && wait {
        result = engine::wait_all(driver, app, plan, opts, &on).await;
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
        if let Ok(obs) = driver.observe(app).await {
            let handles: Vec<_> = obs
                .iter()
                .map(|o| (o.id.to_string(), o.handle.clone(), o.spec_hash.clone()))
                .collect();
            if let Ok(mut s) = store.lock() {
                s.save_handles(app, provider, &handles)?;
            }
        }
    }
    let (c, u, r, d) = plan.counts();
    match result {
        Ok(()) => {
            if json {
                emit_json(&serde_json::json!({
                    "event": "result", "ok": true, "app": app, "deployment": id,
                    "created": c, "updated": u, "replaced": r, "deleted": d,
                    "millis": t.elapsed().as_millis() as u64,
                }));
            } else {
                eprintln!(
                    "{app}: {} ({c} created, {u} updated, {r} replaced, {d} deleted) in {:.1}s",
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

/// Progress: bars on a terminal, lines otherwise, JSON lines with `--output json`.
struct Progress {
    json: bool,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<ResourceId, ProgressBar>>,
}

impl Progress {
    fn new(json: bool) -> Self {
        let multi = (!json && std::io::stderr().is_terminal()).then(MultiProgress::new);
        Progress {
            json,
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn event(&self, e: &Event) {
        if self.json {
            emit_json(&serde_json::to_value(e).unwrap_or_default());
            return;
        }
        let Some(multi) = &self.multi else {
            let line = match e {
                Event::Started { .. } | Event::Waiting { .. } => return,
                Event::Done {
                    resource,
                    action,
                    millis,
                } => {
                    format!(
                        "{} {resource}: {} ({millis} ms)",
                        action.symbol(),
                        done_word(*action)
                    )
                }
                Event::Failed {
                    resource,
                    action,
                    error,
                } => {
                    format!("{} {resource}: failed: {error}", action.symbol())
                }
                Event::Ready { resource, millis } => format!("  {resource}: running ({millis} ms)"),
            };
            eprintln!("{line}");
            return;
        };
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = |bars: &mut HashMap<ResourceId, ProgressBar>, r: &ResourceId| {
            bars.entry(r.clone())
                .or_insert_with(|| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:<28} {wide_msg} {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_prefix(r.to_string());
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

    fn finish(&self) {
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
            "#{:<4} {}  {:<9} {:<11} {:<24} {} changes{}",
            d.id,
            utc(d.started),
            d.command,
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
