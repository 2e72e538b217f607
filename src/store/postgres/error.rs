//! PostgreSQL and pool errors as [`StoreError`]s: what says "the server cannot be reached or
//! used now" (connection refused or lost, timeout, TLS, authentication, shutting down, too many
//! connections) is [`StoreError::Unavailable`], which the API answers with 503 and a node rides
//! out on its last good snapshot; a violated constraint is [`StoreError::Constraint`]; anything
//! else is a backend failure.

use crate::store::StoreError;

/// tokio-postgres hides its error kinds; these are the texts its connection-level kinds start
/// with (`Io`, `Tls`, `Closed`, `Connect`, `Timeout`, `Authentication`, `UnexpectedMessage`).
const CONNECTION_KINDS: [&str; 7] = [
    "error communicating with the server",
    "error performing TLS handshake",
    "connection closed",
    "error connecting to server",
    "timeout waiting for server",
    "authentication error",
    "unexpected message from server",
];

/// SQLSTATE classes and codes that mean the server cannot serve us now: connection exceptions
/// (08), operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
/// connect now), 53300 too many connections, 28 invalid authorization, 3D000 no such database.
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("57P")
        || code.starts_with("28")
        || code == "53300"
        || code == "3D000"
}

/// Classify a client error.
pub fn classify(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if code.starts_with("23") {
            return StoreError::Constraint(db.message().to_string());
        }
        if unavailable_code(code) {
            return StoreError::Unavailable(db.message().to_string());
        }
        return StoreError::Backend(Box::new(e));
    }
    let text = e.to_string();
    if e.is_closed() || CONNECTION_KINDS.iter().any(|k| text.starts_with(k)) {
        return StoreError::Unavailable(text);
    }
    StoreError::Backend(Box::new(e))
}

/// Classify a pool error: every way of not getting a connection is unavailability.
pub fn pool(e: deadpool_postgres::PoolError) -> StoreError {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(e) => match classify(e) {
            StoreError::Backend(e) => StoreError::Unavailable(e.to_string()),
            other => other,
        },
        PoolError::Timeout(_) => {
            StoreError::Unavailable("no connection to PostgreSQL within the timeout".into())
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        classify(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_that_mean_come_back_later() {
        for code in [
            "08006", "08001", "57P01", "57P03", "53300", "28P01", "3D000",
        ] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["23505", "42P01", "40P01", "22P02"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }
}
