//! gRPC clients get the errors the proxy makes itself (400, 403, 421, 501, 502, 504…) as gRPC
//! statuses, as Envoy answers them: HTTP 200, `content-type: application/grpc`, `grpc-status`
//! and `grpc-message` in a trailers-only response. A gRPC client would otherwise see an HTTP
//! status it cannot interpret ("Received http2 header with status: 502") and no message.
//! Responses from origins are never touched.

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};

use crate::origin::{full, ProxyBody, ProxyError};

/// gRPC status codes used here (grpc/doc/statuscodes.md).
mod code {
    pub const UNKNOWN: u8 = 2;
    pub const DEADLINE_EXCEEDED: u8 = 4;
    pub const PERMISSION_DENIED: u8 = 7;
    pub const UNIMPLEMENTED: u8 = 12;
    pub const INTERNAL: u8 = 13;
    pub const UNAVAILABLE: u8 = 14;
    pub const UNAUTHENTICATED: u8 = 16;
}

/// Whether the request is gRPC: `content-type` `application/grpc`, `application/grpc+proto`,
/// `application/grpc;…`. gRPC-Web (`application/grpc-web…`) carries its status in the body
/// and is not.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(rest) = value
        .get(..16)
        .filter(|p| p.eq_ignore_ascii_case("application/grpc"))
        .and_then(|_| value.get(16..))
    else {
        return false;
    };
    rest.is_empty() || rest.starts_with('+') || rest.starts_with(';')
}

/// The gRPC code for an HTTP status the proxy answers with: gRPC's own HTTP mapping
/// (grpc/doc/http-grpc-status-mapping.md), except a gateway timeout, which is the deadline
/// the client set running out as far as it can tell (DEADLINE_EXCEEDED, as Envoy maps it).
fn grpc_code(status: StatusCode) -> u8 {
    match status.as_u16() {
        400 => code::INTERNAL,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        404 | 405 | 501 => code::UNIMPLEMENTED,
        // 421: another connection (the right name's) would serve it.
        421 | 429 | 502 | 503 => code::UNAVAILABLE,
        504 => code::DEADLINE_EXCEEDED,
        _ => code::UNKNOWN,
    }
}

/// The same error as a gRPC status when the proxy made `response`; else `response` unchanged.
pub fn reshape(response: Response<ProxyBody>) -> Response<ProxyBody> {
    let Some(error) = response.extensions().get::<ProxyError>().cloned() else {
        return response;
    };
    let code = grpc_code(response.status());
    let mut out = Response::new(full(""));
    *out.status_mut() = StatusCode::OK;
    let headers = out.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(u16::from(code)));
    let message = percent_encode(&format!("{}: {}", error.error, error.detail));
    if let Ok(v) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", v);
    }
    out.extensions_mut().insert(error);
    out
}

/// `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX` (UTF-8).
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    #[test]
    fn grpc_requests_are_recognised_by_content_type() {
        for yes in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC+json",
            "application/grpc;charset=utf-8",
        ] {
            assert!(is_grpc(&headers(yes)), "{yes}");
        }
        for no in [
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpcx",
            "application/json",
            "application/grp",
            "",
        ] {
            assert!(!is_grpc(&headers(no)), "{no}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    fn proxy_error(status: u16) -> Response<ProxyBody> {
        let mut r = Response::new(full("{\"error\":\"x\"}"));
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r.extensions_mut().insert(ProxyError {
            error: "timeout".into(),
            detail: "origin did not answer in time (100%) ✓".into(),
        });
        r
    }

    #[tokio::test]
    async fn proxy_errors_become_trailers_only_grpc_statuses() {
        let cases = [
            (400, "13"),
            (403, "7"),
            (421, "14"),
            (501, "12"),
            (502, "14"),
            (503, "14"),
            (504, "4"),
            (500, "2"),
        ];
        for (status, want) in cases {
            let r = reshape(proxy_error(status));
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()[CONTENT_TYPE], "application/grpc");
            assert_eq!(r.headers()["grpc-status"], want, "{status}");
            assert_eq!(
                r.headers()["grpc-message"],
                "timeout: origin did not answer in time (100%25) %E2%9C%93"
            );
            assert!(r.extensions().get::<ProxyError>().is_some());
            let body = r.into_body().collect().await.unwrap().to_bytes();
            assert!(body.is_empty());
        }
    }

    #[test]
    fn origin_responses_are_left_alone() {
        let mut r = Response::new(full("bad gateway from the origin"));
        *r.status_mut() = StatusCode::BAD_GATEWAY;
        let r = reshape(r);
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        assert!(r.headers().get("grpc-status").is_none());
    }
}
