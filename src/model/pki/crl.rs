//! Validation of certificate revocation lists for a mutual authentication: the CRL must parse,
//! be usable by the handshake's verifier (v2, nextUpdate and CRL number present, no delta or
//! indirect CRLs, no critical extension it cannot process), be issued by a certificate of the
//! bundle whose key verifies its signature (and whose key usage allows CRL signing), and a
//! replacement must not be older than the CRL it replaces.

use std::collections::HashMap;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, ParsedExtension};
use x509_parser::num_bigint::BigUint;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::X509Version;

use super::cert::parse_der;
use super::pem::{read_sections, Input};
use super::PkiError;

/// Longest CRL number accepted, in octets (RFC 5280 §5.2.3; what the verifier accepts).
const MAX_CRL_NUMBER_OCTETS: usize = 20;

/// A parsed CRL and what the API shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlInfo {
    /// The CRL, DER.
    pub der: Vec<u8>,
    /// Issuer DN ("CN=…, O=…").
    pub issuer: String,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
    /// The CRL number, decimal.
    pub number: String,
    /// Entries in the list.
    pub revoked_count: u64,
}

/// How recent a CRL is, to order a replacement after the CRL it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlAge {
    pub this_update: i64,
    /// Decimal CRL number.
    pub number: String,
}

/// Parses a PEM CRL (exactly one `X509 CRL` section).
pub fn parse_crl(pem: &str) -> Result<CrlInfo, PkiError> {
    let sections = read_sections(pem, Input::Crl)?;
    let [(_, der)] =
        <[_; 1]>::try_from(sections).map_err(|s: Vec<_>| PkiError::CrlCount(s.len()))?;
    parse_crl_der(der)
}

/// Parses a DER CRL.
pub fn parse_crl_der(der: Vec<u8>) -> Result<CrlInfo, PkiError> {
    if der.len() > super::MAX_CRL_DER_BYTES {
        return Err(PkiError::TooLarge {
            size: der.len(),
            limit: super::MAX_CRL_DER_BYTES,
        });
    }
    let crl = parse(&der)?;
    check_usable(&crl)?;
    let next_update = crl
        .next_update()
        .ok_or_else(|| bad("it has no nextUpdate (RFC 5280 §5.1.2.5)"))?
        .timestamp();
    let number = crl
        .crl_number()
        .ok_or_else(|| bad("it has no CRL number extension (RFC 5280 §5.2.3)"))?;
    if number.to_bytes_be().len() > MAX_CRL_NUMBER_OCTETS {
        return Err(bad("its CRL number is longer than 20 octets"));
    }
    let info = CrlInfo {
        issuer: crl.issuer().to_string(),
        this_update: crl.last_update().timestamp(),
        next_update,
        number: number.to_string(),
        revoked_count: u64::try_from(crl.iter_revoked_certificates().count()).unwrap_or(u64::MAX),
        der: Vec::new(),
    };
    Ok(CrlInfo { der, ..info })
}

/// Checks that a certificate of `bundle_der` issued the CRL: same subject as the CRL's issuer,
/// key usage allowing CRL signing, and a key that verifies the CRL's signature. Returns the
/// position of that certificate in the bundle.
pub fn check_crl_issuer(crl_der: &[u8], bundle_der: &[Vec<u8>]) -> Result<usize, PkiError> {
    let crl = parse(crl_der)?;
    let issuer = crl.issuer().to_string();
    let mut named = false;
    let mut not_signer = false;
    for (i, der) in bundle_der.iter().enumerate() {
        let cert = parse_der(der, i + 1)?;
        if cert.subject().as_raw() != crl.issuer().as_raw() {
            continue;
        }
        named = true;
        if !may_sign_crls(&cert) {
            not_signer = true;
            continue;
        }
        if crl.verify_signature(cert.public_key()).is_ok() {
            return Ok(i);
        }
    }
    Err(match (named, not_signer) {
        (false, _) => PkiError::CrlIssuerNotInBundle { issuer },
        (true, true) => PkiError::CrlIssuerNotCrlSigner { issuer },
        (true, false) => PkiError::CrlBadSignature { issuer },
    })
}

/// A replacement must be at least as recent as the CRL it replaces, by thisUpdate and by CRL
/// number: an older CRL could un-revoke a certificate (a replay of a list from before the
/// revocation).
pub fn check_not_older(current: &CrlAge, new: &CrlAge) -> Result<(), PkiError> {
    if new.this_update < current.this_update {
        return Err(PkiError::CrlOlder(format!(
            "thisUpdate {} is before {}",
            crate::model::timestamp::format_secs(new.this_update),
            crate::model::timestamp::format_secs(current.this_update)
        )));
    }
    let number = |n: &str| n.parse::<BigUint>().unwrap_or_default();
    if number(&new.number) < number(&current.number) {
        return Err(PkiError::CrlOlder(format!(
            "CRL number {} is lower than {}",
            new.number, current.number
        )));
    }
    Ok(())
}

