//! Revocation lists through control: validation against the bundle, replacement order, one
//! list per issuer, fetch outcomes, and their life with their mutual authentication.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::control::change::{
    MutualAuthenticationFields, RevocationFetch, RevocationListFields, Update,
};
use crate::control::{Change, Control, ControlError};
use crate::devpki::{Ca, Validity};
use crate::model::RevocationList;
use crate::store::{SqliteStore, StoreError};

fn control() -> Control {
    Control::without_data_plane(Arc::new(SqliteStore::in_memory().unwrap()))
}

fn ma(c: &Control, bundle: &str) -> String {
    let fields = MutualAuthenticationFields {
        cert_bundle: Some(bundle.into()),
        ..Default::default()
    };
    c.apply(Change::CreateMutualAuthentication(fields))
        .unwrap()
        .id
}

/// A CRL of `ca` issued `age_hours` ago with number `n`.
fn crl(ca: &Ca, n: u64, age_hours: i64, revoked: &[&[u8]]) -> String {
    let now = OffsetDateTime::now_utc();
    let this = now - Duration::hours(age_hours);
    ca.crl(revoked, n, this, now + Duration::days(7)).unwrap()
}

fn create(c: &Control, ma: &str, pem: String, url: Option<&str>) -> Result<String, ControlError> {
    let fields = RevocationListFields {
        crl: Some(pem),
        url: url.map(|u| Some(u.to_string())),
        mutual_authentication: Some(ma.into()),
        ..Default::default()
    };
    c.apply(Change::CreateRevocationList(fields)).map(|a| a.id)
}

fn replace(c: &Control, id: &str, pem: String) -> Result<String, ControlError> {
    let fields = RevocationListFields {
        crl: Some(pem),
        ..Default::default()
    };
    let u = Update {
        id: id.into(),
        fields,
    };
    c.apply(Change::UpdateRevocationList(u)).map(|a| a.id)
}

fn get(c: &Control, id: &str) -> Option<RevocationList> {
    c.read(|r| -> Result<_, StoreError> { r.revocation_list(id) })
        .unwrap()
}

