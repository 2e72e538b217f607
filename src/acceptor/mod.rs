//! The TLS listener: accepts TCP connections under a concurrency cap, takes the current
//! snapshot once per connection (when its ClientHello has arrived), completes the per-domain
//! handshake and hands the stream to the connection handler (the proxy).

pub mod client_hello;
pub mod connection;
pub mod handshake;
pub mod linger;
pub mod observe;
pub mod transport;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::server::TlsStream;

pub use connection::ConnInfo;
pub use transport::Transport;

use crate::metrics::Metrics;
use crate::shutdown::stopped;
use crate::snapshot::entry::Snapshot;

/// Serves one established connection to completion; `shutdown` flips to true when the process
/// stops so the handler can finish in-flight requests and close.
pub type Handler = Arc<
    dyn Fn(
            TlsStream<Transport>,
            ConnInfo,
            watch::Receiver<bool>,
        ) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// Listener limits.
#[derive(Debug, Clone)]
pub struct AcceptorOptions {
    pub handshake_timeout: Duration,
    pub max_connections: usize,
}

/// Accept until `shutdown` becomes true, then wait for open connections to finish (the handler
/// bounds how long that takes). Every connection and handshake is recorded into `metrics`.
pub async fn run(
    listener: TcpListener,
    snapshots: Arc<ArcSwap<Snapshot>>,
    opts: AcceptorOptions,
    handler: Handler,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(opts.max_connections));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        // Take a permit before accepting: at the cap, new clients wait in the backlog instead
        // of consuming memory here.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stopped(&mut shutdown) => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        let _ = tcp.set_nodelay(true);
        let snapshots = snapshots.clone();
        let handler = handler.clone();
        let stop = shutdown.clone();
        let deadline = opts.handshake_timeout;
        let metrics = metrics.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let _active = metrics.connection_opened();
            let started = Instant::now();
            match handshake::handshake(tcp, peer, snapshots, deadline).await {
                Ok((tls, info)) => {
                    observe::handshake_done(&metrics, &info);
                    handler(tls, info, stop).await
                }
                Err(refused) => {
                    observe::handshake_failed(&metrics, peer, &refused.error, started.elapsed());
                    refused.close().await
                }
            }
        });
        // Reap finished tasks so the set does not grow without bound.
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}
