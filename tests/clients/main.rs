//! The binary and real clients: `curl` and `openssl s_client` against the proxy, keys and
//! certificates made by `openssl`, the status page in headless Chromium, `mtls-proxy certs
//! init` and `mtls-proxy bench`. Tests whose program is missing print `skipped: <tool> not
//! found` (or fail under `MTLS_PROXY_REQUIRE_TOOLS=1`).

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

mod bench_cli;
mod cli_certs;
mod pki_openssl;
mod real_clients;
mod status_page;
