//! The data plane against the real `curl` and `openssl s_client`: enforced and fail-open mutual
//! TLS, per-domain isolation, no / unknown SNI, wildcard domains, SNI/Host binding, spoofed
//! headers, and session resumption across policies. Every assertion is on behaviour (alerts,
//! statuses, what the echo origin received). Skipped without both programs (see
//! tests/common/tools.rs).

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::cli_clients::{CliClients, ClientFiles, CurlResult, Programs, SClientResult, Tls};
use common::fixture::Fixture;
use mtls_proxy::devpki::{Ca, Issued, Validity};
use mtls_proxy::settings::Settings;
use serde_json::json;

/// Every domain the tests activate (the fixture's server certificate covers them and 127.0.0.1).
const NAMES: &[&str] = &["a.test", "b.test", "open.test", "plain.test", "*.wild.test"];

// OpenSSL's alert texts and numbers: curl prints the text, s_client both.
const CERTIFICATE_REQUIRED: &[&str] = &["alert certificate required", "alert number 116"];
const CERTIFICATE_EXPIRED: &[&str] = &["alert certificate expired", "alert number 45"];
const UNKNOWN_CA: &[&str] = &["alert unknown ca", "alert number 48"];
const UNRECOGNIZED_NAME: &[&str] = &["unrecognized name", "alert number 112"];
/// curl reports a received `certificate_expired` alert as if it had failed to verify the server
/// (lib/vtls/openssl.c maps SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED to CURLE_PEER_FAILED_VERIFICATION,
/// exit 60). The server certificate is valid here (the other cases prove it), and s_client checks
/// the alert number itself.
const CURL_CERTIFICATE_EXPIRED: &[&str] = &[
    "alert certificate expired",
    "(60) SSL certificate verification failed",
];

/// The subject of [`Fixture::client`] certificates as the proxy writes it.
const SUBJECT: &str = "CN=fixture-client,O=mtls-proxy development PKI";

/// Both TLS versions, for s_client.
const VERSIONS: [Tls; 2] = [Tls::V12, Tls::V13];

/// A proxy with:
/// - `a.test` and `*.wild.test`: enforced, bundle = the fixture's client CA (`ma_a`);
/// - `b.test`: enforced, bundle = the fixture's other CA (`ma_b`);
/// - `open.test`: fail-open, bundle = the client CA too, but its own mutual authentication;
/// - `plain.test`: no mutual authentication.
struct Env {
    fx: Fixture,
    c: CliClients,
    ma_a: String,
    ma_b: String,
    ma_open: String,
    /// The activation of `a.test`.
    act_a: String,
    /// A CA in no bundle.
    stranger: Ca,
}

impl Env {
    /// None (the test is skipped) when `curl` or `openssl` is missing.
    async fn new() -> Option<Env> {
        Self::with_settings(|_| {}).await
    }

    async fn with_settings(f: impl FnOnce(&mut Settings)) -> Option<Env> {
        let programs = Programs::require()?;
        let fx = Fixture::with_settings(NAMES, f).await;
        let ma_a = fx.ma(&fx.client_ca.cert().cert_pem, true).await;
        let ma_b = fx.ma(&fx.other_ca.cert().cert_pem, true).await;
        let ma_open = fx.ma(&fx.client_ca.cert().cert_pem, false).await;
        let act_a = fx.activate("a.test", Some(&ma_a)).await;
        fx.activate("*.wild.test", Some(&ma_a)).await;
        fx.activate("b.test", Some(&ma_b)).await;
        fx.activate("open.test", Some(&ma_open)).await;
        fx.activate("plain.test", None).await;
        let c = CliClients::for_fixture(programs, &fx);
        Some(Env {
            fx,
            c,
            ma_a,
            ma_b,
            ma_open,
            act_a,
            stranger: Ca::new("Stranger CA").unwrap(),
        })
    }

    /// Valid, from the client CA (trusted by `a.test`, `*.wild.test`, `open.test`).
    fn valid(&self) -> (Issued, ClientFiles) {
        let issued = self.fx.client(Validity::Current);
        let files = self.c.identity(&issued);
        (issued, files)
    }

    /// Expired, from the client CA.
    fn expired(&self) -> ClientFiles {
        self.c.identity(&self.fx.client(Validity::Expired))
    }

    /// Valid, from a CA in no bundle.
    fn unknown_ca(&self) -> ClientFiles {
        let issued = self.stranger.issue_client("stranger", Validity::Current);
        self.c.identity(&issued.unwrap())
    }

