//! Builds the rustls `ServerConfig` of one activated domain: its certificate chain and key, TLS
//! versions and ALPN, client-certificate policy, and its own resumption state.

use std::sync::Arc;

use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, WantsServerCert};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ConfigBuilder, InconsistentKeys, ServerConfig, SupportedProtocolVersion};

use super::resumption::{GatedSessions, GatedTicketer};
use super::suites;
use super::verifier::ClientAuth;

/// Session-ID cache entries per config (TLS 1.2 session-ID resumption only: TLS 1.3 and TLS 1.2
/// clients that support tickets use the stateless ticketer). Small because there is one cache
/// per config and rustls allocates it up front; with thousands of domains a large cache would
/// cost far more memory than the occasional full handshake it saves.
const SESSION_CACHE_ENTRIES: usize = 64;

/// A TLS protocol version a domain accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// Protocol parameters of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParams {
    /// Accepted versions; must not be empty.
    pub versions: Vec<TlsVersion>,
    /// ALPN protocols, most preferred first (e.g. `b"h2"`, `b"http/1.1"`); empty = no ALPN.
    pub alpn: Vec<Vec<u8>>,
}

impl TlsParams {
    /// Whether a connection that negotiated `version` and `alpn` (None: no ALPN) could have
    /// been made under these parameters.
    pub fn admits(&self, version: Option<TlsVersion>, alpn: Option<&[u8]>) -> bool {
        let version_ok = version.is_none_or(|v| self.versions.contains(&v));
        let alpn_ok = alpn.is_none_or(|p| self.alpn.iter().any(|a| a.as_slice() == p));
        version_ok && alpn_ok
    }
}

