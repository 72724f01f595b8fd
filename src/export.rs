//! `bridge export`: provider artifacts (ECS task definitions, or the compose text `docker stack
//! config` prints) read back into bridge.yaml. What cannot be read back is
//! printed as diagnostics (`X001`, `X002`); the written file is validated before it is written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use bridge_core::source::{SourceFile, Sources};
use bridge_core::{Diagnostics, LoadOptions, emit, load_str};
use bridge_translators::export::Export;

use crate::input::{InputArgs, load};
use crate::output::{self, EXIT_INVALID, EXIT_OK};

/// What `--from` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum From {
    /// ECS task definition JSON (a RegisterTaskDefinition body or describe-task-definition output).
    EcsTaskDef,
    /// A compose file (what `docker stack config` prints).
    Compose,
    /// Heat (HOT) templates: the ones bridge renders, and hand-written ones.
    Heat,
    /// GCE instance, disk and firewall bodies (what `render -p gce` writes, or the API returns).
    Gce,
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// bridge.yaml.
    #[default]
    Bridge,
    /// A compose file; the fields compose cannot hold are reported (X001).
    Compose,
}

/// The `export` command's arguments.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The artifacts to read (with --from).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The kind of artifact the files are.
    #[arg(long = "from", value_enum)]
    pub from: Option<From>,
    /// Read a live deployment from this provider instead (swarm, gce).
    #[arg(short = 'p', long = "provider", value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// The Swarm stack (`docker stack deploy` name), or the Heat stack (name or id), to read.
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// The app bridge deployed (its `bridge.app` label; on aws its tag) to read.
    #[arg(long = "app", value_name = "NAME")]
    pub app: Option<String>,
    /// The ECS cluster to read (-p aws; with --app: the app's cluster, default the app name).
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Only these ECS services of the cluster (-p aws --cluster; repeatable).
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
    /// GCE: the zone to read (default: the driver's, us-central1-a).
    #[arg(long, value_name = "ZONE")]
    pub zone: Option<String>,
    /// GCE: instances to read by name, whoever made them (repeatable).
    #[arg(long = "instance", value_name = "NAME")]
    pub instance: Vec<String>,
    /// The exported app's name (default: from the artifacts).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// What to write: bridge.yaml, or a compose file.
    #[arg(long, value_enum, default_value_t = Format::Bridge)]
    pub format: Format,
    /// Where to write it (default: stdout).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Shared input options (compose).
    #[command(flatten)]
    pub input: InputArgs,
}

