//! OAuth2 access tokens for the Compute API: a service-account JSON key (from
//! `GOOGLE_APPLICATION_CREDENTIALS`, or gcloud's application default credentials file) exchanged
//! by the JWT-bearer grant (RS256, signed with jsonwebtoken) at the key's own `token_uri`; gcloud's
//! user credentials (`authorized_user`, a refresh token); or the metadata server when running on
//! GCE. Tokens are cached and fetched again shortly before they
//! expire, or when the API refused one (401). Key material and tokens are never logged.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tokio::sync::Mutex;

use super::err;
use crate::{DriverError, ErrorKind};

/// The OAuth2 scope the driver asks for (Compute and Secret Manager; IAM roles decide the rest).
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The default metadata server (only asked when running on GCE, or when GCE_METADATA_HOST is set).
const METADATA_HOST: &str = "metadata.google.internal";

const KEY_HINT: &str = "set GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON key file (IAM > Service accounts > Keys > Add key > JSON, or `gcloud iam service-accounts keys create key.json --iam-account=NAME@PROJECT.iam.gserviceaccount.com`)";

/// A service-account key file, as IAM writes it.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    project_id: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    client_email: Option<String>,
    token_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    quota_project_id: Option<String>,
}

/// Where tokens come from.
enum Source {
    /// A service-account key (the signing key is parsed once).
    ServiceAccount {
        path: PathBuf,
        email: String,
        key_id: Option<String>,
        key: jsonwebtoken::EncodingKey,
        token_uri: String,
    },
    /// gcloud's user credentials (`gcloud auth application-default login`): a refresh token.
    AuthorizedUser {
        path: PathBuf,
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    /// The GCE metadata server.
    Metadata { host: String },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::ServiceAccount { path, email, .. } => f
                .debug_struct("ServiceAccount")
                .field("path", path)
                .field("email", email)
                .finish_non_exhaustive(),
            Source::AuthorizedUser { path, .. } => f
                .debug_struct("AuthorizedUser")
                .field("path", path)
                .finish_non_exhaustive(),
            Source::Metadata { host } => f.debug_struct("Metadata").field("host", host).finish(),
        }
    }
}

/// A cached token and when to fetch the next one.
struct Cached {
    token: String,
    refresh_at: Instant,
}

