//! `/tls/activations`: create, coverage, attach/detach a mutual authentication, include,
//! filters, conflicts.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::{flows, Harness};
use serde_json::json;

#[tokio::test]
async fn activation_lifecycle_with_mutual_authentication() {
    let h = Harness::start().await;
    let cert = flows::key_and_cert(&h, &["www.example.com", "*.example.com"]).await;
    let act = flows::activate(&h, &cert, "www.example.com").await;
    let d = &act["data"];
    assert_eq!(d["type"], "tls_activation");
    let rel = &d["relationships"];
    assert_eq!(rel["tls_certificate"]["data"]["id"], cert.as_str());
    assert_eq!(
        rel["tls_domain"]["data"],
        json!({"id": "www.example.com", "type": "tls_domain"})
    );
    assert_eq!(
        rel["tls_configuration"]["data"]["type"],
        "tls_configuration"
    );
    assert!(rel["mutual_authentication"]["data"].is_null());
    let act_id = d["id"].as_str().unwrap();

    let ma = flows::mutual_authentication(&h, true).await;
    let r = flows::attach(&h, act_id, Some(&ma)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["data"]["relationships"]["mutual_authentication"]["data"]["id"],
        ma.as_str()
    );
    assert_eq!(
        r.json()["data"]["relationships"]["tls_certificate"]["data"]["id"],
        cert.as_str()
    );

    // Both directions of the link, with include.
    let m = h
        .get(&format!(
            "/tls/mutual_authentications/{ma}?include=tls_activations"
        ))
        .await
        .json();
    assert_eq!(
        m["data"]["relationships"]["tls_activations"]["data"][0]["id"],
        act_id
    );
    assert_eq!(m["included"][0]["id"], act_id);
    let a = h
        .get(&format!(
            "/tls/activations/{act_id}?include=tls_certificate,mutual_authentication,tls_domain"
        ))
        .await
        .json();
    let kinds: Vec<&str> = a["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"tls_certificate")
            && kinds.contains(&"mutual_authentication")
            && kinds.contains(&"tls_domain")
    );

    // Deleting an attached MA or an activated certificate conflicts.
    assert_eq!(
        h.delete(&format!("/tls/mutual_authentications/{ma}"))
            .await
            .status,
        409
    );
    assert_eq!(
        h.delete(&format!("/tls/certificates/{cert}")).await.status,
        409
    );

    // Detach (Terraform: member without id), then data: null also detaches.
    let r = flows::attach(&h, act_id, None).await;
    assert!(r.json()["data"]["relationships"]["mutual_authentication"]["data"].is_null());
    flows::attach(&h, act_id, Some(&ma)).await;
    let r = h
        .patch(&format!("/tls/activations/{act_id}"), json!({"data": {"type": "tls_activation", "relationships": {"mutual_authentication": {"data": null}}}}))
        .await;
    assert!(r.json()["data"]["relationships"]["mutual_authentication"]["data"].is_null());
    assert_eq!(
        h.delete(&format!("/tls/mutual_authentications/{ma}"))
            .await
            .status,
        204
    );

    assert_eq!(
        h.delete(&format!("/tls/activations/{act_id}")).await.status,
        204
    );
    assert_eq!(
        h.get(&format!("/tls/activations/{act_id}")).await.status,
        404
    );
    assert_eq!(
        h.delete(&format!("/tls/certificates/{cert}")).await.status,
        204
    );
}

#[tokio::test]
async fn coverage_uniqueness_and_references() {
    let h = Harness::start().await;
    let cert = flows::key_and_cert(&h, &["*.example.com"]).await;
    let act = |domain: &str, cert: &str| {
        json!({"data": {"relationships": {
            "tls_certificate": {"data": {"type": "tls_certificate", "id": cert}},
            "tls_domain": {"data": {"type": "tls_domain", "id": domain}}}}})
    };
    // One label under the wildcard is covered, case and trailing dot canonicalised.
    let r = h
        .post("/tls/activations", act("API.Example.com.", &cert))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json()["data"]["relationships"]["tls_domain"]["data"]["id"],
        "api.example.com"
    );
    for bad in ["example.com", "a.b.example.com", "other.org"] {
        let r = h.post("/tls/activations", act(bad, &cert)).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.detail().contains("tls_domain"), "{}", r.detail());
    }
    let r = h
        .post("/tls/activations", act("api.example.com", &cert))
        .await;
    assert_eq!(r.status, 409);
    let r = h
        .post("/tls/activations", act("x.example.com", "nope"))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("tls_certificate"));
    let r = h
        .post("/tls/activations", json!({"data": {"relationships": {}}}))
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post("/tls/activations", act("*.example.com", &cert))
        .await;
    assert_eq!(r.status, 201);

    // Filters.
    let r = h
        .get(&format!(
            "/tls/activations?filter%5Btls_certificate.id%5D={cert}"
        ))
        .await
        .json();
    assert_eq!(r["meta"]["record_count"], 2);
    let r = h
        .get("/tls/activations?filter[tls_domain.id]=api.example.com")
        .await
        .json();
    assert_eq!(r["meta"]["record_count"], 1);
    let r = h
        .get("/tls/activations?filter[tls_configuration.id]=none")
        .await
        .json();
    assert_eq!(r["meta"]["record_count"], 0);

    // Attaching a missing MA names the relationship.
    let list = h.get("/tls/activations").await.json();
    let act_id = list["data"][0]["id"].as_str().unwrap();
    let r = flows::attach(&h, act_id, Some("missing")).await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("mutual_authentication"));
}

#[tokio::test]
async fn swapping_certificate_must_cover_domain() {
    let h = Harness::start().await;
    let c1 = flows::key_and_cert(&h, &["www.example.com"]).await;
    let c2 = flows::key_and_cert(&h, &["www.example.com"]).await;
    let c3 = flows::key_and_cert(&h, &["other.example.com"]).await;
    let act = flows::activate(&h, &c1, "www.example.com").await;
    let id = act["data"]["id"].as_str().unwrap();
    let swap = |cert: &str| {
        json!({"data": {"type": "tls_activation", "relationships": {
        "tls_certificate": {"data": {"type": "tls_certificate", "id": cert}}}}})
    };
    let r = h.patch(&format!("/tls/activations/{id}"), swap(&c2)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["data"]["relationships"]["tls_certificate"]["data"]["id"],
        c2.as_str()
    );
    let r = h.patch(&format!("/tls/activations/{id}"), swap(&c3)).await;
    assert_eq!(r.status, 400);
}
