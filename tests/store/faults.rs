//! Store faults: while the database refuses writes (locked by another process here), API
//! writes fail with a 5xx and a clear error, and reads and the data plane keep serving.

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
use common::tls_client::{ok_json, Req, TlsClient};
use mtls_proxy::devpki::Validity;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fail_cleanly_while_reads_and_traffic_go_on() {
    let f = Fixture::new(&["locked.example.com"]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate("locked.example.com", Some(&ma)).await;
    let client =
        TlsClient::new(&f.server_ca, "locked.example.com").cert(&f.client(Validity::Current));

    // Another process takes the write lock and keeps it.
    let other = rusqlite::Connection::open(f.h.store_path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let body = json!({"data": {"attributes": {"cert_bundle": f.client_ca.cert().cert_pem, "name": "blocked"}}});
    let (admin, b) = (f.h.admin, body.to_string());
    let stuck = tokio::spawn(async move {
        common::http::request(
            admin,
            "POST",
            "/tls/mutual_authentications",
            Some(common::TOKEN),
            Some(b),
        )
        .await
    });
    // While that write waits for the lock, reads and handshakes are served.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !stuck.is_finished(),
        "the write should be waiting for the lock"
    );
    let list = f.h.get("/tls/mutual_authentications").await;
    assert_eq!(list.status, 200);
    assert!(
        !stuck.is_finished(),
        "the read was answered while the write still waited"
    );
    let r = stuck.await.unwrap();
    assert_eq!(r.status, 500);
    assert_eq!(r.content_type(), Some("application/vnd.api+json"));
    assert!(r.detail().contains("store"), "{}", r.detail());

    // Reads and the data plane are unaffected.
    let list = f.h.get("/tls/mutual_authentications").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["meta"]["record_count"], 1);
    let reply = client
        .fetch(f.proxy(), &Req::get("locked.example.com"))
        .await
        .unwrap();
    assert_eq!(ok_json(&reply)["headers"]["client-cert-verdict"], "ok");

    // Once the lock is gone, writes work again and the failed one left nothing behind.
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);
    let r = f.h.post("/tls/mutual_authentications", body).await;
    assert_eq!(r.status, 201);
    let list = f.h.get("/tls/mutual_authentications").await.json();
    assert_eq!(list["meta"]["record_count"], 2);
}
