//! Revocation lists in a fleet sharing one PostgreSQL (a throwaway server each test starts): a
//! list created through one node revokes on every node (enforced: refused with
//! certificate_revoked and open connections closed; fail-open: verdict `revoked`), its deletion
//! reinstates everywhere; and a list with a `url` is fetched by one node only, the first live
//! one, and by the next one once that node stops.

use crate::common;

use common::crl_server::CrlServer;
use common::fleet::{eventually, Fleet};
use common::openssl_ca::OpensslCa;
use common::tls_client::{seen, Req, TlsClient};
use common::Harness;
use rustls::AlertDescription;
use serde_json::json;

const A: &str = "a.fleet.test";
const B: &str = "b.fleet.test";

/// Create a revocation list of `ma` through `h`; its id.
async fn create_list(h: &Harness, ma: &str, crl: &str, url: Option<&str>) -> String {
    let doc = json!({"data": {"type": "tls_revocation_list",
        "attributes": {"crl": crl, "url": url},
        "relationships": {"mutual_authentication": {"data": {"type": "mutual_authentication", "id": ma}}}}});
    let r = h.post("/tls/revocation_lists", doc).await;
    assert_eq!(r.status, 201, "{}", r.detail());
    r.json()["data"]["id"].as_str().unwrap().to_string()
}

/// The verdict the origin saw (none while the domain has no mutual authentication yet).
fn verdict(r: &common::Reply) -> Option<String> {
    seen(r).get("client-cert-verdict").cloned()
}

