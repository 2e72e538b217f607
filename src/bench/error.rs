//! Why a benchmark could not run at all (bad options, unreadable files, no runtime). Failures of
//! individual connections are never errors here: they are counted by kind in the report.

use std::io;
use std::path::PathBuf;

/// A benchmark that could not be started or whose report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An option value, or a combination of options, is not usable.
    #[error("invalid option: {0}")]
    Option(String),
    /// The target's host name did not resolve.
    #[error("cannot resolve {target}: {source}")]
    Resolve {
        /// The `--target` value.
        target: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {problem}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// rustls refused the client configuration.
    #[error("TLS client configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The report (JSON or SVG) could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output file (or "stdout").
        path: PathBuf,
        /// The write error.
        #[source]
        source: io::Error,
    },
}
