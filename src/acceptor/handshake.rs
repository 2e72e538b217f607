//! One connection's TLS handshake: ClientHello → domain entry by SNI → that domain's `ServerConfig`
//! → verdict and identity. One deadline covers all of it. A resumed session is judged again before
//! the server's flight is sent (rule 5, docs/architecture.md), and a refused handshake closes its
//! socket so that the client reads the alert.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rustls::pki_types::UnixTime;
use rustls::server::ServerConnection;
use rustls::{AlertDescription, HandshakeKind};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::server::{Accept, TlsStream};
use tokio_rustls::StartHandshake;

use super::client_hello::{read_client_hello, send_alert, HelloError};
use super::connection::ConnInfo;
use super::linger::close_after_alert;
use super::transport::Transport;
use crate::identity::ClientIdentity;
use crate::snapshot::entry::{DomainEntry, Snapshot};
use crate::snapshot::lookup::canonical_host;
use crate::snapshot::resumption::refusing_resumption;
use crate::snapshot::server_config::TlsVersion;
use crate::snapshot::suites;
use crate::snapshot::verdict::{verdict_for_error, Verdict};
use crate::snapshot::verifier::ClientAuth;

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

/// A handshake that did not complete, and the socket to close once it is logged: after a
/// fatal alert the socket is closed gracefully (see `linger`).
pub struct Refused {
    pub error: HandshakeError,
    closing: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Refused {
    /// Nothing was sent that the client must still read: the socket is dropped.
    fn drop_socket(error: HandshakeError) -> Refused {
        Refused {
            error,
            closing: None,
        }
    }

    /// An alert was sent (or is sent by `closing`): close gracefully.
    fn after_alert(
        error: HandshakeError,
        closing: impl Future<Output = ()> + Send + 'static,
    ) -> Refused {
        Refused {
            error,
            closing: Some(Box::pin(closing)),
        }
    }

    /// Close the socket, lingering after an alert (bounded by `linger::LINGER_TIME`).
    pub async fn close(self) {
        if let Some(closing) = self.closing {
            closing.await;
        }
    }
}

impl From<HandshakeError> for Refused {
    fn from(error: HandshakeError) -> Refused {
        Refused::drop_socket(error)
    }
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

/// The alert rustls sends when its verifier refuses a client certificate with `err` in a full
/// handshake, so that a refused resumption reads the same to the client.
fn alert_for(err: &rustls::Error) -> AlertDescription {
    match err {
        rustls::Error::InvalidCertificate(e) => e.clone().into(),
        rustls::Error::NoCertificatesPresented => AlertDescription::CertificateRequired,
        rustls::Error::PeerMisbehaved(_) => AlertDescription::IllegalParameter,
        _ => AlertDescription::HandshakeFailure,
    }
}

/// Complete the handshake within `deadline`, with the snapshot live when the ClientHello has
/// arrived.
pub async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    snapshots: Arc<ArcSwap<Snapshot>>,
    deadline: Duration,
) -> Result<(TlsStream<Transport>, ConnInfo), Refused> {
    let started = Instant::now();
    tokio::time::timeout(deadline, run(tcp, peer, snapshots, started))
        .await
        .map_err(|_| Refused::from(HandshakeError::Timeout))?
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

/// What the acceptor learnt right after rustls processed the ClientHello, before anything of
/// the server's flight was written.
enum Resumption {
    /// A full handshake, or a domain without client-certificate policy.
    Full,
    /// A HelloRetryRequest is going out: rustls decides on resumption only when the second
    /// ClientHello arrives, inside the handshake future.
    Retried,
    /// A session was resumed and its chain judged now, as a full handshake would judge it;
    /// with the chain's identity, to be used for the connection.
    Judged(Result<(), rustls::Error>, Option<Arc<ClientIdentity>>),
}

/// Judge a resumed session's chain at the current time under the current policy (rule 5,
/// docs/architecture.md): rustls has restored the original peer chain by now. A full handshake
/// is verified once, by rustls; a resumption is judged by `ClientAuth::judge_resumed`.
fn judge_resumption(conn: &ServerConnection, auth: Option<&ClientAuth>) -> Resumption {
    let Some(auth) = auth else {
        return Resumption::Full;
    };
    match conn.handshake_kind() {
        Some(HandshakeKind::Resumed) => {
            let peer = conn.peer_certificates();
            let identity = peer.and_then(|chain| auth.identity(chain));
            let judged = auth.judge_resumed(identity.as_deref(), peer, UnixTime::now());
            Resumption::Judged(judged, identity)
        }
        Some(HandshakeKind::FullWithHelloRetryRequest) => Resumption::Retried,
        _ => Resumption::Full,
    }
}

async fn run(
    mut tcp: TcpStream,
    peer: SocketAddr,
    snapshots: Arc<ArcSwap<Snapshot>>,
    started: Instant,
) -> Result<(TlsStream<Transport>, ConnInfo), Refused> {
    let accepted = match read_client_hello(&mut tcp).await {
        Ok(accepted) => accepted,
        // read_client_hello sent rustls' alert.
        Err(e @ HelloError::Tls(_)) => return Err(linger_after(e.into(), tcp)),
        Err(e) => return Err(HandshakeError::from(e).into()),
    };
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
            send_alert(&mut tcp, AlertDescription::UnrecognisedName).await;
            return Err(linger_after(e, tcp));
        }
    };
    let auth = entry.client_auth.clone();
    let config = suites::config_for(
        &entry.server_config,
        accepted.client_hello().cipher_suites(),
    );
    let mut resumption = Resumption::Full;
    let transport = Transport::new(tcp);
    let accept = StartHandshake::from_parts(accepted, transport).into_stream_with(config, |conn| {
        resumption = judge_resumption(conn, auth.as_deref());
    });
    let enforced = auth.as_ref().is_some_and(|a| a.enforced());
    if let (true, Resumption::Judged(Err(err), _)) = (enforced, &resumption) {
        return Err(refuse_resumption(accept, err.clone(), entry, sni));
    }
    // After a HelloRetryRequest on an enforced domain, a session offered in the second
    // ClientHello could be resumed with no chance to judge it before the server's flight:
    // refuse resumption for this handshake, so that it becomes a full, verified one.
    let refuse = enforced && matches!(resumption, Resumption::Retried);
    let mut accept = accept.into_fallible();
    let tls = match refuse {
        true => {
            std::future::poll_fn(|cx| refusing_resumption(|| Pin::new(&mut accept).poll(cx))).await
        }
        false => accept.await,
    };
    let mut tls = match tls {
        Ok(tls) => tls,
        // rustls sent its alert (if it had one) before failing: close gracefully after it.
        Err((e, tcp)) if rustls_error(&e).is_some() => {
            return Err(linger_after(failed(e, entry, sni), tcp))
        }
        Err((e, _)) => return Err(failed(e, entry, sni).into()),
    };
    tls.get_mut().0.established();
    let (judged, identity) = match resumption {
        Resumption::Judged(r, identity) => (Some(r), identity),
        _ => (None, None),
    };
    let judged = Judged {
        result: judged,
        identity,
    };
    let info = conn_info(&tls, peer, snapshot, entry, sni, fallback, judged, started)?;
    Ok((tls, info))
}

