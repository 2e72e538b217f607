//! The node's local cache of the configuration it serves, written after each applied revision,
//! so that a node starting while its shared store is unreachable can serve what it served
//! before (and only that: without a usable cache it refuses to start).
//!
//! A SQLite file (WAL, `synchronous=FULL`, mode 0600) of one row per record — kind, id, the
//! record as JSON and its SHA-256 — plus the revision and a digest of the whole set (the XOR of
//! every row's hash). Each update is one transaction touching only the rows it changed, so a
//! revision is in the cache whole or not at all, and the cost follows the size of the change.
//! Loading checks every row's hash, the set's digest and the revision, so a damaged, truncated
//! or hand-edited cache is refused instead of served: a flipped `enforced` byte must never turn
//! an enforced domain fail-open.
//!
//! Private keys are kept as the store keeps them: PEM in the clear, protected by file
//! permissions (the store by its own access control), and the cache's directory is created
//! mode 0700.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aws_lc_rs::digest;
use rusqlite::{params, Connection, OptionalExtension};

use crate::model::{Kind, Record, RowChange, State, Update};

/// The cache's format: bumped when the layout changes (an older cache is then ignored).
const FORMAT: i64 = 1;

/// Why the cache cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache {path}: {problem}")]
    Io { path: PathBuf, problem: String },
    #[error("cache {path} is damaged: {problem}")]
    Damaged { path: PathBuf, problem: String },
    /// The update starts after the cached revision: the revisions between are missing.
    #[error("cache at revision {cached} cannot take changes from {from}")]
    Gap { cached: u64, from: u64 },
}

/// What the cache holds, for the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStatus {
    pub path: PathBuf,
    /// The revision cached (None before the first write).
    pub revision: Option<u64>,
    /// When it was last written (Unix milliseconds).
    pub written_ms: Option<i64>,
    /// The last write failure.
    pub error: Option<String>,
}

