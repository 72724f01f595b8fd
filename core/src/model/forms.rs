//! Fields with a short and a long form (`"80:8000/tcp"` or `{container: 8000, published: 80}`),
//! read from either and written in the shortest form that says everything.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codes;
use crate::de::coded_error;

/// Deserialize a long form from a mapping through serde's derive (which rejects unknown keys).
fn long<'de, T: Deserialize<'de>, A: MapAccess<'de>>(map: A) -> Result<T, A::Error> {
    T::deserialize(de::value::MapAccessDeserializer::new(map))
}

// ---------------------------------------------------------------------------------------------
// Command

/// A command line: a list of words. A string is split like a POSIX shell would (no expansion).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(with = "CommandSchema")]
pub struct Command(pub Vec<String>);

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum CommandSchema {
    /// Split like a shell would.
    Line(String),
    /// Exact words.
    Words(Vec<String>),
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Command;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command as a list of words or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                crate::shell::split(v).map(Command).map_err(|e| {
                    coded_error(
                        codes::INVALID_VALUE,
                        &format!("cannot split the command: {e}"),
                        Some("write the command as a list of words"),
                    )
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Command, E> {
                Ok(Command(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut out = Vec::new();
                while let Some(w) = seq.next_element::<ScalarString>()? {
                    out.push(w.0);
                }
                Ok(Command(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Any scalar read as its text (so `- 8080` in a command list is the word `8080`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarString(pub String);

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Strings are read with deserialize_str, which yields the raw text of any non-null scalar.
        String::deserialize(d).map(ScalarString)
    }
}

// ---------------------------------------------------------------------------------------------
// Env

/// Environment variables: a mapping, or a list of `KEY=value`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(with = "EnvSchema")]
pub struct Env(pub BTreeMap<String, String>);

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum EnvSchema {
    /// Name to value.
    Map(BTreeMap<String, String>),
    /// `KEY=value` items.
    List(Vec<String>),
}

impl Env {
    /// True when there are no variables.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Env {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Env;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names to values, or a list of KEY=value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Env, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: Option<ScalarString> = map.next_value()?;
                    let Some(v) = v else {
                        return Err(coded_error(
                            codes::INVALID_VALUE,
                            &format!("`{k}` has no value"),
                            Some(
                                "write the value (use a secret for values that come from the deploying environment)",
                            ),
                        ));
                    };
                    out.insert(k, v.0);
                }
                Ok(Env(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Env, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(EnvItem(k, v)) = seq.next_element::<EnvItem>()? {
                    out.insert(k, v);
                }
                Ok(Env(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `KEY=value` list item, checked where it stands so errors point at it.
struct EnvItem(String, String);

impl<'de> Deserialize<'de> for EnvItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let item = String::deserialize(d)?;
        match item.split_once('=') {
            Some((k, v)) => Ok(EnvItem(k.to_string(), v.to_string())),
            None => Err(coded_error(
                codes::INVALID_VALUE,
                &format!("`{item}` is not KEY=value"),
                Some(
                    "write `KEY=value`; a bare `KEY` (take it from the environment) is compose-only: in bridge.yaml use a secret with `env:`",
                ),
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Health test

/// A health-check test: `[CMD, prog, args...]`, `[CMD-SHELL, "cmd"]`, `[NONE]`, or a string
/// (which means `CMD-SHELL`). Kept in the list form.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(with = "CommandSchema")]
pub struct HealthTest(pub Vec<String>);

impl HealthTest {
    /// True for `[NONE]`: the image's check is disabled.
    pub fn is_none(&self) -> bool {
        self.0.first().map(String::as_str) == Some("NONE")
    }
}

impl<'de> Deserialize<'de> for HealthTest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HealthTest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a list starting with CMD, CMD-SHELL or NONE, or a shell command string",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HealthTest, E> {
                Ok(HealthTest(vec!["CMD-SHELL".into(), v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HealthTest, A::Error> {
                let mut out = Vec::new();
                while let Some(w) = seq.next_element::<ScalarString>()? {
                    out.push(w.0);
                }
                match out.first().map(String::as_str) {
                    Some("CMD") if out.len() >= 2 => {}
                    Some("CMD-SHELL") if out.len() == 2 => {}
                    Some("NONE") if out.len() == 1 => {}
                    Some("CMD-SHELL") => {
                        return Err(coded_error(
                            codes::INVALID_VALUE,
                            "`CMD-SHELL` takes exactly one command string",
                            Some("write [CMD-SHELL, \"curl -f http://localhost/ || exit 1\"]"),
                        ));
                    }
                    _ => {
                        return Err(coded_error(
                            codes::INVALID_VALUE,
                            "a health test list starts with CMD (and a program), CMD-SHELL (and a command) or NONE",
                            Some("write [CMD, curl, -f, http://localhost/]"),
                        ));
                    }
                }
                Ok(HealthTest(out))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Port

/// Transport protocol.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// How a published port is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortMode {
    /// Through the provider's load balancing (Swarm routing mesh, a load balancer).
    #[default]
    Ingress,
    /// Directly on the host running the replica.
    Host,
}

/// A container port, optionally published on the host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(with = "PortSchema")]
pub struct Port {
    /// The port inside the container.
    pub container: u16,
    /// The port on the host (or load balancer); none for an ephemeral one.
    #[serde(default)]
    pub published: Option<u16>,
    /// The protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Host address to bind.
    #[serde(default)]
    pub host_ip: Option<String>,
    /// Ingress (default) or host.
    #[serde(default)]
    pub mode: PortMode,
    /// A name for the port.
    #[serde(default)]
    pub name: Option<String>,
    /// The application protocol (`http`, `grpc`...), for load balancers.
    #[serde(default)]
    pub app_protocol: Option<String>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum PortSchema {
    /// `"[host_ip:][published:]container[/protocol]"`.
    Short(
        #[schemars(regex(
            pattern = r"^((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?([0-9]+:)?[0-9]+(/(tcp|udp|sctp))?$"
        ))]
        String,
    ),
    /// A container port number.
    Number(u16),
    /// The long form.
    Long(PortLong),
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct PortLong {
    /// The port inside the container.
    container: u16,
    /// The port on the host.
    published: Option<u16>,
    /// tcp, udp or sctp.
    protocol: Option<Protocol>,
    /// Host address to bind.
    host_ip: Option<String>,
    /// ingress or host.
    mode: Option<PortMode>,
    /// A name for the port.
    name: Option<String>,
    /// The application protocol.
    app_protocol: Option<String>,
}

impl Port {
    /// A container port with nothing else set.
    pub fn container(port: u16) -> Port {
        Port {
            container: port,
            ..Port::default()
        }
    }

    fn is_short(&self) -> bool {
        self.mode == PortMode::Ingress && self.name.is_none() && self.app_protocol.is_none()
    }

    /// Parse the short form `[host_ip:][published:]container[/protocol]` (IPv6 in brackets).
    /// Ranges are not accepted here; the compose importer expands them.
    pub fn parse_short(s: &str) -> Result<Port, String> {
        let (body, proto) = match s.rsplit_once('/') {
            Some((b, p)) => (
                b,
                match p {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    "sctp" => Protocol::Sctp,
                    _ => return Err(format!("unknown protocol `{p}` (tcp, udp or sctp)")),
                },
            ),
            None => (s, Protocol::Tcp),
        };
        let (host_ip, rest) = if let Some(r) = body.strip_prefix('[') {
            let Some((ip, rest)) = r.split_once(']') else {
                return Err("unclosed `[` in an IPv6 address".into());
            };
            let rest = rest
                .strip_prefix(':')
                .ok_or("expected `:` after the IPv6 address")?;
            (Some(ip.to_string()), rest)
        } else {
            let parts: Vec<&str> = body.split(':').collect();
            match parts.len() {
                1 | 2 => (None, body),
                3 => (Some(parts[0].to_string()), &body[parts[0].len() + 1..]),
                _ => return Err(format!("`{s}` has too many `:`")),
            }
        };
        let num = |t: &str, what: &str| -> Result<u16, String> {
            if t.contains('-') {
                return Err(format!(
                    "port ranges such as `{t}` are not supported here; list each port"
                ));
            }
            match t.parse::<u32>() {
                Ok(0) => Err(format!("{what} port 0 is out of range (1-65535)")),
                Ok(n) => u16::try_from(n)
                    .map_err(|_| format!("{what} port {n} is out of range (1-65535)")),
                Err(_) => Err(format!("`{t}` is not a port number")),
            }
        };
        let (published, container) = match rest.split_once(':') {
            Some(("", c)) => (None, num(c, "container")?),
            Some((p, c)) => (Some(num(p, "published")?), num(c, "container")?),
            None => (None, num(rest, "container")?),
        };
        Ok(Port {
            container,
            published,
            protocol: proto,
            host_ip: host_ip.filter(|h| !h.is_empty()),
            ..Port::default()
        })
    }
}

impl fmt::Display for Port {
    /// The short form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = &self.host_ip {
            if ip.contains(':') {
                write!(f, "[{ip}]:")?;
            } else {
                write!(f, "{ip}:")?;
            }
            if let Some(p) = self.published {
                write!(f, "{p}")?;
            }
            f.write_str(":")?;
        } else if let Some(p) = self.published {
            write!(f, "{p}:")?;
        }
        write!(f, "{}", self.container)?;
        if self.protocol != Protocol::Tcp {
            write!(f, "/{}", self.protocol.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_short() {
            return s.collect_str(self);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("container", &self.container)?;
        if let Some(p) = self.published {
            m.serialize_entry("published", &p)?;
        }
        if self.protocol != Protocol::Tcp {
            m.serialize_entry("protocol", &self.protocol)?;
        }
        if let Some(ip) = &self.host_ip {
            m.serialize_entry("host_ip", ip)?;
        }
        if self.mode != PortMode::Ingress {
            m.serialize_entry("mode", &self.mode)?;
        }
        if let Some(n) = &self.name {
            m.serialize_entry("name", n)?;
        }
        if let Some(a) = &self.app_protocol {
            m.serialize_entry("app_protocol", a)?;
        }
        m.end()
    }
}

/// Read a port from its short string, a number, or the long mapping.
pub fn deserialize_port<'de, D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Port;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a port: \"80:8000/tcp\", 8000, or {container: 8000, published: 80}")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Port, E> {
            match u16::try_from(v) {
                Ok(p) if p > 0 => Ok(Port::container(p)),
                _ => Err(coded_error(
                    codes::BAD_PORT,
                    &format!("port {v} is out of range (1-65535)"),
                    None,
                )),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Port, E> {
            Err(coded_error(
                codes::BAD_PORT,
                &format!("port {v} is out of range (1-65535)"),
                None,
            ))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Port, E> {
            Port::parse_short(v).map_err(|m| {
                coded_error(
                    codes::BAD_PORT,
                    &m,
                    Some("write \"published:container/protocol\", e.g. \"80:8000/tcp\""),
                )
            })
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Port, A::Error> {
            let p: Port = long(map)?;
            if p.container == 0 || p.published == Some(0) {
                return Err(coded_error(
                    codes::BAD_PORT,
                    "port 0 is out of range (1-65535)",
                    None,
                ));
            }
            Ok(p)
        }
    }
    d.deserialize_any(V)
}

/// A port list element; see [`Port`].
impl Port {
    /// Deserialize one, accepting any form.
    pub fn deserialize_any_form<'de, D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
        deserialize_port(d)
    }
}

/// Wrapper so `Vec<Port>` reads every form.
#[derive(Debug)]
struct AnyPort(Port);

impl<'de> Deserialize<'de> for AnyPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_port(d).map(AnyPort)
    }
}

pub(crate) fn deserialize_ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Port>, D::Error> {
    let v: Vec<AnyPort> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|p| p.0).collect())
}

// ---------------------------------------------------------------------------------------------
// Mount

/// What a mount's source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A named volume (or an anonymous one when the source is empty).
    #[default]
    Volume,
    /// A path on the host.
    Bind,
    /// Memory-backed.
    Tmpfs,
}

/// A mount into the container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(with = "MountSchema")]
pub struct Mount {
    /// volume, bind or tmpfs.
    #[serde(rename = "type", default)]
    pub kind: MountKind,
    /// The volume name or host path; none for an anonymous volume or tmpfs.
    #[serde(default)]
    pub source: Option<String>,
    /// The path in the container.
    pub target: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// tmpfs size.
    #[serde(default)]
    pub size: Option<crate::units::ByteSize>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum MountSchema {
    /// `"source:target[:ro|rw]"` or `"target"`.
    Short(String),
    /// The long form.
    Long(MountLong),
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct MountLong {
    /// volume, bind or tmpfs.
    #[serde(rename = "type")]
    kind: Option<MountKind>,
    /// The volume name or host path.
    source: Option<String>,
    /// The path in the container.
    target: String,
    /// Mount read-only.
    read_only: Option<bool>,
    /// tmpfs size.
    size: Option<crate::units::ByteSize>,
}

impl Mount {
    /// True when `source` is a host path rather than a volume name.
    pub fn is_path(source: &str) -> bool {
        source.starts_with('/') || source.starts_with('.') || source.starts_with('~')
    }

    /// Parse `source:target[:mode]` or `target`.
    pub fn parse_short(s: &str) -> Result<Mount, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [t] => (None, *t, None),
            [src, t] if t.starts_with('/') => (Some(*src), *t, None),
            [t, m] if t.starts_with('/') => (None, *t, Some(*m)),
            [src, t, m] => (Some(*src), *t, Some(*m)),
            _ => return Err(format!("`{s}` is not `source:target[:ro]`")),
        };
        if !target.starts_with('/') {
            return Err(format!("the container path `{target}` must be absolute"));
        }
        let mut read_only = false;
        if let Some(m) = mode {
            for opt in m.split(',') {
                match opt {
                    "ro" => read_only = true,
                    "rw" => read_only = false,
                    "z" | "Z" | "cached" | "delegated" | "consistent" | "nocopy" => {}
                    other => return Err(format!("unknown mount option `{other}` (ro, rw)")),
                }
            }
        }
        let kind = match source {
            Some(src) if Mount::is_path(src) => MountKind::Bind,
            _ => MountKind::Volume,
        };
        Ok(Mount {
            kind,
            source: source.filter(|s| !s.is_empty()).map(str::to_string),
            target: target.to_string(),
            read_only,
            size: None,
        })
    }

    fn short(&self) -> Option<String> {
        if self.size.is_some() || self.kind == MountKind::Tmpfs {
            return None;
        }
        let mut s = match &self.source {
            Some(src) if src.contains(':') => return None,
            Some(src) => {
                let is_path = Mount::is_path(src);
                if is_path != (self.kind == MountKind::Bind) {
                    return None;
                }
                format!("{src}:{}", self.target)
            }
            None if self.kind == MountKind::Volume => self.target.clone(),
            None => return None,
        };
        if self.target.contains(':') {
            return None;
        }
        if self.read_only {
            s.push_str(":ro");
        }
        Some(s)
    }
}

impl Serialize for Mount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some(short) = self.short() {
            return s.serialize_str(&short);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", &self.kind)?;
        if let Some(src) = &self.source {
            m.serialize_entry("source", src)?;
        }
        m.serialize_entry("target", &self.target)?;
        if self.read_only {
            m.serialize_entry("read_only", &true)?;
        }
        if let Some(sz) = &self.size {
            m.serialize_entry("size", sz)?;
        }
        m.end()
    }
}

struct AnyMount(Mount);

impl<'de> Deserialize<'de> for AnyMount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Mount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mount: \"data:/var/lib/x:ro\" or {type, source, target}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Mount, E> {
                Mount::parse_short(v).map_err(|m| {
                    coded_error(
                        codes::BAD_MOUNT,
                        &m,
                        Some("write \"volume-or-path:/container/path[:ro]\""),
                    )
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Mount, A::Error> {
                let m: Mount = long(map)?;
                if !m.target.starts_with('/') {
                    return Err(coded_error(
                        codes::BAD_MOUNT,
                        &format!("the container path `{}` must be absolute", m.target),
                        None,
                    ));
                }
                if m.kind == MountKind::Bind && m.source.is_none() {
                    return Err(coded_error(
                        codes::BAD_MOUNT,
                        "a bind mount needs a source path",
                        None,
                    ));
                }
                Ok(m)
            }
        }
        d.deserialize_any(V).map(AnyMount)
    }
}

pub(crate) fn deserialize_mounts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Mount>, D::Error> {
    let v: Vec<AnyMount> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|p| p.0).collect())
}

// ---------------------------------------------------------------------------------------------
// Secret and config references

/// A secret given to a service: as a file (default `/run/secrets/<name>`) or an env variable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(with = "SecretRefSchema")]
pub struct SecretRef {
    /// The secret's name in `secrets:`.
    pub name: String,
    /// Expose it as this environment variable instead of a file.
    #[serde(default)]
    pub env: Option<String>,
    /// The file path in the container (default `/run/secrets/<name>`).
    #[serde(default)]
    pub file: Option<String>,
    /// File owner uid.
    #[serde(default)]
    pub uid: Option<String>,
    /// File owner gid.
    #[serde(default)]
    pub gid: Option<String>,
    /// File mode, e.g. 0o440 (written as an integer).
    #[serde(default)]
    pub mode: Option<u32>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum SecretRefSchema {
    /// The secret's name: a file at /run/secrets/<name>.
    Name(String),
    /// The long form.
    Long(SecretRefLong),
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct SecretRefLong {
    /// The secret's name.
    name: String,
    /// Expose as an environment variable.
    env: Option<String>,
    /// The file path in the container.
    file: Option<String>,
    /// File owner uid.
    uid: Option<String>,
    /// File owner gid.
    gid: Option<String>,
    /// File mode.
    mode: Option<u32>,
}

impl SecretRef {
    fn is_short(&self) -> bool {
        self.env.is_none()
            && self.file.is_none()
            && self.uid.is_none()
            && self.gid.is_none()
            && self.mode.is_none()
    }
}

fn ser_named<S: Serializer>(
    s: S,
    name: &str,
    short: bool,
    fields: &[(&str, Option<String>)],
    mode: Option<u32>,
) -> Result<S::Ok, S::Error> {
    if short {
        return s.serialize_str(name);
    }
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("name", name)?;
    for (k, v) in fields {
        if let Some(v) = v {
            m.serialize_entry(k, v)?;
        }
    }
    if let Some(mode) = mode {
        m.serialize_entry("mode", &mode)?;
    }
    m.end()
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser_named(
            s,
            &self.name,
            self.is_short(),
            &[
                ("env", self.env.clone()),
                ("file", self.file.clone()),
                ("uid", self.uid.clone()),
                ("gid", self.gid.clone()),
            ],
            self.mode,
        )
    }
}

impl<'de> Deserialize<'de> for AnySecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a secret name or {name, env | file}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretRef, E> {
                Ok(SecretRef {
                    name: v.to_string(),
                    ..SecretRef::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SecretRef, A::Error> {
                let r: SecretRef = long(map)?;
                if r.env.is_some() && r.file.is_some() {
                    return Err(coded_error(
                        codes::CONFLICT,
                        "a secret is given as `env` or as `file`, not both",
                        None,
                    ));
                }
                Ok(r)
            }
        }
        d.deserialize_any(V).map(AnySecretRef)
    }
}

struct AnySecretRef(SecretRef);

pub(crate) fn deserialize_secret_refs<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<SecretRef>, D::Error> {
    let v: Vec<AnySecretRef> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|p| p.0).collect())
}

/// A config mounted as a file (default `/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(with = "ConfigRefSchema")]
pub struct ConfigRef {
    /// The config's name in `configs:`.
    pub name: String,
    /// The file path in the container (default `/<name>`).
    #[serde(default)]
    pub file: Option<String>,
    /// File owner uid.
    #[serde(default)]
    pub uid: Option<String>,
    /// File owner gid.
    #[serde(default)]
    pub gid: Option<String>,
    /// File mode (an integer).
    #[serde(default)]
    pub mode: Option<u32>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum ConfigRefSchema {
    /// The config's name: a file at /<name>.
    Name(String),
    /// The long form.
    Long(ConfigRefLong),
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConfigRefLong {
    /// The config's name.
    name: String,
    /// The file path in the container.
    file: Option<String>,
    /// File owner uid.
    uid: Option<String>,
    /// File owner gid.
    gid: Option<String>,
    /// File mode.
    mode: Option<u32>,
}

impl Serialize for ConfigRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let short =
            self.file.is_none() && self.uid.is_none() && self.gid.is_none() && self.mode.is_none();
        ser_named(
            s,
            &self.name,
            short,
            &[
                ("file", self.file.clone()),
                ("uid", self.uid.clone()),
                ("gid", self.gid.clone()),
            ],
            self.mode,
        )
    }
}

struct AnyConfigRef(ConfigRef);

impl<'de> Deserialize<'de> for AnyConfigRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConfigRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a config name or {name, file}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigRef, E> {
                Ok(ConfigRef {
                    name: v.to_string(),
                    ..ConfigRef::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ConfigRef, A::Error> {
                long(map)
            }
        }
        d.deserialize_any(V).map(AnyConfigRef)
    }
}

pub(crate) fn deserialize_config_refs<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ConfigRef>, D::Error> {
    let v: Vec<AnyConfigRef> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|p| p.0).collect())
}

// ---------------------------------------------------------------------------------------------
// Dependencies and links

/// What a dependency waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    /// The dependency's container has started.
    #[default]
    Started,
    /// The dependency reports healthy (it needs a health check).
    Healthy,
    /// The dependency ran to completion with exit code 0.
    CompletedSuccessfully,
}

/// A start-order dependency.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(with = "DependencySchema")]
pub struct Dependency {
    /// The service depended on.
    pub service: String,
    /// What to wait for.
    #[serde(default)]
    pub condition: DependencyCondition,
    /// Restart this service when the dependency is updated.
    #[serde(default)]
    pub restart: bool,
    /// Fail when the dependency is missing (default true).
    #[serde(default = "tru")]
    pub required: bool,
}

fn tru() -> bool {
    true
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum DependencySchema {
    /// The service's name: wait until started.
    Name(String),
    /// The long form.
    Long(DependencyLong),
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct DependencyLong {
    /// The service.
    service: String,
    /// started, healthy or completed_successfully.
    condition: Option<DependencyCondition>,
    /// Restart on the dependency's update.
    restart: Option<bool>,
    /// Fail when the dependency is missing.
    required: Option<bool>,
}

impl Dependency {
    /// A dependency that waits for start.
    pub fn on(service: impl Into<String>) -> Dependency {
        Dependency {
            service: service.into(),
            condition: DependencyCondition::Started,
            restart: false,
            required: true,
        }
    }
}

impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.condition == DependencyCondition::Started && !self.restart && self.required {
            return s.serialize_str(&self.service);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("service", &self.service)?;
        if self.condition != DependencyCondition::Started {
            m.serialize_entry("condition", &self.condition)?;
        }
        if self.restart {
            m.serialize_entry("restart", &true)?;
        }
        if !self.required {
            m.serialize_entry("required", &false)?;
        }
        m.end()
    }
}

struct AnyDependency(Dependency);

impl<'de> Deserialize<'de> for AnyDependency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Dependency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a service name or {service, condition}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dependency, E> {
                Ok(Dependency::on(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dependency, A::Error> {
                long(map)
            }
        }
        d.deserialize_any(V).map(AnyDependency)
    }
}

pub(crate) fn deserialize_dependencies<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Dependency>, D::Error> {
    let v: Vec<AnyDependency> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|p| p.0).collect())
}

/// A legacy link: `service` or `service:alias`.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct Link {
    /// The linked service.
    pub service: String,
    /// The DNS name it is reached under (default: the service name).
    pub alias: Option<String>,
}

impl Link {
    /// Parse `service[:alias]`.
    pub fn parse(s: &str) -> Link {
        match s.split_once(':') {
            Some((svc, alias)) if alias != svc && !alias.is_empty() => Link {
                service: svc.to_string(),
                alias: Some(alias.to_string()),
            },
            Some((svc, _)) => Link {
                service: svc.to_string(),
                alias: None,
            },
            None => Link {
                service: s.to_string(),
                alias: None,
            },
        }
    }
}

impl Serialize for Link {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.alias {
            Some(a) => s.collect_str(&format_args!("{}:{a}", self.service)),
            None => s.serialize_str(&self.service),
        }
    }
}

impl<'de> Deserialize<'de> for Link {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Link::parse(&s))
    }
}

