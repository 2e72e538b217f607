//! Control-plane tests: what the data plane is handed for each change, and catching up with
//! changes committed by another writer.

use std::sync::{Arc, Mutex};

use super::change::MutualAuthenticationFields;
use super::*;
use crate::devpki::Ca;
use crate::model::{Kind, Record, RowChange};
use crate::store::SqliteStore;

mod revocation_lists;

/// A control plane whose data plane records every update it is given and refuses any that
/// holds a mutual authentication named "refuse".
fn recording(store: Arc<dyn Store>) -> (Control, Arc<Mutex<Vec<Update>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let control = Control::new(
        store,
        Box::new(move |u: &Update| {
            let refuse = matches!(u, Update::Delta(d) if d.rows.iter().any(|r| matches!(r,
                RowChange::Put(Record::MutualAuthentication(m)) if m.name == "refuse")));
            if refuse {
                return Err("refused".into());
            }
            log.lock().unwrap().push(u.clone());
            Ok(Box::new(|| ()))
        }),
    );
    (control, seen)
}

fn create_ma(name: &str) -> Change {
    let ca = Ca::new("control test CA").unwrap();
    Change::CreateMutualAuthentication(MutualAuthenticationFields {
        name: Some(name.into()),
        cert_bundle: Some(ca.cert().cert_pem.clone()),
        enforced: None,
    })
}

fn last(seen: &Mutex<Vec<Update>>) -> Update {
    seen.lock().unwrap().last().cloned().unwrap()
}

#[test]
fn the_first_publish_is_whole_and_each_change_hands_over_only_its_rows() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let (control, seen) = recording(store);
    assert_eq!(control.applied_revision(), None);
    assert_eq!(control.publish_current().unwrap(), 0);
    assert!(matches!(last(&seen), Update::Full(s) if s.revision == 0));
    let applied = control.apply(create_ma("one")).unwrap();
    match last(&seen) {
        Update::Delta(d) => {
            assert_eq!((d.from, d.to), (0, applied.revision));
            assert!(
                matches!(&d.rows[..], [RowChange::Put(Record::MutualAuthentication(m))]
                if m.id == applied.id)
            );
        }
        Update::Full(_) => panic!("a change must come as a delta"),
    }
    control
        .apply(Change::DeleteMutualAuthentication {
            id: applied.id.clone(),
        })
        .unwrap();
    match last(&seen) {
        Update::Delta(d) => assert_eq!(
            d.rows,
            [RowChange::Removed(Kind::MutualAuthentication, applied.id)]
        ),
        Update::Full(_) => panic!("a change must come as a delta"),
    }
    assert_eq!(control.applied_revision(), Some(2));
}

#[test]
fn a_refused_update_commits_nothing_and_the_next_delta_starts_where_the_data_plane_is() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let (control, seen) = recording(store);
    control.publish_current().unwrap();
    let e = control.apply(create_ma("refuse")).unwrap_err();
    assert!(matches!(e, ControlError::Build(_)), "{e}");
    assert_eq!(control.stored_revision().unwrap(), 0);
    let applied = control.apply(create_ma("fine")).unwrap();
    assert_eq!(applied.revision, 1);
    assert!(matches!(last(&seen), Update::Delta(d) if d.from == 0 && d.rows.len() == 1));
}

#[test]
fn catch_up_applies_what_another_writer_committed_as_a_delta() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let (node_a, seen) = recording(store.clone());
    node_a.publish_current().unwrap();
    // Another node writes to the same store.
    let node_b = Control::without_data_plane(store);
    let one = node_b.apply(create_ma("one")).unwrap();
    let two = node_b.apply(create_ma("two")).unwrap();
    node_b
        .apply(Change::DeleteMutualAuthentication { id: one.id.clone() })
        .unwrap();
    assert_eq!(node_a.catch_up().unwrap(), 3);
    match last(&seen) {
        Update::Delta(d) => {
            assert_eq!((d.from, d.to), (0, 3));
            assert_eq!(d.rows.len(), 2, "{:?}", d.rows);
            assert!(d
                .rows
                .contains(&RowChange::Removed(Kind::MutualAuthentication, one.id)));
            assert!(d.rows.iter().any(|r| matches!(r,
                RowChange::Put(Record::MutualAuthentication(m)) if m.id == two.id)));
        }
        Update::Full(_) => panic!("the change log covers these revisions"),
    }
    let published = seen.lock().unwrap().len();
    assert_eq!(node_a.catch_up().unwrap(), 3);
    assert_eq!(
        seen.lock().unwrap().len(),
        published,
        "nothing new: nothing published"
    );
    // A's own next change starts from what it caught up to.
    let own = node_a.apply(create_ma("three")).unwrap();
    assert!(matches!(last(&seen), Update::Delta(d) if d.from == 3 && d.to == own.revision));
}
