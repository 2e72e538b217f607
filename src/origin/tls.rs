//! TLS client configuration for https origins: roots from `ca_file`, else the system store
//! (both loaded by [`crate::tls_roots`]);
//! optionally a client certificate (mTLS to origins), loaded and checked here so that a bad
//! file is refused when the settings are applied, naming it.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::aws_lc_rs;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::OriginError;
use crate::model::origin::OriginIdentity;

/// The roots https origins are verified against: `ca_file` (replacing the system roots) or,
/// without one, the system roots. Fails only on an unusable `ca_file`.
pub(super) fn roots(ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, OriginError> {
    crate::tls_roots::load(ca_file, "https origins (proxy.origin_ca_file)")
        .map(Arc::new)
        .map_err(|e| OriginError::Config(format!("ca_file {e}")))
}

/// A client config verifying origins against `roots`, presenting `identity` when an origin
/// asks for a client certificate (none without one). ALPN is left to the connector.
pub(super) fn client_config(
    roots: &Arc<RootCertStore>,
    identity: Option<&OriginIdentity>,
) -> Result<ClientConfig, OriginError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OriginError::Config(format!("TLS client: {e}")))?
        .with_root_certificates(roots.clone());
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some(id) => builder
            .with_client_auth_cert(id.chain().to_vec(), id.key().clone_key())
            .map_err(|e| {
                OriginError::Config(format!(
                    "client certificate {}: {e}",
                    id.cert_file().display()
                ))
            }),
    }
}

/// Reads a client certificate chain (leaf first) and its private key from PEM files. Every
/// problem names the file: unreadable, no certificate, no key, or a key that does not belong
/// to the certificate (or that rustls cannot use).
pub fn load_identity(cert_file: &Path, key_file: &Path) -> Result<OriginIdentity, OriginError> {
    let problem = |path: &Path, e: &dyn std::fmt::Display| {
        OriginError::Config(format!("{}: {e}", path.display()))
    };
    let mut chain = Vec::new();
    for cert in CertificateDer::pem_file_iter(cert_file).map_err(|e| problem(cert_file, &e))? {
        chain.push(cert.map_err(|e| problem(cert_file, &e))?);
    }
    if chain.is_empty() {
        return Err(problem(cert_file, &"no PEM certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| problem(key_file, &e))?;
    let identity = OriginIdentity::new(chain, key, cert_file.to_path_buf());
    // rustls checks that the key loads and matches the leaf's public key.
    client_config(&Arc::new(RootCertStore::empty()), Some(&identity)).map_err(|e| {
        problem(
            key_file,
            &format!("does not fit {}: {e}", cert_file.display()),
        )
    })?;
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn config_error(contents: &[u8]) -> String {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents).unwrap();
        match roots(Some(file.path())) {
            Err(OriginError::Config(message)) => message,
            other => panic!("expected a config error, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn ca_file_problems_are_config_errors() {
        assert!(config_error(b"").contains("no PEM certificates"));
        assert!(config_error(b"not pem at all\n").contains("no PEM certificates"));
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(config_error(garbage).contains("ca_file"));
        let missing = roots(Some(Path::new("/nonexistent/ca.pem")));
        assert!(matches!(missing, Err(OriginError::Config(m)) if m.contains("/nonexistent")));
    }

    #[test]
    fn ca_file_with_a_certificate_builds() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(cert.cert.pem().as_bytes()).unwrap();
        let roots = roots(Some(file.path())).unwrap();
        assert!(client_config(&roots, None).is_ok());
    }

    fn write(dir: &Path, name: &str, contents: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn load_error(cert: &Path, key: &Path) -> String {
        match load_identity(cert, key) {
            Err(OriginError::Config(message)) => message,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn identity_files_are_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        let cert = write(dir.path(), "a.pem", &a.cert.pem());
        let key = write(dir.path(), "a-key.pem", &a.signing_key.serialize_pem());
        let other_key = write(dir.path(), "b-key.pem", &b.signing_key.serialize_pem());
        let empty = write(dir.path(), "empty.pem", "");
        let missing = dir.path().join("missing.pem");

        let identity = load_identity(&cert, &key).unwrap();
        assert_eq!(identity.chain().len(), 1);
        assert_eq!(identity.cert_file(), cert);

        let e = load_error(&cert, &other_key);
        assert!(e.contains("b-key.pem") && e.contains("a.pem"), "{e}");
        let e = load_error(&empty, &key);
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = load_error(&cert, &empty);
        assert!(e.contains("empty.pem"), "{e}");
        let e = load_error(&missing, &key);
        assert!(e.contains("missing.pem"), "{e}");
        let e = load_error(&cert, &missing);
        assert!(e.contains("missing.pem"), "{e}");
        // A certificate where the key should be.
        let e = load_error(&cert, &cert);
        assert!(e.contains("a.pem"), "{e}");
    }
}
