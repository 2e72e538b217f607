//! The behaviour every [`Store`] backend must show, as plain functions that panic on a violation,
//! and `store_conformance!` to run them all as tests against a backend:
//! `store_conformance!(SqliteStore::in_memory().unwrap());` expands to one `#[test]` per case, each
//! on a fresh store made by the expression (evaluated per test).
//!
//! Cases cover transactions and the revision counter, record round trips, uniqueness, the change
//! log (deltas applied to in-memory tables reproduce the stored state), the reference queries
//! control's validation relies on, every list filter, order and page, revocation lists and
//! their reference to a mutual authentication (which never goes without its lists, and never
//! without a change-log entry for each), and control's 400/409 rules run through [`Control`]
//! on the backend; and the fleet's bookkeeping (heartbeats, ticket keys), which never moves
//! the revision.

use std::sync::Arc;

use mtls_proxy::control::change::{
    ActivationFields, CertificateFields, MutualAuthenticationFields, PrivateKeyFields,
    RevocationListFields, Update as Patch,
};
use mtls_proxy::control::{Change, Control, ControlError, RelationshipChange};
use mtls_proxy::model::{
    Activation, Certificate, Configuration, Kind, MutualAuthentication, PrivateKey, Record,
    RevocationList, RowChange, State, Tables, Update,
};
use mtls_proxy::store::fleet::{NodeBeat, TicketKey, TicketSecret};
use mtls_proxy::store::query::*;
use mtls_proxy::store::{DemoKind, Store, StoreError};

/// Run every case as a `#[test]` against the store made by `$make` (an expression evaluated
/// once per test, giving a fresh, empty store). `optional $make` takes an `Option` of a store:
/// None skips the case (the expression reports why).
macro_rules! store_conformance {
    (optional $make:expr) => {
        store_conformance!(@with_cases [optional] $make);
    };
    (@with_cases [$($optional:tt)*] $make:expr) => {
        store_conformance!(@cases [$($optional)*] $make;
            fresh_store_has_the_default_configuration_at_revision_zero,
            every_commit_bumps_the_revision_by_one,
            an_uncommitted_transaction_leaves_nothing_behind,
            a_transaction_reads_its_own_writes,
            records_round_trip_update_and_delete,
            domains_and_public_keys_are_unique,
            changes_since_lists_each_changed_row_once_as_it_is_now,
            deltas_applied_to_tables_reproduce_the_stored_state,
            reference_queries_find_exactly_the_users,
            lists_filter_and_page_activations_keys_and_mutual_authentications,
            lists_filter_sort_and_page_certificates,
            lists_filter_sort_and_page_domains,
            demo_marks_count_only_while_their_resource_exists,
            control_rules_hold_on_this_store,
            revocation_lists_round_trip_page_and_follow_their_mutual_authentication,
            control_deletes_a_mutual_authentications_lists_in_the_change_log,
            heartbeats_are_listed_and_replaced_without_a_revision,
            ticket_keys_are_added_once_per_generation_and_pruned
        );
    };
    (@cases [optional] $make:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let Some(store) = $make else { return };
                let store: ::std::sync::Arc<dyn ::mtls_proxy::store::Store> =
                    ::std::sync::Arc::new(store);
                $crate::conformance::$case(store);
            }
        )*
    };
    (@cases [] $make:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let store: ::std::sync::Arc<dyn ::mtls_proxy::store::Store> =
                    ::std::sync::Arc::new($make);
                $crate::conformance::$case(store);
            }
        )*
    };
    ($make:expr) => {
        store_conformance!(@with_cases [] $make);
    };
}

fn ma(id: &str, created: i64) -> MutualAuthentication {
    MutualAuthentication {
        id: id.into(),
        name: format!("{id} name"),
        enforced: true,
        cert_bundle: format!("{id} bundle"),
        created_at: created,
        updated_at: created,
    }
}

fn key(id: &str, sha1: &str, created: i64) -> PrivateKey {
    PrivateKey {
        id: id.into(),
        name: format!("{id} name"),
        key_pem: format!("{id} pem"),
        key_type: "ECDSA".into(),
        key_length: 256,
        public_key_sha1: sha1.into(),
        created_at: created,
    }
}

fn cert(id: &str, sha1: &str, names: &[&str], not_after: i64, created: i64) -> Certificate {
    Certificate {
        id: id.into(),
        name: format!("{id} name"),
        cert_blob: format!("{id} blob"),
        issued_to: names.first().map(|n| n.to_string()).unwrap_or_default(),
        issuer: "issuer".into(),
        serial_number: "01".into(),
        signature_algorithm: "ecdsa".into(),
        not_before: not_after - 1000,
        not_after,
        dns_names: names.iter().map(|n| n.to_string()).collect(),
        public_key_sha1: sha1.into(),
        created_at: created,
        updated_at: created,
    }
}

fn act(
    id: &str,
    domain: &str,
    cert: &str,
    conf: &str,
    ma: Option<&str>,
    created: i64,
) -> Activation {
    Activation {
        id: id.into(),
        domain: domain.into(),
        certificate_id: cert.into(),
        configuration_id: conf.into(),
        mutual_authentication_id: ma.map(String::from),
        created_at: created,
        updated_at: created,
    }
}

