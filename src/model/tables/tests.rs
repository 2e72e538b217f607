//! Tables: deltas applied in place equal the tables of the resulting state, and say what they
//! touched.

use super::*;

fn ma(id: &str, at: i64) -> MutualAuthentication {
    MutualAuthentication {
        id: id.into(),
        name: id.into(),
        enforced: true,
        cert_bundle: "pem".into(),
        created_at: 1,
        updated_at: at,
    }
}

fn cert(id: &str, sha1: &str) -> Certificate {
    Certificate {
        id: id.into(),
        name: id.into(),
        cert_blob: String::new(),
        issued_to: String::new(),
        issuer: String::new(),
        serial_number: String::new(),
        signature_algorithm: String::new(),
        not_before: 0,
        not_after: 0,
        dns_names: vec![],
        public_key_sha1: sha1.into(),
        created_at: 1,
        updated_at: 1,
    }
}

fn key(id: &str, sha1: &str) -> PrivateKey {
    PrivateKey {
        id: id.into(),
        name: id.into(),
        key_pem: String::new(),
        key_type: "ECDSA".into(),
        key_length: 256,
        public_key_sha1: sha1.into(),
        created_at: 1,
    }
}

fn act(id: &str, domain: &str, cert: &str, ma: Option<&str>) -> Activation {
    Activation {
        id: id.into(),
        domain: domain.into(),
        certificate_id: cert.into(),
        configuration_id: "F".into(),
        mutual_authentication_id: ma.map(String::from),
        created_at: 1,
        updated_at: 1,
    }
}

fn conf() -> Configuration {
    Configuration {
        id: "F".into(),
        name: "f".into(),
        default: true,
        tls_protocols: vec![],
        http_protocols: vec![],
        created_at: 0,
        updated_at: 0,
    }
}

fn list(id: &str, ma: &str, at: i64) -> RevocationList {
    RevocationList {
        id: id.into(),
        mutual_authentication_id: ma.into(),
        name: id.into(),
        url: None,
        crl_pem: String::new(),
        issuer: "CN=CA".into(),
        this_update: 0,
        next_update: 100,
        crl_number: "1".into(),
        revoked_count: 0,
        last_fetch_error: None,
        created_at: 1,
        updated_at: at,
    }
}

fn delta(to: u64, rows: Vec<RowChange>) -> Delta {
    Delta {
        from: to - 1,
        to,
        rows,
    }
}

fn put(r: Record) -> RowChange {
    RowChange::Put(r)
}

fn base() -> Tables {
    let state = State {
        revision: 1,
        mutual_authentications: vec![ma("M", 1)],
        private_keys: vec![key("K1", "s1"), key("K2", "s2")],
        certificates: vec![cert("C1", "s1"), cert("C2", "s2")],
        configurations: vec![conf()],
        activations: vec![
            act("A1", "a.example", "C1", Some("M")),
            act("A2", "b.example", "C1", Some("M")),
            act("A3", "c.example", "C2", None),
        ],
        revocation_lists: vec![list("R1", "M", 1)],
    };
    Tables::from_state(&state)
}

fn ids(set: &BTreeSet<String>) -> Vec<&str> {
    set.iter().map(String::as_str).collect()
}

#[test]
fn a_mutual_authentication_change_touches_exactly_its_activations() {
    let mut t = base();
    let touched = t.apply(&delta(
        2,
        vec![put(Record::MutualAuthentication(ma("M", 2)))],
    ));
    assert_eq!(ids(&touched.activations), ["A1", "A2"]);
    assert_eq!(ids(&touched.mutual_authentications), ["M"]);
    assert!(touched.attachments.is_empty());
    assert_eq!(t.revision(), 2);
    assert_eq!(t.mutual_authentication("M").unwrap().updated_at, 2);
}

