//! Rows of `configurations`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::super::codec::{decode_list, encode_list};
use crate::model::Configuration;
use crate::store::StoreError;

const COLUMNS: &str = "id, name, is_default, tls_protocols, http_protocols, created_at, updated_at";

type Raw = (Configuration, String, String);

fn from_row(r: &Row<'_>) -> rusqlite::Result<Raw> {
    let c = Configuration {
        id: r.get(0)?,
        name: r.get(1)?,
        default: r.get(2)?,
        tls_protocols: Vec::new(),
        http_protocols: Vec::new(),
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    };
    Ok((c, r.get(3)?, r.get(4)?))
}

fn finish((mut c, tls, http): Raw) -> Result<Configuration, StoreError> {
    c.tls_protocols = decode_list(&tls, "configurations.tls_protocols")?;
    c.http_protocols = decode_list(&http, "configurations.http_protocols")?;
    Ok(c)
}

/// All rows, the default first, then oldest first.
pub fn list(conn: &Connection) -> Result<Vec<Configuration>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM configurations ORDER BY is_default DESC, created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| finish(r?)).collect()
}

/// One row by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Configuration>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM configurations WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?
        .map(finish)
        .transpose()
}

/// The default configuration.
pub fn default(conn: &Connection) -> Result<Configuration, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM configurations WHERE is_default = 1 ORDER BY id LIMIT 1");
    conn.prepare_cached(&sql)?
        .query_row([], from_row)
        .optional()?
        .map(finish)
        .transpose()?
        .ok_or(StoreError::Corrupt("configurations (no default)"))
}

/// Insert a row, or update every mutable column of an existing one.
pub fn put(conn: &Connection, c: &Configuration) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO configurations (id, name, is_default, tls_protocols, http_protocols, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, is_default = excluded.is_default, tls_protocols = excluded.tls_protocols, http_protocols = excluded.http_protocols, updated_at = excluded.updated_at",
    )?
    .execute(params![
            c.id,
            c.name,
            c.default,
            encode_list(&c.tls_protocols),
            encode_list(&c.http_protocols),
            c.created_at,
            c.updated_at
        ])?;
    Ok(())
}

/// The rows selected by `tail` (`WHERE …`, `ORDER BY …`, `LIMIT …` over `configurations`), with `args`.
pub fn select(
    conn: &Connection,
    tail: &str,
    args: &[rusqlite::types::Value],
) -> Result<Vec<Configuration>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM configurations {tail}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), from_row)?;
    rows.map(|r| finish(r?)).collect()
}
