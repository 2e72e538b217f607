//! SNI → domain through the real listener with a rustls client: unknown and missing SNI, the
//! default domain (never with client authentication), one-label wildcards, case and trailing
//! dot.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::fixture::Fixture;
use common::tls_client::{ok_json, seen, Req, TlsClient, BOTH, PROTOS};
use mtls_proxy::devpki::Validity;
use rustls::AlertDescription;

const A: &str = "a.example.com";
const PLAIN: &str = "plain.example.com";
const FALLBACK: &str = "fallback.example.com";
const WILD: &str = "*.wild.example.com";

#[tokio::test]
async fn unknown_sni_is_refused_with_unrecognized_name() {
    let f = Fixture::new(&[A, PLAIN]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(A, Some(&ma)).await;
    f.activate(PLAIN, None).await;
    for tls in BOTH {
        let c = TlsClient::new(&f.server_ca, "nope.example.com").tls(tls);
        let err = c.handshake(f.proxy()).await.err().expect("refused");
        assert_eq!(
            err.alert(),
            Some(AlertDescription::UnrecognisedName),
            "{tls:?}: {err}"
        );
    }
}

#[tokio::test]
async fn no_sni_without_default_domain_is_refused_with_unrecognized_name() {
    let f = Fixture::new(&[A, PLAIN]).await;
    f.activate(PLAIN, None).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, false).await;
    f.activate(A, Some(&ma)).await;
    for tls in BOTH {
        let err = TlsClient::no_sni(&f.server_ca)
            .tls(tls)
            .handshake(f.proxy())
            .await
            .err()
            .expect("refused");
        assert_eq!(
            err.alert(),
            Some(AlertDescription::UnrecognisedName),
            "{tls:?}: {err}"
        );
    }
}

/// `[proxy] default_domain` names an enforced mTLS domain. Handshakes without SNI, or with an
/// unknown SNI, get its certificate but never client authentication, and so can never reach an
/// mTLS domain — not even the default domain itself.
#[tokio::test]
async fn default_domain_serves_without_client_auth_and_never_reaches_mtls_domains() {
    let f = Fixture::with_settings(&[A, PLAIN, FALLBACK, "unknown.example.com"], |s| {
        s.proxy.default_domain = Some(FALLBACK.to_string())
    })
    .await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(FALLBACK, Some(&ma)).await;
    f.activate(A, Some(&ma)).await;
    f.activate(PLAIN, None).await;
    let client = f.client(Validity::Current);
    let no_sni = TlsClient::no_sni(&f.server_ca).cert(&client);
    let unknown_sni = TlsClient::new(&f.server_ca, "unknown.example.com").cert(&client);
    for tls in BOTH {
        for proto in PROTOS {
            for c in [&no_sni, &unknown_sni] {
                let c = c.clone().tls(tls).proto(proto);
                assert_eq!(c.cert_request(f.proxy()).await, None, "{tls:?}");
                let mut conn = c.connect(f.proxy()).await.unwrap();
                let ctx = format!("{tls:?} {proto:?}");
                for mtls_host in [FALLBACK, A] {
                    let r = conn.send(&Req::get(mtls_host)).await.unwrap();
                    assert_eq!(r.status, 421, "{mtls_host} {ctx}");
                }
                for open_host in [PLAIN, "unknown.example.com"] {
                    let h = seen(&conn.send(&Req::get(open_host)).await.unwrap());
                    assert!(
                        !h.keys().any(|k| k.starts_with("client-cert")),
                        "{open_host} {ctx}: {h:?}"
                    );
                }
            }
        }
    }
    // By its own name, the default domain is an ordinary enforced mTLS domain.
    let by_name = TlsClient::new(&f.server_ca, FALLBACK);
    assert!(by_name.cert_request(f.proxy()).await.is_some());
    let h = seen(
        &by_name
            .cert(&client)
            .fetch(f.proxy(), &Req::get(FALLBACK))
            .await
            .unwrap(),
    );
    assert_eq!(h["client-cert-verdict"], "ok");
}

/// `*.wild.example.com` serves exactly one label below it, never two, never the bare parent.
#[tokio::test]
async fn wildcard_activation_covers_exactly_one_label() {
    let f = Fixture::new(&[WILD, "wild.example.com", "a.b.wild.example.com"]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, false).await;
    f.activate(WILD, Some(&ma)).await;
    let client = f.client(Validity::Current);
    for tls in BOTH {
        for name in ["a.wild.example.com", "other.wild.example.com"] {
            let c = TlsClient::new(&f.server_ca, name).tls(tls).cert(&client);
            let reply = c.fetch(f.proxy(), &Req::get(name)).await.unwrap();
            ok_json(&reply);
            assert_eq!(seen(&reply)["client-cert-verdict"], "ok", "{name} {tls:?}");
        }
        for name in ["a.b.wild.example.com", "wild.example.com"] {
            let c = TlsClient::new(&f.server_ca, name).tls(tls).cert(&client);
            let err = c.handshake(f.proxy()).await.err().expect("refused");
            assert_eq!(
                err.alert(),
                Some(AlertDescription::UnrecognisedName),
                "{name} {tls:?}: {err}"
            );
        }
    }
}

/// SNI is matched case-insensitively and with or without the trailing dot, reaching the same
/// domain with the same client authentication.
#[tokio::test]
async fn sni_case_and_trailing_dot_reach_the_same_domain() {
    let f = Fixture::new(&[A]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(A, Some(&ma)).await;
    let client = f.client(Validity::Current);
    for tls in BOTH {
        for sni in ["A.EXAMPLE.COM", "a.Example.com", "a.example.com."] {
            let c = TlsClient::new(&f.server_ca, sni).tls(tls);
            let err = c
                .fetch(f.proxy(), &Req::get(A))
                .await
                .expect_err("enforced");
            assert_eq!(
                err.alert(),
                Some(AlertDescription::CertificateRequired),
                "{sni} {tls:?}: {err}"
            );
            let h = seen(
                &c.cert(&client)
                    .fetch(f.proxy(), &Req::get(A))
                    .await
                    .unwrap(),
            );
            assert_eq!(h["client-cert-verdict"], "ok", "{sni} {tls:?}");
            assert_eq!(h["client-cert-mutual-authentication"], ma, "{sni} {tls:?}");
        }
    }
}
