//! Resumption across the fleet, never across policies (rule 2, docs/architecture.md): a session
//! made by a full handshake on one node resumes on another (the session-ticket secret is shared
//! through the store), with the original identity; after a tightening made through a third node it
//! resumes nowhere; a session never crosses to another domain's policy on another node. Single-node
//! SQLite uses the same shared secret, so sessions survive a restart.
//!
//! The resumed attempts present no client certificate: if a node resumed wrongly, the client
//! would get in on the old session; if it does not, the enforced domain refuses it.

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

use common::fleet::{eventually, Fleet};
use common::tls_client::{seen, sha256_hex, Sessions, Tls, TlsClient, BOTH};
use common::{flows, Harness};
use mtls_proxy::devpki::Validity;
use rustls::{AlertDescription, HandshakeKind};

const A: &str = "a.fleet.test";
const OPEN: &str = "open.fleet.test";
const OTHER: &str = "other.fleet.test";

/// A full handshake with a certificate on `node`, filling `sessions`; returns the leaf's hash.
async fn first_visit(
    f: &Fleet,
    node: usize,
    tls: Tls,
    domain: &str,
    sessions: &Arc<Sessions>,
) -> String {
    let cert = f
        .client_ca
        .issue_client("roaming", Validity::Current)
        .unwrap();
    let c = TlsClient::new(&f.server_ca, domain)
        .tls(tls)
        .cert(&cert)
        .sessions(sessions);
    let (facts, result) = c.attempt(f.proxy(node), domain).await;
    assert_eq!(facts.unwrap().kind, Some(HandshakeKind::Full));
    assert_eq!(result.unwrap().status, 200);
    sha256_hex(&cert.cert_der)
}

/// Resumed on `node` without presenting anything, with the original identity and verdict.
async fn assert_resumed(
    f: &Fleet,
    node: usize,
    bare: &TlsClient,
    domain: &str,
    sha: &str,
    verdict: &str,
    ctx: &str,
) {
    let (facts, result) = bare.attempt(f.proxy(node), domain).await;
    let facts =
        facts.unwrap_or_else(|| panic!("{ctx}: handshake failed: {:?}", result.as_ref().err()));
    assert_eq!(facts.kind, Some(HandshakeKind::Resumed), "{ctx}");
    let h = seen(&result.unwrap());
    assert_eq!(h["client-cert-verdict"], verdict, "{ctx}");
    if !sha.is_empty() {
        assert_eq!(h["client-cert-sha256"], sha, "{ctx}");
    }
}

/// A full handshake (never a resumption), refused for want of a certificate.
async fn assert_refused_fresh(f: &Fleet, node: usize, bare: &TlsClient, domain: &str, ctx: &str) {
    let (facts, result) = bare.attempt(f.proxy(node), domain).await;
    if let Some(facts) = facts {
        assert_eq!(facts.kind, Some(HandshakeKind::Full), "{ctx}: {facts:?}");
    }
    let err = result.expect_err(ctx);
    assert_eq!(
        err.alert(),
        Some(AlertDescription::CertificateRequired),
        "{ctx}: {err}"
    );
}

/// Wait until every node serves the store's current revision.
async fn settle(f: &Fleet) {
    let stored = f.status(0).await["stored_revision"].as_u64().unwrap();
    f.wait_applied(stored).await;
}