/// Close `tcp` gracefully after the alert already written to it.
fn linger_after<S>(error: HandshakeError, mut tcp: S) -> Refused
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Refused::after_alert(error, async move { close_after_alert(&mut tcp).await })
}

/// A resumed session whose chain a full handshake would refuse now: answer with the alert that
/// handshake would send, in place of the server's flight (still unwritten), and count it as a
/// refused client certificate.
fn refuse_resumption(
    mut accept: Accept<Transport>,
    err: rustls::Error,
    entry: Arc<DomainEntry>,
    sni: Option<String>,
) -> Refused {
    let alert = alert_for(&err);
    let error = HandshakeError::ClientCert {
        verdict: verdict_for_error(&err),
        entry,
        sni,
        source: io::Error::new(io::ErrorKind::InvalidData, err),
    };
    Refused::after_alert(error, async move {
        if let Some(tcp) = accept.get_mut() {
            send_alert(tcp, alert).await;
            close_after_alert(tcp).await;
        }
    })
}

/// What the acceptor judged of a resumed session before its flight (None: not resumed, or
/// not judged), and the identity of its chain.
struct Judged {
    result: Option<Result<(), rustls::Error>>,
    identity: Option<Arc<ClientIdentity>>,
}

#[allow(clippy::too_many_arguments)]
fn conn_info(
    tls: &TlsStream<Transport>,
    peer: SocketAddr,
    snapshot: Arc<Snapshot>,
    entry: Arc<DomainEntry>,
    sni: Option<String>,
    fallback: bool,
    judged: Judged,
    started: Instant,
) -> Result<ConnInfo, Refused> {
    let conn = tls.get_ref().1;
    let peer_certs = conn.peer_certificates();
    let resumed = matches!(conn.handshake_kind(), Some(HandshakeKind::Resumed));
    let verdict = entry.client_auth.as_ref().map(|auth| match judged.result {
        Some(Ok(())) => Verdict::Ok,
        Some(Err(err)) => verdict_for_error(&err),
        // Never expected (a resumption is judged when rustls has processed the hello, and
        // refused after a HelloRetryRequest), but a resumed session is never let through
        // unjudged.
        None if resumed => auth.rejudge(peer_certs),
        // A full handshake: enforced, rustls verified the chain; fail-open, it is
        // verified here, once.
        None => auth.verdict(peer_certs),
    });
    if let (Some(auth), Some(v)) = (&entry.client_auth, verdict) {
        if !auth.admits(v) {
            let source = io::Error::other("resumed session refused after the handshake");
            return Err(Refused::from(HandshakeError::ClientCert {
                entry,
                sni,
                verdict: v,
                source,
            }));
        }
    }
    let identity = match &entry.client_auth {
        Some(auth) => judged
            .identity
            .or_else(|| peer_certs.and_then(|certs| auth.identity(certs))),
        None => None,
    };
    // Kept for the client's next connection with this chain (only chains judged `ok`).
    if let (Some(auth), Some(id), Some(Verdict::Ok)) = (&entry.client_auth, &identity, verdict) {
        auth.remember(id);
    }
    Ok(ConnInfo {
        peer,
        snapshot,
        entry,
        sni,
        fallback,
        verdict,
        identity,
        resumed,
        h2: conn.alpn_protocol() == Some(b"h2"),
        alpn: match conn.alpn_protocol() {
            Some(b"h2") => Some(b"h2"),
            Some(b"http/1.1") => Some(b"http/1.1"),
            _ => None,
        },
        version: match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => Some(TlsVersion::Tls13),
            Some(rustls::ProtocolVersion::TLSv1_2) => Some(TlsVersion::Tls12),
            _ => None,
        },
        tls_version: conn.protocol_version().and_then(|v| v.as_str()),
        cipher: conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str()),
        accepted: started,
        handshake_time: started.elapsed(),
    })
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
