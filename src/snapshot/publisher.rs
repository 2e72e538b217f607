//! Holds the live snapshot behind one `ArcSwap`, builds successors (the dry run control asks
//! for before committing), swaps them in, and tells open connections that the snapshot moved.
//! A successor comes from a delta ([`Served::apply`]: only what changed is rebuilt) or from a
//! whole state ([`Served::build`]: start-up, reload, a reader past the change log). Also keeps
//! the status the admin listener reports (applied revision, last swap, last error, the served
//! inventory) and, on every swap, the metrics that follow the configuration: which domains
//! have series, and the certificate and CA expiry gauges — updated for exactly what changed.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::build::{bundle_cas, crl_sample, BuildError, BuildInputs, Effects, Served};
use super::entry::Snapshot;
use super::inventory::{self, Inventory};
use crate::metrics::Metrics;
use crate::model::{State, Update};

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

/// How the metrics follow a published successor.
enum Follow {
    /// Everything was rebuilt: replace every series.
    Whole,
    /// Only what a delta changed.
    Changed(Effects),
}

/// A built snapshot waiting for its change to commit.
pub struct Prepared {
    snapshot: Arc<Snapshot>,
    served: Arc<Served>,
    follow: Follow,
}

/// The single owner of the live snapshot.
pub struct Publisher {
    live: Arc<ArcSwap<Snapshot>>,
    /// What the live snapshot was built from.
    served: Mutex<Arc<Served>>,
    status: Mutex<PublisherStatus>,
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
        let served = Served::new(Arc::new(inputs));
        Publisher {
            live: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            served: Mutex::new(Arc::new(served)),
            status: Mutex::new(PublisherStatus::default()),
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

    /// What the live snapshot was built from.
    pub fn served(&self) -> Arc<Served> {
        self.served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The first `limit` served activations by domain, for the status page.
    pub fn inventory(&self, limit: usize) -> Inventory {
        inventory::list(self.served().tables(), limit)
    }

    /// Build the successor for an update with the current inputs (the dry run).
    pub fn prepare(&self, update: &Update) -> Result<Prepared, BuildError> {
        let current = self.served();
        self.timed(|metrics| match update {
            Update::Delta(delta) => {
                let (served, stats, effects) = current.apply(delta, Some(metrics))?;
                tracing::debug!(revision = delta.to, ?stats, "snapshot updated");
                Ok((served, Follow::Changed(effects)))
            }
            Update::Full(state) => {
                let inputs = current.inputs().clone();
                let (served, stats) = Served::build(state, inputs, Some(&current), Some(metrics))?;
                tracing::debug!(revision = state.revision, ?stats, "snapshot built");
                Ok((served, Follow::Whole))
            }
        })
    }

    /// Build the successor for `state` with new inputs (config reload); the inputs become
    /// current when it is published.
    pub fn prepare_with(
        &self,
        state: &State,
        inputs: Arc<BuildInputs>,
    ) -> Result<Prepared, BuildError> {
        let current = self.served();
        self.timed(|metrics| {
            let (served, _) = Served::build(state, inputs, Some(&current), Some(metrics))?;
            Ok((served, Follow::Whole))
        })
    }

    fn timed(
        &self,
        build: impl FnOnce(&Metrics) -> Result<(Served, Follow), BuildError>,
    ) -> Result<Prepared, BuildError> {
        let started = Instant::now();
        let result = build(&self.metrics);
        self.metrics
            .observe_build(started.elapsed(), result.is_ok());
        match result {
            Ok((served, follow)) => Ok(Prepared {
                snapshot: Arc::new(served.snapshot()),
                served: Arc::new(served),
                follow,
            }),
            Err(e) => {
                self.record_failure(&e);
                Err(e)
            }
        }
    }

    /// Swap a prepared snapshot in: from now on every new connection uses it.
    pub fn publish(&self, prepared: Prepared) {
        let revision = prepared.snapshot.revision;
        match &prepared.follow {
            Follow::Whole => self.follow_whole(&prepared.served),
            Follow::Changed(effects) => self.follow_changes(effects),
        }
        *self.served.lock().unwrap_or_else(|e| e.into_inner()) = prepared.served;
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

    /// After a whole build: series of domains no longer served are removed and the expiry
    /// gauges show exactly what is served now (O(n), as the build was).
    fn follow_whole(&self, served: &Served) {
        let snapshot = served.snapshot();
        let live: std::collections::HashSet<&str> = snapshot
            .domains
            .iter()
            .map(|(_, entry)| entry.metrics.name())
            .collect();
        self.metrics.retain_domains(|name| live.contains(name));
        let tables = served.tables();
        let expiry: Vec<(String, String, i64)> = tables
            .activations()
            .map(|a| {
                let not_after = tables
                    .certificate(&a.certificate_id)
                    .map_or(0, |c| c.not_after);
                (a.certificate_id.clone(), a.domain.clone(), not_after)
            })
            .collect();
        self.metrics
            .set_certificate_expiry(expiry.iter().map(|(c, d, t)| (c.as_str(), d.as_str(), *t)));
        let cas: Vec<(String, String, i64)> = tables
            .mutual_authentications()
            .filter(|m| tables.mutual_authentication_in_use(&m.id))
            .flat_map(|m| {
                bundle_cas(&m.cert_bundle)
                    .into_iter()
                    .map(|(subject, t)| (m.id.clone(), subject, t))
            })
            .collect();
        self.metrics
            .set_client_ca_expiry(cas.iter().map(|(m, s, t)| (m.as_str(), s.as_str(), *t)));
        self.metrics
            .crl
            .replace(tables.revocation_lists().map(|l| crl_sample(l)).collect());
    }

    /// After a delta: only the series of what it changed.
    fn follow_changes(&self, effects: &Effects) {
        for name in &effects.retired_domains {
            self.metrics.retire_domain(name);
        }
        self.metrics
            .update_certificate_expiry(&effects.expiry_removed, &effects.expiry_set);
        for (id, cas) in &effects.client_cas {
            self.metrics.replace_client_ca_expiry(id, cas);
        }
        for (id, mutual_authentication) in &effects.crl_removed {
            self.metrics.crl.remove(id, mutual_authentication);
        }
        for sample in &effects.crl_set {
            self.metrics.crl.set(sample.clone());
        }
    }

    /// Remember a build failure for the status endpoint (and log it with its resource).
    pub fn record_failure(&self, e: &BuildError) {
        tracing::warn!(resource = %e.resource, problem = %e.problem, "snapshot build failed; the last good snapshot keeps serving");
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.last_error = Some(e.to_string());
        st.last_error_ms = Some(now_ms());
    }
}
