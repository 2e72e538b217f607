//! PEM and X.509 validation of operator input: CA bundles, private keys, certificate chains,
//! and the attributes the API derives from them. Pure functions; no rustls, no I/O.
//! TEMPORARY placeholder with the agreed signatures, replaced by the real module on merge.

pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;
pub const MAX_BUNDLE_CERTS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    #[error("placeholder")]
    Placeholder,
}

#[derive(Debug, Clone)]
pub struct CaBundle {
    pub certs_der: Vec<Vec<u8>>,
    pub subjects: Vec<String>,
    pub not_after: Vec<i64>,
}
pub fn parse_ca_bundle(_pem: &str) -> Result<CaBundle, PkiError> {
    Err(PkiError::Placeholder)
}
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub key_type: &'static str,
    pub key_length: u32,
    pub public_key_sha1: String,
    pub pkcs8_der: Vec<u8>,
    pub spki_der: Vec<u8>,
}
pub fn parse_private_key(_pem: &str) -> Result<KeyInfo, PkiError> {
    Err(PkiError::Placeholder)
}
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub chain_der: Vec<Vec<u8>>,
    pub issued_to: String,
    pub issuer: String,
    pub serial_number: String,
    pub signature_algorithm: String,
    pub not_before: i64,
    pub not_after: i64,
    pub dns_names: Vec<String>,
    pub public_key_sha1: String,
}
pub fn parse_certificate_chain(_pem: &str) -> Result<CertInfo, PkiError> {
    Err(PkiError::Placeholder)
}
pub fn canonical_domain(name: &str) -> Result<String, PkiError> {
    Ok(name.to_string())
}
pub fn san_covers(san: &str, domain: &str) -> bool {
    san == domain
}