fn problem(r: Result<String, ControlError>) -> String {
    match r {
        Err(ControlError::Invalid { field, problem }) => format!("{field} {problem}"),
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn an_upload_must_come_from_the_bundle() {
    let c = control();
    let root = Ca::new("Root").unwrap();
    let other = Ca::new("Other").unwrap();
    let impostor = Ca::new("Root").unwrap();
    let m = ma(&c, &root.cert().cert_pem);
    let p = problem(create(&c, &m, crl(&other, 1, 1, &[]), None));
    assert!(
        p.starts_with("crl is issued by") && p.contains("CN=Other"),
        "{p}"
    );
    let p = problem(create(&c, &m, crl(&impostor, 1, 1, &[]), None));
    assert!(p.contains("signature that does not verify"), "{p}");
    let p = problem(create(&c, &m, "garbage".into(), None));
    assert!(p.starts_with("crl "), "{p}");
    let p = problem(create(&c, "nope", crl(&root, 1, 1, &[]), None));
    assert!(p.starts_with("mutual_authentication"), "{p}");
    let p = problem(create(&c, &m, crl(&root, 1, 1, &[]), Some("ftp://x/y")));
    assert!(p.starts_with("url "), "{p}");

    let id = create(&c, &m, crl(&root, 1, 1, &[]), None).unwrap();
    let list = get(&c, &id).unwrap();
    assert_eq!(list.mutual_authentication_id, m);
    assert_eq!(list.crl_number, "1");
    assert!(list.name.contains(&id));
    // One list per issuer: the second is a conflict, not a second source of truth.
    assert!(matches!(
        create(&c, &m, crl(&root, 2, 0, &[]), None),
        Err(ControlError::Conflict(_))
    ));
}

#[test]
fn a_replacement_must_be_newer_and_from_the_same_issuer() {
    let c = control();
    let root = Ca::new("Root").unwrap();
    let inter = root.issue_intermediate("Inter").unwrap();
    let bundle = format!("{}{}", root.cert().cert_pem, inter.cert().cert_pem);
    let m = ma(&c, &bundle);
    let id = create(&c, &m, crl(&root, 5, 2, &[]), None).unwrap();
    let before = get(&c, &id).unwrap();

    let p = problem(replace(&c, &id, crl(&root, 6, 3, &[])));
    assert!(p.contains("older") && p.contains("thisUpdate"), "{p}");
    let p = problem(replace(&c, &id, crl(&root, 4, 1, &[])));
    assert!(p.contains("CRL number 4"), "{p}");
    let p = problem(replace(&c, &id, crl(&inter, 9, 0, &[])));
    assert!(p.contains("create another list"), "{p}");
    assert_eq!(get(&c, &id).unwrap(), before, "nothing stored");

    let leaf = root.issue_client("x", Validity::Current).unwrap();
    replace(&c, &id, crl(&root, 6, 1, &[&leaf.cert_der])).unwrap();
    let after = get(&c, &id).unwrap();
    assert_eq!((after.crl_number.as_str(), after.revoked_count), ("6", 1));
    assert!(after.updated_at > before.updated_at);
    // The intermediate gets its own list.
    create(&c, &m, crl(&inter, 1, 1, &[]), None).unwrap();
}

#[test]
fn fetch_outcomes_replace_or_are_recorded() {
    let c = control();
    let root = Ca::new("Root").unwrap();
    let m = ma(&c, &root.cert().cert_pem);
    let url = "http://127.0.0.1:1/root.crl";
    let id = create(&c, &m, crl(&root, 5, 2, &[]), Some(url)).unwrap();
    let fetch = |outcome: Result<String, String>| {
        Change::RecordRevocationFetch(RevocationFetch {
            id: id.clone(),
            url: url.into(),
            outcome,
        })
    };
    let before = get(&c, &id).unwrap();

    c.apply(fetch(Err("connection refused".into()))).unwrap();
    let failed = get(&c, &id).unwrap();
    assert_eq!(
        failed.last_fetch_error.as_deref(),
        Some("connection refused")
    );
    assert_eq!(
        (failed.updated_at, &failed.crl_pem),
        (before.updated_at, &before.crl_pem)
    );

    c.apply(fetch(Ok(crl(&root, 4, 1, &[])))).unwrap();
    let older = get(&c, &id).unwrap();
    assert!(older.last_fetch_error.unwrap().contains("CRL number 4"));
    assert_eq!(older.crl_pem, before.crl_pem, "an older CRL never replaces");

    let huge_error = "x".repeat(5000);
    c.apply(fetch(Err(huge_error))).unwrap();
    assert_eq!(get(&c, &id).unwrap().last_fetch_error.unwrap().len(), 1000);

    let newer = crl(&root, 6, 1, &[]);
    c.apply(fetch(Ok(newer.clone()))).unwrap();
    let replaced = get(&c, &id).unwrap();
    assert_eq!(
        (replaced.crl_pem.as_str(), replaced.last_fetch_error),
        (newer.as_str(), None)
    );
    assert!(replaced.updated_at > before.updated_at);

    let moved = Change::RecordRevocationFetch(RevocationFetch {
        id: id.clone(),
        url: "http://elsewhere/x.crl".into(),
        outcome: Err("x".into()),
    });
    assert!(matches!(c.apply(moved), Err(ControlError::Conflict(_))));
}

#[test]
fn lists_live_and_die_with_their_mutual_authentication() {
    let c = control();
    let root = Ca::new("Root").unwrap();
    let other = Ca::new("Other").unwrap();
    let m = ma(&c, &root.cert().cert_pem);
    let id = create(&c, &m, crl(&root, 1, 1, &[]), None).unwrap();

    let rotate = |bundle: String| {
        let fields = MutualAuthenticationFields {
            cert_bundle: Some(bundle),
            ..Default::default()
        };
        c.apply(Change::UpdateMutualAuthentication(Update {
            id: m.clone(),
            fields,
        }))
    };
    let p = match rotate(other.cert().cert_pem.clone()) {
        Err(ControlError::Invalid { field, problem }) => format!("{field} {problem}"),
        r => panic!("{r:?}"),
    };
    assert!(p.starts_with("cert_bundle") && p.contains(&id), "{p}");
    rotate(format!("{}{}", other.cert().cert_pem, root.cert().cert_pem)).unwrap();

    c.apply(Change::DeleteMutualAuthentication { id: m.clone() })
        .unwrap();
    assert!(get(&c, &id).is_none());
}
