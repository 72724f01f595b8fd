//! The `bridge` command line: one neutral application definition, deployed to ECS, GCE,
//! OpenStack Heat or Docker Swarm. Exit codes: 0 ok, 1 invalid input, 2 operational failure,
//! 3 plan has changes (with `--detailed-exitcode`).

mod cli;
mod export;
mod input;
mod keys;
mod lifecycle;
mod output;
mod relocate;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(output::EXIT_OPERATIONAL)
        }
    }
}
