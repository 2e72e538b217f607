//! The only writer: validates a `Change`, applies it to the store in one transaction, dry-runs
//! the data plane's update on what the transaction changed, and commits and publishes only if it
//! builds. Also the read interface the admin API uses: a consistent read-only view of the store.
//!
//! Every publish goes through here, under one lock, so control knows the revision the data
//! plane is at and hands it exactly the rows changed since (the store's change log): the same
//! incremental update whether the change was made here or committed by someone else.

mod activations;
mod certificates;
pub mod change;
mod configurations;
mod error;
mod health;
mod mutual_authentications;
mod private_keys;
mod revocation_lists;

use std::sync::{Arc, Mutex, MutexGuard};

/// In [`Control`]'s signatures: what a store failure says, and which demo resource a mark names.
pub use crate::store::{DemoKind, StoreError};
pub use change::{Change, RelationshipChange};
pub use error::ControlError;
pub use health::StoreHealth;

/// The read interface [`Control::read`] hands out: a read-only view of the last commit and the
/// queries its lists take. Only reads: the store itself, and its write transactions, stay inside
/// control (docs/architecture.md, "Dependency rules").
pub mod reads {
    pub use crate::store::{
        ActivationQuery, CertificateQuery, CertificateSort, Counts, DomainQuery, DomainSort,
        NotAfter, Page, Reads, RevocationListQuery, Uses, Window,
    };
}

use crate::model::{State, Update};
use crate::store::{Reads, Store, WriteTx};

/// Publishes a prepared snapshot; returned by a successful dry-run build.
pub type Publish = Box<dyn FnOnce() + Send>;

/// Builds the data plane's successor for an update (the rows changed since the revision it is
/// at, or the whole state) without publishing it: the dry run. The caller publishes by calling
/// the returned closure once the change is committed.
pub type Prepare = dyn Fn(&Update) -> Result<Publish, String> + Send + Sync;

/// What a committed change produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The id of the resource created, updated or deleted.
    pub id: String,
    /// The store revision the change committed as.
    pub revision: u64,
}

/// The control plane: the single path through which resources change.
pub struct Control {
    store: Arc<dyn Store>,
    prepare: Box<Prepare>,
    /// Serialises every change and publish end to end, so snapshots are published in revision
    /// order; holds the revision the data plane was last given (None before the first).
    applied: Mutex<Option<u64>>,
    /// What every store call taught us about the store's availability.
    health: health::Tracker,
}

impl Control {
    /// A control plane over `store` whose changes are built and published by `prepare`.
    pub fn new(store: Arc<dyn Store>, prepare: Box<Prepare>) -> Control {
        Control {
            store,
            prepare,
            applied: Mutex::new(None),
            health: health::Tracker::default(),
        }
    }

    /// A control plane that publishes nothing (tests, tools).
    pub fn without_data_plane(store: Arc<dyn Store>) -> Control {
        Control::new(store, Box::new(|_| Ok(Box::new(|| ()))))
    }

    fn serial(&self) -> MutexGuard<'_, Option<u64>> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store's availability as last observed (every call through control updates it).
    pub fn store_health(&self) -> StoreHealth {
        self.health.get()
    }