/// The value of one series of a node's /metrics (0 when absent).
async fn metric(h: &Harness, series: &str) -> f64 {
    let text = String::from_utf8(h.get("/metrics").await.body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

const FETCHED_OK: &str = "mtls_proxy_crl_fetches_total{result=\"ok\"}";
const FETCH_FAILED: &str = "mtls_proxy_crl_fetches_total{result=\"error\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_created_through_one_node_revokes_on_every_node() {
    let Some(f) = Fleet::start(3, &[A, B]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(mut ca) = OpensslCa::new(dir.path(), "client", &f.client_ca) else {
        return;
    };
    let (revoked, sibling) = (f.client(), f.client());
    // A enforced, B fail-open, both trusting the same client CA; set up through two nodes.
    let enforced = f.ma(1, &f.client_ca.cert().cert_pem, true).await;
    let fail_open = f.ma(1, &f.client_ca.cert().cert_pem, false).await;
    f.activate(2, A, Some(&enforced)).await;
    f.activate(2, B, Some(&fail_open)).await;
    for i in 0..3 {
        eventually(
            &format!("{A} and {B} admit the client on node-{i}"),
            || async {
                let a = f.try_node(i, A, Some(&revoked)).await;
                let b = f.try_node(i, B, None).await;
                a.is_ok_and(|r| verdict(&r).as_deref() == Some("ok"))
                    && b.is_ok_and(|r| verdict(&r).as_deref() == Some("missing"))
            },
        )
        .await;
    }
    // A connection node-2 serves, open before the revocation.
    let client = TlsClient::new(&f.server_ca, A).cert(&revoked);
    let mut open = client.connect(f.proxy(2)).await.unwrap();
    assert_eq!(open.send(&Req::get(A)).await.unwrap().status, 200);

    ca.revoke(&revoked);
    let crl = ca.crl();
    let on_a = create_list(&f.nodes[0], &enforced, &crl, None).await;
    create_list(&f.nodes[1], &fail_open, &crl, None).await;
    for i in 0..3 {
        eventually(
            &format!("the revoked client refused on node-{i}"),
            || async {
                f.try_node(i, A, Some(&revoked))
                    .await
                    .err()
                    .and_then(|e| e.alert())
                    == Some(AlertDescription::CertificateRevoked)
            },
        )
        .await;
        eventually(
            &format!("the revoked client told `revoked` on node-{i}"),
            || async {
                f.try_node(i, B, Some(&revoked))
                    .await
                    .is_ok_and(|r| verdict(&r).as_deref() == Some("revoked"))
            },
        )
        .await;
        // Its sibling from the same CA is not on the list.
        let r = f.try_node(i, A, Some(&sibling)).await.unwrap();
        assert_eq!(seen(&r)["client-cert-verdict"], "ok", "node-{i}");
    }
    // The connection node-2 had open is closed: the list was created on node-0.
    open.closed().await;
    assert!(open.send(&Req::get(A)).await.is_err());
    // Every node shows the list on its status page.
    for i in 0..3 {
        let status = f.nodes[i].get("/status/data").await.json();
        let lists = status["revocation_lists"].as_array().unwrap();
        assert!(lists.iter().any(|l| l["id"] == on_a.as_str()), "node-{i}");
    }

    // Deleted through node-1: the client is back on every node.
    let r = f.nodes[1]
        .delete(&format!("/tls/revocation_lists/{on_a}"))
        .await;
    assert_eq!(r.status, 204, "{}", r.detail());
    for i in 0..3 {
        eventually(&format!("the client reinstated on node-{i}"), || async {
            f.try_node(i, A, Some(&revoked))
                .await
                .is_ok_and(|r| verdict(&r).as_deref() == Some("ok"))
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_fetches_a_list_url_and_the_next_takes_over_when_it_stops() {
    let Some(mut f) = Fleet::start(3, &[A]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(mut ca) = OpensslCa::new(dir.path(), "client", &f.client_ca) else {
        return;
    };
    let (first_revoked, second_revoked) = (f.client(), f.client());
    let ma = f.ma(0, &f.client_ca.cert().cert_pem, true).await;
    f.activate(0, A, Some(&ma)).await;
    let uploaded = ca.crl();
    // The distribution point already has a newer CRL, revoking one client.
    ca.revoke(&first_revoked);
    let newer = ca.crl();
    let server = CrlServer::start(ca.der(&newer)).await;
    let url = format!("http://{}/client.crl", server.addr);
    // Created through node-2; node-0 (the first by id) is the one that fetches.
    create_list(&f.nodes[2], &ma, &uploaded, Some(&url)).await;
    for i in 0..3 {
        eventually(&format!("the fetched CRL revokes on node-{i}"), || async {
            f.try_node(i, A, Some(&first_revoked))
                .await
                .err()
                .and_then(|e| e.alert())
                == Some(AlertDescription::CertificateRevoked)
        })
        .await;
    }
    // Node-1 and node-2 saw the list created (and would have fetched it at once) before
    // node-0's fetch reached them; neither fetched.
    assert_eq!(server.hits(), 1, "one node fetched, once");
    assert_eq!(metric(&f.nodes[0], FETCHED_OK).await, 1.0);
    for i in 1..3 {
        assert_eq!(metric(&f.nodes[i], FETCHED_OK).await, 0.0, "node-{i}");
        assert_eq!(metric(&f.nodes[i], FETCH_FAILED).await, 0.0, "node-{i}");
    }

    // Node-0 stops; once its heartbeat is old, node-1 fetches (it has never fetched the list,
    // so at once), and node-2 still does not.
    ca.revoke(&second_revoked);
    let newest = ca.crl();
    server.serve(200, ca.der(&newest));
    let stopped = f.nodes[0].running.take().unwrap();
    stopped.shutdown().await.unwrap();
    for i in 1..3 {
        eventually(&format!("node-1's fetch revokes on node-{i}"), || async {
            f.try_node(i, A, Some(&second_revoked))
                .await
                .err()
                .and_then(|e| e.alert())
                == Some(AlertDescription::CertificateRevoked)
        })
        .await;
    }
    assert!(metric(&f.nodes[1], FETCHED_OK).await >= 1.0);
    assert_eq!(metric(&f.nodes[2], FETCHED_OK).await, 0.0, "node-2");
    assert_eq!(metric(&f.nodes[2], FETCH_FAILED).await, 0.0, "node-2");
}
