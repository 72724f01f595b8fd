//! The driver conformance harness run for the Swarm driver against the real engine.

mod support;

use std::path::Path;
use std::sync::Arc;

use bridge_core::{LoadOptions, load_str};
use bridge_providers::swarm::SwarmDriver;
use support::engine::{TEST_IMAGE, ensure_swarm, ensure_test_image};

#[test]
fn swarm_driver_passes_the_conformance_harness() {
    ensure_swarm();
    ensure_test_image();
    let dir = std::env::temp_dir().join(format!("bridge-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_default();
    std::fs::write(dir.join("key.txt"), "conformance-key").unwrap_or_default();
    let yaml = format!(
        "bridge: v1\nname: it-conf\nservices:\n  web:\n    image: {TEST_IMAGE}\n    stop_signal: SIGKILL\n    command: [sleep, '600']\n    secrets: [key]\n    configs: [motd]\n    volumes: ['data:/data']\n    depends_on: [{{service: db, condition: healthy}}]\n    group: pod\n  db:\n    image: {TEST_IMAGE}\n    stop_signal: SIGKILL\n    command: [sleep, '600']\n    health: {{test: [CMD, 'true'], interval: 1s}}\n    group: pod\nvolumes: {{data: {{}}}}\nsecrets: {{key: {{file: ./key.txt}}}}\nconfigs: {{motd: {{content: hello}}}}\ngroups: {{pod: {{}}}}\n"
    );
    let loaded = load_str(
        &Arc::from("conf.yaml"),
        &yaml,
        Path::new(&dir),
        &LoadOptions::default(),
    );
    let valid = loaded
        .valid
        .unwrap_or_else(|| panic!("does not validate: {:?}", loaded.diagnostics));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let result = rt.block_on(async {
        let driver = SwarmDriver::connect(dir.clone())
            .await
            .map_err(|e| e.to_string())?;
        support::conformance::lifecycle(&driver, &valid).await
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        panic!("{e}");
    }
}
