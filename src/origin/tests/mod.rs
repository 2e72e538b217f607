//! End-to-end tests of `OriginClient` against small hyper origins on 127.0.0.1:0.

mod failures;
mod forward;
mod identity;
mod servers;
mod tls;
mod versatile;
mod versions;

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

use super::{OriginClient, OriginOptions, ProxyBody};
use crate::model::origin::{OriginRoute, OriginSpec};

/// Options with short timeouts so failure tests finish quickly.
fn quick_options() -> OriginOptions {
    OriginOptions {
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(5),
        ..OriginOptions::default()
    }
}

fn client() -> OriginClient {
    OriginClient::new(&quick_options()).unwrap()
}

fn http_spec(addr: std::net::SocketAddr) -> OriginRoute {
    route(&format!("http://{addr}"))
}

fn route(spec: &str) -> OriginRoute {
    OriginRoute::new(spec.parse::<OriginSpec>().unwrap())
}

fn get(path: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(path)
        .header("host", "client.example")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

async fn text(response: http::Response<ProxyBody>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}
