//! Heartbeats and ticket keys in SQLite: the one-node fleet uses the same mechanism as many.

use rusqlite::{params, Connection, Row};

use crate::model::timestamp::now_ms;
use crate::store::fleet::{
    NodeBeat, Nodes, TicketKey, TicketSecret, NODE_RETENTION_MS, TICKET_KEYS_KEPT,
};
use crate::store::StoreError;

fn to_i64(n: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(what))
}

fn to_u64(n: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(what))
}

pub fn heartbeat(conn: &Connection, b: &NodeBeat) -> Result<(), StoreError> {
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO nodes (id, proxy_listen, admin_listen, applied_revision, started_at, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET proxy_listen = excluded.proxy_listen,
             admin_listen = excluded.admin_listen, applied_revision = excluded.applied_revision,
             started_at = excluded.started_at, last_seen = excluded.last_seen",
    )?
    .execute(params![
        b.id,
        b.proxy_listen,
        b.admin_listen,
        to_i64(b.applied_revision, "nodes.applied_revision")?,
        b.started_at,
        now
    ])?;
    conn.prepare_cached("DELETE FROM nodes WHERE last_seen < ?1")?
        .execute([now.saturating_sub(NODE_RETENTION_MS)])?;
    Ok(())
}

fn node(r: &Row<'_>) -> rusqlite::Result<(NodeBeat, i64)> {
    Ok((
        NodeBeat {
            id: r.get(0)?,
            proxy_listen: r.get(1)?,
            admin_listen: r.get(2)?,
            applied_revision: 0,
            started_at: r.get(4)?,
            last_seen: r.get(5)?,
        },
        r.get(3)?,
    ))
}

pub fn nodes(conn: &Connection) -> Result<Nodes, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, proxy_listen, admin_listen, applied_revision, started_at, last_seen
         FROM nodes ORDER BY id",
    )?;
    let rows = stmt.query_map([], node)?;
    let mut nodes = Vec::new();
    for row in rows {
        let (mut beat, applied) = row?;
        beat.applied_revision = to_u64(applied, "nodes.applied_revision")?;
        nodes.push(beat);
    }
    Ok(Nodes {
        now: now_ms(),
        nodes,
    })
}

fn key(r: &Row<'_>) -> rusqlite::Result<(i64, Vec<u8>, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

pub fn ticket_keys(conn: &Connection) -> Result<Vec<TicketKey>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT generation, secret, created_at, activates_at FROM ticket_keys
         ORDER BY generation DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([to_i64(TICKET_KEYS_KEPT, "ticket_keys")?], key)?;
    let mut keys = Vec::new();
    for row in rows {
        let (generation, secret, created_at, activates_at) = row?;
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| StoreError::Corrupt("ticket_keys.secret"))?;
        keys.push(TicketKey {
            generation: to_u64(generation, "ticket_keys.generation")?,
            secret: TicketSecret(secret),
            created_at,
            activates_at,
        });
    }
    Ok(keys)
}

pub fn add_ticket_key(conn: &Connection, k: &TicketKey) -> Result<bool, StoreError> {
    let generation = to_i64(k.generation, "ticket_keys.generation")?;
    let added =
        conn.prepare_cached(
            "INSERT INTO ticket_keys (generation, secret, created_at, activates_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT(generation) DO NOTHING",
        )?
        .execute(params![
            generation,
            k.secret.0.as_slice(),
            k.created_at,
            k.activates_at
        ])? > 0;
    let kept = to_i64(TICKET_KEYS_KEPT, "ticket_keys")?;
    conn.prepare_cached("DELETE FROM ticket_keys WHERE generation <= ?1")?
        .execute([generation.saturating_sub(kept)])?;
    Ok(added)
}
