//! A log-linear latency histogram (values in microseconds): exact below 128, then 64 linear
//! sub-buckets per power of two, so any recorded value is reported within 1/64 (1.6 %) of what
//! was measured, over the whole u64 range, in a fixed 30 KB table. Small enough to write here
//! instead of adding the `hdrhistogram` crate, whose extra features (auto-resize, serialisation,
//! coordinated-omission correction after the fact) this tool does not need: the open-loop mode
//! avoids coordinated omission at the source.

use std::sync::atomic::{AtomicU64, Ordering};

use super::format::round_u64;

/// Values below this are counted exactly (one bucket per value).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Linear sub-buckets per power of two above [`SUB`].
const HALF: u64 = SUB / 2;
/// Buckets needed for the whole u64 range.
pub const BUCKETS: usize = 128 + (64 - 7) * 64;
const _: () = assert!(BUCKETS as u64 == SUB + (64 - SUB_BITS as u64) * HALF);

/// The bucket a value falls into (always below [`BUCKETS`]).
pub fn bucket_of(value: u64) -> usize {
    let index = if value < SUB {
        value
    } else {
        let msb = 63 - value.leading_zeros();
        let shift = msb - (SUB_BITS - 1);
        let top = value >> shift;
        SUB + u64::from(shift - 1) * HALF + (top - HALF)
    };
    // Below BUCKETS (3,776) by construction; the fallback is out of range, so never counted.
    usize::try_from(index).unwrap_or(usize::MAX)
}

/// The smallest and largest value (inclusive) of a bucket.
pub fn bucket_range(index: usize) -> (u64, u64) {
    let i = index as u64;
    if i < SUB {
        return (i, i);
    }
    let k = i - SUB;
    let shift = (k / HALF + 1).min(63 - u64::from(SUB_BITS - 1));
    let top = HALF + k % HALF;
    let low = top << shift;
    (low, low + ((1u64 << shift) - 1))
}

/// A histogram owned by one reader (merged, queried, plotted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }
}

impl Histogram {
    /// Counts one value.
    pub fn record(&mut self, value: u64) {
        if let Some(c) = self.counts.get_mut(bucket_of(value)) {
            *c += 1;
        }
        self.total += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += u128::from(value);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest value recorded (exact; 0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Smallest value recorded (exact; 0 when empty).
    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    /// Arithmetic mean (exact; 0 when empty).
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at quantile `q` (0.0–1.0): the smallest value such that at least `q` of all
    /// values are at or below it, reported as the top of its bucket (never above the maximum).
    /// 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = round_u64((q * self.total as f64).ceil()).clamp(1, self.total);
        let mut seen = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (_, high) = bucket_range(index);
                return high.clamp(self.min(), self.max);
            }
        }
        self.max
    }

    /// Non-empty buckets as (lowest value, highest value, count), in increasing order.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                let (low, high) = bucket_range(i);
                (low, high, c)
            })
    }
}

/// A histogram many tasks record into at once without locks.
#[derive(Debug)]
pub struct AtomicHistogram {
    counts: Vec<AtomicU64>,
    min: AtomicU64,
    max: AtomicU64,
    sum: AtomicU64,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }
}

impl AtomicHistogram {
    /// Counts one value.
    pub fn record(&self, value: u64) {
        if let Some(c) = self.counts.get(bucket_of(value)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.min.fetch_min(value, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// A copy of the current contents.
    pub fn snapshot(&self) -> Histogram {
        let counts = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let min = self.min.load(Ordering::Relaxed);
        let max = self.max.load(Ordering::Relaxed);
        from_parts(counts, min, max, self.sum.load(Ordering::Relaxed))
    }

    /// The current contents, leaving the histogram empty (for per-interval figures; a value
    /// recorded concurrently lands in this interval or the next, never in neither).
    pub fn take(&self) -> Histogram {
        let counts = self
            .counts
            .iter()
            .map(|c| c.swap(0, Ordering::Relaxed))
            .collect();
        let min = self.min.swap(u64::MAX, Ordering::Relaxed);
        let max = self.max.swap(0, Ordering::Relaxed);
        from_parts(counts, min, max, self.sum.swap(0, Ordering::Relaxed))
    }
}

fn from_parts(counts: Vec<u64>, min: u64, max: u64, sum: u64) -> Histogram {
    Histogram {
        total: counts.iter().sum(),
        counts,
        min,
        max,
        sum: u128::from(sum),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_u64() {
        assert_eq!(bucket_range(0), (0, 0));
        let mut next = 0u64;
        for i in 0..BUCKETS {
            let (low, high) = bucket_range(i);
            assert_eq!(low, next, "bucket {i} starts where {} ended", i.max(1) - 1);
            assert!(high >= low);
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(high), i);
            next = high.wrapping_add(1);
        }
        assert_eq!(next, 0, "the last bucket ends at u64::MAX");
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn relative_error_is_within_one_sixty_fourth() {
        for v in [127u64, 128, 129, 1_000, 4_095, 123_456, 9_999_999, 1 << 40] {
            let (low, high) = bucket_range(bucket_of(v));
            assert!(low <= v && v <= high);
            assert!(
                ((high - low) as f64) <= low as f64 / 64.0,
                "{v}: {low}..{high}"
            );
        }
    }

    #[test]
    fn quantiles_of_exact_small_values() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(0.9), 90);
        assert_eq!(h.quantile(0.99), 99);
        assert_eq!(h.quantile(0.999), 100);
        assert_eq!(h.quantile(1.0), 100);
        assert_eq!(h.quantile(0.0), 1);
        assert_eq!((h.min(), h.max()), (1, 100));
        assert!((h.mean() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn quantiles_of_large_values_are_close_and_never_above_max() {
        let mut h = Histogram::default();
        for v in 0..10_000u64 {
            h.record(1_000 + v * 10);
        }
        let p99 = h.quantile(0.99) as f64;
        let exact = (1_000 + 9_899 * 10) as f64;
        assert!((p99 - exact).abs() / exact < 1.0 / 64.0, "{p99} vs {exact}");
        assert_eq!(h.quantile(1.0), 1_000 + 9_999 * 10);
        let mut single = Histogram::default();
        single.record(5_000_001);
        assert_eq!(single.quantile(0.5), 5_000_001, "clamped to the only value");
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let h = Histogram::default();
        assert_eq!(
            (h.quantile(0.99), h.max(), h.min(), h.mean()),
            (0, 0, 0, 0.0)
        );
        assert_eq!(h.buckets().count(), 0);
    }

    #[test]
    fn merge_and_atomic_take() {
        let a = AtomicHistogram::default();
        for v in [10, 20, 3_000] {
            a.record(v);
        }
        let snap = a.snapshot();
        assert_eq!((snap.count(), snap.min(), snap.max()), (3, 10, 3_000));
        let taken = a.take();
        assert_eq!(taken, snap);
        assert_eq!(a.snapshot().count(), 0, "take empties it");
        a.record(7);
        let mut merged = taken.clone();
        merged.merge(&a.take());
        assert_eq!((merged.count(), merged.min(), merged.max()), (4, 7, 3_000));
        let buckets: Vec<_> = merged.buckets().map(|(l, _, c)| (l, c)).collect();
        assert_eq!(buckets.first(), Some(&(7, 1)));
        assert_eq!(buckets.len(), 4);
    }
}
