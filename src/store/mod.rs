//! The resource store: one trait, [`Store`], that every backend implements with the same
//! semantics — typed record reads and writes inside one transaction per change, a revision
//! counter bumped by every commit, and a change log that answers "what changed since revision
//! R" — so that control's validation runs unchanged against any backend. SQLite
//! ([`sqlite::SqliteStore`]) is the embedded one; PostgreSQL ([`postgres::PgStore`]) is the
//! one a fleet of nodes shares. Beside the resources every backend keeps the fleet's
//! bookkeeping ([`fleet`]: heartbeats, session-ticket keys). Every backend must pass the
//! conformance suite in `tests/store/conformance.rs`.
//!
//! Transactions are synchronous: control runs on blocking threads (the admin API calls it
//! through `spawn_blocking`), so a backend with an async client drives it per call from there.

pub mod demo_marks;
pub mod fleet;
pub mod postgres;
pub mod query;
pub mod sqlite;

pub use demo_marks::DemoKind;
pub use fleet::{Fleet, NodeBeat, Nodes, TicketKey, TicketSecret};
pub use postgres::PgStore;
pub use query::{
    ActivationQuery, CertificateQuery, CertificateSort, Counts, DomainQuery, DomainSort, NotAfter,
    Page, RevocationListQuery, Uses, Window,
};
pub use sqlite::SqliteStore;

use crate::model::{
    Activation, Certificate, Configuration, Kind, MutualAuthentication, PrivateKey, Record,
    RevocationList, State, Update,
};

/// How many revisions the change log keeps: a reader further behind than this gets the whole
/// state instead of a delta.
pub const CHANGE_LOG_REVISIONS: u64 = 10_000;

/// Why the store could not do what was asked. Backend errors are carried as text-bearing
/// sources so that no backend's types leak into the trait.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the store directory {path}: {source}")]
    CreateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {what}: {source}")]
    Open {
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("store schema version {found} is newer than this binary understands ({known})")]
    TooNew { found: i64, known: i64 },
    #[error("store error: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
    #[error("the store refused the write: {0}")]
    Constraint(String),
    /// The store cannot be reached now (down, unreachable, timed out). Nothing of the
    /// operation was done, unless the text says the outcome of a commit is unknown.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the store could not be reached (as opposed to refusing or failing the work).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// A resource store.
pub trait Store: Fleet + Send + Sync {
    /// Start the one write transaction of a change. The revision is bumped first, so the
    /// transaction knows the revision it will commit as; writers are serialised, so revisions
    /// commit in order. Dropping the transaction without [`WriteTx::commit`] rolls it back.
    fn begin(&self) -> Result<Box<dyn WriteTx + '_>, StoreError>;

    /// A consistent read-only view of the last commit.
    fn read(&self) -> Result<Box<dyn Reads + '_>, StoreError>;

    /// The current revision.
    fn revision(&self) -> Result<u64, StoreError> {
        self.read()?.revision()
    }

    /// The backend and where it is, for logs and the status page: never a password.
    fn describe(&self) -> String;

    /// Mark the resource `id` of `kind` as created by the built-in demo. Marks are metadata
    /// about resources, not resources: writing one bumps no revision and logs no change.
    fn mark_demo(&self, kind: DemoKind, id: &str) -> Result<(), StoreError>;

