//! The embedded store: one SQLite database (WAL, `synchronous=FULL`) holding every resource and
//! the revision counter. Only `control` writes through it; every write is one transaction.

mod codec;
pub mod demo_marks;
pub mod records;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, Transaction};

pub use records::load_state;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the store directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("store schema version {found} is newer than this binary understands ({known})")]
    TooNew { found: i64, known: i64 },
    #[error("store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
}

/// The SQLite-backed resource store.
pub struct Store {
    conn: Mutex<Connection>,
    /// A second connection for reads (WAL lets it read the last commit while a write is in
    /// progress or stuck), so a slow or failing write never stalls the API's reads. None for
    /// in-memory stores, which cannot be shared between connections.
    reader: Option<Mutex<Connection>>,
    path: Option<PathBuf>,
}

impl Store {
    /// Open (creating it and its directory if needed) and migrate the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open = || {
            Connection::open(path).map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })
        };
        let mut store = Self::init(open()?, Some(path.to_path_buf()))?;
        let reader = open()?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", "ON")?;
        store.reader = Some(Mutex::new(reader));
        Ok(store)
    }

    /// A private in-memory store, for tests.
    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?, None)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
        // WAL + synchronous=FULL: a transaction that returned is on disk, so an acknowledged
        // write survives kill -9 (and power loss); a failed one leaves nothing behind.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
            reader: None,
            path,
        })
    }

    /// The database file, if not in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock dropped its transaction (rolled back), so the
        // connection is still consistent: take it back rather than failing forever.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` in one transaction that bumps the revision first (so `f` sees and may record the
    /// new revision); commit only if `f` succeeds, otherwise nothing of it remains.
    pub fn write<T, E>(&self, f: impl FnOnce(&Transaction<'_>, u64) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let revision = records::bump_revision(&tx)?;
        let value = f(&tx, revision)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Run read-only queries on a consistent view of the last commit.
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let Some(reader) = &self.reader else {
            return f(&self.lock());
        };
        let mut conn = reader.lock().unwrap_or_else(|e| e.into_inner());
        // One read transaction: every query in `f` sees the same commit.
        let tx = conn.transaction().map_err(StoreError::from)?;
        f(&tx)
    }

    /// The current revision: bumped by every committed change.
    pub fn revision(&self) -> Result<u64, StoreError> {
        self.read(records::revision)
    }
}

#[cfg(test)]
mod tests;
