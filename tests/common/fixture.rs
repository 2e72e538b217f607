//! A proxy with a server certificate uploaded and CAs at hand, for data-plane tests: activate
//! domains and attach mutual authentications through the real admin API.

use std::net::SocketAddr;

use mtls_proxy::devpki::{Ca, Issued, Validity};
use mtls_proxy::settings::Settings;
use serde_json::json;

use super::{flows, Harness};

/// CAs, a server certificate for the given names (plus 127.0.0.1), and a running proxy.
pub struct Fixture {
    pub h: Harness,
    pub server_ca: Ca,
    pub client_ca: Ca,
    pub other_ca: Ca,
    pub server: Issued,
    pub cert_id: String,
}

impl Fixture {
    /// Default settings.
    pub async fn new(names: &[&str]) -> Fixture {
        Self::with_settings(names, |_| {}).await
    }

    /// Settings adjusted by `f` (listeners stay on port 0).
    pub async fn with_settings(names: &[&str], f: impl FnOnce(&mut Settings)) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Harness::settings(dir.path());
        f(&mut settings);
        let h = Harness::start_with(dir, settings).await;
        let server_ca = Ca::new("Fixture server CA").unwrap();
        let server = server_ca
            .issue_server(names, &["127.0.0.1".parse().unwrap()])
            .unwrap();
        let cert_id = upload(&h, &server).await;
        Fixture {
            h,
            server_ca,
            client_ca: Ca::new("Fixture client CA").unwrap(),
            other_ca: Ca::new("Fixture other CA").unwrap(),
            server,
            cert_id,
        }
    }

    /// The proxy's TLS address.
    pub fn proxy(&self) -> SocketAddr {
        self.h.proxy
    }

    /// A mutual authentication with `bundle_pem`; returns its id.
    pub async fn ma(&self, bundle_pem: &str, enforced: bool) -> String {
        let body = json!({"data": {"type": "mutual_authentication",
            "attributes": {"cert_bundle": bundle_pem, "enforced": enforced}}});
        let r = self.h.post("/tls/mutual_authentications", body).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["data"]["id"].as_str().unwrap().to_string()
    }

    /// Activate `domain` with the fixture's certificate and optionally attach `ma`; returns
    /// the activation id.
    pub async fn activate(&self, domain: &str, ma: Option<&str>) -> String {
        let doc = flows::activate(&self.h, &self.cert_id, domain).await;
        let id = doc["data"]["id"].as_str().unwrap().to_string();
        if let Some(ma) = ma {
            let r = flows::attach(&self.h, &id, Some(ma)).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        }
        id
    }

    /// A client certificate from the fixture's client CA.
    pub fn client(&self, validity: Validity) -> Issued {
        self.client_ca
            .issue_client("fixture-client", validity)
            .unwrap()
    }
}

async fn upload(h: &Harness, server: &Issued) -> String {
    let r = h
        .post(
            "/tls/private_keys",
            json!({"data": {"attributes": {"key": server.key_pem}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = h
        .post(
            "/tls/certificates",
            json!({"data": {"attributes": {"cert_blob": server.cert_pem}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"]["id"].as_str().unwrap().to_string()
}
