//! Output formats and exit codes shared by every command.

use std::io::IsTerminal;

use bridge_core::render::{Color, render_all};
use bridge_core::source::Sources;
use bridge_core::{Diagnostic, Diagnostics};

/// Success.
pub const EXIT_OK: u8 = 0;
/// The input is invalid.
pub const EXIT_INVALID: u8 = 1;
/// Something outside the input failed (I/O, a provider).
pub const EXIT_OPERATIONAL: u8 = 2;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// One JSON document on stdout, for machines.
    Json,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Resolve against the environment.
    pub fn resolve(self) -> Color {
        match self {
            ColorChoice::Always => Color::Always,
            ColorChoice::Never => Color::Never,
            ColorChoice::Auto => {
                if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
                    Color::Always
                } else {
                    Color::Never
                }
            }
        }
    }
}

/// Print diagnostics to stderr in compiler style.
pub fn print_diagnostics(ds: &Diagnostics, sources: &Sources, color: Color) {
    if ds.is_empty() {
        return;
    }
    eprint!("{}", render_all(&ds.0, sources, color));
}

/// Summary counts for JSON output.
pub fn summary(ds: &[Diagnostic]) -> serde_json::Value {
    serde_json::json!({
        "errors": ds.iter().filter(|d| d.is_error()).count(),
        "warnings": ds.iter().filter(|d| d.severity == bridge_core::Severity::Warning).count(),
    })
}
