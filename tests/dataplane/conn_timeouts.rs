//! Every connection is bounded after its handshake too (rule 6, docs/architecture.md): silent,
//! partial-header and slow-drip clients are closed by `request_header_timeout` (408 on HTTP/1.1
//! when part of a request arrived), idle keep-alive connections by the header or idle timeout,
//! HTTP/2 clients that do not answer PING by the keep-alive timeout, every connection at
//! `max_connection_age`; with a small `max_connections`, a legitimate client gets in once idle
//! sockets are reaped. Only "it ended within a generous bound" is asserted, never how fast.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::time::Duration;

use common::fixture::Fixture;
use common::raw_h2::{Outcome, RawH2};
use common::tls_client::{Proto, Req, TlsClient, PROTOS};
use mtls_proxy::devpki::Validity;
use mtls_proxy::settings::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PLAIN: &str = "plain.example.com";
const OPEN: &str = "open.example.com";

/// Far beyond every configured timeout here: a connection still open then was not closed.
const GENEROUS: Duration = Duration::from_secs(15);

async fn fixture(f: impl FnOnce(&mut Settings)) -> Fixture {
    let fx = Fixture::with_settings(&[PLAIN, OPEN], |s| {
        s.proxy.request_header_timeout = Duration::from_secs(1);
        s.proxy.idle_timeout = Duration::from_secs(2);
        f(s)
    })
    .await;
    fx.activate(PLAIN, None).await;
    let ma = fx.ma(&fx.client_ca.cert().cert_pem, false).await;
    fx.activate(OPEN, Some(&ma)).await;
    fx
}

