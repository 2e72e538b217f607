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
        return StoreError::Unavailable(with_causes(text, &e));
    }
    StoreError::Backend(Box::new(e))
}

/// tokio-postgres's `Display` names only the kind ("error connecting to server"); the cause
/// (connection refused, name not resolved, certificate not trusted, password missing) is in
/// its source chain, and it is what an operator needs to fix the store URL or the network.
/// None of these causes carries the URL or its password.
fn with_causes(mut text: String, e: &tokio_postgres::Error) -> String {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
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

    /// A refused connection says so: "error connecting to server" alone does not tell a
    /// refused port from an unresolved name or an untrusted certificate.
    #[tokio::test]
    async fn a_refused_connection_names_its_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("postgres://nobody:secret-password@127.0.0.1:{port}/db");
        let Err(e) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await else {
            panic!("connected to a closed port");
        };
        let cause = std::error::Error::source(&e).unwrap().to_string();
        let StoreError::Unavailable(text) = classify(e) else {
            panic!("a refused connection is unavailability");
        };
        assert!(text.starts_with("error connecting to server: "), "{text}");
        assert!(text.contains(&cause), "{text} lacks {cause}");
        assert!(!text.contains("secret-password"), "{text}");
    }
}
