//! The rustls side of a snapshot: per-domain `ServerConfig`s, client-certificate verifiers and
//! verdicts (the only place in the crate that builds rustls objects).

pub mod server_config;
pub mod verdict;
pub mod verifier;

#[cfg(test)]
mod handshake_tests;
#[cfg(test)]
mod test_pump;