fn rl(id: &str, ma: &str, created: i64) -> RevocationList {
    RevocationList {
        id: id.into(),
        mutual_authentication_id: ma.into(),
        name: format!("{id} name"),
        url: None,
        crl_pem: format!("{id} crl"),
        issuer: "CN=issuer".into(),
        this_update: 1000,
        next_update: 2000,
        crl_number: "18446744073709551616".into(),
        revoked_count: 3,
        last_fetch_error: None,
        created_at: created,
        updated_at: created,
    }
}

/// Commit `records` in one transaction; returns its revision.
fn commit(store: &dyn Store, records: Vec<Record>) -> u64 {
    let mut tx = store.begin().unwrap();
    for r in &records {
        tx.put(r).unwrap();
    }
    let rev = tx.revision_written();
    tx.commit().unwrap();
    rev
}

fn remove(store: &dyn Store, kind: Kind, id: &str) -> u64 {
    let mut tx = store.begin().unwrap();
    assert!(tx.delete(kind, id).unwrap(), "{kind:?} {id} existed");
    let rev = tx.revision_written();
    tx.commit().unwrap();
    rev
}

fn default_conf(store: &dyn Store) -> Configuration {
    store.read().unwrap().default_configuration().unwrap()
}

/// Two keys, three certificates, two mutual authentications, three activations.
fn populate(store: &dyn Store) -> String {
    let conf = default_conf(store).id;
    commit(
        store,
        vec![
            Record::PrivateKey(key("K1", "s1", 10)),
            Record::PrivateKey(key("K2", "s2", 11)),
            Record::Certificate(cert("C1", "s1", &["a.example", "*.example"], 3000, 20)),
            Record::Certificate(cert("C2", "s2", &["b.example"], 1000, 21)),
            Record::Certificate(cert("C3", "s1", &["c.example", "a.example"], 2000, 22)),
            Record::MutualAuthentication(ma("M1", 30)),
            Record::MutualAuthentication(ma("M2", 31)),
            Record::Activation(act("A1", "a.example", "C1", &conf, Some("M1"), 40)),
            Record::Activation(act("A2", "x.example", "C1", &conf, Some("M1"), 41)),
            Record::Activation(act("A3", "b.example", "C2", &conf, None, 42)),
        ],
    );
    conf
}

pub fn fresh_store_has_the_default_configuration_at_revision_zero(store: Arc<dyn Store>) {
    assert_eq!(store.revision().unwrap(), 0);
    let view = store.read().unwrap();
    let state = view.load_state().unwrap();
    assert_eq!(state.revision, 0);
    assert_eq!(state.configurations.len(), 1);
    let conf = &state.configurations[0];
    assert!(conf.default);
    assert_eq!(conf.tls_protocols, ["1.2", "1.3"]);
    assert_eq!(conf.http_protocols, ["http/1.1", "http/2"]);
    assert_eq!(view.default_configuration().unwrap(), *conf);
    assert_eq!(
        view.counts().unwrap(),
        Counts {
            configurations: 1,
            ..Counts::default()
        }
    );
}

pub fn every_commit_bumps_the_revision_by_one(store: Arc<dyn Store>) {
    let tx = store.begin().unwrap();
    assert_eq!(tx.revision_written(), 1);
    assert_eq!(
        tx.revision().unwrap(),
        1,
        "the transaction sees its revision"
    );
    tx.commit().unwrap();
    assert_eq!(
        commit(&*store, vec![Record::MutualAuthentication(ma("M", 1))]),
        2
    );
    assert_eq!(store.revision().unwrap(), 2);
    assert_eq!(store.read().unwrap().revision().unwrap(), 2);
}

pub fn an_uncommitted_transaction_leaves_nothing_behind(store: Arc<dyn Store>) {
    {
        let mut tx = store.begin().unwrap();
        tx.put(&Record::MutualAuthentication(ma("M", 1))).unwrap();
        // Dropped without commit.
    }
    assert_eq!(store.revision().unwrap(), 0);
    let view = store.read().unwrap();
    assert!(view.mutual_authentication("M").unwrap().is_none());
    match view.changes_since(0).unwrap() {
        Update::Delta(d) => assert!(d.rows.is_empty(), "{d:?}"),
        Update::Full(_) => panic!("revision 0 is within the log"),
    }
    drop(view);
    // And the store still takes writes.
    assert_eq!(
        commit(&*store, vec![Record::MutualAuthentication(ma("M", 1))]),
        1
    );
}

pub fn a_transaction_reads_its_own_writes(store: Arc<dyn Store>) {
    let mut tx = store.begin().unwrap();
    tx.put(&Record::PrivateKey(key("K", "s", 1))).unwrap();
    assert_eq!(tx.private_key_by_public_key("s").unwrap().unwrap().id, "K");
    let rev = tx.revision_written();
    match tx.changes_since(rev - 1).unwrap() {
        Update::Delta(d) => {
            assert_eq!((d.from, d.to), (rev - 1, rev));
            assert_eq!(
                d.rows,
                [RowChange::Put(Record::PrivateKey(key("K", "s", 1)))]
            );
        }
        Update::Full(_) => panic!("own changes must come as a delta"),
    }
    // Readers do not see it before the commit.
    drop(tx);
    assert!(store.read().unwrap().private_key("K").unwrap().is_none());
}

