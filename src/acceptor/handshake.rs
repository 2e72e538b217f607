//! One connection's TLS handshake: ClientHello → domain entry by SNI → that domain's
//! `ServerConfig` → verdict and identity. One deadline covers all of it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::StartHandshake;

use super::client_hello::{read_client_hello, refuse_unrecognized_name, HelloError};
use super::connection::ConnInfo;
use crate::identity::ClientIdentity;
use crate::snapshot::entry::{DomainEntry, Snapshot};
use crate::snapshot::lookup::canonical_host;
use crate::snapshot::verdict::{verdict_for_error, Verdict};

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("handshake deadline passed")]
    Timeout,
    #[error(transparent)]
    Hello(#[from] HelloError),
    #[error("server name {0:?} is not served")]
    UnknownSni(String),
    #[error("no server name and no default domain")]
    NoSni,
    #[error("handshake failed: {0}")]
    Tls(io::Error),
    /// The domain's mutual authentication refused the client certificate (enforced: missing
    /// or invalid; either mode: no proof of possession).
    #[error("client certificate rejected ({}): {source}", verdict.as_str())]
    ClientCert {
        /// The domain whose policy refused it.
        entry: Arc<DomainEntry>,
        /// The canonical SNI.
        sni: Option<String>,
        /// What the certificate would have been judged.
        verdict: Verdict,
        source: io::Error,
    },
}

impl HandshakeError {
    /// A short reason for logs and metrics (one of `metrics::labels::HANDSHAKE_ERROR_REASONS`).
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::Timeout => "timeout",
            HandshakeError::Hello(HelloError::Eof) => "eof",
            HandshakeError::Hello(HelloError::Io(_)) => "io",
            HandshakeError::Hello(HelloError::Tls(_)) => "protocol",
            HandshakeError::UnknownSni(_) => "unknown_sni",
            HandshakeError::NoSni => "no_sni",
            HandshakeError::Tls(e) if rustls_error(e).is_some() => "protocol",
            HandshakeError::Tls(e) if e.kind() == io::ErrorKind::UnexpectedEof => "eof",
            HandshakeError::Tls(_) => "io",
            HandshakeError::ClientCert { .. } => "client_cert_rejected",
        }
    }

    /// The server name the client asked for, when known.
    pub fn sni(&self) -> Option<&str> {
        match self {
            HandshakeError::UnknownSni(name) => Some(name),
            HandshakeError::ClientCert { sni, .. } => sni.as_deref(),
            _ => None,
        }
    }
}

/// The rustls error an I/O error from tokio-rustls carries, if any.
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Classify a failed handshake: a client-certificate refusal keeps its domain and verdict so
/// it is counted per domain like a completed handshake.
fn failed(e: io::Error, entry: Arc<DomainEntry>, sni: Option<String>) -> HandshakeError {
    let verdict = match rustls_error(&e) {
        Some(
            err @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented),
        ) if entry.client_auth.is_some() => verdict_for_error(err),
        _ => return HandshakeError::Tls(e),
    };
    HandshakeError::ClientCert {
        entry,
        sni,
        verdict,
        source: e,
    }
}

/// Complete the handshake within `deadline`, with the snapshot live when the ClientHello has
/// arrived.
pub async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    snapshots: Arc<ArcSwap<Snapshot>>,
    deadline: Duration,
) -> Result<(TlsStream<TcpStream>, ConnInfo), HandshakeError> {
    let started = Instant::now();
    tokio::time::timeout(deadline, run(tcp, peer, snapshots, started))
        .await
        .map_err(|_| HandshakeError::Timeout)?
}

/// The entry for an SNI: the activated domain, else the fallback (never with client auth).
fn choose(
    snapshot: &Snapshot,
    sni: Option<&str>,
) -> Result<(Arc<DomainEntry>, bool), HandshakeError> {
    if let Some(entry) = sni.and_then(|s| snapshot.domain(s)) {
        return Ok((entry.clone(), false));
    }
    match (&snapshot.fallback, sni) {
        (Some(fallback), _) => Ok((fallback.clone(), true)),
        (None, Some(name)) => Err(HandshakeError::UnknownSni(name.to_string())),
        (None, None) => Err(HandshakeError::NoSni),
    }
}

