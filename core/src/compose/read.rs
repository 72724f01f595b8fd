//! The importer's context (diagnostics, source map) and typed readers over compose nodes that
//! report wrong shapes as diagnostics with the field path and position instead of failing.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::codes;
use crate::diag::{Diagnostic, Diagnostics, Severity, did_you_mean};
use crate::node::{Node, NodeKind, Resolved};
use crate::source::Span;
use crate::units::{ByteSize, Cpus, Duration};

use super::SourceMap;
use super::keys::KeyInfo;

/// Collects diagnostics and the source map while importing.
#[derive(Debug, Default)]
pub struct Cx {
    /// Everything found.
    pub diags: Diagnostics,
    /// Neutral path to compose span.
    pub map: SourceMap,
}

impl Cx {
    /// Push a diagnostic.
    pub fn push(
        &mut self,
        sev: Severity,
        code: &'static str,
        path: &str,
        span: Span,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diags.push(
            Diagnostic::new(sev, code, msg)
                .with_path(path)
                .with_span(span),
        );
        let last = self.diags.0.len() - 1;
        &mut self.diags.0[last]
    }

    /// An error.
    pub fn error(
        &mut self,
        code: &'static str,
        path: &str,
        span: Span,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Error, code, path, span, msg)
    }

    /// A warning.
    pub fn warn(
        &mut self,
        code: &'static str,
        path: &str,
        span: Span,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Warning, code, path, span, msg)
    }

    /// A `W102` approximation warning.
    pub fn approx(&mut self, path: &str, span: Span, msg: impl Into<String>) -> &mut Diagnostic {
        self.warn(codes::APPROXIMATED, path, span, msg)
    }

    /// Report a catalogued key that is not (fully) carried, with its own code and severity.
    pub fn report(&mut self, info: &KeyInfo, path: &str, span: Span) -> &mut Diagnostic {
        let verb = match info.treatment {
            super::keys::Treatment::Ignored => "is ignored",
            super::keys::Treatment::Rejected => "cannot be deployed",
            super::keys::Treatment::Approximated => "is approximated",
            _ => "is not carried",
        };
        let last = path.rsplit('.').next().unwrap_or(path);
        self.push(
            info.treatment.severity(),
            info.code,
            path,
            span,
            format!("`{last}` {verb}: {}", info.reason),
        )
    }

    /// Record where a neutral path came from.
    pub fn at(&mut self, neutral: impl AsRef<str>, span: Span) {
        if !span.is_unknown() {
            self.map.insert(neutral.as_ref(), span);
        }
    }

    /// Record where `base.key` came from, the path built in the map's buffer. With `replace`
    /// false an earlier record of the path is kept.
    pub fn at_key(&mut self, base: &str, key: &str, span: Span, replace: bool) {
        if !span.is_unknown() {
            self.map.record(span, replace, |b| {
                b.push_str(base);
                b.push('.');
                b.push_str(key);
            });
        }
    }

    /// Record where `base.key[i]` (`base[i]` when `key` is empty) came from.
    pub fn at_item(&mut self, base: &str, key: &str, i: usize, span: Span) {
        if !span.is_unknown() {
            self.map.record(span, true, |b| {
                b.push_str(base);
                if !key.is_empty() {
                    b.push('.');
                    b.push_str(key);
                }
                push_index(b, i);
            });
        }
    }

    /// A wrong-type error (`E011`).
    pub fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        self.error(
            codes::WRONG_TYPE,
            path,
            node.span,
            format!("expected {expected}, found {}", node.describe()),
        );
    }

    /// An invalid-value error (`E013`).
    pub fn invalid(&mut self, node: &Node, path: &str, msg: impl Into<String>) -> &mut Diagnostic {
        self.error(codes::INVALID_VALUE, path, node.span, msg)
    }

    /// Check a mapping's keys against `known`; unknown ones (not `x-*`) are `E010` errors.
    /// Returns the entries (empty when `node` is not a mapping, which is reported).
    pub fn entries<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        known: &[&str],
    ) -> Vec<(&'n str, &'n Node, &'n Node)> {
        let Some(m) = node.as_map() else {
            if !node.is_null() {
                self.wrong_type(node, path, "a mapping");
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in m {
            let Some(key) = k.as_str() else { continue };
            if key.starts_with("x-") {
                continue;
            }
            if !known.is_empty() && !known.contains(&key) {
                let hint = match did_you_mean(key, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("known fields: {}", known.join(", ")),
                };
                self.error(
                    codes::UNKNOWN_FIELD,
                    &join(path, key),
                    k.span,
                    format!("unknown field `{key}`"),
                )
                .hint = Some(hint);
                continue;
            }
            out.push((key, k, v));
        }
        out
    }

    /// A string from any non-null scalar.
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar(s) if !node.is_null() || !s.plain => Some(s.text.clone()),
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    /// A string, or none for null without a diagnostic.
    pub fn opt_string(&mut self, node: &Node, path: &str) -> Option<String> {
        if node.is_null() {
            return None;
        }
        self.string(node, path)
    }

    /// A boolean (`true`/`false`, also as a string as compose accepts).
    pub fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.resolve() {
            Some(Resolved::Bool(b)) => Some(b),
            Some(Resolved::Str(s)) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Some(true),
                "false" | "no" | "0" => Some(false),
                _ => {
                    self.wrong_type(node, path, "a boolean");
                    None
                }
            },
            Some(Resolved::Int(i)) if i == 0 || i == 1 => Some(i == 1),
            Some(Resolved::Null) => None,
            _ => {
                self.wrong_type(node, path, "a boolean");
                None
            }
        }
    }

    /// A non-negative integer (also from a string), as compose's `integer | string` fields.
    pub fn uint<T: TryFrom<u64>>(&mut self, node: &Node, path: &str) -> Option<T> {
        let v: Option<u64> = match node.resolve() {
            Some(Resolved::Int(i)) => u64::try_from(i).ok(),
            Some(Resolved::Str(s)) => s.trim().parse::<u64>().ok(),
            Some(Resolved::Float(f)) if f >= 0.0 && f.fract() == 0.0 => Some(f as u64),
            Some(Resolved::Null) => return None,
            _ => {
                self.wrong_type(node, path, "a non-negative integer");
                return None;
            }
        };
        match v.and_then(|v| T::try_from(v).ok()) {
            Some(t) => Some(t),
            None => {
                self.invalid(
                    node,
                    path,
                    format!("`{}` is not a valid count", node.as_str().unwrap_or("")),
                );
                None
            }
        }
    }

    /// A signed integer (also from a string).
    pub fn int(&mut self, node: &Node, path: &str) -> Option<i64> {
        match node.resolve() {
            Some(Resolved::Int(i)) => Some(i),
            Some(Resolved::Str(s)) => match s.trim().parse::<i64>() {
                Ok(i) => Some(i),
                Err(_) => {
                    self.wrong_type(node, path, "an integer");
                    None
                }
            },
            Some(Resolved::Null) => None,
            _ => {
                self.wrong_type(node, path, "an integer");
                None
            }
        }
    }

    /// A float (also from a string).
    pub fn float(&mut self, node: &Node, path: &str) -> Option<f64> {
        match node.resolve() {
            Some(Resolved::Int(i)) => Some(i as f64),
            Some(Resolved::Float(f)) => Some(f),
            Some(Resolved::Str(s)) => match s.trim().parse::<f64>() {
                Ok(f) => Some(f),
                Err(_) => {
                    self.wrong_type(node, path, "a number");
                    None
                }
            },
            Some(Resolved::Null) => None,
            _ => {
                self.wrong_type(node, path, "a number");
                None
            }
        }
    }

    fn unit<T: FromStr<Err = String>>(
        &mut self,
        node: &Node,
        path: &str,
        code: &'static str,
        what: &str,
    ) -> Option<T> {
        if node.is_null() {
            return None;
        }
        let Some(s) = node.as_str() else {
            self.wrong_type(node, path, what);
            return None;
        };
        match s.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(code, path, node.span, e);
                None
            }
        }
    }

    /// A duration (`1m30s`).
    pub fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        self.unit(node, path, codes::BAD_DURATION, "a duration")
    }

    /// A byte size as docker reads it (`512m`, `1gb`, `1GiB`: every unit is binary), or a
    /// number of bytes.
    pub fn bytes(&mut self, node: &Node, path: &str) -> Option<ByteSize> {
        if node.is_null() {
            return None;
        }
        let Some(s) = node.as_str() else {
            self.wrong_type(node, path, "a size");
            return None;
        };
        match docker_bytes(s) {
            Ok(b) => Some(b),
            Err(e) => {
                self.error(codes::BAD_UNIT, path, node.span, e).hint = Some(
                    "write a number with an optional unit: b, k, m, g, t (binary, as docker)"
                        .into(),
                );
                None
            }
        }
    }

    /// A cpu count (`0.5`).
    pub fn cpus(&mut self, node: &Node, path: &str) -> Option<Cpus> {
        self.unit(node, path, codes::BAD_UNIT, "a cpu count")
    }

    /// A string or a list of strings (compose's `string_or_list`).
    pub fn string_or_list(&mut self, node: &Node, path: &str) -> Vec<String> {
        if node.as_seq().is_some() {
            return self.strings(node, path);
        }
        self.opt_string(node, path).into_iter().collect()
    }

    /// A list of scalars as strings (compose's `list_of_strings`).
    pub fn strings(&mut self, node: &Node, path: &str) -> Vec<String> {
        match node.as_seq() {
            Some(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| self.string(n, &index(path, i)))
                .collect(),
            None => {
                if !node.is_null() {
                    self.wrong_type(node, path, "a list of strings");
                }
                Vec::new()
            }
        }
    }

    /// A mapping of names to scalar values, or a list of `KEY<sep>value` (compose's
    /// `list_or_dict`). Values are none for `KEY` without separator or a null value.
    pub fn list_or_dict(&mut self, node: &Node, path: &str, seps: &[char]) -> Vec<Entry> {
        let mut out = Vec::new();
        match &node.kind {
            NodeKind::Map(m) => {
                for (k, v) in m {
                    let Some(key) = k.as_str() else { continue };
                    let value = match &v.kind {
                        NodeKind::Scalar(s) if v.is_null() && s.plain => None,
                        NodeKind::Scalar(s) => Some(s.text.clone()),
                        _ => {
                            self.wrong_type(v, &join(path, key), "a string, number or boolean");
                            continue;
                        }
                    };
                    out.push(Entry {
                        key: key.to_string(),
                        value,
                        span: k.span,
                    });
                }
            }
            NodeKind::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    let Some(s) = self.string(n, &index(path, i)) else {
                        continue;
                    };
                    let (key, value) = match s.find(|c| seps.contains(&c)) {
                        Some(at) => (s[..at].to_string(), Some(s[at + 1..].to_string())),
                        None => (s.clone(), None),
                    };
                    out.push(Entry {
                        key,
                        value,
                        span: n.span,
                    });
                }
            }
            NodeKind::Scalar(_) if node.is_null() => {}
            NodeKind::Scalar(_) => {
                self.wrong_type(node, path, "a mapping or a list of KEY=value");
            }
        }
        out
    }

    /// [`Cx::list_or_dict`] into a map (later entries win), null values as empty strings.
    pub fn string_map(&mut self, node: &Node, path: &str) -> BTreeMap<String, String> {
        self.list_or_dict(node, path, &['='])
            .into_iter()
            .map(|e| (e.key, e.value.unwrap_or_default()))
            .collect()
    }
}

