//! The AWS wire: signed requests to ECS, SSM, Secrets Manager, CloudWatch Logs and Cloud Map (the JSON
//! protocol, `X-Amz-Target`) and to EC2 (the Query protocol, XML answers), over reqwest, signed
//! with aws-sigv4 from aws-config's default credential chain. Throttling, 5xx answers and
//! connection failures are retried with capped exponential backoff and jitter, within a bounded
//! number of attempts and a bounded total time; what remains is a [`DriverError`] naming the
//! operation, the AWS error code, the request id and what to do.

use std::borrow::Cow;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::Value;

use crate::{DriverError, ErrorKind};

use super::PROVIDER;

/// The services bridge calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Svc {
    /// ECS (JSON 1.1).
    Ecs,
    /// EC2 (Query).
    Ec2,
    /// SSM (JSON 1.1).
    Ssm,
    /// Secrets Manager (JSON 1.1).
    Secrets,
    /// CloudWatch Logs (JSON 1.1).
    Logs,
    /// STS (Query).
    Sts,
    /// Cloud Map, `servicediscovery` (JSON 1.1).
    Discovery,
    /// Route 53 (REST-XML, global: signed for us-east-1).
    Route53,
    /// The Resource Groups Tagging API, `tagging` (JSON 1.1): tags of many resources a call.
    Tagging,
}

impl Svc {
    /// The signing name and endpoint prefix.
    fn name(self) -> &'static str {
        match self {
            Svc::Ecs => "ecs",
            Svc::Ec2 => "ec2",
            Svc::Ssm => "ssm",
            Svc::Secrets => "secretsmanager",
            Svc::Logs => "logs",
            Svc::Sts => "sts",
            Svc::Discovery => "servicediscovery",
            Svc::Route53 => "route53",
            Svc::Tagging => "tagging",
        }
    }
    /// The service id in `AWS_ENDPOINT_URL_<ID>`.
    fn env_id(self) -> &'static str {
        match self {
            Svc::Ecs => "ECS",
            Svc::Ec2 => "EC2",
            Svc::Ssm => "SSM",
            Svc::Secrets => "SECRETS_MANAGER",
            Svc::Logs => "CLOUDWATCH_LOGS",
            Svc::Sts => "STS",
            Svc::Discovery => "SERVICEDISCOVERY",
            Svc::Route53 => "ROUTE_53",
            Svc::Tagging => "RESOURCE_GROUPS_TAGGING_API",
        }
    }
    /// The JSON protocol's target prefix.
    fn target(self) -> &'static str {
        match self {
            Svc::Ecs => "AmazonEC2ContainerServiceV20141113",
            Svc::Ssm => "AmazonSSM",
            Svc::Secrets => "secretsmanager",
            Svc::Logs => "Logs_20140328",
            Svc::Discovery => "Route53AutoNaming_v20170314",
            Svc::Tagging => "ResourceGroupsTaggingAPI_20170126",
            Svc::Ec2 | Svc::Sts | Svc::Route53 => "",
        }
    }
}

/// Retry settings: `AWS_MAX_ATTEMPTS` (the SDKs' standard variable, default 8) and
/// `BRIDGE_AWS_RETRY_SECONDS` (total time one call may take with its retries, default 120).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// Total time per call.
    pub budget: Duration,
    /// First backoff.
    pub base: Duration,
    /// Largest backoff.
    pub cap: Duration,
}

