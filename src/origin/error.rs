//! Origin failures, their HTTP status and metric kind, and the JSON answer sent for them.

use http::{Response, StatusCode};
use serde::Serialize;

use super::body::{json_response, ProxyBody};

/// Why a request could not be answered by its origin.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// The TCP connection to the origin could not be opened.
    #[error("cannot connect to origin: {0}")]
    Connect(String),
    /// Opening the connection (TCP and TLS) took longer than `connect_timeout`.
    #[error("timed out connecting to origin")]
    ConnectTimeout,
    /// The response headers did not arrive within `response_timeout`.
    #[error("origin did not answer in time")]
    Timeout,
    /// The origin broke HTTP: garbage, a truncated message, a reset connection.
    #[error("origin protocol error: {0}")]
    Protocol(String),
    /// The TLS handshake with an https origin failed (untrusted certificate, wrong name, ...).
    #[error("origin TLS handshake failed: {0}")]
    Tls(String),
    /// The request cannot be sent to the origin as built.
    #[error("request cannot be forwarded: {0}")]
    InvalidRequest(String),
    /// The origin or client configuration is unusable (bad origin string, CA file).
    #[error("origin configuration: {0}")]
    Config(String),
}

impl OriginError {
    /// 504 for timeouts (connect or response), 502 for everything else.
    pub fn status(&self) -> StatusCode {
        match self {
            OriginError::Timeout | OriginError::ConnectTimeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    /// A short stable label for metrics and the JSON answer.
    pub fn kind(&self) -> &'static str {
        match self {
            OriginError::Connect(_) => "connect",
            OriginError::ConnectTimeout | OriginError::Timeout => "timeout",
            OriginError::Protocol(_) => "protocol",
            OriginError::Tls(_) => "tls",
            OriginError::InvalidRequest(_) => "invalid_request",
            OriginError::Config(_) => "config",
        }
    }
}

/// Marks a response the proxy made itself to report an error (never an origin's), with what
/// it says, so it can be reshaped for the client (gRPC statuses: `proxy::grpc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError {
    /// The short label (`timeout`, `misdirected_request`…).
    pub error: String,
    /// The sentence explaining it.
    pub detail: String,
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: &'a str,
    detail: String,
}

/// The short JSON error answer `{"error": "<kind>", "detail": "<message>"}` with Content-Type
/// application/json and the error's status.
pub fn error_response(err: &OriginError) -> Response<ProxyBody> {
    let doc = ErrorDoc {
        error: err.kind(),
        detail: err.to_string(),
    };
    let mut response = json_response(err.status(), &doc);
    response.extensions_mut().insert(ProxyError {
        error: doc.error.to_string(),
        detail: doc.detail,
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CONTENT_TYPE;
    use http_body_util::BodyExt;

    async fn json(err: OriginError) -> (StatusCode, serde_json::Value) {
        let response = error_response(&err);
        let status = response.status();
        let marked = response.extensions().get::<ProxyError>().unwrap();
        assert_eq!(marked.error, err.kind());
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn error_response_is_json_with_status() {
        let (status, doc) = json(OriginError::Timeout).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(doc["error"], "timeout");
        assert_eq!(doc["detail"], "origin did not answer in time");
        assert_eq!(doc.as_object().unwrap().len(), 2);

        let (status, doc) = json(OriginError::Connect("refused \"quoted\"".into())).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(doc["error"], "connect");
        assert_eq!(
            doc["detail"],
            "cannot connect to origin: refused \"quoted\""
        );
    }

    #[test]
    fn status_and_kind_per_variant() {
        let cases = [
            (OriginError::Connect(String::new()), 502, "connect"),
            (OriginError::ConnectTimeout, 504, "timeout"),
            (OriginError::Timeout, 504, "timeout"),
            (OriginError::Protocol(String::new()), 502, "protocol"),
            (OriginError::Tls(String::new()), 502, "tls"),
            (
                OriginError::InvalidRequest(String::new()),
                502,
                "invalid_request",
            ),
            (OriginError::Config(String::new()), 502, "config"),
        ];
        for (err, status, kind) in cases {
            assert_eq!(err.status().as_u16(), status, "{err}");
            assert_eq!(err.kind(), kind, "{err}");
            // Metrics label every kind by name; none may fall into `other`.
            assert!(crate::metrics::labels::ORIGIN_ERROR_KINDS.contains(&kind));
        }
    }
}
