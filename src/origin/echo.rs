//! The built-in `echo` origin: answers 200 with a JSON description of the request it got,
//! so local mTLS tests and the quickstart can show exactly what an origin sees.

use std::collections::BTreeMap;
use std::pin::pin;

use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Bytes};
use serde::Serialize;

use super::body::{json_response, ProxyBody};

/// Most request-body bytes the echo origin reads (and discards) before answering. Reading
/// the body lets the client connection stay keep-alive; the cap stops a large upload from
/// tying the echo origin up — beyond it the echo answers anyway and stops reading.
pub const ECHO_READ_LIMIT: usize = 1024 * 1024;

/// What the echo origin reports. Field order is the output order.
#[derive(Serialize)]
struct EchoDoc<'a> {
    method: &'a str,
    path: &'a str,
    headers: BTreeMap<String, String>,
}

/// Drains up to [`ECHO_READ_LIMIT`] bytes of the body, then describes the request.
pub(super) async fn answer<B>(req: Request<B>) -> Response<ProxyBody>
where
    B: Body<Data = Bytes>,
{
    let (parts, body) = req.into_parts();
    drain(body, ECHO_READ_LIMIT).await;
    json_response(StatusCode::OK, &describe(&parts))
}

/// Reads and discards frames until the body ends, fails, or more than `limit` bytes came.
async fn drain<B: Body<Data = Bytes>>(body: B, limit: usize) {
    let mut body = pin!(body);
    let mut seen = 0usize;
    while seen <= limit {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, Bytes::len),
            // The client's failure is its own; the echo still answers.
            Some(Err(_)) | None => break,
        }
    }
}

fn describe(parts: &Parts) -> EchoDoc<'_> {
    EchoDoc {
        method: parts.method.as_str(),
        path: parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        headers: header_map(&parts.headers),
    }
}

/// Lower-case names (sorted); repeated headers joined with ", " in arrival order; values
/// that are not UTF-8 rendered lossily.
fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .keys()
        .map(|name| {
            let values: Vec<_> = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
                .collect();
            (name.as_str().to_owned(), values.join(", "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CONTENT_TYPE;
    use http::HeaderValue;
    use http_body_util::Full;
    use hyper::body::Frame;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    async fn body_text(response: Response<ProxyBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn describes_request_exactly() {
        let req = Request::builder()
            .method("POST")
            .uri("/submit/form?a=1&b=two%20words")
            .header("Host", "localhost:8443")
            .header("X-Multi", "first")
            .header("Accept", "*/*")
            .header("x-multi", "second")
            .header("X-Binary", HeaderValue::from_bytes(b"caf\xe9").unwrap())
            .header("Content-Length", "11")
            .body(Full::new(Bytes::from_static(b"hello world")))
            .unwrap();
        let response = answer(req).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let expected = r#"{
  "method": "POST",
  "path": "/submit/form?a=1&b=two%20words",
  "headers": {
    "accept": "*/*",
    "content-length": "11",
    "host": "localhost:8443",
    "x-binary": "caf\ufffd",
    "x-multi": "first, second"
  }
}
"#
        .replace("\\ufffd", "\u{fffd}");
        assert_eq!(body_text(response).await, expected);
    }

    #[tokio::test]
    async fn path_defaults_to_slash_and_headers_may_be_empty() {
        let req = Request::builder()
            .uri("http://h")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&body_text(answer(req).await).await).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"method": "GET", "path": "/", "headers": {}})
        );
    }

    /// A body of `left` 64 KiB chunks that counts how many were pulled.
    struct ChunkBody {
        left: usize,
        pulled: Arc<AtomicUsize>,
    }

    impl Body for ChunkBody {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            self.left -= 1;
            self.pulled.fetch_add(1, Ordering::SeqCst);
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 64 * 1024])))))
        }
    }

    fn counted_body(left: usize, pulled: Arc<AtomicUsize>) -> ChunkBody {
        ChunkBody { left, pulled }
    }

    #[tokio::test]
    async fn reads_small_bodies_fully_and_stops_after_the_cap() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let req = Request::new(counted_body(4, pulled.clone()));
        assert_eq!(answer(req).await.status(), StatusCode::OK);
        assert_eq!(pulled.load(Ordering::SeqCst), 4);

        // 64 MiB offered; the echo stops just past 1 MiB (17 chunks of 64 KiB) and answers.
        let pulled = Arc::new(AtomicUsize::new(0));
        let req = Request::new(counted_body(1024, pulled.clone()));
        assert_eq!(answer(req).await.status(), StatusCode::OK);
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            ECHO_READ_LIMIT / (64 * 1024) + 1
        );
    }
}
