//! Issue 4 acceptance: the deploy lifecycle on the machine's real Docker Engine (a single-node
//! swarm on 127.0.0.1, local busybox images, no mocks). Every test uses its own app name and
//! ports and removes what it made.
//!
//! Published ports use `mode: host`: the swarm ingress routing mesh does not forward in this
//! sandbox (a service published in ingress mode gets no listener on the host), while host-mode
//! ports are bound by docker-proxy and answer.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::engine::{TEST_IMAGE, call, ensure_swarm, ensure_test_image};
use support::peers::text;
use support::proxy::Proxy;

fn bridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bridge"));
    c.env_remove("DOCKER_HOST").env("NO_COLOR", "1");
    c
}

fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = bridge();
    c.current_dir(dir).args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output()
        .unwrap_or_else(|e| panic!("bridge {args:?}: {e}"))
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

fn enc(filter: &str) -> String {
    filter.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Every object labelled for `app`: (kind, component label, id).
fn labelled(app: &str) -> Vec<(String, String, String)> {
    let f = enc(&format!("{{\"label\":[\"bridge.app={app}\"]}}"));
    let mut out = Vec::new();
    for kind in ["services", "secrets", "configs", "networks"] {
        for item in call("GET", &format!("/{kind}?filters={f}"), None)
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let labels = if kind == "networks" {
                item["Labels"].clone()
            } else {
                item["Spec"]["Labels"].clone()
            };
            out.push((
                kind.to_string(),
                labels["bridge.component"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                item["ID"]
                    .as_str()
                    .or(item["Id"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
    }
    for v in call("GET", &format!("/volumes?filters={f}"), None).json()["Volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        out.push((
            "volumes".into(),
            v["Labels"]["bridge.component"]
                .as_str()
                .unwrap_or_default()
                .into(),
            v["Name"].as_str().unwrap_or_default().into(),
        ));
    }
    out.sort();
    out
}

/// Remove what is labelled for `app` (services first), whatever state a test left.
fn cleanup(app: &str) {
    for (kind, _, id) in labelled(app) {
        if kind == "services" {
            call("DELETE", &format!("/services/{id}"), None);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let left = labelled(app);
        if left.is_empty() || Instant::now() > deadline {
            break;
        }
        for (kind, _, id) in left {
            call("DELETE", &format!("/{kind}/{id}"), None);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn http_get(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

fn wait_http(port: u16, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        match http_get(port) {
            Ok(b) if b.contains("200") && b.contains(want) => return,
            Ok(b) => last = b,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("port {port} did not answer HTTP with {want:?}: {last}");
}

/// A service that serves `body` over HTTP on `port` inside the container and stops at once.
fn httpd(body: &str, port: u16) -> String {
    format!(
        "image: {TEST_IMAGE}\n    stop_signal: SIGKILL\n    command: [sh, -c, \"mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p {port} -h /www\"]"
    )
}

/// The voting app's shape (../shared/corpus/compose/example-voting-app/docker-stack.yml): five
/// services on two networks, a volume, two published ports; busybox httpd stands in for every
/// image. `vote` runs one replica (two host-mode replicas cannot share a port on one node).
fn voting_app(name: &str, vote_port: u16, result_port: u16) -> String {
    format!(
        r#"services:
  redis:
    {redis}
    networks: [frontend]
  db:
    {db}
    environment:
      POSTGRES_USER: postgres
    volumes: ["db-data:/var/lib/postgresql/data"]
    networks: [backend]
  vote:
    {vote}
    ports: [{{target: 80, published: {vote_port}, mode: host}}]
    networks: [frontend]
    depends_on: [redis]
  result:
    {result}
    ports: [{{target: 80, published: {result_port}, mode: host}}]
    networks: [backend]
    depends_on: [db]
  worker:
    {worker}
    networks: [frontend, backend]
    deploy:
      replicas: 2
networks:
  frontend:
  backend:
volumes:
  db-data:
name: {name}
"#,
        redis = httpd("redis", 6379),
        db = httpd("db", 5432),
        vote = httpd("vote", 80),
        result = httpd("result", 80),
        worker = httpd("worker", 9000),
    )
}

/// examples/02-env-and-secrets on the local image: an env secret, a file secret, a port.
fn example_02(name: &str, port: u16) -> String {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/02-env-and-secrets/bridge.yaml"),
    )
    .unwrap_or_else(|e| panic!("example 02: {e}"));
    let mut y = src.clone();
    for (from, to) in [
        ("name: api\n", format!("name: {name}\n")),
        ("image: ghcr.io/acme/api:2.3.1", httpd("api", 8000)),
        (
            "ports: [\"8000:8000\"]",
            format!("ports: [{{container: 8000, published: {port}, mode: host}}]"),
        ),
    ] {
        assert!(y.contains(from), "example 02 changed: {from:?} is gone");
        y = y.replace(from, &to);
    }
    // The example configures only aws, which would make aws its default provider.
    y.replace("providers:\n", "providers:\n  default: swarm\n")
}

const SECRET: &str = "s3cr3t-Value-9f1c77";
const FILE_SECRET: &str = "file-Secret-4d2e91";

fn secret_envs() -> Vec<(&'static str, &'static str)> {
    vec![("API_DB_PASSWORD", SECRET), ("RUST_LOG", "debug")]
}

#[test]
fn deploy_example_and_voting_shape_then_noop_change_destroy() {
    ensure_swarm();
    ensure_test_image();
    let dir = workdir("deploy");
    let (api, vote) = ("it-api", "it-vote");
    cleanup(api);
    cleanup(vote);
    std::fs::write(dir.join("api.yaml"), example_02(api, 18210)).unwrap_or_default();
    std::fs::write(dir.join("api_key.txt"), FILE_SECRET).unwrap_or_default();
    std::fs::write(dir.join("compose.yaml"), voting_app(vote, 18211, 18212)).unwrap_or_default();
    // A foreign service (not bridge's) that destroy must leave alone.
    let foreign = "it-foreign-svc";
    call("DELETE", &format!("/services/{foreign}"), None);
    let r = call(
        "POST",
        "/services/create",
        Some(
            &serde_json::json!({"Name": foreign, "TaskTemplate": {"ContainerSpec": {"Image": TEST_IMAGE, "Args": ["sleep", "600"]}}, "Mode": {"Replicated": {"Replicas": 0}}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    let transcript = std::cell::RefCell::new(String::new());
    let step = |args: &[&str]| {
        let o = run(&dir, args, &secret_envs());
        transcript.borrow_mut().push_str(&text(&o));
        o
    };

    // 1. Deploy both: everything runs, published ports answer HTTP from the host.
    for f in ["api.yaml", "compose.yaml"] {
        let o = step(&["deploy", "-f", f, "--wait", "--timeout", "90s"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    wait_http(18210, "api");
    wait_http(18211, "vote");
    wait_http(18212, "result");
    let st = step(&["status", "-f", "compose.yaml", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap_or_default();
    let comps = v["components"].as_array().cloned().unwrap_or_default();
    assert_eq!(comps.len(), 5, "{}", text(&st));
    for c in &comps {
        assert_eq!(c["running"], c["desired"], "{c}");
    }

    // 2. Plan right after: no changes (exit 0 with --detailed-exitcode).
    for f in ["api.yaml", "compose.yaml"] {
        let o = step(&["plan", "-f", f, "--detailed-exitcode"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("no changes"));
    }
    // What Swarm cannot express is said on every plan, not only by `render` (never a silent
    // drop): the secret of example 02 is a file there, not a variable.
    let o = step(&["plan", "-f", "api.yaml"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("warning[T101]"),
        "{}",
        text(&o)
    );
    let o = step(&["plan", "-f", "api.yaml", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes, ["T101"], "{}", text(&o));

    // 3. A second deploy: zero write calls (counted by a proxy on the socket), under 1 s.
    let proxy = Proxy::start("noop");
    let host = proxy.docker_host();
    let mut envs = secret_envs();
    envs.push(("DOCKER_HOST", &host));
    let t = Instant::now();
    let o = run(&dir, &["deploy", "-f", "compose.yaml"], &envs);
    let took = t.elapsed();
    transcript.borrow_mut().push_str(&text(&o));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        proxy.writes(),
        Vec::<(String, String)>::new(),
        "no-op deploy wrote"
    );
    assert!(!proxy.calls().is_empty(), "the proxy saw no call at all");
    assert!(took < Duration::from_secs(1), "no-op deploy took {took:?}");
    eprintln!(
        "no-op redeploy: {took:?}, {} API calls, 0 writes",
        proxy.calls().len()
    );

    // 4. One env change: the plan shows exactly that update and why; the deploy touches only it.
    let changed = std::fs::read_to_string(dir.join("api.yaml"))
        .unwrap_or_default()
        .replace("LOG_LEVEL: info", "LOG_LEVEL: debug");
    std::fs::write(dir.join("api.yaml"), changed).unwrap_or_default();
    let o = step(&["plan", "-f", "api.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "  ~ service/api  (env LOG_LEVEL changed)\nplan: 0 to create, 1 to update, 0 to replace, 0 to delete\n"
    );
    proxy.reset();
    let o = run(&dir, &["deploy", "-f", "api.yaml"], &envs);
    transcript.borrow_mut().push_str(&text(&o));
    assert!(o.status.success(), "{}", text(&o));
    let writes = proxy.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(
        writes[0].1.contains(&format!("/services/{api}_api/update"))
            || writes[0].1.contains("/update?version="),
        "{writes:?}"
    );

    // 5. The secret values appear nowhere: outputs, debug logs, state.db, rendered files.
    let render_dir = dir.join("rendered");
    let o = step(&[
        "render",
        "-f",
        "api.yaml",
        "-p",
        "swarm",
        "-o",
        render_dir.to_str().unwrap_or_default(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let mut haystack = transcript.borrow().clone().into_bytes();
    for entry in walk(&dir) {
        haystack.extend(std::fs::read(&entry).unwrap_or_default());
        haystack.push(b'\n');
    }
    let hay = String::from_utf8_lossy(&haystack);
    assert!(!hay.contains(SECRET), "the env secret's value leaked");
    // The file secret is in its own file (api_key.txt) only.
    let without_source = hay.replacen(FILE_SECRET, "", 1);
    assert!(
        !without_source.contains(FILE_SECRET),
        "the file secret's value leaked"
    );
    assert!(dir.join(".bridge/state.db").exists());
    let h = step(&["history", "-f", "api.yaml"]);
    assert!(
        String::from_utf8_lossy(&h.stdout).contains("deploy"),
        "{}",
        text(&h)
    );

    // 6. Destroy removes everything labelled and nothing else.
    for (f, app) in [("api.yaml", api), ("compose.yaml", vote)] {
        let o = step(&["destroy", "-f", f]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            labelled(app),
            Vec::<(String, String, String)>::new(),
            "{app} left objects"
        );
    }
    assert_eq!(
        call("GET", &format!("/services/{foreign}"), None).status,
        200,
        "the foreign service was removed"
    );
    call("DELETE", &format!("/services/{foreign}"), None);
    // A second destroy finds nothing and succeeds.
    let o = step(&["destroy", "-f", "api.yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn small_app(name: &str, port: u16) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    {web}\n    ports: [{{container: 8000, published: {port}, mode: host}}]\n  cache:\n    {cache}\n    replicas: 2\n",
        web = httpd("web", 8000),
        cache = httpd("cache", 6379),
    )
}

fn replicas(service: &str) -> i64 {
    call("GET", &format!("/services/{service}"), None).json()["Spec"]["Mode"]["Replicated"]["Replicas"]
        .as_i64()
        .unwrap_or(-1)
}

#[test]
fn reconcile_restores_out_of_band_changes_once_and_watching() {
    ensure_swarm();
    ensure_test_image();
    let app = "it-drift";
    cleanup(app);
    let dir = workdir("drift");
    std::fs::write(dir.join("bridge.yaml"), small_app(app, 18220)).unwrap_or_default();
    let o = run(&dir, &["deploy", "--wait", "--timeout", "60s"], &[]);
    assert!(o.status.success(), "{}", text(&o));

    let drift = || {
        assert_eq!(
            call("DELETE", &format!("/services/{app}_web"), None).status,
            200
        );
        let out = Command::new("docker")
            .args(["service", "scale", "-d", &format!("{app}_cache=0")])
            .output()
            .unwrap_or_else(|e| panic!("docker: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    drift();
    let o = run(&dir, &["plan"], &[]);
    let plan = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(plan.contains("+ service/web  (missing)"), "{plan}");
    assert!(
        plan.contains("~ service/cache  (replicas 0 -> 2)"),
        "{plan}"
    );
    let o = run(&dir, &["reconcile"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(replicas(&format!("{app}_cache")), 2);
    assert_eq!(replicas(&format!("{app}_web")), 1);
    wait_http(18220, "web");

    // --watch: restored within two intervals.
    let interval = Duration::from_secs(2);
    let mut watcher = bridge()
        .current_dir(&dir)
        .args(["reconcile", "--watch", "--interval", "2s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    std::thread::sleep(Duration::from_millis(500));
    drift();
    let t = Instant::now();
    let restored = loop {
        let ok = replicas(&format!("{app}_cache")) == 2 && replicas(&format!("{app}_web")) == 1;
        if ok || t.elapsed() > 2 * interval + Duration::from_secs(1) {
            break ok;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = t.elapsed();
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(
        restored,
        "--watch did not restore within two intervals ({took:?})"
    );
    let o = run(&dir, &["destroy"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(labelled(app).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_concurrent_deploy_fails_fast_naming_the_holder() {
    ensure_swarm();
    ensure_test_image();
    let app = "it-lock";
    cleanup(app);
    let dir = workdir("lock");
    // `web` waits for `db` to be healthy, which takes 3 s: the first deploy holds the lock.
    let y = format!(
        "bridge: v1\nname: {app}\nservices:\n  db:\n    image: {TEST_IMAGE}\n    stop_signal: SIGKILL\n    command: [sh, -c, \"sleep 3; echo ok > /tmp/ready; exec sleep 600\"]\n    health: {{test: [CMD, sh, -c, \"[ -f /tmp/ready ]\"], interval: 1s, retries: 30}}\n  web:\n    {web}\n    depends_on: [{{service: db, condition: healthy}}]\n",
        web = httpd("web", 8000)
    );
    std::fs::write(dir.join("bridge.yaml"), y).unwrap_or_default();
    let first = bridge()
        .current_dir(&dir)
        .args(["deploy", "--wait", "--timeout", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let first_pid = first.id();
    std::thread::sleep(Duration::from_millis(800));
    let t = Instant::now();
    let second = run(&dir, &["deploy"], &[]);
    let took = t.elapsed();
    let out = first
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait: {e}"));
    assert!(
        out.status.success(),
        "first deploy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(second.status.code(), Some(2), "{}", text(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("is locked by"), "{err}");
    assert!(err.contains(&format!("pid {first_pid} ")), "{err}");
    assert!(err.contains("deploy"), "{err}");
    assert!(
        took < Duration::from_secs(2),
        "the second deploy took {took:?}"
    );
    let o = run(&dir, &["destroy"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn operational_errors_say_what_to_do() {
    ensure_swarm();
    ensure_test_image();
    let dir = workdir("errors");
    // Unreachable engine.
    std::fs::write(dir.join("bridge.yaml"), small_app("it-err-a", 18230)).unwrap_or_default();
    let o = run(
        &dir,
        &["deploy"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("cannot reach the docker engine at unix:///nonexistent/docker.sock"),
        "{e}"
    );
    assert!(
        e.contains("hint: start the Docker Engine, or set DOCKER_HOST"),
        "{e}"
    );

    // Image missing on the node.
    let app = "it-err-img";
    cleanup(app);
    let y =
        format!("bridge: v1\nname: {app}\nservices:\n  web:\n    image: bridge-test/absent:9\n");
    std::fs::write(dir.join("img.yaml"), y).unwrap_or_default();
    let o = run(&dir, &["deploy", "-f", "img.yaml"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("image bridge-test/absent:9 is not on the node"),
        "{e}"
    );
    assert!(
        e.contains("hint: make it available on the node (docker pull bridge-test/absent:9"),
        "{e}"
    );
    cleanup(app);

    // Port already taken on the host.
    let app = "it-err-port";
    cleanup(app);
    let holder =
        std::net::TcpListener::bind("0.0.0.0:18231").unwrap_or_else(|e| panic!("bind: {e}"));
    std::fs::write(dir.join("port.yaml"), small_app(app, 18231)).unwrap_or_default();
    let o = run(
        &dir,
        &["deploy", "-f", "port.yaml", "--wait", "--timeout", "60s"],
        &[],
    );
    drop(holder);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("address already in use"), "{e}");
    assert!(
        e.contains("hint: a published port of web is taken on the node"),
        "{e}"
    );
    let o = run(&dir, &["destroy", "-f", "port.yaml"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_at_ten_moments_then_redeploy_converges_without_duplicates() {
    ensure_swarm();
    ensure_test_image();
    let app = "it-kill";
    cleanup(app);
    let dir = workdir("kill");
    std::fs::write(dir.join("compose.yaml"), voting_app(app, 18240, 18241)).unwrap_or_default();
    // Pseudo-random moments from the clock, spread over 0..1.5 s.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    let mut moments = Vec::new();
    for round in 0..10 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let ms = seed % 1500;
        moments.push(ms);
        let mut child = bridge()
            .current_dir(&dir)
            .args(["deploy", "-f", "compose.yaml", "--wait", "--timeout", "60s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Every few rounds, also disturb the app between kills.
        if round % 4 == 3 {
            let o = run(&dir, &["destroy", "-f", "compose.yaml"], &[]);
            assert!(o.status.success(), "{}", text(&o));
        }
    }
    let o = run(
        &dir,
        &["deploy", "-f", "compose.yaml", "--wait", "--timeout", "90s"],
        &[],
    );
    assert!(
        o.status.success(),
        "after kills at {moments:?} ms: {}",
        text(&o)
    );
    let objs = labelled(app);
    let mut comps: Vec<String> = objs.iter().map(|(k, c, _)| format!("{k} {c}")).collect();
    let n = comps.len();
    comps.dedup();
    assert_eq!(
        n,
        comps.len(),
        "duplicates after kills at {moments:?}: {objs:?}"
    );
    assert_eq!(
        comps,
        vec![
            "networks network/backend",
            "networks network/frontend",
            "services service/db",
            "services service/redis",
            "services service/result",
            "services service/vote",
            "services service/worker",
            "volumes volume/db-data",
        ],
        "orphans or missing objects after kills at {moments:?}"
    );
    let o = run(
        &dir,
        &["plan", "-f", "compose.yaml", "--detailed-exitcode"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    wait_http(18240, "vote");
    let o = run(&dir, &["destroy", "-f", "compose.yaml"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(labelled(app).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
