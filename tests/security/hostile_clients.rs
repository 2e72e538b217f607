//! Hostile clients against the running proxy: silence, half a ClientHello, garbage, oversized
//! hellos, connection floods over the cap, over-long chains, name-constraint violations, the
//! wrong key usage, huge subjects and thousands of SANs, on TLS 1.2 and 1.3.

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
use common::odd_certs::{self, TestCa};
use common::tls_client::{certified, ok_json, Req, Tls, TlsClient, BOTH};
use rcgen::ExtendedKeyUsagePurpose;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOST: &str = "hostile.example.com";
const OPEN: &str = "open.example.com";

async fn fixture() -> Fixture {
    Fixture::with_settings(&[HOST, OPEN, "short.example.com"], |s| {
        s.proxy.handshake_timeout = Duration::from_millis(400);
        s.proxy.max_connections = 20;
    })
    .await
}

/// Reads until the server closes (or a generous bound passes): true when it closed.
async fn closed_by_server(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let wait = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .is_ok()
}

/// The first bytes of a ClientHello record claiming a large body it never sends.
fn half_client_hello() -> Vec<u8> {
    vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0xaa, 0xbb,
    ]
}

async fn assert_still_serving(f: &Fixture) {
    let reply = TlsClient::new(&f.server_ca, OPEN)
        .fetch(f.proxy(), &Req::get(OPEN))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn silence_half_hellos_and_garbage_are_cut_off() {
    let f = fixture().await;
    f.activate(OPEN, None).await;
    let mut silent = TcpStream::connect(f.proxy()).await.unwrap();
    assert!(
        closed_by_server(&mut silent).await,
        "silent client closed at the deadline"
    );
    let mut half = TcpStream::connect(f.proxy()).await.unwrap();
    half.write_all(&half_client_hello()).await.unwrap();
    assert!(
        closed_by_server(&mut half).await,
        "half hello closed at the deadline"
    );
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0u8; 64][..],
        &[0xff; 5000][..],
    ] {
        let mut g = TcpStream::connect(f.proxy()).await.unwrap();
        let _ = g.write_all(garbage).await;
        assert!(closed_by_server(&mut g).await);
    }
    // A record header announcing a 16 MiB handshake message, then junk: refused, not buffered.
    let mut big = TcpStream::connect(f.proxy()).await.unwrap();
    let mut hello = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff];
    hello.extend(std::iter::repeat_n(0x41, 0x4000 - 4));
    let _ = big.write_all(&hello).await;
    assert!(closed_by_server(&mut big).await);
    assert_still_serving(&f).await;
}

#[tokio::test]
async fn a_flood_of_idle_connections_does_not_lock_out_clients_for_good() {
    let f = fixture().await;
    f.activate(OPEN, None).await;
    // Five times the cap of idle connections: the cap holds (they wait in the backlog or are
    // cut at the handshake deadline), and a real client is served once deadlines free slots.
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(f.proxy()).await.unwrap());
    }
    let served = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let c = TlsClient::new(&f.server_ca, OPEN);
            if let Ok(Ok(r)) =
                tokio::time::timeout(Duration::from_secs(2), c.fetch(f.proxy(), &Req::get(OPEN)))
                    .await
            {
                return r.status;
            }
        }
    })
    .await
    .expect("a real client is served despite the flood");
    assert_eq!(served, 200);
    drop(idle);
    assert_still_serving(&f).await;
}

/// A chain `depth` intermediates long under a fresh root, and the leaf's certified key.
fn long_chain(depth: usize) -> (TestCa, std::sync::Arc<rustls::sign::CertifiedKey>) {
    let root = odd_certs::ca("deep root", None, None);
    let mut cas = vec![odd_certs::ca("int 0", Some(&root), None)];
    for i in 1..depth {
        let next = odd_certs::ca(&format!("int {i}"), cas.last(), None);
        cas.push(next);
    }
    let leaf = odd_certs::client(cas.last().unwrap(), "deep leaf", &[]);
    let mut chain: Vec<&[u8]> = vec![&leaf.cert_der];
    chain.extend(cas.iter().rev().map(|c| c.cert.cert_der.as_slice()));
    (root, certified(&chain, &leaf))
}

