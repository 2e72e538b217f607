//! Store unit tests: migrations, revisions, atomicity.

use super::records::{self, mutual_authentications as mas};
use super::*;
use crate::model::MutualAuthentication;

fn ma(id: &str) -> MutualAuthentication {
    MutualAuthentication {
        id: id.into(),
        name: "n".into(),
        enforced: true,
        cert_bundle: "pem".into(),
        created_at: 1,
        updated_at: 1,
    }
}

#[test]
fn fresh_store_has_default_configuration_and_revision_zero() {
    let s = Store::in_memory().unwrap();
    assert_eq!(s.revision().unwrap(), 0);
    let state = s.read(load_state).unwrap();
    assert_eq!(state.configurations.len(), 1);
    assert!(state.configurations[0].default);
    assert_eq!(state.configurations[0].tls_protocols, vec!["1.2", "1.3"]);
}

#[test]
fn write_commits_and_bumps_revision() {
    let s = Store::in_memory().unwrap();
    let rev = s
        .write(|tx, rev| mas::put(tx, &ma("a")).map(|_| rev))
        .unwrap();
    assert_eq!(rev, 1);
    assert_eq!(s.revision().unwrap(), 1);
    assert!(s.read(|c| mas::get(c, "a")).unwrap().is_some());
}

#[test]
fn failed_write_leaves_nothing_behind() {
    let s = Store::in_memory().unwrap();
    let r: Result<(), StoreError> = s.write(|tx, _| {
        mas::put(tx, &ma("a"))?;
        Err(StoreError::Corrupt("test"))
    });
    assert!(r.is_err());
    assert_eq!(s.revision().unwrap(), 0);
    assert!(s.read(|c| mas::get(c, "a")).unwrap().is_none());
}

#[test]
fn reopen_keeps_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/store.db");
    {
        let s = Store::open(&path).unwrap();
        s.write(|tx, _| mas::put(tx, &ma("a"))).unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.revision().unwrap(), 1);
    assert_eq!(
        s.read(records::mutual_authentications::list).unwrap().len(),
        1
    );
    assert_eq!(s.read(load_state).unwrap().configurations.len(), 1);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(Store::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}
