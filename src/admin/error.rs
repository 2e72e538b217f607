//! API errors rendered as JSON:API `errors` documents.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::document::jsonapi;
use crate::control::ControlError;
use crate::control::StoreError;

/// An error answer: status, a short title and a detail naming the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
}

impl ApiError {
    /// 400 with a detail.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404 for a resource kind ("mutual authentication").
    pub fn not_found(resource: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("The {resource} you requested was not found"),
        )
    }

    /// 409 with a detail.
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, detail)
    }

    /// Any status with a detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
        }
    }

    fn title(&self) -> &'static str {
        match self.status {
            StatusCode::BAD_REQUEST => "Bad request",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "Payload too large",
            StatusCode::SERVICE_UNAVAILABLE => "Service unavailable",
            _ => "Internal server error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"errors": [{
            "title": self.title(),
            "detail": self.detail,
            "status": self.status.as_u16().to_string(),
        }]});
        jsonapi(self.status, &body)
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        match e {
            ControlError::Invalid { .. } | ControlError::Build(_) => {
                ApiError::bad_request(e.to_string())
            }
            ControlError::NotFound { resource } => ApiError::not_found(resource),
            ControlError::Conflict(d) => ApiError::conflict(d),
            ControlError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if let StoreError::Unavailable(why) = &e {
            // The data plane is not affected: it keeps serving its last good snapshot.
            tracing::warn!(error = %e, "API request refused: the store is unavailable");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the store is unavailable ({why}); retry once it is reachable again. This \
                     node keeps serving the configuration it last applied."
                ),
            );
        }
        if let StoreError::Constraint(why) = &e {
            // Control checks every relation before it writes, so a constraint the store still
            // refuses means another writer (another node of a fleet) changed the same resources
            // in between: the request conflicts with the current state, it is not a server fault.
            // The transaction was rolled back, so nothing of it is stored.
            tracing::warn!(error = %e, "API request refused by a store constraint");
            return ApiError::conflict(format!(
                "the change conflicts with the stored resources ({why}); nothing was changed. \
                 Another writer may have changed them at the same time: read them again and retry."
            ));
        }
        tracing::error!(error = %e, "store failure");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the store failed: {e}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_constraint_is_a_conflict_naming_the_constraint() {
        let e: ApiError =
            StoreError::Constraint("UNIQUE constraint failed: activations.domain".into()).into();
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert!(e.detail.contains("activations.domain"), "{}", e.detail);
        assert!(e.detail.contains("nothing was changed"), "{}", e.detail);
    }

    #[test]
    fn an_unavailable_store_is_503_and_a_backend_failure_500() {
        let e: ApiError = StoreError::Unavailable("connection refused".into()).into();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        let e: ApiError = StoreError::Corrupt("activations").into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
