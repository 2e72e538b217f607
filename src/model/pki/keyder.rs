//! Just enough DER reading of private key containers to pick the algorithm and curve and to
//! measure an RSA modulus, so refusals can say exactly why before aws-lc-rs sees the key.

use x509_parser::asn1_rs::{Any, FromDer, Oid, Tag};
use x509_parser::x509::AlgorithmIdentifier;

/// The algorithm of a PKCS#8 `PrivateKeyInfo`, and its inner private key bytes.
pub(super) struct Pkcs8Parts<'a> {
    /// The privateKeyAlgorithm OID, dotted.
    pub algorithm: String,
    /// For id-ecPublicKey, the namedCurve OID, dotted.
    pub curve: Option<String>,
    /// The privateKey OCTET STRING content (an RSAPrivateKey for RSA).
    pub private_key: &'a [u8],
}

/// Reads `PrivateKeyInfo ::= SEQUENCE { version, privateKeyAlgorithm, privateKey, ... }`.
pub(super) fn pkcs8_parts(der: &[u8]) -> Option<Pkcs8Parts<'_>> {
    let (rest, any) = Any::from_der(der).ok()?;
    if !rest.is_empty() || any.header.tag() != Tag::Sequence {
        return None;
    }
    let (i, _version) = integer(any.data)?;
    let (i, alg) = AlgorithmIdentifier::from_der(i).ok()?;
    let (_, key) = Any::from_der(i).ok()?;
    if key.header.tag() != Tag::OctetString {
        return None;
    }
    let curve = alg
        .parameters
        .as_ref()
        .and_then(|p| Oid::try_from(p).ok())
        .map(|oid| oid.to_id_string());
    Some(Pkcs8Parts {
        algorithm: alg.algorithm.to_id_string(),
        curve,
        private_key: key.data,
    })
}

/// The namedCurve OID of an RFC 5915 `ECPrivateKey`'s `[0] parameters`, if present.
/// `Err` when the structure itself is not an ECPrivateKey.
pub(super) fn sec1_curve(der: &[u8]) -> Result<Option<String>, ()> {
    let (rest, any) = Any::from_der(der).map_err(|_| ())?;
    if !rest.is_empty() || any.header.tag() != Tag::Sequence {
        return Err(());
    }
    let (i, _version) = integer(any.data).ok_or(())?;
    let (mut i, key) = Any::from_der(i).map_err(|_| ())?;
    if key.header.tag() != Tag::OctetString {
        return Err(());
    }
    while !i.is_empty() {
        let (next, field) = Any::from_der(i).map_err(|_| ())?;
        if field.header.is_contextspecific() && field.header.tag() == Tag(0) {
            // Explicit curve parameters (a SEQUENCE) are named as such, not parsed.
            let curve = Oid::from_der(field.data).map_or_else(
                |_| "explicit parameters".to_string(),
                |(_, oid)| oid.to_id_string(),
            );
            return Ok(Some(curve));
        }
        i = next;
    }
    Ok(None)
}

/// The modulus size in bits of an RFC 8017 `RSAPrivateKey ::= SEQUENCE { version, modulus, ... }`.
pub(super) fn rsa_modulus_bits(der: &[u8]) -> Option<u32> {
    let (_, any) = Any::from_der(der).ok()?;
    if any.header.tag() != Tag::Sequence {
        return None;
    }
    let (i, _version) = integer(any.data)?;
    let (_, modulus) = integer(i)?;
    Some(unsigned_bits(modulus))
}

fn integer(i: &[u8]) -> Option<(&[u8], &[u8])> {
    let (rest, any) = Any::from_der(i).ok()?;
    (any.header.tag() == Tag::Integer).then_some((rest, any.data))
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
fn unsigned_bits(bytes: &[u8]) -> u32 {
    let bytes = match bytes.iter().position(|b| *b != 0) {
        Some(first) => bytes.get(first..).unwrap_or_default(),
        None => return 0,
    };
    let Some(top) = bytes.first() else { return 0 };
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX / 8);
    (len - 1)
        .saturating_mul(8)
        .saturating_add(8 - top.leading_zeros())
}

/// Names for the OIDs operators are likely to meet.
pub(super) fn oid_name(oid: &str) -> String {
    let name = match oid {
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        "1.2.840.10045.3.1.1" => "P-192",
        "1.3.132.0.33" => "P-224",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        other if other.starts_with(|c: char| c.is_ascii_digit()) => return format!("OID {other}"),
        other => other,
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_length_ignores_leading_zeros() {
        assert_eq!(unsigned_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(unsigned_bits(&[0x01]), 1);
        assert_eq!(unsigned_bits(&[0x00, 0x00]), 0);
        assert_eq!(unsigned_bits(&[]), 0);
        let mut modulus = vec![0x00];
        modulus.extend(vec![0xff; 256]);
        assert_eq!(unsigned_bits(&modulus), 2048);
    }

    #[test]
    fn garbage_is_not_a_container() {
        assert!(pkcs8_parts(&[0x30, 0x03, 0x02, 0x01]).is_none());
        assert!(sec1_curve(&[0x04, 0x00]).is_err());
        assert!(rsa_modulus_bits(&[0xff; 8]).is_none());
    }
}
