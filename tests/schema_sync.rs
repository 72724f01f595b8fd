//! The committed `schema/bridge.schema.json` is exactly what the Rust types generate.
//! Regenerate with `cargo run -- schema -o schema/bridge.schema.json` (or `BLESS=1 cargo test`).

use std::path::Path;

#[test]
fn committed_schema_matches_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/bridge.schema.json");
    let generated = bridge_core::schema::json_schema();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        committed == generated,
        "schema/bridge.schema.json is stale: run `cargo run -- schema -o schema/bridge.schema.json`"
    );
}

#[test]
fn schema_forbids_unknown_keys_but_allows_extensions() {
    let v: serde_json::Value = serde_json::from_str(&bridge_core::schema::json_schema())
        .unwrap_or_else(|e| panic!("schema is not JSON: {e}"));
    let service = &v["$defs"]["Service"];
    assert_eq!(
        service["additionalProperties"],
        serde_json::Value::Bool(false)
    );
    assert!(service["patternProperties"].get("^x-").is_some());
    assert!(service["properties"].get("image").is_some());
    assert_eq!(v["required"], serde_json::json!(["bridge", "name"]));
}
