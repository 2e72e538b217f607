//! A hyper origin speaking HTTP/1.1 and HTTP/2 (plain: by sniffing the h2 preface; TLS: by
//! ALPN), which answers with the version it saw, the `te` header, the SHA-256 of the client
//! certificate presented to it, and the request body streamed straight back (trailers too).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::crypto::aws_lc_rs;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::devpki::{Ca, Issued};

/// A running origin.
pub(super) struct Versatile {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
}

impl Versatile {
    pub(super) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// What the TLS side offers and asks for.
pub(super) struct TlsSide {
    pub alpn: &'static [&'static [u8]],
    /// Client certificates from this CA are verified; `required`: no certificate, no handshake.
    pub client_ca: Option<(&'static Ca, bool)>,
}

/// A server certificate for `localhost` from `ca`, as rustls wants it.
fn server_identity(ca: &Ca) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let Issued {
        cert_der, key_der, ..
    } = ca.issue_server(&["localhost"], &[]).unwrap();
    (
        vec![CertificateDer::from(cert_der)],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
    )
}

fn server_config(server_ca: &Ca, side: &TlsSide) -> Arc<ServerConfig> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match side.client_ca {
        None => builder.with_no_client_auth(),
        Some((ca, required)) => {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from(ca.cert().cert_der.clone()))
                .unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider);
            let verifier = match required {
                true => verifier.build().unwrap(),
                false => verifier.allow_unauthenticated().build().unwrap(),
            };
            builder.with_client_cert_verifier(verifier)
        }
    };
    let (chain, key) = server_identity(server_ca);
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = side.alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Starts the origin: plain when `tls` is None, else TLS with a certificate from `server_ca`.
pub(super) async fn versatile(tls: Option<(&Ca, TlsSide)>) -> Versatile {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let acceptor = tls.map(|(ca, side)| TlsAcceptor::from(server_config(ca, &side)));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve(stream, None).await,
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let peer = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|leaf| sha256_hex(leaf));
                        serve(tls, peer).await;
                    }
                }
            });
        }
    });
    Versatile { addr, accepted }
}

pub(super) fn sha256_hex(der: &[u8]) -> String {
    let digest = ::aws_lc_rs::digest::digest(&::aws_lc_rs::digest::SHA256, der);
    crate::hex::encode(digest.as_ref(), crate::hex::Case::Lower)
}

async fn serve<S>(stream: S, peer: Option<String>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let peer = peer.clone();
        async move {
            let te = req.headers().get("te").cloned();
            let response = Response::builder()
                .header("x-version", format!("{:?}", req.version()))
                .header("x-te", te.unwrap_or_else(|| "none".parse().unwrap()))
                .header(
                    "x-authority",
                    req.uri().authority().map_or("none", |a| a.as_str()),
                )
                .header("x-client-cert", peer.as_deref().unwrap_or("none"))
                // The request body (and its trailers) streamed straight back.
                .body(req.into_body())
                .unwrap();
            Ok::<_, Infallible>(response)
        }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
