//! `/tls/mutual_authentications` through the admin API: happy paths, bad input, pagination,
//! include, conflicts.

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
use serde_json::{json, Value};

fn create_body(bundle: &str, extra: Value) -> Value {
    let mut attrs = json!({ "cert_bundle": bundle });
    if let (Some(a), Some(e)) = (attrs.as_object_mut(), extra.as_object()) {
        a.extend(e.clone());
    }
    json!({"data": {"type": "mutual_authentication", "attributes": attrs}})
}

async fn create(h: &Harness, extra: Value) -> Value {
    let r = h
        .post(
            "/tls/mutual_authentications",
            create_body(&pki::bundle("CA"), extra),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[tokio::test]
async fn create_defaults_enforced_and_generates_name() {
    let h = Harness::start().await;
    let doc = create(&h, json!({})).await;
    let d = &doc["data"];
    assert_eq!(d["type"], "mutual_authentication");
    assert_eq!(d["id"].as_str().unwrap().len(), 22);
    assert_eq!(d["attributes"]["enforced"], true);
    assert!(!d["attributes"]["name"].as_str().unwrap().is_empty());
    assert!(
        d["attributes"].get("cert_bundle").is_none(),
        "bundle never returned"
    );
    assert_eq!(d["relationships"]["tls_activations"]["data"], json!([]));
    let ts = d["attributes"]["created_at"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
}

#[tokio::test]
async fn create_keeps_explicit_fail_open_and_name() {
    let h = Harness::start().await;
    let doc = create(&h, json!({"enforced": false, "name": "My MA"})).await;
    assert_eq!(doc["data"]["attributes"]["enforced"], false);
    assert_eq!(doc["data"]["attributes"]["name"], "My MA");
}

#[tokio::test]
async fn patch_absent_is_unchanged_and_explicit_false_applies() {
    let h = Harness::start().await;
    let doc = create(&h, json!({"name": "n1"})).await;
    let id = doc["data"]["id"].as_str().unwrap();
    let path = format!("/tls/mutual_authentications/{id}");
    // Python: no id, only enforced.
    let r = h
        .patch(
            &path,
            json!({"data": {"type": "mutual_authentication", "attributes": {"enforced": false}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"]["attributes"]["enforced"], false);
    assert_eq!(r.json()["data"]["attributes"]["name"], "n1");
    // go-fastly: id, bundle and enforced always present.
    let body = json!({"data": {"type": "mutual_authentication", "id": id,
        "attributes": {"cert_bundle": pki::bundle("CA2"), "enforced": true}}});
    let r = h.patch(&path, body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"]["attributes"]["enforced"], true);
    // A different id in the body is a conflict.
    let r = h
        .patch(&path, json!({"data": {"id": "other", "attributes": {}}}))
        .await;
    assert_eq!(r.status, 409);
    // Bad bundle on PATCH: 400 and nothing changed.
    let r = h
        .patch(
            &path,
            json!({"data": {"attributes": {"cert_bundle": "junk", "enforced": false}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("cert_bundle"), "{}", r.detail());
    assert_eq!(
        h.get(&path).await.json()["data"]["attributes"]["enforced"],
        true
    );
}

#[tokio::test]
async fn bad_bundles_are_refused_and_nothing_is_stored() {
    let h = Harness::start().await;
    let key = pki::server(&["a.example.com"]).key_pem;
    let cases = [
        json!(""),
        json!("   \n"),
        json!("not pem at all"),
        json!("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        json!(format!("{}{}", pki::bundle("CA"), key)),
        json!(key),
        json!("x".repeat(1024 * 1024 + 1)),
    ];
    for (i, bundle) in cases.iter().enumerate() {
        let body = json!({"data": {"type": "mutual_authentication", "attributes": {"cert_bundle": bundle}}});
        let r = h.post("/tls/mutual_authentications", body).await;
        assert_eq!(r.status, 400, "case {i}");
        assert_eq!(r.content_type(), Some("application/vnd.api+json"));
        assert!(
            r.detail().contains("cert_bundle"),
            "case {i}: {}",
            r.detail()
        );
    }
    let r = h
        .post(
            "/tls/mutual_authentications",
            json!({"data": {"attributes": {}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("cert_bundle"));
    let r = h
        .post(
            "/tls/mutual_authentications",
            create_body(&pki::bundle("CA"), json!({"enforced": "yes"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("enforced"));
    let r = h
        .post(
            "/tls/mutual_authentications",
            create_body(&pki::bundle("CA"), json!({"name": "n".repeat(256)})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("name"));
    let list = h.get("/tls/mutual_authentications").await.json();
    assert_eq!(list["meta"]["record_count"], 0);
}

#[tokio::test]
async fn bundle_of_1001_certificates_is_refused() {
    let h = Harness::start().await;
    let one = pki::bundle("CA");
    let many = one.repeat(1001);
    if many.len() <= 1024 * 1024 {
        let body = create_body(&many, json!({}));
        let r = h.post("/tls/mutual_authentications", body).await;
        assert_eq!(r.status, 400);
        assert!(r.detail().contains("cert_bundle"), "{}", r.detail());
    }
    let r = h
        .post(
            "/tls/mutual_authentications",
            create_body(&one.repeat(3), json!({})),
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn pagination_edges() {
    let h = Harness::start().await;
    let empty = h.get("/tls/mutual_authentications").await.json();
    assert_eq!(empty["meta"]["per_page"], 100);
    assert_eq!(empty["meta"]["total_pages"], 0);
    assert!(empty["links"]["next"].is_null());
    for _ in 0..3 {
        create(&h, json!({})).await;
    }
    let p1 = h
        .get("/tls/mutual_authentications?page%5Bnumber%5D=1&page%5Bsize%5D=2")
        .await
        .json();
    assert_eq!(p1["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        p1["meta"],
        json!({"per_page": 2, "current_page": 1, "record_count": 3, "total_pages": 2})
    );
    let next = p1["links"]["next"].as_str().unwrap();
    assert!(next.starts_with("http://"), "{next}");
    assert!(
        next.ends_with("/tls/mutual_authentications?page%5Bnumber%5D=2&page%5Bsize%5D=2"),
        "{next}"
    );
    assert!(p1["links"]["prev"].is_null());
    let p2 = h
        .get("/tls/mutual_authentications?page[number]=2&page[size]=2")
        .await
        .json();
    assert_eq!(p2["data"].as_array().unwrap().len(), 1);
    assert!(p2["links"]["next"].is_null());
    let ids: Vec<_> = [&p1, &p2]
        .iter()
        .flat_map(|p| {
            p["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].clone())
        })
        .collect();
    assert_eq!(ids.len(), 3);
    let beyond = h
        .get("/tls/mutual_authentications?page[number]=5&page[size]=2")
        .await
        .json();
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["meta"]["per_page"], 2);
    for bad in [
        "page[size]=0",
        "page[size]=101",
        "page[number]=0",
        "page[number]=x",
    ] {
        let r = h.get(&format!("/tls/mutual_authentications?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.detail().contains("page["), "{bad}");
    }
    let r = h.get("/tls/mutual_authentications?include=nope").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        h.get("/tls/mutual_authentications?unknown=1").await.status,
        200
    );
}

#[tokio::test]
async fn get_404_and_delete_204() {
    let h = Harness::start().await;
    let r = h.get("/tls/mutual_authentications/doesnotexist").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["errors"][0]["title"], "Not found");
    let id = create(&h, json!({})).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h.delete(&format!("/tls/mutual_authentications/{id}")).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert!(r.content_type().is_none());
    assert_eq!(
        h.get(&format!("/tls/mutual_authentications/{id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        h.delete(&format!("/tls/mutual_authentications/{id}"))
            .await
            .status,
        404
    );
}
