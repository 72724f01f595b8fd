//! `bridge export -p openstack`: a live Heat stack (`--stack NAME_OR_ID`, any stack, bridge's
//! or hand-made) or the stacks bridge deployed for an app (`--app NAME`, tagged
//! `bridge.app=NAME`) read back into bridge.yaml. Each stack's template
//! (`GET /stacks/{name}/{id}/template`) goes through the Heat exporter with the stack's actual
//! parameter values (`GET /stacks/{name}/{id}`) in place of the template's defaults. A hidden
//! parameter (Heat shows `******`) is reported and its default removed: its value is never
//! guessed, read or written. A stack that is not `*_COMPLETE` is a warning.

use bridge_core::{Diagnostic, Diagnostics, Severity, codes};
use bridge_translators::export::Export;
use serde_json::{Map, Value};

use super::OpenstackDriver;
use super::stack::{self, StackRef, enc};
use crate::DriverError;

/// What Heat shows for a hidden parameter's value.
pub const HIDDEN_VALUE: &str = "******";

/// What to export.
#[derive(Debug, Clone)]
pub enum Select {
    /// One stack, by name or id.
    Stack(String),
    /// The stacks bridge deployed for this app (tag `bridge.app=NAME`).
    App(String),
}

/// One stack as read from Heat.
struct Read {
    stack: StackRef,
    template: Value,
    /// The stack's parameter values as Heat shows them (hidden ones as `******`).
    values: Map<String, Value>,
}

