//! Benchmark: parse + validate a generated compose file (and the same app as bridge.yaml) of
//! 10,000 services. Reports wall time (best and median of several runs) and peak RSS of the
//! parse alone (Linux: VmHWM after resetting it through /proc/self/clear_refs).
//!
//! Run: `cargo bench --bench parse` (optionally `-- 1000 5000 10000` for other sizes).
//! Goal (issue 2): < 300 ms and < 150 MB peak RSS for 10,000 services on a 2-core machine.

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bridge_core::{LoadOptions, load_str};

/// A compose file of `n` services shaped like real ones: image, command, environment, ports,
/// volumes, depends_on, healthcheck, deploy resources, labels.
fn compose(n: usize) -> String {
    let mut s = String::from("name: bench\nservices:\n");
    for i in 0..n {
        let _ = write!(
            s,
            "  svc{i}:
    image: registry.example.com/team/svc{i}:1.{i}
    command: [\"/bin/server\", \"--port\", \"8080\"]
    environment:
      LOG_LEVEL: info
      SERVICE_INDEX: \"{i}\"
      UPSTREAM: http://svc{up}:8080
    ports:
      - \"{port}:8080\"
    volumes:
      - data{v}:/var/lib/svc
{deps}    healthcheck:
      test: [\"CMD\", \"wget\", \"-q\", \"-O-\", \"http://localhost:8080/health\"]
      interval: 10s
      timeout: 3s
      retries: 3
    deploy:
      replicas: 2
      resources:
        limits: {{cpus: \"0.5\", memory: 256M}}
        reservations: {{cpus: \"0.25\", memory: 128M}}
    labels:
      team: t{t}
",
            up = if i == 0 { 1 } else { i - 1 },
            deps = if i == 0 {
                String::new()
            } else {
                format!("    depends_on:\n      - svc{}\n", i - 1)
            },
            port = 10000 + i,
            v = i % 100,
            t = i % 10,
        );
    }
    s.push_str("volumes:\n");
    for v in 0..100 {
        let _ = writeln!(s, "  data{v}: {{}}");
    }
    s
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn measure(label: &str, name: &str, text: &str, runs: usize) {
    let name: Arc<str> = name.into();
    let opts = LoadOptions {
        env: Some(Default::default()),
        ..LoadOptions::default()
    };
    let mut times = Vec::new();
    let mut peak = 0;
    let mut services = 0;
    for _ in 0..runs {
        reset_peak();
        let before = peak_rss_kib().unwrap_or(0);
        let t = Instant::now();
        let loaded = load_str(&name, text, Path::new("."), &opts);
        let dt = t.elapsed();
        assert!(
            loaded.valid.is_some(),
            "bench input must be valid: {:?}",
            loaded.diagnostics.iter().take(3).collect::<Vec<_>>()
        );
        services = loaded
            .valid
            .as_ref()
            .map(|v| v.app().services.len())
            .unwrap_or(0);
        drop(loaded);
        // After the reset VmHWM equals the resident size then; what it grew by is the parse's peak.
        peak = peak.max(peak_rss_kib().unwrap_or(0).saturating_sub(before));
        times.push(dt.as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{label:<28} {services:>6} services  {:>7.1} KiB input  best {:>7.1} ms  median {:>7.1} ms  peak RSS +{:>6.1} MiB over baseline (process peak {:.1} MiB)",
        text.len() as f64 / 1024.0,
        times[0],
        times[times.len() / 2],
        peak as f64 / 1024.0,
        peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
    );
}

/// Time each phase once: YAML load, load without validation, full load.
fn phases(text: &str) {
    let t = Instant::now();
    let root = bridge_core::node::load(text, &bridge_core::node::Limits::default());
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(root);
    let name: Arc<str> = "phases.yaml".into();
    let opts = LoadOptions {
        env: Some(Default::default()),
        skip_validation: true,
        ..LoadOptions::default()
    };
    let t = Instant::now();
    let l = load_str(&name, text, Path::new("."), &opts);
    let import_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(l);
    let opts = LoadOptions {
        env: Some(Default::default()),
        ..LoadOptions::default()
    };
    let t = Instant::now();
    let l = load_str(&name, text, Path::new("."), &opts);
    let all_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(l);
    println!(
        "  phases: yaml {load_ms:.1} ms, +import/deserialise {:.1} ms, +validate {:.1} ms",
        import_ms - load_ms,
        all_ms - import_ms
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000]
    } else {
        sizes
    };
    for n in sizes {
        let text = compose(n);
        if std::env::var_os("PHASES").is_some() {
            phases(&text);
        }
        measure(
            "compose parse+import+validate",
            "bench-compose.yaml",
            &text,
            7,
        );
        let name: Arc<str> = "gen.yaml".into();
        let opts = LoadOptions {
            env: Some(Default::default()),
            ..LoadOptions::default()
        };
        let app = load_str(&name, &text, Path::new("."), &opts).app;
        if let Some(app) = app {
            let yaml = bridge_core::emit::to_yaml(&app).unwrap_or_default();
            measure("bridge.yaml parse+validate", "bench-bridge.yaml", &yaml, 7);
        }
    }
}
