//! The admin listener's accept loop: HTTP/1.1 with a request-header timeout (counted from the
//! connection's start and from each response, so an idle or slow-dripping client is closed) under
//! its own connection cap, so that the data plane's clients and a burst of silent sockets can never
//! lock operators out of the API, or the API out of memory (rule 6, docs/architecture.md).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::shutdown::stopped;

/// Limits of the admin listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    /// Concurrent connections; more wait in the listen backlog.
    pub max_connections: usize,
    /// From connection start or the previous response to a complete request head.
    pub header_timeout: Duration,
}

/// How long open admin connections may finish their requests once the process stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serve `app` until `shutdown` becomes true, then let open requests finish (bounded).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stopped(&mut shutdown) => break,
        };
        let tcp = tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spinning.
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        let app = app.clone();
        let mut stop = shutdown.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
                }
            }
        });
        // Reap finished tasks so the set does not grow without bound.
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}
