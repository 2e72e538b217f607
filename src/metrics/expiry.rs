//! Expiry gauges (`notAfter` as Unix seconds) replaced as a whole on every publish: label sets
//! of certificates and CAs that are no longer served are removed, so a rotated-out certificate
//! never keeps an alert firing.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use prometheus::{IntGaugeVec, Opts, Registry};

/// One gauge family with two labels whose label sets follow the configuration.
pub struct ExpiryGauge {
    vec: IntGaugeVec,
    current: Mutex<HashSet<(String, String)>>,
}

impl ExpiryGauge {
    /// Register `name` with labels `[first, second]`.
    pub fn register(
        registry: &Registry,
        name: &str,
        help: &str,
        labels: [&str; 2],
    ) -> Result<ExpiryGauge, prometheus::Error> {
        let vec = IntGaugeVec::new(Opts::new(name, help), &labels)?;
        registry.register(Box::new(vec.clone()))?;
        Ok(ExpiryGauge {
            vec,
            current: Mutex::new(HashSet::new()),
        })
    }

    /// Export exactly `items` (first label, second label, notAfter). When a label set occurs
    /// twice (two CAs with one subject in a bundle), the earlier expiry is kept: it is the one
    /// that breaks clients first.
    pub fn replace<'a>(&self, items: impl IntoIterator<Item = (&'a str, &'a str, i64)>) {
        let mut next: HashMap<(String, String), i64> = HashMap::new();
        for (a, b, not_after) in items {
            next.entry((a.to_string(), b.to_string()))
                .and_modify(|v| *v = (*v).min(not_after))
                .or_insert(not_after);
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        for stale in current.iter().filter(|k| !next.contains_key(*k)) {
            let _ = self
                .vec
                .remove_label_values(&[stale.0.as_str(), stale.1.as_str()]);
        }
        for ((a, b), not_after) in &next {
            if let Ok(g) = self
                .vec
                .get_metric_with_label_values(&[a.as_str(), b.as_str()])
            {
                g.set(*not_after);
            }
        }
        *current = next.into_keys().collect();
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

    #[test]
    fn replace_sets_removes_stale_and_keeps_the_earliest() {
        let r = Registry::new();
        let g = ExpiryGauge::register(&r, "x_not_after_seconds", "h", ["a", "b"]).unwrap();
        g.replace([("c1", "d1", 100), ("c1", "d2", 200), ("c1", "d2", 150)]);
        let t = text(&r);
        assert!(
            t.contains(r#"x_not_after_seconds{a="c1",b="d1"} 100"#),
            "{t}"
        );
        assert!(
            t.contains(r#"x_not_after_seconds{a="c1",b="d2"} 150"#),
            "{t}"
        );
        g.replace([("c2", "d1", 300)]);
        let t = text(&r);
        assert!(
            t.contains(r#"x_not_after_seconds{a="c2",b="d1"} 300"#),
            "{t}"
        );
        assert!(!t.contains("c1"), "{t}");
    }
}
