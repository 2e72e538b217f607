//! Snapshot build tests: sharing, incremental reuse, policy identity, failures.

use std::sync::Arc;

use super::*;
use crate::devpki::Ca;
use crate::model::origin::{OriginRoute, OriginSpec};
use crate::model::{
    Certificate, Configuration, Kind, MutualAuthentication, PrivateKey, Record, RevocationList,
    RowChange,
};

fn state() -> State {
    let ca = Ca::new("server CA").unwrap();
    let server = ca
        .issue_server(&["a.example.com", "*.example.com"], &[])
        .unwrap();
    let info = pki::parse_certificate_chain(&server.cert_pem).unwrap();
    let key = pki::parse_private_key(&server.key_pem).unwrap();
    let client_ca = Ca::new("client CA").unwrap();
    let ma = |id: &str, enforced| MutualAuthentication {
        id: id.into(),
        name: id.into(),
        enforced,
        cert_bundle: client_ca.cert().cert_pem.clone(),
        created_at: 1,
        updated_at: 1,
    };
    let act = |id: &str, domain: &str, ma: Option<&str>| Activation {
        id: id.into(),
        domain: domain.into(),
        certificate_id: "C".into(),
        configuration_id: "F".into(),
        mutual_authentication_id: ma.map(String::from),
        created_at: 1,
        updated_at: 1,
    };
    State {
        revision: 7,
        mutual_authentications: vec![ma("M1", true), ma("M2", false)],
        private_keys: vec![PrivateKey {
            id: "K".into(),
            name: "k".into(),
            key_pem: server.key_pem.clone(),
            key_type: "ECDSA".into(),
            key_length: 256,
            public_key_sha1: key.public_key_sha1,
            created_at: 1,
        }],
        certificates: vec![Certificate {
            id: "C".into(),
            name: "c".into(),
            cert_blob: server.cert_pem.clone(),
            issued_to: info.issued_to,
            issuer: info.issuer,
            serial_number: info.serial_number,
            signature_algorithm: info.signature_algorithm,
            not_before: info.not_before,
            not_after: info.not_after,
            dns_names: info.dns_names,
            public_key_sha1: info.public_key_sha1,
            created_at: 1,
            updated_at: 1,
        }],
        configurations: vec![Configuration {
            id: "F".into(),
            name: "f".into(),
            default: true,
            tls_protocols: vec!["1.2".into(), "1.3".into()],
            http_protocols: vec!["http/1.1".into(), "http/2".into()],
            created_at: 1,
            updated_at: 1,
        }],
        activations: vec![
            act("A1", "a.example.com", Some("M1")),
            act("A2", "b.example.com", Some("M1")),
            act("A3", "c.example.com", Some("M2")),
            act("A4", "*.example.com", None),
        ],
        revocation_lists: vec![],
    }
}

/// A whole build of `st`, reusing `donor`'s TLS objects: the snapshot, what to keep, stats.
fn build(
    st: &State,
    inputs: &BuildInputs,
    donor: Option<&Served>,
) -> Result<(Snapshot, Served, BuildStats), BuildError> {
    let (served, stats) = Served::build(st, Arc::new(inputs.clone()), donor, None)?;
    Ok((served.snapshot(), served, stats))
}

fn entry<'a>(s: &'a Snapshot, name: &str) -> &'a Arc<DomainEntry> {
    s.domain(name).unwrap()
}

#[test]
fn domains_with_the_same_inputs_share_one_server_config() {
    let st = state();
    let (snap, _, stats) = build(&st, &BuildInputs::default(), None).unwrap();
    assert_eq!(snap.revision, 7);
    assert_eq!(stats.server_configs_built, 3);
    let (a, b, c) = (
        entry(&snap, "a.example.com"),
        entry(&snap, "b.example.com"),
        entry(&snap, "c.example.com"),
    );
    assert!(Arc::ptr_eq(&a.server_config, &b.server_config));
    assert!(!Arc::ptr_eq(&a.server_config, &c.server_config));
    assert!(
        entry(&snap, "zzz.example.com").client_auth.is_none(),
        "wildcard entry"
    );
    assert_eq!(a.mutual_authentication_id.as_deref(), Some("M1"));
}

