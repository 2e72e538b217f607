//! Heartbeats and ticket keys in PostgreSQL. Times are the server's clock, so nodes with
//! skewed clocks still agree on who was seen when.

use super::records::{to_i64, to_u64};
use super::session::{params, Session};
use crate::store::fleet::{
    NodeBeat, Nodes, TicketKey, TicketSecret, NODE_RETENTION_MS, TICKET_KEYS_KEPT,
};
use crate::store::StoreError;

/// The server's now, in Unix milliseconds.
const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

pub fn heartbeat(s: &Session, b: &NodeBeat) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO nodes (id, proxy_listen, admin_listen, applied_revision, started_at, last_seen)
         VALUES ($1, $2, $3, $4, $5, {NOW_MS})
         ON CONFLICT (id) DO UPDATE SET proxy_listen = excluded.proxy_listen,
             admin_listen = excluded.admin_listen, applied_revision = excluded.applied_revision,
             started_at = excluded.started_at, last_seen = excluded.last_seen"
    );
    s.execute(
        &sql,
        params![
            b.id.clone(),
            b.proxy_listen.clone(),
            b.admin_listen.clone(),
            to_i64(b.applied_revision, "nodes.applied_revision")?,
            b.started_at
        ],
    )?;
    s.execute(
        &format!("DELETE FROM nodes WHERE last_seen < {NOW_MS} - $1"),
        params![NODE_RETENTION_MS],
    )?;
    Ok(())
}

pub fn nodes(s: &Session) -> Result<Nodes, StoreError> {
    let now: i64 = s
        .query_one(&format!("SELECT {NOW_MS}"), params![])?
        .try_get(0)?;
    let rows = s.query(
        "SELECT id, proxy_listen, admin_listen, applied_revision, started_at, last_seen
         FROM nodes ORDER BY id",
        params![],
    )?;
    let mut nodes = Vec::with_capacity(rows.len());
    for r in rows {
        let applied: i64 = r.try_get(3)?;
        nodes.push(NodeBeat {
            id: r.try_get(0)?,
            proxy_listen: r.try_get(1)?,
            admin_listen: r.try_get(2)?,
            applied_revision: to_u64(applied, "nodes.applied_revision")?,
            started_at: r.try_get(4)?,
            last_seen: r.try_get(5)?,
        });
    }
    Ok(Nodes { now, nodes })
}

pub fn ticket_keys(s: &Session) -> Result<Vec<TicketKey>, StoreError> {
    let rows = s.query(
        "SELECT generation, secret, created_at, activates_at FROM ticket_keys
         ORDER BY generation DESC LIMIT $1",
        params![to_i64(TICKET_KEYS_KEPT, "ticket_keys")?],
    )?;
    let mut keys = Vec::with_capacity(rows.len());
    for r in rows {
        let generation: i64 = r.try_get(0)?;
        let secret: Vec<u8> = r.try_get(1)?;
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| StoreError::Corrupt("ticket_keys.secret"))?;
        keys.push(TicketKey {
            generation: to_u64(generation, "ticket_keys.generation")?,
            secret: TicketSecret(secret),
            created_at: r.try_get(2)?,
            activates_at: r.try_get(3)?,
        });
    }
    Ok(keys)
}

pub fn add_ticket_key(s: &Session, k: &TicketKey) -> Result<bool, StoreError> {
    let generation = to_i64(k.generation, "ticket_keys.generation")?;
    let added = s.execute(
        "INSERT INTO ticket_keys (generation, secret, created_at, activates_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (generation) DO NOTHING",
        params![
            generation,
            k.secret.0.to_vec(),
            k.created_at,
            k.activates_at
        ],
    )? > 0;
    let kept = to_i64(TICKET_KEYS_KEPT, "ticket_keys")?;
    s.execute(
        "DELETE FROM ticket_keys WHERE generation <= $1",
        params![generation.saturating_sub(kept)],
    )?;
    Ok(added)
}