/// Read until the server ends the connection; what it sent.
async fn read_until_closed<S: AsyncReadExt + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(GENEROUS, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.expect("the connection was not closed");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_closed_after_the_handshake() {
    let f = fixture(|_| {}).await;
    for domain in [PLAIN, OPEN] {
        for proto in PROTOS {
            let client = TlsClient::new(&f.server_ca, domain).proto(proto);
            let mut shaken = client.handshake(f.proxy()).await.unwrap();
            let sent = read_until_closed(&mut shaken.stream).await;
            if proto == Proto::H1 {
                // Nothing arrived, so no 408: the connection is just closed.
                assert!(
                    sent.is_empty(),
                    "{domain}: {}",
                    String::from_utf8_lossy(&sent)
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_request_head_gets_408() {
    let f = fixture(|_| {}).await;
    for domain in [PLAIN, OPEN] {
        let client = TlsClient::new(&f.server_ca, domain);
        let mut shaken = client.handshake(f.proxy()).await.unwrap();
        let partial = format!("GET / HTTP/1.1\r\nHost: {domain}\r\nX-Half: ");
        shaken.stream.write_all(partial.as_bytes()).await.unwrap();
        let sent = read_until_closed(&mut shaken.stream).await;
        let text = String::from_utf8_lossy(&sent);
        assert!(text.starts_with("HTTP/1.1 408 "), "{domain}: {text}");
        // The same after a first complete request on a keep-alive connection.
        let mut shaken = client.handshake(f.proxy()).await.unwrap();
        let first = format!("GET / HTTP/1.1\r\nHost: {domain}\r\n\r\n");
        shaken.stream.write_all(first.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 8192];
        let n = shaken.stream.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200 "), "{domain}: {text}");
        shaken.stream.write_all(partial.as_bytes()).await.unwrap();
        let sent = read_until_closed(&mut shaken.stream).await;
        let text = String::from_utf8_lossy(&sent);
        assert!(text.contains("HTTP/1.1 408 "), "{domain}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_is_cut_at_the_header_timeout() {
    let f = fixture(|_| {}).await;
    let client = TlsClient::new(&f.server_ca, PLAIN);
    let shaken = client.handshake(f.proxy()).await.unwrap();
    let (mut reader, mut writer) = tokio::io::split(shaken.stream);
    // One byte every 100 ms: the whole head would take 30 s, each byte resets nothing.
    let head = format!(
        "GET / HTTP/1.1\r\nHost: {PLAIN}\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(260)
    );
    let drip = tokio::spawn(async move {
        let mut sent = 0;
        for b in head.bytes() {
            if writer.write_all(&[b]).await.is_err() || writer.flush().await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (sent, head.len())
    });
    let sent = read_until_closed(&mut reader).await;
    let text = String::from_utf8_lossy(&sent);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    drip.abort();
    if let Ok((dripped, total)) = drip.await {
        assert!(
            dripped < total,
            "the whole head was sent before the timeout"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let f = fixture(|_| {}).await;
    for proto in PROTOS {
        let client = TlsClient::new(&f.server_ca, PLAIN).proto(proto);
        let mut conn = client.connect(f.proxy()).await.unwrap();
        assert_eq!(conn.send(&Req::get(PLAIN)).await.unwrap().status, 200);
        tokio::time::timeout(GENEROUS, conn.closed())
            .await
            .unwrap_or_else(|_| panic!("{proto:?}: idle connection still open"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_are_reaped_so_a_legitimate_client_gets_in() {
    let f = fixture(|s| s.proxy.max_connections = 2).await;
    let client = TlsClient::new(&f.server_ca, PLAIN);
    // Two sockets that completed a handshake and send nothing take both slots.
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(client.handshake(f.proxy()).await.unwrap());
    }
    let legit = TlsClient::new(&f.server_ca, OPEN).cert(&f.client(Validity::Current));
    let r = tokio::time::timeout(GENEROUS, legit.fetch(f.proxy(), &Req::get(OPEN)))
        .await
        .expect("the legitimate client never got a slot")
        .unwrap();
    assert_eq!(r.status, 200);
    for mut s in idle {
        read_until_closed(&mut s.stream).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_does_not_answer_ping_is_closed() {
    let f = fixture(|s| {
        s.proxy.request_header_timeout = Duration::from_secs(60);
        s.proxy.idle_timeout = Duration::from_secs(60);
        s.proxy.h2_keepalive_interval = Some(Duration::from_secs(1));
        s.proxy.h2_keepalive_timeout = Duration::from_secs(1);
    })
    .await;
    let client = TlsClient::new(&f.server_ca, PLAIN).h2();
    let mut raw = RawH2::connect(&client, f.proxy()).await;
    let id = raw.get(PLAIN, "/").await.unwrap();
    assert!(matches!(raw.outcome(id).await, Outcome::Answered(_)));
    tokio::time::timeout(GENEROUS, raw.until_closed())
        .await
        .expect("a client ignoring PING is still connected");
    assert!(raw.pings > 0);
    // A client that answers PING stays connected past the keep-alive timeout.
    let mut conn = client.connect(f.proxy()).await.unwrap();
    assert_eq!(conn.send(&Req::get(PLAIN)).await.unwrap().status, 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(conn.send(&Req::get(PLAIN)).await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_closed_at_their_maximum_age() {
    let f = fixture(|s| {
        s.proxy.request_header_timeout = Duration::from_secs(60);
        s.proxy.idle_timeout = Duration::from_secs(60);
        s.proxy.max_connection_age = Some(Duration::from_secs(2));
    })
    .await;
    for proto in PROTOS {
        let client = TlsClient::new(&f.server_ca, PLAIN).proto(proto);
        let mut conn = client.connect(f.proxy()).await.unwrap();
        assert_eq!(conn.send(&Req::get(PLAIN)).await.unwrap().status, 200);
        tokio::time::timeout(GENEROUS, conn.closed())
            .await
            .unwrap_or_else(|_| panic!("{proto:?}: connection older than its maximum age"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_has_a_cap_and_a_header_timeout() {
    let f = fixture(|s| s.admin.max_connections = 2).await;
    let mut silent = tokio::net::TcpStream::connect(f.h.admin).await.unwrap();
    let mut partial = tokio::net::TcpStream::connect(f.h.admin).await.unwrap();
    partial
        .write_all(b"GET /health HTTP/1.1\r\n")
        .await
        .unwrap();
    // Both slots are taken; the operator's request gets in once they are reaped.
    let r = tokio::time::timeout(GENEROUS, f.h.get("/health"))
        .await
        .expect("the admin API stayed locked out");
    assert_eq!(r.status, 200);
    read_until_closed(&mut silent).await;
    read_until_closed(&mut partial).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_connection_cap_holds_until_a_slot_frees() {
    let f = fixture(|s| {
        s.admin.max_connections = 1;
        s.proxy.request_header_timeout = Duration::from_secs(60);
    })
    .await;
    let holder = tokio::net::TcpStream::connect(f.h.admin).await.unwrap();
    // Let the listener take the slot for the holder before the next client arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admin = f.h.admin;
    let waiting =
        tokio::spawn(
            async move { common::http::request(admin, "GET", "/health", None, None).await },
        );
    // Held back while the slot is taken (if the cap did not hold, the request would be
    // answered at once).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "answered beyond the connection cap");
    drop(holder);
    let r = tokio::time::timeout(GENEROUS, waiting)
        .await
        .expect("no slot after the holder left")
        .unwrap();
    assert_eq!(r.status, 200);
}
