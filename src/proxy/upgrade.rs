//! Protocol upgrades. WebSocket is the one upgrade forwarded: an HTTP/1.1 `Upgrade: websocket`
//! request, or an HTTP/2 extended CONNECT with `:protocol = websocket` (RFC 8441), goes to the
//! origin as an HTTP/1.1 upgrade carrying the same prepared headers as any request
//! (client-certificate headers set, spoofed ones stripped: rule 3, docs/architecture.md), and on
//! the origin's 101 both sides are spliced as a tunnel of the client connection (`tunnel`). Any
//! other `Upgrade` token, or a CONNECT without `:protocol = websocket`, is refused with a status
//! that says so instead of being dropped silently. Forwarding them would be worse than dropping:
//! `Upgrade: h2c` would hand the client a raw HTTP/2 connection to the origin on which later
//! requests skip the proxy's per-request checks (SNI/Host binding, rule 1, docs/architecture.md;
//! header stripping, rule 3) — the "h2c smuggling" hole of proxies that pass the header on.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{
    HeaderName, HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::ext::Protocol;
use hyper::upgrade::OnUpgrade;

use super::connection::ConnState;
use super::forwarding::remove_hop_by_hop;
use super::service::answer;
use super::tunnel::TunnelScope;
use crate::model::origin::OriginRoute;
use crate::origin::{full, OriginClient, OriginError, ProxyBody};

/// How a WebSocket arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSocket {
    /// HTTP/1.1 `Connection: upgrade`, `Upgrade: websocket`.
    Http1,
    /// HTTP/2 extended CONNECT, `:protocol = websocket` (RFC 8441), bridged to HTTP/1.1.
    ExtendedConnect,
}

/// What a request asks for.
#[derive(Debug)]
pub enum Detected {
    /// An ordinary request.
    Plain,
    /// A WebSocket handshake.
    WebSocket(WebSocket),
    /// An upgrade or tunnel the proxy does not forward, with the answer saying so.
    Refused(Box<Response<ProxyBody>>),
}

/// Classifies a request before its headers are prepared (which drops `Upgrade`).
pub fn detect(parts: &Parts) -> Detected {
    if parts.method == Method::CONNECT {
        return match parts.extensions.get::<Protocol>() {
            Some(p) if p.as_str().eq_ignore_ascii_case("websocket") => {
                Detected::WebSocket(WebSocket::ExtendedConnect)
            }
            Some(p) => refuse_upgrade(p.as_str()),
            None => Detected::Refused(Box::new(connect_refused())),
        };
    }
    let tokens = tokens(&parts.headers, &UPGRADE);
    if tokens.is_empty() {
        return Detected::Plain;
    }
    let websocket = tokens.iter().any(|t| t.eq_ignore_ascii_case("websocket"));
    let connection_upgrade = tokens_of(&parts.headers, &CONNECTION)
        .iter()
        .any(|t| t.eq_ignore_ascii_case("upgrade"));
    match (websocket, connection_upgrade) {
        (true, true) => Detected::WebSocket(WebSocket::Http1),
        (true, false) => Detected::Refused(Box::new(answer(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Upgrade: websocket needs Connection: upgrade",
        ))),
        (false, _) => refuse_upgrade(&tokens.join(", ")),
    }
}

/// 405 for a plain CONNECT, with the `Allow` header a 405 must carry (RFC 9110 §15.5.6).
fn connect_refused() -> Response<ProxyBody> {
    let mut response = answer(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "CONNECT tunnels are not offered; only WebSocket (RFC 8441) over HTTP/2",
    );
    response.headers_mut().insert(
        http::header::ALLOW,
        HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"),
    );
    response
}

fn refuse_upgrade(what: &str) -> Detected {
    let detail = format!("upgrade to {what:?} is not supported; only websocket is");
    Detected::Refused(Box::new(answer(
        StatusCode::NOT_IMPLEMENTED,
        "upgrade_not_supported",
        &detail,
    )))
}

