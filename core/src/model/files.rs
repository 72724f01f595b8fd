//! Project files: the content of relative bind sources (`./nginx.conf:/etc/nginx/nginx.conf:ro`),
//! read by the loader from the app file's directory so that what `render` writes carries them
//! (render is deploy). A directory is expanded to its files. A source that cannot be read is kept
//! with its reason and position, and each target that ships it reports it as an error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::codes;
use crate::diag::Diagnostic;
use crate::model::{App, Mount, MountKind};
use crate::source::Span;
use crate::validate::Locate;

/// Bytes read per source at most: every target's limit is far below it, so a larger source
/// (a `./node_modules` tree) is reported as too large without being read whole.
pub const READ_CAP: u64 = 8 * 1024 * 1024;

/// One file of a shipped source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileEntry {
    /// The path below the source directory (`conf.d/a.conf`); empty when the source is a file.
    pub rel: String,
    /// The content.
    pub bytes: Vec<u8>,
}

impl FileEntry {
    /// The path in the container for a mount at `target`.
    pub fn target_in(&self, target: &str) -> String {
        if self.rel.is_empty() {
            target.to_string()
        } else {
            format!("{}/{}", target.trim_end_matches('/'), self.rel)
        }
    }

    /// The content as text, when it is UTF-8 without NUL bytes.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes)
            .ok()
            .filter(|t| !t.contains('\0'))
    }
}

/// A relative bind source as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectFile {
    /// True when the source is a directory.
    pub dir: bool,
    /// The files, sorted by `rel` (empty when the source could not be read or is too large).
    pub entries: Vec<FileEntry>,
    /// The total size in bytes (counted past [`READ_CAP`], whose content is not kept).
    pub size: u64,
    /// Why the source could not be read.
    pub error: Option<String>,
    /// Where the first volume entry naming it stands.
    pub at: Option<(Arc<str>, Span)>,
}

impl ProjectFile {
    /// A hash of every file's path and content: the same files give the same hash, and any
    /// change (a byte, a name, a file added) another.
    pub fn content_hash(&self) -> u64 {
        let mut h = Vec::new();
        for e in &self.entries {
            h.extend_from_slice(e.rel.as_bytes());
            h.push(0);
            h.extend_from_slice(&(e.bytes.len() as u64).to_le_bytes());
            h.extend_from_slice(&e.bytes);
        }
        crate::hash::fnv1a64(&h)
    }
}

/// The last component of a bind source (`./conf/nginx.conf` -> `nginx.conf`), the name a shipped
/// single file keeps on the host; `file` for `.`, `..` or an empty one.
pub fn base_name(src: &str) -> String {
    src.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|f| !f.is_empty() && *f != "." && *f != "..")
        .unwrap_or("file")
        .to_string()
}

/// Every relative bind source of an app, by the source as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectFiles(pub BTreeMap<String, ProjectFile>);

/// True when a bind source names a path relative to the app file (`./x`, `../x`, `.`).
pub fn is_relative(src: &str) -> bool {
    src == "." || src == ".." || src.starts_with("./") || src.starts_with("../")
}

/// True when `m` is a relative bind mount whose source bridge ships as project files.
pub fn ships(m: &Mount) -> bool {
    m.kind == MountKind::Bind && m.source.as_deref().is_some_and(is_relative)
}

impl ProjectFiles {
    /// The files of a relative bind `m` of service `svc` (mount `i`), or the error that a target
    /// shipping it reports: the source is missing or unreadable (located at the volume entry),
    /// or was never read (an app built in code).
    pub fn get(&self, svc: &str, i: usize, m: &Mount) -> Result<&ProjectFile, Diagnostic> {
        let src = m.source.clone().unwrap_or_default();
        let path = format!("services.{svc}.volumes[{i}]");
        match self.0.get(&src) {
            Some(f) if f.error.is_none() => Ok(f),
            Some(f) => {
                let mut d = Diagnostic::error(
                    codes::PROJECT_FILE_MISSING,
                    format!(
                        "service `{svc}`: the bind source `{src}` cannot be shipped: {}",
                        f.error.clone().unwrap_or_default()
                    ),
                )
                .with_path(path)
                .with_hint("create the file or directory beside the app file (paths are relative to its directory), or use a named volume");
                if let Some((file, span)) = &f.at {
                    d = d.with_file(file.clone()).with_span(*span);
                }
                Err(d)
            }
            None => Err(Diagnostic::error(
                codes::PROJECT_FILE_MISSING,
                format!("service `{svc}`: the bind source `{src}` was not read from the project"),
            )
            .with_path(path)
            .with_hint(
                "load the app from its file (bridge reads relative bind sources beside it)",
            )),
        }
    }
}

