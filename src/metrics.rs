//! Prometheus metrics: a leaf module every runtime part records into; rendered at `/metrics`.

use prometheus::{Encoder, IntGauge, Registry, TextEncoder};

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    /// The store revision the data plane serves.
    pub config_revision: IntGauge,
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
        Ok(Metrics {
            registry,
            config_revision,
        })
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
