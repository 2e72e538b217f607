//! Revocation list gauges, replaced as a whole after a whole build and set or removed list by
//! list after a change (a deleted list leaves the export), and the fetch counter. Staleness is computed when `/metrics` is rendered, so it
//! turns to 1 the moment a list passes its nextUpdate, with no task keeping it current.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

use super::expiry::ExpiryGauge;

const LABELS: [&str; 2] = ["revocation_list", "mutual_authentication"];

/// One list as the gauges describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlSample {
    pub id: String,
    pub mutual_authentication_id: String,
    /// Unix seconds.
    pub next_update: i64,
    pub revoked: i64,
}

/// The revocation list metrics.
pub struct CrlMetrics {
    next_update: ExpiryGauge,
    revoked: ExpiryGauge,
    stale: IntGaugeVec,
    /// The lists exported, by id.
    current: Mutex<HashMap<String, CrlSample>>,
    /// Fetches from lists' URLs, by result.
    fetch_ok: IntCounter,
    fetch_error: IntCounter,
}

impl CrlMetrics {
    /// Register the families.
    pub fn register(r: &Registry) -> Result<CrlMetrics, prometheus::Error> {
        let stale = IntGaugeVec::new(
            Opts::new(
                "mtls_proxy_crl_stale",
                "1 when the revocation list is past its nextUpdate (it still applies; with [revocation] require_fresh it fails the chains it covers)",
            ),
            &LABELS,
        )?;
        r.register(Box::new(stale.clone()))?;
        let fetches = IntCounterVec::new(
            Opts::new(
                "mtls_proxy_crl_fetches_total",
                "Fetches of revocation lists from their url, by result (error: the list kept its CRL)",
            ),
            &["result"],
        )?;
        r.register(Box::new(fetches.clone()))?;
        Ok(CrlMetrics {
            next_update: ExpiryGauge::register(
                r,
                "mtls_proxy_crl_next_update_timestamp_seconds",
                "nextUpdate (Unix seconds) of each revocation list",
                LABELS,
            )?,
            revoked: ExpiryGauge::register(
                r,
                "mtls_proxy_crl_revoked_certificates",
                "Certificates listed in each revocation list",
                LABELS,
            )?,
            stale,
            current: Mutex::new(HashMap::new()),
            fetch_ok: fetches.get_metric_with_label_values(&["ok"])?,
            fetch_error: fetches.get_metric_with_label_values(&["error"])?,
        })
    }

    /// Export exactly these lists.
    pub fn replace(&self, lists: Vec<CrlSample>) {
        let pairs = |f: fn(&CrlSample) -> i64| {
            lists
                .iter()
                .map(move |l| (l.id.as_str(), l.mutual_authentication_id.as_str(), f(l)))
        };
        self.next_update.replace(pairs(|l| l.next_update));
        self.revoked.replace(pairs(|l| l.revoked));
        let next: HashMap<String, CrlSample> =
            lists.into_iter().map(|l| (l.id.clone(), l)).collect();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        for gone in current.values().filter(|c| !next.contains_key(&c.id)) {
            let _ = self
                .stale
                .remove_label_values(&[&gone.id, &gone.mutual_authentication_id]);
        }
        *current = next;
    }

    /// Export one list (created or changed).
    pub fn set(&self, list: CrlSample) {
        let (id, ma) = (list.id.as_str(), list.mutual_authentication_id.as_str());
        self.next_update.set(id, ma, list.next_update);
        self.revoked.set(id, ma, list.revoked);
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.insert(list.id.clone(), list);
    }

    /// Stop exporting one list (deleted).
    pub fn remove(&self, id: &str, mutual_authentication_id: &str) {
        self.next_update.remove(id, mutual_authentication_id);
        self.revoked.remove(id, mutual_authentication_id);
        let _ = self
            .stale
            .remove_label_values(&[id, mutual_authentication_id]);
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.remove(id);
    }

    /// Set the stale gauges for `now` (Unix seconds).
    pub fn update_stale(&self, now: i64) {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        for l in current.values() {
            if let Ok(g) = self
                .stale
                .get_metric_with_label_values(&[&l.id, &l.mutual_authentication_id])
            {
                g.set(i64::from(now >= l.next_update));
            }
        }
    }

    /// One fetch from a list's URL.
    pub fn fetched(&self, ok: bool) {
        match ok {
            true => self.fetch_ok.inc(),
            false => self.fetch_error.inc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Registry) -> String {
        let mut buf = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &r.gather(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn sample(id: &str, next_update: i64) -> CrlSample {
        CrlSample {
            id: id.into(),
            mutual_authentication_id: "m".into(),
            next_update,
            revoked: 3,
        }
    }

    #[test]
    fn gauges_follow_the_lists_and_staleness_the_clock() {
        let r = Registry::new();
        let m = CrlMetrics::register(&r).unwrap();
        m.replace(vec![sample("a", 100), sample("b", 200)]);
        m.update_stale(150);
        let t = text(&r);
        for line in [
            r#"mtls_proxy_crl_next_update_timestamp_seconds{mutual_authentication="m",revocation_list="a"} 100"#,
            r#"mtls_proxy_crl_revoked_certificates{mutual_authentication="m",revocation_list="b"} 3"#,
            r#"mtls_proxy_crl_stale{mutual_authentication="m",revocation_list="a"} 1"#,
            r#"mtls_proxy_crl_stale{mutual_authentication="m",revocation_list="b"} 0"#,
            r#"mtls_proxy_crl_fetches_total{result="error"} 0"#,
        ] {
            assert!(t.contains(line), "{line} missing in\n{t}");
        }
        m.replace(vec![sample("b", 200)]);
        m.update_stale(250);
        m.fetched(false);
        let t = text(&r);
        assert!(!t.contains(r#"revocation_list="a""#), "{t}");
        assert!(
            t.contains(r#"mtls_proxy_crl_stale{mutual_authentication="m",revocation_list="b"} 1"#)
        );
        assert!(t.contains(r#"mtls_proxy_crl_fetches_total{result="error"} 1"#));
    }

    #[test]
    fn a_change_sets_or_removes_one_list() {
        let r = Registry::new();
        let m = CrlMetrics::register(&r).unwrap();
        m.replace(vec![sample("a", 100), sample("b", 200)]);
        m.set(sample("c", 300));
        m.set(sample("a", 400));
        m.remove("b", "m");
        m.update_stale(350);
        let t = text(&r);
        for line in [
            r#"mtls_proxy_crl_next_update_timestamp_seconds{mutual_authentication="m",revocation_list="a"} 400"#,
            r#"mtls_proxy_crl_stale{mutual_authentication="m",revocation_list="a"} 0"#,
            r#"mtls_proxy_crl_stale{mutual_authentication="m",revocation_list="c"} 1"#,
        ] {
            assert!(t.contains(line), "{line} missing in\n{t}");
        }
        assert!(!t.contains(r#"revocation_list="b""#), "{t}");
    }
}