impl Retry {
    fn from_env() -> Retry {
        let num = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Retry {
            attempts: num("AWS_MAX_ATTEMPTS")
                .map(|n| n.clamp(1, 100) as u32)
                .unwrap_or(8),
            budget: Duration::from_secs(num("BRIDGE_AWS_RETRY_SECONDS").unwrap_or(120)),
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

/// An error AWS answered with (or a failure to reach it).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    /// The HTTP status, 0 when none came back.
    pub status: u16,
    /// The AWS error code (`ClusterNotFoundException`, `InvalidGroup.NotFound`), or empty.
    pub code: String,
    /// The message.
    pub message: String,
    /// The request id.
    pub request_id: Option<String>,
}

impl ApiError {
    /// True for throttling, 5xx and connection failures.
    fn retryable(&self) -> bool {
        const THROTTLE: &[&str] = &[
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestThrottledException",
            "TooManyRequestsException",
            "ProvisionedThroughputExceededException",
            "TransactionInProgressException",
            "RequestLimitExceeded",
            "BandwidthLimitExceeded",
            "LimitExceededException",
            "RequestThrottled",
            "SlowDown",
            "PriorRequestNotComplete",
            "EC2ThrottledException",
            "ServiceUnavailable",
            "ServerException",
            "InternalError",
            "InternalFailure",
        ];
        self.status == 0
            || self.status >= 500
            || self.status == 429
            || THROTTLE.contains(&self.code.as_str())
    }
    /// True when the code is one of `codes`.
    pub fn is(&self, codes: &[&str]) -> bool {
        codes.iter().any(|c| self.code == *c)
    }
    /// As a driver error about `resource` during `op`.
    pub fn into_driver(self, op: &str, resource: &str) -> DriverError {
        let kind = if self.status == 0 {
            ErrorKind::Unreachable
        } else if self.code.contains("NotFound") || self.code.ends_with("Missing") {
            ErrorKind::NotFound
        } else if self.code.contains("InUse")
            || self.code.contains("DependencyViolation")
            || self.code.contains("AlreadyExists")
            || self.code.contains("Duplicate")
        {
            ErrorKind::Conflict
        } else {
            ErrorKind::Other
        };
        let what = if self.code.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.code, self.message)
        };
        let mut e = DriverError::new(PROVIDER, resource, kind, format!("{op}: {what}"));
        e.request_id = self.request_id.clone();
        let hint = match self.code.as_str() {
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "AuthFailure"
            | "SignatureDoesNotMatch"
            | "InvalidSignatureException" => Some(
                "the credentials were refused: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and the region",
            ),
            "AccessDeniedException" | "UnauthorizedOperation" | "AccessDenied" => {
                Some("the credentials lack a permission this call needs: grant it in IAM")
            }
            _ if self.status == 0 => Some(
                "check the network, the region, and AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_<SERVICE>) if you point bridge at another endpoint",
            ),
            _ if self.retryable() => Some(
                "AWS kept failing or throttling: retry later, or raise AWS_MAX_ATTEMPTS / BRIDGE_AWS_RETRY_SECONDS",
            ),
            _ => None,
        };
        if let Some(h) = hint {
            e = e.with_hint(h);
        }
        e
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

/// A signed-request client for one region.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    creds: SharedCredentialsProvider,
    /// The region.
    pub region: String,
    global_endpoint: Option<String>,
    retry: Retry,
    cache: std::sync::Mutex<Option<Credentials>>,
}

fn unreachable(message: String) -> ApiError {
    ApiError {
        status: 0,
        code: String::new(),
        message,
        request_id: None,
    }
}

/// A little jitter without a random crate: the low bits of the clock.
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let ms = max.as_millis().max(1) as u64;
    Duration::from_millis(u64::from(nanos) % ms)
}