/// Hands out access tokens, fetching and caching them.
pub struct Tokens {
    source: Source,
    http: reqwest::Client,
    cached: Mutex<Option<Cached>>,
    /// The key file's project, the default project.
    pub project: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn key_error(path: &std::path::Path, message: String) -> DriverError {
    err(
        "credentials",
        ErrorKind::Other,
        format!("{}: {message}", path.display()),
    )
    .with_hint(KEY_HINT)
}

fn on_gce() -> bool {
    std::fs::read_to_string("/sys/class/dmi/id/product_name")
        .map(|s| s.contains("Google"))
        .unwrap_or(false)
}

impl Tokens {
    /// Find the credentials: `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's application default
    /// credentials file, else the metadata server when on GCE (or `GCE_METADATA_HOST` is set).
    pub fn discover(http: reqwest::Client) -> Result<Self, DriverError> {
        if let Some(p) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
            return Self::from_key_file(PathBuf::from(p), http);
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        let config = std::env::var_os("CLOUDSDK_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".config/gcloud"));
        let adc = config.join("application_default_credentials.json");
        if adc.is_file() {
            return Self::from_key_file(adc, http);
        }
        if let Some(host) = std::env::var("GCE_METADATA_HOST")
            .ok()
            .filter(|h| !h.is_empty())
        {
            return Ok(Self::metadata(host, http));
        }
        if on_gce() {
            return Ok(Self::metadata(METADATA_HOST.into(), http));
        }
        Err(err("credentials", ErrorKind::Other, "no Google credentials found (GOOGLE_APPLICATION_CREDENTIALS is not set, there is no application default credentials file, and this is not a GCE VM)").with_hint(KEY_HINT))
    }

    fn metadata(host: String, http: reqwest::Client) -> Self {
        Tokens {
            source: Source::Metadata { host },
            http,
            cached: Mutex::new(None),
            project: None,
        }
    }

    /// Read a service-account key file.
    pub fn from_key_file(path: PathBuf, http: reqwest::Client) -> Result<Self, DriverError> {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| key_error(&path, format!("cannot read the credentials file: {e}")))?;
        let key: KeyFile = serde_json::from_str(&text)
            .map_err(|e| key_error(&path, format!("is not a service-account JSON key: {e}")))?;
        let missing = |f: &str| key_error(&path, format!("the key has no {f:?} field"));
        let default_uri = || "https://oauth2.googleapis.com/token".to_string();
        match key.kind.as_deref() {
            Some("service_account") => {}
            Some("authorized_user") => {
                let client_id = key.client_id.ok_or_else(|| missing("client_id"))?;
                let client_secret = key.client_secret.ok_or_else(|| missing("client_secret"))?;
                let refresh_token = key.refresh_token.ok_or_else(|| missing("refresh_token"))?;
                return Ok(Tokens {
                    source: Source::AuthorizedUser {
                        path,
                        client_id,
                        client_secret,
                        refresh_token,
                        token_uri: key.token_uri.unwrap_or_else(default_uri),
                    },
                    http,
                    cached: Mutex::new(None),
                    project: key.quota_project_id,
                });
            }
            Some(other) => {
                return Err(key_error(
                    &path,
                    format!(
                        "credentials of type {other:?} are not supported, only \"service_account\" keys and \"authorized_user\" (gcloud) credentials"
                    ),
                ));
            }
            None => {
                return Err(key_error(
                    &path,
                    "has no \"type\" field: not a service-account JSON key".into(),
                ));
            }
        }
        let email = key.client_email.ok_or_else(|| missing("client_email"))?;
        let pem = key.private_key.ok_or_else(|| missing("private_key"))?;
        let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
            key_error(
                &path,
                format!("the key's private_key is not an RSA private key in PEM: {e}"),
            )
        })?;
        let token_uri = key.token_uri.unwrap_or_else(default_uri);
        Ok(Tokens {
            source: Source::ServiceAccount {
                path,
                email,
                key_id: key.private_key_id,
                key: encoding,
                token_uri,
            },
            http,
            cached: Mutex::new(None),
            project: key.project_id,
        })
    }

    /// Who the tokens are for (for messages).
    pub fn principal(&self) -> String {
        match &self.source {
            Source::ServiceAccount { email, path, .. } => {
                format!("{email} (key {})", path.display())
            }
            Source::AuthorizedUser { path, .. } => {
                format!("the user credentials in {}", path.display())
            }
            Source::Metadata { .. } => "the VM's service account (metadata server)".into(),
        }
    }

    /// A valid token, from the cache when it has some life left.
    pub async fn token(&self) -> Result<String, DriverError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        // Refresh when a fifth of the life (at most a minute) is left.
        let margin = (lifetime / 5).min(Duration::from_secs(60));
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        tracing::debug!(lifetime_s = lifetime.as_secs_f64(), "new access token");
        Ok(token)
    }

    /// Forget the cached token (the API refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<(String, Duration), DriverError> {
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: Option<f64>,
        }
        #[derive(Deserialize)]
        struct OAuthError {
            error: String,
            error_description: Option<String>,
        }
        let (resp, from) = match &self.source {
            Source::ServiceAccount {
                email,
                key_id,
                key,
                token_uri,
                ..
            } => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                let claims = serde_json::json!({
                    "iss": email, "scope": SCOPE, "aud": token_uri,
                    "iat": now, "exp": now + 3600,
                });
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid = key_id.clone();
                let assertion = jsonwebtoken::encode(&header, &claims, key).map_err(|e| {
                    err(
                        "credentials",
                        ErrorKind::Other,
                        format!("cannot sign the token request: {e}"),
                    )
                    .with_hint(KEY_HINT)
                })?;
                let resp = self
                    .http
                    .post(token_uri)
                    .form(&[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                        ("assertion", assertion.as_str()),
                    ])
                    .send()
                    .await;
                (resp, token_uri.clone())
            }
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
                ..
            } => {
                let resp = self
                    .http
                    .post(token_uri)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", client_id.as_str()),
                        ("client_secret", client_secret.as_str()),
                        ("refresh_token", refresh_token.as_str()),
                    ])
                    .send()
                    .await;
                (resp, token_uri.clone())
            }
            Source::Metadata { host } => {
                let url = format!(
                    "http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
                );
                let resp = self
                    .http
                    .get(&url)
                    .header("Metadata-Flavor", "Google")
                    .send()
                    .await;
                (resp, url)
            }
        };
        let resp = resp.map_err(|e| {
            err(
                "credentials",
                ErrorKind::Unreachable,
                format!("cannot reach the token endpoint {from}: {e}"),
            )
            .with_hint("check the network, or the key's token_uri")
        })?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let detail = serde_json::from_str::<OAuthError>(&body)
                .map(|e| match e.error_description {
                    Some(d) => format!("{}: {d}", e.error),
                    None => e.error,
                })
                .unwrap_or_else(|_| body.chars().take(200).collect());
            return Err(err(
                "credentials",
                ErrorKind::Other,
                format!(
                    "the token endpoint {from} refused {} ({status}): {detail}",
                    self.principal()
                ),
            )
            .with_hint(match self.source {
                Source::AuthorizedUser { .. } => "the user's grant expired or was revoked: run `gcloud auth application-default login` again, or use a service-account key (GOOGLE_APPLICATION_CREDENTIALS)",
                Source::Metadata { .. } => "the VM's service account is missing or disabled: attach an enabled service account to the VM, or use a service-account key (GOOGLE_APPLICATION_CREDENTIALS)",
                Source::ServiceAccount { .. } => "the key may be deleted or disabled, or the service account removed: create a new key for an enabled service account; also check this machine's clock",
            }));
        }
        let t: TokenResponse = serde_json::from_str(&body).map_err(|e| {
            err(
                "credentials",
                ErrorKind::Other,
                format!("the token endpoint {from} answered without an access token: {e}"),
            )
        })?;
        let lifetime = Duration::from_secs_f64(t.expires_in.unwrap_or(3600.0).clamp(1.0, 86_400.0));
        Ok((t.access_token, lifetime))
    }
}
