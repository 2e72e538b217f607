//! The origin side of the data plane: forwards requests over pooled HTTP/1.1 and HTTP/2
//! clients (plain, prior-knowledge h2c, TLS with ALPN, optionally presenting a client
//! certificate) with connect and response timeouts, answers the built-in `echo` origin, and
//! turns origin failures into short 502/504 JSON answers.

mod body;
mod classify;
mod client;
mod connector;
mod echo;
mod error;
mod headers;
mod options;
mod pools;
mod tls;

#[cfg(test)]
mod tests;

pub use body::{full, BoxError, ProxyBody};
pub use client::OriginClient;
pub use echo::ECHO_READ_LIMIT;
pub use error::{error_response, OriginError, ProxyError};
pub use options::OriginOptions;
pub use tls::load_identity;