    /// Valid, from `b.test`'s CA: trusted by another domain only.
    fn other_domain(&self) -> ClientFiles {
        let issued = self.fx.other_ca.issue_client("b-client", Validity::Current);
        self.c.identity(&issued.unwrap())
    }

    /// Change a mutual authentication's attributes through the API.
    async fn update_ma(&self, ma: &str, attributes: serde_json::Value) {
        let body = json!({"data": {"type": "mutual_authentication", "id": ma,
            "attributes": attributes}});
        let r = self
            .fx
            .h
            .patch(&format!("/tls/mutual_authentications/{ma}"), body)
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

/// RFC 9440 `Client-Cert` of a certificate.
fn rfc9440(issued: &Issued) -> String {
    format!(":{}:", STANDARD.encode(&issued.cert_der))
}

fn assert_curl_refused(r: &CurlResult, alerts: &[&str]) {
    r.assert_refused();
    assert!(
        alerts.iter().any(|a| r.stderr.contains(a)),
        "expected one of {alerts:?} in curl's stderr: {r:#?}"
    );
}

fn assert_s_refused(r: &SClientResult, alerts: &[&str]) {
    assert_ne!(r.exit, Some(0), "s_client should have failed: {r:#?}");
    r.assert_no_http();
    r.assert_alert(alerts);
}

/// 200 from the echo origin with verdict `ok` for the fixture client under `ma`.
fn assert_curl_ok(r: &CurlResult, ma: &str) {
    assert_eq!((r.exit, r.status), (Some(0), 200), "{r:#?}");
    assert_eq!(r.echoed("client-cert-verdict").as_deref(), Some("ok"));
    assert_eq!(r.echoed("client-cert-subject").as_deref(), Some(SUBJECT));
    let ma_seen = r.echoed("client-cert-mutual-authentication");
    assert_eq!(ma_seen.as_deref(), Some(ma));
}

fn assert_s_ok(r: &SClientResult, ma: &str) {
    assert_eq!(r.http_status(), Some(200), "{r:#?}");
    assert_eq!(r.echoed("client-cert-verdict").as_deref(), Some("ok"));
    assert_eq!(r.echoed("client-cert-subject").as_deref(), Some(SUBJECT));
    let ma_seen = r.echoed("client-cert-mutual-authentication");
    assert_eq!(ma_seen.as_deref(), Some(ma));
}

// ---------------------------------------------------------------------------------------------
// Enforced domains

#[tokio::test]
async fn curl_enforced_accepts_a_valid_client_over_http1_and_http2() {
    let Some(e) = Env::new().await else { return };
    let (issued, files) = e.valid();
    let r = e.c.curl("a.test").cert(&files).run().await;
    assert_curl_ok(&r, &e.ma_a);
    assert_eq!(r.http_version, "1.1");
    assert_eq!(r.echoed("client-cert"), Some(rfc9440(&issued)));
    let r = e.c.curl("a.test").cert(&files).http2().run().await;
    assert_curl_ok(&r, &e.ma_a);
    assert_eq!(r.http_version, "2");
    let r = e.c.curl("a.test").cert(&files).tls12().run().await;
    assert_curl_ok(&r, &e.ma_a);
}

#[tokio::test]
async fn curl_enforced_refuses_missing_expired_unknown_ca_and_other_domain_ca() {
    let Some(e) = Env::new().await else { return };
    let cases: [(&str, Option<ClientFiles>, &[&str]); 4] = [
        ("missing", None, CERTIFICATE_REQUIRED),
        ("expired", Some(e.expired()), CURL_CERTIFICATE_EXPIRED),
        ("unknown CA", Some(e.unknown_ca()), UNKNOWN_CA),
        ("other domain's CA", Some(e.other_domain()), UNKNOWN_CA),
    ];
    for (what, files, alerts) in &cases {
        for tls12 in [false, true] {
            let mut curl = e.c.curl("a.test");
            if let Some(f) = files {
                curl = curl.cert(f);
            }
            if tls12 {
                curl = curl.tls12();
            }
            let r = curl.run().await;
            assert!(r.status == 0, "{what} (tls12: {tls12}) was served: {r:#?}");
            assert_curl_refused(&r, alerts);
        }
    }
}

#[tokio::test]
async fn s_client_enforced_accepts_a_valid_client_and_refuses_the_rest() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    let cases: [(&str, Option<ClientFiles>, &[&str]); 4] = [
        ("missing", None, CERTIFICATE_REQUIRED),
        ("expired", Some(e.expired()), CERTIFICATE_EXPIRED),
        ("unknown CA", Some(e.unknown_ca()), UNKNOWN_CA),
        ("other domain's CA", Some(e.other_domain()), UNKNOWN_CA),
    ];
    for tls in VERSIONS {
        let r =
            e.c.s_client(Some("a.test"))
                .tls(tls)
                .cert(&valid)
                .run()
                .await;
        assert_s_ok(&r, &e.ma_a);
        for (what, files, alerts) in &cases {
            let mut s = e.c.s_client(Some("a.test")).tls(tls);
            if let Some(f) = files {
                s = s.cert(f);
            }
            let r = s.run().await;
            assert!(
                r.http_status().is_none(),
                "{what} ({tls:?}) was served: {r:#?}"
            );
            assert_s_refused(&r, alerts);
        }
    }
}

#[tokio::test]
async fn s_client_gets_aes_128_gcm_unless_it_leads_with_chacha20() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    let cases: [(Tls, Option<&str>, &str); 5] = [
        // OpenSSL's default order leads with AES-256-GCM in both versions.
        (Tls::V13, None, "TLS_AES_128_GCM_SHA256"),
        (
            Tls::V13,
            Some("TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"),
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        (
            Tls::V13,
            Some("TLS_AES_256_GCM_SHA384"),
            "TLS_AES_256_GCM_SHA384",
        ),
        (Tls::V12, None, "ECDHE-ECDSA-AES128-GCM-SHA256"),
        (
            Tls::V12,
            Some("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"),
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ),
    ];
    for (tls, offered, expected) in cases {
        let mut s = e.c.s_client(Some("a.test")).tls(tls).cert(&valid);
        s = match (tls, offered) {
            (Tls::V13, Some(list)) => s.ciphersuites(list),
            (_, Some(list)) => s.cipher(list),
            (_, None) => s,
        };
        let r = s.run().await;
        assert_s_ok(&r, &e.ma_a);
        assert_eq!(r.cipher(), Some(expected), "{tls:?} {offered:?}: {r:#?}");
    }
}

#[tokio::test]
async fn s_client_sees_the_bundle_ca_names_and_no_request_without_mutual_authentication() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    let r = e.c.s_client(Some("a.test")).cert(&valid).run().await;
    let names = r
        .stdout
        .split("Acceptable client certificate CA names")
        .nth(1)
        .and_then(|rest| rest.split("---").next())
        .unwrap_or_else(|| panic!("no CertificateRequest CA names: {r:#?}"));
    assert!(names.contains("CN = Fixture client CA"), "{names}");
    assert!(!names.contains("Fixture other CA"), "{names}");
    let r = e.c.s_client(Some("plain.test")).run().await;
    assert!(
        r.stdout.contains("No client certificate CA names sent"),
        "{r:#?}"
    );
    assert_eq!(r.http_status(), Some(200), "{r:#?}");
    assert_eq!(r.echoed("client-cert-verdict"), None);
}

