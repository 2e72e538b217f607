//! JSON:API response documents with Fastly's exact content type.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The media type every JSON:API response carries, with no parameters: go-fastly compares the
/// header by string equality.
pub const JSONAPI: &str = "application/vnd.api+json";

/// A JSON:API response.
pub fn jsonapi(status: StatusCode, body: &Value) -> Response {
    with_type(status, body, JSONAPI)
}

/// A plain JSON response (the certificate blob endpoint).
pub fn json(status: StatusCode, body: &Value) -> Response {
    with_type(status, body, "application/json")
}

fn with_type(status: StatusCode, body: &Value, content_type: &'static str) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// 204 with an empty body and no content type (as the real API answers DELETE).
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A `{"type", "id"}` resource identifier.
pub fn identifier(kind: &str, id: &str) -> Value {
    serde_json::json!({"id": id, "type": kind})
}

/// A to-many relationship member.
pub fn to_many<'a>(kind: &str, ids: impl IntoIterator<Item = &'a str>) -> Value {
    let data: Vec<Value> = ids.into_iter().map(|id| identifier(kind, id)).collect();
    serde_json::json!({ "data": data })
}

/// A to-one relationship member (null data when absent).
pub fn to_one(kind: &str, id: Option<&str>) -> Value {
    match id {
        Some(id) => serde_json::json!({ "data": identifier(kind, id) }),
        None => serde_json::json!({ "data": null }),
    }
}
