//! Writing an [`App`] back out as a bridge.yaml (canonical: sorted, shortest forms, defaults left out).

use crate::model::App;

/// The app as bridge.yaml text. Strings that a YAML 1.1 reader would misread (`yes`, `1.10`)
/// are quoted.
pub fn to_yaml(app: &App) -> Result<String, String> {
    serde_saphyr::to_string(app).map_err(|e| format!("cannot write YAML: {e}"))
}

/// The app as pretty JSON.
pub fn to_json(app: &App) -> Result<String, String> {
    serde_json::to_string_pretty(app).map_err(|e| format!("cannot write JSON: {e}"))
}
