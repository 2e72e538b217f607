//! The store is never in the data path: PostgreSQL killed with `kill -9` under traffic (no
//! valid handshake fails; writes answer 503 with a clear error; /ready stays ready; /status and
//! the status page show the store down and the lag; the nodes catch up when it is back, without
//! a restart); a node restarted during the outage serves its local cache; a node without a
//! usable cache refuses to start and says why.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::fleet::{eventually, node_settings, status, Fleet};
use common::tls_client::TlsClient;
use common::{flows, Harness};
use rustls::AlertDescription;
use serde_json::json;

const A: &str = "a.fleet.test";
const B: &str = "b.fleet.test";

/// Full handshakes plus one request with a valid certificate, round robin over the nodes,
/// until `stop`; counts successes and failures (with the first failure kept).
struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    first_failure: Arc<std::sync::Mutex<Option<String>>>,
    tasks: tokio::task::JoinSet<()>,
}

impl Traffic {
    fn start(f: &Fleet, domain: &str, workers: usize) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let first_failure = Arc::new(std::sync::Mutex::new(None));
        let mut tasks = tokio::task::JoinSet::new();
        let addrs: Vec<_> = (0..f.nodes.len()).map(|i| f.proxy(i)).collect();
        let client = TlsClient::new(&f.server_ca, domain).cert(&f.client());
        for w in 0..workers {
            let (stop, ok, failed, first) = (
                stop.clone(),
                ok.clone(),
                failed.clone(),
                first_failure.clone(),
            );
            let (client, addrs, domain) = (client.clone(), addrs.clone(), domain.to_string());
            tasks.spawn(async move {
                let mut n = w;
                while !stop.load(Ordering::Relaxed) {
                    let addr = addrs[n % addrs.len()];
                    n += 1;
                    match client.attempt(addr, &domain).await.1 {
                        Ok(r) if r.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            let text = match other {
                                Ok(r) => format!("{addr}: HTTP {}", r.status),
                                Err(e) => format!("{addr}: {e}"),
                            };
                            first.lock().unwrap().get_or_insert(text);
                        }
                    }
                }
            });
        }
        Traffic {
            stop,
            ok,
            failed,
            first_failure,
            tasks,
        }
    }

    /// Stop and return (successes, failures, first failure).
    async fn finish(mut self) -> (u64, u64, Option<String>) {
        self.stop.store(true, Ordering::Relaxed);
        while self.tasks.join_next().await.is_some() {}
        let first = self.first_failure.lock().unwrap().clone();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            first,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_under_traffic_then_back() {
    let Some(f) = Fleet::start(3, &[A, B]).await else {
        return;
    };
    let ma = f.ma(0, &f.client_ca.cert().cert_pem, true).await;
    f.activate(1, A, Some(&ma)).await;
    let stored = f.status(2).await["stored_revision"].as_u64().unwrap();
    f.wait_applied(stored).await;

    let traffic = Traffic::start(&f, A, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::block_in_place(|| f.pg.kill9());

    // Every node notices, and says so.
    for i in 0..3 {
        eventually(&format!("node-{i} reports the store down"), || async {
            f.status(i).await["store"]["reachable"] == false
        })
        .await;
    }
    let s = f.status(0).await;
    assert!(s["store"]["down_since"].is_string(), "{s}");
    assert!(
        s["store"]["error"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{s}"
    );
    assert_eq!(s["applied_revision"], stored);
    assert_eq!(s["revision_lag"], 0, "nothing newer is known");
    eventually("the store_up gauge drops to 0", || async {
        String::from_utf8_lossy(&f.nodes[0].get("/metrics").await.body)
            .contains("mtls_proxy_store_up 0")
    })
    .await;
    let page = String::from_utf8_lossy(&f.nodes[0].get("/").await.body).to_string();
    assert!(
        page.contains(r#"data-reachable="false""#),
        "status page shows the store down"
    );
    assert!(page.contains("unreachable since"));
    // Writes are refused with a clear error; readiness is unaffected.
    for i in 0..3 {
        let body = json!({"data": {"type": "mutual_authentication",
            "attributes": {"cert_bundle": f.client_ca.cert().cert_pem}}});
        let r = f.nodes[i].post("/tls/mutual_authentications", body).await;
        assert_eq!(r.status, 503, "node-{i}: {}", r.detail());
        assert!(
            r.detail().contains("the store is unavailable"),
            "{}",
            r.detail()
        );
        assert_eq!(
            f.nodes[i].get("/ready").await.status,
            200,
            "node-{i} stays ready"
        );
    }
    // Serving goes on meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;

    tokio::task::block_in_place(|| f.pg.start_server());
    for i in 0..3 {
        eventually(&format!("node-{i} reaches the store again"), || async {
            f.status(i).await["store"]["reachable"] == true
        })
        .await;
    }
    eventually("the store_up gauge is back to 1", || async {
        String::from_utf8_lossy(&f.nodes[0].get("/metrics").await.body)
            .contains("mtls_proxy_store_up 1")
    })
    .await;
    let (ok, failed, first) = traffic.finish().await;
    assert_eq!(
        failed, 0,
        "valid handshakes failed during the outage: {first:?}"
    );
    assert!(ok > 20, "traffic ran: {ok} handshakes");
    println!("{ok} valid handshakes through the outage, none failed");

    // A change through one node is live on the others again, without any restart.
    let activation = f.activate(2, B, Some(&ma)).await;
    let client = f.client();
    for i in 0..3 {
        eventually(
            &format!("{B} live on node-{i} after the outage"),
            || async {
                f.try_node(i, B, Some(&client))
                    .await
                    .is_ok_and(|r| r.status == 200)
            },
        )
        .await;
    }
    let r = f.nodes[0]
        .delete(&format!("/tls/activations/{activation}"))
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_during_the_outage_serves_its_cache_then_catches_up() {
    let Some(mut f) = Fleet::start(2, &[A, B]).await else {
        return;
    };
    let ma = f.ma(0, &f.client_ca.cert().cert_pem, true).await;
    f.activate(0, A, Some(&ma)).await;
    let stored = f.status(0).await["stored_revision"].as_u64().unwrap();
    f.wait_applied(stored).await;
    eventually("node-1's cache holds the last revision", || async {
        f.status(1).await["cache"]["revision"].as_u64() == Some(stored)
    })
    .await;

    tokio::task::block_in_place(|| f.pg.kill9());
    let node = f.nodes.remove(1).restart().await;
    assert!(node.running.as_ref().unwrap().started_from_cache);
    let s = status(&node).await;
    assert_eq!(s["applied_revision"], stored);
    assert_eq!(s["store"]["reachable"], false, "{s}");
    assert_eq!(node.get("/ready").await.status, 200);
    let client = f.client();
    let with_cert = TlsClient::new(&f.server_ca, A).cert(&client);
    let served = with_cert.attempt(node.proxy, A).await.1;
    assert_eq!(
        served.unwrap().status,
        200,
        "the cached configuration is served"
    );
    let bare = TlsClient::new(&f.server_ca, A)
        .attempt(node.proxy, A)
        .await
        .1;
    assert_eq!(
        bare.err().and_then(|e| e.alert()),
        Some(AlertDescription::CertificateRequired),
        "and enforced as cached"
    );
    f.nodes.insert(1, node);

    // The store comes back: the restarted node reloads from it and follows changes again.
    tokio::task::block_in_place(|| f.pg.start_server());
    eventually("node-1 reaches the store again", || async {
        f.status(1).await["store"]["reachable"] == true
    })
    .await;
    let activation = f.activate(0, B, Some(&ma)).await;
    eventually("a change through node-0 is live on node-1", || async {
        f.try_node(1, B, Some(&client))
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await;
    let r = flows::set_enforced(&f.nodes[1], &ma, false).await;
    assert_eq!(r.status, 200, "node-1 writes again: {}", r.detail());
    eventually("and its change is live on node-0", || async {
        f.try_node(0, B, None).await.is_ok()
    })
    .await;
    let r = f.nodes[1]
        .delete(&format!("/tls/activations/{activation}"))
        .await;
    assert_eq!(r.status, 204);
}

/// A PostgreSQL URL nobody listens on.
fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("postgres://postgres@127.0.0.1:{port}/gone")
}

/// Fail closed without a usable cache. Needs no PostgreSQL: the store is simply unreachable.
#[tokio::test]
async fn without_a_usable_cache_a_node_refuses_to_start_and_says_why() {
    use mtls_proxy::fleet::Cache;
    use mtls_proxy::model::{MutualAuthentication, State, Update};

    let url = dead_url();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = node_settings(dir.path(), &url, "node-new");
    settings.store.timeout = Duration::from_millis(500);
    let refused = mtls_proxy::app::start(settings.clone())
        .await
        .err()
        .expect("no cache: refuses to start");
    let text = refused.to_string();
    for needle in [
        "refusing to serve",
        "unreachable",
        "no local cache",
        "store-cache.db",
        "127.0.0.1",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
    assert!(
        !dir.path().join("store/mtls-proxy.db").exists(),
        "no SQLite fallback"
    );

    // A cache whose enforced policy was turned fail-open on disk: refused, never served.
    let state = State {
        revision: 7,
        mutual_authentications: vec![MutualAuthentication {
            id: "M1".into(),
            name: "partners".into(),
            enforced: true,
            cert_bundle: f_bundle(),
            created_at: 1,
            updated_at: 1,
        }],
        ..State::default()
    };
    let cache = Cache::open(&settings.store.cache).unwrap();
    cache.apply(&[Update::Full(state)], 1).unwrap();
    drop(cache);
    let conn = rusqlite::Connection::open(&settings.store.cache).unwrap();
    conn.execute_batch(
        "UPDATE cache_records SET body = CAST(replace(CAST(body AS TEXT), '\"enforced\":true', '\"enforced\":false') AS BLOB)",
    )
    .unwrap();
    drop(conn);
    let refused = mtls_proxy::app::start(settings.clone())
        .await
        .err()
        .expect("a damaged cache: refuses to start");
    let text = refused.to_string();
    assert!(
        text.contains("refusing to serve") && text.contains("damaged"),
        "{text}"
    );
    assert!(text.contains("M1"), "names the record: {text}");

    // An intact cache starts, serving its revision, with the store shown down.
    let conn = rusqlite::Connection::open(&settings.store.cache).unwrap();
    conn.execute_batch(
        "UPDATE cache_records SET body = CAST(replace(CAST(body AS TEXT), '\"enforced\":false', '\"enforced\":true') AS BLOB)",
    )
    .unwrap();
    drop(conn);
    let h = Harness::start_with(dir, settings).await;
    assert!(h.running.as_ref().unwrap().started_from_cache);
    let s = status(&h).await;
    assert_eq!(
        (
            s["applied_revision"].as_u64(),
            s["store"]["reachable"].as_bool()
        ),
        (Some(7), Some(false))
    );
}

fn f_bundle() -> String {
    mtls_proxy::devpki::Ca::new("cached CA")
        .unwrap()
        .cert()
        .cert_pem
        .clone()
}
