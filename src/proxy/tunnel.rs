//! Tunnels of one client connection (upgraded WebSocket connections, HTTP/1.1 or an HTTP/2
//! extended CONNECT stream, spliced to the origin's upgraded HTTP/1.1 connection). A tunnel is
//! the connection for the enforcement rules: it is counted, so the connection is neither
//! logged as closed nor gives up its slot while one is open, and it is closed at once when the
//! connection winds down (a swap that no longer admits it, certificate expiry, shutdown), since
//! unlike a request it would otherwise never finish (rule 5, docs/architecture.md: a connection outlives
//! neither a tightening nor its certificate, whether or not the client cooperates). Each
//! tunnel also remembers the host and path it was routed by, so that a change of the
//! connection's judgement (or of the routes) that makes its route refuse the connection
//! closes that tunnel, as it would refuse a new request: see [`Tunnels::close_where`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Longest wait for a close (TLS close_notify, end of stream, FIN) to go out on wind-down.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What a tunnel was routed by: the request's canonical host and its (normalised) path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelScope {
    pub host: String,
    pub path: String,
}

/// An open tunnel's scope and its own close signal.
struct Open {
    scope: TunnelScope,
    close: CancellationToken,
}

/// The open tunnels of one connection.
pub struct Tunnels {
    open: Arc<watch::Sender<usize>>,
    scopes: Arc<Mutex<HashMap<u64, Open>>>,
    next_id: AtomicU64,
}

impl Default for Tunnels {
    fn default() -> Self {
        Tunnels {
            open: Arc::new(watch::Sender::new(0)),
            scopes: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(0),
        }
    }
}

impl Tunnels {
    /// How many are open.
    pub fn count(&self) -> usize {
        *self.open.borrow()
    }

    /// Resolves once none is open.
    pub async fn idle(&self) {
        let mut rx = self.open.subscribe();
        // The sender lives in `self`, so the channel cannot close under us.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Splice the client's and the origin's upgraded connections once both upgrades complete
    /// (the client's after our 101/200 is written), until either side closes, `wind_down`
    /// fires, or [`Tunnels::close_where`] picks it. Counted from now: before the request's
    /// response is handed to hyper. `hold` is kept for as long as the tunnel is open (it keeps
    /// the connection busy for its timeouts).
    pub fn open(
        &self,
        client: OnUpgrade,
        origin: OnUpgrade,
        wind_down: CancellationToken,
        hold: impl Send + 'static,
        scope: TunnelScope,
    ) {
        let close = wind_down.child_token();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Open {
            scope,
            close: close.clone(),
        };
        lock(&self.scopes).insert(id, entry);
        self.open.send_modify(|n| *n += 1);
        let guard = Counted {
            open: self.open.clone(),
            scopes: self.scopes.clone(),
            id,
        };
        tokio::spawn(async move {
            splice(client, origin, &close).await;
            drop(hold);
            drop(guard);
        });
    }

    /// Close every open tunnel whose scope `refuses` (host, path); returns how many.
    pub fn close_where(&self, refuses: impl Fn(&TunnelScope) -> bool) -> usize {
        let scopes = lock(&self.scopes);
        let mut closed = 0;
        for open in scopes.values().filter(|o| !o.close.is_cancelled()) {
            if refuses(&open.scope) {
                open.close.cancel();
                closed += 1;
            }
        }
        closed
    }
}

fn lock(m: &Mutex<HashMap<u64, Open>>) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decrements the count and forgets the scope when the tunnel task ends, however it ends.
struct Counted {
    open: Arc<watch::Sender<usize>>,
    scopes: Arc<Mutex<HashMap<u64, Open>>>,
    id: u64,
}

impl Drop for Counted {
    fn drop(&mut self) {
        lock(&self.scopes).remove(&self.id);
        self.open.send_modify(|n| *n = n.saturating_sub(1));
    }
}

async fn splice(client: OnUpgrade, origin: OnUpgrade, wind_down: &CancellationToken) {
    let both = async { tokio::try_join!(client, origin) };
    let (client, origin) = tokio::select! {
        biased;
        _ = wind_down.cancelled() => return,
        upgraded = both => match upgraded {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "tunnel not established");
                return;
            }
        },
    };
    let (mut client, mut origin) = (TokioIo::new(client), TokioIo::new(origin));
    let wound_down = tokio::select! {
        biased;
        _ = wind_down.cancelled() => true,
        copied = tokio::io::copy_bidirectional(&mut client, &mut origin) => {
            match copied {
                Ok((up, down)) => tracing::debug!(up, down, "tunnel closed"),
                Err(e) => tracing::debug!(error = %e, "tunnel ended with an error"),
            }
            false
        }
    };
    if wound_down {
        tracing::debug!(
            "closing the tunnel (its connection winds down, or its route no longer admits it)"
        );
        close(&mut client).await;
        close(&mut origin).await;
    }
}

/// Best-effort orderly close, bounded: the peer sees the end of the stream, not a reset.
async fn close<W: AsyncWrite + Unpin>(io: &mut W) {
    let _ = tokio::time::timeout(CLOSE_GRACE, io.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_upgrade() -> OnUpgrade {
        hyper::upgrade::on(http::Request::new(()))
    }

    fn scope(path: &str) -> TunnelScope {
        TunnelScope {
            host: "a.test".into(),
            path: path.into(),
        }
    }

    #[tokio::test]
    async fn a_tunnel_is_counted_until_it_ends_however_it_ends() {
        let tunnels = Tunnels::default();
        assert_eq!(tunnels.count(), 0);
        tunnels.idle().await;
        // Upgrades that fail at once: the task ends and the count goes back down.
        tunnels.open(
            no_upgrade(),
            no_upgrade(),
            CancellationToken::new(),
            (),
            scope("/"),
        );
        assert_eq!(tunnels.count(), 1);
        tunnels.idle().await;
        assert_eq!(tunnels.count(), 0);
        assert!(lock(&tunnels.scopes).is_empty(), "its scope is forgotten");
        // A wound-down connection's tunnel ends before it starts.
        let wind_down = CancellationToken::new();
        wind_down.cancel();
        tunnels.open(no_upgrade(), no_upgrade(), wind_down, (), scope("/"));
        tunnels.idle().await;
        assert_eq!(tunnels.count(), 0);
    }

    #[test]
    fn close_where_closes_exactly_the_tunnels_it_picks() {
        let tunnels = Tunnels::default();
        let wind_down = CancellationToken::new();
        let tokens: Vec<(String, CancellationToken)> = ["/admin/a", "/public", "/admin/b"]
            .into_iter()
            .enumerate()
            .map(|(id, path)| {
                let close = wind_down.child_token();
                let open = Open {
                    scope: scope(path),
                    close: close.clone(),
                };
                lock(&tunnels.scopes).insert(u64::try_from(id).unwrap(), open);
                (path.to_string(), close)
            })
            .collect();
        assert_eq!(tunnels.close_where(|s| s.path.starts_with("/admin")), 2);
        for (path, close) in &tokens {
            assert_eq!(close.is_cancelled(), path.starts_with("/admin"), "{path}");
        }
        // Already closing: not counted again.
        assert_eq!(tunnels.close_where(|s| s.path.starts_with("/admin")), 0);
        // The connection's wind-down still closes the rest.
        wind_down.cancel();
        assert!(tokens.iter().all(|(_, c)| c.is_cancelled()));
    }
}
