//! Request headers toward the origin: hop-by-hop headers dropped (but `te: trailers`, which
//! gRPC needs end to end), every header the proxy owns stripped from the client's request first
//! (rule 3, docs/architecture.md), then forwarding and client-certificate headers set.

use std::net::IpAddr;

use http::header::{HeaderName, HeaderValue, CONNECTION, TE};
use http::HeaderMap;

#[cfg(doc)]
use super::cert_headers::strip_untrusted;
use super::cert_headers::{is_untrusted, xfcc_name, PrebuiltCertHeaders};

/// Hop-by-hop headers (RFC 9110 §7.6.1) never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Remove hop-by-hop headers, including those the Connection header names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named = connection_named(headers);
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    remove_proxy_headers(headers);
}

/// Whether the client said it accepts trailers (`TE` lists the `trailers` token).
fn accepts_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let token = t.split(';').next().unwrap_or("").trim();
            token.eq_ignore_ascii_case("trailers")
        })
}

/// Removes `Proxy` (httpoxy, CVE-2016-5385: CGI-style origins read it as `HTTP_PROXY` and send
/// their own outbound requests through the client's proxy) and every `Proxy-*` header: they
/// are about the hop to a proxy, never meant for an origin.
fn remove_proxy_headers(headers: &mut HeaderMap) {
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            let n = n.as_str();
            n == "proxy" || n.starts_with("proxy-") || n.starts_with("proxy_")
        })
        .cloned()
        .collect();
    for name in proxy {
        headers.remove(name);
    }
}

/// Whether a header with this (lower-case) name is never forwarded, whatever its value:
/// hop-by-hop, `Proxy`/`Proxy-*`, or one the proxy sets itself ([`is_untrusted`]).
fn never_forwarded(name: &str) -> bool {
    HOP_BY_HOP.contains(&name)
        || name == "proxy"
        || name.starts_with("proxy-")
        || name.starts_with("proxy_")
        || is_untrusted(name)
}

/// The values of the forwarding headers for one client address and request authority: the
/// same for every request of a connection that names one host, so built once per connection
/// (see `ConnState::forward_for`).
#[derive(Debug, Clone)]
pub struct ForwardFor {
    authority: Box<str>,
    /// `x-forwarded-for`.
    client: Option<HeaderValue>,
    /// `x-forwarded-host`.
    host: Option<HeaderValue>,
    /// RFC 7239 `forwarded`.
    forwarded: Option<HeaderValue>,
}

impl ForwardFor {
    /// The values for requests from `peer` naming `authority`.
    pub fn new(peer: IpAddr, authority: &str) -> ForwardFor {
        let ip = peer.to_string();
        let client = HeaderValue::from_str(&ip).ok();
        let node = match peer {
            IpAddr::V6(_) => format!("\"[{ip}]\""),
            IpAddr::V4(_) => ip,
        };
        // The authority was validated by canonical_host (no quotes or controls), so quoting it
        // as an RFC 7239 quoted-string is safe.
        let forwarded = format!("for={node};proto=https;host=\"{authority}\"");
        ForwardFor {
            authority: authority.into(),
            client,
            host: HeaderValue::from_str(authority).ok(),
            forwarded: HeaderValue::from_str(&forwarded).ok(),
        }
    }

    /// Whether these are the values for requests naming `authority`.
    pub fn names(&self, authority: &str) -> bool {
        &*self.authority == authority
    }
}

