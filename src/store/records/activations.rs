//! Rows of `activations`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::model::Activation;
use crate::store::StoreError;

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
    Ok(conn.query_row(&sql, [id], from_row).optional()?)
}

/// The activation of a domain, if any.
pub fn by_domain(conn: &Connection, domain: &str) -> Result<Option<Activation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM activations WHERE domain = ?1");
    Ok(conn.query_row(&sql, [domain], from_row).optional()?)
}

/// How many activations reference a column value (`certificate_id`, `mutual_authentication_id`).
pub fn count_referencing(
    conn: &Connection,
    column: Reference,
    id: &str,
) -> Result<u64, StoreError> {
    let sql = match column {
        Reference::Certificate => "SELECT COUNT(*) FROM activations WHERE certificate_id = ?1",
        Reference::MutualAuthentication => {
            "SELECT COUNT(*) FROM activations WHERE mutual_authentication_id = ?1"
        }
    };
    let n: i64 = conn.query_row(sql, [id], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Which reference `count_referencing` counts.
#[derive(Debug, Clone, Copy)]
pub enum Reference {
    Certificate,
    MutualAuthentication,
}

/// Insert a row, or update every mutable column of an existing one.
pub fn put(conn: &Connection, a: &Activation) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO activations (id, domain, certificate_id, configuration_id,
             mutual_authentication_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(id) DO UPDATE SET domain = excluded.domain, certificate_id = excluded.certificate_id, configuration_id = excluded.configuration_id, mutual_authentication_id = excluded.mutual_authentication_id, updated_at = excluded.updated_at",
        params![
            a.id,
            a.domain,
            a.certificate_id,
            a.configuration_id,
            a.mutual_authentication_id,
            a.created_at,
            a.updated_at
        ],
    )?;
    Ok(())
}

/// Delete a row; returns whether it existed.
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM activations WHERE id = ?1", [id])? > 0)
}
