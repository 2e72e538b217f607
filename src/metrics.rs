//! Prometheus metrics: a leaf module every runtime part records into; rendered at `/metrics`.
//! Hot-path recording is an atomic add on a handle resolved ahead of time ([`DomainMetrics`]
//! per domain, arrays per closed label set); nothing here allocates per handshake or request.

pub mod crl;
#[cfg(test)]
mod dashboard_tests;
pub mod domain;
pub mod expiry;
pub mod history;
pub mod labels;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

pub use domain::DomainMetrics;
use domain::Families;
use expiry::ExpiryGauge;
use history::{History, Reading, Sample};
use labels::{HANDSHAKE_ERROR_REASONS, OTHER_DOMAIN};

/// Buckets for request and origin durations (seconds).
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// Buckets for handshake durations (seconds).
const HANDSHAKE_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    families: Arc<Families>,
    /// One handle per configured domain, reused across snapshot builds so counters continue.
    domains: Mutex<HashMap<Arc<str>, Arc<DomainMetrics>>>,
    other: Arc<DomainMetrics>,
    /// `mtls_proxy_tls_handshake_errors_total`, one per [`HANDSHAKE_ERROR_REASONS`] entry.
    handshake_errors: Vec<IntCounter>,
    /// Completed handshakes, from accept to the end of the handshake.
    pub handshake_duration: Histogram,
    /// Requests, from the start of the request to the response headers.
    pub request_duration: Histogram,
    /// Origin calls, until the origin's response headers (or the failure).
    pub origin_duration: Histogram,
    /// Open client connections.
    pub connections_active: IntGauge,
    /// Accepted client connections.
    pub connections_total: IntCounter,
    /// The store revision the data plane serves.
    pub config_revision: IntGauge,
    /// How many revisions the data plane is behind the store (as far as known).
    pub config_revision_lag: IntGauge,
    /// 1 while the store answers, 0 while it cannot be reached.
    pub store_up: IntGauge,
    /// Snapshot builds by result (`ok`, `error`), whatever triggered them.
    pub config_reloads: IntCounterVec,
    /// Time to build a snapshot.
    pub config_build_duration: Histogram,
    certificate_not_after: ExpiryGauge,
    client_ca_not_after: ExpiryGauge,
    /// Revocation list gauges and fetches.
    pub crl: crl::CrlMetrics,
    history: History,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
) -> Result<Histogram, prometheus::Error> {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

fn int_gauge(r: &Registry, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn handshake_errors(r: &Registry) -> Result<Vec<IntCounter>, prometheus::Error> {
    let vec = IntCounterVec::new(
        Opts::new(
            "mtls_proxy_tls_handshake_errors_total",
            "Handshakes that did not complete, by reason",
        ),
        &["reason"],
    )?;
    r.register(Box::new(vec.clone()))?;
    // A closed, small set: exported from the start so rate() sees the first failure.
    HANDSHAKE_ERROR_REASONS
        .iter()
        .map(|reason| vec.get_metric_with_label_values(&[reason]))
        .collect()
}

impl Metrics {
    /// Register every metric (fails only on an invalid or duplicate metric definition).
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let r = Registry::new();
        let families = Arc::new(Families::register(&r)?);
        let connections_total = IntCounter::new(
            "mtls_proxy_connections_total",
            "Client TCP connections accepted by the proxy listener",
        )?;
        r.register(Box::new(connections_total.clone()))?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "mtls_proxy_config_reloads_total",
                "Snapshot rebuilds (API change, config reload, start) by result",
            ),
            &["result"],
        )?;
        r.register(Box::new(config_reloads.clone()))?;
        Ok(Metrics {
            other: Arc::new(DomainMetrics::new(OTHER_DOMAIN, families.clone())),
            handshake_errors: handshake_errors(&r)?,
            handshake_duration: histogram(
                &r,
                "mtls_proxy_tls_handshake_duration_seconds",
                "Completed TLS handshakes: from accept to the end of the handshake",
                &HANDSHAKE_BUCKETS,
            )?,
            request_duration: histogram(
                &r,
                "mtls_proxy_request_duration_seconds",
                "Requests: from the request head to the response head",
                &LATENCY_BUCKETS,
            )?,
            origin_duration: histogram(
                &r,
                "mtls_proxy_origin_duration_seconds",
                "Origin calls: until the origin's response head or the failure",
                &LATENCY_BUCKETS,
            )?,
            connections_active: int_gauge(
                &r,
                "mtls_proxy_connections_active",
                "Open client connections (handshaking or established)",
            )?,
            connections_total,
            config_revision: int_gauge(
                &r,
                "mtls_proxy_config_revision",
                "Store revision of the configuration the data plane serves",
            )?,
            config_revision_lag: int_gauge(
                &r,
                "mtls_proxy_config_revision_lag",
                "Revisions the data plane is behind the store, as last seen",
            )?,
            store_up: int_gauge(
                &r,
                "mtls_proxy_store_up",
                "1 while the store answers, 0 while it cannot be reached (the node keeps serving)",
            )?,
            config_reloads,
            config_build_duration: histogram(
                &r,
                "mtls_proxy_config_build_duration_seconds",
                "Time to build a data-plane snapshot",
                &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
            )?,
            certificate_not_after: ExpiryGauge::register(
                &r,
                "mtls_proxy_certificate_not_after_seconds",
                "notAfter (Unix seconds) of each activated domain's server certificate",
                ["certificate", "domain"],
            )?,
            client_ca_not_after: ExpiryGauge::register(
                &r,
                "mtls_proxy_client_ca_not_after_seconds",
                "notAfter (Unix seconds) of each CA in the bundles of mutual authentications in use",
                ["mutual_authentication", "subject"],
            )?,
            crl: crl::CrlMetrics::register(&r)?,
            history: History::default(),
            domains: Mutex::new(HashMap::new()),
            families,
            registry: r,
        })
    }

    /// Record one snapshot build.
    pub fn observe_build(&self, took: Duration, ok: bool) {
        self.config_build_duration.observe(took.as_secs_f64());
        let result = if ok { "ok" } else { "error" };
        if let Ok(c) = self.config_reloads.get_metric_with_label_values(&[result]) {
            c.inc();
        }
    }

    /// The handles of a configured domain (called while building a snapshot, not per
    /// handshake). The same name always gets the same handles until it is retired.
    pub fn domain(&self, name: &str) -> Arc<DomainMetrics> {
        let mut map = self.domains.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = map.get(name) {
            return d.clone();
        }
        let d = Arc::new(DomainMetrics::new(name, self.families.clone()));
        map.insert(Arc::from(name), d.clone());
        d
    }

    /// The handles labelled `other`: everything not tied to a configured domain.
    pub fn other(&self) -> &Arc<DomainMetrics> {
        &self.other
    }

    /// Keep the domains `live` says are still configured; remove the others' series.
    pub fn retain_domains(&self, live: impl Fn(&str) -> bool) {
        let mut map = self.domains.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|name, d| {
            let keep = live(name);
            if !keep {
                d.retire();
            }
            keep
        });
    }

    /// Remove the series of one domain no longer configured.
    pub fn retire_domain(&self, name: &str) {
        let mut map = self.domains.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = map.remove(name) {
            d.retire();
        }
    }

    /// Update the server certificates' expiry for what changed: label sets (certificate id,
    /// domain) removed, then set.
    pub fn update_certificate_expiry(
        &self,
        removed: &[(String, String)],
        set: &[(String, String, i64)],
    ) {
        for (cert, domain) in removed {
            self.certificate_not_after.remove(cert, domain);
        }
        for (cert, domain, not_after) in set {
            self.certificate_not_after.set(cert, domain, *not_after);
        }
    }

    /// Replace the client-CA expiry series of one mutual authentication: (subject, notAfter).
    pub fn replace_client_ca_expiry(&self, mutual_authentication: &str, cas: &[(String, i64)]) {
        self.client_ca_not_after.replace_group(
            mutual_authentication,
            cas.iter().map(|(s, t)| (s.as_str(), *t)),
        );
    }

    /// One failed handshake; `reason` is one of [`HANDSHAKE_ERROR_REASONS`].
    pub fn handshake_error(&self, reason: &str) {
        let slot = labels::slot_of(&HANDSHAKE_ERROR_REASONS, reason, usize::MAX);
        if let Some(c) = self.handshake_errors.get(slot) {
            c.inc();
        }
    }

    /// A newly accepted connection; the returned guard counts it as active until dropped.
    pub fn connection_opened(&self) -> ActiveConnection {
        self.connections_total.inc();
        self.connections_active.inc();
        ActiveConnection(self.connections_active.clone())
    }

    /// Export the server certificates' expiry: (certificate id, domain, notAfter).
    pub fn set_certificate_expiry<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a str, &'a str, i64)>,
    ) {
        self.certificate_not_after.replace(items);
    }

    /// Export the client CAs' expiry: (mutual authentication id, CA subject, notAfter).
    pub fn set_client_ca_expiry<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a str, &'a str, i64)>,
    ) {
        self.client_ca_not_after.replace(items);
    }

    /// The process totals now.
    pub fn reading(&self) -> Reading {
        let t = &self.families.totals;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let mut r = Reading {
            fail_open: load(&t.fail_open),
            misdirected: load(&t.misdirected),
            requests: load(&t.requests),
            ..Reading::default()
        };
        for (out, a) in r.handshakes.iter_mut().zip(&t.handshakes) {
            *out = load(a);
        }
        for (out, c) in r.handshake_errors.iter_mut().zip(&self.handshake_errors) {
            *out = c.get();
        }
        r
    }

    /// Take one history sample (the sampler task calls this once per period).
    pub fn sample(&self, at_ms: i64) {
        self.history.record(at_ms, self.reading());
    }

    /// The history, oldest first.
    pub fn history(&self) -> Vec<Sample> {
        self.history.samples()
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        self.crl.update_stale(history::now_ms().div_euclid(1000));
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for I/O reasons; a metric family error yields a
        // partial page rather than none.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Counts one connection as active while alive.
#[derive(Debug)]
pub struct ActiveConnection(IntGauge);

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_revision() {
        let m = Metrics::new().unwrap();
        m.config_revision.set(7);
        assert!(m.render().contains("mtls_proxy_config_revision 7"));
        m.store_up.set(1);
        m.config_revision_lag.set(2);
        assert!(m.render().contains("mtls_proxy_store_up 1"));
        assert!(m.render().contains("mtls_proxy_config_revision_lag 2"));
    }

    #[test]
    fn domains_are_shared_by_name_and_retired_when_gone() {
        let m = Metrics::new().unwrap();
        let a = m.domain("a.example");
        assert!(Arc::ptr_eq(&a, &m.domain("a.example")));
        a.handshake(labels::OK);
        m.domain("b.example").handshake(labels::OK);
        m.retain_domains(|name| name == "b.example");
        let text = m.render();
        assert!(!text.contains("a.example"), "{text}");
        assert!(text.contains("b.example"), "{text}");
        assert!(
            !Arc::ptr_eq(&a, &m.domain("a.example")),
            "a fresh handle after retirement"
        );
        assert_eq!(m.reading().handshakes[labels::OK], 2);
    }

    #[test]
    fn handshake_errors_are_exported_from_the_start() {
        let m = Metrics::new().unwrap();
        m.handshake_error("timeout");
        m.handshake_error("not a reason");
        let text = m.render();
        assert!(text.contains(r#"mtls_proxy_tls_handshake_errors_total{reason="timeout"} 1"#));
        assert!(text.contains(r#"mtls_proxy_tls_handshake_errors_total{reason="no_sni"} 0"#));
        assert_eq!(m.reading().handshake_errors.iter().sum::<u64>(), 1);
    }

    #[test]
    fn active_connections_follow_the_guard() {
        let m = Metrics::new().unwrap();
        let g = m.connection_opened();
        let _h = m.connection_opened();
        assert_eq!(m.connections_active.get(), 2);
        drop(g);
        assert_eq!(m.connections_active.get(), 1);
        assert_eq!(m.connections_total.get(), 2);
    }

    #[test]
    fn samples_are_differences_of_readings() {
        let m = Metrics::new().unwrap();
        m.sample(0);
        m.other().misdirected();
        m.other().request(421);
        m.sample(1000);
        let h = m.history();
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].counts.misdirected, h[0].counts.requests), (1, 1));
    }
}