#[test]
fn unchanged_rebuild_reuses_everything_and_keeps_policies() {
    let st = state();
    let inputs = BuildInputs::default();
    let (first, cache, _) = build(&st, &inputs, None).unwrap();
    let (second, _, stats) = build(&st, &inputs, Some(&cache)).unwrap();
    assert_eq!(stats.server_configs_built, 0);
    assert_eq!(stats.server_configs_reused, 3);
    for name in ["a.example.com", "c.example.com", "x.example.com"] {
        assert!(Arc::ptr_eq(
            &entry(&first, name).server_config,
            &entry(&second, name).server_config
        ));
        assert!(
            second.keeps_policy(entry(&first, name), Some(name), false),
            "{name}"
        );
    }
}

#[test]
fn a_rotated_bundle_rebuilds_only_its_domains_and_changes_their_policy() {
    let mut st = state();
    let inputs = BuildInputs::default();
    let (first, cache, _) = build(&st, &inputs, None).unwrap();
    st.mutual_authentications[0].updated_at = 2; // M1 rotated
    let (second, _, stats) = build(&st, &inputs, Some(&cache)).unwrap();
    assert_eq!(stats.server_configs_built, 1, "one config serves a and b");
    assert_eq!(stats.server_configs_reused, 2);
    assert!(!second.keeps_policy(entry(&first, "a.example.com"), Some("a.example.com"), false));
    assert!(second.keeps_policy(entry(&first, "c.example.com"), Some("c.example.com"), false));
    assert!(second.keeps_policy(entry(&first, "x.example.com"), Some("x.example.com"), false));
}

/// Gives M1 and M2 the bundle of `ca` and M1 a revocation list by `ca` revoking `revoked`.
fn with_list(st: &mut State, ca: &Ca, updated_at: i64, revoked: &[&[u8]]) {
    for m in &mut st.mutual_authentications {
        m.cert_bundle = ca.cert().cert_pem.clone();
    }
    let now = time::OffsetDateTime::now_utc();
    let pem = ca
        .crl(
            revoked,
            1,
            now - time::Duration::hours(1),
            now + time::Duration::days(7),
        )
        .unwrap();
    let info = pki::parse_crl(&pem).unwrap();
    st.revocation_lists = vec![RevocationList {
        id: "R1".into(),
        mutual_authentication_id: "M1".into(),
        name: "r".into(),
        url: None,
        crl_pem: pem,
        issuer: info.issuer,
        this_update: info.this_update,
        next_update: info.next_update,
        crl_number: info.number,
        revoked_count: info.revoked_count,
        last_fetch_error: None,
        created_at: 1,
        updated_at,
    }];
}

