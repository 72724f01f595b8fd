//! Rendering diagnostics like a compiler: `file:line:col`, the source line, a caret, the hint.

use std::fmt::Write;

use crate::diag::{Diagnostic, Severity};
use crate::source::Sources;

/// Colours for a terminal; none when writing to a file or a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Plain text.
    Never,
    /// ANSI colours.
    Always,
}

fn paint(color: Color, code: &str, text: &str) -> String {
    match color {
        Color::Never => text.to_string(),
        Color::Always => format!("\x1b[{code}m{text}\x1b[0m"),
    }
}

/// Render one diagnostic, quoting its source line when the file is known.
///
/// ```text
/// error[E016]: services.web.ports[1]: port 70000 is out of range (1-65535)
///   --> app.yaml:7:9
///    |
///  7 |       - "70000:80"
///    |         ^^^^^^^^^^ write "published:container/protocol", e.g. "80:8000/tcp"
/// ```
pub fn render(d: &Diagnostic, sources: &Sources, color: Color) -> String {
    let mut out = String::new();
    let (sev, sev_color) = match d.severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
        Severity::Note => ("note", "1;36"),
    };
    let _ = write!(
        out,
        "{}",
        paint(color, sev_color, &format!("{sev}[{}]", d.code))
    );
    let _ = write!(out, "{} ", paint(color, "1", ":"));
    if !d.path.is_empty() {
        let _ = write!(out, "{}: ", paint(color, "1", &d.path));
    }
    let _ = writeln!(out, "{}", paint(color, "1", &d.message));
    let Some(file) = &d.file else {
        if let Some(h) = &d.hint {
            let _ = writeln!(out, "  = hint: {h}");
        }
        return out;
    };
    let Some(span) = d.span else {
        let _ = writeln!(out, "  --> {file}");
        if let Some(h) = &d.hint {
            let _ = writeln!(out, "  = hint: {h}");
        }
        return out;
    };
    let line_no = span.line.to_string();
    let pad = " ".repeat(line_no.len());
    let _ = writeln!(
        out,
        "{pad}{} {file}:{}:{}",
        paint(color, "1;34", "-->"),
        span.line,
        span.col
    );
    let text = sources.get(file).and_then(|f| f.line_text(span.line));
    match text {
        Some(text) => {
            let bar = paint(color, "1;34", "|");
            let _ = writeln!(out, "{pad} {bar}");
            let shown: String = text
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            let _ = writeln!(out, "{} {bar} {shown}", paint(color, "1;34", &line_no));
            let len = text.chars().count() as u32;
            let start = span.col.max(1);
            let end = if span.end_line == span.line && span.end_col > start {
                span.end_col.min(len + 1)
            } else {
                len + 1
            };
            let width = end.saturating_sub(start).max(1) as usize;
            let carets = paint(color, sev_color, &"^".repeat(width));
            let indent = " ".repeat(start as usize - 1);
            match &d.hint {
                Some(h) => {
                    let _ = writeln!(out, "{pad} {bar} {indent}{carets} {}", paint(color, "1", h));
                }
                None => {
                    let _ = writeln!(out, "{pad} {bar} {indent}{carets}");
                }
            }
        }
        None => {
            if let Some(h) = &d.hint {
                let _ = writeln!(out, "  = hint: {h}");
            }
        }
    }
    out
}

/// Render all diagnostics, one blank line between them, then a summary line.
pub fn render_all(ds: &[Diagnostic], sources: &Sources, color: Color) -> String {
    let mut out = String::new();
    for d in ds {
        out.push_str(&render(d, sources, color));
        out.push('\n');
    }
    let errors = ds.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = ds
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    if errors + warnings > 0 {
        let plural = |n: usize, w: &str| {
            if n == 1 {
                format!("{n} {w}")
            } else {
                format!("{n} {w}s")
            }
        };
        let _ = writeln!(
            out,
            "{}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
    out
}
