//! mtls-proxy: an mTLS-terminating reverse proxy driven by a Fastly-compatible TLS resource API.

pub mod devpki;
pub mod model;
pub mod snapshot;
