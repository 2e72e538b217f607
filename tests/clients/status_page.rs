//! The status page in a real browser: after known traffic (valid, missing, expired and
//! unknown-CA clients on an enforced and a fail-open domain, a 421), headless Chromium loads
//! `GET /` on the admin listener, runs its script (which polls `/status/data` and re-renders
//! the page), and the resulting DOM must show the activations, exact counts and both charts,
//! and nothing secret. A screenshot is taken too; set `MTLS_PROXY_STATUS_SCREENSHOT=path` to
//! keep it (that is how docs/status-page.png is made).
//!
//! Needs Chromium (Debian package `chromium`, which `tests/run-all.sh` installs; or
//! `CHROMIUM=/path/to/chrome`): skipped without it, a failure under
//! `MTLS_PROXY_REQUIRE_TOOLS=1` (see tests/common/tools.rs).

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::fixture::Fixture;
use common::tls_client::{Req, TlsClient};
use mtls_proxy::devpki::{Issued, Validity};
use serde_json::{json, Value};
use tokio::process::Command;

const ENFORCED: &str = "partners.example.com";
const OPEN: &str = "beta.example.com";
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// A mutual authentication with a name; returns its id.
async fn ma(f: &Fixture, name: &str, enforced: bool) -> String {
    let body = json!({"data": {"type": "mutual_authentication", "attributes": {
        "cert_bundle": f.client_ca.cert().cert_pem, "enforced": enforced, "name": name}}});
    let r = f.h.post("/tls/mutual_authentications", body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"]["id"].as_str().unwrap().to_string()
}

async fn get(f: &Fixture, sni: &str, cert: Option<&Issued>, host: &str) -> Option<u16> {
    let mut c = TlsClient::new(&f.server_ca, sni);
    if let Some(cert) = cert {
        c = c.cert(cert);
    }
    c.fetch(f.proxy(), &Req::get(host))
        .await
        .ok()
        .map(|r| r.status)
}

/// Per domain: a valid, a missing, an expired and an unknown-CA client; then one 421.
async fn traffic(f: &Fixture) {
    let good = f.client(Validity::Current);
    let expired = f.client(Validity::Expired);
    let stranger = f
        .other_ca
        .issue_client("stranger", Validity::Current)
        .unwrap();
    let clients = [Some(&good), None, Some(&expired), Some(&stranger)];
    for (i, cert) in clients.iter().enumerate() {
        let want = if i == 0 { Some(200) } else { None };
        assert_eq!(
            get(f, ENFORCED, *cert, ENFORCED).await,
            want,
            "enforced #{i}"
        );
        assert_eq!(get(f, OPEN, *cert, OPEN).await, Some(200), "fail-open #{i}");
    }
    assert_eq!(get(f, OPEN, None, ENFORCED).await, Some(421));
}

/// Wait until the history sampler has seen the traffic (it samples once a second).
async fn sampled(f: &Fixture) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let d = f.h.raw("GET", "/status/data", None, None).await.json();
        let missing: u64 = d["history"]["handshakes"]["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum();
        if missing == 3 && d["totals"]["misdirected"] == 1 {
            return d;
        }
        assert!(tokio::time::Instant::now() < deadline, "not sampled: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Chromium binary: `$CHROMIUM`, else the first of the usual names on PATH; None (the test
/// is skipped, or fails when programs are required) without one.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(common::tools::find)
        .or_else(|| common::tools::skip("chromium"))
}

/// Run headless Chromium on `url` with `extra` arguments; returns stdout. Virtual time lets the
/// page's script poll a few times before the DOM is dumped.
async fn browser(chromium: &Path, url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--virtual-time-budget=5000",
        "--window-size=1200,1100",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let out = tokio::time::timeout(BROWSER_TIMEOUT, cmd.output())
        .await
        .expect("chromium finished in time")
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_shows(dom: &str, needles: &[&str]) {
    for n in needles {
        assert!(dom.contains(n), "the page does not show {n:?}:\n{dom}");
    }
}

fn check_dom(dom: &str, f: &Fixture, ids: &[&str]) {
    // The script ran, fetched /status/data and re-rendered at least once.
    assert!(
        dom.contains("data-polls=\""),
        "the script never polled:\n{dom}"
    );
    assert_shows(
        dom,
        &[
            &format!(r#"<tr data-domain="{ENFORCED}"><td>{ENFORCED}</td>"#),
            &format!(r#"<tr data-domain="{OPEN}"><td>{OPEN}</td>"#),
            "Partners (enforced)",
            "Beta testers (fail-open)",
            "<td>yes</td>",
            "<td>no (fail open)</td>",
            r#"<b id="tile-ok" data-value="2">2</b>"#,
            r#"<b id="tile-not-ok" data-value="7">7</b>"#,
            r#"<b id="tile-failed" data-value="3">3</b>"#,
            r#"<b id="tile-fail-open" data-value="3">3</b>"#,
            r#"<b id="tile-misdirected" data-value="1">1</b>"#,
            r#"<b id="tile-requests" data-value="6">6</b>"#,
            r#"<tr data-label="client_cert_rejected">"#,
            "No reload error.",
            // The store and the fleet (one SQLite node, listed by its heartbeat).
            r#"<p id="store-state" data-reachable="true">Store <b>SQLite "#,
            r#"<table id="nodes">"#,
            "<small>(this node)</small>",
        ],
    );
    for verdict in ["ok", "missing", "expired", "unknown_ca"] {
        assert!(
            dom.contains(&format!(r#"<polyline data-series="{verdict}""#)),
            "no {verdict} line in the chart"
        );
    }
    assert!(dom.contains(r#"<polyline data-series="client_cert_rejected""#));
    for id in ids {
        assert!(dom.contains(id), "{id} not shown");
    }
    // No secrets: key material, bundles, certificates or the admin token.
    for secret in ["PRIVATE KEY", "BEGIN CERTIFICATE", common::TOKEN] {
        assert!(!dom.contains(secret), "the page shows {secret:?}");
    }
    assert!(!dom.contains(f.server.key_pem.lines().nth(1).unwrap()));
}

fn check_png(path: &Path) {
    let png = std::fs::read(path).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "suspiciously small screenshot: {} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("MTLS_PROXY_STATUS_SCREENSHOT") {
        std::fs::copy(path, keep).expect("screenshot copied");
    }
}

#[tokio::test]
async fn status_page_in_headless_chromium_shows_activations_and_counts() {
    let Some(chromium) = chromium() else { return };
    let f = Fixture::new(&[ENFORCED, OPEN]).await;
    let enforced = ma(&f, "Partners (enforced)", true).await;
    let open = ma(&f, "Beta testers (fail-open)", false).await;
    f.activate(ENFORCED, Some(&enforced)).await;
    f.activate(OPEN, Some(&open)).await;
    traffic(&f).await;
    let data = sampled(&f).await;
    assert_eq!(data["activations_total"], 2);
    let url = format!("http://{}/", f.h.admin);
    let dom = browser(&chromium, &url, &["--dump-dom".to_string()]).await;
    check_dom(&dom, &f, &[&enforced, &open, &f.cert_id]);
    let shots = tempfile::tempdir().unwrap();
    let png = shots.path().join("status.png");
    browser(
        &chromium,
        &url,
        &[format!("--screenshot={}", png.display())],
    )
    .await;
    check_png(&png);
}
