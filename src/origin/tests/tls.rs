//! https origins: a self-signed origin trusted through `ca_file`, and refused without it.

use std::io::Write;
use std::sync::Arc;

use http::header::HOST;
use http::StatusCode;
use rustls::crypto::aws_lc_rs;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use super::servers::{recording_origin, RecordingOrigin};
use super::{get, quick_options, route, text};
use crate::model::origin::OriginRoute;
use crate::origin::{OriginClient, OriginOptions};

/// A TLS origin with a fresh self-signed certificate for `localhost`; returns its PEM.
async fn tls_origin() -> (RecordingOrigin, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    (recording_origin(Some(acceptor)).await, cert.cert.pem())
}

fn https_spec(origin: &RecordingOrigin) -> OriginRoute {
    route(&format!("https://localhost:{}", origin.addr.port()))
}

fn client_trusting(pem: &str) -> (OriginClient, tempfile::NamedTempFile) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(pem.as_bytes()).unwrap();
    let opts = OriginOptions {
        ca_file: Some(file.path().to_path_buf()),
        ..quick_options()
    };
    (OriginClient::new(&opts).unwrap(), file)
}

#[tokio::test]
async fn https_origin_trusted_through_ca_file() {
    let (mut origin, pem) = tls_origin().await;
    let (client, _file) = client_trusting(&pem);
    let spec = https_spec(&origin);
    for _ in 0..3 {
        let response = client.send(&spec, get("/secure?a=b"), false).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(text(response).await, "origin says hi");
        let seen = origin.seen.recv().await.unwrap();
        assert_eq!(seen.uri, "/secure?a=b");
        assert_eq!(
            seen.headers[HOST],
            format!("localhost:{}", origin.addr.port())
        );
    }
    // TLS connections are pooled too.
    assert_eq!(origin.accepted(), 1);
}

#[tokio::test]
async fn https_origin_without_its_ca_is_a_tls_error() {
    let (origin, _pem) = tls_origin().await;
    // System roots (ca_file None) do not know the self-signed certificate.
    let client = OriginClient::new(&quick_options()).unwrap();
    let err = client
        .send(&https_spec(&origin), get("/"), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "tls", "{err}");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn https_origin_trusted_under_another_name_is_a_tls_error() {
    let (origin, pem) = tls_origin().await;
    let (client, _file) = client_trusting(&pem);
    // The certificate names localhost, not 127.0.0.1.
    let spec = route(&format!("https://{}", origin.addr));
    let err = client.send(&spec, get("/"), false).await.unwrap_err();
    assert_eq!(err.kind(), "tls", "{err}");
}

#[tokio::test]
async fn https_client_refuses_plain_http_origin_over_tls() {
    // An http origin spoken to as https: the handshake fails rather than sending plaintext.
    let origin = recording_origin(None).await;
    let (client, _file) = client_trusting(&tls_origin().await.1);
    let spec = https_spec(&origin);
    let err = client.send(&spec, get("/"), false).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
    assert!(
        ["tls", "protocol", "connect"].contains(&err.kind()),
        "{err}"
    );
}

#[test]
fn new_works_outside_a_runtime() {
    assert!(OriginClient::new(&OriginOptions::default()).is_ok());
}
