//! The client certificate and key the proxy presents to `https://` origins (mTLS to origins),
//! as loaded from their PEM files. Origin connections are pooled per identity, so two
//! identities never share a connection; `fingerprint` is that pool key.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain (leaf first) and its private key.
pub struct OriginIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_file: PathBuf,
    fingerprint: [u8; 32],
}

impl OriginIdentity {
    /// An identity read from `cert_file` (kept for messages). The fingerprint covers the whole
    /// chain: a re-issued certificate, or new intermediates, make a new identity.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_file: PathBuf,
    ) -> OriginIdentity {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for cert in &chain {
            // Length-prefixed, so two different chains never hash the same bytes.
            ctx.update(&(cert.len() as u64).to_be_bytes());
            ctx.update(cert);
        }
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(ctx.finish().as_ref());
        OriginIdentity {
            chain,
            key,
            cert_file,
            fingerprint,
        }
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The private key of the leaf.
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// The file the chain was read from.
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// SHA-256 over the chain: what origin connection pools are keyed by.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }
}

impl PartialEq for OriginIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Eq for OriginIdentity {}

/// Never shows the key.
impl fmt::Debug for OriginIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginIdentity")
            .field("cert_file", &self.cert_file)
            .field(
                "fingerprint",
                &crate::hex::encode(&self.fingerprint, crate::hex::Case::Lower),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(certs: &[&rcgen::CertifiedKey<rcgen::KeyPair>]) -> OriginIdentity {
        let chain = certs.iter().map(|c| c.cert.der().clone()).collect();
        let key = PrivateKeyDer::Pkcs8(certs[0].signing_key.serialize_der().into());
        OriginIdentity::new(chain, key, "x.pem".into())
    }

    #[test]
    fn fingerprint_covers_the_chain_and_debug_hides_the_key() {
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        assert_eq!(identity(&[&a]), identity(&[&a]));
        assert_ne!(identity(&[&a]), identity(&[&b]));
        assert_ne!(identity(&[&a]), identity(&[&a, &b]));
        let shown = format!("{:?}", identity(&[&a]));
        assert!(
            shown.contains("x.pem") && shown.contains("fingerprint"),
            "{shown}"
        );
        assert!(!shown.contains("key"), "{shown}");
    }
}
