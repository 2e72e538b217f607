//! One request: the connection's admission first (wind-down, swap, certificate expiry), then
//! SNI/Host binding, header preparation, origin routing and error answers; each request is
//! counted (per the domain it names) and logged once it has its response head. Its response
//! body keeps it in flight for the connection's idle accounting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE, HOST};
use http::request::Parts;
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use super::access_log::{self, RequestFacts};
use super::activity::Tracked;
use super::authority::{decide, Decision};
use super::cert_headers::cache::HeaderCache;
use super::connection::{ConnState, Judged};
use super::forwarding;
use super::grpc;
use super::origin_failure;
use super::tunnel::TunnelScope;
use super::upgrade::{self, Detected, Handshake, WebSocket};
use super::wind_down::Ending;
use crate::acceptor::ConnInfo;
use crate::metrics::{DomainMetrics, Metrics};
use crate::model::origin::OriginRoute;
use crate::origin::{full, OriginClient, ProxyBody, ProxyError};
use crate::snapshot::entry::{DomainEntry, Snapshot};
use crate::snapshot::route::Route;
use crate::snapshot::verdict::Verdict;

/// Shared by every connection.
pub struct ProxyContext {
    pub origins: OriginClient,
    pub metrics: Arc<Metrics>,
    /// The live snapshot: every request checks that its connection is still admitted by it.
    pub live: Arc<ArcSwap<Snapshot>>,
    /// Client-certificate headers shared by the connections of one certificate.
    pub cert_headers: HeaderCache,
}

/// A short JSON error answer from the proxy itself (newline-terminated, so it reads well under
/// curl; a gRPC status for gRPC requests).
pub fn answer(status: StatusCode, error: &str, detail: &str) -> Response<ProxyBody> {
    let mut body = serde_json::json!({ "error": error, "detail": detail }).to_string();
    body.push('\n');
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
    /// The id of a proxy-generated error answer.
    request_id: Option<String>,
}

/// Serve one request.
pub async fn handle(
    req: Request<Incoming>,
    conn: Arc<ConnState>,
    ctx: Arc<ProxyContext>,
) -> Response<Tracked> {
    let in_flight = conn.activity.begin_request();
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    // Cheap clones (shared bytes), kept for the log line: the URI is rewritten for the origin.
    let (method, uri, version) = (parts.method.clone(), parts.uri.clone(), parts.version);
    let grpc = grpc::is_grpc(&parts.headers);
    let last = closes_after(&parts);
    let admitted = conn.admit_request(&ctx.live);
    // Taken once admitted: the verdict and headers this request is served with.
    let judged = conn.judged();
    let routed = match &admitted {
        Ok(view) => route(parts, body, &conn, &judged, view, &ctx).await,
        // Counted under the connection's own domain: the request was not looked at.
        Err(why) => Routed::local(closing(*why, version), Some(&conn.info.entry), None),
    };
    let domain = routed.domain;
    let status = routed.response.status().as_u16();
    meters(domain, &ctx.metrics).request(status);
    let took = started.elapsed();
    ctx.metrics.request_duration.observe(took.as_secs_f64());
    access_log::request(&RequestFacts {
        conn: &conn.info,
        verdict: judged.verdict,
        domain: domain.map(|d| d.name.as_str()),
        host: routed.host.as_deref(),
        route: routed.route,
        method: method.as_str(),
        path: uri.path(),
        status,
        duration: took,
        origin: routed.origin,
        origin_error: routed.origin_error,
        request_id: routed.request_id.as_deref(),
    });
    // Counted and logged with the status the error has; a gRPC client gets it as a status.
    let response = match grpc {
        true => grpc::reshape(routed.response),
        false => routed.response,
    };
    response.map(|body| Tracked::new(body, in_flight, last))
}

