//! Trust over time (rule 5, docs/architecture.md) with a client certificate that expires while the
//! test runs, attacked the way a client would: sessions saved by `openssl s_client -sess_out`
//! before the expiry and offered with `-sess_in` after it (TLS 1.3 tickets, TLS 1.2 tickets, TLS
//! 1.2 session IDs, and a session offered after a HelloRetryRequest), and keep-alive connections
//! opened before it (closed at the expiry when enforced, carrying `expired` when fail-open).

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::cli_clients::{CliClients, ClientFiles, Programs, SClientResult, Tls};
use common::fixture::Fixture;
use common::raw_h2::{Outcome, RawH2};
use common::scrape;
use common::tls_client::{seen, Req, TlsClient};
use mtls_proxy::devpki::{Issued, Validity};
use time::OffsetDateTime;

const ENFORCED: &str = "a.test";
const OPEN: &str = "open.test";

/// OpenSSL's texts for a received `certificate_expired` alert.
const CERTIFICATE_EXPIRED: &[&str] = &["alert certificate expired", "alert number 45"];

/// The tail of the ServerHello random that marks a HelloRetryRequest (RFC 8446 §4.1.3), as
/// `-trace` prints it (OpenSSL's trace does not name the message).
const HRR_RANDOM: &str = "E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C";

/// How long the certificate lives: enough for the set-up before it expires on a loaded
/// two-core machine (checked, never assumed).
const LIFETIME: Duration = Duration::from_secs(15);

/// Ways s_client resumes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Tls13Ticket,
    Tls12Ticket,
    Tls12SessionId,
}

const KINDS: [Kind; 3] = [Kind::Tls13Ticket, Kind::Tls12Ticket, Kind::Tls12SessionId];

struct Env {
    f: Fixture,
    c: CliClients,
    /// The short-lived client certificate and its files.
    cert: Issued,
    files: ClientFiles,
    /// Its notAfter.
    not_after: OffsetDateTime,
}

impl Env {
    async fn new(programs: Programs) -> Env {
        // Keep-alive connections wait through the certificate's lifetime: longer timeouts.
        let f = Fixture::with_settings(&[ENFORCED, OPEN], |s| {
            s.proxy.request_header_timeout = LIFETIME * 4;
            s.proxy.idle_timeout = LIFETIME * 4;
        })
        .await;
        let bundle = f.client_ca.cert().cert_pem.clone();
        let enforced = f.ma(&bundle, true).await;
        f.activate(ENFORCED, Some(&enforced)).await;
        let open = f.ma(&bundle, false).await;
        f.activate(OPEN, Some(&open)).await;
        let c = CliClients::for_fixture(programs, &f);
        let not_after = (OffsetDateTime::now_utc() + LIFETIME)
            .replace_nanosecond(0)
            .unwrap();
        let cert = f
            .client_ca
            .issue_client("short-lived", Validity::Until(not_after))
            .unwrap();
        let files = c.identity(&cert);
        Env {
            f,
            c,
            cert,
            files,
            not_after,
        }
    }

    /// s_client on `domain` presenting the certificate, restricted to `kind`'s version and
    /// resumption mechanism.
    fn s_client(&self, domain: &str, kind: Kind) -> common::cli_clients::SClient<'_> {
        let s = self.c.s_client(Some(domain)).cert(&self.files);
        match kind {
            Kind::Tls13Ticket => s.tls(Tls::V13),
            Kind::Tls12Ticket => s.tls(Tls::V12),
            Kind::Tls12SessionId => s.tls(Tls::V12).no_ticket(),
        }
    }

    /// A session saved from a full handshake, then proved resumable with verdict `ok`.
    async fn resumable_session(&self, domain: &str, kind: Kind) -> PathBuf {
        let sess = self.c.file("session.pem");
        let r = self.s_client(domain, kind).sess_out(&sess).run().await;
        assert!(r.new_session(), "{kind:?}: {r:#?}");
        assert_eq!(verdict(&r), "ok", "{kind:?}");
        let r = self.s_client(domain, kind).sess_in(&sess).run().await;
        assert!(r.reused(), "{kind:?} on {domain}: not resumed: {r:#?}");
        assert_eq!(verdict(&r), "ok", "{kind:?}");
        self.assert_still_valid(&format!("{kind:?} on {domain}"));
        sess
    }

    /// The set-up must finish while the certificate is valid, or the test proves nothing.
    fn assert_still_valid(&self, step: &str) {
        assert!(
            OffsetDateTime::now_utc() < self.not_after,
            "{step} finished after the certificate expired: the machine is too slow for \
             LIFETIME ({LIFETIME:?})"
        );
    }

    /// Sleep until the certificate has expired (whole seconds: one more than notAfter).
    async fn wait_for_expiry(&self) {
        let left = self.not_after - OffsetDateTime::now_utc() + time::Duration::milliseconds(1500);
        if left.is_positive() {
            tokio::time::sleep(left.unsigned_abs()).await;
        }
        assert!(OffsetDateTime::now_utc() > self.not_after + time::Duration::SECOND);
    }
}

fn verdict(r: &SClientResult) -> String {
    r.echoed("client-cert-verdict").unwrap_or_default()
}

