//! Source files and positions: what a diagnostic points at.

use std::fmt;
use std::sync::Arc;

/// A region of a source file: 1-based line and column (in characters) of its start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// Line of the first character, 1-based.
    pub line: u32,
    /// Column of the first character, 1-based, counted in characters.
    pub col: u32,
    /// Line of the end (exclusive), 1-based.
    pub end_line: u32,
    /// Column of the end (exclusive), 1-based.
    pub end_col: u32,
}

impl Span {
    /// A span covering one point.
    pub fn point(line: u32, col: u32) -> Span {
        Span {
            line,
            col,
            end_line: line,
            end_col: col + 1,
        }
    }

    /// True when the span carries no position (a synthetic node).
    pub fn is_unknown(&self) -> bool {
        self.line == 0
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One input file held in memory, by the name it is shown under.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in diagnostics (the path as the user gave it).
    pub name: Arc<str>,
    /// The whole text.
    pub text: Arc<str>,
}

impl SourceFile {
    /// A source file from a name and its text.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// The text of line `line` (1-based) without its line break, if it exists.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        if line == 0 {
            return None;
        }
        self.text
            .split('\n')
            .nth(line as usize - 1)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
    }
}

/// Every source file that a load read, so diagnostics can quote their lines.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// Remember a file; a file of the same name replaces the earlier one.
    pub fn add(&mut self, file: SourceFile) {
        self.files.retain(|f| f.name != file.name);
        self.files.push(file);
    }

    /// The file shown under `name`.
    pub fn get(&self, name: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| &*f.name == name)
    }
}
