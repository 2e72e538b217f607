//! Parsing one certificate's DER and the small derivations shared by bundles and chains.

use rustls_pki_types::pem::SectionKind;
use x509_parser::certificate::X509Certificate;
use x509_parser::num_bigint::BigInt;
use x509_parser::x509::X509Name;

use super::PkiError;

/// Parses the DER of the certificate at 1-based `index`, refusing trailing bytes.
pub(super) fn parse_der(der: &[u8], index: usize) -> Result<X509Certificate<'_>, PkiError> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((rest, _)) if !rest.is_empty() => Err(PkiError::TrailingData {
            index,
            extra: rest.len(),
        }),
        Ok((_, cert)) => Ok(cert),
        Err(err) => Err(PkiError::BadCertificate {
            index,
            reason: parse_reason(err),
        }),
    }
}

fn parse_reason(err: x509_parser::nom::Err<x509_parser::error::X509Error>) -> String {
    match err {
        x509_parser::nom::Err::Incomplete(_) => "truncated".to_string(),
        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => e.to_string(),
    }
}

/// Keeps the DER of the certificate sections; the PEM reader has already refused the rest.
pub(super) fn certificate_ders(sections: Vec<(SectionKind, Vec<u8>)>) -> Vec<Vec<u8>> {
    sections
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| der)
        .collect()
}

/// The serial as a signed decimal string, as Go's `big.Int` prints it (DER INTEGERs are
/// two's complement, so a serial with its top bit set and no leading zero byte is negative).
pub(super) fn serial_decimal(cert: &X509Certificate<'_>) -> String {
    let raw = cert.raw_serial();
    if raw.is_empty() {
        return "0".to_string();
    }
    BigInt::from_signed_bytes_be(raw).to_string()
}

/// The first non-empty common name of a DN, if it is a readable string.
pub(super) fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .filter_map(|attr| attr.as_str().ok())
        .map(str::trim)
        .find(|cn| !cn.is_empty())
        .map(str::to_string)
}

/// The DN as a display string ("CN=..., O=...").
pub(super) fn dn_string(name: &X509Name<'_>) -> String {
    name.to_string()
}
