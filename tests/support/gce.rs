//! The GCE tests' peer: the Compute-compatible test server (`tests/gce_server/server.py`, in the
//! validators' venv) on 127.0.0.1 with a free port, and a throwaway RSA key and service-account
//! JSON made at test time (never committed). The server is killed when the handle drops. A
//! server that does not start fails the test with its output.

#![allow(dead_code)]

use super::peers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The project the server knows.
pub const PROJECT: &str = "bridge-it";
/// The zones it knows.
pub const ZONE: &str = "us-central1-a";
/// The service account it trusts.
pub const EMAIL: &str = "deployer@bridge-it.iam.gserviceaccount.com";

/// A running test server and the key it trusts.
pub struct Server {
    child: Child,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// A scratch directory (keys, app files).
    pub dir: PathBuf,
}

fn keygen(dir: &std::path::Path, name: &str) {
    let script = format!(
        "from cryptography.hazmat.primitives.asymmetric import rsa\n\
         from cryptography.hazmat.primitives import serialization as s\n\
         k = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n\
         open('{name}.pem', 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))\n\
         open('{name}.pub', 'wb').write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))\n"
    );
    let out = Command::new(peers::python())
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the venv's python for keygen: {e}"));
    assert!(
        out.status.success(),
        "keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Server {
    /// Start a server whose tokens live `token_ttl` seconds.
    pub fn start(tag: &str, token_ttl: f64) -> Server {
        let dir = std::env::temp_dir().join(format!("bridge-gce-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        keygen(&dir, "sa");
        let mut child = Command::new(peers::python())
            .arg(peers::root().join("tests/gce_server/server.py"))
            .args([
                "--project",
                PROJECT,
                "--zones",
                &format!("{ZONE},europe-west1-b"),
            ])
            .args(["--client-email", EMAIL, "--port", "0"])
            .arg("--public-key")
            .arg(dir.join("sa.pub"))
            .args(["--token-ttl", &token_ttl.to_string()])
            // Small pages, so the driver's paging is exercised by every list.
            .args(["--page-size", "2"])
            .stdout(Stdio::piped())
            // A file, not a pipe nobody reads (a full pipe would block the server).
            .stderr(
                std::fs::File::create(dir.join("server.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|e| panic!("server.log: {e}")),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the GCE test server: {e}"));
        let stdout = child.stdout.take();
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("the GCE test server did not start (said {line:?}): {err}");
        };
        let s = Server { child, port, dir };
        s.write_key("key.json", "sa");
        // The file secret of `replicated_app` (relative to the app file, written beside it).
        std::fs::write(s.dir.join("pw.txt"), "file-secret-value")
            .unwrap_or_else(|e| panic!("pw.txt: {e}"));
        s
    }

    /// The API base URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/compute/v1/", self.port)
    }

    /// The API bases (Compute and Secret Manager) on this server.
    pub fn endpoints(&self) -> bridge_providers::gce::Endpoints {
        bridge_providers::gce::Endpoints {
            compute: self.endpoint(),
            secrets: format!("http://127.0.0.1:{}/secretmanager/v1/", self.port),
        }
    }

    /// The driver for `app` with this server's key and endpoints (files relative to `dir`).
    pub fn driver(
        &self,
        app: &bridge_core::ValidApp,
    ) -> Result<bridge_providers::gce::GceDriver, bridge_providers::DriverError> {
        bridge_providers::gce::GceDriver::with_key(
            self.key(),
            self.endpoints(),
            app.app().providers.gce.as_ref(),
            self.dir.clone(),
        )
    }

    /// Write a service-account key file signed by `<pem>.pem`, pointing at this server's token
    /// endpoint; returns its path.
    pub fn write_key(&self, file: &str, pem: &str) -> PathBuf {
        let key = std::fs::read_to_string(self.dir.join(format!("{pem}.pem")))
            .unwrap_or_else(|e| panic!("{pem}.pem: {e}"));
        let json = serde_json::json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "0123456789abcdef",
            "private_key": key,
            "client_email": EMAIL,
            "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("http://127.0.0.1:{}/token", self.port),
        });
        let p = self.dir.join(file);
        std::fs::write(&p, json.to_string()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    }

    /// A key signed by a key pair the server does not know.
    pub fn foreign_key(&self) -> PathBuf {
        keygen(&self.dir, "other");
        self.write_key("other.json", "other")
    }

    /// The default key file.
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.json")
    }

    /// One raw HTTP request to the server: (status, JSON body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("cannot reach the GCE test server: {e}"));
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let data = body.map(|b| b.to_string()).unwrap_or_default();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{data}",
            data.len()
        );
        s.write_all(req.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let v = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
        (status, v)
    }

    /// The instances the server holds, by name (its `dump`).
    pub fn instances(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let dump = self.control("dump");
        serde_json::from_value(dump["resources"][&format!("{ZONE}/instances")].clone())
            .unwrap_or_default()
    }

    /// POST to a control endpoint (`revoke`, `stats`, `drift/ZONE/NAME`, ...); the JSON answer.
    pub fn control(&self, path: &str) -> serde_json::Value {
        let (status, v) = self.request("POST", &format!("/_control/{path}"), None, None);
        assert_eq!(status, 200, "control {path}: {v}");
        v
    }

    /// An access token, the real way: a JWT signed with the service-account key (by the venv's
    /// python and cryptography, independently of the driver's code) exchanged at `/token`.
    pub fn token(&self) -> String {
        let script = format!(
            "import base64, json, time, urllib.request, urllib.parse\n\
             from cryptography.hazmat.primitives import hashes, serialization\n\
             from cryptography.hazmat.primitives.asymmetric import padding\n\
             b = lambda x: base64.urlsafe_b64encode(x).rstrip(b'=').decode()\n\
             k = serialization.load_pem_private_key(open('sa.pem','rb').read(), None)\n\
             now = int(time.time()); aud = 'http://127.0.0.1:{port}/token'\n\
             h = b(json.dumps({{'alg':'RS256','typ':'JWT'}}).encode())\n\
             c = b(json.dumps({{'iss':'{EMAIL}','scope':'x','aud':aud,'iat':now,'exp':now+600}}).encode())\n\
             sig = b(k.sign((h+'.'+c).encode(), padding.PKCS1v15(), hashes.SHA256()))\n\
             data = urllib.parse.urlencode({{'grant_type':'urn:ietf:params:oauth:grant-type:jwt-bearer','assertion':h+'.'+c+'.'+sig}}).encode()\n\
             print(json.load(urllib.request.urlopen(aud, data))['access_token'])\n",
            port = self.port
        );
        let out = Command::new(peers::python())
            .arg("-c")
            .arg(script)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run python: {e}"));
        assert!(
            out.status.success(),
            "token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A counter from `stats` (0 when absent).
    pub fn stat(&self, key: &str) -> u64 {
        self.control("stats")[key].as_u64().unwrap_or(0)
    }

    /// `bridge` (the binary under test) with this server's key and endpoint in its environment.
    pub fn bridge(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bridge"));
        c.env("GOOGLE_APPLICATION_CREDENTIALS", self.key())
            .env("BRIDGE_GCE_ENDPOINT", self.endpoint())
            .env("BRIDGE_GCE_SECRETS_ENDPOINT", self.endpoints().secrets)
            .env_remove("GOOGLE_CLOUD_PROJECT")
            .env_remove("CLOUDSDK_CORE_PROJECT")
            .env_remove("GCE_METADATA_HOST")
            .stdin(Stdio::null());
        c
    }

    /// Writes an app file `<name>.yaml` into this server's directory.
    pub fn write_app(&self, name: &str, yaml: &str) -> PathBuf {
        let p = self.dir.join(format!("{name}.yaml"));
        std::fs::write(&p, yaml).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    }

    /// `bridge ARGS -f FILE -p gce` with the state store in this server's directory.
    pub fn on_app(&self, args: &[&str], file: &std::path::Path) -> Command {
        let mut c = self.bridge();
        c.args(args)
            .arg("-f")
            .arg(file)
            .args(["-p", "gce", "--state"])
            .arg(self.dir.join("state.db"));
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            eprintln!("GCE test server log:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Load and validate an app (relative files beside the current directory).
pub fn valid(yaml: &str) -> bridge_core::ValidApp {
    let loaded = bridge_core::load_str(
        &std::sync::Arc::from("app.yaml"),
        yaml,
        std::path::Path::new("."),
        &bridge_core::LoadOptions::default(),
    );
    loaded
        .valid
        .unwrap_or_else(|| panic!("does not validate: {:?}\n{yaml}", loaded.diagnostics))
}

/// examples/07-vm-plus-containers retargeted at GCE: its containers and its VM on this server's
/// project and zone (the example pins them to AWS and OpenStack).
pub fn example_07_on_gce() -> String {
    let src =
        std::fs::read_to_string(peers::root().join("examples/07-vm-plus-containers/bridge.yaml"))
            .unwrap_or_else(|e| panic!("examples/07: {e}"));
    let mut out: String = src
        .lines()
        .filter(|l| !l.trim_start().starts_with("provider:"))
        .take_while(|l| !l.starts_with("providers:"))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!(
        "providers:\n  gce: {{project: {PROJECT}, zone: {ZONE}, images: {{ubuntu-24.04: projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64}}}}\n"
    ));
    out
}

/// An app with replicas, a named volume (a persistent disk), a published port and a secret
/// read from a file (`pw.txt` beside the app file).
pub fn replicated_app(name: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nservices:\n  web:\n    image: ghcr.io/acme/web:1.4\n    ports: ['80:8000']\n    replicas: 3\n    resources: {{cpus: 1, memory: 1GiB}}\n  db:\n    image: postgres:16\n    volumes: ['data:/var/lib/postgresql/data']\n    env: {{POSTGRES_DB: app}}\n    secrets: [{{name: pw, env: POSTGRES_PASSWORD}}]\nvolumes: {{data: {{size: 10GiB}}}}\nsecrets: {{pw: {{file: ./pw.txt}}}}\nproviders:\n  gce: {{project: {PROJECT}, zone: {ZONE}, machine_type: e2-standard-2}}\n"
    )
}

/// The value of an instance's metadata item `key`.
pub fn metadata_value(inst: &serde_json::Value, key: &str) -> Option<String> {
    inst["metadata"]["items"]
        .as_array()?
        .iter()
        .find(|i| i["key"] == key)?["value"]
        .as_str()
        .map(str::to_string)
}
