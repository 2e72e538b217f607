//! CRL validation: what parses, what the verifier could not use, issuer and signature checks,
//! replacement order. CRLs are made with rcgen here; the integration tests use openssl's.

use rcgen::{
    CertificateRevocationListParams, CrlDistributionPoint, CrlIssuingDistributionPoint, CrlScope,
    Issuer, KeyIdMethod, KeyUsagePurpose, RevokedCertParams, SerialNumber,
};
use time::macros::datetime;

use super::super::test_support::{ca, pem_block, Issued};
use super::*;

fn params(number: u64, revoked: &[u64]) -> CertificateRevocationListParams {
    CertificateRevocationListParams {
        this_update: datetime!(2026-01-01 00:00:00 UTC),
        next_update: datetime!(2026-01-08 00:00:00 UTC),
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(*s),
                revocation_time: datetime!(2025-12-31 00:00:00 UTC),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
}

fn signed(p: &CertificateRevocationListParams, ca: &Issued) -> String {
    p.signed_by(&ca.issuer()).unwrap().pem().unwrap()
}

fn der_of(ca: &Issued) -> Vec<u8> {
    ca.cert.der().to_vec()
}

#[test]
fn parses_what_the_api_shows() {
    let root = ca("CRL Root");
    let info = parse_crl(&signed(&params(7, &[1, 2, 3]), &root)).unwrap();
    assert_eq!(info.issuer, "CN=CRL Root");
    assert_eq!(info.this_update, 1_767_225_600);
    assert_eq!(info.next_update, 1_767_830_400);
    assert_eq!(info.number, "7");
    assert_eq!(info.revoked_count, 3);
    assert_eq!(check_crl_issuer(&info.der, &[der_of(&root)]), Ok(0));
}

#[test]
fn issuer_must_be_in_the_bundle_and_sign_it() {
    let root = ca("CRL Root");
    let other = ca("CRL Other");
    let impostor = ca("CRL Root"); // same name, another key
    let crl = parse_crl(&signed(&params(1, &[]), &root)).unwrap();
    assert_eq!(
        check_crl_issuer(&crl.der, &[der_of(&other)]),
        Err(PkiError::CrlIssuerNotInBundle {
            issuer: "CN=CRL Root".into()
        })
    );
    assert_eq!(
        check_crl_issuer(&crl.der, &[der_of(&impostor)]),
        Err(PkiError::CrlBadSignature {
            issuer: "CN=CRL Root".into()
        })
    );
    // Among several certificates with the CRL's name, the one whose key signed it counts.
    assert_eq!(
        check_crl_issuer(
            &crl.der,
            &[der_of(&other), der_of(&impostor), der_of(&root)]
        ),
        Ok(2)
    );
    let forged = parse_crl(&signed(&params(1, &[]), &impostor)).unwrap();
    assert!(check_crl_issuer(&forged.der, &[der_of(&root)]).is_err());
}

#[test]
fn an_issuer_without_crl_sign_is_refused() {
    let mut p = super::super::test_support::params(Some("No CRL Sign"), &[]);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    // rcgen refuses to sign a CRL for that issuer; sign with the same name and key but no
    // key usage in the issuer parameters.
    let mut signer = p.clone();
    signer.key_usages.clear();
    let crl = params(1, &[])
        .signed_by(&Issuer::from_params(&signer, &key))
        .unwrap()
        .pem()
        .unwrap();
    let info = parse_crl(&crl).unwrap();
    assert_eq!(
        check_crl_issuer(&info.der, &[cert.der().to_vec()]),
        Err(PkiError::CrlIssuerNotCrlSigner {
            issuer: "CN=No CRL Sign".into()
        })
    );
}

#[test]
fn garbage_and_wrong_sections_are_refused() {
    let root = ca("CRL Root");
    let crl = signed(&params(1, &[]), &root);
    assert!(matches!(
        parse_crl(&pem_block("X509 CRL", b"garbage")),
        Err(PkiError::BadCrl(_))
    ));
    assert_eq!(parse_crl(""), Err(PkiError::Blank));
    assert_eq!(
        parse_crl(&format!("{crl}{crl}")),
        Err(PkiError::CrlCount(2))
    );
    assert!(matches!(
        parse_crl(&root.cert.pem()),
        Err(PkiError::UnexpectedSection { .. })
    ));
    assert_eq!(
        parse_crl(&format!("{crl}{}", root.key.serialize_pem())),
        Err(PkiError::PrivateKeyInCrl)
    );
    let mut der = parse_crl(&crl).unwrap().der;
    der.push(0);
    assert!(matches!(parse_crl_der(der), Err(PkiError::BadCrl(r)) if r.contains("trailing")));
}

#[test]
fn what_the_verifier_cannot_use_is_refused() {
    let root = ca("CRL Root");
    let mut idp = params(1, &[]);
    idp.issuing_distribution_point = Some(CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint {
            uris: vec!["http://crl.example.org/root.crl".into()],
        },
        scope: Some(CrlScope::UserCertsOnly),
    });
    assert!(
        parse_crl(&signed(&idp, &root)).is_ok(),
        "a full-name IDP is fine"
    );

    // A v1 CRL (no version, no extensions), as `openssl ca -gencrl` writes without crlnumber.
    let v2 = parse_crl(&signed(&params(1, &[]), &root)).unwrap().der;
    let v1 = strip_version_and_extensions(&v2);
    let err = parse_crl_der(v1).unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
}

