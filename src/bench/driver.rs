//! Starts one worker's connections: closed loop (`--concurrency` tasks, each starting its next connection
//! when the previous one ends) or open loop (`--rate`: connections start on a fixed schedule
//! whatever the server does, and latency counts from the scheduled start, so a stalled server
//! cannot hide its stall by slowing the load down: no coordinated omission). Each worker
//! thread runs its [`Share`] of the run: of the connections in flight, of `--count`, and of the
//! open loop's schedule.

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

/// Worker `index` of `of`: which part of the run it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// This worker, from 0.
    pub index: usize,
    /// All workers (at least 1).
    pub of: usize,
}

impl Share {
    /// This worker's part of `n`, split as evenly as possible (the first `n % of` workers take
    /// one more).
    pub fn part(self, n: u64) -> u64 {
        let (of, index) = (self.of.max(1) as u64, self.index as u64);
        n / of + u64::from(index < n % of)
    }

    /// This worker's part of `concurrency`.
    pub fn concurrency(self, concurrency: usize) -> usize {
        usize::try_from(self.part(concurrency as u64)).unwrap_or(concurrency)
    }

    /// This worker's stop condition: its part of a count, or the run's deadline.
    pub fn stop(self, stop: Stop) -> Stop {
        match stop {
            Stop::Count(n) => Stop::Count(self.part(n)),
            after => after,
        }
    }

    /// In an open loop at `rate` connections per second overall, when this worker's `i`-th
    /// connection is due after the start: the workers' schedules interleave, so the run as a
    /// whole keeps the rate (connection i of worker w is the run's `i * of + w`-th).
    pub fn due_after(self, i: u64, rate: f64) -> Option<Duration> {
        let nth = i
            .checked_mul(self.of as u64)?
            .checked_add(self.index as u64)?;
        Duration::try_from_secs_f64(nth as f64 / rate).ok()
    }
}

/// Closed loop: `concurrency` tasks, each running connections back to back. Returns the
/// operations completed.
pub async fn closed_loop(
    client: Arc<Client>,
    rec: Arc<Recorder>,
    budget: Arc<Budget>,
    concurrency: usize,
) -> u64 {
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (client, rec, budget) = (client.clone(), rec.clone(), budget.clone());
        tasks.spawn(async move {
            let mut done = 0;
            loop {
                let start = Instant::now();
                if !budget.claim(start) {
                    break;
                }
                done += client.run(&rec, start).await;
            }
            done
        });
    }
    let mut done = 0;
    while let Some(n) = tasks.join_next().await {
        done += n.unwrap_or(0);
    }
    done
}

/// Open loop: this worker's connection i is due at `start + share.due_after(i, rate)`; at most
/// `concurrency` in flight (a connection that has to wait for a slot still counts its latency
/// from when it was due). Returns the operations completed.
pub async fn open_loop(
    client: Arc<Client>,
    rec: Arc<Recorder>,
    budget: Arc<Budget>,
    (concurrency, share): (usize, Share),
    (start, rate): (Instant, f64),
) -> u64 {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let mut done = 0;
    for i in 0u64.. {
        let Some(due) = share
            .due_after(i, rate)
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
            let n = client.run(&rec, origin).await;
            drop(slot);
            n
        });
        while let Some(n) = tasks.try_join_next() {
            done += n.unwrap_or(0);
        }
    }
    while let Some(n) = tasks.join_next().await {
        done += n.unwrap_or(0);
    }
    done
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
    fn shares_split_evenly_and_add_up() {
        for (n, of) in [(60u64, 2usize), (7, 3), (2, 4), (1_000_001, 7)] {
            let parts: Vec<u64> = (0..of).map(|index| Share { index, of }.part(n)).collect();
            assert_eq!(parts.iter().sum::<u64>(), n, "{n} over {of}");
            let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
            assert!(hi - lo <= 1, "{parts:?}");
        }
        let w = Share { index: 1, of: 2 };
        assert_eq!(w.stop(Stop::Count(5)), Stop::Count(2));
        let d = Stop::After(Duration::from_secs(3));
        assert_eq!(w.stop(d), d, "every worker runs until the same deadline");
    }

    #[test]
    fn open_loop_schedules_interleave_to_the_overall_rate() {
        // 3 workers at 300/s overall: the run's n-th connection is due at n / 300 s, once.
        let mut dues: Vec<Duration> = (0..3)
            .flat_map(|index| {
                (0..4).map(move |i| Share { index, of: 3 }.due_after(i, 300.0).unwrap())
            })
            .collect();
        dues.sort();
        let expected: Vec<Duration> = (0..12)
            .map(|n| Duration::from_secs_f64(f64::from(n) / 300.0))
            .collect();
        assert_eq!(dues, expected);
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
