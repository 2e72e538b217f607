//! `/metrics` scrapes as maps from series (`name{labels}` exactly as exported) to value, and
//! the difference of two scrapes.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Harness;

/// One scrape.
pub type Scrape = BTreeMap<String, f64>;

/// Parse the text exposition format (comments skipped).
pub fn parse(text: &str) -> Scrape {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series and value");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// Scrape the harness's admin listener (no key needed).
pub async fn scrape(h: &Harness) -> Scrape {
    let r = h.raw("GET", "/metrics", None, None).await;
    assert_eq!(r.status, 200);
    parse(&String::from_utf8(r.body).unwrap())
}

/// Counters and histogram counts: the series that only move when something happens.
pub fn is_count(series: &str) -> bool {
    let name = series.split('{').next().unwrap_or(series);
    name.ends_with("_total") || name.ends_with("_count")
}

/// The count series that moved from `before` to `after`, with how much (absent = 0).
pub fn moved(before: &Scrape, after: &Scrape) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter(|(k, _)| is_count(k))
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d != 0.0)
        .collect()
}

/// Scrape until the counts moved by exactly `expected` since `before` (recording happens on
/// the server's tasks, a moment after a client saw its answer), or give up after ten seconds
/// and return the last difference. Counters only go up, so once equal nothing is pending.
pub async fn settle(
    h: &Harness,
    before: &Scrape,
    expected: &BTreeMap<String, f64>,
) -> (Scrape, BTreeMap<String, f64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = scrape(h).await;
        let diff = moved(before, &now);
        if &diff == expected || tokio::time::Instant::now() > deadline {
            return (now, diff);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the one series whose text contains every fragment.
pub fn find(s: &Scrape, fragments: &[&str]) -> Option<f64> {
    let hits: Vec<_> = s
        .iter()
        .filter(|(k, _)| fragments.iter().all(|f| k.contains(f)))
        .collect();
    assert!(
        hits.len() <= 1,
        "several series match {fragments:?}: {hits:?}"
    );
    hits.first().map(|(_, v)| **v)
}
