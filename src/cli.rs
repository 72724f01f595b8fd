//! Command definitions (clap) and their implementations.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};

use bridge_core::Loaded;
use bridge_core::emit;
use bridge_core::model::ProviderKind;
use bridge_translators::{Fidelity, Translation};

use crate::input::{InputArgs, load};
use crate::lifecycle::{self, LifecycleArgs, Op, parse_duration};
use crate::output::{self, ColorChoice, EXIT_INVALID, EXIT_OK, OutputFormat};

/// bridge: one neutral application definition (containers and VMs), translated to AWS ECS, GCE
/// container-VMs, OpenStack Heat or Docker Swarm. Compose files are accepted wherever a
/// bridge.yaml is.
#[derive(Debug, Parser)]
#[command(name = "bridge", version, about, max_term_width = 100)]
pub struct Cli {
    /// Output format: text for people, json for machines.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a bridge.yaml or compose file and report every problem.
    Validate {
        /// The bridge.yaml or compose file.
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            default_value = "bridge.yaml"
        )]
        file: PathBuf,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
        /// Shared input options.
        #[command(flatten)]
        input: InputArgs,
    },
    /// Convert a compose file (or a bridge.yaml) to the neutral bridge.yaml form.
    Import {
        /// The compose file.
        file: PathBuf,
        /// Where to write it (default: stdout).
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: Option<PathBuf>,
        /// Write even when validation finds errors (the import itself must succeed).
        #[arg(long)]
        force: bool,
        /// Shared input options.
        #[command(flatten)]
        input: InputArgs,
    },
    /// Translate an app to provider artifacts (task definitions, instance bodies, Heat
    /// templates, Swarm specs) that the provider's own tools accept.
    Render {
        /// The bridge.yaml or compose file.
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            default_value = "bridge.yaml"
        )]
        file: PathBuf,
        /// The target, or `all`.
        #[arg(short = 'p', long = "provider", value_enum, default_value_t = Target::All)]
        provider: Target,
        /// Write the artifacts under this directory (default: print them).
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: Option<PathBuf>,
        /// Shared input options.
        #[command(flatten)]
        input: InputArgs,
    },
    /// Show, per field and target, whether it is mapped, approximated or dropped, and why.
    Fidelity {
        /// The bridge.yaml or compose file.
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            default_value = "bridge.yaml"
        )]
        file: PathBuf,
        /// The target, or `all`.
        #[arg(short = 'p', long = "provider", value_enum, default_value_t = Target::All)]
        provider: Target,
        /// Instead of a file: each of the 92 service-level compose keys per target, read from
        /// the ledgers of a sample service per key, with counts.
        #[arg(long)]
        keys: bool,
        /// Shared input options.
        #[command(flatten)]
        input: InputArgs,
    },
    /// Print the JSON Schema of bridge.yaml.
    Schema {
        /// Write to a file instead of stdout.
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: Option<PathBuf>,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Explain a diagnostic code, or list them all.
    Explain {
        /// A code such as E016 or C003; all codes when omitted.
        code: Option<String>,
    },
    /// Show what a deploy would change on the provider, and why.
    Plan {
        /// The app and provider.
        #[command(flatten)]
        args: LifecycleArgs,
        /// Exit 3 when the plan has changes (0 when there are none).
        #[arg(long = "detailed-exitcode")]
        detailed_exitcode: bool,
        /// Show what `deploy --adopt` would do with objects made outside bridge.
        #[arg(long)]
        adopt: bool,
    },
    /// Deploy the app: observe, plan, apply in dependency order.
    Deploy {
        /// The app and provider.
        #[command(flatten)]
        args: LifecycleArgs,
        /// Do not ask (creates a local single-node swarm when none is active).
        #[arg(long)]
        yes: bool,
        /// Wait until every service runs (and is healthy where it has a check).
        #[arg(long)]
        wait: bool,
        /// How long to wait for services to run.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
        timeout: std::time::Duration,
        /// Take over objects that have the app's names but not bridge's labels (what `bridge
        /// export` read from a `docker stack deploy` stack): labels added in place where the
        /// provider can, else replaced, as the plan says.
        #[arg(long)]
        adopt: bool,
    },
    /// Show per component: desired, running, health and the errors of failing tasks.
    Status {
        /// The app and provider.
        #[command(flatten)]
        args: LifecycleArgs,
    },
    /// Remove everything the provider holds labelled for the app.
    Destroy {
        /// The app and provider.
        #[command(flatten)]
        args: LifecycleArgs,
        /// How long to wait for objects still in use.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
        timeout: std::time::Duration,
    },
    /// Bring the provider back to the app (recreate deleted, reset drifted), once or in a loop.
    Reconcile {
        /// The app and provider.
        #[command(flatten)]
        args: LifecycleArgs,
        /// Keep reconciling every interval.
        #[arg(long)]
        watch: bool,
        /// Time between rounds with --watch.
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
        interval: std::time::Duration,
        /// How long waits may take.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
        timeout: std::time::Duration,
    },
    /// Move the app's components from one provider to another: plan both, deploy to B, wait
    /// until B is healthy, then (with --remove-source) remove A. Resumable; each phase is in
    /// history.
    Move {
        /// The app (`-p` is not used: say --from and --to).
        #[command(flatten)]
        args: LifecycleArgs,
        /// The provider the components leave (default: the move in progress, else the only
        /// provider the app runs on).
        #[arg(long, value_enum)]
        from: Option<lifecycle::DeployProvider>,
        /// The provider they go to (default: the move in progress).
        #[arg(long, value_enum)]
        to: Option<lifecycle::DeployProvider>,
        /// Once B is healthy, remove A although no cut-over target is declared (consumers must
        /// have been pointed at B's endpoints). With `move.cutover` declared, A is removed after
        /// the cut-over unless --keep.
        #[arg(long = "remove-source", conflicts_with = "keep")]
        remove_source: bool,
        /// End the move once B is healthy and leave A running.
        #[arg(long)]
        keep: bool,
        /// Return to A (deployed again if it was removed, and healthy) and remove B.
        #[arg(long, conflicts_with_all = ["keep", "remove_source", "no_data"])]
        rollback: bool,
        /// Move although named volumes' data cannot be copied to B (B starts with empty volumes).
        #[arg(long = "no-data")]
        no_data: bool,
        /// Do not ask (creates a local single-node swarm when B is swarm and none is active).
        #[arg(long)]
        yes: bool,
        /// How long B may take to become healthy (and each wait).
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
        timeout: std::time::Duration,
        /// The app's name on B: a second deployment beside A on the same provider (Swarm to
        /// Swarm on one engine), volumes copied.
        #[arg(long = "as", value_name = "NAME")]
        rename: Option<String>,
        /// B's Docker engine, for a Swarm-to-Swarm move between two engines (`unix:///path` or
        /// `tcp://host:port`); A's is `providers.swarm.endpoint`, else DOCKER_HOST.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// Read provider artifacts (ECS task definitions, `docker stack config` output) back into
    /// bridge.yaml, reporting every field that cannot be read back.
    Export(crate::export::ExportArgs),
    /// Show the app's past deployments from the state store.
    History {
        /// The app and provider.
        #[command(flatten)]
        args: LifecycleArgs,
        /// How many, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// A provider on the command line, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// AWS ECS and EC2.
    Aws,
    /// Google Compute Engine.
    Gce,
    /// OpenStack Heat.
    Openstack,
    /// Docker Swarm.
    Swarm,
    /// Every target.
    All,
}

impl Target {
    fn kinds(self) -> Vec<ProviderKind> {
        match self {
            Target::Aws => vec![ProviderKind::Aws],
            Target::Gce => vec![ProviderKind::Gce],
            Target::Openstack => vec![ProviderKind::Openstack],
            Target::Swarm => vec![ProviderKind::Swarm],
            Target::All => ProviderKind::ALL.to_vec(),
        }
    }
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let color = cli.color.resolve();
    let json = cli.output == OutputFormat::Json;
    match cli.command {
        Command::Validate {
            file,
            strict,
            input,
        } => {
            let loaded = load(&file, &input, false);
            let failed = loaded.valid.is_none()
                || loaded.diagnostics.has_errors()
                || (strict && !loaded.diagnostics.is_empty());
            if json {
                print_json(&serde_json::json!({
                    "file": file.display().to_string(),
                    "format": loaded.format,
                    "valid": !failed,
                    "diagnostics": loaded.diagnostics,
                    "summary": output::summary(&loaded.diagnostics.0),
                }))?;
            } else {
                output::print_diagnostics(&loaded.diagnostics, &loaded.sources, color);
                if !failed {
                    let app = loaded.valid.as_ref().map(|v| v.app());
                    let (s, v) = app
                        .map(|a| (a.services.len(), a.vms.len()))
                        .unwrap_or_default();
                    eprintln!(
                        "{}: valid ({}, {})",
                        file.display(),
                        plural(s, "service"),
                        plural(v, "vm")
                    );
                }
            }
            Ok(ExitCode::from(if failed { EXIT_INVALID } else { EXIT_OK }))
        }
        Command::Import {
            file,
            out,
            force,
            input,
        } => {
            let loaded = load(&file, &input, false);
            let Some(app) = loaded.app() else {
                return report_failure(&loaded, json, color);
            };
            if loaded.valid.is_none() && !force {
                return report_failure(&loaded, json, color);
            }
            let yaml = emit::to_yaml(app).map_err(anyhow::Error::msg)?;
            let header = format!(
                "# bridge.yaml imported from {} by bridge {}\n",
                file.file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or_default(),
                env!("CARGO_PKG_VERSION")
            );
            let text = format!("{header}{yaml}");
            if let Some(out) = &out {
                write_file(out, &text)?;
            }
            if json {
                print_json(&serde_json::json!({
                    "file": file.display().to_string(),
                    "format": loaded.format,
                    "out": out.as_ref().map(|o| o.display().to_string()),
                    "app": app,
                    "diagnostics": loaded.diagnostics,
                    "summary": output::summary(&loaded.diagnostics.0),
                }))?;
            } else {
                output::print_diagnostics(&loaded.diagnostics, &loaded.sources, color);
                match &out {
                    Some(o) => eprintln!("wrote {}", o.display()),
                    None => print!("{text}"),
                }
            }
            Ok(ExitCode::from(EXIT_OK))
        }
        Command::Render {
            file,
            provider,
            out,
            input,
        } => render(&file, provider, out.as_deref(), &input, json, color),
        Command::Fidelity {
            provider,
            keys: true,
            ..
        } => fidelity_keys(provider, json),
        Command::Fidelity {
            file,
            provider,
            input,
            ..
        } => fidelity(&file, provider, &input, json, color),
        Command::Schema { out } => {
            let text = bridge_core::schema::json_schema();
            match out {
                Some(o) => write_file(&o, &text)?,
                None => print!("{text}"),
            }
            Ok(ExitCode::from(EXIT_OK))
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "bridge", &mut std::io::stdout());
            Ok(ExitCode::from(EXIT_OK))
        }
        Command::Explain { code } => explain(code.as_deref(), json),
        Command::Plan {
            args,
            detailed_exitcode,
            adopt,
        } => lifecycle::run(
            &args,
            Op::Plan {
                detailed_exitcode,
                adopt,
            },
            json,
        ),
        Command::Deploy {
            args,
            yes,
            wait,
            timeout,
            adopt,
        } => lifecycle::run(
            &args,
            Op::Deploy {
                yes,
                wait,
                timeout,
                adopt,
            },
            json,
        ),
        Command::Status { args } => lifecycle::run(&args, Op::Status, json),
        Command::Destroy { args, timeout } => lifecycle::run(&args, Op::Destroy { timeout }, json),
        Command::Reconcile {
            args,
            watch,
            interval,
            timeout,
        } => lifecycle::run(
            &args,
            Op::Reconcile {
                watch,
                interval,
                timeout,
            },
            json,
        ),
        Command::History { args, limit } => lifecycle::run(&args, Op::History { limit }, json),
        Command::Move {
            args,
            from,
            to,
            remove_source,
            keep,
            rollback,
            no_data,
            yes,
            timeout,
            rename,
            endpoint,
        } => crate::relocate::run(
            &args,
            crate::relocate::MoveOp {
                from,
                to,
                keep,
                remove_source,
                rollback,
                no_data,
                yes,
                timeout,
                rename,
                endpoint,
            },
            json,
        ),
        Command::Export(a) => crate::export::run(&a, json, color),
    }
}

fn explain(code: Option<&str>, json: bool) -> Result<ExitCode> {
    let mut all = bridge_core::codes::all_with_compose();
    all.extend(bridge_translators::codes());
    all.sort();
    let rows: Vec<&(String, String)> = match code {
        Some(c) => all
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(c))
            .collect(),
        None => all.iter().collect(),
    };
    if rows.is_empty() {
        eprintln!(
            "error: unknown code `{}`; `bridge explain` lists them all",
            code.unwrap_or_default()
        );
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(c, m)| serde_json::json!({"code": c, "meaning": m}))
            .collect();
        print_json(&serde_json::Value::Array(v))?;
    } else {
        for (c, m) in rows {
            println!("{c}  {m}");
        }
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn report_failure(
    loaded: &Loaded,
    json: bool,
    color: bridge_core::render::Color,
) -> Result<ExitCode> {
    if json {
        print_json(&serde_json::json!({
            "format": loaded.format,
            "valid": false,
            "diagnostics": loaded.diagnostics,
            "summary": output::summary(&loaded.diagnostics.0),
        }))?;
    } else {
        output::print_diagnostics(&loaded.diagnostics, &loaded.sources, color);
    }
    Ok(ExitCode::from(EXIT_INVALID))
}

pub(crate) fn print_json(v: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Write atomically: a temporary file beside the target, then rename.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Translate for each selected target; targets without a translator yet are reported, not
/// silently skipped.
fn translate_all(
    valid: &bridge_core::ValidApp,
    target: Target,
) -> Vec<(ProviderKind, Option<Translation>)> {
    target
        .kinds()
        .into_iter()
        .map(|k| {
            (
                k,
                bridge_translators::for_provider(k).map(|t| t.translate(valid)),
            )
        })
        .collect()
}

/// Every address reference of the app as a late-bound input: its name, who reads it where, and
/// the provider of its producer (or `default` when the producer names none).
fn late_bound_inputs(app: &bridge_core::App) -> Vec<serde_json::Value> {
    let provider = |c: &bridge_core::partition::Component| {
        let p = match c {
            bridge_core::partition::Component::Service(n) => {
                app.services.get(n).and_then(|s| s.provider)
            }
            bridge_core::partition::Component::Vm(n) => app.vms.get(n).and_then(|v| v.provider),
        };
        p.map(|p| p.as_str()).unwrap_or("default")
    };
    bridge_core::partition::references(app)
        .iter()
        .map(|r| {
            serde_json::json!({
                "input": r.input(),
                "field": r.field,
                "consumer_provider": provider(&r.consumer),
                "producer_provider": provider(&r.producer),
            })
        })
        .collect()
}

/// The ECS translator as `render` uses it: the region from the environment or the AWS config
/// when the app gives none, and none at all an error (T226).
fn aws_render_translator() -> bridge_translators::ecs::Ecs {
    #[cfg(feature = "aws")]
    let region = bridge_providers::aws::render_region();
    #[cfg(not(feature = "aws"))]
    let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    bridge_translators::ecs::Ecs {
        options: bridge_translators::ecs::Options {
            region,
            require_region: true,
            ..Default::default()
        },
    }
}

fn render(
    file: &Path,
    target: Target,
    out: Option<&Path>,
    input: &InputArgs,
    json: bool,
    color: bridge_core::render::Color,
) -> Result<ExitCode> {
    let loaded = load(file, input, false);
    let Some(valid) = loaded.valid.as_ref() else {
        return report_failure(&loaded, json, color);
    };
    let mut diags = loaded.diagnostics.clone();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for (kind, t) in translate_all(valid, target) {
        // Render is deploy: ECS needs awslogs-region, which the driver fills from its region;
        // render takes it from the same sources, and fails naming the field without one.
        let t = if kind == ProviderKind::Aws {
            Some(bridge_translators::Translator::translate(
                &aws_render_translator(),
                valid,
            ))
        } else {
            t
        };
        match t {
            Some(t) => {
                for d in t.diagnostics.iter() {
                    let mut d = d.clone();
                    d.message = format!("{}: {}", kind.as_str(), d.message);
                    diags.push(d);
                }
                results.push((kind, t));
            }
            None => missing.push(kind),
        }
    }
    // The late-bound inputs (addresses known only once their producer exists), beside the
    // artifacts: the orchestrator fills them at deploy time from the producer's provider.
    let mut inputs = late_bound_inputs(valid.app());
    // The ARNs of the secrets the AWS driver creates (it fills them before it registers the
    // task definitions that read them).
    if target.kinds().contains(&ProviderKind::Aws) {
        for (input, fields) in bridge_translators::ecs::own_inputs(valid) {
            for field in fields {
                inputs.push(serde_json::json!({
                    "input": input,
                    "field": field,
                    "consumer_provider": "aws",
                    "producer_provider": "aws",
                }));
            }
        }
    }
    if let Some(dir) = out
        && !inputs.is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let text = serde_json::to_string_pretty(&serde_json::json!({ "inputs": inputs }))?;
        write_file(&dir.join("inputs.json"), &format!("{text}\n"))?;
    }
    if let Some(dir) = out {
        for (_, t) in &results {
            for a in &t.artifacts {
                let path = dir.join(&a.path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                write_file(&path, &a.content)?;
            }
        }
    }
    let failed = diags.has_errors();
    if json {
        let targets: Vec<_> = results
            .iter()
            .map(|(k, t)| serde_json::json!({"provider": k.as_str(), "artifacts": t.artifacts, "ledger": t.ledger}))
            .collect();
        print_json(&serde_json::json!({
            "file": file.display().to_string(),
            "out": out.map(|o| o.display().to_string()),
            "targets": targets,
            "not_available": missing.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "inputs": inputs,
            "diagnostics": diags,
            "summary": output::summary(&diags.0),
        }))?;
    } else {
        output::print_diagnostics(&diags, &loaded.sources, color);
        for (kind, t) in &results {
            match out {
                Some(dir) => eprintln!(
                    "{}: wrote {} files under {}",
                    kind.as_str(),
                    t.artifacts.len(),
                    dir.display()
                ),
                None => {
                    for a in &t.artifacts {
                        println!("--- {} ---", a.path);
                        print!("{}", a.content);
                    }
                }
            }
        }
        for k in &missing {
            eprintln!("{}: no translator yet", k.as_str());
        }
    }
    let code = if failed || (!missing.is_empty() && target != Target::All) {
        EXIT_INVALID
    } else {
        EXIT_OK
    };
    Ok(ExitCode::from(code))
}

/// `fidelity --keys`: the per-key table of every target.
fn fidelity_keys(target: Target, json: bool) -> Result<ExitCode> {
    let tables = crate::keys::tables(&target.kinds());
    if json {
        print_json(&serde_json::json!({ "targets": tables }))?;
        return Ok(ExitCode::from(EXIT_OK));
    }
    for t in &tables {
        println!("== {}", t.provider);
        for r in &t.keys {
            let word = match r.fidelity {
                Fidelity::Mapped => "mapped",
                Fidelity::Approximated => "approximated",
                Fidelity::Dropped => "dropped",
            };
            if r.reason.is_empty() {
                println!("   {word:<12} {}", r.key);
            } else {
                println!("   {word:<12} {}: {}", r.key, r.reason);
            }
        }
        println!(
            "   {} mapped, {} approximated, {} dropped of {} keys",
            t.mapped,
            t.approximated,
            t.dropped,
            t.keys.len()
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn fidelity(
    file: &Path,
    target: Target,
    input: &InputArgs,
    json: bool,
    color: bridge_core::render::Color,
) -> Result<ExitCode> {
    let loaded = load(file, input, false);
    let Some(valid) = loaded.valid.as_ref() else {
        return report_failure(&loaded, json, color);
    };
    // What import dropped or approximated, then each target's own findings: a field render
    // rejects is not called mapped, and the exit code says whether render would succeed.
    let mut diags = loaded.diagnostics.clone();
    let mut results = translate_all(valid, target);
    for (kind, t) in results.iter_mut() {
        if let Some(t) = t {
            bridge_translators::ledger::settle(t);
            for d in t.diagnostics.iter() {
                let mut d = d.clone();
                d.message = format!("{}: {}", kind.as_str(), d.message);
                diags.push(d);
            }
        }
    }
    let failed = diags.has_errors();
    let code = ExitCode::from(if failed { EXIT_INVALID } else { EXIT_OK });
    if json {
        let v: Vec<_> = results
            .iter()
            .map(|(k, t)| match t {
                Some(t) => serde_json::json!({
                    "provider": k.as_str(),
                    "renders": !t.diagnostics.has_errors(),
                    "ledger": t.ledger,
                }),
                None => serde_json::json!({"provider": k.as_str(), "ledger": null, "note": "no translator yet"}),
            })
            .collect();
        print_json(&serde_json::json!({
            "file": file.display().to_string(),
            "targets": v,
            "diagnostics": diags,
            "summary": output::summary(&diags.0),
        }))?;
        return Ok(code);
    }
    output::print_diagnostics(&diags, &loaded.sources, color);
    for (k, t) in &results {
        println!("== {}", k.as_str());
        let Some(t) = t else {
            println!("   no translator yet");
            continue;
        };
        let (mut m, mut a, mut d) = (0, 0, 0);
        for e in &t.ledger {
            let word = match e.fidelity {
                Fidelity::Mapped => {
                    m += 1;
                    "mapped"
                }
                Fidelity::Approximated => {
                    a += 1;
                    "approximated"
                }
                Fidelity::Dropped => {
                    d += 1;
                    "dropped"
                }
            };
            if e.reason.is_empty() {
                println!("   {word:<12} {}", e.field);
            } else {
                println!("   {word:<12} {}: {}", e.field, e.reason);
            }
        }
        println!("   {m} mapped, {a} approximated, {d} dropped");
        if t.diagnostics.has_errors() {
            println!("   render fails on {}: see the errors above", k.as_str());
        }
    }
    Ok(code)
}
