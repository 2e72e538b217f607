//! Enforced mutual authentication through the real listener with a rustls client: a valid client
//! reaches the origin with its identity in headers; every invalid or missing certificate is
//! refused with a TLS alert and the origin sees nothing. Also per-domain isolation and what the
//! CertificateRequest carries.

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
use common::recording_origin::RecordingOrigin;
use common::tls_client::{
    certified, ok_json, rfc9440, seen, sha256_hex, Req, TlsClient, BOTH, PROTOS,
};
use mtls_proxy::devpki::{Ca, Issued, Validity};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::sign::CertifiedKey;
use rustls::AlertDescription;
use time::macros::format_description;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

const A: &str = "a.example.com";
const B: &str = "b.example.com";
const PLAIN: &str = "plain.example.com";
const TWO: &str = "two.example.com";

/// Domain A enforced with the client CA, routed to a recording origin.
async fn enforced_a() -> (Fixture, RecordingOrigin, String) {
    let origin = RecordingOrigin::start().await;
    let url = origin.url();
    let f = Fixture::with_settings(&[A, B, PLAIN, TWO], |s| s.proxy.default_origin = url).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(A, Some(&ma)).await;
    (f, origin, ma)
}

fn rfc3339(unix: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(fmt)
        .unwrap()
}

fn serial_hex(der: &[u8]) -> String {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    let raw = cert.raw_serial();
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    raw[start..].iter().map(|b| format!("{b:02x}")).collect()
}

fn subject_der(der: &[u8]) -> Vec<u8> {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    cert.subject().as_raw().to_vec()
}

#[tokio::test]
async fn valid_client_reaches_origin_with_its_identity() {
    let (f, origin, ma) = enforced_a().await;
    let client = f.client(Validity::Current);
    let (_, x509) = X509Certificate::from_der(&client.cert_der).unwrap();
    let mut served = 0;
    for tls in BOTH {
        for proto in PROTOS {
            let c = TlsClient::new(&f.server_ca, A)
                .tls(tls)
                .proto(proto)
                .cert(&client);
            let reply = c.fetch(f.proxy(), &Req::get(A)).await.unwrap();
            ok_json(&reply);
            served += 1;
            let h = seen(&reply);
            let ctx = format!("{tls:?} {proto:?}: {h:?}");
            assert_eq!(h["client-cert-verdict"], "ok", "{ctx}");
            assert_eq!(h["client-cert"], rfc9440(&client.cert_der), "{ctx}");
            assert_eq!(
                h["client-cert-sha256"],
                sha256_hex(&client.cert_der),
                "{ctx}"
            );
            assert_eq!(
                h["client-cert-subject"], "CN=fixture-client,O=mtls-proxy development PKI",
                "{ctx}"
            );
            assert_eq!(
                h["client-cert-issuer"], "CN=Fixture client CA,O=mtls-proxy development PKI",
                "{ctx}"
            );
            assert_eq!(
                h["client-cert-serial"],
                serial_hex(&client.cert_der),
                "{ctx}"
            );
            let validity = x509.validity();
            assert_eq!(
                h["client-cert-not-before"],
                rfc3339(validity.not_before.timestamp()),
                "{ctx}"
            );
            assert_eq!(
                h["client-cert-not-after"],
                rfc3339(validity.not_after.timestamp()),
                "{ctx}"
            );
            assert_eq!(h["client-cert-mutual-authentication"], ma, "{ctx}");
            // No intermediates were sent, no SANs in the certificate, XFCC is off by default.
            for absent in [
                "client-cert-chain",
                "client-cert-san",
                "x-forwarded-client-cert",
            ] {
                assert!(!h.contains_key(absent), "{absent} in {ctx}");
            }
        }
    }
    assert_eq!(origin.seen().len(), served);
}

