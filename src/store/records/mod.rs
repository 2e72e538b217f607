//! Row-level reads and writes, one submodule per resource table, plus the revision counter.

pub mod activations;
pub mod certificates;
pub mod configurations;
pub mod mutual_authentications;
pub mod private_keys;
pub mod revocation_lists;

use rusqlite::Connection;

use super::StoreError;
use crate::model::State;

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
