//! The admin listener: Fastly-compatible `/tls/*` JSON:API (writes only through `control`),
//! `/metrics`, `/health`, `/ready`, `/status` and the status page (`/`, `/status/data`).

pub mod auth;
pub mod document;
pub mod error;
pub mod fleet_status;
mod handlers;
pub mod listener;
pub mod pagination;
pub mod query;
pub mod request;
pub mod resources;
pub mod status_page;
mod strict_json;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use auth::AdminToken;
use error::ApiError;
use handlers::{
    activations, certificates, configurations, domains, mutual_authentications, private_keys,
    revocation_lists,
};

use crate::control::Control;
use crate::metrics::Metrics;
use crate::model::timestamp::format_ms;
use crate::snapshot::publisher::Publisher;

/// What every admin handler can reach.
#[derive(Clone)]
pub struct AdminState {
    pub control: Arc<Control>,
    pub token: AdminToken,
    pub metrics: Arc<Metrics>,
    /// The data plane's snapshot owner: readiness and status.
    pub publisher: Arc<Publisher>,
    /// This node's place in the fleet: the store, the nodes, the local cache.
    pub fleet: Arc<crate::fleet::FleetView>,
    /// The admin listener's address, for links when the Host header is unusable.
    pub listen_addr: SocketAddr,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let tls = Router::new()
        .route(
            "/tls/mutual_authentications",
            get(mutual_authentications::list).post(mutual_authentications::create),
        )
        .route(
            "/tls/mutual_authentications/{id}",
            get(mutual_authentications::get)
                .patch(mutual_authentications::update)
                .delete(mutual_authentications::delete),
        )
        .route(
            "/tls/private_keys",
            get(private_keys::list).post(private_keys::create),
        )
        .route(
            "/tls/private_keys/{id}",
            get(private_keys::get).delete(private_keys::delete),
        )
        .route(
            "/tls/certificates",
            get(certificates::list).post(certificates::create),
        )
        .route(
            "/tls/certificates/{id}",
            get(certificates::get)
                .patch(certificates::update)
                .delete(certificates::delete),
        )
        .route("/tls/certificates/{id}/blob", get(certificates::blob))
        .route("/tls/domains", get(domains::list))
        .route("/tls/configurations", get(configurations::list))
        .route(
            "/tls/configurations/{id}",
            get(configurations::get).patch(configurations::update),
        )
        .route(
            "/tls/activations",
            get(activations::list).post(activations::create),
        )
        .route(
            "/tls/activations/{id}",
            get(activations::get)
                .patch(activations::update)
                .delete(activations::delete),
        )
        .route(
            "/tls/revocation_lists",
            get(revocation_lists::list).post(revocation_lists::create),
        )
        .route(
            "/tls/revocation_lists/{id}",
            get(revocation_lists::get)
                .patch(revocation_lists::update)
                .delete(revocation_lists::delete),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/", get(status_page::page))
        .route("/status/data", get(status_page::data))
        .merge(tls)
        .fallback(not_found)
        .with_state(state)
}

async fn health() -> Response {
    crate::admin::document::json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

async fn ready(State(s): State<AdminState>) -> Response {
    if s.publisher.status().last_swap_ms.is_some() {
        crate::admin::document::json(StatusCode::OK, &serde_json::json!({"status": "ready"}))
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no configuration published yet",
        )
        .into_response()
    }
}

/// Revisions, the last build error, and the store and fleet, for operators and the status page
/// (no secrets).
async fn status(State(s): State<AdminState>) -> Response {
    let fleet = fleet_status::FleetStatus::gather(&s).await;
    let p = s.publisher.status();
    let mut body = serde_json::json!({
        "stored_revision": fleet.stored_revision,
        "applied_revision": p.applied_revision,
        "last_swap": p.last_swap_ms.map(format_ms),
        "last_error": p.last_error,
        "last_error_at": p.last_error_ms.map(format_ms),
    });
    fleet.extend(&mut body);
    crate::admin::document::json(StatusCode::OK, &body)
}

async fn metrics(State(s): State<AdminState>) -> Response {
    let mut resp = s.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
