//! WebSocket tunnels under identity rules. A tunnel is a request that never ends, so when its
//! connection's judgement changes so that the tunnel's route would now refuse it, the tunnel is
//! closed: a fail-open client whose certificate a new CRL revokes, or whose certificate
//! expires, loses its tunnels on a route with `allow` rules (HTTP/1.1 upgrades and HTTP/2
//! extended CONNECT streams alike) and gets 403 there from then on, while its tunnels on a
//! route without rules carry on (with the new verdict). Real `websockets` client and origin in
//! Python; hyper and tokio-tungstenite for HTTP/2.

use crate::common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use common::fixture::Fixture;
use common::python::{Python, Script};
use common::tls_client::TlsClient;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper::ext::Protocol;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mtls_proxy::devpki::{Issued, Validity};
use mtls_proxy::settings::Route;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const WS: &str = "ws.test";

/// Every test gets this long before it fails as hung.
const BOUND: Duration = Duration::from_secs(90);

type Tunnel = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A proxy serving `ws.test` fail-open, with two routes to one `websockets` origin: `/admin`
/// admits only the fixture's client by CN, every other path admits anyone.
struct Env {
    fx: Fixture,
    py: Python,
    origin: Script,
    ma: String,
    dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Option<Env> {
        let py = Python::with(&["websockets"])?;
        let mut origin = py.spawn("ws_origin.py", &[] as &[&str]);
        let port = origin.event("ready").await["port"].as_u64().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let fx = Fixture::with_settings(&[WS, "other.test"], |s| {
            s.routes.push(Route {
                domain: WS.into(),
                origin: url.clone(),
                path_prefix: Some("/admin".into()),
                allow: Some(vec!["cn:fixture-client".into()]),
                ..Route::default()
            });
            s.routes.push(Route {
                domain: WS.into(),
                origin: url,
                ..Route::default()
            });
        })
        .await;
        let ma = fx.ma(&fx.client_ca.cert().cert_pem, false).await;
        fx.activate(WS, Some(&ma)).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &fx.server_ca.cert().cert_pem).unwrap();
        Some(Env {
            fx,
            py,
            origin,
            ma,
            dir,
        })
    }

    /// The client's certificate and key as files.
    fn files(&self, client: &Issued) -> (PathBuf, PathBuf) {
        let cert = self.dir.path().join("client.pem");
        let key = self.dir.path().join("client-key.pem");
        std::fs::write(&cert, &client.cert_pem).unwrap();
        std::fs::write(&key, &client.key_pem).unwrap();
        (cert, key)
    }

    /// `ws_client.py hold` on `path` over HTTP/1.1, open and echoing.
    async fn hold(&self, client: &Issued, path: &str) -> Script {
        let (cert, key) = self.files(client);
        let args: Vec<String> = vec![
            "hold".into(),
            "--port".into(),
            self.fx.proxy().port().to_string(),
            "--name".into(),
            WS.into(),
            "--path".into(),
            path.into(),
            "--ca".into(),
            self.dir.path().join("ca.pem").display().to_string(),
            "--cert".into(),
            cert.display().to_string(),
            "--key".into(),
            key.display().to_string(),
        ];
        let mut script = self.py.spawn("ws_client.py", &args);
        script.event("open").await;
        script
    }

    /// The close codes the origin saw for each of `paths` (other events are skipped).
    async fn origin_closed(&mut self, paths: &[&str]) -> HashMap<String, Value> {
        let mut seen = HashMap::new();
        while paths.iter().any(|p| !seen.contains_key(*p)) {
            let e = self.origin.event("closed").await;
            let path = e["path"].as_str().unwrap().to_string();
            seen.insert(path, e["code"].clone());
        }
        seen
    }

    /// Upload a CRL of the client CA revoking `client`.
    async fn revoke(&self, client: &Issued) {
        let now = OffsetDateTime::now_utc();
        let crl = self
            .fx
            .client_ca
            .crl(
                &[&client.cert_der],
                1,
                now - time::Duration::hours(1),
                now + time::Duration::days(7),
            )
            .unwrap();
        let doc = json!({"data": {"type": "tls_revocation_list",
            "attributes": {"crl": crl, "name": "revokes the client"},
            "relationships": {"mutual_authentication": {"data": {"type": "mutual_authentication", "id": self.ma}}}}});
        let r = self.fx.h.post("/tls/revocation_lists", doc).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
}

/// An HTTP/2 connection to `ws.test` presenting `client`: its sender, once the server's
/// SETTINGS (extended CONNECT enabled) arrived with the answer to one ordinary request.
async fn h2(env: &Env, client: &Issued) -> SendRequest<Empty<Bytes>> {
    let shaken = TlsClient::new(&env.fx.server_ca, WS)
        .cert(client)
        .h2()
        .handshake(env.fx.proxy())
        .await
        .unwrap();
    let (mut send, mut conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(shaken.stream))
        .await
        .unwrap();
    let probe = send.send_request(get("/"));
    tokio::pin!(probe);
    tokio::select! {
        r = &mut probe => { r.unwrap(); }
        r = &mut conn => panic!("connection ended: {r:?}"),
    }
    assert!(conn.is_extended_connect_protocol_enabled());
    tokio::spawn(conn);
    send
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("https://{WS}{path}"))
        .body(Empty::new())
        .unwrap()
}

