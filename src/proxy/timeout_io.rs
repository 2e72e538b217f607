//! The stream hyper serves a connection over: the TLS stream, with the plaintext bytes read
//! counted into the connection's [`Activity`], and, once the request-header timeout fired on
//! an HTTP/1.1 connection that had received part of a request, a `408 Request Timeout` written
//! in place of more input, followed by end of input. hyper has no 408 of its own (its header
//! timeout closes silently), and the connection must not wait for the rest of a request that
//! a slow or malicious client drips.

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

impl<T: AsyncWrite + Unpin> TimeoutIo<T> {
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

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimeoutIo<T> {
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

impl<T: AsyncWrite + Unpin> AsyncWrite for TimeoutIo<T> {
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
