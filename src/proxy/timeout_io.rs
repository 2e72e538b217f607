//! The stream hyper serves a connection over: the TLS stream, with the plaintext bytes read
//! counted into the connection's [`Activity`], and, once the request-header timeout fired on
//! an HTTP/1.1 connection that had received part of a request, a `408 Request Timeout` written
//! in place of more input, followed by end of input. hyper has no 408 of its own (its header
//! timeout closes silently), and the connection must not wait for the rest of a request that
//! a slow or malicious client drips.
//!
//! The flush that ends a connection's last response (its request asked to close) also carries
//! the TLS close_notify, queued just before it: response and close_notify leave in one write
//! instead of two when hyper then shuts the connection down.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::activity::Activity;

/// What a timed-out HTTP/1.1 request gets.
pub const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// A connection's stream under hyper.
pub struct TimeoutIo<T> {
    inner: T,
    activity: Arc<Activity>,
    /// Bytes of [`REQUEST_TIMEOUT`] written so far.
    replied: usize,
}

impl<T> TimeoutIo<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> TimeoutIo<T> {
        TimeoutIo {
            inner,
            activity,
            replied: 0,
        }
    }
}

impl<T: AsyncWrite + CloseNotify + Unpin> TimeoutIo<T> {
    /// Write the 408 (resuming where a previous call stopped), then report end of input.
    fn reply_timeout(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(rest) = REQUEST_TIMEOUT
            .get(self.replied..)
            .filter(|r| !r.is_empty())
        {
            match Pin::new(&mut self.inner).poll_write(cx, rest) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(n)) if n > 0 => self.replied += n,
                // Nothing more can be written: just end.
                Poll::Ready(_) => return Poll::Ready(Ok(())),
            }
        }
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + CloseNotify + Unpin> AsyncRead for TimeoutIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.activity.timed_out() {
            return self.reply_timeout(cx);
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.activity
                .record_read(buf.filled().len().saturating_sub(before));
        }
        polled
    }
}

/// A stream that can queue a TLS close_notify to be written by its next flush.
pub trait CloseNotify {
    fn queue_close_notify(&mut self);
}

impl<IO> CloseNotify for tokio_rustls::server::TlsStream<IO> {
    fn queue_close_notify(&mut self) {
        self.get_mut().1.send_close_notify();
    }
}

impl<T: AsyncWrite + CloseNotify + Unpin> AsyncWrite for TimeoutIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.activity.take_last_response() {
            self.inner.queue_close_notify();
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    impl CloseNotify for tokio::io::DuplexStream {
        fn queue_close_notify(&mut self) {}
    }

    /// Records what is done to it.
    #[derive(Default)]
    struct Recording(Vec<&'static str>);

    impl CloseNotify for Recording {
        fn queue_close_notify(&mut self) {
            self.0.push("close_notify");
        }
    }

    impl AsyncWrite for Recording {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.push("write");
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.push("flush");
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.push("shutdown");
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn the_last_response_is_flushed_with_the_close_notify() {
        use crate::proxy::activity::Tracked;
        use http_body_util::BodyExt;
        let activity = Activity::new();
        let mut io = TimeoutIo::new(Recording::default(), activity.clone());
        // A keep-alive response: flushed alone.
        let kept = Tracked::new(crate::origin::full("a"), activity.begin_request(), false);
        kept.collect().await.unwrap();
        io.write_all(b"response 1").await.unwrap();
        io.flush().await.unwrap();
        // The last one (its request asked to close): close_notify queued before its flush.
        let last = Tracked::new(crate::origin::full("b"), activity.begin_request(), true);
        last.collect().await.unwrap();
        io.write_all(b"response 2").await.unwrap();
        io.flush().await.unwrap();
        io.flush().await.unwrap();
        io.shutdown().await.unwrap();
        assert_eq!(
            io.inner.0,
            [
                "write",
                "flush",
                "write",
                "close_notify",
                "flush",
                "flush",
                "shutdown"
            ]
        );
    }

    #[tokio::test]
    async fn counts_reads_and_answers_408_once_timed_out() {
        let (server, mut client) = tokio::io::duplex(1024);
        let activity = Activity::new();
        let mut io = TimeoutIo::new(server, activity.clone());
        client.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0u8; 64];
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HT");
        assert!(activity.partial_request());
        activity.time_out();
        // End of input for hyper, and the 408 for the client.
        assert_eq!(io.read(&mut buf).await.unwrap(), 0);
        let mut reply = vec![0u8; REQUEST_TIMEOUT.len()];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply, REQUEST_TIMEOUT);
    }
}