impl Default for TlsParams {
    /// TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`.
    fn default() -> Self {
        TlsParams {
            versions: vec![TlsVersion::Tls13, TlsVersion::Tls12],
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

/// Errors from [`build_server_config`].
#[derive(Debug, thiserror::Error)]
pub enum ServerConfigError {
    /// The certificate chain is empty.
    #[error("the certificate chain is empty")]
    EmptyChain,
    /// No TLS version was given.
    #[error("no TLS version enabled")]
    NoVersions,
    /// The private key could not be loaded.
    #[error("unusable private key: {0}")]
    Key(#[source] rustls::Error),
    /// The private key does not belong to the end-entity certificate.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// The key/certificate consistency check could not be performed.
    #[error("cannot check the private key against the certificate: {0}")]
    KeyCheck(#[source] rustls::Error),
    /// rustls rejected the protocol versions.
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the `ServerConfig` for a domain.
///
/// `client_auth: None` installs no client verifier at all, so no CertificateRequest is ever
/// sent (browsers would prompt the user otherwise). The provider is always aws-lc-rs, passed
/// explicitly; trust never comes from system roots.
///
/// Resumption is scoped to the returned config's policy (rule 2, docs/architecture.md; nginx
/// CVE-2025-23419 and Apache CVE-2025-23048 let a session made under one virtual host's
/// client-auth policy be resumed under another's, skipping its client verification). Each call
/// creates a fresh session-ID cache, and `ticketer` must be the policy's own
/// ([`super::tickets::TicketKeys::ticketer`], keyed by the policy's identity), so:
/// - a session or ticket issued under this config cannot be resumed under any other policy
///   (the other config neither holds the session ID nor can decrypt the ticket);
/// - a config rebuilt from changed inputs (e.g. a rotated CA bundle) is another policy, which
///   invalidates every session issued before, so a resumed session was always verified under
///   the policy in force;
/// - the same policy on another node of the fleet derives the same ticket key, so its tickets
///   resume there.
///
/// Domains that share one `Arc<ServerConfig>` share its policy, so sharing resumption between them
/// is harmless. A resumed session is still judged again at the current time by the acceptor
/// (rule 5, docs/architecture.md): scoping keeps it under one policy version, judging keeps it
/// within its certificate's validity.
pub fn build_server_config(
    chain_der: &[Vec<u8>],
    key_pkcs8_der: &[u8],
    params: &TlsParams,
    client_auth: Option<&ClientAuth>,
    ticketer: Arc<dyn ProducesTickets>,
) -> Result<Arc<ServerConfig>, ServerConfigError> {
    let certified = load_certified_key(chain_der, key_pkcs8_der)?;
    server_config_for(certified, params, client_auth, ticketer)
}

/// Loads a chain and its key once, checked to belong together, for [`server_config_for`]: a
/// domain whose mutual authentication or configuration changes keeps its loaded key pair.
pub fn load_certified_key(
    chain_der: &[Vec<u8>],
    key_pkcs8_der: &[u8],
) -> Result<Arc<CertifiedKey>, ServerConfigError> {
    certified_key(chain_der, key_pkcs8_der, &aws_lc_rs::default_provider()).map(Arc::new)
}

/// [`build_server_config`] with an already loaded key pair; a fresh session cache per call and
/// the policy's `ticketer`.
pub fn server_config_for(
    certified: Arc<CertifiedKey>,
    params: &TlsParams,
    client_auth: Option<&ClientAuth>,
    ticketer: Arc<dyn ProducesTickets>,
) -> Result<Arc<ServerConfig>, ServerConfigError> {
    let provider = Arc::new(suites::server_preferred(aws_lc_rs::default_provider()));
    let versions = protocol_versions(&params.versions)?;
    let builder =
        ServerConfig::builder_with_provider(provider).with_protocol_versions(&versions)?;
    let mut config = with_client_auth(builder, client_auth)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = params.alpn.clone();
    // Gated so that the acceptor can refuse resumption for one handshake it could not judge
    // before the server's flight (see `resumption`).
    config.session_storage = Arc::new(GatedSessions(ServerSessionMemoryCache::new(
        SESSION_CACHE_ENTRIES,
    )));
    config.ticketer = Arc::new(GatedTicketer(ticketer));
    // One TLS 1.3 ticket per handshake instead of rustls' two: a client spends one ticket per
    // resumption and gets a fresh one back, so the second ticket only pays off for a client
    // that opens two connections at once after its first; each ticket costs a key derivation
    // and an encryption (about a tenth of a full handshake's server CPU; see docs/benchmarking.md).
    config.send_tls13_tickets = 1;
    // The server's cipher-suite order (AES-128-GCM first), except for clients that prefer
    // ChaCha20 (the acceptor picks `suites::config_for`); every suite stays acceptable.
    config.ignore_client_order = true;
    // max_early_data_size stays 0: no 0-RTT data, which is replayable and would reach the
    // origin before the client certificate is verified.
    Ok(Arc::new(config))
}

fn with_client_auth(
    builder: ConfigBuilder<ServerConfig, rustls::WantsVerifier>,
    client_auth: Option<&ClientAuth>,
) -> ConfigBuilder<ServerConfig, WantsServerCert> {
    match client_auth {
        Some(auth) => builder.with_client_cert_verifier(auth.verifier()),
        None => builder.with_no_client_auth(),
    }
}

/// Loads the key and checks it belongs to the end-entity certificate. rustls' own
/// `with_single_cert` lets an uncheckable key through; here every key must be checkable, so a
/// misconfigured activation is refused at build time instead of failing every handshake.
fn certified_key(
    chain_der: &[Vec<u8>],
    key_pkcs8_der: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ServerConfigError> {
    if chain_der.is_empty() {
        return Err(ServerConfigError::EmptyChain);
    }
    let chain: Vec<CertificateDer<'static>> = chain_der
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8_der.to_vec()));
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(ServerConfigError::Key)?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(ServerConfigError::KeyMismatch)
        }
        Err(err) => Err(ServerConfigError::KeyCheck(err)),
    }
}

fn protocol_versions(
    versions: &[TlsVersion],
) -> Result<Vec<&'static SupportedProtocolVersion>, ServerConfigError> {
    if versions.is_empty() {
        return Err(ServerConfigError::NoVersions);
    }
    Ok(versions
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devpki::Ca;
    use crate::snapshot::tickets::TicketKeys;

    fn tickets() -> Arc<dyn ProducesTickets> {
        TicketKeys::default().ticketer(b"test policy")
    }

    #[test]
    fn rejects_a_key_that_does_not_match_the_certificate() {
        let ca = Ca::new("ca").unwrap();
        let a = ca.issue_server(&["a.test"], &[]).unwrap();
        let b = ca.issue_server(&["b.test"], &[]).unwrap();
        let err = build_server_config(
            &[a.cert_der],
            &b.key_der,
            &TlsParams::default(),
            None,
            tickets(),
        )
        .unwrap_err();
        assert!(matches!(err, ServerConfigError::KeyMismatch), "{err}");
    }

    #[test]
    fn rejects_garbage_key_empty_chain_and_no_versions() {
        let ca = Ca::new("ca").unwrap();
        let a = ca.issue_server(&["a.test"], &[]).unwrap();
        let params = TlsParams::default();
        let err = build_server_config(
            std::slice::from_ref(&a.cert_der),
            b"junk",
            &params,
            None,
            tickets(),
        )
        .unwrap_err();
        assert!(matches!(err, ServerConfigError::Key(_)), "{err}");
        let err = build_server_config(&[], &a.key_der, &params, None, tickets()).unwrap_err();
        assert!(matches!(err, ServerConfigError::EmptyChain), "{err}");
        let none = TlsParams {
            versions: vec![],
            alpn: vec![],
        };
        let err =
            build_server_config(&[a.cert_der], &a.key_der, &none, None, tickets()).unwrap_err();
        assert!(matches!(err, ServerConfigError::NoVersions), "{err}");
    }

    #[test]
    fn params_admit_what_they_allow() {
        let both = TlsParams::default();
        assert!(both.admits(Some(TlsVersion::Tls12), Some(b"h2")));
        assert!(both.admits(None, None));
        let narrow = TlsParams {
            versions: vec![TlsVersion::Tls13],
            alpn: vec![b"http/1.1".to_vec()],
        };
        assert!(narrow.admits(Some(TlsVersion::Tls13), Some(b"http/1.1")));
        assert!(!narrow.admits(Some(TlsVersion::Tls12), Some(b"http/1.1")));
        assert!(!narrow.admits(Some(TlsVersion::Tls13), Some(b"h2")));
    }

    #[test]
    fn applies_alpn_and_gives_each_config_its_own_resumption_state() {
        let ca = Ca::new("ca").unwrap();
        let a = ca.issue_server(&["a.test"], &[]).unwrap();
        let params = TlsParams::default();
        let build = || {
            build_server_config(
                std::slice::from_ref(&a.cert_der),
                &a.key_der,
                &params,
                None,
                tickets(),
            )
            .unwrap()
        };
        let (one, two) = (build(), build());
        assert_eq!(
            one.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert!(one.ticketer.enabled());
        assert!(!Arc::ptr_eq(&one.ticketer, &two.ticketer));
        assert!(!Arc::ptr_eq(&one.session_storage, &two.session_storage));
        assert_eq!(one.max_early_data_size, 0);
    }
}
