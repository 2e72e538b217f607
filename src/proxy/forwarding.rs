//! Request headers toward the origin: hop-by-hop headers dropped (but `te: trailers`, which
//! gRPC needs end to end), every header the proxy owns stripped from the client's request first
//! (rule 3, docs/architecture.md), then forwarding and client-certificate headers set.

use std::net::IpAddr;

use http::header::{HeaderName, HeaderValue, CONNECTION, TE};
use http::HeaderMap;

use super::cert_headers::{strip_untrusted, xfcc_name, PrebuiltCertHeaders};

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
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
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

/// Prepare the headers of a request for the origin; `xfcc` is the connection's
/// `x-forwarded-client-cert` value when it is to be sent.
pub fn prepare(
    headers: &mut HeaderMap,
    peer: IpAddr,
    authority: &str,
    cert: &PrebuiltCertHeaders,
    xfcc: Option<&HeaderValue>,
) {
    let trailers = accepts_trailers(headers);
    remove_hop_by_hop(headers);
    // `te: trailers` is the one TE value HTTP/2 allows; gRPC servers require it. Other
    // transfer codings are this hop's business and stay dropped.
    if trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
    strip_untrusted(headers);
    let ip = peer.to_string();
    let host = HeaderValue::from_str(authority).ok();
    if let Ok(v) = HeaderValue::from_str(&ip) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    if let Some(h) = &host {
        headers.insert("x-forwarded-host", h.clone());
    }
    let node = match peer {
        IpAddr::V6(_) => format!("\"[{ip}]\""),
        IpAddr::V4(_) => ip,
    };
    // The authority was validated by canonical_host (no quotes or controls), so quoting it
    // as an RFC 7239 quoted-string is safe.
    let forwarded = format!("for={node};proto=https;host=\"{authority}\"");
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert("forwarded", v);
    }
    // A full HeaderMap cannot take more headers: the request then goes without them, which
    // the origin sees as "no certificate headers" rather than a forged value (all stripped).
    let _ = cert.apply(headers);
    if let Some(value) = xfcc {
        let _ = headers.try_insert(xfcc_name(), value.clone());
    }
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
            peer,
            "api.example.com:8443",
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
            prepare(&mut h, peer, "h", &PrebuiltCertHeaders::default(), None);
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
            "::1".parse().unwrap(),
            "h",
            &PrebuiltCertHeaders::default(),
            None,
        );
        assert_eq!(h["forwarded"], "for=\"[::1]\";proto=https;host=\"h\"");
    }
}
