//! gRPC end to end with the real `grpcio` client and server (tests/python/grpc_*.py): unary
//! and bidirectional streaming calls through the proxy to an h2c origin and to a TLS origin
//! (HTTP/2 by ALPN), with status codes and trailing metadata surviving, and the proxy's own
//! errors (502, 504, 421) arriving as gRPC statuses.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::fixture::Fixture;
use common::python::{Python, Script};
use mtls_proxy::devpki::{Ca, Issued, Validity};
use mtls_proxy::settings::Route;
use serde_json::{json, Value};

const H2C: &str = "h2c.grpc.test";
const TLS: &str = "tls.grpc.test";
const DEAD: &str = "dead.grpc.test";
/// Served under another mutual authentication than the three above.
const ELSEWHERE: &str = "elsewhere.grpc.test";
const SUBJECT: &str = "CN=fixture-client,O=mtls-proxy development PKI";
/// The proxy's `origin_response_timeout` here; the slow call sleeps longer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

struct Env {
    fx: Fixture,
    py: Python,
    dir: tempfile::TempDir,
    /// Kept running for the test's duration.
    _origins: Vec<Script>,
}

async fn ready_port(script: &mut Script) -> u64 {
    script.event("ready").await["port"].as_u64().unwrap()
}

impl Env {
    async fn new() -> Option<Env> {
        let py = Python::with(&["grpc"])?;
        let dir = tempfile::tempdir().unwrap();
        let origin_ca = Ca::new("gRPC origin CA").unwrap();
        let origin_cert = origin_ca.issue_server(&["localhost"], &[]).unwrap();
        let write = |name: &str, pem: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path.display().to_string()
        };
        let origin_ca_file = write("origin-ca.pem", &origin_ca.cert().cert_pem);
        let cert = write("origin.pem", &origin_cert.cert_pem);
        let key = write("origin-key.pem", &origin_cert.key_pem);

        let mut h2c = py.spawn("grpc_origin.py", &[] as &[&str]);
        let mut tls = py.spawn("grpc_origin.py", &["--cert", &cert, "--key", &key]);
        let (h2c_port, tls_port) = (ready_port(&mut h2c).await, ready_port(&mut tls).await);
        let dead_port = closed_port().await;
        let routes = [
            (H2C, format!("h2c://127.0.0.1:{h2c_port}")),
            (TLS, format!("https://localhost:{tls_port}")),
            (DEAD, format!("h2c://127.0.0.1:{dead_port}")),
            (ELSEWHERE, format!("h2c://127.0.0.1:{h2c_port}")),
        ];
        let fx = Fixture::with_settings(&[H2C, TLS, DEAD, ELSEWHERE], |s| {
            s.proxy.origin_ca_file = Some(PathBuf::from(&origin_ca_file));
            s.proxy.origin_response_timeout = RESPONSE_TIMEOUT;
            for (domain, origin) in routes {
                s.routes.push(Route {
                    domain: domain.into(),
                    origin,
                    ..Route::default()
                });
            }
        })
        .await;
        let ma = fx.ma(&fx.client_ca.cert().cert_pem, true).await;
        for d in [H2C, TLS, DEAD] {
            fx.activate(d, Some(&ma)).await;
        }
        let ma2 = fx.ma(&fx.client_ca.cert().cert_pem, true).await;
        fx.activate(ELSEWHERE, Some(&ma2)).await;
        let client: Issued = fx.client(Validity::Current);
        write("ca.pem", &fx.server_ca.cert().cert_pem);
        write("client.pem", &client.cert_pem);
        write("client-key.pem", &client.key_pem);
        Some(Env {
            fx,
            py,
            dir,
            _origins: vec![h2c, tls],
        })
    }

    /// `grpc_client.py` against `name` (SNI and `:authority` unless `authority`).
    async fn call(&self, name: &str, authority: Option<&str>, scenario: &[&str]) -> Value {
        let file = |f: &str| self.dir.path().join(f).display().to_string();
        let mut args = vec![
            "--port".to_string(),
            self.fx.proxy().port().to_string(),
            "--name".into(),
            name.into(),
            "--ca".into(),
            file("ca.pem"),
            "--cert".into(),
            file("client.pem"),
            "--key".into(),
            file("client-key.pem"),
        ];
        if let Some(a) = authority {
            args.extend(["--authority".to_string(), a.to_string()]);
        }
        args.extend(scenario.iter().map(|s| s.to_string()));
        let mut client = self.py.spawn("grpc_client.py", &args);
        let result = client.next().await;
        assert_eq!(client.exit().await, Some(0), "{}", client.stderr());
        result
    }

    async fn unary(&self, name: &str, request: Value) -> Value {
        self.call(name, None, &["unary", &request.to_string()])
            .await
    }
}

