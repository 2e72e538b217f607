//! The rustls client configuration of a run, built once and shared by every connection (so
//! with `--resume` all connections share one session store): trust, client certificate,
//! key-exchange group, ALPN and resumption.

use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::error::BenchError;
use super::insecure::AnyServerCert;
use super::options::{Mode, Options, Trust};

/// Sessions kept by the shared store (rustls keeps a few TLS 1.3 tickets per server name).
const SESSION_STORE_ENTRIES: usize = 256;

/// Builds the client configuration for `opts`.
pub fn client_config(opts: &Options) -> Result<Arc<ClientConfig>, BenchError> {
    let provider = Arc::new(provider(opts));
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &opts.trust {
        Trust::CaFile(path) => builder.with_root_certificates(roots(path)?),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert::new(provider))),
    };
    let mut config = match &opts.client_cert {
        Some((cert, key)) => builder.with_client_auth_cert(chain(cert)?, key_file(key)?)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn(opts);
    config.resumption = if opts.resume {
        Resumption::in_memory_sessions(SESSION_STORE_ENTRIES)
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// aws-lc-rs, restricted to the one key-exchange group asked for.
fn provider(opts: &Options) -> CryptoProvider {
    let mut provider = aws_lc_rs::default_provider();
    if let Some(kx) = opts.kx {
        provider.kx_groups = vec![kx.group()];
    }
    provider
}

fn alpn(opts: &Options) -> Vec<Vec<u8>> {
    match (opts.http2, opts.mode) {
        (true, _) => vec![b"h2".to_vec()],
        (false, Mode::Handshake) => Vec::new(),
        (false, _) => vec![b"http/1.1".to_vec()],
    }
}

fn pem_error(path: &Path, problem: impl ToString) -> BenchError {
    BenchError::Pem {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

fn chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, BenchError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no CERTIFICATE block"));
    }
    Ok(certs)
}

fn key_file(path: &Path) -> Result<PrivateKeyDer<'static>, BenchError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, e))
}

fn roots(path: &Path) -> Result<RootCertStore, BenchError> {
    let mut roots = RootCertStore::empty();
    for cert in chain(path)? {
        roots.add(cert).map_err(|e| pem_error(path, e))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::options::{Kx, Stop};
    use crate::devpki::{Ca, Validity};
    use std::time::Duration;

    fn options(trust: Trust) -> Options {
        Options {
            target: "127.0.0.1:1".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            server_name: "a.test".into(),
            sends_sni: true,
            trust,
            client_cert: None,
            concurrency: 1,
            stop: Stop::Count(1),
            workers: 1,
            mode: Mode::Request,
            path: "/".into(),
            requests_per_conn: 1,
            resume: false,
            kx: Some(Kx::X25519),
            http2: false,
            rate: None,
            timeout: Duration::from_secs(1),
            json: false,
            histogram: None,
            server_pids: vec![],
        }
    }

    #[test]
    fn builds_with_files_and_applies_options() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("ca").unwrap();
        let client = ca.issue_client("c", Validity::Current).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let mut o = options(Trust::CaFile(write("ca.pem", &ca.cert().cert_pem)));
        o.client_cert = Some((
            write("c.pem", &client.cert_pem),
            write("k.pem", &client.key_pem),
        ));
        let c = client_config(&o).unwrap();
        assert!(c.client_auth_cert_resolver.has_certs());
        assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert_eq!(c.crypto_provider().kx_groups.len(), 1);
        o.resume = true;
        o.http2 = true;
        let c = client_config(&o).unwrap();
        assert_eq!(c.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn unusable_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        assert!(client_config(&options(Trust::CaFile(missing.clone()))).is_err());
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here").unwrap();
        let err = client_config(&options(Trust::CaFile(empty.clone()))).unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
        let mut o = options(Trust::Insecure);
        o.client_cert = Some((empty.clone(), empty));
        assert!(client_config(&o).is_err());
        assert!(client_config(&options(Trust::Insecure)).is_ok());
    }
}
