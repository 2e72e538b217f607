//! PEM and X.509 validation of operator input: CA bundles, private keys, certificate chains,
//! and the attributes the API derives from them. Pure functions; no rustls, no I/O.
//!
//! Policy in brief: PEM is read strictly (every `-----BEGIN` marker must start its line and carry
//! a label the input accepts, so nothing is silently skipped); a bundle or chain holding any
//! private key is refused before anything else; chains must run leaf first, each certificate
//! issued by the next; keys are RSA 2048..=8192 bits or ECDSA P-256/P-384, unencrypted.

mod bundle;
mod cert;
mod chain;
mod crl;
mod domain;
mod error;
mod key;
mod keyder;
mod pem;
mod sigalg;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod pairing_tests;
#[cfg(test)]
pub(crate) mod test_support;

pub use bundle::{parse_ca_bundle, CaBundle};
pub use chain::{parse_certificate_chain, CertInfo};
pub use crl::{
    check_crl_issuer, check_not_older, parse_crl, parse_crl_der, revoked_among, CrlAge, CrlInfo,
};
pub use domain::{canonical_domain, san_covers};
pub use error::{DomainProblem, PkiError};
pub use key::{parse_private_key, KeyInfo};

/// Largest PEM input accepted for a bundle, a chain or a key, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;
/// Largest CRL accepted, DER bytes (also the limit of a CRL fetched from its URL).
pub const MAX_CRL_DER_BYTES: usize = 10 * 1024 * 1024;
/// Largest PEM CRL accepted: the base64 of [`MAX_CRL_DER_BYTES`] with its line breaks.
pub const MAX_CRL_PEM_BYTES: usize = MAX_CRL_DER_BYTES / 3 * 4 + MAX_CRL_DER_BYTES / 48 + 4096;
/// Most certificates accepted in one bundle or chain.
pub const MAX_BUNDLE_CERTS: usize = 1000;

/// Lower-case hex SHA-1 of `data`; the API's `public_key_sha1` over SubjectPublicKeyInfo DER.
fn sha1_hex(data: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    crate::hex::encode(digest.as_ref(), crate::hex::Case::Lower)
}
