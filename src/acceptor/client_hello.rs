//! Reads the whole ClientHello (post-quantum hellos span several TCP segments) before a
//! per-domain `ServerConfig` is chosen, and refuses unknown names with `unrecognized_name`.

use std::io;

use rustls::server::{Accepted, Acceptor};
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

/// A fatal `unrecognized_name` alert record (RFC 8446 §6.2): the SNI names no domain here.
const UNRECOGNIZED_NAME_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// Refuse the handshake because the server name is not served.
pub async fn refuse_unrecognized_name(tcp: &mut TcpStream) {
    let _ = tcp.write_all(&UNRECOGNIZED_NAME_ALERT).await;
    let _ = tcp.shutdown().await;
}
