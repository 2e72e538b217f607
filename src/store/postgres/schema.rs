//! Versioned schema migrations in PostgreSQL, recorded in `mtls_proxy_schema` (one row per
//! applied version, with when). Nodes starting together migrate one at a time under a
//! transaction-scoped advisory lock; each version is applied in its own transaction with its
//! row, so a failed step leaves the previous version intact. A database migrated by a newer
//! binary is refused (never downgraded).
//!
//! Text columns that lists sort on (ids, domains) use the "C" collation: byte order, as SQLite
//! sorts, whatever the database's locale.

use super::session::{params, Begin, Session};
use super::PgStore;
use crate::model::{id, timestamp};
use crate::store::StoreError;

/// Any 64-bit key of our own: serialises migrations between nodes.
const MIGRATION_LOCK: i64 = 0x6d74_6c73_7072_7879; // "mtlsprxy"

/// Each entry migrates from version `index` to `index + 1`. Append only; never edit a shipped one.
/// Migrations only add (tables, columns with defaults, indexes): nodes of the previous version
/// keep running against a migrated schema during a rolling upgrade.
///
/// Version 2 adds `revocation_lists` (our extension: CRLs per mutual authentication). Its
/// reference to the mutual authentication does not cascade: control deletes a mutual
/// authentication's lists one by one first, so that every deletion is in the change log.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('revision', 0), ('changes_floor', 0);
CREATE TABLE mutual_authentications (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    enforced    BOOLEAN NOT NULL,
    cert_bundle TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX mutual_authentications_listed ON mutual_authentications (created_at, id);
CREATE TABLE private_keys (
    id              TEXT COLLATE "C" PRIMARY KEY,
    name            TEXT NOT NULL,
    key_pem         TEXT NOT NULL,
    key_type        TEXT NOT NULL,
    key_length      BIGINT NOT NULL,
    public_key_sha1 TEXT NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL
);
CREATE INDEX private_keys_listed ON private_keys (created_at, id);
CREATE TABLE certificates (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    name                TEXT NOT NULL,
    cert_blob           TEXT NOT NULL,
    issued_to           TEXT NOT NULL,
    issuer              TEXT NOT NULL,
    serial_number       TEXT NOT NULL,
    signature_algorithm TEXT NOT NULL,
    not_before          BIGINT NOT NULL,
    not_after           BIGINT NOT NULL,
    dns_names           TEXT NOT NULL,
    public_key_sha1     TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX certificates_listed ON certificates (created_at, id);
CREATE INDEX certificates_public_key ON certificates (public_key_sha1);
CREATE TABLE certificate_domains (
    domain         TEXT COLLATE "C" NOT NULL,
    certificate_id TEXT COLLATE "C" NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
    PRIMARY KEY (domain, certificate_id)
);
CREATE INDEX certificate_domains_certificate ON certificate_domains (certificate_id);
CREATE TABLE configurations (
    id             TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT NOT NULL,
    is_default     BOOLEAN NOT NULL,
    tls_protocols  TEXT NOT NULL,
    http_protocols TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE TABLE activations (
    id                       TEXT COLLATE "C" PRIMARY KEY,
    domain                   TEXT COLLATE "C" NOT NULL UNIQUE,
    certificate_id           TEXT COLLATE "C" NOT NULL REFERENCES certificates(id),
    configuration_id         TEXT COLLATE "C" NOT NULL REFERENCES configurations(id),
    mutual_authentication_id TEXT COLLATE "C" REFERENCES mutual_authentications(id),
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);
CREATE INDEX activations_listed ON activations (created_at, id);
CREATE INDEX activations_certificate ON activations (certificate_id);
CREATE INDEX activations_configuration ON activations (configuration_id);
CREATE INDEX activations_mutual_authentication ON activations (mutual_authentication_id);
CREATE TABLE changes (
    revision BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    id       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (revision, kind, id)
);
CREATE TABLE nodes (
    id               TEXT COLLATE "C" PRIMARY KEY,
    proxy_listen     TEXT NOT NULL,
    admin_listen     TEXT NOT NULL,
    applied_revision BIGINT NOT NULL,
    started_at       BIGINT NOT NULL,
    last_seen        BIGINT NOT NULL
);
CREATE TABLE ticket_keys (
    generation   BIGINT PRIMARY KEY,
    secret       BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL
);
-- Resources the built-in demo created: their keys and client CA are public, so `serve`
-- refuses a non-loopback proxy listener while any of them still exists.
CREATE TABLE demo_resources (
    kind TEXT COLLATE "C" NOT NULL,
    id   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, id)
);
"#,
    r#"
CREATE TABLE revocation_lists (
    id                       TEXT COLLATE "C" PRIMARY KEY,
    mutual_authentication_id TEXT COLLATE "C" NOT NULL REFERENCES mutual_authentications(id),
    name                     TEXT NOT NULL,
    url                      TEXT,
    crl_pem                  TEXT NOT NULL,
    issuer                   TEXT NOT NULL,
    this_update              BIGINT NOT NULL,
    next_update              BIGINT NOT NULL,
    crl_number               TEXT NOT NULL,
    revoked_count            BIGINT NOT NULL,
    last_fetch_error         TEXT,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);
CREATE INDEX revocation_lists_listed ON revocation_lists (created_at, id);
CREATE INDEX revocation_lists_mutual_authentication
    ON revocation_lists (mutual_authentication_id, created_at, id);
"#,
];

/// The schema version this binary writes.
pub fn latest() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Bring the database to the latest schema.
pub fn migrate(store: &PgStore) -> Result<(), StoreError> {
    migrate_to(store, MIGRATIONS.len())
}

/// Bring the database to schema version `target` (tests start from older versions).
pub fn migrate_to(store: &PgStore, target: usize) -> Result<(), StoreError> {
    for (step, sql) in (0_i64..).zip(MIGRATIONS.iter()).take(target) {
        // Dropped unfinished: rolled back.
        let s = store.raw_session(Begin::Write)?;
        s.execute("SELECT pg_advisory_xact_lock($1)", params![MIGRATION_LOCK])?;
        // `IF NOT EXISTS` on an existing table is a NOTICE, which the client logs at info on
        // every start ("relation … already exists, skipping"): noise in the operator's log. For
        // this transaction only, the server sends warnings and above.
        s.batch("SET LOCAL client_min_messages = warning")?;
        s.batch(
            "CREATE TABLE IF NOT EXISTS mtls_proxy_schema (
                 version    BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )?;
        let found: i64 = s
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM mtls_proxy_schema",
                params![],
            )?
            .try_get(0)?;
        if found > latest() {
            return Err(StoreError::TooNew {
                found,
                known: latest(),
            });
        }
        if found > step {
            continue;
        }
        s.batch(sql)?;
        if step == 0 {
            insert_default_configuration(&s)?;
        }
        s.execute(
            "INSERT INTO mtls_proxy_schema (version) VALUES ($1)",
            params![step + 1],
        )?;
        s.finish("COMMIT")?;
    }
    Ok(())
}

/// The schema version the database is at (0 before the first migration).
pub fn version(store: &PgStore) -> Result<i64, StoreError> {
    let s = store.raw_session(Begin::Autocommit)?;
    let exists: bool = s
        .query_one(
            "SELECT to_regclass('mtls_proxy_schema') IS NOT NULL",
            params![],
        )?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    Ok(s.query_one(
        "SELECT COALESCE(MAX(version), 0) FROM mtls_proxy_schema",
        params![],
    )?
    .try_get(0)?)
}

/// The one `default: true` configuration activations use when they name none.
fn insert_default_configuration(s: &Session) -> Result<(), StoreError> {
    let now = timestamp::now_ms();
    s.execute(
        "INSERT INTO configurations (id, name, is_default, tls_protocols, http_protocols, created_at, updated_at)
         VALUES ($1, 'Default configuration', TRUE, '[\"1.2\",\"1.3\"]', '[\"http/1.1\",\"http/2\"]', $2, $2)",
        params![id::new_id(), now],
    )?;
    Ok(())
}
