//! Three nodes sharing one PostgreSQL (a throwaway server each test starts): a change through
//! any node is live on every node; a single node's writes and the fleet's bookkeeping are
//! visible on /status and the status page; writes from two nodes at once keep the one-node
//! rules (no lost update, the same 400/409 answers).

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::time::Instant;

use common::fleet::{eventually, summary, Fleet};
use common::flows;
use rustls::AlertDescription;
use serde_json::json;

const A: &str = "a.fleet.test";
const B: &str = "b.fleet.test";

fn refused_with(
    result: &Result<common::Reply, common::tls_client::ClientError>,
) -> Option<AlertDescription> {
    result.as_ref().err().and_then(|e| e.alert())
}

#[tokio::test]
async fn a_change_through_any_node_is_live_on_every_node() {
    let Some(f) = Fleet::start(3, &[A, B]).await else {
        return;
    };
    let client = f.client();
    // Node 1 creates the mutual authentication, node 2 activates the domain and attaches it.
    let ma = f.ma(1, &f.client_ca.cert().cert_pem, true).await;
    let activation = f.activate(2, A, Some(&ma)).await;
    for i in 0..3 {
        // Activation and attachment are two commits: wait for the second.
        eventually(
            &format!("{A} served with client authentication on node-{i}"),
            || async {
                refused_with(&f.try_node(i, A, None).await)
                    == Some(AlertDescription::CertificateRequired)
            },
        )
        .await;
        let r = f.try_node(i, A, Some(&client)).await.unwrap();
        assert_eq!(r.status, 200, "node-{i}");
        let seen = common::tls_client::seen(&r);
        assert_eq!(seen["client-cert-verdict"], "ok", "node-{i}");
        assert_eq!(
            seen["client-cert-mutual-authentication"],
            ma.as_str(),
            "node-{i}"
        );
    }
    // Node 0 turns it fail-open: a certificate-less client gets in everywhere.
    let r = flows::set_enforced(&f.nodes[0], &ma, false).await;
    assert_eq!(r.status, 200, "{}", r.detail());
    for i in 0..3 {
        eventually(&format!("fail-open on node-{i}"), || async {
            f.try_node(i, A, None)
                .await
                .is_ok_and(|r| common::tls_client::seen(&r)["client-cert-verdict"] == "missing")
        })
        .await;
    }
    // Node 1 deactivates it: no node serves it any more.
    let r = f.nodes[1]
        .delete(&format!("/tls/activations/{activation}"))
        .await;
    assert_eq!(r.status, 204, "{}", r.detail());
    for i in 0..3 {
        eventually(&format!("{A} gone on node-{i}"), || async {
            refused_with(&f.try_node(i, A, Some(&client)).await)
                == Some(AlertDescription::UnrecognisedName)
        })
        .await;
    }
    // Every node sees the same store revision and lists the three nodes, none behind.
    let stored = f.status(1).await["stored_revision"].as_u64().unwrap();
    f.wait_applied(stored).await;
    eventually("every node lists the fleet without lag", || async {
        let s = f.status(0).await;
        let nodes = s["nodes"].as_array().cloned().unwrap_or_default();
        nodes.len() == 3 && nodes.iter().all(|n| n["lag"] == 0 && n["stale"] == false)
    })
    .await;
    let s = f.status(2).await;
    assert_eq!(s["node"], "node-2");
    assert_eq!(s["store"]["reachable"], true);
    assert!(s["store"]["backend"]
        .as_str()
        .unwrap()
        .starts_with("PostgreSQL postgres@127.0.0.1:"));
    assert_eq!(s["revision_lag"], 0);
    assert!(s["cache"]["revision"].as_u64().is_some());
    // The status page renders the fleet server-side too.
    let page = f.nodes[0].get("/").await;
    let html = String::from_utf8_lossy(&page.body);
    for i in 0..3 {
        assert!(
            html.contains(&format!(r#"<tr data-node="node-{i}">"#)),
            "node-{i} row"
        );
    }
    assert!(html.contains(r#"data-reachable="true""#));
}

/// How long after node 0's 2xx each other node serves the change, for a series of changes
/// (each flips whether a certificate-less client gets in). Printed, not asserted: the figures
/// belong in docs/benchmarking.md.
#[tokio::test]
async fn propagation_from_the_2xx_to_live_on_the_other_nodes() {
    let Some(f) = Fleet::start(3, &[A]).await else {
        return;
    };
    let ma = f.ma(0, &f.client_ca.cert().cert_pem, true).await;
    f.activate(0, A, Some(&ma)).await;
    let stored = f.status(0).await["stored_revision"].as_u64().unwrap();
    f.wait_applied(stored).await;
    let mut samples = Vec::new();
    for round in 0..20 {
        let enforced = round % 2 == 1;
        let r = flows::set_enforced(&f.nodes[0], &ma, enforced).await;
        assert_eq!(r.status, 200, "{}", r.detail());
        let answered = Instant::now();
        for i in 1..3 {
            eventually(&format!("round {round} live on node-{i}"), || async {
                f.try_node(i, A, None).await.is_ok() != enforced
            })
            .await;
            samples.push(answered.elapsed());
        }
    }
    println!(
        "change on node-0 live on node-1/2 after the 2xx: {}",
        summary(samples)
    );
}

#[tokio::test]
async fn concurrent_writes_from_two_nodes_keep_the_one_node_rules() {
    let Some(f) = Fleet::start(2, &[A, B, "c.fleet.test", "d.fleet.test", "e.fleet.test"]).await
    else {
        return;
    };
    let (n0, n1) = (&f.nodes[0], &f.nodes[1]);
    // The same domain activated through both nodes at once: one 201, one 409, every time.
    for domain in ["c.fleet.test", "d.fleet.test", "e.fleet.test"] {
        let body = json!({"data": {"type": "tls_activation", "relationships": {
            "tls_certificate": {"data": {"type": "tls_certificate", "id": f.cert_id}},
            "tls_domain": {"data": {"type": "tls_domain", "id": domain}}}}});
        let (r0, r1) = tokio::join!(
            n0.post("/tls/activations", body.clone()),
            n1.post("/tls/activations", body.clone())
        );
        let mut statuses = [r0.status, r1.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [201, 409],
            "{domain}: {} / {}",
            r0.detail(),
            r1.detail()
        );
    }
    // Two attributes of one mutual authentication patched through two nodes at once: both
    // changes survive (each PATCH reads the row after the other's commit).
    let ma = f.ma(0, &f.client_ca.cert().cert_pem, true).await;
    for round in 0..10 {
        let name = format!("name {round}");
        let enforced = round % 2 == 0;
        let rename = json!({"data": {"type": "mutual_authentication", "id": ma,
            "attributes": {"name": name}}});
        let path = format!("/tls/mutual_authentications/{ma}");
        let (r0, r1) = tokio::join!(
            n0.patch(&path, rename),
            flows::set_enforced(n1, &ma, enforced)
        );
        assert_eq!(
            (r0.status, r1.status),
            (200, 200),
            "{} / {}",
            r0.detail(),
            r1.detail()
        );
        let got = n1
            .get(&format!("/tls/mutual_authentications/{ma}"))
            .await
            .json();
        assert_eq!(
            got["data"]["attributes"]["name"],
            name.as_str(),
            "round {round}: lost rename"
        );
        assert_eq!(
            got["data"]["attributes"]["enforced"], enforced,
            "round {round}: lost flag"
        );
    }
    // Deleting a mutual authentication through one node while the other attaches it: never
    // both; never an activation left pointing at a deleted one.
    let activation = f.activate(0, A, None).await;
    for round in 0..6 {
        let ma = f.ma(round % 2, &f.client_ca.cert().cert_pem, true).await;
        let path = format!("/tls/mutual_authentications/{ma}");
        let (deleted, attached) =
            tokio::join!(n0.delete(&path), flows::attach(n1, &activation, Some(&ma)));
        match (deleted.status, attached.status) {
            (204, s) => assert!(
                (400..500).contains(&s),
                "round {round}: attach {s}: {}",
                attached.detail()
            ),
            (409, 200) => {
                let r = flows::attach(n1, &activation, None).await;
                assert_eq!(r.status, 200);
            }
            other => panic!(
                "round {round}: {other:?}: {} / {}",
                deleted.detail(),
                attached.detail()
            ),
        }
        let a = n0
            .get(&format!("/tls/activations/{activation}"))
            .await
            .json();
        let attached_to = &a["data"]["relationships"]["mutual_authentication"]["data"];
        assert!(attached_to.is_null(), "round {round}: {attached_to}");
    }
    // Many creates through both nodes at once: every one stored, revisions without gaps.
    let before = f.status(0).await["stored_revision"].as_u64().unwrap();
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..20 {
        let admin = f.nodes[i % 2].admin;
        let body = json!({"data": {"type": "mutual_authentication",
            "attributes": {"cert_bundle": f.client_ca.cert().cert_pem, "name": format!("bulk {i}")}}});
        creates.spawn(async move {
            common::http::request(
                admin,
                "POST",
                "/tls/mutual_authentications",
                Some(common::TOKEN),
                Some(body.to_string()),
            )
            .await
            .status
        });
    }
    let statuses = creates.join_all().await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let after = f.status(1).await["stored_revision"].as_u64().unwrap();
    assert_eq!(
        after - before,
        20,
        "one revision per change, none lost or doubled"
    );
}

/// TLS to PostgreSQL: with `sslmode=require` a node connects when the server's certificate is
/// verified against `store.ca_file`, and refuses a server its CA does not vouch for (the store
/// is then unreachable: without a cache the node does not start, and says why).
#[tokio::test]
async fn nodes_reach_postgresql_over_verified_tls_only() {
    let db_ca = mtls_proxy::devpki::Ca::new("database CA").unwrap();
    let db = db_ca
        .issue_server(&["db.test"], &["127.0.0.1".parse().unwrap()])
        .unwrap();
    let Some(pg) = tokio::task::spawn_blocking({
        let (cert, key) = (db.cert_pem.clone(), db.key_pem.clone());
        move || common::postgres::TempPostgres::start_tls(&cert, &key)
    })
    .await
    .unwrap() else {
        return;
    };
    let url = format!("{}?sslmode=require", pg.create_database());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("db-ca.pem");
    std::fs::write(&ca_file, &db_ca.cert().cert_pem).unwrap();
    let mut settings = common::fleet::node_settings(dir.path(), &url, "tls-node");
    settings.store.ca_file = Some(ca_file);
    let h = common::Harness::start_with(dir, settings).await;
    let s = common::fleet::status(&h).await;
    assert_eq!(s["store"]["reachable"], true, "{s}");
    // The connection really is TLS: the server says so for our sessions.
    let ssl = pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE ssl AND application_name = 'mtls-proxy'",
    );
    assert!(ssl.parse::<u32>().unwrap() >= 1, "TLS sessions: {ssl}");
    let r = h
        .post(
            "/tls/mutual_authentications",
            json!({"data": {"type": "mutual_authentication",
                "attributes": {"cert_bundle": db_ca.cert().cert_pem}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.detail());

    // Another CA: the server is not trusted, so the store is unreachable.
    let other = tempfile::tempdir().unwrap();
    let wrong_ca = other.path().join("other-ca.pem");
    let stranger = mtls_proxy::devpki::Ca::new("unrelated CA").unwrap();
    std::fs::write(&wrong_ca, &stranger.cert().cert_pem).unwrap();
    let mut settings = common::fleet::node_settings(other.path(), &url, "untrusting");
    settings.store.ca_file = Some(wrong_ca);
    let refused = mtls_proxy::app::start(settings)
        .await
        .err()
        .expect("refused");
    let text = refused.to_string();
    assert!(
        text.contains("unreachable") && text.contains("no local cache"),
        "{text}"
    );
    assert!(
        text.to_lowercase().contains("tls") || text.contains("certificate"),
        "{text}"
    );
}
