//! A panic inside one connection's task never stops the listener: the next connection is
//! accepted and handled.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::fixture::Fixture;
use common::tls_client::TlsClient;
use mtls_proxy::acceptor::{self, AcceptorOptions, Handler};

#[tokio::test]
async fn a_panicking_connection_does_not_stop_the_listener() {
    let f = Fixture::new(&["panic.example.com"]).await;
    f.activate("panic.example.com", None).await;
    let live = f.h.running.as_ref().unwrap().publisher.live();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let handler: Handler = Arc::new(move |_tls, _info, _stop| {
        let seen = seen.clone();
        Box::pin(async move {
            seen.fetch_add(1, Ordering::SeqCst);
            panic!("deliberate panic in a connection task");
        })
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let opts = AcceptorOptions {
        handshake_timeout: Duration::from_secs(5),
        max_connections: 4,
    };
    let metrics = f.h.running.as_ref().unwrap().metrics.clone();
    let server = tokio::spawn(acceptor::run(
        listener, live, opts, handler, metrics, stop_rx,
    ));
    let client = TlsClient::new(&f.server_ca, "panic.example.com");
    for expected in 1..=3 {
        let _ = client.handshake(addr).await;
        tokio::time::timeout(Duration::from_secs(5), async {
            while calls.load(Ordering::SeqCst) < expected {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("connection handled after earlier panics");
    }
    assert!(
        !server.is_finished(),
        "the listener stopped after panicking connections"
    );
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("listener stops on shutdown")
        .expect("listener task did not panic");
}
