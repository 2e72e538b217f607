//! The status page's short history: the process totals sampled once a second by a background
//! task (never by the hot path), kept as per-second differences for the last five minutes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::labels::{HANDSHAKE_ERROR_REASONS, VERDICTS};
use super::Metrics;

/// Time between samples.
pub const PERIOD: Duration = Duration::from_secs(1);

/// Samples kept (five minutes at one per second).
pub const SAMPLES: usize = 300;

/// Counts since start (a reading) or within one period (a sample).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    /// Handshakes by verdict, in [`VERDICTS`] order.
    pub handshakes: [u64; VERDICTS.len()],
    /// Failed handshakes by reason, in [`HANDSHAKE_ERROR_REASONS`] order.
    pub handshake_errors: [u64; HANDSHAKE_ERROR_REASONS.len()],
    /// Fail-open requests passed with a verdict other than ok.
    pub fail_open: u64,
    /// 421 answers.
    pub misdirected: u64,
    /// Requests answered.
    pub requests: u64,
}

impl Reading {
    /// What happened between `earlier` and `self` (a counter never goes back; saturating
    /// anyway so a surprise can never panic).
    pub fn since(&self, earlier: &Reading) -> Reading {
        let mut d = Reading {
            fail_open: self.fail_open.saturating_sub(earlier.fail_open),
            misdirected: self.misdirected.saturating_sub(earlier.misdirected),
            requests: self.requests.saturating_sub(earlier.requests),
            ..Reading::default()
        };
        for (out, (now, then)) in d
            .handshakes
            .iter_mut()
            .zip(self.handshakes.iter().zip(&earlier.handshakes))
        {
            *out = now.saturating_sub(*then);
        }
        for (out, (now, then)) in d
            .handshake_errors
            .iter_mut()
            .zip(self.handshake_errors.iter().zip(&earlier.handshake_errors))
        {
            *out = now.saturating_sub(*then);
        }
        d
    }
}

/// One period's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// End of the period, Unix milliseconds.
    pub at_ms: i64,
    /// What happened during it.
    pub counts: Reading,
}

#[derive(Debug, Default)]
struct Ring {
    last: Option<Reading>,
    samples: VecDeque<Sample>,
}

/// The last [`SAMPLES`] samples.
#[derive(Debug, Default)]
pub struct History {
    ring: Mutex<Ring>,
}

impl History {
    /// Record the totals read at `at_ms`; the first call only sets the baseline.
    pub fn record(&self, at_ms: i64, reading: Reading) {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(last) = ring.last {
            if ring.samples.len() >= SAMPLES {
                ring.samples.pop_front();
            }
            ring.samples.push_back(Sample {
                at_ms,
                counts: reading.since(&last),
            });
        }
        ring.last = Some(reading);
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.samples.iter().copied().collect()
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Sample `metrics` every [`PERIOD`] until `stop` reads true.
pub async fn run(metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(PERIOD);
    // A stalled runtime must not produce a burst of catch-up samples.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => metrics.sample(now_ms()),
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(ok: u64, fail_open: u64) -> Reading {
        let mut r = Reading {
            fail_open,
            ..Reading::default()
        };
        r.handshakes[0] = ok;
        r
    }

    #[test]
    fn keeps_differences_and_drops_the_oldest() {
        let h = History::default();
        h.record(0, reading(5, 1));
        assert!(h.samples().is_empty(), "the first reading is the baseline");
        h.record(1000, reading(8, 1));
        h.record(2000, reading(8, 3));
        let s = h.samples();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].at_ms, s[0].counts.handshakes[0]), (1000, 3));
        assert_eq!((s[1].counts.handshakes[0], s[1].counts.fail_open), (0, 2));
        for i in 0..(SAMPLES as u64 + 10) {
            h.record(3000 + i64::try_from(i).unwrap(), reading(8 + i, 3));
        }
        let s = h.samples();
        assert_eq!(s.len(), SAMPLES);
        assert!(s.iter().all(|x| x.counts.handshakes[0] == 1));
    }

    #[test]
    fn a_counter_going_back_reads_as_zero() {
        assert_eq!(reading(1, 0).since(&reading(5, 2)), Reading::default());
    }
}
