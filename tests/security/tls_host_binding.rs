//! SNI/Host binding (rule 1, docs/architecture.md) through the real listener, in HTTP/1.1 and
//! HTTP/2: every request's authority must name a domain served under the connection's mutual
//! authentication, else 421; a request without a usable authority is 400. Coalescing across domains
//! that share the policy keeps working.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::fixture::Fixture;
use common::tls_client::{seen, Conn, Proto, Req, TlsClient, PROTOS};
use mtls_proxy::devpki::Validity;

const A: &str = "a.example.com";
const B: &str = "b.example.com";
const C: &str = "c.example.com";
const PLAIN: &str = "plain.example.com";
const WILD: &str = "*.w.example.com";
const EXACT: &str = "x.w.example.com";
const NOT_ACTIVATED: &str = "nowhere.example.com";

/// A and C share MA1, B and the exact `x.w` have MA2 (same CA, another policy), the wildcard
/// `*.w` has MA1, PLAIN has none. The client is trusted by both.
async fn setup() -> Fixture {
    let f = Fixture::new(&[A, B, C, PLAIN, WILD, EXACT]).await;
    let pem = f.client_ca.cert().cert_pem.clone();
    let ma1 = f.ma(&pem, true).await;
    let ma2 = f.ma(&pem, true).await;
    f.activate(A, Some(&ma1)).await;
    f.activate(C, Some(&ma1)).await;
    f.activate(WILD, Some(&ma1)).await;
    f.activate(B, Some(&ma2)).await;
    f.activate(EXACT, Some(&ma2)).await;
    f.activate(PLAIN, None).await;
    f
}

async fn connect(f: &Fixture, sni: &str, proto: Proto) -> Conn {
    let conn = TlsClient::new(&f.server_ca, sni)
        .proto(proto)
        .cert(&f.client(Validity::Current))
        .connect(f.proxy())
        .await
        .unwrap();
    let expected: &[u8] = match proto {
        Proto::H1 => b"http/1.1",
        Proto::H2 => b"h2",
    };
    assert_eq!(conn.facts.alpn.as_deref(), Some(expected));
    conn
}

