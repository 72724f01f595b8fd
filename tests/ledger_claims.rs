//! A ledger line is a promise (issue 12): every example, kitchen sink and importable corpus file
//! is rendered for every target, and the fidelity ledgers are audited:
//! - every deploy-time claim a line carries (`bridge_translators::claims::Claim`) names at least
//!   one driver test that proves it on that target (`claims::proofs`), or is one of the few
//!   reviewed `claims::UNPROVEN` entries (which must still be made and still lack a proof);
//! - every test the table names exists: the file is there and holds `fn NAME(` under a
//!   `#[test]` or `#[tokio::test]` attribute, not `#[ignore]`d;
//! - no line without a claim uses deploy-time wording ("waits", "resolves", "replaces", "rolls",
//!   "the driver"...), except the reviewed phrases in `NOT_PROMISES`, which state what the target
//!   does (or does not do) by itself; a phrase no such line uses any more fails too, so the
//!   list stays short.
//!
//! Failures list each (target, file, field, reason).

#[path = "support/peers.rs"]
mod peers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bridge_core::model::ProviderKind;
use bridge_translators::claims::{Claim, UNPROVEN, proofs};
use bridge_translators::{LedgerEntry, for_provider};

const TARGETS: [ProviderKind; 4] = [
    ProviderKind::Aws,
    ProviderKind::Gce,
    ProviderKind::Openstack,
    ProviderKind::Swarm,
];

/// Wording that promises what happens at deploy time (matched in lowercase).
const DEPLOY_WORDS: &[&str] = &[
    "wait",
    "resolv",
    "replac",
    "roll",
    "signal",
    "retr",
    "follow",
    "one at a time",
    "restart",
    "order",
    "before",
    "ship",
    "the driver",
    "gce driver",
    "by bridge",
    "bridge creates",
    "bridge sets",
    "bridge starts",
    "at deploy",
    "at boot",
];

/// Reviewed phrases that use that wording without promising anything of bridge's drivers:
/// each says what the target itself does, or what does not happen. A reason is checked with
/// these phrases taken out, so a promise added beside one is still found.
const NOT_PROMISES: &[&str] = &[
    // ECS's own scheduler, not bridge's driver.
    "ecs has no per-container stop signal: containers get sigterm",
    "ecs keeps replacing failed tasks with its own back-off and no limit; the deployment circuit breaker only stops failing deployments",
    "ecs replaces a stopped task whatever the exit code",
    "ecs rolling updates take no delay or monitor period",
    "ecs rolls back with the deployment's own settings and circuit breaker",
    "ecs rolls by percentages of the desired count",
    "ecs takes no dns resolver options",
    "ecs throttles task restarts itself; it takes no delay or window",
    "ecs waits at most 120 seconds before killing",
    "when it stops ecs replaces the whole task, not only this container",
    // What does not resolve (a name that does is a RegistersServiceNames line).
    "does not resolve",
    "do not resolve",
    "references in it are not resolved on openstack",
    "a relative path resolves from / and bridge copies no files",
    // The Docker Engine and systemd by themselves.
    "swarm resolves the image digest at deploy; nodes pull when the digest is missing",
    "engines before api 1.44 ignore start_interval",
    "lost when the vm is replaced",
    // In the rendered artifact (render is deploy), not a step of a driver.
    "share one bridge docker network made by bridge",
    // Says what bridge does not do.
    "bridge sets no scheduler hints for them",
    // Heat orders a template's resources by their depends_on (Zun containers); nothing waits.
    "heat creates the dependency's container first; health and completion are not waited for",
    // Heat's update with bridge's settings: no promise beyond what bridge sends.
    "heat's rollback re-applies the previous template in its own order; there is no per-service rollback policy",
    "the openstack driver cannot look up an existing secret's value: a deploy that needs it stops",
    "the openstack driver cannot look up an existing config's content: a deploy that needs it stops",
];

