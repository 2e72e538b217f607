//! The request path after the handshake: SNI/Host binding, the headers sent to the origin, and
//! the life of each connection.

pub mod access_log;
pub mod activity;
pub mod authority;
pub mod cert_headers;
pub mod connection;
pub mod forwarding;
pub mod grpc;
pub mod origin_failure;
pub mod readmission;
pub mod serve;
pub mod service;
pub mod timeout_io;
pub mod tunnel;
pub mod upgrade;
pub mod wind_down;
