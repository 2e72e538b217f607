//! Resumption scope (rule 2, docs/architecture.md) with a rustls client that keeps its sessions: a
//! session is resumed on the domain that made it, with that handshake's identity and verdict, but
//! never on a domain with another mutual authentication, nor after the bundle changed.
//!
//! The resumed attempts present no client certificate at all: if the server resumed, the client
//! would be let in on the old session; if it does not, the enforced domain refuses it. The
//! cross-domain attempts use a store that offers any domain's ticket to every domain.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::sync::Arc;

use common::fixture::Fixture;
use common::tls_client::{seen, sha256_hex, Sessions, Tls, TlsClient, BOTH};
use mtls_proxy::devpki::Validity;
use rustls::{AlertDescription, HandshakeKind};
use serde_json::json;

const A: &str = "a.example.com";
const OTHER_CA: &str = "other-ca.example.com";
const SAME_CA: &str = "same-ca.example.com";
const OPEN: &str = "open.example.com";

/// A full handshake was made (never a resumption) and the certificate-less client was refused.
async fn assert_not_resumed(c: &TlsClient, f: &Fixture, host: &str, ctx: &str) {
    let (facts, result) = c.attempt(f.proxy(), host).await;
    if let Some(facts) = facts {
        assert_eq!(facts.kind, Some(HandshakeKind::Full), "{ctx}: {facts:?}");
        assert!(facts.cert_request.is_some(), "{ctx}: no CertificateRequest");
    }
    let err = result.expect_err(ctx);
    assert_eq!(
        err.alert(),
        Some(AlertDescription::CertificateRequired),
        "{ctx}: {err}"
    );
}

/// A resumed connection: no CertificateRequest, and the origin sees the original identity.
async fn assert_resumed(
    c: &TlsClient,
    f: &Fixture,
    host: &str,
    sha: &str,
    verdict: &str,
    ctx: &str,
) {
    let (facts, result) = c.attempt(f.proxy(), host).await;
    let facts = facts.expect(ctx);
    assert_eq!(facts.kind, Some(HandshakeKind::Resumed), "{ctx}");
    assert_eq!(facts.cert_request, None, "{ctx}");
    let h = seen(&result.unwrap());
    assert_eq!(h["client-cert-verdict"], verdict, "{ctx}");
    assert_eq!(h["client-cert-sha256"], sha, "{ctx}");
}

async fn setup() -> (Fixture, String) {
    let f = Fixture::new(&[A, OTHER_CA, SAME_CA, OPEN]).await;
    let client_pem = f.client_ca.cert().cert_pem.clone();
    let ma_a = f.ma(&client_pem, true).await;
    f.activate(A, Some(&ma_a)).await;
    let ma_other = f.ma(&f.other_ca.cert().cert_pem, true).await;
    f.activate(OTHER_CA, Some(&ma_other)).await;
    let ma_same = f.ma(&client_pem, true).await;
    f.activate(SAME_CA, Some(&ma_same)).await;
    let ma_open = f.ma(&client_pem, false).await;
    f.activate(OPEN, Some(&ma_open)).await;
    (f, ma_a)
}

/// A full handshake on `domain` with a certificate, filling `store`; returns the cert's hash.
async fn first_visit(
    f: &Fixture,
    tls: Tls,
    domain: &str,
    store: &Arc<Sessions>,
    validity: Validity,
) -> String {
    let cert = f.client(validity);
    let c = TlsClient::new(&f.server_ca, domain)
        .tls(tls)
        .cert(&cert)
        .sessions(store);
    let (facts, result) = c.attempt(f.proxy(), domain).await;
    assert_eq!(facts.unwrap().kind, Some(HandshakeKind::Full));
    assert_eq!(result.unwrap().status, 200);
    sha256_hex(&cert.cert_der)
}

#[tokio::test]
async fn resumed_on_its_own_domain_with_the_original_identity() {
    let (f, _) = setup().await;
    for tls in BOTH {
        let store = Sessions::per_name(&f.server_ca);
        let sha = first_visit(&f, tls, A, &store, Validity::Current).await;
        let bare = TlsClient::new(&f.server_ca, A).tls(tls).sessions(&store);
        for round in 0..2 {
            assert_resumed(&bare, &f, A, &sha, "ok", &format!("{tls:?} round {round}")).await;
        }
    }
}

#[tokio::test]
async fn fail_open_resumption_keeps_the_original_verdict() {
    let (f, _) = setup().await;
    for tls in BOTH {
        let store = Sessions::one_bucket(&f.server_ca);
        let sha = first_visit(&f, tls, OPEN, &store, Validity::Expired).await;
        let bare = TlsClient::new(&f.server_ca, OPEN).tls(tls).sessions(&store);
        assert_resumed(&bare, &f, OPEN, &sha, "expired", &format!("{tls:?}")).await;
    }
}

