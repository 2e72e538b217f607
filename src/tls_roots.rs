//! Trust anchors for the proxy's outgoing TLS connections (https origins, revocation-list
//! URLs, the PostgreSQL store): the certificates of a PEM `ca_file`, which replace the system
//! roots (pinning an internal CA must not also trust every public CA), or else the platform's
//! roots. A leaf: it knows rustls and files, nothing of the proxy's planes, so the data plane
//! and the control side both use it without depending on each other.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Why a `ca_file` cannot be used; names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct CaFileError {
    pub path: PathBuf,
    pub reason: String,
}

/// The roots `ca_file` names, or the system roots without one. `used_by` says what needs them,
/// for the warning logged when the system has none.
pub fn load(ca_file: Option<&Path>, used_by: &str) -> Result<RootCertStore, CaFileError> {
    match ca_file {
        Some(path) => from_file(path),
        None => Ok(system(used_by)),
    }
}

/// Every certificate of a PEM file as a root. An unreadable file, a broken PEM block, a
/// certificate rustls refuses as a root, or a file without certificates is an error: a
/// configured CA that silently trusts nothing (or everything) is worse than a refusal.
pub fn from_file(path: &Path) -> Result<RootCertStore, CaFileError> {
    let problem = |reason: &dyn std::fmt::Display| CaFileError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
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

/// The platform's roots. Unreadable or unparsable entries are logged and skipped, never fatal:
/// plain-HTTP origins and URLs must keep working on a machine without a CA store; TLS to a
/// server then fails with an error naming its certificate.
pub fn system(used_by: &str) -> RootCertStore {
    let loaded = rustls_native_certs::load_native_certs();
    for err in &loaded.errors {
        tracing::warn!(error = %err, used_by, "loading system CA certificates");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
    if ignored > 0 {
        tracing::debug!(
            ignored,
            used_by,
            "skipped unparsable system CA certificates"
        );
    }
    if added == 0 {
        tracing::warn!(
            used_by,
            "no system CA certificates found; TLS servers can only be verified with a ca_file"
        );
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(contents: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents).unwrap();
        file
    }

    #[test]
    fn a_ca_file_must_hold_usable_certificates_and_errors_name_it() {
        let reason = |contents: &[u8]| {
            let f = file(contents);
            let e = from_file(f.path()).unwrap_err();
            assert_eq!(e.path, f.path());
            assert!(e.to_string().starts_with(&f.path().display().to_string()));
            e.reason
        };
        assert!(reason(b"").contains("no PEM certificates"));
        assert!(reason(b"not pem at all\n").contains("no PEM certificates"));
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(!reason(garbage).is_empty());
        let missing = load(Some(Path::new("/nonexistent/ca.pem")), "tests").unwrap_err();
        assert_eq!(missing.path, Path::new("/nonexistent/ca.pem"));
    }

    #[test]
    fn a_ca_file_replaces_the_system_roots() {
        let ca = crate::devpki::Ca::new("pinned").unwrap();
        let other = crate::devpki::Ca::new("other").unwrap();
        let pem = format!("{}{}", ca.cert().cert_pem, other.cert().cert_pem);
        let f = file(pem.as_bytes());
        let roots = load(Some(f.path()), "tests").unwrap();
        assert_eq!(roots.len(), 2, "exactly the file's certificates");
    }
}
