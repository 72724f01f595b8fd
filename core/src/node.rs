//! A YAML (or JSON) document as a tree of nodes that remember where they stand in the file.
//!
//! Built from saphyr-parser's events rather than a generic loader so that bridge controls what a
//! compose user needs: merge keys (`<<`), anchors and aliases with an expansion budget, duplicate
//! keys as errors, and the raw text of every scalar (so `FOO: 1.10` stays `"1.10"`).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as PSpan};

use crate::source::Span;

/// Limits that keep a hostile file from exhausting memory or the stack.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes in one document, aliases expanded. A 10,000-service compose file has about 250k.
    pub max_nodes: usize,
    /// Largest input, in bytes.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 128,
            max_nodes: 2_000_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A scalar's text and whether it was written plain (unquoted), which decides how it is typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The text as written (after YAML unescaping).
    pub text: String,
    /// True for a plain scalar, false for quoted or block scalars and `!!str`.
    pub plain: bool,
}

/// The typed reading of a scalar under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'a> {
    /// `~`, `null`, or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits i64.
    Int(i64),
    /// A float.
    Float(f64),
    /// Anything else.
    Str(&'a str),
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order; keys are unique.
    Map(Vec<(Node, Node)>),
}

/// A node and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where it is.
    pub span: Span,
    /// What it holds.
    pub kind: NodeKind,
}

/// A YAML syntax or structure error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// A stable diagnostic code.
    pub code: &'static str,
    /// What to do.
    pub hint: Option<String>,
}

impl Node {
    /// A synthetic plain string node.
    pub fn str(text: impl Into<String>, span: Span) -> Node {
        Node {
            span,
            kind: NodeKind::Scalar(Scalar {
                text: text.into(),
                plain: false,
            }),
        }
    }

    /// An empty mapping.
    pub fn empty_map(span: Span) -> Node {
        Node {
            span,
            kind: NodeKind::Map(Vec::new()),
        }
    }

