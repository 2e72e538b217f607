//! The request path after the handshake: the client identity and the headers sent to the origin.

pub mod access_log;
pub mod authority;
pub mod cert_headers;
pub mod forwarding;
pub mod grpc;
pub mod identity;
pub mod readmission;
pub mod serve;
pub mod service;
pub mod tunnel;
pub mod upgrade;
