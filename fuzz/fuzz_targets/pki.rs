//! PEM and DER as operators upload them: CA bundles (mutual authentications), certificate
//! chains and private keys, through the same parsers the API uses. No input may panic; what is
//! accepted must be within the documented limits, and an accepted key must survive a round trip
//! through its normalised PKCS#8 form.

#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use mtls_proxy::model::pki::{
    canonical_domain, parse_ca_bundle, parse_certificate_chain, parse_private_key, MAX_BUNDLE_CERTS,
};

/// PEM labels the DER modes wrap the input in.
const LABELS: [&str; 4] = [
    "CERTIFICATE",
    "PRIVATE KEY",
    "EC PRIVATE KEY",
    "RSA PRIVATE KEY",
];

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the mode: the rest as PEM text, or as DER inside one PEM block
    // (so that the fuzzer reaches the DER parsers without having to learn base64).
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = match usize::from(mode) % (LABELS.len() + 1) {
        0 => String::from_utf8_lossy(rest).into_owned(),
        n => pem(LABELS[n - 1], rest),
    };
    if let Ok(bundle) = parse_ca_bundle(&text) {
        let n = bundle.certs_der.len();
        assert!((1..=MAX_BUNDLE_CERTS).contains(&n), "{n} certificates");
    }
    if let Ok(chain) = parse_certificate_chain(&text) {
        assert!(!chain.chain_der.is_empty());
        assert!(chain.chain_der.len() <= MAX_BUNDLE_CERTS);
        for name in &chain.dns_names {
            let _ = canonical_domain(name);
        }
    }
    if let Ok(key) = parse_private_key(&text) {
        match key.key_type {
            "RSA" => assert!(
                (2048..=8192).contains(&key.key_length),
                "{}",
                key.key_length
            ),
            "ECDSA" => assert!(matches!(key.key_length, 256 | 384), "{}", key.key_length),
            other => panic!("key type {other:?}"),
        }
        let again = parse_private_key(&pem("PRIVATE KEY", &key.pkcs8_der))
            .expect("the normalised PKCS#8 form of an accepted key parses");
        assert_eq!(again.spki_der, key.spki_der);
        assert_eq!(again.public_key_sha1, key.public_key_sha1);
        assert_eq!(
            (again.key_type, again.key_length),
            (key.key_type, key.key_length)
        );
    }
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = canonical_domain(text);
    }
});
