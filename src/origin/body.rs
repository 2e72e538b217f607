//! Body types shared with the proxy, and small builders for bodies and JSON answers.

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes};
use serde::Serialize;

/// The error type carried by every body and connector in the data plane.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the proxy sends: streamed from an origin or built locally.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A complete in-memory body.
pub fn full(data: impl Into<Bytes>) -> ProxyBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Boxes a streaming body, keeping it streaming and converting its errors.
pub(super) fn boxed<B>(body: B) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// A pretty-printed JSON answer (newline-terminated, so it reads well under `curl`).
pub(super) fn json_response<T: Serialize>(status: StatusCode, doc: &T) -> Response<ProxyBody> {
    // Serialising plain strings and string maps cannot fail; fall back to an empty object
    // rather than panicking should that ever change.
    let mut bytes = serde_json::to_vec_pretty(doc).unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
