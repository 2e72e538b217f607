//! The per-request log line (target `mtls_proxy::request`), written once the response head is
//! known. It carries the connection's TLS facts so one line answers "who asked what, under
//! which verdict"; the query string is left out (it often carries tokens).

use std::time::Duration;

use crate::acceptor::observe::{millis, verdict_label};
use crate::acceptor::ConnInfo;
use crate::snapshot::verdict::Verdict;

/// What one request did.
#[derive(Debug)]
pub struct RequestFacts<'a> {
    pub conn: &'a ConnInfo,
    /// The connection's verdict when the request was served (it changes when a fail-open
    /// connection's certificate expires).
    pub verdict: Option<Verdict>,
    /// The activated domain the request named (None: not an activated name).
    pub domain: Option<&'a str>,
    /// The canonical host asked for (None: no usable Host).
    pub host: Option<&'a str>,
    /// The `[[routes]]` entry that decided (None: no route; the default origin).
    pub route: Option<&'a str>,
    pub method: &'a str,
    /// Path without the query.
    pub path: &'a str,
    pub status: u16,
    /// From the request head to the response head.
    pub duration: Duration,
    /// Time waiting for the origin, when the request was forwarded.
    pub origin: Option<Duration>,
    /// Origin failure kind.
    pub origin_error: Option<&'static str>,
    /// The id of a proxy-generated error answer (502/504), also in its body.
    pub request_id: Option<&'a str>,
}

/// Write the request's log line.
pub fn request(f: &RequestFacts<'_>) {
    let c = f.conn;
    let identity = c.identity.as_ref();
    tracing::info!(
        target: "mtls_proxy::request",
        peer = %c.peer,
        sni = c.sni.as_deref(),
        domain = f.domain,
        host = f.host,
        route = f.route,
        method = f.method,
        path = f.path,
        status = f.status,
        tls_version = c.tls_version,
        cipher = c.cipher,
        resumed = c.resumed,
        verdict = verdict_label(f.verdict),
        client_subject = identity.map(|i| i.subject.as_str()),
        client_sha256 = identity.map(|i| i.sha256_hex.as_str()),
        mutual_authentication = c.entry.mutual_authentication_id.as_deref(),
        duration_ms = millis(f.duration),
        origin_ms = f.origin.map(millis),
        origin_error = f.origin_error,
        request_id = f.request_id,
        "request"
    );
}
