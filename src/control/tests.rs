//! Control-plane tests: nothing is stored unless its snapshot builds, publication follows the
//! commit, concurrent changes publish in revision order, and versions never go backwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::control::change::MutualAuthenticationFields;
use crate::devpki::Ca;

fn bundle() -> String {
    Ca::new("control test CA").unwrap().cert().cert_pem.clone()
}

fn create_ma(bundle: &str) -> Change {
    Change::CreateMutualAuthentication(MutualAuthenticationFields {
        cert_bundle: Some(bundle.to_string()),
        ..MutualAuthenticationFields::default()
    })
}

fn stored_mas(store: &Store) -> usize {
    store.read(load_state).unwrap().mutual_authentications.len()
}

#[test]
fn a_change_whose_snapshot_does_not_build_is_neither_stored_nor_published() {
    let store = Arc::new(Store::in_memory().unwrap());
    let published = Arc::new(AtomicUsize::new(0));
    let seen = published.clone();
    let control = Control::new(
        store.clone(),
        Box::new(move |state: &State| {
            if !state.mutual_authentications.is_empty() {
                return Err("refused by the dry run".to_string());
            }
            let seen = seen.clone();
            Ok(Box::new(move || {
                seen.fetch_add(1, Ordering::SeqCst);
            }) as Publish)
        }),
    );
    let err = control.apply(create_ma(&bundle())).unwrap_err();
    assert!(
        matches!(&err, ControlError::Build(m) if m.contains("refused by the dry run")),
        "{err:?}"
    );
    assert_eq!(store.revision().unwrap(), 0);
    assert_eq!(stored_mas(&store), 0);
    assert_eq!(published.load(Ordering::SeqCst), 0);
}

#[test]
fn invalid_input_is_refused_before_the_dry_run_and_names_the_field() {
    let store = Arc::new(Store::in_memory().unwrap());
    let prepared = Arc::new(AtomicUsize::new(0));
    let seen = prepared.clone();
    let control = Control::new(
        store.clone(),
        Box::new(move |_: &State| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(|| ()) as Publish)
        }),
    );
    let err = control.apply(create_ma("not a PEM bundle")).unwrap_err();
    assert!(
        matches!(&err, ControlError::Invalid { field, .. } if field == "cert_bundle"),
        "{err:?}"
    );
    assert_eq!(prepared.load(Ordering::SeqCst), 0);
    assert_eq!(store.revision().unwrap(), 0);
}

/// The publish closure runs after the commit: the store already holds the state it publishes.
#[test]
fn a_committed_change_is_published_once_after_its_commit() {
    let store = Arc::new(Store::in_memory().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let (reader, seen) = (store.clone(), log.clone());
    let control = Control::new(
        store.clone(),
        Box::new(move |state: &State| {
            let (reader, seen, revision) = (reader.clone(), seen.clone(), state.revision);
            Ok(Box::new(move || {
                // Read from another thread: a publish inside the write would hold the store,
                // and the read would time out instead of hanging the test.
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || tx.send(reader.revision().unwrap()));
                let committed = rx.recv_timeout(Duration::from_secs(5)).ok();
                seen.lock().unwrap().push((revision, committed));
            }) as Publish)
        }),
    );
    let applied = control.apply(create_ma(&bundle())).unwrap();
    assert_eq!(applied.revision, 1);
    assert_eq!(*log.lock().unwrap(), vec![(1, Some(1))]);
    assert_eq!(stored_mas(&store), 1);
    assert_eq!(control.publish_current().unwrap(), 1);
    assert_eq!(*log.lock().unwrap(), vec![(1, Some(1)); 2]);
}

/// Changes from many threads are published in the order they committed, so the data plane
/// never goes back to an older snapshot.
#[test]
fn concurrent_changes_publish_in_revision_order() {
    let store = Arc::new(Store::in_memory().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let control = Arc::new(Control::new(
        store,
        Box::new(move |state: &State| {
            let (seen, revision) = (seen.clone(), state.revision);
            Ok(Box::new(move || seen.lock().unwrap().push(revision)) as Publish)
        }),
    ));
    let pem = bundle();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (control, pem) = (control.clone(), pem.clone());
            std::thread::spawn(move || {
                for _ in 0..5 {
                    control.apply(create_ma(&pem)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*log.lock().unwrap(), (1..=20).collect::<Vec<u64>>());
}

#[test]
fn next_version_always_moves_forward() {
    assert_eq!(next_version(100, 200), 200);
    // A clock that stepped back still gives a newer version.
    assert_eq!(next_version(100, 50), 101);
    assert_eq!(next_version(100, 100), 101);
    assert_eq!(next_version(i64::MAX, 0), i64::MAX);
}
