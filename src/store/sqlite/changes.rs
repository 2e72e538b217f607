//! The change log: one row per (revision, kind, id) a commit wrote or deleted. A delta since
//! revision R is the distinct rows logged after R, each read as it is now (present: its
//! record; absent: a removal). The log keeps [`CHANGE_LOG_REVISIONS`]; `meta.changes_floor`
//! is the oldest revision a delta can start from, below it a reader gets the whole state.

use rusqlite::{params, Connection};

use super::records::{self, revision};
use crate::model::{Delta, Kind, Record, RowChange, Update};
use crate::store::{StoreError, CHANGE_LOG_REVISIONS};

/// Prune once per this many revisions (one indexed range delete).
const PRUNE_EVERY: u64 = 256;

/// Log that `revision` wrote or deleted the row (kind, id).
pub fn record(conn: &Connection, revision: u64, kind: Kind, id: &str) -> Result<(), StoreError> {
    let rev = i64::try_from(revision).map_err(|_| StoreError::Corrupt("meta.revision"))?;
    conn.prepare_cached("INSERT OR IGNORE INTO changes (revision, kind, id) VALUES (?1, ?2, ?3)")?
        .execute(params![rev, kind.as_str(), id])?;
    Ok(())
}

/// Drop log entries older than the kept window, in the caller's write transaction.
pub fn prune(conn: &Connection, revision: u64) -> Result<(), StoreError> {
    if revision % PRUNE_EVERY != 0 || revision <= CHANGE_LOG_REVISIONS {
        return Ok(());
    }
    let floor = i64::try_from(revision - CHANGE_LOG_REVISIONS)
        .map_err(|_| StoreError::Corrupt("meta.revision"))?;
    conn.prepare_cached("DELETE FROM changes WHERE revision <= ?1")?
        .execute([floor])?;
    conn.prepare_cached("UPDATE meta SET value = max(value, ?1) WHERE key = 'changes_floor'")?
        .execute([floor])?;
    Ok(())
}

fn floor(conn: &Connection) -> Result<u64, StoreError> {
    let v: i64 = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'changes_floor'")?
        .query_row([], |r| r.get(0))?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt("meta.changes_floor"))
}

/// What changed after `since`, as of the caller's transaction.
pub fn since(conn: &Connection, since: u64) -> Result<Update, StoreError> {
    let now = revision(conn)?;
    if since < floor(conn)? || since > now {
        return Ok(Update::Full(records::load_state(conn)?));
    }
    let from = i64::try_from(since).map_err(|_| StoreError::Corrupt("meta.revision"))?;
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT kind, id FROM changes WHERE revision > ?1 ORDER BY kind, id",
    )?;
    let keys = stmt
        .query_map([from], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::with_capacity(keys.len());
    for (kind, id) in keys {
        let kind = Kind::parse(&kind).ok_or(StoreError::Corrupt("changes.kind"))?;
        rows.push(match current(conn, kind, &id)? {
            Some(record) => RowChange::Put(record),
            None => RowChange::Removed(kind, id),
        });
    }
    Ok(Update::Delta(Delta {
        from: since,
        to: now,
        rows,
    }))
}

/// A row as it is now.
fn current(conn: &Connection, kind: Kind, id: &str) -> Result<Option<Record>, StoreError> {
    use records::*;
    Ok(match kind {
        Kind::MutualAuthentication => {
            mutual_authentications::get(conn, id)?.map(Record::MutualAuthentication)
        }
        Kind::PrivateKey => private_keys::get(conn, id)?.map(Record::PrivateKey),
        Kind::Certificate => certificates::get(conn, id)?.map(Record::Certificate),
        Kind::Configuration => configurations::get(conn, id)?.map(Record::Configuration),
        Kind::Activation => activations::get(conn, id)?.map(Record::Activation),
        Kind::RevocationList => revocation_lists::get(conn, id)?.map(Record::RevocationList),
    })
}
