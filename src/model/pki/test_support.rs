//! Test helpers: certificates and keys generated with rcgen, and PEM assembly.

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    SignatureAlgorithm,
};
use time::macros::datetime;
use time::OffsetDateTime;

/// Validity start used by every generated certificate.
pub(super) const NOT_BEFORE: OffsetDateTime = datetime!(2024-01-01 00:00:00 UTC);
/// Validity end used by every generated certificate.
pub(super) const NOT_AFTER: OffsetDateTime = datetime!(2034-06-30 12:00:00 UTC);

/// A generated certificate with its key and parameters (to issue further certificates).
pub(super) struct Issued {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
    pub params: CertificateParams,
    pub not_after: i64,
}

impl Issued {
    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

/// Parameters with a fixed validity, an optional CN and the given SANs.
pub(super) fn params(cn: Option<&str>, sans: &[&str]) -> CertificateParams {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    let mut dn = DistinguishedName::new();
    if let Some(cn) = cn {
        dn.push(DnType::CommonName, cn);
    }
    params.distinguished_name = dn;
    params.not_before = NOT_BEFORE;
    params.not_after = NOT_AFTER;
    params
}

/// Signs `params` for `key`, by `issuer` or self-signed.
pub(super) fn issue(params: CertificateParams, key: KeyPair, issuer: Option<&Issued>) -> Issued {
    let cert = match issuer {
        Some(issuer) => params.signed_by(&key, &issuer.issuer()).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    let not_after = params.not_after.unix_timestamp();
    Issued {
        cert,
        key,
        params,
        not_after,
    }
}

/// A self-signed P-256 CA.
pub(super) fn ca(cn: &str) -> Issued {
    ca_with(cn, &rcgen::PKCS_ECDSA_P256_SHA256, None)
}

/// A CA with the given key algorithm, signed by `issuer` or self-signed.
pub(super) fn ca_with(
    cn: &str,
    alg: &'static SignatureAlgorithm,
    issuer: Option<&Issued>,
) -> Issued {
    let mut params = params(Some(cn), &[]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    issue(params, KeyPair::generate_for(alg).unwrap(), issuer)
}

/// A P-256 leaf with the given CN and SANs, issued by `issuer`.
pub(super) fn leaf(cn: Option<&str>, sans: &[&str], issuer: &Issued) -> Issued {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    issue(params(cn, sans), key, Some(issuer))
}

/// A PEM section with the given label around `der`.
pub(super) fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A DER TLV with a one-byte tag.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | u8::try_from(bytes.len()).unwrap());
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// An RSAPrivateKey whose modulus has `bits` bits; the numbers are not a real key.
pub(super) fn fake_rsa_pkcs1(bits: usize) -> Vec<u8> {
    let mut modulus = vec![0x00, 0x80];
    modulus.extend(vec![0x01; bits / 8 - 1]);
    let one = tlv(0x02, &[0x01]);
    let mut body = tlv(0x02, &[0x00]);
    body.extend(tlv(0x02, &modulus));
    body.extend(tlv(0x02, &[0x01, 0x00, 0x01]));
    for _ in 0..6 {
        body.extend(&one);
    }
    tlv(0x30, &body)
}

/// Wraps an RSAPrivateKey in a PKCS#8 PrivateKeyInfo.
pub(super) fn rsa_pkcs8_wrap(pkcs1: &[u8]) -> Vec<u8> {
    let rsa_encryption = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut body = tlv(0x02, &[0x00]);
    body.extend(tlv(0x30, &rsa_encryption));
    body.extend(tlv(0x04, pkcs1));
    tlv(0x30, &body)
}
