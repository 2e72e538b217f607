//! Revocation lists made with `openssl ca` and uploaded through the admin API: a revoked leaf,
//! a revoked intermediate and an unrevoked sibling under enforced and fail-open policies; stale
//! lists under both `require_fresh` settings; uploads refused for a wrong issuer, a bad
//! signature, garbage and an older replacement; a replacement that revokes a connected client
//! closing its connection (enforced) or changing its verdict (fail-open); sessions from before
//! a revocation never resuming as `ok`; a client revoked and reinstated under load; the
//! resource's API shape; lists deleted with their mutual authentication.

use crate::common;

use std::time::Duration;

use common::fixture::Fixture;
use common::openssl_ca::{openssl_time, OpensslCa};
use common::tls_client::{certified, seen, ClientError, Proto, Req, TlsClient, PROTOS};
use common::Reply;
use mtls_proxy::devpki::{Ca, Issued, Validity};
use rustls::AlertDescription;
use serde_json::{json, Value};

const A: &str = "a.example.com";
const OPEN: &str = "open.example.com";

/// Every test gets this long before it fails as hung.
const BOUND: Duration = Duration::from_secs(60);

fn body(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// POST a list; the reply.
async fn upload(f: &Fixture, ma: &str, crl: &str, url: Option<&str>) -> Reply {
    let mut attributes = json!({"crl": crl, "name": "test list"});
    if let Some(u) = url {
        attributes["url"] = json!(u);
    }
    let doc = json!({"data": {"type": "tls_revocation_list", "attributes": attributes,
        "relationships": {"mutual_authentication": {"data": {"type": "mutual_authentication", "id": ma}}}}});
    f.h.post("/tls/revocation_lists", doc).await
}

/// POST a list that must be accepted; its id.
async fn uploaded(f: &Fixture, ma: &str, crl: &str) -> String {
    let r = upload(f, ma, crl, None).await;
    assert_eq!(r.status, 201, "{}", body(&r));
    r.json()["data"]["id"].as_str().unwrap().to_string()
}

async fn replace(f: &Fixture, id: &str, crl: &str) -> Reply {
    let doc =
        json!({"data": {"type": "tls_revocation_list", "id": id, "attributes": {"crl": crl}}});
    f.h.patch(&format!("/tls/revocation_lists/{id}"), doc).await
}

/// A client presenting `leaf` and the intermediates after it.
fn client(f: &Fixture, domain: &str, leaf: &Issued, intermediates: &[&Issued]) -> TlsClient {
    let mut chain: Vec<&[u8]> = vec![&leaf.cert_der];
    chain.extend(intermediates.iter().map(|i| i.cert_der.as_slice()));
    TlsClient::new(&f.server_ca, domain).certified(certified(&chain, leaf))
}

/// The verdict the origin saw for one request on a fresh connection.
async fn verdict(c: &TlsClient, f: &Fixture, domain: &str) -> String {
    let r = c.fetch(f.proxy(), &Req::get(domain)).await.expect("served");
    assert_eq!(r.status, 200, "{}", body(&r));
    seen(&r)["client-cert-verdict"].clone()
}

/// The alert a refused connection got.
async fn refused(c: &TlsClient, f: &Fixture, domain: &str) -> Option<AlertDescription> {
    let err: ClientError = c
        .fetch(f.proxy(), &Req::get(domain))
        .await
        .expect_err("the handshake must be refused");
    err.alert()
}

async fn metric(f: &Fixture, series: &str) -> f64 {
    let text = body(&f.h.get("/metrics").await);
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A root and an intermediate in the bundle, a second intermediate only clients present; CRLs
/// by openssl: the root's revokes the second intermediate, the first intermediate's revokes one
/// of its two leaves.
struct Pki {
    root: Ca,
    inter: Ca,
    other_inter: Ca,
    revoked: Issued,
    sibling: Issued,
    under_revoked: Issued,
    bundle: String,
    root_crl: String,
    inter_crl: String,
}

fn pki(dir: &std::path::Path) -> Option<Pki> {
    let root = Ca::new("Revocation root").unwrap();
    let inter = root.issue_intermediate("Revocation inter").unwrap();
    let other_inter = root.issue_intermediate("Revocation other inter").unwrap();
    let revoked = inter.issue_client("revoked", Validity::Current).unwrap();
    let sibling = inter.issue_client("sibling", Validity::Current).unwrap();
    let under_revoked = other_inter.issue_client("x", Validity::Current).unwrap();
    let mut root_ca = OpensslCa::new(dir, "root", &root)?;
    root_ca.revoke(other_inter.cert());
    let mut inter_ca = OpensslCa::new(dir, "inter", &inter)?;
    inter_ca.revoke(&revoked);
    let bundle = format!("{}{}", root.cert().cert_pem, inter.cert().cert_pem);
    Some(Pki {
        root_crl: root_ca.crl(),
        inter_crl: inter_ca.crl(),
        root,
        inter,
        other_inter,
        revoked,
        sibling,
        under_revoked,
        bundle,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_leaves_and_intermediates_fail_and_siblings_pass() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let Some(p) = pki(dir.path()) else { return };
        let f = Fixture::new(&[A, OPEN]).await;
        let enforced = f.ma(&p.bundle, true).await;
        let open = f.ma(&p.bundle, false).await;
        f.activate(A, Some(&enforced)).await;
        f.activate(OPEN, Some(&open)).await;
        for ma in [&enforced, &open] {
            uploaded(&f, ma, &p.root_crl).await;
            uploaded(&f, ma, &p.inter_crl).await;
        }
        let revoked = |d| client(&f, d, &p.revoked, &[p.inter.cert()]);
        let sibling = |d| client(&f, d, &p.sibling, &[p.inter.cert()]);
        let under = |d| client(&f, d, &p.under_revoked, &[p.other_inter.cert()]);

        // Enforced: the handshake fails with certificate_revoked; the sibling gets in.
        let before = metric(
            &f,
            &format!("mtls_proxy_tls_handshakes_total{{domain=\"{A}\",verdict=\"revoked\"}}"),
        )
        .await;
        assert_eq!(
            refused(&revoked(A), &f, A).await,
            Some(AlertDescription::CertificateRevoked)
        );
        assert_eq!(
            refused(&under(A), &f, A).await,
            Some(AlertDescription::CertificateRevoked)
        );
        assert_eq!(verdict(&sibling(A), &f, A).await, "ok");
        let after = metric(
            &f,
            &format!("mtls_proxy_tls_handshakes_total{{domain=\"{A}\",verdict=\"revoked\"}}"),
        )
        .await;
        assert_eq!(after - before, 2.0);

        // Fail-open: through, with the verdict.
        assert_eq!(verdict(&revoked(OPEN), &f, OPEN).await, "revoked");
        assert_eq!(verdict(&under(OPEN), &f, OPEN).await, "revoked");
        assert_eq!(verdict(&sibling(OPEN), &f, OPEN).await, "ok");
        // The root itself has a CRL but is not revoked; a chain through it alone is fine.
        let direct = p.root.issue_client("direct", Validity::Current).unwrap();
        assert_eq!(verdict(&client(&f, A, &direct, &[]), &f, A).await, "ok");
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_list_still_revokes_and_fails_everyone_only_when_fresh_is_required() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        for require_fresh in [false, true] {
            let f = Fixture::with_settings(&[A, OPEN], |s| {
                s.revocation.require_fresh = require_fresh
            })
            .await;
            let Some(mut ca) = OpensslCa::new(dir.path(), &format!("stale-{require_fresh}"), &f.client_ca)
            else {
                return;
            };
            let revoked = f.client(Validity::Current);
            let good = f.client(Validity::Current);
            ca.revoke(&revoked);
            let stale = ca.crl_between(Some(&openssl_time(-8 * 86_400)), Some(&openssl_time(-3600)));
            let enforced = f.ma(&f.client_ca.cert().cert_pem, true).await;
            let open = f.ma(&f.client_ca.cert().cert_pem, false).await;
            f.activate(A, Some(&enforced)).await;
            f.activate(OPEN, Some(&open)).await;
            let id = uploaded(&f, &enforced, &stale).await;
            uploaded(&f, &open, &stale).await;
            let c = |d, cert: &Issued| TlsClient::new(&f.server_ca, d).cert(cert);

            // Revocations apply either way.
            assert_eq!(refused(&c(A, &revoked), &f, A).await, Some(AlertDescription::CertificateRevoked));
            assert_eq!(verdict(&c(OPEN, &revoked), &f, OPEN).await, "revoked");
            if require_fresh {
                assert_eq!(refused(&c(A, &good), &f, A).await, Some(AlertDescription::CertificateRevoked));
                assert_eq!(verdict(&c(OPEN, &good), &f, OPEN).await, "revoked");
            } else {
                assert_eq!(verdict(&c(A, &good), &f, A).await, "ok");
                assert_eq!(verdict(&c(OPEN, &good), &f, OPEN).await, "ok");
            }
            // Reported: the status data and the metrics say it is stale.
            let status = f.h.get("/status/data").await.json();
            let list = status["revocation_lists"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["id"] == id.as_str())
                .cloned()
                .unwrap_or_else(|| panic!("{status}"));
            assert_eq!(list["stale"], true, "{list}");
            let stale_gauge = format!(
                "mtls_proxy_crl_stale{{mutual_authentication=\"{enforced}\",revocation_list=\"{id}\"}}"
            );
            assert_eq!(metric(&f, &stale_gauge).await, 1.0);
        }
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_do_not_belong_are_refused_and_nothing_is_stored() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture::new(&[A]).await;
        let impostor = Ca::new("Fixture client CA").unwrap(); // same name, another key
        let Some(mut own) = OpensslCa::new(dir.path(), "own", &f.client_ca) else {
            return;
        };
        let Some(mut other) = OpensslCa::new(dir.path(), "other", &f.other_ca) else {
            return;
        };
        let Some(mut forger) = OpensslCa::new(dir.path(), "forger", &impostor) else {
            return;
        };
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;

        let r = upload(&f, &ma, &other.crl(), None).await;
        assert_eq!(r.status, 400);
        assert!(
            r.detail()
                .contains("not a certificate of the mutual authentication's CA bundle"),
            "{}",
            r.detail()
        );
        let r = upload(&f, &ma, &forger.crl(), None).await;
        assert_eq!(r.status, 400);
        assert!(
            r.detail().contains("signature that does not verify"),
            "{}",
            r.detail()
        );
        for garbage in [
            "not a crl".to_string(),
            "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n".to_string(),
            f.client_ca.cert().cert_pem.clone(),
        ] {
            let r = upload(&f, &ma, &garbage, None).await;
            assert_eq!(r.status, 400, "{garbage}");
            assert!(r.detail().starts_with("crl "), "{}", r.detail());
        }
        let r = upload(&f, &ma, &own.crl(), Some("gopher://crl.example.org/x")).await;
        assert_eq!(r.status, 400);
        assert!(r.detail().starts_with("url "), "{}", r.detail());
        let list = f.h.get("/tls/revocation_lists").await.json();
        assert_eq!(list["data"], json!([]), "nothing stored");

        let first = own.crl_between(Some(&openssl_time(-7200)), None);
        let second = own.crl_between(Some(&openssl_time(-3600)), None);
        let id = uploaded(&f, &ma, &second).await;
        let stored = f.h.get(&format!("/tls/revocation_lists/{id}")).await.json();
        let r = replace(&f, &id, &first).await;
        assert_eq!(r.status, 400);
        assert!(r.detail().contains("older"), "{}", r.detail());
        assert_eq!(
            f.h.get(&format!("/tls/revocation_lists/{id}")).await.json(),
            stored
        );
        // A second list for the same issuer is a conflict: replace the first instead.
        assert_eq!(upload(&f, &ma, &own.crl(), None).await.status, 409);
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_that_revokes_a_connected_client_closes_it_or_changes_its_verdict() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture::with_settings(&[A, OPEN], |s| {
            s.proxy.drain_timeout = Duration::from_millis(500)
        })
        .await;
        let Some(mut ca) = OpensslCa::new(dir.path(), "client", &f.client_ca) else {
            return;
        };
        let cert = f.client(Validity::Current);
        let bystander = f.client(Validity::Current);
        let enforced = f.ma(&f.client_ca.cert().cert_pem, true).await;
        let open = f.ma(&f.client_ca.cert().cert_pem, false).await;
        f.activate(A, Some(&enforced)).await;
        f.activate(OPEN, Some(&open)).await;
        let empty = ca.crl();
        let on_enforced = uploaded(&f, &enforced, &empty).await;
        let on_open = uploaded(&f, &open, &empty).await;

        let mut conns = Vec::new();
        for proto in PROTOS {
            let c = TlsClient::new(&f.server_ca, A).proto(proto).cert(&cert);
            let mut conn = c.connect(f.proxy()).await.unwrap();
            assert_eq!(conn.send(&Req::get(A)).await.unwrap().status, 200);
            conns.push(conn);
        }
        let kept = TlsClient::new(&f.server_ca, A).cert(&bystander);
        let mut kept = kept.connect(f.proxy()).await.unwrap();
        let mut open_conn = TlsClient::new(&f.server_ca, OPEN)
            .cert(&cert)
            .connect(f.proxy())
            .await
            .unwrap();
        assert_eq!(
            seen(&open_conn.send(&Req::get(OPEN)).await.unwrap())["client-cert-verdict"],
            "ok"
        );

        ca.revoke(&cert);
        let revoking = ca.crl();
        assert_eq!(replace(&f, &on_enforced, &revoking).await.status, 200);
        assert_eq!(replace(&f, &on_open, &revoking).await.status, 200);

        // Enforced: the revoked client's connections end; nothing more is served on them.
        for (mut conn, proto) in conns.into_iter().zip(PROTOS) {
            conn.closed().await;
            assert!(
                conn.send(&Req::get(A)).await.is_err(),
                "{proto:?} still served"
            );
        }
        let again = TlsClient::new(&f.server_ca, A).proto(Proto::H1).cert(&cert);
        assert_eq!(
            refused(&again, &f, A).await,
            Some(AlertDescription::CertificateRevoked)
        );
        // Others stay connected.
        assert_eq!(kept.send(&Req::get(A)).await.unwrap().status, 200);
        // Fail-open: the same connection carries on, judged again.
        let r = open_conn.send(&Req::get(OPEN)).await.unwrap();
        assert_eq!(seen(&r)["client-cert-verdict"], "revoked");
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_speaks_json_api_and_never_returns_the_crl() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture::new(&[A]).await;
        let Some(mut ca) = OpensslCa::new(dir.path(), "client", &f.client_ca) else { return };
        ca.revoke(&f.client(Validity::Current));
        let crl = ca.crl();
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
        let other_ma = f.ma(&f.client_ca.cert().cert_pem, false).await;

        let r = upload(&f, &ma, &crl, None).await;
        assert_eq!(r.status, 201, "{}", body(&r));
        assert_eq!(r.content_type(), Some("application/vnd.api+json"));
        assert!(!body(&r).contains("BEGIN X509 CRL"), "the CRL is never returned");
        let doc = r.json();
        let id = doc["data"]["id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 22);
        assert_eq!(doc["data"]["type"], "tls_revocation_list");
        let a = &doc["data"]["attributes"];
        assert_eq!(a["name"], "test list");
        assert_eq!(a["url"], Value::Null);
        assert_eq!(a["revoked_count"], 1);
        assert!(a["issuer"].as_str().unwrap().contains("Fixture client CA"), "{a}");
        for t in ["this_update", "next_update", "created_at", "updated_at"] {
            assert!(a[t].as_str().unwrap().ends_with('Z'), "{t}: {a}");
        }
        assert_eq!(a["last_fetch_error"], Value::Null);
        assert_eq!(doc["data"]["relationships"]["mutual_authentication"]["data"]["id"], ma.as_str());

        let other = uploaded(&f, &other_ma, &crl).await;
        let all = f.h.get("/tls/revocation_lists").await.json();
        assert_eq!(all["meta"]["record_count"], 2);
        let only = f.h.get(&format!("/tls/revocation_lists?filter[mutual_authentication.id]={ma}")).await.json();
        assert_eq!(only["data"].as_array().unwrap().len(), 1);
        assert_eq!(only["data"][0]["id"], id.as_str());
        let page = f.h.get("/tls/revocation_lists?page[size]=1&page[number]=2").await.json();
        assert_eq!(page["data"][0]["id"], other.as_str());
        assert!(page["links"]["prev"].is_string());

        let patch = |attributes: Value| {
            json!({"data": {"type": "tls_revocation_list", "id": id, "attributes": attributes}})
        };
        let url = "http://127.0.0.1:9/client.crl";
        let r = f.h.patch(&format!("/tls/revocation_lists/{id}"), patch(json!({"name": "renamed", "url": url}))).await;
        assert_eq!(r.status, 200, "{}", body(&r));
        assert_eq!(r.json()["data"]["attributes"]["name"], "renamed");
        assert_eq!(r.json()["data"]["attributes"]["url"], url);
        let r = f.h.patch(&format!("/tls/revocation_lists/{id}"), patch(json!({"url": null}))).await;
        assert_eq!(r.status, 200, "{}", body(&r));
        assert_eq!(r.json()["data"]["attributes"]["url"], Value::Null);
        assert_eq!(r.json()["data"]["attributes"]["last_fetch_error"], Value::Null);
        let wrong_type = json!({"data": {"type": "mutual_authentication", "attributes": {"name": "x"}}});
        assert_eq!(f.h.patch(&format!("/tls/revocation_lists/{id}"), wrong_type).await.status, 409);
        let unauthenticated = f.h.raw("GET", "/tls/revocation_lists", None, None).await;
        assert_eq!(unauthenticated.status, 401);
        assert_eq!(f.h.delete(&format!("/tls/revocation_lists/{id}")).await.status, 204);
        let gone = f.h.get(&format!("/tls/revocation_lists/{id}")).await;
        assert_eq!(gone.status, 404);
        assert!(gone.json()["errors"][0]["detail"].is_string());

        // Deleting a mutual authentication deletes its lists.
        assert_eq!(f.h.delete(&format!("/tls/mutual_authentications/{other_ma}")).await.status, 204);
        assert_eq!(f.h.get(&format!("/tls/revocation_lists/{other}")).await.status, 404);
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_revoked_and_reinstated_under_load_changes_nothing_for_the_others() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture::new(&[A]).await;
        let Some(mut ca) = OpensslCa::new(dir.path(), "client", &f.client_ca) else {
            return;
        };
        let victim = f.client(Validity::Current);
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let id = uploaded(&f, &ma, &ca.crl()).await;

        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let mut loops = Vec::new();
        for _ in 0..3 {
            let client = TlsClient::new(&f.server_ca, A).cert(&f.client(Validity::Current));
            let (stop, served, failures, addr) =
                (stop.clone(), served.clone(), failures.clone(), f.proxy());
            loops.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    match client.fetch(addr, &Req::get(A)).await {
                        Ok(r) if r.status == 200 => {
                            served.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => failures
                            .lock()
                            .unwrap()
                            .push(format!("status {}", r.status)),
                        Err(e) => failures.lock().unwrap().push(e.to_string()),
                    }
                }
            }));
        }
        let victim_client = TlsClient::new(&f.server_ca, A).cert(&victim);
        for _ in 0..3 {
            ca.hold(&victim);
            assert_eq!(replace(&f, &id, &ca.crl()).await.status, 200);
            assert_eq!(
                refused(&victim_client, &f, A).await,
                Some(AlertDescription::CertificateRevoked)
            );
            ca.release();
            assert_eq!(replace(&f, &id, &ca.crl()).await.status, 200);
            assert_eq!(verdict(&victim_client, &f, A).await, "ok", "reinstated");
        }
        stop.store(true, Ordering::SeqCst);
        for l in loops {
            l.await.unwrap();
        }
        assert!(
            failures.lock().unwrap().is_empty(),
            "{:?}",
            failures.lock().unwrap()
        );
        assert!(served.load(Ordering::SeqCst) > 0);
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_before_a_revocation_never_resumes_as_ok() {
    use common::tls_client::{Sessions, Tls, BOTH};
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture::new(&[A, OPEN]).await;
        let Some(mut ca) = OpensslCa::new(dir.path(), "client", &f.client_ca) else {
            return;
        };
        let cert = f.client(Validity::Current);
        let enforced = f.ma(&f.client_ca.cert().cert_pem, true).await;
        let open = f.ma(&f.client_ca.cert().cert_pem, false).await;
        f.activate(A, Some(&enforced)).await;
        f.activate(OPEN, Some(&open)).await;
        let lists = [
            uploaded(&f, &enforced, &ca.crl()).await,
            uploaded(&f, &open, &ca.crl()).await,
        ];
        // Sessions saved while the client was in good standing (and shown to resume).
        let mut saved: Vec<(Tls, &str, std::sync::Arc<Sessions>)> = Vec::new();
        for tls in BOTH {
            for domain in [A, OPEN] {
                let store = Sessions::per_name(&f.server_ca);
                let c = TlsClient::new(&f.server_ca, domain)
                    .tls(tls)
                    .cert(&cert)
                    .sessions(&store);
                let (_, r) = c.attempt(f.proxy(), domain).await;
                assert_eq!(seen(&r.unwrap())["client-cert-verdict"], "ok");
                let (facts, r) = c.attempt(f.proxy(), domain).await;
                assert!(facts.unwrap().resumed(), "{tls:?} {domain}");
                assert_eq!(seen(&r.unwrap())["client-cert-verdict"], "ok");
                saved.push((tls, domain, store));
            }
        }
        ca.revoke(&cert);
        let revoking = ca.crl();
        for id in &lists {
            assert_eq!(replace(&f, id, &revoking).await.status, 200);
        }
        for (tls, domain, store) in &saved {
            let offered = store.offered();
            let c = TlsClient::new(&f.server_ca, domain)
                .tls(*tls)
                .cert(&cert)
                .sessions(store);
            let (_, r) = c.attempt(f.proxy(), domain).await;
            assert!(
                store.offered() > offered,
                "{tls:?} {domain}: no session offered"
            );
            match *domain {
                A => {
                    let err = r.expect_err("a revoked client got in with an old session");
                    assert_eq!(
                        err.alert(),
                        Some(AlertDescription::CertificateRevoked),
                        "{tls:?}"
                    );
                }
                _ => assert_eq!(
                    seen(&r.unwrap())["client-cert-verdict"],
                    "revoked",
                    "{tls:?}"
                ),
            }
        }
    })
    .await
    .expect("test hung");
}
