//! Validation of an uploaded private key and the attributes derived from it.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING,
};
use rustls_pki_types::pem::SectionKind;

use super::keyder::{oid_name, pkcs8_parts, rsa_modulus_bits, sec1_curve};
use super::pem::{read_sections, Input};
use super::{sha1_hex, PkiError};

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
const MIN_RSA_BITS: u32 = 2048;
/// aws-lc-rs refuses larger keys; checking first also bounds the work on hostile input.
const MAX_RSA_BITS: u32 = 8192;

const PKCS8: &str = "PKCS#8";
const PKCS1: &str = "PKCS#1 RSA";
const SEC1: &str = "SEC1 EC";

/// A validated private key. `Debug` leaves the key material out so it can't reach logs.
#[derive(Clone)]
pub struct KeyInfo {
    /// "RSA" or "ECDSA".
    pub key_type: &'static str,
    /// RSA modulus bits (2048, 3072, 4096...), ECDSA 256 or 384.
    pub key_length: u32,
    /// Lower-case hex SHA-1 of the SubjectPublicKeyInfo DER.
    pub public_key_sha1: String,
    /// The key normalised to PKCS#8 DER.
    pub pkcs8_der: Vec<u8>,
    /// The public key as SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
}

impl fmt::Debug for KeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyInfo")
            .field("key_type", &self.key_type)
            .field("key_length", &self.key_length)
            .field("public_key_sha1", &self.public_key_sha1)
            .field("pkcs8_der", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Validates a PEM private key: exactly one unencrypted PKCS#8, SEC1 or PKCS#1 key, RSA of
/// 2048 to 8192 bits or ECDSA on P-256 or P-384. Derives the public key and its SHA-1 the same
/// way as [`super::parse_certificate_chain`] does for a certificate, so the two compare equal.
pub fn parse_private_key(pem: &str) -> Result<KeyInfo, PkiError> {
    let mut sections = read_sections(pem, Input::Key)?;
    if sections.len() > 1 {
        return Err(PkiError::MultiplePrivateKeys {
            count: sections.len(),
        });
    }
    let (kind, der) = sections.pop().ok_or(PkiError::NoPrivateKey)?;
    match kind {
        SectionKind::PrivateKey => from_pkcs8(&der),
        SectionKind::RsaPrivateKey => from_pkcs1(&der),
        SectionKind::EcPrivateKey => from_sec1(&der),
        _ => Err(PkiError::NoPrivateKey),
    }
}

fn from_pkcs8(der: &[u8]) -> Result<KeyInfo, PkiError> {
    let parts = pkcs8_parts(der).ok_or(bad(PKCS8, "not a PrivateKeyInfo structure"))?;
    match parts.algorithm.as_str() {
        RSA_ENCRYPTION => {
            let bits = rsa_bits(parts.private_key, PKCS8)?;
            let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| rejected(PKCS8, &e))?;
            rsa_info(&pair, bits, PKCS8)
        }
        EC_PUBLIC_KEY => {
            let curve = parts.curve.as_deref().unwrap_or("explicit parameters");
            let (alg, bits) = ecdsa_alg(curve)?;
            let pair = EcdsaKeyPair::from_pkcs8(alg, der).map_err(|e| rejected(PKCS8, &e))?;
            ec_info(&pair, bits, PKCS8)
        }
        other => Err(PkiError::UnsupportedKeyType {
            name: oid_name(other),
        }),
    }
}

fn from_pkcs1(der: &[u8]) -> Result<KeyInfo, PkiError> {
    let bits = rsa_bits(der, PKCS1)?;
    let pair = RsaKeyPair::from_der(der).map_err(|e| rejected(PKCS1, &e))?;
    rsa_info(&pair, bits, PKCS1)
}

fn from_sec1(der: &[u8]) -> Result<KeyInfo, PkiError> {
    let curve = sec1_curve(der).map_err(|()| bad(SEC1, "not an ECPrivateKey structure"))?;
    let candidates = match curve {
        Some(curve) => vec![ecdsa_alg(&curve)?],
        // The curve is optional in SEC1; try the two we support.
        None => vec![ecdsa_alg(P256)?, ecdsa_alg(P384)?],
    };
    let mut last = bad(SEC1, "the key does not match its curve");
    for (alg, bits) in candidates {
        match EcdsaKeyPair::from_private_key_der(alg, der) {
            Ok(pair) => return ec_info(&pair, bits, SEC1),
            Err(e) => last = rejected(SEC1, &e),
        }
    }
    Err(last)
}

fn rsa_bits(rsa_private_key: &[u8], format: &'static str) -> Result<u32, PkiError> {
    let bits = rsa_modulus_bits(rsa_private_key).ok_or(bad(format, "malformed RSA key"))?;
    if bits < MIN_RSA_BITS {
        return Err(PkiError::RsaKeyTooSmall { bits });
    }
    if bits > MAX_RSA_BITS {
        return Err(PkiError::RsaKeyTooLarge { bits });
    }
    Ok(bits)
}

