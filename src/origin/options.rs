//! Timeouts, trust and pooling settings for origin connections.

use std::path::PathBuf;
use std::time::Duration;

/// Origin timeouts and trust.
#[derive(Debug, Clone)]
pub struct OriginOptions {
    /// Time allowed to open a connection: TCP connect plus, for https origins, the TLS
    /// handshake. Default 5 s.
    pub connect_timeout: Duration,
    /// Time from handing a request to the origin client until the response headers arrive
    /// (includes connecting when no pooled connection is free). Default 30 s.
    pub response_timeout: Duration,
    /// PEM file of CA certificates trusted for https origins. When set it *replaces* the
    /// system roots, so pinning an internal CA does not also trust every public CA.
    /// `None` = system roots.
    pub ca_file: Option<PathBuf>,
    /// How long an idle pooled connection is kept. Default 90 s.
    pub pool_idle_timeout: Duration,
    /// Most idle connections kept per origin. Default 64.
    pub pool_max_idle_per_host: usize,
}

impl Default for OriginOptions {
    fn default() -> Self {
        OriginOptions {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            ca_file: None,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 64,
        }
    }
}
