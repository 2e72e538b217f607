//! The shared store: PostgreSQL, which every node of a fleet reads and writes. The same
//! semantics as SQLite (the conformance suite holds both to them): one write transaction per
//! change, writers from every node serialised on the revision row (so revisions commit in order
//! and each change validates against every commit before it), and a change log readers catch
//! up from. Every commit also notifies the other nodes ([`listen`]).
//!
//! Client: tokio-postgres with a deadpool-postgres pool. tokio-postgres runs on the tokio we
//! already use, lets us drive the listening connection ourselves to receive notifications, and
//! takes plain SQL like the SQLite backend does; deadpool is a small pool with bounded waits
//! and a per-connection statement cache. sqlx would bring its own runtime abstraction, macros and
//! migration machinery, and a much larger dependency tree, for nothing we need.
//!
//! The connection is made lazily: opening succeeds while the server is down (a node then serves
//! its local cache), and migrations run on the first successful contact. TLS: the connection
//! uses rustls (aws-lc-rs), verifying the server against `[store] ca_file` or the system roots,
//! whenever the URL's `sslmode` is not `disable` (`prefer`, the default, uses TLS when the server
//! offers it; `require` refuses to go on without).

mod bridge;
mod changes;
mod error;
mod fleet;
mod listen;
mod lists;
mod records;
pub mod schema;
pub mod session;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use tokio::sync::watch;
use tokio_postgres_rustls::MakeRustlsConnect;