#[tokio::test]
async fn a_session_resumes_on_another_node_until_its_policy_is_tightened() {
    let Some(f) = Fleet::start(3, &[A, OPEN]).await else {
        return;
    };
    let ma = f.ma(0, &f.client_ca.cert().cert_pem, true).await;
    f.activate(0, A, Some(&ma)).await;
    let open = f.ma(0, &f.client_ca.cert().cert_pem, false).await;
    f.activate(0, OPEN, Some(&open)).await;
    settle(&f).await;
    f.wait_shared_ticket_key().await;

    for tls in BOTH {
        // Full handshake on node 0; the session resumes on nodes 1 and 2 with its identity.
        let sessions = Sessions::one_bucket(&f.server_ca);
        let sha = first_visit(&f, 0, tls, A, &sessions).await;
        let bare = TlsClient::new(&f.server_ca, A).tls(tls).sessions(&sessions);
        for node in [1, 2] {
            assert_resumed(
                &f,
                node,
                &bare,
                A,
                &sha,
                "ok",
                &format!("{tls:?} node-{node}"),
            )
            .await;
        }
    }

    // Fail-open, certificate-less sessions: resumable across nodes while the policy lasts...
    // One client per node it will be refused by: the proxy issues one TLS 1.3 ticket per
    // handshake and a refused offer spends it, so each node must be offered a ticket of its own.
    let mut open_sessions = Vec::new();
    for tls in BOTH {
        for node in 0..3 {
            let sessions = Sessions::one_bucket(&f.server_ca);
            let bare = TlsClient::new(&f.server_ca, OPEN)
                .tls(tls)
                .sessions(&sessions);
            let (_, r) = bare.attempt(f.proxy(1), OPEN).await;
            assert_eq!(seen(&r.unwrap())["client-cert-verdict"], "missing");
            assert_resumed(
                &f,
                2,
                &bare,
                OPEN,
                "",
                "missing",
                &format!("{tls:?} fail-open"),
            )
            .await;
            open_sessions.push((tls, node, sessions, bare));
        }
    }
    // ...then node 2 enforces it: no node resumes a session made without a certificate.
    let r = flows::set_enforced(&f.nodes[2], &open, true).await;
    assert_eq!(r.status, 200, "{}", r.detail());
    settle(&f).await;
    for (tls, node, sessions, bare) in &open_sessions {
        let offered = sessions.offered();
        assert_refused_fresh(
            &f,
            *node,
            bare,
            OPEN,
            &format!("{tls:?} node-{node} after enforcing"),
        )
        .await;
        assert!(
            sessions.offered() > offered,
            "{tls:?} node-{node}: no session was offered"
        );
    }

    // A session made on A before its bundle is rotated through node 1 resumes nowhere after
    // (again one client per node, each holding a ticket of its own).
    let mut before = Vec::new();
    for tls in BOTH {
        for node in 0..3 {
            let sessions = Sessions::one_bucket(&f.server_ca);
            let sha = first_visit(&f, 0, tls, A, &sessions).await;
            let bare = TlsClient::new(&f.server_ca, A).tls(tls).sessions(&sessions);
            assert_resumed(
                &f,
                2,
                &bare,
                A,
                &sha,
                "ok",
                &format!("{tls:?} before rotation"),
            )
            .await;
            before.push((tls, node, sessions, bare));
        }
    }
    let bundle = format!(
        "{}{}",
        f.client_ca.cert().cert_pem,
        f.other_ca.cert().cert_pem
    );
    let r = flows::set_bundle(&f.nodes[1], &ma, &bundle).await;
    assert_eq!(r.status, 200, "{}", r.detail());
    settle(&f).await;
    for (tls, node, sessions, bare) in &before {
        let offered = sessions.offered();
        assert_refused_fresh(
            &f,
            *node,
            bare,
            A,
            &format!("{tls:?} node-{node} after rotation"),
        )
        .await;
        assert!(
            sessions.offered() > offered,
            "{tls:?} node-{node}: no session was offered after rotation"
        );
    }
}

#[tokio::test]
async fn a_session_never_crosses_to_another_policy_on_another_node() {
    let Some(f) = Fleet::start(2, &[A, OTHER]).await else {
        return;
    };
    let ma = f.ma(0, &f.client_ca.cert().cert_pem, true).await;
    f.activate(0, A, Some(&ma)).await;
    // The same CA, but another mutual authentication: another policy.
    let other = f.ma(1, &f.client_ca.cert().cert_pem, true).await;
    f.activate(1, OTHER, Some(&other)).await;
    settle(&f).await;
    f.wait_shared_ticket_key().await;
    for tls in BOTH {
        let sessions = Sessions::one_bucket(&f.server_ca);
        let sha = first_visit(&f, 0, tls, A, &sessions).await;
        let home = TlsClient::new(&f.server_ca, A).tls(tls).sessions(&sessions);
        assert_resumed(&f, 1, &home, A, &sha, "ok", &format!("{tls:?} same policy")).await;
        // The one-bucket store offers A's session to OTHER: node 1 must not take it (its ticket
        // key is another policy's, and rustls binds a session to its server name as well).
        let offered = sessions.offered();
        let bare = TlsClient::new(&f.server_ca, OTHER)
            .tls(tls)
            .sessions(&sessions);
        assert_refused_fresh(&f, 1, &bare, OTHER, &format!("{tls:?} A -> OTHER")).await;
        assert!(
            sessions.offered() > offered,
            "{tls:?}: no session was offered"
        );
    }
}

#[tokio::test]
async fn a_single_sqlite_node_resumes_sessions_across_a_restart() {
    let f = common::fixture::Fixture::new(&[A]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(A, Some(&ma)).await;
    // The first shared generation becomes active a short lead after the first start.
    eventually("the node uses the shared ticket key", || async {
        common::fleet::status(&f.h).await["ticket_key_generation"]
            .as_u64()
            .is_some()
    })
    .await;
    let sessions = Sessions::one_bucket(&f.server_ca);
    let cert = f.client(Validity::Current);
    let c = TlsClient::new(&f.server_ca, A)
        .cert(&cert)
        .sessions(&sessions);
    let (facts, r) = c.attempt(f.proxy(), A).await;
    assert_eq!(facts.unwrap().kind, Some(HandshakeKind::Full));
    assert_eq!(r.unwrap().status, 200);
    let bare = TlsClient::new(&f.server_ca, A).sessions(&sessions);
    let h: Harness = f.h.restart().await;
    let (facts, r) = bare.attempt(h.proxy, A).await;
    assert_eq!(
        facts.unwrap().kind,
        Some(HandshakeKind::Resumed),
        "same policy, same secret"
    );
    assert_eq!(
        seen(&r.unwrap())["client-cert-sha256"],
        sha256_hex(&cert.cert_der)
    );
}
