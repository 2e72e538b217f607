//! Why a change was refused; the admin API maps each kind to an HTTP status.

use crate::store::StoreError;

/// A refused or failed change.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Bad input (400): `field` names the attribute at fault, `problem` says what is wrong.
    #[error("{field} {problem}")]
    Invalid { field: String, problem: String },
    /// The resource addressed by the request does not exist (404).
    #[error("the {resource} you requested was not found")]
    NotFound { resource: &'static str },
    /// The change conflicts with other resources (409).
    #[error("{0}")]
    Conflict(String),
    /// The resulting configuration could not be built into a servable snapshot (400).
    #[error("the change would leave a configuration the proxy cannot serve: {0}")]
    Build(String),
    /// The store failed (500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ControlError {
    /// An `Invalid` error for `field`.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> ControlError {
        ControlError::Invalid {
            field: field.to_string(),
            problem: problem.to_string(),
        }
    }
}
