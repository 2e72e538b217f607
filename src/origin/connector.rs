//! A connector wrapper that bounds the whole connection setup (TCP connect and, for https
//! origins, the TLS handshake) by `connect_timeout`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use tower::Service;

use super::body::BoxError;

/// Marker error: connection setup exceeded `connect_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("connect timed out")]
pub(super) struct ConnectTimedOut;

/// Wraps a connector so a stalled TCP connect or TLS handshake fails after `timeout`
/// instead of holding a request until the response timeout.
#[derive(Clone, Debug)]
pub(super) struct TimeoutConnector<C> {
    inner: C,
    timeout: Duration,
}

impl<C> TimeoutConnector<C> {
    pub(super) fn new(inner: C, timeout: Duration) -> Self {
        TimeoutConnector { inner, timeout }
    }
}

type ConnectFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<C> Service<Uri> for TimeoutConnector<C>
where
    C: Service<Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = ConnectFuture<C::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}
