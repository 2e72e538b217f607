//! The only writer: validates a `Change`, applies it to the store in one transaction, dry-runs
//! the snapshot build on the resulting state, and commits and publishes only if it builds.

mod activations;
mod certificates;
pub mod change;
mod configurations;
mod error;
mod mutual_authentications;
mod private_keys;
mod revocation_lists;

use std::sync::{Arc, Mutex};

use rusqlite::Connection;

pub use change::{Change, RelationshipChange};
pub use error::ControlError;

use crate::model::State;
use crate::store::{load_state, Store};

/// Publishes a prepared snapshot; returned by a successful dry-run build.
pub type Publish = Box<dyn FnOnce() + Send>;

/// Builds the data-plane snapshot for a state without publishing it (the dry run); the caller
/// publishes by calling the returned closure once the change is committed.
pub type Prepare = dyn Fn(&State) -> Result<Publish, String> + Send + Sync;

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
    store: Arc<Store>,
    prepare: Box<Prepare>,
    // Serialises apply() end to end, so snapshots are published in revision order.
    write_lock: Mutex<()>,
}

impl Control {
    /// A control plane over `store` whose changes are built and published by `prepare`.
    pub fn new(store: Arc<Store>, prepare: Box<Prepare>) -> Control {
        Control {
            store,
            prepare,
            write_lock: Mutex::new(()),
        }
    }

    /// A control plane that publishes nothing (tests, tools).
    pub fn without_data_plane(store: Arc<Store>) -> Control {
        Control::new(store, Box::new(|_| Ok(Box::new(|| ()))))
    }

    /// The store, for reads.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Validate and commit one change. Nothing is stored unless the snapshot it yields builds.
    pub fn apply(&self, change: Change) -> Result<Applied, ControlError> {
        let _serial = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let (id, revision, publish) = self.store.write(|tx, revision| {
            let id = apply_change(tx, change, crate::model::timestamp::now_ms())?;
            let state = load_state(tx)?;
            let publish = (self.prepare)(&state).map_err(ControlError::Build)?;
            Ok::<_, ControlError>((id, revision, publish))
        })?;
        publish();
        Ok(Applied { id, revision })
    }

    /// Build and publish the stored state as it is (at start-up).
    pub fn publish_current(&self) -> Result<u64, ControlError> {
        self.publish_with(|state| (self.prepare)(state))
    }

    /// Build the stored state with `prepare` instead of the usual one (a config reload with
    /// new static inputs) and publish it; serialised with every other change.
    pub fn publish_with(
        &self,
        prepare: impl FnOnce(&State) -> Result<Publish, String>,
    ) -> Result<u64, ControlError> {
        let _serial = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let state = self.store.read(load_state)?;
        let publish = prepare(&state).map_err(ControlError::Build)?;
        publish();
        Ok(state.revision)
    }
}

/// The `updated_at` of a changed resource: now, but always after the previous value, so
/// (id, updated_at) names exactly one content version of a resource. The snapshot build cache
/// relies on this to reuse unchanged entries without hashing their contents.
pub fn next_version(previous: i64, now: i64) -> i64 {
    now.max(previous.saturating_add(1))
}

fn apply_change(conn: &Connection, change: Change, now: i64) -> Result<String, ControlError> {
    use Change::*;
    match change {
        CreateMutualAuthentication(c) => mutual_authentications::create(conn, c, now),
        UpdateMutualAuthentication(u) => mutual_authentications::update(conn, u, now),
        DeleteMutualAuthentication { id } => mutual_authentications::delete(conn, &id),
        CreatePrivateKey(c) => private_keys::create(conn, c, now),
        DeletePrivateKey { id } => private_keys::delete(conn, &id),
        CreateCertificate(c) => certificates::create(conn, c, now),
        UpdateCertificate(u) => certificates::update(conn, u, now),
        DeleteCertificate { id } => certificates::delete(conn, &id),
        UpdateConfiguration(u) => configurations::update(conn, u, now),
        CreateActivation(c) => activations::create(conn, c, now),
        UpdateActivation(u) => activations::update(conn, u, now),
        DeleteActivation { id } => activations::delete(conn, &id),
        CreateRevocationList(c) => revocation_lists::create(conn, c, now),
        UpdateRevocationList(u) => revocation_lists::update(conn, u, now),
        DeleteRevocationList { id } => revocation_lists::delete(conn, &id),
        RecordRevocationFetch(f) => revocation_lists::record_fetch(conn, f, now),
    }
}

#[cfg(test)]
mod tests;
