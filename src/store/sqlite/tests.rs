//! SQLite-specific store tests: files, reopening, schema versions. The behaviour every backend
//! shares is in `tests/store/conformance.rs`, run against SQLite and PostgreSQL there.

use super::*;
use crate::model::{MutualAuthentication, Record};

fn ma(id: &str) -> Record {
    Record::MutualAuthentication(MutualAuthentication {
        id: id.into(),
        name: "n".into(),
        enforced: true,
        cert_bundle: "pem".into(),
        created_at: 1,
        updated_at: 1,
    })
}

#[test]
fn reopen_keeps_data_schema_and_change_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/store.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        let mut tx = s.begin().unwrap();
        tx.put(&ma("a")).unwrap();
        tx.commit().unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.revision().unwrap(), 1);
    let view = s.read().unwrap();
    assert_eq!(view.load_state().unwrap().mutual_authentications.len(), 1);
    assert_eq!(view.load_state().unwrap().configurations.len(), 1);
    match view.changes_since(0).unwrap() {
        Update::Delta(d) => assert_eq!(d.rows, vec![crate::model::RowChange::Put(ma("a"))]),
        Update::Full(_) => panic!("the log starts at the store's creation"),
    }
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn a_store_from_before_the_change_log_is_migrated_with_its_history_as_a_floor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        // Version 2 as the previous release left it: three commits, no log.
        let mut c = rusqlite::Connection::open(&path).unwrap();
        schema::migrate_to(&mut c, 2).unwrap();
        c.execute_batch(
            "INSERT INTO certificates (id, name, cert_blob, issued_to, issuer, serial_number,
                 signature_algorithm, not_before, not_after, dns_names, public_key_sha1,
                 created_at, updated_at)
             VALUES ('C', 'c', '', '', '', '', '', 0, 0, '[\"a.example\",\"*.example\"]', 's', 1, 1);
             UPDATE meta SET value = 3 WHERE key = 'revision';",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let view = s.read().unwrap();
    // Before the floor only the whole state answers; from it on, deltas.
    assert!(matches!(view.changes_since(2).unwrap(), Update::Full(_)));
    assert!(matches!(view.changes_since(3).unwrap(), Update::Delta(d) if d.rows.is_empty()));
    // The SAN index was filled from the stored certificates.
    assert_eq!(view.certificates_naming("*.example").unwrap().len(), 1);
}

#[test]
fn the_change_log_is_pruned_and_a_reader_behind_it_gets_the_whole_state() {
    use crate::store::CHANGE_LOG_REVISIONS;
    let s = SqliteStore::in_memory().unwrap();
    let total = CHANGE_LOG_REVISIONS + 600;
    for i in 0..total {
        let mut tx = s.begin().unwrap();
        tx.put(&ma(&format!("m{}", i % 10))).unwrap();
        tx.commit().unwrap();
    }
    let view = s.read().unwrap();
    assert!(matches!(view.changes_since(1).unwrap(), Update::Full(st) if st.revision == total));
    // Within the kept window: a delta of the ten rows, each once.
    match view
        .changes_since(total - CHANGE_LOG_REVISIONS + 300)
        .unwrap()
    {
        Update::Delta(d) => assert_eq!(d.rows.len(), 10),
        Update::Full(_) => panic!("the last {CHANGE_LOG_REVISIONS} revisions are kept"),
    }
    drop(view);
    let logged: i64 = s
        .writer
        .lock()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    let kept = i64::try_from(CHANGE_LOG_REVISIONS).unwrap();
    assert!(logged <= kept + 256, "{logged} log rows");
}

#[test]
fn a_file_store_checkpoints_off_the_write_path_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let s = SqliteStore::open(&path).unwrap();
    let auto: i64 = s
        .writer
        .lock()
        .unwrap()
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto, 0, "commits never checkpoint");
    for i in 0..50 {
        let mut tx = s.begin().unwrap();
        tx.put(&ma(&format!("m{i}"))).unwrap();
        tx.commit().unwrap();
    }
    drop(s); // joins the checkpoint thread after its last checkpoint
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(
        again
            .read()
            .unwrap()
            .counts()
            .unwrap()
            .mutual_authentications,
        50
    );
}

#[test]
fn a_store_at_the_fleet_schema_upgrades_to_revocation_lists_keeping_everything() {
    use crate::model::{RevocationList, RowChange};
    use crate::store::Fleet;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        // Version 4, as a release without revocation lists leaves it: resources with their
        // change log, a node's heartbeat and a ticket key.
        let mut c = rusqlite::Connection::open(&path).unwrap();
        schema::migrate_to(&mut c, 4).unwrap();
        let version: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 4);
        assert!(
            c.prepare("SELECT 1 FROM revocation_lists").is_err(),
            "version 4 has no revocation lists"
        );
        c.execute_batch(
            "INSERT INTO mutual_authentications (id, name, enforced, cert_bundle, created_at, updated_at)
                 VALUES ('M', 'm', 1, 'pem', 1, 1);
             INSERT INTO changes (revision, kind, id) VALUES (1, 'mutual_authentication', 'M');
             UPDATE meta SET value = 1 WHERE key = 'revision';
             INSERT INTO nodes (id, proxy_listen, admin_listen, applied_revision, started_at, last_seen)
                 VALUES ('node-a', '127.0.0.1:1', '127.0.0.1:2', 1, 5, 6);
             INSERT INTO ticket_keys (generation, secret, created_at, activates_at)
                 VALUES (1, zeroblob(32), 7, 8);",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 5);
    // What version 4 held is all there, the change log included.
    assert_eq!(s.revision().unwrap(), 1);
    {
        let view = s.read().unwrap();
        assert!(view.mutual_authentication("M").unwrap().is_some());
        match view.changes_since(0).unwrap() {
            Update::Delta(d) => assert_eq!(d.rows.len(), 1),
            Update::Full(_) => panic!("the change log survives the upgrade"),
        }
    }
    assert_eq!(s.nodes().unwrap().nodes.len(), 1);
    assert_eq!(s.ticket_keys().unwrap().len(), 1);
    // And the new table works: a list of that mutual authentication is stored and logged.
    let list = RevocationList {
        id: "L".into(),
        mutual_authentication_id: "M".into(),
        name: "l".into(),
        url: None,
        crl_pem: "crl".into(),
        issuer: "CN=ca".into(),
        this_update: 1,
        next_update: 2,
        crl_number: "1".into(),
        revoked_count: 0,
        last_fetch_error: None,
        created_at: 1,
        updated_at: 1,
    };
    let mut tx = s.begin().unwrap();
    tx.put(&Record::RevocationList(list.clone())).unwrap();
    tx.commit().unwrap();
    let view = s.read().unwrap();
    assert_eq!(view.revocation_lists_of("M").unwrap(), vec![list.clone()]);
    match view.changes_since(1).unwrap() {
        Update::Delta(d) => {
            assert_eq!(d.rows, vec![RowChange::Put(Record::RevocationList(list))])
        }
        Update::Full(_) => panic!("deltas continue across the upgrade"),
    }
}
