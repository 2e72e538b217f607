//! TLS client configuration for https origins: roots from `ca_file`, else the system store.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::aws_lc_rs;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::error::OriginError;

/// A client config that verifies origin certificates against `ca_file` (replacing the system
/// roots) or, without one, against the system roots. No client certificate is sent.
pub(super) fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, OriginError> {
    let roots = match ca_file {
        Some(path) => roots_from_file(path)?,
        None => system_roots(),
    };
    let provider = Arc::new(aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OriginError::Config(format!("TLS client: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, OriginError> {
    let shown = path.display();
    let problem = |e: &dyn std::fmt::Display| OriginError::Config(format!("ca_file {shown}: {e}"));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| problem(&e))? {
        let cert = cert.map_err(|e| problem(&e))?;
        roots.add(cert).map_err(|e| problem(&e))?;
    }
    if roots.is_empty() {
        return Err(problem(&"no PEM certificates found"));
    }
    Ok(roots)
}

/// The platform's roots. Unreadable entries are logged and skipped: http and echo origins
/// must keep working on a machine without a CA store; https origins then fail with "tls".
fn system_roots() -> RootCertStore {
    let loaded = rustls_native_certs::load_native_certs();
    for err in &loaded.errors {
        tracing::warn!(error = %err, "loading system CA certificates");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
    if ignored > 0 {
        tracing::debug!(ignored, "skipped unparsable system CA certificates");
    }
    if added == 0 {
        tracing::warn!("no system CA certificates found; https origins need ca_file");
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn config_error(contents: &[u8]) -> String {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents).unwrap();
        match client_config(Some(file.path())) {
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
        let missing = client_config(Some(Path::new("/nonexistent/ca.pem")));
        assert!(matches!(missing, Err(OriginError::Config(m)) if m.contains("/nonexistent")));
    }

    #[test]
    fn ca_file_with_a_certificate_builds() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(cert.cert.pem().as_bytes()).unwrap();
        assert!(client_config(Some(file.path())).is_ok());
    }
}
