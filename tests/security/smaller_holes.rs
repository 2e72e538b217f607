//! Smaller holes, each tried from outside: `Proxy` and `Proxy-*` headers never reach an
//! origin (httpoxy), `CONNECT` is refused, origin failures tell the client nothing about the
//! origin, and an `xfcc` change by reload applies to connections already open.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::fixture::Fixture;
use common::raw_h2::{Outcome, RawH2};
use common::tls_client::{seen, sha256_hex, Req, TlsClient, PROTOS};
use mtls_proxy::devpki::Validity;
use mtls_proxy::settings::Route;
use serde_json::Value;

const A: &str = "a.example.com";
const PLAIN: &str = "plain.example.com";
const BROKEN: &str = "broken.example.com";

async fn fixture() -> (Fixture, String) {
    let f = Fixture::new(&[A, PLAIN, BROKEN]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(A, Some(&ma)).await;
    f.activate(PLAIN, None).await;
    f.activate(BROKEN, None).await;
    (f, ma)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_headers_never_reach_the_origin() {
    let (f, _) = fixture().await;
    let cert = f.client(Validity::Current);
    for proto in PROTOS {
        for (domain, client) in [
            (A, TlsClient::new(&f.server_ca, A).cert(&cert)),
            (PLAIN, TlsClient::new(&f.server_ca, PLAIN)),
        ] {
            let req = Req::get(domain)
                .header("Proxy", "http://attacker.example:8080")
                .header("Proxy-Authorization", "Basic YTpi")
                .header("Proxy-Anything", "1")
                .header("Proxy_Underscored", "1")
                .header("X-Kept", "1");
            let r = client.proto(proto).fetch(f.proxy(), &req).await.unwrap();
            let h = seen(&r);
            let leaked: Vec<&String> = h.keys().filter(|k| k.starts_with("proxy")).collect();
            assert!(leaked.is_empty(), "{proto:?} {domain}: {leaked:?}");
            assert_eq!(h["x-kept"], "1");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_answered_405() {
    let (f, _) = fixture().await;
    let client = TlsClient::new(&f.server_ca, PLAIN);
    let shaken = client.handshake(f.proxy()).await.unwrap();
    let r = shaken
        .raw(
            format!(
                "CONNECT {PLAIN}:443 HTTP/1.1\r\nHost: {PLAIN}:443\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 405, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.headers["allow"].to_str().unwrap().contains("GET"));
    let mut h2 = RawH2::connect(&client.clone().h2(), f.proxy()).await;
    let id = h2.connect_method(&format!("{PLAIN}:443")).await.unwrap();
    match h2.outcome(id).await {
        Outcome::Answered(doc) => assert_eq!(doc["error"], "method_not_allowed", "{doc}"),
        other => panic!("HTTP/2 CONNECT: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_failures_give_a_reason_and_a_request_id_only() {
    let (f, _) = fixture().await;
    // PLAIN → nothing listens there; BROKEN → an https origin whose certificate is not
    // trusted (the proxy's own TLS listener).
    let mut settings = f.h.settings.clone();
    settings.routes = vec![
        Route {
            domain: PLAIN.into(),
            origin: "http://127.0.0.1:1".into(),
            ..Route::default()
        },
        Route {
            domain: BROKEN.into(),
            origin: format!("https://127.0.0.1:{}", f.proxy().port()),
            ..Route::default()
        },
    ];
    f.h.running.as_ref().unwrap().reload(settings).unwrap();
    for (domain, status, kind) in [(PLAIN, 502, "connect"), (BROKEN, 502, "tls")] {
        let r = TlsClient::new(&f.server_ca, domain)
            .fetch(f.proxy(), &Req::get(domain))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&r.body).to_string();
        assert_eq!(r.status, status, "{domain}: {text}");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["error"], kind, "{text}");
        let id = doc["request_id"].as_str().unwrap();
        assert_eq!(id.len(), 16, "{text}");
        assert_eq!(r.headers["x-request-id"], id);
        for secret in [
            "127.0.0.1",
            "certificate",
            "UnknownIssuer",
            "refused",
            "Fixture",
        ] {
            assert!(!text.contains(secret), "{domain}: {secret} leaked: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xfcc_change_by_reload_applies_to_open_connections() {
    let (f, _) = fixture().await;
    let cert = f.client(Validity::Current);
    let running = f.h.running.as_ref().unwrap();
    for proto in PROTOS {
        let client = TlsClient::new(&f.server_ca, A).proto(proto).cert(&cert);
        let mut conn = client.connect(f.proxy()).await.unwrap();
        let xfcc = |r: &common::Reply| seen(r).get("x-forwarded-client-cert").cloned();
        assert_eq!(xfcc(&conn.send(&Req::get(A)).await.unwrap()), None);
        let mut on = f.h.settings.clone();
        on.proxy.xfcc = true;
        running.reload(on).unwrap();
        let value = xfcc(&conn.send(&Req::get(A)).await.unwrap())
            .unwrap_or_else(|| panic!("{proto:?}: no XFCC"));
        assert!(
            value.contains(&format!("Hash={}", sha256_hex(&cert.cert_der))),
            "{value}"
        );
        running.reload(f.h.settings.clone()).unwrap();
        assert_eq!(
            xfcc(&conn.send(&Req::get(A)).await.unwrap()),
            None,
            "{proto:?}"
        );
    }
}
