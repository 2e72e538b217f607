//! Multi-step API flows shared by tests: upload key + certificate, activate, attach.

use serde_json::{json, Value};

use super::{pki, Harness};

/// Upload a key and a certificate for `names`; returns the certificate id.
pub async fn key_and_cert(h: &Harness, names: &[&str]) -> String {
    let issued = pki::server(names);
    let r = h
        .post(
            "/tls/private_keys",
            json!({"data": {"type": "", "attributes": {"key": issued.key_pem, "name": "k"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = h
        .post("/tls/certificates", json!({"data": {"type": "tls_certificate", "attributes": {"cert_blob": issued.cert_pem}}}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"]["id"].as_str().unwrap().to_string()
}

/// Activate `domain` with a certificate; returns the activation document.
pub async fn activate(h: &Harness, cert_id: &str, domain: &str) -> Value {
    let body = json!({"data": {"type": "tls_activation", "relationships": {
        "tls_certificate": {"data": {"type": "tls_certificate", "id": cert_id}},
        "tls_domain": {"data": {"type": "tls_domain", "id": domain}}}}});
    let r = h.post("/tls/activations", body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Create a mutual authentication; returns its id.
pub async fn mutual_authentication(h: &Harness, enforced: bool) -> String {
    let body = json!({"data": {"type": "mutual_authentication",
        "attributes": {"cert_bundle": pki::bundle("Client CA"), "enforced": enforced}}});
    let r = h.post("/tls/mutual_authentications", body).await;
    assert_eq!(r.status, 201);
    r.json()["data"]["id"].as_str().unwrap().to_string()
}

/// Attach (Some) or detach (None) a mutual authentication, go-fastly style.
pub async fn attach(h: &Harness, activation_id: &str, ma: Option<&str>) -> super::Reply {
    let member = match ma {
        Some(id) => json!({"type": "mutual_authentication", "id": id}),
        None => json!({"type": "mutual_authentication"}),
    };
    let body = json!({"data": {"type": "tls_activation", "id": activation_id, "relationships": {
        "mutual_authentication": {"data": member}, "tls_certificate": {"data": null}}},
        "included": [{"type": "mutual_authentication", "attributes": {"created_at": null, "enforced": false, "name": ""}}]});
    h.patch(&format!("/tls/activations/{activation_id}"), body)
        .await
}

/// Replace the CA bundle of a mutual authentication.
pub async fn set_bundle(h: &Harness, ma: &str, bundle_pem: &str) -> super::Reply {
    let body = json!({"data": {"type": "mutual_authentication", "id": ma,
        "attributes": {"cert_bundle": bundle_pem}}});
    h.patch(&format!("/tls/mutual_authentications/{ma}"), body)
        .await
}

/// Set `enforced` on a mutual authentication.
pub async fn set_enforced(h: &Harness, ma: &str, enforced: bool) -> super::Reply {
    let body = json!({"data": {"type": "mutual_authentication", "id": ma,
        "attributes": {"enforced": enforced}}});
    h.patch(&format!("/tls/mutual_authentications/{ma}"), body)
        .await
}
