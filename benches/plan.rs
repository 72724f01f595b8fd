//! Benchmark: plan 1,000 and 10,000 desired Swarm resources against as many observed ones
//! (issue 15). The desired side is the Swarm driver's (`bridge_providers::swarm::desired`: the
//! translator's objects, hashed and ranked); the observed side is the same specs as the engine
//! reports them (with fields only the engine sets, keys compared without case), one service in a
//! hundred with a changed env value and one scaled by hand. Reports the median of the diff alone
//! and of building the desired side, and the growth from the smallest to the largest size.
//! Goal: the diff of 10,000 against 10,000 in < 50 ms, growth <= 11x.
//!
//! Run: `cargo bench --bench plan` (optionally `-- 1000 10000`).
//! `cargo bench --bench plan -- --once N` builds both sides for N services, diffs them once and
//! exits: what to run under callgrind or DHAT (the diff is `bridge_core::plan::diff`).

#[path = "support/gen.rs"]
mod generate;

use std::time::Instant;

use bridge_core::plan::{Action, Current, Desired, diff};
use serde_json::{Value, json};

use generate::{median, peak_rss_kib, reset_peak};

const RUNS: usize = 7;

/// What the engine would report for `d`: its spec plus fields only the engine sets; every
/// hundredth service with a changed env value, the one after it scaled by hand.
fn observed(desired: &[Desired]) -> (Vec<Current>, usize) {
    let mut changed = 0;
    let observed = desired
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut spec = d.spec.clone();
            if let Some(o) = spec.as_object_mut() {
                o.insert("CreatedAt".into(), json!("2026-01-01T00:00:00Z"));
            }
            if d.id.kind == "service" {
                if let Some(tt) = spec.get_mut("TaskTemplate").and_then(Value::as_object_mut) {
                    tt.insert("ForceUpdate".into(), json!(0));
                    tt.insert("Runtime".into(), json!("container"));
                }
                if i % 100 == 0
                    && let Some(env) = spec
                        .pointer_mut("/TaskTemplate/ContainerSpec/Env")
                        .and_then(Value::as_array_mut)
                    && let Some(first) = env.first_mut()
                {
                    *first = json!("LOG_LEVEL=debug");
                    changed += 1;
                }
                if i % 100 == 1
                    && let Some(r) = spec.pointer_mut("/Mode/Replicated/Replicas")
                {
                    *r = json!(7);
                    changed += 1;
                }
            }
            Current {
                id: d.id.clone(),
                spec_hash: Some(d.spec_hash.clone()),
                spec: Some(spec),
                handle: format!("id{i:08}"),
                rank: d.rank,
                opaque: Vec::new(),
            }
        })
        .collect();
    (observed, changed)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let once = args.iter().any(|a| a == "--once");
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000]
    } else {
        sizes
    };
    let mut rows: Vec<(usize, f64, f64)> = Vec::new();
    for n in sizes {
        let valid = generate::valid_app(n, "plan-bench.yaml");
        if once {
            let (desired, _) = bridge_providers::swarm::desired(&valid);
            let (observed, changed) = observed(&desired);
            let plan = diff(&desired, &observed);
            let updates = plan
                .steps
                .iter()
                .filter(|s| s.action == Action::Update)
                .count();
            assert_eq!(updates, changed, "every changed service is an update");
            println!("{} steps, {updates} updates", plan.steps.len());
            continue;
        }
        let mut build = Vec::new();
        let mut desired = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let (d, _) = bridge_providers::swarm::desired(&valid);
            build.push(t.elapsed().as_secs_f64() * 1000.0);
            desired = d;
        }
        let (observed, changed) = observed(&desired);
        reset_peak();
        let base = peak_rss_kib();
        let mut times = Vec::new();
        let mut counts = (0, 0, 0);
        for _ in 0..RUNS {
            let t = Instant::now();
            let plan = diff(&desired, &observed);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            let count = |a: Action| plan.steps.iter().filter(|s| s.action == a).count();
            counts = (count(Action::NoOp), count(Action::Update), plan.steps.len());
        }
        let services = desired.iter().filter(|d| d.id.kind == "service").count();
        assert_eq!(counts.2, desired.len(), "one step per resource");
        assert_eq!(counts.1, changed, "every changed service is an update");
        let diff_ms = median(&mut times);
        let build_ms = median(&mut build);
        println!(
            "{:>6} resources ({services} services): diff {diff_ms:>7.1} ms ({} no-op, {} update)  desired side {build_ms:>7.1} ms  (medians of {RUNS})  peak RSS +{:.1} MiB",
            desired.len(),
            counts.0,
            counts.1,
            peak_rss_kib().saturating_sub(base) as f64 / 1024.0
        );
        rows.push((desired.len(), diff_ms, build_ms));
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last())
        && rows.len() > 1
    {
        println!(
            "growth {}->{} resources (goal <= {:.0}x): diff {:.1}x, desired side {:.1}x",
            first.0,
            last.0,
            1.1 * last.0 as f64 / first.0 as f64,
            last.1 / first.1.max(1e-9),
            last.2 / first.2.max(1e-9),
        );
        println!("goal ({} resources): diff {:.1} ms (< 50)", last.0, last.1);
    }
}
