//! Expiry gauges (`notAfter` as Unix seconds) that follow the served configuration: replaced as
//! a whole on a full build, updated label set by label set for a change. Label sets of
//! certificates and CAs that are no longer served are removed, so a rotated-out certificate
//! never keeps an alert firing.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use prometheus::{IntGaugeVec, Opts, Registry};

/// One gauge family with two labels whose label sets follow the configuration.
pub struct ExpiryGauge {
    vec: IntGaugeVec,
    current: Mutex<BTreeSet<(String, String)>>,
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
            current: Mutex::new(BTreeSet::new()),
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

    /// Export one label set.
    pub fn set(&self, first: &str, second: &str, not_after: i64) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(g) = self.vec.get_metric_with_label_values(&[first, second]) {
            g.set(not_after);
            current.insert((first.to_string(), second.to_string()));
        }
    }

    /// Stop exporting one label set.
    pub fn remove(&self, first: &str, second: &str) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.remove(&(first.to_string(), second.to_string())) {
            let _ = self.vec.remove_label_values(&[first, second]);
        }
    }

    /// Replace every label set whose first label is `first` with `items` (second label,
    /// notAfter), keeping the earlier expiry of a repeated label set as [`ExpiryGauge::replace`].
    pub fn replace_group<'a>(&self, first: &str, items: impl IntoIterator<Item = (&'a str, i64)>) {
        let mut next: HashMap<&str, i64> = HashMap::new();
        for (second, not_after) in items {
            next.entry(second)
                .and_modify(|v| *v = (*v).min(not_after))
                .or_insert(not_after);
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let start = (first.to_string(), String::new());
        let stale: Vec<(String, String)> = current
            .range(start..)
            .take_while(|(a, _)| a == first)
            .filter(|(_, b)| !next.contains_key(b.as_str()))
            .cloned()
            .collect();
        for key in stale {
            let _ = self
                .vec
                .remove_label_values(&[key.0.as_str(), key.1.as_str()]);
            current.remove(&key);
        }
        for (second, not_after) in next {
            if let Ok(g) = self.vec.get_metric_with_label_values(&[first, second]) {
                g.set(not_after);
                current.insert((first.to_string(), second.to_string()));
            }
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

    #[test]
    fn single_and_group_updates_touch_only_their_label_sets() {
        let r = Registry::new();
        let g = ExpiryGauge::register(&r, "y_not_after_seconds", "h", ["a", "b"]).unwrap();
        g.replace([("m1", "ca1", 100), ("m1", "ca2", 200), ("m2", "ca1", 300)]);
        g.replace_group("m1", [("ca2", 250), ("ca3", 400), ("ca3", 350)]);
        let t = text(&r);
        assert!(!t.contains(r#"a="m1",b="ca1""#), "{t}");
        assert!(
            t.contains(r#"y_not_after_seconds{a="m1",b="ca2"} 250"#),
            "{t}"
        );
        assert!(
            t.contains(r#"y_not_after_seconds{a="m1",b="ca3"} 350"#),
            "{t}"
        );
        assert!(
            t.contains(r#"y_not_after_seconds{a="m2",b="ca1"} 300"#),
            "{t}"
        );
        g.remove("m2", "ca1");
        g.set("c9", "d9", 9);
        g.replace_group("m1", []);
        let t = text(&r);
        assert!(!t.contains("m1") && !t.contains("m2"), "{t}");
        assert!(t.contains(r#"y_not_after_seconds{a="c9",b="d9"} 9"#), "{t}");
    }
}