/// The files audited: the examples, the kitchen sinks, the translators' other modes
/// (`tests/fixtures/ledger-claims`), the compose import fixtures and the compose corpus.
fn inputs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    peers::yaml_files(&peers::root().join("examples"), &mut out);
    for d in ["kitchen-sink", "ledger-claims", "compose"] {
        peers::yaml_files(&peers::root().join("tests/fixtures").join(d), &mut out);
    }
    let corpus = peers::corpus();
    assert!(
        corpus.is_dir(),
        "the compose corpus is missing at {} (set BRIDGE_CORPUS)",
        corpus.display()
    );
    peers::yaml_files(&corpus, &mut out);
    out.sort();
    out
}

/// Every (target, file, ledger line) of every input that loads.
fn ledgers() -> Vec<(ProviderKind, String, LedgerEntry)> {
    let root = peers::root();
    let shared = peers::shared();
    let mut out = Vec::new();
    let (mut examples, mut corpus) = (0, 0);
    for f in inputs() {
        let Some(app) = peers::load(&f) else {
            continue;
        };
        if f.starts_with(root.join("examples")) {
            examples += 1;
        } else if f.starts_with(&shared) {
            corpus += 1;
        }
        let name = f
            .strip_prefix(&root)
            .or_else(|_| f.strip_prefix(&shared))
            .unwrap_or(&f)
            .display()
            .to_string();
        for kind in TARGETS {
            let Some(tr) = for_provider(kind) else {
                panic!("no translator for {}", kind.as_str());
            };
            let mut t = tr.translate(&app);
            bridge_translators::ledger::settle(&mut t);
            out.extend(t.ledger.into_iter().map(|e| (kind, name.clone(), e)));
        }
    }
    assert!(examples >= 14, "only {examples} examples load");
    assert!(corpus >= 60, "only {corpus} corpus files load");
    out
}

/// A line `settle` wrote from a render error: the error, not a promise.
fn render_error(e: &LedgerEntry) -> bool {
    e.reason.starts_with("render fails here: ")
}

/// The first offending line of each (target, kind of problem), with how many more there are.
fn report(found: BTreeMap<(String, String), (usize, String)>) -> String {
    found
        .into_iter()
        .map(|((k, what), (n, first))| format!("{k}: {what} ({n} lines), e.g. {first}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_claim_a_ledger_makes_is_proven_by_a_driver_test() {
    let unproven: BTreeSet<(Claim, &str)> =
        UNPROVEN.iter().map(|(c, k, _)| (*c, k.as_str())).collect();
    let mut missing: BTreeMap<(String, String), (usize, String)> = BTreeMap::new();
    let mut made: BTreeSet<(Claim, &str)> = BTreeSet::new();
    for (kind, file, e) in ledgers() {
        let Some(claim) = e.claim else { continue };
        made.insert((claim, kind.as_str()));
        if !proofs(claim, kind).is_empty() || unproven.contains(&(claim, kind.as_str())) {
            continue;
        }
        let slot = missing
            .entry((
                kind.as_str().to_string(),
                format!("{claim:?} has no proving test"),
            ))
            .or_insert((0, format!("{file}: {}: {}", e.field, e.reason)));
        slot.0 += 1;
    }
    assert!(
        missing.is_empty(),
        "claims with no driver test in bridge_translators::claims::proofs:\n{}",
        report(missing)
    );
    for (c, k, why) in UNPROVEN {
        assert!(
            proofs(*c, *k).is_empty(),
            "{c:?} on {} is listed as unproven ({why}) but has proofs: take it off UNPROVEN",
            k.as_str()
        );
        assert!(
            made.contains(&(*c, k.as_str())),
            "{c:?} on {} is listed as unproven ({why}) but no ledger makes it: take it off UNPROVEN",
            k.as_str()
        );
    }
}

/// True when `src` declares a test function `name`: `fn name(` with `#[test]` or
/// `#[tokio::test...]` among the attributes right above it and no `#[ignore`.
fn declares_test(src: &str, name: &str) -> Result<(), String> {
    let lines: Vec<&str> = src.lines().collect();
    let sig = format!("fn {name}(");
    let Some(at) = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&sig) || l.contains(&format!(" {sig}")))
    else {
        return Err(format!("no `{sig}`"));
    };
    let attrs: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .map(|l| l.trim())
        .take_while(|l| l.starts_with("#[") || l.starts_with("//") || l.ends_with(")]"))
        .collect();
    if attrs.iter().any(|a| a.starts_with("#[ignore")) {
        return Err("it is #[ignore]d".into());
    }
    if !attrs
        .iter()
        .any(|a| *a == "#[test]" || a.starts_with("#[tokio::test"))
    {
        return Err("it has no #[test] or #[tokio::test] attribute".into());
    }
    Ok(())
}

