//! Source files and positions: what a diagnostic points at.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

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
    /// Byte offset of the start of each line after the first, built on the first quote: every
    /// diagnostic splitting the whole file made rendering 20,000 of them quadratic.
    line_starts: OnceLock<Vec<usize>>,
}

impl SourceFile {
    /// A source file from a name and its text.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: text.into(),
            line_starts: OnceLock::new(),
        }
    }

    /// The text of line `line` (1-based) without its line break, if it exists.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        if line == 0 {
            return None;
        }
        let starts = self.line_starts.get_or_init(|| {
            self.text
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1)
                .collect()
        });
        let i = line as usize - 1;
        let start = if i == 0 { 0 } else { *starts.get(i - 1)? };
        let end = starts.get(i).map_or(self.text.len(), |next| next - 1);
        let l = self.text.get(start..end)?;
        Some(l.strip_suffix('\r').unwrap_or(l))
    }
}

/// Every source file that a load read, so diagnostics can quote their lines.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    /// Name -> position in `files`.
    index: HashMap<Arc<str>, usize>,
}

impl Sources {
    /// Remember a file; a file of the same name replaces the earlier one.
    pub fn add(&mut self, file: SourceFile) {
        match self.index.get(&file.name) {
            Some(&i) => self.files[i] = file,
            None => {
                self.index.insert(file.name.clone(), self.files.len());
                self.files.push(file);
            }
        }
    }

    /// The file shown under `name`.
    pub fn get(&self, name: &str) -> Option<&SourceFile> {
        self.index.get(name).map(|&i| &self.files[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_text_matches_splitting_the_file() {
        for text in ["", "a", "a\n", "a\nbb\r\n\nccc", "\n\n", "x\ny\n"] {
            let f = SourceFile::new("f", text);
            for line in 0..6u32 {
                let want = (line > 0)
                    .then(|| text.split('\n').nth(line as usize - 1))
                    .flatten()
                    .map(|l| l.strip_suffix('\r').unwrap_or(l));
                assert_eq!(f.line_text(line), want, "{text:?} line {line}");
            }
        }
    }

    #[test]
    fn a_file_of_the_same_name_replaces_the_earlier_one() {
        let mut s = Sources::default();
        s.add(SourceFile::new("a", "1"));
        s.add(SourceFile::new("b", "2"));
        s.add(SourceFile::new("a", "3"));
        assert_eq!(s.get("a").map(|f| &*f.text), Some("3"));
        assert_eq!(s.get("b").map(|f| &*f.text), Some("2"));
        assert!(s.get("c").is_none());
    }
}
