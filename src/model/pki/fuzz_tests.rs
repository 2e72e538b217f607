//! Deterministic robustness test: hostile, random, truncated and mutated input must give errors,
//! never panics, from every parser (operator input reaches them straight from the API).

use base64::Engine;
use rcgen::KeyPair;

use super::test_support::{ca, leaf, pem_block};
use super::{canonical_domain, parse_ca_bundle, parse_certificate_chain, parse_private_key};

/// xorshift64*: a tiny deterministic generator so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

/// Runs every parser; returns whether all of them refused the input.
fn all_refuse(text: &str) -> bool {
    let bundle = parse_ca_bundle(text).is_err();
    let chain = parse_certificate_chain(text).is_err();
    let key = parse_private_key(text).is_err();
    let _ = canonical_domain(text);
    bundle && chain && key
}

fn random_texts(rng: &mut Rng) -> Vec<String> {
    let mut texts = Vec::new();
    for _ in 0..120 {
        let len = rng.below(3000);
        texts.push(String::from_utf8_lossy(&rng.bytes(len)).into_owned());
    }
    let labels = [
        "CERTIFICATE",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "RSA PRIVATE KEY",
    ];
    for _ in 0..120 {
        let label = labels[rng.below(labels.len())];
        let len = rng.below(600);
        texts.push(pem_block(label, &rng.bytes(len)));
    }
    texts.extend([
        "\0".repeat(5000),
        "-----BEGIN ".to_string(),
        "-----BEGIN CERTIFICATE-----".to_string(),
        "-----END CERTIFICATE-----\n".repeat(10),
        format!("-----BEGIN {}-----\n", "A".repeat(100_000)),
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            "A".repeat(900_000)
        ),
        "-----BEGIN CERTIFICATE-----\n\0\0\0\n-----END CERTIFICATE-----\n".to_string(),
        "-----BEGIN CERTIFICATE-----\n====\n-----END CERTIFICATE-----\n".to_string(),
        "-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n".to_string(),
        "-----BEGIN\u{0}CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".repeat(2),
    ]);
    texts
}

/// Valid PEM for a certificate, an EC key and an RSA key.
fn valid_inputs() -> Vec<(String, &'static str, Vec<u8>)> {
    let root = ca("Fuzz Root");
    let leaf = leaf(Some("fuzz"), &["fuzz.example.com"], &root);
    let rsa = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    vec![
        (leaf.cert.pem(), "CERTIFICATE", leaf.cert.der().to_vec()),
        (
            leaf.key.serialize_pem(),
            "PRIVATE KEY",
            leaf.key.serialize_der(),
        ),
        (rsa.serialize_pem(), "PRIVATE KEY", rsa.serialize_der()),
    ]
}

#[test]
fn random_and_hostile_text_is_refused() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (i, text) in random_texts(&mut rng).iter().enumerate() {
        assert!(all_refuse(text), "input {i} was accepted");
    }
}

#[test]
fn truncated_pem_is_refused() {
    for (pem, _, _) in valid_inputs() {
        // Cut anywhere before the END line is complete.
        let cut_limit = pem.len() - 6;
        for cut in (0..=cut_limit).step_by(7).chain([cut_limit]) {
            let text = pem.get(..cut).unwrap();
            assert!(all_refuse(text), "cut at {cut} was accepted");
        }
    }
}

#[test]
fn mutated_der_never_panics() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for (_, label, der) in valid_inputs() {
        for _ in 0..150 {
            let mut der = der.clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(der.len());
                der[at] ^= 1 << rng.below(8);
            }
            if rng.below(4) == 0 {
                der.truncate(rng.below(der.len()));
            }
            let text = pem_block(label, &der);
            // Some mutations (e.g. inside a signature) still parse; only panics matter here.
            let _ = all_refuse(&text);
            let raw = base64::engine::general_purpose::STANDARD.encode(&der);
            let _ = all_refuse(&raw);
        }
    }
}
