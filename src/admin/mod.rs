//! The admin listener: Fastly-compatible `/tls/*` JSON:API (writes only through `control`),
//! `/metrics`, `/health` and `/ready`.

pub mod auth;
pub mod document;
pub mod error;
mod handlers;
pub mod pagination;
pub mod query;
pub mod request;
pub mod resources;
pub mod token;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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
};

use crate::control::Control;
use crate::metrics::Metrics;

/// What every admin handler can reach.
#[derive(Clone)]
pub struct AdminState {
    pub control: Arc<Control>,
    pub token: AdminToken,
    pub metrics: Arc<Metrics>,
    /// Set once the first snapshot is published.
    pub ready: Arc<AtomicBool>,
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
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(tls)
        .fallback(not_found)
        .with_state(state)
}

async fn health() -> Response {
    crate::admin::document::json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

async fn ready(State(s): State<AdminState>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        crate::admin::document::json(StatusCode::OK, &serde_json::json!({"status": "ready"}))
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no configuration published yet",
        )
        .into_response()
    }
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