/// A WebSocket over an extended CONNECT stream of `send`.
async fn tunnel(send: &mut SendRequest<Empty<Bytes>>, path: &str) -> Tunnel {
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("https://{WS}{path}"))
        .header("sec-websocket-version", "13")
        .body(Empty::new())
        .unwrap();
    req.extensions_mut()
        .insert(Protocol::from_static("websocket"));
    let response = send.send_request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await
}

async fn echoes(ws: &mut Tunnel, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text));
}

/// The tunnel ends without a close frame: its stream was closed under it.
async fn ended(ws: &mut Tunnel, what: &str) {
    // A send may still be accepted locally; the next read sees the end.
    let _ = ws.send(Message::text("anyone there?")).await;
    match ws.next().await {
        None | Some(Err(_)) => {}
        Some(Ok(m)) => panic!("{what}: the tunnel is still open ({m:?})"),
    }
}

/// An HTTP/1.1 tunnel held by `script` is closed (code 1006: no close frame).
async fn closed(script: &mut Script, what: &str) {
    script.send("wait").await;
    let e = script.next().await;
    assert_eq!(e["event"], "closed", "{what}: {e}");
    assert_eq!(e["code"], 1006, "{what}: {e}");
}

async fn still_echoes(script: &mut Script, text: &str) {
    script.send(&format!("echo {text}")).await;
    let e = script.next().await;
    assert_eq!(e["event"], "echo", "{e}");
    assert_eq!(e["text"], text);
}

#[tokio::test]
async fn a_revocation_closes_the_tunnels_whose_route_now_refuses_and_only_those() {
    tokio::time::timeout(BOUND, async {
        let Some(mut env) = Env::new().await else {
            return;
        };
        let client = env.fx.client(Validity::Current);
        let mut admin_h1 = env.hold(&client, "/admin/h1").await;
        let mut open_h1 = env.hold(&client, "/h1").await;
        let mut send = h2(&env, &client).await;
        let mut admin_h2 = tunnel(&mut send, "/admin/h2").await;
        let mut open_h2 = tunnel(&mut send, "/h2").await;
        echoes(&mut admin_h2, "admitted by its CN").await;
        echoes(&mut open_h2, "admitted by anyone").await;
        still_echoes(&mut admin_h1, "admitted").await;

        // A change that still admits the client changes nothing for its tunnels.
        env.fx.activate("other.test", None).await;
        echoes(&mut admin_h2, "still").await;
        still_echoes(&mut admin_h1, "still").await;

        // Revoked: fail-open, so the connections carry on as `revoked`; `/admin` now refuses
        // them, so its tunnels close, on both sides; the others stay open.
        env.revoke(&client).await;
        closed(&mut admin_h1, "HTTP/1.1 tunnel on /admin").await;
        ended(&mut admin_h2, "HTTP/2 tunnel on /admin").await;
        let seen = env.origin_closed(&["/admin/h1", "/admin/h2"]).await;
        assert_eq!(seen["/admin/h1"], 1006, "{seen:?}");
        assert_eq!(seen["/admin/h2"], 1006, "{seen:?}");
        still_echoes(&mut open_h1, "after").await;
        echoes(&mut open_h2, "after").await;

        // New requests on the same HTTP/2 connection: 403 on /admin with the new verdict, and
        // a new tunnel elsewhere whose origin is told `revoked`.
        let refused = send.send_request(get("/admin/x")).await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(refused.headers()["client-cert-verdict"], "revoked");
        let mut headers = tunnel(&mut send, "/headers").await;
        let first = headers.next().await.unwrap().unwrap();
        let seen: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
        assert_eq!(seen["client-cert-verdict"], "revoked", "{seen}");
    })
    .await
    .expect("the test hung");
}

#[tokio::test]
async fn an_expired_certificate_closes_its_tunnel_on_a_route_with_rules() {
    tokio::time::timeout(BOUND, async {
        let Some(mut env) = Env::new().await else {
            return;
        };
        let not_after = OffsetDateTime::now_utc() + time::Duration::seconds(4);
        let client = env.fx.client(Validity::Until(not_after));
        let mut admin = env.hold(&client, "/admin/expiring").await;
        let mut open = env.hold(&client, "/expiring").await;
        still_echoes(&mut admin, "before").await;
        let left = not_after - OffsetDateTime::now_utc() + time::Duration::milliseconds(1500);
        if left.is_positive() {
            tokio::time::sleep(left.unsigned_abs()).await;
        }
        assert!(OffsetDateTime::now_utc() > not_after + time::Duration::SECOND);
        // Nothing but the clock changed: the connection (an HTTP/1.1 socket handed to its
        // tunnel) is judged `expired`, which `/admin` refuses.
        closed(&mut admin, "tunnel on /admin after the expiry").await;
        let seen = env.origin_closed(&["/admin/expiring"]).await;
        assert_eq!(seen["/admin/expiring"], 1006, "{seen:?}");
        still_echoes(&mut open, "after").await;
    })
    .await
    .expect("the test hung");
}
