//! The store and the fleet. The shared store test suite against every backend: the embedded
//! SQLite store (in memory, and on disk where reads take a second connection) and PostgreSQL (a
//! throwaway server started by the test binary, one fresh database per test); persistence across
//! restarts and `kill -9`, store faults; nodes sharing one PostgreSQL (changes, outages,
//! resumption across nodes, revocation lists and the one node that fetches them, what a node
//! logs when it starts).

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../common/mod.rs"]
mod common;
#[macro_use]
mod conformance;
mod durability;
mod faults;
mod fleet;
mod fleet_outage;
mod fleet_resumption;
mod fleet_revocation;
mod startup_log;

use mtls_proxy::store::SqliteStore;

mod in_memory {
    use super::*;
    store_conformance!(SqliteStore::in_memory().unwrap());
}

mod on_disk {
    use super::*;
    use mtls_proxy::store::{
        DemoKind, Fleet, NodeBeat, Nodes, Reads, Store, StoreError, TicketKey, WriteTx,
    };

    /// A store in a temporary directory that lives as long as the store.
    pub struct OnDisk {
        store: SqliteStore,
        _dir: tempfile::TempDir,
    }

    impl OnDisk {
        pub fn new() -> OnDisk {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
            OnDisk { store, _dir: dir }
        }
    }

    impl Store for OnDisk {
        fn begin(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
            self.store.begin()
        }

        fn read(&self) -> Result<Box<dyn Reads + '_>, StoreError> {
            self.store.read()
        }

        fn describe(&self) -> String {
            self.store.describe()
        }

        fn mark_demo(&self, kind: DemoKind, id: &str) -> Result<(), StoreError> {
            self.store.mark_demo(kind, id)
        }
    }

    impl Fleet for OnDisk {
        fn heartbeat(&self, beat: &NodeBeat) -> Result<(), StoreError> {
            self.store.heartbeat(beat)
        }

        fn nodes(&self) -> Result<Nodes, StoreError> {
            self.store.nodes()
        }

        fn ticket_keys(&self) -> Result<Vec<TicketKey>, StoreError> {
            self.store.ticket_keys()
        }

        fn add_ticket_key(&self, key: &TicketKey) -> Result<bool, StoreError> {
            self.store.add_ticket_key(key)
        }
    }

    store_conformance!(OnDisk::new());
}

mod postgres {
    use std::sync::OnceLock;

    use super::common::postgres::TempPostgres;
    use mtls_proxy::store::postgres::{PgOptions, PgStore};

    /// One server for the whole binary (the watchdog stops it when the binary exits).
    static SERVER: OnceLock<Option<TempPostgres>> = OnceLock::new();

    /// A store on a fresh database, or None when PostgreSQL is not installed.
    pub fn store() -> Option<PgStore> {
        let Some(pg) = SERVER.get_or_init(TempPostgres::start) else {
            eprintln!("skipped: PostgreSQL not found");
            return None;
        };
        let options = PgOptions {
            url: pg.create_database(),
            pool_size: 4,
            timeout: std::time::Duration::from_secs(10),
            ca_file: None,
        };
        Some(PgStore::open(&options).unwrap())
    }

    store_conformance!(optional store());

    /// A database a release without revocation lists created (schema version 1, with rows and
    /// change-log entries) is upgraded by the next start, keeps everything, and stores lists.
    #[test]
    fn a_database_at_the_first_schema_upgrades_to_revocation_lists() {
        use mtls_proxy::model::{Record, RevocationList, RowChange, Update};
        use mtls_proxy::store::postgres::schema;
        use mtls_proxy::store::Store;

        let Some(pg) = SERVER.get_or_init(TempPostgres::start) else {
            eprintln!("skipped: PostgreSQL not found");
            return;
        };
        let url = pg.create_database();
        let db = url.rsplit('/').next().unwrap().to_string();
        let options = |url: &str| PgOptions {
            url: url.to_string(),
            pool_size: 2,
            timeout: std::time::Duration::from_secs(10),
            ca_file: None,
        };
        {
            let old = PgStore::open(&options(&url)).unwrap();
            schema::migrate_to(&old, 1).unwrap();
            assert_eq!(schema::version(&old).unwrap(), 1);
        }
        assert_eq!(
            pg.psql(&db, "SELECT to_regclass('revocation_lists') IS NULL"),
            "t",
            "version 1 has no revocation lists"
        );
        pg.psql(
            &db,
            "INSERT INTO mutual_authentications (id, name, enforced, cert_bundle, created_at, updated_at)
                 VALUES ('M', 'm', TRUE, 'pem', 1, 1);
             INSERT INTO changes (revision, kind, id) VALUES (1, 'mutual_authentication', 'M');
             UPDATE meta SET value = 1 WHERE key = 'revision';",
        );

        let store = PgStore::open(&options(&url)).unwrap();
        store.connect().unwrap();
        assert_eq!(schema::version(&store).unwrap(), schema::latest());
        assert_eq!(store.read().unwrap().revision().unwrap(), 1);
        match store.read().unwrap().changes_since(0).unwrap() {
            Update::Delta(d) => assert_eq!(d.rows.len(), 1, "{d:?}"),
            Update::Full(_) => panic!("the change log survives the upgrade"),
        }
        let list = RevocationList {
            id: "L".into(),
            mutual_authentication_id: "M".into(),
            name: "l".into(),
            url: Some("http://crl.example/ca.crl".into()),
            crl_pem: "crl".into(),
            issuer: "CN=ca".into(),
            this_update: 1,
            next_update: 2,
            crl_number: "1".into(),
            revoked_count: 3,
            last_fetch_error: None,
            created_at: 1,
            updated_at: 1,
        };
        let mut tx = store.begin().unwrap();
        tx.put(&Record::RevocationList(list.clone())).unwrap();
        tx.commit().unwrap();
        let view = store.read().unwrap();
        assert_eq!(view.revocation_lists_of("M").unwrap(), vec![list.clone()]);
        match view.changes_since(1).unwrap() {
            Update::Delta(d) => {
                assert_eq!(d.rows, vec![RowChange::Put(Record::RevocationList(list))])
            }
            Update::Full(_) => panic!("deltas continue across the upgrade"),
        }
    }
}
