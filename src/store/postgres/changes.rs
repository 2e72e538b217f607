//! The change log in PostgreSQL: one row per (revision, kind, id) a commit wrote or deleted,
//! kept for [`CHANGE_LOG_REVISIONS`]; `meta.changes_floor` is the oldest revision a delta can
//! start from. The same semantics as SQLite's (the conformance suite holds both to them).

use super::records::{self, revision, to_i64};
use super::session::{params, Session};
use crate::model::{Delta, Kind, RowChange, Update};
use crate::store::{StoreError, CHANGE_LOG_REVISIONS};

/// Prune once per this many revisions (one indexed range delete).
const PRUNE_EVERY: u64 = 256;

/// Log that `revision` wrote or deleted the row (kind, id).
pub fn record(s: &Session, revision: u64, kind: Kind, id: &str) -> Result<(), StoreError> {
    s.execute(
        "INSERT INTO changes (revision, kind, id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        params![
            to_i64(revision, "meta.revision")?,
            kind.as_str().to_string(),
            id.to_string()
        ],
    )?;
    Ok(())
}

/// Drop log entries older than the kept window, in the caller's write transaction.
pub fn prune(s: &Session, revision: u64) -> Result<(), StoreError> {
    if revision % PRUNE_EVERY != 0 || revision <= CHANGE_LOG_REVISIONS {
        return Ok(());
    }
    let floor = to_i64(revision - CHANGE_LOG_REVISIONS, "meta.revision")?;
    s.execute("DELETE FROM changes WHERE revision <= $1", params![floor])?;
    s.execute(
        "UPDATE meta SET value = GREATEST(value, $1) WHERE key = 'changes_floor'",
        params![floor],
    )?;
    Ok(())
}

fn floor(s: &Session) -> Result<u64, StoreError> {
    let v: i64 = s
        .query_one(
            "SELECT value FROM meta WHERE key = 'changes_floor'",
            params![],
        )?
        .try_get(0)?;
    records::to_u64(v, "meta.changes_floor")
}

/// What changed after `since`, as of the session's transaction.
pub fn since(s: &Session, since: u64) -> Result<Update, StoreError> {
    let now = revision(s)?;
    if since < floor(s)? || since > now {
        return Ok(Update::Full(records::load_state(s)?));
    }
    let keys = s.query(
        "SELECT DISTINCT kind, id FROM changes WHERE revision > $1 ORDER BY kind, id",
        params![to_i64(since, "meta.revision")?],
    )?;
    let mut rows = Vec::with_capacity(keys.len());
    for key in keys {
        let kind: String = key.try_get(0)?;
        let id: String = key.try_get(1)?;
        let kind = Kind::parse(&kind).ok_or(StoreError::Corrupt("changes.kind"))?;
        rows.push(match records::current(s, kind, &id)? {
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