/// A CA and a client certificate with one SAN of each kind, made with rcgen directly.
fn san_pki() -> (String, Issued) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "SAN test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf = CertificateParams::new(vec!["client.example.com".to_string()]).unwrap();
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, "san-client");
    leaf.subject_alt_names.extend([
        SanType::URI("spiffe://example.org/client".try_into().unwrap()),
        SanType::Rfc822Name("ops@example.org".try_into().unwrap()),
        SanType::IpAddress("10.1.2.3".parse().unwrap()),
    ]);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let client = Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    };
    (ca_cert.pem(), client)
}

#[tokio::test]
async fn san_and_chain_headers_describe_the_presented_certificate() {
    let f = Fixture::new(&[A, B]).await;
    let (san_ca, san_client) = san_pki();
    let ma = f.ma(&san_ca, true).await;
    f.activate(A, Some(&ma)).await;
    // B trusts a root; its clients present leaf + intermediate.
    let root = Ca::new("Chain root").unwrap();
    let inter = root.issue_intermediate("Chain intermediate").unwrap();
    let leaf = inter.issue_client("chain-leaf", Validity::Current).unwrap();
    let ma_b = f.ma(&root.cert().cert_pem, true).await;
    f.activate(B, Some(&ma_b)).await;

    let c = TlsClient::new(&f.server_ca, A).cert(&san_client);
    let h = seen(&c.fetch(f.proxy(), &Req::get(A)).await.unwrap());
    assert_eq!(h["client-cert-verdict"], "ok");
    assert_eq!(
        h["client-cert-san"],
        "DNS:client.example.com, URI:spiffe://example.org/client, email:ops@example.org, IP:10.1.2.3"
    );
    assert_eq!(h["client-cert-subject"], "CN=san-client");

    for tls in BOTH {
        let key = certified(&[&leaf.cert_der, &inter.cert().cert_der], &leaf);
        let c = TlsClient::new(&f.server_ca, B).tls(tls).certified(key);
        let h = seen(&c.fetch(f.proxy(), &Req::get(B)).await.unwrap());
        assert_eq!(h["client-cert-verdict"], "ok", "{tls:?}");
        assert_eq!(h["client-cert"], rfc9440(&leaf.cert_der), "{tls:?}");
        assert_eq!(
            h["client-cert-chain"],
            rfc9440(&inter.cert().cert_der),
            "{tls:?}"
        );
        assert_eq!(
            h["client-cert-issuer"],
            "CN=Chain intermediate,O=mtls-proxy development PKI"
        );
    }
}

/// Refusal on enforced domain A for both versions and both ALPN protocols: the expected alert
/// (any alert when `expected` is None), then proof that the origin saw nothing, then a valid
/// client to show the origin does answer.
async fn assert_refused(
    present: impl Fn(&Fixture) -> Option<Arc<CertifiedKey>>,
    expected: Option<AlertDescription>,
) {
    let (f, origin, _) = enforced_a().await;
    for tls in BOTH {
        for proto in PROTOS {
            let mut c = TlsClient::new(&f.server_ca, A).tls(tls).proto(proto);
            if let Some(key) = present(&f) {
                c = c.certified(key);
            }
            let err = c
                .fetch(f.proxy(), &Req::get(A))
                .await
                .expect_err("must be refused");
            let ctx = format!("{tls:?} {proto:?}: {err}");
            match expected {
                Some(alert) => assert_eq!(err.alert(), Some(alert), "{ctx}"),
                None => assert!(err.alert().is_some(), "{ctx}"),
            }
        }
    }
    assert!(origin.seen().is_empty(), "{:?}", origin.seen());
    let good = TlsClient::new(&f.server_ca, A).cert(&f.client(Validity::Current));
    ok_json(&good.fetch(f.proxy(), &Req::get(A)).await.unwrap());
    assert_eq!(origin.seen().len(), 1);
}

fn own(issued: &Issued) -> Option<Arc<CertifiedKey>> {
    Some(certified(&[&issued.cert_der], issued))
}

#[tokio::test]
async fn missing_certificate_is_refused() {
    assert_refused(|_| None, Some(AlertDescription::CertificateRequired)).await;
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    assert_refused(
        |f| own(&f.client(Validity::Expired)),
        Some(AlertDescription::CertificateExpired),
    )
    .await;
}