async fn run(
    mut tcp: TcpStream,
    peer: SocketAddr,
    snapshots: Arc<ArcSwap<Snapshot>>,
    started: Instant,
) -> Result<(TlsStream<TcpStream>, ConnInfo), HandshakeError> {
    let accepted = read_client_hello(&mut tcp).await?;
    // Taken now, not at accept: a client that opened its TCP connection before a change but
    // says hello after the API answered must meet the new policy (a connection may sit idle
    // for up to the handshake timeout before its ClientHello).
    let snapshot = snapshots.load_full();
    // rustls has already validated the SNI syntax; canonicalise exactly as Host is (rule 1).
    let sni = accepted
        .client_hello()
        .server_name()
        .and_then(canonical_host);
    let (entry, fallback) = match choose(&snapshot, sni.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            refuse_unrecognized_name(&mut tcp).await;
            return Err(e);
        }
    };
    let tls = match StartHandshake::from_parts(accepted, tcp)
        .into_stream(entry.server_config.clone())
        .await
    {
        Ok(tls) => tls,
        Err(e) => return Err(failed(e, entry, sni)),
    };
    let info = conn_info(&tls, peer, snapshot, entry, sni, fallback, started);
    Ok((tls, info))
}

fn conn_info(
    tls: &TlsStream<TcpStream>,
    peer: SocketAddr,
    snapshot: Arc<Snapshot>,
    entry: Arc<DomainEntry>,
    sni: Option<String>,
    fallback: bool,
    started: Instant,
) -> ConnInfo {
    let conn = tls.get_ref().1;
    let peer_certs = conn.peer_certificates();
    // Computed once per connection. On a resumed session rustls restores the original peer
    // chain, so the identity (and, in fail-closed mode, the verdict) is the original one.
    let verdict = entry
        .client_auth
        .as_ref()
        .map(|auth| auth.verdict(peer_certs));
    let identity = match &entry.client_auth {
        Some(_) => peer_certs.and_then(ClientIdentity::from_chain),
        None => None,
    };
    ConnInfo {
        peer,
        snapshot,
        entry,
        sni,
        fallback,
        verdict,
        identity,
        resumed: matches!(conn.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
        h2: conn.alpn_protocol() == Some(b"h2"),
        tls_version: conn.protocol_version().and_then(|v| v.as_str()),
        cipher: conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str()),
        accepted: started,
        handshake_time: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::labels::HANDSHAKE_ERROR_REASONS;

    #[test]
    fn reasons_are_the_exported_ones() {
        let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        let cases = [
            (HandshakeError::Timeout, "timeout"),
            (HandshakeError::Hello(HelloError::Eof), "eof"),
            (
                HandshakeError::Hello(HelloError::Io(io::ErrorKind::ConnectionReset.into())),
                "io",
            ),
            (
                HandshakeError::Hello(HelloError::Tls(rustls::Error::DecryptError)),
                "protocol",
            ),
            (
                HandshakeError::UnknownSni("x.example".into()),
                "unknown_sni",
            ),
            (HandshakeError::NoSni, "no_sni"),
            (HandshakeError::Tls(tls), "protocol"),
            (
                HandshakeError::Tls(io::ErrorKind::UnexpectedEof.into()),
                "eof",
            ),
            (HandshakeError::Tls(io::ErrorKind::BrokenPipe.into()), "io"),
        ];
        for (e, reason) in cases {
            assert_eq!(e.reason(), reason, "{e}");
            assert!(HANDSHAKE_ERROR_REASONS.contains(&reason));
        }
        assert!(HANDSHAKE_ERROR_REASONS.contains(&"client_cert_rejected"));
        assert_eq!(
            HandshakeError::UnknownSni("x.example".into()).sni(),
            Some("x.example")
        );
    }
}