fn assert_refused_expired(r: &SClientResult, ctx: &str) {
    assert!(!r.reused(), "{ctx}: resumed after expiry: {r:#?}");
    assert_ne!(
        r.exit,
        Some(0),
        "{ctx}: s_client should have failed: {r:#?}"
    );
    r.assert_no_http();
    r.assert_alert(CERTIFICATE_EXPIRED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_from_before_the_expiry_do_not_resume_after_it() {
    let Some(programs) = Programs::openssl() else {
        return;
    };
    let e = Env::new(programs).await;
    let mut enforced = Vec::new();
    for kind in KINDS {
        enforced.push((kind, e.resumable_session(ENFORCED, kind).await));
    }
    let mut open = Vec::new();
    for kind in KINDS {
        open.push((kind, e.resumable_session(OPEN, kind).await));
    }
    // A TLS 1.3 session offered after a HelloRetryRequest (the first key share is for a group
    // the proxy does not support) is not resumed on an enforced domain: the handshake becomes
    // a full one, verified as any other.
    let tls13 = &enforced[0].1;
    let r = e
        .s_client(ENFORCED, Kind::Tls13Ticket)
        .groups("P-521:X25519")
        .sess_in(tls13)
        .trace()
        .run()
        .await;
    assert!(r.offered_session(), "no session offered: {r:#?}");
    assert!(
        r.stdout.contains(HRR_RANDOM),
        "no HelloRetryRequest: {r:#?}"
    );
    assert!(r.new_session() && !r.reused(), "resumed after HRR: {r:#?}");
    assert_eq!(verdict(&r), "ok");
    e.assert_still_valid("the set-up");

    e.wait_for_expiry().await;
    let before = scrape::scrape(&e.f.h).await;

    // Enforced: refused exactly as a full handshake with the expired certificate is.
    for (kind, sess) in &enforced {
        let r = e
            .s_client(ENFORCED, *kind)
            .sess_in(sess)
            .trace()
            .run()
            .await;
        let offered = match kind {
            Kind::Tls12SessionId => r.offered_session_id(),
            _ => r.offered_session(),
        };
        assert!(offered, "{kind:?}: no session offered: {r:#?}");
        assert_refused_expired(&r, &format!("{kind:?} resumption"));
        let r = e.s_client(ENFORCED, *kind).run().await;
        assert_refused_expired(&r, &format!("{kind:?} full handshake"));
    }
    let r = e
        .s_client(ENFORCED, Kind::Tls13Ticket)
        .groups("P-521:X25519")
        .sess_in(tls13)
        .run()
        .await;
    assert_refused_expired(&r, "after a HelloRetryRequest");

    // The same metric reason and verdict as a full handshake: 3 resumptions, 3 full, 1 HRR.
    let series = [
        "mtls_proxy_tls_handshake_errors_total{reason=\"client_cert_rejected\"}",
        "mtls_proxy_tls_handshakes_total{domain=\"a.test\",verdict=\"expired\"}",
    ];
    let grown = |s: &scrape::Scrape| {
        series.map(|k| s.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0))
    };
    let mut now = scrape::scrape(&e.f.h).await;
    for _ in 0..100 {
        if grown(&now) == [7.0, 7.0] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = scrape::scrape(&e.f.h).await;
    }
    assert_eq!(grown(&now), [7.0, 7.0]);

    // Fail-open: the resumed connection carries the verdict of now, not of the session.
    for (kind, sess) in &open {
        let r = e.s_client(OPEN, *kind).sess_in(sess).run().await;
        assert!(r.reused(), "{kind:?}: not resumed: {r:#?}");
        assert_eq!(verdict(&r), "expired", "{kind:?}: {r:#?}");
        assert_eq!(
            r.echoed("client-cert-sha256"),
            Some(common::tls_client::sha256_hex(&e.cert.cert_der))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_do_not_outlive_the_certificate() {
    // Only TLS clients of this crate: no external program.
    let e = Env::new(Programs::default()).await;
    let enforced = TlsClient::new(&e.f.server_ca, ENFORCED).cert(&e.cert);
    let mut h1 = enforced.connect(e.f.proxy()).await.unwrap();
    let mut h2 = enforced.clone().h2().connect(e.f.proxy()).await.unwrap();
    // A client that never answers PING (so a graceful HTTP/2 close never completes).
    let mut raw = RawH2::connect(&enforced.clone().h2(), e.f.proxy()).await;
    let open = TlsClient::new(&e.f.server_ca, OPEN).cert(&e.cert);
    let mut fail_open = open.connect(e.f.proxy()).await.unwrap();
    for conn in [&mut h1, &mut h2] {
        let r = conn.send(&Req::get(ENFORCED)).await.unwrap();
        assert_eq!(seen(&r)["client-cert-verdict"], "ok");
    }
    let id = raw.get(ENFORCED, "/").await.unwrap();
    assert!(matches!(raw.outcome(id).await, Outcome::Answered(d) if d.get("method").is_some()));
    let r = fail_open.send(&Req::get(OPEN)).await.unwrap();
    assert_eq!(seen(&r)["client-cert-verdict"], "ok");
    e.assert_still_valid("the set-up");

    e.wait_for_expiry().await;
    // Enforced: the keep-alive connections were closed at the expiry (HTTP/1.1 and HTTP/2).
    for conn in [&mut h1, &mut h2] {
        tokio::time::timeout(Duration::from_secs(10), conn.closed())
            .await
            .expect("connection still open after the certificate expired");
        assert!(conn.send(&Req::get(ENFORCED)).await.is_err());
    }
    // The uncooperative one may still be open (its graceful close waits for a PING answer),
    // but nothing more is served on it.
    if let Some(id) = raw.get(ENFORCED, "/after").await {
        match raw.outcome(id).await {
            Outcome::Answered(doc) => {
                assert_eq!(
                    doc["error"], "connection_closing",
                    "served after expiry: {doc}"
                )
            }
            Outcome::Reset(_) | Outcome::ConnectionEnded => {}
        }
    }
    // Fail-open: the same connection goes on, and its requests now carry `expired`.
    let r = fail_open.send(&Req::get(OPEN)).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(seen(&r)["client-cert-verdict"], "expired");
}
