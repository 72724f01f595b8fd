//! Issue 3 acceptance: generated shell and cloud-init quote every user value. An app whose env
//! values and command words hold command substitutions, backticks, both quote kinds, newlines,
//! `%`, `\`, unicode and a leading `-` is rendered through the GCE translator; the cloud-init is
//! taken from the instance's `user-data`, parsed as YAML, and the container script from its
//! `write_files` is run by `sh` with a `docker` shim first on PATH that records its argv. The argv
//! must be exactly the intended words, and nothing else may have run. The systemd units may name
//! only scripts and containers: no user value reaches systemd's parser.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command as Proc;

use bridge_core::model::{App, Command, Env, Providers, Service, Version};
use bridge_core::node::{Limits, Node, NodeKind, load};
use bridge_core::validate::{NoLocation, validate};
use bridge_translators::Translator;
use bridge_translators::gce::Gce;

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-quoting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

/// Values no shell, YAML or systemd layer may interpret. `marker` is a file that exists only if
/// one of them was run as code.
fn nasty(marker: &str) -> Vec<String> {
    vec![
        format!("$(touch {marker})"),
        format!("`touch {marker}`"),
        format!("'; touch {marker}; echo '"),
        format!("\"; touch {marker}; echo \""),
        format!("line one\ntouch {marker}\nline three"),
        "100% %n %% %{x} %h".into(),
        "back\\slash \\n \\\\ \\'".into(),
        "ünïcödé ✓ 日本語 \u{1F680}".into(),
        "-rf --privileged".into(),
        format!("a && touch {marker} || true; | * ? [x] ~ # {{}}"),
        "  leading and trailing spaces  ".into(),
        "trailing backslash\\".into(),
        "$HOME $$ $1 $@".into(),
        "\r\ttabs and returns\r".into(),
        "key: value # not yaml".into(),
        String::new(),
    ]
}

fn app(marker: &str) -> App {
    let words = nasty(marker);
    let env: BTreeMap<String, String> = words
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("V{i:02}"), v.clone()))
        .collect();
    let svc = Service {
        image: "registry.example/app:1".into(),
        command: Some(Command(words.clone())),
        env: Env(env),
        replicas: 1,
        ..Service::default()
    };
    App {
        bridge: Version::V1,
        name: "quoting".into(),
        services: BTreeMap::from([("web".to_string(), svc)]),
        vms: BTreeMap::new(),
        volumes: BTreeMap::new(),
        secrets: BTreeMap::new(),
        configs: BTreeMap::new(),
        networks: BTreeMap::new(),
        groups: BTreeMap::new(),
        providers: Providers::default(),
        files: Default::default(),
        move_: None,
    }
}

fn text(n: &Node) -> &str {
    n.as_str().unwrap_or_else(|| panic!("not a string: {n:?}"))
}

/// `write_files` path to content, from the parsed cloud-config.
fn files(doc: &Node) -> BTreeMap<String, String> {
    let wf = doc
        .get("write_files")
        .unwrap_or_else(|| panic!("no write_files"));
    let NodeKind::Seq(items) = &wf.kind else {
        panic!("write_files is not a list")
    };
    items
        .iter()
        .map(|i| {
            let get = |k: &str| text(i.get(k).unwrap_or_else(|| panic!("no {k}"))).to_string();
            (get("path"), get("content"))
        })
        .collect()
}

#[test]
fn nasty_values_reach_docker_as_exact_words() {
    let dir = scratch();
    let marker = dir.join("pwned-marker").display().to_string();
    let (valid, _) = validate(app(&marker), &NoLocation)
        .unwrap_or_else(|d| panic!("the test app does not validate: {d:?}"));
    let t = Gce.translate(&valid);
    assert!(!t.diagnostics.has_errors(), "{:?}", t.diagnostics);
    let inst = t
        .artifacts
        .iter()
        .find(|a| a.path.starts_with("gce/instances/"))
        .unwrap_or_else(|| panic!("no instance: {:?} {:?}", t.diagnostics, t.artifacts));
    let body: serde_json::Value =
        serde_json::from_str(&inst.content).unwrap_or_else(|e| panic!("{e}"));
    let user_data = body["metadata"]["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["key"] == "user-data"))
        .and_then(|i| i["value"].as_str())
        .unwrap_or_else(|| panic!("no user-data"));
    assert!(user_data.starts_with("#cloud-config\n"));
    let doc = load(user_data, &Limits::default())
        .unwrap_or_else(|e| panic!("user-data is not YAML: {}", e.message));
    let files = files(&doc);

    // systemd: ExecStart names only the script; nothing user-given in any unit line.
    let unit = files
        .get("/etc/systemd/system/quoting-web.service")
        .unwrap_or_else(|| panic!("no unit; files: {:?}", files.keys()));
    let exec: Vec<&str> = unit
        .lines()
        .filter(|l| l.starts_with("ExecStart"))
        .collect();
    assert!(
        exec.contains(&"ExecStart=/bin/sh /etc/bridge/web.sh"),
        "{exec:?}"
    );
    let name_ok = |w: &str| {
        w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._=:".contains(c))
    };
    for l in unit.lines() {
        if let Some((_, v)) = l.split_once('=') {
            for w in v.split_whitespace() {
                assert!(name_ok(w.trim_start_matches('-')), "unit line {l:?}");
            }
        }
    }

    // Run the script with a docker shim that records its argv, NUL-separated.
    let script = files
        .get("/etc/bridge/web.sh")
        .unwrap_or_else(|| panic!("no script"));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    let argv_file = dir.join("argv");
    let shim = bin.join("docker");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > '{}'\n",
            argv_file.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let script_file = dir.join("web.sh");
    std::fs::write(&script_file, script).unwrap_or_else(|e| panic!("{e}"));
    let st = Proc::new("chmod")
        .arg("755")
        .arg(&shim)
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(st.success());
    let out = Proc::new("sh")
        .arg(&script_file)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    assert!(
        out.status.success(),
        "script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !std::path::Path::new(&marker).exists(),
        "a value was run as code"
    );
    let raw = std::fs::read(&argv_file).unwrap_or_else(|e| panic!("docker shim not run: {e}"));
    let argv: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|w| String::from_utf8(w.to_vec()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    // The trailing NUL leaves one empty piece at the end.
    let argv = &argv[..argv.len() - 1];

    let words = nasty(&marker);
    // Every env pair exactly, in key order.
    let envs: Vec<&str> = argv
        .windows(2)
        .filter(|w| w[0] == "--env")
        .map(|w| w[1].as_str())
        .collect();
    let want: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, v)| format!("V{i:02}={v}"))
        .collect();
    assert_eq!(envs, want);
    // The image, then the command words exactly.
    let img = argv
        .iter()
        .position(|w| w == "registry.example/app:1")
        .unwrap_or_else(|| panic!("no image in {argv:?}"));
    assert_eq!(&argv[img + 1..], &words[..]);
    assert_eq!(argv[0], "run");
    let _ = std::fs::remove_dir_all(&dir);
}
