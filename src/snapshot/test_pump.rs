//! Test helper: drives an in-memory TLS handshake between a rustls client and server by copying
//! records between them, with no sockets.

use rustls::{ClientConnection, ConnectionCommon, Error, ServerConnection};

/// Upper bound on flights; a real handshake needs fewer than ten.
const MAX_ROUNDS: usize = 32;

/// Why a handshake failed: the error each side saw (the other side's is usually the alert).
#[derive(Debug, Default)]
pub(crate) struct Failure {
    /// Error from the server's `process_new_packets`.
    pub server: Option<Error>,
    /// Error from the client's `process_new_packets`.
    pub client: Option<Error>,
}

/// Copies records both ways until neither side has anything left to send (so TLS 1.3 tickets
/// sent after the handshake are delivered too). On the first error, the failing side's alert
/// is still delivered to its peer so both errors can be asserted.
pub(crate) fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), Box<Failure>> {
    for _ in 0..MAX_ROUNDS {
        let sent = match transfer(&mut **client, &mut **server) {
            Ok(n) => n,
            Err(e) => {
                let client_err = transfer(&mut **server, &mut **client).err();
                return Err(Box::new(Failure {
                    server: Some(e),
                    client: client_err,
                }));
            }
        };
        let received = match transfer(&mut **server, &mut **client) {
            Ok(n) => n,
            Err(e) => {
                let server_err = transfer(&mut **client, &mut **server).err();
                return Err(Box::new(Failure {
                    server: server_err,
                    client: Some(e),
                }));
            }
        };
        if sent == 0 && received == 0 {
            break;
        }
    }
    assert!(
        !client.is_handshaking() && !server.is_handshaking(),
        "handshake stalled"
    );
    Ok(())
}

/// Moves everything `from` wants to write into `to` and lets `to` process it.
fn transfer<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
) -> Result<usize, Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rest = &buf[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets()?;
    }
    Ok(buf.len())
}
