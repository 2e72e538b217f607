//! The incremental snapshot equals a snapshot built from scratch: random sequences of changes
//! (valid and refused, made here or by another writer on the same store and caught up with)
//! go through control and the publisher exactly as the API's do, and after each one the served
//! configuration is compared with a whole build of the store's state: the same entries from the
//! same input versions under the same names, the same fallback, server configs and verifiers
//! shared exactly as a whole build shares them, the same revocation lists accepted, and the same
//! stored resources. Revocation lists come and go, are replaced (by newer CRLs, and by older or
//! foreign ones that are refused), refreshed and deleted with their mutual authentication; some
//! CRLs are stale, and half the runs require fresh lists.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use mtls_proxy::control::change::{
    ActivationFields, CertificateFields, ConfigurationFields, MutualAuthenticationFields,
    PrivateKeyFields, RevocationFetch, RevocationListFields, Update as Patch,
};
use mtls_proxy::control::{Change, Control, Prepare, RelationshipChange};
use mtls_proxy::devpki::{Ca, Issued};
use mtls_proxy::metrics::Metrics;
use mtls_proxy::model::Update;
use mtls_proxy::snapshot::build::{BuildInputs, Served};
use mtls_proxy::snapshot::publisher::Publisher;
use mtls_proxy::store::{SqliteStore, Store};
use proptest::prelude::*;

const DOMAINS: [&str; 6] = [
    "a.test",
    "b.test",
    "c.test",
    "x.wild.test",
    "*.wild.test",
    "y.wild.test",
];

/// Where lists with a URL say they refresh from (nothing fetches in this test).
const LIST_URL: &str = "http://127.0.0.1:9/list.crl";

/// CRLs per issuer, in the order they were issued.
const CRLS_PER_ISSUER: usize = 5;

/// Server certificates with overlapping names (so replacing one by another can be valid or
/// not), and client CAs for bundles (a root and its intermediate each) with a series of CRLs
/// per issuer; generated once.
struct Pool {
    servers: Vec<Issued>,
    client_cas: Vec<String>,
    /// [bundle][0: root, 1: intermediate][n]: numbered n + 1, issued in that order; some stale.
    crls: Vec<[Vec<String>; 2]>,
}

/// CRL number n + 1 of `ca`, issued (6 - n) days ago; the second is already stale; the odd
/// ones revoke `revoked`.
fn crl_series(ca: &Ca, revoked: &Issued) -> Vec<String> {
    let now = time::OffsetDateTime::now_utc();
    (0..CRLS_PER_ISSUER)
        .map(|n| {
            let age = i64::try_from(6 - n).unwrap();
            let this = now - time::Duration::days(age);
            let next = match n {
                1 => this + time::Duration::days(1),
                _ => now + time::Duration::days(30),
            };
            let listed: Vec<&[u8]> = match n % 2 {
                1 => vec![&revoked.cert_der],
                _ => vec![],
            };
            ca.crl(&listed, u64::try_from(n + 1).unwrap(), this, next)
                .unwrap()
        })
        .collect()
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let ca = Ca::new("incremental server CA").unwrap();
        let names: [&[&str]; 4] = [
            &["a.test", "*.wild.test"],
            &["a.test", "b.test"],
            &["b.test", "c.test", "x.wild.test"],
            &["*.wild.test", "x.wild.test", "y.wild.test"],
        ];
        Pool {
            servers: names
                .iter()
                .map(|n| ca.issue_server(n, &[]).unwrap())
                .collect(),
            ..bundles()
        }
    })
}

/// Two bundles of a root and its intermediate, and the CRLs of each.
fn bundles() -> Pool {
    let mut client_cas = Vec::new();
    let mut crls = Vec::new();
    for i in 0..2 {
        let root = Ca::new(&format!("client CA {i}")).unwrap();
        let inter = root
            .issue_intermediate(&format!("client intermediate {i}"))
            .unwrap();
        let client = inter
            .issue_client("client", mtls_proxy::devpki::Validity::Current)
            .unwrap();
        client_cas.push(format!("{}{}", root.cert().cert_pem, inter.cert().cert_pem));
        crls.push([crl_series(&root, inter.cert()), crl_series(&inter, &client)]);
    }
    Pool {
        servers: Vec::new(),
        client_cas,
        crls,
    }
}

