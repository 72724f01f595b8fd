//! Benchmark: translate a generated app of 1,000 to 10,000 services to all four targets (ECS,
//! GCE, Heat, Swarm), reporting time per target and in total, and peak RSS (VmHWM after a reset).
//! Goal (issue 3): 10,000 services in < 500 ms in total and < 200 MB peak RSS.
//!
//! Run: `cargo bench --bench render` (optionally `-- 1000 5000 10000`).

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bridge_core::model::ProviderKind;
use bridge_core::{LoadOptions, load_str};

/// A bridge.yaml of `n` services: image, command, env, a published port, a volume, resources, a
/// health check, a dependency; every tenth pair in a group.
fn app(n: usize) -> String {
    let mut s = String::from("bridge: v1\nname: big\nservices:\n");
    for i in 0..n {
        let _ = write!(
            s,
            "  s{i}:\n    image: registry.example.com/svc{i}:1.0\n    command: [/bin/server, --port, \"8080\"]\n    env: {{LOG_LEVEL: info, INDEX: \"{i}\"}}\n    ports: [\"{}:8080\"]\n    volumes: [\"v{}:/data\"]\n    resources: {{cpus: 0.25, memory: 256MiB}}\n    health: {{test: [CMD, wget, -qO-, http://localhost:8080/], interval: 10s}}\n",
            10000 + i,
            i % 50
        );
        if i > 0 {
            let _ = writeln!(s, "    depends_on: [s{}]", i - 1);
        }
        if i % 10 < 2 {
            let _ = writeln!(s, "    group: g{}", i / 10);
        }
    }
    s.push_str("volumes:\n");
    for v in 0..50 {
        let _ = writeln!(s, "  v{v}: {{size: 1GiB}}");
    }
    s.push_str("groups:\n");
    for g in 0..n.div_ceil(10) {
        let _ = writeln!(s, "  g{g}: {{}}");
    }
    s.push_str("providers:\n  aws: {region: us-east-1, secrets: {}}\n  gce: {project: p, zone: us-central1-a}\n  openstack: {flavor: m1.large}\n");
    s
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 2_000, 5_000, 10_000]
    } else {
        sizes
    };
    for n in sizes {
        let text = app(n);
        let name: Arc<str> = "render-bench.yaml".into();
        let opts = LoadOptions {
            env: Some(Default::default()),
            ..LoadOptions::default()
        };
        let loaded = load_str(&name, &text, Path::new("."), &opts);
        let valid = loaded.valid.unwrap_or_else(|| {
            panic!(
                "bench app must be valid: {:?}",
                loaded.diagnostics.iter().take(3).collect::<Vec<_>>()
            )
        });
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let base = peak_rss_kib();
        let mut line = format!("{n:>6} services:");
        let mut total = 0.0;
        let mut files = 0;
        for kind in ProviderKind::ALL {
            let t = bridge_translators::for_provider(kind)
                .unwrap_or_else(|| panic!("no translator for {}", kind.as_str()));
            let start = Instant::now();
            let out = t.translate(&valid);
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            total += ms;
            files += out.artifacts.len();
            let _ = write!(line, "  {} {ms:>8.1} ms", kind.as_str());
        }
        println!(
            "{line}  total {total:>8.1} ms  {files} files  peak RSS +{:.1} MiB",
            peak_rss_kib().saturating_sub(base) as f64 / 1024.0
        );
    }
}
