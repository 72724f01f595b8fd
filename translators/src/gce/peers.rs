//! How a host follows the other hosts of the app when one is replaced (issue 12): the instance
//! attribute [`BOOK_KEY`] holds the current internal address of each host of the app (the
//! "address book", `instance address` per line). bridge's driver writes it: at insert, and on
//! every other host with `instances.setMetadata` when an instance of the app gets a new address
//! (a replaced host), without recreating or restarting them. On the VM, `bridge-peers.service`
//! waits on the metadata server for a change of that attribute (`wait_for_change`, at most
//! [`WAIT_SECONDS`] at a time, so a change of DNS is also seen), keeps it in
//! [`cloudinit::PEER_BOOK`] and runs [`cloudinit::refresh_script`], which rewrites the hosts
//! entries of the running containers in place.
//!
//! The rendered body holds [`BOOK_PLACEHOLDER`] as the attribute's value: the addresses exist
//! only once the instances do, and a body created by other tools leaves the DNS names of the
//! peers file to the VM's resolver. The driver compares the attribute as that placeholder (it
//! is the driver's to keep), so the book never shows as a change in a plan.

use std::collections::BTreeMap;

use crate::cloudinit::{self, PEER_BOOK, REFRESH_SCRIPT, WriteFile};

/// The instance attribute holding the address book.
pub const BOOK_KEY: &str = "bridge-peer-addresses";
/// Its value in a rendered body (and as the driver compares it).
pub const BOOK_PLACEHOLDER: &str = "# the addresses of the app's hosts, kept by bridge's driver";
/// The longest wait on the metadata server before the hosts entries are refreshed anyway.
pub const WAIT_SECONDS: u32 = 60;
/// The watcher's unit.
pub const UNIT: &str = cloudinit::FOLLOW_UNIT;

/// What the ledger line of a followed name says about it.
pub const FOLLOW: &str = "kept current in the running containers: a replaced VM's new address reaches them within seconds of bridge's setMetadata, through bridge-peers.service on each VM";

/// The instance name of host `host` of `app` (its primary name; a start-first update runs it
/// for a while under [`super::update::alternate_name`]).
pub fn host_instance(app: &str, host: &str) -> String {
    super::names::resource_name(&format!("{app}-{host}"))
}

/// One instance of the app as Compute lists it, for [`book`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its `bridge-component` label (`host-h0`).
    pub component: String,
    /// Its `networkIP`.
    pub address: String,
    /// Its `creationTimestamp` (RFC 3339, as Compute writes it).
    pub created: String,
}

/// The address book of the app's hosts: per host (its primary instance name) the address of its
/// newest instance (during a start-first update the new one, already serving), sorted.
pub fn book(app: &str, seen: &[Seen]) -> String {
    let mut newest: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for s in seen {
        let Some(host) = s.component.strip_prefix("host-") else {
            continue;
        };
        if s.address.is_empty() {
            continue;
        }
        let e = newest
            .entry(host_instance(app, host))
            .or_insert((&s.created, &s.address));
        if s.created.as_str() > e.0 {
            *e = (&s.created, &s.address);
        }
    }
    let mut out = format!("{BOOK_PLACEHOLDER}\n");
    for (name, (_, addr)) in newest {
        out.push_str(&format!("{name} {addr}\n"));
    }
    out
}

/// The watcher script: waits on the metadata server for the attribute, keeps it in
/// [`PEER_BOOK`], then refreshes the containers' hosts entries. `GCE_METADATA_HOST` names
/// another metadata server, as Google's client libraries read it.
pub fn watch_script() -> String {
    format!(
        r#"#!/bin/sh
# written by bridge: follows the addresses of the app's other hosts (instance attribute {BOOK_KEY})
url="http://${{GCE_METADATA_HOST:-metadata.google.internal}}/computeMetadata/v1/instance/attributes/{BOOK_KEY}"
book={PEER_BOOK}
etag=0
mkdir -p "${{book%/*}}"
while :; do
  code=$(curl -s -o "$book.new" -D "$book.hdr" -w '%{{http_code}}' -H 'Metadata-Flavor: Google' "$url?wait_for_change=true&timeout_sec={WAIT_SECONDS}&last_etag=$etag") || code=000
  if [ "$code" = 200 ]; then
    mv -f "$book.new" "$book"
    etag=$(awk 'tolower($1) == "etag:" {{ sub(/\r$/, "", $2); print $2 }}' "$book.hdr")
  else
    echo "bridge: metadata attribute {BOOK_KEY}: HTTP $code" >&2
    sleep 5
  fi
  /bin/sh {REFRESH_SCRIPT}
done
"#
    )
}

/// The files a host with a peers file gets: the refresh script, the watcher and its unit.
pub fn files(app: &str) -> Vec<WriteFile> {
    cloudinit::follow_files(app, watch_script())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(c: &str, a: &str, t: &str) -> Seen {
        Seen {
            component: c.into(),
            address: a.into(),
            created: t.into(),
        }
    }

    #[test]
    fn the_newest_instance_of_each_host_and_no_vms() {
        let b = book(
            "shop",
            &[
                seen("host-h0", "10.0.0.2", "2026-01-01T00:00:00.000-00:00"),
                seen("host-h0", "10.0.0.9", "2026-01-01T00:05:00.000-00:00"),
                seen("host-h1", "10.0.0.3", "2026-01-01T00:00:00.000-00:00"),
                seen("vm-db", "10.0.0.4", "2026-01-01T00:00:00.000-00:00"),
            ],
        );
        assert_eq!(
            b,
            format!("{BOOK_PLACEHOLDER}\nshop-h0 10.0.0.9\nshop-h1 10.0.0.3\n")
        );
    }
}
