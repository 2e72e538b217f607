//! Holds the live snapshot behind one `ArcSwap`, builds successors (the dry run control asks
//! for before committing), swaps them in, and tells open connections that the snapshot moved.
//! Also keeps the status the admin listener reports (applied revision, last swap, last error,
//! the served inventory) and, on every swap, the metrics that follow the configuration: which
//! domains have series, and the certificate and CA expiry gauges.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::build::{build_metered, BuildCache, BuildError, BuildInputs};
use super::entry::Snapshot;
use super::inventory::{self, Inventory, InventoryCache};
use crate::metrics::Metrics;
use crate::model::State;

/// What the status endpoint shows about the data plane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublisherStatus {
    /// Store revision of the snapshot being served.
    pub applied_revision: u64,
    /// When it was swapped in (Unix milliseconds); None before the first publish.
    pub last_swap_ms: Option<i64>,
    /// The last build failure, with the resource at fault.
    pub last_error: Option<String>,
    /// When it happened (Unix milliseconds).
    pub last_error_ms: Option<i64>,
}

/// A built snapshot waiting for its change to commit.
pub struct Prepared {
    snapshot: Arc<Snapshot>,
    cache: BuildCache,
    inputs: Option<Arc<BuildInputs>>,
    inventory: Arc<Inventory>,
    inventory_cache: InventoryCache,
}

/// The single owner of the live snapshot.
pub struct Publisher {
    live: Arc<ArcSwap<Snapshot>>,
    inputs: ArcSwap<BuildInputs>,
    cache: Mutex<BuildCache>,
    status: Mutex<PublisherStatus>,
    inventory: Mutex<Arc<Inventory>>,
    inventory_cache: Mutex<InventoryCache>,
    changes: watch::Sender<u64>,
    metrics: Arc<Metrics>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Publisher {
    /// A publisher serving an empty snapshot until the first publish.
    pub fn new(inputs: BuildInputs, metrics: Arc<Metrics>) -> Publisher {
        Publisher {
            live: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            inputs: ArcSwap::from_pointee(inputs),
            cache: Mutex::new(BuildCache::default()),
            status: Mutex::new(PublisherStatus::default()),
            inventory: Mutex::new(Arc::new(Inventory::default())),
            inventory_cache: Mutex::new(InventoryCache::default()),
            changes: watch::channel(0).0,
            metrics,
        }
    }

    /// The live snapshot handle (the acceptor loads from it once per connection).
    pub fn live(&self) -> Arc<ArcSwap<Snapshot>> {
        self.live.clone()
    }

    /// Notified with the applied revision after every swap.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A copy of the status.
    pub fn status(&self) -> PublisherStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What the live snapshot serves, for the status page.
    pub fn inventory(&self) -> Arc<Inventory> {
        self.inventory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Build the successor for `state` with the current inputs (the dry run).
    pub fn prepare(&self, state: &State) -> Result<Prepared, BuildError> {
        self.prepare_inner(state, self.inputs.load_full(), None)
    }

    /// Build the successor for `state` with new inputs (config reload); the inputs become
    /// current when it is published.
    pub fn prepare_with(
        &self,
        state: &State,
        inputs: Arc<BuildInputs>,
    ) -> Result<Prepared, BuildError> {
        self.prepare_inner(state, inputs.clone(), Some(inputs))
    }

    fn prepare_inner(
        &self,
        state: &State,
        inputs: Arc<BuildInputs>,
        replace: Option<Arc<BuildInputs>>,
    ) -> Result<Prepared, BuildError> {
        let started = Instant::now();
        let result = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            build_metered(state, &inputs, &cache, Some(&self.metrics))
        };
        self.metrics
            .observe_build(started.elapsed(), result.is_ok());
        match result {
            Ok((snapshot, cache, stats)) => {
                tracing::debug!(revision = state.revision, ?stats, "snapshot built");
                let (inventory, inventory_cache) = {
                    let old = self
                        .inventory_cache
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    inventory::collect(state, &old)
                };
                Ok(Prepared {
                    snapshot: Arc::new(snapshot),
                    cache,
                    inputs: replace,
                    inventory: Arc::new(inventory),
                    inventory_cache,
                })
            }
            Err(e) => {
                self.record_failure(&e);
                Err(e)
            }
        }
    }

    /// Swap a prepared snapshot in: from now on every new connection uses it.
    pub fn publish(&self, prepared: Prepared) {
        let revision = prepared.snapshot.revision;
        if let Some(inputs) = prepared.inputs {
            self.inputs.store(inputs);
        }
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = prepared.cache;
        self.follow_configuration(&prepared.snapshot, &prepared.inventory);
        *self
            .inventory_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = prepared.inventory_cache;
        *self.inventory.lock().unwrap_or_else(|e| e.into_inner()) = prepared.inventory;
        self.live.store(prepared.snapshot);
        {
            let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
            st.applied_revision = revision;
            st.last_swap_ms = Some(now_ms());
        }
        self.metrics
            .config_revision
            .set(i64::try_from(revision).unwrap_or(i64::MAX));
        self.changes.send_replace(revision);
    }

    /// Metrics that follow the configuration: series of domains no longer served are removed
    /// and the expiry gauges show exactly what is served now.
    fn follow_configuration(&self, snapshot: &Snapshot, inventory: &Inventory) {
        let live: std::collections::HashSet<&str> = snapshot
            .domains
            .iter()
            .map(|(_, entry)| entry.metrics.name())
            .collect();
        self.metrics.retain_domains(|name| live.contains(name));
        self.metrics
            .set_certificate_expiry(inventory.activations.iter().map(|a| {
                (
                    a.certificate_id.as_str(),
                    a.domain.as_str(),
                    a.certificate_not_after,
                )
            }));
        self.metrics.crl.replace(
            inventory
                .revocation_lists
                .iter()
                .map(|l| crate::metrics::crl::CrlSample {
                    id: l.id.clone(),
                    mutual_authentication_id: l.mutual_authentication_id.clone(),
                    next_update: l.next_update,
                    revoked: i64::try_from(l.revoked_count).unwrap_or(i64::MAX),
                })
                .collect(),
        );
        self.metrics
            .set_client_ca_expiry(inventory.client_cas.iter().map(|c| {
                (
                    c.mutual_authentication_id.as_str(),
                    c.subject.as_str(),
                    c.not_after,
                )
            }));
    }

    /// Remember a build failure for the status endpoint (and log it with its resource).
    pub fn record_failure(&self, e: &BuildError) {
        tracing::warn!(resource = %e.resource, problem = %e.problem, "snapshot build failed; the last good snapshot keeps serving");
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.last_error = Some(e.to_string());
        st.last_error_ms = Some(now_ms());
    }
}