#[test]
fn a_new_crl_is_a_new_policy_for_its_mutual_authentication_only() {
    let ca = Ca::new("client CA").unwrap();
    let revoked = ca
        .issue_client("r", crate::devpki::Validity::Current)
        .unwrap();
    let mut st = state();
    with_list(&mut st, &ca, 1, &[]);
    let inputs = BuildInputs::default();
    let (first, cache, _) = build(&st, &inputs, None).unwrap();
    let chain = [rustls::pki_types::CertificateDer::from(
        revoked.cert_der.clone(),
    )];
    let auth = |s: &Snapshot| entry(s, "a.example.com").client_auth.clone().unwrap();
    assert_eq!(
        auth(&first).rejudge(Some(&chain)),
        crate::snapshot::verdict::Verdict::Ok
    );

    let (same, cache, stats) = build(&st, &inputs, Some(&cache)).unwrap();
    assert_eq!(stats.server_configs_built, 0);
    assert!(same.keeps_policy(entry(&first, "a.example.com"), Some("a.example.com"), false));

    with_list(&mut st, &ca, 2, &[&revoked.cert_der]);
    let (second, cache, stats) = build(&st, &inputs, Some(&cache)).unwrap();
    assert_eq!(stats.server_configs_built, 1, "only the domains of M1");
    assert!(!second.keeps_policy(entry(&first, "a.example.com"), Some("a.example.com"), false));
    assert!(second.keeps_policy(entry(&first, "c.example.com"), Some("c.example.com"), false));
    assert_eq!(
        auth(&second).rejudge(Some(&chain)),
        crate::snapshot::verdict::Verdict::Revoked
    );

    // require_fresh changes the policies that have lists, and only those.
    let fresh = BuildInputs {
        require_fresh: true,
        ..BuildInputs::default()
    };
    let (third, _, _) = build(&st, &fresh, Some(&cache)).unwrap();
    assert!(!third.keeps_policy(
        entry(&second, "a.example.com"),
        Some("a.example.com"),
        false
    ));
    assert!(third.keeps_policy(
        entry(&second, "c.example.com"),
        Some("c.example.com"),
        false
    ));
}

#[test]
fn an_unusable_list_fails_the_build_even_when_unattached() {
    let ca = Ca::new("client CA").unwrap();
    let mut st = state();
    with_list(&mut st, &ca, 1, &[]);
    st.activations
        .retain(|a| a.mutual_authentication_id.as_deref() != Some("M1"));
    assert!(build(&st, &BuildInputs::default(), None).is_ok());
    st.revocation_lists[0].crl_pem =
        "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n".into();
    st.revocation_lists[0].updated_at = 2;
    let e = build(&st, &BuildInputs::default(), None).unwrap_err();
    assert_eq!(e.resource, "revocation list R1");
}

#[test]
fn attach_detach_and_deactivation_change_the_policy() {
    let mut st = state();
    let inputs = BuildInputs::default();
    let (first, cache, _) = build(&st, &inputs, None).unwrap();
    st.activations[0].mutual_authentication_id = None; // a: detached
    st.activations[3].mutual_authentication_id = Some("M2".into()); // wildcard: attached
    st.activations.remove(1); // b: deactivated (b.example.com now falls to the wildcard)
    let (second, _, _) = build(&st, &inputs, Some(&cache)).unwrap();
    for name in ["a.example.com", "b.example.com", "x.example.com"] {
        assert!(
            !second.keeps_policy(entry(&first, name), Some(name), false),
            "{name}"
        );
    }
    assert!(second.keeps_policy(entry(&first, "c.example.com"), Some("c.example.com"), false));
    assert!(!second.keeps_policy(entry(&first, "a.example.com"), None, false));
}

#[test]
fn fallback_never_has_client_auth_and_must_be_activated() {
    let st = state();
    let inputs = BuildInputs {
        default_domain: Some("A.example.com.".into()),
        ..BuildInputs::default()
    };
    let (snap, _, _) = build(&st, &inputs, None).unwrap();
    let fb = snap.fallback.as_ref().unwrap();
    assert!(fb.client_auth.is_none() && fb.mutual_authentication_id.is_none());
    // Not activated (yet): no fallback, so unknown SNI stays refused (fail closed).
    let pending = BuildInputs {
        default_domain: Some("nope.example.org".into()),
        ..BuildInputs::default()
    };
    let (snap, _, _) = build(&st, &pending, None).unwrap();
    assert!(snap.fallback.is_none());
}

#[test]
fn failures_name_the_resource() {
    let mut st = state();
    st.activations[0].mutual_authentication_id = Some("GONE".into());
    let e = build(&st, &BuildInputs::default(), None).unwrap_err();
    assert_eq!(e.resource, "mutual authentication GONE");
    let mut st = state();
    st.private_keys.clear();
    let e = build(&st, &BuildInputs::default(), None).unwrap_err();
    assert!(
        e.resource.contains("A1") && e.problem.contains("private key"),
        "{e}"
    );
}