/// A CRL of the pool: bundle, issuer (0 root, 1 intermediate), number.
type CrlRef = (usize, usize, usize);

fn crl((b, level, n): CrlRef) -> String {
    pool().crls[b][level][n].clone()
}

fn crl_ref() -> impl Strategy<Value = CrlRef> {
    (0..2usize, 0..2usize, 0..CRLS_PER_ISSUER)
}

#[derive(Debug, Clone)]
enum Op {
    CreateKey(usize),
    DeleteKey(usize),
    CreateCert(usize),
    ReplaceCert(usize, usize),
    DeleteCert(usize),
    CreateMa(usize, bool),
    UpdateMa(usize, Option<usize>, Option<bool>),
    DeleteMa(usize),
    Activate(usize, usize, Option<usize>),
    Attach(usize, Option<usize>),
    SwapCert(usize, usize),
    Deactivate(usize),
    Protocols(bool),
    CreateList(usize, CrlRef, bool),
    /// A CRL of the list's own issuer numbered n, or (true) of the other bundle's.
    ReplaceList(usize, usize, bool),
    RefreshFrom(usize, Option<bool>),
    Fetched(usize, Option<usize>),
    DeleteList(usize),
}

fn op() -> impl Strategy<Value = Op> {
    // Weighted towards changes that touch served entries; the rest keep the resources
    // coming and going (and many are refused, which must change nothing).
    prop_oneof![
        1 => (0..4usize).prop_map(Op::CreateKey),
        1 => (0..4usize).prop_map(Op::DeleteKey),
        1 => (0..4usize).prop_map(Op::CreateCert),
        3 => (0..4usize, 0..4usize).prop_map(|(a, b)| Op::ReplaceCert(a, b)),
        1 => (0..4usize).prop_map(Op::DeleteCert),
        1 => (0..2usize, any::<bool>()).prop_map(|(b, e)| Op::CreateMa(b, e)),
        4 => (0..3usize, prop::option::of(0..2usize), prop::option::of(any::<bool>()))
            .prop_map(|(m, b, e)| Op::UpdateMa(m, b, e)),
        1 => (0..3usize).prop_map(Op::DeleteMa),
        4 => (0..6usize, 0..4usize, prop::option::of(0..3usize))
            .prop_map(|(d, c, m)| Op::Activate(d, c, m)),
        5 => (0..6usize, prop::option::of(0..3usize)).prop_map(|(a, m)| Op::Attach(a, m)),
        3 => (0..6usize, 0..4usize).prop_map(|(a, c)| Op::SwapCert(a, c)),
        3 => (0..6usize).prop_map(Op::Deactivate),
        1 => any::<bool>().prop_map(Op::Protocols),
        3 => (0..3usize, crl_ref(), any::<bool>()).prop_map(|(m, c, u)| Op::CreateList(m, c, u)),
        3 => (0..4usize, 0..CRLS_PER_ISSUER, prop::bool::weighted(0.2))
            .prop_map(|(l, n, foreign)| Op::ReplaceList(l, n, foreign)),
        1 => (0..4usize, prop::option::of(any::<bool>())).prop_map(|(l, u)| Op::RefreshFrom(l, u)),
        2 => (0..4usize, prop::option::of(0..CRLS_PER_ISSUER)).prop_map(|(l, n)| Op::Fetched(l, n)),
        1 => (0..4usize).prop_map(Op::DeleteList),
    ]
}

/// Ids of what was created, by pool slot (a slot may be empty or hold a deleted id).
#[derive(Default)]
struct Ids {
    keys: HashMap<usize, String>,
    certs: HashMap<usize, String>,
    mas: Vec<String>,
    activations: HashMap<usize, String>,
    /// Each list created with the issuer of its CRL (bundle, level).
    lists: Vec<(String, usize, usize)>,
}

fn list_id(ids: &Ids, l: usize) -> String {
    ids.lists
        .get(l)
        .map_or_else(|| "missing".into(), |(id, ..)| id.clone())
}

/// CRL number n of list l's issuer (of the other bundle when `foreign`).
fn crl_of_list(ids: &Ids, l: usize, n: usize, foreign: bool) -> String {
    let (b, level) = ids
        .lists
        .get(l)
        .map_or((0, 0), |(_, b, level)| (*b, *level));
    let b = if foreign { 1 - b } else { b };
    crl((b, level, n))
}

