//! Property: a generated app survives bridge.yaml -> parse -> bridge.yaml unchanged (and the
//! same through JSON), including values a YAML 1.1 reader would mistype.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bridge_core::model::*;
use bridge_core::units::{ByteSize, Cpus, Duration};
use bridge_core::{LoadOptions, load_str};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,10}[a-z0-9])?"
}

/// Values chosen to trip YAML writers: YAML 1.1 booleans, numbers that lose digits, nulls,
/// comment and mapping markers, quotes, newlines, unicode, surrounding spaces.
fn tricky() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("yes".to_string()),
        Just("no".to_string()),
        Just("on".to_string()),
        Just("1.10".to_string()),
        Just("010".to_string()),
        Just("0x1F".to_string()),
        Just("1e3".to_string()),
        Just("~".to_string()),
        Just("null".to_string()),
        Just("".to_string()),
        Just("#not a comment".to_string()),
        Just("a: b".to_string()),
        Just("- x".to_string()),
        Just("'single' \"double\"".to_string()),
        Just("line1\nline2".to_string()),
        Just("  padded  ".to_string()),
        Just("${vms.db.address}".to_string()),
        Just("$(touch /tmp/pwned) `id` %s".to_string()),
        Just("ünïcødé ✓ 日本".to_string()),
        "[ -~]{0,20}",
    ]
}

fn port() -> impl Strategy<Value = Port> {
    (
        1u16..,
        proptest::option::of(1u16..),
        prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)],
        proptest::option::of(prop_oneof![
            Just("127.0.0.1".to_string()),
            Just("::1".to_string())
        ]),
        prop_oneof![Just(PortMode::Ingress), Just(PortMode::Host)],
    )
        .prop_map(|(container, published, protocol, host_ip, mode)| Port {
            container,
            published,
            protocol,
            host_ip,
            mode,
            ..Port::default()
        })
}

fn mount() -> impl Strategy<Value = Mount> {
    prop_oneof![
        (name(), "/[a-z]{1,8}", any::<bool>()).prop_map(|(s, t, ro)| Mount {
            kind: MountKind::Volume,
            source: Some(s),
            target: t,
            read_only: ro,
            size: None
        }),
        ("\\./[a-z]{1,8}", "/[a-z]{1,8}").prop_map(|(s, t)| Mount {
            kind: MountKind::Bind,
            source: Some(s),
            target: t,
            read_only: false,
            size: None
        }),
        ("/[a-z]{1,8}", proptest::option::of(1u64..1000)).prop_map(|(t, sz)| Mount {
            kind: MountKind::Tmpfs,
            source: None,
            target: t,
            read_only: false,
            size: sz.map(|m| ByteSize(m * 1024 * 1024))
        }),
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    (0u64..100_000).prop_map(|ms| Duration(ms * 1_000_000))
}

fn service() -> impl Strategy<Value = Service> {
    (
        (
            "[a-z]{1,10}(:[0-9]\\.[0-9]{1,2})?",
            proptest::option::of(proptest::collection::vec(tricky(), 0..4)),
            proptest::collection::btree_map("[A-Z_]{1,8}", tricky(), 0..5),
            proptest::collection::vec(port(), 0..3),
            proptest::collection::vec(mount(), 0..3),
            proptest::collection::vec(name(), 0..3),
        ),
        (
            1u32..10,
            proptest::option::of(1u64..8000),
            proptest::option::of(1u64..8192),
            proptest::option::of(duration()),
            prop_oneof![
                Just(RestartPolicy::Always),
                Just(RestartPolicy::OnFailure),
                Just(RestartPolicy::Never)
            ],
            proptest::option::of(name()),
            proptest::collection::btree_map("[a-z.]{1,10}", tricky(), 0..3),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (image, command, env, ports, volumes, deps),
                (replicas, cpus, mem, grace, restart, group, labels, init),
            )| {
                Service {
                    image,
                    command: command.map(Command),
                    env: Env(env),
                    ports,
                    volumes,
                    depends_on: deps.into_iter().map(Dependency::on).collect(),
                    replicas,
                    resources: Resources {
                        cpus: cpus.map(Cpus),
                        memory: mem.map(|m| ByteSize(m * 1024 * 1024)),
                        ..Resources::default()
                    },
                    stop_grace_period: grace,
                    restart,
                    group,
                    labels,
                    init,
                    health: Some(Health {
                        test: HealthTest(vec![
                            "CMD-SHELL".into(),
                            "curl -f http://localhost/ || exit 1".into(),
                        ]),
                        interval: Some(Duration(10_000_000_000)),
                        retries: Some(3),
                        ..Health::default()
                    }),
                    ..Service::default()
                }
            },
        )
}

fn app() -> impl Strategy<Value = App> {
    (
        name(),
        proptest::collection::btree_map(name(), service(), 1..5),
        proptest::collection::btree_map(
            name(),
            (1u64..64).prop_map(|g| Volume {
                size: Some(ByteSize(g << 30)),
                ..Volume::default()
            }),
            0..3,
        ),
        proptest::collection::btree_map(
            name(),
            "[A-Z_]{1,10}".prop_map(|e| Secret {
                env: Some(e),
                ..Secret::default()
            }),
            0..3,
        ),
        proptest::option::of(tricky()),
    )
        .prop_map(|(name, services, volumes, secrets, user_data)| {
            let mut vms = BTreeMap::new();
            if let Some(ud) = user_data {
                vms.insert(
                    "db".to_string(),
                    Vm {
                        image: "ubuntu-24.04".into(),
                        cpus: Cpus(2000),
                        memory: ByteSize(4 << 30),
                        user_data: Some(ud),
                        ports: vec![Port::container(5432)],
                        ..Vm::default()
                    },
                );
            }
            App {
                bridge: Version::V1,
                name,
                services,
                vms,
                volumes,
                secrets,
                configs: BTreeMap::new(),
                networks: BTreeMap::new(),
                groups: BTreeMap::new(),
                providers: Providers::default(),
                files: Default::default(),
                move_: None,
            }
        })
}

fn parse(text: &str, file: &str) -> App {
    let name: Arc<str> = file.into();
    let opts = LoadOptions {
        skip_validation: true,
        env: Some(Default::default()),
        ..LoadOptions::default()
    };
    let loaded = load_str(&name, text, Path::new("."), &opts);
    assert!(
        !loaded.diagnostics.has_errors(),
        "re-parse failed:\n{text}\n{:#?}",
        loaded.diagnostics
    );
    let mut app = loaded
        .into_app()
        .unwrap_or_else(|| panic!("no app from:\n{text}"));
    // The project files a relative bind names are read from disk beside the file, not from its
    // text: they are no part of the text's round trip (and `./a` is not on disk here).
    app.files = Default::default();
    app
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn yaml_round_trip_is_exact(app in app()) {
        let yaml = bridge_core::emit::to_yaml(&app).unwrap_or_else(|e| panic!("{e}"));
        let back = parse(&yaml, "gen.yaml");
        prop_assert_eq!(&back, &app, "yaml:\n{}", yaml);
        let again = bridge_core::emit::to_yaml(&back).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(again, yaml);
    }

    #[test]
    fn json_round_trip_is_exact(app in app()) {
        let json = bridge_core::emit::to_json(&app).unwrap_or_else(|e| panic!("{e}"));
        let back = parse(&json, "gen.json");
        prop_assert_eq!(back, app);
    }
}