/// The protocol names of an `Upgrade` header (`websocket`, `h2c`; versions after `/` dropped).
fn tokens(headers: &HeaderMap, name: &HeaderName) -> Vec<String> {
    tokens_of(headers, name)
        .into_iter()
        .map(|t| t.split('/').next().unwrap_or("").trim().to_string())
        .collect()
}

fn tokens_of(headers: &HeaderMap, name: &HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// What a WebSocket request needs besides its prepared headers and origin-form URI.
pub struct Handshake<'a> {
    pub kind: WebSocket,
    pub route: &'a OriginRoute,
    pub preserve_host: bool,
    /// What the tunnel was routed by, to route it again after a change.
    pub scope: TunnelScope,
}

/// Forward a WebSocket handshake whose headers were prepared like any request's, and on the
/// origin's 101 open the tunnel. The client gets 101 (HTTP/1.1) or 200 (extended CONNECT);
/// an origin that does not switch has its answer passed on, except that a 2xx (which an
/// HTTP/2 client would take for an open tunnel) is a protocol error.
pub async fn websocket(
    hs: Handshake<'_>,
    mut parts: Parts,
    body: Incoming,
    conn: &ConnState,
    origins: &OriginClient,
) -> Result<Response<ProxyBody>, OriginError> {
    let Some(client_side) = parts.extensions.remove::<OnUpgrade>() else {
        return Err(OriginError::InvalidRequest(
            "this connection cannot be upgraded".into(),
        ));
    };
    parts.extensions.remove::<Protocol>();
    let key = match hs.kind {
        WebSocket::Http1 => None,
        WebSocket::ExtendedConnect => Some(bridge_to_http1(&mut parts)?),
    };
    let headers = &mut parts.headers;
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    let req = Request::from_parts(parts, body);
    let mut response = origins.upgrade(hs.route, req, hs.preserve_host).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return not_switched(hs.kind, response);
    }
    check_switch(response.headers(), key.as_deref())?;
    let origin_side = hyper::upgrade::on(&mut response);
    let mut headers = std::mem::take(response.headers_mut());
    remove_hop_by_hop(&mut headers);
    let status = match hs.kind {
        WebSocket::Http1 => {
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
            StatusCode::SWITCHING_PROTOCOLS
        }
        WebSocket::ExtendedConnect => {
            // RFC 8441 §5: no key, no accept; the stream itself is the tunnel.
            headers.remove(SEC_WEBSOCKET_ACCEPT);
            StatusCode::OK
        }
    };
    // In flight for the connection's timeouts while open; ended by its wind-down.
    conn.tunnels.open(
        client_side,
        origin_side,
        conn.wind_down.token(),
        conn.activity.hold(),
        hs.scope,
    );
    let mut out = Response::new(full(""));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// Turns an extended CONNECT into the HTTP/1.1 handshake the origin expects: GET with a fresh
/// `Sec-WebSocket-Key` (RFC 8441 clients send none) and `Sec-WebSocket-Version: 13`. Returns
/// the key, to check the origin's accept against.
fn bridge_to_http1(parts: &mut Parts) -> Result<String, OriginError> {
    parts.method = Method::GET;
    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| OriginError::InvalidRequest("no randomness for a WebSocket key".into()))?;
    let key = STANDARD.encode(nonce);
    let value = HeaderValue::from_str(&key)
        .map_err(|e| OriginError::InvalidRequest(format!("WebSocket key: {e}")))?;
    parts.headers.insert(SEC_WEBSOCKET_KEY, value);
    if !parts.headers.contains_key(SEC_WEBSOCKET_VERSION) {
        parts
            .headers
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    }
    Ok(key)
}

/// RFC 6455 §4.2.2: the accept value for `key`.
fn accept_for(key: &str) -> String {
    const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(GUID.as_bytes());
    STANDARD.encode(ctx.finish().as_ref())
}