/// Percent-encode for the Query protocol (RFC 3986 unreserved kept).
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client from aws-config's resolved settings.
    pub fn new(
        creds: SharedCredentialsProvider,
        region: String,
        global_endpoint: Option<String>,
    ) -> Result<Client, DriverError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                DriverError::new(PROVIDER, "-", ErrorKind::Other, format!("http client: {e}"))
            })?;
        Ok(Client {
            http,
            creds,
            region,
            global_endpoint,
            retry: Retry::from_env(),
            cache: std::sync::Mutex::new(None),
        })
    }

    /// The endpoint of a service: `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL` (as
    /// aws-config read it), else the regional AWS endpoint.
    pub fn endpoint(&self, svc: Svc) -> String {
        if let Ok(u) = std::env::var(format!("AWS_ENDPOINT_URL_{}", svc.env_id()))
            && !u.trim().is_empty()
        {
            return u.trim().trim_end_matches('/').to_string();
        }
        if let Some(u) = &self.global_endpoint {
            return u.trim_end_matches('/').to_string();
        }
        if svc == Svc::Route53 {
            return "https://route53.amazonaws.com".into();
        }
        let suffix = if self.region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://{}.{}.{suffix}", svc.name(), self.region)
    }

    /// The credentials, or a clear error naming where they are looked for.
    pub async fn credentials(&self) -> Result<Credentials, DriverError> {
        self.creds.provide_credentials().await.map_err(|e| {
            DriverError::new(
                PROVIDER,
                "-",
                ErrorKind::Unreachable,
                format!("no AWS credentials: {}", aws_error_chain(&e)),
            )
            .with_hint("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (~/.aws/credentials), or run where an instance or container role is available")
        })
    }

    /// The credentials, cached until five minutes before they expire (the default chain's
    /// providers, e.g. SSO or assume-role, would otherwise be asked on every request).
    async fn cached_credentials(&self) -> Result<Credentials, ApiError> {
        let soon = SystemTime::now() + Duration::from_secs(300);
        if let Ok(c) = self.cache.lock()
            && let Some(c) = c.as_ref()
            && c.expiry().is_none_or(|e| e > soon)
        {
            return Ok(c.clone());
        }
        let creds = self
            .creds
            .provide_credentials()
            .await
            .map_err(|e| unreachable(format!("no AWS credentials: {}", aws_error_chain(&e))))?;
        if let Ok(mut c) = self.cache.lock() {
            *c = Some(creds.clone());
        }
        Ok(creds)
    }

    /// Call a JSON-protocol operation; the answer's JSON (an empty object for an empty body).
    pub async fn json(&self, svc: Svc, op: &str, body: &Value) -> Result<Value, ApiError> {
        self.json_with(svc, op, body, self.retry.attempts).await
    }

    /// [`Client::json`] with one attempt: for best-effort cleanup whose failure a later call
    /// reports anyway.
    pub async fn json_once(&self, svc: Svc, op: &str, body: &Value) -> Result<Value, ApiError> {
        self.json_with(svc, op, body, 1).await
    }

    async fn json_with(
        &self,
        svc: Svc,
        op: &str,
        body: &Value,
        attempts: u32,
    ) -> Result<Value, ApiError> {
        let target = format!("{}.{op}", svc.target());
        let payload = serde_json::to_vec(body).unwrap_or_default();
        let text = self
            .send(
                svc,
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target.as_str()),
                ],
                payload,
                attempts,
            )
            .await?;
        if text.trim().is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_str(&text)
            .map_err(|e| unreachable(format!("{op}: unreadable answer: {e}")))
    }

    /// Call an EC2 (or STS) Query operation with its parameters; the answer's XML.
    pub async fn query(
        &self,
        svc: Svc,
        action: &str,
        params: &[(String, String)],
    ) -> Result<String, ApiError> {
        let version = if svc == Svc::Sts {
            "2011-06-15"
        } else {
            "2016-11-15"
        };
        let mut body = format!("Action={}&Version={version}", enc(action));
        for (k, v) in params {
            body.push('&');
            body.push_str(&enc(k));
            body.push('=');
            body.push_str(&enc(v));
        }
        self.send(
            svc,
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body.into_bytes(),
            self.retry.attempts,
        )
        .await
    }

    /// Call a REST-XML operation (Route 53): `method` on `path` (with its query string, already
    /// encoded), an XML body or none; the answer's XML.
    pub async fn rest(
        &self,
        svc: Svc,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<String, ApiError> {
        let url = format!("{}{path}", self.endpoint(svc));
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("content-type", "text/xml")]
        } else {
            &[]
        };
        let body = body.map(String::into_bytes).unwrap_or_default();
        self.send_to(svc, method, &url, headers, body, self.retry.attempts)
            .await
    }

    /// One signed POST, retried.
    async fn send(
        &self,
        svc: Svc,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        attempts: u32,
    ) -> Result<String, ApiError> {
        let url = format!("{}/", self.endpoint(svc));
        self.send_to(svc, "POST", &url, headers, body, attempts)
            .await
    }

    /// One signed request, retried.
    async fn send_to(
        &self,
        svc: Svc,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        attempts: u32,
    ) -> Result<String, ApiError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let r = self.send_once(svc, method, url, headers, &body).await;
            match r {
                Ok(t) => return Ok(t),
                Err(e) if e.retryable() => {
                    let backoff = self
                        .retry
                        .cap
                        .min(self.retry.base.saturating_mul(1u32 << attempt.min(16)));
                    let wait = jitter(backoff);
                    if attempt >= attempts || started.elapsed() + wait >= self.retry.budget {
                        let mut e = e;
                        e.message = format!(
                            "{} (gave up after {attempt} attempts in {:.1}s)",
                            e.message,
                            started.elapsed().as_secs_f64()
                        );
                        return Err(e);
                    }
                    tracing::debug!(service = svc.name(), attempt, error = %e, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send_once(
        &self,
        svc: Svc,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<String, ApiError> {
        let identity: Identity = self.cached_credentials().await?.into();
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_default()
            .to_string();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.push(("host", host.as_str()));
        // Route 53 is global: signed for us-east-1 whatever the region in use.
        let region = if svc == Svc::Route53 {
            "us-east-1"
        } else {
            self.region.as_str()
        };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(svc.name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| unreachable(format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            Cow::Borrowed(url),
            all.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| unreachable(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| unreachable(format!("signing: {e}")))?
            .into_parts();
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| unreachable(format!("method {method}: {e}")))?;
        let mut req = self.http.request(m, url);
        if !body.is_empty() || method == "POST" {
            req = req.body(body.to_vec());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| unreachable(format!("cannot reach {url}: {}", error_chain(&e))))?;
        let status = resp.status().as_u16();
        let rid = resp
            .headers()
            .get("x-amzn-requestid")
            .or_else(|| resp.headers().get("x-amz-request-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp
            .text()
            .await
            .map_err(|e| unreachable(format!("reading the answer of {url}: {e}")))?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(parse_error(svc, status, &text, rid))
    }
}

/// An error answer in either protocol.
fn parse_error(svc: Svc, status: u16, text: &str, rid: Option<String>) -> ApiError {
    if matches!(svc, Svc::Ec2 | Svc::Sts | Svc::Route53) || text.trim_start().starts_with('<') {
        let doc = roxmltree::Document::parse(text).ok();
        let find = |n: &str| {
            doc.as_ref().and_then(|d| {
                d.descendants()
                    .find(|x| x.has_tag_name(n))
                    .and_then(|x| x.text())
                    .map(str::to_string)
            })
        };
        return ApiError {
            status,
            code: find("Code").unwrap_or_default(),
            message: find("Message").unwrap_or_else(|| text.chars().take(300).collect()),
            request_id: find("RequestID").or(find("RequestId")).or(rid),
        };
    }
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let code = v["__type"]
        .as_str()
        .or(v["code"].as_str())
        .unwrap_or_default();
    let code = code.rsplit('#').next().unwrap_or(code).to_string();
    let message = v["message"]
        .as_str()
        .or(v["Message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(300).collect());
    ApiError {
        status,
        code,
        message,
        request_id: rid,
    }
}

/// An error and its sources, `: `-joined.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn aws_error_chain(e: &aws_credential_types::provider::error::CredentialsError) -> String {
    error_chain(e)
}

/// A Query-protocol answer, parsed.
pub(crate) fn xml(text: &str) -> Result<roxmltree::Document<'_>, ApiError> {
    roxmltree::Document::parse(text).map_err(|e| unreachable(format!("unreadable EC2 answer: {e}")))
}

/// The text of the first child element `name` of `n`.
pub(crate) fn child<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    n.children()
        .find(|c| c.has_tag_name(name))
        .and_then(|c| c.text())
}

/// The `<item>` children of the child element `name` of `n`.
pub(crate) fn items<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    n.children()
        .find(|c| c.has_tag_name(name))
        .map(|c| c.children().filter(|i| i.has_tag_name("item")).collect())
        .unwrap_or_default()
}
