//! Demo marks in SQLite: the `demo_resources` table.

use rusqlite::{params, Connection};

use crate::store::{DemoKind, StoreError};

/// Marked resources that still exist, whatever their kind.
const PRESENT: &str = "
SELECT d.kind, d.id FROM demo_resources d WHERE
     (d.kind = 'private_key' AND d.id IN (SELECT id FROM private_keys))
  OR (d.kind = 'certificate' AND d.id IN (SELECT id FROM certificates))
  OR (d.kind = 'mutual_authentication' AND d.id IN (SELECT id FROM mutual_authentications))
  OR (d.kind = 'activation' AND d.id IN (SELECT id FROM activations))
ORDER BY d.kind, d.id";

/// Mark the resource `id` of `kind` as created by the demo.
pub fn mark(conn: &Connection, kind: DemoKind, id: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO demo_resources (kind, id) VALUES (?1, ?2)",
        params![kind.as_str(), id],
    )?;
    Ok(())
}

/// The demo resources still stored, as (kind, id).
pub fn present(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(PRESENT)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
