//! Compose's merge rules, used by `extends`: mappings merge key by key, `list_or_dict` fields
//! (environment, labels...) merge by key whichever form they are written in, mounts, devices,
//! secrets and configs merge by their target, other sequences are appended without duplicates,
//! `command`, `entrypoint` and `healthcheck.test` are replaced, scalars are overridden.

use crate::node::{Node, NodeKind, Scalar};

/// Fields written as a mapping or a list of `KEY=value` (or `KEY:value` for extra_hosts).
const LIST_OR_DICT: &[&str] = &[
    "environment",
    "labels",
    "annotations",
    "sysctls",
    "extra_hosts",
    "build.args",
    "build.labels",
    "deploy.labels",
];

/// Fields whose value is replaced, never merged.
const REPLACED: &[&str] = &["command", "entrypoint", "healthcheck.test"];

/// Merge `over` onto `base`; `path` is the field path inside a service (`""` for the service).
pub fn merge(path: &str, base: &Node, over: &Node) -> Node {
    if REPLACED.contains(&path) {
        return over.clone();
    }
    if LIST_OR_DICT.contains(&path) {
        let sep: &[char] = if path == "extra_hosts" {
            &['=', ':']
        } else {
            &['=']
        };
        return merge_maps(path, &dictify(base, sep), &dictify(over, sep));
    }
    if path == "depends_on" || path == "networks" {
        return merge_maps(path, &keyed_list(base, path), &keyed_list(over, path));
    }
    match (&base.kind, &over.kind) {
        (NodeKind::Map(_), NodeKind::Map(_)) => merge_maps(path, base, over),
        (NodeKind::Seq(b), NodeKind::Seq(o)) => {
            let key: Option<fn(&Node) -> Option<String>> = match path {
                "volumes" => Some(mount_target),
                "devices" => Some(device_target),
                "secrets" | "configs" => Some(ref_target),
                _ => None,
            };
            let mut out: Vec<Node> = Vec::new();
            for item in b.iter().chain(o) {
                let pos = match key {
                    Some(f) => {
                        let k = f(item);
                        out.iter().position(|x| k.is_some() && f(x) == k)
                    }
                    None => out.iter().position(|x| same(x, item)),
                };
                match pos {
                    Some(i) => out[i] = item.clone(),
                    None => out.push(item.clone()),
                }
            }
            Node {
                span: over.span,
                kind: NodeKind::Seq(out),
            }
        }
        _ => over.clone(),
    }
}

fn merge_maps(path: &str, base: &Node, over: &Node) -> Node {
    let (Some(b), Some(o)) = (base.as_map(), over.as_map()) else {
        return over.clone();
    };
    let mut out: Vec<(Node, Node)> = b.to_vec();
    for (k, v) in o {
        let key = k.as_str().unwrap_or_default();
        let sub = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        match out.iter_mut().find(|(ek, _)| ek.as_str() == k.as_str()) {
            Some((_, ev)) => {
                // In a list_or_dict every value is a scalar: override.
                *ev = if LIST_OR_DICT.contains(&path) {
                    v.clone()
                } else {
                    merge(&sub, ev, v)
                };
            }
            None => out.push((k.clone(), v.clone())),
        }
    }
    Node {
        span: over.span,
        kind: NodeKind::Map(out),
    }
}

/// A `list_or_dict` as a mapping (a bare `KEY` becomes a null value).
pub fn dictify(node: &Node, seps: &[char]) -> Node {
    let Some(items) = node.as_seq() else {
        return node.clone();
    };
    let mut out = Vec::new();
    for it in items {
        let Some(s) = it.as_str() else { continue };
        let (k, v) = match s.find(|c| seps.contains(&c)) {
            Some(at) => (&s[..at], Some(&s[at + 1..])),
            None => (s, None),
        };
        let key = Node::str(k, it.span);
        let val = match v {
            Some(v) => Node::str(v, it.span),
            None => Node {
                span: it.span,
                kind: NodeKind::Scalar(Scalar {
                    text: String::new(),
                    plain: true,
                }),
            },
        };
        match out
            .iter_mut()
            .find(|(ek, _): &&mut (Node, Node)| ek.as_str() == Some(k))
        {
            Some(e) => e.1 = val,
            None => out.push((key, val)),
        }
    }
    Node {
        span: node.span,
        kind: NodeKind::Map(out),
    }
}