fn route(domain: &str, prefix: Option<&str>, origin: &str) -> (String, Arc<Route>) {
    let route = Route {
        name: Arc::from(format!("{domain}{}", prefix.unwrap_or(""))),
        path_prefix: prefix.map(str::to_owned),
        origin: Arc::new(OriginRoute::new(origin.parse().unwrap())),
        allow: None,
    };
    (domain.to_owned(), Arc::new(route))
}

#[test]
fn routes_pick_origins_by_host_and_path() {
    let inputs = BuildInputs {
        routes: vec![
            route("api.example.com", None, "http://127.0.0.1:9000"),
            route("*.example.com", None, "h2c://127.0.0.1:9001"),
            route("API.example.com.", Some("/admin"), "http://127.0.0.1:9002"),
        ],
        ..BuildInputs::default()
    };
    let (snap, _, _) = build(&state(), &inputs, None).unwrap();
    let origin = |host: &str, path: &str| {
        let (routing, _) = snap.routing(host, path).unwrap();
        snap.origin_of(&routing).to_string()
    };
    assert_eq!(origin("api.example.com", "/"), "http://127.0.0.1:9000");
    assert_eq!(
        origin("api.example.com", "/admin/x"),
        "http://127.0.0.1:9002"
    );
    assert_eq!(origin("x.example.com", "/admin"), "h2c://127.0.0.1:9001");
    assert_eq!(origin("other.org", "/"), OriginSpec::Echo.to_string());
}

#[test]
fn invalid_default_domain_is_still_an_error() {
    let inputs = BuildInputs {
        default_domain: Some("not a domain".into()),
        ..BuildInputs::default()
    };
    let e = build(&state(), &inputs, None).unwrap_err();
    assert!(e.resource.contains("default_domain"), "{e}");
}

fn delta(served: &Served, rows: Vec<RowChange>) -> Delta {
    let from = served.tables().revision();
    Delta {
        from,
        to: from + 1,
        rows,
    }
}

fn same_entry(a: &Snapshot, b: &Snapshot, name: &str) -> bool {
    Arc::ptr_eq(entry(a, name), entry(b, name))
}

#[test]
fn a_delta_rebuilds_only_what_it_touches_and_shares_the_rest() {
    let st = state();
    let (first, served, _) = build(&st, &BuildInputs::default(), None).unwrap();
    // M1 rotated: a and b (one shared config) are rebuilt, c and the wildcard are not.
    let mut m1 = st.mutual_authentications[0].clone();
    m1.updated_at = 2;
    let d = delta(
        &served,
        vec![RowChange::Put(Record::MutualAuthentication(m1))],
    );
    let (next, stats, fx) = served.apply(&d, None).unwrap();
    assert_eq!(stats.entries_placed, 2);
    assert_eq!(stats.server_configs_built, 1, "one config serves a and b");
    let second = next.snapshot();
    assert_eq!(second.revision, 8);
    assert!(same_entry(&first, &second, "c.example.com"));
    assert!(same_entry(&first, &second, "zzz.example.com"));
    assert!(!same_entry(&first, &second, "a.example.com"));
    assert!(!second.keeps_policy(entry(&first, "a.example.com"), Some("a.example.com"), false));
    assert!(second.keeps_policy(entry(&first, "c.example.com"), Some("c.example.com"), false));
    let (a, b) = (
        entry(&second, "a.example.com"),
        entry(&second, "b.example.com"),
    );
    assert!(Arc::ptr_eq(&a.server_config, &b.server_config));
    assert_eq!(next.server_config_count(), 3, "the old M1 config is gone");
    assert_eq!(fx.client_cas.len(), 1);
    assert!(fx.retired_domains.is_empty());
    // The predecessor is untouched.
    assert!(Arc::ptr_eq(
        entry(&served.snapshot(), "a.example.com"),
        entry(&first, "a.example.com")
    ));
}

