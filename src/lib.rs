//! mtls-proxy: an mTLS-terminating reverse proxy driven by a Fastly-compatible TLS resource API.

pub mod model;
pub mod proxy;
pub mod snapshot;
