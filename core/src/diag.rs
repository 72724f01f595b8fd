//! Diagnostics: severity, stable code, field path, file:line:col and a hint.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::source::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input cannot be used.
    Error,
    /// The input is used, but something is lost or approximated.
    Warning,
    /// Information worth knowing.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One finding about the input, pointing at where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// A stable code, listed in [`crate::codes`].
    pub code: &'static str,
    /// What is wrong, lower-case, no trailing period.
    pub message: String,
    /// The field path, like `services.web.ports[1]`; empty for the whole file.
    pub path: String,
    /// The file the diagnostic points into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<Arc<str>>,
    /// Where in the file.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_span")]
    pub span: Option<Span>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

fn ser_span<S: serde::Serializer>(span: &Option<Span>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    match span {
        Some(sp) => {
            let mut st = s.serialize_struct("Span", 4)?;
            st.serialize_field("line", &sp.line)?;
            st.serialize_field("column", &sp.col)?;
            st.serialize_field("end_line", &sp.end_line)?;
            st.serialize_field("end_column", &sp.end_col)?;
            st.end()
        }
        None => s.serialize_none(),
    }
}

impl Diagnostic {
    /// An error with a code and a message.
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, message)
    }

    /// A warning with a code and a message.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, message)
    }

    /// A diagnostic of any severity.
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            path: String::new(),
            file: None,
            span: None,
            hint: None,
        }
    }

    /// Set the field path.
    pub fn with_path(mut self, path: impl Into<String>) -> Diagnostic {
        self.path = path.into();
        self
    }

    /// Set the position.
    pub fn with_span(mut self, span: Span) -> Diagnostic {
        if !span.is_unknown() {
            self.span = Some(span);
        }
        self
    }

    /// Set the file.
    pub fn with_file(mut self, file: Arc<str>) -> Diagnostic {
        self.file = Some(file);
        self
    }

    /// Set the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Set the hint when there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Diagnostic {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// One line: `file:line:col: severity[code]: path: message (hint: ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
            if let Some(span) = self.span {
                write!(f, "{}:{}:", span.line, span.col)?;
            }
            f.write_str(" ")?;
        }
        write!(f, "{}[{}]: ", self.severity, self.code)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// An ordered list of diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No diagnostics.
    pub fn new() -> Diagnostics {
        Diagnostics(Vec::new())
    }

    /// Add one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Add many.
    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(ds);
    }

    /// True when any is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// How many errors.
    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    /// Iterate.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sort by file, position, then code, keeping equal ones in order.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (a.file.as_deref(), a.span.map(|s| (s.line, s.col)), a.code).cmp(&(
                b.file.as_deref(),
                b.span.map(|s| (s.line, s.col)),
                b.code,
            ))
        });
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The best suggestion for a misspelt `word` among `candidates`, if one is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&word.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if score >= 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}
