use super::*;
use crate::model::{Delta, MutualAuthentication, PrivateKey, Tables};

fn ma(id: &str, enforced: bool, at: i64) -> MutualAuthentication {
    MutualAuthentication {
        id: id.into(),
        name: format!("{id} name"),
        enforced,
        cert_bundle: format!("{id} bundle"),
        created_at: 1,
        updated_at: at,
    }
}

fn key(id: &str) -> PrivateKey {
    PrivateKey {
        id: id.into(),
        name: "k".into(),
        key_pem: "-----BEGIN PRIVATE KEY-----".into(),
        key_type: "ECDSA".into(),
        key_length: 256,
        public_key_sha1: format!("{id}-sha"),
        created_at: 1,
    }
}

fn state(revision: u64, mas: Vec<MutualAuthentication>) -> State {
    State {
        revision,
        mutual_authentications: mas,
        private_keys: vec![key("K1")],
        ..State::default()
    }
}

fn same(a: &State, b: &State) -> bool {
    format!("{:?}", Tables::from_state(a).to_state())
        == format!("{:?}", Tables::from_state(b).to_state())
}

fn open() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&dir.path().join("node/cache.db")).unwrap();
    (dir, cache)
}

#[test]
fn an_unwritten_cache_holds_nothing() {
    let (_dir, cache) = open();
    assert_eq!(cache.revision().unwrap(), None);
    assert!(cache.load().unwrap().is_none());
}

#[test]
fn a_full_state_then_deltas_round_trip() {
    let (_dir, cache) = open();
    let full = state(3, vec![ma("M1", true, 1), ma("M2", true, 1)]);
    assert_eq!(cache.apply(&[Update::Full(full.clone())], 100).unwrap(), 3);
    assert!(same(&cache.load().unwrap().unwrap(), &full));
    let d1 = Update::Delta(Delta {
        from: 3,
        to: 4,
        rows: vec![RowChange::Put(Record::MutualAuthentication(ma(
            "M1", false, 2,
        )))],
    });
    let d2 = Update::Delta(Delta {
        from: 4,
        to: 6,
        rows: vec![RowChange::Removed(Kind::MutualAuthentication, "M2".into())],
    });
    assert_eq!(cache.apply(&[d1, d2], 200).unwrap(), 6);
    let loaded = cache.load().unwrap().unwrap();
    assert!(
        same(&loaded, &state(6, vec![ma("M1", false, 2)])),
        "{loaded:?}"
    );
    assert_eq!(cache.revision().unwrap(), Some((6, 200)));
    // Reopened: the same.
    let again = Cache::open(cache.path()).unwrap();
    assert!(same(&again.load().unwrap().unwrap(), &loaded));
}

#[test]
fn deltas_must_reach_back_to_the_cached_revision() {
    let (_dir, cache) = open();
    let delta = |from, to| {
        Update::Delta(Delta {
            from,
            to,
            rows: vec![RowChange::Put(Record::MutualAuthentication(ma(
                "M9",
                true,
                i64::try_from(to).unwrap(),
            )))],
        })
    };
    assert!(
        matches!(cache.apply(&[delta(0, 1)], 1), Err(CacheError::Gap { .. })),
        "nothing cached yet"
    );
    cache.apply(&[Update::Full(state(5, vec![]))], 1).unwrap();
    assert!(matches!(
        cache.apply(&[delta(6, 7)], 1),
        Err(CacheError::Gap { cached: 5, from: 6 })
    ));
    assert_eq!(
        cache.revision().unwrap().unwrap().0,
        5,
        "a refused update changes nothing"
    );
    // Starting before the cached revision is fine (its rows are current as of its end).
    assert_eq!(cache.apply(&[delta(2, 8)], 1).unwrap(), 8);
    // One ending before it is already contained.
    assert_eq!(cache.apply(&[delta(1, 4)], 1).unwrap(), 8);
    let loaded = cache.load().unwrap().unwrap();
    assert_eq!(loaded.mutual_authentications[0].updated_at, 8);
}

fn raw(cache: &Cache, sql: &str) {
    let conn = rusqlite::Connection::open(cache.path()).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn a_changed_record_is_refused_not_served() {
    let (_dir, cache) = open();
    cache
        .apply(&[Update::Full(state(2, vec![ma("M1", true, 1)]))], 1)
        .unwrap();
    // An enforced policy silently turned fail-open: exactly what must never be served.
    raw(
        &cache,
        "UPDATE cache_records SET body = CAST(replace(CAST(body AS TEXT), '\"enforced\":true', '\"enforced\":false') AS BLOB)
         WHERE kind = 'mutual_authentication'",
    );
    let e = cache.load().unwrap_err();
    assert!(matches!(e, CacheError::Damaged { .. }), "{e}");
    assert!(e.to_string().contains("M1"), "{e}");
}

#[test]
fn a_missing_or_added_record_is_refused() {
    let (_dir, cache) = open();
    cache
        .apply(
            &[Update::Full(state(
                2,
                vec![ma("M1", true, 1), ma("M2", true, 1)],
            ))],
            1,
        )
        .unwrap();
    raw(&cache, "DELETE FROM cache_records WHERE id = 'M2'");
    let e = cache.load().unwrap_err();
    assert!(e.to_string().contains("do not match the cached set"), "{e}");
}

#[test]
fn a_truncated_file_is_refused() {
    let (_dir, cache) = open();
    let many: Vec<_> = (0..200).map(|i| ma(&format!("M{i}"), true, 1)).collect();
    cache.apply(&[Update::Full(state(2, many))], 1).unwrap();
    let path = cache.path().to_path_buf();
    drop(cache);
    // Fold the WAL into the file, then cut the file in half.
    raw_path(&path, "PRAGMA wal_checkpoint(TRUNCATE);");
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let refused = Cache::open(&path).and_then(|c| c.load());
    assert!(refused.is_err(), "{refused:?}");
}

fn raw_path(path: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn the_file_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, cache) = open();
    cache.apply(&[Update::Full(state(1, vec![]))], 1).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(cache.path()), 0o600);
    assert_eq!(mode(cache.path().parent().unwrap()), 0o700);
}
