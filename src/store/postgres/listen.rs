//! LISTEN/NOTIFY: every commit notifies `mtls_proxy_changes`, and each node keeps one dedicated
//! connection listening on it, which ticks a watch channel per notification. A connection that
//! fails, or stops answering the periodic probe, is replaced (with backoff); each (re)connection
//! ticks too, since notifications sent meanwhile were lost. The revision poll stays the
//! fallback: a lost notification only delays.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The channel commits notify.
pub const CHANNEL: &str = "mtls_proxy_changes";

/// How often an idle listening connection is probed.
const PROBE_EVERY: Duration = Duration::from_secs(5);

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Listen until the runtime stops; ticks `ticks` on every notification and reconnection.
pub async fn run(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    probe_timeout: Duration,
    ticks: watch::Sender<u64>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match listen(&config, tls.clone(), probe_timeout, &ticks, &mut backoff).await {
            Ok(()) => tracing::debug!("the store's notification connection closed"),
            Err(e) => tracing::debug!(error = %e, "the store's notification connection failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

fn tick(ticks: &watch::Sender<u64>) {
    ticks.send_modify(|n| *n = n.wrapping_add(1));
}

async fn listen(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    probe_timeout: Duration,
    ticks: &watch::Sender<u64>,
    backoff: &mut Duration,
) -> Result<(), String> {
    let (client, mut connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
    let (notified, mut notifications) = mpsc::unbounded_channel();
    // The connection only makes progress while polled: a task drives it and forwards
    // notifications; it ends when the connection does.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    if notified.send(()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    });
    let result = async {
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| e.to_string())?;
        *backoff = BACKOFF_MIN;
        tick(ticks);
        let mut probe = tokio::time::interval(PROBE_EVERY);
        probe.tick().await;
        loop {
            tokio::select! {
                got = notifications.recv() => match got {
                    Some(()) => tick(ticks),
                    None => return Ok(()),
                },
                _ = probe.tick() => {
                    match tokio::time::timeout(probe_timeout, client.simple_query("")).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(e.to_string()),
                        Err(_) => return Err("the probe timed out".to_string()),
                    }
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}
