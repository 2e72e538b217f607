//! The socket under a connection's TLS: the TCP stream, with two system calls per connection
//! saved.
//!
//! - **Tickets travel with the first response.** A TLS 1.3 server sends its session tickets
//!   right after the client's Finished, and tokio-rustls flushes them before handing over the
//!   stream, so they cost a write (and a segment) of their own. While the handshake runs, the
//!   transport stages what is written and, at a flush, holds back output that begins with an
//!   encrypted record: in TLS 1.3 the server's handshake flights always begin with a plaintext
//!   ServerHello (or HelloRetryRequest) record, so such output can only be post-handshake
//!   messages, the tickets. Once established, held bytes go out ahead of the connection's first
//!   write, at its first flush. TLS 1.2 flights never begin with an encrypted record and are
//!   never held.
//! - **No `shutdown(2)` before an established connection's close.** The connection is dropped
//!   (and its socket closed, which sends the FIN) right after hyper shuts it down, so the
//!   extra system call adds nothing. A connection refused during the handshake keeps the
//!   half-close: it lingers to read what the client still sends (see `linger`).
//!
//! A shutdown always writes everything first, held or not (an alert written after a failed
//! client certificate, for instance).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// TLS record content type of encrypted TLS 1.3 records (RFC 8446 §5.2).
const APPLICATION_DATA: u8 = 0x17;

/// Output is written out before more is appended once this much is pending.
const MAX_PENDING: usize = 64 * 1024;

/// What the transport does with writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Handshaking: writes are staged; a flush writes them unless they begin with an encrypted
    /// record (post-handshake messages), which are held.
    Handshake,
    /// Established: writes go straight to the socket, after anything still held.
    Established,
}

/// A TCP stream that holds back a TLS 1.3 handshake's tickets (see module docs).
#[derive(Debug)]
pub struct Transport<S = TcpStream> {
    io: S,
    phase: Phase,
    /// Bytes written to the transport and not yet to the socket.
    pending: Vec<u8>,
    /// Of `pending`, those already written to the socket.
    sent: usize,
    /// `shutdown(2)` the socket's write side on shutdown (false once established).
    half_close: bool,
}

impl<S> Transport<S> {
    /// A transport for a connection whose handshake is about to start.
    pub fn new(io: S) -> Transport<S> {
        Transport {
            io,
            phase: Phase::Handshake,
            pending: Vec::new(),
            sent: 0,
            half_close: true,
        }
    }

    /// The handshake completed and the connection is handed over: held output goes out at
    /// the next flush, ahead of what is written next, and a shutdown no longer half-closes.
    pub fn established(&mut self) {
        self.phase = Phase::Established;
        self.half_close = false;
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Bytes not yet written to the socket.
    pub fn pending(&self) -> usize {
        self.pending.len().saturating_sub(self.sent)
    }

    fn unsent(&self) -> &[u8] {
        self.pending.get(self.sent..).unwrap_or_default()
    }

    fn stage(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        let mut n = 0;
        for buf in bufs {
            self.pending.extend_from_slice(buf);
            n += buf.len();
        }
        n
    }

    /// Whether a flush now would send only post-handshake messages of a TLS 1.3 handshake.
    fn holds(&self) -> bool {
        self.phase == Phase::Handshake && self.unsent().first() == Some(&APPLICATION_DATA)
    }
}

impl<S: AsyncWrite + Unpin> Transport<S> {
    /// Write everything pending to the socket.
    fn poll_send_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending() > 0 {
            let unsent = self.pending.get(self.sent..).unwrap_or_default();
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, unsent))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.sent = 0;
        if self.pending.capacity() > MAX_PENDING {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Transport<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Transport<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.phase == Phase::Established && this.pending() == 0 {
            return Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        }
        if this.pending() >= MAX_PENDING {
            ready!(this.poll_send_pending(cx))?;
        }
        Poll::Ready(Ok(this.stage(bufs)))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.holds() {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_send_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_send_pending(cx))?;
        match this.half_close {
            true => Pin::new(&mut this.io).poll_shutdown(cx),
            false => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What the peer has received so far, without waiting for more.
    async fn received(peer: &mut tokio::io::DuplexStream) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(Ok(n)) =
            tokio::time::timeout(std::time::Duration::from_millis(20), peer.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[tokio::test]
    async fn flights_go_out_and_tickets_wait_for_the_first_response() {
        let (io, mut peer) = tokio::io::duplex(1 << 16);
        let mut t = Transport::new(io);
        // A server flight: plaintext ServerHello first, then encrypted records.
        t.write_all(&[0x16, 3, 3, 0, 1, 2]).await.unwrap();
        t.write_all(&[0x17, 3, 3, 0, 1, 3]).await.unwrap();
        assert_eq!(received(&mut peer).await, b"", "nothing before the flush");
        t.flush().await.unwrap();
        assert_eq!(
            received(&mut peer).await,
            [0x16, 3, 3, 0, 1, 2, 0x17, 3, 3, 0, 1, 3]
        );
        // Tickets after the client's Finished: held at the handshake's last flush.
        t.write_all(&[0x17, 3, 3, 0, 1, 4]).await.unwrap();
        t.flush().await.unwrap();
        assert_eq!(received(&mut peer).await, b"", "tickets held");
        t.established();
        // The first response: one write with the tickets ahead of it.
        t.write_all(&[0x17, 3, 3, 0, 1, 5]).await.unwrap();
        assert_eq!(received(&mut peer).await, b"");
        t.flush().await.unwrap();
        assert_eq!(
            received(&mut peer).await,
            [0x17, 3, 3, 0, 1, 4, 0x17, 3, 3, 0, 1, 5]
        );
        // Then straight through.
        t.write_all(b"more").await.unwrap();
        assert_eq!(received(&mut peer).await, b"more");
        assert_eq!(t.pending(), 0);
    }

    #[tokio::test]
    async fn alerts_and_held_bytes_go_out_at_shutdown() {
        // Refused during the handshake: an encrypted alert is held by a flush, but the
        // shutdown writes it and half-closes, so the client reads it and then EOF.
        let (io, mut peer) = tokio::io::duplex(1 << 16);
        let mut t = Transport::new(io);
        t.write_all(&[0x17, 3, 3, 0, 2, 9, 9]).await.unwrap();
        t.flush().await.unwrap();
        t.shutdown().await.unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, [0x17, 3, 3, 0, 2, 9, 9]);
        // Established: held tickets are still written by a shutdown.
        let (io, mut peer) = tokio::io::duplex(1 << 16);
        let mut t = Transport::new(io);
        t.write_all(&[0x17, 1]).await.unwrap();
        t.flush().await.unwrap();
        t.established();
        t.shutdown().await.unwrap();
        assert_eq!(received(&mut peer).await, [0x17, 1]);
    }

    #[tokio::test]
    async fn large_output_is_not_buffered_without_bound() {
        let (io, mut peer) = tokio::io::duplex(1 << 20);
        let mut t = Transport::new(io);
        t.write_all(&[0x17]).await.unwrap();
        t.flush().await.unwrap();
        t.established();
        let chunk = vec![1u8; MAX_PENDING];
        t.write_all(&chunk).await.unwrap();
        t.write_all(&chunk).await.unwrap();
        assert!(t.pending() <= MAX_PENDING + 1, "{}", t.pending());
        t.flush().await.unwrap();
        let mut all = vec![0u8; 1 + 2 * MAX_PENDING];
        peer.read_exact(&mut all).await.unwrap();
        assert_eq!(all[0], 0x17);
    }
}