#[test]
fn deactivating_and_reactivating_a_name_moves_it_between_entries() {
    let st = state();
    let (first, served, _) = build(&st, &BuildInputs::default(), None).unwrap();
    // b deactivated and, in the same delta, activated again by another activation.
    let mut again = st.activations[1].clone();
    again.id = "A9".into();
    again.mutual_authentication_id = None;
    let d = delta(
        &served,
        vec![
            RowChange::Put(Record::Activation(again)),
            RowChange::Removed(Kind::Activation, "A2".into()),
        ],
    );
    let (next, _, fx) = served.apply(&d, None).unwrap();
    let second = next.snapshot();
    let b = entry(&second, "b.example.com");
    assert!(b.client_auth.is_none());
    assert!(fx.retired_domains.is_empty(), "b is still served");
    // A wildcard-covered name's own entry goes: the name falls to the wildcard.
    let d = delta(
        &next,
        vec![RowChange::Removed(Kind::Activation, "A9".into())],
    );
    let (last, _, fx) = next.apply(&d, None).unwrap();
    let third = last.snapshot();
    assert_eq!(entry(&third, "b.example.com").name, "*.example.com");
    assert_eq!(fx.retired_domains, ["b.example.com"]);
    assert_eq!(third.domains.len(), 3);
    assert!(!third.keeps_policy(entry(&first, "b.example.com"), Some("b.example.com"), false));
}

#[test]
fn a_delta_that_does_not_build_changes_nothing() {
    let st = state();
    let (first, served, _) = build(&st, &BuildInputs::default(), None).unwrap();
    let mut broken = st.mutual_authentications[1].clone();
    broken.cert_bundle = "not a bundle".into();
    broken.updated_at = 5;
    let d = delta(
        &served,
        vec![RowChange::Put(Record::MutualAuthentication(broken))],
    );
    let e = served.apply(&d, None).unwrap_err();
    assert_eq!(e.resource, "mutual authentication M2");
    assert!(same_entry(&first, &served.snapshot(), "c.example.com"));
    assert_eq!(served.tables().revision(), 7);
    // Unattached, a bundle is never built, so it cannot fail.
    let mut unused = st.mutual_authentications[1].clone();
    unused.id = "M3".into();
    unused.cert_bundle = "not a bundle".into();
    let d = delta(
        &served,
        vec![RowChange::Put(Record::MutualAuthentication(unused))],
    );
    let (_, stats, _) = served.apply(&d, None).unwrap();
    assert_eq!(stats.entries_placed, 0);
}

#[test]
fn the_fallback_follows_its_activation() {
    let st = state();
    let inputs = BuildInputs {
        default_domain: Some("c.example.com".into()),
        ..BuildInputs::default()
    };
    let (first, served, _) = build(&st, &inputs, None).unwrap();
    let fb = first.fallback.clone().unwrap();
    // An unrelated change keeps the fallback entry itself.
    let mut m1 = st.mutual_authentications[0].clone();
    m1.updated_at = 2;
    let d = delta(
        &served,
        vec![RowChange::Put(Record::MutualAuthentication(m1))],
    );
    let (next, _, _) = served.apply(&d, None).unwrap();
    assert!(Arc::ptr_eq(next.snapshot().fallback.as_ref().unwrap(), &fb));
    // Deactivating the default domain takes the fallback away (fail closed).
    let d = delta(
        &next,
        vec![RowChange::Removed(Kind::Activation, "A3".into())],
    );
    let (gone, _, _) = next.apply(&d, None).unwrap();
    assert!(gone.snapshot().fallback.is_none());
}

