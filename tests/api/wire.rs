//! Wire fidelity and hostile input on the admin API: auth, content types, body limits,
//! malformed documents, go-fastly request shapes, health endpoints.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::{pki, Harness};
use serde_json::json;

#[tokio::test]
async fn auth_is_required_on_tls_endpoints_only() {
    let h = Harness::start().await;
    for token in [
        None,
        Some(""),
        Some("wrong"),
        Some("test-token2"),
        Some("TEST-TOKEN"),
    ] {
        let r = h
            .raw("GET", "/tls/mutual_authentications", token, None)
            .await;
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.content_type(), Some("application/vnd.api+json"));
        assert_eq!(r.json()["errors"][0]["title"], "Unauthorized");
    }
    let body = json!({"data": {"attributes": {"cert_bundle": pki::bundle("CA")}}}).to_string();
    let r = h
        .raw("POST", "/tls/mutual_authentications", None, Some(body))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        h.get("/tls/mutual_authentications").await.json()["meta"]["record_count"],
        0
    );
    for path in ["/health", "/ready", "/metrics"] {
        assert_eq!(h.raw("GET", path, None, None).await.status, 200, "{path}");
    }
    assert!(
        String::from_utf8_lossy(&h.raw("GET", "/metrics", None, None).await.body)
            .contains("mtls_proxy_config_revision")
    );
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_problem() {
    let h = Harness::start().await;
    let cases: &[(&str, &str)] = &[
        ("", "blank"),
        ("{", "not valid JSON"),
        ("[1,2]", "JSON object"),
        (r#"{"data": 5}"#, "data must be an object"),
        (r#"{"nodata": {}}"#, "data can't be blank"),
        (
            r#"{"data": {"attributes": []}}"#,
            "data.attributes must be an object",
        ),
        (r#"{"data": {"type": 7}}"#, "data.type"),
        (
            r#"{"data": {"attributes": {"cert_bundle": 12}}}"#,
            "data.attributes.cert_bundle",
        ),
        (
            r#"{"data": {"attributes": {"cert_bundle": "x", "name": ["a"]}}}"#,
            "data.attributes.name",
        ),
        ("\u{0}\u{1}", "not valid JSON"),
    ];
    for (body, expect) in cases {
        let r = h
            .raw(
                "POST",
                "/tls/mutual_authentications",
                Some(common::TOKEN),
                Some(body.to_string()),
            )
            .await;
        assert_eq!(r.status, 400, "{body:?}");
        assert!(r.detail().contains(expect), "{body:?}: {}", r.detail());
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = h
        .raw(
            "POST",
            "/tls/mutual_authentications",
            Some(common::TOKEN),
            Some(deep),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post(
            "/tls/mutual_authentications",
            json!({"data": {"type": "mutual_authentications", "attributes": {}}}),
        )
        .await;
    assert_eq!(r.status, 409, "wrong type");
    assert_eq!(
        h.get("/tls/mutual_authentications").await.json()["meta"]["record_count"],
        0
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let h = Harness::start().await;
    let big = "x".repeat(2 * 1024 * 1024 + 10);
    let body = json!({"data": {"attributes": {"cert_bundle": big}}}).to_string();
    let r = h
        .raw(
            "POST",
            "/tls/mutual_authentications",
            Some(common::TOKEN),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["errors"][0]["title"], "Payload too large");
}

#[tokio::test]
async fn go_fastly_shapes_are_accepted() {
    let h = Harness::start().await;
    // Create with "enforced": false always present and a recorded-style body.
    let body = json!({"data": {"type": "mutual_authentication",
        "attributes": {"cert_bundle": pki::bundle("CA"), "enforced": false, "name": "My mutual authentication"}}});
    let r = h.post("/tls/mutual_authentications", body).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["data"]["attributes"]["enforced"], false);
    // Private key with "type": "" (go-fastly's CreatePrivateKeyInput has no primary tag).
    let issued = pki::server(&["go.example.com"]);
    let r = h
        .post(
            "/tls/private_keys",
            json!({"data": {"type": "", "attributes": {"key": issued.key_pem, "name": "k"}}}),
        )
        .await;
    assert_eq!(r.status, 201);
    // Unknown attributes and included stubs are ignored.
    let r = h
        .post("/tls/certificates", json!({"data": {"type": "tls_certificate", "attributes": {
            "cert_blob": issued.cert_pem, "name": "", "allow_untrusted_root": false, "issued_to": ""}},
            "included": [{"type": "x", "id": "y"}]}))
        .await;
    assert_eq!(r.status, 201);
    // Unknown paths are JSON:API 404s; wrong methods 405.
    let r = h.get("/tls/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type(), Some("application/vnd.api+json"));
    assert_eq!(h.call("PUT", "/tls/private_keys", None).await.status, 405);
}

#[tokio::test]
async fn hostile_strings_are_stored_safely() {
    let h = Harness::start().await;
    for name in [
        "'; DROP TABLE mutual_authentications; --",
        "名前 with ünïcode",
        "a\"b\\c",
    ] {
        let body =
            json!({"data": {"attributes": {"cert_bundle": pki::bundle("CA"), "name": name}}});
        let r = h.post("/tls/mutual_authentications", body).await;
        assert_eq!(r.status, 201, "{name}");
        assert_eq!(r.json()["data"]["attributes"]["name"], name);
    }
    let body =
        json!({"data": {"attributes": {"cert_bundle": pki::bundle("CA"), "name": "nul\u{0}byte"}}});
    assert_eq!(
        h.post("/tls/mutual_authentications", body).await.status,
        400
    );
    let r = h
        .raw(
            "POST",
            "/tls/mutual_authentications",
            Some(common::TOKEN),
            Some("{\"data\":{\"attributes\":{\"name\":\"\u{fffd}\"}}}".into()),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        h.get("/tls/mutual_authentications").await.json()["meta"]["record_count"],
        3
    );
}

#[tokio::test]
async fn revision_counts_every_committed_write_only() {
    let h = Harness::start().await;
    let control = h.running.as_ref().unwrap().control.clone();
    let before = control.stored_revision().unwrap();
    let body = json!({"data": {"attributes": {"cert_bundle": pki::bundle("CA")}}});
    let id = h.post("/tls/mutual_authentications", body).await.json()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.patch(
        &format!("/tls/mutual_authentications/{id}"),
        json!({"data": {"attributes": {"enforced": false}}}),
    )
    .await;
    h.post(
        "/tls/mutual_authentications",
        json!({"data": {"attributes": {"cert_bundle": "bad"}}}),
    )
    .await;
    assert_eq!(control.stored_revision().unwrap(), before + 2);
}
