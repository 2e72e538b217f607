//! The process's stop signal: a `watch` channel that turns true once, when the process is asked
//! to stop. Every listener and long-lived task waits on it through [`stopped`].

use tokio::sync::watch;

/// Resolves once `rx` reads true (or its sender is gone). The watch guard is dropped inside,
/// so callers' futures stay `Send`.
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await.map(|_| ());
}
