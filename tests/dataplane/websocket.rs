//! WebSocket through the proxy with real implementations on both sides: Python `websockets`
//! as client and origin over HTTP/1.1 upgrades, and hyper's HTTP/2 client with
//! tokio-tungstenite over an RFC 8441 extended CONNECT bridged to the same origin. Echo both
//! ways, close from either side, the client-certificate headers the origin sees on the
//! handshake, tunnels closed by a tightening swap, by the certificate's expiry and by shutdown,
//! other upgrades refused.

use crate::common;

use std::path::PathBuf;

use common::fixture::Fixture;
use common::flows;
use common::python::{Python, Script};
use common::tls_client::{Req, TlsClient};
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::ext::Protocol;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mtls_proxy::devpki::{Issued, Validity};
use mtls_proxy::settings::Route;
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const WS: &str = "ws.test";
const OTHER: &str = "other.test";
const SUBJECT: &str = "CN=fixture-client,O=mtls-proxy development PKI";

/// A proxy routing `ws.test` (enforced mutual authentication) to a `websockets` origin, and
/// the client's files.
struct Env {
    fx: Fixture,
    py: Python,
    origin: Script,
    ma: String,
    client: Issued,
    dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Option<Env> {
        let py = Python::with(&["websockets"])?;
        let mut origin = py.spawn("ws_origin.py", &[] as &[&str]);
        let port = origin.event("ready").await["port"].as_u64().unwrap();
        let fx = Fixture::with_settings(&[WS, OTHER], |s| {
            s.routes.push(Route {
                domain: WS.into(),
                origin: format!("http://127.0.0.1:{port}"),
                ..Route::default()
            });
        })
        .await;
        let ma = fx.ma(&fx.client_ca.cert().cert_pem, true).await;
        fx.activate(WS, Some(&ma)).await;
        let client = fx.client(Validity::Current);
        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [
            ("ca.pem", &fx.server_ca.cert().cert_pem),
            ("client.pem", &client.cert_pem),
            ("client-key.pem", &client.key_pem),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Some(Env {
            fx,
            py,
            origin,
            ma,
            client,
            dir,
        })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ws_client.py SCENARIO` on `path`, presenting the client certificate.
    fn client(&self, scenario: &str, path: &str, extra: &[&str]) -> Script {
        let mut args: Vec<String> = vec![
            scenario.into(),
            "--port".into(),
            self.fx.proxy().port().to_string(),
            "--name".into(),
            WS.into(),
            "--path".into(),
            path.into(),
            "--ca".into(),
            self.file("ca.pem").display().to_string(),
            "--cert".into(),
            self.file("client.pem").display().to_string(),
            "--key".into(),
            self.file("client-key.pem").display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        self.py.spawn("ws_client.py", &args)
    }

    /// The origin's `closed` event for `path`.
    async fn origin_closed(&mut self, path: &str) -> Value {
        loop {
            let e = self.origin.event("closed").await;
            if e["path"] == path {
                return e;
            }
        }
    }
}

/// What the origin saw on the handshake: the proxy's headers, never the client's forgeries.
fn assert_handshake_headers(env: &Env, headers: &Value) {
    assert_eq!(headers["client-cert-verdict"], "ok", "{headers}");
    assert_eq!(headers["client-cert-subject"], SUBJECT);
    assert_eq!(
        headers["client-cert-mutual-authentication"],
        env.ma.as_str()
    );
    let sha = common::tls_client::sha256_hex(&env.client.cert_der);
    assert_eq!(headers["client-cert-sha256"], sha.as_str());
    assert_eq!(headers["x-forwarded-proto"], "https");
    assert_eq!(
        headers["upgrade"].as_str().unwrap().to_lowercase(),
        "websocket"
    );
    assert!(headers["sec-websocket-key"].is_string(), "{headers}");
    let host = headers["host"].as_str().unwrap();
    assert!(host.starts_with(WS), "{host}");
}

#[tokio::test]
async fn websocket_echo_both_ways_with_client_certificate_headers_then_client_close() {
    let Some(mut env) = Env::new().await else {
        return;
    };
    let forged = [
        "--header",
        "Client-Cert-Verdict:forged",
        "--subprotocol",
        "chat",
    ];
    let mut client = env.client("echo", "/headers?room=1", &forged);
    let result = client.event("result").await;
    assert_eq!(result["text"], "hello through the proxy");
    assert_eq!(
        result["binary"],
        serde_json::json!([0, 1, 98, 105, 110, 97, 114, 121, 255])
    );
    assert_eq!(result["subprotocol"], "chat");
    assert_eq!(result["close_code"], 1000);
    assert_handshake_headers(&env, &result["headers"]);
    assert_eq!(result["headers"]["sec-websocket-protocol"], "chat");
    assert_eq!(client.exit().await, Some(0), "{}", client.stderr());
    // The client's close handshake reached the origin.
    let closed = env.origin_closed("/headers?room=1").await;
    assert_eq!(closed["code"], 1000, "{closed}");
    assert_eq!(closed["reason"], "done");
}

#[tokio::test]
async fn the_origin_closing_reaches_the_client() {
    let Some(env) = Env::new().await else { return };
    let mut client = env.client("origin-closes", "/close", &[]);
    let closed = client.event("closed").await;
    assert_eq!(closed["code"], 4001, "{closed}");
    assert_eq!(closed["reason"], "bye x");
    assert_eq!(client.exit().await, Some(0), "{}", client.stderr());
}

#[tokio::test]
async fn a_tightening_swap_closes_the_tunnel_and_others_do_not() {
    let Some(mut env) = Env::new().await else {
        return;
    };
    let mut client = env.client("hold", "/echo", &[]);
    client.event("open").await;
    client.send("echo one").await;
    assert_eq!(client.event("echo").await["text"], "one");

    // A change that still admits the connection (another domain activated) keeps the tunnel.
    env.fx.activate(OTHER, None).await;
    client.send("echo two").await;
    assert_eq!(client.event("echo").await["text"], "two");

    // The bundle no longer trusts the client: the tunnel is closed, on both sides.
    let other_ca = env.fx.other_ca.cert().cert_pem.clone();
    let r = flows::set_bundle(&env.fx.h, &env.ma, &other_ca).await;
    assert_eq!(r.status, 200);
    client.send("wait").await;
    let closed = client.next().await;
    assert_eq!(closed["event"], "closed", "{closed}");
    // No close frame came: the connection itself was closed.
    assert_eq!(closed["code"], 1006, "{closed}");
    let origin_side = env.origin_closed("/echo").await;
    assert_eq!(origin_side["code"], 1006, "{origin_side}");
}

#[tokio::test]
async fn shutdown_closes_open_tunnels() {
    let Some(mut env) = Env::new().await else {
        return;
    };
    let mut client = env.client("hold", "/echo", &[]);
    client.event("open").await;
    let running = env.fx.h.running.take().unwrap();
    running.shutdown().await.unwrap();
    client.send("wait").await;
    assert_eq!(client.event("closed").await["code"], 1006);
    assert_eq!(env.origin_closed("/echo").await["code"], 1006);
}

#[tokio::test]
async fn an_http1_tunnel_does_not_outlive_its_certificate() {
    let Some(mut env) = Env::new().await else {
        return;
    };
    // The socket of an HTTP/1.1 upgrade belongs to the tunnel: the connection is judged over
    // time all the same, and on this enforced domain the expiry ends it.
    let not_after = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    let expiring = env.fx.client(Validity::Until(not_after));
    std::fs::write(env.file("client.pem"), &expiring.cert_pem).unwrap();
    std::fs::write(env.file("client-key.pem"), &expiring.key_pem).unwrap();
    let mut client = env.client("hold", "/echo", &[]);
    client.event("open").await;
    let left = not_after - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(1500);
    if left.is_positive() {
        tokio::time::sleep(left.unsigned_abs()).await;
    }
    client.send("wait").await;
    let closed = client.next().await;
    assert_eq!(closed["event"], "closed", "{closed}");
    assert_eq!(closed["code"], 1006, "{closed}");
    assert_eq!(env.origin_closed("/echo").await["code"], 1006);
}

/// An HTTP/2 connection to `ws.test` with the client certificate: its sender, and whether the
/// server's SETTINGS enabled extended CONNECT (read after one ordinary request).
async fn h2_connection(env: &Env) -> (hyper::client::conn::http2::SendRequest<Empty<Bytes>>, bool) {
    let shaken = TlsClient::new(&env.fx.server_ca, WS)
        .cert(&env.client)
        .h2()
        .handshake(env.fx.proxy())
        .await
        .unwrap();
    let (mut send, mut conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(shaken.stream))
        .await
        .unwrap();
    let probe = Request::get(format!("https://{WS}/"))
        .body(Empty::new())
        .unwrap();
    // The origin is a WebSocket server: a plain GET gets its 426, which is fine here.
    let probe = send.send_request(probe);
    tokio::pin!(probe);
    tokio::select! {
        r = &mut probe => { r.unwrap(); }
        r = &mut conn => panic!("connection ended: {r:?}"),
    }
    let enabled = conn.is_extended_connect_protocol_enabled();
    tokio::spawn(conn);
    (send, enabled)
}

fn extended_connect(path: &str, protocol: &'static str) -> Request<Empty<Bytes>> {
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("https://{WS}{path}"))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "chat")
        .header("client-cert-verdict", "forged")
        .body(Empty::new())
        .unwrap();
    req.extensions_mut().insert(Protocol::from_static(protocol));
    req
}

#[tokio::test]
async fn websocket_over_http2_extended_connect_is_bridged_to_an_http1_origin() {
    let Some(mut env) = Env::new().await else {
        return;
    };
    let (mut send, enabled) = h2_connection(&env).await;
    assert!(enabled, "SETTINGS_ENABLE_CONNECT_PROTOCOL not advertised");
    let response = send
        .send_request(extended_connect("/headers?h2=1", "websocket"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
    assert!(response.headers().get("sec-websocket-accept").is_none());
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;

    let first = ws.next().await.unwrap().unwrap();
    let headers: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_handshake_headers(&env, &headers);
    assert_eq!(headers["sec-websocket-version"], "13");
    ws.send(Message::text("over h2")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("over h2"));
    let blob = vec![7u8; 100_000];
    ws.send(Message::binary(blob.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(blob));
    // The close handshake crosses the bridge; then the client ends its stream, as a browser
    // does once the server's close frame came.
    ws.close(None).await.unwrap();
    assert!(matches!(ws.next().await, Some(Ok(Message::Close(None)))));
    assert!(ws.next().await.is_none());
    drop(ws);
    let closed = env.origin_closed("/headers?h2=1").await;
    assert_eq!(closed["code"], 1005, "{closed}");

    // The HTTP/2 connection carries on: another stream works after the tunnel.
    let again = send
        .send_request(extended_connect("/echo", "websocket"))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn other_upgrades_and_plain_connect_are_refused_with_a_clear_status() {
    let Some(env) = Env::new().await else { return };
    let h1 = TlsClient::new(&env.fx.server_ca, WS).cert(&env.client);
    let h2c = Req::get(WS)
        .header("Connection", "Upgrade, HTTP2-Settings")
        .header("Upgrade", "h2c")
        .header("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA");
    let reply = h1.fetch(env.fx.proxy(), &h2c).await.unwrap();
    assert_eq!(reply.status, 501);
    let doc = reply.json();
    assert_eq!(doc["error"], "upgrade_not_supported");
    assert!(doc["detail"].as_str().unwrap().contains("h2c"), "{doc}");

    let (mut send, _) = h2_connection(&env).await;
    let reply = send
        .send_request(extended_connect("/", "connect-udp"))
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::NOT_IMPLEMENTED);
    let plain = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("{WS}:443"))
        .body(Empty::new())
        .unwrap();
    let reply = send.send_request(plain).await.unwrap();
    assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED);
}
