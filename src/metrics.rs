//! Prometheus metrics: a leaf module every runtime part records into; rendered at `/metrics`.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    /// The store revision the data plane serves.
    pub config_revision: IntGauge,
    /// Snapshot builds by result (`ok`, `error`), whatever triggered them.
    pub config_reloads: IntCounterVec,
    /// Time to build a snapshot.
    pub config_build_duration: Histogram,
}

impl Metrics {
    /// Register every metric (fails only on an invalid or duplicate metric definition).
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let config_revision = IntGauge::new(
            "mtls_proxy_config_revision",
            "Store revision of the configuration the data plane serves",
        )?;
        registry.register(Box::new(config_revision.clone()))?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "mtls_proxy_config_reloads_total",
                "Snapshot rebuilds (API change, config reload, start) by result",
            ),
            &["result"],
        )?;
        registry.register(Box::new(config_reloads.clone()))?;
        let config_build_duration = Histogram::with_opts(
            HistogramOpts::new(
                "mtls_proxy_config_build_duration_seconds",
                "Time to build a data-plane snapshot",
            )
            .buckets(vec![0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        )?;
        registry.register(Box::new(config_build_duration.clone()))?;
        Ok(Metrics {
            registry,
            config_revision,
            config_reloads,
            config_build_duration,
        })
    }

    /// Record one snapshot build.
    pub fn observe_build(&self, took: Duration, ok: bool) {
        self.config_build_duration.observe(took.as_secs_f64());
        let result = if ok { "ok" } else { "error" };
        self.config_reloads.with_label_values(&[result]).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for I/O reasons; a metric family error yields a
        // partial page rather than none.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
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
    }
}