#[tokio::test]
async fn over_long_chains_are_refused_and_reported() {
    let f = fixture().await;
    let (root, key) = long_chain(10);
    let enforced = f.ma(&root.cert.cert_pem, true).await;
    let open = f.ma(&root.cert.cert_pem, false).await;
    f.activate(HOST, Some(&enforced)).await;
    f.activate(OPEN, Some(&open)).await;
    for tls in BOTH {
        let c = TlsClient::new(&f.server_ca, HOST)
            .tls(tls)
            .certified(key.clone());
        assert!(
            c.fetch(f.proxy(), &Req::get(HOST)).await.is_err(),
            "{tls:?}"
        );
        let c = TlsClient::new(&f.server_ca, OPEN)
            .tls(tls)
            .certified(key.clone());
        let r = c.fetch(f.proxy(), &Req::get(OPEN)).await.unwrap();
        let verdict = ok_json(&r)["headers"]["client-cert-verdict"].clone();
        assert_ne!(verdict, "ok", "{tls:?}");
    }
    // A short chain from the same kind of PKI is fine (the test proves the limit, not the PKI).
    let (root2, key2) = long_chain(2);
    let ma = f.ma(&root2.cert.cert_pem, true).await;
    f.activate("short.example.com", Some(&ma)).await;
    let c = TlsClient::new(&f.server_ca, "short.example.com").certified(key2);
    assert_eq!(
        c.fetch(f.proxy(), &Req::get("short.example.com"))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn name_constraint_and_key_usage_violations_are_refused() {
    let f = fixture().await;
    let root = odd_certs::ca("constrained root", None, Some("allowed.example"));
    let enforced = f.ma(&root.cert.cert_pem, true).await;
    let open = f.ma(&root.cert.cert_pem, false).await;
    f.activate(HOST, Some(&enforced)).await;
    f.activate(OPEN, Some(&open)).await;
    let outside = odd_certs::client(&root, "outside", &["evil.other.example".to_string()]);
    let inside = odd_certs::client(&root, "inside", &["a.allowed.example".to_string()]);
    let server_only = odd_certs::leaf(
        &root,
        "server only",
        &["b.allowed.example".to_string()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    for tls in BOTH {
        let ok = TlsClient::new(&f.server_ca, HOST).tls(tls).cert(&inside);
        assert_eq!(
            ok.fetch(f.proxy(), &Req::get(HOST)).await.unwrap().status,
            200,
            "{tls:?}"
        );
        for (what, bad) in [
            ("name constraints", &outside),
            ("serverAuth only", &server_only),
        ] {
            let c = TlsClient::new(&f.server_ca, HOST).tls(tls).cert(bad);
            assert!(
                c.fetch(f.proxy(), &Req::get(HOST)).await.is_err(),
                "{what} {tls:?}"
            );
            let c = TlsClient::new(&f.server_ca, OPEN).tls(tls).cert(bad);
            let r = c.fetch(f.proxy(), &Req::get(OPEN)).await.unwrap();
            let verdict = ok_json(&r)["headers"]["client-cert-verdict"].clone();
            assert!(
                verdict == "unknown" || verdict == "bad",
                "{what} {tls:?}: {verdict}"
            );
        }
    }
}

#[tokio::test]
async fn huge_subjects_and_thousands_of_sans_reach_the_origin_safely() {
    let f = fixture().await;
    let root = odd_certs::ca("big root", None, None);
    let open = f.ma(&root.cert.cert_pem, false).await;
    f.activate(OPEN, Some(&open)).await;
    let cn = format!("{}\"; injected: yes\r\nX-Evil: 1", "A".repeat(8_000));
    let sans: Vec<String> = (0..1_000)
        .map(|i| format!("n{i}.allowed.example"))
        .collect();
    let big = odd_certs::client(&root, &cn, &sans);
    for tls in [Tls::V13, Tls::V12] {
        let c = TlsClient::new(&f.server_ca, OPEN).tls(tls).cert(&big);
        let reply = c.fetch(f.proxy(), &Req::get(OPEN)).await.unwrap();
        let headers = &ok_json(&reply)["headers"];
        assert_eq!(headers["client-cert-verdict"], "ok", "{tls:?}");
        assert!(headers.get("x-evil").is_none());
        let subject = headers["client-cert-subject"].as_str().unwrap();
        assert!(subject.len() > 8_000 && !subject.contains('\n'));
        let san = headers["client-cert-san"].as_str().unwrap();
        assert_eq!(san.matches("DNS:").count(), 1_000);
    }
}
