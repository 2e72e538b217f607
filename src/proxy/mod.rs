//! The request path after the handshake: SNI/Host binding, the headers sent to the origin, and
//! the life of each connection.

pub mod access_log;
pub mod authority;
pub mod cert_headers;
pub mod forwarding;
pub mod readmission;
pub mod serve;
pub mod service;