    /// Ticks whenever another writer may have committed (a PostgreSQL notification, or a
    /// reconnection after which notifications may have been missed); None when the backend
    /// cannot tell, and readers poll.
    fn notifications(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// Reads, on one consistent view (a read transaction, or the write transaction in progress,
/// which sees its own writes).
pub trait Reads {
    /// The revision of this view.
    fn revision(&self) -> Result<u64, StoreError>;
    /// Every resource (O(n): start-up, reload and catching up past the change log).
    fn load_state(&self) -> Result<State, StoreError>;
    /// What changed after `revision`, as of this view: a delta of the rows changed since, or
    /// the whole state when the change log no longer reaches back that far (or `revision` is
    /// ahead of the store).
    fn changes_since(&self, revision: u64) -> Result<Update, StoreError>;
    /// How many resources of each kind exist.
    fn counts(&self) -> Result<Counts, StoreError>;
    /// The resources marked as the demo's that still exist, as (kind, id), sorted.
    fn demo_resources(&self) -> Result<Vec<(String, String)>, StoreError>;

    fn mutual_authentication(&self, id: &str) -> Result<Option<MutualAuthentication>, StoreError>;
    fn private_key(&self, id: &str) -> Result<Option<PrivateKey>, StoreError>;
    /// The key with this public-key SHA-1 (unique), if uploaded.
    fn private_key_by_public_key(&self, sha1: &str) -> Result<Option<PrivateKey>, StoreError>;
    fn certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError>;
    /// How many certificates have the key with this public-key SHA-1.
    fn count_certificates_with_key(&self, sha1: &str) -> Result<u64, StoreError>;
    /// The certificates whose SAN DNS names list `domain` exactly, oldest first.
    fn certificates_naming(&self, domain: &str) -> Result<Vec<Certificate>, StoreError>;
    fn configuration(&self, id: &str) -> Result<Option<Configuration>, StoreError>;
    /// The configuration activations use when they name none.
    fn default_configuration(&self) -> Result<Configuration, StoreError>;
    fn activation(&self, id: &str) -> Result<Option<Activation>, StoreError>;
    /// The activation of a canonical domain.
    fn activation_by_domain(&self, domain: &str) -> Result<Option<Activation>, StoreError>;
    /// The activations using a resource, oldest first: O(k) for k of them.
    fn activations_using(&self, used: Uses<'_>) -> Result<Vec<Activation>, StoreError>;
    /// How many activations use a resource.
    fn count_activations_using(&self, used: Uses<'_>) -> Result<u64, StoreError>;
    fn revocation_list(&self, id: &str) -> Result<Option<RevocationList>, StoreError>;
    /// The revocation lists of a mutual authentication, oldest first: O(lists of it).
    fn revocation_lists_of(
        &self,
        mutual_authentication_id: &str,
    ) -> Result<Vec<RevocationList>, StoreError>;

    /// One page of mutual authentications, oldest first.
    fn list_mutual_authentications(
        &self,
        window: Window,
    ) -> Result<Page<MutualAuthentication>, StoreError>;
    /// One page of private keys, oldest first; `in_use` filters on a certificate using it.
    fn list_private_keys(
        &self,
        in_use: Option<bool>,
        window: Window,
    ) -> Result<Page<PrivateKey>, StoreError>;
    /// One page of certificates.
    fn list_certificates(
        &self,
        query: &CertificateQuery,
        window: Window,
    ) -> Result<Page<Certificate>, StoreError>;
    /// One page of configurations, the default first, then oldest first.
    fn list_configurations(&self, window: Window) -> Result<Page<Configuration>, StoreError>;
    /// One page of activations, oldest first.
    fn list_activations(
        &self,
        query: &ActivationQuery,
        window: Window,
    ) -> Result<Page<Activation>, StoreError>;
    /// One page of domain names: every certificate SAN and activated domain.
    fn list_domains(&self, query: &DomainQuery, window: Window)
        -> Result<Page<String>, StoreError>;
    /// One page of revocation lists, oldest first.
    fn list_revocation_lists(
        &self,
        query: &RevocationListQuery,
        window: Window,
    ) -> Result<Page<RevocationList>, StoreError>;
}

/// The write transaction of one change: reads see its own writes; every write is recorded in
/// the change log under [`WriteTx::revision_written`].
pub trait WriteTx: Reads {
    /// The revision this transaction commits as.
    fn revision_written(&self) -> u64;
    /// Insert a record, or replace every mutable column of the existing one with its id (a
    /// revocation list's mutual authentication never changes). A violated uniqueness (domain,
    /// public key), or a revocation list naming a mutual authentication that does not exist, is
    /// [`StoreError::Constraint`].
    fn put(&mut self, record: &Record) -> Result<(), StoreError>;
    /// Delete a record; returns whether it existed. Deleting a mutual authentication that
    /// revocation lists still name is [`StoreError::Constraint`]: nothing goes without its own
    /// entry in the change log (control deletes the lists first).
    fn delete(&mut self, kind: Kind, id: &str) -> Result<bool, StoreError>;
    /// Make the transaction durable. On error nothing of it remains.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}