#[test]
fn every_test_the_claims_table_names_exists() {
    let root = peers::root();
    let mut problems = Vec::new();
    let mut named = 0;
    for claim in Claim::ALL {
        for kind in TARGETS {
            for proof in proofs(claim, kind) {
                named += 1;
                let Some((file, name)) = proof.split_once("::") else {
                    problems.push(format!(
                        "{claim:?}/{}: `{proof}` is not FILE::FN",
                        kind.as_str()
                    ));
                    continue;
                };
                let path: &Path = file.as_ref();
                match std::fs::read_to_string(root.join(path)) {
                    Err(e) => problems.push(format!("{claim:?}/{}: {file}: {e}", kind.as_str())),
                    Ok(src) => {
                        if let Err(why) = declares_test(&src, name) {
                            problems.push(format!("{claim:?}/{}: {proof}: {why}", kind.as_str()));
                        }
                    }
                }
            }
        }
    }
    assert!(named >= 20, "the table names only {named} tests");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_line_without_a_claim_promises_deploy_time_behaviour() {
    let mut found: BTreeMap<(String, String), (usize, String)> = BTreeMap::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for (kind, file, e) in ledgers() {
        if e.claim.is_some() || e.reason.is_empty() || render_error(&e) {
            continue;
        }
        let mut rest = e.reason.to_lowercase();
        for p in NOT_PROMISES {
            if rest.contains(p) {
                used.insert(p);
                rest = rest.replace(p, " ");
            }
        }
        // Names in backticks are the app's identifiers (`log-shipper`), not wording.
        let rest: String = rest
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, t)| t)
            .collect::<Vec<_>>()
            .join(" ");
        let words: Vec<&str> = DEPLOY_WORDS
            .iter()
            .copied()
            .filter(|w| rest.contains(w))
            .collect();
        if words.is_empty() {
            continue;
        }
        let slot = found
            .entry((kind.as_str().to_string(), e.reason.clone()))
            .or_insert((
                0,
                format!("{file}: {} (says {})", e.field, words.join(", ")),
            ));
        slot.0 += 1;
    }
    assert!(
        found.is_empty(),
        "ledger lines that promise deploy-time behaviour without a claim (give them one with \
         Ledger::claimed, or say what is true):\n{}",
        report(found)
    );
    // The reviewed list stays short: a phrase no line without a claim uses any more goes.
    let stale: Vec<&&str> = NOT_PROMISES
        .iter()
        .filter(|p| !used.contains(**p))
        .collect();
    assert!(
        stale.is_empty(),
        "NOT_PROMISES phrases no ledger line uses any more (take them off): {stale:?}"
    );
}

#[test]
fn the_audit_catches_an_untagged_promise_and_a_missing_test() {
    // The word check finds a promise without a claim, and lets a reviewed phrase through.
    let promise = "the driver waits for it";
    assert!(DEPLOY_WORDS.iter().any(|w| promise.contains(w)));
    let mut rest = "ecs waits at most 120 seconds before killing".to_string();
    for p in NOT_PROMISES {
        rest = rest.replace(p, " ");
    }
    assert!(!DEPLOY_WORDS.iter().any(|w| rest.contains(w)), "{rest}");
    // The test lookup refuses a missing, an ignored and a non-test function.
    let src = "#[test]\nfn a() {}\n#[test]\n#[ignore]\nfn b() {}\nfn c() {}\n#[tokio::test(flavor = \"multi_thread\")]\nasync fn d() {}\n";
    assert!(declares_test(src, "a").is_ok());
    assert!(declares_test(src, "b").is_err());
    assert!(declares_test(src, "c").is_err());
    assert!(declares_test(src, "d").is_ok());
    assert!(declares_test(src, "e").is_err());
}
