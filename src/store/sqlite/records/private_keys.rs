//! Rows of `private_keys`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::model::PrivateKey;
use crate::store::StoreError;

const COLUMNS: &str = "id, name, key_pem, key_type, key_length, public_key_sha1, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PrivateKey> {
    Ok(PrivateKey {
        id: r.get(0)?,
        name: r.get(1)?,
        key_pem: r.get(2)?,
        key_type: r.get(3)?,
        key_length: r.get(4)?,
        public_key_sha1: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// All rows, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<PrivateKey>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM private_keys ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One row by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<PrivateKey>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM private_keys WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

/// The key with this public-key SHA-1, if uploaded.
pub fn by_public_key(conn: &Connection, sha1: &str) -> Result<Option<PrivateKey>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM private_keys WHERE public_key_sha1 = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([sha1], from_row)
        .optional()?)
}

/// Insert a row, or update every column but `created_at` of an existing one.
pub fn put(conn: &Connection, k: &PrivateKey) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO private_keys (id, name, key_pem, key_type, key_length, public_key_sha1, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, key_pem = excluded.key_pem, key_type = excluded.key_type, key_length = excluded.key_length, public_key_sha1 = excluded.public_key_sha1",
    )?
    .execute(params![k.id, k.name, k.key_pem, k.key_type, k.key_length, k.public_key_sha1, k.created_at])?;
    Ok(())
}

/// The rows selected by `tail` (`WHERE …`, `ORDER BY …`, `LIMIT …` over `private_keys`), with `args`.
pub fn select(
    conn: &Connection,
    tail: &str,
    args: &[rusqlite::types::Value],
) -> Result<Vec<PrivateKey>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM private_keys {tail}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
