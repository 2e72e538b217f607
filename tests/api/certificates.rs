//! Private keys, certificates, domains and configurations through the admin API.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::{flows, pki, Harness};
use serde_json::json;

#[tokio::test]
async fn key_then_certificate_with_derived_attributes() {
    let h = Harness::start().await;
    let issued = pki::server(&["www.example.com", "*.example.com"]);
    let r = h
        .post("/tls/private_keys", json!({"data": {"type": "tls_private_key", "attributes": {"key": issued.key_pem, "name": "My key"}}}))
        .await;
    assert_eq!(r.status, 201);
    let key = r.json();
    let ka = &key["data"]["attributes"];
    assert_eq!(ka["key_type"], "ECDSA");
    assert_eq!(ka["key_length"], 256);
    assert_eq!(ka["public_key_sha1"].as_str().unwrap().len(), 40);
    assert!(ka.get("key").is_none(), "key material never returned");
    let key_id = key["data"]["id"].as_str().unwrap();

    // The same key twice is a conflict.
    let r = h
        .post(
            "/tls/private_keys",
            json!({"data": {"attributes": {"key": issued.key_pem}}}),
        )
        .await;
    assert_eq!(r.status, 409);

    let r = h
        .post("/tls/certificates", json!({"data": {"type": "tls_certificate", "attributes": {"cert_blob": issued.cert_pem}}}))
        .await;
    assert_eq!(r.status, 201);
    let cert = r.json();
    let a = &cert["data"]["attributes"];
    assert_eq!(a["issued_to"], "www.example.com");
    assert_eq!(a["issuer"], "Test server CA");
    assert_eq!(a["name"], "www.example.com");
    assert_eq!(a["signature_algorithm"], "ECDSA-SHA256");
    assert!(a["serial_number"]
        .as_str()
        .unwrap()
        .bytes()
        .all(|b| b.is_ascii_digit()));
    assert!(a["not_after"].as_str().unwrap().ends_with('Z'));
    assert_eq!(a["replace"], false);
    assert_eq!(
        cert["data"]["relationships"]["tls_domains"]["data"],
        json!([{"id": "www.example.com", "type": "tls_domain"}, {"id": "*.example.com", "type": "tls_domain"}])
    );
    let cert_id = cert["data"]["id"].as_str().unwrap();

    // The key is now in use.
    let r = h
        .get("/tls/private_keys?filter%5Bin_use%5D=false")
        .await
        .json();
    assert_eq!(r["meta"]["record_count"], 0);
    let r = h.delete(&format!("/tls/private_keys/{key_id}")).await;
    assert_eq!(r.status, 409);

    // Blob.
    let r = h.get(&format!("/tls/certificates/{cert_id}/blob")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), Some("application/json"));
    assert_eq!(r.json()["cert_blob"], issued.cert_pem);

    // Rename.
    let r = h
        .patch(
            &format!("/tls/certificates/{cert_id}"),
            json!({"data": {"type": "tls_certificate", "attributes": {"name": "renamed"}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"]["attributes"]["name"], "renamed");

    // Delete certificate then key.
    assert_eq!(
        h.delete(&format!("/tls/certificates/{cert_id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        h.delete(&format!("/tls/private_keys/{key_id}"))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn certificate_without_key_or_with_bad_blob_is_refused() {
    let h = Harness::start().await;
    let issued = pki::server(&["a.example.com"]);
    let r = h
        .post(
            "/tls/certificates",
            json!({"data": {"attributes": {"cert_blob": issued.cert_pem}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("private key"), "{}", r.detail());
    for blob in [json!(""), json!("garbage"), json!(issued.key_pem), json!(5)] {
        let r = h
            .post(
                "/tls/certificates",
                json!({"data": {"attributes": {"cert_blob": blob}}}),
            )
            .await;
        assert_eq!(r.status, 400, "{blob}");
        assert!(r.detail().contains("cert_blob"), "{}", r.detail());
    }
    for key in [json!(""), json!("garbage"), json!(issued.cert_pem)] {
        let r = h
            .post(
                "/tls/private_keys",
                json!({"data": {"attributes": {"key": key}}}),
            )
            .await;
        assert_eq!(r.status, 400, "{key}");
        assert!(r.detail().contains("key"), "{}", r.detail());
    }
    assert_eq!(
        h.get("/tls/certificates").await.json()["meta"]["record_count"],
        0
    );
    assert_eq!(
        h.get("/tls/private_keys").await.json()["meta"]["record_count"],
        0
    );
}

#[tokio::test]
async fn certificate_filters_sort_and_domains() {
    let h = Harness::start().await;
    let c1 = flows::key_and_cert(&h, &["one.example.com"]).await;
    let c2 = flows::key_and_cert(&h, &["two.example.com", "shared.example.com"]).await;
    flows::activate(&h, &c1, "one.example.com").await;

    let r = h.get("/tls/certificates?filter[in_use]=true").await.json();
    assert_eq!(r["meta"]["record_count"], 1);
    assert_eq!(r["data"][0]["id"], c1.as_str());
    let r = h
        .get("/tls/certificates?filter%5Btls_domains.id%5D=shared.example.com")
        .await
        .json();
    assert_eq!(r["data"][0]["id"], c2.as_str());
    let r = h.get("/tls/certificates?sort=-created_at").await.json();
    assert_eq!(r["data"][0]["id"], c2.as_str());
    let r = h
        .get("/tls/certificates?filter[not_after][lte]=2000-01-01")
        .await
        .json();
    assert_eq!(r["meta"]["record_count"], 0);
    let r = h
        .get("/tls/certificates?include=tls_activations")
        .await
        .json();
    assert_eq!(r["included"].as_array().unwrap().len(), 1);
    assert_eq!(h.get("/tls/certificates?sort=bogus").await.status, 400);
    assert_eq!(
        h.get("/tls/certificates?filter[in_use]=maybe").await.status,
        400
    );

    let r = h.get("/tls/domains").await.json();
    let ids: Vec<&str> = r["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["one.example.com", "shared.example.com", "two.example.com"]
    );
    assert_eq!(r["meta"]["per_page"], 20);
    let one = &r["data"][0];
    assert_eq!(one["type"], "tls_domain");
    assert_eq!(
        one["relationships"]["tls_certificates"]["data"][0]["id"],
        c1.as_str()
    );
    assert_eq!(
        one["relationships"]["tls_activations"]["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = h.get("/tls/domains?filter[in_use]=true").await.json();
    assert_eq!(r["meta"]["record_count"], 1);
    let r = h
        .get(&format!(
            "/tls/domains?filter[tls_certificates.id]={c2}&include=tls_certificates"
        ))
        .await
        .json();
    assert_eq!(r["meta"]["record_count"], 2);
    assert_eq!(r["included"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn replacing_a_blob_must_keep_covering_activated_domains() {
    let h = Harness::start().await;
    let c1 = flows::key_and_cert(&h, &["keep.example.com"]).await;
    flows::activate(&h, &c1, "keep.example.com").await;
    let other = pki::server(&["other.example.com"]);
    let r = h
        .post(
            "/tls/private_keys",
            json!({"data": {"attributes": {"key": other.key_pem}}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = h
        .patch(
            &format!("/tls/certificates/{c1}"),
            json!({"data": {"attributes": {"cert_blob": other.cert_pem}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("keep.example.com"), "{}", r.detail());
    assert_eq!(
        h.delete(&format!("/tls/certificates/{c1}")).await.status,
        409
    );
}

#[tokio::test]
async fn default_configuration_and_patch() {
    let h = Harness::start().await;
    let r = h.get("/tls/configurations").await.json();
    assert_eq!(r["meta"]["record_count"], 1);
    let c = &r["data"][0];
    assert_eq!(c["attributes"]["default"], true);
    assert_eq!(c["attributes"]["tls_protocols"], json!(["1.2", "1.3"]));
    assert_eq!(
        c["attributes"]["http_protocols"],
        json!(["http/1.1", "http/2"])
    );
    let id = c["id"].as_str().unwrap();
    let r = h
        .patch(
            &format!("/tls/configurations/{id}"),
            json!({"data": {"type": "", "id": id, "attributes": {"name": "n2"}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"]["attributes"]["name"], "n2");
    let r = h
        .patch(
            &format!("/tls/configurations/{id}"),
            json!({"data": {"attributes": {"tls_protocols": ["1.3"]}}}),
        )
        .await;
    assert_eq!(
        r.json()["data"]["attributes"]["tls_protocols"],
        json!(["1.3"])
    );
    let r = h
        .patch(
            &format!("/tls/configurations/{id}"),
            json!({"data": {"attributes": {"tls_protocols": ["1.0"]}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("tls_protocols"));
    let r = h
        .get(&format!("/tls/configurations/{id}?include=dns_records"))
        .await
        .json();
    assert_eq!(r["included"], json!([]));
    assert_eq!(h.get("/tls/configurations/nope").await.status, 404);
}
