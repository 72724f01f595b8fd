//! A counting proxy on a unix socket in front of the Docker Engine's socket, for tests: bridge
//! talks to it through DOCKER_HOST, and it counts every request by method and path. It proves
//! what the engine's events cannot: reads are counted too, and a write that changes nothing is
//! still a write. Requests are framed by Content-Length (bollard sends whole JSON bodies).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A running proxy.
pub struct Proxy {
    /// The socket bridge connects to.
    pub path: PathBuf,
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

impl Proxy {
    /// Start a proxy on a fresh socket under the temp dir.
    pub fn start(name: &str) -> Proxy {
        let path =
            std::env::temp_dir().join(format!("bridge-proxy-{name}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        let calls: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let c = calls.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let c = c.clone();
                std::thread::spawn(move || serve(client, c));
            }
        });
        Proxy { path, calls }
    }

    /// DOCKER_HOST for this proxy.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Forget the calls so far.
    pub fn reset(&self) {
        if let Ok(mut c) = self.calls.lock() {
            c.clear();
        }
    }

    /// Every call so far: (method, path).
    pub fn calls(&self) -> Vec<(String, String)> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The calls that may change the engine (anything but GET and HEAD).
    pub fn writes(&self) -> Vec<(String, String)> {
        self.calls()
            .into_iter()
            .filter(|(m, _)| m != "GET" && m != "HEAD")
            .collect()
    }
}

fn serve(client: UnixStream, calls: Arc<Mutex<Vec<(String, String)>>>) {
    let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else {
        return;
    };
    let (Ok(mut engine_w), Ok(mut client_w)) = (engine.try_clone(), client.try_clone()) else {
        return;
    };
    // Engine -> client: plain copy.
    let mut engine_r = engine;
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut engine_r, &mut client_w);
        let _ = client_w.shutdown(std::net::Shutdown::Write);
    });
    // Client -> engine: parse each request head to count it, forward head and body.
    let mut r = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        let mut len = 0usize;
        let mut first = String::new();
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if first.is_empty() {
                first = line.clone();
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" {
                break;
            }
        }
        let mut parts = first.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        if let Ok(mut c) = calls.lock() {
            c.push((method, path));
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if engine_w.write_all(&head).is_err() || engine_w.write_all(&body).is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
