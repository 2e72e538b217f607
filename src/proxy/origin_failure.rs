//! The answer a client gets when its origin failed: 502 or 504 with a short generic reason and
//! a request id. What went wrong in detail (origin names and addresses, certificate problems,
//! the error chain) goes to the log under the same request id, never to the client: it would
//! map the internal network and its PKI for anyone who can make a request fail.

use http::header::{HeaderValue, CONTENT_TYPE};
use http::Response;

use crate::origin::{full, OriginError, ProxyBody, ProxyError};

/// Response header carrying the request id of a proxy-generated error.
pub const REQUEST_ID: &str = "x-request-id";

/// A fresh request id: 16 lower-case hex digits from the system's random generator.
pub fn request_id() -> String {
    let mut bytes = [0u8; 8];
    // A failure of the system generator is not worth failing the answer for: the id (then all
    // zeros) only correlates the answer with its log line, which also has the time.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    crate::hex::encode(&bytes, crate::hex::Case::Lower)
}

/// What the client is told about a failure of this kind.
fn reason(err: &OriginError) -> &'static str {
    match err {
        OriginError::Connect(_) => "the origin could not be reached",
        OriginError::ConnectTimeout => "the origin could not be reached in time",
        OriginError::Timeout => "the origin did not answer in time",
        OriginError::Protocol(_) => "the origin sent an invalid response",
        OriginError::Tls(_) => "the secure connection to the origin failed",
        OriginError::InvalidRequest(_) => "the request could not be forwarded",
        OriginError::Config(_) => "the origin is not configured correctly",
    }
}

/// The 502/504 answer for `err`, naming `request_id`.
pub fn answer(err: &OriginError, request_id: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "error": err.kind(),
        "detail": reason(err),
        "request_id": request_id,
    });
    let mut bytes = body.to_string().into_bytes();
    bytes.push(b'\n');
    let mut response = Response::new(full(bytes));
    *response.status_mut() = err.status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, id);
    }
    // Made by the proxy: a gRPC client gets it as a status (`proxy::grpc`), with the same
    // generic reason and the id to quote.
    response.extensions_mut().insert(ProxyError {
        error: err.kind().to_string(),
        detail: format!("{} (request id {request_id})", reason(err)),
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn says_what_kind_of_failure_and_nothing_of_the_details() {
        let secret = "10.1.2.3:8443 certificate CN=internal-db.corp expired";
        let cases = [
            (OriginError::Connect(secret.into()), 502, "connect"),
            (OriginError::ConnectTimeout, 504, "timeout"),
            (OriginError::Timeout, 504, "timeout"),
            (OriginError::Protocol(secret.into()), 502, "protocol"),
            (OriginError::Tls(secret.into()), 502, "tls"),
            (
                OriginError::InvalidRequest(secret.into()),
                502,
                "invalid_request",
            ),
            (OriginError::Config(secret.into()), 502, "config"),
        ];
        for (err, status, kind) in cases {
            let id = request_id();
            let response = answer(&err, &id);
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(response.headers()[REQUEST_ID], id.as_str());
            let marked = response.extensions().get::<ProxyError>().unwrap().clone();
            assert_eq!(marked.error, kind);
            assert!(marked.detail.contains(&id) && !marked.detail.contains("10.1.2.3"));
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            assert!(
                !text.contains("10.1.2.3") && !text.contains("internal-db"),
                "{text}"
            );
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["error"], kind);
            assert_eq!(doc["request_id"], id.as_str());
            assert_eq!(doc["detail"], reason(&err));
        }
    }

    #[test]
    fn request_ids_are_hex_and_differ() {
        let (a, b) = (request_id(), request_id());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
