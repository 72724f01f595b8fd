//! Export: provider artifacts read back into the neutral model, the fidelity ledger in reverse.
//! Pure functions over an artifact's text (an ECS task definition, a Heat template): every field that cannot be read back is a diagnostic naming its
//! path in the artifact (`X001` dropped, `X002` approximated), never left out silently, and input
//! that cannot be read at all is an error (`X003`) naming the file, line, column and field.

mod cloudconfig;
pub mod compose;
pub mod ecs;
pub mod gce;
pub mod heat;

use std::sync::Arc;

use bridge_core::codes;
use bridge_core::node::{Node, NodeKind, Resolved};
use bridge_core::{App, Diagnostic, Diagnostics, Severity};

/// An exported app and what could not be read back.
#[derive(Debug, Clone)]
pub struct Export {
    /// The neutral app.
    pub app: App,
    /// Dropped and approximated fields (warnings and notes); never errors.
    pub diagnostics: Diagnostics,
}

/// Turn a free-form name (an ECS family, a Heat resource) into a DNS label bridge accepts:
/// lower case, `[a-z0-9-]`, starting with a letter, at most 63 characters.
pub fn dns_label(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let mut out = out.trim_matches('-').to_string();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out = format!("x-{out}");
    }
    out.truncate(63);
    out.trim_end_matches('-').to_string()
}

/// Diagnostics of one artifact file, each pointing into it.
pub(crate) struct Reader {
    pub file: Arc<str>,
    pub diags: Vec<Diagnostic>,
}

impl Reader {
    pub fn new(file: &str) -> Reader {
        Reader {
            file: file.into(),
            diags: Vec::new(),
        }
    }

    fn push(&mut self, sev: Severity, code: &'static str, path: &str, at: &Node, msg: String) {
        self.diags.push(
            Diagnostic::new(sev, code, msg)
                .with_path(path)
                .with_file(self.file.clone())
                .with_span(at.span),
        );
    }

    /// A field bridge cannot read back: a warning naming it.
    pub fn dropped(&mut self, path: &str, at: &Node, why: &str) {
        self.push(
            Severity::Warning,
            codes::EXPORT_DROPPED,
            path,
            at,
            format!("`{path}` is not exported: {why}"),
        );
    }

    /// A field the provider set itself (read-only): a note naming it.
    pub fn provider_set(&mut self, path: &str, at: &Node) {
        self.push(
            Severity::Note,
            codes::EXPORT_DROPPED,
            path,
            at,
            format!("`{path}` is set by the provider, not part of the app: not exported"),
        );
    }

    /// A field read back with a different but close meaning.
    pub fn approximated(&mut self, path: &str, at: &Node, why: &str) {
        self.push(
            Severity::Warning,
            codes::EXPORT_APPROXIMATED,
            path,
            at,
            format!("`{path}` is approximated: {why}"),
        );
    }

    /// [`Reader::dropped`], pointing into another artifact, `file`.
    pub fn dropped_in(&mut self, file: &str, path: &str, at: &Node, why: &str) {
        let mut fr = Reader::new(file);
        fr.dropped(path, at, why);
        self.diags.extend(fr.diags);
    }

    /// [`Reader::approximated`], pointing into another artifact, `file`.
    pub fn approximated_in(&mut self, file: &str, path: &str, at: &Node, why: &str) {
        let mut fr = Reader::new(file);
        fr.approximated(path, at, why);
        self.diags.extend(fr.diags);
    }

