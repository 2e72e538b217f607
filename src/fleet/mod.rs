//! Keeps a node in step with its store, whoever else writes to it: follows the store's
//! revisions (change notifications, and a poll every `[store] poll_interval` as the fallback)
//! and applies them through control's catch-up path; heartbeats into the store and keeps the
//! fleet's list for the status page; rotates the shared session-ticket secret; and, with a
//! shared store, keeps the node's local cache. Nothing here is on the data path: with the store
//! unreachable each step fails, is retried on the next tick, and the data plane keeps serving
//! its last good snapshot.

pub mod cache;
pub mod tickets;
pub mod writer;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::control::{Control, ControlError};
use crate::metrics::Metrics;
use crate::model::timestamp::{now_ms, Millis};
use crate::model::Update;
use crate::shutdown::stopped;
use crate::snapshot::tickets::TicketKeys;
use crate::store::Store;

pub use crate::store::{NodeBeat, Nodes};
pub use cache::{Cache, CacheError, CacheStatus};
pub use writer::CacheWriter;

/// How this node takes part.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub node_id: String,
    pub proxy_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub poll_interval: Duration,
    /// The node started from its cache: at the first contact it reloads the whole state (the
    /// store may have been replaced or restored meanwhile), then follows incrementally.
    pub started_from_cache: bool,
}

/// What the status endpoints show about the fleet, kept by the follower so they never wait
/// for the store.
pub struct FleetView {
    pub node_id: String,
    /// The backend and where it is (never a password).
    pub backend: String,
    /// A node whose last heartbeat is older than this is shown as not seen lately.
    pub stale_after_ms: Millis,
    nodes: Mutex<Option<Nodes>>,
    cache: Option<Arc<CacheWriter>>,
    tickets: TicketKeys,
}

impl FleetView {
    pub fn new(
        node_id: String,
        backend: String,
        cache: Option<Arc<CacheWriter>>,
        poll_interval: Duration,
        tickets: TicketKeys,
    ) -> FleetView {
        let poll = i64::try_from(poll_interval.as_millis()).unwrap_or(i64::MAX);
        FleetView {
            node_id,
            backend,
            stale_after_ms: poll.saturating_mul(5).max(5_000),
            nodes: Mutex::new(None),
            cache,
            tickets,
        }
    }

    /// The shared session-ticket key generation tickets are issued under now; None while the
    /// node uses a node-local secret (before it reached the store, or cut off from it).
    pub fn ticket_key_generation(&self) -> Option<u64> {
        self.tickets
            .current_id()
            .filter(|id| id & crate::snapshot::tickets::LOCAL_KEY == 0)
    }

    /// The last list of nodes read from the store.
    pub fn nodes(&self) -> Option<Nodes> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether this node does the fleet's singleton work (fetching revocation lists from their
    /// URLs): it is the first, by id, of the nodes whose heartbeat the store saw lately. None
    /// (not yet known) until this node's own heartbeat is listed, so a node that cannot reach
    /// the store never takes the part; a stopped or cut-off node loses it once its heartbeat is
    /// `stale_after_ms` old. Two nodes may both hold it briefly (a node with a lower id just
    /// joined and the holder has not read the list since): the work must tolerate that.
    pub fn leads(&self) -> Option<bool> {
        let nodes = self.nodes()?;
        nodes
            .nodes
            .iter()
            .any(|n| n.id == self.node_id)
            .then(|| first_live(&nodes, &self.node_id, self.stale_after_ms))
    }

    /// The local cache's state (a shared store only).
    pub fn cache(&self) -> Option<CacheStatus> {
        self.cache.as_ref().map(|c| c.status())
    }
}

/// Whether `me` is the first, by id, among the nodes seen within `stale_after` of the store's
/// now (and is itself among them).
fn first_live(nodes: &Nodes, me: &str, stale_after: Millis) -> bool {
    let live = |n: &&NodeBeat| nodes.now.saturating_sub(n.last_seen) <= stale_after;
    let first = nodes.nodes.iter().filter(live).map(|n| n.id.as_str()).min();
    first == Some(me)
}

/// This node's default id: `<hostname>/<proxy listen address>`.
pub fn default_node_id(proxy_listen: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}/{proxy_listen}")
}

/// The follower's state between ticks.
struct Follower {
    control: Arc<Control>,
    /// The store's fleet bookkeeping (heartbeats, ticket secrets); resources change only
    /// through `control`.
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    view: Arc<FleetView>,
    options: FleetOptions,
    rotation: tickets::Rotation,
    resync: bool,
    started_at: Millis,
    /// The last catch-up failure logged, so a persistent one is logged once.
    last_failure: Option<String>,
}

