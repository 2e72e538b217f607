//! The data plane while it serves: connection limits, draining, hot swaps through the API and
//! config reloads, every change seen by the first handshake after its 2xx, the incremental
//! snapshot against a whole build, origins (faults, mTLS, gRPC, WebSocket, tunnels closed when their route stops admitting the
//! connection).

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

mod conn_timeouts;
mod draining;
mod every_change_is_seen;
mod grpc;
mod hot_swap;
mod hot_swap_reload;
mod incremental_snapshot;
mod origin_faults;
mod origin_mtls;
mod websocket;
mod websocket_rules;