    /// YAML held in a field (a cloud-config, a container declaration) read with positions, or
    /// `None` with the field reported as dropped: `the {what} is not YAML`.
    pub fn embedded_yaml(&mut self, path: &str, at: &Node, text: &str, what: &str) -> Option<Node> {
        match bridge_core::node::load(text, &bridge_core::node::Limits::default()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.dropped(path, at, &format!("the {what} is not YAML: {}", e.message));
                None
            }
        }
    }

    /// Input that cannot be read: an error with a hint.
    pub fn fail(&mut self, path: &str, at: &Node, msg: String, hint: Option<&str>) {
        let d = Diagnostic::error(codes::EXPORT_UNREADABLE, msg)
            .with_path(path)
            .with_file(self.file.clone())
            .with_span(at.span)
            .with_hint_opt(hint.map(str::to_string));
        self.diags.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    /// A string, or an error.
    pub fn str(&mut self, path: &str, v: &Node) -> Option<String> {
        match (&v.kind, v.resolve()) {
            (NodeKind::Scalar(_), Some(Resolved::Str(s))) => Some(s.to_string()),
            (
                NodeKind::Scalar(s),
                Some(Resolved::Int(_) | Resolved::Float(_) | Resolved::Bool(_)),
            ) => Some(s.text.clone()),
            _ => {
                self.fail(
                    path,
                    v,
                    format!("`{path}` must be a string, not {}", v.describe()),
                    None,
                );
                None
            }
        }
    }

    /// A non-negative integer (numbers written as strings too, as ECS accepts), or an error.
    pub fn uint(&mut self, path: &str, v: &Node) -> Option<u64> {
        let n = match v.resolve() {
            Some(Resolved::Int(i)) => u64::try_from(i).ok(),
            Some(Resolved::Str(s)) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        if n.is_none() {
            self.fail(
                path,
                v,
                format!(
                    "`{path}` must be a non-negative integer, not {}",
                    v.describe()
                ),
                None,
            );
        }
        n
    }

    /// A signed integer, or an error.
    pub fn int(&mut self, path: &str, v: &Node) -> Option<i64> {
        match v.resolve() {
            Some(Resolved::Int(i)) => Some(i),
            Some(Resolved::Str(s)) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.fail(
                    path,
                    v,
                    format!("`{path}` must be an integer, not {}", v.describe()),
                    None,
                );
                None
            }
        }
    }

    /// A boolean, or an error.
    pub fn bool(&mut self, path: &str, v: &Node) -> Option<bool> {
        match v.resolve() {
            Some(Resolved::Bool(b)) => Some(b),
            _ => {
                self.fail(
                    path,
                    v,
                    format!("`{path}` must be true or false, not {}", v.describe()),
                    None,
                );
                None
            }
        }
    }

    /// A list of strings, or an error.
    pub fn strs(&mut self, path: &str, v: &Node) -> Option<Vec<String>> {
        let seq = self.seq(path, v)?;
        let mut out = Vec::new();
        for (i, x) in seq.iter().enumerate() {
            out.push(self.str(&format!("{path}[{i}]"), x)?);
        }
        Some(out)
    }

    /// A sequence, or an error.
    pub fn seq<'n>(&mut self, path: &str, v: &'n Node) -> Option<&'n [Node]> {
        match v.as_seq() {
            Some(s) => Some(s),
            None if v.is_null() => Some(&[]),
            None => {
                self.fail(
                    path,
                    v,
                    format!("`{path}` must be a list, not {}", v.describe()),
                    None,
                );
                None
            }
        }
    }

    /// A mapping's entries as (key text, key node, value), or an error.
    pub fn map<'n>(
        &mut self,
        path: &str,
        v: &'n Node,
    ) -> Option<Vec<(String, &'n Node, &'n Node)>> {
        match v.as_map() {
            Some(m) => Some(
                m.iter()
                    .map(|(k, val)| (k.as_str().unwrap_or_default().to_string(), k, val))
                    .collect(),
            ),
            None if v.is_null() => Some(Vec::new()),
            None => {
                self.fail(
                    path,
                    v,
                    format!("`{path}` must be a mapping, not {}", v.describe()),
                    None,
                );
                None
            }
        }
    }

    /// A mapping of strings to strings, or an error.
    pub fn str_map(
        &mut self,
        path: &str,
        v: &Node,
    ) -> Option<std::collections::BTreeMap<String, String>> {
        let entries = self.map(path, v)?;
        let mut out = std::collections::BTreeMap::new();
        for (k, _, val) in entries {
            let s = self.str(&format!("{path}.{k}"), val)?;
            out.insert(k, s);
        }
        Some(out)
    }

    /// A label mapping read into `into`: bridge's own `bridge.*` labels are left out (the
    /// export re-derives them), a value that is not a string is reported, not guessed.
    pub fn labels(
        &mut self,
        path: &str,
        v: &Node,
        into: &mut std::collections::BTreeMap<String, String>,
    ) {
        for (k, kn, val) in self.map(path, v).unwrap_or_default() {
            if k.starts_with("bridge.") {
                continue;
            }
            match val.as_str() {
                Some(s) => {
                    into.insert(k, s.to_string());
                }
                None => self.dropped(&join(path, &k), kn, "a label is a string"),
            }
        }
    }
}

/// Join a path and a key.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Parse an artifact's text (JSON or YAML) with positions, or an error diagnostic.
pub(crate) fn parse(file: &str, text: &str) -> Result<Node, Diagnostics> {
    bridge_core::node::load(text, &bridge_core::node::Limits::default()).map_err(|e| {
        Diagnostics(vec![
            Diagnostic::error(e.code, e.message)
                .with_file(file.into())
                .with_span(e.span)
                .with_hint_opt(e.hint),
        ])
    })
}

/// A GCE body or Heat template read with positions, or the `EXPORT_UNREADABLE` error saying it
/// is not `what`, with the file, the place and `hint`.
pub(crate) fn read_artifact(
    file: &str,
    text: &str,
    what: &str,
    hint: &str,
) -> Result<Node, Diagnostic> {
    bridge_core::node::load(text, &bridge_core::node::Limits::default()).map_err(|e| {
        Diagnostic::error(
            codes::EXPORT_UNREADABLE,
            format!("not {what}: {}", e.message),
        )
        .with_file(file.into())
        .with_span(e.span)
        .with_hint(hint)
    })
}

/// The secrets and configs the services name, in the services' order: (name, a secret?).
pub(crate) fn secret_and_config_refs<'a>(
    services: impl Iterator<Item = &'a bridge_core::model::Service>,
) -> Vec<(String, bool)> {
    services
        .flat_map(|s| {
            s.secrets
                .iter()
                .map(|x| (x.name.clone(), true))
                .chain(s.configs.iter().map(|c| (c.name.clone(), false)))
        })
        .collect()
}

/// The volumes the services mount (by name), in the services' order.
pub(crate) fn volume_refs<'a>(
    services: impl Iterator<Item = &'a bridge_core::model::Service>,
) -> Vec<String> {
    services
        .flat_map(|s| s.volumes.iter())
        .filter(|m| m.kind == bridge_core::model::MountKind::Volume)
        .filter_map(|m| m.source.clone())
        .collect()
}

/// A YAML list of words (a `runcmd` entry) as strings; what is no string is empty.
pub(crate) fn words(n: &Node) -> Vec<String> {
    n.as_seq()
        .unwrap_or_default()
        .iter()
        .map(|w| w.as_str().unwrap_or_default().to_string())
        .collect()
}

/// The app, or every error found when there was one.
pub(crate) fn finish(r: Reader, app: App) -> Result<Export, Diagnostics> {
    let diagnostics = Diagnostics(r.diags);
    if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        Ok(Export { app, diagnostics })
    }
}