/// SNI/Host binding compares the whole connection policy: a domain with the same mutual
/// authentication but another TLS configuration is another policy (rule 1, docs/architecture.md).
#[test]
fn the_connection_policy_includes_the_tls_configuration() {
    let mut st = state();
    let mut narrow = st.configurations[0].clone();
    narrow.id = "G".into();
    narrow.default = false;
    narrow.tls_protocols = vec!["1.3".into()];
    narrow.http_protocols = vec!["http/1.1".into()];
    st.configurations.push(narrow);
    let mut d = st.activations[0].clone();
    d.id = "A5".into();
    d.domain = "d.example.com".into();
    d.configuration_id = "G".into();
    st.activations.push(d);
    let (snap, _, _) = build(&st, &BuildInputs::default(), None).unwrap();
    let (a, b, c, d) = (
        entry(&snap, "a.example.com"),
        entry(&snap, "b.example.com"),
        entry(&snap, "c.example.com"),
        entry(&snap, "d.example.com"),
    );
    assert!(
        a.same_policy(b),
        "same mutual authentication and configuration"
    );
    assert!(!a.same_policy(c), "another mutual authentication");
    assert_eq!(d.mutual_authentication_id, a.mutual_authentication_id);
    assert!(
        !a.same_policy(d) && !d.same_policy(a),
        "another TLS configuration"
    );
    assert_eq!(d.tls.versions, vec![TlsVersion::Tls13]);
    assert!(!d.tls.admits(Some(TlsVersion::Tls12), None));
    assert!(!d.tls.admits(Some(TlsVersion::Tls13), Some(b"h2")));
}

/// The placed keys of every entry (what a comparison of two configurations looks at).
fn keys(served: &Served) -> Vec<(String, ConfigKey)> {
    served
        .placed()
        .0
        .into_iter()
        .map(|(id, p)| (id, p.key))
        .collect()
}

fn state_with_list(ca: &Ca) -> State {
    let mut st = state();
    with_list(&mut st, ca, 1, &[]);
    st
}

#[test]
fn a_list_change_rebuilds_only_its_policys_entries() {
    let ca = Ca::new("client CA").unwrap();
    let revoked = ca
        .issue_client("r", crate::devpki::Validity::Current)
        .unwrap();
    let chain = [rustls::pki_types::CertificateDer::from(
        revoked.cert_der.clone(),
    )];
    let judge = |s: &Snapshot| {
        let auth = entry(s, "a.example.com").client_auth.clone().unwrap();
        auth.rejudge(Some(&chain))
    };
    let mut st = state_with_list(&ca);
    let (first, served, _) = build(&st, &BuildInputs::default(), None).unwrap();
    assert_eq!(judge(&first), crate::snapshot::verdict::Verdict::Ok);

    // The list replaced by one revoking the client: M1's entries (a and b) only.
    with_list(&mut st, &ca, 2, &[&revoked.cert_der]);
    let list = st.revocation_lists[0].clone();
    let d = delta(
        &served,
        vec![RowChange::Put(Record::RevocationList(list.clone()))],
    );
    let (next, stats, fx) = served.apply(&d, None).unwrap();
    assert_eq!(stats.entries_placed, 2);
    let second = next.snapshot();
    assert!(same_entry(&first, &second, "c.example.com"));
    assert!(same_entry(&first, &second, "zzz.example.com"));
    assert!(!second.keeps_policy(entry(&first, "a.example.com"), Some("a.example.com"), false));
    assert_eq!(judge(&second), crate::snapshot::verdict::Verdict::Revoked);
    assert_eq!(fx.crl_set, [crl_sample(&list)]);
    assert_eq!(fx.crl_set[0].revoked, 1);
    assert!(fx.client_cas.is_empty(), "the bundle did not change");
    st.revision = 8;
    let (whole, _) = Served::build(&st, next.inputs().clone(), None, None).unwrap();
    assert_eq!(keys(&next), keys(&whole));
    assert_eq!(next.lists_checked(), whole.lists_checked());

    // Deleted: M1's entries again, and its series go.
    let d = delta(
        &next,
        vec![RowChange::Removed(Kind::RevocationList, "R1".into())],
    );
    let (last, stats, fx) = next.apply(&d, None).unwrap();
    assert_eq!(stats.entries_placed, 2);
    assert_eq!(
        judge(&last.snapshot()),
        crate::snapshot::verdict::Verdict::Ok
    );
    assert_eq!(fx.crl_removed, [("R1".to_string(), "M1".to_string())]);
    assert!(last.lists_checked().is_empty());
}

