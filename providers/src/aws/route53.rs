//! A small Route 53 client (REST-XML, API 2013-04-01) for `bridge move`'s DNS cut-over: find a
//! hosted zone by name (ListHostedZonesByName), read a record's simple record sets
//! (ListResourceRecordSets), change them in one atomic batch (ChangeResourceRecordSets) and wait
//! for the change to be INSYNC (GetChange). Signed with the same credential chain as the AWS
//! driver (`AWS_ENDPOINT_URL_ROUTE_53` or `AWS_ENDPOINT_URL` point it elsewhere).

use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;

use super::client::{Client, Svc, child, enc};
use crate::{DriverError, ErrorKind};

const API: &str = "/2013-04-01";
const XMLNS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// A simple record set (no routing policy, no alias).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordSet {
    /// The name, fully qualified with its trailing dot.
    pub name: String,
    /// `A`, `AAAA` or `CNAME`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds.
    pub ttl: i64,
    /// The values.
    pub values: Vec<String>,
}

/// The record set that points `name` at `address`: `A` for an IPv4 address, `AAAA` for IPv6,
/// else `CNAME` (a host name).
pub fn record_for(name: &str, address: &str, ttl: i64) -> RecordSet {
    let kind = match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => "A",
        Ok(std::net::IpAddr::V6(_)) => "AAAA",
        Err(_) => "CNAME",
    };
    RecordSet {
        name: fqdn(name),
        kind: kind.into(),
        ttl,
        values: vec![address.to_string()],
    }
}

/// A DNS name with its trailing dot, lower-cased, as Route 53 answers names.
pub fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

/// One change of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create, or replace a set of the same name and type.
    Upsert,
    /// Delete a set (its values must match).
    Delete,
}

/// The changes that make a record's sets exactly `want` (empty: none): the sets `now` holds
/// of a type `want` has not deleted first in the same batch (a CNAME cannot stand beside other
/// types), then each set of `want` that differs upserted. Empty when it already is.
pub fn changes_to(now: &[RecordSet], want: &[RecordSet]) -> Vec<(Action, RecordSet)> {
    let mut out: Vec<(Action, RecordSet)> = now
        .iter()
        .filter(|s| !want.iter().any(|w| w.kind == s.kind))
        .map(|s| (Action::Delete, s.clone()))
        .collect();
    for w in want {
        if !now.contains(w) {
            out.push((Action::Upsert, w.clone()));
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The ChangeResourceRecordSets body.
pub fn change_body(changes: &[(Action, RecordSet)], comment: &str) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest xmlns=\"{XMLNS}\"><ChangeBatch><Comment>{}</Comment><Changes>",
        xml_escape(comment)
    );
    for (a, s) in changes {
        let action = match a {
            Action::Upsert => "UPSERT",
            Action::Delete => "DELETE",
        };
        x.push_str(&format!(
            "<Change><Action>{action}</Action><ResourceRecordSet><Name>{}</Name><Type>{}</Type><TTL>{}</TTL><ResourceRecords>",
            xml_escape(&s.name),
            s.kind,
            s.ttl
        ));
        for v in &s.values {
            x.push_str(&format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                xml_escape(v)
            ));
        }
        x.push_str("</ResourceRecords></ResourceRecordSet></Change>");
    }
    x.push_str("</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
    x
}

/// A Route 53 client.
#[derive(Debug)]
pub struct Route53 {
    client: Client,
}

fn err(resource: &str, kind: ErrorKind, message: impl Into<String>) -> DriverError {
    DriverError::new("aws", resource, kind, message)
}

fn parse(text: &str) -> Result<roxmltree::Document<'_>, DriverError> {
    roxmltree::Document::parse(text).map_err(|e| {
        err(
            "route53",
            ErrorKind::Other,
            format!("unreadable Route 53 answer: {e}"),
        )
    })
}

impl Route53 {
    /// Credentials from aws-config's default chain (as the AWS driver resolves them); no call
    /// is made but the credential providers' own.
    pub async fn connect() -> Result<Route53, DriverError> {
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https)
            .load()
            .await;
        let creds = conf.credentials_provider().ok_or_else(|| {
            err(
                "-",
                ErrorKind::Unreachable,
                "no AWS credential provider is configured",
            )
            .with_hint("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
        })?;
        let region = conf
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let client = Client::new(creds, region, conf.endpoint_url().map(str::to_string))?;
        client.credentials().await?;
        Ok(Route53 { client })
    }

    async fn call(
        &self,
        op: &str,
        method: &str,
        path: &str,
        body: Option<String>,
        resource: &str,
    ) -> Result<String, DriverError> {
        self.client
            .rest(Svc::Route53, method, path, body)
            .await
            .map_err(|e| e.into_driver(op, resource))
    }

    /// The id (`Z...`, without `/hostedzone/`) of the hosted zone named `zone`, if one is.
    /// Several zones of that name (a public and a private one): the first Route 53 lists.
    pub async fn zone_id(&self, zone: &str) -> Result<Option<String>, DriverError> {
        let want = fqdn(zone);
        let path = format!("{API}/hostedzonesbyname?dnsname={}&maxitems=1", enc(&want));
        let text = self
            .call("ListHostedZonesByName", "GET", &path, None, &want)
            .await?;
        let doc = parse(&text)?;
        Ok(doc
            .descendants()
            .filter(|n| n.has_tag_name("HostedZone"))
            .find(|z| child(*z, "Name").map(fqdn).as_deref() == Some(want.as_str()))
            .and_then(|z| child(z, "Id"))
            .map(|id| id.trim_start_matches("/hostedzone/").to_string()))
    }

