//! The once-a-second view of a run: a timeline point per interval (kept for the report and the
//! plot) and, on a terminal, a live line with the rate, errors and p99 of the last second.

use std::io::Write;

use serde::Serialize;
use tokio::time::Instant;

use super::format::{latency, round_u64, thousands};
use super::recorder::{Recorder, Totals};

/// Intervals shorter than this at the end of a run are not worth a point of their own.
const MIN_TAIL_SECS: f64 = 0.05;

/// One interval of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Seconds from the start of the run to the end of the interval.
    pub t_s: f64,
    /// Operations completed in the interval.
    pub completed: u64,
    /// Operations failed in the interval.
    pub failed: u64,
    /// Completions per second over the interval.
    pub per_second: f64,
    /// 99th percentile latency of the interval's completions, in microseconds.
    pub p99_us: u64,
}

/// Collects the timeline and draws the live line.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    last: Instant,
    seen: Totals,
    live: bool,
    timeline: Vec<Point>,
}

impl Progress {
    /// Starts at `start`; `live`: draw the line (stderr is a terminal).
    pub fn new(start: Instant, live: bool) -> Progress {
        Progress {
            start,
            last: start,
            seen: Totals::default(),
            live,
            timeline: Vec::new(),
        }
    }

    /// Closes an interval at `now`.
    pub fn tick(&mut self, rec: &Recorder, now: Instant) {
        let point = self.point(rec, now);
        if self.live {
            let line = format!(
                "\r\x1b[K[{:>5.0}s] {:>9}/s  completed {:>10}  errors {:>8}  p99 {}",
                point.t_s,
                thousands(round_u64(point.per_second)),
                thousands(self.seen.completed),
                thousands(self.seen.failed),
                latency(point.p99_us),
            );
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(line.as_bytes());
            let _ = err.flush();
        }
        self.timeline.push(point);
    }

    /// Closes the last, partial interval and clears the live line; returns the timeline. A
    /// tail too short to give a meaningful rate is folded into the previous point.
    pub fn finish(mut self, rec: &Recorder, now: Instant) -> Vec<Point> {
        let tail = now.saturating_duration_since(self.last).as_secs_f64();
        if tail >= MIN_TAIL_SECS || rec.totals() != self.seen {
            let point = self.point(rec, now);
            let previous_start = self.timeline.iter().rev().nth(1).map_or(0.0, |p| p.t_s);
            match self.timeline.last_mut() {
                Some(last) if tail < MIN_TAIL_SECS => {
                    let secs = point.t_s - previous_start;
                    last.completed += point.completed;
                    last.failed += point.failed;
                    last.t_s = point.t_s;
                    last.per_second = last.completed as f64 / secs.max(f64::EPSILON);
                    last.p99_us = last.p99_us.max(point.p99_us);
                }
                _ => self.timeline.push(point),
            }
        }
        if self.live {
            let _ = std::io::stderr().write_all(b"\r\x1b[K");
        }
        self.timeline
    }

    fn point(&mut self, rec: &Recorder, now: Instant) -> Point {
        let totals = rec.totals();
        let interval = rec.take_interval();
        let secs = now.saturating_duration_since(self.last).as_secs_f64();
        let completed = totals.completed.saturating_sub(self.seen.completed);
        let point = Point {
            t_s: now.saturating_duration_since(self.start).as_secs_f64(),
            completed,
            failed: totals.failed.saturating_sub(self.seen.failed),
            per_second: if secs > 0.0 {
                completed as f64 / secs
            } else {
                0.0
            },
            p99_us: interval.quantile(0.99),
        };
        self.seen = totals;
        self.last = now;
        point
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::failure::Failure;
    use std::time::Duration;

    #[test]
    fn one_point_per_interval_plus_the_tail() {
        let rec = Recorder::default();
        let start = Instant::now();
        let mut p = Progress::new(start, false);
        for _ in 0..10 {
            rec.completed(Duration::from_micros(100));
        }
        rec.failed(&Failure::Timeout);
        p.tick(&rec, start + Duration::from_secs(1));
        rec.completed(Duration::from_micros(900));
        let timeline = p.finish(&rec, start + Duration::from_millis(1_500));
        assert_eq!(timeline.len(), 2);
        let (first, tail) = (&timeline[0], &timeline[1]);
        assert_eq!((first.completed, first.failed, first.p99_us), (10, 1, 100));
        assert!((first.per_second - 10.0).abs() < 1e-9);
        assert_eq!((tail.completed, tail.failed, tail.p99_us), (1, 0, 900));
        assert!((tail.per_second - 2.0).abs() < 1e-9);
        assert!((tail.t_s - 1.5).abs() < 1e-9);
    }

    #[test]
    fn a_very_short_tail_is_folded_into_the_last_point() {
        let rec = Recorder::default();
        let start = Instant::now();
        let mut p = Progress::new(start, false);
        for _ in 0..10 {
            rec.completed(Duration::from_micros(100));
        }
        p.tick(&rec, start + Duration::from_secs(1));
        rec.completed(Duration::from_micros(200));
        let timeline = p.finish(&rec, start + Duration::from_millis(1_010));
        assert_eq!(timeline.len(), 1);
        let only = &timeline[0];
        assert_eq!((only.completed, only.p99_us), (11, 200));
        assert!((only.per_second - 11.0 / 1.01).abs() < 1e-9);
        assert!((only.t_s - 1.01).abs() < 1e-9);
    }
}