// ---------------------------------------------------------------------------------------------
// Fail-open domain

#[tokio::test]
async fn curl_fail_open_passes_each_verdict_to_the_origin() {
    let Some(e) = Env::new().await else { return };
    let (issued, valid) = e.valid();
    let cases = [
        ("missing", None),
        ("expired", Some(e.expired())),
        ("unknown_ca", Some(e.unknown_ca())),
        ("unknown_ca", Some(e.other_domain())),
        ("ok", Some(valid)),
    ];
    for (verdict, files) in &cases {
        for h2 in [false, true] {
            let mut curl = e.c.curl("open.test");
            if let Some(f) = files {
                curl = curl.cert(f);
            }
            if h2 {
                curl = curl.http2();
            }
            let r = curl.run().await;
            assert_eq!((r.exit, r.status), (Some(0), 200), "{verdict}: {r:#?}");
            let seen = r.echoed("client-cert-verdict");
            assert_eq!(seen.as_deref(), Some(*verdict), "{r:#?}");
            let ma = r.echoed("client-cert-mutual-authentication");
            assert_eq!(ma.as_deref(), Some(e.ma_open.as_str()));
            // A presented certificate is described whatever its verdict; none when missing.
            assert_eq!(r.echoed("client-cert").is_some(), files.is_some(), "{r:#?}");
        }
    }
    let valid = cases[4].1.as_ref().unwrap();
    let r = e.c.curl("open.test").cert(valid).run().await;
    assert_eq!(r.echoed("client-cert"), Some(rfc9440(&issued)));
}

