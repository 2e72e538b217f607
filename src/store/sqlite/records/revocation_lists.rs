//! Rows of `revocation_lists`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::model::RevocationList;
use crate::store::StoreError;

const COLUMNS: &str = "id, mutual_authentication_id, name, url, crl_pem, issuer, this_update, \
                       next_update, crl_number, revoked_count, last_fetch_error, created_at, \
                       updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(RevocationList, i64)> {
    let list = RevocationList {
        id: r.get(0)?,
        mutual_authentication_id: r.get(1)?,
        name: r.get(2)?,
        url: r.get(3)?,
        crl_pem: r.get(4)?,
        issuer: r.get(5)?,
        this_update: r.get(6)?,
        next_update: r.get(7)?,
        crl_number: r.get(8)?,
        revoked_count: 0,
        last_fetch_error: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    };
    Ok((list, r.get(9)?))
}

fn finish((mut list, count): (RevocationList, i64)) -> Result<RevocationList, StoreError> {
    list.revoked_count =
        u64::try_from(count).map_err(|_| StoreError::Corrupt("revocation_lists.revoked_count"))?;
    Ok(list)
}

/// The rows selected by `tail` (`WHERE …`, `ORDER BY …`, `LIMIT …` over `revocation_lists`),
/// with `args`.
pub fn select(
    conn: &Connection,
    tail: &str,
    args: &[rusqlite::types::Value],
) -> Result<Vec<RevocationList>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM revocation_lists {tail}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), from_row)?;
    rows.map(|r| finish(r?)).collect()
}

/// All rows, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<RevocationList>, StoreError> {
    select(conn, "ORDER BY created_at, id", &[])
}

/// One row by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<RevocationList>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM revocation_lists WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?
        .map(finish)
        .transpose()
}

/// The lists of one mutual authentication, oldest first (indexed: O(lists of it)).
pub fn of_mutual_authentication(
    conn: &Connection,
    mutual_authentication_id: &str,
) -> Result<Vec<RevocationList>, StoreError> {
    let args = [rusqlite::types::Value::Text(
        mutual_authentication_id.to_string(),
    )];
    select(
        conn,
        "WHERE mutual_authentication_id = ?1 ORDER BY created_at, id",
        &args,
    )
}

/// Insert a row, or update every mutable column of an existing one (the mutual authentication
/// stays).
pub fn put(conn: &Connection, l: &RevocationList) -> Result<(), StoreError> {
    let count = i64::try_from(l.revoked_count)
        .map_err(|_| StoreError::Corrupt("revocation_lists.revoked_count"))?;
    conn.prepare_cached(
        "INSERT INTO revocation_lists (id, mutual_authentication_id, name, url, crl_pem, issuer,
             this_update, next_update, crl_number, revoked_count, last_fetch_error, created_at,
             updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, url = excluded.url, crl_pem = excluded.crl_pem, issuer = excluded.issuer, this_update = excluded.this_update, next_update = excluded.next_update, crl_number = excluded.crl_number, revoked_count = excluded.revoked_count, last_fetch_error = excluded.last_fetch_error, updated_at = excluded.updated_at",
    )?
    .execute(params![
        l.id,
        l.mutual_authentication_id,
        l.name,
        l.url,
        l.crl_pem,
        l.issuer,
        l.this_update,
        l.next_update,
        l.crl_number,
        count,
        l.last_fetch_error,
        l.created_at,
        l.updated_at
    ])?;
    Ok(())
}
