//! Maps pooled-client failures to `OriginError` by inspecting the whole error chain.

use std::error::Error as StdError;

use hyper_util::client::legacy::Error as ClientError;

use super::connector::ConnectTimedOut;
use super::error::OriginError;

/// Classifies a failure of the pooled client: connect timeout, TLS, connect, else protocol.
pub(super) fn classify(err: &ClientError) -> OriginError {
    let chain = error_chain(err);
    let detail = describe(&chain);
    if chain.iter().any(|e| e.is::<ConnectTimedOut>()) {
        OriginError::ConnectTimeout
    } else if chain.iter().any(|e| e.is::<rustls::Error>()) {
        OriginError::Tls(detail)
    } else if err.is_connect() {
        OriginError::Connect(detail)
    } else {
        OriginError::Protocol(detail)
    }
}

/// Every error in the chain, outermost first. `io::Error::source` skips the error it wraps
/// (it returns the wrapped error's source), so wrapped errors are reached via `get_ref`.
fn error_chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        chain.push(e);
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    chain
}

/// The chain's messages joined with ": ", skipping messages that repeat the previous one
/// (an `io::Error` displays as the error it wraps).
fn describe(chain: &[&(dyn StdError + 'static)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in chain.iter().skip(1) {
        let message = e.to_string();
        if parts.last() != Some(&message) {
            parts.push(message);
        }
    }
    if parts.is_empty() {
        return chain.first().map(|e| e.to_string()).unwrap_or_default();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn chain_reaches_errors_wrapped_in_io_errors() {
        let inner = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::General("bad cert".into()),
        );
        let outer = io::Error::other(inner);
        let chain = error_chain(&outer);
        assert!(chain.iter().any(|e| e.is::<rustls::Error>()));
        assert_eq!(describe(&chain), "unexpected error: bad cert");
    }
}