/// Send every request on one connection and check each status (so HTTP/2 coalescing and
/// HTTP/1.1 keep-alive are exercised as well).
async fn expect(conn: &mut Conn, cases: &[(Req, u16)], ctx: &str) {
    for (req, status) in cases {
        let reply = conn.send(req).await.unwrap();
        assert_eq!(
            reply.status,
            *status,
            "{ctx}: {req:?}: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }
}

#[tokio::test]
async fn other_hosts_are_misdirected_unless_they_share_the_policy() {
    let f = setup().await;
    for proto in PROTOS {
        let mut conn = connect(&f, A, proto).await;
        let cases = [
            (Req::get(B), 421),
            (Req::get(NOT_ACTIVATED), 421),
            (Req::get(PLAIN), 421),
            (Req::get(EXACT), 421),
            // Same mutual authentication: served on this connection (coalescing).
            (Req::get(C), 200),
            (Req::get("y.w.example.com"), 200),
            (Req::get(A), 200),
        ];
        expect(&mut conn, &cases, &format!("{proto:?} on {A}")).await;
        // What the origin sees for a coalesced request is this connection's identity, and
        // forwarding headers naming the host of each request (built once per connection for
        // its first host: never reused for another).
        for host in [C, A, C] {
            let h = seen(&conn.send(&Req::get(host)).await.unwrap());
            assert_eq!(h["client-cert-verdict"], "ok");
            assert_eq!(h["host"], host);
            assert_eq!(h["x-forwarded-host"], host, "{proto:?}");
            assert_eq!(
                h["forwarded"],
                format!("for=127.0.0.1;proto=https;host=\"{host}\""),
                "{proto:?}"
            );
            assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        }
    }
}

#[tokio::test]
async fn case_trailing_dot_and_port_variants_name_the_same_domain() {
    let f = setup().await;
    for proto in PROTOS {
        let mut conn = connect(&f, A, proto).await;
        let same = [
            "A.EXAMPLE.COM",
            "a.Example.com",
            "a.example.com.",
            "a.example.com:443",
            "a.example.com:8443",
            "A.Example.COM.:443",
        ];
        let cases: Vec<_> = same.iter().map(|h| (Req::get(h), 200)).collect();
        expect(&mut conn, &cases, &format!("{proto:?}")).await;
        // The same variants of another policy's domain stay misdirected.
        let other = ["B.EXAMPLE.COM", "b.example.com.", "b.example.com:443"];
        let cases: Vec<_> = other.iter().map(|h| (Req::get(h), 421)).collect();
        expect(&mut conn, &cases, &format!("{proto:?}")).await;
    }
}

#[tokio::test]
async fn wildcard_and_exact_with_different_policies_do_not_mix() {
    let f = setup().await;
    for proto in PROTOS {
        let mut on_wild = connect(&f, "y.w.example.com", proto).await;
        let cases = [
            (Req::get(EXACT), 421),
            (Req::get("X.W.EXAMPLE.COM."), 421),
            (Req::get("z.w.example.com"), 200),
            (Req::get(A), 200),
            (Req::get("a.b.w.example.com"), 421),
            (Req::get("w.example.com"), 421),
        ];
        expect(&mut on_wild, &cases, &format!("{proto:?} on wildcard")).await;
        let mut on_exact = connect(&f, EXACT, proto).await;
        let cases = [
            (Req::get("y.w.example.com"), 421),
            (Req::get(A), 421),
            (Req::get(B), 200),
            (Req::get(EXACT), 200),
        ];
        expect(&mut on_exact, &cases, &format!("{proto:?} on exact")).await;
    }
}

#[tokio::test]
async fn absolute_form_targets_are_bound_too() {
    let f = setup().await;
    for proto in PROTOS {
        let mut conn = connect(&f, A, proto).await;
        let abs = |url: &str| Req::without_authority().target(url);
        let mut cases = vec![
            (abs("https://b.example.com/"), 421),
            (abs("https://nowhere.example.com/x"), 421),
            (abs("https://c.example.com/"), 200),
            (abs("https://A.example.com:443/"), 200),
        ];
        if proto == Proto::H1 {
            // Absolute-form plus a Host header: they must agree (case and port aside).
            cases.extend([
                (Req::get(A).target("https://b.example.com/"), 400),
                (Req::get(B).target("https://a.example.com/"), 400),
                (Req::get(B).target("https://b.example.com/"), 421),
                (
                    Req::get("A.EXAMPLE.COM").target("https://a.example.com/"),
                    200,
                ),
            ]);
        } else {
            // HTTP/2: a Host header next to :authority must agree with it.
            cases.extend([
                (Req::get(A).header("host", B), 400),
                (Req::get(B).header("host", A), 400),
                (Req::get(A).header("host", "A.example.com"), 200),
            ]);
        }
        expect(&mut conn, &cases, &format!("{proto:?}")).await;
    }
}

#[tokio::test]
async fn missing_duplicate_or_malformed_host_is_a_bad_request() {
    let f = setup().await;
    for proto in PROTOS {
        let mut conn = connect(&f, A, proto).await;
        let cases = [
            (Req::without_authority(), 400),
            // Two Host headers, even identical ones (HTTP/1.1: the Host line and an extra one).
            (
                Req::without_authority().header("host", A).header("host", A),
                400,
            ),
            (Req::get(A).header("host", B), 400),
            (
                Req::without_authority().header("host", "a.example.com, b.example.com"),
                400,
            ),
            (
                Req::without_authority().header("host", "user@a.example.com"),
                400,
            ),
            (
                Req::without_authority().header("host", "a.example.com:99999"),
                400,
            ),
            (Req::without_authority().header("host", A), 200),
        ];
        expect(&mut conn, &cases, &format!("{proto:?}")).await;
    }
}

#[tokio::test]
async fn a_connection_without_client_auth_never_reaches_an_mtls_domain() {
    let f = setup().await;
    for proto in PROTOS {
        let mut conn = TlsClient::new(&f.server_ca, PLAIN)
            .proto(proto)
            .connect(f.proxy())
            .await
            .unwrap();
        assert_eq!(conn.facts.cert_request, None);
        let cases = [
            (Req::get(A), 421),
            (Req::get(B), 421),
            (Req::get("y.w.example.com"), 421),
            (Req::get(NOT_ACTIVATED), 421),
            (
                Req::without_authority().target("https://a.example.com/"),
                421,
            ),
            (Req::get("PLAIN.example.com.:443"), 200),
        ];
        expect(&mut conn, &cases, &format!("{proto:?}")).await;
        let h = seen(&conn.send(&Req::get(PLAIN)).await.unwrap());
        assert!(!h.keys().any(|k| k.starts_with("client-cert")), "{h:?}");
    }
}

/// Raw HTTP/1.1 shapes hyper's client would not produce: two Host lines in different case,
/// and an absolute-form target naming another policy's domain under a matching Host.
#[tokio::test]
async fn raw_http1_host_shapes() {
    let f = setup().await;
    let client = TlsClient::new(&f.server_ca, A).cert(&f.client(Validity::Current));
    let cases: [(&str, u16); 4] = [
        (
            "GET / HTTP/1.1\r\nHost: a.example.com\r\nhost: b.example.com\r\n",
            400,
        ),
        ("GET / HTTP/1.1\r\nHOST: b.example.com\r\n", 421),
        (
            "GET https://b.example.com/ HTTP/1.1\r\nHost: b.example.com\r\n",
            421,
        ),
        ("GET / HTTP/1.1\r\nhOsT: A.example.COM.\r\n", 200),
    ];
    for (head, status) in cases {
        let raw = format!("{head}Connection: close\r\n\r\n");
        let reply = client
            .handshake(f.proxy())
            .await
            .unwrap()
            .raw(raw.as_bytes())
            .await
            .unwrap();
        assert_eq!(reply.status, status, "{head:?}");
    }
}