/// Whether an HTTP/1.x request ends its connection after its response, as hyper decides it
/// (RFC 9112 §9.3): HTTP/1.1 with a `close` connection option, HTTP/1.0 without `keep-alive`.
fn closes_after(parts: &Parts) -> bool {
    let has = |option: &str| {
        parts
            .headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(option))
    };
    match parts.version {
        Version::HTTP_11 => has("close"),
        Version::HTTP_10 | Version::HTTP_09 => !has("keep-alive"),
        _ => false,
    }
}

/// 421 for a request on a connection that is winding down (or has just been found no longer
/// admitted): nothing new is served under the old policy, and the client may retry on a new
/// connection (RFC 9110 §15.5.20), which is judged afresh. HTTP/1.1 gets `Connection: close`.
fn closing(why: Ending, version: Version) -> Response<ProxyBody> {
    let detail = match why {
        Ending::CertificateExpired => {
            "the client certificate has expired; this connection is closing"
        }
        Ending::PolicyChanged => {
            "the client-certificate policy of this connection changed; retry on a new connection"
        }
        _ => "this connection is closing; retry on a new connection",
    };
    let mut response = answer(
        StatusCode::MISDIRECTED_REQUEST,
        "connection_closing",
        detail,
    );
    if version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Decide, then answer: 400, 405, 421, 501, or the origin's response (a WebSocket tunnel
/// included). `view` is the snapshot the connection is judged by now.
async fn route<'c>(
    parts: Parts,
    body: Incoming,
    conn: &ConnState,
    judged: &Judged,
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
    let (routing, rewritten) = match view.routing(&host, parts.uri.path()) {
        Ok(r) => r,
        Err(e) => {
            let response = answer(StatusCode::BAD_REQUEST, "bad_request", &e.to_string());
            return Routed::local(response, domain, Some(host));
        }
    };
    let route = routing.route;
    let decided = |response, host| {
        let mut routed = Routed::local(response, domain, Some(host));
        routed.route = route.map(|r| &*r.name);
        routed
    };
    if let Some(refusal) = route.and_then(|r| refused(r, judged.verdict, &conn.info)) {
        meters.forbidden();
        return decided(refusal, host);
    }
    // CONNECT (but WebSocket's extended CONNECT) is refused here: the proxy opens no tunnels.
    let websocket = match upgrade::detect(&parts) {
        Detected::Plain => None,
        Detected::WebSocket(kind) => Some(kind),
        Detected::Refused(response) => return decided(*response, host),
    };
    count_fail_open(judged.verdict, meters);
    let target = Target {
        host: &host,
        authority: &authority,
        view,
        origin: view.origin_of(&routing),
        path: rewritten.as_ref().map(|r| r.0.as_str()),
        websocket,
    };
    let forwarded = forward(parts, body, &target, (conn, judged), ctx, meters).await;
    Routed {
        response: forwarded.response,
        domain,
        host: Some(host),
        route: route.map(|r| &*r.name),
        origin: Some(forwarded.waited),
        origin_error: forwarded.error,
        request_id: forwarded.request_id,
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
    let identity = conn.identity.as_deref();
    if route.admits(verdict, identity) {
        return None;
    }
    let detail = match (verdict, identity) {
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

/// Where a request goes: its canonical host, the authority as sent, the snapshot and the origin
/// its route chose, the normalised path when path rules rewrote it, and whether it is a
/// WebSocket handshake.
#[derive(Clone, Copy)]
struct Target<'a> {
    host: &'a str,
    authority: &'a str,
    view: &'a Snapshot,
    origin: &'a Arc<OriginRoute>,
    path: Option<&'a str>,
    websocket: Option<WebSocket>,
}

/// What forwarding a request gave.
struct Forwarded {
    response: Response<ProxyBody>,
    /// Time waiting for the origin.
    waited: Duration,
    /// The failure kind, when the origin failed.
    error: Option<&'static str>,
    /// The id of the failure's answer and log line.
    request_id: Option<String>,
}

/// Send the request to its origin: the response, or the error answer.
async fn forward(
    mut parts: Parts,
    body: Incoming,
    target: &Target<'_>,
    (conn, judged): (&ConnState, &Judged),
    ctx: &ProxyContext,
    meters: &DomainMetrics,
) -> Forwarded {
    let Target {
        host,
        authority,
        view,
        origin,
        path,
        websocket,
    } = *target;
    forwarding::prepare(
        &mut parts.headers,
        &conn.forward_for(authority),
        &judged.headers,
        conn.xfcc(view, judged),
    );
    // HTTP/2 carries the host in :authority only; origins speak HTTP/1.1 and need Host.
    let preserve_host = view.preserve_host;
    if preserve_host {
        if let Ok(v) = HeaderValue::from_str(authority) {
            parts.headers.insert(HOST, v);
        }
    }
    // The path the route was chosen by: an open tunnel is routed again by it after a change.
    let routed_path = path.map_or_else(|| parts.uri.path().to_string(), str::to_string);
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
                scope: TunnelScope {
                    host: host.to_string(),
                    path: routed_path,
                },
            };
            upgrade::websocket(hs, parts, body, conn, &ctx.origins).await
        }
    };
    let waited = sent.elapsed();
    ctx.metrics.origin_duration.observe(waited.as_secs_f64());
    match result {
        Ok(response) => Forwarded {
            response,
            waited,
            error: None,
            request_id: None,
        },
        Err(e) => {
            meters.origin_error(e.kind());
            let id = origin_failure::request_id();
            // The details (addresses, certificate problems) go to the log only.
            tracing::warn!(
                target: "mtls_proxy::request",
                request_id = %id,
                %host,
                kind = e.kind(),
                error = %e,
                "origin failed"
            );
            Forwarded {
                response: origin_failure::answer(&e, &id),
                waited,
                error: Some(e.kind()),
                request_id: Some(id),
            }
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
            request_id: None,
        }
    }
}

