//! What every connection task records into while a run goes on: latencies (whole run and the
//! current one-second interval), completions, connections, resumptions and failures by kind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::failure::Failure;
use super::histogram::{AtomicHistogram, Histogram};

/// Shared by all tasks of a run.
#[derive(Debug, Default)]
pub struct Recorder {
    latency: AtomicHistogram,
    interval: AtomicHistogram,
    completed: AtomicU64,
    connections: AtomicU64,
    resumed: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
}

/// Running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Completed operations (handshakes or successful requests).
    pub completed: u64,
    /// Failed operations.
    pub failed: u64,
}

impl Recorder {
    /// One completed operation and how long it took.
    pub fn completed(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.record(micros);
        self.interval.record(micros);
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// One established TLS connection.
    pub fn connected(&self, resumed: bool) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        if resumed {
            self.resumed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One failed operation.
    pub fn failed(&self, failure: &Failure) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        // A poisoned lock only means another task panicked while counting; the map itself is
        // still consistent, so keep counting rather than lose the figure.
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(failure.to_string()).or_insert(0) += 1;
    }

    /// Completed and failed so far.
    pub fn totals(&self) -> Totals {
        Totals {
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// TLS connections established, and how many of them resumed a session.
    pub fn connections(&self) -> (u64, u64) {
        (
            self.connections.load(Ordering::Relaxed),
            self.resumed.load(Ordering::Relaxed),
        )
    }

    /// Latencies since the previous call (for the progress line and the timeline).
    pub fn take_interval(&self) -> Histogram {
        self.interval.take()
    }

    /// Latencies of the whole run.
    pub fn latency(&self) -> Histogram {
        self.latency.snapshot()
    }

    /// Failures by kind.
    pub fn failures(&self) -> BTreeMap<String, u64> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind() {
        let r = Recorder::default();
        r.completed(Duration::from_micros(250));
        r.completed(Duration::from_millis(2));
        r.connected(false);
        r.connected(true);
        r.failed(&Failure::Timeout);
        r.failed(&Failure::Timeout);
        r.failed(&Failure::Status(500));
        assert_eq!(
            r.totals(),
            Totals {
                completed: 2,
                failed: 3
            }
        );
        assert_eq!(r.connections(), (2, 1));
        let f = r.failures();
        assert_eq!(f.get("timeout"), Some(&2));
        assert_eq!(f.get("http status 500"), Some(&1));
        assert_eq!(r.latency().max(), 2_000);
        assert_eq!(r.take_interval().count(), 2);
        assert_eq!(r.take_interval().count(), 0);
        assert_eq!(r.latency().count(), 2, "the run histogram is not reset");
    }
}
