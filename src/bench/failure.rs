//! Why one connection failed, as a short stable key the report counts by: connect errors, TLS
//! alerts by their RFC name, local TLS errors, timeouts, HTTP statuses, transport errors.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use rustls::AlertDescription;

/// One failed connection (or request, in keep-alive mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// TCP connect failed.
    Connect(io::ErrorKind),
    /// The server sent a fatal TLS alert.
    Alert(AlertDescription),
    /// The client's own TLS stack refused something (e.g. the server certificate).
    Tls(String),
    /// The connection took longer than `--timeout`.
    Timeout,
    /// The server answered with a status outside 2xx.
    Status(u16),
    /// A transport error after the connection was set up.
    Io(io::ErrorKind),
    /// The server closed the connection before a complete response.
    Closed,
    /// An HTTP protocol error.
    Http(String),
    /// `--http2` was asked for but the server did not select ALPN h2.
    NoH2,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(kind) => write!(f, "connect: {kind}"),
            Failure::Alert(alert) => write!(f, "tls alert: {}", alert_name(*alert)),
            Failure::Tls(text) => write!(f, "tls: {text}"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Status(code) => write!(f, "http status {code}"),
            Failure::Io(kind) => write!(f, "io: {kind}"),
            Failure::Closed => f.write_str("closed before a complete response"),
            Failure::Http(text) => write!(f, "http: {text}"),
            Failure::NoH2 => f.write_str("alpn: server did not select h2"),
        }
    }
}

/// The RFC 8446 name of an alert ("certificate_required", "unknown_ca"), from rustls's variant
/// name; "alert_N" for a code rustls does not know.
pub fn alert_name(alert: AlertDescription) -> String {
    match alert.as_str() {
        Some(camel) => snake_case(camel),
        None => format!("alert_{}", u8::from(alert)),
    }
}

/// "UnknownCA" → "unknown_ca", "UnknownPSKIdentity" → "unknown_psk_identity".
fn snake_case(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars.get(i - 1).copied().unwrap_or('_');
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || prev.is_ascii_digit() || next_lower {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Classifies an error from connecting TCP.
pub fn connect_failure(err: &io::Error) -> Failure {
    Failure::Connect(err.kind())
}

/// Classifies an error from TLS or HTTP by walking its cause chain: the most specific cause
/// wins (a TLS alert buried in hyper's error is reported as that alert).
pub fn classify(err: &(dyn StdError + 'static)) -> Failure {
    let mut found = None;
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return tls_failure(tls);
        }
        let mut next = e.source();
        if let Some(io) = e.downcast_ref::<io::Error>() {
            found.get_or_insert(io_failure(io));
            // io::Error's `source()` skips the error it wraps; `get_ref()` is that error
            // (tokio-rustls puts rustls's error there).
            if let Some(inner) = io.get_ref() {
                next = Some(inner);
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                found.get_or_insert(Failure::Closed);
            }
        }
        cur = next;
    }
    found.unwrap_or_else(|| Failure::Http(err.to_string()))
}

fn tls_failure(err: &rustls::Error) -> Failure {
    match err {
        rustls::Error::AlertReceived(alert) => Failure::Alert(*alert),
        other => Failure::Tls(other.to_string()),
    }
}

fn io_failure(err: &io::Error) -> Failure {
    match err.kind() {
        // A peer that closes without close_notify, or mid-response.
        io::ErrorKind::UnexpectedEof => Failure::Closed,
        kind => Failure::Io(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_follow_the_rfc() {
        let cases = [
            (
                AlertDescription::CertificateRequired,
                "certificate_required",
            ),
            (AlertDescription::UnknownCA, "unknown_ca"),
            (AlertDescription::BadCertificate, "bad_certificate"),
            (AlertDescription::CertificateExpired, "certificate_expired"),
            (AlertDescription::UnknownPSKIdentity, "unknown_psk_identity"),
            (AlertDescription::HandshakeFailure, "handshake_failure"),
            (AlertDescription::UnrecognisedName, "unrecognised_name"),
            (AlertDescription::Unknown(250), "alert_250"),
        ];
        for (alert, name) in cases {
            assert_eq!(alert_name(alert), name);
        }
    }

    #[test]
    fn finds_the_alert_inside_wrapping_errors() {
        let tls = rustls::Error::AlertReceived(AlertDescription::UnknownCA);
        let io = io::Error::new(io::ErrorKind::InvalidData, tls);
        assert_eq!(classify(&io), Failure::Alert(AlertDescription::UnknownCA));
        let wrapped = io::Error::other(io);
        assert_eq!(classify(&wrapped).to_string(), "tls alert: unknown_ca");
    }

    #[test]
    fn io_and_local_tls_errors() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(
            classify(&reset),
            Failure::Io(io::ErrorKind::ConnectionReset)
        );
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(classify(&eof), Failure::Closed);
        let bad = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(classify(&bad)
            .to_string()
            .starts_with("tls: invalid peer certificate"));
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            connect_failure(&refused).to_string(),
            "connect: connection refused"
        );
        assert_eq!(Failure::Status(503).to_string(), "http status 503");
    }
}
