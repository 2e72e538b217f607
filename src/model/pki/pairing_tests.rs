//! Tests that a key and the certificate issued for it derive the same `public_key_sha1`, whatever
//! PEM format the key arrives in (the API pairs certificates with keys by this value).

use aws_lc_rs::encoding::{AsDer, EcPrivateKeyRfc5915Der};
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING,
};
use rcgen::KeyPair;

use super::keyder::pkcs8_parts;
use super::test_support::{ca, issue, params, pem_block};
use super::{parse_certificate_chain, parse_private_key};

/// The key's PEM in every format it can take, and the PEM of a certificate for it.
fn key_forms_and_cert(alg: &'static rcgen::SignatureAlgorithm) -> (Vec<String>, String) {
    let root = ca("Pairing Root");
    let key = KeyPair::generate_for(alg).unwrap();
    let pkcs8 = key.serialize_der();
    let mut forms = vec![key.serialize_pem()];
    match ec_alg(alg) {
        Some(ec) => {
            let pair = EcdsaKeyPair::from_pkcs8(ec, &pkcs8).unwrap();
            let sec1: EcPrivateKeyRfc5915Der<'static> = pair.private_key().as_der().unwrap();
            forms.push(pem_block("EC PRIVATE KEY", sec1.as_ref()));
        }
        None => {
            let pkcs1 = pkcs8_parts(&pkcs8).unwrap().private_key;
            forms.push(pem_block("RSA PRIVATE KEY", pkcs1));
        }
    }
    let cert = issue(
        params(Some("pair"), &["pair.example.com"]),
        key,
        Some(&root),
    );
    (forms, cert.cert.pem())
}

fn ec_alg(alg: &'static rcgen::SignatureAlgorithm) -> Option<&'static EcdsaSigningAlgorithm> {
    if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        Some(&ECDSA_P256_SHA256_ASN1_SIGNING)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        Some(&ECDSA_P384_SHA384_ASN1_SIGNING)
    } else {
        None
    }
}

#[test]
fn key_and_certificate_hashes_agree_in_every_format() {
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_RSA_SHA256,
    ] {
        let (forms, cert) = key_forms_and_cert(alg);
        let cert_sha1 = parse_certificate_chain(&cert).unwrap().public_key_sha1;
        for form in &forms {
            let key = parse_private_key(form).unwrap();
            assert_eq!(key.public_key_sha1, cert_sha1, "{alg:?}");
        }
    }
}

#[test]
fn different_keys_hash_differently() {
    let (forms, _) = key_forms_and_cert(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (_, other_cert) = key_forms_and_cert(&rcgen::PKCS_ECDSA_P256_SHA256);
    let key = parse_private_key(&forms[0]).unwrap();
    let cert = parse_certificate_chain(&other_cert).unwrap();
    assert_ne!(key.public_key_sha1, cert.public_key_sha1);
}
