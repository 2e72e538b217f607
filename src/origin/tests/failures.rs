//! Origin failures: refused, silent, garbage, resets, and a stalled TLS handshake.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::servers::{closed_port, raw_origin};
use super::{client, get, http_spec, quick_options, route};
use crate::origin::{OriginClient, OriginError, OriginOptions};

/// Reads the start of the request so the client has sent it before we misbehave.
async fn read_request(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf).await;
}

async fn send_to(addr: std::net::SocketAddr, opts: OriginOptions) -> OriginError {
    let client = OriginClient::new(&opts).unwrap();
    client
        .send(&http_spec(addr), get("/"), false)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn connection_refused_is_502_connect() {
    let err = send_to(closed_port().await, quick_options()).await;
    assert_eq!(err.kind(), "connect", "{err}");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn silent_origin_is_504_timeout() {
    let addr = raw_origin(|mut stream| async move {
        read_request(&mut stream).await;
        std::future::pending::<()>().await;
        drop(stream);
    })
    .await;
    let opts = OriginOptions {
        response_timeout: Duration::from_millis(300),
        ..quick_options()
    };
    let err = send_to(addr, opts).await;
    assert!(matches!(err, OriginError::Timeout), "{err}");
    assert_eq!(err.kind(), "timeout");
    assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn stalled_tls_handshake_is_504_connect_timeout() {
    // Accepts TCP but never speaks TLS: bounded by connect_timeout, not response_timeout.
    let addr = raw_origin(|mut stream| async move {
        read_request(&mut stream).await;
        std::future::pending::<()>().await;
        drop(stream);
    })
    .await;
    let opts = OriginOptions {
        connect_timeout: Duration::from_millis(300),
        response_timeout: Duration::from_secs(30),
        ..OriginOptions::default()
    };
    let client = OriginClient::new(&opts).unwrap();
    let spec = route(&format!("https://localhost:{}", addr.port()));
    let err = client.send(&spec, get("/"), false).await.unwrap_err();
    assert!(matches!(err, OriginError::ConnectTimeout), "{err}");
    assert_eq!(err.kind(), "timeout");
    assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn garbage_answer_is_502_protocol() {
    let addr = raw_origin(|mut stream| async move {
        read_request(&mut stream).await;
        let _ = stream
            .write_all(b"\x00\x01 this is not http \xff\r\n\r\n")
            .await;
        let _ = stream.shutdown().await;
    })
    .await;
    let err = send_to(addr, quick_options()).await;
    assert_eq!(err.kind(), "protocol", "{err}");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn reset_during_headers_is_an_error() {
    let addr = raw_origin(|mut stream| async move {
        read_request(&mut stream).await;
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
        let _ = stream.set_zero_linger();
        drop(stream);
    })
    .await;
    let err = send_to(addr, quick_options()).await;
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY, "{err}");
    assert_eq!(err.kind(), "protocol", "{err}");
}

#[tokio::test]
async fn reset_during_body_fails_the_body_stream() {
    // The origin resets only once the test holds the response headers, so the failure
    // deterministically lands in the body stream.
    let headers_seen = Arc::new(Notify::new());
    let signal = headers_seen.clone();
    let addr = raw_origin(move |mut stream| {
        let signal = signal.clone();
        async move {
            read_request(&mut stream).await;
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789";
            let _ = stream.write_all(head).await;
            signal.notified().await;
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    })
    .await;
    let response = client()
        .send(&http_spec(addr), get("/"), false)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    headers_seen.notify_one();
    assert!(response.into_body().collect().await.is_err());
}