#[tokio::test]
async fn not_yet_valid_certificate_is_refused() {
    assert_refused(
        |f| own(&f.client(Validity::NotYetValid)),
        Some(AlertDescription::CertificateExpired),
    )
    .await;
}

#[tokio::test]
async fn unknown_ca_is_refused() {
    assert_refused(
        |f| {
            own(&f
                .other_ca
                .issue_client("stranger", Validity::Current)
                .unwrap())
        },
        Some(AlertDescription::UnknownCA),
    )
    .await;
}

#[tokio::test]
async fn certificate_signed_with_the_wrong_key_is_refused() {
    assert_refused(
        |f| {
            let (cert, thief) = (f.client(Validity::Current), f.client(Validity::Current));
            Some(certified(&[&cert.cert_der], &thief))
        },
        None,
    )
    .await;
}

/// Domains A and B each trust a different CA: a client of one is refused on the other (the
/// wrong-domain CA), each is served on its own.
#[tokio::test]
async fn clients_are_isolated_per_domain() {
    let (f, origin, _) = enforced_a().await;
    let ma_b = f.ma(&f.other_ca.cert().cert_pem, true).await;
    f.activate(B, Some(&ma_b)).await;
    let client_a = f.client(Validity::Current);
    let client_b = f
        .other_ca
        .issue_client("client-b", Validity::Current)
        .unwrap();
    for tls in BOTH {
        for (domain, wrong) in [(A, &client_b), (B, &client_a)] {
            let c = TlsClient::new(&f.server_ca, domain).tls(tls).cert(wrong);
            let err = c.fetch(f.proxy(), &Req::get(domain)).await.unwrap_err();
            assert_eq!(
                err.alert(),
                Some(AlertDescription::UnknownCA),
                "{domain} {tls:?}: {err}"
            );
        }
    }
    assert!(origin.seen().is_empty());
    for (domain, right) in [(A, &client_a), (B, &client_b)] {
        let c = TlsClient::new(&f.server_ca, domain).cert(right);
        let h = seen(&c.fetch(f.proxy(), &Req::get(domain)).await.unwrap());
        assert_eq!(h["client-cert-verdict"], "ok", "{domain}");
    }
    assert_eq!(origin.seen().len(), 2);
}

/// Only domains with a mutual authentication send a CertificateRequest, and it names exactly
/// the CAs of that domain's bundle.
#[tokio::test]
async fn certificate_request_only_on_mtls_domains_and_names_the_bundle() {
    let (f, _origin, _) = enforced_a().await;
    let ma_b = f.ma(&f.other_ca.cert().cert_pem, false).await;
    f.activate(B, Some(&ma_b)).await;
    f.activate(PLAIN, None).await;
    let client_subject = subject_der(&f.client_ca.cert().cert_der);
    let other_subject = subject_der(&f.other_ca.cert().cert_der);
    for tls in BOTH {
        let asked = |d| TlsClient::new(&f.server_ca, d).tls(tls);
        assert_eq!(
            asked(PLAIN).cert_request(f.proxy()).await,
            None,
            "{tls:?}: a domain without mutual authentication asked for a certificate"
        );
        assert_eq!(
            asked(A).cert_request(f.proxy()).await,
            Some(vec![client_subject.clone()]),
            "{tls:?}"
        );
        assert_eq!(
            asked(B).cert_request(f.proxy()).await,
            Some(vec![other_subject.clone()]),
            "{tls:?}"
        );
    }
    // A two-CA bundle advertises both names.
    let both = format!(
        "{}{}",
        f.client_ca.cert().cert_pem,
        f.other_ca.cert().cert_pem
    );
    let ma_two = f.ma(&both, true).await;
    f.activate(TWO, Some(&ma_two)).await;
    let hints = TlsClient::new(&f.server_ca, TWO)
        .cert_request(f.proxy())
        .await;
    assert_eq!(hints, Some(vec![client_subject, other_subject]));
}
