//! The resource model: mutual authentications, private keys, certificates, configurations and
//! activations, their validation, where requests go (origins), and nothing of tokio, hyper or
//! rustls.

pub mod delta;
pub mod id;
pub mod identity_pattern;
pub mod origin;
pub mod pki;
pub mod request_path;
pub mod resources;
pub mod tables;
pub mod timestamp;
pub mod validate;

pub use delta::{Delta, Kind, Record, RowChange, Update};
pub use resources::{
    Activation, Certificate, Configuration, MutualAuthentication, PrivateKey, RevocationList, State,
};
pub use tables::{Tables, Touched};
