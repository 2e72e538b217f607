//! `/metrics` before and after known traffic: valid, missing, expired and unknown-CA clients on
//! an enforced and a fail-open domain, 421s, a resumption, an origin failure, unknown and
//! missing SNI, and a bundle rotation. Every counter (and histogram count) must move by
//! exactly what was sent — and nothing else may move.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::fixture::Fixture;
use common::scrape::{find, scrape, settle, Scrape};
use common::tls_client::{Req, Sessions, TlsClient};
use mtls_proxy::devpki::{Issued, Validity};
use mtls_proxy::settings::Route;
use serde_json::json;

const ENFORCED: &str = "enforced.example.com";
const OPEN: &str = "open.example.com";
const PLAIN: &str = "plain.example.com";
const BROKEN: &str = "broken.example.com";

struct Setup {
    f: Fixture,
    ma_enforced: String,
    ma_open: String,
}

async fn setup() -> Setup {
    let f = Fixture::with_settings(&[ENFORCED, OPEN, PLAIN, BROKEN], |s| {
        // Nothing listens on port 1: connecting is refused at once.
        s.routes.push(Route {
            domain: BROKEN.into(),
            origin: "http://127.0.0.1:1".into(),
            ..Route::default()
        });
    })
    .await;
    let bundle = f.client_ca.cert().cert_pem.clone();
    let ma_enforced = f.ma(&bundle, true).await;
    let ma_open = f.ma(&bundle, false).await;
    f.activate(ENFORCED, Some(&ma_enforced)).await;
    f.activate(OPEN, Some(&ma_open)).await;
    f.activate(PLAIN, None).await;
    f.activate(BROKEN, None).await;
    Setup {
        f,
        ma_enforced,
        ma_open,
    }
}

fn client(f: &Fixture, sni: &str, cert: Option<&Issued>) -> TlsClient {
    let c = TlsClient::new(&f.server_ca, sni);
    match cert {
        Some(cert) => c.cert(cert),
        None => c,
    }
}

/// One connection, one request for `host`: the status, or None when the TLS layer refused.
async fn get(f: &Fixture, sni: &str, cert: Option<&Issued>, host: &str) -> Option<u16> {
    client(f, sni, cert)
        .fetch(f.proxy(), &Req::get(host))
        .await
        .ok()
        .map(|r| r.status)
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    match inner.is_empty() {
        true => name.to_string(),
        false => format!("{name}{{{}}}", inner.join(",")),
    }
}

fn handshakes(domain: &str, verdict: &str) -> String {
    series(
        "mtls_proxy_tls_handshakes_total",
        &[("domain", domain), ("verdict", verdict)],
    )
}

fn requests(domain: &str, class: &str) -> String {
    series(
        "mtls_proxy_requests_total",
        &[("domain", domain), ("status_class", class)],
    )
}

/// Enforced and fail-open traffic; returns the clients used (valid, expired, unknown CA).
async fn certificate_traffic(f: &Fixture) -> (Issued, Issued, Issued) {
    let good = f.client(Validity::Current);
    let expired = f.client(Validity::Expired);
    let stranger = f
        .other_ca
        .issue_client("stranger", Validity::Current)
        .unwrap();
    assert_eq!(get(f, ENFORCED, Some(&good), ENFORCED).await, Some(200));
    assert_eq!(get(f, ENFORCED, Some(&good), ENFORCED).await, Some(200));
    assert_eq!(get(f, ENFORCED, None, ENFORCED).await, None);
    assert_eq!(get(f, ENFORCED, Some(&expired), ENFORCED).await, None);
    assert_eq!(get(f, ENFORCED, Some(&stranger), ENFORCED).await, None);
    assert_eq!(get(f, OPEN, Some(&good), OPEN).await, Some(200));
    assert_eq!(get(f, OPEN, None, OPEN).await, Some(200));
    assert_eq!(get(f, OPEN, None, OPEN).await, Some(200));
    assert_eq!(get(f, OPEN, Some(&expired), OPEN).await, Some(200));
    assert_eq!(get(f, OPEN, Some(&stranger), OPEN).await, Some(200));
    (good, expired, stranger)
}

