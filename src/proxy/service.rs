//! One request: SNI/Host binding, header preparation, origin routing and error answers; each
//! request is counted (per the domain it names) and logged once it has its response head.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::header::{HeaderValue, CONTENT_TYPE, HOST};
use http::request::Parts;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;

use super::access_log::{self, RequestFacts};
use super::authority::{decide, Decision};
use super::cert_headers::PrebuiltCertHeaders;
use super::forwarding;
use super::grpc;
use super::tunnel::Tunnels;
use super::upgrade::{self, Detected, Handshake, WebSocket};
use crate::acceptor::ConnInfo;
use crate::metrics::{DomainMetrics, Metrics};
use crate::origin::{error_response, full, OriginClient, ProxyBody, ProxyError};
use crate::snapshot::entry::{DomainEntry, Snapshot};
use crate::snapshot::verdict::Verdict;

/// Shared by every connection.
pub struct ProxyContext {
    pub origins: OriginClient,
    pub metrics: Arc<Metrics>,
}

/// Per-connection state: the handshake facts, the certificate headers built once, and the
/// snapshot requests are judged and routed by.
pub struct ConnState {
    pub info: ConnInfo,
    pub cert_headers: PrebuiltCertHeaders,
    /// The newest snapshot that still admits this connection (`proxy::readmission`); moved
    /// forward by `serve` after each swap, so a kept connection follows other domains' policy
    /// changes and new routes instead of serving from the snapshot of its handshake forever.
    pub view: ArcSwap<Snapshot>,
    /// Requests received on the connection (for its log line).
    pub requests: AtomicU64,
    /// Fired when the connection is being ended (a swap no longer admits it, shutdown, …):
    /// what is long-lived on it (its tunnels) closes at once instead of draining.
    pub wind_down: CancellationToken,
    /// Its open tunnels (WebSocket), which outlive hyper's view of the connection.
    pub tunnels: Tunnels,
}

impl ConnState {
    /// State for a connection with no request yet, viewing the snapshot of its handshake.
    pub fn new(info: ConnInfo, cert_headers: PrebuiltCertHeaders) -> ConnState {
        ConnState {
            view: ArcSwap::new(info.snapshot.clone()),
            info,
            cert_headers,
            requests: AtomicU64::new(0),
            wind_down: CancellationToken::new(),
            tunnels: Tunnels::default(),
        }
    }
}

/// A short JSON error answer from the proxy itself (a gRPC status for gRPC requests).
pub fn answer(status: StatusCode, error: &str, detail: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "error": error, "detail": detail }).to_string();
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.extensions_mut().insert(ProxyError {
        error: error.to_string(),
        detail: detail.to_string(),
    });
    resp
}

/// How a request was answered, for its metrics and log line.
struct Routed<'c> {
    response: Response<ProxyBody>,
    /// The activated domain the request named.
    domain: Option<&'c DomainEntry>,
    host: Option<String>,
    /// Time spent waiting for the origin.
    origin: Option<Duration>,
    origin_error: Option<&'static str>,
}

/// Serve one request.
pub async fn handle(
    req: Request<Incoming>,
    conn: Arc<ConnState>,
    ctx: Arc<ProxyContext>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    conn.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    // Cheap clones (shared bytes), kept for the log line: the URI is rewritten for the origin.
    let (method, uri) = (parts.method.clone(), parts.uri.clone());
    let grpc = grpc::is_grpc(&parts.headers);
    let view = conn.view.load_full();
    let routed = route(parts, body, &conn, &view, &ctx).await;
    let status = routed.response.status().as_u16();
    meters(routed.domain, &ctx.metrics).request(status);
    let took = started.elapsed();
    ctx.metrics.request_duration.observe(took.as_secs_f64());
    access_log::request(&RequestFacts {
        conn: &conn.info,
        domain: routed.domain.map(|d| d.name.as_str()),
        host: routed.host.as_deref(),
        method: method.as_str(),
        path: uri.path(),
        status,
        duration: took,
        origin: routed.origin,
        origin_error: routed.origin_error,
    });
    // Counted and logged with the status the error has; a gRPC client gets it as a status.
    match grpc {
        true => grpc::reshape(routed.response),
        false => routed.response,
    }
}

