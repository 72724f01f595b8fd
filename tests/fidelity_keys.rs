//! Issue 13: `bridge fidelity --keys` prints, per target, each of the 92 service-level compose
//! keys as mapped, approximated or dropped with the reason, read from the real import and the
//! real ledgers of one sample service per key (src/compose_keys.yaml). The counts are asserted
//! exactly: a change in any translator's or the importer's verdict shows here.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn keys_json() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_bridge"))
        .args(["fidelity", "--keys", "--output", "json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON: {e}"))
}

fn rows(v: &Value) -> BTreeMap<String, BTreeMap<String, (String, String)>> {
    let mut out = BTreeMap::new();
    for t in v["targets"].as_array().unwrap_or_else(|| panic!("{v}")) {
        let mut m = BTreeMap::new();
        for r in t["keys"].as_array().unwrap_or_else(|| panic!("{t}")) {
            m.insert(
                r["key"].as_str().unwrap_or_default().to_string(),
                (
                    r["fidelity"].as_str().unwrap_or_default().to_string(),
                    r["reason"].as_str().unwrap_or_default().to_string(),
                ),
            );
        }
        out.insert(t["provider"].as_str().unwrap_or_default().to_string(), m);
    }
    out
}

#[test]
fn every_key_per_target_with_counts() {
    let v = keys_json();
    let counts: Vec<(String, u64, u64, u64)> = v["targets"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|t| {
            let n = |k: &str| t[k].as_u64().unwrap_or(u64::MAX);
            (
                t["provider"].as_str().unwrap_or_default().to_string(),
                n("mapped"),
                n("approximated"),
                n("dropped"),
            )
        })
        .collect();
    let want: Vec<(String, u64, u64, u64)> = [
        ("aws", 39, 21, 32),
        ("gce", 67, 13, 12),
        ("openstack", 66, 15, 11),
        ("swarm", 44, 15, 33),
    ]
    .into_iter()
    .map(|(p, m, a, d)| (p.to_string(), m, a, d))
    .collect();
    assert_eq!(counts, want);
    let rows = rows(&v);
    for (p, keys) in &rows {
        assert_eq!(keys.len(), 92, "{p}");
        for (k, (f, why)) in keys {
            assert!(
                matches!(f.as_str(), "mapped" | "approximated" | "dropped"),
                "{p} {k}: {f}"
            );
            // Every verdict other than mapped says why; nothing is dropped without a line.
            assert!(
                f == "mapped" || !why.is_empty(),
                "{p} {k}: {f} without a reason"
            );
            assert!(
                !why.starts_with("no ledger line"),
                "{p} {k}: silently dropped"
            );
        }
    }
    let row = |p: &str, k: &str| rows[p][k].clone();
    // Import drops (the importer's own diagnostic, with its code's reason).
    for p in ["aws", "gce", "openstack", "swarm"] {
        let (f, why) = row(p, "attach");
        assert_eq!(f, "dropped");
        assert!(why.starts_with("dropped at import"), "{why}");
        assert_eq!(row(p, "image").0, "mapped");
    }
    // The corrected claims: namespace sharing, no --interactive, no --gpus where dropped.
    assert_eq!(row("gce", "network_mode").0, "mapped");
    assert_eq!(row("openstack", "network_mode").0, "mapped");
    assert_eq!(row("gce", "stdin_open").0, "approximated");
    assert_eq!(row("gce", "gpus").0, "dropped");
    assert_eq!(row("openstack", "gpus").0, "mapped");
    assert_eq!(row("swarm", "privileged").0, "dropped");
    // Swarm's service API 1.41 takes only SELinux labels of security_opt; the sample has none.
    let (f, why) = row("swarm", "security_opt");
    assert_eq!(f, "dropped");
    assert!(
        why.contains("only SELinux labels") && why.contains("no-new-privileges:true"),
        "{why}"
    );
    // Keys now carried: a docker flag on the VMs, the task definition's field on ECS.
    for k in [
        "cpu_shares",
        "security_opt",
        "pid",
        "mem_swappiness",
        "oom_score_adj",
        "runtime",
    ] {
        assert_eq!(row("gce", k).0, "mapped", "gce {k}");
        assert_eq!(row("openstack", k).0, "mapped", "openstack {k}");
        assert_eq!(row("swarm", k).0, "dropped", "swarm {k}");
    }
    for k in [
        "cpu_shares",
        "security_opt",
        "pid",
        "mem_swappiness",
        "memswap_limit",
    ] {
        assert_eq!(row("aws", k).0, "mapped", "aws {k}");
    }
    // Modelled since: carried where the target has the setting, reported where not.
    for p in ["gce", "openstack"] {
        assert_eq!(row(p, "cgroup").0, "mapped", "{p}");
        assert_eq!(row(p, "blkio_config").0, "approximated", "{p}");
        assert_eq!(row(p, "container_name").0, "approximated", "{p}");
        assert_eq!(row(p, "use_api_socket").0, "approximated", "{p}");
    }
    assert_eq!(row("swarm", "container_name").0, "approximated");
    assert_eq!(row("swarm", "use_api_socket").0, "approximated");
    assert_eq!(row("aws", "use_api_socket").0, "approximated");
    for p in ["aws", "gce", "openstack", "swarm"] {
        let (f, why) = row(p, "pull_refresh_after");
        assert_eq!(f, "approximated", "{p}");
        assert!(
            why.contains("pull_policy: always") || p == "swarm",
            "{p}: {why}"
        );
    }
    for (p, k) in [
        ("swarm", "cgroup"),
        ("swarm", "blkio_config"),
        ("aws", "cgroup"),
        ("aws", "blkio_config"),
        ("aws", "container_name"),
    ] {
        let (f, why) = row(p, k);
        assert_eq!(f, "dropped", "{p} {k}");
        assert!(!why.starts_with("dropped at import"), "{p} {k}: {why}");
    }
    // What the importer still drops: Windows-only, local-only, no container, or no target
    // whose hosts can run it.
    let at_import: Vec<&String> = rows["gce"]
        .iter()
        .filter(|(_, (_, why))| why.starts_with("dropped at import"))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        at_import,
        [
            "attach",
            "cpu_percent",
            "cpu_rt_period",
            "cpu_rt_runtime",
            "credential_spec",
            "develop",
            "external_links",
            "isolation",
            "models",
            "provider",
        ]
    );
}

