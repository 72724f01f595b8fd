//! The local state store (embedded SQLite, `.bridge/state.db` by default): deployment history
//! (plan, result, times, who), a cache of resource handles, and one lock per app so two deploys
//! never interleave. The truth is the provider's labels; this is history, lock and cache. Secret
//! values are never given to it: plans hold secret sources (`env`/`file` names), never values.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A state store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The database could not be opened, read or written.
    #[error("state database {path}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The directory for the database could not be made.
    #[error("cannot create {path}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the app's lock.
    #[error(
        "app `{app}` is locked by {holder} (pid {pid} on {host}, since {since}); wait for it to finish, or if it is gone run again with --force-unlock"
    )]
    Locked {
        /// The app.
        app: String,
        /// Who holds it (`user@host: command`).
        holder: String,
        /// Its process id.
        pid: u32,
        /// Its host.
        host: String,
        /// When it was taken, seconds since the epoch.
        since: i64,
    },
}

/// Who is acting: user, host and process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The user name.
    pub user: String,
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// What it is doing (`deploy`, `reconcile`, ...).
    pub command: String,
}

impl Actor {
    /// This process, doing `command`.
    pub fn current(command: &str) -> Self {
        Actor {
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            host: hostname(),
            pid: std::process::id(),
            command: command.into(),
        }
    }
}

/// The host name of this machine.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// True when a process with this id runs on this host (Linux: /proc). Elsewhere assume alive.
pub fn pid_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    // A zombie (killed, not yet reaped) holds no lock.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z"),
        Err(_) => false,
    }
}

/// A held app lock; released by [`Store::unlock`] (and by drop when the process dies: a stale
/// lock of a dead process on this host is taken over).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    /// The app.
    pub app: String,
    /// Who holds it.
    pub actor: Actor,
    /// Since when, seconds since the epoch.
    pub since: i64,
}