impl Follower {
    /// Catch up with the store (reloading it whole when asked to).
    fn catch_up(&mut self) {
        let result = match self.resync {
            true => self.control.publish_current(),
            false => self.control.catch_up(),
        };
        match result {
            Ok(_) => {
                self.resync = false;
                self.last_failure = None;
            }
            Err(ControlError::Store(e)) if e.is_unavailable() => {}
            Err(e) => {
                let text = e.to_string();
                if self.last_failure.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "cannot apply the store's latest revision; the last good snapshot keeps serving");
                }
                self.last_failure = Some(text);
            }
        }
    }

    /// The store's gauges, from what control last saw.
    fn gauges(&self) {
        let health = self.control.store_health();
        self.metrics
            .store_up
            .set(i64::from(health.reachable == Some(true)));
        let applied = self.control.applied_revision().unwrap_or(0);
        let lag = health
            .stored_revision
            .unwrap_or(applied)
            .saturating_sub(applied);
        self.metrics
            .config_revision_lag
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }

    /// The periodic work: heartbeat, ticket keys, the fleet list, the cache's repair.
    fn housekeeping(&mut self) {
        let store = &*self.store;
        let now = now_ms();
        let beat = NodeBeat {
            id: self.options.node_id.clone(),
            proxy_listen: self.options.proxy_listen.to_string(),
            admin_listen: self.options.admin_listen.to_string(),
            applied_revision: self.control.applied_revision().unwrap_or(0),
            started_at: self.started_at,
            last_seen: now,
        };
        if self.control.observe(store.heartbeat(&beat)).is_err() {
            // Unreachable: the ticket secret may still need its offline rotation.
            let _ = self.rotation.tick(store, now);
            return;
        }
        let _ = self.control.observe(self.rotation.tick(store, now));
        if let Ok(nodes) = self.control.observe(store.nodes()) {
            *self.view.nodes.lock().unwrap_or_else(|e| e.into_inner()) = Some(nodes);
        }
        if let Some(writer) = self.view.cache.as_ref().filter(|w| w.needs_full()) {
            if let Ok(state) = self.control.read(|r| r.load_state()) {
                writer.send(Update::Full(state));
            }
        }
    }
}

/// Wait for the next notification; never returns when the backend has none.
async fn notified(rx: &mut Option<watch::Receiver<u64>>) {
    match rx {
        Some(rx) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// The session-ticket rotation of a node, synchronised with the store once (blocking) when it
/// is reachable, so that a restarted node resumes the fleet's sessions from its first
/// handshake.
pub fn ticket_rotation(
    control: &Control,
    store: &dyn Store,
    keys: TicketKeys,
    rotation: Duration,
    poll_interval: Duration,
) -> tickets::Rotation {
    let period = i64::try_from(rotation.as_millis()).unwrap_or(i64::MAX);
    // A new generation is made this long before it is used: every node fetches it first.
    let lead = i64::try_from(poll_interval.as_millis().saturating_mul(3)).unwrap_or(i64::MAX);
    let now = now_ms();
    let mut r = tickets::Rotation::new(keys, period, lead, now);
    if control.store_health().reachable == Some(true) {
        let _ = control.observe(r.tick(store, now));
    }
    r
}

/// Run the follower until `shutdown` turns true.
pub fn spawn(
    control: Arc<Control>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    view: Arc<FleetView>,
    rotation: tickets::Rotation,
    options: FleetOptions,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let started_at = now_ms();
    let mut notifications = store.notifications();
    let poll = options.poll_interval;
    let follower = Arc::new(Mutex::new(Follower {
        rotation,
        resync: options.started_from_cache,
        control,
        store,
        metrics,
        view,
        options,
        started_at,
        last_failure: None,
    }));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let periodic = tokio::select! {
                _ = ticks.tick() => true,
                _ = notified(&mut notifications) => false,
                _ = stopped(&mut shutdown) => return,
            };
            let follower = follower.clone();
            let step = tokio::task::spawn_blocking(move || {
                let mut f = follower.lock().unwrap_or_else(|e| e.into_inner());
                f.catch_up();
                if periodic {
                    f.housekeeping();
                }
                f.gauges();
            });
            if let Err(e) = step.await {
                tracing::error!(error = %e, "the store follower's step failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(id: &str, last_seen: Millis) -> NodeBeat {
        NodeBeat {
            id: id.into(),
            proxy_listen: String::new(),
            admin_listen: String::new(),
            applied_revision: 0,
            started_at: 0,
            last_seen,
        }
    }

    #[test]
    fn the_first_live_node_by_id_leads() {
        let nodes = |beats: Vec<NodeBeat>| Nodes {
            now: 10_000,
            nodes: beats,
        };
        let fleet = nodes(vec![beat("a", 9_000), beat("b", 10_000), beat("c", 10_000)]);
        assert!(first_live(&fleet, "a", 5_000));
        assert!(!first_live(&fleet, "b", 5_000));
        // "a" stopped beating: "b" takes over once a's heartbeat is too old.
        let fleet = nodes(vec![beat("a", 4_000), beat("b", 10_000), beat("c", 10_000)]);
        assert!(!first_live(&fleet, "a", 5_000));
        assert!(first_live(&fleet, "b", 5_000));
        assert!(!first_live(&fleet, "c", 5_000));
        // A node that is not listed (its heartbeat never reached the store) never leads.
        let fleet = nodes(vec![beat("b", 10_000)]);
        assert!(!first_live(&fleet, "a", 5_000));
        assert!(first_live(&nodes(vec![beat("a", 10_000)]), "a", 5_000));
        assert!(!first_live(&nodes(vec![]), "a", 5_000));
    }
}
