//! Where the cloud's credentials come from (`clouds.yaml` + `secure.yaml`, or `OS_*` variables),
//! and a Keystone v3 session: password or application-credential tokens, cached and renewed
//! before they expire (and once more when a service rejects one), endpoints chosen from the
//! token's service catalog by type, interface and region. Passwords, secrets and tokens never
//! reach `Debug`, logs or errors.

#[cfg(test)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bridge_core::node::{self, Limits, Node, NodeKind, Resolved};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::err;
use crate::{DriverError, ErrorKind};

/// How the user proves who they are.
#[derive(Clone, PartialEq, Eq)]
pub enum Method {
    /// User name (or id) and password, scoped to a project.
    Password {
        /// `username`.
        username: Option<String>,
        /// `user_id`.
        user_id: Option<String>,
        /// The password (never shown).
        password: String,
        /// `user_domain_name` (default `Default`).
        user_domain_name: Option<String>,
        /// `user_domain_id`.
        user_domain_id: Option<String>,
    },
    /// An application credential (carries its own project scope).
    ApplicationCredential {
        /// `application_credential_id`.
        id: Option<String>,
        /// `application_credential_name` (needs the user).
        name: Option<String>,
        /// `username` when the credential is given by name.
        username: Option<String>,
        /// `user_domain_name` when the credential is given by name.
        user_domain_name: Option<String>,
        /// The secret (never shown).
        secret: String,
    },
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::Password {
                username, user_id, ..
            } => write!(
                f,
                "password(user {})",
                username.as_deref().or(user_id.as_deref()).unwrap_or("?")
            ),
            Method::ApplicationCredential { id, name, .. } => write!(
                f,
                "application credential {}",
                id.as_deref().or(name.as_deref()).unwrap_or("?")
            ),
        }
    }
}

/// The service types bridge calls, whose `OS_<TYPE>_ENDPOINT_OVERRIDE` variables are read.
const SERVICE_TYPES: &[&str] = &["orchestration", "compute", "image", "network", "container"];

/// One cloud: where Keystone is, who the user is, which project, region and interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudConfig {
    /// Where it came from (`clouds.yaml entry `x` in FILE`, or `OS_* variables`), for messages.
    pub source: String,
    /// Keystone, e.g. `https://keystone.example:5000/v3`.
    pub auth_url: String,
    /// The credentials.
    pub method: Method,
    /// `project_name`.
    pub project_name: Option<String>,
    /// `project_id`.
    pub project_id: Option<String>,
    /// `project_domain_name`.
    pub project_domain_name: Option<String>,
    /// `project_domain_id`.
    pub project_domain_id: Option<String>,
    /// `region_name`; `None`: the first endpoint of the interface.
    pub region: Option<String>,
    /// `public` (default), `internal` or `admin`.
    pub interface: String,
    /// `cacert`: a PEM bundle to trust.
    pub cacert: Option<PathBuf>,
    /// `verify: false` / `OS_INSECURE`: do not check TLS certificates.
    pub insecure: bool,
    /// `<service type>_endpoint_override` (openstacksdk's keys, e.g.
    /// `orchestration_endpoint_override`; `OS_ORCHESTRATION_ENDPOINT_OVERRIDE`): the URL used for
    /// that service instead of the catalog's, `%(project_id)s` or `{project_id}` replaced by the
    /// token's project. For clouds whose catalog names an endpoint unreachable from here (and a
    /// proxy in front of one, as the tests use).
    pub endpoint_overrides: std::collections::BTreeMap<String, String>,
}

/// Where `clouds.yaml` and `secure.yaml` are looked for, in order: `OS_CLIENT_CONFIG_FILE`
/// (`OS_CLIENT_SECURE_FILE`), the current directory, `~/.config/openstack/`, `/etc/openstack/`.
pub fn search_paths(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let var = if name == "clouds" {
        "OS_CLIENT_CONFIG_FILE"
    } else {
        "OS_CLIENT_SECURE_FILE"
    };
    if let Some(f) = env(var) {
        out.push(PathBuf::from(f));
    }
    let mut dirs = vec![PathBuf::from(".")];
    if let Some(h) = env("HOME") {
        dirs.push(Path::new(&h).join(".config/openstack"));
    }
    dirs.push(PathBuf::from("/etc/openstack"));
    for d in dirs {
        for ext in ["yaml", "yml"] {
            out.push(d.join(format!("{name}.{ext}")));
        }
    }
    out
}

