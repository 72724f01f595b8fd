//! Generated inputs shared by the benches and `scripts/vs-docker-stack-config.sh`: a compose file
//! and a bridge.yaml of `n` services, shaped to reach the slow paths of issue 15.

#![allow(dead_code)]

use std::fmt::Write;
use std::path::Path;

/// The bridge.yaml of `n` services ([`app`]) under `name`, loaded and validated.
pub fn valid_app(n: usize, name: &str) -> bridge_core::ValidApp {
    let text = app(n);
    let name: std::sync::Arc<str> = name.into();
    let opts = bridge_core::LoadOptions {
        env: Some(Default::default()),
        ..bridge_core::LoadOptions::default()
    };
    let loaded = bridge_core::load_str(&name, &text, Path::new("."), &opts);
    loaded.valid.unwrap_or_else(|| {
        panic!(
            "bench app must be valid: {:?}",
            loaded.diagnostics.iter().take(3).collect::<Vec<_>>()
        )
    })
}

/// How many distinct env files the compose services share.
pub const ENV_FILES: usize = 10;

/// A compose file of `n` services shaped like real ones (image, command, environment with a
/// hostname of another service, ports, named volumes, two networks, depends_on, healthcheck,
/// deploy resources, labels), plus the slow paths: every service names one of [`ENV_FILES`]
/// shared `env_file`s, every fifth `extends` a base service, every tenth shares the network of
/// its neighbour (`network_mode: service:`), every tenth (another one) takes its neighbour's
/// mounts (`volumes_from`), and every service has two keys that are reported (`container_name`
/// and `security_opt`: two warnings a service).
///
/// With `stack`, the file is what `docker stack config` accepts (its schema has no top-level
/// `name`, no `extends` and no `volumes_from`): the base's fields are written out where a
/// service would extend it, and `volumes_from` is left out. Everything else is the same.
pub fn compose(n: usize, stack: bool) -> String {
    let mut s = String::new();
    if !stack {
        s.push_str("name: bench\n");
    }
    s.push_str("services:\n");
    let base_fields = "    stop_grace_period: 20s\n    labels:\n      tier: backend\n";
    if !stack {
        let _ = write!(
            s,
            "  base:\n    image: registry.example.com/team/base:1\n{base_fields}"
        );
    }
    for i in 0..n {
        let sidecar = i % 10 == 9;
        let _ = write!(
            s,
            "  svc{i}:
    image: registry.example.com/team/svc{i}:1.{i}
    command: [\"/bin/server\", \"--port\", \"8080\"]
    container_name: c{i}
    security_opt: [\"no-new-privileges:true\"]
    env_file: env/common{e}.env
    environment:
      LOG_LEVEL: info
      SERVICE_INDEX: \"{i}\"
      UPSTREAM: http://svc{up}:8080
",
            up = if i == 0 { 1 } else { i - 1 },
            e = i % ENV_FILES,
        );
        if sidecar {
            // Shares svc{i-1}'s network: no ports or networks of its own.
            let _ = writeln!(s, "    network_mode: \"service:svc{}\"", i - 1);
        } else {
            let _ = write!(
                s,
                "    ports:\n      - \"{}:8080\"\n    networks: [front, back{}]\n",
                10000 + i,
                i % 8
            );
        }
        // The services taking their neighbour's mounts keep theirs elsewhere.
        let at = if i % 10 == 8 { "own" } else { "svc" };
        let _ = write!(s, "    volumes:\n      - data{}:/var/lib/{at}\n", i % 100);
        if i % 10 == 8 && !stack {
            let _ = writeln!(s, "    volumes_from: [\"svc{}:ro\"]", i - 1);
        }
        if i > 0 {
            let _ = write!(s, "    depends_on:\n      - svc{}\n", i - 1);
        }
        if i % 5 == 0 {
            if stack {
                s.push_str(base_fields);
            } else {
                s.push_str("    extends:\n      service: base\n");
            }
        } else {
            let _ = write!(s, "    labels:\n      team: t{}\n", i % 10);
        }
        s.push_str(
            "    healthcheck:
      test: [\"CMD\", \"wget\", \"-q\", \"-O-\", \"http://localhost:8080/health\"]
      interval: 10s
      timeout: 3s
      retries: 3
    deploy:
      replicas: 2
      resources:
        limits: {cpus: \"0.5\", memory: 256M}
        reservations: {cpus: \"0.25\", memory: 128M}
",
        );
    }
    s.push_str("volumes:\n");
    for v in 0..100 {
        let _ = writeln!(s, "  data{v}: {{}}");
    }
    s.push_str("networks:\n  front: {}\n");
    for b in 0..8 {
        let _ = writeln!(s, "  back{b}: {{}}");
    }
    s
}

/// The text of env file `k` of the compose file: twenty variables, one of them interpolated.
pub fn env_file(k: usize) -> String {
    let mut s = format!("# shared settings {k}\nREGION=eu-{k}\n");
    for j in 0..18 {
        let _ = writeln!(s, "SETTING_{j}=value-{k}-{j}");
    }
    s.push_str("ENDPOINT=https://${REGION:-none}.example.com\n");
    s
}

/// Write the compose file (`compose.yaml`) and its env files into `dir`.
pub fn write_compose(dir: &Path, n: usize, stack: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("env"))?;
    for k in 0..ENV_FILES {
        std::fs::write(dir.join(format!("env/common{k}.env")), env_file(k))?;
    }
    std::fs::write(dir.join("compose.yaml"), compose(n, stack))
}

/// A bridge.yaml of `n` services: image, command, env with an address reference to the previous
/// service, a published port, a named volume, resources, a health check, a dependency; every
/// tenth pair in a group; every service on two networks. The three providers configured.
pub fn app(n: usize) -> String {
    let mut s = String::from("bridge: v1\nname: big\nservices:\n");
    for i in 0..n {
        let _ = write!(
            s,
            "  s{i}:\n    image: registry.example.com/svc{i}:1.0\n    command: [/bin/server, --port, \"8080\"]\n    env: {{LOG_LEVEL: info, INDEX: \"{i}\", UPSTREAM: \"http://${{services.s{up}.address}}:8080\"}}\n    ports: [\"{}:8080\"]\n    volumes: [\"v{}:/data\"]\n    networks: [front, back{}]\n    resources: {{cpus: 0.25, memory: 256MiB}}\n    health: {{test: [CMD, wget, -qO-, http://localhost:8080/], interval: 10s}}\n",
            10000 + i,
            i % 50,
            i % 10,
            up = if i == 0 { 1 } else { i - 1 },
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
    s.push_str("networks:\n  front: {}\n");
    for b in 0..10 {
        let _ = writeln!(s, "  back{b}: {{}}");
    }
    s.push_str("groups:\n");
    for g in 0..n.div_ceil(10) {
        let _ = writeln!(s, "  g{g}: {{}}");
    }
    s.push_str("providers:\n  aws: {region: us-east-1, secrets: {}}\n  gce: {project: p, zone: us-central1-a}\n  openstack: {flavor: m1.large}\n");
    s
}

/// Peak resident set size of this process (VmHWM), KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Reset VmHWM to the current resident size (Linux `clear_refs` 5).
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The median of some timings (sorted in place).
pub fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