#[tokio::test]
async fn s_client_fail_open_passes_each_verdict_to_the_origin() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    let cases = [
        ("missing", None),
        ("expired", Some(e.expired())),
        ("unknown_ca", Some(e.unknown_ca())),
        ("ok", Some(valid)),
    ];
    for tls in VERSIONS {
        for (verdict, files) in &cases {
            let mut s = e.c.s_client(Some("open.test")).tls(tls);
            if let Some(f) = files {
                s = s.cert(f);
            }
            let r = s.run().await;
            assert_eq!(r.http_status(), Some(200), "{verdict} {tls:?}: {r:#?}");
            let seen = r.echoed("client-cert-verdict");
            assert_eq!(seen.as_deref(), Some(*verdict), "{tls:?}: {r:#?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-domain isolation, SNI

#[tokio::test]
async fn a_client_trusted_by_one_domain_is_refused_on_another() {
    let Some(e) = Env::new().await else { return };
    let (_, a_client) = e.valid();
    let b_client = e.other_domain();
    // Each is served where its CA is trusted…
    let r = e.c.curl("b.test").cert(&b_client).run().await;
    assert_eq!(
        (r.status, r.echoed("client-cert-verdict")),
        (200, Some("ok".into()))
    );
    assert_eq!(
        r.echoed("client-cert-mutual-authentication"),
        Some(e.ma_b.clone())
    );
    assert_curl_ok(&e.c.curl("a.test").cert(&a_client).run().await, &e.ma_a);
    // …and refused on the other domain.
    assert_curl_refused(&e.c.curl("b.test").cert(&a_client).run().await, UNKNOWN_CA);
    assert_curl_refused(&e.c.curl("a.test").cert(&b_client).run().await, UNKNOWN_CA);
    assert_curl_refused(
        &e.c.curl("x.wild.test").cert(&b_client).run().await,
        UNKNOWN_CA,
    );
    for tls in VERSIONS {
        let r =
            e.c.s_client(Some("b.test"))
                .tls(tls)
                .cert(&a_client)
                .run()
                .await;
        assert_s_refused(&r, UNKNOWN_CA);
        let r =
            e.c.s_client(Some("a.test"))
                .tls(tls)
                .cert(&b_client)
                .run()
                .await;
        assert_s_refused(&r, UNKNOWN_CA);
    }
}

#[tokio::test]
async fn no_sni_and_unknown_sni_are_refused_with_unrecognized_name() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    // curl sends no SNI for an IP literal.
    assert_curl_refused(&e.c.curl_ip().cert(&valid).run().await, UNRECOGNIZED_NAME);
    assert_curl_refused(&e.c.curl_ip().run().await, UNRECOGNIZED_NAME);
    for name in [
        "unknown.test",
        "wild.test",
        "deep.x.wild.test",
        "a.test.evil",
    ] {
        let r = e.c.curl(name).cert(&valid).run().await;
        assert_curl_refused(&r, UNRECOGNIZED_NAME);
    }
    for tls in VERSIONS {
        let r =
            e.c.s_client(None)
                .tls(tls)
                .cert(&valid)
                .host("a.test")
                .run()
                .await;
        assert_s_refused(&r, UNRECOGNIZED_NAME);
        let r =
            e.c.s_client(Some("unknown.test"))
                .tls(tls)
                .cert(&valid)
                .run()
                .await;
        assert_s_refused(&r, UNRECOGNIZED_NAME);
    }
}

#[tokio::test]
async fn no_sni_with_a_default_domain_is_served_without_client_authentication() {
    // The default domain is activated after start: the proxy must start without it.
    let Some(e) = Env::with_settings(|s| s.proxy.default_domain = Some("plain.test".into())).await
    else {
        return;
    };
    let (_, valid) = e.valid();
    let r = e.c.curl_ip().run().await;
    assert_eq!((r.exit, r.status), (Some(0), 200), "{r:#?}");
    assert_eq!(r.echoed("client-cert-verdict"), None);
    // A connection without SNI never reaches a domain with a mutual authentication, even
    // with a valid certificate at hand.
    for host in ["a.test", "open.test", "x.wild.test"] {
        let r =
            e.c.curl_ip()
                .cert(&valid)
                .header(&format!("Host: {host}"))
                .run()
                .await;
        assert_eq!(r.status, 421, "{host}: {r:#?}");
        let r =
            e.c.curl_ip()
                .cert(&valid)
                .http2()
                .header(&format!("Host: {host}"))
                .run()
                .await;
        assert_eq!(r.status, 421, "{host} over h2: {r:#?}");
    }
    for tls in VERSIONS {
        let r = e.c.s_client(None).tls(tls).host("plain.test").run().await;
        assert_eq!(r.http_status(), Some(200), "{r:#?}");
        let r =
            e.c.s_client(None)
                .tls(tls)
                .cert(&valid)
                .host("a.test")
                .run()
                .await;
        assert!(
            r.stdout.contains("No client certificate CA names sent"),
            "{r:#?}"
        );
        assert_eq!(r.http_status(), Some(421), "{r:#?}");
        // An unknown SNI falls back the same way, and cannot reach an mTLS domain either.
        let r =
            e.c.s_client(Some("unknown.test"))
                .tls(tls)
                .host("a.test")
                .run()
                .await;
        assert_eq!(r.http_status(), Some(421), "{r:#?}");
    }
}

#[tokio::test]
async fn a_default_domain_with_mutual_authentication_still_never_authenticates_no_sni() {
    let Some(e) = Env::with_settings(|s| s.proxy.default_domain = Some("a.test".into())).await
    else {
        return;
    };
    let (_, valid) = e.valid();
    for tls in VERSIONS {
        let r =
            e.c.s_client(None)
                .tls(tls)
                .cert(&valid)
                .host("a.test")
                .run()
                .await;
        assert!(
            r.stdout.contains("No client certificate CA names sent"),
            "{r:#?}"
        );
        assert_eq!(r.http_status(), Some(421), "{r:#?}");
    }
    let r =
        e.c.curl_ip()
            .cert(&valid)
            .header("Host: a.test")
            .run()
            .await;
    assert_eq!(r.status, 421, "{r:#?}");
}

#[tokio::test]
async fn wildcard_domains_are_served_under_their_policy() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    for name in ["x.wild.test", "Other-Name.WILD.test"] {
        assert_curl_ok(&e.c.curl(name).cert(&valid).run().await, &e.ma_a);
        assert_curl_refused(&e.c.curl(name).run().await, CERTIFICATE_REQUIRED);
    }
    for tls in VERSIONS {
        let r =
            e.c.s_client(Some("x.wild.test"))
                .tls(tls)
                .cert(&valid)
                .run()
                .await;
        assert_s_ok(&r, &e.ma_a);
        let r = e.c.s_client(Some("x.wild.test")).tls(tls).run().await;
        assert_s_refused(&r, CERTIFICATE_REQUIRED);
    }
}

// ---------------------------------------------------------------------------------------------
// SNI/Host binding (curl)

#[tokio::test]
async fn curl_host_naming_another_policy_is_misdirected_over_http1_and_http2() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    let port = e.c.port();
    // (SNI, certificate?, Host) that must be 421.
    let misdirected: Vec<(&str, bool, String)> = vec![
        ("a.test", true, "b.test".into()),
        ("a.test", true, format!("b.test:{port}")),
        ("a.test", true, "open.test".into()),
        ("a.test", true, "plain.test".into()),
        ("a.test", true, "unknown.test".into()),
        ("x.wild.test", true, "b.test".into()),
        ("open.test", false, "a.test".into()),
        ("open.test", false, "x.wild.test".into()),
        ("plain.test", false, "a.test".into()),
        ("plain.test", false, "OPEN.TEST.".into()),
    ];
    for (sni, with_cert, host) in &misdirected {
        for h2 in [false, true] {
            let mut curl = e.c.curl(sni).header(&format!("Host: {host}"));
            if *with_cert {
                curl = curl.cert(&valid);
            }
            if h2 {
                curl = curl.http2();
            }
            let r = curl.run().await;
            assert_eq!(r.status, 421, "SNI {sni}, Host {host}, h2 {h2}: {r:#?}");
            assert_eq!(r.json()["error"], "misdirected_request");
            assert!(r.echoed("client-cert-verdict").is_none());
        }
    }
}

