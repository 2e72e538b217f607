//! Fleet bookkeeping every backend keeps beside the resources but outside their revisions: node
//! heartbeats and the shared session-ticket keys. Neither is a resource: writing one bumps no
//! revision and logs no change, so a heartbeat every second never wakes a follower.

use crate::model::timestamp::Millis;

use super::StoreError;

/// How many ticket-key generations a store keeps: the pending next one, the current one and
/// the previous one (still accepted for a grace period).
pub const TICKET_KEYS_KEPT: u64 = 3;

/// A node not seen for this long is forgotten (the list stays bounded).
pub const NODE_RETENTION_MS: Millis = 24 * 60 * 60 * 1000;

/// One node's last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    /// The node's id (`[store] node_id`, unique in the fleet).
    pub id: String,
    /// Where its TLS listener listens.
    pub proxy_listen: String,
    /// Where its admin listener listens.
    pub admin_listen: String,
    /// The store revision its data plane serves.
    pub applied_revision: u64,
    /// When the node started (its clock).
    pub started_at: Millis,
    /// When the store last heard from it, by the store's clock (set by the store on write).
    pub last_seen: Millis,
}

/// The heartbeats of every node, and the store's clock to age them by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes {
    pub now: Millis,
    /// Ordered by id.
    pub nodes: Vec<NodeBeat>,
}

/// A session-ticket key secret. Its `Debug` never shows the bytes, so it cannot reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketSecret(pub [u8; 32]);

impl std::fmt::Debug for TicketSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketSecret(..)")
    }
}

/// One generation of the shared session-ticket key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketKey {
    /// 1, 2, 3…: each rotation adds the next.
    pub generation: u64,
    pub secret: TicketSecret,
    pub created_at: Millis,
    /// From when nodes issue tickets under it (a little after its creation, so every node
    /// already holds it when the first ticket under it arrives).
    pub activates_at: Millis,
}

/// Node heartbeats and ticket keys. Each call is its own short transaction.
pub trait Fleet {
    /// Record a node's heartbeat (insert or replace; `last_seen` is the store's now), and
    /// forget nodes not seen for [`NODE_RETENTION_MS`].
    fn heartbeat(&self, beat: &NodeBeat) -> Result<(), StoreError>;

    /// Every node's last heartbeat.
    fn nodes(&self) -> Result<Nodes, StoreError>;

    /// The kept ticket-key generations, newest first.
    fn ticket_keys(&self) -> Result<Vec<TicketKey>, StoreError>;

    /// Add `key` unless its generation exists already (another node rotated first: then
    /// false), and drop the generations more than [`TICKET_KEYS_KEPT`] behind it.
    fn add_ticket_key(&self, key: &TicketKey) -> Result<bool, StoreError>;
}
