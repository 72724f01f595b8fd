//! The JSON Schema of bridge.yaml, generated from the model's types.

use crate::model::App;

/// The schema as pretty JSON with a trailing newline. Objects forbid unknown keys except `x-*`
/// extensions, as the parser does, so editors flag typos too.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(App);
    let mut v = serde_json::to_value(&schema).unwrap_or_default();
    close_objects(&mut v);
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

fn close_objects(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                m.insert(
                    "additionalProperties".into(),
                    serde_json::Value::Bool(false),
                );
                m.insert("patternProperties".into(), serde_json::json!({"^x-": {}}));
            }
            for (_, child) in m.iter_mut() {
                close_objects(child);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(close_objects),
        _ => {}
    }
}
