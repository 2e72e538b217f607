//! Versioned schema migrations, tracked in SQLite's `user_version`.

use rusqlite::Connection;

use super::StoreError;
use crate::model::{id, timestamp};

/// Each entry migrates from version `index` to `index + 1`. Append only; never edit a shipped one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE mutual_authentications (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    enforced    INTEGER NOT NULL,
    cert_bundle TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE private_keys (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    key_pem         TEXT NOT NULL,
    key_type        TEXT NOT NULL,
    key_length      INTEGER NOT NULL,
    public_key_sha1 TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL
);
CREATE TABLE certificates (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    cert_blob           TEXT NOT NULL,
    issued_to           TEXT NOT NULL,
    issuer              TEXT NOT NULL,
    serial_number       TEXT NOT NULL,
    signature_algorithm TEXT NOT NULL,
    not_before          INTEGER NOT NULL,
    not_after           INTEGER NOT NULL,
    dns_names           TEXT NOT NULL,
    public_key_sha1     TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE TABLE configurations (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    is_default     INTEGER NOT NULL,
    tls_protocols  TEXT NOT NULL,
    http_protocols TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE TABLE activations (
    id                       TEXT PRIMARY KEY,
    domain                   TEXT NOT NULL UNIQUE,
    certificate_id           TEXT NOT NULL REFERENCES certificates(id),
    configuration_id         TEXT NOT NULL REFERENCES configurations(id),
    mutual_authentication_id TEXT REFERENCES mutual_authentications(id),
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);
"#,
    r#"
-- Resources the built-in demo created: their keys and client CA are public, so `serve`
-- refuses a non-loopback proxy listener while any of them still exists.
CREATE TABLE demo_resources (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"#,
    r#"
CREATE TABLE revocation_lists (
    id                       TEXT PRIMARY KEY,
    mutual_authentication_id TEXT NOT NULL
                             REFERENCES mutual_authentications(id) ON DELETE CASCADE,
    name                     TEXT NOT NULL,
    url                      TEXT,
    crl_pem                  TEXT NOT NULL,
    issuer                   TEXT NOT NULL,
    this_update              INTEGER NOT NULL,
    next_update              INTEGER NOT NULL,
    crl_number               TEXT NOT NULL,
    revoked_count            INTEGER NOT NULL,
    last_fetch_error         TEXT,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);
CREATE INDEX revocation_lists_by_mutual_authentication
    ON revocation_lists (mutual_authentication_id);
"#,
];

/// Bring the database to the latest schema, one transaction per step.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    // A negative user_version is not ours: start from scratch would clobber it, so refuse.
    let done = usize::try_from(found).map_err(|_| StoreError::Corrupt("user_version"))?;
    for (step, sql) in (0_i64..).zip(MIGRATIONS.iter()).skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if step == 0 {
            insert_default_configuration(&tx)?;
        }
        tx.pragma_update(None, "user_version", step + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The one `default: true` configuration activations use when they name none.
fn insert_default_configuration(conn: &Connection) -> Result<(), StoreError> {
    let now = timestamp::now_ms();
    conn.execute(
        "INSERT INTO configurations (id, name, is_default, tls_protocols, http_protocols, created_at, updated_at)
         VALUES (?1, 'Default configuration', 1, '[\"1.2\",\"1.3\"]', '[\"http/1.1\",\"http/2\"]', ?2, ?2)",
        rusqlite::params![id::new_id(), now],
    )?;
    Ok(())
}
