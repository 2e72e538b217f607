//! What the proxy knows about an established connection: computed once at the handshake and
//! shared by every request on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::identity::ClientIdentity;
use crate::snapshot::entry::{DomainEntry, Snapshot};
use crate::snapshot::server_config::TlsVersion;
use crate::snapshot::verdict::Verdict;

/// An established TLS connection's facts.
#[derive(Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The snapshot the handshake used (taken when the ClientHello arrived). Requests are
    /// judged by the newest snapshot that still admits the connection (`proxy::serve`).
    pub snapshot: Arc<Snapshot>,
    /// The domain whose config the handshake used.
    pub entry: Arc<DomainEntry>,
    /// The canonical SNI, if the client sent one.
    pub sni: Option<String>,
    /// The handshake was served by `default_domain` (no or unknown SNI).
    pub fallback: bool,
    /// The client-certificate verdict; None when the domain has no mutual authentication.
    pub verdict: Option<Verdict>,
    /// The presented certificate, if any.
    pub identity: Option<Arc<ClientIdentity>>,
    /// The session was resumed (its identity is the original handshake's).
    pub resumed: bool,
    /// ALPN chose HTTP/2.
    pub h2: bool,
    /// The ALPN protocol chosen (`h2`, `http/1.1`), if any.
    pub alpn: Option<&'static [u8]>,
    /// The negotiated protocol version.
    pub version: Option<TlsVersion>,
    /// Negotiated protocol version, rustls' name (`TLSv1_3`).
    pub tls_version: Option<&'static str>,
    /// Negotiated cipher suite, rustls' name (`TLS13_AES_256_GCM_SHA384`).
    pub cipher: Option<&'static str>,
    /// When the TCP connection was accepted.
    pub accepted: Instant,
    /// From accept to the end of the handshake.
    pub handshake_time: Duration,
}
