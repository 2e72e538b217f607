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
use crate::model::origin::OriginRoute;
use crate::origin::{error_response, full, OriginClient, ProxyBody, ProxyError};
use crate::snapshot::entry::{DomainEntry, Snapshot};
use crate::snapshot::route::Route;
use crate::snapshot::verdict::Verdict;

/// Shared by every connection.
pub struct ProxyContext {
    pub origins: OriginClient,
    pub metrics: Arc<Metrics>,
}

/// Per-connection state: the handshake facts, and how requests are judged and routed now.
pub struct ConnState {
    pub info: ConnInfo,
    /// The newest snapshot that still admits this connection (`proxy::readmission`) with the
    /// verdict it gives; moved forward by `serve` after each swap, so a kept connection follows
    /// other domains' policy changes, new routes and new revocation lists instead of serving
    /// from the snapshot of its handshake forever.
    pub view: ArcSwap<ConnView>,
    /// Requests received on the connection (for its log line).
    pub requests: AtomicU64,
    /// Fired when the connection is being ended (a swap no longer admits it, shutdown, …):
    /// what is long-lived on it (its tunnels) closes at once instead of draining.
    pub wind_down: CancellationToken,
    /// Its open tunnels (WebSocket), which outlive hyper's view of the connection.
    pub tunnels: Tunnels,
}

/// What requests on a connection are judged by: one snapshot, the verdict it gives the
/// connection, and the certificate headers for that verdict (built once per verdict).
#[derive(Debug)]
pub struct ConnView {
    pub snapshot: Arc<Snapshot>,
    /// The handshake's verdict, or a later re-judgement's (None: no mutual authentication).
    pub verdict: Option<Verdict>,
    pub cert_headers: Arc<PrebuiltCertHeaders>,
}

impl ConnState {
    /// State for a connection with no request yet, viewing the snapshot of its handshake.
    pub fn new(info: ConnInfo, cert_headers: PrebuiltCertHeaders) -> ConnState {
        let view = ConnView {
            snapshot: info.snapshot.clone(),
            verdict: info.verdict,
            cert_headers: Arc::new(cert_headers),
        };
        ConnState {
            view: ArcSwap::from_pointee(view),
            info,
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
    /// The `[[routes]]` entry that decided (its name).
    route: Option<&'c str>,
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
        route: routed.route,
        verdict: view.verdict,
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

/// Decide, then answer: 400, 403, 421, or the origin's response. `judged` is how the
/// connection is judged now.
async fn route<'c>(
    parts: Parts,
    body: Incoming,
    conn: &ConnState,
    judged: &'c ConnView,
    ctx: &ProxyContext,
) -> Routed<'c> {
    let view: &Snapshot = &judged.snapshot;
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
    let (routing, rewritten) = match view.routing(&host, parts.uri.path()) {
        Ok(r) => r,
        Err(e) => {
            let response = answer(StatusCode::BAD_REQUEST, "bad_request", &e.to_string());
            return Routed::local(response, domain, Some(host));
        }
    };
    let route = routing.route;
    if let Some(refusal) = route.and_then(|r| refused(r, judged.verdict, &conn.info)) {
        meters.forbidden();
        let mut routed = Routed::local(refusal, domain, Some(host));
        routed.route = route.map(|r| &*r.name);
        return routed;
    }
    let websocket = match upgrade::detect(&parts) {
        Detected::Plain => None,
        Detected::WebSocket(kind) => Some(kind),
        Detected::Refused(response) => {
            let mut routed = Routed::local(*response, domain, Some(host));
            routed.route = route.map(|r| &*r.name);
            return routed;
        }
    };
    count_fail_open(judged.verdict, meters);
    let target = Target {
        host: &host,
        authority: &authority,
        origin: view.origin_of(&routing),
        path: rewritten.as_ref().map(|r| r.0.as_str()),
        preserve_host: view.preserve_host,
        websocket,
    };
    let (response, waited, origin_error) =
        forward(parts, body, &target, conn, judged, ctx, meters).await;
    Routed {
        response,
        domain,
        host: Some(host),
        route: route.map(|r| &*r.name),
        origin: Some(waited),
        origin_error,
    }
}

/// The 403 of a route whose identity rules do not admit this connection: its verdict must be
/// `ok` and its leaf must match one of the route's patterns. The answer names the route, never
/// the patterns (they would tell a prober which identity to obtain).
fn refused(
    route: &Route,
    verdict: Option<Verdict>,
    conn: &ConnInfo,
) -> Option<Response<ProxyBody>> {
    let allow = route.allow.as_ref()?;
    let detail = match (verdict, conn.identity.as_ref()) {
        (Some(Verdict::Ok), Some(id)) if allow.admits(id) => return None,
        (Some(Verdict::Ok), Some(_)) => {
            format!(
                "route {} does not admit this client certificate",
                route.name
            )
        }
        _ => format!(
            "route {} requires a verified client certificate",
            route.name
        ),
    };
    let mut response = answer(StatusCode::FORBIDDEN, "forbidden", &detail);
    // The client learns the verdict it was judged with (as the origin would have), not the
    // patterns it failed.
    if let Some(v) = verdict {
        response
            .headers_mut()
            .insert(VERDICT_HEADER, HeaderValue::from_static(v.as_str()));
    }
    Some(response)
}

/// The verdict header, as origins receive it.
const VERDICT_HEADER: &str = "client-cert-verdict";

/// Where a request goes: its canonical host, the authority as sent, the origin its route
/// chose, the normalised path when path rules rewrote it, and whether it is a WebSocket
/// handshake.
#[derive(Clone, Copy)]
struct Target<'a> {
    host: &'a str,
    authority: &'a str,
    origin: &'a Arc<OriginRoute>,
    path: Option<&'a str>,
    preserve_host: bool,
    websocket: Option<WebSocket>,
}

/// Send the request to its origin: the response (or the error answer), the time waited and
/// the failure kind.
async fn forward(
    mut parts: Parts,
    body: Incoming,
    target: &Target<'_>,
    conn: &ConnState,
    judged: &ConnView,
    ctx: &ProxyContext,
    meters: &DomainMetrics,
) -> (Response<ProxyBody>, Duration, Option<&'static str>) {
    let Target {
        host,
        authority,
        origin,
        path,
        preserve_host,
        websocket,
    } = *target;
    forwarding::prepare(
        &mut parts.headers,
        conn.info.peer.ip(),
        authority,
        &judged.cert_headers,
    );
    // HTTP/2 carries the host in :authority only; origins speak HTTP/1.1 and need Host.
    if preserve_host {
        if let Ok(v) = HeaderValue::from_str(authority) {
            parts.headers.insert(HOST, v);
        }
    }
    parts.uri = origin_form(&parts.uri, path);
    parts.version = http::Version::HTTP_11;
    let spec = origin.clone();
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
            route: None,
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

/// The path and query only (origin-form), whatever form the client used; `path` replaces the
/// path when path rules normalised it, so the origin gets the path that was judged.
fn origin_form(uri: &Uri, path: Option<&str>) -> Uri {
    let pq = match (path, uri.query()) {
        (Some(p), Some(q)) => format!("{p}?{q}"),
        (Some(p), None) => p.to_owned(),
        (None, _) => {
            return uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .parse()
                .unwrap_or_else(|_| Uri::from_static("/"))
        }
    };
    pq.parse().unwrap_or_else(|_| Uri::from_static("/"))
}
