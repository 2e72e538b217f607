//! Tunnels of one client connection (upgraded WebSocket connections, HTTP/1.1 or an HTTP/2
//! extended CONNECT stream, spliced to the origin's upgraded HTTP/1.1 connection). A tunnel is
//! the connection for the enforcement rules: it is counted, so the connection is neither
//! logged as closed nor gives up its slot while one is open, and it is closed at once when the
//! connection winds down (a swap that no longer admits it, certificate expiry, shutdown), since
//! unlike a request it would otherwise never finish (DESIGN rule 5: a connection outlives
//! neither a tightening nor its certificate, whether or not the client cooperates).

use std::sync::Arc;
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Longest wait for a close (TLS close_notify, end of stream, FIN) to go out on wind-down.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The open tunnels of one connection.
pub struct Tunnels {
    open: Arc<watch::Sender<usize>>,
}

impl Default for Tunnels {
    fn default() -> Self {
        Tunnels {
            open: Arc::new(watch::Sender::new(0)),
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
    /// (the client's after our 101/200 is written), until either side closes or `wind_down`
    /// fires. Counted from now: before the request's response is handed to hyper. `hold` is
    /// kept for as long as the tunnel is open (it keeps the connection busy for its timeouts).
    pub fn open(
        &self,
        client: OnUpgrade,
        origin: OnUpgrade,
        wind_down: CancellationToken,
        hold: impl Send + 'static,
    ) {
        self.open.send_modify(|n| *n += 1);
        let guard = Counted(self.open.clone());
        tokio::spawn(async move {
            splice(client, origin, &wind_down).await;
            drop(hold);
            drop(guard);
        });
    }
}

/// Decrements the count when the tunnel task ends, however it ends.
struct Counted(Arc<watch::Sender<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
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
        tracing::debug!("connection winding down; closing its tunnel");
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

    #[tokio::test]
    async fn a_tunnel_is_counted_until_it_ends_however_it_ends() {
        let tunnels = Tunnels::default();
        assert_eq!(tunnels.count(), 0);
        tunnels.idle().await;
        // Upgrades that fail at once: the task ends and the count goes back down.
        tunnels.open(no_upgrade(), no_upgrade(), CancellationToken::new(), ());
        assert_eq!(tunnels.count(), 1);
        tunnels.idle().await;
        assert_eq!(tunnels.count(), 0);
        // A wound-down connection's tunnel ends before it starts.
        let wind_down = CancellationToken::new();
        wind_down.cancel();
        tunnels.open(no_upgrade(), no_upgrade(), wind_down, ());
        tunnels.idle().await;
        assert_eq!(tunnels.count(), 0);
    }
}