#[test]
fn text_table_has_the_same_counts() {
    let out = Command::new(env!("CARGO_BIN_EXE_bridge"))
        .args(["fidelity", "--keys", "-p", "gce"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("== gce\n"), "{text}");
    assert!(
        text.contains("   67 mapped, 13 approximated, 12 dropped of 92 keys"),
        "{text}"
    );
    assert_eq!(text.lines().filter(|l| l.starts_with("   ")).count(), 93);
}

/// Per key, a golden file `tests/golden/keys/<key>.txt`: for each target the key's row (verdict
/// and reason) and the artifact fragment it renders (the lines it adds to or removes from the
/// artifacts of the same service without it). Regenerate with `BLESS=1 cargo test --test
/// fidelity_keys` and read the diff: a change of any key's verdict or rendering shows here.
#[test]
fn every_key_row_and_artifact_fragment_matches_its_golden() {
    let v = keys_json();
    let mut per_key: BTreeMap<String, String> = BTreeMap::new();
    for t in v["targets"].as_array().unwrap_or_else(|| panic!("{v}")) {
        let p = t["provider"].as_str().unwrap_or_default();
        for r in t["keys"].as_array().unwrap_or_else(|| panic!("{t}")) {
            let key = r["key"].as_str().unwrap_or_default();
            let out = per_key
                .entry(key.to_string())
                .or_insert_with(|| format!("# {key} ({})\n", r["code"].as_str().unwrap_or("")));
            let why = r["reason"].as_str().unwrap_or_default();
            out.push_str(&format!(
                "== {p}: {}{}{why}\n",
                r["fidelity"].as_str().unwrap_or_default(),
                if why.is_empty() { "" } else { ": " }
            ));
            for l in r["artifact"].as_array().into_iter().flatten() {
                out.push_str(l.as_str().unwrap_or_default());
                out.push('\n');
            }
        }
    }
    assert_eq!(per_key.len(), 92);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/keys");
    let bless = std::env::var_os("BLESS").is_some();
    if bless {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut wrong = Vec::new();
    for (key, text) in &per_key {
        let f = dir.join(format!("{key}.txt"));
        if bless {
            std::fs::write(&f, text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
        if std::fs::read_to_string(&f).ok().as_deref() != Some(text.as_str()) {
            wrong.push(key.clone());
        }
    }
    let on_disk = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .count();
    assert!(
        wrong.is_empty(),
        "keys whose row or fragment differs from tests/golden/keys (BLESS=1 to accept): {wrong:?}"
    );
    assert_eq!(on_disk, per_key.len(), "stale files in {}", dir.display());
    // A key counted as carried changes the artifact, except these, whose effect is the
    // target's default or happens at import: the image every sample names, `build` (the image
    // is deployed), `profiles` (selects services), one network per VM or none on ECS, ECS's
    // restart of a stopped task, ECS's agent pulling at every start, Swarm's pull by digest,
    // and Swarm's overlay network, which reaches every port of a task.
    let mut silent: Vec<String> = Vec::new();
    for t in v["targets"].as_array().into_iter().flatten() {
        for r in t["keys"].as_array().into_iter().flatten() {
            let empty = r["artifact"].as_array().is_none_or(|a| a.is_empty());
            if r["fidelity"] != "dropped" && empty {
                silent.push(format!(
                    "{} {}",
                    t["provider"].as_str().unwrap_or_default(),
                    r["key"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    assert_eq!(
        silent,
        [
            "aws build",
            "aws image",
            "aws networks",
            "aws profiles",
            "aws pull_policy",
            "aws pull_refresh_after",
            "aws restart",
            "gce build",
            "gce image",
            "gce networks",
            "gce profiles",
            "openstack build",
            "openstack image",
            "openstack networks",
            "openstack profiles",
            "swarm build",
            "swarm expose",
            "swarm image",
            "swarm profiles",
            "swarm pull_policy",
            "swarm pull_refresh_after",
        ]
    );
    // The fragment is what the row claims: a flag the VM targets map is in the script.
    let cg = std::fs::read_to_string(dir.join("cgroup.txt")).unwrap_or_default();
    assert!(cg.contains("--cgroupns private"), "{cg}");
}