#[test]
fn a_key_change_reaches_activations_through_its_certificates() {
    let mut t = base();
    let touched = t.apply(&delta(
        2,
        vec![RowChange::Removed(Kind::PrivateKey, "K2".into())],
    ));
    assert_eq!(ids(&touched.certificates), ["C2"]);
    assert_eq!(ids(&touched.activations), ["A3"]);
    assert!(t.key_for(&cert("C2", "s2")).is_none());
}

#[test]
fn moving_and_removing_activations_keeps_every_index_right() {
    let mut t = base();
    let touched = t.apply(&delta(
        2,
        vec![
            put(Record::Activation(act("A1", "a.example", "C2", None))),
            RowChange::Removed(Kind::Activation, "A2".into()),
        ],
    ));
    assert_eq!(ids(&touched.activations), ["A1", "A2"]);
    assert!(
        touched.mutual_authentications.is_empty(),
        "M itself did not change"
    );
    assert_eq!(ids(&touched.attachments), ["M"]);
    assert!(!t.mutual_authentication_in_use("M"));
    assert!(!t.certificate_in_use("C1"));
    assert!(t.activation_by_domain("b.example").is_none());
    let expected = Tables::from_state(&t.to_state());
    assert_eq!(
        format!("{:?}", t.to_state()),
        format!("{:?}", expected.to_state())
    );
}

#[test]
fn a_clone_is_unaffected_by_changes_to_the_original() {
    let mut t = base();
    let before = t.clone();
    t.apply(&delta(
        2,
        vec![RowChange::Removed(Kind::Activation, "A3".into())],
    ));
    assert!(before.activation("A3").is_some());
    assert!(t.activation("A3").is_none());
    assert_eq!(before.activation_count(), 3);
}

#[test]
fn attaching_touches_the_activation_not_the_policys_other_users() {
    let mut t = base();
    let touched = t.apply(&delta(
        2,
        vec![put(Record::Activation(act(
            "A3",
            "c.example",
            "C2",
            Some("M"),
        )))],
    ));
    assert_eq!(
        ids(&touched.activations),
        ["A3"],
        "A1 and A2 use M too, unchanged"
    );
    assert_eq!(ids(&touched.attachments), ["M"]);
    assert!(touched.mutual_authentications.is_empty());
}

#[test]
fn a_revocation_list_change_touches_its_policys_activations_only() {
    let mut t = base();
    let mut more = base();
    more.apply(&delta(
        2,
        vec![put(Record::MutualAuthentication(ma("M2", 1)))],
    ));
    for (rows, lists_of_m) in [
        (
            vec![put(Record::RevocationList(list("R1", "M", 2)))],
            vec!["R1"],
        ),
        (
            vec![put(Record::RevocationList(list("R2", "M", 1)))],
            vec!["R1", "R2"],
        ),
        (
            vec![RowChange::Removed(Kind::RevocationList, "R1".into())],
            vec!["R2"],
        ),
    ] {
        let touched = t.apply(&delta(t.revision() + 1, rows));
        assert_eq!(ids(&touched.activations), ["A1", "A2"]);
        assert_eq!(ids(&touched.policies), ["M"]);
        assert!(
            touched.mutual_authentications.is_empty(),
            "M itself did not change"
        );
        let of_m: Vec<&str> = t
            .revocation_lists_of("M")
            .iter()
            .map(|l| l.id.as_str())
            .collect();
        assert_eq!(of_m, lists_of_m);
    }
    assert_eq!(
        ids(&t.apply(&delta(5, vec![])).revocation_lists),
        Vec::<&str>::new()
    );
    // A list of an unattached policy touches no activation.
    let touched = more.apply(&delta(
        3,
        vec![put(Record::RevocationList(list("R9", "M2", 1)))],
    ));
    assert!(touched.activations.is_empty());
    assert_eq!(ids(&touched.revocation_lists), ["R9"]);
    let expected = Tables::from_state(&t.to_state());
    assert_eq!(
        format!("{:?}", t.to_state()),
        format!("{:?}", expected.to_state())
    );
}
