//! Fuzz parse + validate + compose import: any input must give diagnostics, never a panic, and an
//! app that loads must survive writing it out and reading it back.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use bridge_core::{LoadOptions, load_str};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let name: Arc<str> = "fuzz.yaml".into();
    let mut env = std::collections::HashMap::new();
    env.insert("TAG".to_string(), "1.0".to_string());
    let opts = LoadOptions { env: Some(env), ..LoadOptions::default() };
    // A directory with no files in it, so extends/env_file look-ups find nothing.
    let loaded = load_str(&name, &text, Path::new("/nonexistent-fuzz-dir"), &opts);
    for d in loaded.diagnostics.iter() {
        let _ = bridge_core::render::render(d, &loaded.sources, bridge_core::render::Color::Never);
    }
    if let Some(valid) = loaded.valid {
        let yaml = bridge_core::emit::to_yaml(valid.app()).expect("a valid app serialises");
        let again = load_str(&name, &yaml, Path::new("/nonexistent-fuzz-dir"), &opts);
        assert!(again.valid.is_some(), "re-read of written app failed:\n{yaml}\n{:?}", again.diagnostics);
        assert_eq!(again.valid.map(|v| v.into_app()).as_ref(), Some(valid.app()), "round trip changed the app:\n{yaml}");
    }
});
