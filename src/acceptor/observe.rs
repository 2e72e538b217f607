//! What the acceptor records about each connection: handshake metrics (atomic adds on handles
//! the snapshot build resolved) and one log line per connection, written when it ends or when
//! its handshake fails (target `mtls_proxy::connection`).

use std::net::SocketAddr;
use std::time::Duration;

use super::handshake::HandshakeError;
use super::ConnInfo;
use crate::metrics::Metrics;
use crate::snapshot::verdict::Verdict;

/// Milliseconds with microsecond precision, for log fields (`1.234`, not `1.2339999999`).
pub fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// The verdict as logged and exported: `not_requested` without a mutual authentication.
pub fn verdict_label(verdict: Option<Verdict>) -> &'static str {
    verdict.map_or("not_requested", Verdict::as_str)
}

/// A completed handshake.
pub fn handshake_done(metrics: &Metrics, info: &ConnInfo) {
    let m = &info.entry.metrics;
    m.handshake(Verdict::slot(info.verdict));
    if info.resumed {
        m.resumed();
    }
    metrics
        .handshake_duration
        .observe(info.handshake_time.as_secs_f64());
}

/// A failed handshake: counted by reason, and per domain and verdict when the domain's policy
/// refused the client certificate; logged.
pub fn handshake_failed(metrics: &Metrics, peer: SocketAddr, e: &HandshakeError, took: Duration) {
    metrics.handshake_error(e.reason());
    let (domain, verdict, ma) = match e {
        HandshakeError::ClientCert { entry, verdict, .. } => {
            entry.metrics.handshake(verdict.index());
            (
                Some(entry.name.as_str()),
                Some(verdict.as_str()),
                entry.mutual_authentication_id.as_deref(),
            )
        }
        _ => (None, None, None),
    };
    tracing::info!(
        target: "mtls_proxy::connection",
        %peer,
        sni = e.sni(),
        domain,
        verdict,
        mutual_authentication = ma,
        reason = e.reason(),
        error = %e,
        handshake_ms = millis(took),
        "handshake failed"
    );
}

/// A connection that ends after a completed handshake; `ending` says why
/// (`closed`, `shutdown`, `policy_changed`).
pub fn connection_closed(info: &ConnInfo, requests: u64, ending: &'static str) {
    let identity = info.identity.as_ref();
    tracing::info!(
        target: "mtls_proxy::connection",
        peer = %info.peer,
        sni = info.sni.as_deref(),
        domain = info.entry.name.as_str(),
        fallback = info.fallback,
        tls_version = info.tls_version,
        cipher = info.cipher,
        alpn = if info.h2 { "h2" } else { "http/1.1" },
        resumed = info.resumed,
        verdict = verdict_label(info.verdict),
        client_subject = identity.map(|i| i.subject.as_str()),
        client_sha256 = identity.map(|i| i.sha256_hex.as_str()),
        mutual_authentication = info.entry.mutual_authentication_id.as_deref(),
        requests,
        handshake_ms = millis(info.handshake_time),
        duration_ms = millis(info.accepted.elapsed()),
        end = ending,
        "connection closed"
    );
}
