//! The Compute REST v1 calls the driver makes, over reqwest: every call carries a bearer token
//! (fetched again once when the API answers 401), a 429 or 5xx is retried with backoff, API
//! errors become driver errors that say what to fix, and long-running operations (zonal and global) are polled until DONE, their errors
//! surfaced.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::auth::Tokens;
use super::err;
use crate::{DriverError, ErrorKind};

/// The default API base; `BRIDGE_GCE_ENDPOINT` overrides it (tests point it at a local server).
pub const DEFAULT_ENDPOINT: &str = "https://compute.googleapis.com/compute/v1/";
/// The default Secret Manager base; `BRIDGE_GCE_SECRETS_ENDPOINT` overrides it.
pub const DEFAULT_SECRETS_ENDPOINT: &str = "https://secretmanager.googleapis.com/v1/";

/// A Compute API client for one project.
#[derive(Debug)]
pub struct Compute {
    http: reqwest::Client,
    base: String,
    secrets_base: String,
    tokens: Tokens,
    /// The project.
    pub project: String,
}

/// Which API a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Compute Engine v1.
    Compute,
    /// Secret Manager v1.
    Secrets,
}

fn with_slash(base: String) -> String {
    if base.ends_with('/') {
        base
    } else {
        format!("{base}/")
    }
}

/// How often a call is retried after a 429 or 5xx (backing off 0.5, 1, 2, 4 s).
const MAX_TRANSIENT: u32 = 4;

/// How long an operation may take before the driver gives up on it.
const OP_TIMEOUT: Duration = Duration::from_secs(600);

impl Compute {
    /// A client for `project`, Compute at `base` and Secret Manager at `secrets_base`.
    pub fn new(
        http: reqwest::Client,
        base: String,
        secrets_base: String,
        tokens: Tokens,
        project: String,
    ) -> Self {
        Compute {
            http,
            base: with_slash(base),
            secrets_base: with_slash(secrets_base),
            tokens,
            project,
        }
    }

    /// The URL of a path below `projects/<project>/` of an API.
    pub fn url(&self, api: Api, path: &str) -> String {
        let base = match api {
            Api::Compute => &self.base,
            Api::Secrets => &self.secrets_base,
        };
        if path.is_empty() {
            format!("{base}projects/{}", self.project)
        } else if path.starts_with(':') {
            format!("{base}projects/{}{path}", self.project)
        } else {
            format!("{base}projects/{}/{path}", self.project)
        }
    }

