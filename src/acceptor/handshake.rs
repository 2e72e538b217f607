//! One connection's TLS handshake: ClientHello → domain entry by SNI → that domain's
//! `ServerConfig` → verdict and identity. One deadline covers all of it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::StartHandshake;

use super::client_hello::{read_client_hello, refuse_unrecognized_name, HelloError};
use super::connection::ConnInfo;
use crate::proxy::identity::ClientIdentity;
use crate::snapshot::entry::{DomainEntry, Snapshot};
use crate::snapshot::lookup::canonical_host;

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
    Tls(std::io::Error),
}

impl HandshakeError {
    /// A short reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::Timeout => "timeout",
            HandshakeError::Hello(HelloError::Eof) => "eof",
            HandshakeError::Hello(_) => "protocol",
            HandshakeError::UnknownSni(_) => "unknown_sni",
            HandshakeError::NoSni => "no_sni",
            HandshakeError::Tls(_) => "tls",
        }
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
    tokio::time::timeout(deadline, run(tcp, peer, snapshots))
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
    let tls = StartHandshake::from_parts(accepted, tcp)
        .into_stream(entry.server_config.clone())
        .await
        .map_err(HandshakeError::Tls)?;
    let info = conn_info(&tls, peer, snapshot, entry, sni, fallback);
    Ok((tls, info))
}

fn conn_info(
    tls: &TlsStream<TcpStream>,
    peer: SocketAddr,
    snapshot: Arc<Snapshot>,
    entry: Arc<DomainEntry>,
    sni: Option<String>,
    fallback: bool,
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
    }
}
