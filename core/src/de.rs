//! A serde `Deserializer` over a [`Node`] tree: typed structs are read with the position and field
//! path of every error, and unknown keys are collected (all of them, each with a did-you-mean hint)
//! instead of stopping at the first.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use crate::codes;
use crate::diag::{Diagnostic, did_you_mean};
use crate::node::{Node, NodeKind, Resolved};
use crate::source::Span;

/// A deserialisation failure: the first hard error in a document.
#[derive(Debug, Clone)]
pub struct DeError {
    /// The diagnostic code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// Where, once known.
    pub span: Option<Span>,
    /// The field path, once known.
    pub path: Option<String>,
    /// What to do.
    pub hint: Option<String>,
}

impl DeError {
    /// An error with a specific code, message and hint, for custom `Deserialize` impls.
    pub fn coded(code: &'static str, message: impl Into<String>, hint: Option<String>) -> DeError {
        DeError {
            code,
            message: message.into(),
            span: None,
            path: None,
            hint,
        }
    }

    /// Turn into a diagnostic.
    pub fn into_diagnostic(self) -> Diagnostic {
        let mut d =
            Diagnostic::error(self.code, self.message).with_path(self.path.unwrap_or_default());
        if let Some(s) = self.span {
            d = d.with_span(s);
        }
        d.with_hint_opt(self.hint)
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

/// Carry a [`DeError`]'s code and hint through serde's string-only `custom` errors.
const CODED_MARK: char = '\u{1}';

/// Build a serde error (for any `de::Error`) that keeps a diagnostic code and hint when the
/// deserializer is this module's. Use from custom `Deserialize` impls and visitors.
pub fn coded_error<E: de::Error>(code: &'static str, message: &str, hint: Option<&str>) -> E {
    E::custom(format_args!(
        "{CODED_MARK}{code}{CODED_MARK}{}{CODED_MARK}{message}",
        hint.unwrap_or("")
    ))
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let s = msg.to_string();
        if let Some(rest) = s.strip_prefix(CODED_MARK) {
            let mut parts = rest.splitn(3, CODED_MARK);
            let code = parts.next().unwrap_or("");
            let hint = parts.next().unwrap_or("");
            let message = parts.next().unwrap_or("");
            return DeError {
                code: codes::lookup(code),
                message: message.to_string(),
                span: None,
                path: None,
                hint: (!hint.is_empty()).then(|| hint.to_string()),
            };
        }
        DeError::coded(codes::INVALID_VALUE, s, None)
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::coded(
            codes::WRONG_TYPE,
            format!("expected {exp}, found {}", describe_unexpected(&unexp)),
            None,
        )
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::coded(
            codes::INVALID_VALUE,
            format!(
                "invalid value {}, expected {exp}",
                describe_unexpected(&unexp)
            ),
            None,
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let hint = did_you_mean(variant, expected.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| Some(format!("one of: {}", expected.join(", "))));
        DeError::coded(
            codes::INVALID_VALUE,
            format!("unknown value `{variant}`"),
            hint,
        )
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::coded(
            codes::MISSING_FIELD,
            format!("missing required field `{field}`"),
            None,
        )
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::coded(
            codes::UNKNOWN_FIELD,
            format!("unknown field `{field}`"),
            field_hint(field, expected),
        )
    }
}

fn describe_unexpected(u: &de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Str(s) => format!("string \"{s}\""),
        de::Unexpected::Unsigned(n) => format!("integer {n}"),
        de::Unexpected::Signed(n) => format!("integer {n}"),
        de::Unexpected::Float(n) => format!("number {n}"),
        de::Unexpected::Bool(b) => format!("boolean {b}"),
        de::Unexpected::Unit => "null".into(),
        de::Unexpected::Seq => "a sequence".into(),
        de::Unexpected::Map => "a mapping".into(),
        other => other.to_string(),
    }
}

/// Compose keys that bridge.yaml spells differently, so a compose habit gets a direct answer.
const COMPOSE_SPELLINGS: &[(&str, &str)] = &[
    ("environment", "bridge.yaml calls it `env`"),
    ("healthcheck", "bridge.yaml calls it `health`"),
    (
        "deploy",
        "bridge.yaml has `replicas`, `mode`, `resources`, `placement`, `update`, `rollback` and `restart` on the service itself",
    ),
    ("mem_limit", "bridge.yaml has `resources: {memory: ...}`"),
    (
        "mem_reservation",
        "bridge.yaml has `resources: {reserve_memory: ...}`",
    ),
    ("cpus", "bridge.yaml has `resources: {cpus: ...}`"),
    (
        "env_file",
        "bridge.yaml holds variables in `env`; `bridge import` inlines compose env files",
    ),
    (
        "build",
        "bridge deploys images: set `image` to the image your CI builds and pushes",
    ),
    (
        "container_name",
        "names are `<app>-<service>` on every target, so replicas do not clash",
    ),
    ("scale", "bridge.yaml calls it `replicas`"),
];

fn field_hint(field: &str, expected: &[&str]) -> Option<String> {
    if let Some((_, h)) = COMPOSE_SPELLINGS.iter().find(|(k, _)| *k == field)
        && !expected.contains(&field)
    {
        return Some(h.to_string());
    }
    match did_you_mean(field, expected.iter().copied()) {
        Some(s) => Some(format!("did you mean `{s}`?")),
        None if expected.is_empty() => None,
        None => Some(format!("known fields: {}", expected.join(", "))),
    }
}

/// One step of the path being read.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Shared state of one deserialisation: the path being read and the soft diagnostics found.
pub struct State<'a> {
    path: RefCell<Vec<Seg<'a>>>,
    diags: RefCell<Vec<Diagnostic>>,
    /// Accept `x-` keys anywhere as extensions.
    allow_extensions: bool,
}