/// Run `bridge export`.
pub fn run(a: &ExportArgs, json: bool, color: bridge_core::render::Color) -> Result<ExitCode> {
    let mut sources = Sources::default();
    let exported = if let Some(p) = &a.provider {
        if a.from.is_some() {
            eprintln!("error: give either --from (artifacts) or --provider (a live deployment)");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
        match live(p, a) {
            Ok(Ok(e)) => e,
            Ok(Err(d)) => return fail(&d, &sources, json, color),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(crate::output::EXIT_OPERATIONAL));
            }
        }
    } else {
        let Some(from) = a.from else {
            eprintln!(
                "error: give --from ecs-task-def|heat|gce|compose FILE..., or a live deployment: -p swarm|openstack --stack NAME, -p aws --cluster NAME, -p gce --instance NAME, or -p PROVIDER --app NAME"
            );
            return Ok(ExitCode::from(EXIT_INVALID));
        };
        if a.files.is_empty() {
            eprintln!("error: --from needs at least one FILE");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
        match from_files(from, a, &mut sources) {
            Ok(e) => e,
            Err(d) => return fail(&d, &sources, json, color),
        }
    };
    // What is written must read back: validate the bridge.yaml before writing anything.
    let text = emit::to_yaml(&exported.app).map_err(anyhow::Error::msg)?;
    let name: Arc<str> = "<exported bridge.yaml>".into();
    let check = load_str(&name, &text, Path::new("."), &LoadOptions::default());
    let diags = exported.diagnostics.clone();
    if check.valid.is_none() {
        output::print_diagnostics(&diags, &sources, color);
        return fail(&check.diagnostics, &check.sources, json, color);
    }
    let header = format!(
        "# exported by bridge {}: {} field(s) could not be read back (see the diagnostics)\n",
        env!("CARGO_PKG_VERSION"),
        diags
            .0
            .iter()
            .filter(|d| d.code == bridge_core::codes::EXPORT_DROPPED)
            .count()
    );
    let text = format!("{header}{text}");
    // --format compose: the same app as a compose file, what compose cannot hold reported; the
    // compose file must import back.
    let (text, diags) = match a.format {
        Format::Bridge => (text, diags),
        Format::Compose => {
            let (compose, dropped) = bridge_translators::export::compose::to_compose(&exported.app);
            let mut diags = diags;
            diags.0.extend(dropped);
            let cname: Arc<str> = "<exported compose.yaml>".into();
            let back = load_str(&cname, &compose, Path::new("."), &LoadOptions::default());
            if back.valid.is_none() {
                output::print_diagnostics(&diags, &sources, color);
                return fail(&back.diagnostics, &back.sources, json, color);
            }
            (compose, diags)
        }
    };
    if let Some(out) = &a.out {
        crate::cli::write_file(out, &text)?;
    }
    if json {
        crate::cli::print_json(&serde_json::json!({
            "out": a.out.as_ref().map(|o| o.display().to_string()),
            "app": exported.app,
            "diagnostics": diags,
            "summary": output::summary(&diags.0),
        }))?;
    } else {
        output::print_diagnostics(&diags, &sources, color);
        match &a.out {
            Some(o) => eprintln!("wrote {}", o.display()),
            None => print!("{text}"),
        }
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn fail(
    d: &Diagnostics,
    sources: &Sources,
    json: bool,
    color: bridge_core::render::Color,
) -> Result<ExitCode> {
    if json {
        crate::cli::print_json(&serde_json::json!({
            "valid": false,
            "diagnostics": d,
            "summary": output::summary(&d.0),
        }))?;
    } else {
        output::print_diagnostics(d, sources, color);
    }
    Ok(ExitCode::from(EXIT_INVALID))
}

fn from_files(from: From, a: &ExportArgs, sources: &mut Sources) -> Result<Export, Diagnostics> {
    if from == From::Compose {
        if a.files.len() != 1 {
            return Err(Diagnostics(vec![bridge_core::Diagnostic::error(
                bridge_core::codes::EXPORT_UNREADABLE,
                "--from compose reads one file",
            )]));
        }
        let loaded = load(&a.files[0], &a.input, false);
        *sources = loaded.sources.clone();
        return match loaded.valid {
            Some(v) => {
                let mut app = v.into_app();
                if let Some(n) = &a.name {
                    app.name = n.clone();
                }
                Ok(Export {
                    app,
                    diagnostics: loaded.diagnostics,
                })
            }
            None => Err(loaded.diagnostics),
        };
    }
    let mut texts = Vec::new();
    for f in &a.files {
        let name = f.display().to_string();
        match std::fs::read_to_string(f) {
            Ok(t) => {
                sources.add(SourceFile::new(name.clone(), t.clone()));
                texts.push((name, t));
            }
            Err(e) => {
                return Err(Diagnostics(vec![
                    bridge_core::Diagnostic::error(
                        bridge_core::codes::READ_FAILED,
                        format!("cannot read the file: {e}"),
                    )
                    .with_file(name.into()),
                ]));
            }
        }
    }
    match from {
        From::Heat => bridge_translators::export::heat::templates(&texts, a.name.as_deref()),
        From::Gce => bridge_translators::export::gce::instances(&texts, a.name.as_deref()),
        _ => bridge_translators::export::ecs::task_definitions(&texts, a.name.as_deref()),
    }
}

fn live(provider: &str, a: &ExportArgs) -> Result<Result<Export, Diagnostics>> {
    use bridge_providers::swarm::{SwarmDriver, export::Select};
    if provider == "aws" {
        return live_aws(a);
    }
    #[cfg(feature = "gce")]
    if provider == "gce" {
        return live_gce(a);
    }
    if provider == "openstack" {
        return openstack(a);
    }
    if provider != "swarm" {
        anyhow::bail!(
            "no live export from `{provider}`: give -p swarm, aws, gce or openstack (or export artifacts with --from)"
        );
    }
    // The other providers' selectors mean nothing to a Swarm: refused, not ignored.
    if a.cluster.is_some() || !a.services.is_empty() || a.zone.is_some() || !a.instance.is_empty() {
        anyhow::bail!(
            "--cluster and --service are for -p aws, --zone and --instance for -p gce: a Swarm stack is selected with --stack NAME or --app NAME"
        );
    }
    let sel = match (&a.stack, &a.app) {
        (Some(s), None) => Select::Stack(s.clone()),
        (None, Some(s)) => Select::App(s.clone()),
        _ => anyhow::bail!("give one of --stack NAME or --app NAME"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let d = SwarmDriver::connect(PathBuf::from("."))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        bridge_providers::swarm::export::export(&d, &sel, a.name.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    })
}

/// `-p aws --cluster NAME [--service S ...]` or `-p aws --app NAME [--cluster NAME]`.
fn live_aws(a: &ExportArgs) -> Result<Result<Export, Diagnostics>> {
    use bridge_providers::aws::{AwsDriver, Overrides, export::Select};
    if a.stack.is_some() {
        anyhow::bail!("--stack is a Swarm stack: for ECS give --cluster NAME or --app NAME");
    }
    let sel = match (&a.app, &a.cluster) {
        (Some(app), cluster) if a.services.is_empty() => Select::App {
            app: app.clone(),
            cluster: cluster.clone(),
        },
        (None, Some(c)) => Select::Cluster {
            cluster: c.clone(),
            services: a.services.clone(),
        },
        _ => anyhow::bail!(
            "give --cluster NAME [--service NAME ...], or --app NAME [--cluster NAME] (--service selects within a cluster)"
        ),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let d = AwsDriver::connect_bare(PathBuf::from("."), Overrides::default())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        bridge_providers::aws::export::export(&d, &sel, a.name.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    })
}

/// `export -p gce --app NAME | --instance NAME...`: project, zone, credentials and endpoint
/// resolved as the driver resolves them.
#[cfg(feature = "gce")]
fn live_gce(a: &ExportArgs) -> Result<Result<Export, Diagnostics>> {
    use bridge_providers::gce::{GceDriver, export::Select};
    let sel = match (&a.app, a.instance.is_empty()) {
        (Some(s), true) => Select::App(s.clone()),
        (None, false) => Select::Instances(a.instance.clone()),
        _ => anyhow::bail!("give one of --app NAME or --instance NAME..."),
    };
    let opts = bridge_core::model::GceOptions {
        zone: a.zone.clone(),
        ..Default::default()
    };
    let d =
        GceDriver::connect(Some(&opts), PathBuf::from(".")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(bridge_providers::gce::export::export(
        &d,
        &sel,
        a.name.as_deref(),
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `-p openstack --stack NAME_OR_ID|--app NAME`: the cloud is the one deploy would use without
/// an app file (`OS_CLOUD` in clouds.yaml, else the `OS_*` variables).
fn openstack(a: &ExportArgs) -> Result<Result<Export, Diagnostics>> {
    use bridge_providers::openstack::{OpenstackDriver, export::Select};
    let sel = match (&a.stack, &a.app) {
        (Some(s), None) => Select::Stack(s.clone()),
        (None, Some(s)) => Select::App(s.clone()),
        _ => anyhow::bail!("give one of --stack NAME_OR_ID or --app NAME"),
    };
    let d = OpenstackDriver::connect(PathBuf::from("."), None, None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(bridge_providers::openstack::export::export(
        &d,
        &sel,
        a.name.as_deref(),
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))
}