fn ecdsa_alg(curve_oid: &str) -> Result<(&'static EcdsaSigningAlgorithm, u32), PkiError> {
    match curve_oid {
        P256 => Ok((&ECDSA_P256_SHA256_ASN1_SIGNING, 256)),
        P384 => Ok((&ECDSA_P384_SHA384_ASN1_SIGNING, 384)),
        other => Err(PkiError::UnsupportedCurve {
            curve: oid_name(other),
        }),
    }
}

fn rsa_info(pair: &RsaKeyPair, bits: u32, format: &'static str) -> Result<KeyInfo, PkiError> {
    let spki = pair.public_key().as_der().map_err(|_| reencode(format))?;
    let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| reencode(format))?;
    Ok(key_info("RSA", bits, spki.as_ref(), pkcs8.as_ref()))
}

fn ec_info(pair: &EcdsaKeyPair, bits: u32, format: &'static str) -> Result<KeyInfo, PkiError> {
    let spki = pair.public_key().as_der().map_err(|_| reencode(format))?;
    let pkcs8 = pair.to_pkcs8v1().map_err(|_| reencode(format))?;
    Ok(key_info("ECDSA", bits, spki.as_ref(), pkcs8.as_ref()))
}

fn key_info(key_type: &'static str, bits: u32, spki: &[u8], pkcs8: &[u8]) -> KeyInfo {
    KeyInfo {
        key_type,
        key_length: bits,
        public_key_sha1: sha1_hex(spki),
        pkcs8_der: pkcs8.to_vec(),
        spki_der: spki.to_vec(),
    }
}

fn bad(format: &'static str, reason: &'static str) -> PkiError {
    PkiError::BadKey { format, reason }
}

fn reencode(format: &'static str) -> PkiError {
    bad(format, "it can't be re-encoded")
}