impl<'a> State<'a> {
    /// A fresh state; `allow_extensions` lets `x-*` keys stand in any mapping.
    pub fn new(allow_extensions: bool) -> State<'a> {
        State {
            path: RefCell::new(Vec::new()),
            diags: RefCell::new(Vec::new()),
            allow_extensions,
        }
    }

    /// A new state whose path starts at `prefix` (a field path like `services.web`).
    pub fn with_prefix(allow_extensions: bool, prefix: &'a str) -> State<'a> {
        let st = State::new(allow_extensions);
        if !prefix.is_empty() {
            st.path.borrow_mut().push(Seg::Key(prefix));
        }
        st
    }

    /// The soft diagnostics (unknown keys) collected so far.
    pub fn take_diagnostics(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diags.borrow_mut())
    }

    fn path_string(&self) -> String {
        render_path(&self.path.borrow())
    }
}

fn render_path(segs: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

/// Deserialize `T` from `node`. Soft diagnostics (unknown keys) are pushed to `state`.
pub fn from_node<'a, T: de::Deserialize<'a>>(
    node: &'a Node,
    state: &'a State<'a>,
) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, st: state })
}

/// The deserializer for one node.
#[derive(Clone, Copy)]
pub struct NodeDe<'a> {
    node: &'a Node,
    st: &'a State<'a>,
}

impl<'a> NodeDe<'a> {
    /// The node this deserializer reads.
    pub fn node(&self) -> &'a Node {
        self.node
    }

    fn locate(&self, mut e: DeError) -> DeError {
        if e.span.is_none() {
            e.span = Some(self.node.span);
        }
        if e.path.is_none() {
            e.path = Some(self.st.path_string());
        }
        e
    }

    fn type_err(&self, exp: &str) -> DeError {
        self.locate(DeError::coded(
            codes::WRONG_TYPE,
            format!("expected {exp}, found {}", self.node.describe()),
            None,
        ))
    }

    fn scalar_text(&self) -> Option<&'a str> {
        self.node.as_str()
    }

    fn int(&self) -> Result<i128, DeError> {
        match self.node.resolve() {
            Some(Resolved::Int(i)) => Ok(i128::from(i)),
            Some(Resolved::Str(t)) if self.node.scalar().is_some_and(|s| s.plain) => {
                t.parse::<i128>().map_err(|_| self.type_err("an integer"))
            }
            _ => Err(self.type_err("an integer")),
        }
    }
}

macro_rules! de_int {
    ($name:ident, $ty:ty, $visit:ident) => {
        fn $name<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
            let i = self.int()?;
            let n = <$ty>::try_from(i).map_err(|_| {
                self.locate(DeError::coded(
                    codes::INVALID_VALUE,
                    format!(
                        "{i} is out of range: expected a whole number from {} to {}",
                        <$ty>::MIN,
                        <$ty>::MAX
                    ),
                    None,
                ))
            })?;
            v.$visit(n).map_err(|e| self.locate(e))
        }
    };
}

