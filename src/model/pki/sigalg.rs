//! Certificate signature algorithm names, spelled as Go's `x509.SignatureAlgorithm.String()`
//! (the API mirrors Fastly, whose responses carry these names).

use x509_parser::asn1_rs::{Any, FromDer, Oid, Tag};
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::AlgorithmIdentifier;

/// What Go prints for `UnknownSignatureAlgorithm` (its numeric value).
const UNKNOWN: &str = "0";

/// Algorithms identified by OID alone (Go's `signatureAlgorithmDetails`, minus RSA-PSS).
const BY_OID: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.2", "MD2-RSA"),
    ("1.2.840.113549.1.1.4", "MD5-RSA"),
    ("1.2.840.113549.1.1.5", "SHA1-RSA"),
    ("1.3.14.3.2.29", "SHA1-RSA"),
    ("1.2.840.113549.1.1.11", "SHA256-RSA"),
    ("1.2.840.113549.1.1.12", "SHA384-RSA"),
    ("1.2.840.113549.1.1.13", "SHA512-RSA"),
    ("1.2.840.10040.4.3", "DSA-SHA1"),
    ("2.16.840.1.101.3.4.3.2", "DSA-SHA256"),
    ("1.2.840.10045.4.1", "ECDSA-SHA1"),
    ("1.2.840.10045.4.3.2", "ECDSA-SHA256"),
    ("1.2.840.10045.4.3.3", "ECDSA-SHA384"),
    ("1.2.840.10045.4.3.4", "ECDSA-SHA512"),
];

const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const ED25519: &str = "1.3.101.112";
const MGF1: &str = "1.2.840.113549.1.1.8";

/// PSS hash OID, the salt length Go requires for it, and the resulting name.
const PSS: &[(&str, u32, &str)] = &[
    ("2.16.840.1.101.3.4.2.1", 32, "SHA256-RSAPSS"),
    ("2.16.840.1.101.3.4.2.2", 48, "SHA384-RSAPSS"),
    ("2.16.840.1.101.3.4.2.3", 64, "SHA512-RSAPSS"),
];

/// The Go name of a certificate's (outer) signature algorithm, or "0" if Go would not know it.
pub(super) fn go_name(alg: &AlgorithmIdentifier<'_>) -> &'static str {
    let oid = alg.algorithm.to_id_string();
    if oid == ED25519 {
        // RFC 8410 section 3: parameters MUST be absent; Go treats any as unknown.
        return if alg.parameters.is_none() {
            "Ed25519"
        } else {
            UNKNOWN
        };
    }
    if oid == RSASSA_PSS {
        return pss_name(alg).unwrap_or(UNKNOWN);
    }
    BY_OID
        .iter()
        .find(|(known, _)| *known == oid)
        .map_or(UNKNOWN, |(_, name)| name)
}

/// Go only names PSS when hash and MGF1 hash agree, the salt equals the hash length and the
/// trailer is the default; everything else is unknown.
fn pss_name(alg: &AlgorithmIdentifier<'_>) -> Option<&'static str> {
    let params = RsaSsaPssParams::try_from(alg.parameters.as_ref()?).ok()?;
    // Go requires the hash to be spelled out (no DEFAULT SHA-1) with NULL or absent parameters.
    let hash = params.hash_algorithm()?;
    if !null_or_absent(hash.parameters.as_ref()) || params.trailer_field() != 1 {
        return None;
    }
    let mgf = params.mask_gen_algorithm_raw()?;
    let (mgf_hash, mgf_hash_params_ok) = mgf1_hash(mgf)?;
    let hash_oid = hash.algorithm.to_id_string();
    if mgf.algorithm.to_id_string() != MGF1 || mgf_hash != hash_oid || !mgf_hash_params_ok {
        return None;
    }
    PSS.iter()
        .find(|(oid, salt, _)| *oid == hash_oid && *salt == params.salt_length())
        .map(|(_, _, name)| *name)
}

fn null_or_absent(params: Option<&Any<'_>>) -> bool {
    params.is_none_or(|p| p.header.tag() == Tag::Null && p.data.is_empty())
}

/// The MGF1 parameters are the hash's AlgorithmIdentifier: its OID, and whether its own
/// parameters are NULL or absent.
fn mgf1_hash(mgf: &AlgorithmIdentifier<'_>) -> Option<(String, bool)> {
    let params = mgf.parameters.as_ref()?;
    if params.header.tag() != Tag::Sequence {
        return None;
    }
    let (rest, oid) = Oid::from_der(params.data).ok()?;
    let params_ok = rest.is_empty() || rest == [0x05, 0x00];
    Some((oid.to_id_string(), params_ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(der: &[u8]) -> &'static str {
        let (rest, alg) = AlgorithmIdentifier::from_der(der).unwrap();
        assert!(rest.is_empty());
        go_name(&alg)
    }

    /// RSASSA-PSS with the given hash OID last byte (1 = SHA-256...) and salt length.
    fn pss(hash: u8, mgf_hash: u8, salt: u8) -> Vec<u8> {
        let mut der = vec![
            0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30,
            0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
            0x02, hash, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
            0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
            0x03, 0x04, 0x02, mgf_hash, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01,
        ];
        der.push(salt);
        der
    }

    #[test]
    fn names_by_oid() {
        let ecdsa256 = [
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
        ];
        assert_eq!(name_of(&ecdsa256), "ECDSA-SHA256");
        let sha1_rsa = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05,
            0x00,
        ];
        assert_eq!(name_of(&sha1_rsa), "SHA1-RSA");
        let md5_rsa = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04, 0x05,
            0x00,
        ];
        assert_eq!(name_of(&md5_rsa), "MD5-RSA");
        let ecdsa_sha1 = [
            0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01,
        ];
        assert_eq!(name_of(&ecdsa_sha1), "ECDSA-SHA1");
    }

    #[test]
    fn ed25519_requires_absent_parameters() {
        assert_eq!(
            name_of(&[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]),
            "Ed25519"
        );
        assert_eq!(
            name_of(&[0x30, 0x07, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x05, 0x00]),
            "0"
        );
    }

    #[test]
    fn unknown_oid_is_zero() {
        assert_eq!(name_of(&[0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04]), "0");
    }

    #[test]
    fn pss_follows_go_buckets() {
        assert_eq!(name_of(&pss(1, 1, 32)), "SHA256-RSAPSS");
        assert_eq!(name_of(&pss(2, 2, 48)), "SHA384-RSAPSS");
        assert_eq!(name_of(&pss(3, 3, 64)), "SHA512-RSAPSS");
        // Salt not equal to the hash length, or MGF1 hash differing: Go calls these unknown.
        assert_eq!(name_of(&pss(1, 1, 20)), "0");
        assert_eq!(name_of(&pss(1, 2, 32)), "0");
        // PSS without parameters.
        let bare = [
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
        ];
        assert_eq!(name_of(&bare), "0");
    }
}
