//! Loading an input file: detect bridge.yaml or compose by content, parse with positions, import
//! compose, validate. The single entry point the CLI and tests use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codes;
use crate::compose::{self, ImportOptions};
use crate::de::{State, from_node};
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::App;
use crate::node::{self, Limits, Node};
use crate::source::{SourceFile, Sources, Span};
use crate::validate::{self, Locate, ValidApp};

/// The two input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A bridge.yaml (top-level `bridge:` key).
    Bridge,
    /// A compose file.
    Compose,
}

/// Options for loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Variables for compose interpolation; None means the process environment.
    pub env: Option<HashMap<String, String>>,
    /// Extra env files (`--env-file`); when empty, `.env` beside the file is read if present.
    pub env_files: Vec<PathBuf>,
    /// Active compose profiles.
    pub profiles: Vec<String>,
    /// Parser limits.
    pub limits: Limits,
    /// Skip validation (import only).
    pub skip_validation: bool,
}

/// The result of a load.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The detected format, when the file parsed at all.
    pub format: Option<Format>,
    /// The app as read, when it could be built and is not in `valid`: once validated it moves
    /// there (no copy), so [`Loaded::app`] is the way to read it either way.
    app: Option<App>,
    /// The validated app, when there were no errors.
    pub valid: Option<ValidApp>,
    /// Everything found, sorted by position.
    pub diagnostics: Diagnostics,
    /// The files read, for quoting lines in diagnostics.
    pub sources: Sources,
}

impl Loaded {
    /// The app as read (the validated one when it passed validation), when it could be built.
    pub fn app(&self) -> Option<&App> {
        match &self.valid {
            Some(v) => Some(v.app()),
            None => self.app.as_ref(),
        }
    }

    /// [`Loaded::app`], by value.
    pub fn into_app(self) -> Option<App> {
        match self.valid {
            Some(v) => Some(v.into_app()),
            None => self.app,
        }
    }
}

/// Load a file from disk.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Loaded {
    let name: Arc<str> = path.display().to_string().into();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            load_str(&name, &text, &base, opts)
        }
        Err(e) => Loaded {
            format: None,
            app: None,
            valid: None,
            diagnostics: Diagnostics(vec![
                Diagnostic::error(codes::READ_FAILED, format!("cannot read the file: {e}"))
                    .with_file(name),
            ]),
            sources: Sources::default(),
        },
    }
}

/// Detect the format of a parsed document.
pub fn detect(root: &Node) -> Result<Format, Diagnostic> {
    let Some(map) = root.as_map() else {
        return Err(Diagnostic::error(
            codes::UNKNOWN_FORMAT,
            format!(
                "expected a mapping at the top of the file, found {}",
                root.describe()
            ),
        )
        .with_span(root.span)
        .with_hint("a bridge.yaml starts with `bridge: v1`; a compose file with `services:`"));
    };
    if root.get("bridge").is_some() {
        return Ok(Format::Bridge);
    }
    const COMPOSE_TOP: [&str; 7] = [
        "services", "networks", "volumes", "secrets", "configs", "version", "include",
    ];
    if map.iter().any(|(k, _)| {
        k.as_str()
            .is_some_and(|k| COMPOSE_TOP.contains(&k) || k.starts_with("x-"))
    }) || map.is_empty()
    {
        return Ok(Format::Compose);
    }
    Err(Diagnostic::error(
        codes::UNKNOWN_FORMAT,
        "this is neither a bridge.yaml nor a compose file",
    )
    .with_span(root.span)
    .with_hint("a bridge.yaml starts with `bridge: v1`; a compose file has `services:`"))
}

/// A v1 compose file has no `services:`: every top-level entry is a service (a mapping with
/// `image` or `build`). Returns the same document under `services:`, spans kept.
fn wrap_compose_v1(root: &Node) -> Option<Node> {
    let map = root.as_map()?;
    if map.is_empty() || root.get("bridge").is_some() || root.get("services").is_some() {
        return None;
    }
    let looks_like_service = |v: &Node| v.get("image").is_some() || v.get("build").is_some();
    if !map
        .iter()
        .all(|(k, v)| k.as_str().is_some_and(|k| k.starts_with("x-")) || looks_like_service(v))
    {
        return None;
    }
    let key = Node::str("services", root.span);
    Some(Node {
        span: root.span,
        kind: node::NodeKind::Map(vec![(key, root.clone())]),
    })
}