/// Read the selected stacks from Heat and export them as one app (`name`, else the app of
/// `--app`, else what the exporter finds: the `bridge.app` tag, the description, the stack's
/// name). `Ok(Err(_))`: nothing to export (no such stack) or a template the exporter cannot
/// read (X003); `Err`: Heat could not be asked.
pub async fn export(
    d: &OpenstackDriver,
    sel: &Select,
    name: Option<&str>,
) -> Result<Result<Export, Diagnostics>, DriverError> {
    let stacks = match sel {
        Select::Stack(s) => {
            let mut found = stack::list(d, &format!("name={}", enc(s))).await?;
            found.retain(|x| x.name == *s);
            if found.is_empty() {
                found = stack::list(d, &format!("id={}", enc(s))).await?;
                found.retain(|x| x.id == *s);
            }
            found
        }
        Select::App(a) => {
            let tag = format!("{}={a}", bridge_translators::heat::TAG_APP);
            stack::list(d, &format!("tags={}", enc(&tag))).await?
        }
    };
    if stacks.is_empty() {
        let (what, hint) = match sel {
            Select::Stack(s) => (
                format!("no Heat stack is named `{s}` or has that id"),
                "check the name with `openstack stack list` (the cloud is the one OS_CLOUD or the OS_* variables name)",
            ),
            Select::App(a) => (
                format!(
                    "no Heat stack carries the tag {}={a}",
                    bridge_translators::heat::TAG_APP
                ),
                "check the app's name (bridge names its stack after the app), or export a stack bridge did not deploy with --stack NAME",
            ),
        };
        return Ok(Err(Diagnostics(vec![
            Diagnostic::error(codes::EXPORT_UNREADABLE, what).with_hint(hint),
        ])));
    }
    let mut read = Vec::new();
    for s in stacks {
        let Some(detail) = stack::get(d, &s).await? else {
            // Deleted between the list and the read.
            continue;
        };
        let res = format!("stack {}", s.name);
        let template = stack::template(d, &s, &res).await?;
        let values = detail["parameters"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        // The list's status may be a poll old; the details are current.
        let mut s = s;
        if let Some(st) = detail["stack_status"].as_str() {
            s.status = st.to_string();
        }
        if let Some(r) = detail["stack_status_reason"].as_str() {
            s.reason = r.to_string();
        }
        read.push(Read {
            stack: s,
            template,
            values,
        });
    }
    let app_name = match (name, sel) {
        (Some(n), _) => Some(n.to_string()),
        (None, Select::App(a)) => Some(a.clone()),
        (None, Select::Stack(_)) => None,
    };
    Ok(from_stacks(&read, app_name.as_deref()))
}

/// The label a stack's template has in diagnostics, and the file name the exporter reads it
/// under (its stem names the app when nothing else does).
fn file_of(s: &StackRef) -> String {
    format!("{}.template", s.name)
}

fn from_stacks(read: &[Read], name: Option<&str>) -> Result<Export, Diagnostics> {
    let mut diags = Vec::new();
    let mut files = Vec::new();
    for r in read {
        let (template, hidden) = with_values(&r.template, &r.values);
        let at = format!("heat stack {} ({})", r.stack.name, r.stack.id);
        for p in hidden {
            diags.push(
                Diagnostic::new(
                    Severity::Warning,
                    codes::EXPORT_DROPPED,
                    format!(
                        "parameter `{p}` is hidden (Heat shows `{HIDDEN_VALUE}`): its value is not read, and no default of it is written"
                    ),
                )
                .with_path(format!("parameters.{p}"))
                .with_file(at.as_str().into())
                .with_hint("give its value at deploy time (a secret's `env:` or `file:`)"),
            );
        }
        if !r.stack.status.ends_with("_COMPLETE") || r.stack.status == "ROLLBACK_COMPLETE" {
            let reason = r.stack.reason.trim();
            diags.push(
                Diagnostic::new(
                    Severity::Warning,
                    codes::EXPORT_APPROXIMATED,
                    format!(
                        "the stack is {}{}: the export is its template and parameters as Heat holds them, which may not be what runs",
                        r.stack.status,
                        if reason.is_empty() {
                            String::new()
                        } else {
                            format!(" ({reason})")
                        }
                    ),
                )
                .with_file(at.as_str().into())
                .with_hint("export again once the stack is *_COMPLETE (`openstack stack show` says why it is not)"),
            );
        }
        let text = serde_json::to_string_pretty(&template).unwrap_or_default();
        files.push((file_of(&r.stack), text));
    }
    // The exporter points into the text given to it, which is the template as Heat returned it
    // re-serialised: name the stack instead, and keep the field path (no line and column).
    let relabel = |ds: &mut Vec<Diagnostic>| {
        for dg in ds.iter_mut() {
            if let Some(f) = &dg.file
                && let Some(r) = read.iter().find(|r| file_of(&r.stack) == **f)
            {
                dg.file = Some(format!("heat stack {} ({})", r.stack.name, r.stack.id).into());
                dg.span = None;
            }
        }
    };
    match bridge_translators::export::heat::templates(&files, name) {
        Ok(mut e) => {
            relabel(&mut e.diagnostics.0);
            diags.append(&mut e.diagnostics.0);
            e.diagnostics.0 = diags;
            Ok(e)
        }
        Err(mut ds) => {
            relabel(&mut ds.0);
            diags.append(&mut ds.0);
            Err(Diagnostics(diags))
        }
    }
}

/// The template with each parameter's default replaced by the stack's value (typed as the
/// parameter declares: a number, a boolean, JSON), and the names of the hidden parameters,
/// whose defaults are removed.
fn with_values(template: &Value, values: &Map<String, Value>) -> (Value, Vec<String>) {
    let mut t = template.clone();
    let mut hidden = Vec::new();
    let Some(params) = t.get_mut("parameters").and_then(Value::as_object_mut) else {
        return (t, hidden);
    };
    for (k, p) in params.iter_mut() {
        let Some(p) = p.as_object_mut() else {
            continue;
        };
        let value = values.get(k);
        let declared_hidden = matches!(p.get("hidden"), Some(Value::Bool(true)))
            || p.get("hidden").and_then(Value::as_str) == Some("true");
        if declared_hidden || value.and_then(Value::as_str) == Some(HIDDEN_VALUE) {
            p.remove("default");
            hidden.push(k.clone());
            continue;
        }
        let Some(v) = value else {
            continue;
        };
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("string");
        p.insert("default".into(), typed(ty, v));
    }
    hidden.sort();
    (t, hidden)
}

/// A parameter value as Heat shows it (text) in the type the parameter declares.
fn typed(ty: &str, v: &Value) -> Value {
    let Some(s) = v.as_str() else {
        return v.clone();
    };
    match ty {
        "number" => s
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| s.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| v.clone()),
        "boolean" => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "on" | "y" | "yes" | "1" => Value::Bool(true),
            "false" | "f" | "off" | "n" | "no" | "0" => Value::Bool(false),
            _ => v.clone(),
        },
        "json" => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_replace_defaults_and_hidden_ones_are_removed() {
        let t = json!({"parameters": {
            "image": {"type": "string", "default": "nginx:1"},
            "count": {"type": "number", "default": 1},
            "debug": {"type": "boolean", "default": false},
            "pw": {"type": "string", "hidden": true, "default": "dflt"},
            "token": {"type": "string"},
            "unset": {"type": "string", "default": "kept"}
        }});
        let v = json!({"image": "nginx:2", "count": "3", "debug": "True", "pw": "******",
                       "token": "******", "OS::stack_id": "x"});
        let (out, hidden) = with_values(&t, v.as_object().unwrap_or(&Map::new()));
        assert_eq!(out["parameters"]["image"]["default"], json!("nginx:2"));
        assert_eq!(out["parameters"]["count"]["default"], json!(3));
        assert_eq!(out["parameters"]["debug"]["default"], json!(true));
        assert_eq!(out["parameters"]["unset"]["default"], json!("kept"));
        assert!(out["parameters"]["pw"].get("default").is_none());
        assert!(out["parameters"]["token"].get("default").is_none());
        assert_eq!(hidden, vec!["pw", "token"]);
        assert!(!out.to_string().contains("dflt"));
    }
}
