//! Fail-open mutual authentication through the real listener with a rustls client: every client
//! reaches the origin with a verdict it can trust, but a client without the private key of the
//! certificate it presents is still refused during the handshake.

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
use common::tls_client::{
    certified, ok_json, rfc9440, seen, sha256_hex, Req, TlsClient, BOTH, PROTOS,
};
use mtls_proxy::devpki::{Issued, Validity};
use rustls::AlertDescription;

const OPEN: &str = "open.example.com";

async fn fail_open() -> (Fixture, String) {
    let f = Fixture::new(&[OPEN]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, false).await;
    f.activate(OPEN, Some(&ma)).await;
    (f, ma)
}

/// What the origin saw for a client presenting `cert` (or nothing), over every version and
/// protocol; all combinations must agree and carry the mutual authentication id.
async fn verdict(f: &Fixture, ma: &str, cert: Option<&Issued>) -> String {
    let mut verdicts = Vec::new();
    for tls in BOTH {
        for proto in PROTOS {
            let mut c = TlsClient::new(&f.server_ca, OPEN).tls(tls).proto(proto);
            if let Some(cert) = cert {
                c = c.cert(cert);
            }
            let reply = c.fetch(f.proxy(), &Req::get(OPEN)).await.unwrap();
            ok_json(&reply);
            let h = seen(&reply);
            let ctx = format!("{tls:?} {proto:?}: {h:?}");
            assert_eq!(h["client-cert-mutual-authentication"], ma, "{ctx}");
            match cert {
                Some(cert) => {
                    assert_eq!(h["client-cert"], rfc9440(&cert.cert_der), "{ctx}");
                    assert_eq!(h["client-cert-sha256"], sha256_hex(&cert.cert_der), "{ctx}");
                }
                None => {
                    assert!(!h.contains_key("client-cert"), "{ctx}");
                    assert!(!h.contains_key("client-cert-sha256"), "{ctx}");
                }
            }
            verdicts.push(h["client-cert-verdict"].clone());
        }
    }
    verdicts.dedup();
    assert_eq!(verdicts.len(), 1, "versions disagree: {verdicts:?}");
    verdicts.remove(0)
}

#[tokio::test]
async fn every_client_reaches_the_origin_with_its_verdict() {
    let (f, ma) = fail_open().await;
    assert_eq!(verdict(&f, &ma, None).await, "missing");
    let good = f.client(Validity::Current);
    assert_eq!(verdict(&f, &ma, Some(&good)).await, "ok");
    let expired = f.client(Validity::Expired);
    assert_eq!(verdict(&f, &ma, Some(&expired)).await, "expired");
    let future = f.client(Validity::NotYetValid);
    assert_eq!(verdict(&f, &ma, Some(&future)).await, "expired");
    let stranger = f
        .other_ca
        .issue_client("stranger", Validity::Current)
        .unwrap();
    assert_eq!(verdict(&f, &ma, Some(&stranger)).await, "unknown_ca");
    // Right CA, wrong purpose (serverAuth only): verified, not ok.
    let server_eku = f.client_ca.issue_server(&["not-a-client"], &[]).unwrap();
    assert_eq!(verdict(&f, &ma, Some(&server_eku)).await, "unknown");
}

#[tokio::test]
async fn fail_open_still_asks_for_a_certificate_naming_the_bundle() {
    let (f, _) = fail_open().await;
    for tls in BOTH {
        let hints = TlsClient::new(&f.server_ca, OPEN)
            .tls(tls)
            .cert_request(f.proxy())
            .await
            .expect("a CertificateRequest");
        assert_eq!(hints.len(), 1, "{tls:?}");
    }
}

/// Proof of possession is checked even when the chain is not: presenting a valid certificate
/// without its private key is refused, whatever the version.
#[tokio::test]
async fn wrong_key_is_refused_even_in_fail_open() {
    let (f, _) = fail_open().await;
    let victim = f.client(Validity::Current);
    let thief = f.client(Validity::Current);
    for tls in BOTH {
        for proto in PROTOS {
            let key = certified(&[&victim.cert_der], &thief);
            let c = TlsClient::new(&f.server_ca, OPEN)
                .tls(tls)
                .proto(proto)
                .certified(key);
            let err = c
                .fetch(f.proxy(), &Req::get(OPEN))
                .await
                .expect_err("a forged CertificateVerify must be refused");
            assert_eq!(
                err.alert(),
                Some(AlertDescription::DecryptError),
                "{tls:?} {proto:?}: {err}"
            );
        }
    }
    // The same certificate with its own key is served (the refusal was about the key).
    let h = seen(
        &TlsClient::new(&f.server_ca, OPEN)
            .cert(&victim)
            .fetch(f.proxy(), &Req::get(OPEN))
            .await
            .unwrap(),
    );
    assert_eq!(h["client-cert-verdict"], "ok");
}