/// 421s, a resumed session, an origin failure, unknown and missing SNI.
async fn other_traffic(f: &Fixture) {
    // A fail-open connection may not reach the enforced domain; nor a name nobody serves.
    assert_eq!(get(f, OPEN, None, ENFORCED).await, Some(421));
    assert_eq!(get(f, PLAIN, None, "nowhere.example.net").await, Some(421));
    // Two connections with one session store: the second resumes.
    let sessions = Sessions::per_name(&f.server_ca);
    for expect_resumed in [false, true] {
        let c = TlsClient::new(&f.server_ca, PLAIN).sessions(&sessions);
        let mut conn = c.connect(f.proxy()).await.unwrap();
        assert_eq!(conn.facts.resumed(), expect_resumed);
        assert_eq!(conn.send(&Req::get(PLAIN)).await.unwrap().status, 200);
    }
    assert_eq!(get(f, BROKEN, None, BROKEN).await, Some(502));
    let unknown = TlsClient::new(&f.server_ca, "unknown.example.org");
    assert!(unknown.connect(f.proxy()).await.is_err());
    assert!(TlsClient::no_sni(&f.server_ca)
        .connect(f.proxy())
        .await
        .is_err());
}

/// Replace the enforced bundle with the other CA, then try an old and a new client.
async fn rotation(s: &Setup, good: &Issued) {
    let f = &s.f;
    let body = json!({"data": {"type": "mutual_authentication",
        "attributes": {"cert_bundle": f.other_ca.cert().cert_pem}}});
    let r =
        f.h.patch(
            &format!("/tls/mutual_authentications/{}", s.ma_enforced),
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let newcomer = f
        .other_ca
        .issue_client("newcomer", Validity::Current)
        .unwrap();
    assert_eq!(get(f, ENFORCED, Some(&newcomer), ENFORCED).await, Some(200));
    assert_eq!(get(f, ENFORCED, Some(good), ENFORCED).await, None);
}

fn expected() -> BTreeMap<String, f64> {
    let mut e = BTreeMap::new();
    let mut put = |k: String, v: f64| {
        e.insert(k, v);
    };
    // Enforced: 2 ok before the rotation and 1 after; the refused ones by verdict.
    put(handshakes(ENFORCED, "ok"), 3.0);
    put(handshakes(ENFORCED, "missing"), 1.0);
    put(handshakes(ENFORCED, "expired"), 1.0);
    put(handshakes(ENFORCED, "unknown_ca"), 2.0);
    // Fail-open: every client passes; one of the missing ones asked for the enforced domain.
    put(handshakes(OPEN, "ok"), 1.0);
    put(handshakes(OPEN, "missing"), 3.0);
    put(handshakes(OPEN, "expired"), 1.0);
    put(handshakes(OPEN, "unknown_ca"), 1.0);
    put(handshakes(PLAIN, "not_requested"), 3.0);
    put(handshakes(BROKEN, "not_requested"), 1.0);
    let errors = "mtls_proxy_tls_handshake_errors_total";
    put(series(errors, &[("reason", "client_cert_rejected")]), 4.0);
    put(series(errors, &[("reason", "unknown_sni")]), 1.0);
    put(series(errors, &[("reason", "no_sni")]), 1.0);
    put(
        series("mtls_proxy_tls_resumed_total", &[("domain", PLAIN)]),
        1.0,
    );
    let fail_open = "mtls_proxy_fail_open_requests_total";
    for (verdict, n) in [("missing", 2.0), ("expired", 1.0), ("unknown_ca", 1.0)] {
        put(
            series(fail_open, &[("domain", OPEN), ("verdict", verdict)]),
            n,
        );
    }
    let misdirected = "mtls_proxy_misdirected_requests_total";
    put(series(misdirected, &[("domain", ENFORCED)]), 1.0);
    put(series(misdirected, &[("domain", "other")]), 1.0);
    put(requests(ENFORCED, "2xx"), 3.0);
    put(requests(ENFORCED, "4xx"), 1.0);
    put(requests(OPEN, "2xx"), 5.0);
    put(requests("other", "4xx"), 1.0);
    put(requests(PLAIN, "2xx"), 2.0);
    put(requests(BROKEN, "5xx"), 1.0);
    put(
        series(
            "mtls_proxy_origin_errors_total",
            &[("domain", BROKEN), ("kind", "connect")],
        ),
        1.0,
    );
    put("mtls_proxy_connections_total".into(), 19.0);
    put(
        "mtls_proxy_tls_handshake_duration_seconds_count".into(),
        13.0,
    );
    put("mtls_proxy_request_duration_seconds_count".into(), 13.0);
    put("mtls_proxy_origin_duration_seconds_count".into(), 11.0);
    put(
        series("mtls_proxy_config_reloads_total", &[("result", "ok")]),
        1.0,
    );
    put("mtls_proxy_config_build_duration_seconds_count".into(), 1.0);
    e
}

/// Gauges: the revision moved by one, nothing is left open, and the expiry gauges follow the
/// rotation.
async fn check_gauges(s: &Setup, before: &Scrape, after: &Scrape) {
    let rev = "mtls_proxy_config_revision";
    assert_eq!(after[rev], before[rev] + 1.0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while find(&scrape(&s.f.h).await, &["mtls_proxy_connections_active"]) != Some(0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connections stay open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cert = mtls_proxy::model::pki::parse_certificate_chain(&s.f.server.cert_pem).unwrap();
    for domain in [ENFORCED, OPEN, PLAIN, BROKEN] {
        let v = find(
            after,
            &[
                "mtls_proxy_certificate_not_after_seconds{",
                &format!("certificate=\"{}\"", s.f.cert_id),
                &format!("domain=\"{domain}\""),
            ],
        );
        assert_eq!(v, Some(cert.not_after as f64), "{domain}");
    }
    let ca = |s: &Scrape, ma: &str, cn: &str| {
        let ma = format!("mutual_authentication=\"{ma}\"");
        find(s, &["mtls_proxy_client_ca_not_after_seconds{", &ma, cn])
    };
    assert!(ca(before, &s.ma_enforced, "Fixture client CA").is_some());
    assert!(ca(after, &s.ma_enforced, "Fixture client CA").is_none());
    assert!(ca(after, &s.ma_enforced, "Fixture other CA").unwrap() > 0.0);
    assert!(ca(after, &s.ma_open, "Fixture client CA").unwrap() > 0.0);
}

#[tokio::test]
async fn every_counter_moves_by_exactly_what_was_sent() {
    let s = setup().await;
    let before = scrape(&s.f.h).await;
    let (good, _, _) = certificate_traffic(&s.f).await;
    other_traffic(&s.f).await;
    rotation(&s, &good).await;
    let expected = expected();
    let (after, moved) = settle(&s.f.h, &before, &expected).await;
    assert_eq!(moved, expected);
    check_gauges(&s, &before, &after).await;
}

#[tokio::test]
async fn deactivated_domains_leave_the_export() {
    let s = setup().await;
    assert_eq!(get(&s.f, PLAIN, None, PLAIN).await, Some(200));
    let id = s.f.h.get("/tls/activations").await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["relationships"]["tls_domain"]["data"]["id"] == PLAIN)
        .map(|a| a["id"].as_str().unwrap().to_string())
        .unwrap();
    let plain = format!("domain=\"{PLAIN}\"");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while find(
        &scrape(&s.f.h).await,
        &[&handshakes(PLAIN, "not_requested")],
    )
    .is_none()
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        s.f.h.delete(&format!("/tls/activations/{id}")).await.status,
        204
    );
    let text = scrape(&s.f.h).await;
    let left: Vec<_> = text.keys().filter(|k| k.contains(&plain)).collect();
    assert!(left.is_empty(), "{left:?}");
}