/// The metric handles of the domain a request named; `other` for names not activated.
fn meters<'a>(domain: Option<&'a DomainEntry>, metrics: &'a Metrics) -> &'a DomainMetrics {
    domain.map_or(metrics.other(), |d| &d.metrics)
}

/// A request passed only because its domain fails open: counted with its verdict. (On an
/// enforced domain the verdict of an admitted connection is always `ok`.)
fn count_fail_open(verdict: Option<Verdict>, meters: &DomainMetrics) {
    if let Some(v) = verdict.filter(|v| *v != Verdict::Ok) {
        meters.fail_open(v.index());
    }
}

/// The path and query only (origin-form), whatever form the client used; `path` replaces the
/// path when path rules normalised it, so the origin gets the path that was judged.
fn origin_form(uri: &Uri, path: Option<&str>) -> Uri {
    let parsed = match (path, uri.query()) {
        (Some(p), Some(q)) => format!("{p}?{q}").parse(),
        (Some(p), None) => p.parse(),
        (None, _) => uri.path_and_query().map_or("/", |p| p.as_str()).parse(),
    };
    parsed.unwrap_or_else(|_| Uri::from_static("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(version: Version, connection: &[&str]) -> Parts {
        let mut req = Request::builder().version(version).uri("/");
        for v in connection {
            req = req.header(CONNECTION, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn requests_close_their_connection_as_hyper_decides() {
        use Version as V;
        let cases: [(Version, &[&str], bool); 9] = [
            (V::HTTP_11, &[], false),
            (V::HTTP_11, &["close"], true),
            (V::HTTP_11, &["Keep-Alive, CLOSE"], true),
            (V::HTTP_11, &["upgrade"], false),
            (V::HTTP_11, &["te", "close"], true),
            (V::HTTP_10, &[], true),
            (V::HTTP_10, &["keep-alive"], false),
            (V::HTTP_2, &[], false),
            (V::HTTP_11, &["closed"], false),
        ];
        for (version, connection, closes) in cases {
            assert_eq!(
                closes_after(&parts(version, connection)),
                closes,
                "{version:?} {connection:?}"
            );
        }
    }
}