/// Which of `certs_der` one of `crls_der` lists: the CRL's issuer is the certificate's issuer
/// (same DER name) and the certificate's serial is among its entries. Each CRL is parsed once
/// and each entry is one set lookup, whatever the sizes. The CRLs were checked against the
/// bundle when they were stored; one that does not parse revokes nothing here.
pub fn revoked_among(certs_der: &[Vec<u8>], crls_der: &[Vec<u8>]) -> Vec<bool> {
    let mut revoked = vec![false; certs_der.len()];
    if crls_der.is_empty() {
        return revoked;
    }
    // By serial: entries are looked up without copying them.
    let mut by_serial: HashMap<Vec<u8>, Vec<(&[u8], usize)>> = HashMap::new();
    for (i, der) in certs_der.iter().enumerate() {
        if let Ok((_, c)) = X509Certificate::from_der(der) {
            by_serial
                .entry(c.raw_serial().to_vec())
                .or_default()
                .push((c.tbs_certificate.issuer.as_raw(), i));
        }
    }
    for der in crls_der {
        let Ok((_, crl)) = CertificateRevocationList::from_der(der) else {
            continue;
        };
        let issuer = crl.tbs_cert_list.issuer.as_raw();
        for entry in crl.iter_revoked_certificates() {
            let same = by_serial.get(entry.raw_serial()).into_iter().flatten();
            for &(_, i) in same.filter(|(cert_issuer, _)| *cert_issuer == issuer) {
                if let Some(r) = revoked.get_mut(i) {
                    *r = true;
                }
            }
        }
    }
    revoked
}

fn bad(reason: &str) -> PkiError {
    PkiError::BadCrl(reason.to_string())
}

fn parse(der: &[u8]) -> Result<CertificateRevocationList<'_>, PkiError> {
    match CertificateRevocationList::from_der(der) {
        Ok((rest, _)) if !rest.is_empty() => Err(bad(&format!(
            "{} bytes of trailing data after its DER encoding",
            rest.len()
        ))),
        Ok((_, crl)) => Ok(crl),
        Err(e) => Err(bad(&e.to_string())),
    }
}

/// What the handshake's verifier (webpki) needs to use the CRL at all; a CRL it would refuse
/// must be refused here, not found unusable at the next handshake.
fn check_usable(crl: &CertificateRevocationList<'_>) -> Result<(), PkiError> {
    if crl.version() != Some(X509Version::V2) {
        return Err(bad("only version 2 CRLs are supported"));
    }
    if crl.signature_algorithm.algorithm != crl.tbs_cert_list.signature.algorithm {
        return Err(bad("its two signature algorithm fields differ"));
    }
    for ext in crl.extensions() {
        match ext.oid.to_id_string().as_str() {
            // CRL number, authority key identifier.
            "2.5.29.20" | "2.5.29.35" => {}
            "2.5.29.27" => return Err(bad("delta CRLs are not supported")),
            "2.5.29.28" => check_distribution_point(ext.parsed_extension())?,
            oid if ext.critical => {
                return Err(bad(&format!(
                    "it has a critical extension {oid} that cannot be processed"
                )))
            }
            _ => {}
        }
    }
    for entry in crl.iter_revoked_certificates() {
        for ext in entry.extensions() {
            match ext.oid.to_id_string().as_str() {
                // Reason code, invalidity date.
                "2.5.29.21" | "2.5.29.24" => {}
                "2.5.29.29" => {
                    return Err(bad(
                        "indirect CRLs (certificateIssuer entries) are not supported",
                    ))
                }
                oid if ext.critical => {
                    return Err(bad(&format!(
                        "an entry has a critical extension {oid} that cannot be processed"
                    )))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// An issuing distribution point the verifier can scope: a full name, no indirect CRL, no
/// partition by reason, no attribute certificates.
fn check_distribution_point(parsed: &ParsedExtension<'_>) -> Result<(), PkiError> {
    let ParsedExtension::IssuingDistributionPoint(idp) = parsed else {
        return Err(bad("its issuing distribution point extension is malformed"));
    };
    if idp.indirect_crl {
        return Err(bad("indirect CRLs are not supported"));
    }
    if idp.only_some_reasons.is_some() {
        return Err(bad(
            "CRLs partitioned by revocation reason are not supported",
        ));
    }
    if idp.only_contains_attribute_certs {
        return Err(bad("attribute-certificate CRLs are not supported"));
    }
    match idp.distribution_point {
        Some(DistributionPointName::FullName(_)) => Ok(()),
        _ => Err(bad("its issuing distribution point must be a full name")),
    }
}

/// RFC 5280: a key usage extension, when present, must assert cRLSign for CRL signing.
fn may_sign_crls(cert: &X509Certificate<'_>) -> bool {
    match cert.key_usage() {
        Ok(Some(ku)) => ku.value.crl_sign(),
        Ok(None) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests;
