//! Rebuilds that fail and config reloads: a snapshot that no longer builds leaves the last
//! good one serving (reported in /status and /metrics), an API change that would not build is
//! refused with nothing stored, `Running::reload` applies new routes and names restart-only
//! settings, and SIGHUP does the same on the real binary.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::fixture::Fixture;
use common::flows::{attach, set_bundle};
use common::http;
use common::recording_origin::RecordingOrigin;
use common::tls_client::{seen, Req, TlsClient};
use common::{Harness, TOKEN};
use mtls_proxy::devpki::{Ca, Issued, Validity};
use mtls_proxy::settings::Route;
use serde_json::{json, Value};

const A: &str = "a.example.com";

/// Every test gets this long before it fails as hung.
const BOUND: Duration = Duration::from_secs(60);

fn running(h: &Harness) -> &mtls_proxy::app::Running {
    h.running.as_ref().unwrap()
}

/// The value of one sample line in the Prometheus text, 0 when absent.
fn sample(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn reload_errors(h: &Harness) -> f64 {
    let r = h.get("/metrics").await;
    let text = String::from_utf8(r.body).unwrap();
    sample(&text, "mtls_proxy_config_reloads_total{result=\"error\"}")
}

/// One request to `A` over a fresh handshake (no client certificate); the echo answer.
async fn fetch_a(f: &Fixture) -> common::Reply {
    TlsClient::new(&f.server_ca, A)
        .fetch(f.proxy(), &Req::get(A))
        .await
        .expect("A is served")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rebuild_keeps_the_last_good_snapshot_serving() {
    tokio::time::timeout(BOUND, async {
        let f = Fixture::new(&[A]).await;
        let activation = f.activate(A, None).await;
        assert_eq!(fetch_a(&f).await.status, 200);
        let before = f.h.get("/status").await.json();
        let errors = reload_errors(&f.h).await;

        // Corrupt the store under the running process: the certificate loses its key.
        let db = rusqlite::Connection::open(f.h.store_path()).unwrap();
        assert_eq!(db.execute("DELETE FROM private_keys", []).unwrap(), 1);
        drop(db);

        let err = running(&f.h)
            .reload(f.h.settings.clone())
            .expect_err("the rebuild must fail");
        assert!(err.to_string().contains("no private key matches"), "{err}");

        // The old snapshot keeps serving, and says why it is still the one.
        assert_eq!(fetch_a(&f).await.status, 200);
        let status = f.h.get("/status").await.json();
        assert_eq!(status["applied_revision"], before["applied_revision"]);
        assert_eq!(status["last_swap"], before["last_swap"]);
        let last_error = status["last_error"].as_str().unwrap();
        assert!(last_error.contains(&activation), "{last_error}");
        assert!(last_error.contains(A), "{last_error}");
        assert!(
            last_error.contains("no private key matches its certificate"),
            "{last_error}"
        );
        assert!(status["last_error_at"].is_string(), "{status}");
        assert_eq!(reload_errors(&f.h).await, errors + 1.0);
        assert_eq!(f.h.get("/ready").await.status, 200);
        assert_eq!(f.h.get("/health").await.status, 200);
    })
    .await
    .expect("test hung");
}

/// A CA certificate x509-parser reads (so the API accepts the bundle) but rustls cannot use as a
/// trust anchor: bigger than the 64 KiB webpki parses.
fn oversized_ca() -> String {
    use rcgen::{BasicConstraints, CertificateParams, CustomExtension, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let filler =
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![0x41; 70_000]);
    params.custom_extensions.push(filler);
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_change_that_would_not_build_is_refused_and_not_stored() {
    tokio::time::timeout(BOUND, async {
        let f = Fixture::new(&[A]).await;
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
        let activation = f.activate(A, Some(&ma)).await;
        let cert = f.client(Validity::Current);
        let client = TlsClient::new(&f.server_ca, A).cert(&cert);
        // Unattached, the odd bundle is never built: stored like any other.
        let odd = f.ma(&oversized_ca(), true).await;
        let stored = f.h.get("/status").await.json()["stored_revision"].clone();

        let r = attach(&f.h, &activation, Some(&odd)).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        assert!(r.detail().contains("cannot serve"), "{}", r.detail());
        let r = set_bundle(&f.h, &ma, &oversized_ca()).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));

        // Nothing stored, nothing swapped: the activation keeps its mutual authentication and
        // the bundle still admits the client.
        let status = f.h.get("/status").await.json();
        assert_eq!(status["stored_revision"], stored);
        assert_eq!(status["applied_revision"], stored);
        let doc =
            f.h.get(&format!("/tls/activations/{activation}"))
                .await
                .json();
        assert_eq!(
            doc["data"]["relationships"]["mutual_authentication"]["data"]["id"],
            ma.as_str()
        );
        let r = client.fetch(f.proxy(), &Req::get(A)).await.unwrap();
        assert_eq!(seen(&r)["client-cert-verdict"], "ok");
        assert_eq!(seen(&r)["client-cert-mutual-authentication"], ma);
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_routes_and_names_restart_only_settings() {
    tokio::time::timeout(BOUND, async {
        let origin = RecordingOrigin::start().await;
        let f = Fixture::new(&[A]).await;
        f.activate(A, None).await;
        // Echo (the default origin) answers before the reload.
        assert_eq!(seen(&fetch_a(&f).await)["host"], A);
        let mut kept = TlsClient::new(&f.server_ca, A)
            .connect(f.proxy())
            .await
            .unwrap();
        assert_eq!(kept.send(&Req::get(A)).await.unwrap().status, 200);
        assert!(origin.seen().is_empty());

        let mut settings = f.h.settings.clone();
        settings.routes.push(Route {
            domain: A.to_string(),
            origin: origin.url(),
            ..Route::default()
        });
        let report = running(&f.h).reload(settings.clone()).unwrap();
        assert!(report.need_restart.is_empty(), "{:?}", report.need_restart);
        assert_eq!(fetch_a(&f).await.status, 200);
        assert_eq!(
            origin.seen().len(),
            1,
            "the next request did not take the new route"
        );
        // A connection from before follows the route too (its policy did not change).
        assert_eq!(kept.send(&Req::get(A)).await.unwrap().status, 200);
        assert_eq!(origin.seen().len(), 2);

        // An origin that does not parse: refused, the route in force stays.
        let mut bad = settings.clone();
        bad.routes[0].origin = "ftp://nowhere".to_string();
        assert!(running(&f.h).reload(bad).is_err());
        assert_eq!(fetch_a(&f).await.status, 200);
        assert_eq!(origin.seen().len(), 3);

        // A new proxy listener needs a restart: reported, and the listener stays where it is.
        let elsewhere = free_port();
        let mut moved = settings.clone();
        moved.proxy.listen = elsewhere;
        let report = running(&f.h).reload(moved).unwrap();
        assert_eq!(report.need_restart, vec!["proxy.listen"]);
        assert_eq!(running(&f.h).proxy_addr, f.proxy());
        assert_eq!(fetch_a(&f).await.status, 200);
        assert!(tokio::net::TcpStream::connect(elsewhere).await.is_err());
        // Compared with what is in force, not with the refused value: reported again.
        let mut moved = settings.clone();
        moved.proxy.listen = elsewhere;
        assert_eq!(
            running(&f.h).reload(moved).unwrap().need_restart,
            vec!["proxy.listen"]
        );
    })
    .await
    .expect("test hung");
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The real binary, with its log in `log`; killed when dropped.
struct Proxy {
    child: Child,
    log: std::path::PathBuf,
}

impl Proxy {
    fn spawn(config: &std::path::Path, log: std::path::PathBuf) -> Proxy {
        let child = Command::new(env!("CARGO_BIN_EXE_mtls-proxy"))
            .args(["serve", "--config"])
            .arg(config)
            .env("MTLS_PROXY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Proxy { child, log }
    }

    fn hup(&self) {
        // The shell's built-in kill: /bin/kill comes from procps, which minimal images lack.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -HUP {}", self.child.id())])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log holds `needle` `times` times.
    async fn wait_for_log(&self, needle: &str, times: usize) {
        while self.log_text().matches(needle).count() < times {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_ready(admin: SocketAddr) {
    loop {
        if tokio::net::TcpStream::connect(admin).await.is_ok()
            && http::request(admin, "GET", "/ready", None, None)
                .await
                .status
                == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn api(admin: SocketAddr, path: &str, body: Value) -> Value {
    let r = http::request(admin, "POST", path, Some(TOKEN), Some(body.to_string())).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Upload the key and certificate and activate `A` through the binary's API.
async fn activate_a(admin: SocketAddr, server: &Issued) {
    api(
        admin,
        "/tls/private_keys",
        json!({"data": {"attributes": {"key": server.key_pem}}}),
    )
    .await;
    let cert = api(
        admin,
        "/tls/certificates",
        json!({"data": {"attributes": {"cert_blob": server.cert_pem}}}),
    )
    .await;
    let body = json!({"data": {"type": "tls_activation", "relationships": {
        "tls_certificate": {"data": {"type": "tls_certificate", "id": cert["data"]["id"]}},
        "tls_domain": {"data": {"type": "tls_domain", "id": A}}}}});
    api(admin, "/tls/activations", body).await;
}

fn config_text(
    admin: SocketAddr,
    proxy: SocketAddr,
    store: &std::path::Path,
    routes: &str,
) -> String {
    format!(
        "[admin]\nlisten = \"{admin}\"\ntoken = \"{TOKEN}\"\n[store]\npath = \"{}\"\n[proxy]\nlisten = \"{proxy}\"\n{routes}",
        store.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_config_file_of_the_real_binary() {
    tokio::time::timeout(BOUND, async {
        let origin = RecordingOrigin::start().await;
        let dir = tempfile::tempdir().unwrap();
        let (admin, proxy) = (free_port(), free_port());
        let store = dir.path().join("store/db.sqlite");
        let config = dir.path().join("mtls-proxy.toml");
        std::fs::write(&config, config_text(admin, proxy, &store, "")).unwrap();
        let bin = Proxy::spawn(&config, dir.path().join("stderr.log"));
        wait_ready(admin).await;
        let server_ca = Ca::new("SIGHUP server CA").unwrap();
        let server = server_ca.issue_server(&[A], &[]).unwrap();
        activate_a(admin, &server).await;
        let client = TlsClient::new(&server_ca, A);
        let r = client.fetch(proxy, &Req::get(A)).await.unwrap();
        assert_eq!(seen(&r)["host"], A, "echo answers first");

        // Add a route and send SIGHUP: requests reach the recording origin once it is applied.
        let route = format!(
            "[[routes]]\ndomain = \"{A}\"\norigin = \"{}\"\n",
            origin.url()
        );
        std::fs::write(&config, config_text(admin, proxy, &store, &route)).unwrap();
        bin.hup();
        bin.wait_for_log("config reloaded", 1).await;
        assert_eq!(client.fetch(proxy, &Req::get(A)).await.unwrap().status, 200);
        assert_eq!(origin.seen().len(), 1, "route not applied after SIGHUP");

        // An invalid file: refused and reported; the process keeps serving what it had.
        std::fs::write(&config, "[proxy]\nlisten = 5\n").unwrap();
        bin.hup();
        bin.wait_for_log("config reload refused", 1).await;
        assert_eq!(client.fetch(proxy, &Req::get(A)).await.unwrap().status, 200);
        assert_eq!(origin.seen().len(), 2, "the route in force was dropped");
        assert_eq!(
            http::request(admin, "GET", "/ready", None, None)
                .await
                .status,
            200
        );
        let mut bin = bin;
        assert!(
            bin.child.try_wait().unwrap().is_none(),
            "the process exited"
        );
        assert_eq!(bin.log_text().matches("config reloaded").count(), 1);
    })
    .await
    .expect("test hung");
}
