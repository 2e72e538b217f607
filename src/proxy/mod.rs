//! The request path after the handshake: the client identity and the headers sent to the origin.

pub mod cert_headers;
pub mod identity;
