//! Rows of `activations`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::model::Activation;
use crate::store::{StoreError, Uses};

const COLUMNS: &str = "id, domain, certificate_id, configuration_id, mutual_authentication_id, \
                       created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Activation> {
    Ok(Activation {
        id: r.get(0)?,
        domain: r.get(1)?,
        certificate_id: r.get(2)?,
        configuration_id: r.get(3)?,
        mutual_authentication_id: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

/// All rows, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<Activation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM activations ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One row by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Activation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM activations WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

/// The activation of a domain, if any.
pub fn by_domain(conn: &Connection, domain: &str) -> Result<Option<Activation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM activations WHERE domain = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([domain], from_row)
        .optional()?)
}

fn using_column(used: Uses<'_>) -> (&'static str, &str) {
    match used {
        Uses::Certificate(id) => ("certificate_id", id),
        Uses::MutualAuthentication(id) => ("mutual_authentication_id", id),
        Uses::Configuration(id) => ("configuration_id", id),
    }
}

/// The activations using a resource, oldest first (indexed: O(k)).
pub fn using(conn: &Connection, used: Uses<'_>) -> Result<Vec<Activation>, StoreError> {
    let (column, id) = using_column(used);
    let sql =
        format!("SELECT {COLUMNS} FROM activations WHERE {column} = ?1 ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many activations use a resource.
pub fn count_using(conn: &Connection, used: Uses<'_>) -> Result<u64, StoreError> {
    let (column, id) = using_column(used);
    let sql = format!("SELECT COUNT(*) FROM activations WHERE {column} = ?1");
    let n: i64 = conn.prepare_cached(&sql)?.query_row([id], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Insert a row, or update every mutable column of an existing one.
pub fn put(conn: &Connection, a: &Activation) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO activations (id, domain, certificate_id, configuration_id,
             mutual_authentication_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(id) DO UPDATE SET domain = excluded.domain, certificate_id = excluded.certificate_id, configuration_id = excluded.configuration_id, mutual_authentication_id = excluded.mutual_authentication_id, updated_at = excluded.updated_at",
    )?
    .execute(params![
            a.id,
            a.domain,
            a.certificate_id,
            a.configuration_id,
            a.mutual_authentication_id,
            a.created_at,
            a.updated_at
        ])?;
    Ok(())
}

/// The rows selected by `tail` (`WHERE …`, `ORDER BY …`, `LIMIT …` over `activations`), with `args`.
pub fn select(
    conn: &Connection,
    tail: &str,
    args: &[rusqlite::types::Value],
) -> Result<Vec<Activation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM activations {tail}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
