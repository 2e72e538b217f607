//! The resource model: mutual authentications, private keys, certificates, configurations and
//! activations, their validation, and nothing of tokio, hyper or rustls.

pub mod pki;
