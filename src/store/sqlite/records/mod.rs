//! Row-level reads and writes, one submodule per resource table, plus the revision counter.

pub mod activations;
pub mod certificates;
pub mod configurations;
pub mod mutual_authentications;
pub mod private_keys;
pub mod revocation_lists;

use rusqlite::Connection;

use crate::model::{Kind, State};
use crate::store::{Counts, StoreError};

/// The current revision.
pub fn revision(conn: &Connection) -> Result<u64, StoreError> {
    let v: i64 = conn.query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| {
        r.get(0)
    })?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt("meta.revision"))
}

/// Increment the revision inside the caller's transaction and return the new value.
pub fn bump_revision(conn: &Connection) -> Result<u64, StoreError> {
    conn.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'revision'",
        [],
    )?;
    revision(conn)
}

/// Every resource, as of the caller's transaction or snapshot.
pub fn load_state(conn: &Connection) -> Result<State, StoreError> {
    Ok(State {
        revision: revision(conn)?,
        mutual_authentications: mutual_authentications::list(conn)?,
        private_keys: private_keys::list(conn)?,
        certificates: certificates::list(conn)?,
        configurations: configurations::list(conn)?,
        activations: activations::list(conn)?,
        revocation_lists: revocation_lists::list(conn)?,
    })
}

fn count(conn: &Connection, table: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// How many rows each table holds.
pub fn counts(conn: &Connection) -> Result<Counts, StoreError> {
    Ok(Counts {
        mutual_authentications: count(conn, "mutual_authentications")?,
        private_keys: count(conn, "private_keys")?,
        certificates: count(conn, "certificates")?,
        configurations: count(conn, "configurations")?,
        activations: count(conn, "activations")?,
        revocation_lists: count(conn, "revocation_lists")?,
    })
}

/// The table a kind lives in.
pub fn table(kind: Kind) -> &'static str {
    match kind {
        Kind::MutualAuthentication => "mutual_authentications",
        Kind::PrivateKey => "private_keys",
        Kind::Certificate => "certificates",
        Kind::Configuration => "configurations",
        Kind::Activation => "activations",
        Kind::RevocationList => "revocation_lists",
    }
}

/// Delete a row; returns whether it existed.
pub fn delete(conn: &Connection, kind: Kind, id: &str) -> Result<bool, StoreError> {
    let sql = format!("DELETE FROM {} WHERE id = ?1", table(kind));
    Ok(conn.prepare_cached(&sql)?.execute([id])? > 0)
}