/// Docker's `RAMInBytes`: `<number>[ ][kmgtp][i][b]`, any case, every unit binary.
pub fn docker_bytes(s: &str) -> Result<ByteSize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim_start().to_ascii_lowercase());
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a size"))?;
    let mut u = unit.as_str();
    u = u.strip_suffix('b').unwrap_or(u);
    u = u.strip_suffix('i').unwrap_or(u);
    let mult: u64 = match u {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(format!("unknown size unit in `{s}` (b, k, m, g, t, p)")),
    };
    let v = n * mult as f64;
    if !v.is_finite() || v >= u64::MAX as f64 {
        return Err(format!("`{s}` is too large"));
    }
    Ok(ByteSize(v as u64))
}

/// One item of a `list_or_dict`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value, none when absent.
    pub value: Option<String>,
    /// Where the item stands.
    pub span: Span,
}

/// `path.key`, or `key` at the top. Sized once and copied, not formatted: the import joins a
/// path or two for every key of every service (issue 15).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        return key.to_string();
    }
    let mut s = String::with_capacity(path.len() + 1 + key.len());
    s.push_str(path);
    s.push('.');
    s.push_str(key);
    s
}

/// Append `[i]` to `s` without the formatting machinery (a `write!` of an index was a
/// twentieth of the import: every list item of every service has a path).
pub fn push_index(s: &mut String, i: usize) {
    let mut digits = [0u8; 20];
    let mut n = i;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.push('[');
    for &d in &digits[at..] {
        s.push(char::from(d));
    }
    s.push(']');
}

