//! Forwarding to a plain-HTTP origin: what arrives, Host handling, response headers, pooling.

use std::convert::Infallible;

use http::header::HOST;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::servers::recording_origin;
use super::{client, get, http_spec, text};
use crate::model::origin::{OriginRoute, OriginSpec};
use crate::origin::{error_response, OriginClient};

#[tokio::test]
async fn forwards_method_path_headers_and_body_and_rewrites_host() {
    let mut origin = recording_origin(None).await;
    let req = Request::builder()
        .method("PUT")
        .uri("/items/7?x=1&y=%2F")
        .header("host", "client.example")
        .header("x-forwarded-for", "10.1.2.3")
        .header("x-multi", "a")
        .header("x-multi", "b")
        .body(Full::new(Bytes::from_static(b"payload bytes")))
        .unwrap();
    let response = client()
        .send(&http_spec(origin.addr), req, false)
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-origin"], "yes");
    for hop in ["connection", "x-hop", "keep-alive", "transfer-encoding"] {
        assert!(!response.headers().contains_key(hop), "{hop} leaked");
    }
    assert_eq!(text(response).await, "origin says hi");

    let seen = origin.seen.recv().await.unwrap();
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.uri, "/items/7?x=1&y=%2F");
    assert_eq!(seen.headers[HOST], origin.addr.to_string());
    assert_eq!(seen.headers["x-forwarded-for"], "10.1.2.3");
    let multi: Vec<_> = seen.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["a", "b"]);
    assert_eq!(seen.body, "payload bytes");
}

#[tokio::test]
async fn preserve_host_keeps_the_incoming_host() {
    let mut origin = recording_origin(None).await;
    let response = client()
        .send(&http_spec(origin.addr), get("/p"), true)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = origin.seen.recv().await.unwrap();
    assert_eq!(seen.headers[HOST], "client.example");
    assert_eq!(seen.headers.get_all(HOST).iter().count(), 1);
}

#[tokio::test]
async fn sequential_requests_reuse_one_pooled_connection() {
    let mut origin = recording_origin(None).await;
    let client = client();
    let spec = http_spec(origin.addr);
    for i in 0..5 {
        let response = client.send(&spec, get(&format!("/n/{i}")), false).await;
        // Reading the body to its end hands the connection back to the pool.
        assert_eq!(text(response.unwrap()).await, "origin says hi");
        assert_eq!(origin.seen.recv().await.unwrap().uri, format!("/n/{i}"));
    }
    assert_eq!(origin.accepted(), 1);

    // Clones share the pool.
    let response = client.clone().send(&spec, get("/clone"), false).await;
    assert_eq!(text(response.unwrap()).await, "origin says hi");
    assert_eq!(origin.accepted(), 1);
}

#[tokio::test]
async fn large_bodies_arrive_intact() {
    let mut origin = recording_origin(None).await;
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let req = Request::post("/upload")
        .body(Full::new(Bytes::from(payload.clone())))
        .unwrap();
    let response = client().send(&http_spec(origin.addr), req, false).await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    assert_eq!(origin.seen.recv().await.unwrap().body, payload);
}

#[tokio::test]
async fn echo_spec_answers_locally() {
    let req = Request::post("/e?q=1")
        .header("x-a", "1")
        .header("x-a", "2")
        .body(Full::new(Bytes::from_static(b"ignored body")))
        .unwrap();
    let response = client()
        .send(&OriginRoute::new(OriginSpec::Echo), req, false)
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"method": "POST", "path": "/e?q=1", "headers": {"x-a": "1, 2"}})
    );
}

/// A minimal front server handing `Request<Incoming>` to `send`, as the proxy does: proves
/// hyper's server body satisfies the bounds and streams through.
async fn front(client: OriginClient, spec: OriginRoute) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (client, spec) = (client.clone(), spec.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                let (client, spec) = (client.clone(), spec.clone());
                async move {
                    let response = match client.send(&spec, req, false).await {
                        Ok(response) => response,
                        Err(e) => error_response(&e),
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[tokio::test]
async fn incoming_bodies_stream_through_a_front_server() {
    let mut origin = recording_origin(None).await;
    let front_addr = front(client(), http_spec(origin.addr)).await;
    let outer = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::post(format!("http://{front_addr}/via/front?z=9"))
        .body(Full::new(Bytes::from_static(b"through the front")))
        .unwrap();
    let response = outer.request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "origin says hi");
    let seen = origin.seen.recv().await.unwrap();
    assert_eq!(seen.uri, "/via/front?z=9");
    assert_eq!(seen.body, "through the front");
}
