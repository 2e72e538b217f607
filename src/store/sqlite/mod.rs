//! The embedded store: one SQLite database (WAL, `synchronous=FULL`). One writer connection
//! (writes are serialised by its lock and `BEGIN IMMEDIATE`) and one reader connection, so a
//! slow or stuck write never stalls reads: WAL lets the reader see the last commit meanwhile.

mod changes;
mod checkpoint;
mod codec;
mod demo_marks;
mod fleet;
mod lists;
mod records;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode};

use super::fleet::{Fleet, NodeBeat, Nodes, TicketKey};
use super::query::{
    ActivationQuery, CertificateQuery, Counts, DomainQuery, Page, RevocationListQuery, Uses, Window,
};
use super::{DemoKind, Reads, Store, StoreError, WriteTx};
use crate::model::{
    Activation, Certificate, Configuration, Kind, MutualAuthentication, PrivateKey, Record,
    RevocationList, State, Update,
};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation) => StoreError::Constraint(e.to_string()),
            _ => StoreError::Backend(Box::new(e)),
        }
    }
}

/// The SQLite-backed store.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    /// None for in-memory stores, which cannot be shared between connections: reads then take
    /// the writer connection.
    reader: Option<Mutex<Connection>>,
    path: Option<PathBuf>,
    /// Checkpoints the WAL of a file store off the write path. Declared last: dropped after the
    /// connections, so its final checkpoint sees every commit.
    _checkpointer: Option<checkpoint::Checkpointer>,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock dropped its transaction (rolled back on drop), so the
    // connection is still consistent: take it back rather than failing forever.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SqliteStore {
    /// Open (creating it and its directory if needed) and migrate the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        create_private(path).map_err(|source| StoreError::Open {
            what: path.display().to_string(),
            source: Box::new(source),
        })?;
        let open = || {
            Connection::open(path).map_err(|source| StoreError::Open {
                what: path.display().to_string(),
                source: Box::new(source),
            })
        };
        let mut store = Self::init(open()?, Some(path.to_path_buf()))?;
        let reader = open()?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", "ON")?;
        store.reader = Some(Mutex::new(reader));
        // The writer never checkpoints inside a commit; the checkpoint thread does.
        lock(&store.writer).pragma_update(None, "wal_autocheckpoint", 0)?;
        store._checkpointer = Some(checkpoint::Checkpointer::start(path.to_path_buf()).map_err(
            |e| StoreError::Open {
                what: format!("{} (checkpoint thread)", path.display()),
                source: Box::new(e),
            },
        )?);
        Ok(store)
    }

    /// A private in-memory store, for tests.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory()?, None)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<SqliteStore, StoreError> {
        // WAL + synchronous=FULL: a transaction that returned is on disk, so an acknowledged
        // write survives kill -9 (and power loss); a failed one leaves nothing behind.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            writer: Mutex::new(conn),
            reader: None,
            path,
            _checkpointer: None,
        })
    }

    /// The database file, if not in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The reader connection (the writer's for in-memory stores).
    fn reader(&self) -> MutexGuard<'_, Connection> {
        match &self.reader {
            Some(reader) => lock(reader),
            None => lock(&self.writer),
        }
    }
}

/// Create the database file readable by its owner only, when it does not exist yet: it holds
/// private keys and ticket keys in the clear (SQLite creates its `-wal` and `-shm` files with
/// the database file's permissions). An existing file keeps the permissions it was given.
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

impl Fleet for SqliteStore {
    fn heartbeat(&self, beat: &NodeBeat) -> Result<(), StoreError> {
        fleet::heartbeat(&lock(&self.writer), beat)
    }

    fn nodes(&self) -> Result<Nodes, StoreError> {
        fleet::nodes(&self.reader())
    }

    fn ticket_keys(&self) -> Result<Vec<TicketKey>, StoreError> {
        fleet::ticket_keys(&self.reader())
    }

    fn add_ticket_key(&self, key: &TicketKey) -> Result<bool, StoreError> {
        fleet::add_ticket_key(&lock(&self.writer), key)
    }
}

impl Store for SqliteStore {
    fn begin(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        let conn = lock(&self.writer);
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut tx = SqliteWrite {
            conn,
            revision: 0,
            open: true,
        };
        // Dropped on error: rolled back.
        tx.revision = records::bump_revision(&tx.conn)?;
        changes::prune(&tx.conn, tx.revision)?;
        Ok(Box::new(tx))
    }

    fn describe(&self) -> String {
        match &self.path {
            Some(path) => format!("SQLite {}", path.display()),
            None => "SQLite in memory".to_string(),
        }
    }

    fn read(&self) -> Result<Box<dyn Reads + '_>, StoreError> {
        let conn = self.reader();
        // One read transaction: every query on this view sees the same commit.
        conn.execute_batch("BEGIN")?;
        Ok(Box::new(SqliteRead { conn }))
    }

    fn mark_demo(&self, kind: DemoKind, id: &str) -> Result<(), StoreError> {
        demo_marks::mark(&lock(&self.writer), kind, id)
    }
}

/// A read transaction, ended when dropped.
struct SqliteRead<'a> {
    conn: MutexGuard<'a, Connection>,
}

impl Drop for SqliteRead<'_> {
    fn drop(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

/// The write transaction; rolled back when dropped uncommitted.
struct SqliteWrite<'a> {
    conn: MutexGuard<'a, Connection>,
    revision: u64,
    open: bool,
}

