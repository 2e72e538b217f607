//! The shared store test suite against every backend: the embedded SQLite store (in memory, and
//! on disk where reads take a second connection) and PostgreSQL (a throwaway server started by
//! the test binary, one fresh database per test).

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use mtls_proxy::store::SqliteStore;

mod in_memory {
    use super::*;
    mtls_proxy::store_conformance!(SqliteStore::in_memory().unwrap());
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

    mtls_proxy::store_conformance!(OnDisk::new());
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

    mtls_proxy::store_conformance!(optional store());
}
