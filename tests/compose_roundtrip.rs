//! Property: a generated compose file imports to exactly the neutral app it describes, and that
//! app survives bridge.yaml -> parse unchanged.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

use bridge_core::model::*;
use bridge_core::units::{ByteSize, Cpus, Duration};
use bridge_core::{LoadOptions, load_str};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Svc {
    image: String,
    command: Option<Vec<String>>,
    env: BTreeMap<String, String>,
    ports: Vec<(u16, u16)>,
    volume: Option<String>,
    replicas: u32,
    cpus_milli: Option<u64>,
    mem_mib: Option<u64>,
    restart: RestartPolicy,
    labels: BTreeMap<String, String>,
    health: bool,
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        "[a-z]{1,8}(:[0-9]\\.[0-9]{1,2})?",
        proptest::option::of(proptest::collection::vec("[a-zA-Z0-9 ./:=-]{0,12}", 1..4)),
        proptest::collection::btree_map(
            "[A-Z][A-Z0-9_]{0,7}",
            prop_oneof![
                Just("yes".to_string()),
                Just("1.10".to_string()),
                Just("a b".to_string()),
                "[a-z0-9./:-]{0,12}"
            ],
            0..4,
        ),
        proptest::collection::vec((1u16..65535, 1u16..65535), 0..3),
        proptest::option::of("v[0-9]"),
        1u32..5,
        proptest::option::of(1u64..4000),
        proptest::option::of(6u64..4096), // docker refuses limits under 6MiB
        prop_oneof![
            Just(RestartPolicy::Always),
            Just(RestartPolicy::OnFailure),
            Just(RestartPolicy::Never)
        ],
        proptest::collection::btree_map("[a-z][a-z.]{0,8}", "[a-z0-9 ]{0,8}", 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(
                image,
                command,
                env,
                ports,
                volume,
                replicas,
                cpus_milli,
                mem_mib,
                restart,
                labels,
                health,
            )| Svc {
                image,
                command,
                env,
                ports,
                volume,
                replicas,
                cpus_milli,
                mem_mib,
                restart,
                labels,
                health,
            },
        )
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The compose text and the neutral app it must import to.
fn case(services: &BTreeMap<String, Svc>) -> (String, App) {
    let mut y = String::from("name: prop\nservices:\n");
    let mut app = App {
        bridge: Version::V1,
        name: "prop".into(),
        services: BTreeMap::new(),
        vms: BTreeMap::new(),
        volumes: BTreeMap::new(),
        secrets: BTreeMap::new(),
        configs: BTreeMap::new(),
        networks: BTreeMap::new(),
        groups: BTreeMap::new(),
        providers: Providers::default(),
        files: Default::default(),
        move_: None,
    };
    let mut used_host_ports = std::collections::BTreeSet::new();
    for (name, s) in services {
        let _ = writeln!(y, "  {name}:\n    image: {}", q(&s.image));
        let mut out = Service {
            image: s.image.clone(),
            replicas: s.replicas,
            restart: s.restart,
            ..Service::default()
        };
        if let Some(c) = &s.command {
            let items: Vec<String> = c.iter().map(|w| q(w)).collect();
            let _ = writeln!(y, "    command: [{}]", items.join(", "));
            out.command = Some(Command(c.clone()));
        }
        if !s.env.is_empty() {
            let _ = writeln!(y, "    environment:");
            for (k, v) in &s.env {
                // Plain (unquoted) where YAML allows, to exercise raw-text reading.
                // Plain only where YAML reads it back as this text: starts with a letter or
                // digit, no `: ` or ` #`, and not a null (`null` would mean "take from the environment").
                let plain = v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                    && !v.contains(' ')
                    && !v.contains(':')
                    && !matches!(v.as_str(), "null" | "Null" | "NULL");
                let _ = writeln!(y, "      {k}: {}", if plain { v.clone() } else { q(v) });
            }
            out.env = Env(s.env.clone());
        }
        let ports: Vec<(u16, u16)> = s
            .ports
            .iter()
            .copied()
            .filter(|(h, _)| used_host_ports.insert(*h))
            .collect();
        if !ports.is_empty() {
            let _ = writeln!(y, "    ports:");
            for (h, c) in &ports {
                let _ = writeln!(y, "      - \"{h}:{c}\"");
                out.ports.push(Port {
                    published: Some(*h),
                    ..Port::container(*c)
                });
            }
        }
        if let Some(v) = &s.volume {
            let _ = writeln!(y, "    volumes: [\"{v}:/data\"]");
            out.volumes.push(Mount {
                kind: MountKind::Volume,
                source: Some(v.clone()),
                target: "/data".into(),
                read_only: false,
                size: None,
            });
            app.volumes.insert(v.clone(), Volume::default());
        }
        let restart = match s.restart {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "\"no\"",
        };
        let _ = writeln!(y, "    restart: {restart}");
        if !s.labels.is_empty() {
            let _ = writeln!(y, "    labels:");
            for (k, v) in &s.labels {
                let _ = writeln!(y, "      {k}: {}", q(v));
            }
            out.labels = s.labels.clone();
        }
        if s.health {
            let _ = writeln!(
                y,
                "    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 5s\n      retries: 2"
            );
            out.health = Some(Health {
                test: HealthTest(vec!["CMD".into(), "true".into()]),
                interval: Some(Duration(5_000_000_000)),
                retries: Some(2),
                ..Health::default()
            });
        }
        let _ = writeln!(y, "    deploy:\n      replicas: {}", s.replicas);
        if s.cpus_milli.is_some() || s.mem_mib.is_some() {
            let _ = writeln!(y, "      resources:\n        limits:");
            if let Some(c) = s.cpus_milli {
                let _ = writeln!(y, "          cpus: \"{}\"", Cpus(c));
                out.resources.cpus = Some(Cpus(c));
            }
            if let Some(m) = s.mem_mib {
                let _ = writeln!(y, "          memory: {m}M");
                out.resources.memory = Some(ByteSize(m * 1024 * 1024));
            }
        }
        app.services.insert(name.clone(), out);
    }
    if !app.volumes.is_empty() {
        let _ = writeln!(y, "volumes:");
        for v in app.volumes.keys() {
            let _ = writeln!(y, "  {v}: {{}}");
        }
    }
    (y, app)
}

fn load(text: &str, file: &str) -> bridge_core::Loaded {
    let name: Arc<str> = file.into();
    let opts = LoadOptions {
        env: Some(Default::default()),
        ..LoadOptions::default()
    };
    load_str(&name, text, Path::new("."), &opts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn compose_imports_to_the_described_app_and_round_trips(services in proptest::collection::btree_map("[a-z][a-z0-9]{0,8}", svc(), 1..5)) {
        let (compose, expected) = case(&services);
        let loaded = load(&compose, "compose.yaml");
        let errors: Vec<String> = loaded.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
        prop_assert!(errors.is_empty(), "{}\n{}", compose, errors.join("\n"));
        let app = loaded.valid.map(|v| v.into_app());
        prop_assert_eq!(app.as_ref(), Some(&expected), "compose:\n{}", compose);
        let yaml = bridge_core::emit::to_yaml(&expected).unwrap_or_else(|e| panic!("{e}"));
        let again = load(&yaml, "bridge.yaml");
        prop_assert_eq!(again.valid.map(|v| v.into_app()), Some(expected), "bridge.yaml:\n{}", yaml);
    }
}
