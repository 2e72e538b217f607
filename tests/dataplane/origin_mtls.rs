//! mTLS to origins: a real `grpcio` origin that requires a client certificate from its own CA
//! accepts the proxy only with a configured certificate from that CA: `[proxy]
//! origin_client_cert`/`origin_client_key`, or a route's own pair. The files are read again
//! on reload (SIGHUP), and a bad file is refused naming it while the running ones keep serving.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::{Path, PathBuf};

use common::fixture::Fixture;
use common::python::{Python, Script};
use mtls_proxy::devpki::{Ca, Issued, Validity};
use mtls_proxy::settings::{Route, Settings};
use serde_json::Value;

const SHARED: &str = "shared.mtls.test";
const OWN: &str = "own.mtls.test";
const STRANGER: &str = "stranger.mtls.test";

struct Env {
    fx: Fixture,
    py: Python,
    dir: tempfile::TempDir,
    origin_clients: Ca,
    _origin: Script,
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

impl Env {
    /// A TLS origin requiring client certificates from `origin_clients`; routes to it for
    /// SHARED (the `[proxy]` pair, none at first), OWN (its own pair from the origin's CA) and
    /// STRANGER (its own pair from another CA).
    async fn new() -> Option<Env> {
        let py = Python::with(&["grpc"])?;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let origin_ca = Ca::new("mTLS origin server CA").unwrap();
        let origin_clients = Ca::new("mTLS origin's client CA").unwrap();
        let server = origin_ca.issue_server(&["localhost"], &[]).unwrap();
        let origin_ca_file = write(d, "origin-ca.pem", &origin_ca.cert().cert_pem);
        let mut server_script = py.spawn(
            "grpc_origin.py",
            &[
                "--cert".to_string(),
                shown(&write(d, "origin.pem", &server.cert_pem)),
                "--key".into(),
                shown(&write(d, "origin-key.pem", &server.key_pem)),
                "--client-ca".into(),
                shown(&write(
                    d,
                    "origin-clients.pem",
                    &origin_clients.cert().cert_pem,
                )),
                "--require-client".into(),
            ],
        );
        let port = server_script.event("ready").await["port"].as_u64().unwrap();
        let own = issue(&origin_clients, "route-own");
        let stranger = issue(&Ca::new("Stranger CA").unwrap(), "stranger");
        let pair = |name: &str, issued: &Issued| {
            (
                Some(write(d, &format!("{name}.pem"), &issued.cert_pem)),
                Some(write(d, &format!("{name}-key.pem"), &issued.key_pem)),
            )
        };
        let (own_cert, own_key) = pair("own", &own);
        let (stranger_cert, stranger_key) = pair("stranger", &stranger);
        let origin = format!("https://localhost:{port}");
        let fx = Fixture::with_settings(&[SHARED, OWN, STRANGER], |s| {
            s.proxy.origin_ca_file = Some(origin_ca_file);
            s.routes = vec![
                Route {
                    domain: SHARED.into(),
                    origin: origin.clone(),
                    ..Route::default()
                },
                Route {
                    domain: OWN.into(),
                    origin: origin.clone(),
                    origin_client_cert: own_cert,
                    origin_client_key: own_key,
                    ..Route::default()
                },
                Route {
                    domain: STRANGER.into(),
                    origin,
                    origin_client_cert: stranger_cert,
                    origin_client_key: stranger_key,
                    ..Route::default()
                },
            ];
        })
        .await;
        let ma = fx.ma(&fx.client_ca.cert().cert_pem, true).await;
        for name in [SHARED, OWN, STRANGER] {
            fx.activate(name, Some(&ma)).await;
        }
        let client = fx.client(Validity::Current);
        write(d, "ca.pem", &fx.server_ca.cert().cert_pem);
        write(d, "client.pem", &client.cert_pem);
        write(d, "client-key.pem", &client.key_pem);
        Some(Env {
            fx,
            py,
            dir,
            origin_clients,
            _origin: server_script,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// One unary call through the proxy to `name`'s route.
    async fn call(&self, name: &str) -> Value {
        let args = [
            "--port".to_string(),
            self.fx.proxy().port().to_string(),
            "--name".into(),
            name.into(),
            "--ca".into(),
            shown(&self.path("ca.pem")),
            "--cert".into(),
            shown(&self.path("client.pem")),
            "--key".into(),
            shown(&self.path("client-key.pem")),
            "unary".into(),
            r#"{"echo": "who am i"}"#.into(),
        ];
        let mut client = self.py.spawn("grpc_client.py", &args);
        let result = client.next().await;
        assert_eq!(client.exit().await, Some(0), "{}", client.stderr());
        result
    }

    /// The common name the origin saw, or the failure.
    async fn seen_as(&self, name: &str) -> Result<String, Value> {
        let r = self.call(name).await;
        match r["code"] == "OK" {
            true => Ok(r["response"]["peer_cn"].as_str().unwrap().to_string()),
            false => Err(r),
        }
    }

    /// Reload with `[proxy] origin_client_cert`/`origin_client_key` set to these files.
    fn reload_shared(&self, cert: &str, key: &str) -> Result<(), String> {
        let mut settings: Settings = self.fx.h.settings.clone();
        settings.proxy.origin_client_cert = Some(self.path(cert));
        settings.proxy.origin_client_key = Some(self.path(key));
        let running = self.fx.h.running.as_ref().unwrap();
        running
            .reload(settings)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn issue(ca: &Ca, cn: &str) -> Issued {
    ca.issue_client(cn, Validity::Current).unwrap()
}

fn assert_refused_by_origin(r: Result<String, Value>) {
    let failure = r.expect_err("the origin accepted the proxy");
    // The proxy's 502 for the refused handshake, as a gRPC status.
    assert_eq!(failure["code"], "UNAVAILABLE", "{failure}");
    let details = failure["details"].as_str().unwrap();
    assert!(
        details.starts_with("tls: ") || details.starts_with("protocol: "),
        "{details}"
    );
}

#[tokio::test]
async fn an_origin_requiring_a_client_certificate_accepts_only_the_configured_one() {
    let Some(env) = Env::new().await else { return };
    let d = env.dir.path();
    // No certificate configured for SHARED: the origin refuses the proxy.
    assert_refused_by_origin(env.seen_as(SHARED).await);
    // A route's own certificate from the origin's CA is accepted; one from another CA is not.
    assert_eq!(env.seen_as(OWN).await.unwrap(), "route-own");
    assert_refused_by_origin(env.seen_as(STRANGER).await);

    // Configured by a reload (SIGHUP): presented from the next connection on.
    let a = issue(&env.origin_clients, "proxy-a");
    write(d, "shared.pem", &a.cert_pem);
    write(d, "shared-key.pem", &a.key_pem);
    env.reload_shared("shared.pem", "shared-key.pem").unwrap();
    assert_eq!(env.seen_as(SHARED).await.unwrap(), "proxy-a");
    // A route's own pair still wins over the shared one.
    assert_eq!(env.seen_as(OWN).await.unwrap(), "route-own");

    // The same files, rewritten with a new certificate: read again on reload.
    let b = issue(&env.origin_clients, "proxy-b");
    write(d, "shared.pem", &b.cert_pem);
    write(d, "shared-key.pem", &b.key_pem);
    env.reload_shared("shared.pem", "shared-key.pem").unwrap();
    assert_eq!(env.seen_as(SHARED).await.unwrap(), "proxy-b");

    // A key that does not belong to the certificate: refused naming the file; proxy-b stays.
    write(d, "wrong-key.pem", &a.key_pem);
    let e = env
        .reload_shared("shared.pem", "wrong-key.pem")
        .unwrap_err();
    assert!(e.contains("proxy.origin_client_cert"), "{e}");
    assert!(e.contains(&shown(&env.path("wrong-key.pem"))), "{e}");
    let e = env
        .reload_shared("missing.pem", "shared-key.pem")
        .unwrap_err();
    assert!(e.contains(&shown(&env.path("missing.pem"))), "{e}");
    assert_eq!(env.seen_as(SHARED).await.unwrap(), "proxy-b");
}

#[tokio::test]
async fn a_bad_client_certificate_file_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::Harness::settings(dir.path());
    let cert = write(dir.path(), "c.pem", "not a certificate\n");
    let key = write(dir.path(), "k.pem", "not a key\n");
    settings.routes.push(Route {
        domain: "a.test".into(),
        origin: "https://localhost:1".into(),
        origin_client_cert: Some(cert.clone()),
        origin_client_key: Some(key),
        ..Route::default()
    });
    let e = mtls_proxy::app::start(settings)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("routes[0].origin_client_cert"), "{e}");
    assert!(e.contains(&shown(&cert)), "{e}");
}