struct TreeLocator<'a> {
    root: &'a Node,
    file: Arc<str>,
    /// `section.name` -> (key node, value node) for the component maps (services, vms...), built
    /// on first use: a linear scan per lookup made validating 10,000 services quadratic.
    index: std::sync::OnceLock<HashMap<String, (&'a Node, &'a Node)>>,
}

impl<'a> TreeLocator<'a> {
    fn index(&self) -> &HashMap<String, (&'a Node, &'a Node)> {
        self.index.get_or_init(|| {
            let mut m = HashMap::new();
            for (sk, sv) in self.root.as_map().unwrap_or_default() {
                let Some(section) = sk.as_str() else { continue };
                for (k, v) in sv.as_map().unwrap_or_default() {
                    if let Some(name) = k.as_str() {
                        m.insert(format!("{section}.{name}"), (k, v));
                    }
                }
            }
            m
        })
    }

    /// The node at `path` and the key node of its last step, starting from the indexed
    /// component when the path names one.
    fn find(&self, path: &str) -> (&'a Node, Option<&'a Node>) {
        let mut parts = path.splitn(3, '.');
        if let (Some(section), Some(name_and_rest)) = (parts.next(), parts.next()) {
            let name = name_and_rest.split('[').next().unwrap_or(name_and_rest);
            if let Some((k, v)) = self.index().get(&format!("{section}.{name}")) {
                let rest = &path[section.len() + 1 + name.len()..];
                let rest = rest.strip_prefix('.').unwrap_or(rest);
                if rest.is_empty() {
                    return (v, Some(k));
                }
                return (v.locate(rest), v.locate_key(rest));
            }
        }
        (self.root.locate(path), self.root.locate_key(path))
    }
}

impl Locate for TreeLocator<'_> {
    fn locate(&self, path: &str) -> Option<(Arc<str>, Span)> {
        let (n, key) = self.find(path);
        // A mapping or sequence value starts on the next line; its key is the better place.
        let span = match (&n.kind, key) {
            (node::NodeKind::Map(_) | node::NodeKind::Seq(_), Some(k)) => k.span,
            _ => n.span,
        };
        Some((self.file.clone(), span))
    }
}

struct MapLocator<'a> {
    map: &'a compose::SourceMap,
    file: Arc<str>,
    /// Where the document starts: the place for findings about the whole app.
    root: Span,
}

impl Locate for MapLocator<'_> {
    fn locate(&self, path: &str) -> Option<(Arc<str>, Span)> {
        let file = self.map.file.clone().unwrap_or_else(|| self.file.clone());
        Some((file, self.map.locate(path).unwrap_or(self.root)))
    }
}

