//! Stable content hashes for `bridge.spec-hash` labels: FNV-1a 64 over canonical JSON (sorted
//! keys), so the same spec always hashes the same on every machine and run.

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The spec hash of a serialisable value: 16 hex digits of FNV-1a 64 over its canonical JSON.
pub fn spec_hash<T: serde::Serialize>(value: &T) -> String {
    // serde_json's Value keeps object keys sorted (no `preserve_order`), so this is canonical.
    let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    format!("{:016x}", fnv1a64(v.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
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