/// Re-encodes a CRL without its version and extensions (the signature no longer verifies,
/// which does not matter: parsing fails first).
fn strip_version_and_extensions(der: &[u8]) -> Vec<u8> {
    let outer = elements(content(der));
    let tbs: Vec<u8> = elements(content(outer[0]))
        .into_iter()
        .filter(|e| e[0] != 0x02 && e[0] != 0xa0) // version INTEGER, [0] extensions
        .flatten()
        .copied()
        .collect();
    let mut all = super::super::test_support::tlv(0x30, &tbs);
    all.extend(outer[1]);
    all.extend(outer[2]);
    super::super::test_support::tlv(0x30, &all)
}

/// (header length, content length) of the DER element at the start of `der`.
fn header(der: &[u8]) -> (usize, usize) {
    match der[1] {
        n if n < 0x80 => (2, n as usize),
        n => {
            let k = (n & 0x7f) as usize;
            let len = der[2..2 + k]
                .iter()
                .fold(0usize, |a, b| a << 8 | *b as usize);
            (2 + k, len)
        }
    }
}

fn content(der: &[u8]) -> &[u8] {
    let (h, len) = header(der);
    &der[h..h + len]
}

/// The whole elements (header included) of a constructed content, in order.
fn elements(mut der: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !der.is_empty() {
        let (h, len) = header(der);
        out.push(&der[..h + len]);
        der = &der[h + len..];
    }
    out
}

#[test]
fn a_replacement_must_not_be_older() {
    let age = |t, n: &str| CrlAge {
        this_update: t,
        number: n.into(),
    };
    assert!(check_not_older(&age(10, "5"), &age(10, "5")).is_ok());
    assert!(check_not_older(&age(10, "5"), &age(11, "6")).is_ok());
    let e = check_not_older(&age(10, "5"), &age(9, "6")).unwrap_err();
    assert!(e.to_string().contains("thisUpdate"), "{e}");
    let e = check_not_older(&age(10, "5"), &age(11, "4")).unwrap_err();
    assert!(e.to_string().contains("CRL number 4"), "{e}");
    // Numbers compare as numbers, not as text.
    assert!(check_not_older(&age(10, "9"), &age(10, "10")).is_ok());
    let big = "1".repeat(40);
    assert!(check_not_older(&age(10, "9"), &age(10, &big)).is_ok());
}