pub fn records_round_trip_update_and_delete(store: Arc<dyn Store>) {
    let conf = populate(&*store);
    let view = store.read().unwrap();
    assert_eq!(
        view.mutual_authentication("M1").unwrap().unwrap(),
        ma("M1", 30)
    );
    assert_eq!(
        view.private_key("K1").unwrap().unwrap(),
        key("K1", "s1", 10)
    );
    let c1 = cert("C1", "s1", &["a.example", "*.example"], 3000, 20);
    assert_eq!(view.certificate("C1").unwrap().unwrap(), c1);
    assert_eq!(
        view.activation("A1").unwrap().unwrap(),
        act("A1", "a.example", "C1", &conf, Some("M1"), 40)
    );
    assert!(view.activation("nope").unwrap().is_none());
    drop(view);

    let mut m = ma("M1", 30);
    m.enforced = false;
    m.name = "renamed \u{1F512} 'quoted' \"too\"".into();
    m.updated_at = 99;
    let mut c = c1.clone();
    c.dns_names = vec!["z.example".into()];
    c.updated_at = 98;
    let mut a = act("A1", "a.example", "C2", &conf, None, 40);
    a.updated_at = 97;
    let mut conf_row = default_conf(&*store);
    conf_row.tls_protocols = vec!["1.3".into()];
    conf_row.updated_at = 96;
    commit(
        &*store,
        vec![
            Record::MutualAuthentication(m.clone()),
            Record::Certificate(c.clone()),
            Record::Activation(a.clone()),
            Record::Configuration(conf_row.clone()),
        ],
    );
    let view = store.read().unwrap();
    assert_eq!(view.mutual_authentication("M1").unwrap().unwrap(), m);
    assert_eq!(view.certificate("C1").unwrap().unwrap(), c);
    assert!(view
        .certificates_naming("a.example")
        .unwrap()
        .iter()
        .all(|c| c.id != "C1"));
    assert_eq!(view.certificates_naming("z.example").unwrap(), [c]);
    assert_eq!(view.activation("A1").unwrap().unwrap(), a);
    assert_eq!(view.configuration(&conf).unwrap().unwrap(), conf_row);
    drop(view);

    remove(&*store, Kind::Activation, "A1");
    let mut tx = store.begin().unwrap();
    assert!(!tx.delete(Kind::Activation, "A1").unwrap(), "already gone");
    drop(tx);
    let view = store.read().unwrap();
    assert!(view.activation("A1").unwrap().is_none());
    assert!(view.activation_by_domain("a.example").unwrap().is_none());
    assert_eq!(view.counts().unwrap().activations, 2);
}

pub fn domains_and_public_keys_are_unique(store: Arc<dyn Store>) {
    let conf = populate(&*store);
    let before = store.revision().unwrap();
    let mut tx = store.begin().unwrap();
    let dup = act("A9", "a.example", "C1", &conf, None, 50);
    assert!(matches!(
        tx.put(&Record::Activation(dup)),
        Err(StoreError::Constraint(_))
    ));
    drop(tx);
    let mut tx = store.begin().unwrap();
    assert!(matches!(
        tx.put(&Record::PrivateKey(key("K9", "s1", 50))),
        Err(StoreError::Constraint(_))
    ));
    drop(tx);
    assert_eq!(store.revision().unwrap(), before);
}

fn delta(store: &dyn Store, since: u64) -> mtls_proxy::model::Delta {
    match store.read().unwrap().changes_since(since).unwrap() {
        Update::Delta(d) => d,
        Update::Full(_) => panic!("revision {since} must be within the change log"),
    }
}

pub fn changes_since_lists_each_changed_row_once_as_it_is_now(store: Arc<dyn Store>) {
    let r1 = commit(&*store, vec![Record::MutualAuthentication(ma("M1", 1))]);
    let mut changed = ma("M1", 1);
    changed.updated_at = 2;
    let r2 = commit(
        &*store,
        vec![
            Record::MutualAuthentication(changed.clone()),
            Record::MutualAuthentication(ma("M2", 2)),
        ],
    );
    let r3 = remove(&*store, Kind::MutualAuthentication, "M2");
    assert_eq!((r1, r2, r3), (1, 2, 3));

    let d = delta(&*store, 0);
    assert_eq!((d.from, d.to), (0, 3));
    assert_eq!(d.rows.len(), 2, "{:?}", d.rows);
    assert!(d
        .rows
        .contains(&RowChange::Put(Record::MutualAuthentication(
            changed.clone()
        ))));
    assert!(d
        .rows
        .contains(&RowChange::Removed(Kind::MutualAuthentication, "M2".into())));
    let d = delta(&*store, 2);
    assert_eq!(
        d.rows,
        [RowChange::Removed(Kind::MutualAuthentication, "M2".into())]
    );
    let d = delta(&*store, 3);
    assert!(d.rows.is_empty() && d.from == 3 && d.to == 3);
    // A reader ahead of the store (restored from an older backup) starts over.
    match store.read().unwrap().changes_since(4).unwrap() {
        Update::Full(s) => assert_eq!(s.revision, 3),
        Update::Delta(d) => panic!("a reader ahead of the store got {d:?}"),
    }
}