fn id(map: &HashMap<usize, String>, slot: usize) -> String {
    map.get(&slot).cloned().unwrap_or_else(|| "missing".into())
}

fn nth(list: &[String], i: usize) -> String {
    list.get(i).cloned().unwrap_or_else(|| "missing".into())
}

/// The change an op asks for, given what exists.
fn change(op: &Op, ids: &Ids, configuration: &str) -> Change {
    let p = pool();
    match op.clone() {
        Op::CreateKey(i) => Change::CreatePrivateKey(PrivateKeyFields {
            name: None,
            key: Some(p.servers[i].key_pem.clone()),
        }),
        Op::DeleteKey(i) => Change::DeletePrivateKey {
            id: id(&ids.keys, i),
        },
        Op::CreateCert(i) => Change::CreateCertificate(CertificateFields {
            name: None,
            cert_blob: Some(p.servers[i].cert_pem.clone()),
        }),
        Op::ReplaceCert(i, j) => Change::UpdateCertificate(Patch {
            id: id(&ids.certs, i),
            fields: CertificateFields {
                name: None,
                cert_blob: Some(p.servers[j].cert_pem.clone()),
            },
        }),
        Op::DeleteCert(i) => Change::DeleteCertificate {
            id: id(&ids.certs, i),
        },
        Op::CreateMa(b, enforced) => {
            Change::CreateMutualAuthentication(MutualAuthenticationFields {
                name: None,
                cert_bundle: Some(p.client_cas[b].clone()),
                enforced: Some(enforced),
            })
        }
        Op::UpdateMa(m, b, enforced) => Change::UpdateMutualAuthentication(Patch {
            id: nth(&ids.mas, m),
            fields: MutualAuthenticationFields {
                name: None,
                cert_bundle: b.map(|b| p.client_cas[b].clone()),
                enforced,
            },
        }),
        Op::DeleteMa(m) => Change::DeleteMutualAuthentication {
            id: nth(&ids.mas, m),
        },
        Op::Activate(d, c, m) => Change::CreateActivation(ActivationFields {
            domain: Some(DOMAINS[d].into()),
            certificate: RelationshipChange::Set(id(&ids.certs, c)),
            configuration: RelationshipChange::Absent,
            mutual_authentication: match m {
                Some(m) => RelationshipChange::Set(nth(&ids.mas, m)),
                None => RelationshipChange::Absent,
            },
        }),
        Op::Attach(a, m) => Change::UpdateActivation(Patch {
            id: id(&ids.activations, a),
            fields: ActivationFields {
                mutual_authentication: match m {
                    Some(m) => RelationshipChange::Set(nth(&ids.mas, m)),
                    None => RelationshipChange::Clear,
                },
                ..ActivationFields::default()
            },
        }),
        Op::SwapCert(a, c) => Change::UpdateActivation(Patch {
            id: id(&ids.activations, a),
            fields: ActivationFields {
                certificate: RelationshipChange::Set(id(&ids.certs, c)),
                ..ActivationFields::default()
            },
        }),
        Op::Deactivate(a) => Change::DeleteActivation {
            id: id(&ids.activations, a),
        },
        Op::CreateList(m, c, with_url) => Change::CreateRevocationList(RevocationListFields {
            name: None,
            crl: Some(crl(c)),
            url: with_url.then(|| Some(LIST_URL.to_string())),
            mutual_authentication: Some(nth(&ids.mas, m)),
        }),
        Op::ReplaceList(l, n, foreign) => Change::UpdateRevocationList(Patch {
            id: list_id(ids, l),
            fields: RevocationListFields {
                crl: Some(crl_of_list(ids, l, n, foreign)),
                ..RevocationListFields::default()
            },
        }),
        Op::RefreshFrom(l, url) => Change::UpdateRevocationList(Patch {
            id: list_id(ids, l),
            fields: RevocationListFields {
                url: url.map(|set| set.then(|| LIST_URL.to_string())),
                name: url.is_none().then(|| "renamed".to_string()),
                ..RevocationListFields::default()
            },
        }),
        Op::Fetched(l, n) => Change::RecordRevocationFetch(RevocationFetch {
            id: list_id(ids, l),
            url: LIST_URL.into(),
            outcome: n
                .map(|n| crl_of_list(ids, l, n, false))
                .ok_or_else(|| "connection refused".to_string()),
        }),
        Op::DeleteList(l) => Change::DeleteRevocationList {
            id: list_id(ids, l),
        },
        Op::Protocols(both) => Change::UpdateConfiguration(Patch {
            id: configuration.into(),
            fields: ConfigurationFields {
                name: None,
                tls_protocols: Some(match both {
                    true => vec!["1.2".into(), "1.3".into()],
                    false => vec!["1.3".into()],
                }),
                http_protocols: None,
            },
        }),
    }
}

