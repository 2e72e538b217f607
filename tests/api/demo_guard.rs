//! The demo can never guard a public listener: its private keys and client CA are published
//! with the source, so `serve` refuses a non-loopback proxy listener while any demo resource
//! is stored, and says how to fix it.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::Harness;
use mtls_proxy::app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_public_listener_while_demo_resources_exist() {
    // The demo, imported on loopback (as `serve` without a config does).
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Harness::settings(dir.path());
    settings.demo = true;
    let h = Harness::start_with(dir, settings).await;
    let demo = h
        .running
        .as_ref()
        .unwrap()
        .demo
        .clone()
        .expect("demo imported");
    assert_eq!(demo.domains.len(), 2);

    // The same store behind a public listener: refused, naming the fix and what is left.
    let public = |h: &Harness| {
        let mut s = h.settings.clone();
        s.demo = false;
        s.proxy.listen = "0.0.0.0:0".parse().unwrap();
        s
    };
    let h = h.restart().await;
    let err = app::start(public(&h))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("demo"), "{err}");
    assert!(err.contains("store.path"), "{err}");
    assert!(err.contains("0.0.0.0:0"), "{err}");
    assert!(err.contains("activation "), "{err}");

    // Deleting the activations is not enough: the demo's mutual authentications (trusting a
    // public client CA) and key are still there to be attached.
    let activations = h.get("/tls/activations").await.json();
    for a in activations["data"].as_array().unwrap() {
        let id = a["id"].as_str().unwrap();
        assert_eq!(
            h.delete(&format!("/tls/activations/{id}")).await.status,
            204
        );
    }
    let err = app::start(public(&h))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(!err.contains("activation "), "{err}");
    assert!(err.contains("mutual_authentication "), "{err}");

    // Everything deleted: the store may face the network.
    for (path, kind) in [
        ("/tls/mutual_authentications", "mutual_authentication"),
        ("/tls/certificates", "tls_certificate"),
        ("/tls/private_keys", "tls_private_key"),
    ] {
        let listed = h.get(path).await.json();
        for item in listed["data"].as_array().unwrap() {
            let id = item["id"].as_str().unwrap();
            let r = h.delete(&format!("{path}/{id}")).await;
            assert_eq!(
                r.status,
                204,
                "{kind} {id}: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    let running = app::start(public(&h))
        .await
        .expect("starts once the demo is gone");
    assert!(running.proxy_addr.ip().is_unspecified());
    running.shutdown().await.unwrap();
}