fn sorted_debug(state: &State) -> String {
    format!("{:?}", Tables::from_state(state).to_state())
}

pub fn deltas_applied_to_tables_reproduce_the_stored_state(store: Arc<dyn Store>) {
    let conf = default_conf(&*store).id;
    let mut tables = Tables::from_state(&store.read().unwrap().load_state().unwrap());
    type Step = Box<dyn Fn(&dyn Store)>;
    let mut steps: Vec<Step> = Vec::new();
    steps.push(Box::new(|s| {
        populate(s);
    }));
    let c = conf.clone();
    steps.push(Box::new(move |s| {
        commit(
            s,
            vec![Record::Activation(act(
                "A1",
                "a.example",
                "C3",
                &c,
                Some("M2"),
                40,
            ))],
        );
    }));
    steps.push(Box::new(|s| {
        remove(s, Kind::Activation, "A3");
        remove(s, Kind::Certificate, "C2");
        remove(s, Kind::PrivateKey, "K2");
    }));
    let c = conf.clone();
    steps.push(Box::new(move |s| {
        let mut tx = s.begin().unwrap();
        tx.put(&Record::Activation(act(
            "A3",
            "b.example",
            "C1",
            &c,
            None,
            60,
        )))
        .unwrap();
        tx.delete(Kind::Activation, "A3").unwrap();
        tx.put(&Record::MutualAuthentication(ma("M3", 61))).unwrap();
        tx.commit().unwrap();
    }));
    steps.push(Box::new(|s| {
        commit(
            s,
            vec![
                Record::RevocationList(rl("R1", "M1", 70)),
                Record::RevocationList(rl("R2", "M3", 71)),
            ],
        );
        let mut changed = rl("R1", "M1", 70);
        changed.url = Some("http://crl.example/r1.crl".into());
        changed.updated_at = 72;
        commit(s, vec![Record::RevocationList(changed)]);
    }));
    steps.push(Box::new(|s| {
        let mut tx = s.begin().unwrap();
        tx.delete(Kind::RevocationList, "R2").unwrap();
        tx.delete(Kind::MutualAuthentication, "M3").unwrap();
        tx.commit().unwrap();
    }));
    for step in steps {
        let at = tables.revision();
        step(&*store);
        let d = delta(&*store, at);
        tables.apply(&d);
        let stored = store.read().unwrap().load_state().unwrap();
        assert_eq!(tables.revision(), stored.revision);
        assert_eq!(format!("{:?}", tables.to_state()), sorted_debug(&stored));
    }
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

pub fn reference_queries_find_exactly_the_users(store: Arc<dyn Store>) {
    let conf = populate(&*store);
    let view = store.read().unwrap();
    let act_ids = |u| ids(&view.activations_using(u).unwrap(), |a: &Activation| &a.id);
    assert_eq!(act_ids(Uses::MutualAuthentication("M1")), ["A1", "A2"]);
    assert!(act_ids(Uses::MutualAuthentication("M2")).is_empty());
    assert_eq!(act_ids(Uses::Certificate("C1")), ["A1", "A2"]);
    assert_eq!(act_ids(Uses::Configuration(&conf)), ["A1", "A2", "A3"]);
    assert_eq!(
        view.count_activations_using(Uses::Certificate("C2"))
            .unwrap(),
        1
    );
    assert_eq!(
        view.count_activations_using(Uses::Certificate("C3"))
            .unwrap(),
        0
    );
    assert_eq!(view.count_certificates_with_key("s1").unwrap(), 2);
    assert_eq!(view.count_certificates_with_key("none").unwrap(), 0);
    let naming = ids(
        &view.certificates_naming("a.example").unwrap(),
        |c: &Certificate| &c.id,
    );
    assert_eq!(naming, ["C1", "C3"]);
    assert!(
        view.certificates_naming("x.example").unwrap().is_empty(),
        "not a SAN"
    );
    assert_eq!(
        view.activation_by_domain("x.example").unwrap().unwrap().id,
        "A2"
    );
    assert_eq!(
        view.private_key_by_public_key("s2").unwrap().unwrap().id,
        "K2"
    );
    assert_eq!(
        view.counts().unwrap(),
        Counts {
            mutual_authentications: 2,
            private_keys: 2,
            certificates: 3,
            configurations: 1,
            activations: 3,
            revocation_lists: 0,
        }
    );
}

fn window(offset: u64, limit: u64) -> Window {
    Window { offset, limit }
}

pub fn lists_filter_and_page_activations_keys_and_mutual_authentications(store: Arc<dyn Store>) {
    let conf = populate(&*store);
    let view = store.read().unwrap();
    let page = view
        .list_activations(&ActivationQuery::default(), window(1, 1))
        .unwrap();
    assert_eq!(
        (ids(&page.items, |a| &a.id), page.total),
        (vec!["A2".into()], 3)
    );
    let q = ActivationQuery {
        certificate_id: Some("C1".into()),
        ..ActivationQuery::default()
    };
    let page = view.list_activations(&q, Window::ALL).unwrap();
    assert_eq!(
        (ids(&page.items, |a| &a.id), page.total),
        (vec!["A1".into(), "A2".into()], 2)
    );
    let q = ActivationQuery {
        domain: Some("b.example".into()),
        configuration_id: Some(conf.clone()),
        ..ActivationQuery::default()
    };
    assert_eq!(
        ids(
            &view.list_activations(&q, Window::ALL).unwrap().items,
            |a| &a.id
        ),
        ["A3"]
    );
    let q = ActivationQuery {
        configuration_id: Some("other".into()),
        ..ActivationQuery::default()
    };
    assert_eq!(view.list_activations(&q, Window::ALL).unwrap().total, 0);

    let page = view.list_mutual_authentications(window(0, 1)).unwrap();
    assert_eq!(
        (ids(&page.items, |m| &m.id), page.total),
        (vec!["M1".into()], 2)
    );
    let page = view.list_mutual_authentications(window(5, 10)).unwrap();
    assert!(page.items.is_empty() && page.total == 2);

    let keys = |f| {
        ids(
            &view.list_private_keys(f, Window::ALL).unwrap().items,
            |k| &k.id,
        )
    };
    assert_eq!(keys(None), ["K1", "K2"]);
    assert_eq!(keys(Some(true)), ["K1", "K2"]);
    assert!(keys(Some(false)).is_empty());
    let confs = view.list_configurations(Window::ALL).unwrap();
    assert_eq!((ids(&confs.items, |c| &c.id), confs.total), (vec![conf], 1));
    drop(view);
    commit(&*store, vec![Record::PrivateKey(key("K3", "s3", 12))]);
    let view = store.read().unwrap();
    let page = view.list_private_keys(Some(false), Window::ALL).unwrap();
    assert_eq!(
        (ids(&page.items, |k| &k.id), page.total),
        (vec!["K3".into()], 1)
    );
}

pub fn lists_filter_sort_and_page_certificates(store: Arc<dyn Store>) {
    populate(&*store);
    let view = store.read().unwrap();
    let list = |q: &CertificateQuery| {
        let page = view.list_certificates(q, Window::ALL).unwrap();
        assert_eq!(page.total, u64::try_from(page.items.len()).unwrap());
        ids(&page.items, |c| &c.id)
    };
    let mut q = CertificateQuery::default();
    assert_eq!(list(&q), ["C1", "C2", "C3"]);
    q.descending = true;
    assert_eq!(list(&q), ["C3", "C2", "C1"]);
    q.sort = CertificateSort::NotAfter;
    q.descending = false;
    assert_eq!(list(&q), ["C2", "C3", "C1"]);
    q.sort = CertificateSort::NotBefore;
    q.descending = true;
    assert_eq!(list(&q), ["C1", "C3", "C2"]);
    // C1's oldest activation (40) before C2's (42); C3 has none: last, first when descending.
    q.sort = CertificateSort::FirstActivation;
    q.descending = false;
    assert_eq!(list(&q), ["C1", "C2", "C3"]);
    q.descending = true;
    assert_eq!(list(&q), ["C3", "C2", "C1"]);
    let q = CertificateQuery {
        in_use: Some(false),
        ..CertificateQuery::default()
    };
    assert_eq!(list(&q), ["C3"]);
    let q = CertificateQuery {
        in_use: Some(true),
        not_after: vec![NotAfter::AtLeast(1000), NotAfter::Before(3000)],
        ..CertificateQuery::default()
    };
    assert_eq!(list(&q), ["C2"]);
    let q = CertificateQuery {
        not_after: vec![NotAfter::After(1000), NotAfter::AtMost(3000)],
        ..CertificateQuery::default()
    };
    assert_eq!(list(&q), ["C1", "C3"]);
    let q = CertificateQuery {
        domain: Some("a.example".into()),
        ..CertificateQuery::default()
    };
    assert_eq!(list(&q), ["C1", "C3"]);
    let page = view
        .list_certificates(&CertificateQuery::default(), window(2, 5))
        .unwrap();
    assert_eq!(
        (ids(&page.items, |c| &c.id), page.total),
        (vec!["C3".into()], 3)
    );
}

pub fn lists_filter_sort_and_page_domains(store: Arc<dyn Store>) {
    populate(&*store);
    let view = store.read().unwrap();
    let list = |q: &DomainQuery| view.list_domains(q, Window::ALL).unwrap().items;
    // SANs and activated names, once each, in byte order ('*' sorts before letters).
    let all = [
        "*.example",
        "a.example",
        "b.example",
        "c.example",
        "x.example",
    ];
    let mut q = DomainQuery::default();
    assert_eq!(list(&q), all);
    q.sort = DomainSort::NameDescending;
    let mut rev = all;
    rev.reverse();
    assert_eq!(list(&q), rev);
    // Activated a(40), x(41), b(42); the rest last by name (first when descending).
    q.sort = DomainSort::Activated;
    assert_eq!(
        list(&q),
        [
            "a.example",
            "x.example",
            "b.example",
            "*.example",
            "c.example"
        ]
    );
    q.sort = DomainSort::ActivatedDescending;
    assert_eq!(
        list(&q),
        [
            "*.example",
            "c.example",
            "b.example",
            "x.example",
            "a.example"
        ]
    );
    let q = DomainQuery {
        in_use: Some(false),
        ..DomainQuery::default()
    };
    assert_eq!(list(&q), ["*.example", "c.example"]);
    let q = DomainQuery {
        in_use: Some(true),
        certificate_id: Some("C1".into()),
        ..DomainQuery::default()
    };
    assert_eq!(list(&q), ["a.example"]);
    let page = view
        .list_domains(&DomainQuery::default(), window(3, 1))
        .unwrap();
    assert_eq!((page.items, page.total), (vec!["c.example".to_string()], 5));
}

pub fn demo_marks_count_only_while_their_resource_exists(store: Arc<dyn Store>) {
    assert!(store.read().unwrap().demo_resources().unwrap().is_empty());
    commit(&*store, vec![Record::MutualAuthentication(ma("M", 1))]);
    let revision = store.revision().unwrap();
    store
        .mark_demo(DemoKind::MutualAuthentication, "M")
        .unwrap();
    store
        .mark_demo(DemoKind::MutualAuthentication, "M")
        .unwrap();
    store.mark_demo(DemoKind::Activation, "gone").unwrap();
    assert_eq!(store.revision().unwrap(), revision, "marks are not changes");
    assert_eq!(
        store.read().unwrap().demo_resources().unwrap(),
        vec![("mutual_authentication".to_string(), "M".to_string())]
    );
    remove(&*store, Kind::MutualAuthentication, "M");
    assert!(store.read().unwrap().demo_resources().unwrap().is_empty());
}

fn refused(control: &Control, change: Change) -> ControlError {
    control
        .apply(change)
        .expect_err("the change must be refused")
}

pub fn control_rules_hold_on_this_store(store: Arc<dyn Store>) {
    let control = Control::without_data_plane(store.clone());
    let ca = mtls_proxy::devpki::Ca::new("conformance CA").unwrap();
    let server = ca.issue_server(&["a.example", "*.example"], &[]).unwrap();
    let key = control
        .apply(Change::CreatePrivateKey(PrivateKeyFields {
            name: None,
            key: Some(server.key_pem.clone()),
        }))
        .unwrap();
    let again = refused(
        &control,
        Change::CreatePrivateKey(PrivateKeyFields {
            name: None,
            key: Some(server.key_pem.clone()),
        }),
    );
    assert!(matches!(again, ControlError::Conflict(_)), "{again}");
    let cert = control
        .apply(Change::CreateCertificate(CertificateFields {
            name: None,
            cert_blob: Some(server.cert_pem.clone()),
        }))
        .unwrap()
        .id;
    let bad = refused(
        &control,
        Change::CreateMutualAuthentication(MutualAuthenticationFields {
            cert_bundle: Some("not a bundle".into()),
            ..MutualAuthenticationFields::default()
        }),
    );
    assert!(
        matches!(&bad, ControlError::Invalid { field, .. } if field == "cert_bundle"),
        "{bad}"
    );
    let ma = control
        .apply(Change::CreateMutualAuthentication(
            MutualAuthenticationFields {
                cert_bundle: Some(ca.cert().cert_pem.clone()),
                ..MutualAuthenticationFields::default()
            },
        ))
        .unwrap()
        .id;
    let activate = |domain: &str| {
        Change::CreateActivation(ActivationFields {
            domain: Some(domain.into()),
            certificate: RelationshipChange::Set(cert.clone()),
            configuration: RelationshipChange::Absent,
            mutual_authentication: RelationshipChange::Set(ma.clone()),
        })
    };
    let activation = control.apply(activate("A.Example.")).unwrap().id;
    let dup = refused(&control, activate("a.example"));
    assert!(matches!(dup, ControlError::Conflict(_)), "{dup}");
    let uncovered = refused(&control, activate("other.test"));
    assert!(matches!(&uncovered, ControlError::Invalid { field, .. } if field == "tls_domain"));
    for (change, what) in [
        (
            Change::DeleteCertificate { id: cert.clone() },
            "certificate",
        ),
        (
            Change::DeleteMutualAuthentication { id: ma.clone() },
            "mutual authentication",
        ),
        (Change::DeletePrivateKey { id: key.id.clone() }, "key"),
    ] {
        let e = refused(&control, change);
        assert!(
            matches!(e, ControlError::Conflict(_)),
            "deleting the {what}: {e}"
        );
    }
    let missing = refused(
        &control,
        Change::UpdateActivation(Patch {
            id: "missing".into(),
            fields: ActivationFields::default(),
        }),
    );
    assert!(
        matches!(missing, ControlError::NotFound { .. }),
        "{missing}"
    );
    let before = control.stored_revision().unwrap();
    control
        .apply(Change::UpdateActivation(Patch {
            id: activation.clone(),
            fields: ActivationFields {
                mutual_authentication: RelationshipChange::Clear,
                ..ActivationFields::default()
            },
        }))
        .unwrap();
    control
        .apply(Change::DeleteMutualAuthentication { id: ma })
        .unwrap();
    assert_eq!(
        control.stored_revision().unwrap(),
        before + 2,
        "refusals are not counted"
    );
    let stored = store
        .read()
        .unwrap()
        .activation(&activation)
        .unwrap()
        .unwrap();
    assert_eq!(stored.domain, "a.example");
    assert_eq!(stored.mutual_authentication_id, None);
}

pub fn revocation_lists_round_trip_page_and_follow_their_mutual_authentication(
    store: Arc<dyn Store>,
) {
    populate(&*store);
    let r1 = rl("R1", "M1", 50);
    let mut r2 = rl("R2", "M1", 51);
    r2.url = Some("https://crl.example/r2.crl".into());
    r2.last_fetch_error = Some("https://crl.example/r2.crl answered HTTP 503 \u{2014} 'x'".into());
    r2.revoked_count = u64::try_from(i64::MAX).unwrap();
    let r3 = rl("R3", "M2", 52);
    commit(
        &*store,
        vec![
            Record::RevocationList(r3.clone()),
            Record::RevocationList(r1.clone()),
            Record::RevocationList(r2.clone()),
        ],
    );
    let view = store.read().unwrap();
    assert_eq!(view.revocation_list("R2").unwrap().unwrap(), r2);
    assert!(view.revocation_list("nope").unwrap().is_none());
    let of = |m: &str| ids(&view.revocation_lists_of(m).unwrap(), |l| &l.id);
    assert_eq!(of("M1"), ["R1", "R2"], "oldest first");
    assert_eq!(of("M2"), ["R3"]);
    assert!(of("none").is_empty());
    assert_eq!(view.counts().unwrap().revocation_lists, 3);
    let list = |q: &RevocationListQuery, w| {
        let page = view.list_revocation_lists(q, w).unwrap();
        (ids(&page.items, |l| &l.id), page.total)
    };
    let all = RevocationListQuery::default();
    assert_eq!(
        list(&all, Window::ALL),
        (vec!["R1".into(), "R2".into(), "R3".into()], 3)
    );
    let of_m1 = RevocationListQuery {
        mutual_authentication_id: Some("M1".into()),
    };
    assert_eq!(list(&of_m1, window(1, 1)), (vec!["R2".into()], 2));
    let none = RevocationListQuery {
        mutual_authentication_id: Some("none".into()),
    };
    assert_eq!(list(&none, Window::ALL), (vec![], 0));
    assert_eq!(
        view.list_revocation_lists(&all, window(0, 1))
            .unwrap()
            .items,
        std::slice::from_ref(&r1)
    );
    drop(view);

    // A replacement: every mutable column, the mutual authentication stays.
    let mut replaced = r1.clone();
    replaced.name = "renamed".into();
    replaced.url = Some("http://crl.example/r1.crl".into());
    replaced.crl_pem = "R1 crl v2".into();
    replaced.issuer = "CN=other".into();
    replaced.this_update = 1500;
    replaced.next_update = 2500;
    replaced.crl_number = "2".into();
    replaced.revoked_count = 0;
    replaced.last_fetch_error = Some("timeout".into());
    replaced.updated_at = 60;
    let rev = commit(&*store, vec![Record::RevocationList(replaced.clone())]);
    assert_eq!(
        delta(&*store, rev - 1).rows,
        [RowChange::Put(Record::RevocationList(replaced.clone()))]
    );
    replaced.url = None;
    replaced.last_fetch_error = None;
    replaced.updated_at = 61;
    commit(&*store, vec![Record::RevocationList(replaced.clone())]);
    assert_eq!(
        store
            .read()
            .unwrap()
            .revocation_list("R1")
            .unwrap()
            .unwrap(),
        replaced,
        "nullable columns clear"
    );

    // A list needs its mutual authentication, and a mutual authentication with lists cannot
    // go before them: no row disappears without its own entry in the change log.
    let before = store.revision().unwrap();
    let mut tx = store.begin().unwrap();
    assert!(matches!(
        tx.put(&Record::RevocationList(rl("R9", "missing", 53))),
        Err(StoreError::Constraint(_))
    ));
    drop(tx);
    let mut tx = store.begin().unwrap();
    let refused = tx.delete(Kind::MutualAuthentication, "M2");
    assert!(
        matches!(refused, Err(StoreError::Constraint(_))),
        "{refused:?}"
    );
    drop(tx);
    assert_eq!(store.revision().unwrap(), before);
    assert!(store
        .read()
        .unwrap()
        .revocation_list("R3")
        .unwrap()
        .is_some());
    let mut tx = store.begin().unwrap();
    assert!(tx.delete(Kind::RevocationList, "R3").unwrap());
    assert!(tx.delete(Kind::MutualAuthentication, "M2").unwrap());
    let rev = tx.revision_written();
    tx.commit().unwrap();
    let d = delta(&*store, rev - 1);
    assert_eq!(d.rows.len(), 2, "{:?}", d.rows);
    assert!(d
        .rows
        .contains(&RowChange::Removed(Kind::RevocationList, "R3".into())));
    assert!(d
        .rows
        .contains(&RowChange::Removed(Kind::MutualAuthentication, "M2".into())));
    let state = store.read().unwrap().load_state().unwrap();
    assert_eq!(
        ids(&state.revocation_lists, |l| &l.id),
        ["R1", "R2"],
        "the whole state holds the lists, oldest first"
    );
}

/// A CRL of `ca` valid for a week.
fn crl_of(ca: &mtls_proxy::devpki::Ca, number: u64) -> String {
    let now = time::OffsetDateTime::now_utc();
    ca.crl(
        &[],
        number,
        now - time::Duration::hours(1),
        now + time::Duration::days(7),
    )
    .unwrap()
}

pub fn control_deletes_a_mutual_authentications_lists_in_the_change_log(store: Arc<dyn Store>) {
    let control = Control::without_data_plane(store.clone());
    let root = mtls_proxy::devpki::Ca::new("conformance root").unwrap();
    let inter = root.issue_intermediate("conformance intermediate").unwrap();
    let bundle = format!("{}{}", root.cert().cert_pem, inter.cert().cert_pem);
    let ma = control
        .apply(Change::CreateMutualAuthentication(
            MutualAuthenticationFields {
                cert_bundle: Some(bundle),
                ..MutualAuthenticationFields::default()
            },
        ))
        .unwrap()
        .id;
    let create = |pem: String| {
        Change::CreateRevocationList(RevocationListFields {
            crl: Some(pem),
            mutual_authentication: Some(ma.clone()),
            ..RevocationListFields::default()
        })
    };
    let first = control.apply(create(crl_of(&root, 1))).unwrap().id;
    let second = control.apply(create(crl_of(&inter, 1))).unwrap().id;
    let again = refused(&control, create(crl_of(&root, 2)));
    assert!(
        matches!(again, ControlError::Conflict(_)),
        "one list per issuer: {again}"
    );
    let older = refused(
        &control,
        Change::UpdateRevocationList(Patch {
            id: first.clone(),
            fields: RevocationListFields {
                crl: Some(crl_of(&root, 0)),
                ..RevocationListFields::default()
            },
        }),
    );
    assert!(
        matches!(&older, ControlError::Invalid { field, .. } if field == "crl"),
        "{older}"
    );
    let before = control.stored_revision().unwrap();
    control
        .apply(Change::DeleteMutualAuthentication { id: ma.clone() })
        .unwrap();
    let d = delta(&*store, before);
    let mut rows = d.rows.clone();
    rows.sort_by_key(|r| format!("{r:?}"));
    let mut expected = vec![
        RowChange::Removed(Kind::MutualAuthentication, ma),
        RowChange::Removed(Kind::RevocationList, first),
        RowChange::Removed(Kind::RevocationList, second),
    ];
    expected.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(rows, expected);
    assert_eq!(store.read().unwrap().counts().unwrap().revocation_lists, 0);
}

fn beat(id: &str, applied: u64) -> NodeBeat {
    NodeBeat {
        id: id.into(),
        proxy_listen: format!("{id}:8443"),
        admin_listen: format!("{id}:8080"),
        applied_revision: applied,
        started_at: 1_000,
        last_seen: 0,
    }
}

pub fn heartbeats_are_listed_and_replaced_without_a_revision(store: Arc<dyn Store>) {
    assert!(store.nodes().unwrap().nodes.is_empty());
    let before = store.nodes().unwrap().now;
    store.heartbeat(&beat("node-b", 0)).unwrap();
    store.heartbeat(&beat("node-a", 0)).unwrap();
    store.heartbeat(&beat("node-a", 7)).unwrap();
    let listed = store.nodes().unwrap();
    let ids: Vec<&str> = listed.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["node-a", "node-b"], "one row per node, by id");
    let a = &listed.nodes[0];
    assert_eq!(a.applied_revision, 7, "the last heartbeat wins");
    assert_eq!(
        (a.proxy_listen.as_str(), a.started_at),
        ("node-a:8443", 1_000)
    );
    assert!(
        a.last_seen >= before && a.last_seen <= listed.now,
        "last seen is the store's now: {before} <= {} <= {}",
        a.last_seen,
        listed.now
    );
    // Bookkeeping is not a change: no revision, nothing for followers.
    assert_eq!(store.revision().unwrap(), 0);
    match store.read().unwrap().changes_since(0).unwrap() {
        Update::Delta(d) => assert!(d.rows.is_empty(), "{d:?}"),
        Update::Full(_) => panic!("revision 0 is within the log"),
    }
}

fn ticket_key(generation: u64, byte: u8) -> TicketKey {
    TicketKey {
        generation,
        secret: TicketSecret([byte; 32]),
        created_at: 10 * i64::try_from(generation).unwrap(),
        activates_at: 10 * i64::try_from(generation).unwrap() + 5,
    }
}

pub fn ticket_keys_are_added_once_per_generation_and_pruned(store: Arc<dyn Store>) {
    assert!(store.ticket_keys().unwrap().is_empty());
    assert!(store.add_ticket_key(&ticket_key(1, 1)).unwrap());
    // Another node rotating at the same time loses: everyone keeps the first key.
    assert!(!store.add_ticket_key(&ticket_key(1, 2)).unwrap());
    assert_eq!(store.ticket_keys().unwrap(), [ticket_key(1, 1)]);
    for generation in 2..=5 {
        assert!(store.add_ticket_key(&ticket_key(generation, 9)).unwrap());
    }
    let kept: Vec<u64> = store
        .ticket_keys()
        .unwrap()
        .iter()
        .map(|k| k.generation)
        .collect();
    assert_eq!(kept, [5, 4, 3], "newest first, the last three kept");
    assert_eq!(store.revision().unwrap(), 0, "keys are not a change");
}
