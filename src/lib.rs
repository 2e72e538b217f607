//! mtls-proxy: an mTLS-terminating reverse proxy driven by a Fastly-compatible TLS resource API.

// Library code never panics on input-derived data: no unwrap/expect/panic/indexing and no
// lossy integer casts outside tests (issue 7 audit; tests may unwrap freely).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap
    )
)]

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
pub mod snapshot;
pub mod store;
pub mod tls_roots;
