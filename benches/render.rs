//! Benchmark: translate a generated app of 1,000 and 10,000 services (address references,
//! groups, named volumes, networks, a dependency chain) to all four targets (ECS, GCE, Heat,
//! Swarm) in memory, reporting the median time per target and in total, the growth from the
//! smallest to the largest size, and peak RSS (VmHWM after a reset).
//! Goal (issue 15): 10,000 services in < 400 ms in total, growth <= 11x.
//!
//! Run: `cargo bench --bench render` (optionally `-- 1000 5000 10000`).
//! `cargo bench --bench render -- --once N [TARGET]` translates N services once to each target
//! (or the one named) and exits: what to run under callgrind or DHAT.

#[path = "support/gen.rs"]
mod generate;

use std::fmt::Write;
use std::time::Instant;

use bridge_core::model::ProviderKind;

use generate::{median, peak_rss_kib, reset_peak};

const RUNS: usize = 5;

/// One translation per target (or of the one named), nothing timed.
fn once(args: &[String]) {
    let n = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let valid = generate::valid_app(n, "render-bench.yaml");
    for kind in ProviderKind::ALL {
        if args.get(1).is_some_and(|t| t != kind.as_str()) {
            continue;
        }
        let t = bridge_translators::for_provider(kind)
            .unwrap_or_else(|| panic!("no translator for {}", kind.as_str()));
        let out = t.translate(&valid);
        println!("{}: {} files", kind.as_str(), out.artifacts.len());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--once") {
        once(&args[i + 1..]);
        return;
    }
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000]
    } else {
        sizes
    };
    // Per size: the median of each target, then the total.
    let mut results: Vec<(usize, Vec<f64>, f64)> = Vec::new();
    for n in sizes {
        let valid = generate::valid_app(n, "render-bench.yaml");
        reset_peak();
        let base = peak_rss_kib();
        let mut per_target = Vec::new();
        let mut files = 0;
        let mut bytes = 0;
        let mut errors = 0;
        for kind in ProviderKind::ALL {
            let t = bridge_translators::for_provider(kind)
                .unwrap_or_else(|| panic!("no translator for {}", kind.as_str()));
            let mut times = Vec::new();
            for _ in 0..RUNS {
                let start = Instant::now();
                let out = t.translate(&valid);
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                if times.len() == 1 {
                    // GCE refuses the volumes shared across hosts (T302): still a full translation.
                    errors += out.diagnostics.error_count();
                    files += out.artifacts.len();
                    bytes += out.artifacts.iter().map(|a| a.content.len()).sum::<usize>();
                }
            }
            per_target.push(median(&mut times));
        }
        let total: f64 = per_target.iter().sum();
        let mut line = format!("{n:>6} services:");
        for (kind, ms) in ProviderKind::ALL.iter().zip(&per_target) {
            let _ = write!(line, "  {} {ms:>8.1} ms", kind.as_str());
        }
        println!(
            "{line}  total {total:>8.1} ms (medians of {RUNS})  {files} files, {:.1} MiB, {errors} errors  peak RSS +{:.1} MiB",
            bytes as f64 / 1048576.0,
            peak_rss_kib().saturating_sub(base) as f64 / 1024.0
        );
        results.push((n, per_target, total));
    }
    if let (Some(first), Some(last)) = (results.first(), results.last())
        && results.len() > 1
    {
        let mut line = format!(
            "growth {}->{} services (goal <= {:.0}x):",
            first.0,
            last.0,
            1.1 * last.0 as f64 / first.0 as f64
        );
        for (i, kind) in ProviderKind::ALL.iter().enumerate() {
            let _ = write!(
                line,
                " {} {:.1}x,",
                kind.as_str(),
                last.1[i] / first.1[i].max(1e-9)
            );
        }
        let _ = write!(line, " total {:.1}x", last.2 / first.2.max(1e-9));
        println!("{line}");
        println!(
            "goal ({} services): all four targets in memory {:.1} ms (< 400)",
            last.0, last.2
        );
    }
}
