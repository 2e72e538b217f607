//! Serves one established TLS connection with hyper (HTTP/1.1 or HTTP/2 per ALPN) until it
//! closes, or until shutdown, when in-flight requests get a bounded time to finish.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;

use super::cert_headers::{CertHeaderOptions, PrebuiltCertHeaders};
use super::service::{handle, ConnState, ProxyContext};
use crate::acceptor::{stopped, ConnInfo, Handler};

/// The acceptor's connection handler for this proxy.
pub fn handler(ctx: Arc<ProxyContext>, shutdown_timeout: Duration) -> Handler {
    Arc::new(move |tls, info, stop| {
        let ctx = ctx.clone();
        Box::pin(serve(tls, info, stop, ctx, shutdown_timeout))
    })
}

fn cert_headers(info: &ConnInfo, xfcc: bool) -> PrebuiltCertHeaders {
    let (Some(verdict), Some(ma)) = (info.verdict, info.entry.mutual_authentication_id.as_deref())
    else {
        return PrebuiltCertHeaders::default();
    };
    let opts = CertHeaderOptions { xfcc };
    PrebuiltCertHeaders::new(
        Some(ma),
        verdict.as_str(),
        info.identity.as_ref(),
        &opts,
        None,
    )
}

async fn serve(
    tls: TlsStream<TcpStream>,
    info: ConnInfo,
    mut stop: watch::Receiver<bool>,
    ctx: Arc<ProxyContext>,
    shutdown_timeout: Duration,
) {
    let h2 = info.h2;
    let conn = Arc::new(ConnState {
        cert_headers: cert_headers(&info, ctx.xfcc),
        info,
    });
    let service = service_fn(move |req| {
        let (conn, ctx) = (conn.clone(), ctx.clone());
        async move { Ok::<_, Infallible>(handle(req, conn, ctx).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    let connection = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(connection);
    tokio::select! {
        r = connection.as_mut() => {
            if let Err(e) = r { tracing::debug!(error = %e, "connection ended with an error"); }
            return;
        }
        _ = stopped(&mut stop) => {}
    }
    // Shutdown: finish in-flight requests (HTTP/1.1 closes after the current one; HTTP/2 sends
    // GOAWAY), but never wait longer than the configured bound.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(shutdown_timeout, connection).await;
}
