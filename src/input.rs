//! What every command that reads an app shares: the input options (env files, profiles) and
//! loading the file with them. Used by `cli` and `lifecycle` alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bridge_core::{LoadOptions, Loaded, load_file};

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

/// Load `file` with the input options (`COMPOSE_PROFILES` added to `--profile`).
pub fn load(file: &Path, input: &InputArgs, skip_validation: bool) -> Loaded {
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
