//! The handshake and the security rules of docs/architecture.md, attacked from outside through
//! the real listener: enforced and fail-open verdicts, SNI → domain, SNI/Host binding,
//! resumption scope, spoofed headers, certificates expiring under open connections, refusal
//! alerts, hostile clients and the smaller holes; revocation lists (uploaded, refreshed from their
//! URLs, going stale) and identity rules per route.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../common/mod.rs"]
mod common;

mod acceptor_panics;
mod cert_expiry;
mod hostile_clients;
mod identity_rules;
mod refusal_alerts;
mod revocation;
mod revocation_refresh;
mod smaller_holes;
mod tls_enforced;
mod tls_fail_open;
mod tls_headers;
mod tls_host_binding;
mod tls_resumption;
mod tls_sni;
