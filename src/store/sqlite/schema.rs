//! Versioned schema migrations, tracked in SQLite's `user_version`.

use rusqlite::Connection;

use crate::model::{id, timestamp};
use crate::store::StoreError;

/// Each entry migrates from version `index` to `index + 1`. Append only; never edit a shipped one.
///
/// Version 2 records which resources the built-in demo created (`demo_resources`).
///
/// Version 3 adds the change log (`changes`: which rows each revision wrote or deleted, so a
/// reader asks "what changed since R" and reads only those rows; `meta.changes_floor` is the
/// oldest revision a delta can start from), the SAN index `certificate_domains`, and the
/// indexes that make every change and list query touch only the rows it needs.
///
/// Version 4 adds the fleet's bookkeeping, outside the revisions: `nodes` (heartbeats) and
/// `ticket_keys` (the session-ticket key generations).
///
/// Version 5 adds `revocation_lists` (our extension: CRLs per mutual authentication). Its
/// reference to the mutual authentication does not cascade: control deletes a mutual
/// authentication's lists one by one first, so that every deletion is in the change log.
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
CREATE TABLE changes (
    revision INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    id       TEXT NOT NULL,
    PRIMARY KEY (revision, kind, id)
) WITHOUT ROWID;
INSERT INTO meta (key, value) SELECT 'changes_floor', value FROM meta WHERE key = 'revision';
CREATE TABLE certificate_domains (
    domain         TEXT NOT NULL,
    certificate_id TEXT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
    PRIMARY KEY (domain, certificate_id)
) WITHOUT ROWID;
CREATE INDEX certificate_domains_certificate ON certificate_domains (certificate_id);
INSERT OR IGNORE INTO certificate_domains (domain, certificate_id)
    SELECT j.value, c.id FROM certificates c, json_each(c.dns_names) j;
CREATE INDEX activations_listed ON activations (created_at, id);
CREATE INDEX activations_certificate ON activations (certificate_id);
CREATE INDEX activations_configuration ON activations (configuration_id);
CREATE INDEX activations_mutual_authentication ON activations (mutual_authentication_id);
CREATE INDEX certificates_listed ON certificates (created_at, id);
CREATE INDEX certificates_public_key ON certificates (public_key_sha1);
CREATE INDEX private_keys_listed ON private_keys (created_at, id);
CREATE INDEX mutual_authentications_listed ON mutual_authentications (created_at, id);
"#,
    r#"
CREATE TABLE nodes (
    id               TEXT PRIMARY KEY,
    proxy_listen     TEXT NOT NULL,
    admin_listen     TEXT NOT NULL,
    applied_revision INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL
);
CREATE TABLE ticket_keys (
    generation   INTEGER PRIMARY KEY,
    secret       BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    activates_at INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE revocation_lists (
    id                       TEXT PRIMARY KEY,
    mutual_authentication_id TEXT NOT NULL REFERENCES mutual_authentications(id),
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
CREATE INDEX revocation_lists_listed ON revocation_lists (created_at, id);
CREATE INDEX revocation_lists_mutual_authentication
    ON revocation_lists (mutual_authentication_id, created_at, id);
"#,
];

/// Bring the database to the latest schema, one transaction per step.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Bring the database to schema version `target` (tests start from older versions).
pub fn migrate_to(conn: &mut Connection, target: usize) -> Result<(), StoreError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    // A negative user_version is not ours: start from scratch would clobber it, so refuse.
    let done = usize::try_from(found).map_err(|_| StoreError::Corrupt("user_version"))?;
    for (step, sql) in (0_i64..).zip(MIGRATIONS.iter()).take(target).skip(done) {
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
