//! The `bridge` binary end to end: exit codes, text and JSON output, import, schema, completions.

use std::path::Path;
use std::process::{Command, Output};

fn bridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bridge"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("COMPOSE_PROFILES")
        .output()
        .unwrap_or_else(|e| panic!("cannot run bridge: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

#[test]
fn validate_ok_exits_zero() {
    let out = bridge(&["validate", "-f", "examples/04-ports-and-health/bridge.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("valid (2 services, 0 vms)"));
}

#[test]
fn validate_bad_input_exits_one_with_compiler_style_message() {
    let d = tmpdir("bad");
    let f = d.join("app.yaml");
    std::fs::write(
        &f,
        "bridge: v1\nname: x\nservices:\n  web:\n    image: a\n    portz: [80]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = bridge(&["validate", "-f", f.to_str().unwrap_or_default()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error[E010]: services.web.portz: unknown field `portz`"),
        "{err}"
    );
    assert!(err.contains(&format!("--> {}:6:5", f.display())), "{err}");
    assert!(err.contains("^^^^^ did you mean `ports`?"), "{err}");
    assert!(
        !err.contains("\x1b["),
        "no colour when not a terminal: {err}"
    );
}

#[test]
fn validate_json_output_is_one_document() {
    let d = tmpdir("json");
    let f = d.join("app.yaml");
    std::fs::write(
        &f,
        "bridge: v1\nname: x\nservices:\n  web:\n    image: a\n    ports: ['99999:80']\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = bridge(&[
        "--output",
        "json",
        "validate",
        "-f",
        f.to_str().unwrap_or_default(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(v["valid"], false);
    assert_eq!(v["format"], "bridge");
    assert_eq!(v["diagnostics"][0]["code"], "E016");
    assert_eq!(v["diagnostics"][0]["path"], "services.web.ports[0]");
    assert_eq!(v["diagnostics"][0]["span"]["line"], 6);
    assert_eq!(v["summary"]["errors"], 1);
}

#[test]
fn missing_file_is_reported_not_panicked() {
    let out = bridge(&["validate", "-f", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error[E005]"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn import_writes_a_bridge_yaml_that_validates() {
    let d = tmpdir("import");
    let out_file = d.join("bridge.yaml");
    let out = bridge(&[
        "import",
        "examples/08-compose-voting/compose.yaml",
        "-o",
        out_file.to_str().unwrap_or_default(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&out_file).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        written.starts_with("# bridge.yaml imported from compose.yaml"),
        "{written}"
    );
    assert!(written.contains("bridge: v1"), "{written}");
    let again = bridge(&["validate", "-f", out_file.to_str().unwrap_or_default()]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
}

#[test]
fn schema_command_matches_committed_file() {
    let out = bridge(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/bridge.schema.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text(&out.stdout), committed);
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = bridge(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(
            text(&out.stdout).contains("validate"),
            "{shell} completion lacks subcommands"
        );
    }
}

#[test]
fn explain_knows_codes_and_rejects_unknown_ones() {
    let out = bridge(&["explain", "E016"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("port"), "{}", text(&out.stdout));
    let out = bridge(&["explain", "E999"]);
    assert_eq!(out.status.code(), Some(1));
}

/// `render -o DIR` writes the late-bound inputs beside the artifacts (examples/07: the api on
/// aws reads the address of the vm on openstack, and its ECS service the ARN of its Cloud Map
/// service), and the artifacts keep the named input.
#[test]
fn render_lists_late_bound_inputs_beside_the_artifacts() {
    let dir = tmpdir("inputs");
    let d = dir.display().to_string();
    let o = bridge(&[
        "render",
        "-f",
        "examples/07-vm-plus-containers/bridge.yaml",
        "-p",
        "all",
        "-o",
        &d,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("inputs.json")).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(
        v["inputs"],
        serde_json::json!([
            {"input": "vms.db.address", "field": "services.api.env.DB_HOST", "consumer_provider": "aws", "producer_provider": "openstack"},
            // The api's ECS service registers in its Cloud Map service, whose ARN the AWS driver makes.
            {"input": "discovery.api.arn", "field": "services.api.name", "consumer_provider": "aws", "producer_provider": "aws"}
        ])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A live export's selectors belong to one provider each: another provider's is refused (exit 2,
/// saying which flags go with which provider), never ignored; no peer is reached.
#[test]
fn export_refuses_another_providers_selectors() {
    for args in [
        [
            "export",
            "-p",
            "swarm",
            "--stack",
            "shop",
            "--cluster",
            "prod",
        ],
        [
            "export",
            "-p",
            "swarm",
            "--app",
            "shop",
            "--zone",
            "europe-west1-b",
        ],
    ] {
        let out = bridge(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("--cluster and --service are for -p aws") && err.contains("--stack NAME"),
            "{args:?}: {err}"
        );
    }
    let out = bridge(&["export", "-p", "nomad", "--app", "shop"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no live export from `nomad`"),
        "{}",
        text(&out.stderr)
    );
}
