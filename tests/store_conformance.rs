//! The shared store test suite against the embedded SQLite store (in memory, and on disk where
//! reads take a second connection).

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mtls_proxy::store::SqliteStore;

mod in_memory {
    use super::*;
    mtls_proxy::store_conformance!(SqliteStore::in_memory().unwrap());
}

mod on_disk {
    use super::*;

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

    impl mtls_proxy::store::Store for OnDisk {
        fn begin(
            &self,
        ) -> Result<Box<dyn mtls_proxy::store::WriteTx + '_>, mtls_proxy::store::StoreError>
        {
            self.store.begin()
        }

        fn read(
            &self,
        ) -> Result<Box<dyn mtls_proxy::store::Reads + '_>, mtls_proxy::store::StoreError> {
            self.store.read()
        }

        fn mark_demo(
            &self,
            kind: mtls_proxy::store::DemoKind,
            id: &str,
        ) -> Result<(), mtls_proxy::store::StoreError> {
            self.store.mark_demo(kind, id)
        }
    }

    mtls_proxy::store_conformance!(OnDisk::new());
}