impl Drop for SqliteWrite<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl WriteTx for SqliteWrite<'_> {
    fn revision_written(&self) -> u64 {
        self.revision
    }

    fn put(&mut self, record: &Record) -> Result<(), StoreError> {
        let c = &*self.conn;
        match record {
            Record::MutualAuthentication(r) => records::mutual_authentications::put(c, r)?,
            Record::PrivateKey(r) => records::private_keys::put(c, r)?,
            Record::Certificate(r) => records::certificates::put(c, r)?,
            Record::Configuration(r) => records::configurations::put(c, r)?,
            Record::Activation(r) => records::activations::put(c, r)?,
            Record::RevocationList(r) => records::revocation_lists::put(c, r)?,
        }
        changes::record(c, self.revision, record.kind(), record.id())
    }

    fn delete(&mut self, kind: Kind, id: &str) -> Result<bool, StoreError> {
        let existed = records::delete(&self.conn, kind, id)?;
        if existed {
            changes::record(&self.conn, self.revision, kind, id)?;
        }
        Ok(existed)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

/// A connection with a transaction open on it.
trait InTransaction {
    fn conn(&self) -> &Connection;
}

impl InTransaction for SqliteRead<'_> {
    fn conn(&self) -> &Connection {
        &self.conn
    }
}

impl InTransaction for SqliteWrite<'_> {
    fn conn(&self) -> &Connection {
        &self.conn
    }
}

impl<T: InTransaction> Reads for T {
    fn revision(&self) -> Result<u64, StoreError> {
        records::revision(self.conn())
    }

    fn load_state(&self) -> Result<State, StoreError> {
        records::load_state(self.conn())
    }

    fn changes_since(&self, revision: u64) -> Result<Update, StoreError> {
        changes::since(self.conn(), revision)
    }

    fn counts(&self) -> Result<Counts, StoreError> {
        records::counts(self.conn())
    }

    fn demo_resources(&self) -> Result<Vec<(String, String)>, StoreError> {
        demo_marks::present(self.conn())
    }

    fn mutual_authentication(&self, id: &str) -> Result<Option<MutualAuthentication>, StoreError> {
        records::mutual_authentications::get(self.conn(), id)
    }

    fn private_key(&self, id: &str) -> Result<Option<PrivateKey>, StoreError> {
        records::private_keys::get(self.conn(), id)
    }

    fn private_key_by_public_key(&self, sha1: &str) -> Result<Option<PrivateKey>, StoreError> {
        records::private_keys::by_public_key(self.conn(), sha1)
    }

    fn certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError> {
        records::certificates::get(self.conn(), id)
    }

    fn count_certificates_with_key(&self, sha1: &str) -> Result<u64, StoreError> {
        records::certificates::count_with_key(self.conn(), sha1)
    }

    fn certificates_naming(&self, domain: &str) -> Result<Vec<Certificate>, StoreError> {
        records::certificates::naming(self.conn(), domain)
    }

    fn configuration(&self, id: &str) -> Result<Option<Configuration>, StoreError> {
        records::configurations::get(self.conn(), id)
    }

    fn default_configuration(&self) -> Result<Configuration, StoreError> {
        records::configurations::default(self.conn())
    }

    fn activation(&self, id: &str) -> Result<Option<Activation>, StoreError> {
        records::activations::get(self.conn(), id)
    }

    fn activation_by_domain(&self, domain: &str) -> Result<Option<Activation>, StoreError> {
        records::activations::by_domain(self.conn(), domain)
    }

    fn activations_using(&self, used: Uses<'_>) -> Result<Vec<Activation>, StoreError> {
        records::activations::using(self.conn(), used)
    }

    fn count_activations_using(&self, used: Uses<'_>) -> Result<u64, StoreError> {
        records::activations::count_using(self.conn(), used)
    }

    fn revocation_list(&self, id: &str) -> Result<Option<RevocationList>, StoreError> {
        records::revocation_lists::get(self.conn(), id)
    }

    fn revocation_lists_of(
        &self,
        mutual_authentication_id: &str,
    ) -> Result<Vec<RevocationList>, StoreError> {
        records::revocation_lists::of_mutual_authentication(self.conn(), mutual_authentication_id)
    }

    fn list_mutual_authentications(
        &self,
        window: Window,
    ) -> Result<Page<MutualAuthentication>, StoreError> {
        lists::mutual_authentications(self.conn(), window)
    }

    fn list_private_keys(
        &self,
        in_use: Option<bool>,
        window: Window,
    ) -> Result<Page<PrivateKey>, StoreError> {
        lists::private_keys(self.conn(), in_use, window)
    }

    fn list_certificates(
        &self,
        query: &CertificateQuery,
        window: Window,
    ) -> Result<Page<Certificate>, StoreError> {
        lists::certificates(self.conn(), query, window)
    }

    fn list_configurations(&self, window: Window) -> Result<Page<Configuration>, StoreError> {
        lists::configurations(self.conn(), window)
    }

    fn list_activations(
        &self,
        query: &ActivationQuery,
        window: Window,
    ) -> Result<Page<Activation>, StoreError> {
        lists::activations(self.conn(), query, window)
    }

    fn list_domains(
        &self,
        query: &DomainQuery,
        window: Window,
    ) -> Result<Page<String>, StoreError> {
        lists::domains(self.conn(), query, window)
    }

    fn list_revocation_lists(
        &self,
        query: &RevocationListQuery,
        window: Window,
    ) -> Result<Page<RevocationList>, StoreError> {
        lists::revocation_lists(self.conn(), query, window)
    }
}

#[cfg(test)]
mod tests;
