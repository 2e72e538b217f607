//! Spoofed certificate and forwarding headers (rule 3, docs/architecture.md): whatever a client
//! sends under any of the names the proxy owns — in any case, repeated, over HTTP/1.1 or HTTP/2, on
//! enforced, fail-open and plain domains — the origin sees only the proxy's own values, or nothing.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::HashMap;

use common::fixture::Fixture;
use common::tls_client::{rfc9440, seen, sha256_hex, Proto, Req, TlsClient, PROTOS};
use common::Reply;
use mtls_proxy::devpki::{Issued, Validity};
use mtls_proxy::proxy::cert_headers::STRIPPED;

const ENFORCED: &str = "enforced.example.com";
const OPEN: &str = "open.example.com";
const PLAIN: &str = "plain.example.com";
const SPOOF: &str = "spoofed";

/// Every owned header name twice: lower-case, and upper-case (HTTP/1.1 puts title case on the
/// wire too; HTTP/2 lower-cases, as it must).
fn spoofed(req: Req) -> Req {
    // A header the proxy does not own: proves the client's extra headers do get through.
    let mut req = req.header("x-control", "sent");
    for name in STRIPPED {
        req = req
            .header(name, &format!("{SPOOF}-1"))
            .header(&name.to_uppercase(), &format!("{SPOOF}-2"));
    }
    req
}

struct Setup {
    f: Fixture,
    ma_enforced: String,
    ma_open: String,
}

async fn setup(xfcc: bool) -> Setup {
    let f = Fixture::with_settings(&[ENFORCED, OPEN, PLAIN], |s| s.proxy.xfcc = xfcc).await;
    let pem = f.client_ca.cert().cert_pem.clone();
    let ma_enforced = f.ma(&pem, true).await;
    let ma_open = f.ma(&pem, false).await;
    f.activate(ENFORCED, Some(&ma_enforced)).await;
    f.activate(OPEN, Some(&ma_open)).await;
    f.activate(PLAIN, None).await;
    Setup {
        f,
        ma_enforced,
        ma_open,
    }
}

async fn send(s: &Setup, domain: &str, cert: Option<&Issued>, proto: Proto) -> Reply {
    let mut c = TlsClient::new(&s.f.server_ca, domain).proto(proto);
    if let Some(cert) = cert {
        c = c.cert(cert);
    }
    c.fetch(s.f.proxy(), &spoofed(Req::get(domain)))
        .await
        .unwrap()
}

/// No spoofed value anywhere, and the forwarding headers are exactly the proxy's.
fn assert_clean(h: &HashMap<String, String>, domain: &str, ctx: &str) {
    assert_eq!(
        h.get("x-control").map(String::as_str),
        Some("sent"),
        "{ctx}"
    );
    for (name, value) in h {
        assert!(!value.contains(SPOOF), "{ctx}: {name}: {value}");
    }
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{ctx}");
    assert_eq!(h["x-forwarded-proto"], "https", "{ctx}");
    assert_eq!(h["x-forwarded-host"], domain, "{ctx}");
    assert_eq!(
        h["forwarded"],
        format!("for=127.0.0.1;proto=https;host=\"{domain}\""),
        "{ctx}"
    );
}

