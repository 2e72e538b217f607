//! Rows of `mutual_authentications`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::model::MutualAuthentication;
use crate::store::StoreError;

const COLUMNS: &str = "id, name, enforced, cert_bundle, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<MutualAuthentication> {
    Ok(MutualAuthentication {
        id: r.get(0)?,
        name: r.get(1)?,
        enforced: r.get(2)?,
        cert_bundle: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

/// All rows, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<MutualAuthentication>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM mutual_authentications ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One row by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<MutualAuthentication>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM mutual_authentications WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

/// Insert or replace a row (create and update both write the whole record).
pub fn put(conn: &Connection, m: &MutualAuthentication) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO mutual_authentications (id, name, enforced, cert_bundle, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, enforced = excluded.enforced, cert_bundle = excluded.cert_bundle, updated_at = excluded.updated_at",
    )?
    .execute(params![m.id, m.name, m.enforced, m.cert_bundle, m.created_at, m.updated_at])?;
    Ok(())
}

/// The rows selected by `tail` (`WHERE …`, `ORDER BY …`, `LIMIT …` over `mutual_authentications`), with `args`.
pub fn select(
    conn: &Connection,
    tail: &str,
    args: &[rusqlite::types::Value],
) -> Result<Vec<MutualAuthentication>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM mutual_authentications {tail}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