#[tokio::test]
async fn a_session_never_crosses_to_another_policy() {
    let (f, _) = setup().await;
    for tls in BOTH {
        for (from, to) in [(A, OTHER_CA), (A, SAME_CA), (OPEN, A), (A, OPEN)] {
            let store = Sessions::one_bucket(&f.server_ca);
            let sha = first_visit(&f, tls, from, &store, Validity::Current).await;
            let ctx = format!("{tls:?} {from} -> {to}");
            // The store works: the session resumes where it was made.
            let home = TlsClient::new(&f.server_ca, from).tls(tls).sessions(&store);
            assert_resumed(&home, &f, from, &sha, "ok", &ctx).await;
            let offered = store.offered();
            let bare = TlsClient::new(&f.server_ca, to).tls(tls).sessions(&store);
            if to == OPEN {
                // Fail-open lets the bare client in, but on a full handshake: verdict missing.
                let (facts, result) = bare.attempt(f.proxy(), to).await;
                assert_eq!(facts.unwrap().kind, Some(HandshakeKind::Full), "{ctx}");
                assert_eq!(
                    seen(&result.unwrap())["client-cert-verdict"],
                    "missing",
                    "{ctx}"
                );
            } else {
                assert_not_resumed(&bare, &f, to, &ctx).await;
            }
            assert!(store.offered() > offered, "{ctx}: no session was offered");
        }
    }
}

#[tokio::test]
async fn a_bundle_change_ends_every_session_made_under_the_old_one() {
    for tls in BOTH {
        let (f, ma_a) = setup().await;
        let store = Sessions::one_bucket(&f.server_ca);
        let sha = first_visit(&f, tls, A, &store, Validity::Current).await;
        let bare = TlsClient::new(&f.server_ca, A).tls(tls).sessions(&store);
        assert_resumed(&bare, &f, A, &sha, "ok", &format!("{tls:?} before")).await;
        // Rotation: the bundle gains a second CA (the old client stays trusted).
        let bundle = format!(
            "{}{}",
            f.client_ca.cert().cert_pem,
            f.other_ca.cert().cert_pem
        );
        let body = json!({"data": {"type": "mutual_authentication", "id": ma_a,
            "attributes": {"cert_bundle": bundle}}});
        let r =
            f.h.patch(&format!("/tls/mutual_authentications/{ma_a}"), body)
                .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_not_resumed(&bare, &f, A, &format!("{tls:?} after rotation")).await;
        // A full handshake with the certificate works and sees the new bundle's two names.
        let with_cert = bare.clone().cert(&f.client(Validity::Current));
        let (facts, result) = with_cert.attempt(f.proxy(), A).await;
        let facts = facts.unwrap();
        assert_eq!(facts.cert_request.map(|n| n.len()), Some(2), "{tls:?}");
        assert_eq!(seen(&result.unwrap())["client-cert-verdict"], "ok");
    }
}

/// The same name under a new policy: a session from before must not resume, whether the
/// activation moved to another mutual authentication or fail-open became enforced (a
/// certificate-less fail-open session resumed under enforcement would skip the requirement).
#[tokio::test]
async fn a_policy_change_on_the_same_name_ends_its_sessions() {
    for tls in BOTH {
        let f = Fixture::new(&[A, OPEN]).await;
        let client_pem = f.client_ca.cert().cert_pem.clone();
        let ma_a = f.ma(&client_pem, true).await;
        let activation = f.activate(A, Some(&ma_a)).await;
        let ma_open = f.ma(&client_pem, false).await;
        f.activate(OPEN, Some(&ma_open)).await;

        // A moves to a mutual authentication trusting the same CA: a new policy all the same.
        let store = Sessions::one_bucket(&f.server_ca);
        let sha = first_visit(&f, tls, A, &store, Validity::Current).await;
        let bare = TlsClient::new(&f.server_ca, A).tls(tls).sessions(&store);
        assert_resumed(&bare, &f, A, &sha, "ok", &format!("{tls:?} before")).await;
        let ma_new = f.ma(&client_pem, true).await;
        let r = common::flows::attach(&f.h, &activation, Some(&ma_new)).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_not_resumed(&bare, &f, A, &format!("{tls:?} after re-attach")).await;

        // OPEN: a session without any certificate, then the policy becomes enforced.
        let store = Sessions::one_bucket(&f.server_ca);
        let bare = TlsClient::new(&f.server_ca, OPEN).tls(tls).sessions(&store);
        let (_, result) = bare.attempt(f.proxy(), OPEN).await;
        assert_eq!(seen(&result.unwrap())["client-cert-verdict"], "missing");
        let (facts, _) = bare.attempt(f.proxy(), OPEN).await;
        assert_eq!(facts.unwrap().kind, Some(HandshakeKind::Resumed), "{tls:?}");
        let body = json!({"data": {"type": "mutual_authentication", "id": ma_open,
            "attributes": {"enforced": true}}});
        let r =
            f.h.patch(&format!("/tls/mutual_authentications/{ma_open}"), body)
                .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let offered = store.offered();
        assert_not_resumed(&bare, &f, OPEN, &format!("{tls:?} after enforcing")).await;
        assert!(store.offered() > offered, "{tls:?}: no session was offered");
    }
}