    /// The `A`, `AAAA` and `CNAME` record sets named `name` in zone `zone_id`. A set with a
    /// routing policy or an alias target is an error: bridge changes simple records only.
    pub async fn records(&self, zone_id: &str, name: &str) -> Result<Vec<RecordSet>, DriverError> {
        let want = fqdn(name);
        let path = format!(
            "{API}/hostedzone/{}/rrset?name={}&maxitems=20",
            enc(zone_id),
            enc(&want)
        );
        let text = self
            .call("ListResourceRecordSets", "GET", &path, None, &want)
            .await?;
        let doc = parse(&text)?;
        let mut out = Vec::new();
        for s in doc
            .descendants()
            .filter(|n| n.has_tag_name("ResourceRecordSet"))
        {
            if child(s, "Name").map(fqdn).as_deref() != Some(want.as_str()) {
                continue;
            }
            let kind = child(s, "Type").unwrap_or_default().to_string();
            if !matches!(kind.as_str(), "A" | "AAAA" | "CNAME") {
                continue;
            }
            if child(s, "SetIdentifier").is_some()
                || s.children().any(|c| c.has_tag_name("AliasTarget"))
            {
                return Err(err(
                    &want,
                    ErrorKind::Conflict,
                    format!("the {kind} record {want} has a routing policy or an alias target"),
                )
                .with_hint("bridge cuts over simple records only: name another record, or make this one a simple record"));
            }
            let values = s
                .descendants()
                .filter(|n| n.has_tag_name("ResourceRecord"))
                .filter_map(|r| child(r, "Value"))
                .map(str::to_string)
                .collect();
            out.push(RecordSet {
                name: want.clone(),
                kind,
                ttl: child(s, "TTL").and_then(|t| t.parse().ok()).unwrap_or(0),
                values,
            });
        }
        Ok(out)
    }

    /// Send `changes` as one batch; the change's id (`C...`).
    pub async fn change(
        &self,
        zone_id: &str,
        changes: &[(Action, RecordSet)],
        comment: &str,
    ) -> Result<String, DriverError> {
        let name = changes
            .first()
            .map(|c| c.1.name.clone())
            .unwrap_or_default();
        let path = format!("{API}/hostedzone/{}/rrset/", enc(zone_id));
        let text = self
            .call(
                "ChangeResourceRecordSets",
                "POST",
                &path,
                Some(change_body(changes, comment)),
                &name,
            )
            .await?;
        let doc = parse(&text)?;
        doc.descendants()
            .find(|n| n.has_tag_name("ChangeInfo"))
            .and_then(|c| child(c, "Id"))
            .map(|id| id.trim_start_matches("/change/").to_string())
            .ok_or_else(|| {
                err(
                    &name,
                    ErrorKind::Other,
                    "ChangeResourceRecordSets answered no ChangeInfo/Id",
                )
            })
    }

    /// Wait until the change is INSYNC (GetChange every 2 s), at most `timeout`.
    pub async fn wait_insync(&self, change_id: &str, timeout: Duration) -> Result<(), DriverError> {
        let start = Instant::now();
        let path = format!("{API}/change/{}", enc(change_id));
        loop {
            let text = self
                .call("GetChange", "GET", &path, None, change_id)
                .await?;
            let status = parse(&text)?
                .descendants()
                .find(|n| n.has_tag_name("Status"))
                .and_then(|n| n.text())
                .unwrap_or_default()
                .to_string();
            if status == "INSYNC" {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(err(
                    change_id,
                    ErrorKind::Timeout,
                    format!("the Route 53 change {change_id} is still {status} after {:.0}s", start.elapsed().as_secs_f64()),
                )
                .with_hint("Route 53 usually syncs within a minute: run the move again (the change is not sent twice), or raise --timeout"));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_type_follows_the_address() {
        assert_eq!(record_for("a.b.", "10.0.0.1", 60).kind, "A");
        assert_eq!(record_for("a.b", "fd00::1", 60).kind, "AAAA");
        let c = record_for("A.B", "lb.example.com", 30);
        assert_eq!(
            (c.kind.as_str(), c.name.as_str(), c.ttl),
            ("CNAME", "a.b.", 30)
        );
    }

    #[test]
    fn changes_replace_another_type_in_one_batch_and_nothing_when_equal() {
        let a = record_for("shop.x.", "10.0.0.1", 60);
        let b = record_for("shop.x.", "10.0.0.2", 60);
        let c = record_for("shop.x.", "lb.x", 60);
        assert!(changes_to(std::slice::from_ref(&b), std::slice::from_ref(&b)).is_empty());
        assert_eq!(
            changes_to(std::slice::from_ref(&a), std::slice::from_ref(&b)),
            [(Action::Upsert, b.clone())]
        );
        assert_eq!(
            changes_to(std::slice::from_ref(&a), std::slice::from_ref(&c)),
            [(Action::Delete, a.clone()), (Action::Upsert, c.clone())]
        );
        assert_eq!(
            changes_to(std::slice::from_ref(&a), &[]),
            [(Action::Delete, a.clone())]
        );
        assert!(changes_to(&[], &[]).is_empty());
        let body = change_body(&[(Action::Upsert, b)], "bridge move <x> & y");
        assert!(
            body.contains("<Action>UPSERT</Action>") && body.contains("&lt;x&gt; &amp; y"),
            "{body}"
        );
    }
}
