//! The built-in `echo` origin: answers 200 with a JSON description of the request it got,
//! so local mTLS tests and the quickstart can show exactly what an origin sees.

use std::borrow::Cow;
use std::io::Write as _;
use std::pin::pin;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Bytes};

use super::body::{full, ProxyBody};

/// Most request-body bytes the echo origin reads (and discards) before answering. Reading
/// the body lets the client connection stay keep-alive; the cap stops a large upload from
/// tying the echo origin up — beyond it the echo answers anyway and stops reading.
pub const ECHO_READ_LIMIT: usize = 1024 * 1024;

/// Drains up to [`ECHO_READ_LIMIT`] bytes of the body, then describes the request.
pub(super) async fn answer<B>(req: Request<B>) -> Response<ProxyBody>
where
    B: Body<Data = Bytes>,
{
    let (parts, body) = req.into_parts();
    drain(body, ECHO_READ_LIMIT).await;
    let mut response = Response::new(full(describe(&parts)));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
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

/// The request as pretty-printed JSON (two-space indents, newline-terminated): `method`,
/// `path` (with the query) and `headers` (see [`header_list`]). Written directly, as
/// serde_json would print it: the certificate headers make it a few KB per request, and the
/// echo origin answers every handshake benchmark.
fn describe(parts: &Parts) -> Vec<u8> {
    let headers = header_list(&parts.headers);
    let size: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 12).sum();
    let mut out = Vec::with_capacity(64 + size);
    out.extend_from_slice(b"{\n  \"method\": ");
    json_string(&mut out, parts.method.as_str());
    out.extend_from_slice(b",\n  \"path\": ");
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    json_string(&mut out, path);
    out.extend_from_slice(b",\n  \"headers\": {");
    for (i, (name, value)) in headers.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
        json_string(&mut out, name);
        out.extend_from_slice(b": ");
        json_string(&mut out, value);
    }
    if !headers.is_empty() {
        out.extend_from_slice(b"\n  ");
    }
    out.extend_from_slice(b"}\n}\n");
    out
}

/// Lower-case names, sorted; repeated headers joined with ", " in arrival order; values that
/// are not UTF-8 rendered lossily.
fn header_list(headers: &HeaderMap) -> Vec<(&str, Cow<'_, str>)> {
    let mut list: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(headers.keys_len());
    // A name's values come one after another.
    for (name, value) in headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        match list.last_mut() {
            Some((last, joined)) if *last == name.as_str() => {
                let joined = joined.to_mut();
                joined.push_str(", ");
                joined.push_str(&text);
            }
            _ => list.push((name.as_str(), text)),
        }
    }
    list.sort_unstable_by(|a, b| a.0.cmp(b.0));
    list
}

/// `text` as a JSON string, escaped as serde_json escapes it.
fn json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        match escape.is_empty() {
            false => out.extend_from_slice(escape),
            true => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
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

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_does() {
        let mut all = String::new();
        for c in (0u8..0x80)
            .map(char::from)
            .chain(['é', '€', '\u{1f600}', '\u{fffd}'])
        {
            all.push(c);
        }
        for text in [
            "",
            "plain",
            "a\"b\\c",
            "tab\there\r\n",
            "\u{7f}\u{1}",
            all.as_str(),
        ] {
            let mut out = Vec::new();
            json_string(&mut out, text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_document_is_what_serde_json_would_print() {
        // The former implementation: a sorted map of joined, lossily decoded values.
        fn reference(parts: &Parts) -> Vec<u8> {
            let mut headers = std::collections::BTreeMap::new();
            for name in parts.headers.keys() {
                let values: Vec<_> = parts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                headers.insert(name.as_str().to_owned(), values.join(", "));
            }
            #[derive(serde::Serialize)]
            struct Doc<'a> {
                method: &'a str,
                path: &'a str,
                headers: std::collections::BTreeMap<String, String>,
            }
            let doc = Doc {
                method: parts.method.as_str(),
                path: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                headers,
            };
            let mut bytes = serde_json::to_vec_pretty(&doc).unwrap();
            bytes.push(b'\n');
            bytes
        }
        let cases = [
            Request::builder().uri("http://h").body(()).unwrap(),
            Request::builder()
                .method("PATCH")
                .uri("/x?q=1&r=a%20b")
                .header("z-last", "1")
                .header("a-first", "tab\tvalue")
                .header("m", "one")
                .header("client-cert", ":AAAA:")
                .header("m", "two")
                .header("bin", HeaderValue::from_bytes(b"\xff\xfe ok").unwrap())
                .header("m", "three")
                .body(())
                .unwrap(),
        ];
        for req in cases {
            let (parts, ()) = req.into_parts();
            assert_eq!(
                String::from_utf8(describe(&parts)).unwrap(),
                String::from_utf8(reference(&parts)).unwrap()
            );
        }
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
