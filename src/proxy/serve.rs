//! Serves one established TLS connection with hyper (HTTP/1.1 or HTTP/2 per ALPN) until it
//! closes. After each snapshot swap the connection either moves on to the new snapshot (it
//! still admits the connection: `readmission`) or, on shutdown or when the change tightened
//! the policy it was established under, its in-flight requests get a bounded time to finish
//! and it is closed (HTTP/1.1 `Connection: close`, HTTP/2 GOAWAY), its tunnels at once
//! (`ConnState::wind_down`). A connection with open tunnels lasts until they close.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;

use super::cert_headers::{CertHeaderOptions, PrebuiltCertHeaders};
use super::readmission::{readmit, Readmission};
use super::service::{handle, ConnState, ConnView, ProxyContext};
use crate::acceptor::{observe, stopped, ConnInfo, Handler};
use crate::snapshot::entry::Snapshot;
use crate::snapshot::verdict::Verdict;

/// Timing and change feeds shared by every connection.
#[derive(Clone)]
pub struct Lifecycle {
    /// The live snapshot, consulted when `changes` fires.
    pub live: Arc<ArcSwap<Snapshot>>,
    /// Fires after every snapshot swap.
    pub changes: watch::Receiver<u64>,
    /// Bound on finishing in-flight requests at shutdown.
    pub shutdown_timeout: Duration,
    /// Bound on finishing in-flight requests after the connection's policy changed.
    pub drain_timeout: Duration,
}

/// The acceptor's connection handler for this proxy.
pub fn handler(ctx: Arc<ProxyContext>, lifecycle: Lifecycle) -> Handler {
    Arc::new(move |tls, info, stop| {
        let (ctx, lifecycle) = (ctx.clone(), lifecycle.clone());
        Box::pin(serve(tls, info, stop, ctx, lifecycle))
    })
}

fn cert_headers(info: &ConnInfo, verdict: Option<Verdict>) -> PrebuiltCertHeaders {
    let (Some(verdict), Some(ma)) = (verdict, info.entry.mutual_authentication_id.as_deref())
    else {
        return PrebuiltCertHeaders::default();
    };
    let opts = CertHeaderOptions {
        xfcc: info.snapshot.xfcc,
    };
    PrebuiltCertHeaders::new(
        Some(ma),
        verdict.as_str(),
        info.identity.as_ref(),
        &opts,
        None,
    )
}

/// Move the connection's view to the live snapshot if that still admits it, with the verdict
/// it gives now; false when it does not and the connection must be drained (its view then
/// stays where it was).
fn follow(conn: &ConnState, live: &ArcSwap<Snapshot>) -> bool {
    let live = live.load_full();
    let view = conn.view.load_full();
    if Arc::ptr_eq(&live, &view.snapshot) {
        return true;
    }
    let (verdict, cert_headers) = match readmit(&live, &conn.info, view.verdict) {
        Readmission::Refused => return false,
        Readmission::Same => (view.verdict, view.cert_headers.clone()),
        Readmission::Rejudged(now) => {
            tracing::debug!(peer = %conn.info.peer, verdict = now.as_str(), "connection judged again");
            (Some(now), Arc::new(cert_headers(&conn.info, Some(now))))
        }
    };
    conn.view.store(Arc::new(ConnView {
        snapshot: live,
        verdict,
        cert_headers,
    }));
    true
}

/// Serve until the connection closes (and its tunnels with it), the process stops, or a swap
/// no longer admits it. `served` is set once hyper is done with the connection (an HTTP/1.1
/// upgrade hands the socket to a tunnel), after which it must not be polled again.
async fn until_end<F, E>(
    mut connection: Pin<&mut F>,
    served: &mut bool,
    stop: &mut watch::Receiver<bool>,
    life: &mut Lifecycle,
    conn: &ConnState,
) -> Ending
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut watching = true;
    loop {
        tokio::select! {
            r = connection.as_mut(), if !*served => {
                if let Err(e) = r { tracing::debug!(error = %e, "connection ended with an error"); }
                *served = true;
                if conn.tunnels.count() == 0 {
                    return Ending::Closed;
                }
            }
            _ = conn.tunnels.idle(), if *served => return Ending::Closed,
            _ = stopped(stop) => return Ending::Shutdown,
            changed = life.changes.changed(), if watching => {
                if changed.is_err() {
                    // The publisher is gone (process stopping): nothing more to watch.
                    watching = false;
                    continue;
                }
                if !follow(conn, &life.live) {
                    return Ending::PolicyChanged;
                }
            }
        }
    }
}

/// Why a connection is being wound down.
enum Ending {
    Closed,
    Shutdown,
    PolicyChanged,
}

impl Ending {
    /// As logged in the connection's `end` field.
    fn as_str(&self) -> &'static str {
        match self {
            Ending::Closed => "closed",
            Ending::Shutdown => "shutdown",
            Ending::PolicyChanged => "policy_changed",
        }
    }
}

/// The connection's log line, once it is over.
fn log_end(conn: &ConnState, ending: &Ending) {
    let requests = conn.requests.load(std::sync::atomic::Ordering::Relaxed);
    observe::connection_closed(&conn.info, requests, ending.as_str());
}

async fn serve(
    tls: TlsStream<TcpStream>,
    info: ConnInfo,
    mut stop: watch::Receiver<bool>,
    ctx: Arc<ProxyContext>,
    mut life: Lifecycle,
) {
    let h2 = info.h2;
    let headers = cert_headers(&info, info.verdict);
    let conn = Arc::new(ConnState::new(info, headers));
    let watched = conn.clone();
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
    // SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSocket over HTTP/2 (RFC 8441).
    builder.http2().enable_connect_protocol();
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(connection);
    let mut served = false;
    // Watch from here on, then catch up once: a swap during the handshake (after its snapshot
    // was taken) is seen by `follow`, any later one by the watch.
    life.changes.mark_unchanged();
    let ending = match follow(&watched, &life.live) {
        true => {
            let c = connection.as_mut();
            until_end(c, &mut served, &mut stop, &mut life, &watched).await
        }
        false => Ending::PolicyChanged,
    };
    let bound = match ending {
        Ending::Closed => return log_end(&watched, &ending),
        Ending::Shutdown => life.shutdown_timeout,
        Ending::PolicyChanged => {
            tracing::debug!(peer = %watched.info.peer, "policy changed; closing the connection after in-flight requests");
            life.drain_timeout
        }
    };
    watched.wind_down.cancel();
    if !served {
        connection.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(bound, connection).await;
    }
    let _ = tokio::time::timeout(bound, watched.tunnels.idle()).await;
    log_end(&watched, &ending);
}