    /// Record the outcome of a store call made on control's behalf (heartbeats and the like).
    pub fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.health.observe(result, None)
    }

    /// Run `f` on a consistent read-only view of the last commit: the read interface of the
    /// admin API (reads only; every write goes through [`Control::apply`]).
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E> {
        let view = self.health.observe(self.store.read(), None)?;
        f(&*view)
    }

    /// Mark a resource as created by the built-in demo (metadata: no revision, no change).
    pub fn mark_demo(&self, kind: DemoKind, id: &str) -> Result<(), StoreError> {
        self.store.mark_demo(kind, id)
    }

    /// The store's current revision.
    pub fn stored_revision(&self) -> Result<u64, ControlError> {
        let result = self.store.revision();
        let seen = result.as_ref().ok().copied();
        Ok(self.health.observe(result, seen)?)
    }

    /// The revision the data plane was last given, if any.
    pub fn applied_revision(&self) -> Option<u64> {
        *self.serial()
    }

    /// Validate and commit one change. Nothing is stored unless the data plane's update for it
    /// builds; it is published before this returns.
    pub fn apply(&self, change: Change) -> Result<Applied, ControlError> {
        let mut applied = self.serial();
        let result = self.apply_locked(&mut applied, change);
        match &result {
            Ok(done) => self.health.succeeded(Some(done.revision)),
            Err(ControlError::Store(e)) => self.health.failed(e),
            // Refused on its merits: the store answered.
            Err(_) => self.health.succeeded(None),
        }
        result
    }

    fn apply_locked(
        &self,
        applied: &mut Option<u64>,
        change: Change,
    ) -> Result<Applied, ControlError> {
        let mut tx = self.store.begin()?;
        let revision = tx.revision_written();
        let id = apply_change(&mut *tx, change, crate::model::timestamp::now_ms())?;
        let update = update_since(&*tx, *applied)?;
        let publish = (self.prepare)(&update).map_err(ControlError::Build)?;
        tx.commit()?;
        publish();
        *applied = Some(revision);
        Ok(Applied { id, revision })
    }

    /// Bring the data plane up to the store's last commit, incrementally when the change log
    /// allows (changes committed by others; a no-op when nothing changed). Returns the revision
    /// now applied.
    pub fn catch_up(&self) -> Result<u64, ControlError> {
        let mut applied = self.serial();
        let update = {
            let view = self.store.read();
            let view = self.health.observe(view, None)?;
            let now = self.health.observe(view.revision(), None)?;
            self.health.succeeded(Some(now));
            if *applied == Some(now) {
                return Ok(now);
            }
            self.health.observe(update_since(&*view, *applied), None)?
        };
        let publish = (self.prepare)(&update).map_err(ControlError::Build)?;
        publish();
        *applied = Some(update.revision());
        Ok(update.revision())
    }

    /// Hand the data plane the update to the store's last commit even when nothing was
    /// committed (then an empty delta at the revision it is at), and publish it: nothing stored
    /// changed, but time did, and the data plane re-places what depends on the clock (policies
    /// whose revocation lists went stale under `[revocation] require_fresh`) so that open
    /// connections are judged again. Costs what it re-places, never a rebuild.
    pub fn reevaluate(&self) -> Result<u64, ControlError> {
        let mut applied = self.serial();
        let update = {
            let view = self.health.observe(self.store.read(), None)?;
            let now = self.health.observe(view.revision(), None)?;
            self.health.succeeded(Some(now));
            self.health.observe(update_since(&*view, *applied), None)?
        };
        let publish = (self.prepare)(&update).map_err(ControlError::Build)?;
        publish();
        *applied = Some(update.revision());
        Ok(update.revision())
    }

    /// Build and publish the stored state as it is, from scratch (at start-up).
    pub fn publish_current(&self) -> Result<u64, ControlError> {
        let mut applied = self.serial();
        let state = self.store.read().and_then(|view| view.load_state());
        let update = Update::Full(self.health.observe(state, None)?);
        self.health.succeeded(Some(update.revision()));
        let publish = (self.prepare)(&update).map_err(ControlError::Build)?;
        publish();
        *applied = Some(update.revision());
        Ok(update.revision())
    }

    /// Build and publish a state that did not come from the store now (a node starting with
    /// its store unreachable serves its local cache); later catch-ups start from its revision.
    pub fn publish_state(&self, state: State) -> Result<u64, ControlError> {
        let mut applied = self.serial();
        let revision = state.revision;
        let publish = (self.prepare)(&Update::Full(state)).map_err(ControlError::Build)?;
        publish();
        *applied = Some(revision);
        Ok(revision)
    }

    /// Build the whole stored state with `prepare` instead of the usual one (a config reload
    /// with new static inputs) and publish it; serialised with every other change.
    pub fn publish_with(
        &self,
        prepare: impl FnOnce(&State) -> Result<Publish, String>,
    ) -> Result<u64, ControlError> {
        let mut applied = self.serial();
        let state = self.store.read().and_then(|view| view.load_state());
        let state = self.health.observe(state, None)?;
        self.health.succeeded(Some(state.revision));
        let publish = prepare(&state).map_err(ControlError::Build)?;
        publish();
        *applied = Some(state.revision);
        Ok(state.revision)
    }
}

/// What the data plane at `applied` needs to reach the view's revision.
fn update_since<R: Reads + ?Sized>(view: &R, applied: Option<u64>) -> Result<Update, StoreError> {
    match applied {
        Some(revision) => view.changes_since(revision),
        None => Ok(Update::Full(view.load_state()?)),
    }
}

/// The `updated_at` of a changed resource: now, but always after the previous value, so
/// (id, updated_at) names exactly one content version of a resource. The snapshot build cache
/// relies on this to reuse unchanged entries without hashing their contents.
pub fn next_version(previous: i64, now: i64) -> i64 {
    now.max(previous.saturating_add(1))
}

fn apply_change(tx: &mut dyn WriteTx, change: Change, now: i64) -> Result<String, ControlError> {
    use Change::*;
    match change {
        CreateMutualAuthentication(c) => mutual_authentications::create(tx, c, now),
        UpdateMutualAuthentication(u) => mutual_authentications::update(tx, u, now),
        DeleteMutualAuthentication { id } => mutual_authentications::delete(tx, &id),
        CreatePrivateKey(c) => private_keys::create(tx, c, now),
        DeletePrivateKey { id } => private_keys::delete(tx, &id),
        CreateCertificate(c) => certificates::create(tx, c, now),
        UpdateCertificate(u) => certificates::update(tx, u, now),
        DeleteCertificate { id } => certificates::delete(tx, &id),
        UpdateConfiguration(u) => configurations::update(tx, u, now),
        CreateActivation(c) => activations::create(tx, c, now),
        UpdateActivation(u) => activations::update(tx, u, now),
        DeleteActivation { id } => activations::delete(tx, &id),
        CreateRevocationList(c) => revocation_lists::create(tx, c, now),
        UpdateRevocationList(u) => revocation_lists::update(tx, u, now),
        DeleteRevocationList { id } => revocation_lists::delete(tx, &id),
        RecordRevocationFetch(f) => revocation_lists::record_fetch(tx, f, now),
    }
}

#[cfg(test)]
mod tests;
