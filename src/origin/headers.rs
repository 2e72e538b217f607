//! Request rewriting towards an origin (URI, Host, version) and hop-by-hop header removal
//! on origin responses.

use http::header::{
    HeaderName, HeaderValue, CONNECTION, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, Request, Uri, Version};
use hyper::body::{Body, Bytes};

use super::body::{boxed, BoxError, ProxyBody};
use super::error::OriginError;

/// Points `req` at `scheme://authority` keeping its path and query, sets Host (unless
/// `preserve_host` and the request has one), and boxes the body without buffering it.
pub(super) fn to_origin<B>(
    req: Request<B>,
    scheme: Scheme,
    authority: &str,
    preserve_host: bool,
) -> Result<Request<ProxyBody>, OriginError>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.uri = Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path)
        .build()
        .map_err(|e| OriginError::InvalidRequest(format!("origin URI: {e}")))?;
    // The pooled client picks HTTP/1.1 per connection; an HTTP/2 version left over from the
    // incoming request would make it refuse the request on an HTTP/1.1 connection.
    parts.version = Version::HTTP_11;
    if !(preserve_host && parts.headers.contains_key(HOST)) {
        let host = HeaderValue::from_str(authority)
            .map_err(|e| OriginError::InvalidRequest(format!("origin authority: {e}")))?;
        parts.headers.insert(HOST, host);
    }
    Ok(Request::from_parts(parts, boxed(body)))
}

/// Removes hop-by-hop headers: the fixed RFC 9110 §7.6.1 set plus any named in Connection.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    let fixed = [
        CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        TRANSFER_ENCODING,
        UPGRADE,
        TE,
        TRAILER,
    ];
    for name in fixed {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;

    fn request(uri: &str, host: Option<&str>) -> Request<Empty<Bytes>> {
        let mut builder = Request::builder().uri(uri).version(Version::HTTP_2);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        builder.body(Empty::new()).unwrap()
    }

    #[test]
    fn rewrites_uri_and_host() {
        let req = request("/a/b?x=1&y", Some("client.example"));
        let out = to_origin(req, Scheme::HTTP, "origin:8080", false).unwrap();
        assert_eq!(out.uri(), "http://origin:8080/a/b?x=1&y");
        assert_eq!(out.headers()[HOST], "origin:8080");
        assert_eq!(out.headers().get_all(HOST).iter().count(), 1);
        assert_eq!(out.version(), Version::HTTP_11);
    }

    #[test]
    fn preserves_host_when_asked_and_present() {
        let req = request("https://ignored.example/p", Some("client.example"));
        let out = to_origin(req, Scheme::HTTPS, "origin:8443", true).unwrap();
        assert_eq!(out.uri(), "https://origin:8443/p");
        assert_eq!(out.headers()[HOST], "client.example");

        let out = to_origin(request("/p", None), Scheme::HTTP, "origin", true).unwrap();
        assert_eq!(out.headers()[HOST], "origin");
    }

    #[test]
    fn empty_path_becomes_slash() {
        let req = request("http://x.example", None);
        let out = to_origin(req, Scheme::HTTP, "o:1", false).unwrap();
        assert_eq!(out.uri(), "http://o:1/");
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "X-Custom, close"),
            ("connection", "x-other"),
            ("x-custom", "1"),
            ("x-other", "2"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("x-kept", "yes"),
            ("content-type", "text/plain"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-kept", "content-type"]);
    }
}
