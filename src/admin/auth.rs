//! The `Fastly-Key` check on every `/tls/*` call (rule 4, docs/architecture.md).

use aws_lc_rs::digest::{digest, SHA256};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AdminState;

/// The admin token, kept as its SHA-256 so comparisons are constant-time and length-blind.
#[derive(Clone)]
pub struct AdminToken {
    hash: [u8; 32],
}

impl AdminToken {
    /// Wrap a token.
    pub fn new(token: &str) -> AdminToken {
        AdminToken {
            hash: sha256(token.as_bytes()),
        }
    }

    /// Whether a presented key equals the token, in constant time. An empty key never matches
    /// (the Python client sends `Fastly-Key: ` when unset).
    pub fn accepts(&self, presented: &[u8]) -> bool {
        !presented.is_empty() && bool::from(sha256(presented).ct_eq(&self.hash))
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// Middleware: 401 JSON:API error unless `Fastly-Key` matches.
pub async fn require_key(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get("fastly-key")
        .is_some_and(|k| s.token.accepts(k.as_bytes()));
    if ok {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a valid Fastly-Key header is required",
        )
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_token() {
        let t = AdminToken::new("secret");
        assert!(t.accepts(b"secret"));
        assert!(!t.accepts(b"secret "));
        assert!(!t.accepts(b"secre"));
        assert!(!t.accepts(b""));
    }
}
