//! The immutable data-plane snapshot and the only place in the crate that builds rustls
//! objects: per-domain `ServerConfig`s, client-certificate verifiers and verdicts, and the
//! SNI/Host lookup table.

pub mod build;
pub mod entry;
pub mod inventory;
pub mod lookup;
pub mod publisher;
pub mod resumption;
pub mod route;
pub mod server_config;
pub mod suites;
pub mod tickets;
pub mod verdict;
pub mod verifier;

#[cfg(test)]
mod handshake_tests;
#[cfg(test)]
mod test_pump;