/// Load from text; `name` is shown in diagnostics and `base_dir` resolves relative paths.
pub fn load_str(name: &Arc<str>, text: &str, base_dir: &Path, opts: &LoadOptions) -> Loaded {
    let mut sources = Sources::default();
    sources.add(SourceFile::new(name.clone(), text));
    let mut out = Loaded {
        format: None,
        app: None,
        valid: None,
        diagnostics: Diagnostics::new(),
        sources,
    };
    let root = match node::load(text, &opts.limits) {
        Ok(r) => r,
        Err(e) => {
            out.diagnostics.push(
                Diagnostic::error(e.code, e.message)
                    .with_file(name.clone())
                    .with_span(e.span)
                    .with_hint_opt(e.hint),
            );
            return out;
        }
    };
    let mut root = root;
    if let Some(wrapped) = wrap_compose_v1(&root) {
        out.diagnostics.push(
            Diagnostic::warning(codes::COMPOSE_V1, "legacy compose file format v1: services stand at the top level")
                .with_file(name.clone())
                .with_span(root.span)
                .with_hint("read as if under `services:`; move them there (Compose Specification) to silence this"),
        );
        root = wrapped;
    }
    let format = match detect(&root) {
        Ok(f) => f,
        Err(d) => {
            out.diagnostics.push(d.with_file(name.clone()));
            return out;
        }
    };
    out.format = Some(format);
    let mut diags = Diagnostics::new();
    let mut source_map = compose::SourceMap::default();
    let (app, format_is_bridge) = match format {
        Format::Bridge => {
            let st = State::new(true);
            let r: Result<App, _> = from_node(&root, &st);
            diags.extend(st.take_diagnostics());
            let app = match r {
                Ok(a) => Some(a),
                Err(mut e) => {
                    // A missing field is best shown at the key of the mapping that lacks it.
                    if e.code == codes::MISSING_FIELD
                        && let Some(k) = e.path.as_deref().and_then(|p| root.locate_key(p))
                    {
                        e.span = Some(k.span);
                    }
                    diags.push(e.into_diagnostic());
                    None
                }
            };
            (app, true)
        }
        Format::Compose => {
            let env = compose_env(base_dir, opts, name, &mut out.sources, &mut diags);
            let iopts = ImportOptions {
                env,
                profiles: opts.profiles.clone(),
                default_name: default_project_name(base_dir),
            };
            // The import interpolates the tree in place; only its span is needed after.
            let span = root.span;
            let tree = std::mem::replace(&mut root, Node::empty_map(span));
            let imported = compose::import_owned(tree, name, base_dir, &iopts, &mut out.sources);
            diags.extend(imported.diagnostics);
            source_map = imported.source_map;
            (imported.app, false)
        }
    };
    let tree_locator = TreeLocator {
        root: &root,
        file: name.clone(),
        index: std::sync::OnceLock::new(),
    };
    let map_locator = MapLocator {
        map: &source_map,
        file: name.clone(),
        root: root.span,
    };
    let locator: &dyn Locate = if format_is_bridge {
        &tree_locator
    } else {
        &map_locator
    };
    // Relative bind sources are read now, beside the file: render is deploy, so the artifacts
    // carry their content.
    let mut app = app;
    if let Some(a) = &mut app {
        a.files = crate::model::files::read(a, base_dir, locator);
    }
    for d in diags.0.iter_mut() {
        if d.file.is_none() {
            d.file = Some(name.clone());
        }
    }
    out.diagnostics.extend(diags);
    match app {
        Some(app) if !out.diagnostics.has_errors() && !opts.skip_validation => {
            match validate::validate_keeping(app, locator) {
                Ok((v, ds)) => {
                    out.diagnostics.extend(ds);
                    out.valid = Some(v);
                }
                Err((app, ds)) => {
                    out.diagnostics.extend(ds);
                    out.app = Some(app);
                }
            }
        }
        app => out.app = app,
    }
    out.diagnostics.sort();
    out
}

/// The interpolation environment: process env (or the given map), which wins over `.env`
/// beside the file or the `--env-file`s, as in docker compose.
fn compose_env(
    base_dir: &Path,
    opts: &LoadOptions,
    _name: &Arc<str>,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> HashMap<String, String> {
    let process: HashMap<String, String> = match &opts.env {
        Some(e) => e.clone(),
        None => std::env::vars().collect(),
    };
    let files: Vec<(PathBuf, bool)> = if opts.env_files.is_empty() {
        vec![(base_dir.join(".env"), false)]
    } else {
        opts.env_files.iter().map(|p| (p.clone(), true)).collect()
    };
    let mut from_files: HashMap<String, String> = HashMap::new();
    for (path, required) in files {
        let shown: Arc<str> = path.display().to_string().into();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                if required {
                    diags.push(
                        Diagnostic::error(
                            codes::ENV_FILE,
                            format!("cannot read the env file: {e}"),
                        )
                        .with_file(shown),
                    );
                }
                continue;
            }
        };
        sources.add(SourceFile::new(shown.clone(), text.as_str()));
        let lookup = |k: &str| {
            process
                .get(k)
                .cloned()
                .or_else(|| from_files.get(k).cloned())
        };
        match compose::envfile::parse_env_file(&text, &lookup) {
            Ok(vars) => {
                for (k, v) in vars {
                    let v = v.or_else(|| process.get(&k).cloned()).unwrap_or_default();
                    from_files.insert(k, v);
                }
            }
            Err(e) => diags.push(
                Diagnostic::error(codes::ENV_FILE, e.message.clone())
                    .with_file(shown)
                    .with_span(Span::point(
                        u32::try_from(e.line).unwrap_or(u32::MAX),
                        u32::try_from(e.column).unwrap_or(u32::MAX),
                    )),
            ),
        }
    }
    let mut env = from_files;
    env.extend(process);
    env
}

/// Compose's default project name: the directory name, lower-cased, reduced to `[a-z0-9_-]`.
pub fn default_project_name(base_dir: &Path) -> String {
    let dir = std::fs::canonicalize(base_dir).unwrap_or_else(|_| base_dir.to_path_buf());
    let raw = dir
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut s: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_matches('-').to_string();
    if s.is_empty() { "app".into() } else { s }
}