pub struct Cache {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn row_hash(kind: Kind, id: &str, body: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(kind.as_str().as_bytes());
    ctx.update(&[0]);
    ctx.update(id.as_bytes());
    ctx.update(&[0]);
    ctx.update(body);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn xor(acc: &mut [u8; 32], other: &[u8]) {
    for (a, b) in acc.iter_mut().zip(other) {
        *a ^= b;
    }
}

fn body(record: &Record) -> Result<Vec<u8>, serde_json::Error> {
    match record {
        Record::MutualAuthentication(r) => serde_json::to_vec(r),
        Record::PrivateKey(r) => serde_json::to_vec(r),
        Record::Certificate(r) => serde_json::to_vec(r),
        Record::Configuration(r) => serde_json::to_vec(r),
        Record::Activation(r) => serde_json::to_vec(r),
        Record::RevocationList(r) => serde_json::to_vec(r),
    }
}

fn add_to(state: &mut State, kind: Kind, body: &[u8]) -> Result<(), serde_json::Error> {
    match kind {
        Kind::MutualAuthentication => state
            .mutual_authentications
            .push(serde_json::from_slice(body)?),
        Kind::PrivateKey => state.private_keys.push(serde_json::from_slice(body)?),
        Kind::Certificate => state.certificates.push(serde_json::from_slice(body)?),
        Kind::Configuration => state.configurations.push(serde_json::from_slice(body)?),
        Kind::Activation => state.activations.push(serde_json::from_slice(body)?),
        Kind::RevocationList => state.revocation_lists.push(serde_json::from_slice(body)?),
    }
    Ok(())
}

impl Cache {
    /// Open (creating it, mode 0600 in a 0700 directory) the cache at `path`.
    pub fn open(path: &Path) -> Result<Cache, CacheError> {
        let io = |problem: String| CacheError::Io {
            path: path.to_path_buf(),
            problem,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io(e.to_string()))?;
        }
        create_private(path).map_err(|e| io(e.to_string()))?;
        let conn = Connection::open(path).map_err(|e| io(e.to_string()))?;
        let setup = "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS cache_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS cache_records (
                 kind   TEXT NOT NULL,
                 id     TEXT NOT NULL,
                 body   BLOB NOT NULL,
                 sha256 BLOB NOT NULL,
                 PRIMARY KEY (kind, id)
             ) WITHOUT ROWID;";
        conn.execute_batch(setup).map_err(|e| io(e.to_string()))?;
        Ok(Cache {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn damaged(&self, problem: impl std::fmt::Display) -> CacheError {
        CacheError::Damaged {
            path: self.path.clone(),
            problem: problem.to_string(),
        }
    }

    fn io(&self, e: impl std::fmt::Display) -> CacheError {
        CacheError::Io {
            path: self.path.clone(),
            problem: e.to_string(),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached revision and when it was written, if a whole state was ever written.
    pub fn revision(&self) -> Result<Option<(u64, i64)>, CacheError> {
        let conn = self.conn();
        let meta = |key: &str| -> Result<Option<i64>, CacheError> {
            conn.query_row("SELECT value FROM cache_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.damaged(e))
        };
        if meta("format")? != Some(FORMAT) {
            return Ok(None);
        }
        match (meta("revision")?, meta("written_at")?) {
            (Some(revision), Some(at)) => Ok(Some((
                u64::try_from(revision).map_err(|_| self.damaged("negative revision"))?,
                at,
            ))),
            _ => Ok(None),
        }
    }

    /// The cached state, verified: None when nothing was ever cached (or by an older format),
    /// an error when anything in it does not check out.
    pub fn load(&self) -> Result<Option<State>, CacheError> {
        let Some((revision, _)) = self.revision()? else {
            return Ok(None);
        };
        let conn = self.conn();
        let stored: Vec<u8> = conn
            .query_row(
                "SELECT value FROM cache_meta WHERE key = 'digest'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.damaged(format!("no digest: {e}")))?;
        let mut stmt = conn
            .prepare("SELECT kind, id, body, sha256 FROM cache_records ORDER BY kind, id")
            .map_err(|e| self.damaged(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })
            .map_err(|e| self.damaged(e))?;
        let mut state = State {
            revision,
            ..State::default()
        };
        let mut digest = [0u8; 32];
        for row in rows {
            let (kind, id, body, sha) = row.map_err(|e| self.damaged(e))?;
            let kind = Kind::parse(&kind).ok_or_else(|| self.damaged("unknown record kind"))?;
            let hash = row_hash(kind, &id, &body);
            if hash.as_slice() != sha.as_slice() {
                return Err(self.damaged(format!("{} {id} does not match its hash", kind.as_str())));
            }
            xor(&mut digest, &hash);
            add_to(&mut state, kind, &body)
                .map_err(|e| self.damaged(format!("{} {id}: {e}", kind.as_str())))?;
        }
        if digest.as_slice() != stored.as_slice() {
            return Err(
                self.damaged("the records do not match the cached set (rows missing or added)")
            );
        }
        Ok(Some(state))
    }

    /// Write the updates, in order, in one transaction: afterwards the cache holds the
    /// revision of the last one. A delta must start at or before the cached revision (its rows
    /// are current as of its end, so it also covers whatever the cache has of it).
    pub fn apply(&self, updates: &[Update], now_ms: i64) -> Result<u64, CacheError> {
        let mut cached = self.revision()?.map(|(r, _)| r);
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.io(e))?;
        let mut digest = current_digest(&tx).map_err(|e| self.io(e))?;
        for update in updates {
            match update {
                Update::Full(state) => {
                    tx.execute("DELETE FROM cache_records", [])
                        .map_err(|e| self.io(e))?;
                    digest = [0u8; 32];
                    for record in state.records() {
                        put(&tx, &RowChange::Put(record), &mut digest).map_err(|e| self.io(e))?;
                    }
                }
                Update::Delta(delta) => {
                    let at = cached.ok_or(CacheError::Gap {
                        cached: 0,
                        from: delta.from,
                    })?;
                    if delta.from > at {
                        return Err(CacheError::Gap {
                            cached: at,
                            from: delta.from,
                        });
                    }
                    if delta.to < at {
                        continue;
                    }
                    for row in &delta.rows {
                        put(&tx, row, &mut digest).map_err(|e| self.io(e))?;
                    }
                }
            }
            cached = Some(update.revision());
        }
        let revision = cached.unwrap_or(0);
        let rev = i64::try_from(revision).map_err(|_| self.io("revision out of range"))?;
        for (key, value) in [
            ("format", rusqlite::types::Value::Integer(FORMAT)),
            ("revision", rusqlite::types::Value::Integer(rev)),
            ("written_at", rusqlite::types::Value::Integer(now_ms)),
            ("digest", rusqlite::types::Value::Blob(digest.to_vec())),
        ] {
            tx.execute(
                "INSERT INTO cache_meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(|e| self.io(e))?;
        }
        tx.commit().map_err(|e| self.io(e))?;
        Ok(revision)
    }
}

fn current_digest(conn: &Connection) -> rusqlite::Result<[u8; 32]> {
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM cache_meta WHERE key = 'digest'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let mut digest = [0u8; 32];
    if let Some(stored) = stored {
        xor(&mut digest, &stored);
    }
    Ok(digest)
}

/// Write one row's change, keeping the digest in step.
fn put(conn: &Connection, row: &RowChange, digest: &mut [u8; 32]) -> rusqlite::Result<()> {
    let (kind, id) = match row {
        RowChange::Put(r) => (r.kind(), r.id().to_string()),
        RowChange::Removed(kind, id) => (*kind, id.clone()),
    };
    let old: Option<Vec<u8>> = conn
        .prepare_cached("SELECT sha256 FROM cache_records WHERE kind = ?1 AND id = ?2")?
        .query_row(params![kind.as_str(), id], |r| r.get(0))
        .optional()?;
    if let Some(old) = old {
        xor(digest, &old);
    }
    match row {
        RowChange::Put(record) => {
            let body =
                body(record).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let hash = row_hash(kind, &id, &body);
            conn.prepare_cached(
                "INSERT INTO cache_records (kind, id, body, sha256) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body, sha256 = excluded.sha256",
            )?
            .execute(params![kind.as_str(), id, body, hash.as_slice()])?;
            xor(digest, &hash);
        }
        RowChange::Removed(..) => {
            conn.prepare_cached("DELETE FROM cache_records WHERE kind = ?1 AND id = ?2")?
                .execute(params![kind.as_str(), id])?;
        }
    }
    Ok(())
}

/// Create the file readable by its owner only (it holds private keys in the clear).
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
