//! Draining means draining (rule 5, docs/architecture.md): once a swap no longer admits a
//! connection, nothing new is served on it under the old policy, whether or not the client
//! cooperates. hyper's graceful HTTP/2 shutdown waits for the client to answer a PING before it
//! stops accepting streams; a client that never answers is the attack here.

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
use common::flows::set_bundle;
use common::raw_h2::{Outcome, RawH2};
use common::tls_client::{seen, Req, TlsClient};
use mtls_proxy::devpki::Validity;
use serde_json::{json, Value};

const A: &str = "a.example.com";

/// Every test gets this long before it fails as hung.
const BOUND: Duration = Duration::from_secs(60);

/// Streams opened after the change.
const STREAMS: usize = 30;

/// An echo answer (the origin served the stream) or the proxy's refusal of a closing
/// connection.
fn is_echo(doc: &Value) -> bool {
    doc.get("method").is_some()
}

fn is_closing(doc: &Value) -> bool {
    doc["error"] == "connection_closing"
}

async fn enforced_fixture() -> (Fixture, String) {
    // A long drain bound: the connection must stay open while the client keeps sending.
    let f = Fixture::with_settings(&[A], |s| s.proxy.drain_timeout = Duration::from_secs(30)).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(A, Some(&ma)).await;
    (f, ma)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_ignores_ping_gets_nothing_after_a_tightening_swap() {
    tokio::time::timeout(BOUND, async {
        let (f, ma) = enforced_fixture().await;
        let cert = f.client(Validity::Current);
        let client = TlsClient::new(&f.server_ca, A).h2().cert(&cert);
        let mut h2 = RawH2::connect(&client, f.proxy()).await;
        let id = h2.get(A, "/before").await.unwrap();
        match h2.outcome(id).await {
            Outcome::Answered(doc) => {
                assert!(is_echo(&doc), "{doc}");
                assert_eq!(doc["headers"]["client-cert-verdict"], "ok");
            }
            other => panic!("before the change: {other:?}"),
        }

        let r = set_bundle(&f.h, &ma, &f.other_ca.cert().cert_pem).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

        // From the 2xx on, every stream is refused: 421 (or a reset, or the end of the
        // connection), never the origin.
        let mut refused = 0;
        for i in 0..STREAMS {
            let Some(id) = h2.get(A, &format!("/after/{i}")).await else {
                break;
            };
            match h2.outcome(id).await {
                Outcome::Answered(doc) => {
                    assert!(!is_echo(&doc), "stream {id} served after the change: {doc}");
                    assert!(is_closing(&doc), "{doc}");
                    refused += 1;
                }
                Outcome::Reset(_) => refused += 1,
                Outcome::ConnectionEnded => break,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The connection stayed open for the whole attack (the client ignores GOAWAY and
        // PING, the drain bound is long): each stream was refused by the proxy itself.
        assert_eq!(refused, STREAMS);
        assert!(!h2.goaways.is_empty(), "no GOAWAY was sent");
        assert!(h2.pings > 0, "the graceful shutdown sent no PING");
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_on_a_stale_http1_connection_is_never_forwarded() {
    tokio::time::timeout(BOUND, async {
        let (f, ma) = enforced_fixture().await;
        let cert = f.client(Validity::Current);
        let client = TlsClient::new(&f.server_ca, A).cert(&cert);
        for round in 0..5 {
            let mut conn = client.connect(f.proxy()).await.unwrap();
            let r = conn.send(&Req::get(A)).await.unwrap();
            assert_eq!(seen(&r)["client-cert-verdict"], "ok");
            let r = set_bundle(&f.h, &ma, &f.other_ca.cert().cert_pem).await;
            assert_eq!(r.status, 200);
            // Either the connection was already closed, or the request is answered 421 with
            // Connection: close; it never reaches the origin.
            if let Ok(r) = conn.send(&Req::get(A)).await {
                assert_eq!(
                    r.status,
                    421,
                    "round {round}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                assert_eq!(r.headers["connection"], "close");
                let doc: Value = serde_json::from_slice(&r.body).unwrap();
                assert!(is_closing(&doc), "{doc}");
            }
            let r = set_bundle(&f.h, &ma, &f.client_ca.cert().cert_pem).await;
            assert_eq!(r.status, 200);
        }
    })
    .await
    .expect("test hung");
}

/// A connection that negotiated HTTP/2 is no longer admitted once its TLS configuration stops
/// offering HTTP/2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_change_that_drops_the_connections_protocol_drains_it() {
    tokio::time::timeout(BOUND, async {
        let (f, _) = enforced_fixture().await;
        let cert = f.client(Validity::Current);
        let client = TlsClient::new(&f.server_ca, A).h2().cert(&cert);
        let mut h2 = RawH2::connect(&client, f.proxy()).await;
        let id = h2.get(A, "/").await.unwrap();
        assert!(matches!(h2.outcome(id).await, Outcome::Answered(doc) if is_echo(&doc)));
        let configs = f.h.get("/tls/configurations").await.json();
        let config = configs["data"][0]["id"].as_str().unwrap().to_string();
        let body = json!({"data": {"type": "tls_configuration", "id": config,
            "attributes": {"http_protocols": ["http/1.1"]}}});
        let r =
            f.h.patch(&format!("/tls/configurations/{config}"), body)
                .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let id = h2.get(A, "/").await.unwrap();
        match h2.outcome(id).await {
            Outcome::Answered(doc) => assert!(is_closing(&doc), "{doc}"),
            Outcome::Reset(_) | Outcome::ConnectionEnded => {}
        }
    })
    .await
    .expect("test hung");
}
