//! Serves one established TLS connection with hyper (HTTP/1.1 or HTTP/2 per ALPN) until it ends,
//! and ends it through its wind-down point (`wind_down`) when the process stops, a swap no longer
//! admits it, a certificate of its chain expires on an enforced domain, it reaches its maximum age,
//! or it waits too long for a request head or sits idle (rules 5 and 6, docs/architecture.md). A
//! wind-down lets in-flight requests finish within a bound and closes the connection gracefully
//! (HTTP/1.1 `Connection: close`, HTTP/2 GOAWAY) and its tunnels at once; meanwhile every new
//! request is refused by the request service (421), whether or not the client cooperates. A
//! connection with open tunnels lasts until they close.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;

use super::connection::{unix_now, ConnState};
use super::service::{handle, ProxyContext};
use super::timeout_io::TimeoutIo;
use super::wind_down::Ending;
use crate::acceptor::{observe, ConnInfo, Handler, Transport};
use crate::shutdown::stopped;
use crate::snapshot::entry::Snapshot;

/// The timeouts of an established connection (`[proxy]`, reloadable: a SIGHUP applies them to
/// new connections and, at their next timer, to open ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    pub request_header_timeout: Duration,
    pub idle_timeout: Duration,
    pub h2_keepalive_interval: Option<Duration>,
    pub h2_keepalive_timeout: Duration,
    pub max_connection_age: Option<Duration>,
}

/// Timing and change feeds shared by every connection.
#[derive(Clone)]
pub struct Lifecycle {
    /// The live snapshot, consulted when `changes` fires.
    pub live: Arc<ArcSwap<Snapshot>>,
    /// Fires after every snapshot swap.
    pub changes: watch::Receiver<u64>,
    /// Bound on finishing in-flight requests at shutdown.
    pub shutdown_timeout: Duration,
    /// Bound on finishing in-flight requests after the connection's policy changed, its
    /// certificate expired or it reached its maximum age.
    pub drain_timeout: Duration,
    /// Timeouts, swapped by a reload.
    pub limits: Arc<ArcSwap<ConnLimits>>,
}

/// After a header or idle timeout no request is in flight: this is only for the GOAWAY or
/// the TLS close to go out.
const QUIET_CLOSE: Duration = Duration::from_secs(1);

/// The acceptor's connection handler for this proxy.
pub fn handler(ctx: Arc<ProxyContext>, lifecycle: Lifecycle) -> Handler {
    Arc::new(move |tls, info, stop| {
        let (ctx, lifecycle) = (ctx.clone(), lifecycle.clone());
        Box::pin(serve(tls, info, stop, ctx, lifecycle))
    })
}

/// How the connection loop ended.
enum Ended {
    /// The connection future completed (client closed, error, or a 408 was sent) and no
    /// tunnel is open.
    Finished(Ending),
    /// A wind-down started: close gracefully within the bound for the reason.
    WindDown(Ending),
}

/// Start winding down for `why` (or the reason that was first).
fn wind_down(conn: &ConnState, why: Ending) -> Ended {
    conn.wind_down.begin(why);
    Ended::WindDown(conn.wind_down.reason().unwrap_or(why))
}

/// The instant at which the wall clock reads `unix` seconds (now if it already has).
fn instant_at(unix: i64) -> Instant {
    let target = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or_default());
    let ahead = target.duration_since(SystemTime::now()).unwrap_or_default();
    Instant::now() + ahead
}

/// The limit that applies while no request is in flight, and the ending it causes: the header
/// timeout before the first request and while part of a request has arrived; between requests
/// on HTTP/1.1 whichever of the header (counted from the previous response) and idle timeouts
/// is shorter; between requests on HTTP/2 the idle timeout.
fn quiet_limit(conn: &ConnState, limits: &ConnLimits, h2: bool) -> (Duration, Ending) {
    let header = (limits.request_header_timeout, Ending::RequestHeaderTimeout);
    let idle = (limits.idle_timeout, Ending::IdleTimeout);
    let activity = &conn.activity;
    if activity.requests() == 0 || (!h2 && activity.partial_request()) {
        return header;
    }
    match h2 || idle.0 < header.0 {
        true => idle,
        false => header,
    }
}