/// `depends_on` or `networks` written as a list, as the equivalent mapping.
fn keyed_list(node: &Node, path: &str) -> Node {
    let Some(items) = node.as_seq() else {
        return node.clone();
    };
    let out = items
        .iter()
        .filter_map(|it| {
            let name = it.as_str()?;
            let val = if path == "depends_on" {
                Node {
                    span: it.span,
                    kind: NodeKind::Map(vec![(
                        Node::str("condition", it.span),
                        Node::str("service_started", it.span),
                    )]),
                }
            } else {
                Node {
                    span: it.span,
                    kind: NodeKind::Scalar(Scalar {
                        text: String::new(),
                        plain: true,
                    }),
                }
            };
            Some((Node::str(name, it.span), val))
        })
        .collect();
    Node {
        span: node.span,
        kind: NodeKind::Map(out),
    }
}

fn mount_target(n: &Node) -> Option<String> {
    if let Some(s) = n.as_str() {
        let parts: Vec<&str> = s.split(':').collect();
        return match parts.as_slice() {
            [t] => Some((*t).to_string()),
            [_, t] if t.starts_with('/') => Some((*t).to_string()),
            [t, _] => Some((*t).to_string()),
            [_, t, ..] => Some((*t).to_string()),
            [] => None,
        };
    }
    n.get("target").and_then(Node::as_str).map(str::to_string)
}

fn device_target(n: &Node) -> Option<String> {
    if let Some(s) = n.as_str() {
        let parts: Vec<&str> = s.split(':').collect();
        return parts.get(1).or(parts.first()).map(|t| (*t).to_string());
    }
    n.get("target")
        .or_else(|| n.get("source"))
        .and_then(Node::as_str)
        .map(str::to_string)
}

fn ref_target(n: &Node) -> Option<String> {
    if let Some(s) = n.as_str() {
        return Some(s.to_string());
    }
    n.get("target")
        .or_else(|| n.get("source"))
        .and_then(Node::as_str)
        .map(str::to_string)
}

/// Structural equality, ignoring positions.
pub fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (NodeKind::Scalar(x), NodeKind::Scalar(y)) => x.text == y.text,
        (NodeKind::Seq(x), NodeKind::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (NodeKind::Map(x), NodeKind::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .any(|(k2, v2)| k.as_str() == k2.as_str() && same(v, v2))
                })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Limits, load};

    fn n(s: &str) -> Node {
        load(s, &Limits::default()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn text(node: &Node) -> String {
        match &node.kind {
            NodeKind::Scalar(s) => s.text.clone(),
            NodeKind::Seq(s) => format!("[{}]", s.iter().map(text).collect::<Vec<_>>().join(", ")),
            NodeKind::Map(m) => format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("{}: {}", text(k), text(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    #[test]
    fn compose_merge_rules() {
        let base = n(
            "image: a\ncommand: [x, y]\nenvironment: [A=1, B=2]\nports: ['80:80']\nvolumes: ['d:/data', '/tmp']\nlabels: {l: 1}\ndepends_on: [db]\n",
        );
        let over = n(
            "image: b\ncommand: [z]\nenvironment: {B: 3, C: 4}\nports: ['80:80', '443:443']\nvolumes: ['e:/data:ro']\nlabels: [m=2]\ndepends_on: {cache: {condition: service_healthy}}\n",
        );
        let m = merge("", &base, &over);
        assert_eq!(
            text(&m),
            "{image: b, command: [z], environment: {A: 1, B: 3, C: 4}, ports: [80:80, 443:443], volumes: [e:/data:ro, /tmp], labels: {l: 1, m: 2}, depends_on: {db: {condition: service_started}, cache: {condition: service_healthy}}}"
        );
    }

    #[test]
    fn nested_mappings_merge() {
        let base = n(
            "deploy: {resources: {limits: {cpus: '1', memory: 1g}}}\nhealthcheck: {test: [CMD, a], interval: 5s}",
        );
        let over = n("deploy: {resources: {limits: {cpus: '2'}}}\nhealthcheck: {test: [CMD, b]}");
        assert_eq!(
            text(&merge("", &base, &over)),
            "{deploy: {resources: {limits: {cpus: 2, memory: 1g}}}, healthcheck: {test: [CMD, b], interval: 5s}}"
        );
    }
}