/// The error for a shipped source over a target's limit; `at` is (service, mount index, source).
pub fn too_large(
    f: &ProjectFile,
    (svc, i, src): (&str, usize, &str),
    what: &str,
    size: u64,
    limit: u64,
    hint: &str,
) -> Diagnostic {
    let mut d = Diagnostic::error(
        codes::PROJECT_FILE_TOO_LARGE,
        format!(
            "service `{svc}`: the bind source `{src}` needs {size} bytes in {what}, over the limit of {limit} bytes"
        ),
    )
    .with_path(format!("services.{svc}.volumes[{i}]"))
    .with_hint(hint.to_string());
    if let Some((file, span)) = &f.at {
        d = d.with_file(file.clone()).with_span(*span);
    }
    d
}

/// Read every relative bind source of `app` from `base_dir`; `loc` places the volume entries.
pub fn read(app: &App, base_dir: &Path, loc: &dyn Locate) -> ProjectFiles {
    let mut out = ProjectFiles::default();
    for (svc, s) in &app.services {
        for (i, m) in s.volumes.iter().enumerate() {
            if !ships(m) {
                continue;
            }
            let src = m.source.clone().unwrap_or_default();
            if out.0.contains_key(&src) {
                continue;
            }
            let mut f = read_one(&base_dir.join(&src));
            f.at = loc.locate(&format!("services.{svc}.volumes[{i}]"));
            out.0.insert(src, f);
        }
    }
    out
}

fn read_one(path: &Path) -> ProjectFile {
    let mut f = ProjectFile::default();
    match std::fs::metadata(path) {
        Err(e) => f.error = Some(format!("{}: {e}", path.display())),
        Ok(md) if md.is_file() => {
            f.size = md.len();
            if md.len() <= READ_CAP {
                match std::fs::read(path) {
                    Ok(bytes) => f.entries.push(FileEntry {
                        rel: String::new(),
                        bytes,
                    }),
                    Err(e) => f.error = Some(format!("{}: {e}", path.display())),
                }
            }
        }
        Ok(md) if md.is_dir() => {
            f.dir = true;
            let mut entries = Vec::new();
            if let Err(e) = walk(path, "", &mut entries, &mut f.size) {
                f.error = Some(e);
            } else if f.size <= READ_CAP {
                entries.sort_by(|a, b| a.rel.cmp(&b.rel));
                f.entries = entries;
            }
        }
        Ok(_) => {
            f.error = Some(format!(
                "{} is neither a file nor a directory",
                path.display()
            ))
        }
    }
    f
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<FileEntry>, size: &mut u64) -> Result<(), String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let md = std::fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if md.is_dir() {
            walk(&p, &rel, out, size)?;
        } else if md.is_file() {
            *size += md.len();
            if *size <= READ_CAP {
                let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                out.push(FileEntry { rel, bytes });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sources_are_told_apart() {
        assert!(is_relative("./a.conf"));
        assert!(is_relative("../x"));
        assert!(is_relative("."));
        assert!(!is_relative("/etc/x"));
        assert!(!is_relative("~/x"));
        assert!(!is_relative(".hidden"));
    }

    #[test]
    fn a_directory_is_expanded_to_its_files_and_a_missing_one_is_an_error() {
        let d = std::env::temp_dir().join(format!("bridge-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("conf/sub")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(d.join("conf/b.conf"), "b").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(d.join("conf/sub/a.conf"), "a").unwrap_or_else(|e| panic!("{e}"));
        let f = read_one(&d.join("conf"));
        assert!(f.dir && f.error.is_none());
        let rels: Vec<&str> = f.entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(rels, ["b.conf", "sub/a.conf"]);
        assert_eq!(f.size, 2);
        assert_eq!(f.entries[1].target_in("/etc/app/"), "/etc/app/sub/a.conf");
        let missing = read_one(&d.join("nope.conf"));
        assert!(
            missing
                .error
                .as_deref()
                .is_some_and(|e| e.contains("nope.conf"))
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