/// When the connection loop must look at the connection again.
fn next_check(conn: &ConnState, limits: &ConnLimits, h2: bool) -> Instant {
    let now = Instant::now();
    let quiet = match conn.activity.idle_since() {
        Some(since) => since + quiet_limit(conn, limits, h2).0,
        // A request is in flight: look again after the shortest limit.
        None => now + limits.request_header_timeout.min(limits.idle_timeout),
    };
    let expiry = conn.judged().next_expiry.map(instant_at);
    let age = limits
        .max_connection_age
        .map(|age| conn.activity.started() + age);
    [Some(quiet), expiry, age]
        .into_iter()
        .flatten()
        .fold(quiet, Instant::min)
}

/// What a timer firing means for the connection.
async fn on_timer<F, E>(
    mut connection: Pin<&mut F>,
    conn: &ConnState,
    limits: &ConnLimits,
    h2: bool,
) -> Option<Ended>
where
    F: Future<Output = Result<(), E>>,
{
    if let Err(why) = conn.judge_time(unix_now()) {
        return Some(wind_down(conn, why));
    }
    let now = Instant::now();
    let started = conn.activity.started();
    if limits
        .max_connection_age
        .is_some_and(|age| now >= started + age)
    {
        return Some(wind_down(conn, Ending::MaxAge));
    }
    let since = conn.activity.idle_since()?;
    let (limit, why) = quiet_limit(conn, limits, h2);
    if now < since + limit {
        return None;
    }
    if why == Ending::RequestHeaderTimeout && !h2 && conn.activity.partial_request() {
        // hyper waits for the rest of the head: its reader now answers 408 and ends input.
        conn.activity.time_out();
        conn.wind_down.begin(why);
        let _ = tokio::time::timeout(QUIET_CLOSE, connection.as_mut()).await;
        return Some(Ended::Finished(why));
    }
    Some(wind_down(conn, why))
}

/// What a timer firing means once hyper handed an HTTP/1.1 connection's socket to a tunnel:
/// the certificate's expiry (an enforced connection ends; a fail-open one is judged `expired`,
/// which closes a tunnel on a route with identity rules) and `max_connection_age` still apply.
/// The header and idle timeouts do not (an open tunnel is never idle).
fn on_tunnel_timer(conn: &ConnState, limits: &ConnLimits) -> Option<Ended> {
    if let Err(why) = conn.judge_time(unix_now()) {
        return Some(wind_down(conn, why));
    }
    let age = limits.max_connection_age?;
    (Instant::now() >= conn.activity.started() + age).then(|| wind_down(conn, Ending::MaxAge))
}

/// Serve until the connection ends (and its tunnels with it) or a wind-down starts. `served`
/// is set once hyper is done with the connection (an HTTP/1.1 upgrade hands the socket to a
/// tunnel), after which it must not be polled again.
async fn until_end<F, E>(
    mut connection: Pin<&mut F>,
    served: &mut bool,
    stop: &mut watch::Receiver<bool>,
    life: &mut Lifecycle,
    conn: &ConnState,
) -> Ended
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let h2 = conn.info.h2;
    let mut watching = true;
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    loop {
        let limits = life.limits.load_full();
        timer.as_mut().reset(next_check(conn, &limits, h2));
        tokio::select! {
            r = connection.as_mut(), if !*served => {
                if let Err(e) = r { tracing::debug!(error = %e, "connection ended with an error"); }
                *served = true;
                if conn.tunnels.count() == 0 {
                    return Ended::Finished(conn.wind_down.reason().unwrap_or(Ending::Closed));
                }
            }
            _ = conn.tunnels.idle(), if *served => {
                return Ended::Finished(conn.wind_down.reason().unwrap_or(Ending::Closed));
            }
            why = conn.wind_down.started() => return Ended::WindDown(why),
            _ = stopped(stop) => return wind_down(conn, Ending::Shutdown),
            changed = life.changes.changed(), if watching => {
                if changed.is_err() {
                    // The publisher is gone (process stopping): nothing more to watch.
                    watching = false;
                    continue;
                }
                if !conn.follow(&life.live) {
                    return wind_down(conn, Ending::PolicyChanged);
                }
            }
            _ = &mut timer => {
                let ended = match *served {
                    false => on_timer(connection.as_mut(), conn, &limits, h2).await,
                    true => on_tunnel_timer(conn, &limits),
                };
                if let Some(ended) = ended {
                    return ended;
                }
            }
        }
    }
}

