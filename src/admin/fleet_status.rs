//! The store and the fleet as `/status`, `/status/data` and the status page show them: whether
//! the store is reachable (and since when not, and why), this node's revision lag, every node's
//! last heartbeat and lag, and the local cache. Read from what control and the follower last
//! saw: a store that is down never makes these endpoints wait. Nothing secret: the backend is
//! described without its password.

use serde_json::{json, Value};

use super::{handlers, AdminState};
use crate::control::StoreHealth;
use crate::fleet::CacheStatus;
use crate::fleet::Nodes;
use crate::model::timestamp::{format_ms, Millis};

/// Everything shown about the store and the fleet, read once per request.
#[derive(Debug, Clone, Default)]
pub struct FleetStatus {
    pub node_id: String,
    pub backend: String,
    pub health: StoreHealth,
    /// The store's revision: asked now while the store is reachable, else the last seen.
    pub stored_revision: Option<u64>,
    pub applied_revision: u64,
    pub nodes: Option<Nodes>,
    pub stale_after_ms: Millis,
    pub cache: Option<CacheStatus>,
    /// The shared ticket-key generation in use (None: a node-local secret).
    pub ticket_key_generation: Option<u64>,
}

impl FleetStatus {
    /// Read it; asks the store for its revision only while it is known to be reachable.
    pub async fn gather(s: &AdminState) -> FleetStatus {
        let applied_revision = s.publisher.status().applied_revision;
        let stored_revision = match s.control.store_health().reachable {
            Some(false) => None,
            _ => {
                let control = s.control.clone();
                handlers::blocking(move || Ok(control.stored_revision()?))
                    .await
                    .ok()
            }
        };
        let health = s.control.store_health();
        FleetStatus {
            node_id: s.fleet.node_id.clone(),
            backend: s.fleet.backend.clone(),
            stored_revision: stored_revision.or(health.stored_revision),
            health,
            applied_revision,
            nodes: s.fleet.nodes(),
            stale_after_ms: s.fleet.stale_after_ms,
            cache: s.fleet.cache(),
            ticket_key_generation: s.fleet.ticket_key_generation(),
        }
    }

    /// Whether the store is known to be unreachable.
    pub fn store_down(&self) -> bool {
        self.health.reachable == Some(false)
    }

    /// How many revisions the data plane is behind the store (as far as known).
    pub fn revision_lag(&self) -> Option<u64> {
        self.stored_revision
            .map(|stored| stored.saturating_sub(self.applied_revision))
    }

    /// The store's part of the document.
    pub fn store_json(&self) -> Value {
        let h = &self.health;
        json!({
            "backend": self.backend,
            "reachable": h.reachable,
            "last_contact": h.last_contact_ms.map(format_ms),
            "down_since": h.down_since_ms.map(format_ms),
            "error": if self.store_down() { h.error.clone() } else { None },
        })
    }

    /// One row per node: its heartbeat, lag and whether it was seen lately.
    pub fn nodes_json(&self) -> Value {
        let Some(nodes) = &self.nodes else {
            return Value::Null;
        };
        nodes
            .nodes
            .iter()
            .map(|n| {
                let ago = nodes.now.saturating_sub(n.last_seen).max(0);
                json!({
                    "id": n.id,
                    "self": n.id == self.node_id,
                    "proxy_listen": n.proxy_listen,
                    "admin_listen": n.admin_listen,
                    "applied_revision": n.applied_revision,
                    "lag": self.stored_revision.map(|s| s.saturating_sub(n.applied_revision)),
                    "last_seen": format_ms(n.last_seen),
                    "seen_seconds_ago": ago / 1000,
                    "stale": ago > self.stale_after_ms,
                })
            })
            .collect()
    }

    /// The local cache (a shared store only).
    pub fn cache_json(&self) -> Value {
        match &self.cache {
            None => Value::Null,
            Some(c) => json!({
                "path": c.path.display().to_string(),
                "revision": c.revision,
                "written_at": c.written_ms.map(format_ms),
                "error": c.error,
            }),
        }
    }

    /// The fields `/status` and `/status/data` add to the revisions.
    pub fn extend(&self, doc: &mut Value) {
        if let Value::Object(map) = doc {
            map.insert("node".into(), json!(self.node_id));
            map.insert("store".into(), self.store_json());
            map.insert("revision_lag".into(), json!(self.revision_lag()));
            map.insert("nodes".into(), self.nodes_json());
            map.insert("cache".into(), self.cache_json());
            map.insert(
                "ticket_key_generation".into(),
                json!(self.ticket_key_generation),
            );
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::fleet::NodeBeat;

    pub fn status() -> FleetStatus {
        let beat = |id: &str, applied, last_seen| NodeBeat {
            id: id.into(),
            proxy_listen: "10.0.0.1:8443".into(),
            admin_listen: "10.0.0.1:8080".into(),
            applied_revision: applied,
            started_at: 0,
            last_seen,
        };
        FleetStatus {
            node_id: "a".into(),
            backend: "PostgreSQL app@db:5432/proxy".into(),
            health: StoreHealth {
                reachable: Some(false),
                last_contact_ms: Some(1_000),
                down_since_ms: Some(2_000),
                error: Some("the store is unavailable: connection refused".into()),
                stored_revision: Some(9),
            },
            stored_revision: Some(9),
            applied_revision: 7,
            nodes: Some(Nodes {
                now: 60_000,
                nodes: vec![beat("a", 7, 59_000), beat("b", 9, 10_000)],
            }),
            stale_after_ms: 5_000,
            cache: None,
            ticket_key_generation: Some(3),
        }
    }

    #[test]
    fn a_down_store_shows_why_since_when_and_the_lag() {
        let mut doc = json!({});
        status().extend(&mut doc);
        assert_eq!(doc["store"]["reachable"], false);
        assert_eq!(doc["store"]["down_since"], "1970-01-01T00:00:02.000Z");
        assert!(doc["store"]["error"]
            .as_str()
            .unwrap()
            .contains("connection refused"));
        assert_eq!(doc["revision_lag"], 2);
        assert_eq!(doc["nodes"][0]["self"], true);
        assert_eq!(doc["nodes"][0]["lag"], 2);
        assert_eq!(doc["nodes"][0]["stale"], false);
        assert_eq!(doc["nodes"][1]["lag"], 0);
        assert_eq!(doc["nodes"][1]["seen_seconds_ago"], 50);
        assert_eq!(doc["nodes"][1]["stale"], true);
        assert_eq!(doc["cache"], Value::Null);
    }
}
