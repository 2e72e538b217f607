//! One request: SNI/Host binding, header preparation, origin routing and error answers.

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::header::{HeaderValue, CONTENT_TYPE, HOST};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use super::authority::{decide, Decision};
use super::cert_headers::PrebuiltCertHeaders;
use super::forwarding;
use crate::acceptor::ConnInfo;
use crate::origin::{error_response, full, OriginClient, ProxyBody};
use crate::snapshot::entry::Snapshot;

/// Shared by every connection.
pub struct ProxyContext {
    pub origins: OriginClient,
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
}

/// A short JSON error answer from the proxy itself.
pub fn answer(status: StatusCode, error: &str, detail: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "error": error, "detail": detail }).to_string();
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Serve one request.
pub async fn handle(
    req: Request<Incoming>,
    conn: Arc<ConnState>,
    ctx: Arc<ProxyContext>,
) -> Response<ProxyBody> {
    let (mut parts, body) = req.into_parts();
    let view = conn.view.load_full();
    let (host, authority) = match decide(&parts, &conn.info, &view) {
        Decision::Serve { host, authority } => (host, authority),
        Decision::Misdirected(detail) => {
            tracing::debug!(peer = %conn.info.peer, %detail, "misdirected request");
            return answer(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                &detail,
            );
        }
        Decision::BadRequest(detail) => {
            return answer(StatusCode::BAD_REQUEST, "bad_request", detail);
        }
    };
    forwarding::prepare(
        &mut parts.headers,
        conn.info.peer.ip(),
        &authority,
        &conn.cert_headers,
    );
    // HTTP/2 carries the host in :authority only; origins speak HTTP/1.1 and need Host.
    let preserve_host = view.preserve_host;
    if preserve_host {
        if let Ok(v) = HeaderValue::from_str(&authority) {
            parts.headers.insert(HOST, v);
        }
    }
    parts.uri = origin_form(&parts.uri);
    parts.version = http::Version::HTTP_11;
    let spec = view.origin_for(&host).clone();
    let req = Request::from_parts(parts, body);
    match ctx.origins.send(&spec, req, preserve_host).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(%host, kind = e.kind(), error = %e, "origin failed");
            error_response(&e)
        }
    }
}

/// The path and query only (origin-form), whatever form the client used.
fn origin_form(uri: &Uri) -> Uri {
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    pq.parse().unwrap_or_else(|_| Uri::from_static("/"))
}
