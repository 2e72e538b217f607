//! HTTP/2 to origins: h2c with prior knowledge, ALPN for https (`auto`, `h1`, `h2`), trailers
//! both ways, `te: trailers`, and bodies streaming both ways at once.

use std::sync::OnceLock;
use std::time::Duration;

use http::{HeaderMap, Request, StatusCode};
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

use super::versatile::{versatile, TlsSide};
use super::{get, quick_options, route, text};
use crate::devpki::Ca;
use crate::model::origin::{OriginHttp, OriginRoute};
use crate::origin::{BoxError, OriginClient, OriginOptions};

const H2_H1: &[&[u8]] = &[b"h2", b"http/1.1"];
const H1_ONLY: &[&[u8]] = &[b"http/1.1"];

/// One server CA for every TLS origin in this file (`'static`, as `TlsSide` borrows it).
pub(super) fn server_ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| Ca::new("Versions test origin CA").unwrap())
}

/// A client trusting `server_ca()`; the temporary CA file lives as long as the test.
pub(super) fn tls_client() -> (OriginClient, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &server_ca().cert().cert_pem).unwrap();
    let opts = OriginOptions {
        ca_file: Some(file.path().to_path_buf()),
        ..quick_options()
    };
    (OriginClient::new(&opts).unwrap(), file)
}

fn with_http(mut route: OriginRoute, http: OriginHttp) -> OriginRoute {
    route.http = http;
    route
}

async fn version_of(client: &OriginClient, route: &OriginRoute) -> String {
    let response = client.send(route, get("/v"), false).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()["x-version"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn h2c_origins_get_http2_with_prior_knowledge() {
    let origin = versatile(None).await;
    let client = super::client();
    let h2c = route(&format!("h2c://{}", origin.addr));
    let http = route(&format!("http://{}", origin.addr));
    assert_eq!(version_of(&client, &h2c).await, "HTTP/2.0");
    assert_eq!(
        version_of(&client, &with_http(http.clone(), OriginHttp::H2)).await,
        "HTTP/2.0"
    );
    assert_eq!(version_of(&client, &http).await, "HTTP/1.1");
    // Concurrent HTTP/2 requests share one connection; the HTTP/1.1 one took its own.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, h2c) = (client.clone(), h2c.clone());
        calls.spawn(async move { version_of(&client, &h2c).await });
    }
    for v in calls.join_all().await {
        assert_eq!(v, "HTTP/2.0");
    }
    assert_eq!(origin.accepted(), 2);
}

#[tokio::test]
async fn https_negotiates_h2_by_alpn_unless_told_otherwise() {
    let both = versatile(Some((
        server_ca(),
        TlsSide {
            alpn: H2_H1,
            client_ca: None,
        },
    )))
    .await;
    let h1_only = versatile(Some((
        server_ca(),
        TlsSide {
            alpn: H1_ONLY,
            client_ca: None,
        },
    )))
    .await;
    let no_alpn = versatile(Some((
        server_ca(),
        TlsSide {
            alpn: &[],
            client_ca: None,
        },
    )))
    .await;
    let (client, _ca) = tls_client();
    let to =
        |o: &super::versatile::Versatile| route(&format!("https://localhost:{}", o.addr.port()));

    assert_eq!(version_of(&client, &to(&both)).await, "HTTP/2.0");
    assert_eq!(
        version_of(&client, &with_http(to(&both), OriginHttp::H1)).await,
        "HTTP/1.1"
    );
    assert_eq!(
        version_of(&client, &with_http(to(&both), OriginHttp::H2)).await,
        "HTTP/2.0"
    );
    assert_eq!(version_of(&client, &to(&h1_only)).await, "HTTP/1.1");
    assert_eq!(version_of(&client, &to(&no_alpn)).await, "HTTP/1.1");
    // `h2` towards an origin without it: refused (ALPN), or spoken with prior knowledge to a
    // server without ALPN, which here also speaks h2; never silently downgraded.
    let err = client
        .send(&with_http(to(&h1_only), OriginHttp::H2), get("/"), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "tls", "{err}");
    assert_eq!(
        version_of(&client, &with_http(to(&no_alpn), OriginHttp::H2)).await,
        "HTTP/2.0"
    );
}

fn trailers(name: &'static str, value: &'static str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(name, value.parse().unwrap());
    map
}

/// Guards against a hang (a buffering regression) without asserting on speed.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after 10 s (buffered?)"))
}

#[tokio::test]
async fn bodies_stream_both_ways_and_trailers_cross_in_both_directions() {
    for origin_tls in [false, true] {
        let (client, _ca) = tls_client();
        let (origin, route) = match origin_tls {
            false => {
                let o = versatile(None).await;
                let r = route(&format!("h2c://{}", o.addr));
                (o, r)
            }
            true => {
                let side = TlsSide {
                    alpn: H2_H1,
                    client_ca: None,
                };
                let o = versatile(Some((server_ca(), side))).await;
                let r = route(&format!("https://localhost:{}", o.addr.port()));
                (o, r)
            }
        };
        let (mut tx, body) = Channel::<Bytes, BoxError>::new(1);
        let req = Request::post("/stream")
            .header("te", "trailers")
            .header("content-type", "application/grpc")
            .body(body)
            .unwrap();
        tx.send_data(Bytes::from_static(b"ping 1")).await.unwrap();
        // The response head arrives while the request body is still open.
        let response = within("response head", client.send(&route, req, false))
            .await
            .unwrap();
        assert_eq!(response.headers()["x-version"], "HTTP/2.0");
        assert_eq!(response.headers()["x-te"], "trailers");
        let mut body = response.into_body();
        // Ping-pong: each frame comes back before the next one is sent.
        for i in 1..=3 {
            let frame = within("echoed frame", body.frame()).await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), format!("ping {i}"));
            if i < 3 {
                let next = Bytes::from(format!("ping {}", i + 1));
                tx.send_data(next).await.unwrap();
            }
        }
        // Request trailers reach the origin, which sends them back as response trailers.
        tx.send_trailers(trailers("grpc-status", "0"))
            .await
            .unwrap();
        drop(tx);
        let rest = within("trailers", body.collect()).await.unwrap();
        assert_eq!(rest.trailers().unwrap()["grpc-status"], "0");
        assert_eq!(origin.accepted(), 1);
    }
}

#[tokio::test]
async fn http1_origins_see_te_trailers_too() {
    let origin = versatile(None).await;
    let req = Request::get("/")
        .header("te", "trailers")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = super::client()
        .send(&route(&format!("http://{}", origin.addr)), req, false)
        .await
        .unwrap();
    assert_eq!(response.headers()["x-version"], "HTTP/1.1");
    assert_eq!(response.headers()["x-te"], "trailers");
    assert_eq!(text(response).await, "");
}

#[tokio::test]
async fn upgrades_always_take_http1() {
    let origin = versatile(Some((
        server_ca(),
        TlsSide {
            alpn: H2_H1,
            client_ca: None,
        },
    )))
    .await;
    let (client, _ca) = tls_client();
    let h2 = with_http(
        route(&format!("https://localhost:{}", origin.addr.port())),
        OriginHttp::H2,
    );
    let response = client.upgrade(&h2, get("/ws"), false).await.unwrap();
    assert_eq!(response.headers()["x-version"], "HTTP/1.1");
    let plain = versatile(None).await;
    let h2c = route(&format!("h2c://{}", plain.addr));
    let response = client.upgrade(&h2c, get("/ws"), false).await.unwrap();
    assert_eq!(response.headers()["x-version"], "HTTP/1.1");
}