// ---------------------------------------------------------------------------------------------
// Ulimit

/// A resource limit: one number for both, or soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(with = "UlimitSchema")]
pub struct Ulimit {
    /// The soft limit.
    pub soft: i64,
    /// The hard limit.
    pub hard: i64,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum UlimitSchema {
    /// Soft and hard.
    Both(i64),
    /// Separately.
    Pair {
        /// The soft limit.
        soft: i64,
        /// The hard limit.
        hard: i64,
    },
}

impl Serialize for Ulimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.soft == self.hard {
            return s.serialize_i64(self.soft);
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("soft", &self.soft)?;
        m.serialize_entry("hard", &self.hard)?;
        m.end()
    }
}

/// Read a ulimit from a number or `{soft, hard}`.
pub(crate) fn deserialize_ulimits<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Ulimit>, D::Error> {
    struct One(Ulimit);
    impl<'de> Deserialize<'de> for One {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Ulimit;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a number or {soft, hard}")
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ulimit, E> {
                    let v = i64::try_from(v).map_err(|_| E::custom("ulimit too large"))?;
                    Ok(Ulimit { soft: v, hard: v })
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ulimit, E> {
                    Ok(Ulimit { soft: v, hard: v })
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ulimit, A::Error> {
                    let u: Ulimit = long(map)?;
                    if u.soft > u.hard && u.hard >= 0 {
                        return Err(coded_error(
                            codes::INVALID_VALUE,
                            &format!("soft limit {} is above hard limit {}", u.soft, u.hard),
                            None,
                        ));
                    }
                    Ok(u)
                }
            }
            d.deserialize_any(V).map(One)
        }
    }
    let m: BTreeMap<String, One> = BTreeMap::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
}
