//! Identity rules per route: `[[routes]] path_prefix` and `allow`. Every pattern kind matching
//! and not matching a real client certificate, the longest prefix winning, path tricks that
//! would reach a guarded prefix another way, the 403 answer (route named, patterns never),
//! fail-open and certificate-less connections, the forbidden counter, a reload changing the
//! rules for an open connection, and SIGHUP on the real binary with the route in its log.

use crate::common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use common::fixture::Fixture;
use common::http;
use common::tls_client::{seen, Req, TlsClient};
use common::TOKEN;
use mtls_proxy::devpki::{Ca, ClientSan, Issued};
use mtls_proxy::settings::{Route, Settings};
use serde_json::{json, Value};
use x509_parser::prelude::{FromDer, X509Certificate};

const A: &str = "a.example.com";
const OPEN: &str = "open.example.com";
const PLAIN: &str = "plain.example.com";

/// Every test gets this long before it fails as hung.
const BOUND: Duration = Duration::from_secs(60);

fn route(domain: &str, prefix: Option<&str>, allow: &[&str]) -> Route {
    Route {
        domain: domain.into(),
        origin: "echo".into(),
        path_prefix: prefix.map(str::to_owned),
        allow: (!allow.is_empty()).then(|| allow.iter().map(|p| p.to_string()).collect()),
        ..Route::default()
    }
}

fn billing(ca: &Ca) -> Issued {
    ca.issue_client_with_sans(
        "billing",
        &[
            ClientSan::Uri("spiffe://example.org/ns/prod/sa/billing".into()),
            ClientSan::Dns("billing.svc.example.org".into()),
            ClientSan::Email("billing@example.org".into()),
        ],
    )
    .unwrap()
}

/// Near misses of every pattern `billing` matches.
fn stranger(ca: &Ca) -> Issued {
    ca.issue_client_with_sans(
        "Billing",
        &[
            ClientSan::Uri("spiffe://example.org/ns/prod".into()),
            ClientSan::Uri("spiffe://example.org/ns/staging/sa/billing".into()),
            ClientSan::Dns("a.billing.svc.example.org".into()),
            ClientSan::Dns("svc.example.org".into()),
            ClientSan::Email("billing@example.org.evil".into()),
        ],
    )
    .unwrap()
}

