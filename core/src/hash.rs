//! Stable content hashes for `bridge.spec-hash` labels: FNV-1a 64 over canonical JSON (sorted
//! keys), so the same spec always hashes the same on every machine and run.

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = Fnv(FNV_OFFSET);
    h.bytes(bytes);
    h.0
}

/// The spec hash of a serialisable value: 16 hex digits of FNV-1a 64 over its canonical JSON
/// ([`canonical_json`]), fed to the hash as it is written (no text is kept).
pub fn spec_hash<T: serde::Serialize>(value: &T) -> String {
    let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    let mut h = Fnv(FNV_OFFSET);
    write_canonical(&v, &mut h);
    format!("{:016x}", h.0)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64 as a byte sink.
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl std::io::Write for Fnv {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where canonical JSON goes: a string (to read it) or the hash.
trait Sink {
    fn raw(&mut self, s: &str);
    /// A JSON string literal, escaped as serde_json escapes it.
    fn string(&mut self, s: &str);
}

impl Sink for String {
    fn raw(&mut self, s: &str) {
        self.push_str(s);
    }
    fn string(&mut self, s: &str) {
        let mut buf = Vec::with_capacity(s.len() + 2);
        let _ = serde_json::to_writer(&mut buf, s);
        self.push_str(&String::from_utf8_lossy(&buf));
    }
}

impl Sink for Fnv {
    fn raw(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn string(&mut self, s: &str) {
        // Writing to the hash cannot fail.
        let _ = serde_json::to_writer(&mut *self, s);
    }
}

/// Compact JSON with every object's keys written in sorted (byte) order, by construction: the
/// hash must not depend on the map order serde_json happens to keep (its `preserve_order`
/// feature, turned on by any crate in a build, would keep insertion order). The text is the
/// same as serde_json's compact form of a sorted map, so hashes stay what they were.
pub fn canonical_json(v: &serde_json::Value, out: &mut String) {
    write_canonical(v, out);
}

fn write_canonical<S: Sink>(v: &serde_json::Value, out: &mut S) {
    use serde_json::Value;
    match v {
        Value::Null => out.raw("null"),
        Value::Bool(b) => out.raw(if *b { "true" } else { "false" }),
        Value::Number(n) => out.raw(&n.to_string()),
        Value::String(s) => out.string(s),
        Value::Array(a) => {
            out.raw("[");
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.raw(",");
                }
                write_canonical(x, out);
            }
            out.raw("]");
        }
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.raw("{");
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.raw(",");
                }
                out.string(k);
                out.raw(":");
                write_canonical(x, out);
            }
            out.raw("}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    /// A map serialised in the order given, as a struct or an ordered map would be.
    struct InOrder(Vec<(&'static str, serde_json::Value)>);

    impl serde::Serialize for InOrder {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }

    #[test]
    fn equal_inputs_in_another_order_hash_the_same() {
        let nested = |order: bool| {
            let mut inner = vec![
                ("z", serde_json::json!("é\"\n")),
                ("a", serde_json::json!([3, 1.5, null])),
            ];
            if order {
                inner.reverse();
            }
            serde_json::to_value(InOrder(inner)).unwrap_or_default()
        };
        let a = InOrder(vec![("b", nested(false)), ("a", serde_json::json!(true))]);
        let b = InOrder(vec![("a", serde_json::json!(true)), ("b", nested(true))]);
        assert_eq!(spec_hash(&a), spec_hash(&b));
        // The canonical text is written sorted, compact, escaped like serde_json: what the
        // hashes in labels and goldens were computed over.
        let v = serde_json::to_value(&a).unwrap_or_default();
        let mut text = String::new();
        canonical_json(&v, &mut text);
        assert_eq!(text, r#"{"a":true,"b":{"a":[3,1.5,null],"z":"é\"\n"}}"#);
        assert_eq!(spec_hash(&a), format!("{:016x}", fnv1a64(text.as_bytes())));
    }

    #[test]
    fn key_order_does_not_matter() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[1,2]}"#).unwrap_or_default();
        let b: serde_json::Value = serde_json::from_str(r#"{"b":[1,2],"a":1}"#).unwrap_or_default();
        assert_eq!(spec_hash(&a), spec_hash(&b));
        let c: serde_json::Value = serde_json::from_str(r#"{"b":[2,1],"a":1}"#).unwrap_or_default();
        assert_ne!(spec_hash(&a), spec_hash(&c));
    }
}
