//! bridge-core: the neutral application model, parsing of bridge.yaml and compose files with source
//! positions, compose import, validation into a [`validate::ValidApp`], and diagnostics. No network.

pub mod codes;
pub mod compose;
pub mod de;
pub mod diag;
pub mod emit;
pub mod hash;
pub mod load;
pub mod model;
pub mod node;
pub mod partition;
pub mod placement;
pub mod plan;
pub mod refs;
pub mod render;
pub mod schema;
pub mod shell;
pub mod source;
pub mod state;
pub mod units;
pub mod validate;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use load::{Format, LoadOptions, Loaded, load_file, load_str};
pub use model::App;
pub use validate::ValidApp;
