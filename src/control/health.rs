//! The store's availability as control last saw it: every call through control (the admin API,
//! the follower's poll, heartbeats) records its outcome, so the status endpoints report the
//! store without asking it. Only [`StoreError::Unavailable`] counts as down: any other error is
//! an answer from a reachable store. Transitions are logged once each.

use std::sync::Mutex;

use crate::model::timestamp::{now_ms, Millis};
use crate::store::StoreError;

/// What the status endpoints show about the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// Whether the last contact reached the store (None before the first).
    pub reachable: Option<bool>,
    /// When the store last answered.
    pub last_contact_ms: Option<Millis>,
    /// Since when it has been unreachable (None while reachable).
    pub down_since_ms: Option<Millis>,
    /// Why it was last unreachable.
    pub error: Option<String>,
    /// The store revision last seen.
    pub stored_revision: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Tracker(Mutex<StoreHealth>);

impl Tracker {
    pub fn get(&self) -> StoreHealth {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Record a call's outcome and hand it back; `seen` is a store revision it returned.
    pub fn observe<T>(
        &self,
        result: Result<T, StoreError>,
        seen: Option<u64>,
    ) -> Result<T, StoreError> {
        match &result {
            Ok(_) => self.succeeded(seen),
            Err(e) => self.failed(e),
        }
        result
    }

    /// The store answered (with revision `seen`, when known).
    pub fn succeeded(&self, seen: Option<u64>) {
        let mut h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if h.reachable == Some(false) {
            tracing::info!(
                down_for_ms = h.down_since_ms.map(|t| now_ms().saturating_sub(t)),
                "the store is reachable again; catching up"
            );
        }
        h.reachable = Some(true);
        h.last_contact_ms = Some(now_ms());
        h.down_since_ms = None;
        if seen.is_some() {
            h.stored_revision = seen;
        }
    }

    /// A call failed: down when the store could not be reached, else it answered.
    pub fn failed(&self, e: &StoreError) {
        if !e.is_unavailable() {
            return self.succeeded(None);
        }
        let mut h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if h.reachable != Some(false) {
            tracing::warn!(error = %e, "the store is unreachable; serving the last good snapshot, writes are refused until it is back");
            h.down_since_ms = Some(now_ms());
        }
        h.reachable = Some(false);
        h.error = Some(e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailability_counts_as_down_and_recovery_clears_it() {
        let t = Tracker::default();
        assert_eq!(t.get().reachable, None);
        t.observe(Ok::<_, StoreError>(()), Some(4)).unwrap();
        assert_eq!(
            (t.get().reachable, t.get().stored_revision),
            (Some(true), Some(4))
        );
        let _ = t.observe(Err::<(), _>(StoreError::Corrupt("x")), None);
        assert_eq!(t.get().reachable, Some(true), "an answer, even a bad one");
        t.failed(&StoreError::Unavailable("connection refused".into()));
        let down = t.get();
        assert_eq!(down.reachable, Some(false));
        assert!(down.down_since_ms.is_some());
        assert_eq!(
            down.stored_revision,
            Some(4),
            "the last revision seen is kept"
        );
        assert!(down
            .error
            .as_deref()
            .unwrap()
            .contains("connection refused"));
        let since = down.down_since_ms;
        t.failed(&StoreError::Unavailable("again".into()));
        assert_eq!(t.get().down_since_ms, since, "down since the first failure");
        t.succeeded(Some(9));
        let up = t.get();
        assert_eq!(
            (up.reachable, up.down_since_ms, up.stored_revision),
            (Some(true), None, Some(9))
        );
    }
}
