//! Origin faults through the proxy: an origin that is down, slow, resets or sends garbage gets
//! the client a short JSON 502/504, and the proxy keeps serving; a healthy origin behind it
//! is reached over pooled keep-alive connections.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::fixture::Fixture;
use common::recording_origin::RecordingOrigin;
use common::tls_client::{Req, TlsClient};
use mtls_proxy::settings::Route;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A TCP origin that does `behave` with every connection; counts accepted connections.
async fn misbehaving_origin(behave: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                match behave {
                    "slow" => tokio::time::sleep(Duration::from_secs(30)).await,
                    "garbage" => {
                        let _ = tcp
                            .write_all(b"\x00\x01\x02 this is not HTTP\r\n\r\n")
                            .await;
                    }
                    _ => {
                        // "reset": half a response, then close.
                        let _ = tcp
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
                            .await;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn failing_origins_get_clean_502_and_504() {
    let (slow, _) = misbehaving_origin("slow").await;
    let (garbage, _) = misbehaving_origin("garbage").await;
    let (reset, _) = misbehaving_origin("reset").await;
    let down = closed_port();
    let healthy = RecordingOrigin::start().await;
    let routes = [
        ("down.example.com", format!("http://{down}")),
        ("slow.example.com", format!("http://{slow}")),
        ("garbage.example.com", format!("http://{garbage}")),
        ("reset.example.com", format!("http://{reset}")),
        ("ok.example.com", healthy.url()),
    ];
    let names: Vec<&str> = routes.iter().map(|(d, _)| *d).collect();
    let route_list = routes.clone();
    let f = Fixture::with_settings(&names, move |s| {
        s.proxy.origin_response_timeout = Duration::from_millis(500);
        s.routes = route_list
            .iter()
            .map(|(d, o)| Route {
                domain: d.to_string(),
                origin: o.clone(),
                ..Route::default()
            })
            .collect();
    })
    .await;
    for d in &names {
        f.activate(d, None).await;
    }
    let expect = [
        ("down.example.com", 502, "connect"),
        ("slow.example.com", 504, "timeout"),
        ("garbage.example.com", 502, "protocol"),
    ];
    for (domain, status, kind) in expect {
        let reply = TlsClient::new(&f.server_ca, domain)
            .fetch(f.proxy(), &Req::get(domain))
            .await
            .unwrap();
        assert_eq!(reply.status, status, "{domain}");
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["error"], kind, "{domain}");
    }
    // A truncated response: the client sees an error or a short body, never a hang or crash.
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        TlsClient::new(&f.server_ca, "reset.example.com")
            .fetch(f.proxy(), &Req::get("reset.example.com")),
    )
    .await
    .expect("no hang on a truncated origin response");
    if let Ok(reply) = r {
        assert!(reply.status == 502 || reply.body.len() < 100);
    }
    // The proxy still serves, and a healthy origin is reused across requests (pooling).
    let client = TlsClient::new(&f.server_ca, "ok.example.com");
    let mut conn = client.connect(f.proxy()).await.unwrap();
    for _ in 0..5 {
        assert_eq!(
            conn.send(&Req::get("ok.example.com")).await.unwrap().status,
            200
        );
    }
    assert_eq!(healthy.seen().len(), 5);
}