/// The connection's log line, once it is over.
fn log_end(conn: &ConnState, ending: Ending) {
    observe::connection_closed(&conn.info, conn.activity.requests(), ending.as_str());
}

/// hyper for one connection: the ALPN's protocol only; HTTP/2 with keep-alive PINGs (an
/// unanswered PING closes the connection) and extended CONNECT.
fn builder(h2: bool, limits: &ConnLimits) -> auto::Builder<TokioExecutor> {
    let builder = auto::Builder::new(TokioExecutor::new());
    if !h2 {
        return builder.http1_only();
    }
    let mut builder = builder.http2_only();
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.h2_keepalive_interval)
        .keep_alive_timeout(limits.h2_keepalive_timeout)
        // SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSocket over HTTP/2 (RFC 8441).
        .enable_connect_protocol();
    builder
}

async fn serve(
    tls: TlsStream<Transport>,
    info: ConnInfo,
    mut stop: watch::Receiver<bool>,
    ctx: Arc<ProxyContext>,
    mut life: Lifecycle,
) {
    let limits = life.limits.load_full();
    let h2 = info.h2;
    let conn = Arc::new(ConnState::new(info, &ctx.cert_headers));
    let service = {
        let conn = conn.clone();
        service_fn(move |req| {
            let (conn, ctx) = (conn.clone(), ctx.clone());
            async move { Ok::<_, Infallible>(handle(req, conn, ctx).await) }
        })
    };
    let builder = builder(h2, &limits);
    let io = TokioIo::new(TimeoutIo::new(tls, conn.activity.clone()));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut served = false;
    // Watch from here on, then catch up once: a swap during the handshake (after its snapshot
    // was taken) is seen by `follow`, any later one by the watch.
    life.changes.mark_unchanged();
    let ended = match conn.follow(&life.live) {
        true => {
            let c = connection.as_mut();
            until_end(c, &mut served, &mut stop, &mut life, &conn).await
        }
        false => wind_down(&conn, Ending::PolicyChanged),
    };
    let ending = match ended {
        Ended::Finished(ending) => return log_end(&conn, ending),
        Ended::WindDown(ending) => ending,
    };
    let bound = match ending {
        Ending::Shutdown => life.shutdown_timeout,
        e if e.drains() => life.drain_timeout,
        _ => QUIET_CLOSE,
    };
    tracing::debug!(peer = %conn.info.peer, end = ending.as_str(), "closing the connection after in-flight requests");
    // Its tunnels were told to close by the wind-down itself.
    if !served {
        connection.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(bound, connection).await;
    }
    let _ = tokio::time::timeout(bound, conn.tunnels.idle()).await;
    log_end(&conn, ending);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_follow_the_wall_clock() {
        let now = Instant::now();
        assert!(instant_at(0) <= Instant::now());
        let later = instant_at(unix_now() + 100);
        assert!(later > now + Duration::from_secs(98));
        assert!(later <= Instant::now() + Duration::from_secs(100));
    }
}