#[test]
fn a_list_of_an_unattached_policy_places_nothing_but_must_be_usable() {
    let ca = Ca::new("client CA").unwrap();
    let st = state_with_list(&ca);
    let (_, served, _) = build(&st, &BuildInputs::default(), None).unwrap();
    let mut m3 = st.mutual_authentications[0].clone();
    m3.id = "M3".into();
    let mut list = st.revocation_lists[0].clone();
    list.id = "R3".into();
    list.mutual_authentication_id = "M3".into();
    let rows = |list: &RevocationList| {
        vec![
            RowChange::Put(Record::MutualAuthentication(m3.clone())),
            RowChange::Put(Record::RevocationList(list.clone())),
        ]
    };
    let (next, stats, fx) = served.apply(&delta(&served, rows(&list)), None).unwrap();
    assert_eq!(stats.entries_placed, 0);
    assert_eq!(fx.crl_set, [crl_sample(&list)]);
    assert!(next.lists_checked().contains(&("R3".to_string(), 1)));
    list.crl_pem = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n".into();
    let e = served
        .apply(&delta(&served, rows(&list)), None)
        .unwrap_err();
    assert_eq!(e.resource, "revocation list R3");
}

#[test]
fn under_require_fresh_a_list_going_stale_replaces_its_policy_on_the_next_successor() {
    let ca = Ca::new("client CA").unwrap();
    let st = state_with_list(&ca);
    let stale_at = st.revocation_lists[0].next_update;
    let fresh = Arc::new(BuildInputs {
        require_fresh: true,
        ..BuildInputs::default()
    });
    let t0 = stale_at - 3600;
    let (served, _) = Served::build_at(&st, fresh.clone(), None, None, t0).unwrap();
    let empty = Delta {
        from: 7,
        to: 7,
        rows: vec![],
    };
    let (before, stats, _) = served.apply_at(&empty, None, stale_at - 1).unwrap();
    assert_eq!(stats.entries_placed, 0, "still fresh");
    let (after, stats, _) = before.apply_at(&empty, None, stale_at).unwrap();
    assert_eq!(stats.entries_placed, 2, "M1's entries, not the others");
    let (_, placed) = &after.placed().0[0];
    let auth = placed.key.client_auth.as_ref().unwrap();
    assert_eq!(auth.stale, ["R1"]);
    assert!(!after.snapshot().keeps_policy(
        entry(&before.snapshot(), "a.example.com"),
        Some("a.example.com"),
        false
    ));
    assert!(Arc::ptr_eq(
        entry(&before.snapshot(), "c.example.com"),
        entry(&after.snapshot(), "c.example.com")
    ));
    let (whole, _) = Served::build_at(&st, fresh, None, None, stale_at).unwrap();
    assert_eq!(keys(&after), keys(&whole));
    // Once placed stale, later successors leave it alone.
    let (_, stats, _) = after.apply_at(&empty, None, stale_at + 60).unwrap();
    assert_eq!(stats.entries_placed, 0);

    // Without require_fresh staleness does not change a policy.
    let lax = Arc::new(BuildInputs::default());
    let (served, _) = Served::build_at(&st, lax, None, None, t0).unwrap();
    let (_, stats, _) = served.apply_at(&empty, None, stale_at).unwrap();
    assert_eq!(stats.entries_placed, 0);
}
