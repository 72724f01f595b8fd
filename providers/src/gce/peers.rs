//! The hosts' address book (the instance attribute [`BOOK_KEY`], see
//! [`bridge_translators::gce::peers`]): filled in at insert with the addresses of the app's
//! instances, and rewritten on every other instance with `instances.setMetadata` (the
//! fingerprint just read; a 412 reads everything again, once) after an instance of the app is
//! inserted, so a replaced host's new address reaches the others without recreating or
//! restarting them. A plan compares the attribute as its placeholder: the book is the driver's
//! to keep, never a change of the app.

use bridge_translators::gce::LABEL_COMPONENT;
use bridge_translators::gce::peers::{BOOK_KEY, BOOK_PLACEHOLDER, Seen, book};
use reqwest::Method;
use serde_json::{Value, json};

use super::GceDriver;
use super::objects::app_instances;
use crate::{DriverError, ErrorKind};

/// The items of `v`'s metadata (an instance or an insert body).
fn items_mut(v: &mut Value) -> Option<&mut Vec<Value>> {
    v.pointer_mut("/metadata/items")
        .and_then(Value::as_array_mut)
}

/// The book's value in `v`, when it carries one.
pub fn value(v: &Value) -> Option<&str> {
    v.pointer("/metadata/items")?
        .as_array()?
        .iter()
        .find(|i| i["key"] == BOOK_KEY)?
        .get("value")?
        .as_str()
}

/// Set the book's value in `v` (when it carries the attribute).
fn set(v: &mut Value, text: &str) {
    for i in items_mut(v).into_iter().flatten() {
        if i["key"] == BOOK_KEY {
            i["value"] = Value::String(text.to_string());
        }
    }
}

/// An observed instance as a plan compares it: the book as its placeholder.
pub fn normalise(v: &mut Value) {
    set(v, BOOK_PLACEHOLDER);
}

/// `want` (a body's metadata items) with the book as `cur` has it: resetting hand-edited
/// metadata keeps the addresses.
pub fn keep(want: &mut Value, cur: &Value) {
    if let Some(have) = value(cur).map(str::to_string) {
        set(want, &have);
    }
}

/// The address book of the app's instances as Compute lists them now.
async fn current(d: &GceDriver, app: &str) -> Result<(String, Vec<Value>), DriverError> {
    let list = app_instances(d, app).await?;
    let seen: Vec<Seen> = list
        .iter()
        .filter(|v| v["status"] != "TERMINATED" && v["status"] != "STOPPING")
        .map(|v| Seen {
            component: v
                .pointer(&format!("/labels/{LABEL_COMPONENT}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            address: v["networkInterfaces"][0]["networkIP"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            created: v["creationTimestamp"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
        .collect();
    Ok((book(app, &seen), list))
}

/// `body` (an instance insert) with the current book, when it carries the attribute.
pub async fn filled(d: &GceDriver, app: &str, body: &Value) -> Result<Value, DriverError> {
    let mut b = body.clone();
    if value(body).is_some() {
        let (text, _) = current(d, app).await?;
        set(&mut b, &text);
    }
    Ok(b)
}

/// Write the current book into every instance of the app that carries the attribute and holds
/// another one (`setMetadata`, in place). One sync at a time per driver; a 412 (the metadata
/// changed meanwhile) reads everything again, once.
pub async fn sync(d: &GceDriver, app: &str) -> Result<(), DriverError> {
    let _one = d.peers_sync.lock().await;
    for round in 0..2 {
        let (text, list) = current(d, app).await?;
        let mut conflict = None;
        for v in &list {
            if value(v).is_none_or(|have| have == text) {
                continue;
            }
            let name = v["name"].as_str().unwrap_or_default();
            let path = format!("zones/{}/instances/{name}", d.zone);
            let mut want = v.clone();
            set(&mut want, &text);
            let req = json!({
                "fingerprint": v.pointer("/metadata/fingerprint").cloned().unwrap_or(Value::Null),
                "items": want.pointer("/metadata/items").cloned().unwrap_or(json!([])),
            });
            tracing::info!(instance = %name, "the addresses of the app's hosts changed: setMetadata");
            let r = match d
                .api
                .call(
                    Method::POST,
                    &format!("{path}/setMetadata"),
                    &[],
                    Some(&req),
                    &path,
                )
                .await
            {
                Ok(op) => d.api.wait(&op, &path).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::Conflict && round == 0 => conflict = Some(e),
                // Gone meanwhile (a rolling update deleted it): nothing to tell it.
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        match conflict {
            None => return Ok(()),
            Some(e) => tracing::debug!(error = %e, "metadata changed meanwhile, reading again"),
        }
    }
    Ok(())
}
