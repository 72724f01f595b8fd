//! `${...}` references in bridge.yaml values (`${vms.NAME.address}`, `${services.NAME.address}`),
//! found and substituted by one set of rules for the validator, the translators and the drivers:
//! `$$` is an escape (`$${` stands for a literal `${`), and a `${` without `}` is unclosed.

use std::ops::Range;

/// What an address reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `${vms.NAME.address}`.
    Vms,
    /// `${services.NAME.address}`.
    Services,
}

/// One `${...}` of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref<'a> {
    /// `${vms.NAME.address}` or `${services.NAME.address}`.
    Address {
        /// VM or service.
        kind: RefKind,
        /// Its name.
        name: &'a str,
    },
    /// Any other `${...}`: the text between the braces.
    Other(&'a str),
    /// `${` without `}`.
    Unclosed,
}

/// The `${...}` references in `s` with their byte ranges; `$$` is an escape, not a reference.
pub fn scan(s: &str) -> Vec<(Ref<'_>, Range<usize>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find('$') {
        let at = i + off;
        let rest = &s[at..];
        if rest.starts_with("$$") {
            i = at + 2;
            continue;
        }
        if !rest.starts_with("${") {
            i = at + 1;
            continue;
        }
        let body = &s[at + 2..];
        let Some(end) = body.find('}') else {
            out.push((Ref::Unclosed, at..at + 2));
            break;
        };
        let inner = &body[..end];
        let parts: Vec<&str> = inner.split('.').collect();
        let r = match parts.as_slice() {
            ["vms", name, "address"] if !name.is_empty() => Ref::Address {
                kind: RefKind::Vms,
                name,
            },
            ["services", name, "address"] if !name.is_empty() => Ref::Address {
                kind: RefKind::Services,
                name,
            },
            _ => Ref::Other(inner),
        };
        out.push((r, at..at + 2 + end + 1));
        i = at + 2 + end + 1;
    }
    out
}

/// `s` with each address reference replaced by what `resolve` gives for it (kept as written when
/// it gives `None`), and every `$${` turned into `${`. Other text, `${...}` that is not an
/// address, and other `$$` stay as they are.
pub fn substitute(s: &str, mut resolve: impl FnMut(RefKind, &str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (r, range) in scan(s) {
        out.push_str(&s[at..range.start].replace("$${", "${"));
        let text = &s[range.clone()];
        match r {
            Ref::Address { kind, name } => match resolve(kind, name) {
                Some(v) => out.push_str(&v),
                None => out.push_str(text),
            },
            Ref::Other(_) | Ref::Unclosed => out.push_str(text),
        }
        at = range.end;
    }
    out.push_str(&s[at..].replace("$${", "${"));
    out
}

/// `s` with each address reference for which `resolve` gives a value replaced by it; everything
/// else stays exactly as written, `$$` escapes included (so the result is still a bridge.yaml
/// value: the translators unescape it later, once). This is how late-bound inputs are filled
/// into a model before it is translated.
pub fn replace(s: &str, mut resolve: impl FnMut(RefKind, &str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (r, range) in scan(s) {
        if let Ref::Address { kind, name } = r
            && let Some(v) = resolve(kind, name)
        {
            out.push_str(&s[at..range.start]);
            out.push_str(&v);
            at = range.end;
        }
    }
    out.push_str(&s[at..]);
    out
}

impl RefKind {
    /// The section a reference of this kind names: `vms` or `services`.
    pub fn section(&self) -> &'static str {
        match self {
            RefKind::Vms => "vms",
            RefKind::Services => "services",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_escapes_and_unresolved() {
        let f =
            |k: RefKind, n: &str| (k == RefKind::Vms && n == "db").then(|| "10.0.0.5".to_string());
        assert_eq!(
            replace(
                "h=${vms.db.address}:1 $${vms.db.address} ${vms.x.address} $$HOME ${y}",
                f
            ),
            "h=10.0.0.5:1 $${vms.db.address} ${vms.x.address} $$HOME ${y}"
        );
    }

    #[test]
    fn scan_handles_escapes() {
        assert_eq!(scan("$${x} $$ $x"), vec![]);
        assert_eq!(
            scan("a${vms.db.address}b${x}"),
            vec![
                (
                    Ref::Address {
                        kind: RefKind::Vms,
                        name: "db"
                    },
                    1..18
                ),
                (Ref::Other("x"), 19..23)
            ]
        );
        assert_eq!(scan("${a"), vec![(Ref::Unclosed, 0..2)]);
    }

    #[test]
    fn substitute_resolves_addresses_and_unescapes() {
        let f = |k: RefKind, n: &str| match (k, n) {
            (RefKind::Vms, "db") => Some("10.0.0.5".to_string()),
            (RefKind::Services, "api") => Some("api".to_string()),
            _ => None,
        };
        assert_eq!(
            substitute(
                "h=${vms.db.address}:5432 a=${services.api.address} $${vms.db.address} ${x} ${vms.nope.address} $$HOME",
                f
            ),
            "h=10.0.0.5:5432 a=api ${vms.db.address} ${x} ${vms.nope.address} $$HOME"
        );
        assert_eq!(substitute("${a", f), "${a");
    }
}