/// YAML to JSON through bridge-core's loader (YAML 1.2 core schema, aliases budgeted).
fn yaml_value(n: &Node) -> Value {
    match &n.kind {
        NodeKind::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), yaml_value(v)))
                .collect(),
        ),
        NodeKind::Seq(s) => Value::Array(s.iter().map(yaml_value).collect()),
        NodeKind::Scalar(_) => match n.resolve() {
            Some(Resolved::Null) | None => Value::Null,
            Some(Resolved::Bool(b)) => json!(b),
            Some(Resolved::Int(i)) => json!(i),
            Some(Resolved::Float(f)) => json!(f),
            Some(Resolved::Str(s)) => json!(s),
        },
    }
}

fn read_yaml(path: &Path) -> Result<Option<Value>, DriverError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(err(
                "-",
                ErrorKind::Other,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    node::load(&text, &Limits::default())
        .map(|n| Some(yaml_value(&n)))
        .map_err(|e| {
            err(
                "-",
                ErrorKind::Other,
                format!("{} is not valid YAML: {e:?}", path.display()),
            )
            .with_hint("fix the file's syntax (it is a clouds.yaml / secure.yaml)")
        })
}

/// Deep merge `over` into `base` (secure.yaml over clouds.yaml).
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl CloudConfig {
    /// The cloud named `cloud` (else `OS_CLOUD`) from the first `clouds.yaml` that exists, with
    /// `secure.yaml` merged over it; without a cloud name, the `OS_*` variables. `region` (the
    /// app's `providers.openstack.region`) overrides the entry's.
    pub fn load(
        cloud: Option<&str>,
        region: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CloudConfig, DriverError> {
        let name = cloud
            .map(str::to_string)
            .or_else(|| env("OS_CLOUD").filter(|c| !c.is_empty()));
        let mut cfg = match name {
            Some(n) => Self::from_clouds_yaml(&n, env)?,
            None => Self::from_env(env)?,
        };
        if let Some(r) = region {
            cfg.region = Some(r.to_string());
        }
        Ok(cfg)
    }

    fn from_clouds_yaml(
        name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CloudConfig, DriverError> {
        let searched = search_paths(env, "clouds");
        let mut found = None;
        for p in &searched {
            if let Some(v) = read_yaml(p)? {
                found = Some((p.clone(), v));
                break;
            }
        }
        let list = searched
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let Some((path, doc)) = found else {
            return Err(err(
                "-",
                ErrorKind::NotInitialised,
                format!("cloud `{name}` is asked for, but no clouds.yaml exists (looked in {list})"),
            )
            .with_hint("write a clouds.yaml (see your cloud's dashboard: API access), point OS_CLIENT_CONFIG_FILE at one, or unset OS_CLOUD and use OS_* variables"));
        };
        let clouds = doc.get("clouds").cloned().unwrap_or(Value::Null);
        let Some(mut entry) = clouds.get(name).cloned() else {
            let known: Vec<&String> = clouds
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            return Err(err(
                "-",
                ErrorKind::NotInitialised,
                format!("cloud `{name}` is not in {}", path.display()),
            )
            .with_hint(format!(
                "use one of the clouds it has ({}), set providers.openstack.cloud or OS_CLOUD, or add the entry",
                known
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        for p in search_paths(env, "secure") {
            if let Some(sec) = read_yaml(&p)? {
                if let Some(over) = sec.get("clouds").and_then(|c| c.get(name)) {
                    merge(&mut entry, over);
                }
                break;
            }
        }
        let source = format!("clouds.yaml entry `{name}` in {}", path.display());
        let auth = entry.get("auth").cloned().unwrap_or(Value::Null);
        let auth_type = s(&entry, "auth_type").unwrap_or_else(|| "password".into());
        let get = |k: &str| s(&auth, k);
        let cfg = CloudConfig {
            auth_url: get("auth_url").ok_or_else(|| {
                err(
                    "-",
                    ErrorKind::NotInitialised,
                    format!("{source} has no auth.auth_url"),
                )
                .with_hint(
                    "add auth.auth_url: the Keystone URL, e.g. https://keystone.example:5000/v3",
                )
            })?,
            method: method(&auth_type, &get, &source)?,
            project_name: get("project_name").or_else(|| get("tenant_name")),
            project_id: get("project_id").or_else(|| get("tenant_id")),
            project_domain_name: get("project_domain_name").or_else(|| get("domain_name")),
            project_domain_id: get("project_domain_id").or_else(|| get("domain_id")),
            region: s(&entry, "region_name"),
            interface: s(&entry, "interface")
                .or_else(|| s(&entry, "endpoint_type"))
                .unwrap_or_else(|| "public".into()),
            cacert: s(&entry, "cacert").map(PathBuf::from),
            insecure: entry.get("verify") == Some(&Value::Bool(false)),
            endpoint_overrides: entry
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| {
                            let t = k.strip_suffix("_endpoint_override")?;
                            Some((t.replace('_', "-"), v.as_str()?.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            source,
        };
        Ok(cfg)
    }

    fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<CloudConfig, DriverError> {
        let get =
            |k: &str| env(&format!("OS_{}", k.to_ascii_uppercase())).filter(|v| !v.is_empty());
        let source = "OS_* variables".to_string();
        let auth_url = get("auth_url").ok_or_else(|| {
            err(
                "-",
                ErrorKind::NotInitialised,
                "no OpenStack cloud is configured: neither providers.openstack.cloud, OS_CLOUD nor OS_AUTH_URL is set",
            )
            .with_hint("set OS_CLOUD to an entry of your clouds.yaml (or providers.openstack.cloud in the app), or source your openrc (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME...)")
        })?;
        let auth_type = get("auth_type").unwrap_or_else(|| "password".into());
        Ok(CloudConfig {
            auth_url,
            method: method(&auth_type, &get, &source)?,
            project_name: get("project_name").or_else(|| get("tenant_name")),
            project_id: get("project_id").or_else(|| get("tenant_id")),
            project_domain_name: get("project_domain_name").or_else(|| get("domain_name")),
            project_domain_id: get("project_domain_id").or_else(|| get("domain_id")),
            region: get("region_name"),
            interface: get("interface")
                .or_else(|| get("endpoint_type"))
                .map(|i| i.trim_end_matches("URL").to_string())
                .unwrap_or_else(|| "public".into()),
            cacert: get("cacert").map(PathBuf::from),
            insecure: get("insecure").is_some_and(|v| v == "true" || v == "1"),
            endpoint_overrides: SERVICE_TYPES
                .iter()
                .filter_map(|t| {
                    let v = get(&format!("{}_endpoint_override", t.replace('-', "_")))?;
                    Some((t.to_string(), v))
                })
                .collect(),
            source,
        })
    }

    /// The user, project and domain as people name them, for messages (no secrets).
    pub fn who(&self) -> String {
        let user = match &self.method {
            Method::Password {
                username, user_id, ..
            } => format!(
                "user `{}`",
                username.as_deref().or(user_id.as_deref()).unwrap_or("?")
            ),
            Method::ApplicationCredential { id, name, .. } => format!(
                "application credential `{}`",
                id.as_deref().or(name.as_deref()).unwrap_or("?")
            ),
        };
        let project = self
            .project_name
            .as_deref()
            .or(self.project_id.as_deref())
            .map(|p| {
                format!(
                    ", project `{p}` (domain `{}`)",
                    self.project_domain_name
                        .as_deref()
                        .or(self.project_domain_id.as_deref())
                        .unwrap_or("Default")
                )
            })
            .unwrap_or_default();
        format!("{user}{project} at {}", self.auth_url)
    }
}

fn method(
    auth_type: &str,
    get: &dyn Fn(&str) -> Option<String>,
    source: &str,
) -> Result<Method, DriverError> {
    match auth_type {
        "password" | "v3password" => Ok(Method::Password {
            username: get("username"),
            user_id: get("user_id"),
            password: get("password").ok_or_else(|| {
                err(
                    "-",
                    ErrorKind::NotInitialised,
                    format!("{source} has no password"),
                )
                .with_hint("put it in secure.yaml (clouds.<name>.auth.password) or OS_PASSWORD")
            })?,
            user_domain_name: get("user_domain_name").or_else(|| get("domain_name")),
            user_domain_id: get("user_domain_id").or_else(|| get("domain_id")),
        }),
        "v3applicationcredential" | "applicationcredential" => Ok(Method::ApplicationCredential {
            id: get("application_credential_id"),
            name: get("application_credential_name"),
            username: get("username"),
            user_domain_name: get("user_domain_name"),
            secret: get("application_credential_secret").ok_or_else(|| {
                err(
                    "-",
                    ErrorKind::NotInitialised,
                    format!("{source} has no application_credential_secret"),
                )
                .with_hint("put it in secure.yaml or OS_APPLICATION_CREDENTIAL_SECRET")
            })?,
        }),
        other => Err(err(
            "-",
            ErrorKind::NotInitialised,
            format!("{source}: auth_type `{other}` is not supported"),
        )
        .with_hint("use `password` or `v3applicationcredential`")),
    }
}

/// The body of `POST /v3/auth/tokens` (holds the secret: never logged).
fn auth_body(c: &CloudConfig) -> Value {
    let domain = |name: &Option<String>, id: &Option<String>| match (id, name) {
        (Some(id), _) => json!({"id": id}),
        (None, Some(n)) => json!({"name": n}),
        (None, None) => json!({"id": "default"}),
    };
    let identity = match &c.method {
        Method::Password {
            username,
            user_id,
            password,
            user_domain_name,
            user_domain_id,
        } => {
            let user = match user_id {
                Some(id) => json!({"id": id, "password": password}),
                None => json!({
                    "name": username.clone().unwrap_or_default(),
                    "domain": domain(user_domain_name, user_domain_id),
                    "password": password,
                }),
            };
            json!({"methods": ["password"], "password": {"user": user}})
        }
        Method::ApplicationCredential {
            id,
            name,
            username,
            user_domain_name,
            secret,
        } => {
            let cred = match id {
                Some(id) => json!({"id": id, "secret": secret}),
                None => json!({
                    "name": name.clone().unwrap_or_default(),
                    "secret": secret,
                    "user": {"name": username.clone().unwrap_or_default(),
                             "domain": domain(user_domain_name, &None)},
                }),
            };
            json!({"methods": ["application_credential"], "application_credential": cred})
        }
    };
    let mut auth = json!({"identity": identity});
    if matches!(c.method, Method::Password { .. }) {
        match (&c.project_id, &c.project_name) {
            (Some(id), _) => auth["scope"] = json!({"project": {"id": id}}),
            (None, Some(n)) => {
                auth["scope"] = json!({"project": {"name": n,
                    "domain": domain(&c.project_domain_name, &c.project_domain_id)}})
            }
            (None, None) => {}
        }
    }
    json!({ "auth": auth })
}

/// A token, its expiry and the catalog it came with.
#[derive(Clone)]
pub struct Token {
    value: String,
    /// When Keystone says it expires.
    pub expires: SystemTime,
    /// When it was issued.
    pub issued: SystemTime,
    /// The scoped project's id.
    pub project_id: String,
    /// The catalog: (type, interface, region, url).
    pub catalog: Vec<(String, String, String, String)>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires", &self.expires)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Renew this long before expiry: a third of its lifetime, at most five minutes.
    fn margin(&self) -> Duration {
        let life = self
            .expires
            .duration_since(self.issued)
            .unwrap_or(Duration::ZERO);
        (life / 3).min(Duration::from_secs(300))
    }

    /// When this session will stop using it and ask Keystone for a new one.
    pub fn renew_at(&self) -> SystemTime {
        self.expires - self.margin()
    }

    fn fresh(&self) -> bool {
        SystemTime::now() < self.renew_at()
    }
}

/// `2026-11-26T12:00:00.000000Z` (Keystone's format) as a time.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.trim_end_matches('Z');
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, dd) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let time = time.split(['+']).next()?;
    let mut t = time.split(':');
    let (hh, mm) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let ss: f64 = t.next()?.parse().ok()?;
    // days from civil (Howard Hinnant)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_secs_f64(ss.max(0.0)))
}

/// A Keystone session: one token at a time, renewed before it expires.
pub struct Session {
    /// The cloud.
    pub cloud: CloudConfig,
    http: reqwest::Client,
    token: Mutex<Option<Token>>,
    issued: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("cloud", &self.cloud)
            .finish_non_exhaustive()
    }
}

/// A transport error as a driver error: unreachable, with the URL and what to check.
pub fn transport(url: &str, e: &reqwest::Error) -> DriverError {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(&format!(": {s}"));
        src = s.source();
    }
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Unreachable
    };
    err("-", kind, format!("cannot reach {url}: {detail}"))
}

impl Session {
    /// A session for `cloud` (no request yet).
    pub fn new(cloud: CloudConfig) -> Result<Session, DriverError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            // API servers (gunicorn, haproxy) close idle keep-alive connections after a few
            // seconds; a pooled connection older than that is not reused.
            .pool_idle_timeout(Duration::from_secs(1))
            .user_agent(concat!("bridge/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &cloud.cacert {
            let pem = std::fs::read(ca).map_err(|e| {
                err(
                    "-",
                    ErrorKind::Other,
                    format!("cannot read cacert {}: {e}", ca.display()),
                )
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                err(
                    "-",
                    ErrorKind::Other,
                    format!("cacert {} is not PEM: {e}", ca.display()),
                )
            })?;
            b = b.add_root_certificate(cert);
        }
        if cloud.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        let http = b.build().map_err(|e| {
            err(
                "-",
                ErrorKind::Other,
                format!("cannot set up the HTTP client: {e}"),
            )
        })?;
        Ok(Session {
            cloud,
            http,
            token: Mutex::new(None),
            issued: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// How many tokens this session has obtained from Keystone.
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token that is not about to expire (cached, or a new one).
    pub async fn token(&self) -> Result<Token, DriverError> {
        let mut t = self.token.lock().await;
        if let Some(tok) = t.as_ref().filter(|t| t.fresh()) {
            return Ok(tok.clone());
        }
        let new = self.authenticate().await?;
        *t = Some(new.clone());
        Ok(new)
    }

    /// Forget `rejected` (a service answered 401 to it), so the next call authenticates again.
    pub async fn invalidate(&self, rejected: &Token) {
        let mut t = self.token.lock().await;
        if t.as_ref().is_some_and(|x| x.value == rejected.value) {
            *t = None;
        }
    }

    /// The token's value, for the `X-Auth-Token` header.
    pub fn header(t: &Token) -> &str {
        &t.value
    }

    async fn authenticate(&self) -> Result<Token, DriverError> {
        let c = &self.cloud;
        let base = c.auth_url.trim_end_matches('/');
        let url = if base.ends_with("/v3") {
            format!("{base}/auth/tokens")
        } else {
            format!("{base}/v3/auth/tokens")
        };
        tracing::debug!(%url, who = %c.who(), "keystone: authenticating");
        let resp = self
            .http
            .post(&url)
            .json(&auth_body(c))
            .send()
            .await
            .map_err(|e| {
                transport(&url, &e).with_hint(format!(
                    "check auth_url ({}) in the {}, and that Keystone runs and is reachable from here",
                    c.auth_url, c.source
                ))
            })?;
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-openstack-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let subject = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let msg = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == 401 || status == 403 || status == 404 {
            let mut e = err(
                "-",
                ErrorKind::NotInitialised,
                format!(
                    "keystone rejected the credentials of {} (HTTP {status}{})",
                    c.who(),
                    if msg.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", msg.trim_end_matches('.'))
                    }
                ),
            )
            .with_hint(format!(
                "check the user name, password (or application credential), project and their domains in the {}; `openstack token issue` with the same settings shows what Keystone says",
                c.source
            ));
            e.request_id = request_id;
            return Err(e);
        }
        if !(200..300).contains(&status) {
            return Err(err(
                "-",
                ErrorKind::Other,
                format!("keystone answered HTTP {status} to {url}: {msg}"),
            )
            .with_hint("check auth_url: it must be the Keystone v3 endpoint"));
        }
        let value = subject.ok_or_else(|| {
            err(
                "-",
                ErrorKind::Other,
                format!("keystone at {url} returned no X-Subject-Token"),
            )
            .with_hint("check auth_url: it must be the Keystone v3 endpoint")
        })?;
        let tok = &body["token"];
        let expires = tok["expires_at"]
            .as_str()
            .and_then(parse_time)
            .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(300));
        let issued = tok["issued_at"]
            .as_str()
            .and_then(parse_time)
            .unwrap_or_else(SystemTime::now);
        let project_id = tok["project"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if project_id.is_empty() {
            return Err(err(
                "-",
                ErrorKind::NotInitialised,
                format!("the token for {} is not scoped to a project", c.who()),
            )
            .with_hint(format!(
                "set project_name (and project_domain_name) or project_id in the {}",
                c.source
            )));
        }
        let mut catalog = Vec::new();
        for svc in tok["catalog"].as_array().into_iter().flatten() {
            let typ = svc["type"].as_str().unwrap_or_default();
            for ep in svc["endpoints"].as_array().into_iter().flatten() {
                catalog.push((
                    typ.to_string(),
                    ep["interface"].as_str().unwrap_or_default().to_string(),
                    ep["region_id"]
                        .as_str()
                        .or(ep["region"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                    ep["url"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        self.issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(project = %project_id, "keystone: token issued");
        Ok(Token {
            value,
            expires,
            issued,
            project_id,
            catalog,
        })
    }

    /// The endpoint of `service_type` for the configured interface and region.
    pub fn endpoint(&self, tok: &Token, service_type: &str) -> Result<String, DriverError> {
        let c = &self.cloud;
        if let Some(url) = c.endpoint_overrides.get(service_type) {
            return Ok(url
                .replace("%(project_id)s", &tok.project_id)
                .replace("{project_id}", &tok.project_id)
                .trim_end_matches('/')
                .to_string());
        }
        let hit = tok.catalog.iter().find(|(t, i, r, _)| {
            t == service_type && *i == c.interface && c.region.as_ref().is_none_or(|want| want == r)
        });
        match hit {
            Some((_, _, _, url)) => Ok(url.trim_end_matches('/').to_string()),
            None => {
                let types: std::collections::BTreeSet<&str> =
                    tok.catalog.iter().map(|(t, ..)| t.as_str()).collect();
                let regions: std::collections::BTreeSet<&str> = tok
                    .catalog
                    .iter()
                    .filter(|(t, ..)| t == service_type)
                    .map(|(_, _, r, _)| r.as_str())
                    .collect();
                let hint = if regions.is_empty() {
                    format!(
                        "this cloud offers no {service_type} service to {} (its catalog has: {}); ask the cloud's operators, or choose another cloud",
                        c.who(),
                        types.into_iter().collect::<Vec<_>>().join(", ")
                    )
                } else {
                    format!(
                        "the {service_type} service is in region(s) {}: set providers.openstack.region or region_name in the {}",
                        regions.into_iter().collect::<Vec<_>>().join(", "),
                        c.source
                    )
                };
                Err(err(
                    "-",
                    ErrorKind::NotInitialised,
                    format!(
                        "the service catalog has no {service_type} endpoint for interface `{}`{}",
                        c.interface,
                        c.region
                            .as_ref()
                            .map(|r| format!(" in region `{r}`"))
                            .unwrap_or_default()
                    ),
                )
                .with_hint(hint))
            }
        }
    }
}

/// A map as an `env` function (tests).
#[cfg(test)]
fn env_from(map: BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystone_times_parse() {
        let t = parse_time("2023-11-14T22:13:20.000000Z");
        assert_eq!(t, Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        assert_eq!(
            parse_time("1970-01-01T00:00:01Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1))
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn clouds_yaml_with_secure_yaml_merged() {
        let dir = std::env::temp_dir().join(format!("bridge-os-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let clouds = dir.join("clouds.yaml");
        let secure = dir.join("secure.yaml");
        std::fs::write(
            &clouds,
            "clouds:\n  dc1:\n    auth:\n      auth_url: https://k.example/v3\n      username: ann\n      project_name: shop\n      user_domain_name: Corp\n    region_name: R2\n    orchestration_endpoint_override: http://h:8004/v1/%(project_id)s\n",
        )
        .unwrap_or_default();
        std::fs::write(
            &secure,
            "clouds:\n  dc1:\n    auth:\n      password: s3cret\n",
        )
        .unwrap_or_default();
        let env = env_from(BTreeMap::from([
            (
                "OS_CLIENT_CONFIG_FILE".to_string(),
                clouds.display().to_string(),
            ),
            (
                "OS_CLIENT_SECURE_FILE".to_string(),
                secure.display().to_string(),
            ),
        ]));
        let c = CloudConfig::load(Some("dc1"), None, &env).map_err(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.auth_url, "https://k.example/v3");
        assert_eq!(c.region.as_deref(), Some("R2"));
        assert_eq!(
            c.endpoint_overrides
                .get("orchestration")
                .map(String::as_str),
            Some("http://h:8004/v1/%(project_id)s")
        );
        assert_eq!(c.interface, "public");
        assert!(matches!(&c.method, Method::Password { password, .. } if password == "s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        let body = auth_body(&c).to_string();
        assert!(body.contains("\"Corp\""), "{body}");
        assert!(body.contains("\"scope\""), "{body}");
    }

    #[test]
    fn a_missing_cloud_names_the_known_ones() {
        let dir = std::env::temp_dir().join(format!("bridge-os-auth2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let clouds = dir.join("clouds.yaml");
        std::fs::write(
            &clouds,
            "clouds:\n  a: {auth: {auth_url: x, password: p}}\n",
        )
        .unwrap_or_default();
        let env = env_from(BTreeMap::from([(
            "OS_CLIENT_CONFIG_FILE".to_string(),
            clouds.display().to_string(),
        )]));
        let e = CloudConfig::load(Some("b"), None, &env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(e.contains("cloud `b` is not in"), "{e}");
        assert!(e.contains("hint: use one of the clouds it has (a)"), "{e}");
    }

    #[test]
    fn os_variables_with_an_application_credential() {
        let env = env_from(BTreeMap::from([
            ("OS_AUTH_URL".to_string(), "http://k:5000".to_string()),
            (
                "OS_AUTH_TYPE".to_string(),
                "v3applicationcredential".to_string(),
            ),
            (
                "OS_APPLICATION_CREDENTIAL_ID".to_string(),
                "abc".to_string(),
            ),
            (
                "OS_APPLICATION_CREDENTIAL_SECRET".to_string(),
                "zzz".to_string(),
            ),
            ("OS_INTERFACE".to_string(), "internalURL".to_string()),
            (
                "OS_COMPUTE_ENDPOINT_OVERRIDE".to_string(),
                "http://n:8774/v2.1".to_string(),
            ),
        ]));
        let c = match CloudConfig::load(None, Some("RX"), &env) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.interface, "internal");
        assert_eq!(c.region.as_deref(), Some("RX"));
        assert_eq!(
            c.endpoint_overrides
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            [("compute", "http://n:8774/v2.1")]
        );
        let body = auth_body(&c);
        assert_eq!(
            body["auth"]["identity"]["methods"][0],
            json!("application_credential")
        );
        assert!(body["auth"].get("scope").is_none());
        let none = CloudConfig::load(None, None, &env_from(BTreeMap::new()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(none.contains("OS_AUTH_URL"), "{none}");
    }
}