fn remember(op: &Op, ids: &mut Ids, created: String) {
    match op {
        Op::CreateKey(i) => drop(ids.keys.insert(*i, created)),
        Op::CreateCert(i) => drop(ids.certs.insert(*i, created)),
        Op::CreateMa(..) => ids.mas.push(created),
        Op::Activate(d, ..) => drop(ids.activations.insert(*d, created)),
        Op::CreateList(_, (b, level, _), _) => ids.lists.push((created, *b, *level)),
        _ => {}
    }
}

/// Everything two served configurations must agree on, independent of pointer values.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    revision: u64,
    /// activation id → (domain, input versions, policy id)
    entries: BTreeMap<String, String>,
    /// Which entries share one server config, and which share one verifier.
    config_groups: Vec<Vec<String>>,
    auth_groups: Vec<Vec<String>>,
    fallback: Option<String>,
    lists_checked: Vec<(String, i64)>,
    domains_served: usize,
    configs_held: usize,
    stored: String,
}

fn groups<K: Eq + std::hash::Hash>(items: impl Iterator<Item = (K, String)>) -> Vec<Vec<String>> {
    let mut by: HashMap<K, Vec<String>> = HashMap::new();
    for (k, id) in items {
        by.entry(k).or_default().push(id);
    }
    let mut out: Vec<Vec<String>> = by
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    out.sort();
    out
}

fn shape(served: &Served) -> Shape {
    let (placed, fallback) = served.placed();
    let snapshot = served.snapshot();
    for (id, p) in &placed {
        // Each entry is the one its name resolves to: the table and the placements agree.
        let served_entry = snapshot
            .domains
            .get(&p.entry.name)
            .expect("placed name is served");
        assert!(
            Arc::ptr_eq(served_entry, &p.entry),
            "{id}: the table holds another entry"
        );
        assert_eq!(
            p.entry.client_auth.is_some(),
            p.key.client_auth.is_some(),
            "{id}"
        );
    }
    Shape {
        revision: snapshot.revision,
        entries: placed
            .iter()
            .map(|(id, p)| {
                let ma = p.entry.mutual_authentication_id.as_deref().unwrap_or("-");
                (id.clone(), format!("{} {:?} {ma}", p.entry.name, p.key))
            })
            .collect(),
        config_groups: groups(
            placed
                .iter()
                .map(|(id, p)| (Arc::as_ptr(&p.entry.server_config) as usize, id.clone())),
        ),
        auth_groups: groups(placed.iter().filter_map(|(id, p)| {
            let auth = p.entry.client_auth.as_ref()?;
            Some((Arc::as_ptr(auth) as usize, id.clone()))
        })),
        fallback: fallback.map(|p| format!("{} {:?}", p.entry.name, p.key)),
        lists_checked: served.lists_checked(),
        domains_served: snapshot.domains.len(),
        configs_held: served.server_config_count(),
        stored: stored(served),
    }
}

/// The stored resources by id and version (no key material in test output).
fn stored(served: &Served) -> String {
    let s = served.tables().to_state();
    let mut out = format!("revision {}\n", s.revision);
    for m in &s.mutual_authentications {
        out += &format!("ma {} {} {}\n", m.id, m.updated_at, m.enforced);
    }
    for k in &s.private_keys {
        out += &format!("key {} {}\n", k.id, k.public_key_sha1);
    }
    for c in &s.certificates {
        out += &format!(
            "cert {} {} {} {:?}\n",
            c.id, c.updated_at, c.public_key_sha1, c.dns_names
        );
    }
    for c in &s.configurations {
        out += &format!(
            "configuration {} {} {:?}\n",
            c.id, c.updated_at, c.tls_protocols
        );
    }
    for a in &s.activations {
        out += &format!("{a:?}\n");
    }
    for l in &s.revocation_lists {
        out += &format!(
            "list {} of {} {} {} #{} {:?} {:?}\n",
            l.id,
            l.mutual_authentication_id,
            l.updated_at,
            l.issuer,
            l.crl_number,
            l.url,
            l.last_fetch_error
        );
    }
    out
}

