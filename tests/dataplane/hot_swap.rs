//! Hot swap of the data plane through the admin API while traffic flows: bundle rotations
//! under load fail nothing (and keep still-trusted connections open), a rotation that stops
//! trusting the client shuts it out at once (new handshakes, resumed sessions, open connections
//! after their in-flight request), policy flips take effect for the next handshake (even one
//! whose TCP connection was accepted before the change), connections of untouched domains are
//! left alone but follow other domains' changes, and the first handshake after the API's 2xx
//! sees the change.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fixture::Fixture;
use common::flows::{attach, set_bundle, set_enforced};
use common::tls_client::{seen, ClientError, Conn, Proto, Req, Sessions, TlsClient, BOTH, PROTOS};
use common::Reply;
use mtls_proxy::devpki::{Issued, Validity};
use rustls::{AlertDescription, HandshakeKind};

const A: &str = "a.example.com";
const B: &str = "b.example.com";

/// Every test gets this long before it fails as hung.
const BOUND: Duration = Duration::from_secs(60);

/// One request of a load client gets this long before it counts as failed.
const STUCK: Duration = Duration::from_secs(10);

fn ok(r: &Reply) {
    assert!(
        (200..300).contains(&r.status),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

/// The verdict header the echo origin saw, or "" when there was none.
fn verdict(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    seen(r)
        .get("client-cert-verdict")
        .cloned()
        .unwrap_or_default()
}

/// A refusal with `alert`. Over HTTP/2 the client may write its preface into the socket the
/// server just closed after its alert, and its connection may end on the write error (broken
/// pipe, reset) before it reads the alert; the request got no answer, which is a refusal too.
/// HTTP/1.1 attempts in the same tests pin the alert itself.
fn assert_refusal(err: &ClientError, alert: AlertDescription, proto: Proto) {
    match err.alert() {
        Some(got) => assert_eq!(got, alert, "{proto:?}: {err}"),
        None => assert_eq!(proto, Proto::H2, "no alert: {err}"),
    }
}

/// A keep-alive connection to `domain` presenting `cert`, checked with one request.
async fn open_conn(f: &Fixture, domain: &str, cert: &Issued, proto: Proto) -> Conn {
    let c = TlsClient::new(&f.server_ca, domain).proto(proto).cert(cert);
    let mut conn = c.connect(f.proxy()).await.unwrap();
    assert_eq!(verdict(&conn.send(&Req::get(domain)).await.unwrap()), "ok");
    conn
}

/// Counts of a load run.
#[derive(Default)]
struct Load {
    done: AtomicUsize,
    failures: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// One client in a loop: full handshake with `cert`, one request, close; until told to stop.
async fn client_loop(load: Arc<Load>, c: TlsClient, addr: std::net::SocketAddr, host: String) {
    while !load.stop.load(Ordering::SeqCst) {
        let fetched = tokio::time::timeout(STUCK, c.fetch(addr, &Req::get(&host))).await;
        let outcome = match fetched {
            Ok(Ok(r)) if r.status == 200 && seen(&r)["client-cert-verdict"] == "ok" => Ok(()),
            Ok(Ok(r)) => Err(format!("{} {}", r.status, String::from_utf8_lossy(&r.body))),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {STUCK:?}")),
        };
        match outcome {
            Ok(()) => load.done.fetch_add(1, Ordering::SeqCst),
            Err(e) => {
                load.failures.lock().unwrap().push(e);
                load.done.load(Ordering::SeqCst)
            }
        };
    }
}

/// Four clients (both TLS versions, both protocols) hammering `host`.
fn start_load(
    f: &Fixture,
    host: &str,
    cert: &Issued,
) -> (Arc<Load>, Vec<tokio::task::JoinHandle<()>>) {
    let load = Arc::new(Load::default());
    let mut tasks = Vec::new();
    for tls in BOTH {
        for proto in PROTOS {
            let c = TlsClient::new(&f.server_ca, host)
                .tls(tls)
                .proto(proto)
                .cert(cert);
            tasks.push(tokio::spawn(client_loop(
                load.clone(),
                c,
                f.proxy(),
                host.to_string(),
            )));
        }
    }
    (load, tasks)
}

/// Wait until the load completed at least `n` more requests than `from`.
async fn wait_for_progress(load: &Load, from: usize, n: usize) -> usize {
    loop {
        let done = load.done.load(Ordering::SeqCst);
        if done >= from + n {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_that_keep_trusting_the_clients_fail_nothing() {
    tokio::time::timeout(BOUND, async {
        let f = Fixture::new(&[A]).await;
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let bundle1 = f.client_ca.cert().cert_pem.clone();
        let bundle2 = format!("{}{}", f.other_ca.cert().cert_pem, bundle1);
        let cert = f.client(Validity::Current);
        // Keep-alive connections from before: each rotation still admits them.
        let mut kept = vec![
            open_conn(&f, A, &cert, Proto::H1).await,
            open_conn(&f, A, &cert, Proto::H2).await,
        ];
        let (load, tasks) = start_load(&f, A, &cert);

        // Each rotation waits for a few more completed requests, so load provably ran
        // between (and during) the swaps.
        const ROTATIONS: usize = 20;
        const BETWEEN: usize = 4;
        let mut done = 0;
        for i in 0..ROTATIONS {
            done = wait_for_progress(&load, done, BETWEEN).await;
            let bundle = if i % 2 == 0 { &bundle2 } else { &bundle1 };
            ok(&set_bundle(&f.h, &ma, bundle).await);
        }
        wait_for_progress(&load, done, BETWEEN).await;
        load.stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        let failures = load.failures.lock().unwrap().clone();
        let completed = load.done.load(Ordering::SeqCst);
        eprintln!("{completed} requests completed across {ROTATIONS} rotations");
        assert!(
            failures.is_empty(),
            "{} failed: {failures:?}",
            failures.len()
        );
        assert!(completed > ROTATIONS * BETWEEN, "{completed}");
        for conn in &mut kept {
            let r = conn
                .send(&Req::get(A))
                .await
                .expect("kept connection was closed");
            assert_eq!(verdict(&r), "ok");
        }
        let status = f.h.get("/status").await.json();
        assert_eq!(status["applied_revision"], status["stored_revision"]);
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_that_drops_the_clients_ca_shuts_them_out() {
    tokio::time::timeout(BOUND, async {
        let f = Fixture::with_settings(&[A, B], |s| {
            s.proxy.drain_timeout = Duration::from_millis(500)
        })
        .await;
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let ma_b = f.ma(&f.client_ca.cert().cert_pem, true).await;
        f.activate(B, Some(&ma_b)).await;
        let cert = f.client(Validity::Current);

        // Before: sessions that resume, and open connections on A (both protocols) and B.
        let mut stores = Vec::new();
        for tls in BOTH {
            let store = Sessions::per_name(&f.server_ca);
            let c = TlsClient::new(&f.server_ca, A)
                .tls(tls)
                .cert(&cert)
                .sessions(&store);
            let (facts, r) = c.attempt(f.proxy(), A).await;
            assert_eq!(facts.unwrap().kind, Some(HandshakeKind::Full));
            assert_eq!(verdict(&r.unwrap()), "ok");
            let (facts, r) = c.attempt(f.proxy(), A).await;
            assert_eq!(facts.unwrap().kind, Some(HandshakeKind::Resumed), "{tls:?}");
            assert_eq!(verdict(&r.unwrap()), "ok");
            stores.push((tls, store));
        }
        let mut h1 = open_conn(&f, A, &cert, Proto::H1).await;
        let mut h2 = open_conn(&f, A, &cert, Proto::H2).await;
        assert_eq!(h2.facts.alpn.as_deref(), Some(&b"h2"[..]));
        let mut on_b = open_conn(&f, B, &cert, Proto::H1).await;

        ok(&set_bundle(&f.h, &ma, &f.other_ca.cert().cert_pem).await);

        // From the 2xx on: every new handshake fails with an alert.
        for tls in BOTH {
            for proto in PROTOS {
                let c = TlsClient::new(&f.server_ca, A)
                    .tls(tls)
                    .proto(proto)
                    .cert(&cert);
                let err = c.fetch(f.proxy(), &Req::get(A)).await.unwrap_err();
                assert_refusal(&err, AlertDescription::UnknownCA, proto);
            }
        }
        // A session from before does not get the client in.
        for (tls, store) in &stores {
            let offered = store.offered();
            let c = TlsClient::new(&f.server_ca, A)
                .tls(*tls)
                .cert(&cert)
                .sessions(store);
            let (facts, r) = c.attempt(f.proxy(), A).await;
            if let Some(facts) = facts {
                assert_ne!(facts.kind, Some(HandshakeKind::Resumed), "{tls:?}");
            }
            let err = r.expect_err("resumed into a rotated bundle");
            assert!(err.alert().is_some(), "{tls:?}: {err}");
            assert!(store.offered() > offered, "{tls:?}: no session was offered");
        }
        // Open connections on A are closed within the drain bound (HTTP/1.1 and HTTP/2).
        let closing = Duration::from_secs(5);
        tokio::time::timeout(closing, h1.closed())
            .await
            .expect("HTTP/1.1 connection still open");
        tokio::time::timeout(closing, h2.closed())
            .await
            .expect("HTTP/2 connection still open");
        assert!(h1.send(&Req::get(A)).await.is_err());
        assert!(h2.send(&Req::get(A)).await.is_err());
        // B's policy did not change: its connection keeps working.
        assert_eq!(verdict(&on_b.send(&Req::get(B)).await.unwrap()), "ok");
    })
    .await
    .expect("test hung");
}

/// An in-flight request on a connection whose policy tightened is finished, then the
/// connection closes (HTTP/1.1: no keep-alive; HTTP/2: GOAWAY after the stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_before_the_connection_closes() {
    tokio::time::timeout(BOUND, async {
        let origin = SlowOrigin::start().await;
        let url = origin.url();
        let f = Fixture::with_settings(&[A], |s| {
            s.proxy.default_origin = url;
            s.proxy.drain_timeout = Duration::from_secs(5);
        })
        .await;
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let cert = f.client(Validity::Current);
        for proto in PROTOS {
            let c = TlsClient::new(&f.server_ca, A).proto(proto).cert(&cert);
            let mut conn = c.connect(f.proxy()).await.unwrap();
            let held = origin.hold();
            let req = tokio::spawn(async move {
                let r = conn.send(&Req::get(A)).await;
                (conn, r)
            });
            origin.wait_for_request().await;
            ok(&set_bundle(&f.h, &ma, &f.other_ca.cert().cert_pem).await);
            drop(held);
            let (mut conn, r) = req.await.unwrap();
            assert_eq!(r.unwrap().status, 200, "{proto:?}");
            tokio::time::timeout(Duration::from_secs(5), conn.closed())
                .await
                .expect("connection still open");
            ok(&set_bundle(&f.h, &ma, &f.client_ca.cert().cert_pem).await);
        }
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_flips_take_effect_for_the_next_handshake() {
    tokio::time::timeout(BOUND, async {
        let f = Fixture::with_settings(&[A, B], |s| {
            s.proxy.drain_timeout = Duration::from_millis(500)
        })
        .await;
        let activation = f.activate(A, None).await;
        let ma_b = f.ma(&f.client_ca.cert().cert_pem, true).await;
        f.activate(B, Some(&ma_b)).await;
        let cert = f.client(Validity::Current);
        // Connections on B (both protocols) must live through every change to A.
        let mut on_b = vec![
            open_conn(&f, B, &cert, Proto::H1).await,
            open_conn(&f, B, &cert, Proto::H2).await,
        ];
        let bare = TlsClient::new(&f.server_ca, A);
        let with_cert = TlsClient::new(&f.server_ca, A).cert(&cert);

        // No mutual authentication: no CertificateRequest, no verdict.
        assert_eq!(bare.cert_request(f.proxy()).await, None);
        assert_eq!(
            verdict(&bare.fetch(f.proxy(), &Req::get(A)).await.unwrap()),
            ""
        );
        check_b(&mut on_b).await;

        // Attach a fail-open mutual authentication.
        let ma = f.ma(&f.client_ca.cert().cert_pem, false).await;
        ok(&attach(&f.h, &activation, Some(&ma)).await);
        assert_eq!(
            verdict(&bare.fetch(f.proxy(), &Req::get(A)).await.unwrap()),
            "missing"
        );
        assert_eq!(
            verdict(&with_cert.fetch(f.proxy(), &Req::get(A)).await.unwrap()),
            "ok"
        );
        check_b(&mut on_b).await;
        // Open connections on A under fail-open: one without a certificate, one with.
        let mut bare_conn = bare.connect(f.proxy()).await.unwrap();
        let r = bare_conn.send(&Req::get(A)).await.unwrap();
        assert_eq!(verdict(&r), "missing");
        let mut cert_conn = open_conn(&f, A, &cert, Proto::H1).await;

        // enforced on: the bare client is refused, its open connection closed; the one with a
        // good certificate is still admitted and stays.
        ok(&set_enforced(&f.h, &ma, true).await);
        let err = bare.fetch(f.proxy(), &Req::get(A)).await.unwrap_err();
        assert_eq!(
            err.alert(),
            Some(AlertDescription::CertificateRequired),
            "{err}"
        );
        assert_eq!(
            verdict(&with_cert.fetch(f.proxy(), &Req::get(A)).await.unwrap()),
            "ok"
        );
        tokio::time::timeout(Duration::from_secs(5), bare_conn.closed())
            .await
            .expect("certificate-less connection kept after enforcing");
        let r = cert_conn.send(&Req::get(A)).await.expect("closed");
        assert_eq!(verdict(&r), "ok");
        check_b(&mut on_b).await;

        // enforced off again.
        ok(&set_enforced(&f.h, &ma, false).await);
        assert_eq!(
            verdict(&bare.fetch(f.proxy(), &Req::get(A)).await.unwrap()),
            "missing"
        );
        check_b(&mut on_b).await;

        let r = cert_conn.send(&Req::get(A)).await.expect("closed");
        assert_eq!(verdict(&r), "ok");

        // Detach: no CertificateRequest any more; the connection verified under the mutual
        // authentication ends (its headers name it).
        ok(&attach(&f.h, &activation, None).await);
        tokio::time::timeout(Duration::from_secs(5), cert_conn.closed())
            .await
            .expect("connection kept after detaching");
        assert_eq!(bare.cert_request(f.proxy()).await, None);
        assert_eq!(
            verdict(&bare.fetch(f.proxy(), &Req::get(A)).await.unwrap()),
            ""
        );
        check_b(&mut on_b).await;

        // Attach an enforced one trusting another CA: the client's certificate is refused.
        let ma_other = f.ma(&f.other_ca.cert().cert_pem, true).await;
        ok(&attach(&f.h, &activation, Some(&ma_other)).await);
        let err = with_cert.fetch(f.proxy(), &Req::get(A)).await.unwrap_err();
        assert_eq!(err.alert(), Some(AlertDescription::UnknownCA), "{err}");
        check_b(&mut on_b).await;

        // Replace it by the fail-open one: back in.
        ok(&attach(&f.h, &activation, Some(&ma)).await);
        assert_eq!(
            verdict(&with_cert.fetch(f.proxy(), &Req::get(A)).await.unwrap()),
            "ok"
        );
        check_b(&mut on_b).await;

        // Delete the activation: the name is not served any more.
        let r = f.h.delete(&format!("/tls/activations/{activation}")).await;
        assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
        let err = with_cert.fetch(f.proxy(), &Req::get(A)).await.unwrap_err();
        assert_eq!(
            err.alert(),
            Some(AlertDescription::UnrecognisedName),
            "{err}"
        );
        check_b(&mut on_b).await;
    })
    .await
    .expect("test hung");
}

/// Each open connection on B still answers, with B's verdict.
async fn check_b(conns: &mut [Conn]) {
    for conn in conns.iter_mut() {
        let r = conn
            .send(&Req::get(B))
            .await
            .expect("B's connection was closed");
        assert_eq!(verdict(&r), "ok");
    }
}

/// A connection to B whose requests name A (same mutual authentication, so allowed) must stop
/// reaching A once A moves to another policy, even though B's own policy did not change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_follows_other_domains_changes() {
    tokio::time::timeout(BOUND, async {
        let f = Fixture::new(&[A, B]).await;
        let shared = f.ma(&f.client_ca.cert().cert_pem, true).await;
        let activation_a = f.activate(A, Some(&shared)).await;
        f.activate(B, Some(&shared)).await;
        let cert = f.client(Validity::Current);
        for proto in PROTOS {
            let mut conn = open_conn(&f, B, &cert, proto).await;
            assert_eq!(
                conn.send(&Req::get(A)).await.unwrap().status,
                200,
                "{proto:?}"
            );
            let own = f.ma(&f.other_ca.cert().cert_pem, true).await;
            ok(&attach(&f.h, &activation_a, Some(&own)).await);
            let r = conn.send(&Req::get(A)).await.unwrap();
            assert_eq!(r.status, 421, "{proto:?}: A served under its old policy");
            assert_eq!(verdict(&conn.send(&Req::get(B)).await.unwrap()), "ok");
            ok(&attach(&f.h, &activation_a, Some(&shared)).await);
        }
    })
    .await
    .expect("test hung");
}

/// A TCP connection accepted before a change but whose handshake begins after the API's 2xx
/// is judged by the new snapshot, and never kept under the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_begins_after_the_change_sees_it() {
    tokio::time::timeout(BOUND, async {
        let f = Fixture::new(&[A]).await;
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let cert = f.client(Validity::Current);
        for proto in PROTOS {
            let tcp = tokio::net::TcpStream::connect(f.proxy()).await.unwrap();
            // The listener accepts in order: once a later connection was served, this one
            // has been accepted too, before the change.
            let c = TlsClient::new(&f.server_ca, A).proto(proto).cert(&cert);
            assert_eq!(
                verdict(&c.fetch(f.proxy(), &Req::get(A)).await.unwrap()),
                "ok"
            );
            ok(&set_bundle(&f.h, &ma, &f.other_ca.cert().cert_pem).await);
            let r = c.fetch_over(tcp, &Req::get(A)).await;
            let err = r.expect_err("handshake judged by the snapshot from before the change");
            assert_refusal(&err, AlertDescription::UnknownCA, proto);
            ok(&set_bundle(&f.h, &ma, &f.client_ca.cert().cert_pem).await);
        }
    })
    .await
    .expect("test hung");
}

/// The API swaps the snapshot before it answers: the very first handshake after each 2xx sees
/// the flip, quiet and while another domain is under load. (How long that takes is measured by
/// `cargo bench --bench hot_swap_delay`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_handshake_after_the_2xx_sees_the_change() {
    tokio::time::timeout(BOUND, async {
        let f = Fixture::new(&[A, B]).await;
        let ma = f.ma(&f.client_ca.cert().cert_pem, false).await;
        f.activate(A, Some(&ma)).await;
        let ma_b = f.ma(&f.client_ca.cert().cert_pem, true).await;
        f.activate(B, Some(&ma_b)).await;
        let bare = TlsClient::new(&f.server_ca, A);
        for loaded in [false, true] {
            let background = loaded.then(|| start_load(&f, B, &f.client(Validity::Current)));
            if let Some((load, _)) = &background {
                // The flips below happen while B is busy.
                wait_for_progress(load, 0, 4).await;
            }
            for i in 0..6 {
                let enforce = i % 2 == 0;
                ok(&set_enforced(&f.h, &ma, enforce).await);
                match (enforce, bare.fetch(f.proxy(), &Req::get(A)).await) {
                    (true, Err(e)) => {
                        assert_eq!(e.alert(), Some(AlertDescription::CertificateRequired))
                    }
                    (false, Ok(r)) => assert_eq!(verdict(&r), "missing"),
                    (_, other) => panic!(
                        "round {i} (loaded: {loaded}): the first handshake missed the change: {:?}",
                        other.map(|r| r.status)
                    ),
                }
            }
            if let Some((load, tasks)) = background {
                load.stop.store(true, Ordering::SeqCst);
                for t in tasks {
                    t.await.unwrap();
                }
                assert!(load.failures.lock().unwrap().is_empty());
            }
        }
    })
    .await
    .expect("test hung");
}

/// A plain-HTTP origin that can hold its answers, to keep a request in flight.
#[derive(Clone)]
struct SlowOrigin {
    addr: std::net::SocketAddr,
    gate: Arc<tokio::sync::RwLock<()>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl SlowOrigin {
    async fn start() -> SlowOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = SlowOrigin {
            addr: listener.local_addr().unwrap(),
            gate: Arc::new(tokio::sync::RwLock::new(())),
            arrived: Arc::new(tokio::sync::Notify::new()),
        };
        let o = origin.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(o.clone().serve(tcp));
            }
        });
        origin
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests wait until the guard is dropped.
    fn hold(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().try_write_owned().unwrap()
    }

    async fn wait_for_request(&self) {
        self.arrived.notified().await;
    }

    async fn serve(self, tcp: tokio::net::TcpStream) {
        let service = hyper::service::service_fn(move |_req| {
            let o = self.clone();
            async move {
                o.arrived.notify_one();
                let _pass = o.gate.read().await;
                let body = http_body_util::Full::new(hyper::body::Bytes::from_static(b"{}"));
                Ok::<_, std::convert::Infallible>(http::Response::new(body))
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
            .await;
    }
}
