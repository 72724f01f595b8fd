//! GCE names and labels: resource names (`[a-z]([-a-z0-9]{0,61}[a-z0-9])?`), network tags (the
//! same), and label keys and values (lowercase `[a-z0-9_-]`, at most 63 characters, keys start
//! with a letter).
//!
//! Normalisation, the same everywhere so the driver can recompute it:
//! - ASCII upper case is lowered; every character outside the allowed set becomes `-` in names
//!   and tags, `_` in label keys and values (so `com.example.team` becomes `com_example_team`);
//! - a name or label key that does not start with a letter gets the prefix `b-` (`b_` for keys);
//!   a name that does not end with a letter or digit gets the suffix `0`;
//! - anything longer than 63 characters is cut to 54 and gets `-` (or `_`) and 8 hex digits of
//!   the FNV-1a hash of the whole original, so two long names that differ late stay distinct.
//!
//! The spec hash (16 lowercase hex digits) is already a valid label value.

use bridge_core::hash::fnv1a64;

/// Longest name, tag, label key or label value.
pub const MAX_LEN: usize = 63;

fn fit(s: String, original: &str, sep: char) -> String {
    if s.chars().count() <= MAX_LEN {
        return s;
    }
    let head: String = s.chars().take(54).collect();
    let h = fnv1a64(original.as_bytes()) as u32;
    format!("{head}{sep}{h:08x}")
}

/// A valid GCE resource name (also a valid network tag) from `raw`.
pub fn resource_name(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s.insert_str(0, "b-");
    }
    let mut s = fit(s, raw, '-');
    if !s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        s.push('0');
        if s.chars().count() > MAX_LEN {
            s = fit(s, raw, '-');
        }
    }
    s
}

fn label_chars(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A valid label key from `raw` (never empty).
pub fn label_key(raw: &str) -> String {
    let mut s = label_chars(raw);
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s.insert_str(0, "b_");
    }
    fit(s, raw, '_')
}

/// A valid label value from `raw` (may be empty).
pub fn label_value(raw: &str) -> String {
    fit(label_chars(raw), raw, '_')
}

/// True when `raw` is already a valid resource name (normalisation leaves it unchanged).
pub fn is_resource_name(raw: &str) -> bool {
    resource_name(raw) == raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_name(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
    }

    #[test]
    fn names() {
        assert_eq!(resource_name("shop-h0"), "shop-h0");
        assert_eq!(resource_name("Shop_H0"), "shop-h0");
        assert_eq!(resource_name("1app-web"), "b-1app-web");
        assert_eq!(resource_name("web-"), "web-0");
        assert_eq!(resource_name("a.b.c"), "a-b-c");
        for raw in [
            "x",
            "-",
            "",
            "9",
            "ünïcode",
            &"a".repeat(200),
            &"a-".repeat(40),
        ] {
            let n = resource_name(raw);
            assert!(valid_name(&n), "{raw:?} -> {n:?}");
        }
        // Long names that differ late stay distinct.
        let a = resource_name(&format!("{}-a", "x".repeat(70)));
        let b = resource_name(&format!("{}-b", "x".repeat(70)));
        assert_ne!(a, b);
        assert_eq!(a.len(), 63);
        assert!(is_resource_name("web-1"));
        assert!(!is_resource_name("Web"));
    }

    #[test]
    fn labels() {
        assert_eq!(label_key("bridge-app"), "bridge-app");
        assert_eq!(label_key("com.example.Team"), "com_example_team");
        assert_eq!(label_key("1st"), "b_1st");
        assert_eq!(label_key(""), "b_");
        assert_eq!(label_value(""), "");
        assert_eq!(label_value("Service/Web"), "service_web");
        assert_eq!(label_value("0123456789abcdef"), "0123456789abcdef");
        let long = label_value(&"v".repeat(100));
        assert_eq!(long.len(), 63);
        assert_ne!(long, label_value(&"v".repeat(101)));
        let k = label_key(&"K".repeat(100));
        assert!(k.len() <= 63 && k.starts_with('k'));
        // Non-ASCII letters are replaced, so the value is plain ASCII.
        assert_eq!(label_value("café"), "caf_");
    }
}
