//! What a connection is doing, for its timeouts (rule 6, docs/architecture.md): requests in flight
//! (from a complete request head until its response body is sent), when it last became idle, and
//! how many bytes it has read (to tell a silent client from one that sent part of a request).
//! Updated with a few atomic operations per request; read by the connection loop only when one of
//! its timers fires.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::Instant;

use crate::origin::{BoxError, ProxyBody};

/// One connection's activity.
#[derive(Debug)]
pub struct Activity {
    /// When the connection was handed to the proxy (its handshake completed).
    started: Instant,
    in_flight: AtomicUsize,
    /// Nanoseconds from `started` to the moment the last request in flight ended.
    idle_since: AtomicU64,
    /// Request heads received.
    requests: AtomicU64,
    /// Plaintext bytes read from the client.
    read: AtomicU64,
    /// `read` when the connection last became idle.
    read_at_idle: AtomicU64,
    /// Answer the partial request with 408 and end the connection (HTTP/1.1).
    timed_out: AtomicBool,
    /// The connection's last response (its request asked to close) has been handed over
    /// whole: its flush also carries the TLS close_notify (see `timeout_io`).
    last_response: AtomicBool,
}

impl Activity {
    /// A connection that starts now, idle.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            read: AtomicU64::new(0),
            read_at_idle: AtomicU64::new(0),
            timed_out: AtomicBool::new(false),
            last_response: AtomicBool::new(false),
        })
    }

    /// A request head arrived; it is in flight until the guard is dropped.
    pub fn begin_request(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Keep the connection busy (no header or idle timeout) until the guard is dropped,
    /// without counting a request: for a tunnel that outlives its request.
    pub fn hold(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn end_request(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let since = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.read_at_idle
                .store(self.read.load(Ordering::Relaxed), Ordering::Relaxed);
            self.idle_since.store(since, Ordering::Release);
        }
    }

    /// When the connection started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Since when no request is in flight; None while one is.
    pub fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let nanos = self.idle_since.load(Ordering::Acquire);
        Some(self.started + std::time::Duration::from_nanos(nanos))
    }

    /// Request heads received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Count plaintext bytes read from the client.
    pub fn record_read(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.read.fetch_add(n, Ordering::Relaxed);
    }

    /// Part of a request arrived since the connection last became idle. A partial request
    /// pipelined behind a complete one (read together, before the first response) is not
    /// seen: that connection is closed at the header timeout without the 408.
    pub fn partial_request(&self) -> bool {
        self.read.load(Ordering::Relaxed) > self.read_at_idle.load(Ordering::Relaxed)
    }

    /// Make the connection's reader answer 408 and end (see `timeout_io`).
    pub fn time_out(&self) {
        self.timed_out.store(true, Ordering::Release);
    }

    /// Whether [`Activity::time_out`] was called.
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Acquire)
    }

    /// Whether the last response of a closing connection has been handed over whole since
    /// the previous call.
    pub fn take_last_response(&self) -> bool {
        self.last_response.swap(false, Ordering::AcqRel)
    }
}

/// A request in flight; dropped when its response body has been sent (or abandoned).
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// A response body that keeps its request in flight until the body has ended.
pub struct Tracked {
    body: ProxyBody,
    in_flight: Option<InFlight>,
    /// The connection closes after this response (its request asked to).
    last: bool,
}

impl Tracked {
    /// `body`, in flight as `in_flight` until it ends; `last` when the connection closes
    /// after it.
    pub fn new(body: ProxyBody, in_flight: InFlight, last: bool) -> Tracked {
        let mut tracked = Tracked {
            body,
            in_flight: Some(in_flight),
            last,
        };
        // hyper does not poll a body that is already at its end.
        if tracked.body.is_end_stream() {
            tracked.handed_over();
        }
        tracked
    }

    /// The whole body has been handed to hyper.
    fn handed_over(&mut self) {
        if let (true, Some(in_flight)) = (self.last, &self.in_flight) {
            in_flight.0.last_response.store(true, Ordering::Release);
        }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                self.handed_over();
                self.in_flight = None;
            }
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.handed_over(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_request_is_in_flight_until_its_body_ends() {
        let a = Activity::new();
        assert!(a.idle_since().is_some());
        assert_eq!(a.requests(), 0);
        let body = Tracked::new(crate::origin::full("hello"), a.begin_request(), false);
        let second = a.begin_request();
        assert!(a.idle_since().is_none());
        assert_eq!(a.requests(), 2);
        drop(second);
        assert!(a.idle_since().is_none(), "one still in flight");
        let before = Instant::now();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
        let idle = a.idle_since().expect("idle once the body ended");
        assert!(idle >= before);
    }

    #[tokio::test]
    async fn the_last_response_is_flagged_once_handed_over_whole() {
        let a = Activity::new();
        let body = Tracked::new(crate::origin::full("hello"), a.begin_request(), true);
        assert!(
            !a.take_last_response(),
            "not before its bytes are handed over"
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
        assert!(a.take_last_response());
        assert!(!a.take_last_response(), "taken once");
        // An empty body is whole at once; a keep-alive response never flags.
        let _empty = Tracked::new(crate::origin::full(""), a.begin_request(), true);
        assert!(a.take_last_response());
        let kept = Tracked::new(crate::origin::full("x"), a.begin_request(), false);
        kept.collect().await.unwrap();
        assert!(!a.take_last_response());
    }

    #[test]
    fn partial_requests_are_bytes_since_idle() {
        let a = Activity::new();
        assert!(!a.partial_request());
        a.record_read(10);
        assert!(a.partial_request());
        drop(a.begin_request());
        assert!(!a.partial_request(), "the bytes were a whole request");
        a.record_read(1);
        assert!(a.partial_request());
        assert!(!a.timed_out());
        a.time_out();
        assert!(a.timed_out());
    }
}
