//! Revocation lists that refresh themselves from their `url`: a local web server serves an
//! openssl-made CRL (DER, as distribution points serve it), starts serving a newer one that
//! revokes a connected client (the list is swapped in, the open connection closed, new
//! handshakes refused), then fails (the newer CRL is kept, the failure stored in
//! `last_fetch_error`, counted and shown), then serves an older one (refused like an older
//! upload).

use crate::common;

use std::time::Duration;

use common::crl_server::CrlServer;
use common::fixture::Fixture;
use common::openssl_ca::OpensslCa;
use common::tls_client::{Req, TlsClient};
use mtls_proxy::devpki::Validity;
use rustls::AlertDescription;
use serde_json::{json, Value};

const A: &str = "a.example.com";

/// Every test gets this long before it fails as hung.
const BOUND: Duration = Duration::from_secs(90);

async fn list(f: &Fixture, id: &str) -> Value {
    let r = f.h.get(&format!("/tls/revocation_lists/{id}")).await;
    assert_eq!(r.status, 200);
    r.json()["data"]["attributes"].clone()
}

/// Poll the list until `done` holds (the test's BOUND ends a hang).
async fn until(f: &Fixture, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    loop {
        let attributes = list(f, id).await;
        if done(&attributes) {
            return attributes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(f: &Fixture, series: &str) -> f64 {
    let text = String::from_utf8(f.h.get("/metrics").await.body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_follows_its_url_and_a_failing_url_keeps_the_last_good_crl() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture::with_settings(&[A], |s| {
            s.revocation.refresh = Duration::from_secs(1);
            s.proxy.drain_timeout = Duration::from_millis(500);
        })
        .await;
        let Some(mut ca) = OpensslCa::new(dir.path(), "client", &f.client_ca) else { return };
        let cert = f.client(Validity::Current);
        let first = ca.crl();
        let server = CrlServer::start(ca.der(&first)).await;
        let url = format!("http://{}/client.crl", server.addr);
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let doc = json!({"data": {"type": "tls_revocation_list",
            "attributes": {"crl": first, "url": url},
            "relationships": {"mutual_authentication": {"data": {"type": "mutual_authentication", "id": ma}}}}});
        let r = f.h.post("/tls/revocation_lists", doc).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json()["data"]["id"].as_str().unwrap().to_string();

        let client = TlsClient::new(&f.server_ca, A).cert(&cert);
        let mut conn = client.connect(f.proxy()).await.unwrap();
        assert_eq!(conn.send(&Req::get(A)).await.unwrap().status, 200);

        // The server starts serving a newer CRL that revokes the client: it is fetched,
        // validated and swapped in; the open connection is closed, new handshakes refused.
        ca.revoke(&cert);
        let revoking = ca.crl();
        server.serve(200, ca.der(&revoking));
        let swapped = until(&f, &id, |a| a["revoked_count"] == 1).await;
        assert_eq!(swapped["last_fetch_error"], Value::Null);
        conn.closed().await;
        assert!(conn.send(&Req::get(A)).await.is_err());
        let err = client.fetch(f.proxy(), &Req::get(A)).await.unwrap_err();
        assert_eq!(err.alert(), Some(AlertDescription::CertificateRevoked));
        assert!(metric(&f, "mtls_proxy_crl_fetches_total{result=\"ok\"}").await >= 1.0);

        // The URL fails: the last good CRL stays, the failure is stored, counted and shown.
        let errors = metric(&f, "mtls_proxy_crl_fetches_total{result=\"error\"}").await;
        server.serve(503, b"down".to_vec());
        let failed = until(&f, &id, |a| a["last_fetch_error"].is_string()).await;
        let error = failed["last_fetch_error"].as_str().unwrap();
        assert!(error.contains("503") && error.contains(&url), "{error}");
        assert_eq!(failed["revoked_count"], 1);
        assert_eq!(failed["this_update"], swapped["this_update"]);
        assert_eq!(failed["updated_at"], swapped["updated_at"], "a failed fetch changes no policy");
        let err = client.fetch(f.proxy(), &Req::get(A)).await.unwrap_err();
        assert_eq!(err.alert(), Some(AlertDescription::CertificateRevoked));
        assert!(metric(&f, "mtls_proxy_crl_fetches_total{result=\"error\"}").await > errors);
        let status = f.h.get("/status/data").await.json();
        assert_eq!(status["revocation_lists"][0]["last_fetch_error"], error);

        // An older CRL at the URL (a replay) is refused like an older upload.
        server.serve(200, ca.der(&first));
        let replayed = until(&f, &id, |a| {
            a["last_fetch_error"].as_str().is_some_and(|e| e.contains("older"))
        })
        .await;
        assert_eq!(replayed["revoked_count"], 1);
        assert!(server.hits() >= 3);
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_going_stale_under_require_fresh_judges_open_connections_again() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        const OPEN: &str = "open.example.com";
        let f = Fixture::with_settings(&[A, OPEN], |s| {
            s.revocation.require_fresh = true;
            s.proxy.drain_timeout = Duration::from_millis(500);
        })
        .await;
        let Some(mut ca) = OpensslCa::new(dir.path(), "client", &f.client_ca) else { return };
        let cert = f.client(Validity::Current);
        // Fresh for a few more seconds.
        let soon = ca.crl_between(None, Some(&common::openssl_ca::openssl_time(3)));
        let enforced = f.ma(&f.client_ca.cert().cert_pem, true).await;
        let open = f.ma(&f.client_ca.cert().cert_pem, false).await;
        f.activate(A, Some(&enforced)).await;
        f.activate(OPEN, Some(&open)).await;
        for ma in [&enforced, &open] {
            let doc = json!({"data": {"type": "tls_revocation_list", "attributes": {"crl": soon},
                "relationships": {"mutual_authentication": {"data": {"type": "mutual_authentication", "id": ma}}}}});
            assert_eq!(f.h.post("/tls/revocation_lists", doc).await.status, 201);
        }
        let mut on_a = TlsClient::new(&f.server_ca, A).cert(&cert).connect(f.proxy()).await.unwrap();
        assert_eq!(on_a.send(&Req::get(A)).await.unwrap().status, 200);
        let mut on_open = TlsClient::new(&f.server_ca, OPEN).cert(&cert).connect(f.proxy()).await.unwrap();
        let verdict = |r: common::Reply| common::tls_client::seen(&r)["client-cert-verdict"].clone();
        assert_eq!(verdict(on_open.send(&Req::get(OPEN)).await.unwrap()), "ok");

        // Once the lists pass their nextUpdate, nothing from before is served as fresh.
        on_a.closed().await;
        let err = TlsClient::new(&f.server_ca, A).cert(&cert).fetch(f.proxy(), &Req::get(A)).await.unwrap_err();
        assert_eq!(err.alert(), Some(AlertDescription::CertificateRevoked));
        loop {
            if verdict(on_open.send(&Req::get(OPEN)).await.unwrap()) == "revoked" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("test hung");
}