/// `path[i]`, sized once (a list item's path).
pub fn index(path: &str, i: usize) -> String {
    item(path, "", i)
}

/// `path.key[i]` (`path[i]` when `key` is empty), sized once.
pub fn item(path: &str, key: &str, i: usize) -> String {
    let mut s = String::with_capacity(path.len() + key.len() + 9);
    s.push_str(path);
    if !key.is_empty() {
        if !path.is_empty() {
            s.push('.');
        }
        s.push_str(key);
    }
    push_index(&mut s, i);
    s
}

/// True when the node holds nothing worth reporting: null, `false`, an empty string,
/// list or mapping.
pub fn is_empty_value(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Seq(s) => s.is_empty(),
        NodeKind::Map(m) => m.is_empty(),
        NodeKind::Scalar(s) => {
            s.text.is_empty()
                || matches!(node.resolve(), Some(Resolved::Null | Resolved::Bool(false)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Limits, load};

    fn n(s: &str) -> Node {
        load(s, &Limits::default()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn paths_are_spelt_as_formatted() {
        assert_eq!(join("services.web", "ports"), "services.web.ports");
        assert_eq!(join("", "services"), "services");
        assert_eq!(index("services.web.ports", 12), "services.web.ports[12]");
        assert_eq!(
            item("services.web", "volumes", 0),
            "services.web.volumes[0]"
        );
        assert_eq!(item("", "volumes", 3), "volumes[3]");
        assert_eq!(item("x", "", 3), "x[3]");
        for i in [0, 7, 10, 99, 100, 12345, usize::MAX] {
            let mut s = String::from("p");
            push_index(&mut s, i);
            assert_eq!(s, format!("p[{i}]"));
        }
    }

    #[test]
    fn list_or_dict_both_forms() {
        let mut cx = Cx::default();
        let a = cx.list_or_dict(&n("[A=1, B, C=x=y]"), "p", &['=']);
        assert_eq!(a.len(), 3);
        assert_eq!(a[1].value, None);
        assert_eq!(a[2].value.as_deref(), Some("x=y"));
        let b = cx.list_or_dict(&n("{A: 1, B: , C: 'true'}"), "p", &['=']);
        assert_eq!(b[0].value.as_deref(), Some("1"));
        assert_eq!(b[1].value, None);
        assert!(cx.diags.is_empty());
        cx.list_or_dict(&n("just a string"), "p", &['=']);
        assert_eq!(cx.diags.0[0].code, codes::WRONG_TYPE);
    }

    #[test]
    fn docker_sizes_are_binary() {
        let b = |s: &str| docker_bytes(s).map(|b| b.0);
        assert_eq!(b("512m"), Ok(512 << 20));
        assert_eq!(b("1gb"), Ok(1 << 30));
        assert_eq!(b("10000Mb"), Ok(10000 << 20));
        assert_eq!(b("1.5GiB"), Ok(3 << 29));
        assert_eq!(b("100"), Ok(100));
        assert!(b("lots").is_err());
        assert!(b("1x").is_err());
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let mut cx = Cx::default();
        let node = n("{imgae: x, x-foo: 1, command: y}");
        let e = cx.entries(&node, "services.web", &["image", "command"]);
        assert_eq!(e.len(), 1);
        assert_eq!(cx.diags.0[0].code, codes::UNKNOWN_FIELD);
        assert_eq!(cx.diags.0[0].path, "services.web.imgae");
        assert_eq!(cx.diags.0[0].hint.as_deref(), Some("did you mean `image`?"));
    }
}
