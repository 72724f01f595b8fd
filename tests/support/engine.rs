//! A minimal Docker Engine API client over the unix socket, for tests only (std only): enough to
//! init a single-node swarm, import a local busybox image and create, inspect and remove objects.
//! The engine here is the machine's real Docker Engine; nothing leaves the host.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The API version every call uses: the oldest engine this project meets (Docker 20.10).
pub const API: &str = "v1.41";

/// The local test image, made from Debian's static busybox with `docker import`.
pub const TEST_IMAGE: &str = "bridge-test/busybox:1";

/// A response: status code and body.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body, chunked encoding already decoded.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

fn socket() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => h.trim_start_matches("unix://").to_string(),
        _ => "/var/run/docker.sock".to_string(),
    }
}

/// Send one request; `body` is sent as JSON when given.
pub fn request(
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    content_type: &str,
) -> Result<Response, String> {
    let sock = socket();
    let mut s = UnixStream::connect(&sock)
        .map_err(|e| format!("cannot reach the Docker Engine at {sock}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let body = body.unwrap_or(&[]);
    let head = format!(
        "{method} /{API}{path} HTTP/1.1\r\nHost: docker\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header end")?;
    let header = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let status: u16 = header
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {header}"))?;
    if header
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(Response { status, body })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = nl + 2;
        let end = (start + size).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = &b[(end + 2).min(b.len())..];
    }
    out
}

/// JSON request helper.
pub fn call(method: &str, path: &str, body: Option<&serde_json::Value>) -> Response {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
    request(method, path, bytes.as_deref(), "application/json")
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// The `bridge` binary, to run in `dir` against this engine (no `DOCKER_HOST`, no colour).
pub fn bridge_in(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_bridge"));
    c.env_remove("DOCKER_HOST")
        .env("NO_COLOR", "1")
        .current_dir(dir);
    c
}

/// The objects of one kind (`services`, `secrets`, `volumes`, `networks`) labelled
/// `bridge.app=<app>` on the engine, as it lists them (volumes unwrapped from `Volumes`).
pub fn labelled(kind: &str, app: &str) -> Vec<serde_json::Value> {
    let f = serde_json::json!({"label": [format!("bridge.app={app}")]}).to_string();
    let enc: String = f
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let v = call("GET", &format!("/{kind}?filters={enc}"), None).json();
    let list = if kind == "volumes" {
        v["Volumes"].clone()
    } else {
        v
    };
    list.as_array().cloned().unwrap_or_default()
}

/// Make sure this engine is a swarm manager (a single-node swarm on 127.0.0.1).
pub fn ensure_swarm() {
    let info = call("GET", "/info", None).json();
    match info["Swarm"]["LocalNodeState"].as_str() {
        Some("active") => {}
        state => {
            let r = call(
                "POST",
                "/swarm/init",
                Some(
                    &serde_json::json!({"ListenAddr": "127.0.0.1:2377", "AdvertiseAddr": "127.0.0.1"}),
                ),
            );
            assert!(
                r.status == 200 || r.status == 503,
                "swarm init failed from state {state:?}: {} {}",
                r.status,
                r.text()
            );
        }
    }
}

/// Import the test image from Debian's static busybox if the engine does not have it.
pub fn ensure_test_image() {
    let r = call("GET", &format!("/images/{TEST_IMAGE}/json"), None);
    if r.status == 200 {
        return;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox is missing: install Debian's busybox-static (the test image is made from it)"
    );
    let tar = tar_of_busybox(busybox);
    let (repo, tag) = TEST_IMAGE.split_once(':').unwrap_or((TEST_IMAGE, "latest"));
    let r = request(
        "POST",
        &format!("/images/create?fromSrc=-&repo={repo}&tag={tag}"),
        Some(&tar),
        "application/x-tar",
    )
    .unwrap_or_else(|e| panic!("import: {e}"));
    assert_eq!(r.status, 200, "image import failed: {}", r.text());
}

/// A tar archive (ustar) holding `bin/busybox` and `bin/sh` -> busybox, plus applet links for
/// httpd, nc, sleep, wget, echo, cat and true.
fn tar_of_busybox(path: &Path) -> Vec<u8> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    add_entry(&mut out, "bin/busybox", b'0', &data, "", 0o755);
    for applet in [
        "sh", "httpd", "nc", "sleep", "wget", "echo", "cat", "true", "ls", "env", "mkdir",
    ] {
        add_entry(
            &mut out,
            &format!("bin/{applet}"),
            b'2',
            &[],
            "busybox",
            0o777,
        );
    }
    add_entry(&mut out, "tmp/", b'5', &[], "", 0o1777);
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

fn add_entry(out: &mut Vec<u8>, name: &str, kind: u8, data: &[u8], link: &str, mode: u32) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let field = |h: &mut [u8; 512], off: usize, len: usize, v: u64| {
        let s = format!("{:0width$o}\0", v, width = len - 1);
        h[off..off + len].copy_from_slice(s.as_bytes());
    };
    field(&mut h, 100, 8, u64::from(mode));
    field(&mut h, 108, 8, 0);
    field(&mut h, 116, 8, 0);
    field(&mut h, 124, 12, data.len() as u64);
    field(&mut h, 136, 12, 0);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    let pad = (512 - data.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}
