//! Reads the whole ClientHello (post-quantum hellos span several TCP segments) before a
//! per-domain `ServerConfig` is chosen; writes the plaintext alerts sent before the server's
//! first flight (`unrecognized_name`, a refused resumption).

use std::io;

use rustls::server::{Accepted, Acceptor};
use rustls::AlertDescription;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
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
        match feed(&mut acceptor, buf.get(..n).unwrap_or_default()) {
            Ok(Some(accepted)) => return Ok(accepted),
            Ok(None) => {}
            Err(refused) => {
                if !refused.alert.is_empty() {
                    let _ = tcp.write_all(&refused.alert).await;
                }
                return Err(refused.error);
            }
        }
    }
}

/// A ClientHello refused while it was read: the error, and the alert to send (may be empty).
#[derive(Debug)]
pub struct Refused {
    pub error: HelloError,
    pub alert: Vec<u8>,
}

/// Feed one read's bytes to `acceptor`: the ClientHello once it is complete, None while more
/// bytes are needed. The synchronous core of [`read_client_hello`], and the fuzzing entry point
/// for the bytes a client sends first.
pub fn feed(acceptor: &mut Acceptor, mut input: &[u8]) -> Result<Option<Accepted>, Refused> {
    while !input.is_empty() {
        acceptor.read_tls(&mut input).map_err(|e| Refused {
            error: HelloError::Io(e),
            alert: Vec::new(),
        })?;
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok(Some(accepted)),
            Ok(None) => {}
            Err((e, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write(&mut out);
                return Err(Refused {
                    error: HelloError::Tls(e),
                    alert: out,
                });
            }
        }
    }
    Ok(None)
}

/// A plaintext fatal alert record (RFC 8446 §6.2, RFC 5246 §7.2). Valid as the server's first
/// record, before any ServerHello: the client has only sent its ClientHello.
pub fn alert_record(description: AlertDescription) -> [u8; 7] {
    [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, u8::from(description)]
}

/// Send `description` as the server's first record, unencrypted.
pub async fn send_alert<S: AsyncWrite + Unpin>(tcp: &mut S, description: AlertDescription) {
    let _ = tcp.write_all(&alert_record(description)).await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore};

    use super::*;

    /// A real rustls ClientHello for `name` (TLS 1.3 and 1.2, X25519MLKEM768 first: several
    /// TCP segments' worth).
    fn client_hello(name: &str) -> Vec<u8> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
        let name = ServerName::try_from(name.to_string()).unwrap();
        let mut client = ClientConnection::new(Arc::new(config), name).unwrap();
        let mut out = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut out).unwrap();
        }
        out
    }

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

    #[test]
    fn a_hello_fed_one_byte_at_a_time_is_read_whole() {
        let hello = client_hello("www.example.com");
        assert!(hello.len() > 1000, "{} bytes", hello.len());
        let mut acceptor = Acceptor::default();
        let (last, rest) = hello.split_last().unwrap();
        for byte in rest {
            assert!(feed(&mut acceptor, std::slice::from_ref(byte))
                .unwrap()
                .is_none());
        }
        let accepted = feed(&mut acceptor, &[*last]).unwrap().unwrap();
        assert_eq!(
            accepted.client_hello().server_name(),
            Some("www.example.com")
        );
    }

    #[test]
    fn a_hello_and_what_follows_it_in_one_read_is_accepted() {
        let mut bytes = client_hello("a.example.com");
        bytes.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x01, 0x00]);
        let accepted = feed(&mut Acceptor::default(), &bytes).unwrap().unwrap();
        assert_eq!(accepted.client_hello().server_name(), Some("a.example.com"));
    }

    #[test]
    fn a_non_tls_first_record_is_refused_with_one_fatal_alert() {
        let refused = feed(&mut Acceptor::default(), b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
        assert!(matches!(refused.error, HelloError::Tls(_)), "{refused:?}");
        assert!(
            matches!(
                refused.alert.as_slice(),
                [0x15, 0x03, _, 0x00, 0x02, 0x02, _]
            ),
            "{refused:?}"
        );
    }

    /// A handshake message claiming 16 MiB (the first input the fuzz target stopped on) is
    /// refused at once, not buffered while the client trickles it in.
    #[test]
    fn an_oversized_handshake_message_is_refused() {
        // A ClientHello record header claiming 0xffffff bytes of handshake payload.
        let bytes = [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff];
        let refused = feed(&mut Acceptor::default(), &bytes).unwrap_err();
        assert!(matches!(refused.error, HelloError::Tls(_)), "{refused:?}");
    }
}
