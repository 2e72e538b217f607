//! mtls-proxy: an mTLS-terminating reverse proxy driven by a Fastly-compatible TLS resource API.

pub mod acceptor;
pub mod admin;
pub mod app;
pub mod bench;
pub mod control;
pub mod demo;
pub mod devpki;
pub mod fleet;
pub mod hex;
pub mod identity;
pub mod metrics;
pub mod model;
pub mod origin;
pub mod proxy;
pub mod revocation;
pub mod settings;
pub mod shutdown;
pub mod snapshot;
pub mod store;
pub mod tls_roots;