fn spki_pin(der: &[u8]) -> String {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    let d = digest::digest(&digest::SHA256, cert.public_key().raw);
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

fn fingerprint(der: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// GET `path` on `host` over a fresh connection presenting `cert`.
async fn get(f: &Fixture, host: &str, cert: Option<&Issued>, path: &str) -> common::Reply {
    let mut client = TlsClient::new(&f.server_ca, host);
    if let Some(c) = cert {
        client = client.cert(c);
    }
    client
        .fetch(f.proxy(), &Req::get(host).target(path))
        .await
        .expect("request answered")
}

async fn forbidden_count(f: &Fixture, domain: &str) -> f64 {
    let text = String::from_utf8(f.h.get("/metrics").await.body).unwrap();
    let series = format!("mtls_proxy_forbidden_requests_total{{domain=\"{domain}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pattern_kind_matches_its_certificate_and_refuses_near_misses() {
    tokio::time::timeout(BOUND, async {
        let client_ca = Ca::new("Rules client CA").unwrap();
        let good = billing(&client_ca);
        let bad = stranger(&client_ca);
        let pins = [
            ("/uri", "uri:spiffe://example.org/ns/prod/*".to_string()),
            (
                "/uri-exact",
                "uri:spiffe://example.org/ns/prod/sa/billing".into(),
            ),
            ("/dns", "dns:*.svc.example.org".into()),
            ("/dns-exact", "dns:Billing.svc.example.org".into()),
            ("/email", "email:billing@Example.org".into()),
            ("/cn", "cn:billing".into()),
            ("/spki", format!("spki-sha256:{}", spki_pin(&good.cert_der))),
            ("/sha256", format!("sha256:{}", fingerprint(&good.cert_der))),
        ];
        let routes: Vec<Route> = pins
            .iter()
            .map(|(prefix, pattern)| route(A, Some(prefix), &[pattern.as_str()]))
            .collect();
        let f = Fixture::with_settings(&[A], |s| s.routes = routes).await;
        let ma = f.ma(&client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;

        for (prefix, pattern) in &pins {
            let r = get(&f, A, Some(&good), prefix).await;
            assert_eq!(
                r.status,
                200,
                "{pattern}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert_eq!(seen(&r)["client-cert-verdict"], "ok");
            let r = get(&f, A, Some(&bad), prefix).await;
            assert_eq!(r.status, 403, "{pattern} admitted a near miss");
        }
        assert_eq!(forbidden_count(&f, A).await, pins.len() as f64);
        // Paths outside every prefix have no route: the default origin, no rules.
        assert_eq!(get(&f, A, Some(&bad), "/elsewhere").await.status, 200);
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_403_names_the_route_never_the_patterns() {
    tokio::time::timeout(BOUND, async {
        let client_ca = Ca::new("Rules client CA").unwrap();
        let f = Fixture::with_settings(&[A], |s| {
            s.routes = vec![route(
                A,
                Some("/admin"),
                &["cn:billing", "dns:*.svc.example.org"],
            )]
        })
        .await;
        let ma = f.ma(&client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let r = get(&f, A, Some(&stranger(&client_ca)), "/admin/users").await;
        assert_eq!(r.status, 403);
        assert_eq!(r.content_type(), Some("application/json"));
        assert_eq!(r.headers["client-cert-verdict"], "ok");
        let body = r.json();
        assert_eq!(body["error"], "forbidden");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("a.example.com/admin"), "{detail}");
        let raw = String::from_utf8_lossy(&r.body);
        for secret in ["cn:", "billing", "svc.example.org", "dns:"] {
            assert!(!raw.contains(secret), "{secret} leaked in {raw}");
        }
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_verified_certificate_can_match() {
    tokio::time::timeout(BOUND, async {
        let client_ca = Ca::new("Rules client CA").unwrap();
        let other_ca = Ca::new("Rules other CA").unwrap();
        let f = Fixture::with_settings(&[OPEN, PLAIN], |s| {
            s.routes = vec![
                route(OPEN, None, &["cn:billing"]),
                route(PLAIN, None, &["cn:billing"]),
            ]
        })
        .await;
        let ma = f.ma(&client_ca.cert().cert_pem, false).await;
        f.activate(OPEN, Some(&ma)).await;
        f.activate(PLAIN, None).await;

        assert_eq!(
            get(&f, OPEN, Some(&billing(&client_ca)), "/").await.status,
            200
        );
        // Fail-open lets an unknown CA's "billing" through the handshake, never through the rule.
        let forged = get(&f, OPEN, Some(&billing(&other_ca)), "/").await;
        assert_eq!(forged.status, 403);
        assert_eq!(forged.headers["client-cert-verdict"], "unknown_ca");
        let detail = forged.json()["detail"].as_str().unwrap().to_string();
        assert!(
            detail.contains("requires a verified client certificate"),
            "{detail}"
        );
        let none = get(&f, OPEN, None, "/").await;
        assert_eq!(none.status, 403);
        assert_eq!(none.headers["client-cert-verdict"], "missing");
        // A domain that never asks for a certificate can never satisfy a rule.
        let plain = get(&f, PLAIN, None, "/").await;
        assert_eq!(plain.status, 403);
        assert!(plain.headers.get("client-cert-verdict").is_none());
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_prefix_decides_and_path_tricks_do_not_reach_around_it() {
    tokio::time::timeout(BOUND, async {
        let client_ca = Ca::new("Rules client CA").unwrap();
        let f = Fixture::with_settings(&[A], |s| {
            s.routes = vec![
                route(A, None, &[]),
                route(A, Some("/admin"), &["cn:billing"]),
                route(A, Some("/admin/health"), &[]),
            ]
        })
        .await;
        let ma = f.ma(&client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let good = billing(&client_ca);
        let bad = stranger(&client_ca);

        assert_eq!(get(&f, A, Some(&bad), "/").await.status, 200);
        assert_eq!(get(&f, A, Some(&bad), "/admin").await.status, 403);
        assert_eq!(get(&f, A, Some(&bad), "/admin/users?x=1").await.status, 403);
        assert_eq!(get(&f, A, Some(&bad), "/admins").await.status, 403);
        assert_eq!(get(&f, A, Some(&bad), "/admin/health").await.status, 200);
        assert_eq!(get(&f, A, Some(&good), "/admin/users").await.status, 200);

        for trick in [
            "//admin",
            "/%61dmin",
            "/%41dmin/../admin",
            "/x/..;/admin",
            "/x/../admin",
        ] {
            let status = get(&f, A, Some(&bad), trick).await.status;
            assert!(status == 403 || status == 400, "{trick}: {status}");
        }
        for refused in [
            "/x/../admin",
            "/public/..;/admin",
            "/a%2Fadmin",
            "/a\\admin",
        ] {
            let r = get(&f, A, Some(&bad), refused).await;
            assert_eq!(r.status, 400, "{refused}");
        }
        // What was judged is what the origin gets: the normalised path, query kept.
        let r = get(&f, A, Some(&good), "//admin//%75sers?q=%2F").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["path"], "/admin/users?q=%2F");
    })
    .await
    .expect("test hung");
}

/// Servlet containers (Tomcat, Jetty, Spring) drop `;` path parameters from every segment and
/// then merge the empty segments left: `/;x/admin/users` and `/admin;x/users` are
/// `/admin/users` to them. A rule on `/admin/` (how the docs say to exclude `/admins`) must
/// judge those requests as what such an origin serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_parameters_do_not_reach_around_a_prefix() {
    tokio::time::timeout(BOUND, async {
        let client_ca = Ca::new("Rules client CA").unwrap();
        let f = Fixture::with_settings(&[A], |s| {
            s.routes = vec![
                route(A, None, &[]),
                route(A, Some("/admin/"), &["cn:billing"]),
            ]
        })
        .await;
        let ma = f.ma(&client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let good = billing(&client_ca);
        let bad = stranger(&client_ca);

        assert_eq!(get(&f, A, Some(&bad), "/admin/users").await.status, 403);
        for trick in [
            "/;/admin/users",
            "/;x=1/admin/users",
            "/admin;jsessionid=1/users",
            "/admin;/users",
            "/;a/;b//admin;c/users",
        ] {
            let status = get(&f, A, Some(&bad), trick).await.status;
            assert!(status == 403 || status == 400, "{trick}: {status}");
        }
        // Parameters elsewhere are not affected, and the origin still gets them.
        assert_eq!(get(&f, A, Some(&bad), "/public;x=1/y").await.status, 200);
        let r = get(&f, A, Some(&good), "/admin;jsessionid=1/users").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["path"], "/admin;jsessionid=1/users");
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_the_rules_for_open_connections_too() {
    tokio::time::timeout(BOUND, async {
        let client_ca = Ca::new("Rules client CA").unwrap();
        let f = Fixture::with_settings(&[A], |s| {
            s.routes = vec![route(A, Some("/admin"), &["cn:billing"])]
        })
        .await;
        let ma = f.ma(&client_ca.cert().cert_pem, true).await;
        f.activate(A, Some(&ma)).await;
        let good = billing(&client_ca);
        let mut conn = TlsClient::new(&f.server_ca, A)
            .cert(&good)
            .connect(f.proxy())
            .await
            .unwrap();
        let admin = Req::get(A).target("/admin");
        assert_eq!(conn.send(&admin).await.unwrap().status, 200);

        let mut settings: Settings = f.h.settings.clone();
        settings.routes = vec![route(A, Some("/admin"), &["cn:someone-else"])];
        f.h.running.as_ref().unwrap().reload(settings).unwrap();
        assert_eq!(
            conn.send(&admin).await.unwrap().status,
            403,
            "same connection"
        );
        assert_eq!(get(&f, A, Some(&good), "/admin").await.status, 403);
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

/// The real binary with its stderr in a file; killed when dropped.
struct Binary {
    child: Child,
    log: std::path::PathBuf,
}

impl Binary {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_for_log(&self, needle: &str) {
        while !self.log_text().contains(needle) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn api(admin: SocketAddr, method: &str, path: &str, body: Value) -> Value {
    let r = http::request(admin, method, path, Some(TOKEN), Some(body.to_string())).await;
    assert!(r.status < 300, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_the_rules_and_the_log_names_the_deciding_route() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let (admin, proxy) = (free_port(), free_port());
        let config = dir.path().join("mtls-proxy.toml");
        let write_config = |allow: &str| {
            let text = format!(
                "[admin]\nlisten = \"{admin}\"\ntoken = \"{TOKEN}\"\n[store]\npath = \"{}\"\n\
                 [proxy]\nlisten = \"{proxy}\"\n[log]\nformat = \"json\"\n\
                 [[routes]]\ndomain = \"{A}\"\norigin = \"echo\"\npath_prefix = \"/admin\"\nallow = [\"{allow}\"]\n",
                dir.path().join("db.sqlite").display()
            );
            std::fs::write(&config, text).unwrap();
        };
        write_config("cn:billing");
        let log = dir.path().join("stderr.log");
        let bin = Binary {
            child: Command::new(env!("CARGO_BIN_EXE_mtls-proxy"))
                .args(["serve", "--config"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
            log,
        };
        loop {
            if tokio::net::TcpStream::connect(admin).await.is_ok()
                && http::request(admin, "GET", "/ready", None, None).await.status == 200
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let server_ca = Ca::new("Rules server CA").unwrap();
        let client_ca = Ca::new("Rules client CA").unwrap();
        let server = server_ca.issue_server(&[A], &[]).unwrap();
        api(admin, "POST", "/tls/private_keys", json!({"data": {"attributes": {"key": server.key_pem}}})).await;
        let cert = api(admin, "POST", "/tls/certificates", json!({"data": {"attributes": {"cert_blob": server.cert_pem}}})).await;
        let ma = api(admin, "POST", "/tls/mutual_authentications", json!({"data": {"attributes": {"cert_bundle": client_ca.cert().cert_pem}}})).await;
        api(admin, "POST", "/tls/activations", json!({"data": {"relationships": {
            "tls_certificate": {"data": {"type": "tls_certificate", "id": cert["data"]["id"]}},
            "tls_domain": {"data": {"type": "tls_domain", "id": A}},
            "mutual_authentication": {"data": {"type": "mutual_authentication", "id": ma["data"]["id"]}}}}})).await;
        let client = TlsClient::new(&server_ca, A).cert(&billing(&client_ca));
        let admin_req = Req::get(A).target("/admin/x");
        assert_eq!(client.fetch(proxy, &admin_req).await.unwrap().status, 200);

        write_config("cn:nobody");
        // The shell's built-in kill: /bin/kill comes from procps, which minimal images (a
        // machine with only the Rust toolchain) lack.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -HUP {}", bin.child.id())])
            .status()
            .unwrap();
        assert!(status.success());
        bin.wait_for_log("config reloaded").await;
        assert_eq!(client.fetch(proxy, &admin_req).await.unwrap().status, 403);
        bin.wait_for_log("\"status\":403").await;

        let lines: Vec<Value> = bin
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "mtls_proxy::request")
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        for (line, status) in lines.iter().zip([200, 403]) {
            assert_eq!(line["status"], status, "{line}");
            assert_eq!(line["route"], "a.example.com/admin", "{line}");
        }
    })
    .await
    .expect("test hung");
}
