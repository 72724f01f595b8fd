//! Benchmark: parse + validate a generated compose file, and a bridge.yaml, of 1,000 and 10,000
//! services (issue 15). The compose file reaches the slow paths: shared `env_file`s, `extends`,
//! `network_mode: service:`, `volumes_from`, named volumes, networks and two warnings a service,
//! which are rendered as `bridge validate` prints them. Reports the median of several runs, the
//! growth from the smallest to the largest size, and peak RSS (Linux: VmHWM, reset through
//! /proc/self/clear_refs before each run, minus the resident size then).
//!
//! Run: `cargo bench --bench parse` (optionally `-- 1000 5000 10000` for other sizes).
//! `cargo bench --bench parse -- --emit DIR N [--stack]` writes the compose file of N services
//! and its env files into DIR instead (what `scripts/vs-docker-stack-config.sh` runs; `--stack`:
//! the variant `docker stack config` accepts).
//! `cargo bench --bench parse -- --once compose|bridge|events|tree N` loads one input of N
//! services once and exits: what to run under callgrind, DHAT or `/usr/bin/time -v` (README
//! "Benchmarks"). `events` only runs saphyr-parser over the compose file (the floor: no load can
//! be faster than reading its events), `tree` builds bridge's node tree from them and stops.
//! Every size also prints those two floors beside the full load, and the ratio load / events.
//! Goal (issue 15): < 150 ms and < 100 MiB peak RSS for 10,000 services, growth <= 11x.

#[path = "support/gen.rs"]
mod generate;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bridge_core::node::{Limits, load as load_tree, parser_events};
use bridge_core::render::{Color, render_all};
use bridge_core::{LoadOptions, load_str};

use generate::{median, peak_rss_kib, reset_peak};

/// What one stage measured at one size.
struct Row {
    services: usize,
    median_ms: f64,
    peak_mib: f64,
}

/// Run `f` `runs` times; the median wall time and the largest peak RSS growth over the
/// resident size before each run.
fn measure<T>(runs: usize, mut f: impl FnMut() -> T, mut check: impl FnMut(&T)) -> (f64, f64) {
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        reset_peak();
        let before = peak_rss_kib();
        let t = Instant::now();
        let out = f();
        let dt = t.elapsed();
        check(&out);
        drop(out);
        // After the reset VmHWM equals the resident size then; what it grew by is the run's peak.
        peak = peak.max(peak_rss_kib().saturating_sub(before));
        times.push(dt.as_secs_f64() * 1000.0);
    }
    (median(&mut times), peak as f64 / 1024.0)
}

fn opts() -> LoadOptions {
    LoadOptions {
        env: Some(Default::default()),
        ..LoadOptions::default()
    }
}

fn print_row(label: &str, bytes: usize, row: &Row) {
    println!(
        "{label:<36} {:>6} services  {:>7.1} KiB input  median {:>8.1} ms  peak RSS +{:>6.1} MiB",
        row.services,
        bytes as f64 / 1024.0,
        row.median_ms,
        row.peak_mib,
    );
}

/// The compose file of `n` services in a fresh directory with its env files.
fn compose_dir(n: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bridge-bench-parse-{}-{n}", std::process::id()));
    if let Err(e) = generate::write_compose(&dir, n, false) {
        panic!("cannot write the bench input under {}: {e}", dir.display());
    }
    dir
}

/// How many events saphyr-parser reads from `text`: the parser alone, the floor of any load.
fn events(text: &str) -> usize {
    match parser_events(text) {
        Ok(n) => n,
        Err(e) => panic!("the bench input must parse: {e:?}"),
    }
}

/// The two floors under the compose load of `text`: saphyr-parser's events alone, and those
/// events built into bridge's node tree (spans, raw scalars, duplicate-key checks).
fn floor_rows(text: &str, services: usize, runs: usize) -> Row {
    let mut count = 0;
    let (ms, peak) = measure(runs, || events(text), |n| count = *n);
    assert!(
        count > services * 20,
        "a service is more than twenty events"
    );
    let floor = Row {
        services,
        median_ms: ms,
        peak_mib: peak,
    };
    print_row(
        &format!("  floor: {count} parser events"),
        text.len(),
        &floor,
    );
    let limits = Limits::default();
    let (ms, peak) = measure(
        runs,
        || load_tree(text, &limits),
        |t| assert!(t.is_ok(), "the bench input must parse"),
    );
    let tree = Row {
        services,
        median_ms: ms,
        peak_mib: peak,
    };
    print_row("  floor + node tree", text.len(), &tree);
    floor
}

