//! The fetcher against local servers: DER and PEM bodies, the size limit, the deadline,
//! redirects (same scheme followed, scheme changes and loops refused), errors, and https
//! trusted through `ca_file`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::Response;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::*;
use crate::devpki::Ca;

fn crl_pem() -> String {
    let ca = Ca::new("Fetch CA").unwrap();
    let now = time::OffsetDateTime::now_utc();
    ca.crl(&[], 1, now, now + time::Duration::days(1)).unwrap()
}

fn der_of(pem: &str) -> Vec<u8> {
    pki::parse_crl(pem).unwrap().der
}

/// What the test server answers for a path: status, Location, body.
type Route = (u16, Option<String>, Vec<u8>);

/// A plain-HTTP server answering `routes(path)`; "/slow" never answers.
async fn server(routes: Arc<dyn Fn(&str) -> Route + Send + Sync>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let routes = routes.clone();
                    async move {
                        if req.uri().path() == "/slow" {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        let (status, location, body) = routes(req.uri().path());
                        let mut resp = Response::builder().status(status);
                        if let Some(l) = location {
                            resp = resp.header("location", l);
                        }
                        Ok::<_, Infallible>(resp.body(Full::new(Bytes::from(body))).unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

fn fetcher(timeout: Duration) -> Fetcher {
    Fetcher::new(timeout, None).unwrap()
}

#[tokio::test]
async fn der_and_pem_bodies_come_back_as_pem() {
    let pem = crl_pem();
    let der = der_of(&pem);
    let (p, d) = (pem.clone(), der.clone());
    let addr = server(Arc::new(move |path| match path {
        "/crl.pem" => (200, None, p.clone().into_bytes()),
        "/crl.der" => (200, None, d.clone()),
        "/html" => (200, None, b"<html>oops</html>".to_vec()),
        _ => (404, None, vec![]),
    }))
    .await;
    let f = fetcher(Duration::from_secs(10));
    let got = f.fetch(&format!("http://{addr}/crl.der")).await.unwrap();
    assert_eq!(der_of(&got), der);
    assert_eq!(
        f.fetch(&format!("http://{addr}/crl.pem")).await.unwrap(),
        pem
    );
    let err = f.fetch(&format!("http://{addr}/html")).await.unwrap_err();
    assert!(matches!(err, FetchError::NotACrl { .. }), "{err}");
    let err = f
        .fetch(&format!("http://{addr}/missing"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("http://{addr}/missing answered HTTP 404")
    );
}

#[tokio::test]
async fn size_deadline_and_connection_failures_are_bounded() {
    let addr = server(Arc::new(|path| match path {
        "/big" => (200, None, vec![0x30; pki::MAX_CRL_DER_BYTES + 1]),
        _ => (404, None, vec![]),
    }))
    .await;
    let f = fetcher(Duration::from_millis(300));
    let err = f.fetch(&format!("http://{addr}/slow")).await.unwrap_err();
    assert_eq!(err, FetchError::Timeout(Duration::from_millis(300)));
    let f = fetcher(Duration::from_secs(10));
    let err = f.fetch(&format!("http://{addr}/big")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = f
        .fetch(&format!("http://{closed}/x.crl"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Request { .. }), "{err}");
}

#[tokio::test]
async fn redirects_stay_on_their_scheme() {
    let pem = crl_pem();
    let holder: Arc<std::sync::OnceLock<SocketAddr>> = Arc::new(std::sync::OnceLock::new());
    let me = holder.clone();
    let addr = server(Arc::new(move |path| {
        let here = *me.get().unwrap();
        match path {
            "/a/moved" => (302, Some("../crl.pem".into()), vec![]),
            "/abs" => (301, Some(format!("http://{here}/a/moved")), vec![]),
            "/crl.pem" => (200, None, pem.clone().into_bytes()),
            "/to-https" => (302, Some(format!("https://{here}/crl.pem")), vec![]),
            "/to-file" => (307, Some("file:///etc/passwd".into()), vec![]),
            "/loop" => (302, Some("/loop".into()), vec![]),
            "/nowhere" => (302, None, vec![]),
            _ => (404, None, vec![]),
        }
    }))
    .await;
    holder.set(addr).unwrap();
    let f = fetcher(Duration::from_secs(10));
    assert!(
        f.fetch(&format!("http://{addr}/abs")).await.is_ok(),
        "same-scheme redirects followed"
    );
    for (path, want) in [("/to-https", "changes the scheme"), ("/to-file", "")] {
        let err = f.fetch(&format!("http://{addr}{path}")).await.unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::SchemeChange { .. } | FetchError::BadRedirect { .. }
            ),
            "{path}: {err}"
        );
        assert!(err.to_string().contains(want), "{err}");
    }
    let err = f.fetch(&format!("http://{addr}/loop")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooManyRedirects { .. }), "{err}");
    let err = f
        .fetch(&format!("http://{addr}/nowhere"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::BadRedirect { .. }), "{err}");
}

#[tokio::test]
async fn https_trusts_the_configured_ca_only() {
    let ca = Ca::new("Fetch server CA").unwrap();
    let server_cert = ca
        .issue_server(&["localhost"], &["127.0.0.1".parse().unwrap()])
        .unwrap();
    let pem = crl_pem();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chain = vec![rustls_pki_types::CertificateDer::from(
        server_cert.cert_der.clone(),
    )];
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(server_cert.key_der.clone().into());
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let body = pem.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |_req: http::Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.cert().cert_pem).unwrap();
    let trusting = Fetcher::new(Duration::from_secs(10), Some(&ca_file)).unwrap();
    let url = format!("https://127.0.0.1:{}/crl.pem", addr.port());
    assert_eq!(trusting.fetch(&url).await.unwrap(), pem);
    let other = Ca::new("Unrelated CA").unwrap();
    std::fs::write(&ca_file, &other.cert().cert_pem).unwrap();
    let distrusting = Fetcher::new(Duration::from_secs(10), Some(&ca_file)).unwrap();
    let err = distrusting.fetch(&url).await.unwrap_err();
    assert!(matches!(err, FetchError::Request { .. }), "{err}");
    std::fs::write(&ca_file, "nothing").unwrap();
    assert!(Fetcher::new(Duration::from_secs(1), Some(&ca_file)).is_err());
}
