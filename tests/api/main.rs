//! The admin API through the running proxy: the Fastly `/tls/*` resources (happy paths, bad
//! input, conflicts, wire fidelity, hostile operators), `/metrics` after known traffic, the
//! property tests of every parser of untrusted input, and the guard that keeps the demo off
//! public listeners.

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

mod activations;
mod certificates;
mod demo_guard;
mod hostile;
mod metrics;
mod mutual_authentications;
mod properties;
mod wire;