fn compose_rows(n: usize, runs: usize) -> (Row, Row) {
    let dir = compose_dir(n);
    let text = std::fs::read_to_string(dir.join("compose.yaml")).unwrap_or_default();
    let name: Arc<str> = "compose.yaml".into();
    let opts = opts();
    let mut services = 0;
    let mut warnings = 0;
    let (ms, peak) = measure(
        runs,
        || load_str(&name, &text, &dir, &opts),
        |l| {
            assert!(
                l.valid.is_some(),
                "bench input must be valid: {:?}",
                l.diagnostics.iter().take(3).collect::<Vec<_>>()
            );
            services = l.valid.as_ref().map_or(0, |v| v.app().services.len());
            warnings = l.diagnostics.len();
        },
    );
    let load = Row {
        services,
        median_ms: ms,
        peak_mib: peak,
    };
    print_row("compose parse+import+validate", text.len(), &load);
    let floor = floor_rows(&text, services, runs);
    println!(
        "  load / parser floor: {:.1}x",
        load.median_ms / floor.median_ms.max(1e-9)
    );
    // What `bridge validate` adds: every diagnostic rendered with its source line.
    let loaded = load_str(&name, &text, &dir, &opts);
    let mut lines = 0;
    let (ms, peak) = measure(
        runs,
        || render_all(&loaded.diagnostics.0, &loaded.sources, Color::Never),
        |s| lines = s.lines().count(),
    );
    let shown = Row {
        services,
        median_ms: ms,
        peak_mib: peak,
    };
    print_row(
        &format!("  + render {warnings} diagnostics"),
        text.len(),
        &shown,
    );
    assert!(lines > warnings, "every diagnostic is rendered");
    let _ = std::fs::remove_dir_all(&dir);
    (load, shown)
}

fn bridge_row(n: usize, runs: usize) -> Row {
    let text = generate::app(n);
    let name: Arc<str> = "bridge.yaml".into();
    let opts = opts();
    let mut services = 0;
    let (ms, peak) = measure(
        runs,
        || load_str(&name, &text, Path::new("."), &opts),
        |l| {
            assert!(
                l.valid.is_some(),
                "bench input must be valid: {:?}",
                l.diagnostics.iter().take(3).collect::<Vec<_>>()
            );
            services = l.valid.as_ref().map_or(0, |v| v.app().services.len());
        },
    );
    let row = Row {
        services,
        median_ms: ms,
        peak_mib: peak,
    };
    print_row("bridge.yaml parse+validate", text.len(), &row);
    row
}

fn emit(args: &[String]) {
    let dir = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| ".".into());
    let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let stack = args.iter().any(|a| a == "--stack");
    if let Err(e) = generate::write_compose(&dir, n, stack) {
        eprintln!("cannot write {}: {e}", dir.display());
        std::process::exit(2);
    }
    println!("{}", dir.join("compose.yaml").display());
}

/// One load of one input, nothing else: the profilers' view of one stage.
fn once(args: &[String]) {
    let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let what = args.first().map(String::as_str);
    let (name, text, dir): (Arc<str>, String, PathBuf) = match what {
        Some("bridge") => ("bridge.yaml".into(), generate::app(n), ".".into()),
        _ => {
            let dir = compose_dir(n);
            let text = std::fs::read_to_string(dir.join("compose.yaml")).unwrap_or_default();
            ("compose.yaml".into(), text, dir)
        }
    };
    if let Some(floor @ ("events" | "tree")) = what {
        let _ = std::fs::remove_dir_all(&dir);
        if floor == "events" {
            println!("{} parser events", events(&text));
        } else {
            let tree = load_tree(&text, &Limits::default());
            assert!(tree.is_ok(), "the bench input must parse");
            println!("node tree of {} bytes", text.len());
        }
        return;
    }
    let loaded = load_str(&name, &text, &dir, &opts());
    let services = loaded.valid.as_ref().map_or(0, |v| v.app().services.len());
    println!(
        "{services} services, {} diagnostics",
        loaded.diagnostics.len()
    );
    drop(loaded);
    if dir != Path::new(".") {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(services >= n, "bench input must be valid");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--emit") {
        emit(&args[i + 1..]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--once") {
        once(&args[i + 1..]);
        return;
    }
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![1_000, 10_000];
    }
    let runs = 7;
    let mut rows = Vec::new();
    for &n in &sizes {
        let (load, shown) = compose_rows(n, runs);
        let bridge = bridge_row(n, runs);
        rows.push((load, shown, bridge));
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last())
        && rows.len() > 1
    {
        let g = |a: &Row, b: &Row| b.median_ms / a.median_ms.max(1e-9);
        println!(
            "growth {}->{} services (goal <= {:.0}x): compose {:.1}x, diagnostics {:.1}x, bridge.yaml {:.1}x",
            first.0.services,
            last.0.services,
            1.1 * last.0.services as f64 / first.0.services.max(1) as f64,
            g(&first.0, &last.0),
            g(&first.1, &last.1),
            g(&first.2, &last.2),
        );
        println!(
            "goal (10k): compose parse+validate+diagnostics {:.1} ms (< 150), peak RSS +{:.1} MiB (< 100)",
            last.0.median_ms + last.1.median_ms,
            last.0.peak_mib.max(last.1.peak_mib),
        );
    }
}