async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn unary_and_bidi_calls_reach_h2c_and_tls_origins_with_statuses_and_trailers() {
    let Some(env) = Env::new().await else { return };
    for name in [H2C, TLS] {
        let ok = env.unary(name, json!({"echo": "hi"})).await;
        assert_eq!(ok["code"], "OK", "{name}: {ok}");
        assert_eq!(ok["response"]["echo"], "hi");
        assert_eq!(ok["initial_metadata"]["x-initial"], "yes");
        assert_eq!(ok["trailing_metadata"]["x-trailer"], "t-hi", "{name}: {ok}");
        // What the origin saw: the client's metadata, and the proxy's certificate headers
        // instead of the forged verdict.
        let seen = &ok["response"]["metadata"];
        assert_eq!(seen["x-client-meta"], "m1");
        assert_eq!(seen["client-cert-verdict"], "ok", "{seen}");
        assert_eq!(seen["client-cert-subject"], SUBJECT);
        assert_eq!(seen["x-forwarded-proto"], "https");

        let failed = json!({"echo": "e", "fail": {"code": "NOT_FOUND", "details": "no such row"}});
        let failed = env.unary(name, failed).await;
        assert_eq!(failed["code"], "NOT_FOUND", "{name}: {failed}");
        assert_eq!(failed["details"], "no such row");
        assert_eq!(failed["trailing_metadata"]["x-trailer"], "t-e");

        let bidi = env.call(name, None, &["bidi", "5"]).await;
        assert_eq!(bidi["code"], "OK", "{name}: {bidi}");
        let want: Vec<String> = (0..5).map(|i| format!("echo:ping {i}")).collect();
        assert_eq!(bidi["answers"], json!(want));
        assert_eq!(bidi["trailing_metadata"]["x-count"], "5");
    }
}

#[tokio::test]
async fn the_proxys_own_errors_arrive_as_grpc_statuses() {
    let Some(env) = Env::new().await else { return };
    // 502: the origin refuses connections.
    let dead = env.unary(DEAD, json!({"echo": "x"})).await;
    assert_eq!(dead["code"], "UNAVAILABLE", "{dead}");
    // A generic reason and the request id to quote; the origin's address and the error
    // chain stay in the proxy's log.
    let details = dead["details"].as_str().unwrap();
    assert!(
        details.starts_with("connect: the origin could not be reached (request id "),
        "{details}"
    );
    assert!(!details.contains("127.0.0.1"), "{details}");

    // 504: the origin answers after origin_response_timeout (the client's deadline is 20 s).
    let sleep = RESPONSE_TIMEOUT.as_secs() * 2;
    let slow = env.unary(H2C, json!({"echo": "x", "sleep": sleep})).await;
    assert_eq!(slow["code"], "DEADLINE_EXCEEDED", "{slow}");
    assert!(
        slow["details"].as_str().unwrap().starts_with("timeout: "),
        "{slow}"
    );

    // 421: a name under another mutual authentication on this connection.
    let wrong = env
        .call(H2C, Some(ELSEWHERE), &["unary", r#"{"echo": "x"}"#])
        .await;
    assert_eq!(wrong["code"], "UNAVAILABLE", "{wrong}");
    let details = wrong["details"].as_str().unwrap();
    assert!(details.starts_with("misdirected_request: "), "{details}");
}