/// The client-certificate headers the origin saw, by name.
fn cert_headers(h: &HashMap<String, String>) -> Vec<&str> {
    let mut names: Vec<&str> = h
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with("client-cert") || *k == "x-forwarded-client-cert")
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn spoofed_headers_never_reach_the_origin() {
    let s = setup(false).await;
    let client = s.f.client(Validity::Current);
    let expired = s.f.client(Validity::Expired);
    for proto in PROTOS {
        let ctx = format!("{proto:?} enforced");
        let h = seen(&send(&s, ENFORCED, Some(&client), proto).await);
        assert_clean(&h, ENFORCED, &ctx);
        assert_eq!(h["client-cert-verdict"], "ok", "{ctx}");
        assert_eq!(h["client-cert"], rfc9440(&client.cert_der), "{ctx}");
        assert_eq!(
            h["client-cert-sha256"],
            sha256_hex(&client.cert_der),
            "{ctx}"
        );
        assert_eq!(
            h["client-cert-mutual-authentication"], s.ma_enforced,
            "{ctx}"
        );
        assert!(!h.contains_key("client-cert-chain"), "{ctx}");
        assert!(!h.contains_key("x-forwarded-client-cert"), "{ctx}");

        let ctx = format!("{proto:?} fail-open, no certificate");
        let h = seen(&send(&s, OPEN, None, proto).await);
        assert_clean(&h, OPEN, &ctx);
        assert_eq!(
            cert_headers(&h),
            ["client-cert-mutual-authentication", "client-cert-verdict"],
            "{ctx}"
        );
        assert_eq!(h["client-cert-verdict"], "missing", "{ctx}");
        assert_eq!(h["client-cert-mutual-authentication"], s.ma_open, "{ctx}");

        let ctx = format!("{proto:?} fail-open, expired certificate");
        let h = seen(&send(&s, OPEN, Some(&expired), proto).await);
        assert_clean(&h, OPEN, &ctx);
        assert_eq!(h["client-cert-verdict"], "expired", "{ctx}");
        assert_eq!(h["client-cert"], rfc9440(&expired.cert_der), "{ctx}");

        let ctx = format!("{proto:?} no mutual authentication");
        let h = seen(&send(&s, PLAIN, None, proto).await);
        assert_clean(&h, PLAIN, &ctx);
        assert!(cert_headers(&h).is_empty(), "{ctx}: {h:?}");
    }
}

/// XFCC enabled: the proxy's element for a verified certificate, and nothing at all (not the
/// client's) for any other verdict or on a plain domain.
#[tokio::test]
async fn spoofed_xfcc_is_replaced_or_removed() {
    let s = setup(true).await;
    let client = s.f.client(Validity::Current);
    let stranger = s.f.other_ca.issue_client("x", Validity::Current).unwrap();
    for proto in PROTOS {
        let h = seen(&send(&s, ENFORCED, Some(&client), proto).await);
        assert_clean(&h, ENFORCED, &format!("{proto:?}"));
        let xfcc = &h["x-forwarded-client-cert"];
        assert!(
            xfcc.contains(&format!("Hash={}", sha256_hex(&client.cert_der))),
            "{xfcc}"
        );
        let h = seen(&send(&s, OPEN, Some(&stranger), proto).await);
        assert_clean(&h, OPEN, &format!("{proto:?}"));
        assert_eq!(h["client-cert-verdict"], "unknown_ca");
        assert!(!h.contains_key("x-forwarded-client-cert"), "{h:?}");
        let h = seen(&send(&s, PLAIN, None, proto).await);
        assert!(cert_headers(&h).is_empty(), "{h:?}");
    }
}

/// Raw HTTP/1.1 with names in odd mixed case, repeated, and a Connection header that names
/// the proxy's own headers as hop-by-hop (so that stripping them later would remove the
/// proxy's values): the origin still gets exactly the proxy's values.
#[tokio::test]
async fn mixed_case_and_connection_tricks_over_raw_http1() {
    let s = setup(false).await;
    let client = s.f.client(Validity::Current);
    let mut raw = format!("GET / HTTP/1.1\r\nHost: {ENFORCED}\r\nX-Control: sent\r\n");
    for name in STRIPPED {
        let weird: String = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        raw.push_str(&format!("{weird}: {SPOOF}-a\r\n{name}: {SPOOF}-b\r\n"));
    }
    raw.push_str("Connection: close, client-cert-verdict, X-Forwarded-For, forwarded\r\n\r\n");
    let reply = TlsClient::new(&s.f.server_ca, ENFORCED)
        .cert(&client)
        .handshake(s.f.proxy())
        .await
        .unwrap()
        .raw(raw.as_bytes())
        .await
        .unwrap();
    let h = seen(&reply);
    assert_clean(&h, ENFORCED, "raw");
    assert_eq!(h["client-cert-verdict"], "ok");
    assert_eq!(h["client-cert"], rfc9440(&client.cert_der));
    assert!(!h.contains_key("connection"), "{h:?}");
}
