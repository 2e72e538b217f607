//! Starts connections: closed loop (`--concurrency` tasks, each starting its next connection
//! when the previous one ends) or open loop (`--rate`: connections start on a fixed schedule
//! whatever the server does, and latency counts from the scheduled start, so a stalled server
//! cannot hide its stall by slowing the load down: no coordinated omission).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::connection::Client;
use super::options::Stop;
use super::recorder::Recorder;

/// How far ahead of a scheduled start the open loop wakes up: tokio's timer has a resolution
/// of 1 ms, so sleeping until the exact instant would start every connection up to 1 ms late
/// and add that to its latency.
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// Which connections may still start.
#[derive(Debug)]
pub enum Budget {
    /// Those starting before this instant.
    Until(Instant),
    /// This many more.
    Left(AtomicU64),
}

impl Budget {
    /// The budget of a run starting at `start`.
    pub fn new(stop: Stop, start: Instant) -> Budget {
        match stop {
            // A duration beyond what Instant can represent means "until stopped".
            Stop::After(d) => start
                .checked_add(d)
                .map_or(Budget::Left(AtomicU64::new(u64::MAX)), Budget::Until),
            Stop::Count(n) => Budget::Left(AtomicU64::new(n)),
        }
    }

    /// Takes one start at `at`; false when the budget is spent.
    pub fn claim(&self, at: Instant) -> bool {
        match self {
            Budget::Until(deadline) => at < *deadline,
            Budget::Left(n) => n
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                .is_ok(),
        }
    }
}

/// Closed loop: `concurrency` tasks, each running connections back to back.
pub async fn closed_loop(
    client: Arc<Client>,
    rec: Arc<Recorder>,
    budget: Arc<Budget>,
    concurrency: usize,
) {
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (client, rec, budget) = (client.clone(), rec.clone(), budget.clone());
        tasks.spawn(async move {
            loop {
                let start = Instant::now();
                if !budget.claim(start) {
                    break;
                }
                client.run(&rec, start).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Open loop: connection i is due at `start + i / rate`; at most `concurrency` in flight (a
/// connection that has to wait for a slot still counts its latency from when it was due).
pub async fn open_loop(
    client: Arc<Client>,
    rec: Arc<Recorder>,
    budget: Arc<Budget>,
    concurrency: usize,
    rate: f64,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0u64.. {
        let Some(due) = Duration::try_from_secs_f64(i as f64 / rate)
            .ok()
            .and_then(|offset| start.checked_add(offset))
        else {
            break;
        };
        if !budget.claim(due) {
            break;
        }
        tokio::time::sleep_until(due.checked_sub(TIMER_SLACK).unwrap_or(due)).await;
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        // Started early (within the slack): count from the real start, never from a point
        // before the connection existed. Started late: count from when it was due.
        let origin = due.min(Instant::now());
        let (client, rec) = (client.clone(), rec.clone());
        tasks.spawn(async move {
            client.run(&rec, origin).await;
            drop(slot);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_budget_allows_exactly_n() {
        let b = Budget::new(Stop::Count(3), Instant::now());
        let now = Instant::now();
        let granted = (0..10).filter(|_| b.claim(now)).count();
        assert_eq!(granted, 3);
    }

    #[test]
    fn an_enormous_duration_does_not_overflow() {
        let b = Budget::new(Stop::After(Duration::MAX), Instant::now());
        assert!(b.claim(Instant::now()));
    }

    #[test]
    fn time_budget_is_by_start_time() {
        let start = Instant::now();
        let b = Budget::new(Stop::After(Duration::from_secs(2)), start);
        assert!(b.claim(start));
        assert!(b.claim(start + Duration::from_millis(1_999)));
        assert!(!b.claim(start + Duration::from_secs(2)));
    }
}
