//! Command definitions (clap) and their implementations.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};

use bridge_core::emit;
use bridge_core::{LoadOptions, Loaded, load_file};

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

/// Inputs shared by the commands that read an app.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Env files for compose interpolation (default: `.env` beside the file).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Compose profiles to enable (also COMPOSE_PROFILES, comma-separated).
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
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
            let Some(app) = loaded.app.as_ref() else {
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
    }
}

fn explain(code: Option<&str>, json: bool) -> Result<ExitCode> {
    let all = bridge_core::codes::all_with_compose();
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

fn load(file: &Path, input: &InputArgs, skip_validation: bool) -> Loaded {
    let mut profiles = input.profiles.clone();
    if let Ok(p) = std::env::var("COMPOSE_PROFILES") {
        profiles.extend(p.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    let opts = LoadOptions {
        env: None::<HashMap<String, String>>,
        env_files: input.env_files.clone(),
        profiles,
        skip_validation,
        ..LoadOptions::default()
    };
    load_file(file, &opts)
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

fn print_json(v: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Write atomically: a temporary file beside the target, then rename.
fn write_file(path: &Path, text: &str) -> Result<()> {
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