impl<'a> de::Deserializer<'a> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            NodeKind::Seq(items) => v.visit_seq(SeqAcc {
                items,
                i: 0,
                st: self.st,
            }),
            NodeKind::Map(entries) => v.visit_map(MapAcc::new(entries, self.st, None)),
            NodeKind::Scalar(s) if !s.plain => v.visit_borrowed_str(&s.text),
            NodeKind::Scalar(s) => match crate::node::resolve_plain(&s.text) {
                Resolved::Null => v.visit_unit(),
                Resolved::Bool(b) => v.visit_bool(b),
                Resolved::Int(i) => {
                    if i >= 0 {
                        v.visit_u64(i as u64)
                    } else {
                        v.visit_i64(i)
                    }
                }
                Resolved::Float(f) => v.visit_f64(f),
                Resolved::Str(_) => v.visit_borrowed_str(&s.text),
            },
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        let b = match self.node.scalar() {
            Some(s) if s.plain => match s.text.as_str() {
                "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => true,
                "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => false,
                _ => return Err(self.type_err("true or false")),
            },
            Some(s) => match s.text.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(self.type_err("true or false")),
            },
            None => return Err(self.type_err("true or false")),
        };
        v.visit_bool(b).map_err(|e| self.locate(e))
    }

    de_int!(deserialize_i8, i8, visit_i8);
    de_int!(deserialize_i16, i16, visit_i16);
    de_int!(deserialize_i32, i32, visit_i32);
    de_int!(deserialize_i64, i64, visit_i64);
    de_int!(deserialize_u8, u8, visit_u8);
    de_int!(deserialize_u16, u16, visit_u16);
    de_int!(deserialize_u32, u32, visit_u32);
    de_int!(deserialize_u64, u64, visit_u64);

    fn deserialize_f32<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(v)
    }

    fn deserialize_f64<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        let f = match self.node.resolve() {
            Some(Resolved::Int(i)) => i as f64,
            Some(Resolved::Float(f)) => f,
            _ => return Err(self.type_err("a number")),
        };
        v.visit_f64(f).map_err(|e| self.locate(e))
    }

    fn deserialize_char<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_str<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.scalar() {
            Some(s) if s.plain && crate::node::resolve_plain(&s.text) == Resolved::Null => {
                Err(self.type_err("a string"))
            }
            Some(s) => v.visit_borrowed_str(&s.text).map_err(|e| self.locate(e)),
            None => Err(self.type_err("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            v.visit_none().map_err(|e| self.locate(e))
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            v.visit_unit().map_err(|e| self.locate(e))
        } else {
            Err(self.type_err("null"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Seq(items) => v
                .visit_seq(SeqAcc {
                    items,
                    i: 0,
                    st: self.st,
                })
                .map_err(|e| self.locate(e)),
            _ => Err(self.type_err("a sequence")),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(entries) => v
                .visit_map(MapAcc::new(entries, self.st, None))
                .map_err(|e| self.locate(e)),
            _ => Err(self.type_err("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(entries) => v
                .visit_map(MapAcc::new(entries, self.st, Some(fields)))
                .map_err(|e| self.locate(e)),
            _ => Err(self.type_err("a mapping")),
        }
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match self.scalar_text() {
            Some(s) => {
                let d: de::value::StrDeserializer<'_, DeError> = s.into_deserializer();
                v.visit_enum(d).map_err(|e| self.locate(e))
            }
            None => Err(self.type_err("a string")),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }
}

struct SeqAcc<'a> {
    items: &'a [Node],
    i: usize,
    st: &'a State<'a>,
}

impl<'a> de::SeqAccess<'a> for SeqAcc<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.get(self.i) else {
            return Ok(None);
        };
        self.st.path.borrow_mut().push(Seg::Index(self.i));
        self.i += 1;
        let r = seed.deserialize(NodeDe { node, st: self.st });
        let r = r.map_err(|e| NodeDe { node, st: self.st }.locate(e));
        self.st.path.borrow_mut().pop();
        r.map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.i)
    }
}

struct MapAcc<'a> {
    entries: &'a [(Node, Node)],
    i: usize,
    st: &'a State<'a>,
    fields: Option<&'static [&'static str]>,
}

impl<'a> MapAcc<'a> {
    fn new(
        entries: &'a [(Node, Node)],
        st: &'a State<'a>,
        fields: Option<&'static [&'static str]>,
    ) -> Self {
        MapAcc {
            entries,
            i: 0,
            st,
            fields,
        }
    }
}

impl<'a> de::MapAccess<'a> for MapAcc<'a> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        while let Some((k, _)) = self.entries.get(self.i) {
            let key = k.as_str().unwrap_or("");
            if let Some(fields) = self.fields
                && !fields.contains(&key)
            {
                self.i += 1;
                if self.st.allow_extensions && key.starts_with("x-") {
                    continue;
                }
                let mut path = self.st.path.borrow().clone();
                path.push(Seg::Key(key));
                let d = Diagnostic::error(codes::UNKNOWN_FIELD, format!("unknown field `{key}`"))
                    .with_path(render_path(&path))
                    .with_span(k.span)
                    .with_hint_opt(field_hint(key, fields));
                self.st.diags.borrow_mut().push(d);
                continue;
            }
            let r = seed.deserialize(NodeDe {
                node: k,
                st: self.st,
            });
            return r.map(Some).map_err(|e| {
                NodeDe {
                    node: k,
                    st: self.st,
                }
                .locate(e)
            });
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((k, node)) = self.entries.get(self.i) else {
            return Err(DeError::coded(
                codes::INVALID_VALUE,
                "value requested past the end of a mapping",
                None,
            ));
        };
        self.i += 1;
        self.st
            .path
            .borrow_mut()
            .push(Seg::Key(k.as_str().unwrap_or("")));
        let r = seed.deserialize(NodeDe { node, st: self.st });
        let r = r.map_err(|e| NodeDe { node, st: self.st }.locate(e));
        self.st.path.borrow_mut().pop();
        r
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.i)
    }
}