/// The origin switched to WebSocket, and (for a bridged handshake, where the proxy made the
/// key and the client cannot check) with the right accept value.
fn check_switch(headers: &HeaderMap, key: Option<&str>) -> Result<(), OriginError> {
    let to = tokens(headers, &UPGRADE);
    if !to.iter().any(|t| t.eq_ignore_ascii_case("websocket")) {
        return Err(OriginError::Protocol(format!(
            "the origin switched to {:?} instead of websocket",
            to.join(", ")
        )));
    }
    let Some(key) = key else { return Ok(()) };
    let accepted = headers
        .get(SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|v| v.as_bytes() == accept_for(key).as_bytes());
    match accepted {
        true => Ok(()),
        false => Err(OriginError::Protocol(
            "the origin's Sec-WebSocket-Accept does not match the key".into(),
        )),
    }
}

fn not_switched(
    kind: WebSocket,
    mut response: Response<ProxyBody>,
) -> Result<Response<ProxyBody>, OriginError> {
    if kind == WebSocket::ExtendedConnect && response.status().is_success() {
        return Err(OriginError::Protocol(format!(
            "the origin answered the WebSocket handshake with {} instead of 101",
            response.status()
        )));
    }
    remove_hop_by_hop(response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn parts(method: Method, headers: &[(&str, &str)], protocol: Option<&'static str>) -> Parts {
        let mut req = Request::builder().method(method).uri("https://h/chat");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        if let Some(p) = protocol {
            parts.extensions.insert(Protocol::from_static(p));
        }
        parts
    }

    async fn refusal(d: Detected) -> (StatusCode, String) {
        let Detected::Refused(r) = d else {
            panic!("not refused: {d:?}")
        };
        let status = r.status();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn websocket_is_forwarded_and_other_upgrades_are_refused() {
        let ws = [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ];
        assert!(matches!(
            detect(&parts(Method::GET, &ws, None)),
            Detected::WebSocket(WebSocket::Http1)
        ));
        assert!(matches!(
            detect(&parts(Method::CONNECT, &[], Some("websocket"))),
            Detected::WebSocket(WebSocket::ExtendedConnect)
        ));
        assert!(matches!(
            detect(&parts(Method::GET, &[], None)),
            Detected::Plain
        ));

        let h2c = [
            ("connection", "upgrade, http2-settings"),
            ("upgrade", "h2c"),
        ];
        let (status, body) = refusal(detect(&parts(Method::GET, &h2c, None))).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        assert!(
            body.contains("upgrade_not_supported") && body.contains("h2c"),
            "{body}"
        );
        let tls = [("connection", "upgrade"), ("upgrade", "TLS/1.2, foo")];
        let (status, body) = refusal(detect(&parts(Method::GET, &tls, None))).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        assert!(body.contains("TLS, foo"), "{body}");
        let (status, body) =
            refusal(detect(&parts(Method::CONNECT, &[], Some("connect-udp")))).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        assert!(body.contains("connect-udp"), "{body}");
        let (status, _) = refusal(detect(&parts(Method::CONNECT, &[], None))).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let half = [("upgrade", "websocket")];
        let (status, body) = refusal(detect(&parts(Method::GET, &half, None))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("Connection: upgrade"), "{body}");
    }

    #[test]
    fn accept_value_matches_rfc_6455_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn bridged_handshakes_are_checked() {
        let mut p = parts(Method::CONNECT, &[("sec-websocket-protocol", "chat")], None);
        let key = bridge_to_http1(&mut p).unwrap();
        assert_eq!(p.method, Method::GET);
        assert_eq!(p.headers[SEC_WEBSOCKET_KEY], key.as_str());
        assert_eq!(p.headers[SEC_WEBSOCKET_VERSION], "13");
        assert_eq!(STANDARD.decode(&key).unwrap().len(), 16);
        let other = bridge_to_http1(&mut parts(Method::CONNECT, &[], None)).unwrap();
        assert_ne!(key, other);

        let mut good = HeaderMap::new();
        good.insert(UPGRADE, HeaderValue::from_static("websocket"));
        good.insert(
            SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&accept_for(&key)).unwrap(),
        );
        assert!(check_switch(&good, Some(&key)).is_ok());
        assert!(check_switch(&good, Some(&other)).is_err());
        let mut wrong = good.clone();
        wrong.insert(UPGRADE, HeaderValue::from_static("h2c"));
        assert!(check_switch(&wrong, None).is_err());
    }
}
