//! Endpoint handlers, one module per resource, and the helpers they share.

pub mod activations;
pub mod certificates;
pub mod configurations;
pub mod domains;
pub mod mutual_authentications;
pub mod private_keys;
pub mod revocation_lists;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::document::jsonapi;
use super::error::ApiError;
use super::pagination::{document, ListContext};
use super::query::{Page, Query};
use super::request::{parse, ResourceObject};
use super::AdminState;
use crate::control::reads::{Reads, Uses};
use crate::control::{Applied, Change};

/// Largest request body accepted: bodies over 2 MiB are refused with 413 (docs/admin-api.md).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Read the whole body, refusing more than `MAX_BODY_BYTES` with 413.
pub async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than {MAX_BODY_BYTES} bytes"),
            )
        })
}

/// Run blocking store work off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("request worker failed: {e}"),
        )
    })?
}

/// Run `f` on a consistent read-only view of the store (through control), off the async
/// runtime. Handlers read only the rows they render: a page, a resource and its relationships.
pub async fn read<T: Send + 'static>(
    s: &AdminState,
    f: impl FnOnce(&dyn Reads) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let control = s.control.clone();
    blocking(move || control.read(f)).await
}

/// The ids of the activations using a resource (a to-many relationship).
pub fn activation_ids(r: &dyn Reads, used: Uses<'_>) -> Result<Vec<String>, ApiError> {
    Ok(r.activations_using(used)?
        .into_iter()
        .map(|a| a.id)
        .collect())
}

/// Apply a change through control.
pub async fn apply(s: &AdminState, change: Change) -> Result<Applied, ApiError> {
    let control = s.control.clone();
    blocking(move || Ok(control.apply(change)?)).await
}

/// Read and parse a request document of `kind`, turn it into a change, apply it, and return
/// the id of the resource it touched (every create and PATCH), for the caller to render.
pub async fn write(
    s: &AdminState,
    body: Body,
    kind: &str,
    path_id: Option<&str>,
    change: impl FnOnce(&ResourceObject) -> Result<Change, ApiError>,
) -> Result<String, ApiError> {
    let body = read_body(body).await?;
    let resource = parse(&body, kind, path_id)?;
    Ok(apply(s, change(&resource)?).await?.id)
}

/// One page of a list, ready to render.
pub struct ListPage {
    pub page: Page,
    pub total: u64,
    pub data: Vec<Value>,
    pub included: Option<Vec<Value>>,
}

/// A list document for `path` with links built from this request.
pub fn list_response(
    s: &AdminState,
    headers: &HeaderMap,
    path: &str,
    query: &Query,
    list: ListPage,
) -> Response {
    let base = base_url(s, headers);
    let ctx = ListContext {
        base_url: &base,
        path,
        query,
    };
    let doc = document(&ctx, list.page, list.total, list.data, list.included);
    jsonapi(StatusCode::OK, &doc)
}

/// Base URL for absolute links: `http://` + the request's Host when it looks like a host,
/// else the admin listener's address (a hostile Host header must not inject into links).
pub fn base_url(s: &AdminState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        });
    match host {
        Some(h) => format!("http://{h}"),
        None => format!("http://{}", s.listen_addr),
    }
}

/// A single-resource document, with `included` when given.
pub fn single(status: StatusCode, data: Value, included: Option<Vec<Value>>) -> Response {
    let doc = match included {
        Some(inc) => serde_json::json!({ "data": data, "included": inc }),
        None => serde_json::json!({ "data": data }),
    };
    jsonapi(status, &doc)
}