    /// The scalar, if this is one.
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        self.scalar().map(|s| s.text.as_str())
    }

    /// The entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The entries, if this is a mapping.
    pub fn as_map_mut(&mut self) -> Option<&mut Vec<(Node, Node)>> {
        match &mut self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key node and value under `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// The value under `key`, mutable.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?
            .iter_mut()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// True for a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), Some(Resolved::Null))
    }

    /// The core-schema reading of a scalar (quoted scalars are always strings).
    pub fn resolve(&self) -> Option<Resolved<'_>> {
        let s = self.scalar()?;
        Some(if s.plain {
            resolve_plain(&s.text)
        } else {
            Resolved::Str(&s.text)
        })
    }

    /// A short word for what the node is, for messages: `a string`, `a mapping`...
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Scalar(_) => match self.resolve() {
                Some(Resolved::Null) => "null",
                Some(Resolved::Bool(_)) => "a boolean",
                Some(Resolved::Int(_)) => "an integer",
                Some(Resolved::Float(_)) => "a number",
                _ => "a string",
            },
        }
    }

    /// The first node at a path of keys and indexes (as in `services.web.ports[1]`), and how
    /// much of the path was found; used to place diagnostics made after parsing.
    pub fn locate(&self, path: &str) -> &Node {
        let mut cur = self;
        for seg in split_path(path) {
            let next = match seg {
                PathSeg::Key(k) => cur.get(k),
                PathSeg::Index(i) => cur.as_seq().and_then(|s| s.get(i)),
            };
            match next {
                Some(n) => cur = n,
                None => break,
            }
        }
        cur
    }

    /// The key node of the last key in `path`, when the path leads to a mapping entry.
    pub fn locate_key(&self, path: &str) -> Option<&Node> {
        let (parent, last) = match path.rfind('.') {
            Some(i) if !path[i + 1..].contains('[') => (&path[..i], &path[i + 1..]),
            None if !path.contains('[') => ("", path),
            _ => return None,
        };
        let p = if parent.is_empty() {
            self
        } else {
            self.locate(parent)
        };
        p.entry(last).map(|(k, _)| k)
    }

    /// Count nodes in the tree.
    pub fn count(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Scalar(_) => 0,
            NodeKind::Seq(s) => s.iter().map(Node::count).sum(),
            NodeKind::Map(m) => m.iter().map(|(k, v)| k.count() + v.count()).sum(),
        }
    }
}

/// One step of a field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSeg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

/// Split `services.web.ports[1]` into its steps. Keys holding dots cannot be told apart; the
/// locator then stops at the deepest node it found, which is still the right neighbourhood.
pub fn split_path(path: &str) -> Vec<PathSeg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        if part.is_empty() {
            continue;
        }
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(PathSeg::Key(key));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            if let Ok(i) = stripped[..end].parse() {
                out.push(PathSeg::Index(i));
            }
            rest = &stripped[end + 1..];
        }
    }
    out
}

/// Resolve a plain scalar under the YAML 1.2 core schema.
pub fn resolve_plain(t: &str) -> Resolved<'_> {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let b = t.as_bytes();
    let first = b[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Resolved::Str(t);
    }
    if let Some(h) = t.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(h, 16) {
            return Resolved::Int(i);
        }
        return Resolved::Str(t);
    }
    if let Some(o) = t.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(o, 8) {
            return Resolved::Int(i);
        }
        return Resolved::Str(t);
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        if let Ok(i) = t.parse::<i64>() {
            return Resolved::Int(i);
        }
        // Too large for i64: keep the text, the reader decides.
        return Resolved::Str(t);
    }
    if is_core_float(digits)
        && let Ok(f) = t.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    Resolved::Str(t)
}

/// `[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)?` with at least one digit before the exponent.
fn is_core_float(s: &str) -> bool {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return false;
    }
    if !int.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
        }
    }
}

fn conv_span(s: PSpan) -> Span {
    let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Span {
        line: clamp(s.start.line()),
        col: clamp(s.start.col()).saturating_add(1),
        end_line: clamp(s.end.line()),
        end_col: clamp(s.end.col()).saturating_add(1),
    }
}

enum Frame {
    Seq {
        span: Span,
        items: Vec<Node>,
        anchor: usize,
    },
    Map {
        span: Span,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        merges: Vec<Node>,
        anchor: usize,
        /// Key -> position, built once a mapping grows past [`INDEX_FROM`] entries so that
        /// duplicate detection stays linear for a 10,000-service file.
        index: Option<HashMap<String, usize>>,
    },
}

/// Mappings smaller than this are searched by a scan; larger ones get a hash index.
const INDEX_FROM: usize = 16;

/// Load exactly one YAML document (JSON is YAML too). An empty file is a null node.
pub fn load(text: &str, limits: &Limits) -> Result<Node, LoadError> {
    if text.len() > limits.max_bytes {
        return Err(LoadError {
            message: format!(
                "the file is {} bytes, more than the limit of {} bytes",
                text.len(),
                limits.max_bytes
            ),
            span: Span::point(1, 1),
            code: crate::codes::YAML_SYNTAX,
            hint: None,
        });
    }
    Loader {
        limits,
        anchors: HashMap::new(),
        nodes: 0,
        stack: Vec::new(),
        docs: 0,
        root: None,
    }
    .run(text)
}

/// How many events saphyr-parser reads from `text`, and nothing else: the floor under [`load`]
/// (no tree, no spans kept), which the parse bench prints beside a full load.
pub fn parser_events(text: &str) -> Result<usize, LoadError> {
    let mut parser = Parser::new_from_str(text);
    let mut n = 0;
    while let Some(ev) = parser.next_event() {
        if let Err(e) = ev {
            let m = e.marker();
            let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
            return Err(LoadError {
                message: e.info().to_string(),
                span: Span::point(clamp(m.line()), clamp(m.col()).saturating_add(1)),
                code: crate::codes::YAML_SYNTAX,
                hint: yaml_hint(e.info()),
            });
        }
        n += 1;
    }
    Ok(n)
}

struct Loader<'l> {
    limits: &'l Limits,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    stack: Vec<Frame>,
    docs: usize,
    root: Option<Node>,
}

impl Loader<'_> {
    fn run(mut self, text: &str) -> Result<Node, LoadError> {
        let mut parser = Parser::new_from_str(text);
        loop {
            let (ev, pspan) = match parser.next_event() {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    let m = e.marker();
                    let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
                    let mut col = clamp(m.col()).saturating_add(1);
                    if e.info().contains("tab") {
                        // Point at the tab itself rather than the character after it.
                        let line = text
                            .split('\n')
                            .nth(m.line().saturating_sub(1))
                            .unwrap_or("");
                        if let Some(i) = line.chars().position(|c| c == '\t') {
                            col = clamp(i).saturating_add(1);
                        }
                    }
                    return Err(LoadError {
                        message: format!("invalid YAML: {}", e.info()),
                        span: Span::point(clamp(m.line()), col),
                        code: crate::codes::YAML_SYNTAX,
                        hint: yaml_hint(e.info()),
                    });
                }
            };
            let span = conv_span(pspan);
            match ev {
                Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    self.docs += 1;
                    if self.docs > 1 {
                        return Err(LoadError {
                            message: "the file holds more than one YAML document".into(),
                            span,
                            code: crate::codes::YAML_SYNTAX,
                            hint: Some(
                                "keep one document per file (remove the second `---`)".into(),
                            ),
                        });
                    }
                }
                Event::Alias(id) => {
                    let n = match self.anchors.get(&id) {
                        Some(node) => node.count(),
                        None => return Err(self.err(span, "alias refers to an unknown anchor")),
                    };
                    self.bump(n, span)?;
                    let Some(mut node) = self.anchors.get(&id).cloned() else {
                        return Err(self.err(span, "alias refers to an unknown anchor"));
                    };
                    // The alias's own position is more useful than the anchor's for errors about keys.
                    node.span = span;
                    self.push_node(node)?;
                }
                Event::Scalar(value, style, anchor, tag) => {
                    self.bump(1, span)?;
                    let mut plain = style == ScalarStyle::Plain;
                    if let Some(tag) = tag {
                        if tag.is_yaml_core_schema() {
                            if tag.suffix == "str" {
                                plain = false;
                            }
                        } else {
                            return Err(LoadError {
                                message: format!("unsupported YAML tag `{}{}`", tag.handle, tag.suffix),
                                span,
                                code: crate::codes::YAML_SYNTAX,
                                hint: Some(
                                    "bridge reads one file; override tags such as `!reset` only make sense when merging several compose files".into(),
                                ),
                            });
                        }
                    }
                    let node = Node {
                        span,
                        kind: NodeKind::Scalar(Scalar {
                            text: value.into_owned(),
                            plain,
                        }),
                    };
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.push_node(node)?;
                }
                Event::SequenceStart(anchor, tag) => {
                    self.check_tag(tag.as_deref(), span)?;
                    self.bump(1, span)?;
                    self.open(span)?;
                    self.stack.push(Frame::Seq {
                        span,
                        items: Vec::new(),
                        anchor,
                    });
                }
                Event::MappingStart(anchor, tag) => {
                    self.check_tag(tag.as_deref(), span)?;
                    self.bump(1, span)?;
                    self.open(span)?;
                    self.stack.push(Frame::Map {
                        span,
                        entries: Vec::new(),
                        pending_key: None,
                        merges: Vec::new(),
                        anchor,
                        index: None,
                    });
                }
                Event::SequenceEnd => {
                    if let Some(Frame::Seq {
                        span: s,
                        items,
                        anchor,
                    }) = self.stack.pop()
                    {
                        let node = Node {
                            span: Span {
                                end_line: span.end_line,
                                end_col: span.end_col,
                                ..s
                            },
                            kind: NodeKind::Seq(items),
                        };
                        if anchor > 0 {
                            self.anchors.insert(anchor, node.clone());
                        }
                        self.push_node(node)?;
                    }
                }
                Event::MappingEnd => {
                    if let Some(Frame::Map {
                        span: s,
                        mut entries,
                        merges,
                        anchor,
                        ..
                    }) = self.stack.pop()
                    {
                        for m in merges {
                            apply_merge(&mut entries, m)?;
                        }
                        let node = Node {
                            span: Span {
                                end_line: span.end_line,
                                end_col: span.end_col,
                                ..s
                            },
                            kind: NodeKind::Map(entries),
                        };
                        if anchor > 0 {
                            self.anchors.insert(anchor, node.clone());
                        }
                        self.push_node(node)?;
                    }
                }
            }
        }
        Ok(self.root.unwrap_or(Node {
            span: Span::point(1, 1),
            kind: NodeKind::Scalar(Scalar {
                text: String::new(),
                plain: true,
            }),
        }))
    }

    fn check_tag(&self, tag: Option<&saphyr_parser::Tag>, span: Span) -> Result<(), LoadError> {
        match tag {
            Some(t) if !t.is_yaml_core_schema() => Err(LoadError {
                message: format!("unsupported YAML tag `{}{}`", t.handle, t.suffix),
                span,
                code: crate::codes::YAML_SYNTAX,
                hint: None,
            }),
            _ => Ok(()),
        }
    }

    fn err(&self, span: Span, msg: &str) -> LoadError {
        LoadError {
            message: msg.into(),
            span,
            code: crate::codes::YAML_SYNTAX,
            hint: None,
        }
    }

    fn open(&self, span: Span) -> Result<(), LoadError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(LoadError {
                message: format!("nesting deeper than {} levels", self.limits.max_depth),
                span,
                code: crate::codes::YAML_LIMIT,
                hint: None,
            });
        }
        Ok(())
    }

    fn bump(&mut self, n: usize, span: Span) -> Result<(), LoadError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(LoadError {
                message: format!(
                    "the document has more than {} nodes (aliases expanded)",
                    self.limits.max_nodes
                ),
                span,
                code: crate::codes::YAML_LIMIT,
                hint: Some("is an alias expanding itself many times over?".into()),
            });
        }
        Ok(())
    }

    fn push_node(&mut self, node: Node) -> Result<(), LoadError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                pending_key,
                merges,
                index,
                ..
            }) => match pending_key.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar(_)) {
                        return Err(LoadError {
                            message: format!(
                                "mapping keys must be scalars, found {}",
                                node.describe()
                            ),
                            span: node.span,
                            code: crate::codes::YAML_SYNTAX,
                            hint: None,
                        });
                    }
                    *pending_key = Some(node);
                    Ok(())
                }
                Some(key) => {
                    let (ktext, kplain) = match &key.kind {
                        NodeKind::Scalar(s) => (s.text.as_str(), s.plain),
                        _ => ("", false),
                    };
                    if kplain && ktext == "<<" {
                        merges.push(node);
                        return Ok(());
                    }
                    let prev = match index {
                        Some(ix) => ix.get(ktext).and_then(|i| entries.get(*i)),
                        None => entries.iter().find(|(k, _)| k.as_str() == Some(ktext)),
                    };
                    if let Some((prev, _)) = prev {
                        return Err(LoadError {
                            message: format!(
                                "duplicate key `{ktext}` (first defined at line {})",
                                prev.span.line
                            ),
                            span: key.span,
                            code: crate::codes::DUPLICATE_KEY,
                            hint: Some("remove one of the two; YAML keeps neither reliably".into()),
                        });
                    }
                    // Only an indexed (large) mapping needs the key's text again.
                    let text = index.is_some().then(|| ktext.to_string());
                    entries.push((key, node));
                    match index {
                        Some(ix) => {
                            ix.insert(text.unwrap_or_default(), entries.len() - 1);
                        }
                        None if entries.len() >= INDEX_FROM => {
                            *index = Some(
                                entries
                                    .iter()
                                    .enumerate()
                                    .filter_map(|(i, (k, _))| {
                                        k.as_str().map(|t| (t.to_string(), i))
                                    })
                                    .collect(),
                            );
                        }
                        None => {}
                    }
                    Ok(())
                }
            },
        }
    }
}

/// Apply one `<<` merge value: a mapping or a sequence of mappings. Keys already present win,
/// and among merged mappings the earlier one wins (YAML merge key semantics).
fn apply_merge(entries: &mut Vec<(Node, Node)>, merge: Node) -> Result<(), LoadError> {
    let span = merge.span;
    let sources: Vec<Node> = match merge.kind {
        NodeKind::Map(_) => vec![merge],
        NodeKind::Seq(items) => items,
        NodeKind::Scalar(_) => {
            return Err(LoadError {
                message: "a merge key `<<` needs a mapping or a list of mappings".into(),
                span,
                code: crate::codes::YAML_SYNTAX,
                hint: Some("write `<<: *anchor` where the anchor names a mapping".into()),
            });
        }
    };
    for src in sources {
        let NodeKind::Map(m) = src.kind else {
            return Err(LoadError {
                message: "a merge key `<<` needs a mapping or a list of mappings".into(),
                span: src.span,
                code: crate::codes::YAML_SYNTAX,
                hint: None,
            });
        };
        for (k, v) in m {
            if !entries.iter().any(|(ek, _)| ek.as_str() == k.as_str()) {
                entries.push((k, v));
            }
        }
    }
    Ok(())
}

fn yaml_hint(info: &str) -> Option<String> {
    if info.contains("tab") {
        Some("YAML indentation must use spaces, not tabs".into())
    } else if info.contains("mapping values are not allowed") {
        Some("a value holding `: ` must be quoted, or a key is indented wrongly".into())
    } else if info.contains("unknown anchor") {
        Some("an alias `*name` needs an anchor `&name` defined earlier in the file".into())
    } else if info.contains("quoted scalar") {
        Some("a quoted value is not closed: check for a missing closing quote".into())
    } else if info.contains("did not find expected") {
        Some("check the indentation and the closing brackets or quotes above this line".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(s: &str) -> Result<Node, LoadError> {
        load(s, &Limits::default())
    }

    #[test]
    fn raw_scalar_text_is_kept() {
        let n = ld("a: 1.10\nb: 'x'\n").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(n.get("a").and_then(Node::as_str), Some("1.10"));
        assert_eq!(
            n.get("a").and_then(Node::resolve),
            Some(Resolved::Float(1.1))
        );
        assert_eq!(n.get("b").and_then(Node::resolve), Some(Resolved::Str("x")));
    }

    #[test]
    fn merge_keys_and_aliases() {
        let n =
            ld("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n").unwrap_or_else(|e| panic!("{e:?}"));
        let c = n.get("c").unwrap_or_else(|| panic!("no c"));
        assert_eq!(c.get("x").and_then(Node::as_str), Some("1"));
        assert_eq!(c.get("y").and_then(Node::as_str), Some("3"));
    }

    #[test]
    fn duplicate_key_is_an_error_with_position() {
        let e = ld("a: 1\nb: 2\na: 3\n")
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.code, crate::codes::DUPLICATE_KEY);
        assert_eq!((e.span.line, e.span.col), (3, 1));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let e = ld(&s).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.code, crate::codes::YAML_LIMIT);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "[".repeat(10_000);
        assert!(ld(&s).is_err());
    }

    #[test]
    fn spans_are_one_based() {
        let n = ld("services:\n  web:\n    image: x\n").unwrap_or_else(|e| panic!("{e:?}"));
        let img = n.locate("services.web.image");
        assert_eq!((img.span.line, img.span.col), (3, 12));
        let k = n
            .locate_key("services.web.image")
            .unwrap_or_else(|| panic!("no key"));
        assert_eq!((k.span.line, k.span.col), (3, 5));
    }

    #[test]
    fn path_split() {
        assert_eq!(
            split_path("services.web.ports[1]"),
            vec![
                PathSeg::Key("services"),
                PathSeg::Key("web"),
                PathSeg::Key("ports"),
                PathSeg::Index(1)
            ]
        );
    }
}