/// Prepare the headers of a request for the origin; `xfcc` is the connection's
/// `x-forwarded-client-cert` value when it is to be sent. The same as [`remove_hop_by_hop`]
/// and [`strip_untrusted`] followed by the forwarding and certificate headers, in one pass
/// over the request's names (most requests have nothing to remove).
pub fn prepare(
    headers: &mut HeaderMap,
    forward: &ForwardFor,
    cert: &PrebuiltCertHeaders,
    xfcc: Option<&HeaderValue>,
) {
    let trailers = accepts_trailers(headers);
    let mut doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| never_forwarded(name.as_str()))
        .cloned()
        .collect();
    if doomed.contains(&CONNECTION) {
        doomed.extend(connection_named(headers));
    }
    for name in doomed {
        headers.remove(name);
    }
    // `te: trailers` is the one TE value HTTP/2 allows; gRPC servers require it. Other
    // transfer codings are this hop's business and stay dropped.
    if trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
    // Room for everything below at once, instead of growing the map step by step.
    let _ = headers.try_reserve(5 + cert.len());
    if let Some(v) = &forward.client {
        headers.insert(&X_FORWARDED_FOR, v.clone());
    }
    headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    if let Some(v) = &forward.host {
        headers.insert(&X_FORWARDED_HOST, v.clone());
    }
    if let Some(v) = &forward.forwarded {
        headers.insert(&FORWARDED, v.clone());
    }
    // A full HeaderMap cannot take more headers: the request then goes without them, which
    // the origin sees as "no certificate headers" rather than a forged value (all stripped).
    let _ = cert.apply(headers);
    if let Some(value) = xfcc {
        let _ = headers.try_insert(xfcc_name(), value.clone());
    }
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The names the Connection header lists.
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_spoofed_and_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("x-secret, keep-alive"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("5"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("Client-Cert-Verdict", HeaderValue::from_static("ok"));
        h.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("forwarded", HeaderValue::from_static("for=6.6.6.6"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        h.insert(
            "proxy",
            HeaderValue::from_static("http://evil.example:8080"),
        );
        h.insert(
            "proxy-authorization",
            HeaderValue::from_static("Basic eA=="),
        );
        h.insert("proxy-anything", HeaderValue::from_static("1"));
        h.insert("proxy_x", HeaderValue::from_static("1"));
        h.insert("proxyish", HeaderValue::from_static("kept"));
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        prepare(
            &mut h,
            &ForwardFor::new(peer, "api.example.com:8443"),
            &PrebuiltCertHeaders::default(),
            None,
        );
        for gone in [
            "connection",
            "x-secret",
            "keep-alive",
            "client-cert-verdict",
            "proxy",
            "proxy-authorization",
            "proxy-anything",
            "proxy_x",
        ] {
            assert!(h.get(gone).is_none(), "{gone}");
        }
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "api.example.com:8443");
        assert_eq!(
            h["forwarded"],
            "for=127.0.0.1;proto=https;host=\"api.example.com:8443\""
        );
        assert_eq!(h["accept"], "*/*");
        assert_eq!(h["proxyish"], "kept");
        assert_eq!(h["te"], "trailers");
    }

    #[test]
    fn te_trailers_is_passed_and_nothing_else_of_te() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let cases = [
            (vec!["trailers"], Some("trailers")),
            (vec!["gzip, Trailers"], Some("trailers")),
            (vec!["gzip", "trailers;q=1"], Some("trailers")),
            (vec!["gzip, deflate"], None),
            (vec!["trailersx"], None),
        ];
        for (values, want) in cases {
            let mut h = HeaderMap::new();
            // Named by Connection, as HTTP/1.1 clients must: still passed when it is trailers.
            h.insert("connection", HeaderValue::from_static("te"));
            for v in &values {
                h.append("te", HeaderValue::from_str(v).unwrap());
            }
            prepare(
                &mut h,
                &ForwardFor::new(peer, "h"),
                &PrebuiltCertHeaders::default(),
                None,
            );
            let got: Vec<_> = h.get_all("te").iter().collect();
            match want {
                Some(v) => assert_eq!(got, [v], "{values:?}"),
                None => assert!(got.is_empty(), "{values:?}"),
            }
        }
    }

    #[test]
    fn ipv6_forwarded_node_is_quoted() {
        let mut h = HeaderMap::new();
        prepare(
            &mut h,
            &ForwardFor::new("::1".parse().unwrap(), "h"),
            &PrebuiltCertHeaders::default(),
            None,
        );
        assert_eq!(h["forwarded"], "for=\"[::1]\";proto=https;host=\"h\"");
    }
}
