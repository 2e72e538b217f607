//! Persistence: everything survives a restart, and every acknowledged write survives `kill -9`
//! of the real binary in the middle of a burst of writes.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{flows, http, pki, Harness, TOKEN};
use serde_json::json;

#[tokio::test]
async fn restart_keeps_every_resource_and_id() {
    let h = Harness::start().await;
    let cert = flows::key_and_cert(&h, &["keep.example.com"]).await;
    let act = flows::activate(&h, &cert, "keep.example.com").await;
    let act_id = act["data"]["id"].as_str().unwrap().to_string();
    let ma = flows::mutual_authentication(&h, false).await;
    assert_eq!(flows::attach(&h, &act_id, Some(&ma)).await.status, 200);
    let before: Vec<_> = [
        "mutual_authentications",
        "private_keys",
        "certificates",
        "activations",
        "domains",
        "configurations",
    ]
    .iter()
    .map(|p| format!("/tls/{p}"))
    .collect();
    let mut docs = Vec::new();
    for p in &before {
        docs.push(h.get(p).await.json()["data"].clone());
    }
    let h = h.restart().await;
    for (p, doc) in before.iter().zip(docs) {
        assert_eq!(h.get(p).await.json()["data"], doc, "{p}");
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn spawn(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mtls-proxy"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(addr: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok()
            && http::request(addr, "GET", "/ready", None, None)
                .await
                .status
                == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server at {addr} never became ready");
}

fn try_request(addr: SocketAddr, body: String) -> Option<(u16, String)> {
    // A blocking client in a thread: the server may die mid-request, which must not panic here.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async move {
        let fut = async {
            use http_body_util::{BodyExt, Full};
            use hyper_util::client::legacy::Client;
            let client = Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<hyper::body::Bytes>>();
            let req = ::http::Request::post(format!("http://{addr}/tls/mutual_authentications"))
                .header("fastly-key", TOKEN)
                .body(Full::new(body.into()))
                .ok()?;
            let resp = client.request(req).await.ok()?;
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.ok()?.to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            Some((status, v["data"]["id"].as_str().unwrap_or("").to_string()))
        };
        tokio::time::timeout(Duration::from_secs(5), fut)
            .await
            .ok()
            .flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let admin = free_port();
    let config = dir.path().join("c.toml");
    let store = dir.path().join("store/db.sqlite");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"{admin}\"\ntoken = \"{TOKEN}\"\n[store]\npath = \"{}\"\n[proxy]\nlisten = \"{}\"\n",
            store.display(),
            free_port()
        ),
    )
    .unwrap();
    let bundle = pki::bundle("CA");
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let mut child = spawn(&config);
        wait_ready(admin).await;
        let body =
            json!({"data": {"attributes": {"cert_bundle": bundle, "name": format!("r{round}")}}})
                .to_string();
        // Writers run in threads; the process is killed while they are mid-burst.
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let body = body.clone();
                std::thread::spawn(move || {
                    let mut ok = Vec::new();
                    for _ in 0..200 {
                        match try_request(admin, body.clone()) {
                            Some((201, id)) => ok.push(id),
                            Some((s, _)) => panic!("unexpected status {s}"),
                            None => break,
                        }
                    }
                    ok
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300 + 150 * round)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for w in writers {
            acknowledged.extend(w.join().unwrap());
        }
    }
    assert!(
        acknowledged.len() > 10,
        "the burst made too few writes to prove anything"
    );
    let mut child = spawn(&config);
    wait_ready(admin).await;
    let stored = http::request(
        admin,
        "GET",
        "/tls/mutual_authentications?page[size]=100",
        Some(TOKEN),
        None,
    )
    .await
    .json();
    let total = usize::try_from(stored["meta"]["record_count"].as_u64().unwrap()).unwrap();
    assert!(
        total >= acknowledged.len(),
        "{total} stored < {} acknowledged",
        acknowledged.len()
    );
    let mut found = std::collections::HashSet::new();
    let pages = total.div_ceil(100);
    for page in 1..=pages {
        let doc = http::request(
            admin,
            "GET",
            &format!("/tls/mutual_authentications?page[size]=100&page[number]={page}"),
            Some(TOKEN),
            None,
        )
        .await
        .json();
        for d in doc["data"].as_array().unwrap() {
            found.insert(d["id"].as_str().unwrap().to_string());
        }
    }
    for id in &acknowledged {
        assert!(found.contains(id), "acknowledged write {id} lost");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let conn = rusqlite::Connection::open(&store).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
