//! The independent provider validators in `tests/validators` (Python, run in the venv that
//! `tests/run-peers-setup.sh` builds) accept the real-world corpus and reject broken inputs
//! with the expected message.
//!
//! The validators are what the translators' output is checked with, so they are tested first
//! against inputs nobody on this project wrote (`../shared/corpus`) and against mutated
//! copies. Each validator runs once per batch of files: Heat's engine takes seconds to import.
//!
//! Python is found through `BRIDGE_PYTHON`, else `${BRIDGE_VENV:-$HOME/.cache/bridge-venv}`.
//! A missing venv is a failure, never a skip.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/peers.rs"]
mod peers;
use peers::{python, root};

/// `../shared/corpus` beside the clone (CI); from a git worktree under `wt/` it is one level
/// further up, so the nearest ancestor holding `shared/corpus` is used. `BRIDGE_SHARED` wins.
fn corpus(sub: &str) -> PathBuf {
    peers::shared().join("corpus").join(sub)
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-validators-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")).path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no files in {}", dir.display());
    v
}

fn name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Runs `tests/validators/<script>` once over `files`; returns violations by file name
/// (every file given gets an entry, empty when clean) and checks the exit code agrees.
fn run(script: &str, args: &[&str], files: &[PathBuf]) -> BTreeMap<String, Vec<String>> {
    let start = std::time::Instant::now();
    let out = Command::new(python())
        .arg(root().join("tests/validators").join(script))
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    eprintln!(
        "{script}: {} files in {:.1}s",
        files.len(),
        start.elapsed().as_secs_f64()
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut found: BTreeMap<String, Vec<String>> =
        files.iter().map(|f| (name(f), Vec::new())).collect();
    for line in stdout.lines() {
        let f = files
            .iter()
            .find(|f| line.starts_with(&format!("{}: ", f.display())))
            .unwrap_or_else(|| {
                panic!("{script}: output line names no input file: {line}\nstderr:\n{stderr}")
            });
        let rest = line[f.display().to_string().len() + 2..].to_string();
        found.entry(name(f)).or_default().push(rest);
    }
    let any = found.values().any(|v| !v.is_empty());
    let code = out.status.code();
    assert_eq!(
        code,
        Some(if any { 1 } else { 0 }),
        "{script}: unexpected exit status\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    found
}

/// Asserts that each file's violations are exactly the expected ones (clean files: none).
fn assert_results(found: &BTreeMap<String, Vec<String>>, expected: &BTreeMap<String, Vec<String>>) {
    let mut bad = Vec::new();
    for (file, got) in found {
        let want = expected.get(file).cloned().unwrap_or_default();
        if *got != want {
            bad.push(format!(
                "{file}:\n  expected {want:#?}\n  got      {got:#?}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

fn expect(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(f, v)| (f.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// ECS

/// Read-only members of a task definition that `describe-task-definition` returns but
/// `register-task-definition` does not accept. The corpus files are request bodies (checked:
/// none has these keys today), but a describe output (`{"taskDefinition": {...}}` or the bare
/// object) is turned into a request body here, so such a file is still tested.
const ECS_DESCRIBE_ONLY: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

fn ecs_request_body(v: Value) -> Value {
    let mut v = match v {
        Value::Object(mut m) if m.contains_key("taskDefinition") => {
            m.remove("taskDefinition").unwrap_or_default()
        }
        other => other,
    };
    if let Value::Object(m) = &mut v {
        for k in ECS_DESCRIBE_ONLY {
            m.remove(*k);
        }
    }
    v
}

fn load_json(p: &Path) -> Value {
    serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn dump(p: &Path, v: &Value) {
    write(
        p,
        &serde_json::to_string_pretty(v).unwrap_or_else(|e| panic!("{e}")),
    );
}

#[test]
fn ecs_corpus_task_definitions_pass() {
    let dir = tmpdir("ecs-corpus");
    let mut files = Vec::new();
    for f in list(&corpus("ecs/aws-samples")) {
        let out = dir.join(name(&f));
        dump(&out, &ecs_request_body(load_json(&f)));
        files.push(out);
    }
    assert_eq!(files.len(), 14, "corpus changed: update this test");
    let found = run(
        "ecs_validate.py",
        &["--shape", "RegisterTaskDefinitionRequest"],
        &files,
    );
    // Three corpus files are rejected by ECS itself, for these reasons:
    // - awsvpc with hostPort != containerPort: RegisterTaskDefinition fails with "When
    //   networkMode=awsvpc, the host ports and container ports in port mappings must match."
    // - `"ulimits": null`: botocore's parameter validation (what the AWS CLI and SDKs run before
    //   sending) rejects null for a list ("Invalid type for parameter ...ulimits, value: None").
    let expected = expect(&[
        (
            "kibana_kibana_ec2.json",
            &[
                "containerDefinitions[0].portMappings[0].hostPort: with networkMode awsvpc hostPort must equal containerPort (5601), got 80",
            ],
        ),
        (
            "tomcat_tomcat_ec2.json",
            &[
                "containerDefinitions[0].portMappings[0].hostPort: with networkMode awsvpc hostPort must equal containerPort (8080), got 80",
            ],
        ),
        (
            "wildfly_wildfly_fargate.json",
            &["containerDefinitions[0].ulimits: must not be null (list)"],
        ),
    ]);
    assert_results(&found, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ecs_mutations_fail_with_the_expected_message() {
    let fargate = load_json(&corpus("ecs/aws-samples/nginx_nginx_fargate.json"));
    // consul runs with host networking; links need bridge networking, so the EC2 base is the
    // same task definition in bridge mode (still valid).
    let mut ec2 = load_json(&corpus("ecs/aws-samples/consul_ConsulServer.json"));
    ec2["networkMode"] = json!("bridge");
    type Mutation = (&'static str, fn(&mut Value), &'static str);
    let base_ok: &[(&str, &Value)] = &[("base_fargate.json", &fargate), ("base_ec2.json", &ec2)];
    let fargate_mutations: &[Mutation] = &[
        (
            "unknown_key.json",
            |v| v["containerDefinitions"][0]["imagee"] = json!("x"),
            "containerDefinitions[0].imagee: unknown key 'imagee' for ContainerDefinition",
        ),
        (
            "missing_image.json",
            |v| {
                if let Some(m) = v["containerDefinitions"][0].as_object_mut() {
                    m.remove("image");
                }
            },
            "containerDefinitions[0].image: every container needs an image",
        ),
        (
            "bad_enum.json",
            |v| v["containerDefinitions"][0]["portMappings"][0]["protocol"] = json!("icmp"),
            "containerDefinitions[0].portMappings[0].protocol: 'icmp' is not one of tcp, udp",
        ),
        (
            "fargate_bridge.json",
            |v| v["networkMode"] = json!("bridge"),
            "networkMode: Fargate requires networkMode 'awsvpc', got 'bridge'",
        ),
        (
            "fargate_bad_combo.json",
            |v| v["memory"] = json!("4096"),
            "memory: 4096 MiB is not valid with cpu 256 on Fargate (allowed: 512..2048 in steps of 512)",
        ),
        (
            "mem_reservation.json",
            |v| v["containerDefinitions"][0]["memoryReservation"] = json!(300),
            "containerDefinitions[0].memoryReservation: 300 is greater than memory 256",
        ),
        (
            "dangling_volume.json",
            |v| {
                v["containerDefinitions"][0]["mountPoints"] =
                    json!([{"sourceVolume": "data", "containerPath": "/data"}])
            },
            "containerDefinitions[0].mountPoints[0].sourceVolume: 'data' is not a volume of this task",
        ),
        (
            "health_interval.json",
            |v| {
                v["containerDefinitions"][0]["healthCheck"] =
                    json!({"command": ["CMD", "true"], "interval": 1})
            },
            "containerDefinitions[0].healthCheck.interval: 1 is outside 5-300",
        ),
        (
            "wrong_type.json",
            |v| v["containerDefinitions"][0]["cpu"] = json!("256"),
            "containerDefinitions[0].cpu: expected integer, got string",
        ),
        (
            "missing_family.json",
            |v| {
                if let Some(m) = v.as_object_mut() {
                    m.remove("family");
                }
            },
            "family: required member missing (RegisterTaskDefinitionRequest)",
        ),
    ];
    let ec2_mutations: &[Mutation] = &[
        (
            "dangling_link.json",
            |v| v["containerDefinitions"][0]["links"] = json!(["db:db"]),
            "containerDefinitions[0].links[0]: 'db' is not a container in this task",
        ),
        (
            "dangling_depends.json",
            |v| {
                v["containerDefinitions"][0]["dependsOn"] =
                    json!([{"containerName": "db", "condition": "START"}])
            },
            "containerDefinitions[0].dependsOn[0].containerName: 'db' is not a container in this task",
        ),
        (
            "bad_secret.json",
            |v| {
                v["containerDefinitions"][0]["secrets"] =
                    json!([{"name": "PW", "valueFrom": "not an arn!"}])
            },
            "containerDefinitions[0].secrets[0].valueFrom: 'not an arn!' is neither a Secrets Manager/SSM ARN nor an SSM parameter name",
        ),
    ];
    let dir = tmpdir("ecs-mutations");
    let mut files = Vec::new();
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, v) in base_ok {
        let p = dir.join(n);
        dump(&p, v);
        files.push(p);
    }
    for (base, muts) in [(&fargate, fargate_mutations), (&ec2, ec2_mutations)] {
        for (n, f, msg) in muts {
            let mut v = (*base).clone();
            f(&mut v);
            assert_ne!(&v, base, "{n}: mutation changed nothing");
            let p = dir.join(n);
            dump(&p, &v);
            files.push(p);
            expected.insert(n.to_string(), vec![msg.to_string()]);
        }
    }
    let found = run(
        "ecs_validate.py",
        &["--shape", "RegisterTaskDefinitionRequest"],
        &files,
    );
    assert_results(&found, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Heat

/// The corpus flattened `software-config/example-templates/config-scripts/...` into one file
/// name; the template refers to it by its original relative path.
const HEAT_FILE_MAP: &str = "config-scripts/example-docker-compose.yml=";

#[test]
fn heat_corpus_passes_and_mutations_fail() {
    let heat_dir = corpus("heat/heat-templates");
    let corpus_files = list(&heat_dir);
    assert_eq!(corpus_files.len(), 9, "corpus changed: update this test");

    let hello = read(&heat_dir.join("hello_world.yaml"));
    let net = read(&heat_dir.join("servers_in_new_neutron_net.yaml"));
    let zun = read(&heat_dir.join("zun_webapp.yaml"));
    let mutations: &[(&str, &str, &str, &str, &str)] = &[
        (
            "m_unknown_type.yaml",
            &hello,
            "type: OS::Nova::Server",
            "type: OS::Nova::Servr",
            "template: The Resource Type (OS::Nova::Servr) could not be found.",
        ),
        (
            "m_bad_property.yaml",
            &hello,
            "key_name: { get_param: key_name }\n      image",
            "key_nam: { get_param: key_name }\n      image",
            "resources.server.properties: Unknown Property key_nam",
        ),
        (
            "m_missing_resource.yaml",
            &net,
            "port: { get_resource: server1_port }",
            "port: { get_resource: server9_port }",
            "template: The specified reference \"server9_port\" (in server1.Properties.networks[0].port) is incorrect.",
        ),
        (
            "m_missing_required.yaml",
            &hello,
            "      flavor: { get_param: flavor }\n",
            "",
            "resources.server.properties: Property flavor not assigned",
        ),
        (
            "m_out_of_range.yaml",
            &zun,
            "port_range_max: 80\n",
            "port_range_max: 99999\n",
            "resources.secgroup.properties.rules.1.port_range_max: 99999 is out of range (min: 0, max: 65535)",
        ),
        (
            "m_bad_param_ref.yaml",
            &hello,
            "image: { get_param: image }",
            "image: { get_param: imag }",
            "resources.server.properties.image: The Parameter (imag) was not provided.",
        ),
    ];
    let dir = tmpdir("heat");
    let mut files = corpus_files.clone();
    let mut expected = expect(&[
        // Nested template resources whose template files are not in the corpus: Heat (and
        // `openstack stack create`) cannot load them either.
        (
            "autoscaling.yaml",
            &[
                "template: cannot read 'lb_server.yaml' referenced by the template (No such file or directory); give it with --file REF=PATH",
            ],
        ),
        (
            "resource_group_server_with_volumes.yaml",
            &[
                "template: cannot read 'volume_with_attachment.yaml' referenced by the template (No such file or directory); give it with --file REF=PATH",
            ],
        ),
        // A docker-compose file used as a software-config input, not a HOT template.
        (
            "software-config_example-templates_config-scripts_example-docker-compose.yml",
            &["template: Template format version not found."],
        ),
        // Its description says it needs an environment defining Heat::InstallConfigAgent
        // (../boot-config/heat_container_agent_env.yaml), which the corpus does not have.
        (
            "software-config_example-templates_example-pristine-atomic-docker-compose.yaml",
            &["template: The Resource Type (Heat::InstallConfigAgent) could not be found."],
        ),
    ]);
    for (n, text, from, to, msg) in mutations {
        assert!(
            text.contains(from),
            "{n}: {from:?} not in the base template"
        );
        let p = dir.join(n);
        write(&p, &text.replacen(from, to, 1));
        files.push(p);
        expected.insert(n.to_string(), vec![msg.to_string()]);
    }
    let compose = heat_dir
        .join("software-config_example-templates_config-scripts_example-docker-compose.yml");
    let file_map = format!("{HEAT_FILE_MAP}{}", compose.display());
    let found = run(
        "heat_validate.py",
        &["--fill-required", "--file", &file_map],
        &files,
    );
    assert_results(&found, &expected);
    let passed = found.values().filter(|v| v.is_empty()).count();
    assert_eq!(passed, 5, "five corpus templates validate: {found:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// GCE

#[test]
fn gce_instance_body_passes_and_mutations_fail() {
    let base = load_json(&root().join("tests/validators/fixtures/gce/instance.json"));
    type Mutation = (&'static str, fn(&mut Value), &'static [&'static str]);
    let mutations: &[Mutation] = &[
        (
            "unknown_field.json",
            |v| v["machineTyp"] = json!("x"),
            &["machineTyp: unknown field 'machineTyp'"],
        ),
        (
            "unknown_nested.json",
            |v| v["networkInterfaces"][0]["nett"] = json!("x"),
            &["networkInterfaces[0].nett: unknown field 'nett'"],
        ),
        (
            "bad_label.json",
            |v| v["labels"]["Bridge-App"] = json!("shop"),
            &[
                "labels.Bridge-App: bad label key 'Bridge-App' (1-63 lowercase letters, digits, '_' or '-', starting with a letter)",
            ],
        ),
        (
            "bad_label_value.json",
            |v| v["labels"]["bridge-app"] = json!("Shop"),
            &[
                "labels.bridge-app: bad label value 'Shop' (at most 63 lowercase letters, digits, '_' or '-')",
            ],
        ),
        (
            "output_only_id.json",
            |v| v["id"] = json!("1234567890"),
            &["id: output-only field, not allowed in a request"],
        ),
        (
            "bad_name.json",
            |v| v["name"] = json!("Shop_Web"),
            &[
                "name: 'Shop_Web' does not match '^(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)$'",
                "name: 'Shop_Web' must match [a-z]([-a-z0-9]{0,61}[a-z0-9])? (1-63 characters)",
            ],
        ),
        (
            "not_cloud_config.json",
            |v| v["metadata"]["items"][0]["value"] = json!("#!/bin/sh\ndocker run web\n"),
            &["metadata.items[0].value: user-data must start with '#cloud-config'"],
        ),
        (
            "bad_yaml.json",
            |v| v["metadata"]["items"][0]["value"] = json!("#cloud-config\nruncmd: [a\n"),
            &[
                "metadata.items[0].value: user-data is not valid YAML: line 3, column 1: expected ',' or ']', but got '<stream end>'",
            ],
        ),
        (
            "dup_metadata.json",
            |v| {
                if let Some(a) = v["metadata"]["items"].as_array_mut() {
                    a.push(json!({"key": "user-data", "value": "#cloud-config\n"}));
                }
            },
            &["metadata.items[2].key: duplicate metadata key 'user-data' (also items[0])"],
        ),
        (
            "bad_enum.json",
            |v| v["scheduling"]["onHostMaintenance"] = json!("RESTART"),
            &["scheduling.onHostMaintenance: 'RESTART' is not one of ['MIGRATE', 'TERMINATE']"],
        ),
        (
            "bad_int64.json",
            |v| v["disks"][0]["initializeParams"]["diskSizeGb"] = json!("20GB"),
            &[
                "disks[0].initializeParams.diskSizeGb: expected an int64 as a string of digits or an integer in range",
            ],
        ),
        (
            "bad_machine_type.json",
            |v| v["machineType"] = json!("e2 standard"),
            &["machineType: 'e2 standard' does not look like a machineType URL or partial URL"],
        ),
        (
            "bad_image.json",
            |v| v["disks"][0]["initializeParams"]["sourceImage"] = json!("cos-stable"),
            &[
                "disks[0].initializeParams.sourceImage: 'cos-stable' does not look like a sourceImage URL or partial URL",
            ],
        ),
    ];
    let dir = tmpdir("gce");
    let ok = dir.join("instance_ok.json");
    dump(&ok, &base);
    let mut files = vec![ok];
    let mut expected = BTreeMap::new();
    for (n, f, msgs) in mutations {
        let mut v = base.clone();
        f(&mut v);
        assert_ne!(v, base, "{n}: mutation changed nothing");
        let p = dir.join(n);
        dump(&p, &v);
        files.push(p);
        expected.insert(n.to_string(), msgs.iter().map(|s| s.to_string()).collect());
    }
    let found = run("gce_validate.py", &["--kind", "Instance"], &files);
    assert_results(&found, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validators_report_usage_errors_with_exit_2() {
    let py = python();
    for (script, args) in [
        ("ecs_validate.py", vec!["--shape", "NoSuchShape", "x.json"]),
        ("gce_validate.py", vec!["--kind", "Instance"]),
        (
            "ecs_validate.py",
            vec![
                "--shape",
                "RegisterTaskDefinitionRequest",
                "/nonexistent.json",
            ],
        ),
    ] {
        let out = Command::new(&py)
            .arg(root().join("tests/validators").join(script))
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.status.code(), Some(2), "{script} {args:?}");
    }
}