/// Decide, then answer: 400, 421, or the origin's response. `view` is the snapshot the
/// connection is judged by now.
async fn route<'c>(
    parts: Parts,
    body: Incoming,
    conn: &ConnState,
    view: &'c Snapshot,
    ctx: &ProxyContext,
) -> Routed<'c> {
    let (host, authority, domain) = match decide(&parts, &conn.info, view) {
        Decision::Serve {
            host,
            authority,
            domain,
        } => (host, authority, domain),
        Decision::Misdirected {
            detail,
            host,
            domain,
        } => {
            tracing::debug!(peer = %conn.info.peer, %detail, "misdirected request");
            meters(domain, &ctx.metrics).misdirected();
            let response = answer(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                &detail,
            );
            return Routed::local(response, domain, Some(host));
        }
        Decision::BadRequest(detail) => {
            let response = answer(StatusCode::BAD_REQUEST, "bad_request", detail);
            return Routed::local(response, None, None);
        }
    };
    let meters = meters(domain, &ctx.metrics);
    let websocket = match upgrade::detect(&parts) {
        Detected::Plain => None,
        Detected::WebSocket(kind) => Some(kind),
        Detected::Refused(response) => return Routed::local(*response, domain, Some(host)),
    };
    count_fail_open(conn.info.verdict, meters);
    let target = Target {
        host: &host,
        authority: &authority,
        view,
        websocket,
    };
    let (response, waited, origin_error) = forward(parts, body, &target, conn, ctx, meters).await;
    Routed {
        response,
        domain,
        host: Some(host),
        origin: Some(waited),
        origin_error,
    }
}

/// Where a request goes: its canonical host, the authority as sent, the snapshot routing it,
/// and whether it is a WebSocket handshake.
#[derive(Clone, Copy)]
struct Target<'a> {
    host: &'a str,
    authority: &'a str,
    view: &'a Snapshot,
    websocket: Option<WebSocket>,
}

/// Send the request to its origin: the response (or the error answer), the time waited and
/// the failure kind.
async fn forward(
    mut parts: Parts,
    body: Incoming,
    target: &Target<'_>,
    conn: &ConnState,
    ctx: &ProxyContext,
    meters: &DomainMetrics,
) -> (Response<ProxyBody>, Duration, Option<&'static str>) {
    let Target {
        host,
        authority,
        view,
        websocket,
    } = *target;
    forwarding::prepare(
        &mut parts.headers,
        conn.info.peer.ip(),
        authority,
        &conn.cert_headers,
    );
    // HTTP/2 carries the host in :authority only; origins speak HTTP/1.1 and need Host.
    let preserve_host = view.preserve_host;
    if preserve_host {
        if let Ok(v) = HeaderValue::from_str(authority) {
            parts.headers.insert(HOST, v);
        }
    }
    parts.uri = origin_form(&parts.uri);
    parts.version = http::Version::HTTP_11;
    let spec = view.origin_for(host).clone();
    let sent = Instant::now();
    let result = match websocket {
        None => {
            let req = Request::from_parts(parts, body);
            ctx.origins.send(&spec, req, preserve_host).await
        }
        Some(kind) => {
            let hs = Handshake {
                kind,
                route: &spec,
                preserve_host,
            };
            upgrade::websocket(hs, parts, body, conn, &ctx.origins).await
        }
    };
    let waited = sent.elapsed();
    ctx.metrics.origin_duration.observe(waited.as_secs_f64());
    match result {
        Ok(response) => (response, waited, None),
        Err(e) => {
            meters.origin_error(e.kind());
            tracing::debug!(%host, kind = e.kind(), error = %e, "origin failed");
            (error_response(&e), waited, Some(e.kind()))
        }
    }
}

impl<'c> Routed<'c> {
    /// An answer from the proxy itself.
    fn local(
        response: Response<ProxyBody>,
        domain: Option<&'c DomainEntry>,
        host: Option<String>,
    ) -> Routed<'c> {
        Routed {
            response,
            domain,
            host,
            origin: None,
            origin_error: None,
        }
    }
}

/// The metric handles of the domain a request named; `other` for names not activated.
fn meters<'a>(domain: Option<&'a DomainEntry>, metrics: &'a Metrics) -> &'a DomainMetrics {
    domain.map_or(metrics.other(), |d| &d.metrics)
}

/// A request passed only because its domain fails open: counted with its verdict. (On an
/// enforced domain the verdict of an established connection is always `ok`.)
fn count_fail_open(verdict: Option<Verdict>, meters: &DomainMetrics) {
    if let Some(v) = verdict.filter(|v| *v != Verdict::Ok) {
        meters.fail_open(v.index());
    }
}

/// The path and query only (origin-form), whatever form the client used.
fn origin_form(uri: &Uri) -> Uri {
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    pq.parse().unwrap_or_else(|_| Uri::from_static("/"))
}
