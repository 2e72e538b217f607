//! Reads the whole ClientHello (post-quantum hellos span several TCP segments) before a
//! per-domain `ServerConfig` is chosen; writes the plaintext alerts sent before the server's
//! first flight (`unrecognized_name`, a refused resumption).

use std::io;

use rustls::server::{Accepted, Acceptor};
use rustls::AlertDescription;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why no ClientHello was accepted.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    #[error("connection closed before a complete ClientHello")]
    Eof,
    #[error("network error reading the ClientHello: {0}")]
    Io(#[from] io::Error),
    #[error("invalid ClientHello: {0}")]
    Tls(rustls::Error),
}

/// Read until rustls has a complete ClientHello. On a TLS error, rustls's alert is sent.
pub async fn read_client_hello(tcp: &mut TcpStream) -> Result<Accepted, HelloError> {
    let mut acceptor = Acceptor::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Err(HelloError::Eof);
        }
        let mut input = buf.get(..n).unwrap_or_default();
        while !input.is_empty() {
            acceptor.read_tls(&mut input)?;
            match acceptor.accept() {
                Ok(Some(accepted)) => return Ok(accepted),
                Ok(None) => {}
                Err((e, mut alert)) => {
                    let mut out = Vec::new();
                    let _ = alert.write(&mut out);
                    let _ = tcp.write_all(&out).await;
                    return Err(HelloError::Tls(e));
                }
            }
        }
    }
}

/// A plaintext fatal alert record (RFC 8446 §6.2, RFC 5246 §7.2). Valid as the server's first
/// record, before any ServerHello: the client has only sent its ClientHello.
pub fn alert_record(description: AlertDescription) -> [u8; 7] {
    [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, u8::from(description)]
}

/// Send `description` as the server's first record, unencrypted.
pub async fn send_alert(tcp: &mut TcpStream, description: AlertDescription) {
    let _ = tcp.write_all(&alert_record(description)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_records_are_fatal_and_name_the_description() {
        assert_eq!(
            alert_record(AlertDescription::UnrecognisedName),
            [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]
        );
        assert_eq!(
            alert_record(AlertDescription::CertificateExpired),
            [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 45]
        );
    }
}