/// One deployment in the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    /// Its number.
    pub id: i64,
    /// The app.
    pub app: String,
    /// The provider.
    pub provider: String,
    /// The command (`deploy`, `reconcile`, `destroy`).
    pub command: String,
    /// Who ran it (`user@host`).
    pub who: String,
    /// Started, seconds since the epoch.
    pub started: i64,
    /// Finished, seconds since the epoch, if it did.
    pub finished: Option<i64>,
    /// `running`, `ok`, `failed` (or `interrupted`, found later).
    pub result: String,
    /// The plan, as JSON.
    pub plan: serde_json::Value,
    /// The error, when it failed.
    pub error: Option<String>,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// Open (or create) the store at `path`, making its directory.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let db = |source| StateError::Db {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS deployments (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               app TEXT NOT NULL, provider TEXT NOT NULL, command TEXT NOT NULL,
               who TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
               started INTEGER NOT NULL, finished INTEGER,
               result TEXT NOT NULL, plan TEXT NOT NULL, error TEXT);
             CREATE TABLE IF NOT EXISTS handles (
               app TEXT NOT NULL, provider TEXT NOT NULL, resource TEXT NOT NULL,
               handle TEXT NOT NULL, spec_hash TEXT, updated INTEGER NOT NULL,
               PRIMARY KEY (app, provider, resource));
             CREATE TABLE IF NOT EXISTS locks (
               app TEXT PRIMARY KEY, user TEXT NOT NULL, host TEXT NOT NULL,
               pid INTEGER NOT NULL, command TEXT NOT NULL, since INTEGER NOT NULL);",
        )
        .map_err(db)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> StateError + '_ {
        |source| StateError::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Take the app's lock. Fails fast with [`StateError::Locked`] naming the holder, unless the
    /// holder is a dead process on this host (a stale lock, taken over) or `force` is set.
    /// Returns the stale lock that was broken, if any.
    pub fn lock(
        &mut self,
        app: &str,
        actor: &Actor,
        force: bool,
    ) -> Result<Option<LockInfo>, StateError> {
        let db = |source| StateError::Db {
            path: self.path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let held: Option<LockInfo> = tx
            .query_row(
                "SELECT user, host, pid, command, since FROM locks WHERE app = ?1",
                params![app],
                |r| {
                    Ok(LockInfo {
                        app: app.to_string(),
                        actor: Actor {
                            user: r.get(0)?,
                            host: r.get(1)?,
                            pid: r.get(2)?,
                            command: r.get(3)?,
                        },
                        since: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(db)?;
        let mut broken = None;
        if let Some(h) = held {
            let mine = h.actor.pid == actor.pid && h.actor.host == actor.host;
            let stale = h.actor.host == actor.host && !pid_alive(h.actor.pid);
            if !(mine || stale || force) {
                return Err(StateError::Locked {
                    app: app.to_string(),
                    holder: format!("{}@{}: {}", h.actor.user, h.actor.host, h.actor.command),
                    pid: h.actor.pid,
                    host: h.actor.host,
                    since: h.since,
                });
            }
            if !mine {
                broken = Some(h);
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO locks (app, user, host, pid, command, since)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![app, actor.user, actor.host, actor.pid, actor.command, now()],
        )
        .map_err(db)?;
        // Deployments left `running` by a dead holder were interrupted.
        if let Some(b) = &broken {
            tx.execute(
                "UPDATE deployments SET result = 'interrupted' WHERE app = ?1 AND pid = ?2
                 AND host = ?3 AND result = 'running'",
                params![app, b.actor.pid, b.actor.host],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(broken)
    }

    /// Release the app's lock if this actor holds it.
    pub fn unlock(&self, app: &str, actor: &Actor) -> Result<(), StateError> {
        self.conn
            .execute(
                "DELETE FROM locks WHERE app = ?1 AND pid = ?2 AND host = ?3",
                params![app, actor.pid, actor.host],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The app's lock, if held.
    pub fn lock_holder(&self, app: &str) -> Result<Option<LockInfo>, StateError> {
        self.conn
            .query_row(
                "SELECT user, host, pid, command, since FROM locks WHERE app = ?1",
                params![app],
                |r| {
                    Ok(LockInfo {
                        app: app.to_string(),
                        actor: Actor {
                            user: r.get(0)?,
                            host: r.get(1)?,
                            pid: r.get(2)?,
                            command: r.get(3)?,
                        },
                        since: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())
    }

    /// Record the start of a deployment; returns its id.
    pub fn begin(
        &self,
        app: &str,
        provider: &str,
        actor: &Actor,
        plan: &serde_json::Value,
    ) -> Result<i64, StateError> {
        self.conn
            .execute(
                "INSERT INTO deployments (app, provider, command, who, pid, host, started, result, plan)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8)",
                params![
                    app,
                    provider,
                    actor.command,
                    format!("{}@{}", actor.user, actor.host),
                    actor.pid,
                    actor.host,
                    now(),
                    plan.to_string()
                ],
            )
            .map_err(self.db())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Record how a deployment ended.
    pub fn finish(&self, id: i64, ok: bool, error: Option<&str>) -> Result<(), StateError> {
        self.conn
            .execute(
                "UPDATE deployments SET finished = ?2, result = ?3, error = ?4 WHERE id = ?1",
                params![id, now(), if ok { "ok" } else { "failed" }, error],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The app's deployments, newest first.
    pub fn history(&self, app: &str, limit: usize) -> Result<Vec<Deployment>, StateError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, app, provider, command, who, started, finished, result, plan, error
                 FROM deployments WHERE app = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(self.db())?;
        let rows = st
            .query_map(
                params![app, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    let plan: String = r.get(8)?;
                    Ok(Deployment {
                        id: r.get(0)?,
                        app: r.get(1)?,
                        provider: r.get(2)?,
                        command: r.get(3)?,
                        who: r.get(4)?,
                        started: r.get(5)?,
                        finished: r.get(6)?,
                        result: r.get(7)?,
                        plan: serde_json::from_str(&plan).unwrap_or(serde_json::Value::Null),
                        error: r.get(9)?,
                    })
                },
            )
            .map_err(self.db())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db())
    }

    /// Replace the cached handles of the app on a provider: `(resource, handle, spec hash)`.
    pub fn save_handles(
        &mut self,
        app: &str,
        provider: &str,
        handles: &[(String, String, Option<String>)],
    ) -> Result<(), StateError> {
        let db = |source| StateError::Db {
            path: self.path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(db)?;
        tx.execute(
            "DELETE FROM handles WHERE app = ?1 AND provider = ?2",
            params![app, provider],
        )
        .map_err(db)?;
        for (res, handle, hash) in handles {
            tx.execute(
                "INSERT OR REPLACE INTO handles (app, provider, resource, handle, spec_hash, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![app, provider, res, handle, hash, now()],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(())
    }

    /// The cached handles of the app on a provider: `(resource, handle, spec hash)`.
    pub fn handles(
        &self,
        app: &str,
        provider: &str,
    ) -> Result<Vec<(String, String, Option<String>)>, StateError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT resource, handle, spec_hash FROM handles WHERE app = ?1 AND provider = ?2
                 ORDER BY resource",
            )
            .map_err(self.db())?;
        let rows = st
            .query_map(params![app, provider], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(self.db())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bridge-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d.join(".bridge/state.db")
    }

    fn other(pid: u32) -> Actor {
        Actor {
            user: "alice".into(),
            host: hostname(),
            pid,
            command: "deploy".into(),
        }
    }

    #[test]
    fn a_live_holder_blocks_and_is_named() {
        let p = tmp("live");
        let mut s = Store::open(&p).unwrap_or_else(|e| panic!("{e}"));
        // pid 1 is alive on every Linux host.
        s.lock("shop", &other(1), false)
            .unwrap_or_else(|e| panic!("{e}"));
        let me = Actor::current("deploy");
        let err = s
            .lock("shop", &me, false)
            .err()
            .unwrap_or_else(|| panic!("expected an error"))
            .to_string();
        assert!(err.contains("alice@"), "{err}");
        assert!(err.contains("pid 1 "), "{err}");
        assert!(err.contains("--force-unlock"), "{err}");
        // Forced, it is taken over.
        let broken = s.lock("shop", &me, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(broken.map(|b| b.actor.pid), Some(1));
        s.unlock("shop", &me).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.lock_holder("shop")
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
    }

    #[test]
    fn a_dead_holder_on_this_host_is_stale() {
        let p = tmp("stale");
        let mut s = Store::open(&p).unwrap_or_else(|e| panic!("{e}"));
        let dead = other(u32::MAX - 7);
        s.lock("shop", &dead, false)
            .unwrap_or_else(|e| panic!("{e}"));
        let id = s
            .begin("shop", "swarm", &dead, &serde_json::json!({}))
            .unwrap_or_else(|e| panic!("{e}"));
        let me = Actor::current("deploy");
        let broken = s.lock("shop", &me, false).unwrap_or_else(|e| panic!("{e}"));
        assert!(broken.is_some());
        let h = s.history("shop", 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h[0].id, id);
        assert_eq!(h[0].result, "interrupted");
    }

    #[test]
    fn history_and_handles_round_trip() {
        let p = tmp("hist");
        let mut s = Store::open(&p).unwrap_or_else(|e| panic!("{e}"));
        let me = Actor::current("deploy");
        let id = s
            .begin("shop", "swarm", &me, &serde_json::json!({"steps": []}))
            .unwrap_or_else(|e| panic!("{e}"));
        s.finish(id, true, None).unwrap_or_else(|e| panic!("{e}"));
        let h = s.history("shop", 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].result, "ok");
        assert!(h[0].finished.is_some());
        s.save_handles(
            "shop",
            "swarm",
            &[("service/web".into(), "abc".into(), Some("h".into()))],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.handles("shop", "swarm")
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            1
        );
    }
}
