//! Closing a connection after a fatal alert so that the client reads the alert.
//!
//! Closing a socket whose receive queue still holds data makes the kernel answer with a reset,
//! and a reset can destroy the alert before the client has read it: curl then reports
//! `getpeername() failed with errno 107` or `Connection reset by peer` instead of the alert. In
//! TLS 1.3 the client has typically already sent its request when the server refuses its
//! certificate. So the write side is shut down first (the alert is followed by a FIN), and
//! what the client still sends is read and discarded, bounded in time and bytes, before the
//! socket is closed.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long the client may keep sending after the alert.
pub const LINGER_TIME: Duration = Duration::from_secs(1);
/// How much of what it sends is read and discarded.
pub const LINGER_BYTES: usize = 64 * 1024;

/// Shut down the write side of `io` (the alert is already written), then read and discard
/// until the client closes, [`LINGER_BYTES`] were read or [`LINGER_TIME`] passed.
pub async fn close_after_alert<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) {
    let _ = io.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_what_the_client_sends_then_stops_at_the_byte_bound() {
        let (mut server, mut client) = tokio::io::duplex(1 << 20);
        client
            .write_all(&vec![7u8; LINGER_BYTES * 2])
            .await
            .unwrap();
        // Returns although the client never closes: the byte bound, not the time bound.
        close_after_alert(&mut server).await;
        // The write side was shut down: the client reads EOF.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn returns_when_the_client_closes_or_stays_silent() {
        let (mut server, client) = tokio::io::duplex(64);
        drop(client);
        close_after_alert(&mut server).await;
        // A silent client that never closes: the time bound ends the wait (generous margin;
        // only "it returns", never how fast, is asserted).
        let (mut server, _client) = tokio::io::duplex(64);
        let bounded = tokio::time::timeout(LINGER_TIME * 10, close_after_alert(&mut server));
        assert!(bounded.await.is_ok());
    }
}