    /// One Compute call to a path below the project; the JSON answer. A 401 fetches a new token
    /// and tries once more; any other error status becomes a driver error with a hint.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        resource: &str,
    ) -> Result<Value, DriverError> {
        self.call_api(Api::Compute, method, path, query, body, resource)
            .await
    }

    /// [`Compute::call`] to either API.
    pub async fn call_api(
        &self,
        api: Api,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        resource: &str,
    ) -> Result<Value, DriverError> {
        let url = self.url(api, path);
        let mut retried = false;
        let mut transient = 0u32;
        loop {
            let token = self.tokens.token().await?;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| {
                err(
                    resource,
                    ErrorKind::Unreachable,
                    format!("cannot reach {url}: {e}"),
                )
                .with_hint("check the network; BRIDGE_GCE_ENDPOINT (Compute) and BRIDGE_GCE_SECRETS_ENDPOINT (Secret Manager) override the API addresses")
            })?;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            if (200..300).contains(&status) {
                return serde_json::from_str(&text).map_err(|e| {
                    err(
                        resource,
                        ErrorKind::Other,
                        format!(
                            "the Compute API answered {status} with a body that is not JSON: {e}"
                        ),
                    )
                });
            }
            if status == 401 && !retried {
                // Expired or revoked: a fresh token once.
                retried = true;
                self.tokens.invalidate().await;
                continue;
            }
            if matches!(status, 429 | 500 | 502 | 503 | 504) && transient < MAX_TRANSIENT {
                // Rate limits and backend hiccups pass: back off and try again. Inserts carry a
                // requestId and updates a fingerprint, so a retry never applies twice.
                transient += 1;
                let wait = Duration::from_millis(250 << transient);
                tracing::debug!(status, %url, attempt = transient, "transient error, retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(self.api_error(resource, status, &text));
        }
    }

    fn api_error(&self, resource: &str, status: u16, text: &str) -> DriverError {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let message = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(300).collect());
        let reason = v
            .pointer("/error/errors/0/reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        api_error(
            resource,
            status,
            &reason,
            &message,
            &self.project,
            &self.tokens.principal(),
        )
    }

    /// Wait for an operation (the value an insert, delete or set call returned) to be DONE;
    /// its error, if any, becomes a driver error.
    pub async fn wait(&self, op: &Value, resource: &str) -> Result<(), DriverError> {
        let mut op = op.clone();
        let start = std::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            if op["status"] == "DONE" {
                if let Some(errors) = op.pointer("/error/errors").and_then(Value::as_array) {
                    let first = errors.first().cloned().unwrap_or(Value::Null);
                    let reason = first["code"].as_str().unwrap_or_default();
                    let message = first["message"].as_str().unwrap_or("the operation failed");
                    let status = op["httpErrorStatusCode"].as_u64().unwrap_or(400) as u16;
                    return Err(api_error(
                        resource,
                        status,
                        reason,
                        message,
                        &self.project,
                        &self.tokens.principal(),
                    ));
                }
                return Ok(());
            }
            if start.elapsed() > OP_TIMEOUT {
                return Err(err(
                    resource,
                    ErrorKind::Timeout,
                    format!(
                        "operation {} is still {} after {}s",
                        op["name"].as_str().unwrap_or("?"),
                        op["status"].as_str().unwrap_or("?"),
                        OP_TIMEOUT.as_secs()
                    ),
                )
                .with_hint("look at the operation in the console; a rerun resumes"));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
            let name = op["name"].as_str().unwrap_or_default().to_string();
            let path = match op["zone"].as_str().and_then(|z| z.rsplit('/').next()) {
                Some(zone) => format!("zones/{zone}/operations/{name}"),
                None => format!("global/operations/{name}"),
            };
            op = self.call(Method::GET, &path, &[], None, resource).await?;
        }
    }
}

/// An API error as a driver error, with a hint for the common causes.
pub fn api_error(
    resource: &str,
    status: u16,
    reason: &str,
    message: &str,
    project: &str,
    principal: &str,
) -> DriverError {
    let (kind, hint): (ErrorKind, Option<String>) = match (status, reason) {
        (401, _) => (
            ErrorKind::Other,
            Some(format!("the access token for {principal} was refused even after a fresh one: the key may be revoked or the service account disabled; create a new key")),
        ),
        (403, r) if r.to_ascii_lowercase().contains("quota") || r.contains("rateLimit") => (
            ErrorKind::Unsatisfiable,
            Some(format!("a quota of project {project} is exhausted: request more quota (IAM & Admin > Quotas), use a smaller machine type, or another region")),
        ),
        (403, _) if message.contains("has not been used") || message.contains("is disabled") => (
            ErrorKind::NotInitialised,
            Some(format!("enable the API in project {project}: gcloud services enable compute.googleapis.com secretmanager.googleapis.com (APIs & Services > Library), wait a minute, then rerun")),
        ),
        (403, _) => (
            ErrorKind::Other,
            Some(format!("{principal} lacks permission in project {project}: grant it roles/compute.instanceAdmin.v1 and roles/compute.securityAdmin (firewalls), and roles/iam.serviceAccountUser on the VMs' service account; or check the project name")),
        ),
        (404, _) => (ErrorKind::NotFound, None),
        (409, _) => (ErrorKind::Conflict, None),
        (412, _) => (ErrorKind::Conflict, None),
        (400, "resourceInUseByAnotherResource") => (ErrorKind::Conflict, None),
        (400, _) => (
            ErrorKind::Other,
            Some("the request was refused as invalid: this is a bug in bridge's GCE translation, or an option in providers.gce (machine_type, network, images) names something that does not exist".into()),
        ),
        (429, _) => (ErrorKind::Unsatisfiable, Some("rate limited: retry later".into())),
        _ if status >= 500 => (ErrorKind::Unreachable, Some("the Compute API failed: retry; a rerun resumes".into())),
        _ => (ErrorKind::Other, None),
    };
    let mut e = err(
        resource,
        kind,
        format!(
            "{message} ({status}{})",
            if reason.is_empty() {
                String::new()
            } else {
                format!(" {reason}")
            }
        ),
    );
    if let Some(h) = hint {
        e = e.with_hint(h);
    }
    e
}