struct Node {
    control: Control,
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    inputs: Arc<BuildInputs>,
}

fn node(store: Arc<dyn Store>, require_fresh: bool) -> Node {
    let inputs = Arc::new(BuildInputs {
        default_domain: Some("b.test".into()),
        require_fresh,
        ..BuildInputs::default()
    });
    let metrics = Arc::new(Metrics::new().unwrap());
    let publisher = Arc::new(Publisher::new((*inputs).clone(), metrics.clone()));
    let p = publisher.clone();
    let prepare: Box<Prepare> = Box::new(move |update| {
        let prepared = p.prepare(update).map_err(|e| e.to_string())?;
        let p = p.clone();
        Ok(Box::new(move || p.publish(prepared)))
    });
    let control = Control::new(store, prepare);
    control.publish_current().unwrap();
    Node {
        control,
        publisher,
        metrics,
        inputs,
    }
}

/// The series that follow the configuration (certificate and client CA expiry, revocation
/// lists) a registry exports, sorted.
fn expiry_series(metrics: &Metrics) -> Vec<String> {
    let mut lines: Vec<String> = metrics
        .render()
        .lines()
        .filter(|l| {
            l.starts_with("mtls_proxy_certificate_not_after")
                || l.starts_with("mtls_proxy_client_ca_not_after")
                || l.starts_with("mtls_proxy_crl_next_update")
                || l.starts_with("mtls_proxy_crl_revoked")
                || l.starts_with("mtls_proxy_crl_stale")
        })
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn check(n: &Node, what: &str) {
    let state = n.control.read(|r| r.load_state()).unwrap();
    let (scratch, _) = Served::build(&state, n.inputs.clone(), None, None).unwrap();
    let incremental = n.publisher.served();
    assert_eq!(shape(&incremental), shape(&scratch), "after {what}");
    // The metrics a delta updated equal those a whole publish sets.
    let fresh = Arc::new(Metrics::new().unwrap());
    let whole = Publisher::new((*n.inputs).clone(), fresh.clone());
    whole.publish(whole.prepare(&Update::Full(state)).unwrap());
    assert_eq!(
        expiry_series(&n.metrics),
        expiry_series(&fresh),
        "metrics after {what}"
    );
}

/// Every key and certificate, two policies (the first with lists of both its issuers, one of
/// them refreshed from a URL), five of the six names activated.
fn baseline() -> Vec<Op> {
    let mut ops: Vec<Op> = (0..4).map(Op::CreateKey).collect();
    ops.extend((0..4).map(Op::CreateCert));
    ops.extend([Op::CreateMa(0, true), Op::CreateMa(1, false)]);
    ops.extend([
        Op::Activate(0, 0, Some(0)),
        Op::Activate(1, 1, None),
        Op::Activate(2, 2, Some(1)),
        Op::Activate(4, 3, Some(0)),
        Op::Activate(3, 2, Some(0)),
        Op::CreateList(0, (0, 0, 0), false),
        Op::CreateList(0, (0, 1, 0), true),
    ]);
    ops
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn incremental_snapshots_equal_whole_builds(
        ops in prop::collection::vec((op(), 0..5u8), 10..50),
        require_fresh in any::<bool>(),
    ) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        let n = node(store.clone(), require_fresh);
        // Another writer on the same store (another node of a fleet, say).
        let elsewhere = Control::without_data_plane(store);
        let configuration = n.control.read(|r| r.default_configuration()).unwrap().id;
        let mut ids = Ids::default();
        let baseline = baseline().into_iter().map(|op| (op, 1u8));
        for (op, route) in baseline.chain(ops) {
            let (op, route) = (&op, &route);
            let c = change(op, &ids, &configuration);
            // One change in five is committed by the other writer and caught up with.
            let result = match route {
                0 => elsewhere.apply(c).and_then(|a| n.control.catch_up().map(|_| a)),
                _ => n.control.apply(c),
            };
            if let Ok(applied) = result {
                remember(op, &mut ids, applied.id);
            }
            check(&n, &format!("{op:?}"));
        }
    }
}
