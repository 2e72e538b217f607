//! Rows of `certificates`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::super::codec::{decode_list, encode_list};
use crate::model::Certificate;
use crate::store::StoreError;

const COLUMNS: &str =
    "id, name, cert_blob, issued_to, issuer, serial_number, signature_algorithm, \
                       not_before, not_after, dns_names, public_key_sha1, created_at, updated_at";

type Raw = (Certificate, String);

fn from_row(r: &Row<'_>) -> rusqlite::Result<Raw> {
    let cert = Certificate {
        id: r.get(0)?,
        name: r.get(1)?,
        cert_blob: r.get(2)?,
        issued_to: r.get(3)?,
        issuer: r.get(4)?,
        serial_number: r.get(5)?,
        signature_algorithm: r.get(6)?,
        not_before: r.get(7)?,
        not_after: r.get(8)?,
        dns_names: Vec::new(),
        public_key_sha1: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    };
    Ok((cert, r.get(9)?))
}

fn finish((mut cert, names): Raw) -> Result<Certificate, StoreError> {
    cert.dns_names = decode_list(&names, "certificates.dns_names")?;
    Ok(cert)
}

/// All rows, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<Certificate>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM certificates ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| finish(r?)).collect()
}

/// One row by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Certificate>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM certificates WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?
        .map(finish)
        .transpose()
}

/// How many certificates have the key with this public-key SHA-1.
pub fn count_with_key(conn: &Connection, sha1: &str) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM certificates WHERE public_key_sha1 = ?1")?
        .query_row([sha1], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The certificates whose SANs list `domain` exactly, oldest first.
pub fn naming(conn: &Connection, domain: &str) -> Result<Vec<Certificate>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM certificates WHERE id IN
             (SELECT certificate_id FROM certificate_domains WHERE domain = ?1)
         ORDER BY created_at, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([domain], from_row)?;
    rows.map(|r| finish(r?)).collect()
}

/// Keep the SAN index of a certificate in step with its row.
fn index_domains(conn: &Connection, c: &Certificate) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM certificate_domains WHERE certificate_id = ?1")?
        .execute([&c.id])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO certificate_domains (certificate_id, domain) VALUES (?1, ?2)",
    )?;
    for name in &c.dns_names {
        insert.execute(params![c.id, name])?;
    }
    Ok(())
}

/// Insert a row, or update every mutable column of an existing one.
pub fn put(conn: &Connection, c: &Certificate) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO certificates (id, name, cert_blob, issued_to, issuer, serial_number,
             signature_algorithm, not_before, not_after, dns_names, public_key_sha1, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, cert_blob = excluded.cert_blob, issued_to = excluded.issued_to, issuer = excluded.issuer, serial_number = excluded.serial_number, signature_algorithm = excluded.signature_algorithm, not_before = excluded.not_before, not_after = excluded.not_after, dns_names = excluded.dns_names, public_key_sha1 = excluded.public_key_sha1, updated_at = excluded.updated_at",
    )?
    .execute(params![
            c.id,
            c.name,
            c.cert_blob,
            c.issued_to,
            c.issuer,
            c.serial_number,
            c.signature_algorithm,
            c.not_before,
            c.not_after,
            encode_list(&c.dns_names),
            c.public_key_sha1,
            c.created_at,
            c.updated_at
        ])?;
    index_domains(conn, c)
}

/// The rows selected by `tail` (`WHERE …`, `ORDER BY …`, `LIMIT …` over `certificates`), with `args`.
pub fn select(
    conn: &Connection,
    tail: &str,
    args: &[rusqlite::types::Value],
) -> Result<Vec<Certificate>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM certificates {tail}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), from_row)?;
    rows.map(|r| finish(r?)).collect()
}