fn rejected(format: &'static str, err: &KeyRejected) -> PkiError {
    let reason = match err.description_() {
        "TooSmall" => "the key is too small",
        "TooLarge" => "the key is too large",
        "InconsistentComponents" => "its components are inconsistent",
        "WrongAlgorithm" => "the algorithm does not match",
        "InvalidEncoding" => "invalid encoding",
        _ => "the key material is invalid",
    };
    bad(format, reason)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::EcPrivateKeyRfc5915Der;
    use rcgen::{KeyPair as RcgenKey, PublicKeyData};
    use x509_parser::asn1_rs::{Any, FromDer};

    use super::super::test_support::{fake_rsa_pkcs1, pem_block, rsa_pkcs8_wrap, tlv};
    use super::*;

    fn rcgen_key(alg: &'static rcgen::SignatureAlgorithm) -> RcgenKey {
        RcgenKey::generate_for(alg).unwrap()
    }

    fn sec1_of(key: &RcgenKey, alg: &'static EcdsaSigningAlgorithm) -> Vec<u8> {
        let pair = EcdsaKeyPair::from_pkcs8(alg, &key.serialize_der()).unwrap();
        let sec1: EcPrivateKeyRfc5915Der<'static> = pair.private_key().as_der().unwrap();
        sec1.as_ref().to_vec()
    }

    #[test]
    fn pkcs8_ecdsa_keys() {
        for (alg, bits) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, 256),
            (&rcgen::PKCS_ECDSA_P384_SHA384, 384),
        ] {
            let key = rcgen_key(alg);
            let info = parse_private_key(&key.serialize_pem()).unwrap();
            assert_eq!((info.key_type, info.key_length), ("ECDSA", bits));
            assert_eq!(info.spki_der, key.subject_public_key_info());
            assert_eq!(
                info.public_key_sha1,
                sha1_hex(&key.subject_public_key_info())
            );
            assert_eq!(info.pkcs8_der, key.serialize_der());
        }
    }

    #[test]
    fn sec1_ec_keys_match_their_pkcs8_form() {
        let key = rcgen_key(&rcgen::PKCS_ECDSA_P256_SHA256);
        let sec1 = sec1_of(&key, &ECDSA_P256_SHA256_ASN1_SIGNING);
        let from_sec1 = parse_private_key(&pem_block("EC PRIVATE KEY", &sec1)).unwrap();
        let from_pkcs8 = parse_private_key(&key.serialize_pem()).unwrap();
        assert_eq!(from_sec1.key_length, 256);
        assert_eq!(from_sec1.public_key_sha1, from_pkcs8.public_key_sha1);
        assert_eq!(from_sec1.pkcs8_der, from_pkcs8.pkcs8_der);
        // As written by `openssl ecparam -genkey`: parameters first, then the key.
        let params = pem_block(
            "EC PARAMETERS",
            &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        );
        let text = format!("{params}{}", pem_block("EC PRIVATE KEY", &sec1));
        assert_eq!(
            parse_private_key(&text).unwrap().spki_der,
            from_pkcs8.spki_der
        );
    }

    #[test]
    fn sec1_without_curve_parameters_is_tried_on_both_curves() {
        let key = rcgen_key(&rcgen::PKCS_ECDSA_P384_SHA384);
        let sec1 = sec1_of(&key, &ECDSA_P384_SHA384_ASN1_SIGNING);
        let (_, seq) = Any::from_der(&sec1).unwrap();
        let mut body = Vec::new();
        let mut rest = seq.data;
        while !rest.is_empty() {
            let (next, field) = Any::from_der(rest).unwrap();
            let len = rest.len() - next.len();
            if field.header.tag().0 != 0 || !field.header.is_contextspecific() {
                body.extend_from_slice(&rest[..len]);
            }
            rest = next;
        }
        let stripped = tlv(0x30, &body);
        assert_eq!(sec1_curve(&stripped), Ok(None));
        let info = parse_private_key(&pem_block("EC PRIVATE KEY", &stripped)).unwrap();
        assert_eq!(info.key_length, 384);
        assert_eq!(info.spki_der, key.subject_public_key_info());
    }

    #[test]
    fn rsa_keys_in_pkcs8_and_pkcs1() {
        let key = rcgen_key(&rcgen::PKCS_RSA_SHA256);
        let info = parse_private_key(&key.serialize_pem()).unwrap();
        assert_eq!((info.key_type, info.key_length), ("RSA", 2048));
        assert_eq!(info.spki_der, key.subject_public_key_info());
        let pkcs8 = key.serialize_der();
        let pkcs1 = pkcs8_parts(&pkcs8).unwrap().private_key.to_vec();
        let from_pkcs1 = parse_private_key(&pem_block("RSA PRIVATE KEY", &pkcs1)).unwrap();
        assert_eq!(from_pkcs1.public_key_sha1, info.public_key_sha1);
        assert_eq!(from_pkcs1.pkcs8_der, info.pkcs8_der);
        assert_eq!(from_pkcs1.key_length, 2048);
    }

    #[test]
    fn small_rsa_keys_are_refused_with_their_size() {
        let pkcs1 = fake_rsa_pkcs1(1024);
        let expected = PkiError::RsaKeyTooSmall { bits: 1024 };
        let err = parse_private_key(&pem_block("RSA PRIVATE KEY", &pkcs1)).unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(
            err.to_string(),
            "is a 1024-bit RSA key; at least 2048 bits are required"
        );
        let wrapped = pem_block("PRIVATE KEY", &rsa_pkcs8_wrap(&pkcs1));
        assert_eq!(parse_private_key(&wrapped).unwrap_err(), expected);
        let huge = pem_block("RSA PRIVATE KEY", &fake_rsa_pkcs1(16384));
        assert_eq!(
            parse_private_key(&huge).unwrap_err(),
            PkiError::RsaKeyTooLarge { bits: 16384 }
        );
        // Right size but not a real key: refused by aws-lc-rs.
        let fake = pem_block("RSA PRIVATE KEY", &fake_rsa_pkcs1(2048));
        assert!(matches!(
            parse_private_key(&fake),
            Err(PkiError::BadKey { format: PKCS1, .. })
        ));
    }

    #[test]
    fn other_key_types_and_curves_are_refused() {
        let ed = rcgen_key(&rcgen::PKCS_ED25519).serialize_pem();
        let err = parse_private_key(&ed).unwrap_err();
        assert_eq!(
            err,
            PkiError::UnsupportedKeyType {
                name: "Ed25519".into()
            }
        );
        assert!(err.to_string().contains("unsupported key type"));
        let p521 = rcgen_key(&rcgen::PKCS_ECDSA_P521_SHA512).serialize_pem();
        assert_eq!(
            parse_private_key(&p521).unwrap_err(),
            PkiError::UnsupportedCurve {
                curve: "P-521".into()
            }
        );
    }

    #[test]
    fn section_rules() {
        let key = rcgen_key(&rcgen::PKCS_ECDSA_P256_SHA256).serialize_pem();
        assert_eq!(
            parse_private_key(&format!("{key}{key}")).unwrap_err(),
            PkiError::MultiplePrivateKeys { count: 2 }
        );
        let cert = pem_block("CERTIFICATE", &[0x30, 0x00]);
        assert_eq!(
            parse_private_key(&format!("{key}{cert}")).unwrap_err(),
            PkiError::CertificateInKey
        );
        assert_eq!(
            parse_private_key(&pem_block("ENCRYPTED PRIVATE KEY", &[0x30, 0x00])).unwrap_err(),
            PkiError::EncryptedKey
        );
        assert_eq!(
            parse_private_key("garbage").unwrap_err(),
            PkiError::NoPrivateKey
        );
        assert_eq!(parse_private_key("").unwrap_err(), PkiError::Blank);
        for label in ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"] {
            let junk = pem_block(label, b"junk junk junk");
            assert!(
                matches!(parse_private_key(&junk), Err(PkiError::BadKey { .. })),
                "{label}"
            );
        }
    }

    #[test]
    fn debug_output_leaves_out_the_key() {
        let info =
            parse_private_key(&rcgen_key(&rcgen::PKCS_ECDSA_P256_SHA256).serialize_pem()).unwrap();
        let shown = format!("{info:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains(&format!("{:?}", info.pkcs8_der)));
    }
}