use self::bridge::Bridge;
use self::session::{params, Begin, Session};
use super::demo_marks::DemoKind;
use super::fleet::{Fleet, NodeBeat, Nodes, TicketKey};
use super::query::{
    ActivationQuery, CertificateQuery, Counts, DomainQuery, Page, RevocationListQuery, Uses, Window,
};
use super::{Reads, Store, StoreError, WriteTx};
use crate::model::{
    Activation, Certificate, Configuration, Kind, MutualAuthentication, PrivateKey, Record,
    RevocationList, State, Update,
};

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user[:password]@host[:port]/database[?sslmode=…]`, or libpq key=value form.
    pub url: String,
    /// Pooled connections (the listener has its own).
    pub pool_size: usize,
    /// Bound on connecting and on each operation: past it the store counts as unavailable.
    pub timeout: Duration,
    /// PEM CAs that verify the server's TLS certificate instead of the system roots.
    pub ca_file: Option<PathBuf>,
}

/// The PostgreSQL-backed store.
pub struct PgStore {
    pool: Pool,
    bridge: Arc<Bridge>,
    described: String,
    migrated: AtomicBool,
    /// Serialises the first migration among this node's callers.
    migrating: Mutex<()>,
    notifications: watch::Receiver<u64>,
}

fn open_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Open {
        what: what.to_string(),
        source: Box::new(e),
    }
}

impl PgStore {
    /// Set up the pool and the notification listener. Nothing is contacted yet, so this works
    /// with the server down; it fails only on an invalid URL or CA file.
    pub fn open(options: &PgOptions) -> Result<PgStore, StoreError> {
        // The parse error never echoes the URL, which may hold a password.
        let mut config = tokio_postgres::Config::from_str(&options.url)
            .map_err(|e| open_error("store.url (PostgreSQL)", e))?;
        config
            .application_name("mtls-proxy")
            .connect_timeout(options.timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3);
        let tls = MakeRustlsConnect::new(tls_config(options.ca_file.as_deref())?);
        let bridge = Arc::new(Bridge::new(options.timeout)?);
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeouts = Timeouts {
            wait: Some(options.timeout),
            create: Some(options.timeout),
            recycle: Some(options.timeout),
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .timeouts(timeouts)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| open_error("the PostgreSQL connection pool", e))?;
        let (ticks, notifications) = watch::channel(0);
        bridge.spawn(listen::run(config.clone(), tls, options.timeout, ticks));
        Ok(PgStore {
            pool,
            bridge,
            described: describe(&config),
            migrated: AtomicBool::new(false),
            migrating: Mutex::new(()),
            notifications,
        })
    }

    /// Reach the server and bring its schema up to date now (at start-up): Unavailable when it
    /// cannot be reached, TooNew when a newer binary migrated it.
    pub fn connect(&self) -> Result<(), StoreError> {
        self.ensure_migrated()
    }

    fn ensure_migrated(&self) -> Result<(), StoreError> {
        if self.migrated.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one = self.migrating.lock().unwrap_or_else(|e| e.into_inner());
        if !self.migrated.load(Ordering::Acquire) {
            schema::migrate(self)?;
            self.migrated.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// A pooled connection, before migrations (schema work itself).
    fn raw_session(&self, begin: Begin) -> Result<Session, StoreError> {
        Session::open(&self.pool, &self.bridge, begin)
    }

    /// A pooled connection on the migrated schema.
    fn session(&self, begin: Begin) -> Result<Session, StoreError> {
        self.ensure_migrated()?;
        self.raw_session(begin)
    }
}

/// `PostgreSQL user@host:port/database`: never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, port)| match h {
            Host::Tcp(name) => format!("{name}:{port}"),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "PostgreSQL {}@{}/{}",
        config.get_user().unwrap_or("?"),
        hosts.join(","),
        config.get_dbname().unwrap_or("?")
    )
}

/// rustls for the connection to the server: the given CAs, else the system roots.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, StoreError> {
    // Unloadable system roots leave the store empty: TLS then fails with an error naming the
    // certificate, and `sslmode=disable` or `store.ca_file` is the way out.
    let roots = crate::tls_roots::load(ca_file, "the PostgreSQL store (store.ca_file)")
        .map_err(|e| open_error("store.ca_file", std::io::Error::other(e.to_string())))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| open_error("TLS to PostgreSQL", e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Store for PgStore {
    fn begin(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        let session = self.session(Begin::Write)?;
        // Dropped on error: rolled back.
        let revision = records::bump_revision(&session)?;
        changes::prune(&session, revision)?;
        Ok(Box::new(PgWrite { session, revision }))
    }

    fn read(&self) -> Result<Box<dyn Reads + '_>, StoreError> {
        Ok(Box::new(PgRead {
            session: self.session(Begin::ReadView)?,
        }))
    }

    fn describe(&self) -> String {
        self.described.clone()
    }

    fn mark_demo(&self, kind: DemoKind, id: &str) -> Result<(), StoreError> {
        self.session(Begin::Autocommit)?.execute(
            "INSERT INTO demo_resources (kind, id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            params![kind.as_str().to_string(), id.to_string()],
        )?;
        Ok(())
    }

    fn notifications(&self) -> Option<watch::Receiver<u64>> {
        Some(self.notifications.clone())
    }
}

impl Fleet for PgStore {
    fn heartbeat(&self, beat: &NodeBeat) -> Result<(), StoreError> {
        fleet::heartbeat(&self.session(Begin::Autocommit)?, beat)
    }

    fn nodes(&self) -> Result<Nodes, StoreError> {
        fleet::nodes(&self.session(Begin::Autocommit)?)
    }

    fn ticket_keys(&self) -> Result<Vec<TicketKey>, StoreError> {
        fleet::ticket_keys(&self.session(Begin::Autocommit)?)
    }

    fn add_ticket_key(&self, key: &TicketKey) -> Result<bool, StoreError> {
        fleet::add_ticket_key(&self.session(Begin::Autocommit)?, key)
    }
}

/// A read-only view (REPEATABLE READ: one snapshot for every query).
struct PgRead {
    session: Session,
}

/// The write transaction of one change.
struct PgWrite {
    session: Session,
    revision: u64,
}

impl WriteTx for PgWrite {
    fn revision_written(&self) -> u64 {
        self.revision
    }

    fn put(&mut self, record: &Record) -> Result<(), StoreError> {
        records::put(&self.session, record)?;
        changes::record(&self.session, self.revision, record.kind(), record.id())
    }

    fn delete(&mut self, kind: Kind, id: &str) -> Result<bool, StoreError> {
        let existed = records::delete(&self.session, kind, id)?;
        if existed {
            changes::record(&self.session, self.revision, kind, id)?;
        }
        Ok(existed)
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        // Delivered to the listeners only once the transaction commits.
        self.session.execute(
            "SELECT pg_notify($1, $2)",
            params![listen::CHANNEL.to_string(), self.revision.to_string()],
        )?;
        self.session.finish("COMMIT")
    }
}

/// Reads on the session of a view or a write transaction.
macro_rules! reads_on_session {
    ($view:ty) => {
        impl Reads for $view {
            fn revision(&self) -> Result<u64, StoreError> {
                records::revision(&self.session)
            }

            fn load_state(&self) -> Result<State, StoreError> {
                records::load_state(&self.session)
            }

            fn changes_since(&self, revision: u64) -> Result<Update, StoreError> {
                changes::since(&self.session, revision)
            }

            fn counts(&self) -> Result<Counts, StoreError> {
                records::counts(&self.session)
            }

            fn demo_resources(&self) -> Result<Vec<(String, String)>, StoreError> {
                records::demo_resources(&self.session)
            }

            fn mutual_authentication(
                &self,
                id: &str,
            ) -> Result<Option<MutualAuthentication>, StoreError> {
                records::mutual_authentication(&self.session, id)
            }

            fn private_key(&self, id: &str) -> Result<Option<PrivateKey>, StoreError> {
                records::private_key(&self.session, id)
            }

            fn private_key_by_public_key(
                &self,
                sha1: &str,
            ) -> Result<Option<PrivateKey>, StoreError> {
                records::private_key_by_public_key(&self.session, sha1)
            }

            fn certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError> {
                records::certificate(&self.session, id)
            }

            fn count_certificates_with_key(&self, sha1: &str) -> Result<u64, StoreError> {
                records::count_certificates_with_key(&self.session, sha1)
            }

            fn certificates_naming(&self, domain: &str) -> Result<Vec<Certificate>, StoreError> {
                records::certificates_naming(&self.session, domain)
            }

            fn configuration(&self, id: &str) -> Result<Option<Configuration>, StoreError> {
                records::configuration(&self.session, id)
            }

            fn default_configuration(&self) -> Result<Configuration, StoreError> {
                records::default_configuration(&self.session)
            }

            fn activation(&self, id: &str) -> Result<Option<Activation>, StoreError> {
                records::activation(&self.session, id)
            }

            fn activation_by_domain(&self, domain: &str) -> Result<Option<Activation>, StoreError> {
                records::activation_by_domain(&self.session, domain)
            }

            fn activations_using(&self, used: Uses<'_>) -> Result<Vec<Activation>, StoreError> {
                records::activations_using(&self.session, used)
            }

            fn count_activations_using(&self, used: Uses<'_>) -> Result<u64, StoreError> {
                records::count_activations_using(&self.session, used)
            }

            fn revocation_list(&self, id: &str) -> Result<Option<RevocationList>, StoreError> {
                records::revocation_list(&self.session, id)
            }

            fn revocation_lists_of(
                &self,
                mutual_authentication_id: &str,
            ) -> Result<Vec<RevocationList>, StoreError> {
                records::revocation_lists_of(&self.session, mutual_authentication_id)
            }

            fn list_mutual_authentications(
                &self,
                window: Window,
            ) -> Result<Page<MutualAuthentication>, StoreError> {
                lists::mutual_authentications(&self.session, window)
            }

            fn list_private_keys(
                &self,
                in_use: Option<bool>,
                window: Window,
            ) -> Result<Page<PrivateKey>, StoreError> {
                lists::private_keys(&self.session, in_use, window)
            }

            fn list_certificates(
                &self,
                query: &CertificateQuery,
                window: Window,
            ) -> Result<Page<Certificate>, StoreError> {
                lists::certificates(&self.session, query, window)
            }

            fn list_configurations(
                &self,
                window: Window,
            ) -> Result<Page<Configuration>, StoreError> {
                lists::configurations(&self.session, window)
            }

            fn list_activations(
                &self,
                query: &ActivationQuery,
                window: Window,
            ) -> Result<Page<Activation>, StoreError> {
                lists::activations(&self.session, query, window)
            }

            fn list_domains(
                &self,
                query: &DomainQuery,
                window: Window,
            ) -> Result<Page<String>, StoreError> {
                lists::domains(&self.session, query, window)
            }

            fn list_revocation_lists(
                &self,
                query: &RevocationListQuery,
                window: Window,
            ) -> Result<Page<RevocationList>, StoreError> {
                lists::revocation_lists(&self.session, query, window)
            }
        }
    };
}

reads_on_session!(PgRead);
reads_on_session!(PgWrite);
