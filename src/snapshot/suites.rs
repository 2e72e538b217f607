//! Which cipher suite a handshake uses: the server's order, AES-128-GCM first, except for a
//! client that lists ChaCha20-Poly1305 first, which gets the suite it prefers.
//!
//! Why AES-128-GCM with SHA-256 first: most clients (rustls, OpenSSL, Go) list
//! AES-256-GCM-SHA384 first, and its SHA-384 key schedule runs without hardware help on CPUs
//! with SHA extensions for SHA-256 only (AMD Zen, recent Intel), where it costs more server CPU
//! per handshake than anything but the signatures and the key exchange (see docs/benchmarking.md).
//! AES-128-GCM is a TLS 1.3 mandatory suite with the same 128-bit security target as the rest
//! of the handshake (X25519 or P-256 keys, ECDSA P-256 certificates).
//!
//! Why ChaCha20 for clients that list it first: a client that puts it ahead of AES says it has
//! no AES hardware, and AES in software would cost it far more than the server saves (the
//! exception BoringSSL makes too). The suites themselves are unchanged: only their order is.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, ServerConfig};

/// The server's order of preference: AES-128-GCM, then ChaCha20-Poly1305, then the rest (the
/// AES-256-GCM suites), in each TLS version.
pub fn server_preferred(mut provider: CryptoProvider) -> CryptoProvider {
    provider.cipher_suites.sort_by_key(|s| rank(s.suite()));
    provider
}

fn rank(suite: CipherSuite) -> u8 {
    match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 0,
        s if is_chacha(s) => 1,
        _ => 2,
    }
}

fn is_chacha(suite: CipherSuite) -> bool {
    matches!(
        suite,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    )
}

/// The config to complete a handshake with, given the suites of the client's hello: `config`
/// itself (server order), or for a client that lists ChaCha20 first a copy that follows the
/// client's order. The copy shares everything that matters (certificate, verifier, ticketer,
/// session cache), so sessions resume across both.
pub fn config_for(config: &Arc<ServerConfig>, client_suites: &[CipherSuite]) -> Arc<ServerConfig> {
    match client_suites.first() {
        Some(first) if is_chacha(*first) && config.ignore_client_order => {
            let mut copy = ServerConfig::clone(config);
            copy.ignore_client_order = false;
            Arc::new(copy)
        }
        _ => config.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::aws_lc_rs;

    #[test]
    fn aes_128_first_then_chacha_and_nothing_dropped() {
        let before = aws_lc_rs::default_provider().cipher_suites;
        let after = server_preferred(aws_lc_rs::default_provider()).cipher_suites;
        assert_eq!(before.len(), after.len());
        for s in &before {
            assert!(after.iter().any(|a| a.suite() == s.suite()), "{s:?} kept");
        }
        let tls13: Vec<CipherSuite> = after
            .iter()
            .filter(|s| s.tls13().is_some())
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            tls13,
            [
                CipherSuite::TLS13_AES_128_GCM_SHA256,
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS13_AES_256_GCM_SHA384
            ]
        );
    }
}