#[tokio::test]
async fn curl_spellings_of_the_same_domain_and_policy_are_served() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    let port = e.c.port();
    let hosts = [
        "a.test".to_string(),
        "A.TEST".into(),
        "a.test.".into(),
        "A.Test.".into(),
        format!("a.test:{port}"),
        format!("A.TEST.:{port}"),
        "a.test:443".into(),
        // Another name under the same mutual authentication: same policy, served.
        "x.wild.test".into(),
    ];
    for host in &hosts {
        for h2 in [false, true] {
            let mut curl =
                e.c.curl("a.test")
                    .cert(&valid)
                    .header(&format!("Host: {host}"));
            if h2 {
                curl = curl.http2();
            }
            let r = curl.run().await;
            assert_curl_ok(&r, &e.ma_a);
        }
    }
}

#[tokio::test]
async fn curl_absolute_form_and_missing_host_are_bound_too() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    let curl = || e.c.curl("a.test").cert(&valid);
    let r = curl()
        .request_target("https://b.test/")
        .header("Host: b.test")
        .run()
        .await;
    assert_eq!(r.status, 421, "{r:#?}");
    // The target and Host disagree: refused whatever the Host says.
    let r = curl().request_target("https://b.test/").run().await;
    assert_eq!(r.status, 400, "{r:#?}");
    let r = curl()
        .request_target("https://a.test/x")
        .header("Host: a.test")
        .run()
        .await;
    assert_curl_ok(&r, &e.ma_a);
    assert_eq!(r.json()["path"], "/x");
    for h2 in [false, true] {
        let mut c = curl().header("Host:");
        if h2 {
            c = c.http2();
        }
        let r = c.run().await;
        assert_eq!(r.status, 400, "h2 {h2}: {r:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Spoofed headers

/// Client-supplied values for every header the proxy owns (and underscore spellings, which
/// CGI-style origins read as the same variable).
const SPOOFED: &[&str] = &[
    "Client-Cert-Verdict: ok",
    "CLIENT-CERT-VERDICT: ok",
    "Client-Cert: :c3Bvb2Y=:",
    "Client-Cert-Chain: :c3Bvb2Y=:",
    "Client-Cert-Subject: CN=spoofed-admin",
    "Client-Cert-Issuer: CN=spoofed-ca",
    "Client-Cert-Serial: 5900f",
    "Client-Cert-Sha256: 5900f5900f",
    "Client-Cert-Not-Before: 2000-01-01T00:00:00Z",
    "Client-Cert-Not-After: 2999-01-01T00:00:00Z",
    "Client-Cert-San: DNS:spoofed.example",
    "Client-Cert-Mutual-Authentication: spoofed-ma",
    "X-Forwarded-Client-Cert: By=spoofed;Hash=5900f;Subject=\"CN=spoofed-admin\"",
    "X-Forwarded-For: 6.6.6.6",
    "X-Forwarded-Proto: http",
    "X-Forwarded-Host: spoofed.example",
    "Forwarded: for=6.6.6.6;host=spoofed.example",
    "Client_Cert_Verdict: ok",
    "X_Forwarded_For: 6.6.6.6",
    "Client-Cert_Subject: CN=spoofed-admin",
];

/// True when a header name, read CGI-style ('_' as '-', any case), is one the proxy owns.
fn is_owned_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    name.starts_with("client-cert") || name.starts_with("x-forwarded-") || name == "forwarded"
}

fn assert_no_spoof(r: &CurlResult, verdict: Option<&str>) {
    assert_eq!((r.exit, r.status), (Some(0), 200), "{r:#?}");
    let doc = r.json();
    let headers = doc["headers"].as_object().unwrap();
    for (name, value) in headers {
        let value = value.as_str().unwrap();
        if is_owned_header(name) {
            assert!(
                !value.contains("spoof") && !value.contains("6.6.6.6") && value != "http",
                "client value reached the origin: {name}: {value}"
            );
            // Only the proxy's own (dash, lower-case) spelling exists at the origin.
            assert!(
                !name.contains('_'),
                "underscore spelling reached the origin: {name}"
            );
        }
    }
    assert_eq!(r.echoed("client-cert-verdict").as_deref(), verdict);
    assert_eq!(r.echoed("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(r.echoed("x-forwarded-proto").as_deref(), Some("https"));
    let forwarded = r.echoed("forwarded").unwrap();
    assert!(
        forwarded.starts_with("for=127.0.0.1;proto=https;"),
        "{forwarded}"
    );
}

#[tokio::test]
async fn curl_spoofed_client_cert_and_forwarding_headers_never_reach_the_origin() {
    let Some(e) = Env::new().await else { return };
    let (issued, valid) = e.valid();
    for h2 in [false, true] {
        let spoofing = |host: &str, files: Option<&ClientFiles>| {
            let mut curl = e.c.curl(host);
            for line in SPOOFED {
                curl = curl.header(line);
            }
            if let Some(f) = files {
                curl = curl.cert(f);
            }
            if h2 {
                curl = curl.http2();
            }
            curl
        };
        // Enforced, verified client: the proxy's description of the real certificate.
        let r = spoofing("a.test", Some(&valid)).run().await;
        assert_no_spoof(&r, Some("ok"));
        assert_eq!(r.echoed("client-cert"), Some(rfc9440(&issued)));
        assert_eq!(r.echoed("client-cert-subject").as_deref(), Some(SUBJECT));
        assert_eq!(r.echoed("client-cert-chain"), None);
        // Fail-open without a certificate: "missing", and no certificate fields at all.
        let r = spoofing("open.test", None).run().await;
        assert_no_spoof(&r, Some("missing"));
        assert_eq!(r.echoed("client-cert"), None);
        assert_eq!(r.echoed("client-cert-subject"), None);
        // Fail-open with an unknown CA: the verdict says so, whatever the client claims.
        let r = spoofing("open.test", Some(&e.unknown_ca())).run().await;
        assert_no_spoof(&r, Some("unknown_ca"));
        // No mutual authentication: none of the client-certificate headers.
        let r = spoofing("plain.test", None).run().await;
        assert_no_spoof(&r, None);
        let doc = r.json();
        let names = doc["headers"].as_object().unwrap().keys();
        let cert_headers: Vec<_> = names.filter(|n| n.starts_with("client-cert")).collect();
        assert!(cert_headers.is_empty(), "{cert_headers:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Resumption (s_client)

/// A session saved from a full handshake on `sni` (with `files`, if any) that returned `want`.
async fn session_from(
    e: &Env,
    tls: Tls,
    sni: &str,
    files: Option<&ClientFiles>,
    want: &str,
) -> std::path::PathBuf {
    let sess = e.c.file("session.pem");
    let mut s = e.c.s_client(Some(sni)).tls(tls).sess_out(&sess);
    if let Some(f) = files {
        s = s.cert(f);
    }
    let r = s.run().await;
    assert!(r.new_session(), "{r:#?}");
    assert_eq!(r.echoed("client-cert-verdict").as_deref(), Some(want));
    assert!(sess.is_file(), "s_client saved no session: {r:#?}");
    sess
}

/// Offers `sess` on `sni` without a certificate (with `-trace` to see the offer).
async fn offer(e: &Env, tls: Tls, sni: &str, sess: &std::path::Path) -> SClientResult {
    let r =
        e.c.s_client(Some(sni))
            .tls(tls)
            .sess_in(sess)
            .trace()
            .run()
            .await;
    assert!(r.offered_session(), "the session was not offered: {r:#?}");
    r
}

#[tokio::test]
async fn s_client_resumes_on_the_same_domain_with_the_original_verdict() {
    let Some(e) = Env::new().await else { return };
    let (issued, valid) = e.valid();
    for tls in VERSIONS {
        let sess = session_from(&e, tls, "a.test", Some(&valid), "ok").await;
        // No certificate this time: the resumed session carries the original identity.
        let r = offer(&e, tls, "a.test", &sess).await;
        assert!(r.reused(), "{tls:?}: not resumed: {r:#?}");
        assert_s_ok(&r, &e.ma_a);
        assert_eq!(r.echoed("client-cert"), Some(rfc9440(&issued)));
    }
}

#[tokio::test]
async fn s_client_session_from_one_policy_is_not_resumed_under_another() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    for tls in VERSIONS {
        // Enforced A → enforced B (another bundle): full handshake, which needs a certificate.
        let sess = session_from(&e, tls, "a.test", Some(&valid), "ok").await;
        let r = offer(&e, tls, "b.test", &sess).await;
        assert!(
            !r.reused() && r.new_session(),
            "{tls:?}: resumed on b.test: {r:#?}"
        );
        assert_s_refused(&r, CERTIFICATE_REQUIRED);
        // Enforced A → fail-open (same CA, other mutual authentication): the verdict is this
        // handshake's ("missing"), not A's "ok".
        let r = offer(&e, tls, "open.test", &sess).await;
        assert!(
            !r.reused() && r.new_session(),
            "{tls:?}: resumed on open.test: {r:#?}"
        );
        assert_eq!(r.echoed("client-cert-verdict").as_deref(), Some("missing"));
        // Enforced A → no mutual authentication: fresh, and no certificate headers.
        let r = offer(&e, tls, "plain.test", &sess).await;
        assert!(
            !r.reused() && r.new_session(),
            "{tls:?}: resumed on plain.test: {r:#?}"
        );
        assert_eq!(r.echoed("client-cert"), None);
        // Fail-open without a certificate → enforced A: must not skip A's verification.
        let sess = session_from(&e, tls, "open.test", None, "missing").await;
        let r = offer(&e, tls, "a.test", &sess).await;
        assert!(
            !r.reused() && r.new_session(),
            "{tls:?}: resumed on a.test: {r:#?}"
        );
        assert_s_refused(&r, CERTIFICATE_REQUIRED);
        // No mutual authentication → enforced A.
        let sess = session_from_plain(&e, tls).await;
        let r = offer(&e, tls, "a.test", &sess).await;
        assert!(
            !r.reused() && r.new_session(),
            "{tls:?}: resumed on a.test: {r:#?}"
        );
        assert_s_refused(&r, CERTIFICATE_REQUIRED);
    }
}

/// A session from `plain.test` (no verdict header to check there).
async fn session_from_plain(e: &Env, tls: Tls) -> std::path::PathBuf {
    let sess = e.c.file("plain-session.pem");
    let r =
        e.c.s_client(Some("plain.test"))
            .tls(tls)
            .sess_out(&sess)
            .run()
            .await;
    assert_eq!(r.http_status(), Some(200), "{r:#?}");
    assert!(sess.is_file(), "s_client saved no session: {r:#?}");
    sess
}

// rustls also refuses to resume a session under another SNI, so the tests above hold even with
// one ticketer for all domains; the policy changes below keep the SNI and catch that.

#[tokio::test]
async fn s_client_session_is_not_resumed_after_the_bundle_changes() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    let mut sessions = Vec::new();
    for tls in VERSIONS {
        sessions.push((
            tls,
            session_from(&e, tls, "a.test", Some(&valid), "ok").await,
        ));
    }
    // The client CA stays in the bundle: only the policy version changes.
    let bundle = format!(
        "{}{}",
        e.fx.client_ca.cert().cert_pem,
        e.stranger.cert().cert_pem
    );
    e.update_ma(&e.ma_a, json!({ "cert_bundle": bundle })).await;
    for (tls, sess) in &sessions {
        let r = offer(&e, *tls, "a.test", sess).await;
        assert!(!r.reused() && r.new_session(), "{tls:?}: resumed: {r:#?}");
        assert_s_refused(&r, CERTIFICATE_REQUIRED);
        // A fresh session under the new bundle resumes again.
        let fresh = session_from(&e, *tls, "a.test", Some(&valid), "ok").await;
        assert!(offer(&e, *tls, "a.test", &fresh).await.reused());
    }
}

#[tokio::test]
async fn s_client_fail_open_session_is_not_resumed_once_the_domain_is_enforced() {
    let Some(e) = Env::new().await else { return };
    let mut sessions = Vec::new();
    for tls in VERSIONS {
        sessions.push((
            tls,
            session_from(&e, tls, "open.test", None, "missing").await,
        ));
    }
    e.update_ma(&e.ma_open, json!({ "enforced": true })).await;
    for (tls, sess) in &sessions {
        let r = offer(&e, *tls, "open.test", sess).await;
        assert!(!r.reused() && r.new_session(), "{tls:?}: resumed: {r:#?}");
        assert_s_refused(&r, CERTIFICATE_REQUIRED);
    }
}

#[tokio::test]
async fn s_client_session_is_not_resumed_after_another_mutual_authentication_is_attached() {
    let Some(e) = Env::new().await else { return };
    let (_, valid) = e.valid();
    let mut sessions = Vec::new();
    for tls in VERSIONS {
        sessions.push((
            tls,
            session_from(&e, tls, "a.test", Some(&valid), "ok").await,
        ));
    }
    let r = common::flows::attach(&e.fx.h, &e.act_a, Some(&e.ma_b)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for (tls, sess) in &sessions {
        let r = offer(&e, *tls, "a.test", sess).await;
        assert!(!r.reused() && r.new_session(), "{tls:?}: resumed: {r:#?}");
        assert_s_refused(&r, CERTIFICATE_REQUIRED);
    }
}
